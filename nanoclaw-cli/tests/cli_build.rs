//! `nanoclaw-sandbox build` through the built binary, on the real daemon.
//! Base image: the test agent image (registry-free); every tag made here is
//! removed again.

mod cli_support;

use std::path::Path;
use std::process::Command;

use cli_support::{agent_image, cli, text, ProxyProcess};
use nanoclaw_sandbox_core::runtime::InstanceId;

/// A tag of this test's own, removed when dropped.
struct Tag(String);

impl Tag {
    fn new() -> Self {
        Tag(format!(
            "nanoclaw-cli-build-test:{}",
            InstanceId::generate()
        ))
    }
}

impl Drop for Tag {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rmi", "--force", &self.0])
            .output();
    }
}

fn context(dockerfile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello\n").unwrap();
    std::fs::write(dir.path().join("big.log"), "left out\n").unwrap();
    std::fs::write(dir.path().join(".dockerignore"), "*.log\n").unwrap();
    dir
}

fn label_of(image: &str, label: &str) -> String {
    let output = Command::new("docker")
        .args(["image", "inspect", "--format"])
        .arg(format!("{{{{index .Config.Labels \"{label}\"}}}}"))
        .arg(image)
        .output()
        .unwrap();
    text(&output.stdout).trim().to_string()
}

fn build(context: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = cli();
    cmd.arg("build").args(args).arg(context);
    cmd
}

/// The id of `image` as the engine has it (empty when there is no such image).
fn id_of(image: &str) -> String {
    let output = Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", image])
        .output()
        .unwrap();
    text(&output.stdout).trim().to_string()
}

