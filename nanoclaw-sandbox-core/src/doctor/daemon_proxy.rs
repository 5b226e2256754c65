//! `daemon-proxy` and `daemon-ca`: in a sandbox, the Docker daemon the
//! doctor talks to has the proxy configured (from `GET /info`) and, when
//! the proxy intercepts TLS, the proxy CA in the system store it reads.
//!
//! Both warn rather than fail: a daemon whose images are all local works
//! without them, and a daemon reached over `DOCKER_HOST` may sit on a
//! network of its own. Its pulls and `FROM` resolution do fail without them.

use std::path::Path;

use super::check::Check;
use super::CheckId;
use crate::proxy::{ProxyUrl, SYSTEM_CA_PATH};
use crate::sandbox::daemon::DaemonProxy;
use crate::sandbox::SandboxEnv;
use crate::trust::TrustStore;

const FIX: &str = "run `nanoclaw-sandbox daemon-config` to see what the daemon needs, then \
                   `sudo nanoclaw-sandbox daemon-config --write` and the restart it prints";

/// Why the daemon checks do not apply, if they do not.
fn not_applicable(sandbox: Option<&SandboxEnv>, endpoint: Option<&str>) -> Option<String> {
    let Some(sandbox) = sandbox else {
        return Some("the proxy variables are unusable (see proxy-env)".into());
    };
    if sandbox.proxy().is_none() {
        return Some("no proxy is set: not a sandbox, the daemon needs no proxy".into());
    }
    match endpoint {
        Some(_) => None,
        None => Some("no Docker daemon to ask (see docker-daemon)".into()),
    }
}

/// `daemon-proxy`: `read` is the daemon's answer to `GET /info` (`None`:
/// not asked).
pub(crate) fn daemon_proxy(
    sandbox: Option<&SandboxEnv>,
    endpoint: Option<&str>,
    read: Option<&Result<DaemonProxy, String>>,
) -> Check {
    let id = CheckId::DaemonProxy;
    if let Some(why) = not_applicable(sandbox, endpoint) {
        return Check::skip(id, why);
    }
    let (Some(sandbox), Some(endpoint)) = (sandbox, endpoint) else {
        return Check::skip(id, "no Docker daemon to ask (see docker-daemon)");
    };
    let daemon = match read {
        None => return Check::skip(id, "the daemon's settings were not read"),
        Some(Err(reason)) => {
            return Check::warn(
                id,
                format!("cannot read the proxy of the daemon at {endpoint}: {reason}"),
                "check the daemon (see docker-daemon)",
            )
        }
        Some(Ok(daemon)) => daemon,
    };
    let Some(proxy) = sandbox.proxy() else {
        return Check::skip(id, "no proxy is set: not a sandbox");
    };
    let Some(wanted) = proxy.for_https() else {
        return Check::skip(id, "no HTTPS proxy is set (see proxy-env)");
    };
    let version = daemon.engine_version.as_deref().unwrap_or("unknown");
    let who = format!("the Docker daemon at {endpoint} (Engine {version})");
    let Some(has) = daemon.https.as_deref() else {
        return Check::warn(
            id,
            format!(
                "{who} has no HTTPS proxy (GET /info: HttpsProxy is empty): its pulls and \
                 Dockerfile FROM go direct, which the sandbox blocks, while this shell uses \
                 {}",
                wanted.redacted()
            ),
            FIX,
        );
    };
    // The daemon redacts passwords itself; compare where it connects.
    let same = ProxyUrl::parse(has)
        .map(|url| url.authority() == wanted.authority())
        .unwrap_or(false);
    if !same {
        return Check::warn(
            id,
            format!(
                "{who} uses the HTTPS proxy {}, not the sandbox's {}",
                crate::redact::redact_userinfo(has),
                wanted.redacted()
            ),
            FIX,
        );
    }
    Check::pass(
        id,
        format!(
            "{who} pulls through {} (NO_PROXY {})",
            crate::redact::redact_userinfo(has),
            daemon.no_proxy.as_deref().unwrap_or("unset")
        ),
    )
}

/// What `daemon-ca` read from this machine's file system.
pub(crate) struct StoreFiles<'a> {
    /// The first system bundle that exists (Go's crypto/x509 reads the
    /// first of its list), and its text.
    pub bundle: Option<(&'a Path, &'a str)>,
    /// The text of [`SYSTEM_CA_PATH`], if present.
    pub ca_file: Option<&'a str>,
}

