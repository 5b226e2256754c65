//! Smoke tests of the end-to-end fixtures, independent of the library's
//! sandbox layer: the image, the topology (what an agent can and cannot
//! reach), and — with trust set BY HAND, since the patcher refuses to do it —
//! that a bundle holding the proxy CA alone breaks every bypassed host. The
//! matrix through the library itself is `tests/e2e_matrix.rs`.
//!
//! Run: `NANOCLAW_REQUIRE_DOCKER=1 cargo test -p nanoclaw-sandbox-core --test e2e_fixtures -- --nocapture`
//! (`--nocapture` shows each named case's PASS/FAIL line).

mod support;

use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use nanoclaw_testkit::docker::{self, RUN_TIMEOUT};
use nanoclaw_testkit::Context;
use support::e2e::{
    self, hand_patch, run_cases, start_detached, Case, Client, Expect, ReplacingVars, Stage,
    Target, Topology, BYPASS_HOST, UPSTREAM_HOST,
};

type TestResult = nanoclaw_testkit::Result<()>;

#[test]
fn debian_image_is_reused_and_has_the_clients() -> TestResult {
    let Some(prereqs) = e2e::ready() else {
        return Ok(());
    };
    // A second call of the script finds the image by its hash label at once.
    let started = Instant::now();
    let again = Command::new("bash")
        .arg(e2e::DEBIAN_IMAGE_SCRIPT)
        .output()
        .context(|| format!("running {}", e2e::DEBIAN_IMAGE_SCRIPT))?;
    let reuse = started.elapsed();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), prereqs.image);
    assert!(reuse < Duration::from_secs(10), "reuse took {reuse:?}");
    println!("debian image {} reused in {reuse:?}", prereqs.image);
    let label = docker::docker([
        "image",
        "inspect",
        "--format",
        "{{ index .Config.Labels \"nanoclaw.test-image\" }}",
        &prereqs.image,
    ])?;
    assert_eq!(label, "debian");

    let tools = |name: &str, argv: &[&str], text: &str| {
        Case::new(
            name,
            argv.iter().map(|s| s.to_string()).collect(),
            Expect::succeeds(text),
        )
    };
    let topo = Topology::start()?;
    let report = run_cases(
        "image-tools",
        topo.container_spec(&prereqs.image),
        vec![
            tools("image.node", &["node", "--version"], "v18."),
            tools("image.curl", &["curl", "--version"], "OpenSSL"),
            tools("image.python3", &["python3", "--version"], "Python 3."),
            tools("image.git", &["git", "--version"], "git version"),
            tools(
                "image.node24",
                &["/opt/node24/bin/node", "--version"],
                "v24.",
            ),
            tools(
                "image.deno",
                &["env", "DENO_NO_UPDATE_CHECK=1", "deno", "--version"],
                "deno 2.",
            ),
            tools(
                "image.system-bundle",
                &[
                    "grep",
                    "-c",
                    "BEGIN CERTIFICATE",
                    "/etc/ssl/certs/ca-certificates.crt",
                ],
                "",
            ),
        ],
        RUN_TIMEOUT,
    )?;
    report.assert_all_pass();
    Ok(())
}

/// `timeout 5 bash -c 'exec 3<>/dev/tcp/HOST/PORT'`: a bare TCP connect.
fn tcp_probe(host: &str, port: u16) -> Vec<String> {
    [
        "timeout",
        "5",
        "bash",
        "-c",
        "exec 3<>/dev/tcp/$0/$1",
        host,
        &port.to_string(),
    ]
    .into_iter()
    .map(str::to_string)
    .collect()
}

