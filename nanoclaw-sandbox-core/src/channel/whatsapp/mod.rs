//! WhatsApp Web as a linked device, on [whatsapp-rust] 0.7 with its
//! network taken over by this crate.
//!
//! - **The chat socket** (`wss://web.whatsapp.com/ws/chat`) is a WebSocket
//!   opened with [`HttpClient::websocket`] ([`ChatSocketFactory`], not
//!   whatsapp-rust's own transport, which dials directly and installs `ring`
//!   as the process-wide rustls provider). **The version fetch**
//!   (`https://web.whatsapp.com/sw.js`, which names the client version
//!   WhatsApp expects; a stale one is refused with 405) and media downloads
//!   go through the same client ([`ProxiedHttpClient`]). Inside a Docker
//!   Sandbox both tunnel through the proxy.
//! - **Passthrough**: WhatsApp Web pins its certificates, so its hosts must
//!   not be intercepted. A client built for the sandbox
//!   ([`HttpClientBuilder::for_sandbox`](crate::http::HttpClientBuilder::for_sandbox))
//!   checks `web.whatsapp.com`, `**.whatsapp.com` and `**.whatsapp.net`
//!   against the public roots only, never the proxy's CA: an intercepting
//!   proxy is reported ([`HttpError::Intercepted`], naming the host and the
//!   fix), not trusted.
//! - **Login** by QR code or, given the account's [`PhoneNumber`], by
//!   pairing code: the codes reach the host as [`WhatsAppLogin`] events, for
//!   it to show ([`qr_terminal`], [`qr_png`] draw a code).
//! - **The session** (device identity and Signal keys) lives in an SQLite
//!   file (whatsapp-rust-sqlite-storage) in a directory of the caller's
//!   choosing, inside the workspace: the directory 0700, its files 0600.
//!   The next start logs in with it, no code needed.
//! - **Reconnects**: whatsapp-rust reconnects by itself (Fibonacci from 1 s,
//!   up to 15 min); the socket factory also waits after failures in a row
//!   (the socket channels' backoff, at most 5 s more), so a refusing proxy
//!   is never retried in a tight loop. A failure to connect (the proxy, TLS,
//!   policy, interception) is returned by the next
//!   [`receive`](ChannelTransport::receive) while it keeps trying.
//!
//! Messages in: texts (`conversation` and extended text) from others, in
//! direct chats and groups; the chat is the JID (`15551234567@s.whatsapp.net`,
//! `120363…@g.us`), a group is a chat on the `g.us` server. Messages the
//! account itself sent (from the phone), edits, reactions, media without
//! text, status updates and channels (newsletters) are not passed on. They
//! are held until [`acknowledge`](ChannelTransport::acknowledge) and a
//! message delivered twice is passed on once, like the other socket
//! channels; whatsapp-rust confirms receipt to WhatsApp on decryption, so a
//! crash between that and the host's journal loses the message, as a
//! Discord event or a Slack envelope would be.
//!
//! Messages out: text, split at [`MAX_MESSAGE_CHARS`], the first piece
//! quoting the message it answers when that one is still remembered;
//! [`typing`](ChannelTransport::typing) sends the "composing" chat state.
//!
//! A message round trip needs the real WhatsApp: its Noise handshake pins
//! WhatsApp's own certificate and messages are end-to-end encrypted, so no
//! local double can log in. The tests cover the tunnel, the passthrough,
//! interception, the version fetch, the login codes' rendering, the
//! session's permissions and the backoff.
//!
//! [whatsapp-rust]: https://crates.io/crates/whatsapp-rust

mod http;
mod login;
mod store;
mod transport;

use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use whatsapp_rust::bot::{Bot, BotHandle};
use whatsapp_rust::pair_code::PairCodeOptions;
use whatsapp_rust::prelude::{
    Event, EventHandler, EventInterest, EventKind, MessageBuilderExt, MessageExt,
};
use whatsapp_rust::store::SqliteStore;
use whatsapp_rust::types::events::{ConnectFailureReason, InboundMessage as WaInbound};
use whatsapp_rust::wacore_binary::{Jid, JidExt, Server};
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::Client;

