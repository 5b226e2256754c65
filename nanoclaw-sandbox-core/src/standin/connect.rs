//! The proxy port: each client connection speaks HTTP/1.1 to the stand-in,
//! with `CONNECT host:port` for HTTPS (intercepted, bypassed or denied) and
//! absolute-form `GET http://host/...` for plain HTTP.

use std::convert::Infallible;

use http::uri::Scheme;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::access_log;
use super::config::DenyStyle;
use super::forward::{
    bad_gateway, blocked_response, connect_established, forward, text_response, ProxyBody,
};
use super::intercept;
use super::policy::Decision;
use super::shutdown::drive;
use super::state::ClientContext;
use super::target::Target;
use crate::handover::{splice, Handover};

/// Serves one client connection to the proxy port until it closes, then
/// whatever it handed over (a tunnel, an intercepted session, a WebSocket).
pub(crate) async fn serve_client(stream: TcpStream, context: ClientContext) {
    let handover = Handover::default();
    let service = {
        let (context, handover) = (context.clone(), handover.clone());
        service_fn(move |request| {
            let (context, handover) = (context.clone(), handover.clone());
            async move { Ok::<_, Infallible>(route(&context, request, &handover).await) }
        })
    };
    let connection = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    let mut shutdown = context.shutdown.clone();
    if let Err(error) = drive(connection, |c| c.graceful_shutdown(), &mut shutdown).await {
        tracing::debug!(peer = %context.peer, %error, "proxy connection ended with an error");
    }
    handover.run().await;
}

async fn route(
    context: &ClientContext,
    request: Request<Incoming>,
    handover: &Handover,
) -> Response<ProxyBody> {
    if request.method() == Method::CONNECT {
        return connect(context, request, handover).await;
    }
    match (request.uri().scheme(), Target::from_uri(request.uri())) {
        (Some(scheme), Some(target)) if *scheme == Scheme::HTTP => {
            plain_http(context, target, request, handover).await
        }
        (Some(_), _) => text_response(
            StatusCode::BAD_REQUEST,
            "Only http:// URLs can be sent to the proxy as they are; send https:// through CONNECT.".into(),
        ),
        (None, _) => text_response(
            StatusCode::BAD_REQUEST,
            "This is an HTTP proxy: send `CONNECT host:port` or an absolute URL (`GET http://host/path`).".into(),
        ),
    }
}

/// `CONNECT host:port`: deny (inside TLS or as the reply), bypass (a raw
/// tunnel, opened before answering so that an unreachable host is a 502), or
/// intercept.
async fn connect(
    context: &ClientContext,
    mut request: Request<Incoming>,
    handover: &Handover,
) -> Response<ProxyBody> {
    let Some(target) = Target::from_uri(request.uri()).filter(|_| request.uri().scheme().is_none())
    else {
        return text_response(StatusCode::BAD_REQUEST, "CONNECT needs `host:port`.".into());
    };
    let decision = context.state.policy.decide_target(&target);
    let tunnel = hyper::upgrade::on(&mut request);
    let response = match decision {
        Decision::Deny if context.state.deny_style == DenyStyle::ConnectReply => {
            blocked_response(&target)
        }
        Decision::Bypass => {
            match context.state.upstream.connect(&target).await {
                Ok(upstream) => {
                    let target = target.clone();
                    handover.set(async move {
                    match tunnel.await {
                        Ok(client) => splice(TokioIo::new(client), upstream, &target).await,
                        Err(error) => tracing::debug!(%target, %error, "CONNECT tunnel was not handed over"),
                    }
                });
                    connect_established()
                }
                Err(error) => bad_gateway(&target, &error),
            }
        }
        Decision::Intercept | Decision::Deny => {
            // Requests inside the tunnel are logged one by one.
            handover.set(intercept::serve(tunnel, context.clone(), target, decision));
            return connect_established();
        }
    };
    access_log::record(
        context.peer,
        &Method::CONNECT,
        &target,
        decision,
        response.status(),
    );
    response
}

/// An absolute-form plain-HTTP request: the 403 page or the upstream's
/// answer. Never any injection: a secret must not travel in clear text.
async fn plain_http(
    context: &ClientContext,
    target: Target,
    request: Request<Incoming>,
    handover: &Handover,
) -> Response<ProxyBody> {
    let method = request.method().clone();
    let decision = context.state.policy.decide_target(&target);
    let response = if decision == Decision::Deny {
        blocked_response(&target)
    } else {
        forward(
            &context.state.upstream,
            &target,
            Scheme::HTTP,
            request,
            handover,
        )
        .await
    };
    access_log::record(context.peer, &method, &target, decision, response.status());
    response
}
