//! `docker-shim`: whether the `docker` on `PATH` is the `docker` drop-in
//! (docs/shim.md), and what it patches in this environment. Hosts that
//! start agents by running `docker` themselves get the sandbox patches only
//! through it. The facts about the executables come from the caller (the
//! CLI knows which executable it is): [`ShimFacts`].

use std::path::PathBuf;

use super::check::Check;
use super::env::Detected;
use super::CheckId;
use crate::sandbox::SandboxEnv;

/// What the caller found out about `docker` on `PATH`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShimFacts {
    /// The first executable `docker` on `PATH`, if any.
    pub docker_on_path: Option<PathBuf>,
    /// Whether that one is the shim (resolves to the shim's executable).
    pub is_shim: bool,
    /// The real docker the shim runs (`NANOCLAW_REAL_DOCKER`, else the
    /// next `docker` on `PATH`), or why there is none.
    pub real_docker: Result<PathBuf, String>,
    /// Whether the real `docker build` builds with BuildKit
    /// (`DOCKER_BUILDKIT`, a buildx plugin), which the shim passes through.
    pub build_uses_buildkit: bool,
}

impl ShimFacts {
    /// The facts: `docker_on_path`, whether it `is_shim`, the `real_docker`
    /// (or why none), and whether builds use BuildKit.
    pub fn new(
        docker_on_path: Option<PathBuf>,
        is_shim: bool,
        real_docker: Result<PathBuf, String>,
        build_uses_buildkit: bool,
    ) -> Self {
        ShimFacts {
            docker_on_path,
            is_shim,
            real_docker,
            build_uses_buildkit,
        }
    }
}

/// How to install the shim, for the details that need it.
const INSTALL: &str = "`nanoclaw-sandbox shim install DIR`, with DIR first on the host's PATH";

/// `docker-shim` for `facts` (`None`: not gathered) in the environment
/// `detected` (no proxy: standard Docker, as the shim decides; settings
/// that cannot be read make the shim refuse every command, as it detects
/// them first).
pub(crate) fn docker_shim(facts: Option<&ShimFacts>, detected: &Detected) -> Check {
    let id = CheckId::DockerShim;
    let Some(facts) = facts else {
        return Check::skip(
            id,
            "not checked: the CLI's `doctor` reports whether `docker` on PATH is the shim",
        );
    };
    let Some(on_path) = &facts.docker_on_path else {
        return Check::skip(
            id,
            format!(
                "no `docker` on PATH: a host that runs `docker` needs the docker CLI and {INSTALL}"
            ),
        );
    };
    let on_path = on_path.display();
    if !facts.is_shim {
        return Check::skip(
            id,
            format!(
                "`docker` on PATH ({on_path}) is not the shim: `docker` commands run unpatched; a \
                 host that starts agents by running `docker` (NanoClaw) needs {INSTALL}"
            ),
        );
    }
    let real = match &facts.real_docker {
        Ok(real) => real.display().to_string(),
        Err(why) => {
            return Check::fail(
                id,
                format!(
                    "`docker` on PATH ({on_path}) is the shim, but it finds no real docker: {why}"
                ),
                "install the docker CLI after the shim's directory on PATH, or set \
                 NANOCLAW_REAL_DOCKER to its path",
            )
        }
    };
    let shown = format!("`docker` on PATH ({on_path}) is the shim; it runs the real docker {real}");
    if let Some(error) = &detected.error {
        return Check::fail(
            id,
            format!("{shown}, but it refuses every command here: the sandbox settings cannot be read: {error}"),
            "fix the proxy variables or the proxy CA (see proxy-env and proxy-ca)",
        );
    }
    match detected.env.as_ref().and_then(SandboxEnv::proxy) {
        None => Check::pass(
            id,
            format!("{shown}; standard Docker: every command passes through unchanged"),
        ),
        Some(_) if facts.build_uses_buildkit => Check::warn(
            id,
            format!(
                "{shown}; sandbox: run and create patched, but build passes through unpatched \
                 (the docker CLI builds with BuildKit here: DOCKER_BUILDKIT or buildx), so its \
                 RUN steps get no proxy and no CA"
            ),
            "set DOCKER_BUILDKIT=0 in the host's environment (the legacy builder, which the \
             shim patches), or build with `nanoclaw-sandbox build`",
        ),
        Some(_) => Check::pass(
            id,
            format!(
                "{shown}; sandbox: run and create patched (proxy, CA, /dev/null mounts, --pull \
                 never), build patched (proxy build args, the CA for RUN steps), everything \
                 else passed through"
            ),
        ),
    }
}
