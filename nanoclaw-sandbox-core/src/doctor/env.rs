//! Checks of the variables alone: the proxy variables, their two
//! spellings, the proxy CA, and Node's TLS switch. Pure.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use super::check::Check;
use super::CheckId;
use crate::proxy::{provide_ca_hint, ProxyUrl, PROXY_CA_B64_VAR, PROXY_VAR_NAMES, SANDBOX_CA_PATH};
use crate::sandbox::patch::NODE_TLS_REJECT_UNAUTHORIZED;
use crate::sandbox::{
    DetectError, DetectOptions, EnvWarning, Mode, SandboxEnv, CA_FILE_VARS, CA_VARS,
};
use crate::spec::ContainerSpec;
use crate::trust::NODE_EXTRA_CA_CERTS;

/// Below this many days to expiry the CA gets a warning.
pub const CA_EXPIRY_WARN_DAYS: i64 = 14;

/// Where the sandbox CA can come from: the fix for every missing-CA finding.
pub(crate) fn ca_fix() -> String {
    format!(
        "give the host the sandbox's CA: {}; the sandbox layer then mounts it into agents and \
         sets {} and the other trust variables",
        provide_ca_hint(),
        NODE_EXTRA_CA_CERTS.name
    )
}

/// Why a check needing the proxy did not run.
pub(crate) const NO_USABLE_PROXY: &str = "no usable proxy variables (see proxy-env)";

/// The proxy the host's HTTPS calls use (else its plain-HTTP one): what the
/// proxy checks connect to.
pub(crate) fn main_proxy(env: Option<&SandboxEnv>) -> Option<&ProxyUrl> {
    env.and_then(SandboxEnv::proxy)
        .and_then(|p| p.for_https().or(p.for_http()))
}

/// What detection made of the variables.
#[derive(Debug)]
pub(crate) struct Detected {
    /// The environment the other checks use; `None` when the proxy
    /// variables themselves are unusable. When only the CA is unusable, the
    /// proxy without a CA.
    pub env: Option<SandboxEnv>,
    /// Why detection failed, if it did.
    pub error: Option<DetectError>,
}

/// Runs the library's detection on `vars`; a CA that is found but unusable
/// still leaves the proxy settings to check.
pub(crate) fn detect(vars: &BTreeMap<String, String>, options: &DetectOptions) -> Detected {
    match SandboxEnv::detect_from(|name| vars.get(name).cloned(), options) {
        Ok(env) => Detected {
            env: Some(env),
            error: None,
        },
        Err(error @ DetectError::InvalidProxy { .. }) => Detected {
            env: None,
            error: Some(error),
        },
        Err(error) => {
            let without_ca = DetectOptions {
                explicit_ca: None,
                sandbox_ca_path: PathBuf::new(),
                system_bundle_paths: Vec::new(),
            };
            // Without the variables that can name the CA, so that the
            // proxy can still be checked.
            let env = SandboxEnv::detect_from(
                |name| {
                    (!CA_VARS.contains(&name))
                        .then(|| vars.get(name).cloned())
                        .flatten()
                },
                &without_ca,
            )
            .ok();
            Detected {
                env,
                error: Some(error),
            }
        }
    }
}