#[test]
fn topology_lets_agents_reach_only_the_proxy_and_the_bypass_server() -> TestResult {
    let Some(stage) = Stage::start_or_skip()? else {
        return Ok(());
    };
    let gateway = stage.topo.gateway().to_string();

    // Something listening on ANOTHER internal network: reachable from the
    // host (the control), never from the agent's network (no forwarding).
    let elsewhere = Topology::start()?;
    let listener_port = 8080;
    let listener = start_detached(
        &elsewhere
            .container_spec(&stage.image)
            .command(["python3", "-m", "http.server", &listener_port.to_string()])
            .build()
            .context(|| "the listener's spec".to_string())?,
    )?;
    let listener_ip = listener.ip_on(elsewhere.network())?;
    let listener_addr: SocketAddr = format!("{listener_ip}:{listener_port}")
        .parse()
        .context(|| format!("the listener's address {listener_ip}"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect_timeout(&listener_addr, Duration::from_millis(300)).is_err() {
        assert!(
            Instant::now() < deadline,
            "control failed: the host cannot reach {listener_addr}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let refused = || Expect::Fails {
        exit: Some(1),
        output_any_of: vec!["Connection refused".into()],
    };
    let upstream_port = stage.upstream.addr().port();
    let cases = vec![
        Case::new(
            "reach.proxy-on-gateway",
            tcp_probe(&gateway, stage.proxy.addr().port()),
            Expect::succeeds(""),
        ),
        Case::new(
            "reach.bypass-server-on-gateway",
            tcp_probe(&gateway, stage.bypass.addr().port()),
            Expect::succeeds(""),
        ),
        // The upstream listens on the host's loopback: neither the
        // container's own loopback nor the gateway leads there.
        Case::new(
            "no-reach.upstream-via-container-loopback",
            tcp_probe("127.0.0.1", upstream_port),
            refused(),
        ),
        Case::new(
            "no-reach.upstream-via-gateway",
            tcp_probe(&gateway, upstream_port),
            refused(),
        ),
        // Dropped, not refused: the probe times out (exit 124).
        Case::new(
            "no-reach.other-network",
            tcp_probe(&listener_ip, listener_port),
            Expect::Fails {
                exit: Some(124),
                output_any_of: vec![],
            },
        ),
        Case::new(
            "dns.bypass-name-is-the-gateway",
            vec!["getent".into(), "ahostsv4".into(), BYPASS_HOST.into()],
            Expect::succeeds(gateway.clone()),
        ),
        // Not found (exit 2) only after the resolver's timeouts (~10 s):
        // the DNS server answers nothing, not even "no such name".
        Case::new(
            "dns.upstream-name-is-unknown",
            vec!["getent".into(), "ahostsv4".into(), UPSTREAM_HOST.into()],
            Expect::Fails {
                exit: Some(2),
                output_any_of: vec![],
            },
        ),
        // mitmproxy itself resolves nothing: a name without a route is
        // refused by the addon instead of being looked up on the host.
        Case::new(
            "proxy.unrouted-name-is-refused",
            vec![
                "curl".into(),
                "--silent".into(),
                "--show-error".into(),
                "--proxy".into(),
                stage.proxy.proxy_url(),
                "https://unrouted.test/".into(),
            ],
            Expect::Fails {
                exit: Some(56),
                output_any_of: vec!["CONNECT tunnel failed, response 502".into()],
            },
        ),
    ];
    let report = run_cases("topology", stage.agent_spec(), cases, RUN_TIMEOUT)?;
    report.assert_all_pass();
    assert!(
        stage.proxy.log().contains("no route for unrouted.test:443"),
        "mitmproxy's refusal is not in its log:\n{}",
        stage.proxy.log()
    );
    drop(listener);
    Ok(())
}

#[test]
fn bypassed_hosts_fail_when_the_bundle_is_the_ca_alone() -> TestResult {
    let Some(stage) = Stage::start_or_skip()? else {
        return Ok(());
    };
    let trust = stage.trust_dir()?;
    let config = "ca-alone-bundle";
    let mut cases: Vec<Case> = Vec::new();
    for client in Client::BUNDLE_READERS {
        // Through the proxy the CA alone is enough: why the bug goes unseen...
        cases.push(stage.fetch_case(client, Target::Upstream, config, Expect::succeeds));
        // ...until a bypassed host shows a certificate from a public root.
        cases.push(stage.fetch_case(client, Target::Bypass, config, |_| {
            client.certificate_error()
        }));
    }
    let spec = hand_patch(
        stage.agent_spec(),
        &stage.proxy_env(),
        Some((&trust, ReplacingVars::CaAlone)),
    );
    let report = run_cases(config, spec, cases, RUN_TIMEOUT)?;
    report.assert_all_pass();
    Ok(())
}
