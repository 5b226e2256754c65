//! `nanoclaw-sandbox route URL`: how the host's own client would reach a URL.

use std::process::ExitCode;

use nanoclaw_sandbox_core::proxy::{
    EnvProxyConfig, PassthroughRules, ProxyConfig, Route, Target, TlsTrust,
};

use crate::settings::{SettingsArgs, VarSource};

/// Arguments of `route`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The URL to route (`https://api.anthropic.com/v1/messages`, `wss://...`).
    url: String,
    /// Print one JSON object (`route`, `proxy`, `rule`, `trust`) instead of lines.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    settings: SettingsArgs,
}

/// Prints `direct` or `proxy <url>` (credentials redacted) and the rule that decided.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    // Detection's warnings (e.g. `HTTPS_PROXY` and `https_proxy` differing)
    // go to stderr as for `run` and `build`: stdout stays the route alone.
    crate::logging::init(crate::logging::WARNINGS);
    let target = Target::parse(&args.url).map_err(crate::exit::usage)?;
    let env = VarSource::from_args(&args.settings)?.detect()?;
    let settings = env.proxy().cloned().unwrap_or_default();
    let config = PassthroughRules::new(EnvProxyConfig::new(settings));
    let decision = config.decide(&target);
    let trust = match decision.trust {
        TlsTrust::PublicOnly => "public-only",
        _ => "configured",
    };
    if args.json {
        let (route, proxy) = match &decision.route {
            Route::Direct => ("direct", None),
            Route::Via { proxy, .. } => ("proxy", Some(proxy.to_string())),
        };
        let object = serde_json::json!({
            "route": route,
            "proxy": proxy,
            "rule": decision.reason.to_string(),
            "trust": trust,
        });
        crate::output::json_line(&object)?;
        return Ok(ExitCode::SUCCESS);
    }
    match &decision.route {
        Route::Direct => say!("direct"),
        Route::Via { proxy, .. } => say!("proxy {proxy}"),
    }
    say!("rule: {}", decision.reason);
    if decision.trust == TlsTrust::PublicOnly {
        say!("trust: public roots only (passthrough: the proxy must not intercept this host)");
    }
    Ok(ExitCode::SUCCESS)
}
