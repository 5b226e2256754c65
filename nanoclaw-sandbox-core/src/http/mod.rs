//! The proxy-aware HTTPS and WebSocket client (feature `client`).
//!
//! [`HttpClient`] routes every request by a
//! [`ProxyConfig`](crate::proxy::ProxyConfig): direct, or through an HTTP
//! proxy (a CONNECT tunnel for TLS and WebSocket targets, absolute-form
//! requests for plain `http`). TLS is rustls with an explicit crypto
//! provider, trusting Mozilla's roots, the OS's roots and extra roots (the
//! sandbox proxy's CA); HTTP/2 or 1.1 by ALPN; connections pooled per origin
//! through the tunnel. Proxy refusals, policy pages, untrusted interception
//! and timeouts come back as [`HttpError`]s that say what to do.
//!
//! An agent host builds its client from the [`SandboxEnv`](crate::sandbox::SandboxEnv)
//! it detected, so that its own calls and its containers share one source of
//! truth ([`HttpClient::from_sandbox`], or [`HttpClientBuilder::for_sandbox`]
//! to change a setting first):
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use nanoclaw_sandbox_core::http::{HttpClientBuilder, HttpVersions};
//! use nanoclaw_sandbox_core::sandbox::SandboxEnv;
//!
//! let env = SandboxEnv::detect()?; // proxy variables + the proxy CA
//! let client = HttpClientBuilder::for_sandbox(&env)
//!     .http_versions(HttpVersions::Http1Only)
//!     .build()?;
//! let reply = client.get("https://api.anthropic.com/v1/models").await?;
//! println!("{}", reply.status());
//! # Ok(()) }
//! ```
//!
//! [`HttpClient::builder`] takes any other [`ProxyConfig`](crate::proxy::ProxyConfig).

mod body;
mod client;
mod dial;
mod error;
mod interception;
mod options;
mod reachability;
mod sandbox;
mod stream;
mod tls;
pub(crate) mod tunnel;
mod websocket;

pub use self::body::ResponseBody;
pub use self::client::{HttpClient, HttpClientBuilder, RequestBody};
pub use self::dial::read_connect_reply;
pub use self::error::{BuildError, HttpError, Phase, TlsFailure};
pub use self::options::{HttpVersions, Timeouts};
pub use self::websocket::WebSocket;
/// The WebSocket library, for its `Message` type and errors.
pub use tokio_tungstenite::tungstenite;
