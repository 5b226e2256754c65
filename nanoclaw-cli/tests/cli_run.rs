//! `nanoclaw-sandbox run` through the built binary. The Docker tests run the
//! test agent (this package's binary in a `FROM scratch` image) with
//! `--network none` and the `nanoclaw.test=true` label; `--dry-run` needs no
//! daemon.

mod cli_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cli_support::{
    agent_image, cli, first_line, send_signal, text, wait_with_patience, ProxyProcess, BIN,
};
use nanoclaw_sandbox_core::runtime::InstanceId;
use nanoclaw_testkit::docker::{container_ids, docker};

/// `run` of the agent image as a test container without network, in a
/// workspace of its own.
fn run_agent(image: &str, workspace: &Path) -> assert_cmd::Command {
    let mut cmd = cli();
    cmd.arg("run")
        .arg("--workspace")
        .arg(workspace)
        .args(["--no-sandbox", "--network", "none", "-l"])
        .arg("nanoclaw.test=true")
        .args(["--image", image]);
    cmd
}

/// Containers (any state) named `name`.
fn containers_named(name: &str) -> String {
    let output = Command::new("docker")
        .args(["ps", "-aq", "--filter"])
        .arg(format!("name=^{name}$"))
        .output()
        .unwrap();
    text(&output.stdout)
}

#[test]
fn the_containers_exit_code_is_ours() {
    let Some(image) = agent_image() else { return };
    let workspace = tempfile::tempdir().unwrap();
    for code in [0, 3] {
        let assert = run_agent(image, workspace.path())
            .args(["--", "--stdout", "out", "--stderr", "err", "--exit"])
            .arg(code.to_string())
            .assert()
            .code(code);
        let output = assert.get_output();
        assert_eq!(text(&output.stdout), "out\n");
        assert_eq!(text(&output.stderr), "err\n");
    }
}

#[test]
fn a_missing_command_is_127() {
    let Some(image) = agent_image() else { return };
    let workspace = tempfile::tempdir().unwrap();
    let assert = run_agent(image, workspace.path())
        .args(["--entrypoint", "/no/such/command"])
        .assert()
        .code(127);
    let stderr = text(&assert.get_output().stderr);
    assert!(stderr.contains("/no/such/command"), "{stderr}");
}

/// A command that exists but cannot be executed (here a directory) is 126,
/// as with `docker run`; the control above (a missing one) is 127.
#[test]
fn a_command_that_cannot_run_is_126() {
    let Some(image) = agent_image() else { return };
    let workspace = tempfile::tempdir().unwrap();
    let assert = run_agent(image, workspace.path())
        .args(["--entrypoint", "/"])
        .assert()
        .code(126);
    let stderr = text(&assert.get_output().stderr);
    assert!(stderr.contains("cannot be executed"), "{stderr}");
}

#[test]
fn stdin_is_forwarded_with_i() {
    let Some(image) = agent_image() else { return };
    let workspace = tempfile::tempdir().unwrap();
    let assert = run_agent(image, workspace.path())
        .args(["-i", "--", "--echo-stdin"])
        .write_stdin("line 1\nline 2\n")
        .assert()
        .code(0);
    assert_eq!(text(&assert.get_output().stdout), "line 1\nline 2\n");
}

#[test]
fn a_missing_image_is_125_at_once_without_a_pull() {
    if agent_image().is_none() {
        return;
    }
    let workspace = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let assert = run_agent("nanoclaw-missing-image:never", workspace.path())
        .assert()
        .code(125);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "no pull attempt"
    );
    let stderr = text(&assert.get_output().stderr);
    assert!(stderr.contains("nanoclaw-missing-image:never"), "{stderr}");
    assert!(stderr.contains("never pulls"), "{stderr}");
}

