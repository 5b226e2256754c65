//! The Docker daemon *inside* a sandbox: what it needs so its pulls and
//! `FROM` resolution go through the sandbox proxy and trust the proxy's CA.
//!
//! In a Docker Sandbox the agent host runs its own `dockerd` inside the
//! microVM. That daemon reads neither the shell's proxy variables nor the
//! proxy CA, so every pull fails (no route, or an unknown certificate
//! authority). [`render`] computes, purely, the files and commands that fix
//! it, in the form the daemon's Engine version accepts:
//!
//! - Engine 23 and later: `"proxies"` in `daemon.json`
//!   ([`DAEMON_JSON_PATH`]), merged into the keys already there.
//! - Before Engine 23: a systemd drop-in setting the daemon's environment
//!   ([`SYSTEMD_DROP_IN_PATH`]). A 20.10 daemon refuses to start on a
//!   `daemon.json` key it does not know, so `"proxies"` is never written
//!   for it.
//! - Either way, with a TLS-intercepting proxy: the CA in the system store
//!   ([`SYSTEM_CA_PATH`], then `update-ca-certificates`), which dockerd and
//!   containerd (Go's crypto/x509) read at start. `/etc/docker/certs.d/` is
//!   per registry host, so it cannot cover every registry the proxy
//!   intercepts.
//!
//! The files carry the proxy's credentials; [`DaemonFile::shown`] is the
//! same content with them replaced by `***`, for printing.

use std::fmt;
use std::path::PathBuf;

use super::no_proxy::extend_no_proxy;
use crate::proxy::{ProxySettings, ProxyUrl, ProxyVar, SYSTEM_CA_PATH};
use crate::trust::{TrustStore, HOST_BUNDLE_PATHS};

/// Where the daemon reads its configuration.
pub const DAEMON_JSON_PATH: &str = "/etc/docker/daemon.json";
/// The systemd drop-in giving `docker.service` the proxy variables.
pub const SYSTEMD_DROP_IN_PATH: &str = "/etc/systemd/system/docker.service.d/http-proxy.conf";
/// The system bundle `update-ca-certificates` writes (Debian, Ubuntu), the
/// first file Go's crypto/x509 reads on Linux: the first of the host bundles
/// ([`HOST_BUNDLE_PATHS`]).
pub const SYSTEM_BUNDLE_PATH: &str = HOST_BUNDLE_PATHS[0];
/// The first Engine major version that accepts `"proxies"` in `daemon.json`.
pub const PROXIES_MIN_ENGINE: u32 = 23;

/// The proxy a daemon itself uses (its `HttpProxy`, `HttpsProxy` and
/// `NoProxy` in `GET /info`), engine-neutral: plain strings, `None` when
/// unset. `DockerRuntime::daemon_proxy` reads it from a Docker daemon.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonProxy {
    /// The daemon's `HTTP_PROXY` (its password redacted by the daemon).
    pub http: Option<String>,
    /// The daemon's `HTTPS_PROXY` (its password redacted by the daemon).
    pub https: Option<String>,
    /// The daemon's `NO_PROXY`.
    pub no_proxy: Option<String>,
    /// The Engine version, e.g. `20.10.24+dfsg1` or `27.3.1`.
    pub engine_version: Option<String>,
}

/// A Docker Engine version: major and minor are all that decide the form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EngineVersion {
    /// `20` in `20.10.24`.
    pub major: u32,
    /// `10` in `20.10.24`.
    pub minor: u32,
}

impl EngineVersion {
    /// Parses `20.10`, `20.10.24+dfsg1`, `27.3.1`, `v23.0.0-rc.1`, `28`.
    pub fn parse(text: &str) -> Result<Self, DaemonConfigError> {
        let bad = || DaemonConfigError::EngineVersion {
            text: text.to_string(),
        };
        let trimmed = text.trim();
        let trimmed = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let mut parts = trimmed.split(['.', '-', '+', '~']);
        let major = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let minor = match parts.next() {
            None => 0,
            Some(p) => p.parse().map_err(|_| bad())?,
        };
        Ok(EngineVersion { major, minor })
    }

