//! `SandboxPatcher`: one test per rule, plus the invariants (identity in
//! standard Docker mode, idempotence, no secrets in reports, never
//! `NODE_TLS_REJECT_UNAUTHORIZED=0` unless asked).

use std::path::PathBuf;

use nanoclaw_sandbox_core::proxy::{ProxySettings, ProxyUrl};
use nanoclaw_sandbox_core::sandbox::patch::{NODE_TLS_REJECT_UNAUTHORIZED, NODE_USE_ENV_PROXY};
use nanoclaw_sandbox_core::sandbox::{
    CaSource, InstancePaths, Mode, PatchError, PatchKind, PatchReport, ProxyCa, SandboxPatcher,
    Severity,
};
use nanoclaw_sandbox_core::spec::{ContainerSpec, ContainerSpecBuilder, Mount, NetworkMode};
use nanoclaw_sandbox_core::trust::{
    TrustStore, TrustVarKind, CONTAINER_BUNDLE_FILE, CONTAINER_CA_DIR, CONTAINER_CA_FILE,
    TRUST_VARS,
};
use nanoclaw_testkit::ca::TestCa;

const EMPTY: &str = "/ws/.nanoclaw/instances/i1/empty";
const CA_DIR: &str = "/ws/.nanoclaw/instances/i1/ca";

fn settings(http: &str, https: &str, all: Option<&str>, no_proxy: Option<&str>) -> ProxySettings {
    ProxySettings {
        http: Some(ProxyUrl::parse(http).unwrap()),
        https: Some(ProxyUrl::parse(https).unwrap()),
        all: all.map(|a| ProxyUrl::parse(a).unwrap()),
        no_proxy: no_proxy.map(str::to_string),
    }
}

fn sandbox_proxy() -> ProxySettings {
    let url = "http://gateway.docker.internal:3128";
    settings(url, url, None, Some(".corp.test"))
}

fn ca() -> ProxyCa {
    let store =
        TrustStore::from_pem(TestCa::new("Sandbox Proxy CA").pem().as_bytes(), "t").unwrap();
    ProxyCa::new(store, CaSource::EnvBase64)
}

fn paths() -> InstancePaths {
    InstancePaths {
        empty_file: PathBuf::from(EMPTY),
        ca_dir: PathBuf::from(CA_DIR),
    }
}

fn intercepting(proxy: ProxySettings) -> SandboxPatcher {
    let mode = Mode::Proxied {
        proxy,
        ca: Some(ca()),
    };
    SandboxPatcher::new(&mode, Some(paths())).unwrap()
}

fn plain(proxy: ProxySettings) -> SandboxPatcher {
    SandboxPatcher::new(&Mode::Proxied { proxy, ca: None }, None).unwrap()
}

fn agent() -> ContainerSpecBuilder {
    ContainerSpec::builder("nanoclaw-agent:latest").command(["node", "/app/index.js"])
}

fn json(spec: &ContainerSpec) -> serde_json::Value {
    serde_json::to_value(spec).unwrap()
}

/// Whether the report has a warning of `kind` whose line contains `needle`.
fn warns(report: &PatchReport, kind: PatchKind, needle: &str) -> bool {
    report
        .entries()
        .iter()
        .any(|e| e.kind == kind && e.severity == Severity::Warn && e.to_string().contains(needle))
}

fn entries(report: &PatchReport, kind: PatchKind) -> Vec<String> {
    report
        .entries()
        .iter()
        .filter(|e| e.kind == kind)
        .map(ToString::to_string)
        .collect()
}

/// A spread of specs exercising every rule.
fn sample_specs() -> Vec<ContainerSpec> {
    vec![
        agent().build().unwrap(),
        agent()
            .mount(Mount::bind("/dev/null", "/app/.env", false))
            .mount(Mount::bind("/srv/data", "/data", true))
            .mount(Mount::tmpfs("/tmp", None))
            .build()
            .unwrap(),
        agent()
            .env("HTTPS_PROXY", "http://corp:8080")
            .env("no_proxy", "internal.test")
            .env("SSL_CERT_FILE", "/opt/bundle.pem")
            .build()
            .unwrap(),
        agent()
            .env("http_proxy", "http://a:1")
            .env("HTTP_PROXY", "http://b:2")
            .build()
            .unwrap(),
        agent().network(NetworkMode::Host).build().unwrap(),
        agent()
            .network(NetworkMode::Container("other".into()))
            .build()
            .unwrap(),
        agent()
            .env("CURL_CA_BUNDLE", CONTAINER_CA_FILE)
            .extra_host("host.docker.internal", "10.1.2.3")
            .build()
            .unwrap(),
        agent()
            .env("ANTHROPIC_API_KEY", "sk-ant-secret")
            .env(NODE_TLS_REJECT_UNAUTHORIZED, "0")
            .build()
            .unwrap(),
        agent().env(NODE_USE_ENV_PROXY, "0").build().unwrap(),
    ]
}

