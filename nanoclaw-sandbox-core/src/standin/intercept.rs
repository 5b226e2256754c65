//! TLS interception: after a `CONNECT`, the stand-in completes TLS with the
//! client using a leaf for the host from its own CA, serves HTTP/1.1 or
//! HTTP/2 (ALPN) inside, and forwards each request to the upstream over TLS
//! it verifies itself. A denied host gets the same TLS session and the 403
//! page, as Docker Sandboxes do it.

use std::convert::Infallible;
use std::sync::Arc;

use http::uri::Scheme;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls::sign::{CertifiedKey, SingleCertAndKey};
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use super::access_log;
use super::forward::{blocked_response, forward, ProxyBody};
use super::policy::Decision;
use super::shutdown::drive;
use super::state::ClientContext;
use super::target::Target;
use crate::handover::Handover;

/// Serves one intercepted (or denied-inside-TLS) CONNECT tunnel once the
/// CONNECT connection hands its bytes over.
pub(crate) async fn serve(
    tunnel: OnUpgrade,
    context: ClientContext,
    target: Target,
    decision: Decision,
) {
    let tunnel = match tunnel.await {
        Ok(tunnel) => tunnel,
        Err(error) => return tracing::debug!(%target, %error, "CONNECT tunnel was not handed over"),
    };
    let leaf = match context.state.ca.leaf_for(target.host()) {
        Ok(leaf) => leaf,
        Err(reason) => return tracing::warn!(%target, %reason, "no leaf certificate"),
    };
    let tls = match server_config(&context, leaf) {
        Ok(config) => {
            TlsAcceptor::from(Arc::new(config))
                .accept(TokioIo::new(tunnel))
                .await
        }
        Err(error) => return tracing::warn!(%target, %error, "no TLS configuration for the client"),
    };
    let tls = match tls {
        Ok(tls) => tls,
        Err(error) => {
            // The usual cause: the client does not trust the stand-in's CA.
            return tracing::info!(
                %target,
                peer = %context.peer,
                %error,
                "TLS handshake with the client failed (does it trust the stand-in CA?)"
            );
        }
    };
    let handover = Handover::default();
    let service = {
        let (context, target, handover) = (context.clone(), target.clone(), handover.clone());
        service_fn(move |request| {
            let (context, target, handover) = (context.clone(), target.clone(), handover.clone());
            async move {
                let response = respond(&context, &target, decision, request, &handover).await;
                Ok::<_, Infallible>(response)
            }
        })
    };
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
    let mut shutdown = context.shutdown.clone();
    if let Err(error) = drive(connection, |c| c.graceful_shutdown(), &mut shutdown).await {
        tracing::debug!(%target, %error, "intercepted connection ended with an error");
    }
    handover.run().await;
}

/// One request inside the tunnel: the 403 page for a denied host, else the
/// injections and the upstream's answer.
async fn respond(
    context: &ClientContext,
    target: &Target,
    decision: Decision,
    mut request: Request<Incoming>,
    handover: &Handover,
) -> Response<ProxyBody> {
    let method = request.method().clone();
    let response = if decision == Decision::Deny {
        blocked_response(target)
    } else {
        for injection in &context.state.injections {
            injection.apply(target, request.headers_mut());
        }
        let upstream = &context.state.upstream;
        forward(upstream, target, Scheme::HTTPS, request, handover).await
    };
    access_log::record(context.peer, &method, target, decision, response.status());
    response
}

/// TLS towards the client: the host's leaf, HTTP/2 and HTTP/1.1 by ALPN.
fn server_config(
    context: &ClientContext,
    leaf: Arc<CertifiedKey>,
) -> Result<ServerConfig, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(Arc::clone(&context.state.provider))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(leaf)));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
