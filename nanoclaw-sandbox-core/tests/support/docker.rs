//! The core's Docker tests through the library's own runtime: connecting or
//! skipping, an install id of each test's own, images to create containers
//! from. (Docker-CLI helpers, the image guard and container listing by
//! label are the test kit's: `nanoclaw_testkit::docker`.)

use nanoclaw_sandbox_core::runtime::docker::{DockerOptions, DockerRuntime};
use nanoclaw_sandbox_core::runtime::{
    BuildRequest, ImageBuilder, InstallId, InstanceId, RuntimeError, TEST,
};
use nanoclaw_sandbox_core::spec::NetworkMode;
use nanoclaw_testkit::prereq;
use nanoclaw_testkit::tar::tar_context;

/// An install id of its own for each test: cleanup in one test can then
/// never touch another test's (or another developer's) containers.
pub fn test_install() -> InstallId {
    let unique = InstanceId::generate();
    InstallId::new(format!("test-{unique}")).expect("a generated id is valid")
}

/// Connects with `options`; `None` (after `prereq::missing`) when no daemon answers.
pub async fn connect_with(options: DockerOptions) -> Option<DockerRuntime> {
    let connected = DockerRuntime::connect(options).await;
    prereq::or_skip("Docker daemon", connected, |e| {
        matches!(e, RuntimeError::DaemonUnreachable { .. })
    })
}

/// Connects as a fresh test install.
pub async fn connect() -> Option<DockerRuntime> {
    connect_with(DockerOptions::new(test_install())).await
}

/// A tag no other test run uses.
pub fn unique_tag(repo: &str) -> String {
    format!("{repo}:{}", InstanceId::generate())
}

/// Builds a `FROM scratch` image holding one text file: enough to create
/// (not run) containers. Labelled `nanoclaw.test=true`.
pub async fn scratch_image(runtime: &DockerRuntime, tag: &str) -> String {
    let context = tar_context(&[
        (
            "Dockerfile",
            "FROM scratch\nCOPY marker /marker\nCMD [\"/none\"]\n",
        ),
        ("marker", tag),
    ]);
    let request = BuildRequest::new(context)
        .tag(tag)
        .label(TEST, "true")
        .network(NetworkMode::None);
    runtime
        .build(request, &mut |_| {})
        .await
        .expect("building a FROM scratch test image");
    tag.to_string()
}
