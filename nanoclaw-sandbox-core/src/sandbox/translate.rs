//! Proxy address translation: a proxy on the host's loopback, seen from a
//! bridge-networked container.
//!
//! `127.0.0.1` inside a container is the container itself. Docker resolves
//! the extra host `host.docker.internal:host-gateway` to the bridge's gateway
//! address on the host, so the proxy is reachable there *if it listens on
//! that address too* (or on all addresses). A host-network container shares
//! the host's loopback, so it keeps the address as it is.

use crate::proxy::{ProxyUrl, ProxyUrlError};

/// The name containers reach the engine's host by.
pub const DOCKER_HOST_NAME: &str = "host.docker.internal";

/// Docker's special extra-host address: the bridge gateway on the host.
pub const HOST_GATEWAY: &str = "host-gateway";

/// The proxy as a container on a non-host network must address it: `None`
/// when it needs no change (not loopback; `host.docker.internal` and
/// `gateway.docker.internal` are not loopback and stay as they are).
pub(crate) fn for_bridge(url: &ProxyUrl) -> Result<Option<ProxyUrl>, ProxyUrlError> {
    if url.is_loopback() {
        url.with_host(DOCKER_HOST_NAME).map(Some)
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_proxies_move_to_the_docker_host_name() {
        for text in [
            "http://127.0.0.1:3128",
            "http://localhost:3128",
            "http://[::1]:3128",
        ] {
            let moved = for_bridge(&ProxyUrl::parse(text).unwrap())
                .unwrap()
                .unwrap();
            assert_eq!(moved.expose(), "http://host.docker.internal:3128", "{text}");
        }
    }

    #[test]
    fn other_proxies_stay() {
        for text in [
            "http://host.docker.internal:3128",
            "http://gateway.docker.internal:3128",
            "http://10.0.0.1:3128",
        ] {
            assert_eq!(
                for_bridge(&ProxyUrl::parse(text).unwrap()).unwrap(),
                None,
                "{text}"
            );
        }
    }
}
