//! Named cases run inside one container: a generated bash script runs each
//! command in turn and prints tagged results, which are parsed back and
//! checked, so one container start covers a whole configuration and every
//! case still passes or fails under its own name.

use std::fmt::Write as _;
use std::time::Duration;

use nanoclaw_sandbox_core::spec::{ContainerSpec, ContainerSpecBuilder};
use nanoclaw_testkit::docker::RunOutput;
use nanoclaw_testkit::{Context, Result};

use super::docker_cli::run_container;

/// Runs one container to its end: the docker CLI ([`DockerCli`]) or the
/// library's own runtime (`LibraryRunner`, feature `docker`).
pub trait Runner {
    /// Runs `spec` to completion (killed and an error past `timeout`).
    fn run(&self, spec: &ContainerSpec, timeout: Duration) -> Result<RunOutput>;
}

/// `docker run` (see [`run_container`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct DockerCli;

impl Runner for DockerCli {
    fn run(&self, spec: &ContainerSpec, timeout: Duration) -> Result<RunOutput> {
        run_container(spec, timeout)
    }
}

/// Tags the script's result lines; nothing a client prints starts with it.
const MARK: &str = "@@nanoclaw-case@@";
/// How long one command may take inside the container.
const CASE_TIMEOUT_SECS: u32 = 60;

/// What a case must show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Exit 0 and the output contains this text.
    Succeeds {
        /// Text the output must contain.
        output_contains: String,
    },
    /// A non-zero exit (this one, when given) and one of these texts in the
    /// output: a specific error, not just any failure.
    Fails {
        /// The exit code, when a specific one is expected.
        exit: Option<i32>,
        /// At least one must appear (none given: any output).
        output_any_of: Vec<String>,
    },
    /// Exit 0 and the output, trimmed, equals this text (trimmed).
    OutputIs(String),
}

impl Expect {
    /// Exit 0 and `text` in the output.
    pub fn succeeds(text: impl Into<String>) -> Self {
        Expect::Succeeds {
            output_contains: text.into(),
        }
    }

    /// A non-zero exit, whatever the output.
    pub fn fails() -> Self {
        Expect::Fails {
            exit: None,
            output_any_of: Vec::new(),
        }
    }

    /// The output line that shows the expectation met (the expected text or
    /// error), else the first non-empty line.
    fn evidence<'a>(&self, output: &'a str) -> &'a str {
        let wanted: Vec<&str> = match self {
            Expect::Succeeds { output_contains } => vec![output_contains.as_str()],
            Expect::Fails { output_any_of, .. } => {
                output_any_of.iter().map(String::as_str).collect()
            }
            Expect::OutputIs(_) => Vec::new(),
        };
        let mut lines = output.lines().filter(|l| !l.trim().is_empty());
        lines
            .clone()
            .find(|line| wanted.iter().any(|w| !w.is_empty() && line.contains(w)))
            .or_else(|| lines.next())
            .unwrap_or("")
    }

    /// `Ok` when `result` meets the expectation, else what is wrong.
    fn check(&self, result: &CaseResult) -> std::result::Result<(), String> {
        let output = &result.output;
        match self {
            Expect::Succeeds { output_contains } => {
                if result.exit != 0 {
                    Err(format!("expected success, got exit {}", result.exit))
                } else if !output.contains(output_contains.as_str()) {
                    Err(format!("output lacks {output_contains:?}"))
                } else {
                    Ok(())
                }
            }
            Expect::Fails {
                exit,
                output_any_of,
            } => {
                if result.exit == 0 {
                    Err("expected a failure, got exit 0".to_string())
                } else if exit.is_some_and(|code| code != result.exit) {
                    Err(format!(
                        "expected exit {}, got {}",
                        exit.unwrap_or_default(),
                        result.exit
                    ))
                } else if !output_any_of.is_empty()
                    && !output_any_of.iter().any(|t| output.contains(t.as_str()))
                {
                    Err(format!("output holds none of {output_any_of:?}"))
                } else {
                    Ok(())
                }
            }
            Expect::OutputIs(text) => {
                if result.exit != 0 {
                    Err(format!("expected success, got exit {}", result.exit))
                } else if output.trim() != text.trim() {
                    Err(format!("output is not exactly {:?}", text.trim()))
                } else {
                    Ok(())
                }
            }
        }
    }
}

/// One named command and what it must show.
#[derive(Debug, Clone)]
pub struct Case {
    /// A unique, descriptive name: `curl.ca-missing.upstream`.
    pub name: String,
    /// The command, run without a shell.
    pub argv: Vec<String>,
    /// What it must show.
    pub expect: Expect,
}

impl Case {
    /// A case; whitespace in the name becomes `_` (results are tagged by
    /// name on one line).
    pub fn new(name: impl Into<String>, argv: Vec<String>, expect: Expect) -> Self {
        Self {
            name: name.into().replace(char::is_whitespace, "_"),
            argv,
            expect,
        }
    }
}

/// What one case did in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// The command's exit code (124: killed by the per-case timeout).
    pub exit: i32,
    /// Its stdout and stderr, interleaved.
    pub output: String,
    /// How long it ran.
    pub elapsed: Duration,
}

/// The cases of one container run and their results.
#[derive(Debug)]
pub struct CaseReport {
    /// Which configuration ran (`patched`, `ca-missing`, ...).
    pub label: String,
    /// The cases, in order.
    pub cases: Vec<Case>,
    /// Parsed results; a case missing here never reported back.
    pub results: Vec<CaseResult>,
    /// The container's own output (the script's stderr holds anything odd).
    pub container: RunOutput,
}