#[test]
fn ctrl_c_stops_and_removes_the_container_and_exits_130() {
    let Some(image) = agent_image() else { return };
    let workspace = tempfile::tempdir().unwrap();
    let name = format!("nanoclaw-test-sigint-{}", InstanceId::generate());
    let mut child = Command::new(BIN)
        .arg("run")
        .arg("--workspace")
        .arg(workspace.path())
        .args(["--no-sandbox", "--network", "none", "--stop-timeout", "1"])
        .args([
            "-l",
            "nanoclaw.test=true",
            "--name",
            &name,
            "--image",
            image,
        ])
        .args(["--", "--stdout", "started", "--sleep", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (line, _rest) = first_line(child.stdout.take().unwrap());
    assert_eq!(line, "started\n");
    assert_ne!(containers_named(&name), "", "the container runs");

    let signalled = Instant::now();
    send_signal(child.id(), "INT");
    let status = wait_with_patience(&mut child);
    assert_eq!(status.code(), Some(130));
    assert!(
        signalled.elapsed() < Duration::from_secs(20),
        "no 60 s wait"
    );
    assert_eq!(containers_named(&name), "", "the container is removed");
}

#[test]
fn a_sandbox_env_file_patches_the_real_container() {
    let Some(image) = agent_image() else { return };
    let proxy = ProxyProcess::start(&[]);
    let workspace = tempfile::tempdir().unwrap();
    let mut cmd = cli();
    let assert = cmd
        .arg("run")
        .arg("--workspace")
        .arg(workspace.path())
        .args(["--network", "none", "-l", "nanoclaw.test=true"])
        .arg("--env-file")
        .arg(&proxy.env_file)
        .args(["--image", image, "--", "--print-env"])
        .assert()
        .code(0);
    let printed = text(&assert.get_output().stdout);
    let port = proxy.addr.port();
    assert!(
        printed.contains(&format!("HTTPS_PROXY=http://host.docker.internal:{port}")),
        "{printed}"
    );
    assert!(
        printed.contains("NODE_EXTRA_CA_CERTS=/etc/nanoclaw/ca/proxy-ca.pem"),
        "{printed}"
    );
    assert!(
        std::fs::read_dir(workspace.path().join(".nanoclaw/instances"))
            .map(|dirs| dirs
                .flatten()
                .all(|install| { std::fs::read_dir(install.path()).unwrap().next().is_none() }))
            .unwrap_or(true),
        "the instance directory goes with the run"
    );
}

/// `run --dry-run` output as JSON.
fn dry_run(args: &[&str]) -> serde_json::Value {
    dry_run_with(args, &[])
}

/// The same with `vars` set (and `NANOCLAW_WORKSPACE` only when among them).
fn dry_run_with(args: &[&str], vars: &[(&str, &str)]) -> serde_json::Value {
    let mut cmd = cli();
    cmd.env_remove("NANOCLAW_WORKSPACE");
    cmd.envs(vars.iter().copied());
    let assert = cmd
        .args([
            "run",
            "--dry-run",
            "--image",
            "agent:1",
            "-e",
            "ANTHROPIC_API_KEY=sk-secret",
        ])
        .args(args)
        .args(["--", "--exit", "0"])
        .assert()
        .code(0);
    let stdout = text(&assert.get_output().stdout);
    assert!(
        !stdout.contains("sk-secret"),
        "secrets are redacted: {stdout}"
    );
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn dry_run_prints_the_patched_spec_in_a_sandbox_env_and_the_same_spec_in_plain_mode() {
    let proxy = ProxyProcess::start(&[]);
    let env_file = proxy.env_file.to_str().unwrap();
    let patched = dry_run(&["--env-file", env_file]);
    assert_eq!(patched["mode"], "proxied-intercepting");
    let env: Vec<&str> = patched["spec"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let port = proxy.addr.port();
    assert!(
        env.contains(&format!("HTTPS_PROXY=http://host.docker.internal:{port}").as_str()),
        "bridge: the loopback proxy is translated: {env:?}"
    );
    assert!(
        env.contains(&"SSL_CERT_FILE=/etc/nanoclaw/ca/ca-bundle.pem"),
        "{env:?}"
    );
    assert!(env.contains(&"ANTHROPIC_API_KEY=***"), "{env:?}");
    let mounts = patched["spec"]["mounts"].as_array().unwrap();
    assert!(
        mounts
            .iter()
            .any(|m| m["target"] == "/etc/nanoclaw/ca" && m["read_only"] == true),
        "{mounts:?}"
    );
    assert!(!patched["report"].as_array().unwrap().is_empty());

    let expected = serde_json::json!({
        "image": "agent:1",
        "command": ["--exit", "0"],
        "env": ["ANTHROPIC_API_KEY=***"],
        "auto_remove": true,
    });
    let empty = tempfile::NamedTempFile::new().unwrap();
    for plain in [
        dry_run(&["--no-sandbox", "--env-file", env_file]),
        dry_run(&["--env-file", empty.path().to_str().unwrap()]),
    ] {
        assert_eq!(plain["mode"], "standard-docker");
        assert_eq!(plain["spec"], expected);
        assert_eq!(plain["report"], serde_json::json!([]));
    }
}

#[test]
fn our_own_input_errors_are_125() {
    cli().args(["run", "--no-such-flag"]).assert().code(125);
    let assert = cli().args(["run", "--dry-run"]).assert().code(125);
    assert!(text(&assert.get_output().stderr).contains("--image"));
    let assert = cli()
        .args(["run", "--dry-run", "--image", "a:1", "-v", "nonsense"])
        .assert()
        .code(125);
    assert!(text(&assert.get_output().stderr).contains("nonsense"));
    let assert = cli()
        .args([
            "run",
            "--dry-run",
            "--image",
            "a:1",
            "--env-file",
            "/nonexistent/x.env",
        ])
        .assert()
        .code(125);
    assert!(text(&assert.get_output().stderr).contains("/nonexistent/x.env"));
}

/// `run` reads `--workspace` (or `NANOCLAW_WORKSPACE`): in a sandbox the CA
/// directory the container mounts is kept under it. Before the command, where
/// it used to be global, it is refused, with clap's hint where it belongs.
#[test]
fn the_workspace_is_an_argument_of_run() {
    let proxy = ProxyProcess::start(&[]);
    let env_file = proxy.env_file.to_str().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let ws = workspace.path().to_str().unwrap();
    let ca_source = |out: &serde_json::Value| -> String {
        out["spec"]["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["target"] == "/etc/nanoclaw/ca")
            .and_then(|m| m["source"].as_str())
            .unwrap_or_else(|| panic!("no CA mount: {out}"))
            .to_string()
    };
    let given = ca_source(&dry_run(&["--env-file", env_file, "--workspace", ws]));
    assert!(given.starts_with(ws), "{given} under {ws}");
    let from_var = ca_source(&dry_run_with(
        &["--env-file", env_file],
        &[("NANOCLAW_WORKSPACE", ws)],
    ));
    // The same install directory (the instance below it is per process).
    let install_dir = |ca: &str| Path::new(ca).ancestors().nth(2).unwrap().to_path_buf();
    assert_eq!(install_dir(&from_var), install_dir(&given));
    // The control: without a workspace the CA directory goes elsewhere.
    let elsewhere = ca_source(&dry_run(&["--env-file", env_file]));
    assert!(!elsewhere.starts_with(ws), "{elsewhere}");

    let assert = cli()
        .args(["--workspace", ws, "run", "--dry-run", "--image", "a:1"])
        .assert()
        .code(2);
    let stderr = text(&assert.get_output().stderr);
    assert!(
        stderr.contains("unexpected argument '--workspace'"),
        "{stderr}"
    );
    assert!(stderr.contains("'run --workspace' exists"), "{stderr}");
}

/// docs/spec-file.md, where the spec file is documented.
fn spec_file_doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/spec-file.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The doc's ```toml and ```json blocks: (extension, text).
fn spec_file_examples(doc: &str) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        let extension = match line.trim() {
            "```toml" => "toml",
            "```json" => "json",
            _ => continue,
        };
        let block: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        found.push((extension, block.join("\n") + "\n"));
    }
    found
}

/// A spec file's text as JSON (TOML converted), as the schema sees it.
fn spec_value(extension: &str, text: &str) -> serde_json::Value {
    match extension {
        "toml" => toml::from_str(text).unwrap(),
        _ => serde_json::from_str(text).unwrap(),
    }
}

/// Every property name the schema has, nested ones included.
fn property_names(schema: &serde_json::Value, names: &mut Vec<String>) {
    match schema {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::Object(properties)) = map.get("properties") {
                names.extend(properties.keys().cloned());
            }
            map.values().for_each(|v| property_names(v, names));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| property_names(v, names)),
        _ => {}
    }
}

/// `run --spec FILE --dry-run --no-sandbox`: the CLI's own parser.
fn run_spec(file: &Path) -> assert_cmd::Command {
    let mut cmd = cli();
    // The doc's examples mount from under /home/me/nanoclaw: their workspace.
    cmd.args([
        "run",
        "--dry-run",
        "--no-sandbox",
        "--workspace",
        "/home/me/nanoclaw",
    ])
    .arg("--spec")
    .arg(file);
    cmd
}

#[test]
fn spec_schema_prints_and_the_docs_examples_validate_and_parse() {
    let assert = cli().arg("spec-schema").assert().code(0);
    let schema: serde_json::Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["required"], serde_json::json!(["image"]));
    let validator = jsonschema::validator_for(&schema).unwrap();

    let doc = spec_file_doc();
    let examples = spec_file_examples(&doc);
    let kinds: Vec<&str> = examples.iter().map(|(kind, _)| *kind).collect();
    assert_eq!(kinds, ["toml", "json"], "the doc's two examples");
    let dir = tempfile::tempdir().unwrap();
    for (index, (extension, text)) in examples.iter().enumerate() {
        let value = spec_value(extension, text);
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{extension} example: {errors:?}");
        let file = dir.path().join(format!("example-{index}.{extension}"));
        std::fs::write(&file, text).unwrap();
        let assert = run_spec(&file).assert().code(0);
        let parsed: serde_json::Value =
            serde_json::from_slice(&assert.get_output().stdout).unwrap();
        assert_eq!(parsed["spec"]["image"], value["image"], "{extension}");
        let targets = |spec: &serde_json::Value| -> Vec<String> {
            spec["mounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["target"].to_string())
                .collect()
        };
        assert_eq!(targets(&parsed["spec"]), targets(&value), "{extension}");
        // The default network is left out of the printed spec.
        let network = parsed["spec"].get("network").cloned();
        let network = network.unwrap_or_else(|| serde_json::json!("default"));
        assert_eq!(network, value["network"], "{extension}");
    }

    // Every field the schema names is in the doc, as code.
    let code: Vec<&str> = doc.split('`').skip(1).step_by(2).collect();
    let mut names = Vec::new();
    property_names(&schema, &mut names);
    assert!(names.len() > 20, "{names:?}");
    for name in names {
        let documented = code.iter().any(|span| {
            span.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|word| word == name)
        });
        assert!(
            documented,
            "`{name}` is not documented in docs/spec-file.md"
        );
    }

    // The controls: the TOML example broken two ways fails both checks,
    // the parser naming what is wrong.
    let toml_example = &examples[0].1;
    for (broken, named) in [
        (toml_example.replacen("image = ", "imgae = ", 1), "imgae"),
        (
            toml_example.replace("cpus = 1.5", "cpus = 0"),
            "CPU limit `0`",
        ),
    ] {
        assert_ne!(&broken, toml_example);
        let value = spec_value("toml", &broken);
        assert!(!validator.is_valid(&value), "the schema takes {named}");
        let file = dir.path().join("broken.toml");
        std::fs::write(&file, &broken).unwrap();
        let assert = run_spec(&file).assert().code(125);
        let stderr = text(&assert.get_output().stderr);
        assert!(stderr.contains(named), "{stderr}");
    }
}

