//! Loopback ports for tests.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};

/// A loopback address nothing listens on: bound, read, and closed again.
/// (Another process could take it meanwhile; rare enough for tests.)
pub fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding a loopback port");
    listener.local_addr().expect("a bound address")
}

/// A port free on `ip` right now, for a process that must be told its port
/// (a registry, a daemon). It can be taken before that process binds it;
/// the process then fails with "address in use", rare enough not to retry.
pub fn free_port(ip: IpAddr) -> std::io::Result<u16> {
    Ok(TcpListener::bind(SocketAddr::new(ip, 0))?
        .local_addr()?
        .port())
}
