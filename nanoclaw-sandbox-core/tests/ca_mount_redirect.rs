//! An image cannot redirect the CA mount: Docker follows a symlink in the
//! image when it mounts (measured: with `/etc/nanoclaw -> /victim` the CA
//! directory lands on `/victim/ca`; with `/etc/nanoclaw/ca -> /usr/local/bin`
//! it covers `/usr/local/bin`, still read-only and still inside the
//! container). So the sandbox layer stats the CA directory and its parents
//! in every container it creates and refuses, removing it, when one is a
//! symlink. Control: the same runtime creates a container from an image
//! without the symlink.

mod support;

use nanoclaw_sandbox_core::runtime::{ContainerRuntime, RuntimeError, TEST};
use nanoclaw_sandbox_core::sandbox::{DetectOptions, SandboxEnv, SandboxRuntime};
use nanoclaw_sandbox_core::spec::{ContainerSpec, NetworkMode};
use nanoclaw_sandbox_core::trust::SystemRoots;
use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::docker::{docker, ImageGuard};

/// Builds `FROM scratch` with `/etc/nanoclaw` a symlink to `/victim`.
fn symlinked_image(dir: &std::path::Path, tag: &str) {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("victim")).unwrap();
    std::fs::write(root.join("victim/marker"), "the image's own file").unwrap();
    std::os::unix::fs::symlink("/victim", root.join("etc/nanoclaw")).unwrap();
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nCOPY root/ /\nCMD [\"/none\"]\n",
    )
    .unwrap();
    docker([
        "build",
        "-q",
        "--network",
        "none",
        "--label",
        "nanoclaw.test=true",
        "-t",
        tag,
        dir.to_str().unwrap(),
    ])
    .expect("building the symlinked image");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_at_the_ca_directory_is_refused_and_nothing_is_left() {
    let Some(inner) = support::docker::connect().await else {
        return;
    };
    let workspace = tempfile::tempdir().unwrap();
    let ca_path = workspace.path().join("proxy-ca.crt");
    std::fs::write(&ca_path, TestCa::new("Redirect CA").pem()).unwrap();
    let vars = |name: &str| (name == "HTTPS_PROXY").then(|| "http://proxy.invalid:3128".into());
    let env = SandboxEnv::detect_from(vars, &DetectOptions::default().with_explicit_ca(&ca_path))
        .unwrap();
    let runtime = SandboxRuntime::builder(inner)
        .env(env)
        .workspace_root(workspace.path())
        .system_roots(SystemRoots::Builtin)
        .build()
        .unwrap();
    let bad = support::docker::unique_tag("nanoclaw-ca-symlink");
    let good = support::docker::unique_tag("nanoclaw-ca-plain");
    let _images = ImageGuard::of([bad.clone(), good.clone()]);
    let build_dir = tempfile::tempdir().unwrap();
    symlinked_image(build_dir.path(), &bad);
    support::docker::scratch_image(runtime.inner(), &good).await;
    let spec = |image: &str| {
        ContainerSpec::builder(image)
            .network(NetworkMode::None)
            .label(TEST, "true")
            .build()
            .unwrap()
    };

    let err = runtime.create(&spec(&bad)).await.unwrap_err();
    let RuntimeError::RedirectedMount {
        path, link_target, ..
    } = &err
    else {
        panic!("expected RedirectedMount, got {err:?}: {err}")
    };
    assert_eq!(
        (path.as_str(), link_target.as_str()),
        ("/etc/nanoclaw", "/victim")
    );
    let text = err.to_string();
    assert!(
        text.contains(&bad) && text.contains("remove the symlink"),
        "{text}"
    );
    let left = docker(["ps", "-aq", "--filter", &format!("ancestor={bad}")]).unwrap();
    assert!(left.is_empty(), "the refused container is removed: {left}");

    // Control: no symlink, created as usual.
    let id = runtime.create(&spec(&good)).await.unwrap();
    // The verdict is kept per image: the symlinked one is refused again.
    assert!(matches!(
        runtime.create(&spec(&bad)).await,
        Err(RuntimeError::RedirectedMount { .. })
    ));
    // What the check costs a create (once per image): one stat per path component.
    let started = std::time::Instant::now();
    for path in ["/etc", "/etc/nanoclaw", "/etc/nanoclaw/ca"] {
        assert_eq!(runtime.link_target(&id, path).await.unwrap(), None);
    }
    println!("the CA path check: 3 stats in {:?}", started.elapsed());
    runtime.remove(&id, true).await.unwrap();
}
