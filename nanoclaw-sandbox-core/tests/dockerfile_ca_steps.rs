//! The in-memory build rewrite: CA steps at the start of each stage, their
//! removal at its end, users switched around them, shell-less stages skipped.

use std::collections::BTreeMap;

use nanoclaw_sandbox_core::dockerfile::{
    add_ca_steps, declare_build_time_args, declared_predefined_args, SkipReason, SkippedStage,
    CONTEXT_CA_FILE, IMAGE_CA_PATH, PREDEFINED_PROXY_ARGS, PROXY_BUILD_ARGS,
};

const CA: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

fn rewrite(text: &str, users: &[(&str, &str)]) -> (Vec<String>, Vec<SkippedStage>) {
    let users: BTreeMap<String, String> = users
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let out = add_ca_steps(text, CA, &users).unwrap();
    let lines = out.dockerfile.lines().map(str::to_string).collect();
    (lines, out.skipped)
}

fn copy_line() -> String {
    format!("COPY {CONTEXT_CA_FILE} {IMAGE_CA_PATH}")
}

fn is_install(line: &str) -> bool {
    line.starts_with("RUN [\"/bin/sh\", \"-c\", \"f=")
}

fn is_remove(line: &str) -> bool {
    line.starts_with("RUN [\"/bin/sh\", \"-c\", \"b=")
        && line.contains("rm -f /usr/local/share/ca-certificates/nanoclaw-proxy-ca.crt")
}

/// The lines that are instructions (no comments), for order checks.
fn instructions(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .map(String::as_str)
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .collect()
}

fn position(lines: &[&str], wanted: impl Fn(&str) -> bool) -> usize {
    lines
        .iter()
        .position(|l| wanted(l))
        .unwrap_or_else(|| panic!("not found in {lines:#?}"))
}

#[test]
fn a_stage_installs_after_its_args_and_removes_after_its_last_instruction() {
    let text = "FROM debian:bookworm\nRUN apt-get update\nUSER node\nCMD [\"node\", \"app.js\"]\n";
    let (lines, skipped) = rewrite(text, &[]);
    assert!(skipped.is_empty(), "{skipped:?}");
    let ins = instructions(&lines);
    let last_arg = ins.iter().rposition(|l| l.starts_with("ARG ")).unwrap();
    let copy = position(&ins, |l| l == copy_line());
    let install = position(&ins, is_install);
    let user_run = position(&ins, |l| l == "RUN apt-get update");
    assert_eq!((copy, install), (last_arg + 1, last_arg + 2));
    assert!(install < user_run);
    // The stage ends as `node`: the removal switches to root and back, after CMD.
    assert_eq!(
        &ins[ins.len() - 4..ins.len() - 1],
        &[
            "CMD [\"node\", \"app.js\"]",
            "USER root",
            ins[ins.len() - 2]
        ]
    );
    assert!(is_remove(ins[ins.len() - 2]), "{ins:#?}");
    assert_eq!(ins[ins.len() - 1], "USER node");
    // The final image's user is still the one the Dockerfile chose.
    assert_eq!(
        ins.iter().rev().find(|l| l.starts_with("USER ")),
        Some(&"USER node")
    );
}

#[test]
fn a_non_root_base_user_is_switched_around_the_install() {
    let text = "FROM node:20\nRUN npm ci\n";
    let (lines, _) = rewrite(text, &[("node:20", "node")]);
    let ins = instructions(&lines);
    let copy = position(&ins, |l| l == copy_line());
    assert_eq!(ins[copy - 1], "USER root");
    assert!(is_install(ins[copy + 1]));
    assert_eq!(ins[copy + 2], "USER node");
    // Nothing set USER in the stage: it ends as the base user too.
    assert_eq!(
        &ins[ins.len() - 3..],
        &["USER root", ins[ins.len() - 2], "USER node"]
    );
}

#[test]
fn a_root_base_user_needs_no_switch() {
    let (lines, _) = rewrite("FROM alpine\nRUN apk add curl\n", &[("alpine", "0:0")]);
    assert!(!lines.iter().any(|l| l.starts_with("USER")), "{lines:#?}");
}

