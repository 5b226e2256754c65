//! The test agent: what runs inside the agent image (`FROM scratch`, this
//! executable and its shared libraries, nothing else).
//!
//! Each flag is one behaviour a test needs; they run in a fixed order:
//! print the environment, write `--stdout`/`--stderr` lines, echo stdin,
//! fetch `--get URL`, sleep, allocate memory, exit. As PID 1 of its container the agent ignores
//! SIGTERM (the kernel drops signals PID 1 has no handler for), so `docker
//! stop` has to kill it after the grace period, unless `--term-exit` installs
//! a handler.
//!
//! `--serve` turns it into the project's own agent instead: the agent
//! protocol on stdin/stdout, answered through the Anthropic Messages API
//! (`nanoclaw_sandbox_core::agent::serve`), or echoed with `--echo`.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use nanoclaw_sandbox_core::agent::serve::{serve, ServeError, ServeOptions};
use nanoclaw_sandbox_core::http::{HttpClient, HttpError};
use nanoclaw_sandbox_core::sandbox::SandboxEnv;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `--get` exit code when the server's certificate is not trusted (the
/// sandbox CA missing, an interception detected): curl's code for it.
pub(crate) const GET_CERTIFICATE_UNTRUSTED: u8 = 60;

/// `--get` exit code when the server answered 400 or above (as `curl --fail`).
pub(crate) const GET_HTTP_ERROR: u8 = 22;

/// `--get` exit code for every other failure (proxy unreachable, policy
/// denial, timeout, ...).
pub(crate) const GET_FAILED: u8 = 1;

/// `--serve --exit-on` exit code: the agent "crashed" mid-message.
pub(crate) const SERVE_EXIT_ON: u8 = 3;

/// `--serve` exit code on SIGTERM unless `--term-exit` names another
/// (128 + SIGTERM, as a shell reports it).
pub(crate) const SERVE_TERMINATED: u8 = 143;

/// The test agent's behaviours.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Print the environment, one NAME=VALUE per line, sorted by name.
    #[arg(long)]
    print_env: bool,
    /// Write TEXT and a newline to stdout (repeatable).
    #[arg(long = "stdout", value_name = "TEXT")]
    stdout_lines: Vec<String>,
    /// Write TEXT and a newline to stderr (repeatable).
    #[arg(long = "stderr", value_name = "TEXT")]
    stderr_lines: Vec<String>,
    /// Copy stdin to stdout until end-of-file.
    #[arg(long)]
    echo_stdin: bool,
    /// GET URL with the library's HTTPS client, configured from the sandbox
    /// variables as `SandboxEnv::detect` reads them (proxy, proxy CA); print
    /// the status line and the body. Exit 60 when the certificate is not
    /// trusted, 22 on an HTTP status of 400 or more, 1 on other failures.
    #[arg(long, value_name = "URL")]
    get: Option<String>,
    /// Create (or truncate) FILE and write a line to it; exit 1, saying why,
    /// when that fails (a read-only mount, say).
    #[arg(long = "write", value_name = "FILE")]
    write_file: Option<std::path::PathBuf>,
    /// Allocate and touch this many MiB (to reach a memory limit).
    #[arg(long, value_name = "MIB")]
    alloc_mib: Option<usize>,
    /// Sleep this many seconds (fractions allowed).
    #[arg(long, value_name = "SECS")]
    sleep: Option<f64>,
    /// On SIGTERM, exit at once with CODE (default: ignore SIGTERM).
    #[arg(long, value_name = "CODE")]
    term_exit: Option<u8>,
    /// Exit with CODE.
    #[arg(long, value_name = "CODE", default_value_t = 0)]
    exit: u8,
    /// Be the project's own agent: read protocol `message` lines on stdin,
    /// answer with `typing`/`reply`/`done` lines on stdout through the
    /// Anthropic Messages API (ANTHROPIC_BASE_URL, ANTHROPIC_MODEL,
    /// NANOCLAW_SESSION_DIR, NANOCLAW_SYSTEM_PROMPT; the key comes in each
    /// message's credentials). Exit 0 at end of input, 1 on error, 143 on
    /// SIGTERM (or --term-exit's code). The other behaviours are ignored.
    #[arg(long)]
    serve: bool,
    /// With --serve: answer `echo: TEXT` without calling any API.
    #[arg(long, requires = "serve")]
    echo: bool,
    /// With --serve, a test hook: when a message's text contains TEXT, exit
    /// with code 3 right after its `typing` line, as a crashing agent would.
    #[arg(long, value_name = "TEXT", requires = "serve", hide = true)]
    exit_on: Option<String>,
}

/// Runs the agent.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if args.serve {
        return run_serve(args);
    }
    let sleep = match args.sleep {
        Some(secs) => Some(
            Duration::try_from_secs_f64(secs)
                .with_context(|| format!("--sleep {secs} is not a number of seconds >= 0"))?,
        ),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the agent's async runtime")?;
    runtime.block_on(async {
        let work = behave(args, sleep);
        let Some(code) = args.term_exit else {
            return work.await;
        };
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot install a SIGTERM handler")?;
        tokio::select! {
            done = work => done,
            _ = term.recv() => Ok(ExitCode::from(code)),
        }
    })
}

