//! `nanoclaw-sandbox build`: an image build through the sandbox layer, which
//! forwards the proxy build args and, behind an intercepting proxy, makes
//! `RUN` steps trust the proxy CA (in memory: nothing is written to the
//! context directory, and the CA does not stay in the image).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use nanoclaw_sandbox_core::dockerfile::{build_arg_for_display, read_dockerfile};
use nanoclaw_sandbox_core::runtime::{BuildRequest, ImageBuilder, ImageId};
use nanoclaw_sandbox_core::sandbox::{Mode, PatchReport, SandboxEnv};
use nanoclaw_sandbox_core::spec::NetworkMode;
use serde::Serialize;

use crate::build_context;
use crate::engine;
use crate::exit::usage;
use crate::logging;
use crate::output;
use crate::settings::{SettingsArgs, VarSource};

/// Options of `build`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
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
    /// Suppress the build output and print only the image id (as `docker
    /// build -q`); with `--json`, the JSON object.
    #[arg(short = 'q', long, conflicts_with = "dry_run")]
    quiet: bool,
    /// Write the image id to FILE (as `docker build --iidfile`). A regular
    /// file already there is removed before the build, so a failed build
    /// leaves none; a FILE that cannot be written exits 2.
    #[arg(long, value_name = "FILE", conflicts_with = "dry_run")]
    iidfile: Option<PathBuf>,
    /// Print the result as one JSON object on stdout: `id`, `tags`, `mode`,
    /// `report` (what the sandbox layer changed), `context`, `files`. The
    /// build output stays on stderr.
    #[arg(long, conflicts_with = "dry_run")]
    json: bool,
    /// The workspace: in a sandbox, the files of the proxy CA the build
    /// prepares are kept under it [default: the current directory].
    #[arg(long, env = engine::WORKSPACE_VAR, value_name = "DIR")]
    workspace: Option<PathBuf>,
    #[command(flatten)]
    settings: SettingsArgs,
    /// The build context: a directory (`.dockerignore` is honoured).
    context: PathBuf,
}

/// The `--json` result.
#[derive(Debug, Serialize)]
struct Built<'a> {
    /// The image id (`sha256:...`).
    id: &'a str,
    /// The tags given with `-t`.
    tags: &'a [String],
    /// The sandbox mode the build ran in (`standard-docker`, `proxied`, `proxied-intercepting`).
    mode: &'static str,
    /// What the sandbox layer changed (build args, the Dockerfile's RUN steps).
    report: &'a PatchReport,
    /// The context directory, as given.
    context: String,
    /// How many files the context held.
    files: usize,
}

/// Builds the image (or shows what the build would get).
pub(crate) async fn run(args: &Args) -> anyhow::Result<ExitCode> {
    logging::init(logging::WARNINGS);
    let workspace = args.workspace.as_deref();
    let packed = build_context::pack(&args.context, args.dockerfile.as_deref())
        .map_err(|e| usage(format!("{e:#}")))?;
    let env = if args.no_sandbox {
        SandboxEnv::new(Mode::StandardDocker)
    } else {
        VarSource::from_args(&args.settings)?.detect()?
    };
    let mode = env.mode().kind().as_str();
    if let Some(path) = &args.iidfile {
        clear_iidfile(path)?;
    }
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
    // The build prepares the request itself; the report is asked for
    // separately (preparing is pure) only when it is printed.
    let report = if args.json {
        runtime.prepare_build(request.clone())?.1
    } else {
        PatchReport::default()
    };
    let name = request.display_name().to_string();
    if !args.quiet {
        output::note(format!(
            "building {name} from {} ({} files)",
            args.context.display(),
            packed.files
        ));
    }
    let mut progress = Progress::new(args.quiet);
    let built = runtime
        .build(request, &mut |line: &str| progress.line(line))
        .await;
    progress.finish();
    let id = built?;
    if let Some(path) = &args.iidfile {
        write_iidfile(path, &id)?;
    }
    if args.json {
        output::json_line(&Built {
            id: id.as_str(),
            tags: &args.tags,
            mode,
            report: &report,
            context: args.context.display().to_string(),
            files: packed.files,
        })?;
    } else if args.quiet {
        say!("{id}");
    } else {
        say!("built {id}{}", tagged(&args.tags));
    }
    Ok(ExitCode::SUCCESS)
}

/// Before the build, as `docker build --iidfile` does: a regular file at
/// `path` is removed (a failed build leaves no stale id behind), and a path
/// that cannot take the id (a directory, a missing directory) is refused
/// before anything is built. Other files (a symlink, a pipe) are written
/// through as they are.
fn clear_iidfile(path: &Path) -> anyhow::Result<()> {
    let shown = path.display();
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => Err(usage(format!(
            "--iidfile {shown} is a directory: give the path of a file to write the image id to"
        ))),
        Ok(meta) if meta.is_file() => std::fs::remove_file(path).map_err(|e| {
            usage(format!(
                "--iidfile {shown}: cannot remove the id of an earlier build: {e}"
            ))
        }),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            if dir.is_dir() {
                Ok(())
            } else {
                Err(usage(format!(
                    "--iidfile {shown}: the directory {} does not exist: create it first",
                    dir.display()
                )))
            }
        }
        Err(e) => Err(usage(format!("--iidfile {shown} cannot be used: {e}"))),
    }
}

/// Writes the image id to `path` (no newline, as docker does).
fn write_iidfile(path: &Path, id: &ImageId) -> anyhow::Result<()> {
    std::fs::write(path, id.as_str()).map_err(|e| {
        usage(format!(
            "the image {id} was built, but --iidfile {} cannot be written: {e}",
            path.display()
        ))
    })
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
        // The wrapper (and the CA) is said what it is, not shown whole.
        say!("{name}={}", build_arg_for_display(name, value));
    }
    if !request.extra_hosts().is_empty() {
        say!("--- extra hosts ---");
        for host in request.extra_hosts() {
            say!("{}:{}", host.name, host.address);
        }
    }
    Ok(())
}

/// Build output, on stderr: on a terminal a spinner with the current line
/// below the steps so far; otherwise every line as it comes; nothing with
/// `--quiet`.
enum Progress {
    Terminal(ProgressBar),
    Plain,
    Quiet,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        if quiet {
            return Progress::Quiet;
        }
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
            Progress::Plain => output::note(line),
            Progress::Quiet => {}
        }
    }

    fn finish(&self) {
        if let Progress::Terminal(bar) = self {
            bar.finish_and_clear();
        }
    }
}
