//! What can go wrong, with the input named and the fix spelled out.
//!
//! [`StandinInputError`] is for the pure parsers (the CLI maps it to a usage
//! error); [`StandinError`] is for starting the stand-in.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::proxy::HostPatternError;

/// A command-line style input the stand-in cannot use.
///
/// Injection values are secrets: [`StandinInputError::Inject`] shows the
/// entry with its value replaced by `***`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StandinInputError {
    /// A host pattern (`--allow`, `--deny`, `--bypass`): the grammar's own
    /// error, shown as it is.
    #[error(transparent)]
    Pattern(#[from] HostPatternError),
    /// A `--map` entry.
    #[error(
        "map entry `{input}` is invalid ({reason}): write `HOST[:PORT]=IP:PORT`, \
         e.g. `api.test=127.0.0.1:8443` or `[::1]:443=[::1]:8443`"
    )]
    MapEntry {
        /// The entry as given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An `--inject` entry.
    #[error(
        "header injection `{shown}` is invalid ({reason}): write `HOST:HEADER=VALUE`, \
         e.g. `api.test:x-api-key=VALUE` (HOST may be a pattern such as `*.example.com`)"
    )]
    Inject {
        /// The entry with its value replaced by `***`.
        shown: String,
        /// What is wrong with it (never the value).
        reason: String,
    },
    /// A `--default` value.
    #[error("default policy `{input}` is unknown: use `allow` or `deny`")]
    DefaultPolicy {
        /// The value as given.
        input: String,
    },
    /// A `--listen` value.
    #[error(
        "listen address `{input}` is invalid ({reason}): write `IP:PORT` such as \
         `127.0.0.1:3128`, or just a port (port 0 picks a free one)"
    )]
    ListenAddr {
        /// The value as given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Why the stand-in could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StandinError {
    /// No CA directory was given and there is no per-user data directory.
    #[error(
        "no per-user data directory for the stand-in's CA (neither XDG_DATA_HOME nor HOME \
         is set): pass a CA directory (`--ca-dir DIR`)"
    )]
    NoCaDir,
    /// The CA directory cannot be created, read or written.
    #[error(
        "CA directory `{}` cannot be used ({source}): check its owner and permissions, \
         or pass another one (`--ca-dir DIR`)", path.display()
    )]
    CaDir {
        /// The directory or the file in it.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A CA file exists but cannot be used.
    #[error(
        "CA file `{}` cannot be used ({reason}): delete the CA directory's \
         `proxy-ca.crt` and `proxy-ca.key` to generate a fresh CA, or pass another `--ca-dir`",
        path.display()
    )]
    CaInvalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rcgen could not generate the CA.
    #[error(
        "the stand-in's CA could not be generated ({reason}): this is a bug, please report it"
    )]
    CaGenerate {
        /// rcgen's reason.
        reason: String,
    },
    /// An `--upstream-ca` file cannot be used.
    #[error(
        "upstream CA file `{}` cannot be used ({reason}): pass a readable PEM file with at \
         least one CERTIFICATE block", path.display()
    )]
    UpstreamCa {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the TLS configuration.
    #[error("TLS configuration failed ({reason}): check the crate's crypto provider features")]
    Tls {
        /// rustls's reason.
        reason: String,
    },
    /// The listen port is taken.
    #[error(
        "cannot listen on {addr}: the address is already in use; stop the process using it, \
         or pick another with `--listen IP:PORT` (port 0 picks a free one)"
    )]
    PortInUse {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// Binding failed for another reason.
    #[error(
        "cannot listen on {addr} ({source}): use a local address of this machine \
         (`--listen 127.0.0.1:3128`); ports below 1024 need privileges"
    )]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The env file cannot be written.
    #[error(
        "env file `{}` cannot be written ({source}): check that its directory exists and \
         is writable, or pass another `--env-file`", path.display()
    )]
    EnvFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}
