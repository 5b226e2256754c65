//! [`BuildRequest`]: what an [`ImageBuilder`](super::ImageBuilder) builds.

use std::collections::BTreeMap;
use std::fmt;

use crate::dockerfile::{
    check_builder_support, uses_feature, DockerfileError, SyntaxFeature, UnsupportedFeature,
    CLASSIC_20_10_UNSUPPORTED, DOCKER_20_10_UNSUPPORTED,
};
use crate::redact;
use crate::spec::{ExtraHost, NetworkMode};

/// Which of the engine's builders builds an image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Builder {
    /// BuildKit for a Dockerfile that uses BuildKit-only syntax (a `RUN`
    /// flag such as `--mount=type=cache`), the classic builder otherwise.
    #[default]
    Auto,
    /// The classic builder (`/build`, version 1).
    Classic,
    /// BuildKit (`/build?version=2`). Its `RUN` steps get the default
    /// network, `host` or `none`, never a named network.
    BuildKit,
}

impl Builder {
    /// The builder that builds `dockerfile` (never [`Builder::Auto`]), after
    /// checking that it can: syntax it lacks is refused here, naming the line.
    pub fn for_dockerfile(self, dockerfile: &str) -> Result<Builder, DockerfileError> {
        let builder = match self {
            Builder::Auto if uses_feature(dockerfile, SyntaxFeature::RunFlag)? => Builder::BuildKit,
            Builder::Auto => Builder::Classic,
            chosen => chosen,
        };
        check_builder_support(dockerfile, builder.unsupported())?;
        Ok(builder)
    }

    /// What this builder of Docker Engine 20.10 cannot build ([`Builder::Auto`]:
    /// what neither can).
    pub fn unsupported(self) -> &'static [UnsupportedFeature] {
        match self {
            Builder::Classic => CLASSIC_20_10_UNSUPPORTED,
            Builder::Auto | Builder::BuildKit => DOCKER_20_10_UNSUPPORTED,
        }
    }
}

/// An image build: a tar build context plus how to build it.
///
/// `Debug` shows the context's size and redacts secret-looking build arguments.
#[derive(Clone, PartialEq)]
#[must_use = "a build request does nothing until given to an ImageBuilder"]
pub struct BuildRequest {
    context: Vec<u8>,
    dockerfile: String,
    tags: Vec<String>,
    build_args: BTreeMap<String, String>,
    labels: BTreeMap<String, String>,
    network: NetworkMode,
    extra_hosts: Vec<ExtraHost>,
    no_cache: bool,
    builder: Builder,
}

impl BuildRequest {
    /// A build of `context` (an uncompressed tar archive) with the `Dockerfile`
    /// at its root and the engine's default network for `RUN` steps.
    pub fn new(context: Vec<u8>) -> Self {
        Self {
            context,
            dockerfile: "Dockerfile".to_string(),
            tags: Vec::new(),
            build_args: BTreeMap::new(),
            labels: BTreeMap::new(),
            network: NetworkMode::Default,
            extra_hosts: Vec::new(),
            no_cache: false,
            builder: Builder::Auto,
        }
    }

    /// The Dockerfile's path inside the context.
    pub fn dockerfile(mut self, path: impl Into<String>) -> Self {
        self.dockerfile = path.into();
        self
    }
    /// Adds a `repo:tag` for the result.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }
    /// Sets a build argument (`--build-arg NAME=VALUE`).
    pub fn build_arg(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.build_args.insert(name.into(), value.into());
        self
    }
    /// Adds a label to the image.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }
    /// The network `RUN` steps get (`NetworkMode::None` for hermetic builds).
    pub fn network(mut self, network: NetworkMode) -> Self {
        self.network = network;
        self
    }
    /// Adds an `/etc/hosts` entry for `RUN` steps (`--add-host NAME:ADDRESS`;
    /// `host-gateway` as the address means the engine's host).
    pub fn extra_host(mut self, name: impl Into<String>, address: impl Into<String>) -> Self {
        self.extra_hosts.push(ExtraHost {
            name: name.into(),
            address: address.into(),
        });
        self
    }
    /// Replaces the tar context (e.g. with a rewritten Dockerfile).
    pub fn with_context(mut self, context: Vec<u8>) -> Self {
        self.context = context;
        self
    }
    /// Ignores the build cache.
    pub fn no_cache(mut self, no_cache: bool) -> Self {
        self.no_cache = no_cache;
        self
    }
    /// Which builder builds it ([`Builder::Auto`] unless set).
    pub fn builder(mut self, builder: Builder) -> Self {
        self.builder = builder;
        self
    }