fn patchers() -> Vec<(&'static str, SandboxPatcher)> {
    let loopback = "http://user:hunter2@127.0.0.1:3128";
    vec![
        ("intercepting", intercepting(sandbox_proxy())),
        (
            "intercepting loopback with ALL_PROXY",
            intercepting(settings(loopback, loopback, Some(loopback), None))
                .with_host_names(["agent-host", "host.docker.internal"]),
        ),
        ("plain", plain(sandbox_proxy())),
        (
            "insecure",
            intercepting(sandbox_proxy()).with_insecure_dev_mode(true),
        ),
    ]
}

#[test]
fn standard_docker_mode_changes_nothing() {
    let from_mode = SandboxPatcher::new(&Mode::StandardDocker, Some(paths())).unwrap();
    for patcher in [SandboxPatcher::standard_docker(), from_mode] {
        for spec in sample_specs() {
            let (patched, report) = patcher.patch(&spec).unwrap();
            assert_eq!(json(&patched), json(&spec));
            assert_eq!(patched, spec);
            assert!(report.is_empty(), "{report}");
        }
    }
}

#[test]
fn patching_twice_is_patching_once() {
    for (name, patcher) in patchers() {
        for spec in sample_specs() {
            let (once, _) = patcher.patch(&spec).unwrap();
            let (twice, report) = patcher.patch(&once).unwrap();
            assert_eq!(json(&twice), json(&once), "{name}: {spec:?}");
            // Nothing is changed the second time; only the standing note
            // about the translated proxy address repeats.
            let changes: Vec<_> = report
                .entries()
                .iter()
                .filter(|e| e.severity == Severity::Info && e.kind != PatchKind::ProxyTranslation)
                .collect();
            assert!(
                changes.is_empty(),
                "{name}: second pass changed {changes:?}"
            );
        }
    }
}

#[test]
fn dev_null_binds_become_a_read_only_empty_file() {
    let spec = &sample_specs()[1];
    let (patched, report) = intercepting(sandbox_proxy()).patch(spec).unwrap();
    let env_mount = patched
        .mounts()
        .iter()
        .find(|m| m.target() == "/app/.env")
        .unwrap();
    assert_eq!(env_mount, &Mount::bind(EMPTY, "/app/.env", true));
    // Other mounts are untouched.
    assert!(patched
        .mounts()
        .contains(&Mount::bind("/srv/data", "/data", true)));
    assert!(patched.mounts().contains(&Mount::tmpfs("/tmp", None)));
    let notes = entries(&report, PatchKind::DevNullMount);
    assert_eq!(notes.len(), 1, "{report}");
    assert!(
        notes[0].contains("/app/.env") && notes[0].contains(EMPTY),
        "{}",
        notes[0]
    );
}

#[test]
fn a_plain_proxy_forwards_variables_and_mounts_nothing() {
    let spec = &sample_specs()[1];
    let (patched, report) = plain(sandbox_proxy()).patch(spec).unwrap();
    assert_eq!(patched.mounts(), spec.mounts());
    for var in TRUST_VARS {
        assert_eq!(patched.env_value(var.name), None, "{}", var.name);
    }
    assert_eq!(
        patched.env_value("HTTPS_PROXY"),
        Some("http://gateway.docker.internal:3128")
    );
    assert!(entries(&report, PatchKind::CaMount).is_empty());
}

