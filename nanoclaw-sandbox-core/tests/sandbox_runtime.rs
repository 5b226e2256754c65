//! `SandboxRuntime` over a recording fake runtime (no Docker): what the
//! inner runtime receives for containers and builds in each mode, the
//! instance directory's life, CA reload, orphan cleanup and delegation.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use nanoclaw_sandbox_core::dockerfile::{BUILD_DOCKERFILE, CA_BUILD_ARG};
use nanoclaw_sandbox_core::proxy::{ProxySettings, ProxyUrl};
use nanoclaw_sandbox_core::runtime::{
    Attachment, BlockingRemover, BuildRequest, ContainerId, ContainerInfo, ContainerRuntime,
    ContainerSummary, ExecOutput, ExitStatus, ImageBuilder, ImageId, ImageSummary, InstallId,
    InstanceId, RuntimeError, RuntimeIdentity,
};
use nanoclaw_sandbox_core::sandbox::{
    CaSource, DetectOptions, Mode, PatchKind, ProxyCa, SandboxEnv, SandboxPatcher, SandboxRuntime,
};
use nanoclaw_sandbox_core::spec::{ContainerSpec, Mount};
use nanoclaw_sandbox_core::trust::{SystemRoots, TrustStore, CONTAINER_CA_DIR};
use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::tar::{context_files, tar_context};

const DOCKERFILE: &str = "FROM agent-base:1\nRUN curl https://upstream.test/\n";

/// A runtime that records what it is given and answers from a script.
struct Recorder {
    identity: RuntimeIdentity,
    created: Mutex<Vec<ContainerSpec>>,
    built: Mutex<Vec<BuildRequest>>,
    calls: Mutex<Vec<&'static str>>,
}

impl Recorder {
    fn new(instance: &str) -> Self {
        Recorder {
            identity: RuntimeIdentity {
                install: InstallId::new("install-t").unwrap(),
                instance: InstanceId::new(instance).unwrap(),
            },
            created: Mutex::default(),
            built: Mutex::default(),
            calls: Mutex::default(),
        }
    }

    fn call(&self, name: &'static str) {
        self.calls.lock().unwrap().push(name);
    }

    fn calls(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap().clone()
    }

    fn created(&self) -> Vec<ContainerSpec> {
        self.created.lock().unwrap().clone()
    }

    fn built(&self) -> Vec<BuildRequest> {
        self.built.lock().unwrap().clone()
    }
}

fn gone(id: &ContainerId) -> RuntimeError {
    RuntimeError::NoSuchContainer { id: id.to_string() }
}

struct NoRemover;
impl BlockingRemover for NoRemover {
    fn remove_blocking(&self, _id: &ContainerId) -> Result<(), RuntimeError> {
        Ok(())
    }
}

#[async_trait]
impl ContainerRuntime for Recorder {
    fn identity(&self) -> &RuntimeIdentity {
        &self.identity
    }
    async fn create(&self, spec: &ContainerSpec) -> Result<ContainerId, RuntimeError> {
        self.call("create");
        self.created.lock().unwrap().push(spec.clone());
        Ok(ContainerId::new("c1"))
    }
    async fn attach(&self, id: &ContainerId, _stdin: bool) -> Result<Attachment, RuntimeError> {
        self.call("attach");
        Err(gone(id))
    }
    async fn start(&self, id: &ContainerId) -> Result<(), RuntimeError> {
        self.call("start");
        Err(gone(id))
    }
    async fn wait(&self, id: &ContainerId) -> Result<ExitStatus, RuntimeError> {
        self.call("wait");
        Err(gone(id))
    }
    async fn exec(&self, id: &ContainerId, _cmd: &[String]) -> Result<ExecOutput, RuntimeError> {
        self.call("exec");
        Err(gone(id))
    }
    async fn inspect(&self, id: &ContainerId) -> Result<ContainerInfo, RuntimeError> {
        self.call("inspect");
        Err(gone(id))
    }
    async fn stop(&self, id: &ContainerId, _grace: Duration) -> Result<(), RuntimeError> {
        self.call("stop");
        Err(gone(id))
    }
    async fn remove(&self, id: &ContainerId, _force: bool) -> Result<(), RuntimeError> {
        self.call("remove");
        Err(gone(id))
    }
    async fn list(
        &self,
        _labels: &BTreeMap<String, String>,
    ) -> Result<Vec<ContainerSummary>, RuntimeError> {
        self.call("list");
        Ok(Vec::new())
    }
    async fn image_exists(&self, _image: &str) -> Result<bool, RuntimeError> {
        self.call("image_exists");
        Ok(true)
    }
    fn blocking_remover(&self) -> Arc<dyn BlockingRemover> {
        self.call("blocking_remover");
        Arc::new(NoRemover)
    }
    async fn cleanup_orphans(&self) -> Result<Vec<ContainerId>, RuntimeError> {
        self.call("cleanup_orphans");
        Ok(vec![ContainerId::new("old")])
    }
}

