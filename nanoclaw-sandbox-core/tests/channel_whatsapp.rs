//! The WhatsApp transport's network, as far as anything local can take it:
//! WhatsApp pins its own Noise certificate and encrypts end to end, so no
//! double can log in, and a message round trip needs the real platform.
//!
//! mitmproxy (routing WhatsApp's real host names to loopback servers that
//! hold a test CA's certificates, never resolving a name) stands for the
//! sandbox proxy; the test CA stands for the public roots. Covered, each with
//! its control:
//! - the chat socket is tunnelled and carries bytes both ways (control: an
//!   intercepting proxy is refused and named, with the fix);
//! - passthrough hosts trust the public roots only, never the sandbox CA
//!   (control: the same CA as a public root is accepted; a host that is not
//!   passthrough accepts the sandbox CA);
//! - the version fetch goes through the proxy (control: intercepted, it fails
//!   and the server is never asked);
//! - the whole client, through the tunnel, fetches the version and opens the
//!   Noise handshake on the chat socket, its session directory 0700 and files
//!   0600 (control: intercepted, nothing reaches the servers and `receive`
//!   says why);
//! - a refusing proxy is retried with backoff, not in a loop (control: the
//!   same proxy asked in a loop answers dozens of times a second), and its
//!   credentials never appear in the error;
//! - the login QR code, drawn as PNG or terminal blocks, decodes back to the
//!   code (control: a damaged code does not decode).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nanoclaw_sandbox_core::channel::whatsapp::whatsapp_rust::http::HttpClient as WaHttpClient;
use nanoclaw_sandbox_core::channel::whatsapp::whatsapp_rust::transport::{
    TransportEvent, TransportFactory,
};
use nanoclaw_sandbox_core::channel::whatsapp::whatsapp_rust::version::fetch_latest_app_version;
use nanoclaw_sandbox_core::channel::whatsapp::whatsapp_rust::{anyhow, async_channel};
use nanoclaw_sandbox_core::channel::whatsapp::{
    qr_png, qr_terminal, ChatSocketFactory, PhoneNumber, ProxiedHttpClient, TerminalTheme,
    WhatsAppLogin, WhatsAppOptions, WhatsAppTransport, DATABASE_FILE,
};
use nanoclaw_sandbox_core::channel::{ChannelError, ChannelTransport};
use nanoclaw_sandbox_core::http::{HttpClient, HttpError};
use nanoclaw_sandbox_core::proxy::PassthroughRules;
use nanoclaw_testkit::ca::TestCa;
use nanoclaw_testkit::fault_proxy::{FaultOptions, FaultProxy};
use nanoclaw_testkit::https::{self, Server, Site};
use nanoclaw_testkit::mitm::{Mitmproxy, Route};
use rustls_pki_types::CertificateDer;

mod support;
use support::client_fixture::{mitm_ca, test_timeouts, via, WHATSAPP};
use support::platform_proxy::PlatformProxy;

/// WhatsApp Web's host: the version fetch (and, by default, the chat socket).
const WEB: &str = WHATSAPP;
/// The chat socket's host in these tests, so that the proxy's log tells the
/// socket from the version fetch (a passthrough host too: `**.whatsapp.com`).
const SOCKET_HOST: &str = "socket-test.whatsapp.com";
/// What WhatsApp's sw.js says, cut to the part the client reads.
const SW_JS: &str = r#"self.__swData=JSON.parse(/*BTDS*/"{\"dynamic_data\":{\"SiteData\":{\"server_revision\":1012345678,\"client_revision\":1012345678}}}");"#;
/// The version that gives.
const VERSION: (u32, u32, u32) = (2, 3000, 1_012_345_678);

fn socket_url() -> String {
    format!("wss://{SOCKET_HOST}/ws/chat")
}

/// The WhatsApp hosts on loopback (sw.js, the chat socket: a WebSocket
/// echo) and mitmproxy in front of them.
struct Stack {
    ca: TestCa,
    web: Server,
    socket: Server,
    proxy: PlatformProxy,
}

impl Stack {
    /// `passthrough`: mitmproxy tunnels the WhatsApp hosts untouched (its
    /// `--ignore-hosts`, the proxy-side bypass); else it intercepts them.
    async fn start(passthrough: bool) -> Option<Stack> {
        let ca = TestCa::new("WhatsApp test public root");
        let web = Server::https(
            ca.server_config(&[WEB], &[b"h2", b"http/1.1"]),
            Site::new().fixed("/sw.js", SW_JS),
        )
        .name("web-whatsapp")
        .start()
        .await
        .expect("starting the sw.js server");
        let socket = https::wss_echo(&ca, &[SOCKET_HOST]).await;
        let routes = vec![
            Route::new(WEB, web.addr()),
            Route::new(SOCKET_HOST, socket.addr()),
        ];
        let proxy = PlatformProxy::start(&ca, routes, |options| {
            if passthrough {
                options.ignore_hosts = vec![r"whatsapp\.com$".into()];
            }
        })?;
        Some(Stack {
            ca,
            web,
            socket,
            proxy,
        })
    }