use self::transport::Pacer;
use super::inbox::Inbox;
use super::text::split_text;
use super::{ChannelError, ChannelTransport, ChatId, InboundMessage, OutboundMessage};
use crate::http::{HttpClient, HttpError};

pub use self::http::ProxiedHttpClient;
pub use self::login::{
    qr_png, qr_terminal, write_qr_png, PhoneError, PhoneNumber, QrError, TerminalTheme,
    WhatsAppLogin,
};
pub use self::store::DATABASE_FILE;
pub use self::transport::ChatSocketFactory;
/// The WhatsApp Web library, for hosts that drive it themselves with
/// [`ChatSocketFactory`] and [`ProxiedHttpClient`].
pub use whatsapp_rust;

const CHANNEL: &str = "whatsapp";

/// The host a chat JID is checked for in errors.
const WEB_HOST: &str = "web.whatsapp.com";

/// How long one `receive` waits for news by default.
pub const DEFAULT_RECEIVE_WAIT: Duration = Duration::from_secs(25);

/// The most characters one message carries: WhatsApp Web takes longer
/// texts, but the Business API's limit keeps pieces readable on every
/// client.
pub const MAX_MESSAGE_CHARS: usize = 4096;

/// How many received messages are remembered (to drop redeliveries, and to
/// quote the one a reply answers).
const RECENT: usize = 1024;

/// Where the session lives and how the login goes.
#[derive(Clone)]
#[must_use]
pub struct WhatsAppOptions {
    session_dir: PathBuf,
    phone: Option<PhoneNumber>,
    receive_wait: Duration,
    socket_url: Option<String>,
}

impl WhatsAppOptions {
    /// The session in `session_dir` (created 0700; put it inside the
    /// workspace, where nothing is mounted into agents), login by QR code.
    pub fn new(session_dir: impl Into<PathBuf>) -> Self {
        WhatsAppOptions {
            session_dir: session_dir.into(),
            phone: None,
            receive_wait: DEFAULT_RECEIVE_WAIT,
            socket_url: None,
        }
    }

    /// Log in with a pairing code for this account's number (a QR code is
    /// offered all the same until one of them is used). Ignored once a
    /// session is stored.
    pub fn pairing_phone(mut self, phone: PhoneNumber) -> Self {
        self.phone = Some(phone);
        self
    }

    /// How long one `receive` waits for a message before it returns an
    /// empty batch (default 25 s).
    pub fn receive_wait(mut self, wait: Duration) -> Self {
        self.receive_wait = wait;
        self
    }

    /// Another chat socket URL than `wss://web.whatsapp.com/ws/chat` (a
    /// relay, a test server).
    pub fn socket_url(mut self, url: impl Into<String>) -> Self {
        self.socket_url = Some(url.into());
        self
    }

    /// The session directory.
    pub fn session_dir(&self) -> &Path {
        &self.session_dir
    }
}

impl fmt::Debug for WhatsAppOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhatsAppOptions")
            .field("session_dir", &self.session_dir)
            .field("phone", &self.phone)
            .field("receive_wait", &self.receive_wait)
            .field("socket_url", &self.socket_url)
            .finish()
    }
}

/// A WhatsApp account, linked as a device, as a [`ChannelTransport`]; see
/// the [module documentation](self).
pub struct WhatsAppTransport {
    shared: Arc<Shared>,
    client: Arc<Client>,
    bot: Mutex<Option<BotHandle>>,
    receive_wait: Duration,
}

/// What the transport, its event handler and its socket factory share.
struct Shared {
    inbox: Inbox,
    /// Recent messages, newest last, to quote in replies.
    quotes: Mutex<VecDeque<Quote>>,
    pacer: Arc<Pacer>,
    login: Box<dyn Fn(WhatsAppLogin) + Send + Sync>,
    session_dir: PathBuf,
    /// The number a pairing code is asked for, again when WhatsApp asks.
    phone: Option<PhoneNumber>,
    /// The client, once built (for a new pairing code).
    client: OnceLock<std::sync::Weak<Client>>,
}

