//! whatsapp-rust's HTTP client over this crate's [`HttpClient`]: the
//! version fetch (`https://web.whatsapp.com/sw.js`, whose answer names the
//! client version WhatsApp Web expects; a stale one is refused with 405) and
//! the media hosts' downloads go through the proxy, passthrough hosts
//! verified against the public roots only, like the chat socket.

use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request};
use http_body_util::Full;
use whatsapp_rust::anyhow;
use whatsapp_rust::http::{HttpRequest, HttpResponse};

use super::transport::FailureReport;
use crate::http::{HttpClient, HttpError};

/// whatsapp-rust's [`HttpClient`](whatsapp_rust::http::HttpClient) over
/// this crate's: hand it to `BotBuilder::with_http_client` (the
/// [`WhatsAppTransport`](super::WhatsAppTransport) does).
pub struct ProxiedHttpClient {
    client: HttpClient,
    /// Told about failures (the version fetch's, for the host).
    report: Option<FailureReport>,
}

impl ProxiedHttpClient {
    /// Requests through `client`.
    pub fn new(client: HttpClient) -> Self {
        ProxiedHttpClient {
            client,
            report: None,
        }
    }

    pub(crate) fn reporting(mut self, report: FailureReport) -> Self {
        self.report = Some(report);
        self
    }

    fn request(&self, request: HttpRequest) -> Result<Request<Full<Bytes>>, HttpError> {
        let invalid = |reason: String| HttpError::InvalidRequest {
            host: host_of(&request.url),
            reason,
        };
        let method = Method::from_bytes(request.method.as_bytes())
            .map_err(|e| invalid(format!("method {:?}: {e}", request.method)))?;
        let mut builder = Request::builder().method(method).uri(request.url.as_str());
        for (name, value) in &request.headers {
            let name =
                HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(e.to_string()))?;
            let mut value = HeaderValue::from_str(value).map_err(|e| invalid(e.to_string()))?;
            // Media URLs carry tokens in headers and queries alike.
            value.set_sensitive(true);
            builder = builder.header(name, value);
        }
        builder
            .body(Full::new(request.body.clone().unwrap_or_default()))
            .map_err(|e| invalid(e.to_string()))
    }
}

#[async_trait]
impl whatsapp_rust::http::HttpClient for ProxiedHttpClient {
    /// A completed exchange is `Ok` whatever its status (the trait's
    /// contract: media retries read 401/403/404/410); `Err` keeps the
    /// [`HttpError`] whole as its cause.
    async fn execute(&self, request: HttpRequest) -> anyhow::Result<HttpResponse> {
        let result = match self.request(request) {
            Ok(request) => self.client.send_buffered(request).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(response) => Ok(HttpResponse {
                status_code: response.status().as_u16(),
                body: response.into_body().to_vec(),
            }),
            Err(e) => {
                if let Some(report) = &self.report {
                    report(&e);
                }
                Err(anyhow::Error::new(e))
            }
        }
    }
}

impl fmt::Debug for ProxiedHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxiedHttpClient")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}

/// `host:port` of a URL, for errors (never its path or query: media URLs
/// carry tokens).
pub(crate) fn host_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(match u.port_or_known_default() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        })
        .unwrap_or_else(|| "a WhatsApp URL".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::StaticProxyConfig;

    fn adapter() -> ProxiedHttpClient {
        let client = HttpClient::builder(StaticProxyConfig::direct())
            .native_roots(false)
            .build()
            .unwrap();
        ProxiedHttpClient::new(client)
    }

    #[test]
    fn requests_keep_method_headers_and_body() {
        let request = HttpRequest::post("https://mmg.whatsapp.net/upload?token=SECRET")
            .with_header("origin", "https://web.whatsapp.com")
            .with_body(Bytes::from_static(b"payload"));
        let built = adapter().request(request).unwrap();
        assert_eq!(built.method(), Method::POST);
        assert_eq!(built.headers()["origin"], "https://web.whatsapp.com");
        assert!(built.headers()["origin"].is_sensitive());
    }

    #[test]
    fn a_bad_request_is_refused_naming_the_host_only() {
        let mut request = HttpRequest::get("https://mmg.whatsapp.net/d/f?token=SECRET");
        request.method = "GE T".into();
        let err = adapter().request(request).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("mmg.whatsapp.net:443"), "{text}");
        assert!(!text.contains("SECRET"), "{text}");
    }
}
