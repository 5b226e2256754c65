//! # nanoclaw-sandbox-core
//!
//! Run an AI agent host's per-agent containers unchanged in plain Docker *and*
//! inside Docker Sandboxes, where the only way out is an HTTP(S) proxy that
//! terminates TLS with its own, rotating CA.
//!
//! One concern per module:
//!
//! | module | owns |
//! |---|---|
//! | [`agent`] | the agent protocol (JSON lines); the project's own agent (feature `agent`) |
//! | [`spec`] | [`ContainerSpec`](spec::ContainerSpec), its builder and validation |
//! | [`runtime`] | [`ContainerRuntime`](runtime::ContainerRuntime), [`ImageBuilder`](runtime::ImageBuilder) |
//! | [`sandbox`] | sandbox detection, the pure spec patcher, the runtime decorator |
//! | [`trust`] | the proxy CA trust store and the trust variables |
//! | [`mount_policy`] | [`MountPolicy`](mount_policy::MountPolicy): the mount allowlist (allowed roots, credential-like names) |
//! | [`proxy`] | [`ProxyConfig`](proxy::ProxyConfig), proxy URLs with redaction |
//! | [`docker_cli`] | the `docker run` command line, parsed and patched (the `docker` drop-in) |
//! | [`dockerfile`] | the Dockerfile patcher |
//! | [`doctor`] | the sandbox checks as data (`Check { id, status, detail, fix }`) |
//! | `http` (feature `client`) | the proxy-aware HTTPS and WebSocket client |
//! | `channel` (feature `client`; platforms `telegram`, `discord`, `slack`) | [`ChannelTransport`](channel::ChannelTransport) |
//! | `standin` (feature `standin`) | a local stand-in for the sandbox proxy |
//! | `relay` (feature `relay`) | [`CredentialRelay`](crate::relay::CredentialRelay): proxy credentials kept out of containers |
//!
//! Features are off by default except the `ring` crypto provider: `docker`
//! adds the bollard-based runtime, `client` the HTTPS client, `standin` the
//! local sandbox-proxy stand-in, `relay` the credential relay, `full` all of
//! them but `whatsapp`.
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod agent;
pub mod crypto;
pub mod docker_cli;
pub mod dockerfile;
pub mod doctor;
pub mod mount_policy;
pub mod proxy;
pub mod redact;
pub mod runtime;
pub mod sandbox;
pub mod spec;
pub mod trust;

#[cfg(feature = "client")]
pub mod channel;
#[cfg(feature = "host")]
pub mod host;
#[cfg(feature = "client")]
pub mod http;
// What a server runs once a connection hands its bytes over.
#[cfg(any(feature = "standin", feature = "relay"))]
mod handover;
#[cfg(feature = "relay")]
pub mod relay;
#[cfg(feature = "standin")]
pub mod standin;

/// The README's Rust example, compiled as a doctest so it cannot drift from the API.
#[cfg(all(
    doctest,
    feature = "docker",
    feature = "client",
    feature = "host",
    feature = "telegram"
))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctest;