#[async_trait]
impl ImageBuilder for Recorder {
    async fn build(
        &self,
        request: BuildRequest,
        on_output: &mut (dyn for<'line> FnMut(&'line str) + Send),
    ) -> Result<ImageId, RuntimeError> {
        self.call("build");
        on_output("Step 1/1 : FROM agent-base:1");
        self.built.lock().unwrap().push(request);
        Ok(ImageId::new("sha256:built"))
    }
    async fn find_images(
        &self,
        _labels: &BTreeMap<String, String>,
    ) -> Result<Vec<ImageSummary>, RuntimeError> {
        self.call("find_images");
        Ok(Vec::new())
    }
    async fn remove_image(&self, _image: &str, _force: bool) -> Result<(), RuntimeError> {
        self.call("remove_image");
        Ok(())
    }
}

fn settings(url: &str) -> ProxySettings {
    ProxySettings {
        http: Some(ProxyUrl::parse(url).unwrap()),
        https: Some(ProxyUrl::parse(url).unwrap()),
        all: None,
        no_proxy: Some("bypass.test".to_string()),
    }
}

fn ca_pem(name: &str) -> String {
    TestCa::new(name).pem().to_string()
}

fn intercepting(url: &str, pem: &str) -> Mode {
    Mode::Proxied {
        proxy: settings(url),
        ca: Some(ProxyCa::new(
            TrustStore::from_pem(pem.as_bytes(), "test").unwrap(),
            CaSource::EnvBase64,
        )),
    }
}

/// A "public" roots file standing in for the host's bundle.
fn roots_file(dir: &Path) -> (PathBuf, String) {
    let pem = ca_pem("Test Public Root");
    let path = dir.join("roots.pem");
    std::fs::write(&path, &pem).unwrap();
    (path, pem)
}

/// The decorator over a fresh recorder (instance `now`), its instance
/// directory under `workspace`, the built-in roots.
fn sandbox(mode: Mode, workspace: &Path) -> SandboxRuntime<Recorder> {
    SandboxRuntime::builder(Recorder::new("now"))
        .mode(mode)
        .workspace_root(workspace)
        .system_roots(SystemRoots::Builtin)
        .build()
        .unwrap()
}

/// A proxy that does not intercept TLS.
fn plain_proxy(url: &str) -> Mode {
    Mode::Proxied {
        proxy: settings(url),
        ca: None,
    }
}

fn agent_spec() -> ContainerSpec {
    ContainerSpec::builder("agent:1")
        .env("APP", "1")
        .mount(Mount::bind("/dev/null", "/app/.env", true))
        .build()
        .unwrap()
}

fn build_request() -> BuildRequest {
    BuildRequest::new(tar_context(&[
        ("Dockerfile", DOCKERFILE),
        ("app.js", "console.log(1)"),
    ]))
    .tag("agent:built")
}

/// Runs a build through `runtime`, collecting its output lines.
async fn build(runtime: &SandboxRuntime<Recorder>, request: BuildRequest) -> Vec<String> {
    let mut lines = Vec::new();
    let id = runtime
        .build(request, &mut |line: &str| lines.push(line.to_string()))
        .await
        .unwrap();
    assert_eq!(id.as_str(), "sha256:built");
    lines
}

