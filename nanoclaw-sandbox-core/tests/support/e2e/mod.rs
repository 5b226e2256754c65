//! End-to-end fixtures: agent containers (node, curl, python3, git in the
//! Debian image) behind mitmproxy, which plays the Docker Sandboxes proxy.
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
//! The swap point for the final matrix: [`hand_patch`] becomes the library's
//! `SandboxPatcher`, and [`run_container`] (the docker CLI) the library's
//! `ContainerRuntime`; both already speak [`ContainerSpec`](nanoclaw_sandbox_core::spec::ContainerSpec).

mod cases;
mod clients;
mod docker_cli;
mod error;
mod git_repo;
mod hand_patch;
mod https_server;
mod image;
mod mitm;
mod pki;
mod stage;
mod topology;

// Each test binary uses its own subset of the fixtures.
#[allow(unused_imports)]
pub use self::{
    cases::{case_script, parse_results, run_cases, Case, CaseReport, CaseResult, Expect},
    clients::{tools_mount, Client, TOOLS_DIR_IN_CONTAINER},
    docker_cli::{
        docker, docker_available, run_container, start_detached, unique_name, ContainerGuard,
        RunOutput, RUN_TIMEOUT, TEST_LABEL,
    },
    error::{Context, FixtureError, Result},
    git_repo::GitRepo,
    hand_patch::{
        hand_patch, ProxyEnv, ReplacingVars, TrustDir, ADDITIVE_TRUST_VARS, BUNDLE_FILE, CA_DIR,
        PROXY_CA_FILE, REPLACING_TRUST_VARS,
    },
    https_server::{Hit, HttpsServer, Site},
    image::{debian_image, DEBIAN_IMAGE_SCRIPT},
    mitm::{Mitm, Route, MITMDUMP},
    pki::{ServerCert, TestCa, TestPki},
    stage::{
        hello_body, ready, Prereqs, Stage, Target, BYPASS_HOST, HELLO_PATH, REPO_PATH,
        UPSTREAM_HOST,
    },
    topology::{Topology, DNS_NOWHERE},
};

use super::missing;