/// Bad spec files and flags, read by the library's `spec::file` reader:
/// `run` exits 125 (its own errors, as `docker run`; `doctor --spec` exits
/// 2, cli_doctor.rs), and the message names the file and the field or value
/// at fault.
#[test]
fn bad_spec_files_and_flags_exit_125_naming_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "typo.toml",
            "image = \"a:1\"\nimgae = \"b\"\n",
            &["typo.toml", "imgae"],
        ),
        (
            "no-image.json",
            r#"{"name": "agent"}"#,
            &["no-image.json", "image"],
        ),
        (
            "relative.json",
            r#"{"image":"a:1","mounts":[{"type":"tmpfs","target":"tmp"}]}"#,
            &["relative.json", "`tmp`"],
        ),
        (
            "garbage",
            "\u{1}\u{2} not a spec",
            &["garbage", "neither a JSON spec"],
        ),
    ];
    for (name, content, says) in cases {
        let file = dir.path().join(name);
        std::fs::write(&file, content).unwrap();
        let assert = run_spec(&file).assert().code(125);
        let stderr = text(&assert.get_output().stderr);
        for needle in *says {
            assert!(stderr.contains(needle), "{name}: {stderr}");
        }
    }
    let missing = dir.path().join("missing.toml");
    let assert = run_spec(&missing).assert().code(125);
    let stderr = text(&assert.get_output().stderr);
    assert!(stderr.contains("missing.toml"), "{stderr}");
    // A bad flag value is named the same way.
    let assert = cli()
        .args([
            "run",
            "--dry-run",
            "--no-sandbox",
            "--image",
            "a:1",
            "-v",
            "/a:/b:rx",
        ])
        .assert()
        .code(125);
    let stderr = text(&assert.get_output().stderr);
    assert!(stderr.contains("/a:/b:rx"), "{stderr}");
}