#[tokio::test]
async fn standard_docker_passes_specs_and_builds_through_identically() {
    let workspace = tempfile::tempdir().unwrap();
    let runtime = sandbox(Mode::StandardDocker, workspace.path());
    assert!(runtime.instance_dir().is_none());
    assert!(
        !workspace.path().join(".nanoclaw").exists(),
        "no file is made in standard Docker mode"
    );

    let spec = agent_spec();
    let (id, report) = runtime.create_with_report(&spec).await.unwrap();
    assert_eq!(id.as_str(), "c1");
    assert!(report.is_empty());
    let created = runtime.inner().created();
    assert_eq!(created, std::slice::from_ref(&spec));
    assert_eq!(
        serde_json::to_value(&created[0]).unwrap(),
        serde_json::to_value(&spec).unwrap()
    );

    let request = build_request().build_arg("X", "1");
    let lines = build(&runtime, request.clone()).await;
    assert_eq!(runtime.inner().built(), [request]);
    assert_eq!(lines, ["Step 1/1 : FROM agent-base:1"]);
    assert_eq!(
        runtime.inner().calls(),
        ["create", "build"],
        "nothing is inspected"
    );
}

#[tokio::test]
async fn an_intercepting_proxy_gets_the_patched_spec_and_trust_files() {
    let workspace = tempfile::tempdir().unwrap();
    let (roots_path, roots_pem) = roots_file(workspace.path());
    let proxy_ca = ca_pem("Sandbox Proxy CA");
    let mode = intercepting("http://gateway.docker.internal:3128", &proxy_ca);
    let runtime = SandboxRuntime::builder(Recorder::new("now"))
        .mode(mode.clone())
        .workspace_root(workspace.path())
        .system_roots(SystemRoots::PemFile(roots_path))
        .build()
        .unwrap();

    let instance = runtime.instance_dir().expect("an instance directory");
    let root = instance.path().to_path_buf();
    assert_eq!(
        root,
        workspace.path().join(".nanoclaw/instances/install-t/now")
    );
    let ca_file = std::fs::read_to_string(instance.trust_dir().ca_file()).unwrap();
    let bundle = std::fs::read_to_string(instance.trust_dir().bundle_file()).unwrap();
    assert_eq!(ca_file.trim(), proxy_ca.trim());
    assert!(
        bundle.starts_with(roots_pem.trim()) && bundle.trim_end().ends_with(proxy_ca.trim()),
        "the bundle is the roots, then the proxy CA"
    );

    let spec = agent_spec();
    let (_, report) = runtime.create_with_report(&spec).await.unwrap();
    let expected = SandboxPatcher::new(&mode, Some(instance.paths()))
        .unwrap()
        .patch(&spec)
        .unwrap();
    assert_eq!(runtime.inner().created(), std::slice::from_ref(&expected.0));
    assert_eq!(report, expected.1);
    assert_eq!(runtime.last_report(), Some(report.clone()));
    let patched = &expected.0;
    assert_eq!(
        patched.env_value("NODE_EXTRA_CA_CERTS"),
        Some("/etc/nanoclaw/ca/proxy-ca.pem")
    );
    assert_eq!(
        patched.env_value("SSL_CERT_FILE"),
        Some("/etc/nanoclaw/ca/ca-bundle.pem")
    );
    assert!(patched
        .mounts()
        .iter()
        .any(|m| m.target() == CONTAINER_CA_DIR));
    assert!(report
        .entries()
        .iter()
        .any(|e| e.kind == PatchKind::DevNullMount));

    drop(runtime);
    assert!(
        !root.exists(),
        "the instance directory goes with the runtime"
    );
}

#[tokio::test]
async fn a_plain_proxy_forwards_variables_and_makes_no_files() {
    let workspace = tempfile::tempdir().unwrap();
    let runtime = sandbox(plain_proxy("http://proxy.corp:3128"), workspace.path());
    assert!(runtime.instance_dir().is_none());
    runtime.create(&agent_spec()).await.unwrap();
    let created = &runtime.inner().created()[0];
    for name in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"] {
        assert_eq!(created.env_value(name), Some("http://proxy.corp:3128"));
    }
    assert_eq!(created.env_value("SSL_CERT_FILE"), None);
    assert_eq!(created.mounts(), agent_spec().mounts(), "no CA mount");
    assert!(!workspace.path().join(".nanoclaw").exists());
}

