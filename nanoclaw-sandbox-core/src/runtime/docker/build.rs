//! [`ImageBuilder`] for [`DockerRuntime`]: the classic builder or BuildKit,
//! fed a tar context.
//!
//! BuildKit (`/build?version=2`) gets the tar as a remote context, to which
//! the engine applies no `.dockerignore`: the context is repacked first
//! ([`buildkit_context`]), the Dockerfile's context reads re-rooted
//! ([`reroot_context_reads`]). bollard opens the session BuildKit requires
//! (it serves registry auth only; the context is the request body). Its
//! progress comes as BuildKit status messages, turned into lines here
//! ([`BuildKitProgress`]).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bollard::errors::Error as BollardError;
use bollard::moby::buildkit::v1::StatusResponse;
use bollard::models::BuildInfoAux;
use bollard::query_parameters::{
    BuildImageOptions, BuilderVersion, ListImagesOptions, RemoveImageOptions, TagImageOptions,
};
use futures_util::StreamExt;

use super::errors::{map_error, Ctx};
use super::streams::{Idle, IdleTimeout};
use super::{convert, create, label_filters, DockerRuntime};
use crate::dockerfile::{buildkit_context, reroot_context_reads, BUILDKIT_DOCKERFILE};
use crate::runtime::base_images::required_base_images;
use crate::runtime::{
    BuildRequest, Builder, ContainerRuntime, ImageBuilder, ImageId, ImageSummary, RuntimeError,
};
use crate::spec::NetworkMode;

/// How many lines of a failing step's output an error keeps.
const STEP_OUTPUT_LINES: usize = 200;

#[async_trait]
impl ImageBuilder for DockerRuntime {
    async fn build(
        &self,
        mut request: BuildRequest,
        on_output: &mut (dyn for<'line> FnMut(&'line str) + Send),
    ) -> Result<ImageId, RuntimeError> {
        let name = request.display_name().to_string();
        let dockerfile = read_dockerfile(request.context(), request.dockerfile_path())?;
        // Syntax the engine's builder lacks would fail mid-build (or pull a
        // frontend image): refuse it before anything reaches the engine.
        let builder = request
            .builder_choice()
            .for_dockerfile(&dockerfile)
            .map_err(|source| RuntimeError::Dockerfile { source })?;
        // The builder would pull a missing base image by itself: refuse first.
        for image in required_base_images(&dockerfile, request.build_args())? {
            if !self.image_exists(&image).await? {
                return Err(RuntimeError::ImageNotFound { image });
            }
        }

        let options = build_options(&request, builder)?;
        let context = if builder == Builder::BuildKit {
            let dockerfile = reroot_context_reads(&dockerfile)
                .map_err(|source| RuntimeError::Dockerfile { source })?;
            buildkit_context(request.context(), request.dockerfile_path(), &dockerfile)?
        } else {
            request.take_context()
        };
        let context = bytes::Bytes::from(context);
        let answers = self
            .docker
            .build_image(options, None, Some(bollard::body_full(context)));
        let mut answers = IdleTimeout::new(Box::pin(answers), self.idle.build);
        let mut lines = LineSplitter::default();
        let mut step = StepOutput::default();
        let mut progress = BuildKitProgress::default();
        let mut image_id: Option<String> = None;
        let mut emit = |line: &str, step: &mut StepOutput| {
            step.push(line);
            on_output(line);
        };

        while let Some(answer) = answers.next().await {
            let info = match answer {
                Ok(Ok(info)) => info,
                Ok(Err(BollardError::DockerStreamError { error })) => {
                    for line in lines.finish() {
                        emit(&line, &mut step);
                    }
                    let step_output = progress.failed_output().unwrap_or_else(|| step.text());
                    return Err(RuntimeError::BuildFailed {
                        image: name,
                        message: error,
                        step_output,
                    });
                }
                Ok(Err(e)) => {
                    return Err(map_error(e, &Ctx::image("build", &name, &self.endpoint)));
                }
                Err(Idle(after)) => {
                    return Err(RuntimeError::StreamIdle {
                        id: name,
                        stream: "build output",
                        after,
                    });
                }
            };
            for line in info
                .stream
                .iter()
                .flat_map(|text| lines.push(&strip_colours(text)))
                .chain(info.status)
            {
                emit(&line, &mut step);
            }
            match info.aux {
                Some(BuildInfoAux::Default(aux)) => image_id = aux.id.or(image_id),
                Some(BuildInfoAux::BuildKit(status)) => {
                    for line in progress.lines(&status) {
                        emit(&line, &mut step);
                    }
                }
                None => {}
            }
        }
        for line in lines.finish() {
            emit(&line, &mut step);
        }

        let id = match image_id.or_else(|| step.built_id()) {
            Some(id) => ImageId::new(id),
            None => {
                return Err(RuntimeError::BuildFailed {
                    image: name,
                    message: "the engine finished without naming the image it built".into(),
                    step_output: step.text(),
                })
            }
        };
        // The build API takes one tag; the others are added afterwards.
        for extra in request.tags().iter().skip(1) {
            self.tag(&id, extra).await?;
        }
        Ok(id)
    }

    async fn find_images(
        &self,
        labels: &BTreeMap<String, String>,
    ) -> Result<Vec<ImageSummary>, RuntimeError> {
        let options = ListImagesOptions {
            filters: Some(label_filters(labels)),
            ..Default::default()
        };
        let listed = self
            .docker
            .list_images(Some(options))
            .await
            .map_err(|e| map_error(e, &Ctx::plain("list images", &self.endpoint)))?;
        Ok(listed.into_iter().map(convert::image_summary).collect())
    }

    async fn remove_image(&self, image: &str, force: bool) -> Result<(), RuntimeError> {
        let options = RemoveImageOptions {
            force,
            ..Default::default()
        };
        match self.docker.remove_image(image, Some(options), None).await {
            Ok(_) => Ok(()),
            Err(BollardError::DockerResponseServerError {
                status_code: 404, ..
            }) => Err(RuntimeError::ImageNotFound {
                image: image.to_string(),
            }),
            Err(e) => Err(map_error(
                e,
                &Ctx::image("remove image", image, &self.endpoint),
            )),
        }
    }
}

