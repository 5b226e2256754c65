//! `nanoclaw-sandbox docker …` and the binary installed as `docker`, with the
//! real daemon and the real docker CLI behind it.
//!
//! - Pass-through: `version`, `ps`, `inspect`, `images`, an unknown command
//!   and a malformed flag give the real docker's stdout, stderr and exit
//!   code, through `nanoclaw-sandbox docker` and through a `docker` link
//!   first on PATH (argv[0] dispatch, the real docker found next on PATH).
//! - Standard Docker: a `create` and a `run -d` through the shim equal
//!   direct ones in `docker inspect`'s Config/HostConfig fields and mounts.
//! - Sandbox (mitmproxy as the intercepting proxy): NanoClaw v1's line with
//!   a `/dev/null` mount and JSON on stdin reaches an HTTPS upstream through
//!   the proxy with verification on; `docker inspect` shows the proxy env,
//!   the CA mount (read-only), the empty file instead of /dev/null, as the
//!   library's patcher makes them. Controls: the same line through the real
//!   docker has no proxy and fails; with the proxy variables but no CA it
//!   fails on the certificate.
//! - Sandbox `build`: a context directory's `RUN` step fetches HTTPS through
//!   mitmproxy; the image holds no CA, no proxy value, no file of ours.
//!   Controls: standard Docker and the real docker without the CA fail the
//!   fetch; the layer search finds a CA an image copies. What the shim cannot
//!   prepare (stdin, URL, BuildKit) passes through with a warning.
//! - `doctor`'s `docker-shim` check: a link first on PATH reported, with what
//!   it patches; a plain PATH reported as not the shim.
//! - The kept directory stays while a labelled container exists or a
//!   patched command is in flight, and goes after: on its own after a
//!   `docker rm` through the shim, or by `shim cleanup`.

mod cli_support;
#[path = "../../nanoclaw-sandbox-core/tests/support/e2e/image.rs"]
mod image;

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use cli_support::BIN;
use nanoclaw_sandbox_core::proxy::{ProxySettings, ProxyUrl};
use nanoclaw_sandbox_core::sandbox::{
    CaSource, InstancePaths, Mode, ProxyCa, SandboxPatcher, WORKSPACE_INSTANCES_DIR,
};
use nanoclaw_sandbox_core::spec::{ContainerSpec, Mount};
use nanoclaw_sandbox_core::trust::{TrustStore, CONTAINER_CA_DIR};
use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::docker::{self, ContainerGuard, TEST_LABEL};
use nanoclaw_testkit::https::{Answer, Server};
use nanoclaw_testkit::mitm::{MitmOptions, Mitmproxy, Route};
use nanoclaw_testkit::prereq::missing;

const UPSTREAM: &str = "upstream.test";
/// The variables that would make the shim see a sandbox.
const SANDBOX_VARS: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "PROXY_CA_CERT_B64",
    "NANOCLAW_PROXY_CA",
    "NANOCLAW_REAL_DOCKER",
];

fn label() -> String {
    format!("{}={}", TEST_LABEL.0, TEST_LABEL.1)
}

/// A command with none of the sandbox variables.
fn clean(mut command: Command) -> Command {
    for var in SANDBOX_VARS {
        command.env_remove(var);
    }
    command
}

fn shim(args: &[&str]) -> Command {
    let mut command = clean(Command::new(BIN));
    command.arg("docker").args(args);
    command
}

fn real(args: &[&str]) -> Command {
    let mut command = clean(Command::new("docker"));
    command.args(args);
    command
}

fn output(mut command: Command, stdin: Option<&str>) -> Output {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawning");
    let mut pipe = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        pipe.write_all(text.as_bytes()).unwrap();
    }
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The Debian test image, or `None` after saying why.
fn debian() -> Option<String> {
    if let Err(why) = docker::available() {
        missing("Docker daemon", &why);
        return None;
    }
    image::debian_image()
}

/// A directory holding only a `docker` link to this binary.
fn link_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(BIN, dir.path().join("docker")).unwrap();
    dir
}

#[test]
fn pass_through_commands_give_the_real_docker_s_output_and_exit_code() {
    let Some(image) = debian() else { return };
    let name = docker::unique_name("shim-pass");
    let _guard = ContainerGuard::new(&name);
    let key = format!("shim.test.{}", std::process::id());
    docker::docker([
        "create",
        "--name",
        &name,
        "--label",
        &label(),
        "--label",
        &format!("{key}=1"),
        &image,
        "true",
    ])
    .unwrap();
    let filter = format!("label={key}=1");
    let lines: Vec<Vec<&str>> = vec![
        vec![
            "version",
            "--format",
            "{{.Client.Version}} {{.Server.Version}}",
        ],
        vec![
            "ps",
            "-a",
            "--filter",
            &filter,
            "--format",
            "{{.Names}} {{.Image}} {{.Status}}",
        ],
        vec![
            "inspect",
            "--format",
            "{{.Name}} {{.Config.Image}} {{json .Config.Labels}}",
            &name,
        ],
        vec![
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}}",
            "nanoclaw-test-debian",
        ],
        vec!["info", "--format", "{{.OSType}} {{.Driver}}"],
        vec!["inspect", "no-such-container-for-the-shim"],
        vec!["nosuchcommand"],
        vec!["run", "-i", "--name"],
        vec!["run", "--bogus-flag", &image],
        vec!["--version"],
        vec!["ps", "-h"],
    ];
    let links = link_dir();
    let path = format!(
        "{}:{}",
        links.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for args in &lines {
        let want = output(real(args), None);
        let through_sub = output(shim(args), None);
        let mut linked = clean(Command::new("docker"));
        linked.args(args).env("PATH", &path);
        let through_link = output(linked, None);
        for (how, got) in [
            ("nanoclaw-sandbox docker", &through_sub),
            ("docker link", &through_link),
        ] {
            assert_eq!(
                got.status.code(),
                want.status.code(),
                "{how} {args:?}: {}",
                text(&got.stderr)
            );
            assert_eq!(text(&got.stdout), text(&want.stdout), "{how} {args:?}");
            assert_eq!(text(&got.stderr), text(&want.stderr), "{how} {args:?}");
        }
        println!(
            "{args:?}: exit {:?}, {} bytes of stdout",
            want.status.code(),
            want.stdout.len()
        );
    }
    // Control: the link really is this binary (it says so when asked for a
    // real docker that is itself).
    let mut itself = clean(Command::new(links.path().join("docker")));
    itself
        .arg("version")
        .env("NANOCLAW_REAL_DOCKER", links.path().join("docker"));
    let out = output(itself, None);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("is this shim itself"),
        "{}",
        text(&out.stderr)
    );
}