    fn mitm(&self) -> &Mitmproxy {
        &self.proxy.mitm
    }

    /// A client as a sandbox host builds it: through the proxy, the
    /// WhatsApp hosts passthrough, the proxy's CA trusted (for every other
    /// host), the test CA as the public roots.
    fn client(&self) -> HttpClient {
        self.client_with(vec![self.ca.cert_der()], mitm_ca(self.mitm()), true)
    }

    fn client_with(
        &self,
        public: Vec<CertificateDer<'static>>,
        extra: Vec<CertificateDer<'static>>,
        passthrough: bool,
    ) -> HttpClient {
        let via = via(&self.mitm().url());
        let builder = if passthrough {
            HttpClient::builder(PassthroughRules::new(via))
        } else {
            HttpClient::builder(via)
        };
        let builder = if public.is_empty() {
            builder
        } else {
            builder.public_roots(public)
        };
        builder
            .extra_roots(extra)
            .native_roots(false)
            .timeouts(test_timeouts())
            .build()
            .unwrap()
    }
}

/// The [`HttpError`] inside whatsapp-rust's error, if it is one of ours.
fn http_error(e: &anyhow::Error) -> Option<&HttpError> {
    e.chain()
        .find_map(|cause| cause.downcast_ref::<HttpError>())
}

/// The next event that is not `Connected`, within 10 s.
async fn next_data(events: &async_channel::Receiver<TransportEvent>) -> TransportEvent {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("an event within 10 s")
            .expect("the transport's events");
        if !matches!(event, TransportEvent::Connected) {
            return event;
        }
    }
}

fn assert_names_interception(e: &HttpError, host: &str) {
    assert!(
        matches!(e, HttpError::Intercepted { host: h, .. } if h == host),
        "{e:?}"
    );
    let text = e.to_string();
    for needle in [host, "bypass", "documents no command", "--bypass-host"] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
}

#[tokio::test]
async fn the_chat_socket_is_tunnelled_and_carries_bytes_both_ways() {
    let Some(stack) = Stack::start(true).await else {
        return;
    };
    let sockets = ChatSocketFactory::new(stack.client()).url(socket_url());
    let (transport, events) = sockets
        .create_transport()
        .await
        .unwrap_or_else(|e| panic!("opening the chat socket: {e:#}\n{}", stack.mitm().log()));
    let frame = bytes::Bytes::from_static(b"WA\x06\x03 opaque noise bytes \x00\xff");
    transport
        .send(frame.clone())
        .await
        .expect("sending a frame");
    // The echo's greeting is a text frame: not the transport's business.
    match next_data(&events).await {
        TransportEvent::DataReceived(data) => assert_eq!(data, frame),
        other => panic!("expected the frame back, got {other:?}"),
    }
    assert_eq!(stack.socket.binary_frames(), [frame.to_vec()]);
    assert!(
        stack
            .mitm()
            .seen()
            .contains(&format!("CONNECT {SOCKET_HOST}:443")),
        "through the proxy: {:?}",
        stack.mitm().seen()
    );
    transport.disconnect().await;
    match next_data(&events).await {
        TransportEvent::Disconnected(_) => {}
        other => panic!("expected the end, got {other:?}"),
    }

    // Control: a proxy that intercepts the host is refused and named.
    let Some(intercepting) = Stack::start(false).await else {
        return;
    };
    let sockets = ChatSocketFactory::new(intercepting.client()).url(socket_url());
    let err = match sockets.create_transport().await {
        Ok(_) => panic!("an intercepted chat socket must not open"),
        Err(e) => e,
    };
    let cause = http_error(&err).unwrap_or_else(|| panic!("{err:#}"));
    assert_names_interception(cause, SOCKET_HOST);
    assert!(intercepting.socket.binary_frames().is_empty());
}

