//! Preparing an image build behind the proxy: the pure build patch
//! ([`crate::sandbox::build`]) applied to a [`BuildRequest`] — build args and
//! extra hosts added, and the rewritten Dockerfile added to the tar context
//! (never on disk) where the builder reads it and no `COPY` reaches it.

use crate::dockerfile::{hide_build_files, read_dockerfile, BUILD_DOCKERFILE, CA_BUILD_ARG};
use crate::runtime::{BuildRequest, RuntimeError};
use crate::sandbox::build::{patch_build, BuildOptions};
use crate::sandbox::{Mode, PatchError, PatchKind, PatchReport, Severity};
use crate::spec::NetworkMode;

/// `request` patched for `mode`, and what was changed: what
/// [`SandboxRuntime::build`](super::SandboxRuntime) hands its inner builder
/// (and the `docker` drop-in hands the real `docker build`). `host_names`
/// go to `no_proxy`. Standard Docker mode returns the request untouched with
/// an empty report.
pub fn prepare_build(
    mode: &Mode,
    host_names: &[String],
    request: BuildRequest,
) -> Result<(BuildRequest, PatchReport), RuntimeError> {
    if mode.proxy().is_none() {
        return Ok((request, PatchReport::default()));
    }
    let options = BuildOptions::default()
        .with_host_network(*request.network_mode() == NetworkMode::Host)
        .with_host_names(host_names.iter().cloned());
    let subject = format!("build `{}`", request.display_name());
    let refused = |source: PatchError| RuntimeError::Sandbox {
        subject: subject.clone(),
        source,
    };
    if request.build_args().contains_key(CA_BUILD_ARG) {
        return Err(refused(PatchError::ReservedBuildArg { name: CA_BUILD_ARG }));
    }
    let dockerfile = read_dockerfile(request.context(), request.dockerfile_path())?;
    // The engine's builder checks this too, but on the rewritten file:
    // checked here first, its lines are the caller's. The builder it picks
    // is fixed on the request, so the engine builds with the one checked.
    let builder = request
        .builder_choice()
        .for_dockerfile(&dockerfile)
        .map_err(|source| RuntimeError::Dockerfile { source })?;
    let patch = patch_build(mode, &dockerfile, &options).map_err(refused)?;
    let mut report = patch.report;
    let mut request = request.builder(builder);
    for arg in patch.build_args {
        match request.build_args().get(arg.name()) {
            // As for containers, a value the caller set wins, with a warning.
            Some(theirs) if theirs != arg.value() => report.push(
                Severity::Warn,
                PatchKind::BuildArg,
                arg.name(),
                "the caller's build arg is kept instead of the sandbox's value",
            ),
            Some(_) => {}
            None => request = request.build_arg(arg.name(), arg.value()),
        }
    }
    for host in patch.extra_hosts {
        if !request.extra_hosts().iter().any(|h| h.name == host.name) {
            request = request.extra_host(host.name, host.address);
        }
    }
    if patch.rewritten {
        let context = hide_build_files(
            request.context(),
            request.dockerfile_path(),
            &patch.dockerfile,
        )?;
        request = request.with_context(context).dockerfile(BUILD_DOCKERFILE);
    }
    Ok((request, report))
}