/// Config/HostConfig fields compared between the shim's container and a direct one.
const FIELDS: &str = "{{json .Config.Env}} {{json .Config.Entrypoint}} {{json .Config.Cmd}} \
{{json .Config.Labels}} {{.Config.OpenStdin}} {{.Config.Tty}} {{.Config.User}} {{.Config.WorkingDir}} \
{{.HostConfig.AutoRemove}} \
{{.HostConfig.NetworkMode}} {{json .HostConfig.ExtraHosts}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.Init}}";
/// `HostConfig.Binds` and `Mounts`, one per line: compared as a set,
/// because the docker CLI itself passes `-v` binds in no fixed order (they
/// go through a map), and the engine keeps that order.
const BINDS: &str =
    "{{range .HostConfig.Binds}}{{println .}}{{end}}{{range .Mounts}}{{json .}}{{println}}{{end}}";

/// NanoClaw v1's `docker run` options (before IMAGE) for container `name`.
fn v1_options(name: &str, group: &Path) -> Vec<String> {
    let mut options: Vec<String> = ["-i", "--rm", "--name", name, "--label", &label()]
        .map(String::from)
        .to_vec();
    options.extend([
        "-v".into(),
        format!("{}:/workspace/group", group.display()),
        "-v".into(),
        "/dev/null:/workspace/project/.env:ro".into(),
        "-e".into(),
        "TZ=Europe/Berlin".into(),
    ]);
    options
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn in_standard_docker_a_create_through_the_shim_equals_a_direct_one() {
    standard_docker_equality(&["create"]);
}

/// The same for a detached run (`run -d`): both containers started, and
/// equal in `docker inspect`'s Config/HostConfig fields and mounts.
#[test]
fn in_standard_docker_a_detached_run_through_the_shim_equals_a_direct_one() {
    standard_docker_equality(&["run", "-d"]);
}

/// NanoClaw v1's options and more, after `command` (`create`, `run -d`),
/// through the shim and straight to the real docker, in standard Docker:
/// `docker inspect` shows the same container (and the `/dev/null` mount
/// unpatched). A detached run's containers must both be running.
fn standard_docker_equality(command: &[&str]) {
    let Some(image) = debian() else { return };
    let group = tempfile::tempdir().unwrap();
    let detached = command.contains(&"-d");
    let mut inspected = Vec::new();
    for via_shim in [true, false] {
        let name = docker::unique_name("shim-std");
        let guard = ContainerGuard::new(&name);
        let mut args: Vec<String> = command.iter().map(|s| s.to_string()).collect();
        args.extend(v1_options(&name, group.path()));
        args.extend(
            [
                "-t",
                "-u",
                "1000",
                "-w",
                "/tmp",
                "--memory=256m",
                "--cpus",
                "1",
                "--init",
                "--add-host",
                "h.test:10.0.0.1",
            ]
            .map(String::from),
        );
        args.extend([image.clone(), "bash".into(), "-c".into(), "cat".into()]);
        let command = if via_shim {
            shim(&strs(&args))
        } else {
            real(&strs(&args))
        };
        let out = output(command, None);
        assert!(out.status.success(), "{}", text(&out.stderr));
        if detached {
            let running =
                docker::docker(["inspect", "--format", "{{.State.Running}}", &name]).unwrap();
            assert_eq!(running.trim(), "true", "via shim: {via_shim}");
        }
        let fields = docker::docker(["inspect", "--format", FIELDS, &name]).unwrap();
        let binds = docker::docker(["inspect", "--format", BINDS, &name]).unwrap();
        let mut binds: Vec<&str> = binds.lines().filter(|l| !l.is_empty()).collect();
        binds.sort_unstable();
        inspected.push(format!("{fields} binds and mounts: {}", binds.join(" ")));
        drop(guard);
    }
    println!("{command:?} inspect: {}", inspected[0]);
    assert_eq!(inspected[0], inspected[1]);
    assert!(
        inspected[0].contains("/dev/null:/workspace/project/.env:ro"),
        "unpatched: {}",
        inspected[0]
    );
}

/// mitmproxy in front of an HTTPS upstream whose certificate a local
/// "public" CA signed, and the sandbox variables pointing at it.
struct Stack {
    _upstream: Server,
    mitm: Mitmproxy,
    _dir: tempfile::TempDir,
    workspace: tempfile::TempDir,
}

impl Stack {
    fn start() -> Option<Stack> {
        let dir = tempfile::tempdir().unwrap();
        let public = TestCa::new("shim public CA");
        let public_pem = public.write_pem(dir.path(), "public-ca.pem");
        let upstream = Server::https(
            public.server_config(&[UPSTREAM], &[b"http/1.1"]),
            Answer::Echo,
        )
        .name("shim-upstream")
        .start_detached()
        .unwrap();
        // Containers reach it through the bridge gateway: every address (it
        // relays nothing but the one route).
        let mitm = Mitmproxy::start_or_skip(&MitmOptions {
            listen_host: Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            routes: vec![Route::new(UPSTREAM, upstream.addr())],
            upstream_ca_pem: Some(public_pem),
            ..MitmOptions::default()
        })?;
        Some(Stack {
            _upstream: upstream,
            mitm,
            _dir: dir,
            workspace: tempfile::tempdir().unwrap(),
        })
    }

    fn proxy(&self) -> String {
        format!("http://127.0.0.1:{}", self.mitm.addr().port())
    }

    /// `nanoclaw-sandbox docker ARGS` in this sandbox.
    fn shim(&self, args: &[&str]) -> Command {
        let mut command = shim(args);
        let ca = base64::engine::general_purpose::STANDARD.encode(self.mitm.ca_pem());
        command
            .env("HTTPS_PROXY", self.proxy())
            .env("HTTP_PROXY", self.proxy())
            .env("PROXY_CA_CERT_B64", ca)
            .env("NANOCLAW_WORKSPACE", self.workspace.path())
            .env("NANOCLAW_SHIM_EXPLAIN", "1");
        command
    }

    fn instance(&self) -> InstancePaths {
        InstancePaths::in_dir(
            &self
                .workspace
                .path()
                .join(WORKSPACE_INSTANCES_DIR)
                .join("docker-shim"),
        )
    }
}

/// What the agent does: echo its stdin, show what hides `.env`, fetch the upstream.
const SCRIPT: &str = "read -r line; echo \"stdin: $line\"; \
echo \"env-file: $(stat -c %F /workspace/project/.env)\"; \
curl -sS --max-time 20 https://upstream.test/hello -o /dev/null -w 'status: %{http_code}\\n'; echo \"curl: $?\"";

#[test]
fn nanoclaw_v1_through_the_shim_reaches_https_through_mitmproxy_with_verification_on() {
    let Some(image) = debian() else { return };
    let Some(stack) = Stack::start() else { return };
    // Under the workspace: the drop-in enforces the mount allowlist.
    let group = tempfile::tempdir_in(stack.workspace.path()).unwrap();
    let json = r#"{"prompt":"hi","groupFolder":"main"}"#;
    let line = |name: &str| {
        let mut args = vec!["run".to_string()];
        args.extend(v1_options(name, group.path()));
        args.extend([image.clone(), "bash".into(), "-c".into(), SCRIPT.into()]);
        args
    };

    // Through the shim: patched.
    let name = docker::unique_name("shim-v1");
    let _guard = ContainerGuard::new(&name);
    let out = output(stack.shim(&strs(&line(&name))), Some(json));
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    println!("shim run: exit {:?}\n{stdout}{stderr}", out.status.code());
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains(&format!("stdin: {json}")), "{stdout}");
    assert!(stdout.contains("env-file: regular empty file"), "{stdout}");
    assert!(
        stdout.contains("status: 200") && stdout.contains("curl: 0"),
        "{stdout}"
    );
    assert!(
        stack.mitm.seen().iter().any(|s| s.contains(UPSTREAM)),
        "mitmproxy saw no request: {}",
        stack.mitm.log()
    );
    // The explained command names no CA content and keeps the caller's order.
    assert!(
        stderr.contains("--pull never") && stderr.contains("-i --rm --name"),
        "{stderr}"
    );

    // Control 1: the same line through the real docker: no proxy, no way out.
    let name = docker::unique_name("shim-v1-direct");
    let _guard = ContainerGuard::new(&name);
    let out = output(real(&strs(&line(&name))), Some(json));
    let direct = text(&out.stdout);
    println!("direct run: {direct}");
    assert!(
        direct.contains("env-file: character special file"),
        "{direct}"
    );
    assert!(!direct.contains("curl: 0"), "{direct}");

    // Control 2: the proxy variables by hand, but not the CA: the certificate fails.
    let name = docker::unique_name("shim-v1-noca");
    let _guard = ContainerGuard::new(&name);
    let port = stack.mitm.addr().port();
    let mut args = line(&name);
    let at = args.len() - 4;
    let proxy = format!("HTTPS_PROXY=http://host.docker.internal:{port}");
    for (i, extra) in [
        "-e",
        &proxy,
        "--add-host",
        "host.docker.internal:host-gateway",
    ]
    .iter()
    .enumerate()
    {
        args.insert(at + i, extra.to_string());
    }
    let out = output(real(&strs(&args)), Some(json));
    let no_ca = text(&out.stdout) + &text(&out.stderr);
    println!("proxy without CA: {no_ca}");
    assert!(
        no_ca.contains("curl: 60"),
        "expected a certificate failure: {no_ca}"
    );
}