#[tokio::test]
async fn passthrough_hosts_trust_the_public_roots_only_never_the_sandbox_ca() {
    let Some(stack) = Stack::start(true).await else {
        return;
    };
    // The test CA as the sandbox CA (an extra root), Mozilla's as the public
    // roots: the untouched tunnel shows the test CA's certificate.
    let sandbox_ca_only = stack.client_with(Vec::new(), vec![stack.ca.cert_der()], true);
    let err = match ChatSocketFactory::new(sandbox_ca_only)
        .url(socket_url())
        .create_transport()
        .await
    {
        Ok(_) => panic!("a passthrough host must not be trusted through an extra root"),
        Err(e) => e,
    };
    let cause = http_error(&err).unwrap_or_else(|| panic!("{err:#}"));
    assert_names_interception(cause, SOCKET_HOST);

    // Control: the same certificate under a public root is accepted.
    let public = stack.client_with(vec![stack.ca.cert_der()], Vec::new(), true);
    let (transport, _events) = ChatSocketFactory::new(public)
        .url(socket_url())
        .create_transport()
        .await
        .unwrap_or_else(|e| panic!("the public root: {e:#}"));
    transport.disconnect().await;

    // Control: without the passthrough rule the extra root is trusted, so it
    // is the rule that refused it above.
    let not_passthrough = stack.client_with(Vec::new(), vec![stack.ca.cert_der()], false);
    let (transport, _events) = ChatSocketFactory::new(not_passthrough)
        .url(socket_url())
        .create_transport()
        .await
        .unwrap_or_else(|e| panic!("not passthrough: {e:#}"));
    transport.disconnect().await;
}