    /// Whether this Engine accepts `"proxies"` in `daemon.json`.
    pub fn accepts_daemon_json_proxies(self) -> bool {
        self.major >= PROXIES_MIN_ENGINE
    }
}

impl fmt::Display for EngineVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// How the daemon gets its proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyForm {
    /// `"proxies"` in `daemon.json` (Engine 23+).
    DaemonJson,
    /// The daemon's environment, from a systemd drop-in (before Engine 23).
    SystemdDropIn,
}

/// One file to write: its content carries the proxy credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct DaemonFile {
    /// Where it goes.
    pub path: PathBuf,
    /// What to write (credentials included: never print it).
    pub content: String,
    /// The content with credentials replaced by `***`, for printing.
    pub shown: String,
}

impl fmt::Debug for DaemonFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DaemonFile")
            .field("path", &self.path)
            .field("shown", &self.shown)
            .finish_non_exhaustive()
    }
}

/// What a daemon needs: files, then commands to run as root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    /// The Engine version the form was chosen for.
    pub engine: EngineVersion,
    /// How the proxy is given to the daemon.
    pub form: ProxyForm,
    /// The files, in the order to write them.
    pub files: Vec<DaemonFile>,
    /// The commands that make the daemon use them, in order.
    pub commands: Vec<String>,
    /// Whether any file carries proxy credentials (shown as `***`).
    pub has_credentials: bool,
}

/// Why the daemon's configuration cannot be computed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonConfigError {
    /// No `HTTP_PROXY`, `HTTPS_PROXY` or `ALL_PROXY`.
    #[error(
        "no proxy is set (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY): there is nothing to configure \
         the daemon with; run this inside the sandbox, or pass --env-file with the proxy \
         variables"
    )]
    NoProxy,
    /// An Engine version that does not parse.
    #[error(
        "Engine version {text:?} is not a version like 20.10 or 27.3.1; pass \
         --engine-version MAJOR.MINOR"
    )]
    EngineVersion {
        /// The text given.
        text: String,
    },
    /// The existing `daemon.json` is not JSON.
    #[error(
        "{DAEMON_JSON_PATH} is not valid JSON ({source}); fix it first (the daemon cannot \
         start with it either)"
    )]
    DaemonJson {
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The existing `daemon.json` is JSON but not an object.
    #[error("{DAEMON_JSON_PATH} is not a JSON object; fix it first (the daemon cannot start with it either)")]
    DaemonJsonNotObject,
}

/// The proxy values the daemon gets.
struct Values<'a> {
    http: Option<&'a ProxyUrl>,
    https: Option<&'a ProxyUrl>,
    no_proxy: String,
}

/// Computes what the daemon needs. `ca`: the proxy CA when the proxy
/// intercepts TLS. `existing_daemon_json`: the current `daemon.json`, whose
/// other keys are kept (Engine 23+ only; ignored before).
pub fn render(
    proxy: &ProxySettings,
    ca: Option<&TrustStore>,
    engine: EngineVersion,
    existing_daemon_json: Option<&str>,
) -> Result<DaemonConfig, DaemonConfigError> {
    let values = Values {
        http: proxy.for_http(),
        https: proxy.for_https(),
        no_proxy: extend_no_proxy(proxy.no_proxy.as_deref().unwrap_or_default(), &[]),
    };
    if values.http.is_none() && values.https.is_none() {
        return Err(DaemonConfigError::NoProxy);
    }
    let has_credentials = [values.http, values.https]
        .into_iter()
        .flatten()
        .any(ProxyUrl::has_credentials);
    let mut files = Vec::new();
    let mut commands = Vec::new();
    if let Some(ca) = ca {
        // One certificate per file: Debian's update-ca-certificates skips a
        // `.crt` holding more than one.
        const END: &str = "-----END CERTIFICATE-----\n";
        let all = ca.to_pem();
        let pems = all.split_inclusive(END).filter(|p| p.contains(END));
        for (index, pem) in pems.enumerate() {
            let pem = pem.trim_start().to_string();
            files.push(DaemonFile {
                path: system_ca_path(index),
                shown: pem.clone(),
                content: pem,
            });
        }
        commands.push("update-ca-certificates".to_string());
    }
    let form = if engine.accepts_daemon_json_proxies() {
        files.push(DaemonFile {
            path: DAEMON_JSON_PATH.into(),
            content: daemon_json(&values, existing_daemon_json, ProxyUrl::expose)?,
            shown: daemon_json(&values, existing_daemon_json, ProxyUrl::redacted)?,
        });
        commands.push("systemctl restart docker".to_string());
        ProxyForm::DaemonJson
    } else {
        files.push(DaemonFile {
            path: SYSTEMD_DROP_IN_PATH.into(),
            content: drop_in(&values, ProxyUrl::expose),
            shown: drop_in(&values, ProxyUrl::redacted),
        });
        commands.push("systemctl daemon-reload".to_string());
        commands.push("systemctl restart docker".to_string());
        ProxyForm::SystemdDropIn
    };
    Ok(DaemonConfig {
        engine,
        form,
        files,
        commands,
        has_credentials,
    })
}

