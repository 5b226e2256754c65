//! The sandbox layer: what the environment says ([`SandboxEnv`], [`Mode`]),
//! the pure spec patcher ([`SandboxPatcher`]), the instance directory it
//! points at ([`InstanceDir`]), the build patches ([`build`]) and the runtime
//! decorator applying them all ([`SandboxRuntime`]).
//!
//! In standard Docker mode nothing here changes anything.

pub(crate) mod case;
mod env;
mod instance;
mod mode;
mod no_proxy;
mod translate;

pub mod build;
pub mod daemon;
pub mod patch;
pub mod runtime;

pub use self::env::{DetectError, DetectOptions, EnvWarning, SandboxEnv};
pub(crate) use self::env::{CA_FILE_VARS, CA_VARS};
pub use self::instance::{
    install_instances_dir, instances_base, InstanceDir, InstanceDirError, CA_DIR_NAME,
    EMPTY_FILE_NAME, TEMP_INSTANCES_DIR, WORKSPACE_INSTANCES_DIR,
};
pub use self::mode::{CaSource, Mode, ModeKind, ProxyCa};
pub use self::no_proxy::LOOPBACK_NO_PROXY;
pub use self::patch::{
    InstancePaths, PatchEntry, PatchError, PatchKind, PatchReport, SandboxPatcher, Severity,
};
pub use self::runtime::{
    preview_patcher, NoEnv, SandboxRuntime, SandboxRuntimeBuilder, SandboxRuntimeError,
};
pub use self::translate::{DOCKER_HOST_NAME, HOST_GATEWAY};