#[test]
fn a_created_container_is_patched_as_the_library_s_patcher_patches_the_same_spec() {
    let Some(image) = debian() else { return };
    let Some(stack) = Stack::start() else { return };
    // Under the workspace: the drop-in enforces the mount allowlist.
    let group = tempfile::tempdir_in(stack.workspace.path()).unwrap();
    let name = docker::unique_name("shim-create");
    let _guard = ContainerGuard::new(&name);
    let mut args = vec!["create".to_string()];
    args.extend(v1_options(&name, group.path()));
    args.push(image.clone());
    let out = output(stack.shim(&strs(&args)), None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // A second container of the same install takes the kept directory over.
    let second = docker::unique_name("shim-create-2");
    let _second_guard = ContainerGuard::new(&second);
    let mut again = vec!["create".to_string()];
    again.extend(v1_options(&second, group.path()));
    again.push(image.clone());
    let out = output(stack.shim(&strs(&again)), None);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The library's patcher on the equivalent spec, with the shim's paths.
    let proxy = ProxyUrl::parse(&stack.proxy()).unwrap();
    let store = TrustStore::from_pem(stack.mitm.ca_pem().as_bytes(), "t").unwrap();
    let mode = Mode::Proxied {
        proxy: ProxySettings {
            http: Some(proxy.clone()),
            https: Some(proxy),
            all: None,
            no_proxy: None,
        },
        ca: Some(ProxyCa::new(store, CaSource::EnvBase64)),
    };
    let spec = ContainerSpec::builder(image.as_str())
        .env("TZ", "Europe/Berlin")
        .mount(Mount::bind(group.path(), "/workspace/group", false))
        .mount(Mount::bind("/dev/null", "/workspace/project/.env", true))
        .build()
        .unwrap();
    let paths = stack.instance();
    let (patched, _) = SandboxPatcher::new(&mode, Some(paths.clone()))
        .unwrap()
        .patch(&spec)
        .unwrap();

    let env = docker::docker([
        "inspect",
        "--format",
        "{{range .Config.Env}}{{println .}}{{end}}",
        &name,
    ])
    .unwrap();
    let env: Vec<&str> = env.lines().collect();
    for var in patched.env() {
        assert!(
            env.contains(&var.to_docker_string().as_str()),
            "{} missing from {env:?}",
            var.name()
        );
    }
    let mounts = docker::docker([
        "inspect",
        "--format",
        "{{range .Mounts}}{{.Source}} {{.Destination}} {{.RW}}{{println}}{{end}}",
        &name,
    ])
    .unwrap();
    println!("mounts:\n{mounts}");
    let mounts: Vec<&str> = mounts.lines().collect();
    for mount in patched.mounts() {
        if let Mount::Bind {
            source,
            target,
            read_only,
        } = mount
        {
            let want = format!("{} {target} {}", source.display(), !read_only);
            assert!(
                mounts.contains(&want.as_str()),
                "{want} missing from {mounts:?}"
            );
        }
    }
    let ca_mount = format!("{} {CONTAINER_CA_DIR} false", paths.ca_dir.display());
    assert!(mounts.contains(&ca_mount.as_str()), "{mounts:?}");
    let empty = format!(
        "{} /workspace/project/.env false",
        paths.empty_file.display()
    );
    assert!(mounts.contains(&empty.as_str()), "{mounts:?}");
    // The files are there after the shim is gone (a created container outlives it).
    assert!(paths.empty_file.is_file() && paths.ca_dir.join("proxy-ca.pem").is_file());
    let pull =
        docker::docker(["inspect", "--format", "{{.HostConfig.ExtraHosts}}", &name]).unwrap();
    assert!(pull.contains("host.docker.internal:host-gateway"), "{pull}");
}

#[test]
fn shim_install_makes_a_working_docker_link_and_uninstall_removes_only_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    let link = bin.join("docker");
    let install = |d: &Path| {
        output(
            clean_cli(&["shim", "install", &d.display().to_string()]),
            None,
        )
    };
    let uninstall = |d: &Path| {
        output(
            clean_cli(&["shim", "uninstall", &d.display().to_string()]),
            None,
        )
    };
    let out = install(&bin);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::canonicalize(&link).unwrap(),
        std::fs::canonicalize(BIN).unwrap()
    );
    // Again: nothing to do, still fine.
    assert!(install(&bin).status.success());
    if docker::available().is_ok() {
        let want = output(real(&["version", "--format", "{{.Client.Version}}"]), None);
        let mut via_link = clean(Command::new(&link));
        via_link.args(["version", "--format", "{{.Client.Version}}"]);
        let got = output(via_link, None);
        assert_eq!(text(&got.stdout), text(&want.stdout));
        assert!(!want.stdout.is_empty());
    }
    assert!(uninstall(&bin).status.success());
    assert!(link.symlink_metadata().is_err(), "the link is gone");
    // Control: a docker that is not the shim is never replaced nor removed.
    std::fs::write(&link, "#!/bin/sh\necho not the shim\n").unwrap();
    let out = install(&bin);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("is not this shim"),
        "{}",
        text(&out.stderr)
    );
    let out = uninstall(&bin);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        std::fs::read_to_string(&link).unwrap(),
        "#!/bin/sh\necho not the shim\n"
    );
}

