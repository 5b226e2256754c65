//! The whole scene of an end-to-end test, wired the standard way: the
//! internal network, the test PKI, the intercepted upstream on the host's
//! loopback, the bypassed server on the gateway, and the intercepting proxy
//! (mitmproxy, or the project's stand-in) in front.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use nanoclaw_sandbox_core::spec::ContainerSpecBuilder;
use nanoclaw_testkit::ca::{TestCa, Ymd};
use nanoclaw_testkit::https::{Server, Site};
use nanoclaw_testkit::mitm::{Mitmproxy, Route};
use nanoclaw_testkit::prereq::missing;
use nanoclaw_testkit::{docker, Context, Result};

use super::cases::{Case, Expect};
use super::clients::{tools_mount, Client};
use super::git_repo::GitRepo;
use super::hand_patch::{ProxyEnv, TrustDir};
use super::image::debian_image;
use super::proxy::{Proxy, ProxyKind};
use super::topology::Topology;

/// The intercepted upstream's name: reached only through the proxy.
pub const UPSTREAM_HOST: &str = "upstream.test";
/// A server behind the proxy whose certificate no trusted CA issued: the
/// proxy must refuse it (proof that it verifies upstreams).
pub const UNTRUSTED_HOST: &str = "untrusted.test";
/// The bypassed server's name: in `NO_PROXY`, reached directly.
pub const BYPASS_HOST: &str = "bypass.test";
/// The page both servers serve.
pub const HELLO_PATH: &str = "/hello";
/// The git repository both servers serve (dumb HTTP).
pub const REPO_PATH: &str = "/repo.git";

/// Which of the two servers a case talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `upstream.test`, through the proxy.
    Upstream,
    /// `bypass.test`, directly (it is in `NO_PROXY`).
    Bypass,
    /// `untrusted.test`, through the proxy, which must refuse its certificate.
    Untrusted,
}

impl Target {
    /// The server's name.
    pub fn host(self) -> &'static str {
        match self {
            Target::Upstream => UPSTREAM_HOST,
            Target::Bypass => BYPASS_HOST,
            Target::Untrusted => UNTRUSTED_HOST,
        }
    }

    /// How a client gets there, for case names.
    pub fn route(self) -> &'static str {
        match self {
            Target::Upstream => "upstream-through-proxy",
            Target::Bypass => "bypass-direct",
            Target::Untrusted => "untrusted-upstream-through-proxy",
        }
    }
}

/// What the end-to-end tests need on the machine.
#[derive(Debug, Clone)]
pub struct Prereqs {
    /// The Debian agent image's tag.
    pub image: String,
}

/// Checks the prerequisites: a Docker daemon, mitmdump, git on the host and
/// the Debian agent image (built if absent). `None` after [`missing`] said
/// what is absent; the caller returns (under `NANOCLAW_REQUIRE_DOCKER=1`
/// [`missing`] fails the test instead).
pub fn ready() -> Option<Prereqs> {
    if let Err(why) = docker::available() {
        missing("a Docker daemon", &why);
        return None;
    }
    if let Err(why) = Mitmproxy::installed() {
        missing("mitmproxy", &why);
        return None;
    }
    if let Err(e) = std::process::Command::new("git").arg("--version").output() {
        missing("git on the host", &e.to_string());
        return None;
    }
    Some(Prereqs {
        image: debian_image()?,
    })
}

/// A running scene. Fields drop in order: the proxy and the servers first,
/// the network (which they listen on) last.
pub struct Stage {
    /// The intercepting proxy on the gateway, routing [`UPSTREAM_HOST`] to
    /// `upstream` (and [`UNTRUSTED_HOST`] to `untrusted`).
    pub proxy: Proxy,
    /// The intercepted upstream on 127.0.0.1 (only the proxy reaches it).
    pub upstream: Server,
    /// The bypassed server on the gateway address.
    pub bypass: Server,
    /// On 127.0.0.1 with a certificate from a CA nobody trusts.
    pub untrusted: Server,
    /// The repository both servers serve.
    pub repo: GitRepo,
    /// The test "public" CA: upstreams present its certificates, the proxy
    /// verifies them against it, and trust bundles hold it where the system
    /// roots would be.
    pub public_ca: TestCa,
    /// Its PEM on disk (mitmproxy and the stand-in read CAs from files).
    public_ca_path: PathBuf,
    /// The internal network.
    pub topo: Topology,
    /// The Debian agent image.
    pub image: String,
    _pki_dir: tempfile::TempDir,
}

// The test CAs' validity: fixed, plainly valid dates inside what every
// client accepts (rcgen's default ends in year 4096).
const VALID_FROM: Ymd = (2020, 1, 1);
const VALID_UNTIL: Ymd = (2045, 1, 1);

impl Stage {
    /// Starts everything with mitmproxy in front; each part cleans up after
    /// itself when dropped.
    pub fn start(prereqs: &Prereqs) -> Result<Self> {
        Self::start_with(prereqs, ProxyKind::Mitmproxy)
    }

