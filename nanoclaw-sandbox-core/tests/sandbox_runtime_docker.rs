//! `SandboxRuntime<DockerRuntime>` on the real daemon, for what the matrix
//! does not show: a non-root agent (uid 1000) reads the CA files, a
//! `/dev/null` bind becomes an empty file, a rotated CA reaches a *running*
//! container through the directory mount, the engine reports base image
//! users, and orphan cleanup removes an earlier process's instance directory.

mod support;

use std::sync::Arc;
use std::time::Duration;

use nanoclaw_sandbox_core::runtime::docker::DockerOptions;
use nanoclaw_sandbox_core::runtime::{AgentHandle, ContainerRuntime, InstanceId};
use nanoclaw_sandbox_core::sandbox::{DetectOptions, SandboxEnv, SandboxRuntime};
use nanoclaw_sandbox_core::spec::{ContainerSpec, Mount, NetworkMode};
use nanoclaw_sandbox_core::trust::SystemRoots;
use nanoclaw_testkit::ca::TestCa;
use support::docker::test_install;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_root_agent_reads_the_ca_and_sees_it_rotate() {
    let Some(image) = support::e2e::debian_image() else {
        return;
    };
    let install = test_install();
    let Some(docker) = support::docker::connect_with(
        DockerOptions::new(install.clone()).instance(InstanceId::new("now").unwrap()),
    )
    .await
    else {
        return;
    };
    let workspace = tempfile::tempdir().unwrap();
    // An earlier process of this install that crashed left its directory.
    let earlier = workspace
        .path()
        .join(".nanoclaw/instances")
        .join(install.as_str())
        .join("earlier");
    std::fs::create_dir_all(earlier.join("ca")).unwrap();

    let ca_path = workspace.path().join("proxy-ca.crt");
    let first = TestCa::new("Rotating Sandbox CA 1").pem().to_string();
    std::fs::write(&ca_path, &first).unwrap();
    let vars = |name: &str| (name == "HTTPS_PROXY").then(|| "http://proxy.invalid:3128".into());
    let env = SandboxEnv::detect_from(vars, &DetectOptions::default().with_explicit_ca(&ca_path))
        .unwrap();
    let runtime = Arc::new(
        SandboxRuntime::builder(docker)
            .env(env)
            .workspace_root(workspace.path())
            .system_roots(SystemRoots::Builtin)
            .build()
            .unwrap(),
    );
    runtime.cleanup_orphans().await.unwrap();
    assert!(
        !earlier.exists(),
        "the earlier instance's directory is gone"
    );
    let own = runtime.instance_dir().unwrap().path().to_path_buf();
    assert!(own.is_dir());

    let spec = ContainerSpec::builder(&image)
        .network(NetworkMode::None)
        .user("1000:1000")
        .mount(Mount::bind("/dev/null", "/app/.env", true))
        .label(nanoclaw_sandbox_core::runtime::TEST, "true")
        .command(["sleep", "60"])
        .build()
        .unwrap();
    let agent = AgentHandle::spawn(runtime.clone(), &spec).await.unwrap();
    let sh = |script: &str| vec!["sh".to_string(), "-c".to_string(), script.to_string()];

    let seen = agent
        .exec(&sh(
            "id -u; stat -c '%s %F' /app/.env; cat \"$NODE_EXTRA_CA_CERTS\"; \
                   grep -c 'BEGIN CERTIFICATE' \"$SSL_CERT_FILE\"",
        ))
        .await
        .unwrap();
    assert_eq!(seen.exit_code, 0, "{}", text(&seen.stderr));
    let out = text(&seen.stdout);
    let roots = SystemRoots::Builtin.load().unwrap();
    let bundle_certs = roots.pem().matches("BEGIN CERTIFICATE").count() + 1;
    let expected = format!(
        "1000\n0 regular empty file\n{}\n{bundle_certs}",
        first.trim()
    );
    assert_eq!(out.trim(), expected.trim());

    // The CA rotates on the host: the running container sees the new one.
    let second = TestCa::new("Rotating Sandbox CA 2").pem().to_string();
    std::fs::write(&ca_path, &second).unwrap();
    assert!(runtime.reload().unwrap());
    let seen = agent
        .exec(&sh(
            "cat \"$NODE_EXTRA_CA_CERTS\"; tail -c 2000 \"$SSL_CERT_FILE\"",
        ))
        .await
        .unwrap();
    let out = text(&seen.stdout);
    assert!(out.starts_with(second.trim()), "{out}");
    assert!(
        out.trim_end().ends_with(second.trim()),
        "bundle ends with the new CA"
    );
    assert!(!out.contains(first.trim()), "the old CA is gone");

    agent.stop(Duration::from_secs(1)).await.unwrap();
    agent.remove().await.unwrap();
    drop(runtime);
    assert!(
        !own.exists(),
        "the instance directory goes with the runtime"
    );
}