#[test]
fn proxy_variables_go_in_both_spellings_with_one_value() {
    let (patched, _) = intercepting(sandbox_proxy())
        .patch(&sample_specs()[0])
        .unwrap();
    for (upper, lower) in [("HTTP_PROXY", "http_proxy"), ("HTTPS_PROXY", "https_proxy")] {
        assert_eq!(
            patched.env_value(upper),
            Some("http://gateway.docker.internal:3128")
        );
        assert_eq!(patched.env_value(upper), patched.env_value(lower));
    }
    // ALL_PROXY only when set.
    assert_eq!(patched.env_value("ALL_PROXY"), None);
    assert_eq!(patched.env_value("all_proxy"), None);

    let url = "http://proxy.test:3128";
    let with_all = intercepting(settings(url, url, Some("http://all.test:1"), None));
    let (patched, _) = with_all.patch(&sample_specs()[0]).unwrap();
    assert_eq!(patched.env_value("ALL_PROXY"), Some("http://all.test:1"));
    assert_eq!(patched.env_value("all_proxy"), Some("http://all.test:1"));
}

#[test]
fn node_is_told_to_use_the_proxy_variables() {
    let loopback = "http://127.0.0.1:3128";
    for (name, patcher) in [
        ("intercepting", intercepting(sandbox_proxy())),
        ("plain", plain(sandbox_proxy())),
        (
            "loopback",
            intercepting(settings(loopback, loopback, None, None)),
        ),
    ] {
        let (patched, report) = patcher.patch(&sample_specs()[0]).unwrap();
        assert_eq!(patched.env_value(NODE_USE_ENV_PROXY), Some("1"), "{name}");
        assert_eq!(
            entries(&report, PatchKind::ProxyVariable)
                .iter()
                .filter(|e| e.contains("NODE_USE_ENV_PROXY=1"))
                .count(),
            1,
            "{name}: {report}"
        );
        // Also where the caller set the proxy variables themselves.
        let (patched, _) = patcher.patch(&sample_specs()[2]).unwrap();
        assert_eq!(patched.env_value(NODE_USE_ENV_PROXY), Some("1"), "{name}");
    }
}

#[test]
fn a_callers_node_use_env_proxy_is_kept_with_a_warning() {
    let spec = sample_specs().pop().unwrap();
    assert_eq!(spec.env_value(NODE_USE_ENV_PROXY), Some("0"));
    let (patched, report) = intercepting(sandbox_proxy()).patch(&spec).unwrap();
    assert_eq!(patched.env_value(NODE_USE_ENV_PROXY), Some("0"));
    assert!(
        warns(&report, PatchKind::ProxyVariable, "NODE_USE_ENV_PROXY=0")
            && warns(&report, PatchKind::ProxyVariable, "NODE_USE_ENV_PROXY=1"),
        "{report}"
    );
    // The caller's own "1" is simply left alone: nothing to report.
    let ones = agent().env(NODE_USE_ENV_PROXY, "1").build().unwrap();
    let (patched, report) = plain(sandbox_proxy()).patch(&ones).unwrap();
    assert_eq!(patched.env_value(NODE_USE_ENV_PROXY), Some("1"));
    assert!(
        !report
            .entries()
            .iter()
            .any(|e| e.subject == NODE_USE_ENV_PROXY),
        "{report}"
    );
}

#[test]
fn standard_docker_mode_sets_no_node_switch() {
    let (patched, report) = SandboxPatcher::standard_docker()
        .patch(&sample_specs()[0])
        .unwrap();
    assert_eq!(patched.env_value(NODE_USE_ENV_PROXY), None);
    assert!(report.is_empty(), "{report}");
    let spec = sample_specs().pop().unwrap();
    let (patched, _) = SandboxPatcher::standard_docker().patch(&spec).unwrap();
    assert_eq!(patched.env_value(NODE_USE_ENV_PROXY), Some("0"));
}

#[test]
fn the_node_switch_is_set_once_however_often_patched() {
    let patcher = intercepting(sandbox_proxy());
    let (once, _) = patcher.patch(&sample_specs()[0]).unwrap();
    let (twice, report) = patcher.patch(&once).unwrap();
    assert_eq!(once, twice);
    let count = twice
        .env()
        .iter()
        .filter(|v| v.name() == NODE_USE_ENV_PROXY)
        .count();
    assert_eq!(count, 1, "{twice:?}");
    assert!(
        !report
            .entries()
            .iter()
            .any(|e| e.subject == NODE_USE_ENV_PROXY),
        "{report}"
    );
}