#[tokio::test]
async fn the_version_fetch_goes_through_the_proxy() {
    let Some(stack) = Stack::start(true).await else {
        return;
    };
    let http: Arc<dyn WaHttpClient> = Arc::new(ProxiedHttpClient::new(stack.client()));
    // whatsapp-rust's own fetch, https://web.whatsapp.com/sw.js, fixed in the library.
    let version = fetch_latest_app_version(&http)
        .await
        .unwrap_or_else(|e| panic!("the version fetch: {e:#}\n{}", stack.mitm().log()));
    assert_eq!(version, VERSION);
    assert_eq!(stack.web.hits_on("/sw.js").len(), 1);
    assert!(
        stack.mitm().seen().contains(&format!("CONNECT {WEB}:443")),
        "{:?}",
        stack.mitm().seen()
    );

    // Control: intercepted, the fetch fails on interception and sw.js is
    // never asked for.
    let Some(intercepting) = Stack::start(false).await else {
        return;
    };
    let http: Arc<dyn WaHttpClient> = Arc::new(ProxiedHttpClient::new(intercepting.client()));
    let err = fetch_latest_app_version(&http)
        .await
        .expect_err("an intercepted version fetch");
    // whatsapp-rust words the cause into its own message (the typed error
    // reaches the host through the transport's report, see below).
    let text = format!("{err:#}");
    for needle in [
        "web.whatsapp.com is being intercepted",
        "documents no command",
        "--bypass-host web.whatsapp.com",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    assert!(intercepting.web.hits_on("/sw.js").is_empty());
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Waits until `done`, for at most `limit`.
async fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done()
}

#[cfg(unix)]
#[tokio::test]
async fn the_client_reaches_the_noise_handshake_through_the_tunnel() {
    use std::os::unix::fs::PermissionsExt;
    let Some(stack) = Stack::start(true).await else {
        return;
    };
    let workspace = tempfile::tempdir().unwrap();
    let session = workspace.path().join("whatsapp");
    // A session directory left open, with a stray file in it.
    std::fs::create_dir(&session).unwrap();
    std::fs::set_permissions(&session, std::fs::Permissions::from_mode(0o755)).unwrap();
    let stray = session.join("notes.txt");
    std::fs::write(&stray, b"left here").unwrap();
    std::fs::set_permissions(&stray, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!((mode(&session), mode(&stray)), (0o755, 0o644), "control");

    let logins = Arc::new(Mutex::new(Vec::new()));
    let seen = logins.clone();
    let whatsapp = WhatsAppTransport::start(
        stack.client(),
        WhatsAppOptions::new(&session)
            .socket_url(socket_url())
            .receive_wait(Duration::from_millis(200)),
        move |login| seen.lock().unwrap().push(login),
    )
    .await
    .expect("starting the transport");

    // The session is private: the directory, the database, SQLite's
    // journal files beside it, and what was there before.
    assert_eq!(mode(&session), 0o700);
    let files: Vec<_> = std::fs::read_dir(&session)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(files.contains(&session.join(DATABASE_FILE)), "{files:?}");
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }

    // The version is fetched through the proxy, and the Noise handshake
    // starts on the tunnelled chat socket: WhatsApp's connection header.
    let reached = eventually(Duration::from_secs(40), || {
        !stack.web.hits_on("/sw.js").is_empty()
            && stack
                .socket
                .binary_frames()
                .iter()
                .any(|f| f.starts_with(b"WA"))
    })
    .await;
    assert!(
        reached,
        "sw.js hits: {:?}, frames: {}\n{}",
        stack.web.hits(),
        stack.socket.binary_frames().len(),
        stack.mitm().log()
    );
    let seen = stack.mitm().seen();
    assert!(seen.contains(&format!("CONNECT {WEB}:443")), "{seen:?}");
    assert!(
        seen.contains(&format!("CONNECT {SOCKET_HOST}:443")),
        "{seen:?}"
    );
    // An echo is no WhatsApp: no login event came.
    assert!(logins.lock().unwrap().is_empty());
    whatsapp.shutdown().await;
    for file in std::fs::read_dir(&session).unwrap() {
        let file = file.unwrap().path();
        assert_eq!(mode(&file), 0o600, "after shutdown: {}", file.display());
    }

    // Control: intercepted, nothing reaches the servers and `receive` says why.
    let Some(intercepting) = Stack::start(false).await else {
        return;
    };
    let whatsapp = WhatsAppTransport::start(
        intercepting.client(),
        WhatsAppOptions::new(workspace.path().join("whatsapp-2"))
            .socket_url(socket_url())
            .receive_wait(Duration::from_secs(15)),
        |_| {},
    )
    .await
    .expect("starting the transport");
    let err = whatsapp
        .receive()
        .await
        .expect_err("the interception, reported");
    match &err {
        ChannelError::Http { channel, source } => {
            assert_eq!(*channel, "whatsapp");
            assert!(
                matches!(source, HttpError::Intercepted { host, .. } if host == WEB || host == SOCKET_HOST),
                "{source:?}"
            );
        }
        other => panic!("expected the interception, got {other:?}"),
    }
    whatsapp.shutdown().await;
    assert!(intercepting.web.hits_on("/sw.js").is_empty());
    assert!(intercepting.socket.binary_frames().is_empty());
}

#[tokio::test]
async fn a_refusing_proxy_is_retried_with_backoff_not_in_a_loop() {
    // A proxy that answers every CONNECT with 407 (the credentials given
    // are wrong): refusing at once, it would show a hot loop at once.
    let refusing = FaultProxy::start(FaultOptions {
        require_auth: Some(("agent".into(), "right-password".into())),
        ..FaultOptions::before(nanoclaw_testkit::net::closed_port())
    })
    .await;
    let proxy_url = refusing.url_with_credentials("agent", "WrongSecretPassword");
    let client = HttpClient::builder(PassthroughRules::new(via(&proxy_url)))
        .native_roots(false)
        .timeouts(test_timeouts())
        .build()
        .unwrap();
    let session = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let whatsapp = WhatsAppTransport::start(
        client.clone(),
        WhatsAppOptions::new(session.path().join("whatsapp"))
            .socket_url(socket_url())
            .receive_wait(Duration::from_secs(5)),
        |_| {},
    )
    .await
    .expect("starting the transport");

    // The refusal reaches the host, naming the proxy, never its password.
    let err = whatsapp.receive().await.expect_err("the refusal, reported");
    let text = err.to_string();
    assert!(
        matches!(
            &err,
            ChannelError::Http {
                source: HttpError::ProxyAuthRequired { .. },
                ..
            }
        ),
        "{err:?}"
    );
    assert!(text.contains("407"), "{text}");
    assert!(!text.contains("WrongSecretPassword"), "{text}");
    assert!(!format!("{err:?}").contains("WrongSecretPassword"));

    let window = Duration::from_secs(8);
    tokio::time::sleep(window.saturating_sub(started.elapsed())).await;
    let socket_attempts = |seen: &[String]| {
        seen.iter()
            .filter(|s| **s == format!("CONNECT {SOCKET_HOST}:443"))
            .count()
    };
    let attempts = socket_attempts(&refusing.seen());
    eprintln!("{attempts} chat socket attempts in {window:?} against a refusing proxy");
    whatsapp.shutdown().await;
    // 1 s, 1 s, 2 s, 3 s … between attempts (whatsapp-rust), plus 0.25–0.5 s,
    // 0.5–1 s, 1–2 s … (the factory): about 4 in 8 s.
    assert!(
        (2..=7).contains(&attempts),
        "{attempts} chat socket attempts in {window:?}: {:?}",
        refusing.seen()
    );
    // It stopped: no attempt after the shutdown.
    let after = refusing.seen().len();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(refusing.seen().len(), after, "attempts after the shutdown");

    // Control: the same proxy, asked in a loop, refuses dozens of times a
    // second, so the count above is the pacing, not a slow proxy.
    let before = socket_attempts(&refusing.seen());
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(1) {
        let err = client
            .websocket(socket_url().as_str())
            .await
            .expect_err("refused");
        assert!(
            matches!(err, HttpError::ProxyAuthRequired { .. }),
            "{err:?}"
        );
    }
    let looped = socket_attempts(&refusing.seen()) - before;
    eprintln!("{looped} attempts in 1 s in a loop");
    assert!(looped > 20, "only {looped} refusals in a second");
}

/// A realistic login QR payload: ref, then the noise key, identity key and
/// ADV secret, base64.
const QR_CODE: &str = "2@wW8xTnQ0ZGkyLmFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6MDEyMzQ1Njc4OQ==,\
    k1Qm0f2d8tq3bC9zX7nE1yR4sV6uW8oP0iL2jH5gF3c=,\
    Zr4t6Y8u0I2o4P6a8S0d2F4g6H8j0K2l4Z6x8C0v2B4=,\
    Q9w8E7r6T5y4U3i2O1p0A9s8D7f6G5h4J3k2L1z0X9c=";

/// Decodes the QR codes in a greyscale image.
fn decode(width: usize, height: usize, pixel: impl Fn(usize, usize) -> u8) -> Vec<String> {
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, pixel);
    image
        .detect_grids()
        .into_iter()
        .filter_map(|grid| grid.decode().ok().map(|(_, text)| text))
        .collect()
}

