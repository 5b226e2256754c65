//! A tiny agent image built on this machine with nothing pulled: one
//! executable plus the shared libraries it loads, in a `FROM scratch` image.
//!
//! The image is named by its content: the label [`CONTENT_HASH_LABEL`] holds
//! the SHA-256 of everything that went in, and the tag is
//! `nanoclaw-agent:<first 12 hex digits>`. [`ensure_agent_image`] reuses an
//! image with that label and tag, so a machine builds each version once.
//! The image needs no network, not even at build time.
#![deny(missing_docs, unreachable_pub)]

mod context;
mod elf;
mod files;
mod memo;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use self::elf::{dynamic_needs, DynamicNeeds};
use nanoclaw_sandbox_core::runtime::{BuildRequest, ImageBuilder, ImageId, RuntimeError};
use nanoclaw_sandbox_core::spec::NetworkMode;

/// The repository agent images are tagged in.
pub const AGENT_IMAGE_REPO: &str = "nanoclaw-agent";
/// The label holding an agent image's content hash.
pub const CONTENT_HASH_LABEL: &str = "nanoclaw.agent.content-sha256";
/// The label grouping the versions of one agent image (same executable path,
/// entrypoint and labels; different content). A new build prunes its older
/// versions, so rebuilding the executable does not pile up images.
pub const LINEAGE_LABEL: &str = "nanoclaw.agent.lineage";
/// Where the executable goes in the image.
pub const AGENT_PATH: &str = "/nanoclaw-agent";

/// Why the agent image could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentImageError {
    /// The executable cannot be read or is not a supported ELF file.
    #[error(
        "cannot pack the agent executable `{path}`: {reason}; build it first \
         (`cargo build -p nanoclaw-cli`) or give the path of a 64-bit Linux executable"
    )]
    Binary {
        /// The path given.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A shared library it needs cannot be found or read.
    #[error(
        "shared library `{name}` needed by `{needed_by}` cannot be packed: {reason}; install \
         it, or build the agent statically (`-C target-feature=+crt-static --target ...`)"
    )]
    Library {
        /// The soname or path.
        name: String,
        /// The file that needs it.
        needed_by: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Writing the build context failed.
    #[error("cannot write the agent image's build context: {reason}")]
    Pack {
        /// What went wrong.
        reason: String,
    },
    /// Reading the files took a thread that could not finish.
    #[error("packing the agent image was interrupted: {reason}; try again")]
    Interrupted {
        /// What went wrong.
        reason: String,
    },
    /// The engine failed to list or build.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

/// What to pack: an executable, the arguments the entrypoint adds, labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentImageRequest {
    binary: PathBuf,
    entrypoint_args: Vec<String>,
    labels: BTreeMap<String, String>,
}

impl AgentImageRequest {
    /// Packs the executable at `binary`; its entrypoint is just the executable.
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        Self {
            binary: binary.into(),
            entrypoint_args: Vec::new(),
            labels: BTreeMap::new(),
        }
    }
    /// Arguments placed after the executable in the entrypoint (e.g. `agent`
    /// for a CLI whose hidden `agent` subcommand is the agent).
    pub fn entrypoint_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.entrypoint_args = args.into_iter().map(Into::into).collect();
        self
    }
    /// Adds an image label (it is part of the content hash).
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }
    /// The executable's path.
    pub fn binary(&self) -> &Path {
        &self.binary
    }
}

/// A ready agent image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentImage {
    /// `nanoclaw-agent:<hash12>`: what specs refer to.
    pub tag: String,
    /// The engine's image id.
    pub id: ImageId,
    /// The full content hash (the [`CONTENT_HASH_LABEL`] value).
    pub content_hash: String,
    /// Whether this call built it (`false`: an existing image was reused).
    pub built: bool,
}

