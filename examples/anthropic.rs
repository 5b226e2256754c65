//! One Anthropic Messages API call through the proxy, as an agent host
//! inside a Docker Sandbox makes it.
//!
//! ```sh
//! ANTHROPIC_API_KEY=... cargo run --example anthropic -- "Say hello in five words"
//! ```
//!
//! Environment: `ANTHROPIC_API_KEY` (required), `ANTHROPIC_BASE_URL`
//! (default `https://api.anthropic.com`), `ANTHROPIC_MODEL` (default
//! `claude-haiku-4-5`), and the sandbox settings `SandboxEnv::detect` reads
//! (`HTTPS_PROXY` / `NO_PROXY` in either case, the proxy CA from
//! `PROXY_CA_CERT_B64` or the sandbox's CA file). Exit codes:
//! 0 reply printed, 1 request failed, 2 missing or bad configuration.

use std::process::ExitCode;

use http::header::{HeaderValue, CONTENT_TYPE};
use http::Request;
use http_body_util::Full;
use nanoclaw_sandbox_core::agent::anthropic::DEFAULT_MODEL;
use nanoclaw_sandbox_core::http::HttpClient;
use nanoclaw_sandbox_core::sandbox::SandboxEnv;

const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
const API_VERSION: &str = "2023-06-01";

#[tokio::main]
async fn main() -> ExitCode {
    let Some(key) = env("ANTHROPIC_API_KEY") else {
        eprintln!(
            "ANTHROPIC_API_KEY is not set: export your Anthropic API key \
             (https://console.anthropic.com/settings/keys) and run again"
        );
        return ExitCode::from(2);
    };
    let Ok(mut key) = HeaderValue::from_str(key.trim()) else {
        eprintln!("ANTHROPIC_API_KEY holds characters no HTTP header can carry: check its value");
        return ExitCode::from(2);
    };
    key.set_sensitive(true);
    let base = env("ANTHROPIC_BASE_URL").unwrap_or_else(|| DEFAULT_BASE_URL.into());
    let model = env("ANTHROPIC_MODEL").unwrap_or_else(|| DEFAULT_MODEL.into());
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Say hello from inside the sandbox, in one short sentence.".into());

    // One reader of the environment: the same values a host's containers
    // get from the patcher (proxy variables, and the proxy CA as a root).
    let sandbox = match SandboxEnv::detect() {
        Ok(sandbox) => sandbox,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let client = match HttpClient::from_sandbox(&sandbox) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };

    let url = format!("{}/v1/messages", base.trim_end_matches('/'));
    match client.decide(&url) {
        Ok(decision) => eprintln!("route to {url}: {decision}"),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    }
    let body = serde_json::json!({
        "model": model,
        "max_tokens": 256,
        "messages": [{ "role": "user", "content": prompt }],
    });
    let request = Request::post(&url)
        .header("x-api-key", key)
        .header("anthropic-version", API_VERSION)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(body.to_string().into()));
    let request = match request {
        Ok(request) => request,
        Err(e) => {
            eprintln!("cannot build the request to {url}: {e}");
            return ExitCode::from(2);
        }
    };

    let response = match client.send_buffered(request).await {
        Ok(response) => response,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let reply: serde_json::Value = serde_json::from_slice(response.body()).unwrap_or_default();
    if !response.status().is_success() {
        // API errors name the problem (bad key, unknown model) without the key.
        eprintln!(
            "the Messages API answered {}: {}",
            response.status(),
            String::from_utf8_lossy(response.body())
        );
        return ExitCode::from(1);
    }
    let text: Vec<&str> = reply["content"]
        .as_array()
        .map(|blocks| blocks.iter().filter_map(|b| b["text"].as_str()).collect())
        .unwrap_or_default();
    println!("{}", text.join("\n"));
    ExitCode::SUCCESS
}

/// A non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}
