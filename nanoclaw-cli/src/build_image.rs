//! `nanoclaw-sandbox build`: an image build through the sandbox layer, which
//! forwards the proxy build args and, behind an intercepting proxy, makes
//! `RUN` steps trust the proxy CA (in memory: nothing is written to the
//! context directory, and the CA does not stay in the image).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use nanoclaw_sandbox_core::dockerfile::{read_dockerfile, CA_BUILD_ARG};
use nanoclaw_sandbox_core::redact;
use nanoclaw_sandbox_core::runtime::{BuildRequest, ImageBuilder};
use nanoclaw_sandbox_core::sandbox::{Mode, SandboxEnv};
use nanoclaw_sandbox_core::spec::NetworkMode;

use crate::build_context;
use crate::engine;
use crate::exit::usage;
use crate::logging;
use crate::settings::{SettingsArgs, VarSource};

/// Options of `build`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Dockerfile [default: CONTEXT/Dockerfile]; it may lie outside
    /// the context.
    #[arg(short = 'f', long = "file", value_name = "Dockerfile")]
    dockerfile: Option<PathBuf>,
    /// Name the image `name:tag` (repeatable).
    #[arg(short = 't', long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// The network of `RUN` steps: `bridge` (default), `none`, `host`, or a name.
    #[arg(long, value_name = "MODE")]
    network: Option<String>,
    /// Build without the cache.
    #[arg(long)]
    no_cache: bool,
    /// Plain Docker: no proxy build args and no CA steps, even in a sandbox.
    #[arg(long)]
    no_sandbox: bool,
    /// Print the Dockerfile as the build would see it (CA steps included)
    /// and the build args (credentials redacted); build nothing.
    #[arg(long)]
    dry_run: bool,
    /// The workspace: in a sandbox, the files of the proxy CA the build
    /// prepares are kept under it [default: the current directory].
    #[arg(long, env = engine::WORKSPACE_VAR, value_name = "DIR")]
    workspace: Option<PathBuf>,
    #[command(flatten)]
    settings: SettingsArgs,
    /// The build context: a directory (`.dockerignore` is honoured).
    context: PathBuf,
}

/// Builds the image (or shows what the build would get).
pub async fn run(args: &Args) -> anyhow::Result<ExitCode> {
    logging::init(logging::WARNINGS);
    let workspace = args.workspace.as_deref();
    let packed = build_context::pack(&args.context, args.dockerfile.as_deref())
        .map_err(|e| usage(format!("{e:#}")))?;
    let env = if args.no_sandbox {
        SandboxEnv::new(Mode::StandardDocker)
    } else {
        VarSource::from_args(&args.settings)?.detect()?
    };
    let mut request = BuildRequest::new(packed.tar)
        .dockerfile(packed.dockerfile.as_str())
        .no_cache(args.no_cache);
    for tag in &args.tags {
        request = request.tag(tag.as_str());
    }
    if let Some(network) = &args.network {
        request = request.network(NetworkMode::parse(network));
    }
    let docker = engine::connect(workspace).await?;
    let runtime = engine::sandboxed(docker, env, workspace)?;
    if args.dry_run {
        let (prepared, report) = runtime.prepare_build(request)?;
        show_prepared(&prepared)?;
        if !report.is_empty() {
            say!("--- sandbox layer ---");
            for entry in report.entries() {
                say!("{entry}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let name = request.display_name().to_string();
    say!(
        "building {name} from {} ({} files)",
        args.context.display(),
        packed.files
    );
    let mut progress = Progress::new();
    let built = runtime
        .build(request, &mut |line: &str| progress.line(line))
        .await;
    progress.finish();
    let id = built?;
    say!("built {id}{}", tagged(&args.tags));
    Ok(ExitCode::SUCCESS)
}

fn tagged(tags: &[String]) -> String {
    if tags.is_empty() {
        String::new()
    } else {
        format!(" as {}", tags.join(", "))
    }
}

/// The Dockerfile inside the prepared context, the build args, the hosts.
fn show_prepared(request: &BuildRequest) -> anyhow::Result<()> {
    let dockerfile = read_dockerfile(request.context(), request.dockerfile_path())
        .context("cannot read the Dockerfile back from the prepared context")?;
    say!(
        "--- {} (as the build sees it) ---",
        request.dockerfile_path()
    );
    say!("{}", dockerfile.trim_end());
    say!("--- build args ---");
    for (name, value) in request.build_args() {
        if name == CA_BUILD_ARG {
            // Shown whole it would be the wrapper script (and the CA): say what it is.
            let ca = if value.contains("BEGIN CERTIFICATE") {
                " with the proxy CA"
            } else {
                ""
            };
            say!("{name}=<the RUN-step wrapper{ca}, {} bytes>", value.len());
            continue;
        }
        say!("{name}={}", redact::env_value_for_display(name, value));
    }
    if !request.extra_hosts().is_empty() {
        say!("--- extra hosts ---");
        for host in request.extra_hosts() {
            say!("{}:{}", host.name, host.address);
        }
    }
    Ok(())
}

/// Build output: on a terminal a spinner with the current line below the
/// steps so far; otherwise every line as it comes.
enum Progress {
    Terminal(ProgressBar),
    Plain,
}

impl Progress {
    fn new() -> Self {
        if !std::io::stderr().is_terminal() {
            return Progress::Plain;
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>4} {wide_msg}") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress::Terminal(bar)
    }

    fn line(&mut self, line: &str) {
        match self {
            Progress::Terminal(bar) => {
                // Steps stay on screen; their output scrolls through the spinner.
                if line.starts_with("Step ") || line.starts_with("nanoclaw-sandbox:") {
                    bar.println(line);
                }
                bar.set_message(line.trim().to_string());
            }
            Progress::Plain => {
                use std::io::Write as _;
                // A callback cannot fail; a closed stdout shows up at the next `say!`.
                let _ = writeln!(std::io::stdout(), "{line}");
            }
        }
    }

    fn finish(&self) {
        if let Progress::Terminal(bar) = self {
            bar.finish_and_clear();
        }
    }
}
