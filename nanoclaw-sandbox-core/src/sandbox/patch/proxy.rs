//! Proxy rules: forward the proxy variables in both spellings, translate a
//! loopback proxy address, extend `NO_PROXY`, and switch on Node's own use of
//! the proxy variables (`NODE_USE_ENV_PROXY=1`).

use crate::proxy::{ProxySettings, ProxyUrl, ProxyVar};
use crate::sandbox::no_proxy::extend_no_proxy;
use crate::sandbox::translate::{self, DOCKER_HOST_NAME, HOST_GATEWAY};
use crate::spec::NetworkMode;

use super::draft::Draft;
use super::report::{PatchKind, Severity};
use super::PatchError;

/// Node's switch for honouring `HTTP(S)_PROXY`/`NO_PROXY` in its built-in
/// clients: `http`/`https` from Node 22.21 and 24.5, `fetch` from 24.0. Older
/// Node ignores it (and the proxy variables): those agents need an explicit
/// proxy agent, which no patch can add.
pub const NODE_USE_ENV_PROXY: &str = "NODE_USE_ENV_PROXY";

/// The value [`NODE_USE_ENV_PROXY`] gets.
pub(crate) const NODE_USE_ENV_PROXY_ON: &str = "1";

/// The proxy variables a container gets, each with its value as the
/// container on `network` must see it.
pub(crate) fn proxy_values(
    proxy: &ProxySettings,
    network: &NetworkMode,
) -> Result<Vec<(ProxyVar, ProxyValue)>, PatchError> {
    let mut out = Vec::new();
    for (pair, url) in [
        (ProxyVar::HTTP_PROXY, &proxy.http),
        (ProxyVar::HTTPS_PROXY, &proxy.https),
        (ProxyVar::ALL_PROXY, &proxy.all),
    ] {
        let Some(url) = url else { continue };
        let translated = if network.is_host() {
            None
        } else {
            translate::for_bridge(url).map_err(PatchError::ProxyAddress)?
        };
        out.push((
            pair,
            ProxyValue {
                original: url.clone(),
                translated,
            },
        ));
    }
    Ok(out)
}

/// One proxy URL and, when its address had to change, the changed one.
pub(crate) struct ProxyValue {
    pub original: ProxyUrl,
    pub translated: Option<ProxyUrl>,
}

impl ProxyValue {
    /// The URL the container uses.
    pub(crate) fn effective(&self) -> &ProxyUrl {
        self.translated.as_ref().unwrap_or(&self.original)
    }
}

/// What a report says about a translated proxy, once per distinct URL.
pub(crate) fn translation_message(value: &ProxyValue) -> Option<String> {
    let moved = value.translated.as_ref()?;
    Some(format!(
        "{} is the container's own loopback there: using {} instead; the proxy must also \
         listen on the Docker bridge gateway address (or on all addresses) to be reached",
        value.original, moved
    ))
}

pub(super) fn apply(
    draft: &mut Draft<'_>,
    proxy: &ProxySettings,
    host_names: &[String],
) -> Result<(), PatchError> {
    let values = proxy_values(proxy, draft.original.network())?;
    let mut translated_notes: Vec<String> = Vec::new();
    for (pair, value) in &values {
        if let Some(message) = translation_message(value) {
            if !translated_notes.contains(&message) {
                draft.note(
                    Severity::Info,
                    PatchKind::ProxyTranslation,
                    value.original.authority(),
                    message.clone(),
                );
                translated_notes.push(message);
            }
        }
        let exposed = value.effective().expose();
        draft.set_pair(PatchKind::ProxyVariable, *pair, &exposed, str::to_string);
    }
    let credentialed = |relayed: bool| {
        values.iter().any(|(_, value)| {
            value.original.has_credentials() && value.original.has_relay_token() == relayed
        })
    };
    if credentialed(false) {
        // A client reads its proxy from the environment only, so the
        // credentials must be there; say so, as the build patcher does.
        draft.note(
            Severity::Warn,
            PatchKind::ProxyVariable,
            "credentials",
            "the proxy URL carries a user name or password: the container's environment holds \
             it, and `docker inspect` shows it to anyone who can reach the daemon; relay it \
             instead (`relay::CredentialRelay`, what the CLI does), or use a proxy without \
             credentials (the Docker Sandboxes proxy needs none)",
        );
    }
    if credentialed(true) {
        draft.note(
            Severity::Info,
            PatchKind::ProxyVariable,
            "credentials",
            "the proxy variables name the host's credential relay with its token: the proxy's \
             own credentials stay on the host",
        );
    }
    if !values.is_empty() {
        // Without it Node's built-in clients ignore the variables set above.
        draft.set_var(
            PatchKind::ProxyVariable,
            NODE_USE_ENV_PROXY,
            NODE_USE_ENV_PROXY_ON,
        );
    }
    let no_proxy = extend_no_proxy(proxy.no_proxy.as_deref().unwrap_or_default(), host_names);
    draft.set_pair(
        PatchKind::NoProxy,
        ProxyVar::NO_PROXY,
        &no_proxy,
        |caller| extend_no_proxy(caller, host_names),
    );
    if !translated_notes.is_empty() {
        add_docker_host(draft);
    }
    Ok(())
}

/// `host.docker.internal:host-gateway`, so the translated address resolves.
fn add_docker_host(draft: &mut Draft<'_>) {
    if let NetworkMode::Container(id) = draft.original.network() {
        draft.note(
            Severity::Warn,
            PatchKind::ExtraHost,
            DOCKER_HOST_NAME,
            format!(
                "not added: a container sharing `container:{id}`'s network cannot have its own \
                 /etc/hosts; that container must resolve {DOCKER_HOST_NAME}"
            ),
        );
        return;
    }
    let existing = draft
        .original
        .extra_hosts()
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(DOCKER_HOST_NAME));
    match existing {
        None => {
            draft.edit(|b| b.extra_host(DOCKER_HOST_NAME, HOST_GATEWAY));
            draft.note(
                Severity::Info,
                PatchKind::ExtraHost,
                DOCKER_HOST_NAME,
                format!("added as {HOST_GATEWAY}"),
            );
        }
        Some(host) if host.address == HOST_GATEWAY => {}
        Some(host) => {
            let message = format!(
                "kept as the caller set it ({}); the sandbox would use {HOST_GATEWAY}",
                host.address
            );
            draft.note(
                Severity::Warn,
                PatchKind::ExtraHost,
                DOCKER_HOST_NAME,
                message,
            );
        }
    }
}
