//! The four agent clients of the Debian image, as the exact command lines the
//! cases run, and what each one's certificate error looks like.

use nanoclaw_sandbox_core::spec::Mount;

use super::cases::Expect;

/// The directory holding `node_connect.js` on the host.
const TOOLS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/e2e/tools");
/// Where the tools are mounted (read-only) in the container.
pub const TOOLS_DIR_IN_CONTAINER: &str = "/opt/nanoclaw-e2e";

/// The read-only mount of the tools.
pub fn tools_mount() -> Mount {
    Mount::bind(TOOLS_DIR, TOOLS_DIR_IN_CONTAINER, true)
}

/// Python's urllib with its defaults: proxies from the environment
/// (`getproxies`, honouring `no_proxy`), trust from OpenSSL's default paths
/// (`SSL_CERT_FILE`). An error leaves a traceback naming the SSL reason.
const PYTHON_GET: &str =
    "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=20).read().decode())";

/// An agent-side HTTPS client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// Node 18 with the CONNECT agent in `tools/node_connect.js`.
    Node,
    /// curl (OpenSSL): proxy variables and `CURL_CA_BUNDLE`.
    Curl,
    /// python3's urllib (OpenSSL): proxy variables and `SSL_CERT_FILE`.
    Python,
    /// git's `ls-remote` over HTTPS (libcurl-gnutls): proxy variables and
    /// `GIT_SSL_CAINFO`.
    Git,
}

impl Client {
    /// All four.
    pub const ALL: [Client; 4] = [Client::Node, Client::Curl, Client::Python, Client::Git];
    /// The ones that read the replacing trust variables (all but node).
    pub const BUNDLE_READERS: [Client; 3] = [Client::Curl, Client::Python, Client::Git];

    /// A short name for case names.
    pub fn name(self) -> &'static str {
        match self {
            Client::Node => "node",
            Client::Curl => "curl",
            Client::Python => "python3",
            Client::Git => "git",
        }
    }

    /// The command fetching `url` (a page, or for git a repository URL).
    pub fn command(self, url: &str) -> Vec<String> {
        let node_script = format!("{TOOLS_DIR_IN_CONTAINER}/node_connect.js");
        let argv: Vec<&str> = match self {
            Client::Node => vec!["node", &node_script, url],
            Client::Curl => vec![
                "curl",
                "--silent",
                "--show-error",
                "--fail",
                "--max-time",
                "20",
                url,
            ],
            Client::Python => vec!["python3", "-c", PYTHON_GET, url],
            Client::Git => vec!["git", "ls-remote", url],
        };
        argv.into_iter().map(str::to_string).collect()
    }

    /// Whether this client fetches a git repository rather than a page.
    pub fn wants_repo(self) -> bool {
        self == Client::Git
    }

    /// How this client fails when it does not trust the certificate it is
    /// shown: its own error, not just any failure.
    pub fn certificate_error(self) -> Expect {
        let (exit, any_of): (Option<i32>, &[&str]) = match self {
            // Which one depends on whether the proxy sends its CA along.
            Client::Node => (
                Some(1),
                &[
                    "SELF_SIGNED_CERT_IN_CHAIN",
                    "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
                ],
            ),
            // CURLE_PEER_FAILED_VERIFICATION
            Client::Curl => (Some(60), &["SSL certificate problem"]),
            Client::Python => (Some(1), &["CERTIFICATE_VERIFY_FAILED"]),
            // libcurl-gnutls: "server certificate verification failed. CAfile: ..."
            Client::Git => (Some(128), &["server certificate verification failed"]),
        };
        Expect::Fails {
            exit,
            output_any_of: any_of.iter().map(|s| s.to_string()).collect(),
        }
    }
}
