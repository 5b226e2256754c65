//! `nanoclaw-sandbox`: the command line over nanoclaw-sandbox-core.
//!
//! This file only parses arguments and dispatches: each subcommand lives in a
//! module of its own, and the library does the work.
#![forbid(unsafe_code)]
#![deny(unreachable_pub)]

/// `println!` that returns an error instead of panicking when stdout is
/// gone (a closed pipe, as with `| head`). Use inside functions returning
/// `anyhow::Result`.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*).map_err($crate::exit::stdout_error)?
    }};
}

mod agent;
mod build_context;
mod build_image;
mod daemon_config;
mod demo;
mod docker_shim;
mod doctor;
mod engine;
mod exit;
mod host;
mod inspect;
mod logging;
mod output;
mod patch_dockerfile;
mod proxy;
mod route;
mod run;
mod run_spec;
mod settings;
mod shim_install;
mod shim_kept;
mod signals;
mod spec_schema;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// Run AI agent containers unchanged in plain Docker and inside Docker Sandboxes.
#[derive(Debug, Parser)]
#[command(name = "nanoclaw-sandbox", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sandbox conditions on this machine: a patched agent gets through, an unpatched one fails.
    ///
    /// An agent reaches an HTTPS upstream through an intercepting proxy
    /// stand-in when patched by the sandbox layer, and fails on the
    /// certificate unpatched; with spawn timings. Builds the agent image on
    /// first use, never pulls, reaches nothing beyond this machine.
    Demo(demo::Args),
    /// Print how the host's own HTTPS client would reach URL: `direct` or
    /// `proxy <url>` (credentials redacted), and the rule that decided.
    Route(route::Args),
    /// Check the sandbox set-up: every troubleshooting line of the Docker
    /// Sandboxes guide, each with its fix (exit 1 when a check fails).
    Doctor(doctor::Args),
    /// Compare a container's proxy and CA variables and mounts with what the
    /// sandbox layer would set (exit 1 on a mismatch).
    Inspect(inspect::Args),
    /// Build an image with the proxy build args and, in a sandbox, the proxy CA for RUN steps.
    ///
    /// Each RUN step runs inside a wrapper that trusts the CA for that step
    /// alone (the Dockerfile is rewritten in memory only): the CA, which
    /// rotates, stays in no layer and no history line of the image.
    Build(build_image::Args),
    /// Declare the proxy build args in every stage of a Dockerfile (print, rewrite, or check).
    PatchDockerfile(patch_dockerfile::Args),
    /// Run one agent container, patched when the environment is a sandbox.
    ///
    /// Output is streamed; the exit code is the container's (125 for our own
    /// errors, 126/127 when the command cannot run or is not found, 130 after
    /// Ctrl-C, which stops and removes the container).
    Run(run::Args),
    /// A local stand-in for the Docker Sandboxes proxy, until Ctrl-C.
    ///
    /// TLS interception with its own CA, allow/deny policy, bypass, header
    /// injection: sandbox conditions without Docker Desktop. Prints
    /// `listening on ADDR` once it listens; the env file exists from then on.
    Proxy(proxy::Args),
    /// The agent host: Telegram messages answered by one sandboxed agent container per chat.
    ///
    /// Each allowed chat gets its own agent container (through the sandbox
    /// layer when the environment is a sandbox), which answers through the
    /// Anthropic Messages API. Configured by TELEGRAM_BOT_TOKEN,
    /// NANOCLAW_ALLOWED_CHATS, ANTHROPIC_API_KEY (handed to agents in the
    /// protocol, never as container environment), TELEGRAM_API_BASE,
    /// ANTHROPIC_BASE_URL and ANTHROPIC_MODEL. Runs until Ctrl-C or SIGTERM.
    Host(host::Args),
    /// Print (or `--write`) what the Docker daemon inside the sandbox needs:
    /// the proxy, in the form its Engine version accepts, and the proxy CA.
    ///
    /// Engine 23+: daemon.json "proxies"; before: a systemd drop-in. The CA
    /// goes to the system store dockerd and containerd read. Proxy
    /// credentials are printed as ***.
    DaemonConfig(daemon_config::Args),
    /// The real `docker`, with the sandbox patches on `run` and `create` in a sandbox.
    ///
    /// Every argument after `docker` is docker's (never read as ours):
    /// everything else, and everything in standard Docker, goes to the real
    /// docker byte for byte. Installed as a `docker` link first on PATH it
    /// answers to that name. NANOCLAW_REAL_DOCKER names the real binary;
    /// NANOCLAW_SHIM_EXPLAIN=1 prints the rewritten command. See docs/shim.md.
    Docker {
        /// docker's own arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        args: Vec<std::ffi::OsString>,
    },
    /// Install (or remove) a `docker` link to this executable in a directory for the host's PATH.
    Shim(shim_install::Args),
    /// The test agent itself: what runs inside the agent image.
    #[command(hide = true)]
    Agent(agent::Args),
    /// Print the JSON Schema of the container spec files `run --spec` and `doctor --spec` read.
    ///
    /// A spec file is TOML or JSON; the schema describes both (JSON Schema
    /// 2020-12, for editors and CI). docs/spec-file.md documents every field.
    SpecSchema,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    ///
    /// For example `nanoclaw-sandbox completions bash > /etc/bash_completion.d/nanoclaw-sandbox`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// The completion script for `shell`, from the command definition itself.
fn completions(shell: clap_complete::Shell) -> anyhow::Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "nanoclaw-sandbox", &mut script);
    use std::io::Write as _;
    std::io::stdout()
        .write_all(&script)
        .map_err(exit::stdout_error)?;
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    // `docker …` is dispatched before clap: docker's `-h`, `--version` and
    // flags must reach docker untouched.
    let mut argv = std::env::args_os();
    let argv0 = argv.next().unwrap_or_default();
    if docker_shim::called_as_docker(&argv0) {
        return docker_shim::run(argv.collect());
    }
    let rest: Vec<std::ffi::OsString> = argv.collect();
    if rest.first().map(|a| a == docker_shim::DOCKER) == Some(true) {
        return docker_shim::run(rest[1..].to_vec());
    }
    let cli = Cli::try_parse().unwrap_or_else(|error| {
        match run::parse_error_code(Cli::command(), &error) {
            Some(code) => {
                let _ = error.print();
                std::process::exit(code)
            }
            None => error.exit(),
        }
    });
    let outcome = match cli.command {
        // The agent is the container's PID 1: keep it free of the async
        // runtime's start-up unless it needs one (see agent.rs).
        Command::Agent(args) => agent::run(&args),
        Command::Route(args) => route::run(&args),
        Command::Build(args) => exit::block_on(build_image::run(&args)),
        Command::PatchDockerfile(args) => patch_dockerfile::run(&args),
        Command::Run(args) => exit::block_on(run::run(args)),
        Command::Proxy(args) => exit::block_on(proxy::run(args)),
        Command::Host(args) => exit::block_on(host::run(args)),
        Command::Demo(args) => exit::block_on(demo::run(&args)),
        Command::Doctor(args) => exit::block_on(doctor::run(&args)),
        Command::Inspect(args) => exit::block_on(inspect::run(&args)),
        Command::Completions { shell } => completions(shell),
        Command::SpecSchema => spec_schema::run(),
        Command::DaemonConfig(args) => exit::block_on(daemon_config::run(&args)),
        // Reached only when `docker` is not the first argument (never, as
        // clap takes no global flag): the same shim.
        Command::Docker { args } => Ok(docker_shim::run(args)),
        Command::Shim(args) => shim_install::run(&args),
    };
    exit::report(outcome)
}
