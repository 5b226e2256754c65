//! [`SandboxEnv::detect`]: the one place that reads the proxy variables and
//! finds the proxy CA. Everything else is fed from its result.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

use super::case;
use super::mode::{CaSource, Mode, ProxyCa};
use crate::proxy::{
    ProxySettings, ProxyUrl, ProxyUrlError, ProxyVar, PROXY_CA_B64_VAR, SANDBOX_CA_PATH,
};
use crate::redact;
use crate::trust::{
    TrustError, TrustStore, CONTAINER_BUNDLE_FILE, HOST_BUNDLE_PATHS, NODE_EXTRA_CA_CERTS,
    SSL_CERT_FILE,
};

/// Trust variables that may name a file holding the proxy CA, in the order
/// tried: the additive one first, since it holds extra CAs by definition.
pub(crate) const CA_FILE_VARS: [&str; 2] = [NODE_EXTRA_CA_CERTS.name, SSL_CERT_FILE.name];

/// Every variable detection reads the proxy CA from, in the order tried.
pub(crate) const CA_VARS: [&str; 3] = [PROXY_CA_B64_VAR, CA_FILE_VARS[0], CA_FILE_VARS[1]];

/// What detection looks at besides the variables.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DetectOptions {
    /// A CA file the user named; tried first.
    pub explicit_ca: Option<PathBuf>,
    /// Where the sandbox installs its CA ([`SANDBOX_CA_PATH`]).
    pub sandbox_ca_path: PathBuf,
    /// System bundles: `NODE_EXTRA_CA_CERTS`/`SSL_CERT_FILE` naming one of
    /// these is not taken for the proxy CA ([`HOST_BUNDLE_PATHS`]).
    pub system_bundle_paths: Vec<PathBuf>,
}

impl Default for DetectOptions {
    fn default() -> Self {
        DetectOptions {
            explicit_ca: None,
            sandbox_ca_path: PathBuf::from(SANDBOX_CA_PATH),
            system_bundle_paths: HOST_BUNDLE_PATHS.iter().map(PathBuf::from).collect(),
        }
    }
}

impl DetectOptions {
    /// Tries `path` before every other CA source.
    pub fn with_explicit_ca(mut self, path: impl Into<PathBuf>) -> Self {
        self.explicit_ca = Some(path.into());
        self
    }

    /// Looks for the sandbox's CA file at `path`.
    pub fn with_sandbox_ca_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.sandbox_ca_path = path.into();
        self
    }

    /// Replaces the list of system bundles.
    pub fn with_system_bundle_paths(mut self, paths: impl IntoIterator<Item = PathBuf>) -> Self {
        self.system_bundle_paths = paths.into_iter().collect();
        self
    }
}

/// Why detection failed: a variable or CA that is set but unusable. Unset
/// things are never errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetectError {
    /// A proxy variable that is not a usable proxy URL.
    #[error("{variable} is not a usable proxy: {source}; fix or unset {variable}")]
    InvalidProxy {
        /// The variable, in the spelling that was read.
        variable: &'static str,
        /// Why (credentials redacted).
        source: ProxyUrlError,
    },
    /// `PROXY_CA_CERT_B64` is not base64.
    #[error("{PROXY_CA_B64_VAR} is not base64 ({reason}): set it to `base64 -w0 proxy-ca.crt`, or unset it")]
    BadBase64 {
        /// The decoder's reason.
        reason: String,
    },
    /// A CA was found but cannot be used (the message names the file or variable).
    #[error("{error}")]
    Ca {
        /// Where it was found.
        from: CaSource,
        /// What is wrong with it.
        error: TrustError,
    },
}

/// Something detection noticed that is not fatal. Values are redacted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvWarning {
    /// Both spellings of a variable are set, to different values.
    CaseConflict {
        /// The spelling used (the lowercase one).
        used: &'static str,
        /// Its value, redacted.
        used_value: String,
        /// The spelling ignored.
        ignored: &'static str,
        /// Its value, redacted.
        ignored_value: String,
    },
    /// A CA is configured but no proxy variable is set: the CA is ignored.
    CaWithoutProxy {
        /// Which CA setting.
        setting: String,
    },
    /// A CA variable names a file that does not exist.
    CaFileMissing {
        /// The variable.
        variable: &'static str,
        /// The file.
        path: PathBuf,
    },
}