/// `daemon-ca`.
pub(crate) fn daemon_ca(
    sandbox: Option<&SandboxEnv>,
    endpoint: Option<&str>,
    files: &StoreFiles<'_>,
) -> Check {
    let id = CheckId::DaemonCa;
    if let Some(why) = not_applicable(sandbox, endpoint) {
        return Check::skip(id, why);
    }
    let (Some(sandbox), Some(endpoint)) = (sandbox, endpoint) else {
        return Check::skip(id, "no Docker daemon to ask (see docker-daemon)");
    };
    let Some(ca) = sandbox.mode().ca() else {
        return Check::skip(
            id,
            "the proxy does not intercept TLS (no proxy CA): the daemon has nothing to trust",
        );
    };
    if !endpoint.starts_with("unix://") {
        return Check::skip(
            id,
            format!(
                "the daemon at {endpoint} is not reached through a local socket: its trust \
                 store cannot be read from here"
            ),
        );
    }
    let limits = "the daemon's trust cannot be read over the API: this checks the system \
                  store on this machine, which dockerd and containerd read at start; not \
                  checked: a daemon's own SSL_CERT_FILE, /etc/docker/certs.d (per registry), \
                  and whether the daemon restarted since";
    let wanted = ca.store().ca_certificates();
    let in_bundle = files.bundle.and_then(|(path, text)| {
        let certs = TrustStore::from_pem(text.as_bytes(), &path.display().to_string()).ok()?;
        let all = certs.ca_certificates();
        wanted.iter().all(|c| all.contains(c)).then_some(path)
    });
    if let Some(path) = in_bundle {
        return Check::pass(
            id,
            format!("the proxy CA is in {} ({limits})", path.display()),
        );
    }
    let bundle = files
        .bundle
        .map_or("no system bundle".to_string(), |(p, _)| {
            p.display().to_string()
        });
    match files.ca_file {
        Some(_) => Check::warn(
            id,
            format!(
                "{SYSTEM_CA_PATH} exists but the proxy CA is not in {bundle}: \
                 update-ca-certificates has not run since, or the file holds another CA \
                 ({limits})"
            ),
            format!("{FIX}; or run `sudo update-ca-certificates && sudo systemctl restart docker`"),
        ),
        None => Check::warn(
            id,
            format!(
                "the proxy CA is neither in {bundle} nor at {SYSTEM_CA_PATH}: the daemon's \
                 pulls through the proxy fail with \"certificate signed by unknown authority\" \
                 ({limits})"
            ),
            FIX,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;
    use crate::proxy::ProxySettings;
    use crate::sandbox::{CaSource, Mode, ProxyCa};

    fn store() -> TrustStore {
        crate::trust::generated_ca_store()
    }

    fn sandbox(ca: Option<TrustStore>) -> SandboxEnv {
        let url = ProxyUrl::parse("http://proxy.test:3128").unwrap();
        SandboxEnv::new(Mode::Proxied {
            proxy: ProxySettings {
                https: Some(url.clone()),
                http: Some(url),
                ..ProxySettings::default()
            },
            ca: ca.map(|s| ProxyCa::new(s, CaSource::ExplicitPath("/ca.pem".into()))),
        })
    }

    const LOCAL: Option<&str> = Some("unix:///var/run/docker.sock");

    #[test]
    fn the_daemon_proxy_is_compared_with_the_sandbox_proxy() {
        let env = sandbox(None);
        let engine = LOCAL;
        let none = Ok(DaemonProxy {
            engine_version: Some("20.10.24".into()),
            ..DaemonProxy::default()
        });
        let check = daemon_proxy(Some(&env), engine, Some(&none));
        assert_eq!(check.status, Status::Warn, "{check}");
        assert!(check.detail.contains("no HTTPS proxy") && check.detail.contains("20.10.24"));
        assert!(check
            .fix
            .unwrap()
            .contains("nanoclaw-sandbox daemon-config"));
        let other = Ok(DaemonProxy {
            https: Some("http://other.test:8080".into()),
            ..DaemonProxy::default()
        });
        let check = daemon_proxy(Some(&env), engine, Some(&other));
        assert_eq!(check.status, Status::Warn);
        assert!(check.detail.contains("other.test:8080"), "{check}");
        let same = Ok(DaemonProxy {
            https: Some("http://xxxxx:xxxxx@proxy.test:3128".into()),
            no_proxy: Some("localhost".into()),
            ..DaemonProxy::default()
        });
        let check = daemon_proxy(Some(&env), engine, Some(&same));
        assert_eq!(check.status, Status::Pass, "{check}");
        assert!(!check.detail.contains("xxxxx"), "{check}");
        let failed = Err("GET /info: 500".to_string());
        assert_eq!(
            daemon_proxy(Some(&env), engine, Some(&failed)).status,
            Status::Warn
        );
        // Not a sandbox, no daemon: skipped.
        let direct = SandboxEnv::new(Mode::StandardDocker);
        assert_eq!(
            daemon_proxy(Some(&direct), engine, Some(&none)).status,
            Status::Skip
        );
        assert_eq!(daemon_proxy(Some(&env), None, None).status, Status::Skip);
    }

    #[test]
    fn the_ca_must_be_in_the_system_bundle() {
        let ca = store();
        let env = sandbox(Some(ca.clone()));
        let engine = LOCAL;
        let other = store().to_pem();
        let with = format!("{other}{}", ca.to_pem());
        let path = Path::new("/etc/ssl/certs/ca-certificates.crt");
        let check = daemon_ca(
            Some(&env),
            engine,
            &StoreFiles {
                bundle: Some((path, &with)),
                ca_file: None,
            },
        );
        assert_eq!(check.status, Status::Pass, "{check}");
        assert!(check.detail.contains("not checked"), "{check}");
        let check = daemon_ca(
            Some(&env),
            engine,
            &StoreFiles {
                bundle: Some((path, &other)),
                ca_file: Some("x"),
            },
        );
        assert_eq!(check.status, Status::Warn);
        assert!(check.fix.unwrap().contains("update-ca-certificates"));
        let check = daemon_ca(
            Some(&env),
            engine,
            &StoreFiles {
                bundle: Some((path, &other)),
                ca_file: None,
            },
        );
        assert_eq!(check.status, Status::Warn);
        assert!(check.detail.contains("unknown authority"), "{check}");
        // A plain proxy has no CA; a remote daemon's store is not here.
        let plain = sandbox(None);
        let files = StoreFiles {
            bundle: None,
            ca_file: None,
        };
        assert_eq!(daemon_ca(Some(&plain), engine, &files).status, Status::Skip);
        let check = daemon_ca(Some(&env), Some("tcp://10.0.0.1:2375"), &files);
        assert_eq!(check.status, Status::Skip);
        assert!(check.detail.contains("tcp://10.0.0.1:2375"));
    }
}
