//! The agent clients of the Debian image (Debian's node 18, curl, python3,
//! git; Node 24 and Deno from `.ci/debian-agent-image.sh`'s wheels), as the
//! exact command lines the cases run, and what each one's certificate error
//! looks like.

use nanoclaw_sandbox_core::spec::Mount;

use super::cases::Expect;

/// The directory holding the client scripts (`node_connect.js`,
/// `node24_get.js`, `deno_fetch.js`) on the host.
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

/// Node 24 in the image (Debian's node 18 stays `node`); the path
/// `.ci/debian-agent-image.sh` copies it to.
const NODE24: &str = "/opt/node24/bin/node";
/// Deno in the image (`.ci/debian-agent-image.sh`).
const DENO: &str = "/usr/local/bin/deno";

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
    /// Node 24's global `fetch` (`tools/node24_get.js fetch`): Node's own
    /// proxy support (`NODE_USE_ENV_PROXY=1`), `NODE_EXTRA_CA_CERTS`.
    Node24Fetch,
    /// Node 24's `https.get` (`tools/node24_get.js https`): the same, through
    /// the global agent.
    Node24Https,
    /// Deno's `fetch` (`tools/deno_fetch.js`): proxy variables read by Deno
    /// itself, `DENO_CERT`.
    Deno,
}

impl Client {
    /// All of them.
    pub const ALL: [Client; 7] = [
        Client::Node,
        Client::Curl,
        Client::Python,
        Client::Git,
        Client::Node24Fetch,
        Client::Node24Https,
        Client::Deno,
    ];
    /// The ones that read the replacing trust variables (node, Node 24 and
    /// Deno add to their own roots instead).
    pub const BUNDLE_READERS: [Client; 3] = [Client::Curl, Client::Python, Client::Git];

    /// A short name for case names.
    pub fn name(self) -> &'static str {
        match self {
            Client::Node => "node",
            Client::Curl => "curl",
            Client::Python => "python3",
            Client::Git => "git",
            Client::Node24Fetch => "node24-fetch",
            Client::Node24Https => "node24-https",
            Client::Deno => "deno",
        }
    }

    /// The command fetching `url` (a page, or for git a repository URL).
    pub fn command(self, url: &str) -> Vec<String> {
        let node_script = format!("{TOOLS_DIR_IN_CONTAINER}/node_connect.js");
        let node24_script = format!("{TOOLS_DIR_IN_CONTAINER}/node24_get.js");
        let deno_script = format!("{TOOLS_DIR_IN_CONTAINER}/deno_fetch.js");
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
            Client::Node24Fetch => vec![NODE24, &node24_script, "fetch", url],
            Client::Node24Https => vec![NODE24, &node24_script, "https", url],
            // No update check: it would look up Deno's release server.
            Client::Deno => vec![
                "env",
                "DENO_NO_UPDATE_CHECK=1",
                DENO,
                "run",
                "--no-config",
                "--allow-net",
                &deno_script,
                url,
            ],
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
            Client::Node | Client::Node24Fetch | Client::Node24Https => (
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
            // rustls (webpki): the issuer is none of its roots.
            Client::Deno => (Some(1), &["invalid peer certificate: UnknownIssuer"]),
        };
        Expect::Fails {
            exit,
            output_any_of: any_of.iter().map(|s| s.to_string()).collect(),
        }
    }
}