/// `proxy-env`: a proxy is set, parses, and covers HTTPS.
pub(crate) fn proxy_env(detected: &Detected) -> Check {
    let id = CheckId::ProxyEnv;
    let Some(env) = &detected.env else {
        let error = detected
            .error
            .as_ref()
            .map_or_else(String::new, ToString::to_string);
        return Check::fail(
            id,
            error,
            "set the variable to the proxy as http://HOST:PORT (in Docker Sandboxes \
             http://gateway.docker.internal:3128; older Docker Desktop sandboxes: \
             http://host.docker.internal:3128), or unset it",
        );
    };
    let Some(proxy) = env.proxy() else {
        return Check::warn(
            id,
            "no proxy variable is set (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, in either case): \
             standard Docker mode, agent containers run unchanged",
            "nothing to do outside Docker Sandboxes; inside one the sandbox sets HTTPS_PROXY: \
             run the host from the sandbox's shell, or pass the env file of \
             `nanoclaw-sandbox proxy` with --env-file",
        );
    };
    let Some(https) = proxy.for_https() else {
        return Check::fail(
            id,
            "HTTP_PROXY is set but neither HTTPS_PROXY nor ALL_PROXY is: HTTPS requests (the \
             model API, every channel) go direct, which the sandbox blocks",
            "set HTTPS_PROXY and https_proxy to the same proxy as HTTP_PROXY",
        );
    };
    let mut detail = format!("HTTPS requests go through {https}");
    if let Some(http) = proxy.for_http() {
        detail.push_str(&format!(", plain HTTP through {http}"));
    }
    match proxy.no_proxy.as_deref().filter(|v| !v.trim().is_empty()) {
        Some(no_proxy) => detail.push_str(&format!("; NO_PROXY={no_proxy}")),
        None => detail.push_str("; NO_PROXY is empty"),
    }
    Check::pass(id, detail)
}

/// `proxy-env-case`: `HTTPS_PROXY` and `https_proxy` (and the others) agree.
pub(crate) fn proxy_env_case(detected: &Detected, vars: &BTreeMap<String, String>) -> Check {
    let id = CheckId::ProxyEnvCase;
    let Some(env) = detected.env.as_ref().filter(|e| e.proxy().is_some()) else {
        return Check::skip(id, NO_USABLE_PROXY);
    };
    let conflicts: Vec<String> = env
        .warnings()
        .iter()
        .filter(|w| matches!(w, EnvWarning::CaseConflict { .. }))
        .map(ToString::to_string)
        .collect();
    if !conflicts.is_empty() {
        return Check::fail(
            id,
            format!(
                "{}; tools disagree on which spelling they read (curl and Python the \
                 lowercase one, Go the uppercase one), so some of them use another proxy",
                conflicts.join("; ")
            ),
            "set both spellings to the same value, e.g. `export HTTPS_PROXY=URL https_proxy=URL`",
        );
    }
    let set: Vec<&str> = PROXY_VAR_NAMES
        .iter()
        .copied()
        .filter(|name| vars.get(*name).is_some_and(|v| !v.is_empty()))
        .collect();
    Check::pass(
        id,
        format!(
            "one value per variable across both spellings (set: {})",
            set.join(", ")
        ),
    )
}

/// `proxy-ca`: the CA is found, is PEM, is a CA, and is not about to expire.
pub(crate) fn proxy_ca(detected: &Detected, now: SystemTime) -> Check {
    let id = CheckId::ProxyCa;
    if let Some(error @ (DetectError::Ca { .. } | DetectError::BadBase64 { .. })) = &detected.error
    {
        return Check::fail(id, error.to_string(), ca_fix());
    }
    let Some(env) = &detected.env else {
        return Check::skip(id, NO_USABLE_PROXY);
    };
    let Mode::Proxied { ca, .. } = env.mode() else {
        return Check::skip(
            id,
            "standard Docker mode: no proxy, so no proxy CA is needed",
        );
    };
    let Some(ca) = ca else {
        return Check::warn(
            id,
            format!(
                "no proxy CA found ({PROXY_CA_B64_VAR}, {SANDBOX_CA_PATH}, {} or {} naming a CA \
                 file): fine for a proxy that does not intercept TLS, but the Docker Sandboxes \
                 proxy does (tls-probe tells)",
                CA_FILE_VARS[0], CA_FILE_VARS[1]
            ),
            ca_fix(),
        );
    };
    let infos = ca.store().info();
    let soonest = infos.iter().min_by_key(|info| info.days_until_expiry(now));
    let described: Vec<String> = infos
        .iter()
        .map(|info| format!("{info}, {} days left", info.days_until_expiry(now)))
        .collect();
    let detail = format!(
        "{} CA certificate(s) from {}: {}",
        infos.len(),
        ca.source(),
        described.join("; ")
    );
    match soonest {
        Some(info) if info.days_until_expiry(now) < CA_EXPIRY_WARN_DAYS => Check::warn(
            id,
            format!("{detail}; it expires in under {CA_EXPIRY_WARN_DAYS} days"),
            "the sandbox rotates its CA: make sure the host reads the CA again when the file \
             changes (SandboxEnv::reload_ca; the sandbox layer rewrites the mounted CA \
             directory), and restart agents started before the rotation",
        ),
        _ => Check::pass(id, detail),
    }
}

