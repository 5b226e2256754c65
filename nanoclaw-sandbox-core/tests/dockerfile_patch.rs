//! The on-disk Dockerfile patch: `ARG` declarations after every `FROM`,
//! everything else kept byte for byte. Table-driven: input → exact output.

use nanoclaw_sandbox_core::dockerfile::{
    needs_patch, patch_dockerfile, DockerfileError, ARGS_COMMENT, PROXY_BUILD_ARGS,
};

/// The block inserted after a `FROM`: the comment and one `ARG` per missing name.
fn block(indent: &str, nl: &str, names: &[&str]) -> String {
    let mut out = format!("{indent}{ARGS_COMMENT}{nl}");
    for name in names {
        out.push_str(&format!("{indent}ARG {name}{nl}"));
    }
    out
}

fn all(nl: &str) -> String {
    block("", nl, PROXY_BUILD_ARGS)
}

struct Case {
    name: &'static str,
    input: String,
    expected: String,
    stages: usize,
}

fn cases() -> Vec<Case> {
    let a = all("\n");
    vec![
        Case {
            name: "one stage",
            input: "FROM debian:bookworm\nRUN apt-get update\n".into(),
            expected: format!("FROM debian:bookworm\n{a}RUN apt-get update\n"),
            stages: 1,
        },
        Case {
            name: "every stage, global ARG before FROM does not count",
            input: "ARG http_proxy\nARG BASE=alpine\nFROM golang AS build\nRUN go build\nFROM ${BASE}\nCOPY --from=build /x /x\n".into(),
            expected: format!("ARG http_proxy\nARG BASE=alpine\nFROM golang AS build\n{a}RUN go build\nFROM ${{BASE}}\n{a}COPY --from=build /x /x\n"),
            stages: 2,
        },
        Case {
            name: "a stage declaring some gets only the rest",
            input: "FROM a\nRUN x\nARG http_proxy\nARG NO_PROXY=localhost\nARG HTTPS_PROXY https_proxy\n".into(),
            expected: format!(
                "FROM a\n{}RUN x\nARG http_proxy\nARG NO_PROXY=localhost\nARG HTTPS_PROXY https_proxy\n",
                block(
                    "",
                    "\n",
                    &["no_proxy", "HTTP_PROXY", "NODE_USE_ENV_PROXY", "NODE_EXTRA_CA_CERTS"]
                )
            ),
            stages: 1,
        },
        Case {
            name: "parser directives and comments stay",
            input: "# syntax=docker/dockerfile:1.7\n# check=skip=all\n\n# the base\nFROM a\n\n# build\nRUN b\n".into(),
            expected: format!("# syntax=docker/dockerfile:1.7\n# check=skip=all\n\n# the base\nFROM a\n{a}\n# build\nRUN b\n"),
            stages: 1,
        },
        Case {
            name: "FROM split over lines with backslashes",
            input: "FROM \\\n  --platform=linux/amd64 \\\n  debian:bookworm \\\n  AS base\nRUN x\n".into(),
            expected: format!("FROM \\\n  --platform=linux/amd64 \\\n  debian:bookworm \\\n  AS base\n{a}RUN x\n"),
            stages: 1,
        },
        Case {
            name: "escape=` makes backtick the continuation and backslash literal",
            input: "# escape=`\nFROM mcr.microsoft.com/windows `\n  AS win\nRUN dir C:\\\nFROM b\n".into(),
            expected: format!("# escape=`\nFROM mcr.microsoft.com/windows `\n  AS win\n{a}RUN dir C:\\\nFROM b\n{a}"),
            stages: 2,
        },
        Case {
            name: "a FROM line inside a heredoc is not an instruction",
            input: "FROM a\nRUN <<EOF\nFROM b\necho hi\nEOF\nCOPY <<-CONF /etc/x.conf\n\tFROM c\n\tCONF\nFROM d\n".into(),
            expected: format!("FROM a\n{a}RUN <<EOF\nFROM b\necho hi\nEOF\nCOPY <<-CONF /etc/x.conf\n\tFROM c\n\tCONF\nFROM d\n{a}"),
            stages: 2,
        },
        Case {
            name: "a FROM line inside a continued RUN is not an instruction",
            input: "FROM a\nRUN echo \\\n# a comment inside\n\nFROM b\n".into(),
            expected: format!("FROM a\n{a}RUN echo \\\n# a comment inside\n\nFROM b\n"),
            stages: 1,
        },
        Case {
            name: "CRLF endings are kept and used for new lines",
            input: "FROM a\r\nRUN b\r\nFROM c\r\n".into(),
            expected: format!("FROM a\r\n{0}RUN b\r\nFROM c\r\n{0}", all("\r\n")),
            stages: 2,
        },
        Case {
            name: "instructions in any case",
            input: "from alpine as x\nrun apk add curl\nFrom x\n".into(),
            expected: format!("from alpine as x\n{a}run apk add curl\nFrom x\n{a}"),
            stages: 2,
        },
        Case {
            name: "no final newline stays that way",
            input: "FROM a".into(),
            expected: format!("FROM a\n{}", all("\n").trim_end_matches('\n')),
            stages: 1,
        },
        Case {
            name: "indented FROM gets indented ARGs",
            input: "  FROM a\n  RUN b\n".into(),
            expected: format!("  FROM a\n{}  RUN b\n", block("  ", "\n", PROXY_BUILD_ARGS)),
            stages: 1,
        },
        Case {
            name: "a byte order mark stays in front",
            input: "\u{feff}# syntax=docker/dockerfile:1\nFROM a\n".into(),
            expected: format!("\u{feff}# syntax=docker/dockerfile:1\nFROM a\n{a}"),
            stages: 1,
        },
    ]
}