/// `nanoclaw-sandbox ARGS` with none of the sandbox variables.
fn clean_cli(args: &[&str]) -> Command {
    let mut command = clean(Command::new(BIN));
    command.args(args);
    command
}

#[test]
fn nanoclaw_v2_through_the_shim_keeps_its_entrypoint_and_command_and_gets_through() {
    let Some(image) = debian() else { return };
    let Some(stack) = Stack::start() else { return };
    // Under the workspace: the drop-in enforces the mount allowlist.
    let group = tempfile::tempdir_in(stack.workspace.path()).unwrap();
    let name = docker::unique_name("shim-v2");
    let _guard = ContainerGuard::new(&name);
    // v2: `docker run --rm --name … --label nanoclaw-install=<slug> -v … -e …
    // --entrypoint bash IMAGE -c '…'` (no stdin).
    let volume = format!("{}:/workspace/group", group.path().display());
    let script = "echo \"tz: $TZ\"; curl -sS --max-time 20 https://upstream.test/v2 -o /dev/null \
                  -w 'status: %{http_code}\\n'; echo \"curl: $?\"";
    let args = [
        "run",
        "--rm",
        "--name",
        &name,
        "--label",
        &label(),
        "--label",
        "nanoclaw-install=shim-test",
        "-v",
        &volume,
        "-e",
        "TZ=UTC",
        "--entrypoint",
        "bash",
        &image,
        "-c",
        script,
    ];
    let out = output(stack.shim(&args), None);
    let stdout = text(&out.stdout);
    println!(
        "v2 through the shim: exit {:?}\n{stdout}",
        out.status.code()
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.contains("tz: UTC"), "{stdout}");
    assert!(
        stdout.contains("status: 200") && stdout.contains("curl: 0"),
        "{stdout}"
    );
    // Control: the same line through the real docker does not get out.
    let name = docker::unique_name("shim-v2-direct");
    let _guard = ContainerGuard::new(&name);
    let mut direct = args;
    direct[3] = &name;
    let out = output(real(&direct), None);
    let stdout = text(&out.stdout);
    println!("v2 direct: {stdout}");
    assert!(
        stdout.contains("tz: UTC") && !stdout.contains("curl: 0"),
        "{stdout}"
    );
}

/// The mount allowlist holds for the drop-in as for `run` (docs/security.md,
/// Mount allowlist): in a sandbox, a bind mount from outside the workspace,
/// or of a credential-like name inside it, is refused before the real docker
/// runs, with exit 125 (docker's code for its own errors) naming the source.
/// Control: a mount of a plain folder under the workspace reaches the real
/// docker (here `echo`, which prints the rewritten line).
#[test]
fn in_a_sandbox_the_shim_enforces_the_mount_allowlist() {
    let workspace = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let ssh = workspace.path().join(".ssh");
    let group = workspace.path().join("group");
    std::fs::create_dir(&ssh).unwrap();
    std::fs::create_dir(&group).unwrap();
    let run = |source: &Path| {
        let volume = format!("{}:/workspace/x", source.display());
        let mut command = shim(&["run", "--rm", "-v", &volume, "img:1"]);
        command
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("NANOCLAW_WORKSPACE", workspace.path())
            .env("NANOCLAW_REAL_DOCKER", "/bin/echo")
            .env_remove("NANOCLAW_MOUNT_ALLOWLIST");
        output(command, None)
    };
    for refused in [outside.path(), ssh.as_path()] {
        let out = run(refused);
        let stderr = text(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(125),
            "{}: {stderr}",
            refused.display()
        );
        assert!(
            stderr.contains(&refused.display().to_string()),
            "the error names the source: {stderr}"
        );
        assert!(out.stdout.is_empty(), "the real docker never ran");
    }
    let out = run(&group);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let volume = format!("{}:/workspace/x", group.display());
    assert!(
        stdout.contains(&volume) && stdout.contains("img:1"),
        "{stdout}"
    );
}