impl DockerRuntime {
    async fn tag(&self, id: &ImageId, reference: &str) -> Result<(), RuntimeError> {
        let (repo, tag) = split_reference(reference);
        let options = TagImageOptions {
            repo: Some(repo.to_string()),
            tag: Some(tag.to_string()),
        };
        self.docker
            .tag_image(id.as_str(), Some(options))
            .await
            .map_err(|e| map_error(e, &Ctx::image("tag image as", reference, &self.endpoint)))
    }
}

/// A session id no other build of this process uses.
fn session_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "nanoclaw-sandbox-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn build_options(
    request: &BuildRequest,
    builder: Builder,
) -> Result<BuildImageOptions, RuntimeError> {
    let map = |m: &BTreeMap<String, String>| -> Option<HashMap<String, String>> {
        (!m.is_empty()).then(|| m.clone().into_iter().collect())
    };
    // The engine reads `extrahosts` as a repeated query parameter; this
    // client sends it once.
    let extrahosts = match request.extra_hosts() {
        [] => None,
        [host] => Some(format!("{}:{}", host.name, host.address)),
        more => {
            return Err(RuntimeError::UnsupportedValue {
                what: "build extra hosts",
                value: more
                    .iter()
                    .map(|h| format!("{}:{}", h.name, h.address))
                    .collect::<Vec<_>>()
                    .join(", "),
                fix: "give a build at most one extra host",
            })
        }
    };
    let buildkit = builder == Builder::BuildKit;
    if buildkit {
        if let NetworkMode::Named(_) | NetworkMode::Container(_) = request.network_mode() {
            return Err(RuntimeError::UnsupportedValue {
                what: "BuildKit build network",
                value: create::network_mode(request.network_mode()).unwrap_or_default(),
                fix: "give a BuildKit build the default network, `host` or `none` \
                      (only the classic builder takes a named network)",
            });
        }
    }
    Ok(BuildImageOptions {
        dockerfile: if buildkit {
            BUILDKIT_DOCKERFILE.to_string()
        } else {
            request.dockerfile_path().to_string()
        },
        version: if buildkit {
            BuilderVersion::BuilderBuildKit
        } else {
            BuilderVersion::BuilderV1
        },
        session: buildkit.then(session_id),
        t: request.tags().first().cloned(),
        buildargs: map(request.build_args()),
        labels: map(request.labels()),
        networkmode: create::network_mode(request.network_mode()),
        extrahosts,
        nocache: request.is_no_cache(),
        // Never leave intermediate containers behind, not even after a failure.
        rm: true,
        forcerm: true,
        pull: None,
        ..Default::default()
    })
}

/// `repo[:tag]` → (repo, tag); a `:` inside a registry's `host:port` is not a tag.
fn split_reference(reference: &str) -> (&str, &str) {
    match reference.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (reference, "latest"),
    }
}

