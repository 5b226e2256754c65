//! What an agent container really got, against what the sandbox layer
//! would give it: the `docker exec <c> env | grep -i proxy` check, done for
//! the user. The engine's inspect answer carries the environment every
//! `docker exec` sees, so no command has to exist in the image.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::check::Check;
use super::paths;
use super::CheckId;
use crate::proxy::{ProxyUrl, ProxyVar, PROXY_CA_B64_VAR, PROXY_VAR_NAMES as PROXY_VARS};
use crate::redact;
use crate::runtime::{ContainerInfo, MountInfo};
use crate::sandbox::patch::NODE_TLS_REJECT_UNAUTHORIZED;
use crate::sandbox::{
    instances_base, InstancePaths, PatchError, SandboxEnv, SandboxPatcher, CA_DIR_NAME,
    EMPTY_FILE_NAME,
};
use crate::spec::{ContainerSpec, NetworkMode};
use crate::trust::{TrustStore, CA_FILE_NAME, CONTAINER_CA_DIR, TRUST_VARS};

/// How one expected setting compares with the container's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Finding {
    /// As the sandbox layer sets it.
    Ok,
    /// Not there.
    Missing,
    /// There, with another value.
    Differs,
    /// TLS verification turned off without insecure dev mode.
    Insecure,
}

/// One variable: what the sandbox layer sets and what the container has,
/// both as they may be shown (secrets and proxy credentials redacted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VarAudit {
    /// The variable.
    pub name: String,
    /// How it compares.
    pub status: Finding,
    /// The sandbox layer's value, redacted; `None` for a variable it would not set.
    pub expected: Option<String>,
    /// The container's value, redacted; `None` when unset.
    pub actual: Option<String>,
}

/// A proxy or CA variable the container has that the sandbox layer does not set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShownVar {
    /// The variable.
    pub name: String,
    /// Its value, redacted.
    pub value: String,
}

/// One mount of the container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountShown {
    /// `bind`, `volume`, `tmpfs`, ...
    pub kind: String,
    /// Host path or volume name.
    pub source: String,
    /// Container path.
    pub target: String,
    /// Mounted read-only.
    pub read_only: bool,
}

/// The CA directory mount, when the proxy intercepts TLS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaMountAudit {
    /// How it compares: a read-only bind at [`CONTAINER_CA_DIR`] is `ok`.
    pub status: Finding,
    /// Where it must be mounted.
    pub target: String,
    /// The host directory mounted there, if any.
    pub source: Option<String>,
}

/// A container's proxy and CA settings against the sandbox layer's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerAudit {
    /// The container's name.
    pub container: String,
    /// Its short id.
    pub id: String,
    /// Its image.
    pub image: String,
    /// Its state (`running`, `exited`, ...).
    pub state: String,
    /// Its network mode.
    pub network_mode: String,
    /// The host's mode: `standard-docker`, `proxied` or `proxied-intercepting`.
    pub mode: &'static str,
    /// Every variable the sandbox layer sets, compared; then a
    /// `NODE_TLS_REJECT_UNAUTHORIZED=0` it would not set.
    pub variables: Vec<VarAudit>,
    /// Other proxy and CA variables the container has.
    pub other_variables: Vec<ShownVar>,
    /// The CA directory mount (`None` when the proxy does not intercept TLS).
    pub ca_mount: Option<CaMountAudit>,
    /// Every mount.
    pub mounts: Vec<MountShown>,
}

impl ContainerAudit {
    /// Whether everything the sandbox layer sets is there, as it sets it.
    pub fn matches(&self) -> bool {
        self.variables.iter().all(|v| v.status == Finding::Ok)
            && self
                .ca_mount
                .as_ref()
                .is_none_or(|m| m.status == Finding::Ok)
    }

    /// The CA mount's host directory, when mounted.
    fn ca_source(&self) -> Option<&str> {
        self.ca_mount.as_ref().and_then(|m| m.source.as_deref())
    }
}