/// A sandbox line with a non-UTF-8 argument goes to the real docker (`echo`)
/// byte for byte, with a warning naming the argument; the same line in
/// UTF-8 is patched (the control), and a non-UTF-8 `ps` passes silently.
#[test]
fn a_non_utf8_argument_passes_through_unpatched_with_a_warning() {
    use std::os::unix::ffi::OsStrExt as _;
    let workspace = tempfile::tempdir().unwrap();
    let run = |value: &std::ffi::OsStr, command: &str| {
        let mut env = std::ffi::OsString::from("X=");
        env.push(value);
        let mut shim = clean(Command::new(BIN));
        shim.arg("docker").arg(command);
        if command == "run" {
            shim.args(["--rm", "-e"]).arg(&env).arg("img:1");
        } else {
            shim.args(["--filter"]).arg(&env);
        }
        shim.env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("NANOCLAW_WORKSPACE", workspace.path())
            .env("NANOCLAW_REAL_DOCKER", "/bin/echo");
        output(shim, None)
    };
    let bad = std::ffi::OsStr::from_bytes(b"caf\xe9");
    let out = run(bad, "run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        out.stdout, b"run --rm -e X=caf\xe9 img:1\n",
        "byte for byte"
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("argument 4")
            && stderr.contains("not UTF-8")
            && stderr.contains("unpatched"),
        "{stderr}"
    );
    let control = run(std::ffi::OsStr::new("café"), "run");
    assert!(control.status.success(), "{}", text(&control.stderr));
    assert!(
        text(&control.stdout).contains("HTTPS_PROXY="),
        "patched: {}",
        text(&control.stdout)
    );
    assert!(control.stderr.is_empty(), "{}", text(&control.stderr));
    let quiet = run(bad, "ps");
    assert!(
        quiet.status.success() && quiet.stderr.is_empty(),
        "{}",
        text(&quiet.stderr)
    );
}

