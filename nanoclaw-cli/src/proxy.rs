//! `nanoclaw-sandbox proxy`: the local stand-in for the Docker Sandboxes
//! proxy, a thin layer over `standin::start`.
//!
//! Stdout gets one line, `listening on ADDR`, once the stand-in listens; the
//! env file (when asked for) exists from that moment on and is removed at
//! shutdown, so a script can wait for either. Logs (the access log) go to
//! stderr.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use nanoclaw_sandbox_core::standin::{
    self, DefaultPolicy, HeaderInjection, HostMapping, HostPattern, StandinConfig,
    ACCESS_LOG_TARGET,
};

use crate::exit::usage;
use crate::logging;
use crate::signals::Signals;

/// Options of `proxy`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where to listen: `IP:PORT`, or a port on 127.0.0.1 (0 picks a free
    /// one). Containers on Docker's bridge reach a loopback proxy only when
    /// it listens on an address they can route to, e.g. `0.0.0.0:3128`.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3128",
          value_parser = |s: &str| standin::parse_listen_addr(s))]
    listen: std::net::SocketAddr,
    /// The directory of the CA (`proxy-ca.crt`, `proxy-ca.key`): loaded when
    /// present, generated otherwise [default: a per-user data directory].
    #[arg(long, value_name = "DIR")]
    ca_dir: Option<PathBuf>,
    /// Resolve HOST (on PORT, or any port) to IP:PORT instead of DNS.
    #[arg(long = "map", value_name = "HOST[:PORT]=IP:PORT")]
    maps: Vec<HostMapping>,
    /// Tunnel hosts matching PATTERN without interception (repeatable).
    #[arg(long, value_name = "PATTERN")]
    bypass: Vec<HostPattern>,
    /// Allow hosts matching PATTERN: `example.com`, `*.example.com` (one
    /// label), `**.example.com` (any depth), `**` (every host), an IP address,
    /// or a CIDR range (`10.0.0.0/8`, `[fd00::/8]`: IP-literal targets only,
    /// never a name); any of them with `:PORT`.
    #[arg(long, value_name = "PATTERN")]
    allow: Vec<HostPattern>,
    /// Deny hosts matching PATTERN, written as for --allow (CIDR ranges
    /// too, e.g. `127.0.0.0/8`); deny wins over allow: they get 403
    /// `Blocked by network policy: domain HOST:PORT`.
    #[arg(long, value_name = "PATTERN")]
    deny: Vec<HostPattern>,
    /// What hosts no --allow/--deny pattern names get.
    #[arg(long = "default", value_name = "allow|deny", default_value = "allow")]
    default_policy: DefaultPolicy,
    /// Set HEADER to VALUE on intercepted requests to hosts matching HOST
    /// (a pattern): the sandbox's placeholder-credential swap. The value is
    /// never logged or shown in errors.
    #[arg(long = "inject", value_name = "HOST:HEADER=VALUE")]
    injections: Vec<String>,
    /// Trust this CA (PEM) for upstream certificates, besides the host's
    /// native roots (repeatable).
    #[arg(long = "upstream-ca", value_name = "FILE")]
    upstream_cas: Vec<PathBuf>,
    /// Write HTTPS_PROXY, HTTP_PROXY (both cases) and PROXY_CA_CERT_B64 here
    /// once listening (what `run --env-file` and `doctor --env-file` read).
    #[arg(long, value_name = "FILE")]
    env_file: Option<PathBuf>,
}

/// Runs the stand-in until Ctrl-C or SIGTERM, then shuts it down gracefully.
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    logging::init(&format!(
        "{},{ACCESS_LOG_TARGET}=info,nanoclaw_sandbox_core::standin=info",
        logging::WARNINGS
    ));
    // Parsed here, not by clap: clap's error would echo the whole entry,
    // secret value included; ours shows the host only.
    let injections = args
        .injections
        .iter()
        .map(|entry| HeaderInjection::parse(entry).map_err(|e| usage(format!("--inject: {e}"))))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut config = StandinConfig::builder()
        .listen(args.listen)
        .maps(args.maps)
        .bypass(args.bypass)
        .allow(args.allow)
        .deny(args.deny)
        .default_policy(args.default_policy)
        .injections(injections)
        .upstream_ca_files(args.upstream_cas);
    if let Some(dir) = args.ca_dir {
        config = config.ca_dir(dir);
    }
    if let Some(file) = args.env_file {
        config = config.env_file(file);
    }
    // Listen for signals before listening for clients: a signal that comes
    // right after the address is printed must not kill us half-way.
    let mut signals = Signals::install()?;
    let standin = standin::start(config.build())
        .await
        .context("the sandbox proxy stand-in could not start")?;
    say!("listening on {}", standin.addr());
    eprintln!(
        "clients: HTTPS_PROXY={} and trust {}{}",
        standin.proxy_url(),
        standin.ca_cert_path().display(),
        standin
            .env_file()
            .map(|file| format!(" (both in {})", file.display()))
            .unwrap_or_default()
    );
    let signal = signals.next().await;
    tracing::info!("{signal}: shutting down");
    standin.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
