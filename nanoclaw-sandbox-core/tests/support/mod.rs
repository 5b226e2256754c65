//! The core's integration-test support: the helpers that need the
//! library's own types. Everything else (the test CA, the HTTP(S) test
//! server, mitmproxy, the docker CLI, env files, tar contexts,
//! prerequisites) is the workspace's test kit, `nanoclaw_testkit`.
//!
//! A test may skip (printing why) only when `NANOCLAW_REQUIRE_DOCKER` is unset;
//! CI sets it to 1, and then a missing daemon, mitmproxy or Debian image fails.
#![allow(dead_code)]

// The client's tests: upstreams behind names, clients, proxies.
#[cfg(feature = "client")]
pub mod client_fixture;
// Docker through the library's runtime.
#[cfg(feature = "docker")]
pub mod docker;
pub mod e2e;
// An agent host with echo agents on the real daemon.
#[cfg(all(feature = "host", feature = "docker"))]
pub mod echo_host;
// The host's tests' channel.
#[cfg(feature = "host")]
pub mod memory_channel;
// A platform double (Discord, Slack) behind mitmproxy.
#[cfg(feature = "client")]
pub mod platform_proxy;
#[cfg(feature = "standin")]
pub mod standin_client;
#[cfg(feature = "standin")]
pub mod standin_logs;