    /// The tar context.
    pub fn context(&self) -> &[u8] {
        &self.context
    }
    /// Takes the tar context out (engines stream it without copying).
    pub fn take_context(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.context)
    }
    /// The Dockerfile's path inside the context.
    pub fn dockerfile_path(&self) -> &str {
        &self.dockerfile
    }
    /// The tags.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }
    /// The build arguments.
    pub fn build_args(&self) -> &BTreeMap<String, String> {
        &self.build_args
    }
    /// The labels.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }
    /// The network for `RUN` steps.
    pub fn network_mode(&self) -> &NetworkMode {
        &self.network
    }
    /// The `/etc/hosts` entries for `RUN` steps.
    pub fn extra_hosts(&self) -> &[ExtraHost] {
        &self.extra_hosts
    }
    /// Whether the cache is ignored.
    pub fn is_no_cache(&self) -> bool {
        self.no_cache
    }
    /// The builder asked for.
    pub fn builder_choice(&self) -> Builder {
        self.builder
    }
    /// The first tag, or `<untagged>`: how errors name the build.
    pub fn display_name(&self) -> &str {
        self.tags.first().map_or("<untagged>", String::as_str)
    }
}

impl fmt::Debug for BuildRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let args: BTreeMap<&str, String> = self
            .build_args
            .iter()
            .map(|(k, v)| (k.as_str(), redact::env_value_for_display(k, v)))
            .collect();
        f.debug_struct("BuildRequest")
            .field("context_bytes", &self.context.len())
            .field("dockerfile", &self.dockerfile)
            .field("tags", &self.tags)
            .field("build_args", &args)
            .field("labels", &self.labels)
            .field("network", &self.network)
            .field("extra_hosts", &self.extra_hosts)
            .field("no_cache", &self.no_cache)
            .field("builder", &self.builder)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_secret_build_args() {
        let req = BuildRequest::new(vec![0; 10])
            .tag("a:1")
            .build_arg("NPM_TOKEN", "npm_secret")
            .build_arg("VERSION", "1.2");
        let shown = format!("{req:?}");
        assert!(!shown.contains("npm_secret"), "{shown}");
        assert!(
            shown.contains("1.2") && shown.contains("context_bytes: 10"),
            "{shown}"
        );
        assert_eq!(req.display_name(), "a:1");
        assert_eq!(BuildRequest::new(vec![]).display_name(), "<untagged>");
    }

    #[test]
    fn auto_picks_buildkit_for_run_flags_only() {
        let cache = "FROM debian\nRUN --mount=type=cache,target=/c true\n";
        let plain = "FROM debian\nRUN true\n";
        assert_eq!(Builder::Auto.for_dockerfile(cache), Ok(Builder::BuildKit));
        assert_eq!(Builder::Auto.for_dockerfile(plain), Ok(Builder::Classic));
        assert_eq!(
            Builder::BuildKit.for_dockerfile(plain),
            Ok(Builder::BuildKit)
        );
        // Asked for, the classic builder refuses the flag, naming the line.
        match Builder::Classic.for_dockerfile(cache) {
            Err(DockerfileError::Unsupported { line, feature, .. }) => {
                assert_eq!((line, feature), (2, SyntaxFeature::RunFlag));
            }
            other => panic!("expected the RUN flag refused, got {other:?}"),
        }
        // What neither builder knows is refused whichever is asked for.
        let heredoc = "FROM debian\nRUN --mount=type=cache,target=/c <<EOF\ntrue\nEOF\n";
        for builder in [Builder::Auto, Builder::BuildKit, Builder::Classic] {
            assert!(
                matches!(
                    builder.for_dockerfile(heredoc),
                    Err(DockerfileError::Unsupported { .. })
                ),
                "{builder:?}"
            );
        }
    }
}