/// Whether `text` is an image id as the engine prints it.
fn is_image_id(text: &str) -> bool {
    text.strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[test]
fn builds_and_tags_with_the_log_on_stderr_and_the_result_on_stdout() {
    let Some(base) = agent_image() else { return };
    let tag = Tag::new();
    let dir = context(&format!(
        "FROM {base}\nCOPY hello.txt /hello.txt\nCOPY . /context/\nLABEL nanoclaw.test=true\n"
    ));
    let assert = build(dir.path(), &["--no-sandbox", "-t", &tag.0])
        .assert()
        .code(0);
    let stdout = text(&assert.get_output().stdout);
    let stderr = text(&assert.get_output().stderr);
    assert!(stderr.contains("building "), "{stderr}");
    assert!(stderr.contains("Step 1/4 : FROM"), "{stderr}");
    assert!(
        !stdout.contains("Step "),
        "the log stays off stdout: {stdout}"
    );
    let id = id_of(&tag.0);
    assert!(is_image_id(&id), "{id:?}");
    assert_eq!(stdout, format!("built {id} as {}\n", tag.0));
    assert_eq!(label_of(&tag.0, "nanoclaw.test"), "true");
}

#[test]
fn quiet_prints_only_the_id_and_iidfile_holds_the_image_s_id() {
    let Some(base) = agent_image() else { return };
    let tag = Tag::new();
    let dir = context(&format!("FROM {base}\nLABEL nanoclaw.test=quiet\n"));
    let out = tempfile::tempdir().unwrap();
    let iidfile = out.path().join("image.id");
    std::fs::write(&iidfile, "stale id of an earlier build").unwrap();
    let iid_arg = iidfile.to_str().unwrap();
    let assert = build(
        dir.path(),
        &["--no-sandbox", "-q", "--iidfile", iid_arg, "-t", &tag.0],
    )
    .assert()
    .code(0);
    let stdout = text(&assert.get_output().stdout);
    let stderr = text(&assert.get_output().stderr);
    let id = id_of(&tag.0);
    assert!(is_image_id(&id), "{id:?}");
    assert_eq!(stdout, format!("{id}\n"), "only the id");
    assert!(
        !stderr.contains("Step "),
        "-q suppresses the build output: {stderr}"
    );
    assert_eq!(std::fs::read_to_string(&iidfile).unwrap(), id);

    // The control: without -q the same build shows its steps.
    let assert = build(dir.path(), &["--no-sandbox", "-t", &tag.0])
        .assert()
        .code(0);
    assert!(text(&assert.get_output().stderr).contains("Step 1/2 : FROM"));
}

#[test]
fn json_prints_one_object_naming_the_image_mode_and_patches() {
    let Some(base) = agent_image() else { return };
    let proxy = ProxyProcess::start(&[]);
    let env = proxy.env();
    let with_credentials = proxy.dir().join("credentials.env");
    std::fs::write(
        &with_credentials,
        format!(
            "HTTPS_PROXY=http://builder:hunter2@127.0.0.1:{}\nPROXY_CA_CERT_B64={}\n",
            proxy.addr.port(),
            env["PROXY_CA_CERT_B64"]
        ),
    )
    .unwrap();
    let tag = Tag::new();
    let workspace = tempfile::tempdir().unwrap();
    let dir = context(&format!(
        "FROM {base}\nARG HTTPS_PROXY\nLABEL nanoclaw.test=json\n"
    ));
    let env_file = with_credentials.to_str().unwrap();
    let workspace_arg = format!("--workspace={}", workspace.path().display());
    let assert = build(
        dir.path(),
        &[
            "--json",
            "-t",
            &tag.0,
            "--env-file",
            env_file,
            &workspace_arg,
        ],
    )
    .assert()
    .code(0);
    let stdout = text(&assert.get_output().stdout);
    let stderr = text(&assert.get_output().stderr);
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    assert!(stderr.contains("Step 1/"), "the log on stderr: {stderr}");
    for out in [&stdout, &stderr] {
        assert!(!out.contains("hunter2"), "{out}");
        assert!(!out.contains("BEGIN CERTIFICATE"), "{out}");
    }
    let result: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(result["id"], id_of(&tag.0).as_str());
    assert_eq!(result["tags"], serde_json::json!([tag.0]));
    assert_eq!(result["mode"], "proxied-intercepting");
    assert_eq!(result["context"], dir.path().to_str().unwrap());
    assert_eq!(result["files"], 3, "big.log is left out");
    let report = result["report"].as_array().unwrap();
    assert!(
        report
            .iter()
            .any(|e| e["kind"] == "build_arg" && e["subject"] == "HTTPS_PROXY"),
        "{report:?}"
    );

    // The control: plain Docker is another mode, with nothing patched.
    let assert = build(dir.path(), &["--json", "-q", "--no-sandbox", "-t", &tag.0])
        .assert()
        .code(0);
    let plain: serde_json::Value =
        serde_json::from_str(&text(&assert.get_output().stdout)).unwrap();
    assert_eq!(plain["mode"], "standard-docker");
    assert_eq!(plain["report"], serde_json::json!([]));
    assert_eq!(plain["id"], id_of(&tag.0).as_str());
}

#[test]
fn an_iidfile_that_cannot_be_written_is_an_input_error_naming_it() {
    let Some(base) = agent_image() else { return };
    let tag = Tag::new();
    let dir = context(&format!("FROM {base}\nLABEL nanoclaw.test=iidfile\n"));

    // Refused before anything is built: a missing directory, a directory.
    let missing = dir.path().join("no-such-dir").join("image.id");
    let is_dir = dir.path().to_path_buf();
    for (path, says) in [(&missing, "does not exist"), (&is_dir, "is a directory")] {
        let iid_arg = format!("--iidfile={}", path.display());
        let assert = build(dir.path(), &["--no-sandbox", "-t", &tag.0, &iid_arg])
            .assert()
            .code(2);
        let stderr = text(&assert.get_output().stderr);
        assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(!stderr.contains("Step "), "nothing was built: {stderr}");
        assert_eq!(id_of(&tag.0), "", "nothing was built");
    }

    // Found only when writing, after the build: the image exists, the
    // error names the path and gives the id.
    let full = Path::new("/dev/full");
    assert!(full.exists(), "Linux has /dev/full");
    let assert = build(
        dir.path(),
        &["--no-sandbox", "-t", &tag.0, "--iidfile=/dev/full"],
    )
    .assert()
    .code(2);
    let stderr = text(&assert.get_output().stderr);
    let id = id_of(&tag.0);
    assert!(is_image_id(&id), "the image was built: {stderr}");
    assert!(stderr.contains("/dev/full"), "{stderr}");
    assert!(
        stderr.contains(&format!("the image {id} was built")),
        "{stderr}"
    );
    assert!(full.exists(), "/dev/full is written through, never removed");
}

#[test]
fn the_sandbox_layer_forwards_the_proxy_build_args() {
    let Some(base) = agent_image() else { return };
    let proxy = ProxyProcess::start(&[]);
    let tag = Tag::new();
    let dir = context(&format!(
        "FROM {base}\nARG HTTPS_PROXY\nLABEL nanoclaw.test=true proxy=$HTTPS_PROXY\n"
    ));
    let env_file = proxy.env_file.to_str().unwrap();
    build(dir.path(), &["-t", &tag.0, "--env-file", env_file])
        .assert()
        .code(0);
    let port = proxy.addr.port();
    assert_eq!(
        label_of(&tag.0, "proxy"),
        format!("http://host.docker.internal:{port}")
    );
}

#[test]
fn dry_run_shows_the_wrapped_steps_and_redacted_build_args() {
    let Some(base) = agent_image() else { return };
    let proxy = ProxyProcess::start(&[]);
    let env = proxy.env();
    let with_credentials = proxy.dir().join("credentials.env");
    std::fs::write(
        &with_credentials,
        format!(
            "HTTPS_PROXY=http://builder:hunter2@127.0.0.1:{}\nPROXY_CA_CERT_B64={}\n",
            proxy.addr.port(),
            env["PROXY_CA_CERT_B64"]
        ),
    )
    .unwrap();
    let dir = context(&format!("FROM {base}\nRUN /setup\n"));
    let env_file = with_credentials.to_str().unwrap();
    let assert = build(dir.path(), &["--dry-run", "--env-file", env_file])
        .assert()
        .code(0);
    let stdout = text(&assert.get_output().stdout);
    assert!(!stdout.contains("hunter2"), "{stdout}");
    assert!(
        stdout.contains("--- .nanoclaw-sandbox.Dockerfile (as the build sees it) ---"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"nanoclaw-sandbox-run\",\"/bin/sh\",\"-c\",\"/setup\"]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("FTP_PROXY=<the RUN-step wrapper with the proxy CA, "),
        "{stdout}"
    );
    assert!(!stdout.contains("BEGIN CERTIFICATE"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "HTTPS_PROXY=http://***@host.docker.internal:{}",
            proxy.addr.port()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("host.docker.internal:host-gateway"),
        "{stdout}"
    );
    assert!(
        stdout.contains("docker history"),
        "the credentials warning: {stdout}"
    );

    let assert = build(dir.path(), &["--dry-run", "--no-sandbox"])
        .assert()
        .code(0);
    let stdout = text(&assert.get_output().stdout);
    assert!(
        stdout.contains(&format!("FROM {base}\nRUN /setup\n--- build args ---")),
        "{stdout}"
    );
}

#[test]
fn failures_exit_1_and_input_errors_2() {
    if agent_image().is_none() {
        return;
    }
    let dir = context("FROM nanoclaw-missing-base:never\n");
    let assert = build(dir.path(), &["--no-sandbox"]).assert().code(1);
    let stderr = text(&assert.get_output().stderr);
    assert!(stderr.contains("nanoclaw-missing-base:never"), "{stderr}");
    assert!(stderr.contains("never pulls"), "{stderr}");

    // .dockerignore leaves big.log out of the context.
    let dir = context("FROM scratch\nCOPY hello.txt big.log /\n");
    let assert = build(dir.path(), &["--no-sandbox"]).assert().code(1);
    let stderr = text(&assert.get_output().stderr);
    assert!(stderr.contains("big.log"), "{stderr}");

    // A stale iidfile is removed before the build, so a failed build leaves none.
    let iidfile = dir.path().join("image.id");
    std::fs::write(&iidfile, "sha256:stale").unwrap();
    build(
        dir.path(),
        &["--no-sandbox", "--iidfile", iidfile.to_str().unwrap()],
    )
    .assert()
    .code(1);
    assert!(!iidfile.exists(), "the stale id is gone");

    // --dry-run builds nothing, so it has no result to print or write.
    for flag in ["-q", "--json", "--iidfile=x"] {
        let assert = build(dir.path(), &["--dry-run", flag]).assert().code(2);
        assert!(
            text(&assert.get_output().stderr).contains("cannot be used with"),
            "{flag}"
        );
    }

    let missing = dir.path().join("nope");
    build(&missing, &[]).assert().code(2);
    let empty = tempfile::tempdir().unwrap();
    let assert = build(empty.path(), &[]).assert().code(2);
    assert!(text(&assert.get_output().stderr).contains("no Dockerfile"));
}