/// The patch report's warnings reach stderr for run lines too: a proxy URL
/// with a password (which the shim cannot relay) is named, never shown.
#[test]
fn a_credentialed_proxy_is_warned_about_without_its_password() {
    let workspace = tempfile::tempdir().unwrap();
    let password = "shim-canary-password-5e1f";
    let run = |proxy: &str| {
        let mut command = shim(&["run", "--rm", "img:1"]);
        command
            .env("HTTPS_PROXY", proxy)
            .env("NANOCLAW_WORKSPACE", workspace.path())
            .env("NANOCLAW_REAL_DOCKER", "/bin/echo");
        output(command, None)
    };
    let out = run(&format!("http://agent:{password}@127.0.0.1:9"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("credentials") && stderr.contains("relay"),
        "{stderr}"
    );
    assert!(!stderr.contains(password), "{stderr}");
    // Control: the password is on the line docker gets (it has to be).
    assert!(text(&out.stdout).contains(password));
    let plain = run("http://127.0.0.1:9");
    assert!(
        plain.status.success() && plain.stderr.is_empty(),
        "{}",
        text(&plain.stderr)
    );
}

/// `text` without the colour sequences the classic builder wraps a step's
/// stderr in, chunk by chunk (so `curl: (60)` may arrive split by them).
fn without_colours(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\u{1b}[") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        match after.find('m') {
            Some(end)
                if after[..end]
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b';') =>
            {
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("\u{1b}[");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// What the build's `RUN` step prints once it fetched the page.
const FETCHED: &str = "shim-build: fetched";

/// A build context whose Dockerfile copies the context and fetches
/// `https://upstream.test/built` in a `RUN` step with curl (verification
/// on, the system bundle): `.dockerignore` leaves `left-out.log` out.
fn build_context(image: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let dockerfile = format!(
        "FROM {image}\n\
         COPY . /ctx/\n\
         RUN curl -sS --fail --max-time 20 https://{UPSTREAM}/built -o /page.json && echo '{FETCHED}'\n"
    );
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(dir.path().join("app.txt"), "app\n").unwrap();
    std::fs::write(dir.path().join("left-out.log"), "left out\n").unwrap();
    std::fs::write(dir.path().join(".dockerignore"), "*.log\n").unwrap();
    dir
}

/// `docker build` through the shim in a sandbox (mitmproxy intercepting):
/// the context directory is packed (`.dockerignore` applied), the
/// Dockerfile's `RUN` steps wrapped, the proxy build args added, and the
/// real `docker build -` gets the tar on stdin. The `RUN` step reaches the
/// HTTPS upstream through the proxy with verification on; the image holds
/// the page and the context, but nothing of the proxy: no CA and no file of
/// ours in its own layers (`docker save`), no proxy address or CA in
/// `docker history --no-trunc` or `docker image inspect`. `upstream.test`
/// is pinned to 127.0.0.1 in the build (`--add-host`, kept by the shim), so
/// no step looks it up in DNS.
///
/// Controls: the same line through the shim without the sandbox variables
/// (standard Docker: passed through, nothing explained) fails the fetch;
/// through the real docker with the proxy build args by hand but no CA it
/// fails on the certificate (curl 60); the layer search finds the CA in an
/// image that copies it; the inspect search runs on output that holds the
/// image's label.
#[test]
fn a_build_through_the_shim_fetches_https_through_mitmproxy_and_keeps_nothing_of_the_proxy() {
    use nanoclaw_sandbox_core::dockerfile::BUILD_DOCKERFILE;
    use nanoclaw_testkit::docker::ImageGuard;
    use nanoclaw_testkit::layers::{ca_marker, der_of, found_in_layers};

    let Some(image) = debian() else { return };
    let Some(stack) = Stack::start() else { return };
    let context = build_context(&image);
    let dir = context.path().display().to_string();
    let mut images = ImageGuard::new();
    let tag = format!("{}:shim-build", docker::unique_name("nanoclaw-shim-build"));
    images.tag(&tag);
    // `--force-rm`: a failed step (the controls) leaves no container behind.
    let line = |tag: &str| -> Vec<String> {
        [
            "build",
            "--no-cache",
            "--force-rm",
            "-t",
            tag,
            "--label",
            &label(),
            "--add-host",
            &format!("{UPSTREAM}:127.0.0.1"),
            &dir,
        ]
        .map(String::from)
        .to_vec()
    };

    let out = output(stack.shim(&strs(&line(&tag))), None);
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    images.intermediates(stdout.lines());
    println!("shim build: exit {:?}\n{stdout}{stderr}", out.status.code());
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.lines().any(|l| l.trim() == FETCHED), "{stdout}");
    assert!(
        stack.mitm.seen().iter().any(|s| s.contains(UPSTREAM)),
        "mitmproxy saw no request: {}",
        stack.mitm.log()
    );
    // The explained line: the caller's flags in order, the patches before
    // the context, which is now stdin; the CA said, not shown.
    let port = stack.mitm.addr().port();
    let explained = stderr
        .lines()
        .find(|l| l.starts_with("nanoclaw-sandbox docker: ") && l.contains(" build "))
        .unwrap_or_else(|| panic!("no explained line: {stderr}"));
    for part in [
        format!("build --no-cache --force-rm -t {tag} --label"),
        format!("-f {BUILD_DOCKERFILE}"),
        format!("--build-arg HTTPS_PROXY=http://host.docker.internal:{port}"),
        "--build-arg FTP_PROXY=<the RUN-step wrapper with the proxy CA".to_string(),
        "--add-host host.docker.internal:host-gateway".to_string(),
    ] {
        assert!(explained.contains(&part), "{part} missing: {explained}");
    }
    assert!(
        explained.ends_with(" -"),
        "the context is stdin: {explained}"
    );
    assert!(!stderr.contains("BEGIN CERTIFICATE"), "{stderr}");

    // The image holds the page and the context, less what .dockerignore
    // leaves out and less our files.
    let page = docker::docker(["run", "--rm", &tag, "cat", "/page.json"]).unwrap();
    assert!(page.contains("/built"), "{page}");
    let listed = docker::docker(["run", "--rm", &tag, "ls", "-A", "/ctx"]).unwrap();
    let listed: Vec<&str> = listed.lines().collect();
    // (`.dockerignore` itself too, as in every sandbox build: the builder
    // reads it and drops what it names, now our Dockerfile and itself.)
    assert_eq!(listed, ["Dockerfile", "app.txt"], "{listed:?}");

    // Nothing of the proxy in the image: layers, history, config.
    let ca_pem = stack.mitm.ca_pem().to_string();
    let marker = ca_marker(&ca_pem).unwrap();
    let needles: Vec<(&str, Vec<u8>)> = vec![
        ("the CA's PEM", marker.as_bytes().to_vec()),
        ("the CA's DER", der_of(&ca_pem).unwrap()),
        (BUILD_DOCKERFILE, BUILD_DOCKERFILE.as_bytes().to_vec()),
        ("nanoclaw-proxy-ca", b"nanoclaw-proxy-ca".to_vec()),
    ];
    let found = found_in_layers(&tag, &image, &needles).unwrap();
    assert!(found.is_empty(), "the image's layers hold {found:?}");
    let history =
        docker::docker(["history", "--no-trunc", "--format", "{{.CreatedBy}}", &tag]).unwrap();
    let inspect = docker::docker(["image", "inspect", &tag]).unwrap();
    assert!(
        inspect.contains(TEST_LABEL.0),
        "the search runs on real output: {inspect}"
    );
    for (what, shown) in [
        ("docker history", &history),
        ("docker image inspect", &inspect),
    ] {
        for needle in [
            format!("host.docker.internal:{port}"),
            format!("127.0.0.1:{port}"),
            "BEGIN CERTIFICATE".to_string(),
            marker.clone(),
        ] {
            assert!(!shown.contains(&needle), "{what} holds {needle}:\n{shown}");
        }
    }

    // Control: the layer search finds the CA in an image that copies it.
    let copies = tempfile::tempdir().unwrap();
    std::fs::write(
        copies.path().join("Dockerfile"),
        format!("FROM {image}\nCOPY . /ctx/\n"),
    )
    .unwrap();
    std::fs::write(copies.path().join("nanoclaw-proxy-ca.crt"), &ca_pem).unwrap();
    let control_tag = format!(
        "{}:copies-the-ca",
        docker::unique_name("nanoclaw-shim-build")
    );
    images.tag(&control_tag);
    let copies_dir = copies.path().display().to_string();
    let out = output(
        real(&[
            "build",
            "-q",
            "-t",
            &control_tag,
            "--label",
            &label(),
            &copies_dir,
        ]),
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let control_found = found_in_layers(&control_tag, &image, &needles).unwrap();
    for expected in ["the CA's PEM", "nanoclaw-proxy-ca"] {
        assert!(
            control_found.iter().any(|f| f.starts_with(expected)),
            "the control image should hold {expected}: {control_found:?}"
        );
    }

    // Control: the same line in standard Docker (no sandbox variables):
    // passed through unchanged (nothing explained), and the fetch fails.
    let plain_tag = format!("{}:standard", docker::unique_name("nanoclaw-shim-build"));
    images.tag(&plain_tag);
    let mut plain = shim(&strs(&line(&plain_tag)));
    plain.env("NANOCLAW_SHIM_EXPLAIN", "1");
    let out = output(plain, None);
    let all = without_colours(&(text(&out.stdout) + &text(&out.stderr)));
    images.intermediates(all.lines());
    println!("standard-Docker build: exit {:?}\n{all}", out.status.code());
    assert_ne!(out.status.code(), Some(0), "{all}");
    assert!(!all.lines().any(|l| l.trim() == FETCHED), "{all}");
    assert!(!all.contains("nanoclaw-sandbox docker:"), "{all}");

    // Control: the real docker with the proxy build args by hand, no CA:
    // the proxy is reached and the certificate fails.
    let no_ca_tag = format!("{}:no-ca", docker::unique_name("nanoclaw-shim-build"));
    images.tag(&no_ca_tag);
    let mut by_hand = line(&no_ca_tag);
    let proxy = format!("HTTPS_PROXY=http://host.docker.internal:{port}");
    let at = by_hand.len() - 1;
    for (i, extra) in [
        "--build-arg",
        &proxy,
        "--add-host",
        "host.docker.internal:host-gateway",
    ]
    .iter()
    .enumerate()
    {
        by_hand.insert(at + i, extra.to_string());
    }
    let out = output(real(&strs(&by_hand)), None);
    let all = without_colours(&(text(&out.stdout) + &text(&out.stderr)));
    images.intermediates(all.lines());
    println!(
        "real docker, proxy without CA: exit {:?}\n{all}",
        out.status.code()
    );
    assert_ne!(out.status.code(), Some(0), "{all}");
    assert!(
        all.contains("curl: (60)"),
        "expected a certificate failure: {all}"
    );
}

/// What the shim cannot prepare faithfully passes through unpatched, with a
/// warning naming why, the line byte for byte: a context on stdin, a URL
/// context, a Dockerfile on stdin, a BuildKit build (`DOCKER_BUILDKIT=1`);
/// a Dockerfile only BuildKit builds goes to docker unchanged too.
/// An unknown flag without `=VALUE` stops it (exit 125, docker's message
/// with build's usage line). Control: a directory context with the legacy
/// builder is rewritten (the real docker here is `echo`, which prints the
/// line it got).
#[test]
fn in_a_sandbox_builds_the_shim_cannot_prepare_pass_through_with_a_warning() {
    let context = tempfile::tempdir().unwrap();
    std::fs::write(context.path().join("Dockerfile"), "FROM scratch\n").unwrap();
    let dir = context.path().display().to_string();
    let build = |args: &[&str], buildkit: &str| {
        let mut command = shim(args);
        command
            .env("HTTPS_PROXY", "http://127.0.0.1:9")
            .env("NANOCLAW_REAL_DOCKER", "/bin/echo")
            .env("DOCKER_BUILDKIT", buildkit);
        output(command, None)
    };
    for (args, buildkit, why) in [
        (
            vec!["build", "-t", "a:1", "-"],
            "0",
            "the context comes from stdin",
        ),
        (
            vec!["build", "https://git.invalid/repo.git#main"],
            "0",
            "the context is a URL",
        ),
        (
            vec!["build", "-f", "-", &dir],
            "0",
            "the Dockerfile comes from stdin",
        ),
        (vec!["build", "-t", "a:1", &dir], "1", "BuildKit"),
    ] {
        let out = build(&args, buildkit);
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(
            stderr.contains("passes through unpatched") && stderr.contains(why),
            "{args:?}: {stderr}"
        );
        assert_eq!(
            text(&out.stdout),
            format!("{}\n", args.join(" ")),
            "byte for byte"
        );
    }
    // BuildKit-only syntax: the legacy builder refuses it itself, so the
    // line goes to docker unchanged (no warning: nothing to patch).
    let buildkit_only = tempfile::tempdir().unwrap();
    std::fs::write(
        buildkit_only.path().join("Dockerfile"),
        "FROM scratch\nRUN --mount=type=cache,target=/c true\n",
    )
    .unwrap();
    let buildkit_dir = buildkit_only.path().display().to_string();
    let out = build(&["build", "-t", "a:1", &buildkit_dir], "0");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("build -t a:1 {buildkit_dir}\n"));

    let out = build(&["build", "--bogus", &dir], "0");
    assert_eq!(out.status.code(), Some(125));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("unknown flag: --bogus")
            && stderr.contains("docker build [OPTIONS] PATH | URL | -"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "the real docker never ran");
    // Control: the legacy builder and a directory: rewritten.
    let out = build(&["build", "-t", "a:1", &dir], "0");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        stdout.starts_with("build -t a:1 -f .nanoclaw-sandbox.Dockerfile --build-arg FTP_PROXY=")
            && stdout.trim_end().ends_with(" -"),
        "{stdout}"
    );
}

/// The `docker-shim` check of `doctor --json` with `PATH` and the variables
/// given (a dead proxy for a sandbox: the network checks fail at once, and
/// no name is looked up).
fn shim_check(path: &str, vars: &[(&str, &str)]) -> serde_json::Value {
    let workspace = tempfile::tempdir().unwrap();
    let mut command = clean_cli(&[
        "doctor",
        "--json",
        "--timeout",
        "1",
        "--probe",
        "https://probe.test/",
        "--passthrough-host",
        "passthrough.test",
        "--workspace",
        &workspace.path().display().to_string(),
    ]);
    command
        .current_dir(workspace.path())
        .env("PATH", path)
        .env_remove("DOCKER_BUILDKIT");
    for (name, value) in vars {
        command.env(name, value);
    }
    let out = output(command, None);
    let checks: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&out.stdout), text(&out.stderr)));
    let mut found: Vec<serde_json::Value> = checks
        .into_iter()
        .filter(|c| c["id"] == "docker-shim")
        .collect();
    assert_eq!(found.len(), 1, "one docker-shim check");
    found.remove(0)
}

