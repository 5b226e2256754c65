//! Build patches, the pure half of building behind the sandbox's proxy: the
//! build args to forward (Docker's predefined proxy args only, the CA among
//! them), the extra host a translated proxy needs, and the in-memory
//! Dockerfile whose `RUN` steps run inside the wrapper (see
//! [`crate::dockerfile::wrap_run_steps`]). The runtime decorator hands these
//! to its `ImageBuilder`.
//!
//! No `strict-ssl=false`, no `--trusted-host`: `RUN` steps verify TLS
//! against the system store with the proxy CA added for the step only.

use crate::dockerfile::{self, SkipReason, CA_BUILD_ARG};
use crate::spec::{EnvVar, ExtraHost, NetworkMode};

use super::case;
use super::mode::Mode;
use super::no_proxy::extend_no_proxy;
use super::patch::{
    proxy_values, translation_message, PatchError, PatchKind, PatchReport, Severity,
};
use super::translate::{DOCKER_HOST_NAME, HOST_GATEWAY};

/// What the build looks like from the patcher's side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuildOptions {
    /// The build's `RUN` steps use the host's network (`--network host`):
    /// a loopback proxy then stays as it is.
    pub host_network: bool,
    /// Names the host goes by, added to `no_proxy` (as for containers).
    pub host_names: Vec<String>,
}

impl BuildOptions {
    /// Whether `RUN` steps use the host's network.
    pub fn with_host_network(mut self, host_network: bool) -> Self {
        self.host_network = host_network;
        self
    }

    /// Names the host goes by.
    pub fn with_host_names(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.host_names = names.into_iter().map(Into::into).collect();
        self
    }
}

/// Everything a build needs changed. In standard Docker mode: no args, no
/// hosts, no files, the Dockerfile as given, an empty report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildPatch {
    /// `--build-arg`s (values may hold proxy credentials: `Debug` redacts them).
    pub build_args: Vec<EnvVar>,
    /// Extra hosts for the build's `RUN` steps.
    pub extra_hosts: Vec<ExtraHost>,
    /// The Dockerfile to build, never written to disk: behind a proxy its
    /// `RUN` steps run inside the wrapper, else it is the input unchanged.
    /// Build it from the context as [`dockerfile::BUILD_DOCKERFILE`], added
    /// with [`dockerfile::hide_build_files`].
    pub dockerfile: String,
    /// Whether `dockerfile` differs from the input.
    pub rewritten: bool,
    /// What was changed, and warnings.
    pub report: PatchReport,
}

/// The build args and extra hosts alone: proxy variables in both spellings
/// (translated for a bridge build network), `no_proxy` extended like a
/// container's, and [`CA_BUILD_ARG`]: the step wrapper, with an
/// intercepting proxy's CA inside. All are args Docker predefines, so they reach `RUN`
/// steps undeclared and stay out of `docker history` (what the wrapper makes
/// of them: [`dockerfile::wrap_run_steps`]). Warns when a proxy URL carries
/// credentials: a Dockerfile declaring the arg would show them.
pub fn build_args(
    mode: &Mode,
    options: &BuildOptions,
) -> Result<(Vec<EnvVar>, Vec<ExtraHost>, PatchReport), PatchError> {
    let mut report = PatchReport::default();
    let (mut args, mut hosts) = (Vec::new(), Vec::new());
    let Some(proxy) = mode.proxy() else {
        return Ok((args, hosts, report));
    };
    let network = if options.host_network {
        NetworkMode::Host
    } else {
        NetworkMode::Default
    };
    let mut pairs = Vec::new();
    let mut translated = false;
    let mut credentials = false;
    for (pair, value) in proxy_values(proxy, &network)? {
        if let Some(message) = translation_message(&value) {
            translated = true;
            report.push(
                Severity::Info,
                PatchKind::ProxyTranslation,
                value.original.authority(),
                message,
            );
        }
        credentials |= value.original.has_credentials();
        pairs.push((pair, value.effective().expose()));
    }
    let no_proxy = extend_no_proxy(
        proxy.no_proxy.as_deref().unwrap_or_default(),
        &options.host_names,
    );
    pairs.push((case::NO_PROXY, no_proxy));
    for (pair, value) in pairs {
        for name in [pair.lower, pair.upper] {
            push_arg(&mut args, &mut report, name, &value)?;
        }
    }
    let pem = mode.ca().map(|ca| ca.store().to_pem());
    let wrapper = dockerfile::wrapper_script(pem.as_deref());
    args.push(EnvVar::new(CA_BUILD_ARG, wrapper).map_err(PatchError::Spec)?);
    report.push(
        Severity::Info,
        PatchKind::BuildArg,
        CA_BUILD_ARG,
        if pem.is_some() {
            "carries the step wrapper and the proxy CA to the RUN steps (never declared, so never in the history)"
        } else {
            "carries the step wrapper to the RUN steps (never declared, so never in the history)"
        },
    );
    if translated {
        hosts.push(ExtraHost {
            name: DOCKER_HOST_NAME.to_string(),
            address: HOST_GATEWAY.to_string(),
        });
        report.push(
            Severity::Info,
            PatchKind::ExtraHost,
            DOCKER_HOST_NAME,
            format!("added as {HOST_GATEWAY} for the build"),
        );
    }
    if credentials {
        report.push(
            Severity::Warn,
            PatchKind::BuildArg,
            crate::proxy::ProxyVar::HTTP_PROXY.lower,
            "the proxy URL carries a user name or password: a Dockerfile that declares a proxy \
             ARG records its value in the image's `docker history`; use a proxy without \
             credentials for builds, or do not publish the image",
        );
    }
    Ok((args, hosts, report))
}

