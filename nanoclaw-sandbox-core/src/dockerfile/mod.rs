//! Dockerfiles: the on-disk patch ([`patch_dockerfile`], [`needs_patch`])
//! that declares the proxy build args in every stage, and the in-memory
//! build rewrite ([`add_ca_steps`]) that makes each stage's `RUN` steps trust
//! the proxy CA and removes that trust again at the stage's end.
//!
//! Both edit by inserting whole lines, so everything else in the file
//! (directives, comments, continuations, heredocs, CRLF) stays as it was.
//! [`read_dockerfile`] and [`rewrite_context`] carry the rewrite into a tar
//! build context.
//!
//! The same parser tells which images a build needs
//! ([`crate::runtime::base_images`]) and whether the engine's builder can
//! build the file at all ([`check_builder_support`]).

mod args;
mod ca_steps;
mod context;
pub(crate) mod parse;
mod support;

pub use self::args::{
    declare_build_time_args, declared_predefined_args, needs_patch, patch_dockerfile,
    DockerfilePatch, ARGS_COMMENT, PREDEFINED_PROXY_ARGS, PROXY_BUILD_ARGS,
};
pub use self::ca_steps::{
    add_ca_steps, CaBuildRewrite, ContextFile, SkipReason, SkippedStage, CONTEXT_CA_FILE,
    IMAGE_CA_PATH,
};
pub use self::context::{read_dockerfile, rewrite_context, BuildContextError};
pub use self::support::{
    check_builder_support, SyntaxFeature, UnsupportedFeature, DOCKER_20_10_UNSUPPORTED,
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
