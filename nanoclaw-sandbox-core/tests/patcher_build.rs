//! Build patches: build args (both spellings, translated for a bridge build),
//! the CA as a predefined arg and the wrapped Dockerfile, per mode.

use nanoclaw_sandbox_core::dockerfile::{
    DockerfileError, CA_BUILD_ARG, LAUNCHER, PREDEFINED_PROXY_ARGS,
};
use nanoclaw_sandbox_core::proxy::{ProxySettings, ProxyUrl};
use nanoclaw_sandbox_core::sandbox::build::{build_args, patch_build, BuildOptions};
use nanoclaw_sandbox_core::sandbox::{CaSource, Mode, PatchError, PatchKind, ProxyCa, Severity};
use nanoclaw_sandbox_core::spec::EnvVar;
use nanoclaw_sandbox_core::trust::TrustStore;
use nanoclaw_testkit::ca::TestCa;

const DOCKERFILE: &str = "FROM debian:bookworm\nRUN apt-get update\n";

fn settings(url: &str, no_proxy: Option<&str>) -> ProxySettings {
    ProxySettings {
        http: Some(ProxyUrl::parse(url).unwrap()),
        https: Some(ProxyUrl::parse(url).unwrap()),
        all: None,
        no_proxy: no_proxy.map(str::to_string),
    }
}

fn ca() -> ProxyCa {
    let pem = TestCa::new("Build Proxy CA").pem().to_string();
    ProxyCa::new(
        TrustStore::from_pem(pem.as_bytes(), "t").unwrap(),
        CaSource::EnvBase64,
    )
}

fn intercepting(url: &str) -> Mode {
    Mode::Proxied {
        proxy: settings(url, Some(".corp")),
        ca: Some(ca()),
    }
}

fn arg<'a>(args: &'a [EnvVar], name: &str) -> Option<&'a str> {
    args.iter().find(|a| a.name() == name).map(EnvVar::value)
}

#[test]
fn standard_docker_builds_are_left_alone() {
    let patch = patch_build(&Mode::StandardDocker, DOCKERFILE, &BuildOptions::default()).unwrap();
    assert!(patch.build_args.is_empty() && patch.extra_hosts.is_empty());
    assert!(!patch.rewritten);
    assert_eq!(patch.dockerfile, DOCKERFILE);
    assert!(patch.report.is_empty());
}

#[test]
fn a_plain_proxy_gets_args_in_both_spellings_and_wrapped_steps() {
    let mode = Mode::Proxied {
        proxy: settings("http://proxy.corp:3128", None),
        ca: None,
    };
    let patch = patch_build(&mode, DOCKERFILE, &BuildOptions::default()).unwrap();
    for (lower, upper) in [
        ("http_proxy", "HTTP_PROXY"),
        ("https_proxy", "HTTPS_PROXY"),
        ("no_proxy", "NO_PROXY"),
    ] {
        assert!(arg(&patch.build_args, lower).is_some(), "{lower}");
        assert_eq!(arg(&patch.build_args, lower), arg(&patch.build_args, upper));
    }
    assert_eq!(
        arg(&patch.build_args, "https_proxy"),
        Some("http://proxy.corp:3128")
    );
    // Only args Docker predefines: they reach RUN undeclared, out of the history.
    for a in &patch.build_args {
        assert!(PREDEFINED_PROXY_ARGS.contains(&a.name()), "{}", a.name());
    }
    // The step wrapper, without a CA: it sets NODE_USE_ENV_PROXY inside each step.
    let wrapper = arg(&patch.build_args, CA_BUILD_ARG).unwrap();
    assert!(wrapper.contains("NODE_USE_ENV_PROXY") && !wrapper.contains("BEGIN CERTIFICATE"));
    assert!(patch.rewritten);
    let json = serde_json::to_string(LAUNCHER).unwrap();
    assert!(patch.dockerfile.contains(&json), "{}", patch.dockerfile);
}