#[test]
fn no_proxy_gets_loopback_and_host_names_once() {
    let patcher = intercepting(sandbox_proxy()).with_host_names(["agent-host", "LOCALHOST"]);
    let (patched, report) = patcher.patch(&sample_specs()[0]).unwrap();
    let expected = ".corp.test,localhost,127.0.0.1,::1,agent-host";
    assert_eq!(patched.env_value("NO_PROXY"), Some(expected));
    assert_eq!(patched.env_value("no_proxy"), Some(expected));
    assert_eq!(entries(&report, PatchKind::NoProxy).len(), 2, "{report}");
}

#[test]
fn a_callers_no_proxy_is_kept_and_extended() {
    let (patched, report) = intercepting(sandbox_proxy())
        .patch(&sample_specs()[2])
        .unwrap();
    let expected = "internal.test,localhost,127.0.0.1,::1";
    assert_eq!(patched.env_value("no_proxy"), Some(expected));
    assert_eq!(patched.env_value("NO_PROXY"), Some(expected));
    assert!(
        warns(&report, PatchKind::NoProxy, "internal.test"),
        "{report}"
    );
}

#[test]
fn the_ca_directory_is_mounted_and_trust_variables_point_into_it() {
    let (patched, report) = intercepting(sandbox_proxy())
        .patch(&sample_specs()[0])
        .unwrap();
    let ca_mount = patched
        .mounts()
        .iter()
        .find(|m| m.target() == CONTAINER_CA_DIR)
        .unwrap();
    assert_eq!(ca_mount, &Mount::bind(CA_DIR, CONTAINER_CA_DIR, true));
    for var in TRUST_VARS {
        let expected = match var.kind {
            TrustVarKind::Additive => CONTAINER_CA_FILE,
            TrustVarKind::Replacing => CONTAINER_BUNDLE_FILE,
        };
        assert_eq!(patched.env_value(var.name), Some(expected), "{}", var.name);
    }
    assert_eq!(
        entries(&report, PatchKind::TrustVariable).len(),
        TRUST_VARS.len()
    );
    assert!(!report.has_errors(), "{report}");
}

#[test]
fn a_loopback_proxy_is_translated_for_bridge_containers() {
    let url = "http://127.0.0.1:3128";
    let patcher = intercepting(settings(url, "http://localhost:3129", None, None));
    let (patched, report) = patcher.patch(&sample_specs()[0]).unwrap();
    assert_eq!(
        patched.env_value("http_proxy"),
        Some("http://host.docker.internal:3128")
    );
    assert_eq!(
        patched.env_value("HTTPS_PROXY"),
        Some("http://host.docker.internal:3129")
    );
    let hosts: Vec<_> = patched
        .extra_hosts()
        .iter()
        .map(|h| format!("{}:{}", h.name, h.address))
        .collect();
    assert_eq!(hosts, ["host.docker.internal:host-gateway"]);
    let notes = entries(&report, PatchKind::ProxyTranslation);
    assert_eq!(notes.len(), 2, "{report}");
    assert!(notes[0].contains("bridge gateway"), "{}", notes[0]);

    // Named (user-defined bridge) networks are translated the same way.
    let named = agent()
        .network(NetworkMode::Named("agents".into()))
        .build()
        .unwrap();
    let (patched, _) = patcher.patch(&named).unwrap();
    assert_eq!(
        patched.env_value("http_proxy"),
        Some("http://host.docker.internal:3128")
    );
}

#[test]
fn host_network_containers_keep_the_loopback_proxy() {
    let url = "http://127.0.0.1:3128";
    let patcher = intercepting(settings(url, url, None, None));
    let (patched, report) = patcher.patch(&sample_specs()[4]).unwrap();
    assert_eq!(patched.env_value("HTTPS_PROXY"), Some(url));
    assert!(patched.extra_hosts().is_empty());
    assert!(
        entries(&report, PatchKind::ProxyTranslation).is_empty(),
        "{report}"
    );
}