impl CaseReport {
    /// The result of the case called `name`.
    pub fn result(&self, name: &str) -> Option<&CaseResult> {
        self.results.iter().find(|r| r.name == name)
    }

    /// One line per case (`PASS`/`FAIL name: why`), failed ones followed by
    /// their output.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "cases in container `{}` ({:.1}s):\n",
            self.label,
            self.container.elapsed.as_secs_f64()
        );
        for case in &self.cases {
            let verdict = match self.result(&case.name) {
                None => Err("no result (the script stopped before it)".to_string()),
                Some(result) => case.expect.check(result),
            };
            let result = self.result(&case.name);
            let millis = result.map_or(0, |r| r.elapsed.as_millis());
            let _ = match verdict {
                Ok(()) => {
                    let evidence = result.map_or("", |r| case.expect.evidence(&r.output));
                    writeln!(text, "  {}", pass_line(&case.name, millis, evidence))
                }
                Err(why) => {
                    let output = result.map_or("", |r| r.output.trim());
                    writeln!(
                        text,
                        "  FAIL {} ({millis} ms): {why}\n    command: {:?}\n    output: {}",
                        case.name,
                        case.argv,
                        output.replace('\n', "\n            ")
                    )
                }
            };
        }
        text
    }

    /// The names of the cases that did not meet their expectation.
    pub fn failed(&self) -> Vec<&str> {
        self.cases
            .iter()
            .filter(|case| {
                self.result(&case.name)
                    .is_none_or(|result| case.expect.check(result).is_err())
            })
            .map(|case| case.name.as_str())
            .collect()
    }

    /// Prints the summary; panics (with it, and the container's stderr)
    /// when any case failed.
    pub fn assert_all_pass(&self) {
        let summary = self.summary();
        println!("{summary}");
        let failed = self.failed();
        assert!(
            failed.is_empty(),
            "{} case(s) failed: {failed:?}\n{summary}\ncontainer exit {}, stderr:\n{}",
            failed.len(),
            self.container.exit,
            self.container.stderr
        );
    }
}

/// `PASS name (N ms) | evidence`: how every passing case prints.
pub fn pass_line(name: &str, millis: u128, evidence: &str) -> String {
    format!("PASS {name} ({millis} ms) {}", shorten(evidence, 110))
}

/// `text` cut to `max` characters, marked when cut.
fn shorten(text: &str, max: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("| {}…", &text[..cut]),
        None if text.is_empty() => String::new(),
        None => format!("| {text}"),
    }
}

/// Runs one case: marks its start, runs it under a timeout with stderr
/// folded into stdout, then marks its end with the exit code and the time it
/// took. The newline before the end mark keeps the mark at a line start even
/// when the output has no final newline.
const CASE_FUNCTION: &str = r#"nanoclaw_case() {
  local name=$1; shift
  echo "@MARK@ begin $name"
  local t0=$(date +%s%N)
  timeout @TIMEOUT@ "$@" </dev/null 2>&1
  local rc=$?
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  printf '\n@MARK@ end %s %d %d\n' "$name" "$rc" "$ms"
}
"#;

/// Single-quotes `word` for bash.
fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The bash script running `cases` in order, each under a timeout, printing
/// `MARK begin NAME`, the command's output, then `MARK end NAME EXIT`.
pub fn case_script(cases: &[Case]) -> String {
    let mut script = CASE_FUNCTION
        .replace("@MARK@", MARK)
        .replace("@TIMEOUT@", &CASE_TIMEOUT_SECS.to_string());
    for case in cases {
        let words: Vec<String> = std::iter::once(case.name.as_str())
            .chain(case.argv.iter().map(String::as_str))
            .map(shell_quote)
            .collect();
        let _ = writeln!(script, "nanoclaw_case {}", words.join(" "));
    }
    script
}

/// Reads the tagged results out of the script's stdout.
pub fn parse_results(stdout: &str) -> Vec<CaseResult> {
    let mut results = Vec::new();
    let mut current: Option<(String, Vec<&str>)> = None;
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix(MARK) {
            let mut words = rest.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("begin"), Some(name), None) => current = Some((name.to_string(), Vec::new())),
                (Some("end"), Some(name), Some(exit)) => {
                    let millis = words.next().and_then(|ms| ms.parse().ok()).unwrap_or(0);
                    if let Some((begun, lines)) = current.take() {
                        if begun == name {
                            results.push(CaseResult {
                                name: begun,
                                exit: exit.parse().unwrap_or(-1),
                                elapsed: Duration::from_millis(millis),
                                output: lines.join("\n").trim_end().to_string(),
                            });
                        }
                    }
                }
                _ => {}
            }
        } else if let Some((_, lines)) = current.as_mut() {
            lines.push(line);
        }
    }
    results
}

/// Runs `cases` in one container made from `spec` (its command is replaced
/// by the case script) with the docker CLI and parses the results. `label`
/// names the configuration in the report.
pub fn run_cases(
    label: &str,
    spec: ContainerSpecBuilder,
    cases: Vec<Case>,
    timeout: Duration,
) -> Result<CaseReport> {
    run_cases_with(&DockerCli, label, spec, cases, timeout)
}

/// [`run_cases`] with the container run by `runner`.
pub fn run_cases_with(
    runner: &dyn Runner,
    label: &str,
    spec: ContainerSpecBuilder,
    cases: Vec<Case>,
    timeout: Duration,
) -> Result<CaseReport> {
    let script = case_script(&cases);
    let spec = spec
        .command(["bash", "-c", script.as_str()])
        .build()
        .context(|| format!("building the container spec for `{label}`"))?;
    let container = runner.run(&spec, timeout)?;
    Ok(CaseReport {
        label: label.to_string(),
        results: parse_results(&container.stdout),
        cases,
        container,
    })
}
