//! Shared by the Docker tests (core and CLI): connecting or skipping,
//! per-run install ids, and cleanup that survives a failing test.
//!
//! Include next to `support`: `mod support; mod docker_support;` (the CLI
//! tests do so with `#[path]`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;

use nanoclaw_sandbox_core::runtime::docker::{DockerOptions, DockerRuntime};
use nanoclaw_sandbox_core::runtime::{
    BuildRequest, ContainerRuntime, ImageBuilder, InstallId, InstanceId, RuntimeError, INSTALL,
    TEST,
};

use crate::support;

// By path, not through `crate::support`: the CLI's tests include this file
// with only `support/prereq.rs` as their `support`. Core tests that include
// `support` as well load the file twice, deliberately.
#[allow(clippy::duplicate_mod)]
#[path = "../support/tar_context.rs"]
mod tar_files;
pub use tar_files::tar_context;

/// An install id of its own for each test: cleanup in one test can then
/// never touch another test's (or another developer's) containers.
pub fn test_install() -> InstallId {
    let unique = InstanceId::generate();
    InstallId::new(format!("test-{unique}")).expect("a generated id is valid")
}

/// Connects with `options`; `None` (after `support::missing`) when no daemon.
pub async fn connect_with(options: DockerOptions) -> Option<DockerRuntime> {
    match DockerRuntime::connect(options).await {
        Ok(runtime) => Some(runtime),
        Err(e @ RuntimeError::DaemonUnreachable { .. }) => {
            support::missing("Docker daemon", &e.to_string());
            None
        }
        Err(e) => panic!("connecting to Docker failed unexpectedly: {e}"),
    }
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
        .network(nanoclaw_sandbox_core::spec::NetworkMode::None);
    runtime
        .build(request, &mut |_| {})
        .await
        .expect("building a FROM scratch test image");
    tag.to_string()
}

/// Removes the listed image tags when dropped, even when the test panicked
/// (on a thread with its own runtime, since the test's may be gone).
pub struct ImageCleanup {
    pub tags: Vec<String>,
}

impl Drop for ImageCleanup {
    fn drop(&mut self) {
        let tags = std::mem::take(&mut self.tags);
        if tags.is_empty() {
            return;
        }
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a cleanup runtime");
            runtime.block_on(async {
                let Ok(docker) = DockerRuntime::connect(DockerOptions::new(test_install())).await
                else {
                    return;
                };
                for tag in tags {
                    match docker.remove_image(&tag, true).await {
                        Ok(()) | Err(RuntimeError::ImageNotFound { .. }) => {}
                        Err(e) => {
                            let _ = writeln!(std::io::stderr(), "leftover test image {tag}: {e}");
                        }
                    }
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Every container of `install`, whatever its state.
pub async fn containers_of(runtime: &DockerRuntime, install: &InstallId) -> Vec<String> {
    let selector = BTreeMap::from([(INSTALL.to_string(), install.as_str().to_string())]);
    runtime
        .list(&selector)
        .await
        .expect("listing containers")
        .into_iter()
        .map(|c| c.id.to_string())
        .collect()
}