#[test]
fn docker_host_names_are_not_translated() {
    for url in [
        "http://host.docker.internal:3128",
        "http://gateway.docker.internal:3128",
    ] {
        let (patched, report) = intercepting(settings(url, url, None, None))
            .patch(&sample_specs()[0])
            .unwrap();
        assert_eq!(patched.env_value("https_proxy"), Some(url));
        assert!(patched.extra_hosts().is_empty(), "{url}");
        assert!(entries(&report, PatchKind::ProxyTranslation).is_empty());
    }
}

#[test]
fn shared_network_namespaces_get_no_extra_host() {
    let url = "http://127.0.0.1:3128";
    let (patched, report) = intercepting(settings(url, url, None, None))
        .patch(&sample_specs()[5])
        .unwrap();
    assert!(patched.extra_hosts().is_empty());
    assert!(
        warns(&report, PatchKind::ExtraHost, "container:other"),
        "{report}"
    );
}

#[test]
fn a_callers_docker_host_entry_is_kept_with_a_warning() {
    let url = "http://127.0.0.1:3128";
    let (patched, report) = intercepting(settings(url, url, None, None))
        .patch(&sample_specs()[6])
        .unwrap();
    let hosts: Vec<_> = patched
        .extra_hosts()
        .iter()
        .map(|h| h.address.as_str())
        .collect();
    assert_eq!(hosts, ["10.1.2.3"]);
    assert!(warns(&report, PatchKind::ExtraHost, "10.1.2.3"), "{report}");
}

#[test]
fn variables_the_caller_set_win_with_a_warning() {
    let (patched, report) = intercepting(sandbox_proxy())
        .patch(&sample_specs()[2])
        .unwrap();
    assert_eq!(patched.env_value("HTTPS_PROXY"), Some("http://corp:8080"));
    // The other spelling follows the caller's value: both cases stay identical.
    assert_eq!(patched.env_value("https_proxy"), Some("http://corp:8080"));
    assert_eq!(patched.env_value("SSL_CERT_FILE"), Some("/opt/bundle.pem"));
    let warned: Vec<_> = report
        .at_least(Severity::Warn)
        .map(|e| e.subject.as_str())
        .collect();
    assert!(warned.contains(&"HTTPS_PROXY"), "{report}");
    assert!(warned.contains(&"SSL_CERT_FILE"), "{report}");
    assert!(!report.has_errors(), "{report}");
}

#[test]
fn differing_spellings_from_the_caller_are_unified_on_lowercase() {
    let (patched, report) = intercepting(sandbox_proxy())
        .patch(&sample_specs()[3])
        .unwrap();
    assert_eq!(patched.env_value("http_proxy"), Some("http://a:1"));
    assert_eq!(patched.env_value("HTTP_PROXY"), Some("http://a:1"));
    assert!(
        report
            .at_least(Severity::Warn)
            .any(|e| e.message.contains("differently") && e.message.contains("http://b:2")),
        "{report}"
    );
}

#[test]
fn a_replacing_variable_on_the_ca_alone_is_an_error_and_fixed() {
    let (patched, report) = intercepting(sandbox_proxy())
        .patch(&sample_specs()[6])
        .unwrap();
    assert_eq!(
        patched.env_value("CURL_CA_BUNDLE"),
        Some(CONTAINER_BUNDLE_FILE)
    );
    let errors: Vec<_> = report.at_least(Severity::Error).collect();
    assert_eq!(errors.len(), 1, "{report}");
    assert_eq!(errors[0].subject, "CURL_CA_BUNDLE");
    assert_eq!(errors[0].kind, PatchKind::TrustVariable);

    // A path the caller declares CA-only counts too; an additive variable on
    // the CA alone is what additive variables are for.
    let spec = agent()
        .env("REQUESTS_CA_BUNDLE", "/opt/proxy-ca.crt")
        .env("NODE_EXTRA_CA_CERTS", "/opt/proxy-ca.crt")
        .build()
        .unwrap();
    let patcher = intercepting(sandbox_proxy()).with_ca_only_paths(["/opt/proxy-ca.crt"]);
    let (patched, report) = patcher.patch(&spec).unwrap();
    assert_eq!(
        patched.env_value("REQUESTS_CA_BUNDLE"),
        Some(CONTAINER_BUNDLE_FILE)
    );
    assert_eq!(
        patched.env_value("NODE_EXTRA_CA_CERTS"),
        Some("/opt/proxy-ca.crt")
    );
    let errors: Vec<_> = report
        .at_least(Severity::Error)
        .map(|e| e.subject.as_str())
        .collect();
    assert_eq!(errors, ["REQUESTS_CA_BUNDLE"]);
}

