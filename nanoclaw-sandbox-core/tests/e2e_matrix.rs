//! The end-to-end matrix, through the library itself: the sandbox's
//! environment goes through `SandboxEnv` detection, containers are created by
//! `SandboxRuntime<DockerRuntime>` and run with `AgentHandle`. The same cases
//! run against mitmproxy and against the project's stand-in, each named
//! `PROXY/CLIENT/CASE`:
//!
//! - `PROXY/{node,curl,python3,git,node24-fetch,node24-https,deno}/patched`:
//!   through the intercepting proxy with TLS verification on (Node 24 through
//!   its own proxy support, which the patched `NODE_USE_ENV_PROXY=1` turns
//!   on: it cannot resolve the upstream's name, so only the proxy gets it
//!   there);
//! - `PROXY/{node24-fetch,node24-https}/no-env-proxy-goes-direct`: their
//!   control, the same container with `NODE_USE_ENV_PROXY` removed: Node 24
//!   ignores the proxy variables and fails to resolve the name;
//! - `PROXY/{curl,python3,git}/bypass`: a `NO_PROXY` host reached directly
//!   with a certificate from the test public CA still verifies
//!   (`ca-bundle.pem` = public roots + proxy CA);
//! - `PROXY/node/extra-ca-is-the-proxy-ca-alone`;
//! - `PROXY/curl/untrusted-upstream-refused`: the proxy itself verifies
//!   upstreams (an unknown CA's certificate: 502);
//! - `PROXY/{node,curl,python3,git,node24-fetch,node24-https,deno}/ca-missing`:
//!   the negative control, proxy variables forwarded but no CA: each
//!   client's own certificate error;
//! - `PROXY/curl/translated`: a default-bridge container given a loopback
//!   proxy URL reaches the proxy (listening on every address) after the
//!   patcher's translation, and `PROXY/curl/untranslated`, its control.
//!
//! Image builds: `tests/e2e_build.rs`.
//!
//! Run: `NANOCLAW_REQUIRE_DOCKER=1 cargo test -p nanoclaw-sandbox-core --features full --test e2e_matrix -- --show-output`

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use nanoclaw_sandbox_core::runtime::ContainerRuntime;
use nanoclaw_sandbox_core::sandbox::Severity;
use nanoclaw_sandbox_core::spec::{ContainerSpec, NetworkMode};
use nanoclaw_sandbox_core::trust::CONTAINER_CA_FILE;
use nanoclaw_testkit::docker::{RUN_TIMEOUT, TEST_LABEL};
use nanoclaw_testkit::mitm::Route;
use nanoclaw_testkit::Context;
use support::e2e::{
    self, hello_body, run_cases_with, sandbox_env, Case, Client, Expect, Library, Proxy, ProxyKind,
    Stage, Target, BYPASS_HOST, DNS_NOWHERE, HELLO_PATH, UPSTREAM_HOST,
};

type TestResult = nanoclaw_testkit::Result<()>;

#[test]
fn matrix_against_mitmproxy() -> TestResult {
    matrix(ProxyKind::Mitmproxy)
}

#[test]
fn matrix_against_the_standin() -> TestResult {
    matrix(ProxyKind::Standin)
}

