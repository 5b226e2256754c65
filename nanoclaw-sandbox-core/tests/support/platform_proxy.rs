//! A platform double behind mitmproxy, as a channel's tests reach it: the
//! double's certificates chain to a test "public" CA that mitmproxy trusts
//! upstream, and a client trusts that CA as its public roots (no OS roots)
//! and mitmproxy's CA only when asked, so a test can show both the working
//! path and the refusal of an untrusted interception.

use nanoclaw_sandbox_core::http::HttpClient;
use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::mitm::{MitmOptions, Mitmproxy, Route};
use rustls::pki_types::CertificateDer;

use super::client_fixture::{mitm_ca, test_timeouts, via};

/// mitmproxy in front of a double, and the CA the double's certificates chain to.
pub struct PlatformProxy {
    pub mitm: Mitmproxy,
    public_ca: CertificateDer<'static>,
    _dir: tempfile::TempDir,
}

impl PlatformProxy {
    /// mitmproxy routing `routes` (the double's names) and trusting `ca`
    /// upstream, configured by `configure`; `None` (skipped) when mitmdump
    /// is missing.
    pub fn start(
        ca: &TestCa,
        routes: Vec<Route>,
        configure: impl FnOnce(&mut MitmOptions),
    ) -> Option<PlatformProxy> {
        let dir = tempfile::tempdir().unwrap();
        let mut options = MitmOptions {
            routes,
            upstream_ca_pem: Some(ca.write_pem(dir.path(), "public-ca.pem")),
            ..MitmOptions::default()
        };
        configure(&mut options);
        let mitm = Mitmproxy::start_or_skip(&options)?;
        Some(PlatformProxy {
            mitm,
            public_ca: ca.cert_der(),
            _dir: dir,
        })
    }

    /// A client through mitmproxy trusting the public CA, and mitmproxy's
    /// CA only if `trust_proxy_ca`.
    pub fn client(&self, trust_proxy_ca: bool) -> HttpClient {
        let extra = if trust_proxy_ca {
            mitm_ca(&self.mitm)
        } else {
            Vec::new()
        };
        HttpClient::builder(via(&self.mitm.url()))
            .public_roots(vec![self.public_ca.clone()])
            .native_roots(false)
            .extra_roots(extra)
            .timeouts(test_timeouts())
            .build()
            .unwrap()
    }
}
