//! The `docker` command line, read and patched: what the `docker` drop-in
//! (`nanoclaw-sandbox docker …`) needs. Pure code, no I/O.
//!
//! [`parse`] reads `docker [GLOBAL OPTIONS] run|create [OPTIONS] IMAGE
//! [COMMAND] [ARG…]` as the docker CLI does (one table of every flag and
//! whether it takes a value: [`flags::RUN_FLAGS`]); [`rewrite`] adds the
//! sandbox patches of the library's [`SandboxPatcher`](crate::sandbox::SandboxPatcher)
//! as extra flags before IMAGE. A `docker build` line ([`BuildInvocation`],
//! [`flags::BUILD_FLAGS`]) is read into the equivalent build request
//! ([`build_request`]) and the sandbox layer's build patches go back as
//! flags, the context becoming the prepared tar on stdin ([`rewrite_build`]).

mod build;
pub mod flags;
mod parse;
mod rewrite;

pub use self::build::{build_request, rewrite_build, BuildRewrite, STDIN_CONTEXT};
pub use self::parse::{
    parse, removes_containers, BuildInvocation, DockerCommand, ParseError, RunInvocation, RunKind,
    RunOption, ValueAt,
};
pub use self::rewrite::{
    container_spec, parse_env_file, redacted, rewrite, Rewrite, RewriteContext, RewriteError,
};
