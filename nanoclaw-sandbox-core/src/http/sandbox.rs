//! The one obvious way for an agent host to get its client: from the
//! [`SandboxEnv`] it detected at start-up, so that the host's own calls and
//! its containers follow the same proxy settings and trust the same CA.

use super::client::{HttpClient, HttpClientBuilder};
use super::error::BuildError;
use crate::proxy::{EnvProxyConfig, PassthroughRules};
use crate::sandbox::SandboxEnv;

impl HttpClientBuilder {
    /// A builder for the environment `env` describes: routing by its proxy
    /// variables (`NO_PROXY` included) with the default passthrough hosts
    /// layered on top, and trusting its proxy CA besides the public and
    /// native roots. In standard Docker mode every request goes direct.
    ///
    /// Every other setting keeps its default and can still be changed.
    pub fn for_sandbox(env: &SandboxEnv) -> HttpClientBuilder {
        let settings = env.proxy().cloned().unwrap_or_default();
        let extra_roots = env
            .trust_store()
            .map(|store| store.ca_certificates().to_vec())
            .unwrap_or_default();
        HttpClient::builder(PassthroughRules::new(EnvProxyConfig::new(settings)))
            .extra_roots(extra_roots)
    }
}

impl HttpClient {
    /// [`HttpClientBuilder::for_sandbox`] with every default:
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use nanoclaw_sandbox_core::http::HttpClient;
    /// use nanoclaw_sandbox_core::sandbox::SandboxEnv;
    ///
    /// let client = HttpClient::from_sandbox(&SandboxEnv::detect()?)?;
    /// let reply = client.get("https://api.anthropic.com/v1/models").await?;
    /// println!("{}", reply.status());
    /// # Ok(()) }
    /// ```
    pub fn from_sandbox(env: &SandboxEnv) -> Result<HttpClient, BuildError> {
        HttpClientBuilder::for_sandbox(env).build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Route;
    use crate::sandbox::DetectOptions;

    fn env_of(vars: &[(&str, &str)]) -> SandboxEnv {
        let options = DetectOptions::default()
            .with_sandbox_ca_path("/nonexistent/nanoclaw/proxy-ca.crt")
            .with_system_bundle_paths([]);
        SandboxEnv::detect_from(
            |name| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| v.to_string())
            },
            &options,
        )
        .unwrap()
    }

    #[test]
    fn routes_follow_the_detected_variables() {
        let plain = HttpClient::from_sandbox(&env_of(&[])).unwrap();
        let decision = plain.decide("https://api.anthropic.com/").unwrap();
        assert_eq!(decision.route, Route::Direct);

        let proxied = HttpClient::from_sandbox(&env_of(&[
            ("HTTPS_PROXY", "http://user:secret@proxy.test:3128"),
            ("NO_PROXY", "internal.test"),
        ]))
        .unwrap();
        let via = proxied.decide("https://api.anthropic.com/").unwrap();
        match &via.route {
            Route::Via { proxy, auth } => {
                assert!(proxy.to_string().contains("proxy.test:3128"), "{proxy}");
                assert!(auth.is_some(), "the proxy's credentials are used");
            }
            Route::Direct => panic!("expected the proxy: {via}"),
        }
        let direct = proxied.decide("https://internal.test/").unwrap();
        assert_eq!(direct.route, Route::Direct, "NO_PROXY is honoured");
        assert!(!format!("{proxied:?}").contains("secret"));
    }
}
