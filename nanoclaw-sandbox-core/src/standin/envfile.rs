//! The env file: what a sandboxed process would find in its environment,
//! written once the stand-in listens so that a script can wait for it.
//! `KEY=VALUE` lines without quotes (none of the values needs any): the
//! format `docker run --env-file` and the CLI's `--env-file` read.

use std::path::Path;

use base64::Engine;

use super::error::StandinError;
use super::fsutil;
use crate::proxy::{ProxyVar, PROXY_CA_B64_VAR};

/// The variables a client of the stand-in needs, as Docker Sandboxes sets
/// them: the proxy in both cases (tools disagree on which they read), and the
/// CA as base64 of its PEM.
pub(crate) fn variables(proxy_url: &str, ca_pem: &str) -> Vec<(String, String)> {
    let ca_b64 = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    [
        (ProxyVar::HTTPS_PROXY.upper, proxy_url),
        (ProxyVar::HTTP_PROXY.upper, proxy_url),
        (ProxyVar::HTTPS_PROXY.lower, proxy_url),
        (ProxyVar::HTTP_PROXY.lower, proxy_url),
        (PROXY_CA_B64_VAR, ca_b64.as_str()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect()
}

/// Writes the variables, all at once (a reader never sees a partial file).
pub(crate) fn write(path: &Path, variables: &[(String, String)]) -> Result<(), StandinError> {
    let text: String = variables
        .iter()
        .map(|(name, value)| format!("{name}={value}\n"))
        .collect();
    fsutil::write_atomically(path, text.as_bytes(), 0o644).map_err(|source| StandinError::EnvFile {
        path: path.to_path_buf(),
        source,
    })
}

/// Removes the file a previous run left, so that its appearance means "this
/// run listens"; a file that is not there is fine.
pub(crate) fn remove_stale(path: &Path) -> Result<(), StandinError> {
    match std::fs::remove_file(path) {
        Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
            Err(StandinError::EnvFile {
                path: path.to_path_buf(),
                source,
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_name_the_proxy_in_both_cases_and_the_ca() {
        let vars = variables("http://127.0.0.1:3128", "PEM");
        let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "HTTPS_PROXY",
                "HTTP_PROXY",
                "https_proxy",
                "http_proxy",
                "PROXY_CA_CERT_B64"
            ]
        );
        assert_eq!(vars[0].1, "http://127.0.0.1:3128");
        assert_eq!(vars[4].1, "UEVN");
    }
}