/// Returns the agent image for `request`, building it only when no image
/// with its content hash and tag exists yet. Build output goes to `on_output`.
///
/// Hashing reads every file (a debug build is tens of MB), so the hash is
/// remembered for the rest of the process, keyed by the executable's path,
/// size, inode and modification time: later calls cost one image listing.
pub async fn ensure_agent_image(
    builder: &dyn ImageBuilder,
    request: &AgentImageRequest,
    on_output: &mut (dyn for<'line> FnMut(&'line str) + Send),
) -> Result<AgentImage, AgentImageError> {
    let mut entrypoint = vec![AGENT_PATH.to_string()];
    entrypoint.extend(request.entrypoint_args.iter().cloned());
    let dockerfile = context::dockerfile(&entrypoint);
    let lineage = context::lineage(&request.binary, &entrypoint, &request.labels);
    let mut labels = request.labels.clone();
    labels.insert(LINEAGE_LABEL.to_string(), lineage.clone());

    let key = memo::Key::of(&request.binary, &lineage);
    if let Some(hash) = key.as_ref().and_then(memo::get) {
        if let Some(image) = find_existing(builder, &hash).await? {
            return Ok(image);
        }
    }

    let (binary, hash_labels, hash_dockerfile) =
        (request.binary.clone(), labels.clone(), dockerfile.clone());
    // Reading and hashing would stall the async executor: a blocking thread.
    let (files, hash) = blocking(move || {
        let files = files::collect(&binary, AGENT_PATH)?;
        let hash = context::content_hash(&hash_dockerfile, &files, &hash_labels);
        Ok((files, hash))
    })
    .await?;
    if let Some(key) = key {
        memo::put(key, hash.clone());
    }
    if let Some(image) = find_existing(builder, &hash).await? {
        return Ok(image);
    }

    let tar = blocking(move || context::pack(&dockerfile, &files)).await?;
    let tag = tag_for(&hash);
    let mut build = BuildRequest::new(tar)
        .tag(tag.clone())
        .label(CONTENT_HASH_LABEL, hash.clone())
        // Nothing in a FROM scratch build needs a network.
        .network(NetworkMode::None);
    for (key, value) in labels {
        build = build.label(key, value);
    }
    let id = builder.build(build, on_output).await?;
    prune_older_versions(builder, &lineage, &hash).await;
    Ok(AgentImage {
        tag,
        id,
        content_hash: hash,
        built: true,
    })
}

fn tag_for(hash: &str) -> String {
    format!("{AGENT_IMAGE_REPO}:{}", hash.get(..12).unwrap_or(hash))
}

/// The image with content `hash` and its tag, if the engine has it.
async fn find_existing(
    builder: &dyn ImageBuilder,
    hash: &str,
) -> Result<Option<AgentImage>, AgentImageError> {
    let tag = tag_for(hash);
    let selector = BTreeMap::from([(CONTENT_HASH_LABEL.to_string(), hash.to_string())]);
    let existing = builder.find_images(&selector).await?;
    Ok(existing
        .into_iter()
        .find(|i| i.tags.contains(&tag))
        .map(|image| AgentImage {
            tag,
            id: image.id,
            content_hash: hash.to_string(),
            built: false,
        }))
}

async fn blocking<T, F>(work: F) -> Result<T, AgentImageError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, AgentImageError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AgentImageError::Interrupted {
            reason: e.to_string(),
        })?
}

/// Removes the other versions of this lineage (the executable was rebuilt).
/// Best effort and never forced: a version a container still uses stays.
async fn prune_older_versions(builder: &dyn ImageBuilder, lineage: &str, keep_hash: &str) {
    let selector = BTreeMap::from([(LINEAGE_LABEL.to_string(), lineage.to_string())]);
    let Ok(versions) = builder.find_images(&selector).await else {
        return;
    };
    for old in versions
        .iter()
        .filter(|v| v.labels.get(CONTENT_HASH_LABEL).map(String::as_str) != Some(keep_hash))
    {
        match builder.remove_image(old.id.as_str(), false).await {
            Ok(()) => {
                tracing::info!(image = %old.id, "removed an older version of the agent image")
            }
            Err(e) => tracing::debug!(image = %old.id, error = %e, "kept an older agent image"),
        }
    }
}