/// A received message, as a reply quotes it.
struct Quote {
    id: String,
    chat: Jid,
    sender: Jid,
    message: Arc<wa::Message>,
}

impl WhatsAppTransport {
    /// Opens (or creates) the session in `options`' directory and starts
    /// the client in the background, calling through `client` (build it
    /// with [`HttpClient::from_sandbox`]: it routes WhatsApp's hosts through
    /// the proxy and checks them against the public roots only). `login` is
    /// called with every login event; without a stored session the first
    /// one is a QR code (or a pairing code), which it must show.
    ///
    /// Fails when the session directory cannot be made private or the
    /// store cannot be opened; connection failures come later, from
    /// `receive`.
    pub async fn start(
        client: HttpClient,
        options: WhatsAppOptions,
        login: impl Fn(WhatsAppLogin) + Send + Sync + 'static,
    ) -> Result<Self, ChannelError> {
        let dir = options.session_dir.clone();
        let storage = |reason: String| ChannelError::Storage {
            channel: CHANNEL,
            path: dir.clone(),
            reason,
        };
        let database = store::prepare(&dir).map_err(|e| storage(e.to_string()))?;
        let database = database
            .to_str()
            .ok_or_else(|| storage("the path is not valid UTF-8, which SQLite needs".into()))?;
        let backend = SqliteStore::new(database)
            .await
            .map_err(|e| storage(e.to_string()))?;
        // SQLite added its journal files beside the database.
        store::tighten(&dir).map_err(|e| storage(e.to_string()))?;

        let pacer = Arc::new(Pacer::default());
        let shared = Arc::new(Shared {
            inbox: Inbox::new(RECENT),
            quotes: Mutex::new(VecDeque::new()),
            pacer: pacer.clone(),
            login: Box::new(login),
            session_dir: dir.clone(),
            phone: options.phone.clone(),
            client: OnceLock::new(),
        });
        let report = {
            let shared = Arc::downgrade(&shared);
            Arc::new(move |e: &HttpError| {
                if let Some(shared) = shared.upgrade() {
                    shared.connection_failed(e.clone());
                }
            })
        };
        let mut sockets = ChatSocketFactory::new(client.clone()).paced_by(pacer, report.clone());
        if let Some(url) = &options.socket_url {
            sockets = sockets.url(url);
        }
        let http = ProxiedHttpClient::new(client).reporting(report);
        let mut builder = Bot::builder()
            .with_backend(backend)
            .with_transport_factory(sockets)
            .with_http_client(http)
            .with_event_handler(Events(Arc::downgrade(&shared)))
            // A bot needs no history; skipping it also spares the media
            // hosts' downloads.
            .skip_history_sync();
        if let Some(phone) = &options.phone {
            builder = builder.with_pair_code(pair_code_options(phone));
        }
        let bot = builder.build().await.map_err(|e| storage(e.to_string()))?;
        let handle = bot.spawn();
        let client = handle.client();
        let _ = shared.client.set(Arc::downgrade(&client));
        Ok(WhatsAppTransport {
            shared,
            client,
            bot: Mutex::new(Some(handle)),
            receive_wait: options.receive_wait,
        })
    }

    /// Disconnects, writing the session's pending state first, and waits for
    /// the client to stop. Dropping the transport does the same in the
    /// background.
    pub async fn shutdown(&self) {
        self.shared.pacer.stop();
        let handle = self.bot().take();
        if let Some(handle) = handle {
            handle.shutdown().await;
        }
    }