fn decode_png(png_bytes: &[u8]) -> Vec<String> {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buffer = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buffer).expect("a frame");
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    let (width, height) = (info.width as usize, info.height as usize);
    decode(width, height, |x, y| buffer[y * info.line_size + x])
}

/// The terminal text back to modules (a dark module is 0), 4 pixels each.
fn decode_terminal(text: &str, theme: TerminalTheme) -> Vec<String> {
    let mut rows: Vec<Vec<bool>> = Vec::new();
    for line in text.lines() {
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        for c in line.chars() {
            let (t, b) = match c {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                ' ' => (false, false),
                other => panic!("unexpected character {other:?}"),
            };
            top.push(t);
            bottom.push(b);
        }
        rows.push(top);
        rows.push(bottom);
    }
    let inked_is_light = theme == TerminalTheme::Dark;
    let scale = 4;
    let (width, height) = (rows[0].len() * scale, rows.len() * scale);
    decode(width, height, |x, y| {
        let inked = rows[y / scale][x / scale];
        if inked == inked_is_light {
            255
        } else {
            0
        }
    })
}

#[tokio::test]
async fn the_login_qr_code_decodes_back_to_the_code() {
    let login = WhatsAppLogin::Qr {
        code: QR_CODE.into(),
        valid_for: Duration::from_secs(60),
    };
    let WhatsAppLogin::Qr { code, .. } = &login else {
        unreachable!()
    };
    let png_bytes = qr_png(code).expect("a PNG");
    assert_eq!(decode_png(&png_bytes), [QR_CODE]);
    for theme in [TerminalTheme::Dark, TerminalTheme::Light] {
        let text = qr_terminal(code, theme).expect("terminal blocks");
        assert_eq!(decode_terminal(&text, theme), [QR_CODE], "{theme:?}");
    }

    // Control: the same text with a finder pattern wiped decodes to nothing.
    let text = qr_terminal(code, TerminalTheme::Light).unwrap();
    let damaged: String = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let line: String = if (2..6).contains(&i) {
                line.chars()
                    .enumerate()
                    .map(|(j, c)| if (4..11).contains(&j) { ' ' } else { c })
                    .collect()
            } else {
                line.to_string()
            };
            line + "\n"
        })
        .collect();
    assert!(decode_terminal(&damaged, TerminalTheme::Light).is_empty());
    // And a PNG of another code decodes to that one, not ours.
    assert_eq!(decode_png(&qr_png("2@other").unwrap()), ["2@other"]);
}

#[test]
fn a_malformed_phone_number_is_refused_without_showing_it() {
    let err = PhoneNumber::parse("+1 555 SECRET 77").unwrap_err();
    assert!(!err.to_string().contains("SECRET"), "{err}");
    assert!(!format!("{err:?}").contains("SECRET"));
    // Control: a well-formed one is accepted.
    assert!(PhoneNumber::parse("+1 555 010 7788").is_ok());
}
