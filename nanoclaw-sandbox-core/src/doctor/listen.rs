//! `proxy-bridge`: a proxy on the host's loopback is rewritten to
//! `host.docker.internal` for bridge-networked containers (Docker's default),
//! which reach the host at the bridge gateway: the proxy must listen there
//! too. The kernel's socket tables say where it listens.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::check::Check;
use super::env::{main_proxy, NO_USABLE_PROXY};
use super::CheckId;
use crate::sandbox::{SandboxEnv, DOCKER_HOST_NAME};

/// The kernel's TCP socket tables (Linux), IPv4 then IPv6.
pub(crate) const TCP_TABLES: &[&str] = &["/proc/net/tcp", "/proc/net/tcp6"];

/// The `st` column's value for a listening socket.
const TCP_LISTEN: &str = "0A";

/// `proxy-bridge`, given the text of the TCP tables (`None` when unreadable).
pub(crate) fn proxy_bridge(env: Option<&SandboxEnv>, tables: Option<&str>) -> Check {
    let id = CheckId::ProxyBridge;
    let Some(proxy) = main_proxy(env) else {
        return Check::skip(id, NO_USABLE_PROXY);
    };
    if !proxy.is_loopback() {
        return Check::skip(
            id,
            format!("the proxy {proxy} is not on loopback: containers use its address as it is"),
        );
    }
    let Some(tables) = tables else {
        return Check::skip(
            id,
            "cannot read the kernel's socket tables (/proc/net/tcp; not Linux?)",
        );
    };
    let listeners: Vec<SocketAddr> = listening_sockets(tables)
        .into_iter()
        .filter(|addr| addr.port() == proxy.port())
        .collect();
    if listeners.is_empty() {
        return Check::skip(
            id,
            format!(
                "nothing in this network namespace listens on port {} (see proxy-reachable)",
                proxy.port()
            ),
        );
    }
    let shown: Vec<String> = listeners.iter().map(ToString::to_string).collect();
    if listeners.iter().any(|addr| !addr.ip().is_loopback()) {
        return Check::pass(
            id,
            format!(
                "the proxy {proxy} also listens on {}: bridge-networked containers reach it \
                 as {DOCKER_HOST_NAME} (the sandbox layer rewrites the address)",
                shown.join(", ")
            ),
        );
    }
    Check::warn(
        id,
        format!(
            "the proxy {proxy} listens on loopback only ({}): agent containers on a bridge \
             network (Docker's default) reach the host as {DOCKER_HOST_NAME}, the bridge \
             gateway, where nothing listens, so their requests fail with \"connection refused\"",
            shown.join(", ")
        ),
        format!(
            "make the proxy listen on all addresses (or the bridge gateway), e.g. \
             `nanoclaw-sandbox proxy --listen 0.0.0.0:{}`, or run agents with --network host",
            proxy.port()
        ),
    )
}

/// The local addresses of listening sockets in `/proc/net/tcp` and
/// `/proc/net/tcp6` text (both may be concatenated).
pub(crate) fn listening_sockets(tables: &str) -> Vec<SocketAddr> {
    tables
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let local = fields.nth(1)?;
            let state = fields.nth(1)?;
            (state == TCP_LISTEN).then(|| parse_socket(local)).flatten()
        })
        .collect()
}

/// `0100007F:0CF8` (IPv4) or 32 hex digits and a port (IPv6). The address
/// is printed as native-endian 32-bit words of the network-order bytes.
fn parse_socket(text: &str) -> Option<SocketAddr> {
    let (ip_hex, port_hex) = text.split_once(':')?;
    let port = u16::from_str_radix(port_hex, 16).ok()?;
    let mut bytes = Vec::with_capacity(16);
    for word in 0..ip_hex.len() / 8 {
        let chunk = ip_hex.get(word * 8..word * 8 + 8)?;
        bytes.extend(u32::from_str_radix(chunk, 16).ok()?.to_ne_bytes());
    }
    let ip = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::Status;
    use crate::proxy::{ProxySettings, ProxyUrl};
    use crate::sandbox::Mode;

    /// `addr` as the kernel prints it on this machine.
    fn row(addr: SocketAddr, state: &str) -> String {
        let ip = match addr.ip() {
            IpAddr::V4(ip) => format!("{:08X}", u32::from_ne_bytes(ip.octets())),
            IpAddr::V6(ip) => ip
                .octets()
                .chunks(4)
                .map(|c| format!("{:08X}", u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
        };
        format!(
            "   0: {ip}:{:04X} 00000000:0000 {state} 00000000:00000000 00:00000000 00000000  0 0 1 1\n",
            addr.port()
        )
    }

    fn table(rows: &[(&str, &str)]) -> String {
        let mut text = "  sl  local_address rem_address   st\n".to_string();
        for (addr, state) in rows {
            text.push_str(&row(addr.parse().unwrap(), state));
        }
        text
    }

    fn env(proxy: &str) -> SandboxEnv {
        SandboxEnv::new(Mode::Proxied {
            proxy: ProxySettings {
                https: Some(ProxyUrl::parse(proxy).unwrap()),
                ..ProxySettings::default()
            },
            ca: None,
        })
    }

    #[test]
    fn sockets_parse_in_both_families() {
        let text = table(&[
            ("127.0.0.1:3128", "0A"),
            ("[::]:8080", "0A"),
            ("10.0.0.5:3128", "01"),
        ]);
        assert_eq!(
            listening_sockets(&text),
            vec![
                "127.0.0.1:3128".parse::<SocketAddr>().unwrap(),
                "[::]:8080".parse().unwrap()
            ]
        );
        assert_eq!(listening_sockets("garbage\n1: zz:1 0 0A\n"), vec![]);
    }

    #[test]
    fn a_loopback_only_listener_warns() {
        let text = table(&[("127.0.0.1:3128", "0A"), ("0.0.0.0:9999", "0A")]);
        let check = proxy_bridge(Some(&env("http://127.0.0.1:3128")), Some(&text));
        assert_eq!(check.status, Status::Warn, "{check}");
        assert!(check.fix.unwrap().contains("--listen 0.0.0.0:3128"));
    }

    #[test]
    fn an_all_addresses_listener_passes() {
        for listen in ["0.0.0.0:3128", "[::]:3128", "172.17.0.1:3128"] {
            let text = table(&[("127.0.0.1:3128", "0A"), (listen, "0A")]);
            let check = proxy_bridge(Some(&env("http://localhost:3128")), Some(&text));
            assert_eq!(check.status, Status::Pass, "{listen}: {check}");
        }
    }

    #[test]
    fn remote_proxies_and_missing_tables_skip() {
        let text = table(&[("127.0.0.1:3128", "0A")]);
        let remote = env("http://host.docker.internal:3128");
        assert_eq!(
            proxy_bridge(Some(&remote), Some(&text)).status,
            Status::Skip
        );
        let local = env("http://127.0.0.1:3128");
        assert_eq!(proxy_bridge(Some(&local), None).status, Status::Skip);
        let other_port = env("http://127.0.0.1:4000");
        assert_eq!(
            proxy_bridge(Some(&other_port), Some(&text)).status,
            Status::Skip
        );
    }
}