    fn bot(&self) -> MutexGuard<'_, Option<BotHandle>> {
        self.bot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The chat's JID, or an error naming it.
    fn jid(&self, chat: &ChatId) -> Result<Jid, ChannelError> {
        let invalid = |reason: String| ChannelError::Http {
            channel: CHANNEL,
            source: HttpError::InvalidRequest {
                host: WEB_HOST.into(),
                reason,
            },
        };
        let jid = Jid::from_str(&chat.0)
            .map_err(|e| invalid(format!("`{}` is not a WhatsApp chat JID: {e}", chat.0)))?;
        if !matches!(jid.server, Server::Pn | Server::Lid | Server::Group) {
            return Err(invalid(format!(
                "`{}` is not a person or a group (user@s.whatsapp.net, user@lid or id@g.us)",
                chat.0
            )));
        }
        Ok(jid)
    }

    fn sending_failed(what: &str, e: &dyn fmt::Display) -> ChannelError {
        ChannelError::Gateway {
            channel: CHANNEL,
            close_code: None,
            reason: format!(
                "{what} failed: {e}; the client reconnects by itself, so a message sent while it \
                 is not logged in can be retried later"
            ),
        }
    }
}

impl Drop for WhatsAppTransport {
    fn drop(&mut self) {
        self.shared.pacer.stop();
        let handle = self.bot().take();
        if let (Some(handle), Ok(runtime)) = (handle, tokio::runtime::Handle::try_current()) {
            // Disconnecting writes the session's pending state.
            runtime.spawn(handle.shutdown());
        }
    }
}

impl fmt::Debug for WhatsAppTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhatsAppTransport")
            .field("session_dir", &self.shared.session_dir)
            .field("receive_wait", &self.receive_wait)
            .field("stopped_for_good", &self.shared.inbox.stopped_for_good())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ChannelTransport for WhatsAppTransport {
    fn name(&self) -> &'static str {
        CHANNEL
    }

    async fn receive(&self) -> Result<Vec<InboundMessage>, ChannelError> {
        self.shared.inbox.next_batch(self.receive_wait).await
    }

    async fn acknowledge(&self) -> Result<(), ChannelError> {
        self.shared.inbox.acknowledge();
        Ok(())
    }

    async fn send(&self, message: &OutboundMessage) -> Result<(), ChannelError> {
        let to = self.jid(&message.chat)?;
        let mut quote = message
            .reply_to
            .as_deref()
            .and_then(|id| self.shared.quote(&to, id));
        for piece in split_text(&message.text, MAX_MESSAGE_CHARS) {
            let content = match quote.take() {
                Some(context) => wa::Message::text_with_context(piece, context),
                None => wa::Message::text(piece),
            };
            self.client
                .send_message(to.clone(), content)
                .await
                .map_err(|e| Self::sending_failed("sending a message", &e))?;
        }
        Ok(())
    }

    async fn typing(&self, chat: &ChatId) -> Result<(), ChannelError> {
        let to = self.jid(chat)?;
        self.client
            .chatstate()
            .send_composing(&to)
            .await
            .map_err(|e| Self::sending_failed("sending the typing state", &e))
    }
}

impl Shared {
    /// The socket or the version fetch failed: the next `receive` says so.
    fn connection_failed(&self, source: HttpError) {
        self.inbox.report(
            ChannelError::Http {
                channel: CHANNEL,
                source,
            },
            false,
        );
    }

    /// The client stopped for good: every `receive` from now on says why.
    fn stopped(&self, reason: String) {
        self.pacer.stop();
        self.inbox.report(
            ChannelError::Gateway {
                channel: CHANNEL,
                close_code: None,
                reason,
            },
            true,
        );
    }

    /// WhatsApp asked for a new pairing code: ask for one for the same
    /// number (it arrives as a login event).
    fn refresh_pairing_code(&self) {
        let client = self.client.get().and_then(std::sync::Weak::upgrade);
        let (Some(client), Some(phone)) = (client, &self.phone) else {
            return;
        };
        let options = pair_code_options(phone);
        tokio::spawn(async move {
            // A failure is dispatched as `PairingCodeError`, reported above.
            let _ = client.pair_with_code(options).await;
        });
    }