#[test]
fn shell_less_and_run_less_stages_are_skipped() {
    let text = "FROM golang:1.22 AS build\nRUN go build -o /app\n\
                FROM scratch AS bare\nCOPY --from=build /app /app\n\
                FROM bare AS on-bare\nRUN never-runs\n\
                FROM gcr.io/distroless/static\nCOPY --from=build /app /app\n\
                FROM alpine\nCOPY --from=build /app /app\nENTRYPOINT [\"/app\"]\n";
    let (lines, skipped) = rewrite(text, &[]);
    let reasons: Vec<_> = skipped
        .iter()
        .map(|s| (s.index, s.base.as_str(), s.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            (1, "scratch", SkipReason::NoShell),
            (2, "bare", SkipReason::NoShell),
            (3, "gcr.io/distroless/static", SkipReason::NoShell),
            (4, "alpine", SkipReason::NoRunStep),
        ]
    );
    // Only the build stage got steps.
    assert_eq!(lines.iter().filter(|l| is_install(l)).count(), 1);
    assert_eq!(lines.iter().filter(|l| is_remove(l)).count(), 1);
    let ins = instructions(&lines);
    assert!(position(&ins, is_remove) < position(&ins, |l| l == "FROM scratch AS bare"));
}

#[test]
fn a_stage_built_on_another_starts_as_that_stage_ended() {
    let text = "FROM debian AS base\nRUN useradd app\nUSER app\nFROM base AS test\nRUN make test\n";
    let (lines, _) = rewrite(text, &[]);
    let ins = instructions(&lines);
    let second_from = position(&ins, |l| l == "FROM base AS test");
    let copy = second_from + position(&ins[second_from..], |l| l == copy_line());
    assert_eq!(ins[copy - 1], "USER root");
    assert_eq!(ins[copy + 2], "USER app");
    // Referring to a stage by number works too.
    let by_number = text.replace("FROM base AS test", "FROM 0");
    let (lines, _) = rewrite(&by_number, &[]);
    // Stage 0's removal, stage 1's install and removal: all switch from `app`.
    assert_eq!(lines.iter().filter(|l| *l == "USER root").count(), 3);
}

#[test]
fn removal_goes_after_a_trailing_heredoc_body() {
    let text = "FROM debian\nRUN <<EOF\napt-get update\nFROM not-a-stage\nEOF\n";
    let (lines, skipped) = rewrite(text, &[]);
    assert!(skipped.is_empty());
    let eof = lines.iter().position(|l| l == "EOF").unwrap();
    let remove = lines.iter().position(|l| is_remove(l)).unwrap();
    assert!(remove > eof, "{lines:#?}");
    assert_eq!(lines.iter().filter(|l| is_install(l)).count(), 1);
}

#[test]
fn steps_ignore_a_shell_instruction_and_keep_crlf() {
    let text = "FROM debian\r\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\r\nRUN curl https://x | sh\r\n";
    let out = add_ca_steps(text, CA, &BTreeMap::new()).unwrap();
    assert!(
        !out.dockerfile.replace("\r\n", "").contains('\n'),
        "a bare LF slipped in"
    );
    let lines: Vec<&str> = out.dockerfile.split("\r\n").collect();
    assert!(lines.iter().any(|l| is_install(l)));
    assert!(lines.iter().any(|l| is_remove(l)));
}

#[test]
fn the_context_gets_the_ca_and_only_args_docker_does_not_predefine_are_declared() {
    let text = "FROM debian\nRUN true\n";
    let out = add_ca_steps(text, CA, &BTreeMap::new()).unwrap();
    assert_eq!(out.context_file.name, CONTEXT_CA_FILE);
    assert_eq!(out.context_file.bytes, CA.as_bytes());
    assert_eq!(out.context_file.mode, 0o644);
    // What RUN steps need declared is declared (nothing more to add) ...
    assert!(!declare_build_time_args(&out.dockerfile).unwrap().changed());
    for name in PROXY_BUILD_ARGS
        .iter()
        .filter(|n| !PREDEFINED_PROXY_ARGS.contains(n))
    {
        assert!(
            out.dockerfile.contains(&format!("ARG {name}\n")),
            "{name}: {}",
            out.dockerfile
        );
    }
    // ... and no proxy arg Docker predefines: declared, its value (the
    // proxy URL) would be recorded in `docker history`.
    assert_eq!(
        declared_predefined_args(&out.dockerfile).unwrap(),
        Vec::<String>::new()
    );
    assert!(
        !out.dockerfile.contains("ARG http_proxy"),
        "{}",
        out.dockerfile
    );
    // The user's own lines are all still there, in order.
    let kept: Vec<&str> = out
        .dockerfile
        .lines()
        .filter(|l| text.lines().any(|t| t == *l))
        .collect();
    assert_eq!(kept, ["FROM debian", "RUN true"]);
}