#[tokio::test]
async fn a_spec_the_patcher_refuses_never_reaches_the_engine() {
    let workspace = tempfile::tempdir().unwrap();
    let runtime = sandbox(
        intercepting("http://proxy:3128", &ca_pem("CA")),
        workspace.path(),
    );
    let spec = ContainerSpec::builder("agent:1")
        .mount(Mount::bind("/tmp", CONTAINER_CA_DIR, true))
        .build()
        .unwrap();
    let err = runtime.create(&spec).await.unwrap_err();
    assert!(matches!(err, RuntimeError::Sandbox { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("agent:1") && text.contains(CONTAINER_CA_DIR),
        "{text}"
    );
    assert!(runtime.inner().calls().is_empty(), "the engine saw nothing");
}

#[tokio::test]
async fn builds_behind_an_intercepting_proxy_get_the_ca_as_an_arg_and_a_hidden_wrapped_dockerfile()
{
    let workspace = tempfile::tempdir().unwrap();
    let proxy_ca = ca_pem("Build Proxy CA");
    let runtime = sandbox(
        intercepting("http://gateway.docker.internal:3128", &proxy_ca),
        workspace.path(),
    );
    // The caller's own value wins, with a warning.
    let request = build_request().build_arg("no_proxy", "mine.test");
    let lines = build(&runtime, request).await;

    let built = &runtime.inner().built()[0];
    let args = built.build_args();
    for name in ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"] {
        assert_eq!(
            args.get(name).map(String::as_str),
            Some("http://gateway.docker.internal:3128"),
            "{name}"
        );
    }
    assert_eq!(args["no_proxy"], "mine.test");
    assert!(args["NO_PROXY"].contains("bypass.test"));
    assert!(
        args[CA_BUILD_ARG].contains(proxy_ca.trim()),
        "the wrapper carries the CA"
    );
    assert!(built.extra_hosts().is_empty(), "no translation needed");
    assert_eq!(built.tags(), ["agent:built"]);

    // The caller's Dockerfile is kept; the rewrite is built instead, and
    // `.dockerignore` hides it (and itself) from COPY.
    assert_eq!(built.dockerfile_path(), BUILD_DOCKERFILE);
    let files = context_files(built.context());
    assert_eq!(files["Dockerfile"], DOCKERFILE);
    assert_eq!(files["app.js"], "console.log(1)");
    assert_eq!(files.len(), 4, "{:?}", files.keys());
    let dockerfile = &files[BUILD_DOCKERFILE];
    assert!(
        dockerfile.contains("RUN [\"/bin/sh\",\"-c\","),
        "{dockerfile}"
    );
    assert!(!dockerfile.contains("BEGIN CERTIFICATE"), "{dockerfile}");
    let ignore = &files[".dockerignore"];
    assert!(ignore.contains(BUILD_DOCKERFILE) && ignore.contains(".dockerignore\n"));
    assert_eq!(runtime.inner().calls(), ["build"], "nothing is inspected");

    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("nanoclaw-sandbox: warn") && l.contains("no_proxy")),
        "{lines:?}"
    );
    assert_eq!(lines.last().unwrap(), "Step 1/1 : FROM agent-base:1");
}

#[tokio::test]
async fn a_callers_ftp_proxy_build_arg_is_refused_before_the_engine() {
    let workspace = tempfile::tempdir().unwrap();
    let runtime = sandbox(plain_proxy("http://proxy.corp:3128"), workspace.path());
    let request = build_request().build_arg(CA_BUILD_ARG, "ftp://mine");
    let err = runtime.build(request, &mut |_| {}).await.unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("--build-arg {CA_BUILD_ARG}")),
        "{err}"
    );
    assert!(runtime.inner().calls().is_empty(), "the engine saw nothing");
}

#[tokio::test]
async fn unbuildable_syntax_is_refused_with_the_callers_line_behind_the_ca() {
    let workspace = tempfile::tempdir().unwrap();
    let runtime = sandbox(
        intercepting("http://gateway.docker.internal:3128", &ca_pem("Heredoc CA")),
        workspace.path(),
    );
    let dockerfile = "FROM agent-base:1\nRUN true\nCOPY --link app.js /app.js\n";
    let request = BuildRequest::new(tar_context(&[("Dockerfile", dockerfile)]));
    let err = runtime.build(request, &mut |_| {}).await.unwrap_err();
    // Line 3 of the caller's file, not of the rewrite (which adds lines).
    assert!(
        err.to_string()
            .contains("line 3: `COPY --link app.js /app.js` uses `--link`"),
        "{err}"
    );
    assert!(
        !runtime.inner().calls().contains(&"build"),
        "the engine was not asked to build"
    );
}