/// Where the `index`th certificate of the proxy CA goes: [`SYSTEM_CA_PATH`],
/// then `nanoclaw-proxy-ca-2.crt`, ... next to it.
pub fn system_ca_path(index: usize) -> PathBuf {
    match index {
        0 => SYSTEM_CA_PATH.into(),
        n => PathBuf::from(SYSTEM_CA_PATH.replace(".crt", &format!("-{}.crt", n + 1))),
    }
}

/// `daemon.json` with `"proxies"` set, other keys kept.
fn daemon_json(
    values: &Values<'_>,
    existing: Option<&str>,
    show: fn(&ProxyUrl) -> String,
) -> Result<String, DaemonConfigError> {
    let mut root = match existing.map(str::trim).filter(|t| !t.is_empty()) {
        None => serde_json::Map::new(),
        Some(text) => match serde_json::from_str(text)
            .map_err(|source| DaemonConfigError::DaemonJson { source })?
        {
            serde_json::Value::Object(map) => map,
            _ => return Err(DaemonConfigError::DaemonJsonNotObject),
        },
    };
    let mut proxies = serde_json::Map::new();
    if let Some(url) = values.http {
        proxies.insert("http-proxy".into(), show(url).into());
    }
    if let Some(url) = values.https {
        proxies.insert("https-proxy".into(), show(url).into());
    }
    proxies.insert("no-proxy".into(), values.no_proxy.clone().into());
    root.insert("proxies".into(), proxies.into());
    let mut text = serde_json::to_string_pretty(&serde_json::Value::Object(root))
        .map_err(|source| DaemonConfigError::DaemonJson { source })?;
    text.push('\n');
    Ok(text)
}

/// The systemd drop-in: both spellings, as Go reads the uppercase and
/// other tools the lowercase one.
fn drop_in(values: &Values<'_>, show: fn(&ProxyUrl) -> String) -> String {
    let mut pairs: Vec<(ProxyVar, String)> = Vec::new();
    if let Some(url) = values.http {
        pairs.push((ProxyVar::HTTP_PROXY, show(url)));
    }
    if let Some(url) = values.https {
        pairs.push((ProxyVar::HTTPS_PROXY, show(url)));
    }
    pairs.push((ProxyVar::NO_PROXY, values.no_proxy.clone()));
    let mut text = String::from(
        "# Written by `nanoclaw-sandbox daemon-config`: the sandbox proxy for dockerd.\n\
         [Service]\n",
    );
    for (var, value) in &pairs {
        for name in var.both() {
            text.push_str(&format!(
                "Environment=\"{}\"\n",
                systemd_escape(&format!("{name}={value}"))
            ));
        }
    }
    text
}

