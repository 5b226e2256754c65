//! A local stand-in for the Docker Sandboxes proxy, so that sandbox
//! conditions can be reproduced on a laptop or in CI without Docker Desktop.
//!
//! What it does, as the sandbox proxy does it:
//!
//! - listens on `127.0.0.1:3128` unless told otherwise (port 0 allowed);
//! - `CONNECT` with TLS interception: a leaf certificate per host (IP SANs for
//!   IP literals) from its own CA, generated with rcgen or loaded from the CA
//!   directory and reused across restarts; HTTP/1.1 and HTTP/2 towards
//!   clients; WebSocket upgrades pass through intercepted HTTP/1.1;
//! - plain-HTTP absolute-form requests;
//! - upstream TLS verified against the host's native roots (honouring
//!   `SSL_CERT_FILE`) plus any extra upstream CA files — never skipped;
//! - a [`Policy`]: allow/deny [`HostPattern`]s (`*.x` one label, `**.x` any
//!   depth, deny wins) with a default, and bypass patterns tunnelled untouched;
//! - a denied host gets `403` with the body `Blocked by network policy:
//!   domain HOST:PORT`. For HTTPS the stand-in completes TLS with its own leaf
//!   and answers inside the session, as Docker Sandboxes do
//!   ([`DenyStyle::InsideTls`]); [`DenyStyle::ConnectReply`] answers the
//!   CONNECT itself instead;
//! - [`HeaderInjection`]s for listed hosts (the placeholder-credential swap);
//! - a `--map`-style [`HostMapping`] from names to local addresses, so tests
//!   never touch public DNS;
//! - an access log through `tracing` (target [`ACCESS_LOG_TARGET`]), without
//!   paths or headers;
//! - an env file (`HTTPS_PROXY`, `HTTP_PROXY`, both cases, `PROXY_CA_CERT_B64`)
//!   written only once it listens, so that a script can wait for it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use nanoclaw_sandbox_core::standin::{self, StandinConfig};
//!
//! let config = StandinConfig::builder()
//!     .listen(standin::parse_listen_addr("0")?)
//!     .maps(["api.test=127.0.0.1:8443".parse()?])
//!     .deny(["**.blocked.test".parse()?])
//!     .env_file("/tmp/standin.env")
//!     .build();
//! let proxy = standin::start(config).await?;
//! println!("listening on {}", proxy.addr());
//! proxy.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod access_log;
mod ca;
mod config;
mod connect;
mod envfile;
mod error;
mod forward;
mod fsutil;
mod inject;
mod intercept;
mod map;
mod policy;
mod server;
mod shutdown;
mod state;
mod target;
mod upstream;

pub use self::access_log::ACCESS_LOG_TARGET;
pub use self::ca::{CA_CERT_FILE, CA_KEY_FILE};
pub use self::config::{
    default_ca_dir, parse_listen_addr, DenyStyle, StandinConfig, StandinConfigBuilder,
    DEFAULT_LISTEN,
};
pub use self::error::{StandinError, StandinInputError};
pub use self::inject::HeaderInjection;
pub use self::map::HostMapping;
pub use self::policy::{Decision, DefaultPolicy, Policy};
pub use self::server::{start, Standin};
// The grammar lives in `proxy`; re-exported for the stand-in's configuration.
pub use crate::proxy::HostPattern;