impl fmt::Display for EnvWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvWarning::CaseConflict {
                used,
                used_value,
                ignored,
                ignored_value,
            } => write!(
                f,
                "{used}={used_value} and {ignored}={ignored_value} differ: using {used} \
                 (lowercase wins, as in curl and Python); set both to the same value"
            ),
            EnvWarning::CaWithoutProxy { setting } => write!(
                f,
                "{setting} is set but no proxy variable is: the CA is ignored and containers run unchanged"
            ),
            EnvWarning::CaFileMissing { variable, path } => write!(
                f,
                "{variable} names {}, which does not exist: it is not used as the proxy CA",
                path.display()
            ),
        }
    }
}

/// What the environment says: the [`Mode`] and any warnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxEnv {
    mode: Mode,
    warnings: Vec<EnvWarning>,
}

impl SandboxEnv {
    /// Reads the process environment with the default options.
    pub fn detect() -> Result<Self, DetectError> {
        Self::detect_with(&DetectOptions::default())
    }

    /// Reads the process environment with `options`.
    pub fn detect_with(options: &DetectOptions) -> Result<Self, DetectError> {
        Self::detect_from(|name| std::env::var(name).ok(), options)
    }

    /// Detection from any variable source, for tests and embedding hosts.
    ///
    /// Proxy variables: each of `http_proxy`, `https_proxy`, `all_proxy`,
    /// `no_proxy` may be set in either case; when both are set and differ the
    /// lowercase one is used and a [`EnvWarning::CaseConflict`] is returned.
    /// No proxy at all gives [`Mode::StandardDocker`]. With a proxy, the CA is
    /// the first found of: `options.explicit_ca`; `PROXY_CA_CERT_B64`;
    /// `options.sandbox_ca_path`; `NODE_EXTRA_CA_CERTS` or `SSL_CERT_FILE`
    /// naming an existing file that is not a system bundle. A source that is
    /// found but unusable is an error, not skipped.
    pub fn detect_from(
        vars: impl Fn(&str) -> Option<String>,
        options: &DetectOptions,
    ) -> Result<Self, DetectError> {
        let mut warnings = Vec::new();
        let mut pick = |pair: ProxyVar| {
            let picked = pair.pick(&vars)?;
            if let Some(ignored) = &picked.ignored {
                warnings.push(EnvWarning::CaseConflict {
                    used: picked.from,
                    used_value: redact::redact_userinfo(&picked.value),
                    ignored: ignored.name,
                    ignored_value: redact::redact_userinfo(&ignored.value),
                });
            }
            Some(picked)
        };
        let (http, https, all, no_proxy) = (
            pick(ProxyVar::HTTP_PROXY),
            pick(ProxyVar::HTTPS_PROXY),
            pick(ProxyVar::ALL_PROXY),
            pick(ProxyVar::NO_PROXY),
        );
        let proxy = ProxySettings {
            http: http.map(parse_proxy).transpose()?,
            https: https.map(parse_proxy).transpose()?,
            all: all.map(parse_proxy).transpose()?,
            no_proxy: no_proxy.map(|p| p.value),
        };
        let mode = if proxy.is_empty() {
            warnings.extend(unused_ca_settings(&vars, options));
            Mode::StandardDocker
        } else {
            let ca = find_ca(&vars, options, &mut warnings)?;
            Mode::Proxied { proxy, ca }
        };
        for warning in &warnings {
            tracing::warn!("{warning}");
        }
        Ok(SandboxEnv { mode, warnings })
    }

    /// Builds the value from parts, e.g. a configuration file's.
    pub fn new(mode: Mode) -> Self {
        SandboxEnv {
            mode,
            warnings: Vec::new(),
        }
    }

    /// The same environment with `proxy` as the proxy settings containers
    /// get (a [credential relay](crate::proxy::RELAY_USER)'s, say); the CA
    /// stays. Standard Docker stays standard Docker.
    pub fn with_proxy(mut self, proxy: ProxySettings) -> Self {
        if let Mode::Proxied { proxy: current, .. } = &mut self.mode {
            *current = proxy;
        }
        self
    }

    /// The mode.
    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// What detection noticed.
    pub fn warnings(&self) -> &[EnvWarning] {
        &self.warnings
    }

    /// The proxy settings, in proxied mode.
    pub fn proxy(&self) -> Option<&ProxySettings> {
        self.mode.proxy()
    }

