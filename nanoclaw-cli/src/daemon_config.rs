//! `nanoclaw-sandbox daemon-config`: what the Docker daemon *inside* the
//! sandbox needs so its pulls and `FROM` go through the sandbox proxy and
//! trust its CA; printed (credentials as `***`) or written (`--write`).
//!
//! The rendering is the library's
//! [`sandbox::daemon::render`](nanoclaw_sandbox_core::sandbox::daemon::render);
//! this module finds its inputs (the proxy variables, the Engine version)
//! and prints or writes the result.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use nanoclaw_sandbox_core::sandbox::daemon::{
    render, DaemonConfig, DaemonFile, EngineVersion, ProxyForm, DAEMON_JSON_PATH,
    PROXIES_MIN_ENGINE,
};

use crate::exit::usage;
use crate::settings::{SettingsArgs, VarSource};

/// Arguments of `daemon-config`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Write the files (as root) instead of printing them; prints the paths
    /// written and the commands to run next.
    #[arg(long)]
    write: bool,
    /// The daemon's Engine version (`20.10`, `27.3.1`) instead of asking the
    /// daemon: works with no daemon running.
    #[arg(long, value_name = "VERSION")]
    engine_version: Option<String>,
    /// Write under this directory instead of `/` (an image's root file
    /// system being prepared, say); only `/` needs root.
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    #[command(flatten)]
    settings: SettingsArgs,
}

/// Prints or writes the daemon's configuration.
pub(crate) async fn run(args: &Args) -> anyhow::Result<ExitCode> {
    crate::logging::init(crate::logging::WARNINGS);
    let env = VarSource::from_args(&args.settings)?.detect()?;
    let proxy = env.proxy().cloned().unwrap_or_default();
    let (engine, source) = engine_version(args).await?;
    let existing_path = under(&args.root, DAEMON_JSON_PATH);
    let existing = match std::fs::read_to_string(&existing_path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "cannot read {} (its other keys must be kept)",
                    existing_path.display()
                )
            })
        }
    };
    let config = render(
        &proxy,
        env.mode().ca().map(|ca| ca.store()),
        engine,
        existing.as_deref(),
    )
    .map_err(usage)?;
    if args.write {
        write(&config, &args.root)?;
    } else {
        print(&config, &source)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The Engine version: `--engine-version`, else the daemon's; and where it
/// came from, for the header.
async fn engine_version(args: &Args) -> anyhow::Result<(EngineVersion, String)> {
    if let Some(text) = &args.engine_version {
        let version = EngineVersion::parse(text)
            .map_err(|e| usage(format!("--engine-version {text}: {e}")))?;
        return Ok((version, "--engine-version".into()));
    }
    // Only the daemon's version is asked for: no install's identity is involved.
    let runtime = crate::engine::connect(None).await.context(
        "cannot ask the Docker daemon for its Engine version; pass --engine-version \
         MAJOR.MINOR to render without a daemon",
    )?;
    let endpoint = runtime.endpoint().to_string();
    let daemon = runtime
        .daemon_proxy()
        .await
        .with_context(|| format!("cannot read the settings of the daemon at {endpoint}"))?;
    let text = daemon.engine_version.ok_or_else(|| {
        anyhow::anyhow!(
            "the daemon at {endpoint} did not report its Engine version; pass --engine-version"
        )
    })?;
    let version = EngineVersion::parse(&text)
        .with_context(|| format!("the daemon at {endpoint} reported Engine {text:?}"))?;
    Ok((version, format!("the daemon at {endpoint}, Engine {text}")))
}

fn print(config: &DaemonConfig, source: &str) -> anyhow::Result<()> {
    say!(
        "# What the Docker daemon inside the sandbox needs, for Engine {} ({source}).",
        config.engine
    );
    match config.form {
        ProxyForm::DaemonJson => say!(
            "# Engine {PROXIES_MIN_ENGINE}+: the proxy goes in daemon.json \"proxies\" (other keys kept)."
        ),
        ProxyForm::SystemdDropIn => say!(
            "# Before Engine {PROXIES_MIN_ENGINE}: the proxy goes in the daemon's environment (a \
             systemd drop-in);\n# daemon.json \"proxies\" would stop this daemon from starting."
        ),
    }
    if config.has_credentials {
        say!(
            "# The proxy credentials are shown as ***; `--write` puts the real values in the files."
        );
    }
    for file in &config.files {
        say!("\n==> {} <==", file.path.display());
        say!("{}", file.shown.trim_end());
    }
    say!("\n# Write the files above (or: sudo nanoclaw-sandbox daemon-config --write), then, as root:");
    for command in &config.commands {
        say!("{command}");
    }
    Ok(())
}

fn write(config: &DaemonConfig, root: &Path) -> anyhow::Result<()> {
    if root == Path::new("/") && !is_root()? {
        return Err(usage(
            "--write changes /etc and /usr/local: run it as root (sudo nanoclaw-sandbox \
             daemon-config --write), or print the files without --write",
        ));
    }
    for file in &config.files {
        let path = under(root, &file.path.to_string_lossy());
        write_file(&path, file, config.has_credentials)?;
        say!("wrote {}", path.display());
    }
    say!("now run, as root:");
    for command in &config.commands {
        say!("{command}");
    }
    Ok(())
}

/// Writes next to the target, then renames over it: the daemon never sees
/// half a file. Files holding credentials are readable by root only.
fn write_file(path: &Path, file: &DaemonFile, has_credentials: bool) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let is_ca = file.path.extension().is_some_and(|e| e == "crt");
    let mode = if has_credentials && !is_ca {
        0o600
    } else {
        0o644
    };
    let temp = dir.join(format!(
        ".{}.nanoclaw-tmp",
        path.file_name()
            .map_or("file".into(), |n| n.to_string_lossy())
    ));
    let result = (|| {
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&temp)?;
        out.write_all(file.content.as_bytes())?;
        out.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// `path` (absolute) under `root`.
fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// Whether the effective user is root, from `/proc/self/status`.
fn is_root() -> anyhow::Result<bool> {
    let status = std::fs::read_to_string("/proc/self/status")
        .context("cannot read /proc/self/status to tell whether this runs as root")?;
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .context("/proc/self/status has no Uid line")?;
    Ok(euid == "0")
}
