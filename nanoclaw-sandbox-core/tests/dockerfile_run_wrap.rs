//! The in-memory build rewrite: each `RUN` of a stage with a shell is
//! wrapped, nothing is declared or added, the rest stays as it was.

use nanoclaw_sandbox_core::dockerfile::{
    declared_predefined_args, wrap_run_steps, DockerfileError, SkipReason, CA_BUILD_ARG,
};

fn wrapped(line: &str) -> bool {
    line.trim_start().starts_with("RUN [\"/bin/sh\",\"-c\",")
}

#[test]
fn every_run_of_a_shell_stage_is_wrapped_and_nothing_else_changes() {
    let text = "# syntax comment\nARG BASE=debian:bookworm\nFROM ${BASE} AS build\nWORKDIR /app\n\
                COPY . .\nRUN npm ci\nRUN [\"npm\", \"test\"]\nFROM build\nRUN true\nCMD [\"node\"]\n";
    let out = wrap_run_steps(text).unwrap();
    assert_eq!(out.wrapped_steps, 3);
    assert!(out.skipped.is_empty(), "{:?}", out.skipped);
    let (old, new): (Vec<&str>, Vec<&str>) =
        (text.lines().collect(), out.dockerfile.lines().collect());
    assert_eq!(old.len(), new.len(), "one line each:\n{}", out.dockerfile);
    for (old, new) in old.iter().zip(&new) {
        if old.starts_with("RUN") {
            assert!(wrapped(new), "{new}");
        } else {
            assert_eq!(old, new);
        }
    }
    // Nothing is declared: the CA and the proxy reach RUN as Docker's
    // predefined args, which stay out of the history only undeclared.
    let args: Vec<&str> = new
        .iter()
        .copied()
        .filter(|l| l.starts_with("ARG"))
        .collect();
    assert_eq!(args, ["ARG BASE=debian:bookworm"]);
    assert!(declared_predefined_args(&out.dockerfile)
        .unwrap()
        .is_empty());
}

#[test]
fn a_stage_on_a_shell_less_stage_is_skipped_by_alias_or_index() {
    let text = "FROM scratch AS empty\nCOPY a /a\nFROM empty\nRUN [\"/a\"]\nFROM 0\nRUN [\"/a\"]\n\
                FROM debian\nCOPY --from=empty /a /a\n";
    let out = wrap_run_steps(text).unwrap();
    assert_eq!(out.wrapped_steps, 0, "{}", out.dockerfile);
    let reasons: Vec<_> = out.skipped.iter().map(|s| s.reason).collect();
    assert_eq!(
        reasons,
        [
            SkipReason::NoShell,
            SkipReason::NoShell,
            SkipReason::NoShell,
            SkipReason::NoRunStep
        ]
    );
    assert_eq!(out.dockerfile, text);
}

#[test]
fn a_heredoc_run_is_left_whole_and_its_body_is_not_read_as_instructions() {
    let text = "FROM debian\nRUN <<EOF\napt-get update\nFROM not-a-stage\nRUN x\nEOF\nRUN y\n";
    let out = wrap_run_steps(text).unwrap();
    assert_eq!(out.wrapped_steps, 1);
    let lines: Vec<&str> = out.dockerfile.lines().collect();
    assert_eq!(&lines[..6], &text.lines().collect::<Vec<_>>()[..6]);
    assert!(
        wrapped(lines[6]) && lines[6].ends_with("\"y\"]"),
        "{}",
        lines[6]
    );
}

#[test]
fn crlf_and_a_missing_final_newline_are_kept() {
    let text = "FROM debian\r\nRUN a \\\r\n  b\r\nRUN c";
    let out = wrap_run_steps(text).unwrap();
    assert!(
        !out.dockerfile.replace("\r\n", "").contains('\n'),
        "a bare LF slipped in"
    );
    assert!(!out.dockerfile.ends_with('\n'));
    assert_eq!(out.dockerfile.split("\r\n").count(), 3);
}

#[test]
fn the_ca_arg_declared_anywhere_is_refused_and_a_file_without_from_too() {
    for text in [
        format!("ARG {CA_BUILD_ARG}\nFROM debian\nRUN x\n"),
        format!("FROM debian\nARG A=1 {CA_BUILD_ARG}=x\nRUN x\n"),
        format!("FROM debian\nENV {CA_BUILD_ARG}=ftp://x\nRUN x\n"),
        format!("FROM debian\nENV {CA_BUILD_ARG} ftp://x\nRUN x\n"),
    ] {
        assert!(
            matches!(
                wrap_run_steps(&text),
                Err(DockerfileError::ReservedArg { .. })
            ),
            "{text}"
        );
    }
    assert!(wrap_run_steps("FROM debian\nENV A=FTP_PROXY B=1\nRUN x\n").is_ok());
    assert_eq!(wrap_run_steps("# nothing\n"), Err(DockerfileError::NoFrom));
}
