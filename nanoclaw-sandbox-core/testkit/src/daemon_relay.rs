//! A unix-socket relay in front of the machine's Docker daemon socket, which
//! a test can cut and restore: the daemon connection cut mid-run without
//! stopping the daemon (which other tests share).
//!
//! The relay listens on a socket of its own (in a directory the test
//! owns) and pipes each connection to the daemon's socket. [`cut`](DaemonRelay::cut)
//! drops every open connection and stops listening (the socket file goes
//! too, so a new connection fails as against a stopped daemon);
//! [`restore`](DaemonRelay::restore) listens again on the same path.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::net::{UnixListener, UnixStream};
use tokio::task::{AbortHandle, JoinHandle};

/// The machine's daemon socket: `DOCKER_HOST` when it is a `unix://` path,
/// else `/var/run/docker.sock`; `Err` (why) when `DOCKER_HOST` names
/// another kind of endpoint, which a unix relay cannot stand in front of.
pub fn daemon_socket() -> Result<PathBuf, String> {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.trim().is_empty() => match host.trim().strip_prefix("unix://") {
            Some(path) => Ok(PathBuf::from(path)),
            None => Err(format!(
                "DOCKER_HOST={host} is not a unix socket; the daemon relay needs one"
            )),
        },
        _ => Ok(PathBuf::from("/var/run/docker.sock")),
    }
}

/// A running (or cut) relay; cut when dropped.
pub struct DaemonRelay {
    path: PathBuf,
    daemon: PathBuf,
    accept: Option<JoinHandle<()>>,
    connections: Arc<Mutex<Vec<AbortHandle>>>,
}

impl DaemonRelay {
    /// Listens on `path` (which must not exist), relaying to `daemon`.
    pub fn start(path: &Path, daemon: &Path) -> std::io::Result<DaemonRelay> {
        let mut relay = DaemonRelay {
            path: path.to_path_buf(),
            daemon: daemon.to_path_buf(),
            accept: None,
            connections: Arc::default(),
        };
        relay.restore()?;
        Ok(relay)
    }

    /// `unix:///path/of/the/relay.sock`, for the runtime's options.
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// Cuts every open connection and stops listening (removing the socket
    /// file); returns how many connections were open.
    pub fn cut(&mut self) -> usize {
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        let _ = std::fs::remove_file(&self.path);
        let mut open = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        let cut = open.iter().filter(|c| !c.is_finished()).count();
        for connection in open.drain(..) {
            connection.abort();
        }
        cut
    }

    /// Listens again (on the same path).
    pub fn restore(&mut self) -> std::io::Result<()> {
        if self.accept.is_some() {
            return Ok(());
        }
        let listener = UnixListener::bind(&self.path)?;
        let daemon = self.daemon.clone();
        let connections = Arc::clone(&self.connections);
        self.accept = Some(tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let daemon = daemon.clone();
                let piped = tokio::spawn(async move {
                    if let Ok(mut upstream) = UnixStream::connect(&daemon).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                    }
                });
                let mut open = connections.lock().unwrap_or_else(|e| e.into_inner());
                open.retain(|c| !c.is_finished());
                open.push(piped.abort_handle());
            }
        }));
        Ok(())
    }
}

impl Drop for DaemonRelay {
    fn drop(&mut self) {
        self.cut();
    }
}