    fn quotes(&self) -> MutexGuard<'_, VecDeque<Quote>> {
        self.quotes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The quote context for a reply in `chat` to message `id`, if remembered.
    fn quote(&self, chat: &Jid, id: &str) -> Option<wa::ContextInfo> {
        let quotes = self.quotes();
        let quote = quotes
            .iter()
            .rev()
            .find(|q| q.id == id && &q.chat == chat)?;
        Some(
            whatsapp_rust::wacore::proto_helpers::build_quote_context_with_info(
                &quote.id,
                &quote.sender,
                &quote.chat,
                &quote.chat,
                &quote.message,
            ),
        )
    }

    fn handle(&self, event: &Event) {
        match event {
            Event::Messages(batch) => {
                for message in batch.messages.iter() {
                    self.receive(message);
                }
            }
            Event::PairingQrCode(qr) => (self.login)(WhatsAppLogin::Qr {
                code: qr.code.clone(),
                valid_for: qr.timeout,
            }),
            Event::PairingCode(code) => (self.login)(WhatsAppLogin::PairingCode {
                code: code.code.clone(),
                valid_for: code.timeout,
            }),
            Event::PairSuccess(_) => (self.login)(WhatsAppLogin::Paired),
            Event::Connected(_) => {
                self.inbox.connected();
                (self.login)(WhatsAppLogin::LoggedIn);
            }
            Event::PairError(e) => self.stopped(format!(
                "linking this device failed ({}): remove the session directory {} and log in again",
                e.error,
                self.session_dir.display()
            )),
            Event::PairingCodeError(e) => self.inbox.report(
                ChannelError::Gateway {
                    channel: CHANNEL,
                    close_code: None,
                    reason: format!(
                        "no pairing code was issued ({}): check that the phone number is the \
                         account's, country code first, and the connection errors reported \
                         before; start again to ask for a new one (the QR code still works)",
                        e.error
                    ),
                },
                false,
            ),
            Event::PairingCodeRefresh(_) => self.refresh_pairing_code(),
            // With a pairing code outstanding the socket stays up: not the end.
            Event::PairingQrCodesExhausted(e) if e.disconnected => self.stopped(
                "no QR code was scanned while they were valid: start again for new codes, or \
                 give the account's phone number to log in with a pairing code"
                    .into(),
            ),
            Event::LoggedOut(out) => self.stopped(format!(
                "WhatsApp logged this device out ({:?}): it was unlinked on the phone or the \
                 session expired; remove the session directory {} and log in again",
                out.reason,
                self.session_dir.display()
            )),
            Event::ClientOutdated(_) => self.stopped(
                "WhatsApp refused the client version (405): the version is fetched from \
                 https://web.whatsapp.com/sw.js through the proxy at each start; check that \
                 web.whatsapp.com is allowed and not intercepted, or update nanoclaw-sandbox"
                    .into(),
            ),
            Event::TemporaryBan(ban) => self.stopped(format!(
                "WhatsApp banned this account temporarily ({:?}) for {} s: wait, then start again",
                ban.code,
                ban.expire.num_seconds()
            )),
            Event::StreamReplaced(_) => self.stopped(
                "another client connected with this session and replaced this one: run one \
                 client per session directory"
                    .into(),
            ),
            Event::ConnectFailure(failure) => {
                let reason = format!(
                    "WhatsApp refused the connection ({:?}{})",
                    failure.reason,
                    failure
                        .message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                );
                let fatal = matches!(
                    failure.reason,
                    ConnectFailureReason::LoggedOut | ConnectFailureReason::AccountLocked
                );
                if fatal {
                    self.stopped(format!(
                        "{reason}: remove the session directory {} and log in again",
                        self.session_dir.display()
                    ));
                } else {
                    self.inbox.report(
                        ChannelError::Gateway {
                            channel: CHANNEL,
                            close_code: None,
                            reason,
                        },
                        false,
                    );
                }
            }
            _ => {}
        }
    }