fn push_arg(
    args: &mut Vec<EnvVar>,
    report: &mut PatchReport,
    name: &str,
    value: &str,
) -> Result<(), PatchError> {
    let arg = EnvVar::new(name, value).map_err(PatchError::Spec)?;
    report.push(
        Severity::Info,
        PatchKind::BuildArg,
        name,
        format!("forwarded as {arg:?}"),
    );
    args.push(arg);
    Ok(())
}

/// The whole build patch for `dockerfile` (its text): [`build_args`], and
/// behind a proxy the Dockerfile with its `RUN` steps wrapped
/// ([`dockerfile::wrap_run_steps`]). The CA is read from `mode` now, at build
/// time.
pub fn patch_build(
    mode: &Mode,
    dockerfile: &str,
    options: &BuildOptions,
) -> Result<BuildPatch, PatchError> {
    let (build_args, extra_hosts, mut report) = build_args(mode, options)?;
    if mode.proxy().is_none() {
        return Ok(BuildPatch {
            build_args,
            extra_hosts,
            dockerfile: dockerfile.to_string(),
            rewritten: false,
            report,
        });
    }
    for name in dockerfile::declared_predefined_args(dockerfile)? {
        report.push(
            Severity::Warn,
            PatchKind::BuildArg,
            name.as_str(),
            format!(
                "the Dockerfile declares `ARG {name}`: Docker passes its proxy args to RUN \
                 steps without a declaration and keeps them out of `docker history` only \
                 while they are undeclared; remove the declaration so the proxy URL is not \
                 recorded in the image"
            ),
        );
    }
    let rewrite = dockerfile::wrap_run_steps(dockerfile)?;
    report.push(
        Severity::Info,
        PatchKind::Dockerfile,
        "Dockerfile",
        format!(
            "{} RUN step(s) run inside the wrapper: the proxy for Node too (NODE_USE_ENV_PROXY){}",
            rewrite.wrapped_steps,
            if mode.ca().is_some() {
                ", and the proxy CA trusted for the step alone"
            } else {
                ""
            }
        ),
    );
    for stage in &rewrite.skipped {
        let why = match stage.reason {
            SkipReason::NoShell => "it has no shell (scratch or distroless)",
            SkipReason::NoRunStep => "it has no RUN step",
        };
        report.push(
            Severity::Info,
            PatchKind::Dockerfile,
            format!("stage {} ({})", stage.index, stage.base),
            format!("no wrapped steps: {why}"),
        );
    }
    Ok(BuildPatch {
        build_args,
        extra_hosts,
        dockerfile: rewrite.dockerfile,
        rewritten: true,
        report,
    })
}
