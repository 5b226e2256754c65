//! End-to-end fixtures: agent containers (node 18 and 24, Deno, curl,
//! python3, git in the Debian image) behind mitmproxy, which plays the
//! Docker Sandboxes proxy.
//!
//! The topology mirrors a sandbox: the agent container's only way to the
//! upstream is the proxy.
//!
//! ```text
//!   agent container ──(internal network)──► gateway IP ─┬─ mitmdump :P ──► 127.0.0.1:U  "upstream.test"
//!   (DNS 127.0.0.1: no answers)                         └─ bypass server :B              "bypass.test" (NO_PROXY)
//! ```
//!
//! A test reads like:
//!
//! ```ignore
//! let Some(stage) = Stage::start_or_skip()? else { return Ok(()) };   // network, PKI, servers, mitmproxy
//! let trust = stage.trust_dir()?;                                     // proxy-ca.pem + ca-bundle.pem
//! let cases = Client::ALL.map(|c| stage.fetch_case(c, Target::Upstream, "patched", Expect::succeeds));
//! let spec = hand_patch(stage.agent_spec(), &stage.proxy_env(), Some((&trust, ReplacingVars::CombinedBundle)));
//! run_cases("patched", spec, cases.to_vec(), RUN_TIMEOUT)?.assert_all_pass();
//! ```
//!
//! Each case prints as `PASS node.patched.upstream-through-proxy (210 ms) | hello from upstream.test`.
//!
//! The matrix (`tests/e2e_matrix.rs`, `tests/e2e_build.rs`) runs the same
//! cases through the library itself: [`sandbox_env`] feeds the library's
//! detection, `Library::sandbox` wraps `DockerRuntime` in `SandboxRuntime`,
//! and `LibraryRunner` (a [`Runner`]) runs each container with
//! `AgentHandle`; against mitmproxy and against the project's stand-in
//! ([`ProxyKind`]). [`hand_patch`] and [`run_container`] (the docker CLI)
//! remain for the fixtures' own smoke tests, which prove the scene and the
//! negative controls independently of the library.
//!
//! The parts that need no library type are the test kit's
//! (`nanoclaw_testkit`): the test CA, the HTTPS servers (`https::Server`
//! with a `Site`), mitmproxy (`mitm::Mitmproxy`), the docker CLI
//! (`docker::run`, guards, unique names, `TEST_LABEL`, `RUN_TIMEOUT`) and
//! the fixtures' error type (`FixtureError`, `Context`).

mod cases;
mod clients;
mod docker_cli;
mod git_repo;
mod hand_patch;
mod image;
#[cfg(feature = "docker")]
mod library;
mod proxy;
mod sandbox_env;
mod stage;
#[cfg(feature = "standin")]
mod standin_proxy;
mod topology;

// Each test binary uses its own subset of the fixtures.
#[cfg(feature = "docker")]
#[allow(unused_imports)]
pub use self::library::{Library, LibraryRunner};
#[cfg(feature = "standin")]
#[allow(unused_imports)]
pub use self::standin_proxy::StandinProxy;
#[allow(unused_imports)]
pub use self::{
    cases::{
        case_script, parse_results, pass_line, run_cases, run_cases_with, Case, CaseReport,
        CaseResult, DockerCli, Expect, Runner,
    },
    clients::{tools_mount, Client, TOOLS_DIR_IN_CONTAINER},
    docker_cli::{run_container, start_detached},
    git_repo::GitRepo,
    hand_patch::{
        hand_patch, ProxyEnv, ReplacingVars, TrustDir, ADDITIVE_TRUST_VARS, BUNDLE_FILE, CA_DIR,
        PROXY_CA_FILE, REPLACING_TRUST_VARS,
    },
    image::{debian_image, DEBIAN_IMAGE_SCRIPT},
    proxy::{Proxy, ProxyKind},
    sandbox_env::sandbox_env,
    stage::{
        hello_body, ready, Prereqs, Stage, Target, BYPASS_HOST, HELLO_PATH, REPO_PATH,
        UPSTREAM_HOST,
    },
    topology::{Topology, DNS_NOWHERE},
};