    /// The proxy CA's certificates, when the proxy intercepts TLS.
    pub fn trust_store(&self) -> Option<&TrustStore> {
        self.mode.ca().map(ProxyCa::store)
    }

    /// Reads the CA file again (see [`ProxyCa::reload`]); `true` when it
    /// changed. Without a CA there is nothing to reload.
    pub fn reload_ca(&mut self) -> Result<bool, TrustError> {
        match &mut self.mode {
            Mode::Proxied { ca: Some(ca), .. } => ca.reload(),
            _ => Ok(false),
        }
    }
}

fn parse_proxy(picked: case::Picked) -> Result<ProxyUrl, DetectError> {
    ProxyUrl::parse(&picked.value).map_err(|source| DetectError::InvalidProxy {
        variable: picked.from,
        source,
    })
}

fn non_empty(vars: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    vars(name).filter(|v| !v.trim().is_empty())
}

fn unused_ca_settings(
    vars: &impl Fn(&str) -> Option<String>,
    options: &DetectOptions,
) -> Vec<EnvWarning> {
    let explicit = options
        .explicit_ca
        .as_ref()
        .map(|p| format!("the CA file {}", p.display()));
    let b64 = non_empty(vars, PROXY_CA_B64_VAR).map(|_| PROXY_CA_B64_VAR.to_string());
    [explicit, b64]
        .into_iter()
        .flatten()
        .map(|setting| EnvWarning::CaWithoutProxy { setting })
        .collect()
}

fn find_ca(
    vars: &impl Fn(&str) -> Option<String>,
    options: &DetectOptions,
    warnings: &mut Vec<EnvWarning>,
) -> Result<Option<ProxyCa>, DetectError> {
    let source = if let Some(path) = &options.explicit_ca {
        CaSource::ExplicitPath(path.clone())
    } else if let Some(encoded) = non_empty(vars, PROXY_CA_B64_VAR) {
        let pem = decode_b64_pem(&encoded)?;
        return ProxyCa::from_raw(pem, CaSource::EnvBase64)
            .map(Some)
            .map_err(|error| ca_error(&CaSource::EnvBase64, error));
    } else if options.sandbox_ca_path.is_file() {
        CaSource::SandboxPath(options.sandbox_ca_path.clone())
    } else if let Some(source) = ca_from_variables(vars, options, warnings) {
        source
    } else {
        return Ok(None);
    };
    ProxyCa::from_file(source.clone())
        .map(Some)
        .map_err(|error| ca_error(&source, error))
}

fn ca_error(source: &CaSource, error: TrustError) -> DetectError {
    DetectError::Ca {
        from: source.clone(),
        error,
    }
}

fn ca_from_variables(
    vars: &impl Fn(&str) -> Option<String>,
    options: &DetectOptions,
    warnings: &mut Vec<EnvWarning>,
) -> Option<CaSource> {
    for name in CA_FILE_VARS {
        let Some(value) = non_empty(vars, name) else {
            continue;
        };
        let path = PathBuf::from(value);
        if !path.is_file() {
            warnings.push(EnvWarning::CaFileMissing {
                variable: name,
                path,
            });
            continue;
        }
        if !is_system_bundle(&path, &options.system_bundle_paths) {
            return Some(CaSource::Variable { name, path });
        }
    }
    None
}

/// Whether `path` is (a link to) a system bundle, or the combined bundle this
/// crate gives containers: neither is the proxy CA alone.
fn is_system_bundle(path: &Path, bundles: &[PathBuf]) -> bool {
    let resolve = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let target = resolve(path);
    bundles
        .iter()
        .map(PathBuf::as_path)
        .chain([Path::new(CONTAINER_BUNDLE_FILE)])
        .any(|bundle| resolve(bundle) == target)
}

/// `PROXY_CA_CERT_B64` is base64 of the PEM; line breaks and missing padding
/// are tolerated, and PEM given as is is taken as is.
fn decode_b64_pem(encoded: &str) -> Result<Vec<u8>, DetectError> {
    if encoded.trim_start().starts_with("-----BEGIN ") {
        return Ok(encoded.as_bytes().to_vec());
    }
    let compact: String = encoded.split_whitespace().collect();
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    engine.decode(compact).map_err(|e| DetectError::BadBase64 {
        reason: e.to_string(),
    })
}
