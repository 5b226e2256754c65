//! Proxy settings and routing decisions.
//!
//! [`ProxyUrl`] is a validated proxy address whose credentials never reach
//! `Debug` or `Display`; [`ProxySettings`] holds the values read once from the
//! environment by [`crate::sandbox::SandboxEnv`] (the one place that applies
//! the variables' precedence).

mod settings;
mod url;

pub use self::settings::ProxySettings;
pub use self::url::{ProxyUrl, ProxyUrlError};