fn matrix(kind: ProxyKind) -> TestResult {
    let Some(prereqs) = e2e::ready() else {
        return Ok(());
    };
    let stage = Stage::start_with(&prereqs, kind)?;
    let library = Library::connect()?;
    let workspace = tempfile::tempdir().context(|| "a workspace".to_string())?;
    let roots = stage.public_ca_path();
    let p = kind.name();
    let no_proxy = BYPASS_HOST;

    // Patched: the intercepting proxy's environment, CA included.
    let env = sandbox_env(
        &stage.proxy.proxy_url(),
        no_proxy,
        Some(stage.proxy.ca_pem()),
    )?;
    let patched = library.sandbox(env, roots, workspace.path())?;
    let mut cases: Vec<Case> = Client::ALL
        .into_iter()
        .map(|c| {
            stage.fetch_case_named(
                format!("{p}/{}/patched", c.name()),
                c,
                Target::Upstream,
                Expect::succeeds,
            )
        })
        .collect();
    cases.extend(Client::BUNDLE_READERS.into_iter().map(|c| {
        stage.fetch_case_named(
            format!("{p}/{}/bypass", c.name()),
            c,
            Target::Bypass,
            Expect::succeeds,
        )
    }));
    // The proxy verifies upstreams (never skips it): a certificate from a
    // CA nobody trusts gets the client a 502, however the client trusts.
    cases.push(stage.fetch_case_named(
        format!("{p}/curl/untrusted-upstream-refused"),
        Client::Curl,
        Target::Untrusted,
        |_| Expect::Fails {
            exit: Some(22),
            output_any_of: vec!["returned error: 502".into()],
        },
    ));
    // Node trusts its own roots, not the bundle: its variable must hold
    // the proxy CA alone.
    cases.push(Case::new(
        format!("{p}/node/extra-ca-is-the-proxy-ca-alone"),
        vec![
            "sh".into(),
            "-c".into(),
            "echo \"$NODE_EXTRA_CA_CERTS\"; cat \"$NODE_EXTRA_CA_CERTS\"".into(),
        ],
        Expect::OutputIs(format!(
            "{CONTAINER_CA_FILE}\n{}",
            stage.proxy.ca_pem().trim()
        )),
    ));
    // Node 24 honours the proxy variables only with NODE_USE_ENV_PROXY=1
    // (set by the patch): without it, it goes direct and cannot resolve the
    // upstream's name (the DNS answers nothing: EAI_AGAIN after ~10 s).
    for c in [Client::Node24Fetch, Client::Node24Https] {
        let mut argv: Vec<String> = vec!["env".into(), "-u".into(), "NODE_USE_ENV_PROXY".into()];
        argv.extend(c.command(&stage.url(Target::Upstream, HELLO_PATH)));
        cases.push(Case::new(
            format!("{p}/{}/no-env-proxy-goes-direct", c.name()),
            argv,
            Expect::Fails {
                exit: Some(1),
                output_any_of: vec![
                    format!("EAI_AGAIN: getaddrinfo EAI_AGAIN {UPSTREAM_HOST}"),
                    format!("ENOTFOUND: getaddrinfo ENOTFOUND {UPSTREAM_HOST}"),
                ],
            },
        ));
    }
    let runner = library.runner(patched.clone());
    let report = run_cases_with(
        &runner,
        &format!("{p}/patched"),
        stage.agent_spec(),
        cases,
        RUN_TIMEOUT,
    )?;
    report.assert_all_pass();
    let patch_report = patched.last_report().expect("the create kept its report");
    assert!(
        patch_report.at_least(Severity::Warn).next().is_none(),
        "the patch of a plain agent spec has nothing to warn about:\n{patch_report}"
    );
    stage.assert_peers(Client::ALL.len());
    let untrusted = stage.untrusted.hits();
    assert!(
        untrusted.is_empty(),
        "the proxy passed requests to an upstream it cannot verify: {untrusted:?}"
    );

    // Negative control: the proxy's variables, but no CA.
    let env = sandbox_env(&stage.proxy.proxy_url(), no_proxy, None)?;
    let unpatched_ca = library.sandbox(env, roots, workspace.path())?;
    assert!(unpatched_ca.instance_dir().is_none(), "no CA, no CA files");
    let hits_before = stage.upstream.hits().len();
    let cases: Vec<Case> = Client::ALL
        .into_iter()
        .map(|c| {
            stage.fetch_case_named(
                format!("{p}/{}/ca-missing", c.name()),
                c,
                Target::Upstream,
                |_| c.certificate_error(),
            )
        })
        .collect();
    let report = run_cases_with(
        &library.runner(unpatched_ca),
        &format!("{p}/ca-missing"),
        stage.agent_spec(),
        cases,
        RUN_TIMEOUT,
    )?;
    report.assert_all_pass();
    assert_eq!(
        stage.upstream.hits().len(),
        hits_before,
        "without the CA no request may reach the upstream"
    );

    translation(&library, &stage, kind, workspace.path())
}

/// A container on Docker's default bridge, its DNS answering nothing, given
/// the loopback URL of a proxy that listens on every address (as a host's
/// local proxy would): the patcher rewrites it to `host.docker.internal`
/// (host-gateway, docker0's address), which reaches the proxy. The same
/// container unpatched tries its own loopback and is refused.
fn translation(
    library: &Library,
    stage: &Stage,
    kind: ProxyKind,
    workspace: &std::path::Path,
) -> TestResult {
    let p = kind.name();
    // Routes only the upstream: even on every address it relays nothing else.
    let proxy = Proxy::start(
        kind,
        IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        stage.public_ca_path(),
        &[Route::new(UPSTREAM_HOST, stage.upstream.addr())],
    )?;
    let loopback = proxy.loopback_url();
    let spec = || {
        ContainerSpec::builder(&stage.image)
            .network(NetworkMode::Default)
            .dns(DNS_NOWHERE)
            .label(TEST_LABEL.0, TEST_LABEL.1)
            .auto_remove(true)
    };
    let url = format!("https://{UPSTREAM_HOST}/hello");
    let env = sandbox_env(&loopback, "", Some(proxy.ca_pem()))?;
    let sandbox = library.sandbox(env, stage.public_ca_path(), workspace)?;
    let translated = format!("http://host.docker.internal:{}", proxy.addr().port());
    let cases = vec![
        Case::new(
            format!("{p}/curl/translated-proxy-variable"),
            vec!["sh".into(), "-c".into(), "echo \"$HTTPS_PROXY\"".into()],
            Expect::OutputIs(translated),
        ),
        Case::new(
            format!("{p}/curl/translated"),
            Client::Curl.command(&url),
            Expect::succeeds(hello_body(UPSTREAM_HOST)),
        ),
    ];
    let report = run_cases_with(
        &library.runner(sandbox.clone()),
        &format!("{p}/translated"),
        spec(),
        cases,
        RUN_TIMEOUT,
    )?;
    report.assert_all_pass();
    let patch_report = sandbox.last_report().expect("the create kept its report");
    assert!(
        patch_report
            .entries()
            .iter()
            .any(|e| e.message.contains("host.docker.internal")),
        "the report names the translation:\n{patch_report}"
    );

    // Control: the same URL handed to the container as is.
    let unpatched: Arc<dyn ContainerRuntime> = Arc::new(library.docker().clone());
    let cases = vec![Case::new(
        format!("{p}/curl/untranslated"),
        Client::Curl.command(&url),
        Expect::Fails {
            exit: Some(7),
            output_any_of: vec!["Failed to connect to 127.0.0.1".into()],
        },
    )];
    let report = run_cases_with(
        &library.runner(unpatched),
        &format!("{p}/untranslated"),
        spec()
            .env("HTTPS_PROXY", &loopback)
            .env("https_proxy", &loopback),
        cases,
        RUN_TIMEOUT,
    )?;
    report.assert_all_pass();
    Ok(())
}
