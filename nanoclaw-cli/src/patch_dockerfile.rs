//! `nanoclaw-sandbox patch-dockerfile [--check] [--in-place] FILE`: declare
//! the proxy and proxy-CA build args in every stage of a Dockerfile.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use nanoclaw_sandbox_core::dockerfile::{patch_dockerfile, DockerfilePatch};

use crate::exit::usage;

/// Exit code of `--check` when the file needs the patch.
pub(crate) const NEEDS_PATCH: u8 = 1;

/// Options of `patch-dockerfile`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Only check: exit 1 when the file needs the patch, 0 when it has it
    /// (for CI). Nothing is written.
    #[arg(long, conflicts_with = "in_place")]
    check: bool,
    /// Rewrite FILE (atomically, keeping its permissions) instead of
    /// printing the patched text.
    #[arg(long)]
    in_place: bool,
    /// The Dockerfile.
    file: PathBuf,
}

/// Prints the patched file, rewrites it, or checks it.
pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))
        .map_err(|e| usage(format!("{e:#}")))?;
    let patch =
        patch_dockerfile(&text).map_err(|e| usage(format!("{}: {e}", args.file.display())))?;
    let name = args.file.display();
    if args.check {
        if patch.changed() {
            say!(
                "{name} needs the proxy build args in {}: run `nanoclaw-sandbox patch-dockerfile --in-place {name}`",
                stages_text(&patch)
            );
            return Ok(ExitCode::from(NEEDS_PATCH));
        }
        say!("{name} declares the proxy build args in every stage");
        return Ok(ExitCode::SUCCESS);
    }
    if args.in_place {
        if patch.changed() {
            replace_file(&args.file, patch.text.as_bytes())?;
            say!(
                "{name}: declared the proxy build args in {}",
                stages_text(&patch)
            );
        } else {
            say!("{name} already declares the proxy build args in every stage");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(patch.text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(crate::exit::stdout_error)?;
    Ok(ExitCode::SUCCESS)
}

fn stages_text(patch: &DockerfilePatch) -> String {
    format!("{} of {} stage(s)", patch.stages_changed, patch.stages)
}

/// Replaces `path`'s contents all at once: a reader (or a crash) never sees
/// half a file. A symlink keeps pointing where it did (its target is
/// rewritten), and the file keeps its permissions.
fn replace_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let target = std::fs::canonicalize(path)
        .with_context(|| format!("cannot resolve {}", path.display()))?;
    let dir = target.parent().unwrap_or(Path::new("."));
    let permissions = std::fs::metadata(&target)
        .with_context(|| format!("cannot read the permissions of {}", target.display()))?
        .permissions();
    let write = || -> std::io::Result<()> {
        let mut temp = tempfile::Builder::new()
            .prefix(".nanoclaw-patch-")
            .tempfile_in(dir)?;
        temp.write_all(contents)?;
        temp.as_file().sync_all()?;
        std::fs::set_permissions(temp.path(), permissions)?;
        temp.persist(&target).map_err(|e| e.error)?;
        Ok(())
    };
    write().with_context(|| {
        format!(
            "cannot rewrite {} (the file is unchanged): check that its directory is writable",
            target.display()
        )
    })
}
