//! The project's own sandbox-proxy stand-in (`standin::start`) in the place
//! mitmproxy takes: TLS interception with its own rcgen CA, test names
//! mapped to local servers (`--map`), upstreams verified against the test
//! "public" CA (`--upstream-ca`), and every other name denied, so it never
//! resolves a name itself.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use nanoclaw_sandbox_core::standin::{self, DefaultPolicy, HostMapping, HostPattern, Standin};
use nanoclaw_testkit::mitm::Route;
use nanoclaw_testkit::{Context, FixtureError, Result};

/// A running stand-in on a runtime of its own, shut down on drop.
pub struct StandinProxy {
    standin: Option<Standin>,
    runtime: tokio::runtime::Runtime,
    _ca_dir: tempfile::TempDir,
}

impl StandinProxy {
    /// Starts the stand-in on `listen_ip` (a free port), mapping and
    /// allowing only `routes`, trusting the CA in the PEM file `upstream_ca` upstream.
    pub fn start_on(listen_ip: IpAddr, upstream_ca: &Path, routes: &[Route]) -> Result<Self> {
        let what = || format!("starting the stand-in on {listen_ip}");
        let ca_dir = tempfile::Builder::new()
            .prefix("nanoclaw-e2e-standin-")
            .tempdir()
            .context(what)?;
        let mut maps = Vec::new();
        let mut allowed = Vec::new();
        for route in routes {
            let entry = format!("{}={}", route.name, route.target);
            maps.push(entry.parse::<HostMapping>().context(|| entry.clone())?);
            allowed.push(
                route
                    .name
                    .parse::<HostPattern>()
                    .context(|| route.name.clone())?,
            );
        }
        let config = standin::StandinConfig::builder()
            .listen(SocketAddr::new(listen_ip, 0))
            .ca_dir(ca_dir.path().join("ca"))
            .maps(maps)
            .allow(allowed)
            .default_policy(DefaultPolicy::Deny)
            .upstream_ca_files([upstream_ca.to_path_buf()])
            .build();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("e2e-standin")
            .enable_all()
            .build()
            .context(what)?;
        let standin = runtime
            .block_on(standin::start(config))
            .map_err(|e| FixtureError::new(format!("{}: {e}", what())))?;
        Ok(Self {
            standin: Some(standin),
            runtime,
            _ca_dir: ca_dir,
        })
    }

    fn standin(&self) -> &Standin {
        // Present from start until drop.
        self.standin
            .as_ref()
            .expect("the stand-in runs until dropped")
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.standin().addr()
    }

    /// Its CA certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        self.standin().ca_pem()
    }
}

impl Drop for StandinProxy {
    fn drop(&mut self) {
        if let Some(standin) = self.standin.take() {
            self.runtime.block_on(standin.shutdown());
        }
    }
}