#[test]
fn tls_verification_is_only_turned_off_in_insecure_dev_mode() {
    for (name, patcher) in patchers() {
        let (patched, report) = patcher.patch(&sample_specs()[0]).unwrap();
        let insecure = name == "insecure";
        let value = patched.env_value(NODE_TLS_REJECT_UNAUTHORIZED);
        assert_eq!(value, insecure.then_some("0"), "{name}");
        let loud = entries(&report, PatchKind::TlsVerification);
        assert_eq!(loud.len(), usize::from(insecure), "{name}: {report}");
        if insecure {
            assert!(
                loud[0].starts_with("warn") && loud[0].contains("INSECURE"),
                "{}",
                loud[0]
            );
        }
    }
}

#[test]
fn a_caller_turning_tls_verification_off_is_reported() {
    let (patched, report) = intercepting(sandbox_proxy())
        .patch(&sample_specs()[7])
        .unwrap();
    assert_eq!(patched.env_value(NODE_TLS_REJECT_UNAUTHORIZED), Some("0"));
    let loud = entries(&report, PatchKind::TlsVerification);
    assert!(
        loud.iter()
            .any(|l| l.contains("INSECURE") && l.contains("caller")),
        "{report}"
    );
}

#[test]
fn reports_carry_no_secrets() {
    let creds = "http://proxyuser:hunter2@127.0.0.1:3128";
    let patcher = intercepting(settings(creds, creds, Some(creds), None));
    let spec = agent()
        .env("ANTHROPIC_API_KEY", "sk-ant-secret")
        .env("HTTPS_PROXY", "http://other:s3cr3t@corp:8080")
        .build()
        .unwrap();
    let (patched, report) = patcher.patch(&spec).unwrap();
    // The container gets the credentials ...
    assert_eq!(
        patched.env_value("HTTP_PROXY"),
        Some("http://proxyuser:hunter2@host.docker.internal:3128")
    );
    // ... the report never does.
    let shown = [
        report.to_string(),
        format!("{report:?}"),
        serde_json::to_string(&report).unwrap(),
    ];
    for text in shown {
        for secret in ["hunter2", "proxyuser", "s3cr3t", "sk-ant-secret"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert!(text.contains("127.0.0.1:3128"), "{text}");
    }
}

#[test]
fn a_mount_on_the_ca_directory_is_refused() {
    let spec = agent()
        .mount(Mount::bind("/elsewhere", CONTAINER_CA_DIR, true))
        .build()
        .unwrap();
    let err = intercepting(sandbox_proxy()).patch(&spec).unwrap_err();
    assert!(matches!(err, PatchError::CaDirTaken { .. }), "{err:?}");
    assert!(err.to_string().contains(CONTAINER_CA_DIR), "{err}");
}

#[test]
fn an_intercepting_mode_needs_absolute_instance_paths() {
    let mode = Mode::Proxied {
        proxy: sandbox_proxy(),
        ca: Some(ca()),
    };
    let err = SandboxPatcher::new(&mode, None).unwrap_err();
    assert!(matches!(err, PatchError::MissingInstanceDir), "{err:?}");
    let relative = InstancePaths {
        empty_file: PathBuf::from("empty"),
        ca_dir: PathBuf::from(CA_DIR),
    };
    let err = SandboxPatcher::new(&mode, Some(relative)).unwrap_err();
    assert!(
        matches!(err, PatchError::RelativeInstancePath { .. }),
        "{err:?}"
    );
}

#[test]
fn report_lines_name_severity_kind_and_subject() {
    let (_, report) = intercepting(sandbox_proxy())
        .patch(&sample_specs()[1])
        .unwrap();
    let text = report.to_string();
    assert!(text.lines().count() == report.entries().len());
    assert!(
        text.contains("info: /dev/null mount /app/.env: /dev/null replaced by the empty file"),
        "{text}"
    );
    assert!(text.contains("info: trust variable SSL_CERT_FILE: set to SSL_CERT_FILE=/etc/nanoclaw/ca/ca-bundle.pem"), "{text}");
}
