//! The project's own agent (`agent::serve`) in-process over `tokio::io::duplex`
//! pipes, against a Messages API double served over HTTPS and reached only
//! through the proxy stand-in (TLS intercepted with its CA), with a client
//! built from the detected sandbox environment as the agent builds its own.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use nanoclaw_sandbox_core::agent::history::HISTORY_FILE;
use nanoclaw_sandbox_core::agent::protocol::{AgentLine, AgentMessage, HostLine, PROTOCOL_VERSION};
use nanoclaw_sandbox_core::agent::serve::{serve, ServeError, ServeOptions, ServeSummary};
use nanoclaw_sandbox_core::http::HttpClient;
use nanoclaw_sandbox_core::sandbox::{DetectOptions, SandboxEnv};
use nanoclaw_sandbox_core::standin::HostPattern;
use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::https::{handler, Body, Server};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::task::JoinHandle;

use support::standin_client::{map_entry, Harness};

const KEY: &str = "sk-ant-api03-TEST-secret-KEY_0123456789";
const API_HOST: &str = "api.anthropic.test";
const BLOCKED_HOST: &str = "blocked.anthropic.test";

/// One request the double received.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    api_key: Option<String>,
    version: Option<String>,
    body: serde_json::Value,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A Messages API double. It answers by the last user turn: `please 401`,
/// `please 429` and `please 500` get those errors; any other text
/// `turns=N: TEXT`. A request without the right key gets a 401 whose message
/// echoes the key it got (a careless gateway: the agent must not repeat it).
async fn messages_api(pki: &TestCa) -> (Server, Log) {
    let tls = pki.server_config(&[API_HOST], &[b"h2", b"http/1.1"]);
    let log: Log = Arc::default();
    let record = log.clone();
    let api = Server::https(tls, handler(move |req| answer(req, record.clone())))
        .start()
        .await
        .expect("the Messages API double");
    (api, log)
}

async fn answer(req: Request<Bytes>, log: Log) -> Response<Body> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (api_key, version) = (header("x-api-key"), header("anthropic-version"));
    let path = req.uri().path().to_string();
    let body: serde_json::Value = serde_json::from_slice(req.body()).unwrap_or_default();
    log.lock().unwrap().push(Seen {
        path: path.clone(),
        api_key: api_key.clone(),
        version,
        body: body.clone(),
    });
    let turns = body["messages"].as_array().cloned().unwrap_or_default();
    let last = turns
        .last()
        .and_then(|t| t["content"].as_str())
        .unwrap_or_default()
        .to_string();
    let error = |status: u16, kind: &str, message: &str| {
        let json =
            serde_json::json!({"type": "error", "error": {"type": kind, "message": message}});
        (status, json.to_string(), None)
    };
    let (status, reply, retry_after) = if api_key.as_deref() != Some(KEY) {
        error(
            401,
            "authentication_error",
            &format!("invalid x-api-key: {}", api_key.unwrap_or_default()),
        )
    } else if path != "/v1/messages" {
        error(404, "not_found_error", "Not found")
    } else if last.contains("please 401") {
        error(
            401,
            "authentication_error",
            &format!("key {KEY} was revoked"),
        )
    } else if last.contains("please 429") {
        let (status, reply, _) = error(429, "rate_limit_error", "Number of requests exceeded");
        (status, reply, Some("7"))
    } else if last.contains("please 500") {
        error(500, "api_error", "Internal server error")
    } else {
        let json = serde_json::json!({
            "id": "msg_test",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": format!("turns={}: {last}", turns.len())}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 1, "output_tokens": 1},
        });
        (200, json.to_string(), None)
    };
    let mut response = Response::builder()
        .status(status)
        .header("content-type", "application/json");
    if let Some(after) = retry_after {
        response = response.header("retry-after", after);
    }
    response.body(Full::new(Bytes::from(reply))).unwrap()
}

struct Setup {
    harness: Harness,
    _api: Server,
    log: Log,
    session: tempfile::TempDir,
}

/// The double behind the stand-in, which maps `API_HOST` to it and denies
/// `BLOCKED_HOST`.
async fn setup() -> Setup {
    let public = TestCa::new("Messages API test public CA");
    let (api, log) = messages_api(&public).await;
    let deny: HostPattern = BLOCKED_HOST.parse().unwrap();
    let harness = Harness::start(public, |b| {
        b.maps([map_entry(API_HOST, api.addr())]).deny([deny])
    })
    .await;
    Setup {
        harness,
        _api: api,
        log,
        session: tempfile::tempdir().unwrap(),
    }
}