/// The Dockerfile's text, read from the tar context.
fn read_dockerfile(context: &[u8], path: &str) -> Result<String, RuntimeError> {
    Ok(crate::dockerfile::read_dockerfile(context, path)?)
}

/// `text` without ANSI escape sequences. The classic builder wraps every
/// chunk a `RUN` step writes to stderr in red (`ESC[91m` ... `ESC[0m`), often
/// one character at a time, which would leave error messages unsearchable.
/// Each stream message carries whole sequences, so per-message is enough.
fn strip_colours(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('\u{1b}') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        // CSI: `ESC [` parameters, then one final byte in `@`..=`~`.
        if chars.clone().next() == Some('[') {
            chars.next();
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Splits streamed text into lines (chunks need not end at line ends).
#[derive(Default)]
struct LineSplitter {
    partial: String,
}

impl LineSplitter {
    fn push(&mut self, text: &str) -> Vec<String> {
        self.partial.push_str(text);
        let mut lines = Vec::new();
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            lines.push(line.trim_end_matches(['\n', '\r']).to_string());
        }
        lines
    }

    fn finish(&mut self) -> Vec<String> {
        let rest = std::mem::take(&mut self.partial);
        (!rest.is_empty()).then_some(rest).into_iter().collect()
    }
}

/// The output of the current build step (since the last `Step N/M` line).
#[derive(Default)]
struct StepOutput {
    lines: VecDeque<String>,
    last_built: Option<String>,
}

impl StepOutput {
    fn push(&mut self, line: &str) {
        if line.starts_with("Step ") {
            self.lines.clear();
        }
        if let Some(id) = line.strip_prefix("Successfully built ") {
            self.last_built = Some(id.trim().to_string());
        }
        if self.lines.len() == STEP_OUTPUT_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line.to_string());
    }

    fn text(&self) -> String {
        self.lines.iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// The id from a `Successfully built <id>` line, for engines that send no `aux`.
    fn built_id(&self) -> Option<String> {
        self.last_built.clone()
    }
}

/// BuildKit's status messages as output lines: `#N name` when a step
/// starts (`#N CACHED`, `#N ERROR: ...`), then the step's own output, line
/// by line. Each step's last lines are kept for the error of a failed build.
#[derive(Default)]
struct BuildKitProgress {
    /// Step digest → its number, in the order first seen.
    numbers: HashMap<String, usize>,
    started: HashSet<String>,
    output: HashMap<String, (LineSplitter, VecDeque<String>)>,
    failed: Option<String>,
}

impl BuildKitProgress {
    fn number(&mut self, digest: &str) -> usize {
        let next = self.numbers.len() + 1;
        *self.numbers.entry(digest.to_string()).or_insert(next)
    }

    fn lines(&mut self, status: &StatusResponse) -> Vec<String> {
        let mut out = Vec::new();
        for vertex in &status.vertexes {
            let n = self.number(&vertex.digest);
            if (vertex.started.is_some() || vertex.cached)
                && self.started.insert(vertex.digest.clone())
            {
                out.push(format!("#{n} {}", vertex.name));
                if vertex.cached {
                    out.push(format!("#{n} CACHED"));
                }
            }
            if !vertex.error.is_empty() {
                out.push(format!("#{n} ERROR: {}", vertex.error));
                self.failed = Some(vertex.digest.clone());
            }
        }
        for log in &status.logs {
            let (splitter, kept) = self.output.entry(log.vertex.clone()).or_default();
            for line in splitter.push(&strip_colours(&String::from_utf8_lossy(&log.msg))) {
                if kept.len() == STEP_OUTPUT_LINES {
                    kept.pop_front();
                }
                kept.push_back(line.clone());
                out.push(line);
            }
        }
        out
    }

    /// The output of the step that failed, when one did.
    fn failed_output(&mut self) -> Option<String> {
        let digest = self.failed.as_ref()?;
        let (splitter, kept) = self.output.get_mut(digest)?;
        kept.extend(splitter.finish());
        Some(kept.iter().cloned().collect::<Vec<_>>().join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(path: &str, content: &[u8]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, path, content).unwrap();
        builder.into_inner().unwrap()
    }

    #[test]
    fn the_dockerfile_is_found_in_the_context() {
        let context = tar_with("./build/Dockerfile.agent", b"FROM scratch\n");
        assert_eq!(
            read_dockerfile(&context, "build/Dockerfile.agent").unwrap(),
            "FROM scratch\n"
        );
        let err = read_dockerfile(&context, "Dockerfile").unwrap_err();
        assert!(err.to_string().contains("`Dockerfile`"), "{err}");
        let err = read_dockerfile(b"not a tar", "Dockerfile").unwrap_err();
        assert!(
            matches!(err, RuntimeError::InvalidBuildContext { .. }),
            "{err}"
        );
    }

    #[test]
    fn colours_of_run_steps_stderr_are_removed() {
        let red = "\u{1b}[91mc\u{1b}[0m\u{1b}[91mu\u{1b}[0m\u{1b}[91mrl: (60)\n\u{1b}[0m";
        assert_eq!(strip_colours(red), "curl: (60)\n");
        assert_eq!(strip_colours("plain ---> 1a2b"), "plain ---> 1a2b");
        assert_eq!(strip_colours("lone \u{1b} escape"), "lone  escape");
    }

    #[test]
    fn lines_are_split_across_chunks() {
        let mut splitter = LineSplitter::default();
        assert!(splitter.push("Step 1/2 : FR").is_empty());
        assert_eq!(
            splitter.push("OM scratch\r\n ---> x\n"),
            ["Step 1/2 : FROM scratch", " ---> x"]
        );
        assert_eq!(splitter.push("tail"), Vec::<String>::new());
        assert_eq!(splitter.finish(), ["tail"]);
    }

    #[test]
    fn step_output_keeps_the_current_step_only() {
        let mut step = StepOutput::default();
        for line in [
            "Step 1/2 : FROM scratch",
            "ok",
            "Step 2/2 : RUN false",
            "boom",
        ] {
            step.push(line);
        }
        assert_eq!(step.text(), "Step 2/2 : RUN false\nboom");
        step.push("Successfully built 0123abcd");
        assert_eq!(step.built_id().as_deref(), Some("0123abcd"));
    }

    #[test]
    fn buildkit_progress_names_steps_and_keeps_the_failed_ones_output() {
        use bollard::moby::buildkit::v1::{Vertex, VertexLog};
        let started = Some(Default::default());
        let vertex = |digest: &str, name: &str, error: &str| Vertex {
            digest: digest.into(),
            name: name.into(),
            started,
            error: error.into(),
            ..Default::default()
        };
        let log = |digest: &str, msg: &str| VertexLog {
            vertex: digest.into(),
            msg: msg.as_bytes().to_vec(),
            ..Default::default()
        };
        let mut progress = BuildKitProgress::default();
        let first = progress.lines(&StatusResponse {
            vertexes: vec![
                vertex("a", "[1/2] FROM debian", ""),
                vertex("b", "[2/2] RUN x", ""),
            ],
            logs: vec![log("b", "hel"), log("a", "other\n")],
            ..Default::default()
        });
        assert_eq!(first, ["#1 [1/2] FROM debian", "#2 [2/2] RUN x", "other"]);
        assert_eq!(progress.failed_output(), None);
        let second = progress.lines(&StatusResponse {
            vertexes: vec![vertex("b", "[2/2] RUN x", "exit code: 3")],
            logs: vec![log("b", "lo\nboom")],
            ..Default::default()
        });
        assert_eq!(second, ["#2 ERROR: exit code: 3", "hello"]);
        assert_eq!(progress.failed_output().as_deref(), Some("hello\nboom"));
    }

    #[test]
    fn a_buildkit_build_refuses_a_named_network() {
        let request = BuildRequest::new(Vec::new()).network(NetworkMode::Named("net".into()));
        let err = build_options(&request, Builder::BuildKit).unwrap_err();
        assert!(err.to_string().contains("BuildKit"), "{err}");
        assert!(build_options(&request, Builder::Classic).is_ok());
        let options = build_options(&BuildRequest::new(Vec::new()), Builder::BuildKit).unwrap();
        assert_eq!(options.version, BuilderVersion::BuilderBuildKit);
        assert_eq!(options.dockerfile, BUILDKIT_DOCKERFILE);
        assert!(options.session.is_some());
    }

    #[test]
    fn references_split_into_repo_and_tag() {
        assert_eq!(
            split_reference("nanoclaw-agent:abc"),
            ("nanoclaw-agent", "abc")
        );
        assert_eq!(
            split_reference("localhost:5000/x"),
            ("localhost:5000/x", "latest")
        );
        assert_eq!(
            split_reference("localhost:5000/x:1"),
            ("localhost:5000/x", "1")
        );
    }
}
