//! `docker_cli`: docker run/create lines read as the docker CLI reads them,
//! and rewritten with the sandbox patches inserted before IMAGE — NanoClaw
//! v1's and v2's own lines, combined short flags, `--flag=value`, unknown
//! flags, `--`, and docker's own errors for bad input; `docker build` lines
//! (flags after the context, `--`) rewritten with the sandbox layer's build
//! patches, the context becoming the prepared tar on stdin.

use std::path::PathBuf;

use nanoclaw_sandbox_core::docker_cli::{
    build_request, parse, parse_env_file, redacted, removes_containers, rewrite, rewrite_build,
    BuildInvocation, DockerCommand, ParseError, RewriteContext, RewriteError, RunInvocation,
    RunKind, STDIN_CONTEXT,
};
use nanoclaw_sandbox_core::dockerfile::{BUILD_DOCKERFILE, CA_BUILD_ARG};
use nanoclaw_sandbox_core::proxy::{ProxySettings, ProxyUrl};
use nanoclaw_sandbox_core::sandbox::runtime::prepare_build;
use nanoclaw_sandbox_core::sandbox::{
    CaSource, InstancePaths, Mode, PatchError, ProxyCa, SandboxPatcher,
};
use nanoclaw_sandbox_core::trust::{TrustStore, CONTAINER_CA_DIR};
use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::tar::tar_context;

const EMPTY: &str = "/ws/.nanoclaw/shim/empty";
const CA_DIR: &str = "/ws/.nanoclaw/shim/ca";

fn args(line: &str) -> Vec<String> {
    line.split(' ').map(str::to_string).collect()
}

fn run(line: &str) -> RunInvocation {
    match parse(&args(line)).unwrap() {
        DockerCommand::Run(run) => run,
        other => panic!("not a run line: {other:?}"),
    }
}

/// An intercepting sandbox proxy at `proxy`, with a CA.
fn mode(proxy: &str) -> Mode {
    let url = ProxyUrl::parse(proxy).unwrap();
    let store = TrustStore::from_pem(TestCa::new("Shim Test CA").pem().as_bytes(), "t").unwrap();
    Mode::Proxied {
        proxy: ProxySettings {
            http: Some(url.clone()),
            https: Some(url),
            all: None,
            no_proxy: None,
        },
        ca: Some(ProxyCa::new(store, CaSource::EnvBase64)),
    }
}