impl Setup {
    /// The client `HttpClient::from_sandbox` makes from the stand-in's
    /// variables (proxy and CA), never this machine's CA files.
    fn client(&self) -> HttpClient {
        let vars = self.harness.standin.env_vars().to_vec();
        let options = DetectOptions::default()
            .with_sandbox_ca_path(self.harness.dir.path().join("no-sandbox-ca.crt"))
            .with_system_bundle_paths([]);
        let env = SandboxEnv::detect_from(
            |name| vars.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()),
            &options,
        )
        .unwrap();
        assert!(
            env.trust_store().is_some(),
            "the stand-in's CA is in the env"
        );
        HttpClient::from_sandbox(&env).unwrap()
    }

    fn options(&self) -> ServeOptions {
        ServeOptions::new()
            .with_http_client(self.client())
            .with_base_url(format!("https://{API_HOST}"))
            .with_model("claude-test")
            .with_max_tokens(64)
            .with_system_prompt("You are a test.")
            .with_session_dir(self.session.path())
    }

    fn requests(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }
}

fn message(id: &str, text: &str, key: Option<&str>) -> String {
    HostLine::Message(AgentMessage {
        v: PROTOCOL_VERSION,
        id: id.into(),
        chat: "telegram:42".into(),
        message_id: format!("m{id}"),
        sender: Some("ada".into()),
        text: text.into(),
        credentials: key
            .map(|k| BTreeMap::from([("ANTHROPIC_API_KEY".to_string(), k.to_string())]))
            .unwrap_or_default(),
    })
    .to_line()
}

/// `serve` on a task, spoken to over duplex pipes as a host would.
struct Agent {
    input: Option<DuplexStream>,
    output: BufReader<DuplexStream>,
    task: JoinHandle<Result<ServeSummary, ServeError>>,
    /// Every output line, raw.
    transcript: String,
}

impl Agent {
    fn start(options: ServeOptions) -> Self {
        let (input, agent_in) = tokio::io::duplex(64 * 1024);
        let (agent_out, output) = tokio::io::duplex(64 * 1024);
        let task = tokio::spawn(serve(options, agent_in, agent_out));
        Agent {
            input: Some(input),
            output: BufReader::new(output),
            task,
            transcript: String::new(),
        }
    }

    async fn send(&mut self, line: &str) {
        let input = self.input.as_mut().expect("input open");
        input.write_all(line.as_bytes()).await.unwrap();
    }

    async fn next(&mut self) -> AgentLine {
        let mut line = String::new();
        let read = tokio::time::timeout(Duration::from_secs(30), self.output.read_line(&mut line))
            .await
            .expect("the agent answers within 30 s")
            .unwrap();
        assert!(
            read > 0,
            "the agent's output ended; so far:\n{}",
            self.transcript
        );
        self.transcript.push_str(&line);
        AgentLine::parse(line.trim_end().as_bytes()).unwrap()
    }

    /// Sends one message and returns its reply texts, checking the
    /// `typing`, `reply`..., `done` sequence.
    async fn ask(&mut self, id: &str, text: &str, key: Option<&str>) -> String {
        self.send(&message(id, text, key)).await;
        assert_eq!(self.next().await, AgentLine::Typing { id: id.into() });
        let mut replies = Vec::new();
        loop {
            match self.next().await {
                AgentLine::Reply { id: of, text } => {
                    assert_eq!(of, id);
                    replies.push(text);
                }
                AgentLine::Done { id: of } => {
                    assert_eq!(of, id);
                    break;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(replies.len(), 1, "{replies:?}");
        replies.concat()
    }

    /// Closes the input and waits for the loop to end.
    async fn finish(mut self) -> (ServeSummary, String) {
        drop(self.input.take());
        let summary = tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the loop ends at end of input")
            .unwrap()
            .expect("end of input is a clean end");
        let mut rest = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut self.output, &mut rest)
            .await
            .unwrap();
        assert_eq!(rest, "", "nothing after the last done");
        (summary, self.transcript)
    }
}

fn roles(seen: &Seen) -> Vec<String> {
    seen.body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["role"].as_str().unwrap().to_string())
        .collect()
}

fn stored_history(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join(HISTORY_FILE)).unwrap()).unwrap()
}

