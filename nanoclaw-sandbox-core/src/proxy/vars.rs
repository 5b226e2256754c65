//! The words the sandbox proxy and everything around it share: the proxy
//! variables in both spellings, the variable and the file Docker Sandboxes
//! hand the proxy CA over in, where the sandbox layer puts the CA for a
//! Docker daemon inside the sandbox, and the policy page's marker.
//!
//! Each is written here once, low in the tree so that every floor can read
//! it: detection and the patcher (`sandbox`), routing (`proxy`), the build
//! args (`dockerfile`), the stand-in's env file and policy page (`standin`),
//! the HTTP client's errors (`http`) and the doctor. The trust variables
//! (`NODE_EXTRA_CA_CERTS`, `SSL_CERT_FILE`, ...) have their own home,
//! [`TRUST_VARS`](crate::trust::TRUST_VARS). The test `tests/one_home.rs`
//! fails when a second spelling of any of these appears in the sources.

/// A proxy variable, known under two spellings.
///
/// Tools disagree on which spelling they read (curl and Python the
/// lowercase one, Go the uppercase one); the sandbox layer reads both, and
/// when they differ uses the lowercase one and says so
/// ([`SandboxEnv::detect_from`](crate::sandbox::SandboxEnv::detect_from)).
/// What it writes, it writes in both.
///
/// The values are the associated constants ([`ProxyVar::HTTPS_PROXY`], ...);
/// no other can be made outside this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ProxyVar {
    /// The lowercase spelling: the one used when both are set and differ.
    pub lower: &'static str,
    /// The uppercase spelling.
    pub upper: &'static str,
}

impl ProxyVar {
    /// `http_proxy` / `HTTP_PROXY`: the proxy for `http` (and `ws`) targets.
    pub const HTTP_PROXY: ProxyVar = ProxyVar::new("http_proxy", "HTTP_PROXY");
    /// `https_proxy` / `HTTPS_PROXY`: the proxy for `https` (and `wss`) targets.
    pub const HTTPS_PROXY: ProxyVar = ProxyVar::new("https_proxy", "HTTPS_PROXY");
    /// `all_proxy` / `ALL_PROXY`: the fallback for either scheme.
    pub const ALL_PROXY: ProxyVar = ProxyVar::new("all_proxy", "ALL_PROXY");
    /// `no_proxy` / `NO_PROXY`: the hosts reached directly.
    pub const NO_PROXY: ProxyVar = ProxyVar::new("no_proxy", "NO_PROXY");
    /// `ftp_proxy` / `FTP_PROXY`: nothing here reads it as a proxy (it is not
    /// one of [`PROXY_VARS`]). Docker predefines it as a build arg, which is
    /// why the build-step wrapper travels in it
    /// ([`CA_BUILD_ARG`](crate::dockerfile::CA_BUILD_ARG)).
    pub const FTP_PROXY: ProxyVar = ProxyVar::new("ftp_proxy", "FTP_PROXY");

    const fn new(lower: &'static str, upper: &'static str) -> Self {
        ProxyVar { lower, upper }
    }

    /// Both spellings, uppercase first: the order in which child
    /// environments, the daemon's drop-in and the doctor list them.
    pub const fn both(self) -> [&'static str; 2] {
        [self.upper, self.lower]
    }
}

/// The proxy variables the sandbox layer reads, forwards and checks, HTTPS
/// first (the one the model API and the channels use).
pub const PROXY_VARS: [ProxyVar; 4] = [
    ProxyVar::HTTPS_PROXY,
    ProxyVar::HTTP_PROXY,
    ProxyVar::ALL_PROXY,
    ProxyVar::NO_PROXY,
];

/// Every spelling of every one of [`PROXY_VARS`], in their order, each
/// variable's uppercase spelling first.
pub const PROXY_VAR_NAMES: [&str; 8] = [
    PROXY_VARS[0].upper,
    PROXY_VARS[0].lower,
    PROXY_VARS[1].upper,
    PROXY_VARS[1].lower,
    PROXY_VARS[2].upper,
    PROXY_VARS[2].lower,
    PROXY_VARS[3].upper,
    PROXY_VARS[3].lower,
];

/// The variable Docker Sandboxes put the proxy CA in: base64 of its PEM.
pub const PROXY_CA_B64_VAR: &str = "PROXY_CA_CERT_B64";

/// Where Docker Sandboxes install the proxy CA (PEM), and where detection
/// looks for it by default
/// ([`DetectOptions`](crate::sandbox::DetectOptions)).
pub const SANDBOX_CA_PATH: &str = "/usr/local/share/ca-certificates/proxy-ca.crt";

/// Where the sandbox layer puts the proxy CA so that `update-ca-certificates`
/// adds it to the system store, for a Docker daemon inside the sandbox
/// ([`sandbox::daemon`](crate::sandbox::daemon)). Its own name, next to
/// [`SANDBOX_CA_PATH`], so it never overwrites the sandbox's file.
pub const SYSTEM_CA_PATH: &str = "/usr/local/share/ca-certificates/nanoclaw-proxy-ca.crt";

/// How the sandbox proxy's page for a blocked host begins: Docker Sandboxes
/// answer `403` with `Blocked by network policy: domain HOST:PORT`, and so
/// does the stand-in. The HTTP client takes a `403` whose body starts with
/// it for a policy denial.
pub const POLICY_PAGE_MARKER: &str = "Blocked by network policy";

/// How a host is given the sandbox's CA: the start of every fix for a
/// missing or untrusted proxy CA (the doctor's, the HTTP client's).
pub(crate) fn provide_ca_hint() -> String {
    format!(
        "set {PROXY_CA_B64_VAR} to `base64 -w0 proxy-ca.crt`, or put the PEM at \
         {SANDBOX_CA_PATH} (Docker Sandboxes put it there)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_pair_is_one_name_in_two_cases() {
        for var in PROXY_VARS.iter().chain([&ProxyVar::FTP_PROXY]) {
            assert_eq!(var.upper.to_ascii_lowercase(), var.lower, "{var:?}");
            assert_eq!(var.both(), [var.upper, var.lower]);
        }
        assert_eq!(ProxyVar::HTTPS_PROXY.upper, "HTTPS_PROXY");
        assert_eq!(ProxyVar::NO_PROXY.lower, "no_proxy");
    }

    #[test]
    fn names_are_every_spelling_of_every_routed_variable_once() {
        let derived: Vec<&str> = PROXY_VARS.iter().flat_map(|v| v.both()).collect();
        assert_eq!(PROXY_VAR_NAMES.to_vec(), derived);
        assert_eq!(&PROXY_VAR_NAMES[..2], ["HTTPS_PROXY", "https_proxy"]);
        assert!(!PROXY_VAR_NAMES.contains(&"FTP_PROXY"));
    }

    #[test]
    fn the_two_ca_files_share_a_directory_but_not_a_name() {
        let dir = |p: &str| p.rsplit_once('/').map(|(d, _)| d.to_string());
        assert_eq!(dir(SANDBOX_CA_PATH), dir(SYSTEM_CA_PATH));
        assert_ne!(SANDBOX_CA_PATH, SYSTEM_CA_PATH);
        let hint = provide_ca_hint();
        assert!(
            hint.contains(PROXY_CA_B64_VAR) && hint.contains(SANDBOX_CA_PATH),
            "{hint}"
        );
    }
}
