//! The network a sandboxed agent lives on: a test-created `--internal` Docker
//! network. Its containers reach the host's services on the gateway address
//! (where the proxy and the bypass server listen), never the host's
//! loopback, and nothing beyond the host (no forwarding, no DNS answers).
//!
//! Facts measured on Engine 20.10 (the smoke tests check the first three):
//! - `--internal` only blocks *forwarding*. Containers still get a default
//!   route via the gateway, and traffic to any address of the host itself
//!   (gateway, docker0's 172.17.0.1, eth0) is delivered locally: a host
//!   service bound to 0.0.0.0 is reachable from the "isolated" network.
//!   Hence the intercepted upstream binds 127.0.0.1 and mitmproxy the
//!   gateway address only.
//! - A container on another internal network is unreachable (dropped
//!   silently: a connect times out rather than being refused).
//! - `--dns 127.0.0.1` on a user-defined network becomes the upstream of
//!   Docker's embedded resolver (127.0.0.11), queried inside the container's
//!   namespace where nothing listens: a lookup of an unmapped name gets *no*
//!   answer and fails only after the resolver's timeouts (~10 s per address
//!   family), while extra hosts resolve at once.
//! - `host-gateway` in an extra host means docker0's address, not this
//!   network's gateway.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use nanoclaw_sandbox_core::spec::{ContainerSpec, ContainerSpecBuilder, NetworkMode};
use nanoclaw_testkit::docker::{docker, unique_name, TEST_LABEL};
use nanoclaw_testkit::{Context, Result};

/// A DNS server that answers nothing: inside a user-defined network Docker's
/// embedded resolver (127.0.0.11) forwards to it in the container's own
/// namespace, where nothing listens. Test names come from extra hosts.
pub const DNS_NOWHERE: &str = "127.0.0.1";

/// An `--internal` network, removed (with anything still attached) on drop.
#[derive(Debug)]
pub struct Topology {
    network: String,
    gateway: Ipv4Addr,
}

impl Topology {
    /// Creates a fresh internal network with a unique name and reads its gateway.
    pub fn start() -> Result<Self> {
        let network = unique_name("nanoclaw-e2e-net");
        docker([
            "network",
            "create",
            "--internal",
            "--label",
            &format!("{}={}", TEST_LABEL.0, TEST_LABEL.1),
            &network,
        ])?;
        // From here on the guard exists, so a failure below still removes it.
        let mut topo = Topology {
            network,
            gateway: Ipv4Addr::UNSPECIFIED,
        };
        let gateway = docker([
            "network",
            "inspect",
            "--format",
            "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
            &topo.network,
        ])?;
        topo.gateway = gateway
            .parse()
            .context(|| format!("gateway `{gateway}` of network {}", topo.network))?;
        Ok(topo)
    }

    /// The network's name.
    pub fn network(&self) -> &str {
        &self.network
    }

    /// The gateway: the host's address on this network, the only host
    /// address the tests listen on for containers.
    pub fn gateway(&self) -> Ipv4Addr {
        self.gateway
    }

    /// A container on this network: DNS that answers nothing, the test
    /// label, auto-removed. The caller adds image-specific parts.
    pub fn container_spec(&self, image: &str) -> ContainerSpecBuilder {
        ContainerSpec::builder(image)
            .network(NetworkMode::Named(self.network.clone()))
            .dns(DNS_NOWHERE)
            .label(TEST_LABEL.0, TEST_LABEL.1)
            .auto_remove(true)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // A container left attached (a test that panicked mid-run) would make
        // `network rm` fail: remove those first.
        let filter = format!("network={}", self.network);
        if let Ok(ids) = docker(["ps", "-aq", "--filter", &filter]) {
            for id in ids.split_whitespace() {
                let _ = docker(["rm", "-f", id]);
            }
        }
        let _ = Command::new("docker")
            .args(["network", "rm", &self.network])
            .stdout(Stdio::null())
            .status();
    }
}