#[tokio::test]
async fn a_plain_proxy_build_gets_args_and_wrapped_steps_and_credentials_are_warned_about() {
    let workspace = tempfile::tempdir().unwrap();
    let runtime = sandbox(
        plain_proxy("http://user:s3cret@proxy.corp:3128"),
        workspace.path(),
    );
    let request = build_request();
    let lines = build(&runtime, request.clone()).await;
    let built = &runtime.inner().built()[0];
    // The steps are wrapped (for NODE_USE_ENV_PROXY); no CA travels.
    assert_eq!(built.dockerfile_path(), BUILD_DOCKERFILE);
    let files = context_files(built.context());
    assert!(files[BUILD_DOCKERFILE].contains(CA_BUILD_ARG));
    assert_eq!(
        built.build_args()["https_proxy"],
        "http://user:s3cret@proxy.corp:3128"
    );
    assert!(!built.build_args()[CA_BUILD_ARG].contains("BEGIN CERTIFICATE"));
    let warning = lines
        .iter()
        .find(|l| l.contains("docker history"))
        .unwrap_or_else(|| panic!("no credentials warning in {lines:?}"));
    assert!(!warning.contains("s3cret"), "{warning}");
    assert!(lines.iter().all(|l| !l.contains("s3cret")));
}

#[tokio::test]
async fn a_loopback_proxy_build_on_the_bridge_gets_the_translation_host() {
    let workspace = tempfile::tempdir().unwrap();
    let runtime = sandbox(plain_proxy("http://127.0.0.1:3128"), workspace.path());
    build(&runtime, build_request()).await;
    let built = &runtime.inner().built()[0];
    assert_eq!(
        built.build_args()["http_proxy"],
        "http://host.docker.internal:3128"
    );
    let hosts: Vec<String> = built
        .extra_hosts()
        .iter()
        .map(|h| format!("{}:{}", h.name, h.address))
        .collect();
    assert_eq!(hosts, ["host.docker.internal:host-gateway"]);
}

#[tokio::test]
async fn reload_rewrites_the_ca_files_and_later_builds_use_the_new_ca() {
    let workspace = tempfile::tempdir().unwrap();
    let ca_path = workspace.path().join("proxy-ca.crt");
    let first = ca_pem("Rotating CA 1");
    std::fs::write(&ca_path, &first).unwrap();
    let vars = |name: &str| (name == "HTTPS_PROXY").then(|| "http://proxy:3128".to_string());
    let env = SandboxEnv::detect_from(vars, &DetectOptions::default().with_explicit_ca(&ca_path))
        .unwrap();
    let runtime = SandboxRuntime::builder(Recorder::new("now"))
        .env(env)
        .workspace_root(workspace.path())
        .system_roots(SystemRoots::Builtin)
        .build()
        .unwrap();
    let ca_file = runtime.instance_dir().unwrap().trust_dir().ca_file();
    assert_eq!(
        std::fs::read_to_string(&ca_file).unwrap().trim(),
        first.trim()
    );
    assert!(!runtime.reload().unwrap(), "unchanged");

    let second = ca_pem("Rotating CA 2");
    std::fs::write(&ca_path, &second).unwrap();
    assert!(runtime.reload().unwrap());
    assert_eq!(
        std::fs::read_to_string(&ca_file).unwrap().trim(),
        second.trim()
    );
    build(&runtime, build_request()).await;
    let args = runtime.inner().built()[0].build_args().clone();
    assert!(args[CA_BUILD_ARG].contains(second.trim()));

    // A broken file keeps the old CA in place.
    std::fs::write(&ca_path, "not a certificate").unwrap();
    assert!(runtime.reload().is_err());
    assert_eq!(
        std::fs::read_to_string(&ca_file).unwrap().trim(),
        second.trim()
    );
}