#[test]
fn each_case_gives_exactly_the_expected_text() {
    for case in cases() {
        let patched =
            patch_dockerfile(&case.input).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert_eq!(patched.text, case.expected, "{}", case.name);
        assert_eq!(patched.stages, case.stages, "{}", case.name);
        assert_eq!(patched.stages_changed, case.stages, "{}", case.name);
        assert!(patched.changed());
    }
}

#[test]
fn patching_is_idempotent_and_check_mode_agrees() {
    for case in cases() {
        assert!(needs_patch(&case.input).unwrap(), "{}", case.name);
        let once = patch_dockerfile(&case.input).unwrap().text;
        let twice = patch_dockerfile(&once).unwrap();
        assert_eq!(twice.text, once, "{}", case.name);
        assert!(!twice.changed(), "{}", case.name);
        assert!(!needs_patch(&once).unwrap(), "{}", case.name);
    }
}

#[test]
fn files_without_from_are_refused() {
    for text in [
        "",
        "\n\n",
        "# just a comment\n",
        "ARG x\nRUN echo\n",
        "# syntax=docker/dockerfile:1\n",
    ] {
        assert_eq!(
            patch_dockerfile(text),
            Err(DockerfileError::NoFrom),
            "{text:?}"
        );
        assert_eq!(needs_patch(text), Err(DockerfileError::NoFrom));
    }
    assert!(DockerfileError::NoFrom.to_string().contains("no FROM"));
}

#[test]
fn malformed_files_are_refused_with_the_place_named() {
    let err = patch_dockerfile("FROM a\nRUN <<EOF\necho\n").unwrap_err();
    assert_eq!(
        err,
        DockerfileError::UnterminatedHeredoc {
            line: 2,
            delimiter: "EOF".into()
        }
    );
    assert!(
        err.to_string().contains("line 2") && err.to_string().contains("`EOF`"),
        "{err}"
    );
    let err = patch_dockerfile("# escape=x\nFROM a\n").unwrap_err();
    assert_eq!(err, DockerfileError::InvalidEscape { value: "x".into() });
}
