//! # nanoclaw-testkit
//!
//! The one home of what nanoclaw-sandbox's tests, examples and benches share,
//! so that no crate keeps a copy or includes another's files by path:
//!
//! | module | what |
//! |---|---|
//! | [`canary`] | canary secrets a test hands in and searches all output for |
//! | [`ca`] | the test certificate authority: CAs (any validity window), leaves, PEM/DER, rustls configs |
//! | [`https`] | the test HTTP(S) server: fixed pages and directories, a JSON echo, a WebSocket echo, handlers |
//! | [`mitm`] | mitmproxy (`mitmdump`) as a test's intercepting proxy |
//! | [`envfile`] | reading `NAME=VALUE` env files |
//! | [`docker`] | the docker CLI: runs, unique names, guards that remove what a test made, labels |
//! | [`tar`] | build contexts as tars |
//! | [`layers`] | what an image's own layers hold (`docker save` searched for a CA's bytes, file names) |
//! | [`fault_proxy`] | a proxy front for the faults neither the stand-in nor mitmproxy shows (407, a TLS listener, any refusal, a proxy dying at a chosen point) |
//! | [`daemon_relay`] | a unix-socket relay before the daemon's socket that a test cuts and restores |
//! | [`net`] | loopback ports: free and closed |
//! | [`prereq`] | skip or fail when a prerequisite (daemon, mitmproxy, image) is missing |
//! | [`error`] | [`FixtureError`]: what a fixture was doing and what came back |
//!
//! It does not depend on `nanoclaw-sandbox-core`: its helpers take and give
//! plain values (addresses, PEM text, argument lists), and the few helpers
//! that need the library's types live in the test tree of the crate that
//! uses them (`nanoclaw-sandbox-core/tests/support`, `nanoclaw-cli/tests/cli_support`).
//! Dependencies of the workspace's crates take it as a path dev-dependency
//! without a version, which `cargo package` strips.
#![deny(missing_docs)]

pub mod ca;
pub mod canary;
pub mod daemon_relay;
pub mod docker;
pub mod envfile;
pub mod error;
pub mod fault_proxy;
pub mod https;
pub mod layers;
pub mod mitm;
pub mod net;
pub mod prereq;
pub mod tar;

pub use error::{Context, FixtureError, Result};
