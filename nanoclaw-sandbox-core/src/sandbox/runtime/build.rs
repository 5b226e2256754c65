//! Preparing an image build behind the proxy: the pure build patch
//! ([`crate::sandbox::build`]) applied to a [`BuildRequest`] — build args and
//! extra hosts added, and with a CA the Dockerfile rewritten and the CA added
//! inside the tar context (never on disk).

use std::collections::BTreeMap;

use crate::dockerfile::parse::{BaseRef, Document};
use crate::dockerfile::{
    check_builder_support, read_dockerfile, rewrite_context, ContextFile, DOCKER_20_10_UNSUPPORTED,
};
use crate::runtime::{BuildRequest, ImageBuilder, RuntimeError};
use crate::sandbox::build::{build_args, patch_build, BuildOptions};
use crate::sandbox::{Mode, PatchError, PatchKind, PatchReport, Severity};
use crate::spec::{EnvVar, ExtraHost, NetworkMode};

/// Everything the build patch changes, before it is applied to the request.
struct Changes {
    args: Vec<EnvVar>,
    hosts: Vec<ExtraHost>,
    /// The rewritten Dockerfile and the files to add, with a CA.
    rewrite: Option<(String, Vec<ContextFile>)>,
    report: PatchReport,
}

/// `request` patched for `mode`, and what was changed. Standard Docker mode
/// returns the request untouched with an empty report.
pub(super) async fn prepare<B: ImageBuilder + ?Sized>(
    builder: &B,
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
    let refused = |e: PatchError| RuntimeError::Sandbox {
        subject: format!("build `{}`", request.display_name()),
        message: e.to_string(),
    };
    let changes = match mode.ca() {
        None => {
            let (args, hosts, report) = build_args(mode, &options).map_err(refused)?;
            Changes {
                args,
                hosts,
                rewrite: None,
                report,
            }
        }
        Some(_) => {
            let dockerfile = read_dockerfile(request.context(), request.dockerfile_path())?;
            // The engine's builder checks this too, but on the rewritten
            // file: checked here first, its lines are the caller's.
            check_builder_support(&dockerfile, DOCKER_20_10_UNSUPPORTED)
                .map_err(|source| RuntimeError::Dockerfile { source })?;
            let mut options = options;
            options.base_image_users =
                base_image_users(builder, &dockerfile, request.build_args()).await;
            let patch = patch_build(mode, &dockerfile, &options).map_err(refused)?;
            Changes {
                args: patch.build_args,
                hosts: patch.extra_hosts,
                rewrite: Some((patch.dockerfile, patch.context_files)),
                report: patch.report,
            }
        }
    };
    apply(request, changes)
}

fn apply(
    mut request: BuildRequest,
    changes: Changes,
) -> Result<(BuildRequest, PatchReport), RuntimeError> {
    let Changes {
        args,
        hosts,
        rewrite,
        mut report,
    } = changes;
    for arg in args {
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
    for host in hosts {
        if !request.extra_hosts().iter().any(|h| h.name == host.name) {
            request = request.extra_host(host.name, host.address);
        }
    }
    if let Some((dockerfile, files)) = rewrite {
        let context = rewrite_context(
            request.context(),
            request.dockerfile_path(),
            &dockerfile,
            &files,
        )?;
        request = request.with_context(context);
    }
    Ok((request, report))
}

/// Each outside base image's configured user, as far as the builder can
/// tell, keyed by the reference as written after `FROM` (what the CA rewrite
/// looks up), so the CA steps switch to root and back. Stages are read by
/// the Dockerfile parser, their `${VAR}`s resolved from `build_args`. Images
/// it cannot inspect are left out (taken to run as root); the build itself
/// then reports a missing image.
async fn base_image_users<B: ImageBuilder + ?Sized>(
    builder: &B,
    dockerfile: &str,
    build_args: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut users = BTreeMap::new();
    let Ok(doc) = Document::parse(dockerfile) else {
        return users;
    };
    for resolved in doc.resolved_stages(build_args) {
        let Ok(BaseRef::Image(image)) = &resolved.base else {
            continue;
        };
        let written = resolved.stage.base();
        if users.contains_key(written) {
            continue;
        }
        match builder.image_user(image).await {
            Ok(Some(user)) => {
                users.insert(written.to_string(), user);
            }
            Ok(None) => {}
            Err(e) => tracing::debug!(%image, error = %e, "cannot read the base image's user"),
        }
    }
    users
}