    /// Starts everything with a `kind` proxy in front.
    pub fn start_with(prereqs: &Prereqs, kind: ProxyKind) -> Result<Self> {
        let topo = Topology::start()?;
        let public_ca = TestCa::valid_between("nanoclaw test public root", VALID_FROM, VALID_UNTIL);
        let pki_dir = tempfile::Builder::new()
            .prefix("nanoclaw-e2e-pki-")
            .tempdir()
            .context(|| "creating the PKI directory".to_string())?;
        let public_ca_path = public_ca.write_pem(pki_dir.path(), "public-ca.pem");
        let repo = GitRepo::create()?;
        let site = |name: &str| {
            Site::new()
                .fixed(HELLO_PATH, hello_body(name))
                .dir(REPO_PATH, repo.path())
        };
        // HTTP/1.1 only (ALPN): what these servers always spoke to the clients.
        let server = |name: &str, ip: Ipv4Addr, issuer: &TestCa| {
            let tls = issuer.issue(&[name]).server_config(&[b"http/1.1"]);
            Server::https(tls, site(name))
                .name(name)
                .bind(SocketAddr::new(IpAddr::V4(ip), 0))
                .start_detached()
        };
        let rogue_ca = TestCa::valid_between("nanoclaw test rogue root", VALID_FROM, VALID_UNTIL);
        let upstream = server(UPSTREAM_HOST, Ipv4Addr::LOCALHOST, &public_ca)?;
        let bypass = server(BYPASS_HOST, topo.gateway(), &public_ca)?;
        let untrusted = server(UNTRUSTED_HOST, Ipv4Addr::LOCALHOST, &rogue_ca)?;
        let routes = [
            Route::new(UPSTREAM_HOST, upstream.addr()),
            Route::new(UNTRUSTED_HOST, untrusted.addr()),
        ];
        let proxy = Proxy::start(kind, IpAddr::V4(topo.gateway()), &public_ca_path, &routes)?;
        Ok(Self {
            proxy,
            upstream,
            bypass,
            untrusted,
            repo,
            public_ca,
            public_ca_path,
            topo,
            image: prereqs.image.clone(),
            _pki_dir: pki_dir,
        })
    }

    /// [`ready`] then [`start`](Self::start): `Ok(None)` when a prerequisite
    /// is missing and the test may skip (after [`missing`] said why).
    pub fn start_or_skip() -> Result<Option<Self>> {
        match ready() {
            Some(prereqs) => Self::start(&prereqs).map(Some),
            None => Ok(None),
        }
    }

    /// `https://NAME{path}` for a name behind the proxy (port 443: the proxy
    /// routes the name), `https://bypass.test:PORT{path}` for the bypass.
    pub fn url(&self, target: Target, path: &str) -> String {
        match target {
            Target::Upstream | Target::Untrusted => format!("https://{}{path}", target.host()),
            Target::Bypass => format!("https://{BYPASS_HOST}:{}{path}", self.bypass.addr().port()),
        }
    }

    /// The case `CLIENT.CONFIG.ROUTE`: `client` fetches from `target` (the
    /// page, or for git the repository); `expect` is given the text that
    /// proves the real answer arrived (the server's page body or the
    /// repository's `ls-remote` line).
    pub fn fetch_case(
        &self,
        client: Client,
        target: Target,
        config: &str,
        expect: impl FnOnce(String) -> Expect,
    ) -> Case {
        let name = format!("{}.{config}.{}", client.name(), target.route());
        self.fetch_case_named(name, client, target, expect)
    }

    /// [`fetch_case`](Self::fetch_case) under a name of the caller's.
    pub fn fetch_case_named(
        &self,
        name: impl Into<String>,
        client: Client,
        target: Target,
        expect: impl FnOnce(String) -> Expect,
    ) -> Case {
        let (path, proof) = if client.wants_repo() {
            (REPO_PATH, self.repo.ls_remote_line())
        } else {
            (HELLO_PATH, hello_body(target.host()))
        };
        Case::new(name, client.command(&self.url(target, path)), expect(proof))
    }

    /// The proxy settings a sandbox would give: the proxy, and `NO_PROXY`
    /// with loopback and the bypassed name.
    pub fn proxy_env(&self) -> ProxyEnv {
        ProxyEnv {
            proxy_url: self.proxy.proxy_url(),
            no_proxy: format!("localhost,127.0.0.1,::1,{BYPASS_HOST}"),
        }
    }

    /// A CA directory with the proxy's CA and a bundle of the test public CA
    /// (standing in for the system roots) plus the proxy's CA.
    pub fn trust_dir(&self) -> Result<TrustDir> {
        TrustDir::new(self.proxy.ca_pem(), self.public_ca.pem())
    }

    /// Where the test public CA's PEM lies.
    pub fn public_ca_path(&self) -> &Path {
        &self.public_ca_path
    }

    /// The agent container before any sandbox patching: the Debian image on
    /// the internal network, DNS answering nothing, `bypass.test` mapped to
    /// the gateway, the client tools mounted. `upstream.test` is mapped
    /// nowhere: only the proxy knows it.
    pub fn agent_spec(&self) -> ContainerSpecBuilder {
        self.topo
            .container_spec(&self.image)
            .extra_host(BYPASS_HOST, self.topo.gateway().to_string())
            .mount(tools_mount())
    }

    /// Who the servers saw: the upstream at least `min_upstream` requests,
    /// all from the proxy (loopback); the bypassed server requests straight
    /// from the container (neither loopback nor the gateway). Panics otherwise.
    pub fn assert_peers(&self, min_upstream: usize) {
        let upstream: Vec<_> = self.upstream.hits().iter().map(|h| h.peer.ip()).collect();
        assert!(
            upstream.len() >= min_upstream && upstream.iter().all(|ip| ip.is_loopback()),
            "the upstream should see the proxy only: {upstream:?}\n{}",
            self.proxy.log()
        );
        let bypass: Vec<_> = self.bypass.hits().iter().map(|h| h.peer.ip()).collect();
        assert!(
            !bypass.is_empty()
                && bypass
                    .iter()
                    .all(|ip| !ip.is_loopback() && *ip != self.topo.gateway()),
            "the bypassed server should see the container directly: {bypass:?}"
        );
    }
}

/// The body `GET /hello` answers on the server called `name`.
pub fn hello_body(name: &str) -> String {
    format!("hello from {name}")
}
