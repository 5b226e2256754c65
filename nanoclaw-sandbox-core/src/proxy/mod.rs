//! Proxy settings and routing decisions.
//!
//! [`ProxyUrl`] is a validated proxy address whose credentials never reach
//! `Debug` or `Display`; [`ProxySettings`] holds the values read once from the
//! environment by [`crate::sandbox::SandboxEnv`] (the one place that applies
//! the variables' precedence).
//!
//! [`ProxyConfig`] turns a [`Target`] into a [`Decision`]: [`Route::Direct`]
//! or [`Route::Via`] a proxy, the [`RouteReason`] that chose it, and the
//! [`TlsTrust`] its certificate needs. Implementations:
//!
//! - [`EnvProxyConfig`]: the proxy variables (`NO_PROXY` semantics in
//!   docs/proxy.md), on hyper-util's matcher;
//! - [`StaticProxyConfig`]: one fixed answer;
//! - [`PassthroughRules`]: layered on either; hosts that must not be
//!   intercepted (WhatsApp by default) are checked against public roots only.
//!
//! [`ProxyVar`] and the constants next to it are the shared words: the
//! proxy variables' two spellings, the CA's variable and files, the policy
//! page's marker.
//!
//! [`HostPattern`] is the crate's one host-pattern grammar (Docker Sandboxes'
//! network-policy grammar: `*.x` one label, `**.x` any depth), used by
//! passthrough rules and the stand-in's policy.

mod env;
mod no_proxy;
mod passthrough;
pub(crate) mod pattern;
mod route;
mod settings;
mod static_config;
mod target;
mod url;
mod vars;

pub use self::env::EnvProxyConfig;
pub use self::no_proxy::NoProxyRules;
#[cfg(feature = "client")]
pub(crate) use self::passthrough::SBX_BYPASS;
pub use self::passthrough::{PassthroughRules, DEFAULT_PASSTHROUGH};
pub use self::pattern::{HostPattern, HostPatternError};
pub use self::route::{
    ChildProxyEnv, Decision, ProxyAuth, ProxyConfig, ProxyVariable, Route, RouteReason, TlsTrust,
};
pub use self::settings::ProxySettings;
pub use self::static_config::StaticProxyConfig;
pub use self::target::{Target, TargetError, TargetScheme};
pub use self::url::{ProxyUrl, ProxyUrlError, RELAY_USER};
pub(crate) use self::vars::provide_ca_hint;
pub use self::vars::{
    ProxyVar, POLICY_PAGE_MARKER, PROXY_CA_B64_VAR, PROXY_VARS, PROXY_VAR_NAMES, SANDBOX_CA_PATH,
    SYSTEM_CA_PATH,
};