/// Compares `info` with what the sandbox layer, configured from `env`
/// (`dev`: insecure dev mode), would give a container of the same image on
/// the same network. Only settings are compared, not values the caller of
/// the sandbox layer chose: `NO_PROXY` matches when it holds every entry the
/// sandbox layer adds (the host may add its own names).
pub fn audit_container(
    env: &SandboxEnv,
    info: &ContainerInfo,
    dev: bool,
) -> Result<ContainerAudit, PatchError> {
    let ca_mount = info
        .mounts
        .iter()
        .rev()
        .find(|m| m.target.trim_end_matches('/') == CONTAINER_CA_DIR);
    let expected = expected_env(env, info, ca_mount, dev)?;
    let actual = |name: &str| {
        info.env
            .iter()
            .rev()
            .find(|v| v.name() == name)
            .map(|v| v.value().to_string())
    };
    let mut variables: Vec<VarAudit> = expected
        .iter()
        .map(|(name, wanted)| {
            let have = actual(name);
            let status = match &have {
                None => Finding::Missing,
                Some(have) if same_value(name, wanted, have) => Finding::Ok,
                Some(_) => Finding::Differs,
            };
            VarAudit {
                name: name.clone(),
                status,
                expected: Some(redact::env_value_for_display(name, wanted)),
                actual: have.map(|v| redact::env_value_for_display(name, &v)),
            }
        })
        .collect();
    let is_expected = |name: &str| expected.iter().any(|(n, _)| n == name);
    if !is_expected(NODE_TLS_REJECT_UNAUTHORIZED)
        && actual(NODE_TLS_REJECT_UNAUTHORIZED).is_some_and(|v| v.trim() == "0")
    {
        variables.push(VarAudit {
            name: NODE_TLS_REJECT_UNAUTHORIZED.to_string(),
            status: Finding::Insecure,
            expected: None,
            actual: Some("0".to_string()),
        });
    }
    let other_variables = related_names()
        .filter(|name| !is_expected(name) && *name != NODE_TLS_REJECT_UNAUTHORIZED)
        .filter_map(|name| {
            actual(name).map(|value| ShownVar {
                name: name.to_string(),
                value: shown_related(name, &value),
            })
        })
        .collect();
    let ca_mount = env.trust_store().map(|_| CaMountAudit {
        status: match ca_mount {
            None => Finding::Missing,
            Some(m) if m.kind == "bind" && m.read_only => Finding::Ok,
            Some(_) => Finding::Differs,
        },
        target: CONTAINER_CA_DIR.to_string(),
        source: ca_mount.map(|m| m.source.clone()),
    });
    Ok(ContainerAudit {
        container: info.name.clone(),
        id: info.id.short().to_string(),
        image: info.image.clone(),
        state: info.state.as_str().to_string(),
        network_mode: info.network_mode.clone(),
        mode: env.mode().kind().as_str(),
        variables,
        other_variables,
        ca_mount,
        mounts: info.mounts.iter().map(mount_shown).collect(),
    })
}

/// The variables the sandbox layer would set, as `(name, value)`, from the
/// patcher itself: one source of truth.
fn expected_env(
    env: &SandboxEnv,
    info: &ContainerInfo,
    ca_mount: Option<&MountInfo>,
    dev: bool,
) -> Result<Vec<(String, String)>, PatchError> {
    // Only the environment is read from the patched spec, so the instance
    // paths matter only in being valid: the container's own CA directory
    // when it has one.
    let ca_dir = ca_mount.map_or_else(
        || instances_base(None).join(CA_DIR_NAME),
        |m| PathBuf::from(&m.source),
    );
    let instance = InstancePaths {
        empty_file: ca_dir
            .parent()
            .unwrap_or(Path::new("/"))
            .join(EMPTY_FILE_NAME),
        ca_dir,
    };
    let base = ContainerSpec::builder(info.image.clone())
        .network(NetworkMode::parse(&info.network_mode))
        .build()
        .map_err(PatchError::Spec)?;
    let patcher = SandboxPatcher::new(env.mode(), Some(instance))?.with_insecure_dev_mode(dev);
    let (patched, _) = patcher.patch(&base)?;
    Ok(patched
        .env()
        .iter()
        .map(|v| (v.name().to_string(), v.value().to_string()))
        .collect())
}