/// `node-tls-verify`: nobody turned Node's TLS verification off.
pub(crate) fn node_tls_verify(
    vars: &BTreeMap<String, String>,
    spec: Option<&ContainerSpec>,
    dev: bool,
) -> Check {
    let id = CheckId::NodeTlsVerify;
    let var = NODE_TLS_REJECT_UNAUTHORIZED;
    let mut where_set = Vec::new();
    if vars.get(var).is_some_and(|v| v.trim() == "0") {
        where_set.push("the host's environment");
    }
    if spec
        .and_then(|s| s.env_value(var))
        .is_some_and(|v| v.trim() == "0")
    {
        where_set.push("the container spec");
    }
    if where_set.is_empty() {
        return Check::pass(id, format!("TLS verification is on ({var} is not 0)"));
    }
    let detail = format!(
        "{var}=0 in {}: Node accepts any certificate, an attacker's included",
        where_set.join(" and ")
    );
    let fix = format!(
        "unset {var} and trust the proxy CA instead (the sandbox layer sets NODE_EXTRA_CA_CERTS)"
    );
    if dev {
        Check::warn(
            id,
            format!("{detail}; allowed because --dev (insecure dev mode) was given"),
            fix,
        )
    } else {
        Check::fail(id, detail, fix)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use base64::Engine;
    use rcgen::{date_time_ymd, BasicConstraints, CertificateParams, IsCa, KeyPair};

    use super::*;
    use crate::doctor::check::Status;

    /// A PEM certificate valid 2020-2045: a CA, or a leaf.
    fn pem(ca: bool) -> String {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2045, 1, 1);
        if ca {
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        }
        params
            .self_signed(&KeyPair::generate().unwrap())
            .unwrap()
            .pem()
    }

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_ca_fix_names_every_way_to_give_the_ca() {
        assert_eq!(
            ca_fix(),
            "give the host the sandbox's CA: set PROXY_CA_CERT_B64 to `base64 -w0 proxy-ca.crt`, \
             or put the PEM at /usr/local/share/ca-certificates/proxy-ca.crt (Docker Sandboxes \
             put it there); the sandbox layer then mounts it into agents and sets \
             NODE_EXTRA_CA_CERTS and the other trust variables"
        );
    }

    /// Detection that never finds this machine's own CA files.
    fn detect_only(vars: &BTreeMap<String, String>) -> Detected {
        let options = DetectOptions::default()
            .with_sandbox_ca_path("/nonexistent/proxy-ca.crt")
            .with_system_bundle_paths(Vec::new());
        detect(vars, &options)
    }

    const PROXY: &str = "http://user:hunter2@127.0.0.1:3128";

    #[test]
    fn proxy_env_covers_unset_invalid_http_only_and_good() {
        let none = detect_only(&vars(&[]));
        assert_eq!(proxy_env(&none).status, Status::Warn);

        let invalid = detect_only(&vars(&[("HTTPS_PROXY", "socks5://user:hunter2@x:1")]));
        let check = proxy_env(&invalid);
        assert_eq!(check.status, Status::Fail, "{check}");
        assert!(check.detail.contains("HTTPS_PROXY"), "{check}");
        assert!(!check.to_string().contains("hunter2"), "{check}");

        let http_only = detect_only(&vars(&[("HTTP_PROXY", PROXY)]));
        let check = proxy_env(&http_only);
        assert_eq!(check.status, Status::Fail, "{check}");
        assert!(check.fix.unwrap().contains("HTTPS_PROXY"));

        let good = detect_only(&vars(&[("https_proxy", PROXY), ("no_proxy", "localhost")]));
        let check = proxy_env(&good);
        assert_eq!(check.status, Status::Pass, "{check}");
        assert!(
            check.detail.contains("127.0.0.1:3128") && check.detail.contains("NO_PROXY=localhost")
        );
        assert!(!check.to_string().contains("hunter2"), "{check}");
    }

    #[test]
    fn spellings_must_agree() {
        let conflict = vars(&[
            ("HTTPS_PROXY", "http://a.test:1"),
            ("https_proxy", "http://user:hunter2@b.test:2"),
        ]);
        let check = proxy_env_case(&detect_only(&conflict), &conflict);
        assert_eq!(check.status, Status::Fail, "{check}");
        assert!(
            check.detail.contains("https_proxy=http://***@b.test:2"),
            "{check}"
        );
        assert!(!check.to_string().contains("hunter2"));

        let same = vars(&[("HTTPS_PROXY", PROXY), ("https_proxy", PROXY)]);
        let check = proxy_env_case(&detect_only(&same), &same);
        assert_eq!(check.status, Status::Pass, "{check}");
        assert!(check.detail.contains("HTTPS_PROXY, https_proxy"), "{check}");

        let none = vars(&[]);
        assert_eq!(
            proxy_env_case(&detect_only(&none), &none).status,
            Status::Skip
        );
    }

    #[test]
    fn the_ca_is_found_checked_and_dated() {
        let now = SystemTime::now();
        let proxied = |ca: Option<String>| {
            let mut v = vars(&[("HTTPS_PROXY", PROXY)]);
            if let Some(ca) = ca {
                v.insert(PROXY_CA_B64_VAR.into(), ca);
            }
            detect_only(&v)
        };
        let check = proxy_ca(&proxied(Some(b64(&pem(true)))), now);
        assert_eq!(check.status, Status::Pass, "{check}");
        assert!(check.detail.contains("days left"), "{check}");

        // Measured from late 2044, the same CA is about to expire.
        let late = std::time::UNIX_EPOCH + Duration::from_secs(2_366_841_600); // 2045-01-01
        let soon = late - Duration::from_secs(5 * 24 * 3600);
        let check = proxy_ca(&proxied(Some(b64(&pem(true)))), soon);
        assert_eq!(check.status, Status::Warn, "{check}");
        assert!(check.detail.contains(", 5 days left"), "{check}");

        let leaf = proxy_ca(&proxied(Some(b64(&pem(false)))), now);
        assert_eq!(leaf.status, Status::Fail, "{leaf}");
        let garbage = proxied(Some("not base64!".into()));
        assert_eq!(proxy_ca(&garbage, now).status, Status::Fail);
        // A bad CA still leaves the proxy to check.
        assert_eq!(proxy_env(&garbage).status, Status::Pass);

        assert_eq!(proxy_ca(&proxied(None), now).status, Status::Warn);
        assert_eq!(proxy_ca(&detect_only(&vars(&[])), now).status, Status::Skip);
    }

    #[test]
    fn node_tls_off_fails_unless_dev() {
        let off = vars(&[(NODE_TLS_REJECT_UNAUTHORIZED, "0")]);
        assert_eq!(node_tls_verify(&off, None, false).status, Status::Fail);
        let dev = node_tls_verify(&off, None, true);
        assert_eq!(dev.status, Status::Warn);
        assert!(dev.detail.contains("--dev"));
        let spec = ContainerSpec::builder("agent:1")
            .env(NODE_TLS_REJECT_UNAUTHORIZED, "0")
            .build()
            .unwrap();
        let check = node_tls_verify(&vars(&[]), Some(&spec), false);
        assert_eq!(check.status, Status::Fail);
        assert!(check.detail.contains("the container spec"), "{check}");
        let on = vars(&[(NODE_TLS_REJECT_UNAUTHORIZED, "1")]);
        assert_eq!(node_tls_verify(&on, None, false).status, Status::Pass);
    }
}
