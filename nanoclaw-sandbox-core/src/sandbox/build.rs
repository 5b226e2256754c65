//! Build patches, the pure half of building behind the sandbox's proxy: the
//! build args to forward, the extra host a translated proxy needs, and the
//! in-memory Dockerfile with the CA steps (see [`crate::dockerfile::add_ca_steps`]).
//! The runtime decorator hands these to its `ImageBuilder`.
//!
//! No `strict-ssl=false`, no `--trusted-host`: `RUN` steps verify TLS
//! against the system store with the proxy CA added for the build only.

use std::collections::BTreeMap;

use crate::dockerfile::{self, ContextFile, SkipReason, IMAGE_CA_PATH};
use crate::spec::{EnvVar, ExtraHost, NetworkMode};

use super::case;
use super::mode::Mode;
use super::no_proxy::extend_no_proxy;
use super::patch::{
    proxy_values, translation_message, PatchError, PatchKind, PatchReport, Severity,
    NODE_USE_ENV_PROXY, NODE_USE_ENV_PROXY_ON,
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
    /// Base image → its configured user (`Config.User`), so CA steps can
    /// switch to root and back; images not listed are taken to run as root.
    pub base_image_users: BTreeMap<String, String>,
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

    /// Records a base image's configured user.
    pub fn with_base_image_user(
        mut self,
        image: impl Into<String>,
        user: impl Into<String>,
    ) -> Self {
        self.base_image_users.insert(image.into(), user.into());
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
    /// The Dockerfile to build: with the CA steps when the proxy intercepts
    /// TLS, else the input unchanged. Never written to disk.
    pub dockerfile: String,
    /// Files to add to the build context (the CA, when there is one).
    pub context_files: Vec<ContextFile>,
    /// What was changed, and warnings.
    pub report: PatchReport,
}

/// The build args and extra hosts alone (no Dockerfile change): proxy
/// variables in both spellings (translated for a bridge build network),
/// `no_proxy` extended like a container's, `NODE_USE_ENV_PROXY=1` (so Node's
/// built-in clients in `RUN` steps use them), and `NODE_EXTRA_CA_CERTS` when the
/// proxy intercepts TLS. Warns when a proxy URL carries credentials: declared
/// `ARG` values show in `docker history`.
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
    let any_proxy = !pairs.is_empty();
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
    if any_proxy {
        push_arg(
            &mut args,
            &mut report,
            NODE_USE_ENV_PROXY,
            NODE_USE_ENV_PROXY_ON,
        )?;
    }
    if mode.ca().is_some() {
        push_arg(&mut args, &mut report, "NODE_EXTRA_CA_CERTS", IMAGE_CA_PATH)?;
    }
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
            "http_proxy",
            "the proxy URL carries a user name or password: declared ARG values are recorded \
             in the image's `docker history`; use a proxy without credentials for builds, or \
             do not publish the image",
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
/// with a CA the Dockerfile rewritten by [`dockerfile::add_ca_steps`] plus the
/// CA as a context file. The CA is read from `mode` now, at build time.
pub fn patch_build(
    mode: &Mode,
    dockerfile: &str,
    options: &BuildOptions,
) -> Result<BuildPatch, PatchError> {
    let (build_args, extra_hosts, mut report) = build_args(mode, options)?;
    if mode.proxy().is_some() {
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
    }
    let Some(ca) = mode.ca() else {
        return Ok(BuildPatch {
            build_args,
            extra_hosts,
            dockerfile: dockerfile.to_string(),
            context_files: Vec::new(),
            report,
        });
    };
    let rewrite =
        dockerfile::add_ca_steps(dockerfile, &ca.store().to_pem(), &options.base_image_users)?;
    report.push(
        Severity::Info,
        PatchKind::Dockerfile,
        "Dockerfile",
        "each stage with a RUN step trusts the proxy CA from its start and stops at its end",
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
            format!("no CA steps: {why}"),
        );
    }
    Ok(BuildPatch {
        build_args,
        extra_hosts,
        dockerfile: rewrite.dockerfile,
        context_files: vec![rewrite.context_file],
        report,
    })
}
