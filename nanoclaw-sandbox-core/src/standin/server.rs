//! Starting the stand-in, and the handle that stops it.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::ca::CertificateAuthority;
use super::config::StandinConfig;
use super::connect::serve_client;
use super::envfile;
use super::error::StandinError;
use super::shutdown::Shutdown;
use super::state::{ClientContext, State};
use super::upstream::Upstream;

/// Starts the stand-in: loads or generates the CA, binds the listen address,
/// writes the env file (only now that it listens), and serves connections in
/// the background on the current Tokio runtime.
///
/// Errors name the input and the fix: an unusable CA directory, a bad
/// upstream CA file, a port already in use, an env file that cannot be written.
pub async fn start(config: StandinConfig) -> Result<Standin, StandinError> {
    let provider = crate::crypto::crypto_provider();
    let ca_dir = config.resolved_ca_dir()?;
    let ca = CertificateAuthority::load_or_generate(&ca_dir, Arc::clone(&provider))?;
    let upstream = Upstream::new(
        config.maps(),
        config.upstream_ca_files(),
        config.connect_timeout(),
        Arc::clone(&provider),
    )?;
    if let Some(env_file) = config.env_file() {
        envfile::remove_stale(env_file)?;
    }
    let listener = bind(config.listen()).await?;
    let addr = listener
        .local_addr()
        .map_err(|source| StandinError::Listen {
            addr: config.listen(),
            source,
        })?;
    let proxy_url = format!("http://{}", connectable(addr));
    let env = envfile::variables(&proxy_url, ca.cert_pem());
    if let Some(env_file) = config.env_file() {
        envfile::write(env_file, &env)?;
    }
    let ca_pem = ca.cert_pem().to_string();
    let ca_cert_path = ca.cert_path().to_path_buf();
    let state = Arc::new(State {
        ca,
        upstream,
        policy: config.policy().clone(),
        injections: config.injections().to_vec(),
        deny_style: config.deny_style(),
        provider,
    });
    let (stop, shutdown) = Shutdown::channel();
    let server = tokio::spawn(accept_loop(
        listener,
        state,
        shutdown,
        config.shutdown_grace(),
    ));
    tracing::info!(%addr, ca = %ca_cert_path.display(), "sandbox proxy stand-in listening");
    Ok(Standin {
        addr,
        proxy_url,
        ca_pem,
        ca_cert_path,
        env_file: config.env_file().map(Path::to_path_buf),
        env,
        stop: Some(stop),
        server: Some(server),
    })
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StandinError> {
    TcpListener::bind(addr).await.map_err(|source| {
        if source.kind() == io::ErrorKind::AddrInUse {
            StandinError::PortInUse { addr }
        } else {
            StandinError::Listen { addr, source }
        }
    })
}

/// The address clients should use: loopback when listening on every address.
fn connectable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

/// Accepts until told to stop, then gives open connections the grace period
/// and cuts the rest. Dropping this task (the handle dropped) drops the
/// `JoinSet`, which aborts every connection task.
async fn accept_loop(
    listener: TcpListener,
    state: Arc<State>,
    mut shutdown: Shutdown,
    grace: Duration,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown.requested() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let context = ClientContext { state: Arc::clone(&state), peer, shutdown: shutdown.clone() };
                    connections.spawn(serve_client(stream, context));
                }
                // Out of file descriptors and the like: pause instead of spinning.
                Err(error) => {
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            // Reap finished connections so the set does not grow forever.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            open = connections.len(),
            "grace period over: closing the remaining connections"
        );
    }
}

/// A running stand-in. It stops when [`shutdown`](Standin::shutdown) is
/// awaited (gracefully) or when the handle is dropped (at once).
#[derive(Debug)]
#[must_use = "dropping the handle stops the stand-in"]
pub struct Standin {
    addr: SocketAddr,
    proxy_url: String,
    ca_pem: String,
    ca_cert_path: PathBuf,
    env_file: Option<PathBuf>,
    env: Vec<(String, String)>,
    stop: Option<watch::Sender<bool>>,
    server: Option<JoinHandle<()>>,
}

impl Standin {
    /// The address it listens on (the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://IP:PORT`: the value of `HTTPS_PROXY` for its clients (loopback
    /// when listening on every address).
    pub fn proxy_url(&self) -> &str {
        &self.proxy_url
    }

    /// The CA certificate as PEM: what clients must trust. Public; the key
    /// never leaves the CA directory.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA certificate file (`proxy-ca.crt` in the CA directory).
    pub fn ca_cert_path(&self) -> &Path {
        &self.ca_cert_path
    }

    /// The env file written, if one was configured.
    pub fn env_file(&self) -> Option<&Path> {
        self.env_file.as_deref()
    }

    /// The variables the env file holds (`HTTPS_PROXY`, `HTTP_PROXY`, both
    /// cases, and `PROXY_CA_CERT_B64`), for handing to a child process.
    pub fn env_vars(&self) -> &[(String, String)] {
        &self.env
    }

    /// Stops accepting, lets open connections finish within the grace period,
    /// closes the rest, and removes the env file (so a stale one never says
    /// "listening").
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        self.remove_env_file();
    }

    fn remove_env_file(&self) {
        if let Some(path) = &self.env_file {
            if let Err(error) = envfile::remove_stale(path) {
                tracing::warn!(%error, "could not remove the env file");
            }
        }
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(server) = self.server.take() {
            server.abort();
            self.remove_env_file();
        }
    }
}
