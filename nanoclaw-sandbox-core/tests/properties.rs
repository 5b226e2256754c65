//! proptest properties over generated input, in the normal test run (case
//! counts kept small): the container patcher is idempotent and the identity
//! in standard Docker mode; the Dockerfile patch is idempotent and keeps
//! every original line (the fuzz target's own check, shared with
//! `fuzz/src/lib.rs`); host patterns agree with a simple reference
//! implementation of their table (`*.` one label, `**.` any depth, names,
//! `**`, CIDR ranges, `:PORT`).

// Only the Dockerfile check is used here.
#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::OnceLock;

use nanoclaw_sandbox_core::proxy::{HostPattern, ProxySettings, ProxyUrl};
use nanoclaw_sandbox_core::sandbox::{CaSource, InstancePaths, Mode, ProxyCa, SandboxPatcher};
use nanoclaw_sandbox_core::spec::{ContainerSpec, Mount, NetworkMode};
use nanoclaw_sandbox_core::trust::TrustStore;
use nanoclaw_testkit::ca::TestCa;
use proptest::prelude::*;
use proptest::test_runner::Config;

fn config() -> Config {
    Config {
        cases: 64,
        failure_persistence: None,
        ..Config::default()
    }
}

// ---- the container patcher ----

/// The two patchers of a sandbox: an intercepting proxy with its CA, and a
/// plain proxy without one (made once: a CA takes a key generation).
fn patchers() -> &'static [SandboxPatcher; 2] {
    static PATCHERS: OnceLock<[SandboxPatcher; 2]> = OnceLock::new();
    PATCHERS.get_or_init(|| {
        let url = ProxyUrl::parse("http://gateway.docker.internal:3128").unwrap();
        let proxy = ProxySettings {
            http: Some(url.clone()),
            https: Some(url),
            all: None,
            no_proxy: Some(".corp.test".into()),
        };
        let test_ca = TestCa::new("Properties Proxy CA");
        let pem = test_ca.pem();
        let store = TrustStore::from_pem(pem.as_bytes(), "test CA").unwrap();
        let ca = ProxyCa::new(store, CaSource::EnvBase64);
        let paths = InstancePaths {
            empty_file: PathBuf::from("/ws/.nanoclaw/instances/p/empty"),
            ca_dir: PathBuf::from("/ws/.nanoclaw/instances/p/ca"),
        };
        let intercepting = Mode::Proxied {
            proxy: proxy.clone(),
            ca: Some(ca),
        };
        [
            SandboxPatcher::new(&intercepting, Some(paths)).unwrap(),
            SandboxPatcher::new(&Mode::Proxied { proxy, ca: None }, None).unwrap(),
        ]
    })
}

/// Variable names the patcher has rules for, and a few it has none for.
const ENV_NAMES: &[&str] = &[
    "HTTP_PROXY",
    "https_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "NODE_EXTRA_CA_CERTS",
    "NODE_USE_ENV_PROXY",
    "NODE_TLS_REJECT_UNAUTHORIZED",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "GIT_SSL_CAINFO",
    "TZ",
    "APP_MODE",
];
const ENV_VALUES: &[&str] = &[
    "",
    "1",
    "0",
    "http://127.0.0.1:8080",
    "http://proxy.corp:3128",
    "localhost,.internal",
    "/etc/ssl/certs/ca-certificates.crt",
    "/custom/ca.pem",
];
const MOUNT_TARGETS: &[&str] = &[
    "/workspace",
    "/etc/ssl/certs",
    "/etc/ssl/certs/ca-certificates.crt",
    "/usr/local/share/ca-certificates",
    "/home/node/.npmrc",
    "/tmp",
];