#[test]
fn an_intercepting_proxy_sends_the_ca_as_a_predefined_arg_to_wrapped_steps() {
    let mode = intercepting("http://gateway.docker.internal:3128");
    let options = BuildOptions::default().with_host_names(["builder-host"]);
    let patch = patch_build(&mode, DOCKERFILE, &options).unwrap();
    assert!(PREDEFINED_PROXY_ARGS.contains(&CA_BUILD_ARG));
    let wrapper = arg(&patch.build_args, CA_BUILD_ARG).unwrap();
    assert!(wrapper.contains(mode.ca().unwrap().store().to_pem().trim_end()));
    assert_eq!(
        arg(&patch.build_args, "no_proxy"),
        Some(".corp,localhost,127.0.0.1,::1,builder-host")
    );
    assert!(patch.extra_hosts.is_empty());
    assert!(patch.rewritten);
    // Nothing copied in, nothing declared: the CA never reaches a layer or the history.
    assert!(!patch.dockerfile.contains("COPY"), "{}", patch.dockerfile);
    assert!(!patch.dockerfile.contains("\nARG"), "{}", patch.dockerfile);
    assert!(!patch.dockerfile.contains("BEGIN CERTIFICATE"));
    assert!(patch
        .report
        .entries()
        .iter()
        .any(|e| e.kind == PatchKind::Dockerfile));
}

#[test]
fn a_loopback_proxy_is_translated_for_bridge_builds_only() {
    let mode = intercepting("http://127.0.0.1:3128");
    let (args, hosts, report) = build_args(&mode, &BuildOptions::default()).unwrap();
    assert_eq!(
        arg(&args, "HTTP_PROXY"),
        Some("http://host.docker.internal:3128")
    );
    assert_eq!(hosts.len(), 1);
    assert_eq!(
        (hosts[0].name.as_str(), hosts[0].address.as_str()),
        ("host.docker.internal", "host-gateway")
    );
    assert!(report
        .entries()
        .iter()
        .any(|e| e.kind == PatchKind::ProxyTranslation));

    let host_net = BuildOptions::default().with_host_network(true);
    let (args, hosts, _) = build_args(&mode, &host_net).unwrap();
    assert_eq!(arg(&args, "HTTP_PROXY"), Some("http://127.0.0.1:3128"));
    assert!(hosts.is_empty());
}

#[test]
fn proxy_credentials_are_warned_about_and_never_shown() {
    let mode = intercepting("http://builder:hunter2@gateway.docker.internal:3128");
    let patch = patch_build(&mode, DOCKERFILE, &BuildOptions::default()).unwrap();
    // The build gets them ...
    assert_eq!(
        arg(&patch.build_args, "https_proxy"),
        Some("http://builder:hunter2@gateway.docker.internal:3128")
    );
    // ... the report warns, and nothing shown carries them.
    let warned: Vec<_> = patch.report.at_least(Severity::Warn).collect();
    assert_eq!(warned.len(), 1, "{}", patch.report);
    assert!(
        warned[0].message.contains("docker history"),
        "{}",
        warned[0]
    );
    for shown in [
        patch.report.to_string(),
        format!("{:?}", patch.build_args),
        format!("{patch:?}"),
    ] {
        assert!(
            !shown.contains("hunter2") && !shown.contains("builder:"),
            "{shown}"
        );
    }
}

#[test]
fn a_dockerfile_declaring_a_predefined_proxy_arg_is_warned_about() {
    let mode = intercepting("http://gateway.docker.internal:3128");
    let declaring = "FROM debian\nARG HTTPS_PROXY\nARG no_proxy=localhost\nRUN true\n";
    let patch = patch_build(&mode, declaring, &BuildOptions::default()).unwrap();
    let warned: Vec<_> = patch.report.at_least(Severity::Warn).collect();
    let subjects: Vec<&str> = warned.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(subjects, ["HTTPS_PROXY", "no_proxy"], "{}", patch.report);
    assert!(
        warned[0].message.contains("docker history"),
        "{}",
        warned[0]
    );
    // The control: the same file without the declarations gets no warning.
    let plain = patch_build(&mode, "FROM debian\nRUN true\n", &BuildOptions::default()).unwrap();
    assert_eq!(
        plain.report.at_least(Severity::Warn).count(),
        0,
        "{}",
        plain.report
    );
}

#[test]
fn a_dockerfile_without_from_is_refused() {
    let mode = intercepting("http://gateway.docker.internal:3128");
    let err = patch_build(&mode, "RUN echo\n", &BuildOptions::default()).unwrap_err();
    assert!(
        matches!(err, PatchError::Dockerfile(DockerfileError::NoFrom)),
        "{err:?}"
    );
}