fn patcher(proxy: &str) -> SandboxPatcher {
    let mode = mode(proxy);
    let paths = InstancePaths {
        empty_file: PathBuf::from(EMPTY),
        ca_dir: PathBuf::from(CA_DIR),
    };
    SandboxPatcher::new(&mode, Some(paths)).unwrap()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn patched(line: &str, proxy: &str) -> Result<Vec<String>, RewriteError> {
    let patcher = patcher(proxy);
    let context = RewriteContext {
        patcher: &patcher,
        host_env: &no_env,
        env_file_vars: &[],
        labels: &[],
    };
    rewrite(&run(line), &context).map(|r| r.args)
}

/// Whether `inserted` holds `flag value` as a pair.
fn has_pair(list: &[String], flag: &str, value: &str) -> bool {
    list.windows(2).any(|w| w[0] == flag && w[1] == value)
}

/// NanoClaw v1: `docker run -i --rm --name … -v HOST:CTR[:ro] … -e TZ=… IMAGE`, JSON on stdin.
const V1: &str = "run -i --rm --name nanoclaw-main-1733300000 -v /home/u/nanoclaw/groups/main:/workspace/group -v /home/u/nanoclaw/data/sessions/main:/home/node/.claude -v /dev/null:/workspace/project/.env:ro -e TZ=Europe/Berlin nanoclaw-agent:latest";

/// NanoClaw v2: labels, `--entrypoint bash`, a command after IMAGE.
const V2: &str = "run --rm --name nanoclaw-v2-main-1 --label nanoclaw-install=home-u-nanoclaw -v /home/u/nanoclaw/groups/main:/workspace/group -e TZ=UTC --entrypoint bash nanoclaw-agent:v2 -c exec@bun@run@/app/src/index.ts";

#[test]
fn nanoclaw_v1_is_read_flag_by_flag() {
    let line = run(V1);
    assert_eq!(line.kind, RunKind::Run);
    assert_eq!(line.image, "nanoclaw-agent:latest");
    assert!(line.command.is_empty());
    assert!(line.has("interactive") && line.has("rm"));
    assert_eq!(
        line.values("name").collect::<Vec<_>>(),
        ["nanoclaw-main-1733300000"]
    );
    assert_eq!(line.values("volume").count(), 3);
    assert_eq!(line.values("env").collect::<Vec<_>>(), ["TZ=Europe/Berlin"]);
    assert_eq!(line.to_args(), args(V1), "read back as given");
}

#[test]
fn nanoclaw_v1_gets_the_patches_and_keeps_every_caller_argument_in_order() {
    let out = patched(V1, "http://gateway.docker.internal:3128").unwrap();
    let image_at = out
        .iter()
        .position(|a| a == "nanoclaw-agent:latest")
        .unwrap();
    assert_eq!(image_at, out.len() - 1, "IMAGE stays last: {out:?}");
    let (before, _) = out.split_at(image_at);
    // The caller's tokens come first, in order; only the /dev/null source changed.
    let original = args(V1);
    let caller: Vec<String> = original[..original.len() - 1]
        .iter()
        .map(|a| {
            a.replace(
                "/dev/null:/workspace/project/.env:ro",
                &format!("{EMPTY}:/workspace/project/.env:ro"),
            )
        })
        .collect();
    assert_eq!(&before[..caller.len()], caller.as_slice(), "{out:?}");
    let inserted = &before[caller.len()..];
    assert!(
        has_pair(
            inserted,
            "-e",
            "HTTPS_PROXY=http://gateway.docker.internal:3128"
        ),
        "{inserted:?}"
    );
    assert!(has_pair(
        inserted,
        "-e",
        "https_proxy=http://gateway.docker.internal:3128"
    ));
    assert!(has_pair(inserted, "-e", "NODE_USE_ENV_PROXY=1"));
    assert!(
        has_pair(
            inserted,
            "-e",
            "NODE_EXTRA_CA_CERTS=/etc/nanoclaw/ca/proxy-ca.pem"
        ),
        "{inserted:?}"
    );
    assert!(has_pair(
        inserted,
        "--mount",
        &format!("type=bind,source={CA_DIR},target={CONTAINER_CA_DIR},readonly")
    ));
    assert!(has_pair(inserted, "--pull", "never"));
    assert!(!out.iter().any(|a| a.starts_with("/dev/null")), "{out:?}");
    // Not a loopback proxy: no extra host needed.
    assert!(!inserted.iter().any(|a| a == "--add-host"));
}

#[test]
fn nanoclaw_v2_keeps_its_command_after_the_image_and_a_loopback_proxy_is_translated() {
    let line = run(V2);
    assert_eq!(line.image, "nanoclaw-agent:v2");
    assert_eq!(line.command, ["-c", "exec@bun@run@/app/src/index.ts"]);
    assert_eq!(line.values("entrypoint").collect::<Vec<_>>(), ["bash"]);
    let out = patched(V2, "http://127.0.0.1:3128").unwrap();
    assert_eq!(
        &out[out.len() - 3..],
        ["nanoclaw-agent:v2", "-c", "exec@bun@run@/app/src/index.ts"]
    );
    assert!(
        has_pair(&out, "-e", "HTTP_PROXY=http://host.docker.internal:3128"),
        "{out:?}"
    );
    assert!(has_pair(
        &out,
        "--add-host",
        "host.docker.internal:host-gateway"
    ));
    // On the host network the loopback address stays as it is.
    let host = V2.replace("--rm", "--rm --network=host");
    let out = patched(&host, "http://127.0.0.1:3128").unwrap();
    assert!(
        has_pair(&out, "-e", "HTTP_PROXY=http://127.0.0.1:3128"),
        "{out:?}"
    );
    assert!(!out.iter().any(|a| a == "--add-host"));
}

#[test]
fn combined_short_flags_and_attached_values_are_read_as_docker_reads_them() {
    let line =
        run("run -itd -eA=1 -e=B=2 --env=C=3 -uroot -w /app --memory=1g --cpus 2 --init img");
    for flag in ["interactive", "tty", "detach", "init"] {
        assert!(line.has(flag), "{flag}");
    }
    assert_eq!(
        line.values("env").collect::<Vec<_>>(),
        ["A=1", "B=2", "C=3"]
    );
    assert_eq!(line.values("user").collect::<Vec<_>>(), ["root"]);
    assert_eq!(line.values("workdir").collect::<Vec<_>>(), ["/app"]);
    assert_eq!(line.values("memory").collect::<Vec<_>>(), ["1g"]);
    assert_eq!(line.values("cpus").collect::<Vec<_>>(), ["2"]);
    assert_eq!(line.image, "img");
    // A value-taking letter ends its group: `-ie X` is -i then -e X.
    let line = run("run -ie X img");
    assert_eq!(line.values("env").collect::<Vec<_>>(), ["X"]);
    assert_eq!(line.image, "img");
}

#[test]
fn every_value_taking_flag_keeps_its_value_away_from_the_image() {
    // Flags the shim does not use still take their value: the value must
    // not be taken for IMAGE.
    let line = run("run --restart no --log-opt max-size=1m -p 8080:80 --ulimit nofile=1024 --cap-add NET_ADMIN img cmd");
    assert_eq!(line.image, "img");
    assert_eq!(line.command, ["cmd"]);
    // An unknown flag with `=value` is carried opaque, in place.
    let line = run("run --future-flag=x -i img");
    assert_eq!(line.image, "img");
    assert_eq!(line.to_args(), args("run --future-flag=x -i img"));
    let out = patched("run --future-flag=x -i img", "http://proxy.test:3128").unwrap();
    assert_eq!(&out[..3], ["run", "--future-flag=x", "-i"]);
}

#[test]
fn global_options_and_the_container_form_are_understood() {
    let line = run("--context default -D container create --name x img");
    assert_eq!(line.kind, RunKind::Create);
    assert_eq!(line.head, args("--context default -D container create"));
    assert_eq!(line.image, "img");
    for other in [
        "ps --filter label=a=b",
        "version --format {{.Client.Version}}",
        "container ls",
        "--version",
        "-H unix:///x info",
    ] {
        assert_eq!(
            parse(&args(other)).unwrap(),
            DockerCommand::Other,
            "{other}"
        );
    }
    for line in ["build -t x .", "image build .", "-D builder build ."] {
        let DockerCommand::Build(build) = parse(&args(line)).unwrap() else {
            panic!("not a build line: {line}");
        };
        assert_eq!(build.context(), Some("."), "{line}");
        assert_eq!(build.to_args(), args(line));
    }
    assert_eq!(
        parse(&args("buildx build .")).unwrap(),
        DockerCommand::BuildxBuild
    );
}

#[test]
fn double_dash_ends_the_options_and_stays_before_the_image() {
    let line = run("run -i -- -weird-image arg --not-a-flag");
    assert!(line.double_dash);
    assert_eq!(line.image, "-weird-image");
    assert_eq!(line.command, ["arg", "--not-a-flag"]);
    let out = patched("run -i -- -weird-image arg", "http://proxy.test:3128").unwrap();
    let dd = out.iter().position(|a| a == "--").unwrap();
    assert!(
        out.iter().position(|a| a == "--pull").unwrap() < dd,
        "{out:?}"
    );
    assert_eq!(&out[dd..], ["--", "-weird-image", "arg"]);
}

#[test]
fn bad_input_gets_docker_s_own_errors() {
    // As docker 28.2 prints them (its first line; the usage lines follow).
    let first = |line: &str| {
        let e = parse(&args(line)).unwrap_err().to_string();
        let usage = "Usage:  docker ";
        assert!(e.contains(usage), "{e}");
        e.lines().next().unwrap().to_string()
    };
    assert_eq!(first("run -i --name"), "flag needs an argument: --name");
    assert!(matches!(
        parse(&args("run -ie")).unwrap_err(),
        ParseError::MissingShortValue { flag: 'e', .. }
    ));
    assert_eq!(first("run -ie"), "flag needs an argument: 'e' in -e");
    assert_eq!(first("create --bogus img"), "unknown flag: --bogus");
    assert_eq!(first("run -iZ img"), "unknown shorthand flag: 'Z' in -Z");
    assert_eq!(
        first("run -i --rm"),
        "docker: 'docker run' requires at least 1 argument"
    );
}

#[test]
fn a_caller_mount_on_the_ca_directory_is_an_error_not_a_guess() {
    let e = patched(
        "run -v /mine:/etc/nanoclaw/ca:ro img",
        "http://proxy.test:3128",
    )
    .unwrap_err();
    assert!(
        matches!(e, RewriteError::Patch(PatchError::CaDirTaken { .. })),
        "{e}"
    );
    let e = patched(
        "run --mount type=volume,source=v,target=/etc/nanoclaw/ca img",
        "http://proxy.test:3128",
    )
    .unwrap_err();
    assert!(
        matches!(e, RewriteError::Patch(PatchError::CaDirTaken { .. })),
        "{e}"
    );
    // Malformed values the shim must read are errors too.
    assert!(patched("run -v a:b:c:d img", "http://proxy.test:3128").is_err());
    assert!(patched("run --add-host nocolon img", "http://proxy.test:3128").is_err());
}

#[test]
fn caller_choices_win_pull_policy_and_variables_and_patching_twice_adds_nothing() {
    let out = patched(
        "run --pull=always -e HTTPS_PROXY=http://mine.test:1 img",
        "http://proxy.test:3128",
    )
    .unwrap();
    assert!(!out.iter().any(|a| a == "never"), "{out:?}");
    assert!(!out
        .iter()
        .any(|a| a.starts_with("HTTPS_PROXY=") && a != "HTTPS_PROXY=http://mine.test:1"));
    // The caller's value goes to the lowercase spelling too (one value for both).
    assert!(
        has_pair(&out, "-e", "https_proxy=http://mine.test:1"),
        "{out:?}"
    );
    // A line that went through the shim once goes through unchanged.
    let once = patched(
        "run --mount type=bind,source=/dev/null,target=/x img",
        "http://proxy.test:3128",
    )
    .unwrap();
    assert!(
        once.iter()
            .any(|a| a == &format!("type=bind,source={EMPTY},target=/x,readonly")),
        "{once:?}"
    );
    let twice = patched(&once.join(" "), "http://proxy.test:3128").unwrap();
    assert_eq!(twice, once);
}

#[test]
fn env_files_and_host_variables_count_as_the_caller_s() {
    let vars = parse_env_file(
        "# c\n\nHTTPS_PROXY=http://file.test:1\nFROM_HOST\nMISSING\n",
        &|n: &str| (n == "FROM_HOST").then(|| "h".to_string()),
    )
    .unwrap();
    assert_eq!(
        vars,
        [
            ("HTTPS_PROXY".to_string(), "http://file.test:1".to_string()),
            ("FROM_HOST".into(), "h".into())
        ]
    );
    let patcher = patcher("http://proxy.test:3128");
    let labels = [("nanoclaw.shim".to_string(), "ws-1".to_string())];
    let context = RewriteContext {
        patcher: &patcher,
        host_env: &no_env,
        env_file_vars: &vars,
        labels: &labels,
    };
    let out = rewrite(&run("run --env-file f img"), &context)
        .unwrap()
        .args;
    // The context's labels are added once: not again when the line has them.
    assert!(has_pair(&out, "--label", "nanoclaw.shim=ws-1"), "{out:?}");
    let again = rewrite(&run("run --label nanoclaw.shim=ws-1 img"), &context)
        .unwrap()
        .args;
    assert_eq!(
        again.iter().filter(|a| a.contains("nanoclaw.shim")).count(),
        1
    );
    assert!(
        !has_pair(&out, "-e", "HTTPS_PROXY=http://proxy.test:3128"),
        "{out:?}"
    );
    assert!(parse_env_file("=x\n", &no_env).is_err());
}

#[test]
fn explained_lines_hide_secrets() {
    let shown = redacted(&args(
        "run -e API_TOKEN=s3cret -e HTTPS_PROXY=http://u:pw@p.test:1 img",
    ));
    let text = shown.join(" ");
    assert!(!text.contains("s3cret") && !text.contains("pw@"), "{text}");
    assert!(text.contains("p.test:1"));
    // Build args too.
    let shown = redacted(&args(
        "build --build-arg API_TOKEN=s3cret --build-arg HTTPS_PROXY=http://u:pw@p.test:1 .",
    ))
    .join(" ");
    assert!(
        !shown.contains("s3cret") && !shown.contains("pw@"),
        "{shown}"
    );
    assert!(shown.contains("HTTPS_PROXY=http://***@p.test:1"), "{shown}");
}

/// The flag tables against the installed docker CLI's own `--help` (of
/// `run` and of `build`, the legacy builder's: no buildx here): every flag
/// it lists is in the table, taking a value exactly when the help names a
/// value type. Skips (saying why) without a docker CLI.
#[test]
fn the_flag_tables_agree_with_the_installed_docker_help() {
    use nanoclaw_sandbox_core::docker_cli::flags::{BUILD_FLAGS, RUN_FLAGS};
    check_table("run", RUN_FLAGS, 90);
    check_table("build", BUILD_FLAGS, 28);
}

fn check_table(
    command: &str,
    table: &'static [nanoclaw_sandbox_core::docker_cli::flags::Flag],
    at_least: usize,
) {
    use nanoclaw_sandbox_core::docker_cli::flags::by_long;
    let help = match std::process::Command::new("docker")
        .args([command, "--help"])
        .output()
    {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        other => {
            nanoclaw_testkit::prereq::missing("the docker CLI", &format!("{other:?}"));
            return;
        }
    };
    let mut checked = 0;
    for line in help.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (short, rest) = match words.first() {
            Some(w) if w.starts_with("--") => (None, &words[..]),
            Some(w) if w.len() == 3 && w.starts_with('-') && w.ends_with(',') => {
                (w.chars().nth(1), &words[1..])
            }
            _ => continue,
        };
        let Some(long) = rest.first().and_then(|w| w.strip_prefix("--")) else {
            continue;
        };
        // A value type follows the name in lowercase (`string`, `list`, `bytes`…).
        let takes_value = rest.get(1).is_some_and(|w| {
            w.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        });
        let flag = by_long(table, long)
            .unwrap_or_else(|| panic!("--{long} of `docker {command}` is not in the table"));
        assert_eq!(flag.takes_value, takes_value, "--{long}: {line}");
        assert_eq!(flag.short, short, "--{long}");
        checked += 1;
    }
    println!("{checked} flags of `docker {command} --help` agree with the table");
    assert!(
        checked >= at_least,
        "too few flags read from the help of `docker {command}`: {checked}"
    );
}