/// Starts `run` (with `extra` flags) of an agent that prints `started`
/// then sleeps 2 s, labelled `nanoclaw.test.case=<case>`, and SIGKILLs the
/// CLI once the agent runs. Returns the case.
fn sigkilled_run(image: &str, extra: &[&str]) -> String {
    let workspace = tempfile::tempdir().unwrap();
    let case = InstanceId::generate().to_string();
    let mut child = Command::new(BIN)
        .arg("run")
        .arg("--workspace")
        .arg(workspace.path())
        .args(["--no-sandbox", "--network", "none"])
        .args(extra)
        .args(["-l", "nanoclaw.test=true", "-l"])
        .arg(format!("{CASE}={case}"))
        .args(["--image", image])
        .args(["--", "--stdout", "started", "--sleep", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (line, _rest) = first_line(child.stdout.take().unwrap());
    assert_eq!(line, "started\n");
    let running = container_ids(CASE, &case);
    assert_eq!(running.len(), 1, "one container runs: {running:?}");
    send_signal(child.id(), "KILL");
    let status = wait_with_patience(&mut child);
    assert_eq!(status.code(), None, "killed by the signal");
    case
}

/// The label naming a test case's containers.
const CASE: &str = "nanoclaw.test.case";

/// Polls (bounded by the patience) until `done` holds for the case's
/// containers, and returns them.
fn poll_case(case: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + cli_support::PATIENCE;
    loop {
        let listed = container_ids(CASE, case);
        if done(&listed) || Instant::now() > deadline {
            return listed;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn run_killed_with_sigkill_leaves_no_container_once_the_command_ends() {
    let Some(image) = agent_image() else { return };
    let case = sigkilled_run(image, &[]);
    let left = poll_case(&case, <[String]>::is_empty);
    assert_eq!(left, Vec::<String>::new(), "the engine removed it");

    // Negative control: the same path without auto-remove keeps it, once
    // its command has ended too.
    let case = sigkilled_run(image, &["--no-auto-remove"]);
    let exited = |listed: &[String]| {
        !listed.is_empty()
            && docker(["inspect", "-f", "{{.State.Status}}", &listed[0]])
                .is_ok_and(|status| status == "exited")
    };
    let kept = poll_case(&case, exited);
    let ended = exited(&kept);
    for id in &kept {
        docker(["rm", "-f", id]).unwrap();
    }
    assert!(ended, "the kept container ended: {kept:?}");
    assert_eq!(kept.len(), 1, "without auto-remove the container stays");
    println!(
        "figure: run killed with SIGKILL: containers left 0 (negative control, --no-auto-remove: {} kept)",
        kept.len()
    );
}