#[tokio::test]
async fn cleanup_orphans_also_removes_earlier_instance_directories() {
    let workspace = tempfile::tempdir().unwrap();
    let mode = intercepting("http://proxy:3128", &ca_pem("CA"));
    // An earlier process of the same install that never cleaned up, and a
    // live process of another install.
    let earlier = SandboxRuntime::builder(Recorder::new("earlier"))
        .mode(mode.clone())
        .workspace_root(workspace.path())
        .system_roots(SystemRoots::Builtin)
        .build()
        .unwrap();
    let earlier_dir = earlier.instance_dir().unwrap().path().to_path_buf();
    std::mem::forget(earlier);
    let other_install = workspace.path().join(".nanoclaw/instances/install-other/x");
    std::fs::create_dir_all(&other_install).unwrap();

    let runtime = sandbox(mode, workspace.path());
    let removed = runtime.cleanup_orphans().await.unwrap();
    assert_eq!(removed, [ContainerId::new("old")]);
    assert_eq!(runtime.inner().calls(), ["cleanup_orphans"]);
    assert!(!earlier_dir.exists());
    assert!(runtime.instance_dir().unwrap().path().is_dir());
    assert!(other_install.is_dir(), "another install's directory stays");
}

#[tokio::test]
async fn every_other_method_is_delegated() {
    let runtime = SandboxRuntime::builder(Recorder::new("now"))
        .mode(Mode::StandardDocker)
        .build()
        .unwrap();
    let id = ContainerId::new("c9");
    assert_eq!(runtime.identity(), runtime.inner().identity());
    assert!(runtime.attach(&id, false).await.is_err());
    assert!(runtime.start(&id).await.is_err());
    assert!(runtime.wait(&id).await.is_err());
    assert!(runtime.exec(&id, &["true".into()]).await.is_err());
    assert!(runtime.inspect(&id).await.is_err());
    assert!(runtime.stop(&id, Duration::ZERO).await.is_err());
    let err = runtime.remove(&id, true).await.unwrap_err();
    assert!(err.is_no_such_container());
    runtime.list(&BTreeMap::new()).await.unwrap();
    assert!(runtime.image_exists("x").await.unwrap());
    runtime.blocking_remover();
    runtime.find_images(&BTreeMap::new()).await.unwrap();
    runtime.remove_image("x", false).await.unwrap();
    assert_eq!(
        runtime.inner().calls(),
        [
            "attach",
            "start",
            "wait",
            "exec",
            "inspect",
            "stop",
            "remove",
            "list",
            "image_exists",
            "blocking_remover",
            "find_images",
            "remove_image",
        ]
    );
}

/// The preview is what `create` applies: the same spec and report as the
/// built runtime's, builder settings included, with no file made. The
/// control: `build` does make the instance directory the preview names.
#[tokio::test]
async fn the_preview_is_exactly_what_create_applies_and_makes_no_file() {
    let workspace = tempfile::tempdir().unwrap();
    let mode = intercepting("http://127.0.0.1:3128", &ca_pem("Preview CA"));
    let builder = || {
        SandboxRuntime::builder(Recorder::new("now"))
            .mode(mode.clone())
            .workspace_root(workspace.path())
            .system_roots(SystemRoots::Builtin)
            .host_names(["agent.test"])
            .ca_only_paths(["/etc/agent/ca.pem"])
    };
    let spec = agent_spec();
    let preview = builder().preview().unwrap();
    let instance_root = workspace.path().join(".nanoclaw/instances/install-t/now");
    assert!(!instance_root.exists(), "the preview made no directory");
    let previewed = preview.patch(&spec).unwrap();

    let runtime = builder().build().unwrap();
    assert_eq!(runtime.instance_dir().unwrap().path(), instance_root);
    let (_, report) = runtime.create_with_report(&spec).await.unwrap();
    let applied = runtime.inner().created().pop().unwrap();
    assert_eq!(previewed.0, applied, "the spec create sent");
    assert_eq!(previewed.1, report, "the report create gave");
    assert!(
        applied
            .env()
            .iter()
            .any(|v| v.name() == "NO_PROXY" && v.value().ends_with(",agent.test")),
        "the builder's host names are in both: {applied:?}"
    );
    // The daemon-less form is the preview of a builder with default
    // settings: the same spec as such a runtime's create.
    let bare = nanoclaw_sandbox_core::sandbox::preview_patcher(
        &SandboxEnv::new(mode.clone()),
        runtime.inner().identity(),
        Some(workspace.path()),
    )
    .unwrap();
    let plain = sandbox(mode.clone(), workspace.path());
    plain.create_with_report(&spec).await.unwrap();
    assert_eq!(
        bare.patch(&spec).unwrap().0,
        plain.inner().created().pop().unwrap()
    );
}