fn spec_strategy() -> impl Strategy<Value = ContainerSpec> {
    let env = prop::collection::vec(
        (
            prop::sample::select(ENV_NAMES),
            prop::sample::select(ENV_VALUES),
        ),
        0..6,
    );
    let mounts = prop::collection::btree_set(prop::sample::select(MOUNT_TARGETS), 0..3);
    let network = prop::sample::select(vec![
        NetworkMode::Default,
        NetworkMode::None,
        NetworkMode::Host,
        NetworkMode::Named("agents".into()),
    ]);
    (env, mounts, network, any::<bool>()).prop_map(|(env, mounts, network, read_only)| {
        let mut builder = ContainerSpec::builder("nanoclaw-agent:latest")
            .command(["node", "/app/index.js"])
            .network(network);
        for (name, value) in env {
            builder = builder.env(name, value);
        }
        for target in mounts {
            builder = builder.mount(Mount::bind(format!("/srv{target}"), target, read_only));
        }
        builder.build().expect("generated specs are valid")
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_patcher_is_idempotent(spec in spec_strategy()) {
        for (n, patcher) in patchers().iter().enumerate() {
            // A spec the patcher refuses (a conflicting mount, say) has no
            // second patch to compare; the refusal is the rules' business.
            let Ok((once, _)) = patcher.patch(&spec) else { continue };
            // The first patch does something (the proxy variables at least),
            // so the comparison below is between two patched specs.
            prop_assert_ne!(&once, &spec, "patcher #{} changed nothing", n);
            let (twice, _) = patcher.patch(&once).expect("a patched spec patches again");
            prop_assert_eq!(&twice, &once);
        }
    }

    #[test]
    fn standard_docker_mode_is_the_identity(spec in spec_strategy()) {
        let (patched, _) = SandboxPatcher::standard_docker().patch(&spec).expect("no rules to refuse");
        prop_assert_eq!(patched, spec);
    }
}

// ---- the Dockerfile patch ----

/// Dockerfile lines, including the ones the parser must be careful with.
const DOCKERFILE_LINES: &[&str] = &[
    "FROM debian:bookworm",
    "FROM golang:1.22 AS build",
    "from alpine as small",
    "FROM ${BASE}",
    "ARG BASE=alpine",
    "ARG http_proxy",
    "ARG NO_PROXY=localhost",
    "RUN apt-get update",
    "RUN make \\",
    "  install",
    "RUN <<EOF",
    "echo FROM inside a heredoc",
    "EOF",
    "COPY --from=build /x /x",
    "# a comment",
    "# syntax=docker/dockerfile:1.7",
    "",
    "    ENV A=1",
];

fn dockerfile_strategy() -> impl Strategy<Value = String> {
    let line = prop::sample::select(DOCKERFILE_LINES);
    let ending = prop::sample::select(&["\n", "\r\n"][..]);
    (
        "FROM [a-z]{1,8}(:[0-9]{1,2})?",
        prop::collection::vec(line, 0..14),
        ending,
        any::<bool>(),
    )
        .prop_map(|(first, lines, ending, final_newline)| {
            let mut text = first;
            for line in lines {
                text.push_str(ending);
                text.push_str(line);
            }
            if final_newline {
                text.push_str(ending);
            }
            text
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_dockerfile_patch_is_idempotent_and_keeps_every_line(text in dockerfile_strategy()) {
        // The same check as the fuzz target's (the patch must succeed here:
        // every generated file starts with FROM and closes its heredocs or
        // leaves one open, which is refused: both are fine).
        targets::dockerfile(text.as_bytes());
    }
}

// ---- host patterns against a reference ----

/// Hosts of one to four labels from a small alphabet, in any case, with a
/// trailing dot at times: enough collisions for every pattern kind to match.
fn host_strategy() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(
            prop::sample::select(&["a", "b", "api", "EX", "com"][..]),
            1..5,
        ),
        any::<bool>(),
    )
        .prop_map(|(labels, dot)| {
            let mut host = labels.join(".");
            if dot {
                host.push('.');
            }
            host
        })
}

#[derive(Debug, Clone)]
enum Kind {
    Name,
    OneLabel,
    AnyDepth,
    Every,
}

/// The reference: the table in src/proxy/pattern.rs, for names.
fn reference_matches(
    kind: &Kind,
    domain: &str,
    only_port: Option<u16>,
    host: &str,
    port: u16,
) -> bool {
    if only_port.is_some_and(|p| p != port) {
        return false;
    }
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let domain = domain
        .strip_suffix('.')
        .unwrap_or(domain)
        .to_ascii_lowercase();
    let below = host.strip_suffix(&format!(".{domain}"));
    match kind {
        Kind::Every => true,
        Kind::Name => host == domain,
        Kind::OneLabel => below.is_some_and(|b| !b.is_empty() && !b.contains('.')),
        Kind::AnyDepth => below.is_some_and(|b| !b.is_empty()),
    }
}

fn ipv4_in(net: Ipv4Addr, len: u8, ip: Ipv4Addr) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    u32::from(ip) & mask == u32::from(net) & mask
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn name_patterns_agree_with_the_reference(
        kind in prop::sample::select(vec![Kind::Name, Kind::OneLabel, Kind::AnyDepth, Kind::Every]),
        domain in host_strategy(),
        only_port in prop::option::of(prop::sample::select(vec![443u16, 8443])),
        hosts in prop::collection::vec((host_strategy(), prop::sample::select(vec![443u16, 8443, 80])), 1..12),
    ) {
        let prefix = match kind {
            Kind::Name => "",
            Kind::OneLabel => "*.",
            Kind::AnyDepth => "**.",
            Kind::Every => "",
        };
        let body = match kind {
            Kind::Every => "**".to_string(),
            _ => format!("{prefix}{}", domain.strip_suffix('.').unwrap_or(&domain)),
        };
        let text = match only_port {
            Some(port) => format!("{body}:{port}"),
            None => body,
        };
        let pattern = HostPattern::parse(&text).expect("a generated pattern parses");
        // The pattern's own domain, one label below it and two below it too.
        let mut hosts = hosts;
        hosts.push((domain.clone(), 443));
        hosts.push((format!("x.{domain}"), 443));
        hosts.push((format!("x.y.{domain}"), 8443));
        for (host, port) in hosts {
            prop_assert_eq!(
                pattern.matches(&host, port),
                reference_matches(&kind, &domain, only_port, &host, port),
                "pattern {} on {}:{}", text, host, port
            );
        }
    }

    #[test]
    fn cidr_patterns_agree_with_the_reference(
        net in any::<u32>(),
        len in 0u8..=32,
        ips in prop::collection::vec(any::<u32>(), 1..12),
        name in host_strategy(),
    ) {
        let net = Ipv4Addr::from(net);
        let text = format!("{net}/{len}");
        let pattern = HostPattern::parse(&text).expect("a CIDR range parses");
        // Addresses inside the range (the network with random host bits) and anywhere.
        let host_bits = |ip: u32| if len == 32 { 0 } else { ip & (u32::MAX >> len) };
        for ip in ips {
            for ip in [Ipv4Addr::from(ip), Ipv4Addr::from((u32::from(net) & !(u32::MAX.checked_shr(u32::from(len)).unwrap_or(0))) | host_bits(ip))] {
                prop_assert_eq!(pattern.matches(&ip.to_string(), 443), ipv4_in(net, len, ip), "{} on {}", text, ip);
            }
        }
        // A range never matches a name; a name pattern never matches an address.
        prop_assert!(!pattern.matches(&name, 443));
        let wildcard = HostPattern::parse("**.com").unwrap();
        prop_assert!(!wildcard.matches(&net.to_string(), 443));
    }
}