    /// Queues a received message (once), and remembers it for quoting.
    fn receive(&self, message: &WaInbound) {
        let Some(inbound) = inbound(message) else {
            return;
        };
        let info = &message.info;
        let key = format!("{}/{}/{}", info.source.chat, info.source.sender, info.id);
        if self.inbox.deliver(inbound, &[key]) {
            let mut quotes = self.quotes();
            if quotes.len() == RECENT {
                quotes.pop_front();
            }
            quotes.push_back(Quote {
                id: info.id.to_string(),
                chat: info.source.chat.clone(),
                sender: info.source.sender.clone(),
                message: message.message.clone(),
            });
        }
    }
}

/// A pairing-code request for `phone`, WhatsApp Web's defaults otherwise.
fn pair_code_options(phone: &PhoneNumber) -> PairCodeOptions {
    PairCodeOptions {
        phone_number: phone.digits().to_string(),
        ..PairCodeOptions::default()
    }
}

/// A received WhatsApp message as the host takes it: a text from someone
/// else in a direct chat or group; `None` for everything else.
fn inbound(message: &WaInbound) -> Option<InboundMessage> {
    let info = &message.info;
    let source = &info.source;
    let chat = &source.chat;
    if source.is_from_me || !matches!(chat.server, Server::Pn | Server::Lid | Server::Group) {
        return None;
    }
    if chat.is_status_broadcast() || chat.is_newsletter() || chat.is_broadcast_list() {
        return None;
    }
    if info.edit != Default::default() {
        return None;
    }
    let text = message.message.text_content()?;
    if text.trim().is_empty() {
        return None;
    }
    let sender = if info.push_name.trim().is_empty() {
        source.sender.user.to_string()
    } else {
        info.push_name.clone()
    };
    Some(InboundMessage {
        chat: ChatId(chat.to_string()),
        message_id: info.id.to_string(),
        sender: Some(sender),
        text: text.to_string(),
        group: chat.is_group(),
    })
}

/// The event handler whatsapp-rust calls (inline: it only queues).
struct Events(std::sync::Weak<Shared>);

impl EventHandler for Events {
    fn handle_event(&self, event: Arc<Event>) {
        if let Some(shared) = self.0.upgrade() {
            shared.handle(&event);
        }
    }

