//! Dockerfiles: the on-disk patch ([`patch_dockerfile`], [`needs_patch`])
//! that declares the proxy build args in every stage, and the in-memory
//! build rewrite ([`wrap_run_steps`]) that runs each `RUN` step inside a
//! wrapper trusting the proxy CA for that step alone.
//!
//! Both edit whole lines (inserting declarations, replacing a `RUN`), so
//! everything else in the file (directives, comments, continuations,
//! heredocs, CRLF) stays as it was. [`read_dockerfile`] and
//! [`hide_build_files`] carry the rewrite into a tar build context, where
//! `.dockerignore` ([`DockerIgnore`]) keeps it out of reach of `COPY`.
//!
//! The same parser tells which images a build needs
//! ([`crate::runtime::base_images`]) and whether the engine's builder can
//! build the file at all ([`check_builder_support`]). A BuildKit build from
//! a tar body gets its context packed here ([`buildkit_context`]), with the
//! context reads re-rooted ([`reroot_context_reads`]) so that
//! `.dockerignore` holds there too.

mod args;
mod context;
mod ignore;
pub(crate) mod parse;
mod reroot;
mod run_wrap;
mod support;

pub use self::args::{
    declared_predefined_args, needs_patch, patch_dockerfile, DockerfilePatch, ARGS_COMMENT,
    PREDEFINED_PROXY_ARGS, PROXY_BUILD_ARGS,
};
pub use self::context::{
    buildkit_context, hide_build_files, read_dockerfile, BuildContextError, BUILDKIT_DOCKERFILE,
};
pub use self::ignore::DockerIgnore;
pub use self::reroot::{reroot_context_reads, BUILDKIT_CONTEXT_DIR};
pub use self::run_wrap::{
    build_arg_for_display, wrap_run_steps, wrapper_script, RunWrapRewrite, SkipReason,
    SkippedStage, BUILD_DOCKERFILE, CA_BUILD_ARG, LAUNCHER,
};
pub use self::support::{
    check_builder_support, uses_feature, SyntaxFeature, UnsupportedFeature,
    CLASSIC_20_10_UNSUPPORTED, DOCKER_20_10_UNSUPPORTED,
};

/// Why a Dockerfile could not be read, patched or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DockerfileError {
    /// No `FROM` instruction: not a Dockerfile, or only comments.
    #[error("the Dockerfile has no FROM instruction: check that this is the right file (every build stage starts with FROM)")]
    NoFrom,
    /// An `# escape=` directive with a value other than `\` or `` ` ``.
    #[error("the `# escape={value}` directive is invalid: use `\\` or `` ` ``")]
    InvalidEscape {
        /// The value given.
        value: String,
    },
    /// A heredoc whose closing delimiter never comes.
    #[error("the heredoc opened on line {line} is never closed: add a line `{delimiter}`")]
    UnterminatedHeredoc {
        /// The 1-based line of the instruction opening it.
        line: usize,
        /// The delimiter expected.
        delimiter: String,
    },
    /// A `FROM` whose last line ends with the escape character and nothing
    /// follows: every line added after it would join it, so its stage
    /// cannot be given declarations.
    #[error(
        "the FROM on line {line} ends with a line continuation (`{escape}`) and nothing follows \
         it: remove the trailing `{escape}`"
    )]
    OpenContinuation {
        /// The 1-based line of the `FROM`.
        line: usize,
        /// The escape character.
        escape: char,
    },
    /// The Dockerfile declares (`ARG`) or sets (`ENV`) the build arg that
    /// carries the step wrapper and the proxy CA to `RUN` steps: declared,
    /// its value would be recorded in `docker history`; set, it would hide ours.
    #[error(
        "line {line}: the Dockerfile declares or sets `{name}`, the build arg that carries the \
         step wrapper and the proxy CA to RUN steps during a sandbox build (declared, the CA \
         would be recorded in `docker history`): remove `{name}` from that line"
    )]
    ReservedArg {
        /// The 1-based line of the declaration.
        line: usize,
        /// The arg.
        name: &'static str,
    },
    /// Syntax the builder cannot build (see [`check_builder_support`]).
    #[error("line {line}: `{instruction}` {reason}; {fix}")]
    Unsupported {
        /// The 1-based line where the instruction (or directive) starts.
        line: usize,
        /// The start of the instruction, as parsed.
        instruction: String,
        /// What it uses.
        feature: SyntaxFeature,
        /// Why the builder cannot build it.
        reason: &'static str,
        /// What to write instead.
        fix: &'static str,
    },
}