async fn behave(args: &Args, sleep: Option<Duration>) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    if args.print_env {
        let mut vars: Vec<(String, String)> = std::env::vars_os()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect();
        vars.sort();
        for (name, value) in vars {
            writeln!(stdout, "{name}={value}")?;
        }
    }
    for line in &args.stdout_lines {
        writeln!(stdout, "{line}")?;
    }
    stdout.flush()?;
    drop(stdout);
    for line in &args.stderr_lines {
        eprintln!("{line}");
    }
    if let Some(file) = &args.write_file {
        if let Err(error) = std::fs::write(file, "written by the test agent\n") {
            eprintln!("cannot write {}: {error}", file.display());
            return Ok(ExitCode::from(GET_FAILED));
        }
    }
    if args.echo_stdin {
        echo_stdin().await?;
    }
    if let Some(url) = &args.get {
        if let Some(failed) = http_get(url).await? {
            return Ok(ExitCode::from(failed));
        }
    }
    if let Some(duration) = sleep {
        tokio::time::sleep(duration).await;
    }
    if let Some(mib) = args.alloc_mib {
        hold_memory(mib);
    }
    Ok(ExitCode::from(args.exit))
}

/// The serve loop on the real stdin/stdout, until end of input, an error,
/// `--exit-on`, or SIGTERM.
fn run_serve(args: &Args) -> anyhow::Result<ExitCode> {
    crate::logging::init(crate::logging::WARNINGS);
    let mut options = ServeOptions::from_env().with_echo(args.echo);
    if let Some(text) = &args.exit_on {
        options = options.with_abort_on(text.as_str());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the agent's async runtime")?;
    let outcome = runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot install a SIGTERM handler")?;
        tokio::select! {
            served = serve(options, tokio::io::stdin(), tokio::io::stdout()) => match served {
                Ok(_) => Ok(ExitCode::SUCCESS),
                Err(ServeError::Aborted { id }) => {
                    eprintln!("--exit-on matched message {id}: exiting with {SERVE_EXIT_ON}");
                    Ok(ExitCode::from(SERVE_EXIT_ON))
                }
                Err(error) => Err(anyhow::Error::new(error)),
            },
            _ = term.recv() => Ok(ExitCode::from(args.term_exit.unwrap_or(SERVE_TERMINATED))),
        }
    });
    // A read of stdin may still be blocked in the runtime's thread pool
    // (a host keeps the pipe open): do not wait for it.
    runtime.shutdown_background();
    outcome
}

/// Copies stdin to stdout, flushing every chunk so the reader sees it at once.
async fn echo_stdin() -> anyhow::Result<()> {
    let mut stdin = tokio::io::stdin();
    let mut stdout = tokio::io::stdout();
    let mut buffer = vec![0u8; 8192];
    loop {
        let read = stdin.read(&mut buffer).await.context("reading stdin")?;
        if read == 0 {
            return Ok(());
        }
        stdout
            .write_all(&buffer[..read])
            .await
            .context("writing stdout")?;
        stdout.flush().await.context("writing stdout")?;
    }
}

/// GETs `url` through the client an agent host would build from its
/// environment. `Some(code)` when the request failed (the error printed to
/// stderr, as the library words it).
async fn http_get(url: &str) -> anyhow::Result<Option<u8>> {
    let env = SandboxEnv::detect().context("reading the sandbox settings for --get")?;
    let client = HttpClient::from_sandbox(&env).context("building the HTTPS client for --get")?;
    let response = match client.get(url).await {
        Ok(response) => response,
        Err(error) => {
            eprintln!("error: {error}");
            return Ok(Some(get_failure_code(&error)));
        }
    };
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{:?} {}", response.version(), response.status())?;
    let body = String::from_utf8_lossy(response.body());
    write!(stdout, "{body}")?;
    if !body.is_empty() && !body.ends_with('\n') {
        writeln!(stdout)?;
    }
    stdout.flush()?;
    let status = response.status();
    Ok((status.is_client_error() || status.is_server_error()).then_some(GET_HTTP_ERROR))
}

/// A certificate the client would not trust gets its own code, so that a
/// caller (the demo, a test) can tell it from an unreachable proxy.
fn get_failure_code(error: &HttpError) -> u8 {
    match error {
        HttpError::CaNotTrusted { .. }
        | HttpError::UntrustedCertificate { .. }
        | HttpError::Intercepted { .. } => GET_CERTIFICATE_UNTRUSTED,
        _ => GET_FAILED,
    }
}

/// Allocates `mib` MiB and writes every page, so the memory is really used.
fn hold_memory(mib: usize) {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    for _ in 0..mib {
        blocks.push(vec![1u8; 1 << 20]);
    }
    // black_box: the optimiser must not drop memory that is never read.
    let total: usize = std::hint::black_box(&blocks).iter().map(Vec::len).sum();
    eprintln!("allocated {} MiB", total >> 20);
}