fn build_line(line: &str) -> BuildInvocation {
    match parse(&args(line)).unwrap() {
        DockerCommand::Build(build) => build,
        other => panic!("not a build line: {other:?}"),
    }
}

#[test]
fn build_flags_are_read_before_and_after_the_context() {
    // pflag reads `build` interspersed: flags may follow PATH.
    let line = build_line("build -t a:1 ctx --no-cache -f ctx/Dockerfile.dev --build-arg X=1 -q");
    assert_eq!(line.context(), Some("ctx"));
    assert_eq!(line.values("tag").collect::<Vec<_>>(), ["a:1"]);
    assert_eq!(
        line.values("file").collect::<Vec<_>>(),
        ["ctx/Dockerfile.dev"]
    );
    assert!(line.has("no-cache") && line.has("quiet"));
    // `--` ends the flags; what follows is an argument even with a dash.
    let line = build_line("build --pull -- -odd-dir");
    assert_eq!(line.context(), Some("-odd-dir"));
    assert_eq!(line.double_dash, Some(1));
    // No context, or two: docker refuses them itself.
    assert_eq!(build_line("build -t a").context(), None);
    assert_eq!(build_line("build a b").context(), None);
    // `--pull` is a boolean for build (a value for run): the next token is the context.
    assert_eq!(build_line("build --pull .").context(), Some("."));
    // Docker's own message for an unknown flag, with build's usage line.
    let err = parse(&args("build --bogus .")).unwrap_err();
    assert!(matches!(err, ParseError::UnknownFlag { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("unknown flag: --bogus\n")
            && text.contains("Usage:  docker build [OPTIONS] PATH | URL | -"),
        "{text}"
    );
}

/// The line, the request read from it over `files`, the request prepared
/// for an intercepting proxy at `proxy`, and the rewritten line.
fn build_rewrite(
    line: &str,
    files: &[(&str, &str)],
    dockerfile: &str,
    proxy: &str,
) -> Result<Vec<String>, String> {
    let line = build_line(line);
    let host_env = |name: &str| (name == "HOST_SET").then(|| "from-env".to_string());
    let original = build_request(&line, tar_context(files), dockerfile, &host_env)
        .map_err(|e| e.to_string())?;
    let (prepared, _report) =
        prepare_build(&mode(proxy), &[], original.clone()).map_err(|e| e.to_string())?;
    assert_eq!(
        prepared.dockerfile_path(),
        BUILD_DOCKERFILE,
        "the rewritten Dockerfile is built"
    );
    Ok(rewrite_build(&line, &original, &prepared)
        .expect("one context")
        .args)
}

#[test]
fn a_build_line_gets_the_proxy_args_the_wrapper_and_the_tar_on_stdin() {
    let files = [("Dockerfile", "FROM debian\nRUN true\n")];
    let out = build_rewrite(
        "build -t a:1 . --no-cache",
        &files,
        "Dockerfile",
        "http://127.0.0.1:3128",
    )
    .unwrap();
    // The caller's tokens stay in order; the context became `-`, with the
    // inserted flags before it; the flags after it stay after it.
    assert_eq!(&out[..3], ["build", "-t", "a:1"]);
    assert_eq!(&out[out.len() - 2..], [STDIN_CONTEXT, "--no-cache"]);
    assert!(has_pair(&out, "-f", BUILD_DOCKERFILE), "{out:?}");
    // A loopback proxy, translated for the bridge build network.
    for name in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"] {
        assert!(
            has_pair(
                &out,
                "--build-arg",
                &format!("{name}=http://host.docker.internal:3128")
            ),
            "{name}: {out:?}"
        );
    }
    assert!(has_pair(
        &out,
        "--add-host",
        "host.docker.internal:host-gateway"
    ));
    let wrapper = out
        .iter()
        .find(|a| a.starts_with(&format!("{CA_BUILD_ARG}=")))
        .expect("the step wrapper");
    assert!(wrapper.contains("BEGIN CERTIFICATE"), "the CA rides in it");
    // Shown, the wrapper is said what it is.
    let shown = redacted(&out).join(" ");
    assert!(!shown.contains("BEGIN CERTIFICATE"), "{shown}");
    assert!(
        shown.contains("<the RUN-step wrapper with the proxy CA"),
        "{shown}"
    );
}

#[test]
fn a_build_line_keeps_the_caller_s_file_args_and_hosts() {
    let files = [
        ("sub/Dockerfile.dev", "FROM debian\nRUN true\n"),
        ("a.txt", "a"),
    ];
    let out = build_rewrite(
        "build --build-arg HTTPS_PROXY=http://theirs.test:1 --build-arg HOST_SET --build-arg NO_PROXY --file=sub/Dockerfile.dev --add-host host.docker.internal:10.0.0.9 -- .",
        &files,
        "sub/Dockerfile.dev",
        "http://127.0.0.1:3128",
    )
    .unwrap();
    // `--file=` edited in place; no second -f.
    assert!(
        out.contains(&format!("--file={BUILD_DOCKERFILE}")),
        "{out:?}"
    );
    assert!(!out.contains(&"-f".to_string()), "{out:?}");
    // The caller's values win; a value-less one counts as theirs.
    assert!(has_pair(
        &out,
        "--build-arg",
        "HTTPS_PROXY=http://theirs.test:1"
    ));
    assert!(
        !out.iter().any(|a| a.starts_with("HTTPS_PROXY=http://host")),
        "{out:?}"
    );
    assert!(!out.iter().any(|a| a.starts_with("NO_PROXY=")), "{out:?}");
    assert!(has_pair(&out, "--build-arg", "HOST_SET"));
    // Their host entry stays theirs.
    assert_eq!(
        out.iter()
            .filter(|a| a.starts_with("host.docker.internal:"))
            .count(),
        1,
        "{out:?}"
    );
    // Inserted before `--`, the context after it.
    let dash = out.iter().position(|a| a == "--").unwrap();
    assert!(out[..dash].iter().any(|a| a.starts_with("https_proxy=")));
    assert_eq!(&out[dash..], ["--", STDIN_CONTEXT]);
    // The build arg that carries the wrapper is the sandbox's own: refused.
    let err = build_rewrite(
        &format!("build --build-arg {CA_BUILD_ARG}=x ."),
        &[("Dockerfile", "FROM debian\nRUN true\n")],
        "Dockerfile",
        "http://127.0.0.1:3128",
    )
    .unwrap_err();
    assert!(err.contains(CA_BUILD_ARG), "{err}");
}

#[test]
fn the_commands_that_may_free_containers_are_known() {
    for line in [
        "rm -f a",
        "container rm a",
        "container remove a",
        "-H unix:///x stop a",
        "kill a",
        "container prune -f",
        "system prune -f",
    ] {
        assert!(removes_containers(&args(line)), "{line}");
    }
    // Control: commands that free nothing, and a line whose global option
    // is unknown (not read).
    for line in [
        "ps -a",
        "run --rm img",
        "image rm img",
        "system df",
        "--bogus rm a",
    ] {
        assert!(!removes_containers(&args(line)), "{line}");
    }
}