#[tokio::test]
async fn two_messages_are_answered_and_the_second_carries_the_history() {
    let setup = setup().await;
    let mut agent = Agent::start(setup.options());
    assert_eq!(agent.ask("1", "hello", Some(KEY)).await, "turns=1: hello");
    assert_eq!(
        agent.ask("2", "and again", Some(KEY)).await,
        "turns=3: and again"
    );
    let (summary, transcript) = agent.finish().await;
    assert_eq!(
        summary,
        ServeSummary {
            messages: 2,
            answered: 2,
            failed: 0,
            skipped_lines: 0
        }
    );
    assert!(!transcript.contains(KEY));

    let seen = setup.requests();
    assert_eq!(seen.len(), 2);
    for request in &seen {
        assert_eq!(request.path, "/v1/messages");
        assert_eq!(
            request.api_key.as_deref(),
            Some(KEY),
            "the key goes as x-api-key"
        );
        assert_eq!(request.version.as_deref(), Some("2023-06-01"));
        assert_eq!(request.body["model"], "claude-test");
        assert_eq!(request.body["max_tokens"], 64);
        assert_eq!(request.body["system"], "You are a test.");
    }
    assert_eq!(roles(&seen[0]), ["user"]);
    assert_eq!(roles(&seen[1]), ["user", "assistant", "user"]);
    assert_eq!(
        seen[1].body["messages"],
        serde_json::json!([
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "turns=1: hello"},
            {"role": "user", "content": "and again"},
        ])
    );
    let stored = stored_history(setup.session.path());
    assert_eq!(stored["turns"].as_array().unwrap().len(), 4);
    assert!(!stored.to_string().contains(KEY), "the key is not kept");
}

#[tokio::test]
async fn the_history_survives_a_restart() {
    let setup = setup().await;
    let mut first = Agent::start(setup.options());
    assert_eq!(
        first.ask("1", "remember me", Some(KEY)).await,
        "turns=1: remember me"
    );
    first.finish().await;

    let mut second = Agent::start(setup.options());
    assert_eq!(
        second.ask("2", "who am I?", Some(KEY)).await,
        "turns=3: who am I?"
    );
    second.finish().await;
    let seen = setup.requests();
    assert_eq!(seen[1].body["messages"][0]["content"], "remember me");
    assert_eq!(roles(&seen[1]), ["user", "assistant", "user"]);
}

#[tokio::test]
async fn api_errors_become_a_short_reply_and_the_loop_goes_on() {
    let setup = setup().await;
    let mut agent = Agent::start(setup.options());
    assert_eq!(
        agent.ask("1", "please 401", Some(KEY)).await,
        "The model API refused the key (401): check ANTHROPIC_API_KEY."
    );
    assert_eq!(
        agent.ask("2", "please 429", Some(KEY)).await,
        "The model API is rate-limiting this agent (429): try again in 7 seconds."
    );
    assert_eq!(
        agent.ask("3", "please 500", Some(KEY)).await,
        "The model API failed (500): try again in a moment."
    );
    // Failed messages are not in the history: the next request has one turn.
    assert_eq!(
        agent.ask("4", "fine now?", Some(KEY)).await,
        "turns=1: fine now?"
    );
    let (summary, transcript) = agent.finish().await;
    assert_eq!(
        (summary.messages, summary.answered, summary.failed),
        (4, 1, 3)
    );
    assert!(!transcript.contains(KEY), "{transcript}");
    assert_eq!(setup.requests().len(), 4);
    assert_eq!(
        stored_history(setup.session.path())["turns"],
        serde_json::json!([
            {"role": "user", "content": "fine now?"},
            {"role": "assistant", "content": "turns=1: fine now?"},
        ])
    );
}