    fn interest(&self) -> EventInterest {
        EventInterest::of(&[
            EventKind::Messages,
            EventKind::PairingQrCode,
            EventKind::PairingCode,
            EventKind::PairSuccess,
            EventKind::PairError,
            EventKind::PairingCodeError,
            EventKind::PairingCodeRefresh,
            EventKind::PairingQrCodesExhausted,
            EventKind::Connected,
            EventKind::LoggedOut,
            EventKind::ClientOutdated,
            EventKind::TemporaryBan,
            EventKind::StreamReplaced,
            EventKind::ConnectFailure,
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use whatsapp_rust::types::events::{
        BatchOrigin, Connected, LoggedOut, MessageBatch, PairingCode, PairingQrCode,
        PairingQrCodesExhausted,
    };
    use whatsapp_rust::types::message::{EditAttribute, MessageInfo, MessageSource};
    use whatsapp_rust::waproto::buffa::MessageField;

    const PERSON: &str = "15551234567@s.whatsapp.net";
    const GROUP: &str = "120363025246125486@g.us";

    fn jid(text: &str) -> Jid {
        Jid::from_str(text).unwrap()
    }

    fn received(chat: &str, sender: &str, id: &str, message: wa::Message) -> WaInbound {
        let info = MessageInfo {
            source: MessageSource {
                chat: jid(chat),
                sender: jid(sender),
                is_group: chat.ends_with("@g.us"),
                ..MessageSource::default()
            },
            id: id.into(),
            push_name: "Ada".into(),
            ..MessageInfo::default()
        };
        WaInbound::builder()
            .message(Arc::new(message))
            .info(Arc::new(info))
            .build()
    }

    fn extended(text: &str) -> wa::Message {
        wa::Message {
            extended_text_message: MessageField::some(wa::message::ExtendedTextMessage {
                text: Some(text.into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn texts_become_messages_with_the_jid_as_chat_and_g_us_as_group() {
        let direct = inbound(&received(PERSON, PERSON, "3EB0A1", wa::Message::text("hi")))
            .expect("a direct text");
        assert_eq!(direct.chat, ChatId(PERSON.into()));
        assert_eq!(direct.message_id, "3EB0A1");
        assert_eq!(direct.sender.as_deref(), Some("Ada"));
        assert_eq!(direct.text, "hi");
        assert!(!direct.group);

        let in_group = inbound(&received(GROUP, PERSON, "3EB0A2", extended("hello all")))
            .expect("an extended text in a group");
        assert_eq!(in_group.chat, ChatId(GROUP.into()));
        assert_eq!(in_group.text, "hello all");
        assert!(in_group.group);
    }

    #[test]
    fn what_is_not_a_text_from_someone_else_is_not_passed_on() {
        // Control: the same message, untouched, is passed on.
        let base = || received(PERSON, PERSON, "1", wa::Message::text("hi"));
        assert!(inbound(&base()).is_some());

        let mut mine = base();
        Arc::make_mut(&mut mine.info).source.is_from_me = true;
        assert!(inbound(&mine).is_none(), "sent by the account itself");

        let mut edit = base();
        Arc::make_mut(&mut edit.info).edit = EditAttribute::MessageEdit;
        assert!(inbound(&edit).is_none(), "an edit");

        let reaction = wa::Message {
            reaction_message: MessageField::some(wa::message::ReactionMessage {
                text: Some("👍".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(inbound(&received(PERSON, PERSON, "2", reaction)).is_none());
        assert!(inbound(&received(PERSON, PERSON, "3", wa::Message::text("  "))).is_none());
        let status = received("status@broadcast", PERSON, "4", wa::Message::text("story"));
        assert!(inbound(&status).is_none(), "a status update");
        let channel = received(
            "120363144038483540@newsletter",
            PERSON,
            "5",
            wa::Message::text("news"),
        );
        assert!(inbound(&channel).is_none(), "a channel post");
    }

    fn shared(events: Arc<Mutex<Vec<WhatsAppLogin>>>) -> Shared {
        Shared {
            inbox: Inbox::new(RECENT),
            quotes: Mutex::new(VecDeque::new()),
            pacer: Arc::new(Pacer::default()),
            login: Box::new(move |event| events.lock().unwrap().push(event)),
            session_dir: PathBuf::from("/workspace/whatsapp"),
            phone: None,
            client: OnceLock::new(),
        }
    }

    fn batch(messages: Vec<WaInbound>) -> Event {
        Event::Messages(
            MessageBatch::builder()
                .messages(messages.into())
                .origin(BatchOrigin::Live)
                .build(),
        )
    }

    const NO_WAIT: Duration = Duration::from_millis(1);

    #[tokio::test]
    async fn login_events_reach_the_callback_as_data() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let shared = shared(seen.clone());
        shared.handle(&Event::PairingQrCode(
            PairingQrCode::builder()
                .code("2@ref,noise,identity,adv".into())
                .timeout(Duration::from_secs(60))
                .build(),
        ));
        shared.handle(&Event::PairingCode(
            PairingCode::builder()
                .code("ABCD1234".into())
                .timeout(Duration::from_secs(180))
                .build(),
        ));
        shared.connection_failed(HttpError::InvalidRequest {
            host: WEB_HOST.into(),
            reason: "test".into(),
        });
        shared.handle(&Event::Connected(Connected::builder().build()));
        let seen = seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            [
                WhatsAppLogin::Qr {
                    code: "2@ref,noise,identity,adv".into(),
                    valid_for: Duration::from_secs(60),
                },
                WhatsAppLogin::PairingCode {
                    code: "ABCD1234".into(),
                    valid_for: Duration::from_secs(180),
                },
                WhatsAppLogin::LoggedIn,
            ]
        );
        // Connected cleared the earlier failure.
        assert!(shared.inbox.next_batch(NO_WAIT).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn messages_are_held_once_and_a_logout_stops_for_good() {
        let shared = shared(Arc::default());
        let message = || received(GROUP, PERSON, "3EB0B1", wa::Message::text("hi"));
        shared.handle(&batch(vec![message()]));
        // Delivered again (an offline replay): passed on once.
        shared.handle(&batch(vec![message()]));
        let first = shared.inbox.next_batch(NO_WAIT).await.unwrap();
        assert_eq!(first.len(), 1);
        // Not acknowledged: the same again; acknowledged: gone.
        assert_eq!(shared.inbox.next_batch(NO_WAIT).await.unwrap(), first);
        shared.inbox.acknowledge();
        assert!(shared.inbox.next_batch(NO_WAIT).await.unwrap().is_empty());

        // Control: the same id from another sender is another message.
        shared.handle(&batch(vec![received(
            GROUP,
            "15550000000@s.whatsapp.net",
            "3EB0B1",
            wa::Message::text("yo"),
        )]));
        assert_eq!(shared.inbox.next_batch(NO_WAIT).await.unwrap().len(), 1);
        shared.inbox.acknowledge();

        shared.handle(&Event::LoggedOut(
            LoggedOut::builder()
                .on_connect(true)
                .reason(ConnectFailureReason::LoggedOut)
                .build(),
        ));
        for _ in 0..2 {
            let err = shared.inbox.next_batch(NO_WAIT).await.unwrap_err();
            let text = err.to_string();
            assert!(text.contains("logged this device out"), "{text}");
            assert!(text.contains("/workspace/whatsapp"), "{text}");
        }
        assert!(shared.inbox.stopped_for_good());
        assert!(
            !shared.pacer.before_attempt().await,
            "no more connection attempts"
        );
    }

    #[tokio::test]
    async fn exhausted_qr_codes_stop_only_once_the_client_hung_up() {
        let shared = shared(Arc::default());
        let exhausted = |disconnected| {
            Event::PairingQrCodesExhausted(
                PairingQrCodesExhausted::builder()
                    .disconnected(disconnected)
                    .build(),
            )
        };
        // A pairing code is still outstanding: the socket stays, so does the client.
        shared.handle(&exhausted(false));
        assert!(shared.inbox.next_batch(NO_WAIT).await.unwrap().is_empty());
        assert!(!shared.inbox.stopped_for_good());
        shared.handle(&exhausted(true));
        let err = shared.inbox.next_batch(NO_WAIT).await.unwrap_err();
        assert!(err.to_string().contains("no QR code was scanned"), "{err}");
        assert!(shared.inbox.stopped_for_good());
    }

    #[test]
    fn a_reply_quotes_a_remembered_message_of_its_chat() {
        let shared = shared(Arc::default());
        shared.handle(&batch(vec![received(
            GROUP,
            PERSON,
            "3EB0C1",
            wa::Message::text("question"),
        )]));
        let context = shared.quote(&jid(GROUP), "3EB0C1").expect("remembered");
        assert_eq!(context.stanza_id.as_deref(), Some("3EB0C1"));
        assert_eq!(context.participant.as_deref(), Some(PERSON));
        assert_eq!(
            context
                .quoted_message
                .as_option()
                .and_then(|m| m.text_content()),
            Some("question")
        );
        // Controls: another chat, another id.
        assert!(shared.quote(&jid(PERSON), "3EB0C1").is_none());
        assert!(shared.quote(&jid(GROUP), "3EB0C2").is_none());
    }

    #[test]
    fn options_never_show_the_phone_number() {
        let phone = PhoneNumber::parse("+1 555 987 6543").unwrap();
        let options = WhatsAppOptions::new("/w/whatsapp").pairing_phone(phone);
        let shown = format!("{options:?}");
        assert!(!shown.contains("987") && !shown.contains("6543"), "{shown}");
        // Control: the number is there, for the pairing request.
        assert_eq!(
            options.phone.as_ref().map(PhoneNumber::digits),
            Some("15559876543")
        );
    }
}