/// `NO_PROXY` may hold more than the sandbox layer adds; everything else
/// must be equal.
fn same_value(name: &str, wanted: &str, have: &str) -> bool {
    if !name.eq_ignore_ascii_case(ProxyVar::NO_PROXY.upper) {
        return wanted == have;
    }
    let entries = |list: &str| -> Vec<String> {
        list.split(',')
            .map(|e| e.trim().to_ascii_lowercase())
            .filter(|e| !e.is_empty())
            .collect()
    };
    let have = entries(have);
    entries(wanted).iter().all(|e| have.contains(e))
}

/// The proxy and CA variables worth showing.
fn related_names() -> impl Iterator<Item = &'static str> {
    PROXY_VARS
        .iter()
        .copied()
        .chain(TRUST_VARS.iter().map(|v| v.name))
        .chain([PROXY_CA_B64_VAR, NODE_TLS_REJECT_UNAUTHORIZED])
}

/// Values as shown; the base64 CA is long and says nothing at a glance.
fn shown_related(name: &str, value: &str) -> String {
    if name == PROXY_CA_B64_VAR {
        format!("({} characters of base64)", value.len())
    } else {
        redact::env_value_for_display(name, value)
    }
}

fn mount_shown(mount: &MountInfo) -> MountShown {
    MountShown {
        kind: mount.kind.clone(),
        source: mount.source.clone(),
        target: mount.target.clone(),
        read_only: mount.read_only,
    }
}

/// What the container checks tell the user to do.
fn recreate_fix(container: &str) -> String {
    format!(
        "recreate the container through the sandbox layer (SandboxRuntime in the host, or \
         `nanoclaw-sandbox run`), which sets these; `nanoclaw-sandbox inspect {container}` \
         shows each one"
    )
}

/// `var: actual, the sandbox layer sets expected` for each difference, and
/// the names of missing ones.
fn describe_mismatches(vars: &[&VarAudit]) -> Vec<String> {
    let missing: Vec<&str> = vars
        .iter()
        .filter(|v| v.status == Finding::Missing)
        .map(|v| v.name.as_str())
        .collect();
    let mut parts = Vec::new();
    if !missing.is_empty() {
        parts.push(format!("missing {}", missing.join(", ")));
    }
    for var in vars.iter().filter(|v| v.status == Finding::Differs) {
        parts.push(format!(
            "{} is {}, the sandbox layer sets {}",
            var.name,
            var.actual.as_deref().unwrap_or_default(),
            var.expected.as_deref().unwrap_or_default()
        ));
    }
    parts
}

/// `container-proxy-env` for one container.
pub(crate) fn container_proxy_env(audit: &ContainerAudit) -> Check {
    let id = CheckId::ContainerProxyEnv;
    let name = &audit.container;
    let proxy_vars: Vec<&VarAudit> = audit
        .variables
        .iter()
        .filter(|v| PROXY_VARS.contains(&v.name.as_str()))
        .collect();
    if proxy_vars.is_empty() {
        return Check::pass(
            id,
            format!("container {name}: standard Docker mode, no proxy variables expected"),
        );
    }
    let problems = describe_mismatches(&proxy_vars);
    if problems.is_empty() {
        let names: Vec<&str> = proxy_vars.iter().map(|v| v.name.as_str()).collect();
        return Check::pass(
            id,
            format!(
                "container {name} ({}): {} as the sandbox layer sets them",
                audit.state,
                names.join(", ")
            ),
        );
    }
    let mut detail = format!(
        "container {name} ({}): {}",
        audit.state,
        problems.join("; ")
    );
    let loopback = proxy_vars.iter().any(|v| {
        v.status == Finding::Differs
            && v.actual
                .as_deref()
                .and_then(|a| ProxyUrl::parse(a).ok())
                .is_some_and(|url| url.is_loopback())
    });
    if loopback && audit.network_mode != "host" {
        detail.push_str(
            "; a loopback proxy address is the container's own loopback, unreachable from a \
             bridge network: the sandbox layer uses host.docker.internal instead",
        );
    } else {
        detail.push_str(
            "; without them its tools go direct, which the sandbox refuses (\"agent \
             containers can't reach the Anthropic API\")",
        );
    }
    Check::fail(id, detail, recreate_fix(name))
}