/// Asserts `check`'s status and that its detail or fix holds `needle`;
/// returns the two, for more.
fn expect(check: serde_json::Value, status: &str, needle: &str) -> String {
    let said = format!(
        "{} {}",
        check["detail"].as_str().unwrap_or_default(),
        check["fix"].as_str().unwrap_or_default()
    );
    assert_eq!(check["status"], status, "{check}");
    assert!(said.contains(needle), "{needle} missing: {check}");
    said
}

/// `doctor` reports whether the `docker` on PATH is the shim (a link to
/// this binary first on PATH) and what it patches here: in a sandbox run,
/// create and build patched (pass), builds with BuildKit passed through (a
/// warning naming DOCKER_BUILDKIT=0), standard Docker all passed through
/// (pass); the real docker it runs named. Controls: a plain PATH is
/// reported as not the shim (skip), and a shim whose real docker is itself
/// fails naming NANOCLAW_REAL_DOCKER.
#[test]
fn doctor_reports_whether_docker_on_path_is_the_shim_and_what_it_patches() {
    let Some(real) = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("docker"))
        .find(|p| p.is_file())
    else {
        missing("the docker CLI", "no docker on PATH");
        return;
    };
    let links = link_dir();
    let link = links.path().join("docker");
    let plain = std::env::var("PATH").unwrap_or_default();
    let shimmed = format!("{}:{plain}", links.path().display());
    let dead_proxy = format!(
        "http://127.0.0.1:{}",
        nanoclaw_testkit::net::closed_port().port()
    );
    let sandbox = [("HTTPS_PROXY", dead_proxy.as_str())];

    let detail = expect(
        shim_check(&shimmed, &[sandbox[0], ("DOCKER_BUILDKIT", "0")]),
        "pass",
        "run and create patched",
    );
    println!("shim first, sandbox: {detail}");
    for part in [
        format!("({}) is the shim", link.display()),
        format!("runs the real docker {}", real.display()),
        "build patched".to_string(),
    ] {
        assert!(detail.contains(&part), "{part}: {detail}");
    }
    let warned = expect(
        shim_check(&shimmed, &[sandbox[0], ("DOCKER_BUILDKIT", "1")]),
        "warn",
        "build passes through unpatched",
    );
    assert!(warned.contains("DOCKER_BUILDKIT=0"), "the fix: {warned}");
    expect(
        shim_check(&shimmed, &[]),
        "pass",
        "standard Docker: every command passes through",
    );
    // Settings the shim cannot read: it would refuse every command.
    expect(
        shim_check(&shimmed, &[("HTTPS_PROXY", "not a url")]),
        "fail",
        "refuses every command",
    );

    // Controls: not the shim; the shim with no real docker.
    let detail = expect(
        shim_check(&plain, &sandbox),
        "skip",
        &format!("({}) is not the shim", real.display()),
    );
    println!("plain PATH: {detail}");
    let link_text = link.display().to_string();
    expect(
        shim_check(&shimmed, &[("NANOCLAW_REAL_DOCKER", link_text.as_str())]),
        "fail",
        "NANOCLAW_REAL_DOCKER",
    );
}