#[tokio::test]
async fn a_policy_denial_becomes_a_short_reply_naming_the_fix() {
    let setup = setup().await;
    let options = setup
        .options()
        .with_base_url(format!("https://{BLOCKED_HOST}"));
    let mut agent = Agent::start(options);
    let want = format!(
        "The sandbox network policy blocks the model API: allow it with \
         `sbx policy allow network {BLOCKED_HOST}`."
    );
    assert_eq!(agent.ask("1", "hello", Some(KEY)).await, want);
    assert_eq!(
        agent.ask("2", "hello again", Some(KEY)).await,
        want,
        "the loop goes on"
    );
    let (summary, transcript) = agent.finish().await;
    assert_eq!((summary.messages, summary.failed), (2, 2));
    assert!(!transcript.contains(KEY));
    assert!(setup.requests().is_empty(), "nothing reached the API");
    assert!(!setup.session.path().join(HISTORY_FILE).exists());
}

#[tokio::test]
async fn without_a_key_no_header_is_sent_and_the_refusal_never_shows_a_key() {
    let setup = setup().await;
    let mut agent = Agent::start(setup.options());
    assert_eq!(
        agent.ask("1", "hello", None).await,
        "The model API refused the key (401): check ANTHROPIC_API_KEY."
    );
    // A wrong key: the double echoes it in its error; the agent does not.
    let wrong = "sk-ant-WRONG-key-4242";
    let reply = agent.ask("2", "hello", Some(wrong)).await;
    assert!(!reply.contains(wrong), "{reply}");
    let (_, transcript) = agent.finish().await;
    assert!(!transcript.contains(wrong) && !transcript.contains(KEY));
    let seen = setup.requests();
    assert_eq!(seen[0].api_key, None, "no x-api-key without a key");
    assert_eq!(seen[1].api_key.as_deref(), Some(wrong));
}

#[tokio::test]
async fn malformed_lines_are_skipped() {
    let setup = setup().await;
    let mut agent = Agent::start(setup.options());
    agent.send("not json\n").await;
    agent.send("\n").await;
    agent
        .send(&format!(
            "{{\"type\":\"message\",\"credentials\":{{\"ANTHROPIC_API_KEY\":\"{KEY}\"}}}}\n"
        ))
        .await;
    let newer = message("9", "from the future", Some(KEY)).replace("\"v\":1", "\"v\":2");
    agent.send(&newer).await;
    assert_eq!(
        agent.ask("1", "still there?", Some(KEY)).await,
        "turns=1: still there?"
    );
    let (summary, transcript) = agent.finish().await;
    assert_eq!(summary.skipped_lines, 3, "the blank line is not counted");
    assert_eq!(summary.messages, 1);
    assert!(!transcript.contains(KEY));
    assert_eq!(setup.requests().len(), 1);
}

#[tokio::test]
async fn echo_mode_makes_no_request() {
    let setup = setup().await;
    let mut agent = Agent::start(setup.options().with_echo(true));
    assert_eq!(agent.ask("1", "ping", Some(KEY)).await, "echo: ping");
    assert_eq!(agent.ask("2", "pong", Some(KEY)).await, "echo: pong");
    let (summary, transcript) = agent.finish().await;
    assert_eq!((summary.messages, summary.answered), (2, 2));
    assert!(!transcript.contains(KEY));
    assert!(setup.requests().is_empty());
    assert_eq!(
        stored_history(setup.session.path())["turns"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test]
async fn the_abort_hook_stops_after_typing() {
    let setup = setup().await;
    let mut agent = Agent::start(setup.options().with_echo(true).with_abort_on("boom"));
    assert_eq!(agent.ask("1", "fine", None).await, "echo: fine");
    agent.send(&message("2", "boom now", None)).await;
    assert_eq!(agent.next().await, AgentLine::Typing { id: "2".into() });
    let ended = agent.task.await.unwrap();
    assert!(
        matches!(ended, Err(ServeError::Aborted { ref id }) if id == "2"),
        "{ended:?}"
    );
}

#[tokio::test]
async fn a_broken_output_is_an_error() {
    let setup = setup().await;
    let (mut input, agent_in) = tokio::io::duplex(1024);
    let (agent_out, output) = tokio::io::duplex(1024);
    drop(output);
    let task = tokio::spawn(serve(setup.options().with_echo(true), agent_in, agent_out));
    input
        .write_all(message("1", "hi", None).as_bytes())
        .await
        .unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    let err = ended.unwrap_err();
    assert!(matches!(err, ServeError::Write { .. }), "{err:?}");
    assert!(err.to_string().contains("stopped reading"), "{err}");
}