/// `container-ca` for one container: the trust variables, the CA mount
/// (inside the workspace when one is given) and the CA file in it being
/// the current CA (it rotates).
pub(crate) fn container_ca(
    audit: &ContainerAudit,
    env: &SandboxEnv,
    workspace: Option<&Path>,
) -> Check {
    let id = CheckId::ContainerCa;
    let name = &audit.container;
    let Some(store) = env.trust_store() else {
        return Check::skip(
            id,
            format!("container {name}: the proxy does not intercept TLS, no CA to trust"),
        );
    };
    let trust_vars: Vec<&VarAudit> = audit
        .variables
        .iter()
        .filter(|v| !PROXY_VARS.contains(&v.name.as_str()))
        .collect();
    let mut problems = describe_mismatches(&trust_vars);
    if trust_vars.iter().any(|v| v.status == Finding::Insecure) {
        // Insecure dev mode puts the variable among the expected ones, so
        // this is the case it was not asked for.
        problems.push(format!(
            "{NODE_TLS_REJECT_UNAUTHORIZED}=0 turns TLS verification off (only --dev allows it)"
        ));
    }
    match audit.ca_mount.as_ref().map(|m| m.status) {
        Some(Finding::Missing) => {
            problems.push(format!("nothing is mounted at {CONTAINER_CA_DIR}"))
        }
        Some(Finding::Differs) => {
            problems.push(format!("{CONTAINER_CA_DIR} is not a read-only bind mount"))
        }
        _ => {}
    }
    let source = audit.ca_source().map(PathBuf::from);
    if let (Some(source), Some(root)) = (&source, workspace) {
        if !paths::is_inside(source, root) {
            problems.push(format!(
                "the CA directory {} is outside the workspace {} (\"path not shared\" inside \
                 Docker Sandboxes)",
                source.display(),
                root.display()
            ));
        }
    }
    let mut warning = None;
    if let Some(source) = &source {
        let file = source.join(CA_FILE_NAME);
        match TrustStore::from_file(&file) {
            Ok(mounted) if &mounted == store => {}
            Ok(_) => problems.push(format!(
                "{} is not the current proxy CA: the sandbox rotated it and the host has not \
                 rewritten the file",
                file.display()
            )),
            Err(error) => {
                warning = Some(format!("cannot check the CA file from here: {error}"));
            }
        }
    }
    if !problems.is_empty() {
        return Check::fail(
            id,
            format!(
                "container {name} ({}): {}; its tools cannot verify the intercepting proxy \
                 (\"UNABLE_TO_VERIFY_LEAF_SIGNATURE\", \"SELF_SIGNED_CERT_IN_CHAIN\")",
                audit.state,
                problems.join("; ")
            ),
            recreate_fix(name),
        );
    }
    let detail = format!(
        "container {name} ({}): {} trust variables set, the CA directory {} mounted read-only \
         at {CONTAINER_CA_DIR}",
        audit.state,
        trust_vars.len(),
        source
            .as_ref()
            .map_or_else(String::new, |s| s.display().to_string())
    );
    match warning {
        Some(warning) => Check::warn(
            id,
            format!("{detail}; {warning}"),
            "run the doctor where the host runs, so it can read the CA directory",
        ),
        None => Check::pass(id, detail),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::doctor::check::Status;
    use crate::proxy::ProxySettings;
    use crate::runtime::ContainerId;
    use crate::runtime::ContainerState;
    use crate::sandbox::Mode;
    use crate::sandbox::{CaSource, ProxyCa};
    use crate::spec::Mount;
    use crate::trust::{SystemRoots, TrustDir};

    fn store() -> TrustStore {
        crate::trust::generated_ca_store()
    }

    fn env_with(proxy: &str, ca: Option<TrustStore>) -> SandboxEnv {
        SandboxEnv::new(Mode::Proxied {
            proxy: ProxySettings {
                https: Some(ProxyUrl::parse(proxy).unwrap()),
                http: Some(ProxyUrl::parse(proxy).unwrap()),
                no_proxy: Some("internal.test".into()),
                ..ProxySettings::default()
            },
            ca: ca.map(|s| ProxyCa::new(s, CaSource::EnvBase64)),
        })
    }

    /// What the engine would report for `spec` created on `network`.
    fn info(spec: &ContainerSpec, network: &str) -> ContainerInfo {
        ContainerInfo {
            id: ContainerId::new("0123456789abcdef"),
            name: "agent-1".into(),
            image: spec.image().into(),
            state: ContainerState::Running,
            exit_code: None,
            oom_killed: false,
            env: spec.env().to_vec(),
            mounts: spec
                .mounts()
                .iter()
                .filter_map(|m| match m {
                    Mount::Bind {
                        source,
                        target,
                        read_only,
                    } => Some(MountInfo {
                        kind: "bind".into(),
                        source: source.display().to_string(),
                        target: target.clone(),
                        read_only: *read_only,
                    }),
                    _ => None,
                })
                .collect(),
            labels: BTreeMap::new(),
            network_mode: network.into(),
            user: String::new(),
        }
    }

    /// A container as the sandbox layer creates it, its CA directory
    /// (kept while the returned `TrustDir` lives) written with `written`
    /// (the current CA unless told otherwise).
    fn patched(
        env: &SandboxEnv,
        dir: &Path,
        written: Option<&TrustStore>,
    ) -> (ContainerInfo, TrustDir) {
        let trust = TrustDir::create(dir.join("ca")).unwrap();
        if let Some(store) = written.or(env.trust_store()) {
            trust
                .write(store, &SystemRoots::Builtin.load().unwrap())
                .unwrap();
        }
        let instance = InstancePaths {
            empty_file: dir.join("empty"),
            ca_dir: trust.path().to_path_buf(),
        };
        let base = ContainerSpec::builder("agent:1").build().unwrap();
        let (spec, _) = SandboxPatcher::new(env.mode(), Some(instance))
            .unwrap()
            .patch(&base)
            .unwrap();
        (info(&spec, "bridge"), trust)
    }

    #[test]
    fn a_container_made_by_the_sandbox_layer_matches() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_with("http://127.0.0.1:3128", Some(store()));
        let (container, _ca_dir) = patched(&env, dir.path(), None);
        let audit = audit_container(&env, &container, false).unwrap();
        assert!(audit.matches(), "{audit:#?}");
        assert_eq!(audit.mode, "proxied-intercepting");
        assert_eq!(container_proxy_env(&audit).status, Status::Pass);
        let ca = container_ca(&audit, &env, Some(dir.path()));
        assert_eq!(ca.status, Status::Pass, "{ca}");
        let https = audit
            .variables
            .iter()
            .find(|v| v.name == "HTTPS_PROXY")
            .unwrap();
        assert_eq!(
            https.actual.as_deref(),
            Some("http://host.docker.internal:3128")
        );
    }

    #[test]
    fn a_bare_container_misses_everything() {
        let env = env_with("http://127.0.0.1:3128", Some(store()));
        let bare = info(
            &ContainerSpec::builder("agent:1").build().unwrap(),
            "bridge",
        );
        let audit = audit_container(&env, &bare, false).unwrap();
        assert!(!audit.matches());
        assert!(audit.variables.iter().all(|v| v.status == Finding::Missing));
        assert_eq!(
            audit.ca_mount.as_ref().map(|m| m.status),
            Some(Finding::Missing)
        );
        let check = container_proxy_env(&audit);
        assert_eq!(check.status, Status::Fail, "{check}");
        assert!(
            check.detail.contains("missing HTTP_PROXY, http_proxy"),
            "{check}"
        );
        assert!(check
            .fix
            .unwrap()
            .contains("nanoclaw-sandbox inspect agent-1"));
        let check = container_ca(&audit, &env, None);
        assert_eq!(check.status, Status::Fail, "{check}");
        assert!(check.detail.contains("NODE_EXTRA_CA_CERTS"), "{check}");
        assert!(check
            .detail
            .contains("nothing is mounted at /etc/nanoclaw/ca"));
    }

    #[test]
    fn a_loopback_proxy_in_a_bridge_container_is_explained_and_secrets_hidden() {
        let env = env_with("http://user:hunter2@127.0.0.1:3128", None);
        let spec = ContainerSpec::builder("agent:1")
            .env("HTTPS_PROXY", "http://user:hunter2@127.0.0.1:3128")
            .env("ANTHROPIC_API_KEY", "sk-secret")
            .env(
                "NO_PROXY",
                "localhost,127.0.0.1,::1,internal.test,host.docker.internal,extra.test",
            )
            .build()
            .unwrap();
        let audit = audit_container(&env, &info(&spec, "bridge"), false).unwrap();
        let shown = serde_json::to_string(&audit).unwrap();
        assert!(
            !shown.contains("hunter2") && !shown.contains("sk-secret"),
            "{shown}"
        );
        let https = audit
            .variables
            .iter()
            .find(|v| v.name == "HTTPS_PROXY")
            .unwrap();
        assert_eq!(https.status, Finding::Differs);
        let check = container_proxy_env(&audit);
        assert!(
            check.detail.contains("unreachable from a bridge network"),
            "{check}"
        );
        let no_proxy = audit
            .variables
            .iter()
            .find(|v| v.name == "NO_PROXY")
            .unwrap();
        assert_eq!(no_proxy.status, Finding::Ok, "{no_proxy:?}");
        assert_eq!(audit.ca_mount, None);
        assert_eq!(container_ca(&audit, &env, None).status, Status::Skip);
        // The same address is right on the host network.
        let host = audit_container(&env, &info(&spec, "host"), false).unwrap();
        let https = host
            .variables
            .iter()
            .find(|v| v.name == "HTTPS_PROXY")
            .unwrap();
        assert_eq!(https.status, Finding::Ok);
    }

    #[test]
    fn tls_off_is_insecure_unless_dev_mode() {
        let env = env_with("http://127.0.0.1:3128", None);
        let spec = ContainerSpec::builder("agent:1")
            .env(NODE_TLS_REJECT_UNAUTHORIZED, "0")
            .build()
            .unwrap();
        let audit = audit_container(&env, &info(&spec, "bridge"), false).unwrap();
        let tls = audit
            .variables
            .iter()
            .find(|v| v.name == NODE_TLS_REJECT_UNAUTHORIZED)
            .unwrap();
        assert_eq!(tls.status, Finding::Insecure);
        let dev = audit_container(&env, &info(&spec, "bridge"), true).unwrap();
        let tls = dev
            .variables
            .iter()
            .find(|v| v.name == NODE_TLS_REJECT_UNAUTHORIZED)
            .unwrap();
        assert_eq!(tls.status, Finding::Ok);
    }

    #[test]
    fn a_rotated_ca_or_a_mount_outside_the_workspace_fails() {
        let dir = tempfile::tempdir().unwrap();
        let env = env_with("http://127.0.0.1:3128", Some(store()));
        let old = store();
        let (container, _ca_dir) = patched(&env, dir.path(), Some(&old));
        let stale = audit_container(&env, &container, false).unwrap();
        assert!(stale.matches(), "the settings themselves are right");
        let check = container_ca(&stale, &env, None);
        assert_eq!(check.status, Status::Fail, "{check}");
        assert!(check.detail.contains("rotated"), "{check}");

        let elsewhere = tempfile::tempdir().unwrap();
        let (container, _ca_dir) = patched(&env, dir.path(), None);
        let audit = audit_container(&env, &container, false).unwrap();
        let check = container_ca(&audit, &env, Some(elsewhere.path()));
        assert_eq!(check.status, Status::Fail, "{check}");
        assert!(check.detail.contains("path not shared"), "{check}");
    }

    #[test]
    fn standard_docker_expects_nothing() {
        let env = SandboxEnv::new(Mode::StandardDocker);
        let spec = ContainerSpec::builder("agent:1")
            .env("HTTPS_PROXY", "http://p.test:1")
            .build()
            .unwrap();
        let audit = audit_container(&env, &info(&spec, "bridge"), false).unwrap();
        assert!(audit.matches());
        assert!(audit.variables.is_empty());
        assert_eq!(audit.other_variables.len(), 1);
        assert_eq!(container_proxy_env(&audit).status, Status::Pass);
        assert_eq!(container_ca(&audit, &env, None).status, Status::Skip);
    }
}