/// Waits until no background cleanup of the drop-in is waiting or looking:
/// both lock files beside the kept directory free, three times in a row.
fn settle(instances: &Path) {
    let free = || {
        ["docker-shim.lock", "docker-shim.cleanup.lock"].iter().all(
            |name| match std::fs::File::open(instances.join(name)) {
                Ok(file) => file.try_lock().is_ok(),
                Err(_) => true,
            },
        )
    };
    let started = std::time::Instant::now();
    let mut streak = 0;
    while streak < 3 {
        std::thread::sleep(std::time::Duration::from_millis(200));
        streak = if free() { streak + 1 } else { 0 };
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the background cleanup never settled"
        );
    }
}

/// Waits (up to 30 s) until `path` is gone.
fn gone(path: &Path) -> bool {
    let started = std::time::Instant::now();
    while path.exists() {
        if started.elapsed() > std::time::Duration::from_secs(30) {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    true
}

/// The drop-in's kept directory goes once no container (any state) carries
/// its label and no patched command is in flight: on its own after a
/// `docker rm` through the shim (the background cleanup), or by
/// `shim cleanup`. Patched containers are labelled `nanoclaw.shim=…`.
/// Controls: while a second labelled container exists, a `docker rm` of the
/// first leaves the directory; a stopped container counts; while a
/// foreground patched run is in flight, the real docker it became holds the
/// lock and `shim cleanup` keeps the directory.
#[test]
fn the_kept_directory_goes_when_no_container_uses_it() {
    let Some(image) = debian() else { return };
    let Some(stack) = Stack::start() else { return };
    let instances = stack.workspace.path().join(WORKSPACE_INSTANCES_DIR);
    let kept = instances.join("docker-shim");
    let cleanup = || {
        settle(&instances);
        let mut command = clean_cli(&["shim", "cleanup"]);
        command.env("NANOCLAW_WORKSPACE", stack.workspace.path());
        let out = output(command, None);
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let detached = |prefix: &str| {
        let name = docker::unique_name(prefix);
        let guard = ContainerGuard::new(&name);
        let out = output(
            stack.shim(&[
                "run",
                "-d",
                "--name",
                &name,
                "--label",
                &label(),
                &image,
                "sleep",
                "300",
            ]),
            None,
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        (name, guard)
    };
    let shim_rm = |name: &str| {
        let out = output(stack.shim(&["rm", "--force", name]), None);
        assert!(out.status.success(), "{}", text(&out.stderr));
    };

    let (first, _first_guard) = detached("shim-kept-1");
    let (second, _second_guard) = detached("shim-kept-2");
    assert!(kept.join("ca").is_dir(), "the kept directory is there");
    let labels =
        docker::docker(["inspect", "--format", "{{json .Config.Labels}}", &first]).unwrap();
    assert!(labels.contains("\"nanoclaw.shim\":\"ws-"), "{labels}");

    // Control: a stopped container counts.
    docker::docker(["stop", "--time", "0", &first]).unwrap();
    let said = cleanup();
    println!("with a stopped and a running container: {said}");
    assert!(said.contains("kept: 2 container(s)"), "{said}");
    // Control: removing one through the shim leaves the other's directory.
    shim_rm(&first);
    settle(&instances);
    assert!(kept.is_dir(), "the second container still mounts it");

    // A foreground patched run in flight: the real docker holds the lock.
    let running = docker::unique_name("shim-kept-fg");
    let _guard = ContainerGuard::new(&running);
    let mut foreground = stack.shim(&[
        "run",
        "--rm",
        "--name",
        &running,
        "--label",
        &label(),
        &image,
        "sleep",
        "4",
    ]);
    let mut child = foreground
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !docker::docker(["inspect", "--format", "{{.State.Running}}", &running])
        .is_ok_and(|state| state.trim() == "true")
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the foreground run never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let mut command = clean_cli(&["shim", "cleanup"]);
    command.env("NANOCLAW_WORKSPACE", stack.workspace.path());
    let said = text(&output(command, None).stdout);
    println!("with a run in flight: {said}");
    assert!(said.contains("in flight"), "{said}");
    assert!(child.wait().unwrap().success());
    settle(&instances);
    assert!(kept.is_dir(), "the second container still mounts it");

    // The last one removed through the shim: the directory goes on its own.
    shim_rm(&second);
    assert!(
        gone(&kept),
        "the kept directory stayed after the last container"
    );

    // Removed behind the shim's back (the real docker): `shim cleanup` does it.
    let (third, _third_guard) = detached("shim-kept-3");
    docker::docker(["rm", "--force", &third]).unwrap();
    let said = cleanup();
    println!("after a removal the shim did not see: {said}");
    assert!(said.starts_with("removed "), "{said}");
    assert!(!kept.exists(), "the kept directory is gone");
    assert!(cleanup().contains("nothing to remove"));
}
