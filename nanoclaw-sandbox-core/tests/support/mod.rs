//! Shared by the integration tests: prerequisites (`prereq`), test PKIs, servers, proxies.
//!
//! A test may skip (printing why) only when `NANOCLAW_REQUIRE_DOCKER` is unset;
//! CI sets it to 1, and then a missing daemon, mitmproxy or Debian image fails.
#![allow(dead_code)]

pub mod e2e;
pub mod tar_context;

mod prereq;
pub use prereq::*;

#[cfg(feature = "standin")]
pub mod standin_client;
#[cfg(feature = "standin")]
pub mod standin_logs;
#[cfg(feature = "standin")]
pub mod standin_servers;
// Test CAs, upstream servers, proxies (the client's tests; reusable).
#[cfg(feature = "client")]
pub mod client_fixture;
#[cfg(feature = "client")]
pub mod connect_proxy;
#[cfg(feature = "client")]
pub mod echo_server;
pub mod mitm;
pub mod test_ca;
