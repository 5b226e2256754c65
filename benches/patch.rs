//! What the sandbox layer adds to every agent spawn before Docker sees it:
//! patching a typical agent spec, in standard Docker mode (identity: the
//! cost of the check alone) and in an intercepting sandbox (proxy variables,
//! CA mount, trust variables, `/dev/null` swap), side by side with cloning
//! the spec (the floor). Pure CPU, no Docker.
//!
//! `cargo bench --bench patch`.

use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use nanoclaw_sandbox_core::proxy::{ProxySettings, ProxyUrl};
use nanoclaw_sandbox_core::sandbox::{CaSource, InstancePaths, Mode, ProxyCa, SandboxPatcher};
use nanoclaw_sandbox_core::spec::{ContainerSpec, Mount};
use nanoclaw_sandbox_core::trust::TrustStore;
use nanoclaw_testkit::ca::TestCa;

fn agent_spec() -> ContainerSpec {
    let mut builder = ContainerSpec::builder("nanoclaw-agent:latest")
        .command(["node", "/app/dist/index.js"])
        .mount(Mount::bind("/ws/groups/main", "/workspace/group", false))
        .mount(Mount::bind(
            "/ws/data/sessions/main",
            "/home/node/.claude",
            false,
        ))
        .mount(Mount::bind("/dev/null", "/workspace/project/.env", true))
        .user("1000:1000");
    for i in 0..20 {
        builder = builder.env(format!("AGENT_SETTING_{i}"), format!("value-{i}"));
    }
    builder.build().expect("a valid spec")
}

fn proxy_ca() -> ProxyCa {
    let pem = TestCa::new("Bench Proxy CA").pem().to_string();
    let store = TrustStore::from_pem(pem.as_bytes(), "bench").expect("a CA store");
    ProxyCa::new(store, CaSource::EnvBase64)
}

fn sandbox_patcher() -> SandboxPatcher {
    let url = ProxyUrl::parse("http://gateway.docker.internal:3128").expect("a proxy URL");
    let mode = Mode::Proxied {
        proxy: ProxySettings {
            http: Some(url.clone()),
            https: Some(url),
            all: None,
            no_proxy: Some("localhost,.internal.example".into()),
        },
        ca: Some(proxy_ca()),
    };
    let paths = InstancePaths {
        empty_file: PathBuf::from("/ws/.nanoclaw/instances/a/b/empty"),
        ca_dir: PathBuf::from("/ws/.nanoclaw/instances/a/b/ca"),
    };
    SandboxPatcher::new(&mode, Some(paths)).expect("a patcher")
}

fn bench(c: &mut Criterion) {
    let spec = agent_spec();
    let standard = SandboxPatcher::standard_docker();
    let sandbox = sandbox_patcher();
    let mut group = c.benchmark_group("patch");
    group.bench_function("clone (floor)", |b| b.iter(|| spec.clone()));
    group.bench_function("standard docker (identity)", |b| {
        b.iter(|| standard.patch(&spec).expect("patches"))
    });
    group.bench_function("intercepting sandbox", |b| {
        b.iter(|| sandbox.patch(&spec).expect("patches"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