/// Escapes a value for a double-quoted systemd assignment: `\` and `"`
/// backslashed, `%` (a specifier) doubled.
fn systemd_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> TrustStore {
        crate::trust::generated_ca_store()
    }

    fn proxy(url: &str, no_proxy: Option<&str>) -> ProxySettings {
        ProxySettings {
            http: Some(ProxyUrl::parse(url).unwrap()),
            https: Some(ProxyUrl::parse(url).unwrap()),
            all: None,
            no_proxy: no_proxy.map(str::to_string),
        }
    }

    fn v(text: &str) -> EngineVersion {
        EngineVersion::parse(text).unwrap()
    }

    #[test]
    fn versions_parse_and_bad_ones_are_named() {
        assert_eq!(
            v("20.10.24+dfsg1"),
            EngineVersion {
                major: 20,
                minor: 10
            }
        );
        assert_eq!(
            v("27.3.1"),
            EngineVersion {
                major: 27,
                minor: 3
            }
        );
        assert_eq!(
            v("v23.0.0-rc.1"),
            EngineVersion {
                major: 23,
                minor: 0
            }
        );
        assert_eq!(
            v("28"),
            EngineVersion {
                major: 28,
                minor: 0
            }
        );
        let error = EngineVersion::parse("latest").unwrap_err().to_string();
        assert!(error.contains("\"latest\"") && error.contains("--engine-version"));
        assert!(EngineVersion::parse("20.x").is_err());
        assert!(!v("20.10").accepts_daemon_json_proxies());
        assert!(!v("22.06").accepts_daemon_json_proxies());
        assert!(v("23.0").accepts_daemon_json_proxies());
    }

    #[test]
    fn engine_20_10_gets_a_drop_in_and_never_daemon_json() {
        let config = render(
            &proxy("http://proxy.test:3128", Some(".corp")),
            None,
            v("20.10.24"),
            Some(r#"{"debug": true}"#),
        )
        .unwrap();
        assert_eq!(config.form, ProxyForm::SystemdDropIn);
        let paths: Vec<_> = config.files.iter().map(|f| f.path.clone()).collect();
        assert_eq!(paths, vec![PathBuf::from(SYSTEMD_DROP_IN_PATH)]);
        let text = &config.files[0].content;
        assert!(text.contains("[Service]\n"), "{text}");
        assert!(text.contains("Environment=\"HTTP_PROXY=http://proxy.test:3128\"\n"));
        assert!(text.contains("Environment=\"HTTPS_PROXY=http://proxy.test:3128\"\n"));
        assert!(text.contains("Environment=\"https_proxy=http://proxy.test:3128\"\n"));
        assert!(text.contains("Environment=\"NO_PROXY=.corp,localhost,127.0.0.1,::1\"\n"));
        assert!(!text.contains("proxies"));
        assert_eq!(
            config.commands,
            ["systemctl daemon-reload", "systemctl restart docker"]
        );
    }

    #[test]
    fn engine_23_and_27_get_daemon_json_proxies_with_other_keys_kept() {
        for version in ["23.0.0", "27.3.1"] {
            let config = render(
                &proxy("http://proxy.test:3128", None),
                None,
                v(version),
                Some(r#"{"debug": true, "proxies": {"http-proxy": "http://old:1"}}"#),
            )
            .unwrap();
            assert_eq!(config.form, ProxyForm::DaemonJson, "{version}");
            assert_eq!(config.files.len(), 1);
            assert_eq!(config.files[0].path, PathBuf::from(DAEMON_JSON_PATH));
            let json: serde_json::Value = serde_json::from_str(&config.files[0].content).unwrap();
            assert_eq!(
                json,
                serde_json::json!({
                    "debug": true,
                    "proxies": {
                        "http-proxy": "http://proxy.test:3128",
                        "https-proxy": "http://proxy.test:3128",
                        "no-proxy": "localhost,127.0.0.1,::1",
                    }
                })
            );
            assert_eq!(config.commands, ["systemctl restart docker"]);
        }
    }

    #[test]
    fn a_broken_daemon_json_is_an_error_not_overwritten() {
        let settings = proxy("http://proxy.test:3128", None);
        let error = render(&settings, None, v("27.0"), Some("{not json")).unwrap_err();
        assert!(
            matches!(error, DaemonConfigError::DaemonJson { .. }),
            "{error}"
        );
        assert!(error.to_string().contains(DAEMON_JSON_PATH));
        let error = render(&settings, None, v("27.0"), Some("[1]")).unwrap_err();
        assert!(matches!(error, DaemonConfigError::DaemonJsonNotObject));
        // Empty counts as none.
        assert!(render(&settings, None, v("27.0"), Some("  \n")).is_ok());
    }

    #[test]
    fn no_proxy_keeps_loopback_once() {
        let config = render(
            &proxy("http://p.test:3128", Some("localhost, .internal")),
            None,
            v("20.10"),
            None,
        )
        .unwrap();
        assert!(config.files[0]
            .content
            .contains("NO_PROXY=localhost,.internal,127.0.0.1,::1\""));
    }

    #[test]
    fn the_ca_goes_to_the_system_store_with_its_command_first() {
        let ca = store();
        let config = render(
            &proxy("http://p.test:3128", None),
            Some(&ca),
            v("27.1"),
            None,
        )
        .unwrap();
        assert_eq!(config.files[0].path, PathBuf::from(SYSTEM_CA_PATH));
        assert_eq!(config.files[0].content, ca.to_pem());
        assert!(config.files[0]
            .content
            .starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert_eq!(config.files[0].shown, config.files[0].content);
        assert_eq!(
            config.commands,
            ["update-ca-certificates", "systemctl restart docker"]
        );
        // A chain of two CAs: one file each.
        let two = TrustStore::from_pem(
            format!("{}{}", ca.to_pem(), store().to_pem()).as_bytes(),
            "two",
        )
        .unwrap();
        let config = render(
            &proxy("http://p.test:3128", None),
            Some(&two),
            v("20.10"),
            None,
        )
        .unwrap();
        assert_eq!(config.files[0].path, PathBuf::from(SYSTEM_CA_PATH));
        assert_eq!(
            config.files[1].path,
            PathBuf::from("/usr/local/share/ca-certificates/nanoclaw-proxy-ca-2.crt")
        );
        assert_eq!(
            format!("{}{}", config.files[0].content, config.files[1].content),
            two.to_pem()
        );
        assert_eq!(config.files[2].path, PathBuf::from(SYSTEMD_DROP_IN_PATH));
        // A plain proxy (no CA): no CA file, no store update.
        let plain = render(&proxy("http://p.test:3128", None), None, v("27.1"), None).unwrap();
        assert!(plain
            .files
            .iter()
            .all(|f| f.path != std::path::Path::new(SYSTEM_CA_PATH)));
        assert!(!plain.commands.iter().any(|c| c.contains("update-ca")));
    }

    #[test]
    fn credentials_only_in_the_content_and_percent_is_escaped_for_systemd() {
        let settings = proxy("http://user:p%25ss@proxy.test:3128", None);
        let config = render(&settings, None, v("20.10"), None).unwrap();
        assert!(config.has_credentials);
        let file = &config.files[0];
        assert!(file
            .content
            .contains("HTTPS_PROXY=http://user:p%%25ss@proxy.test:3128"));
        assert!(!file.shown.contains("user") && !file.shown.contains("p%"));
        assert!(file
            .shown
            .contains("HTTPS_PROXY=http://***@proxy.test:3128"));
        assert!(!format!("{file:?}").contains("user"));
        let config = render(&settings, None, v("27.0"), None).unwrap();
        assert!(config.files[0].content.contains("user:p%25ss@"));
        assert!(config.files[0].shown.contains("http://***@proxy.test:3128"));
        assert_eq!(systemd_escape(r#"a"b\c%d"#), r#"a\"b\\c%%d"#);
    }

    #[test]
    fn no_proxy_at_all_is_an_error_saying_what_to_do() {
        let error = render(&ProxySettings::default(), None, v("27.0"), None).unwrap_err();
        assert!(matches!(error, DaemonConfigError::NoProxy));
        assert!(error.to_string().contains("--env-file"));
    }

    #[test]
    fn all_proxy_alone_is_used_for_both_schemes() {
        let settings = ProxySettings {
            all: Some(ProxyUrl::parse("http://all.test:8080").unwrap()),
            ..ProxySettings::default()
        };
        let config = render(&settings, None, v("20.10"), None).unwrap();
        assert!(config.files[0]
            .content
            .contains("HTTPS_PROXY=http://all.test:8080"));
        assert!(config.files[0]
            .content
            .contains("HTTP_PROXY=http://all.test:8080"));
    }
}
