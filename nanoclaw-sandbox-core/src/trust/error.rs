//! Why a CA file or a trust directory could not be used.

use std::path::PathBuf;

/// Why a proxy CA, a roots bundle or a trust directory was refused.
///
/// `origin` fields name the input: a file path, or the variable the PEM came
/// from (`PROXY_CA_CERT_B64`). Certificates are public, so subjects and dates
/// are shown as they are.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The file could not be read.
    #[error("cannot read the CA file `{}`: {source}: check that the path exists and is readable", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The input is larger than any CA file has reason to be.
    #[error("{origin} is {size} bytes, over the {limit}-byte limit for a CA file: give the proxy CA certificate alone")]
    TooLarge {
        /// Where the input came from.
        origin: String,
        /// Its size in bytes.
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// Nothing but whitespace.
    #[error("{origin} is empty: give a PEM file holding the proxy's CA certificate")]
    Empty {
        /// Where the input came from.
        origin: String,
    },
    /// A binary DER certificate where PEM text was expected.
    #[error("{origin} is binary DER, not PEM: convert it with `openssl x509 -inform der -in FILE -out FILE.pem`")]
    Der {
        /// Where the input came from.
        origin: String,
    },
    /// No PEM section at all.
    #[error("{origin} is not PEM (no `-----BEGIN CERTIFICATE-----` line): give the CA certificate in PEM form")]
    NotPem {
        /// Where the input came from.
        origin: String,
    },
    /// PEM that does not decode (missing END line, bad base64).
    #[error("{origin} is malformed PEM ({reason}): re-export the CA certificate")]
    BadPem {
        /// Where the input came from.
        origin: String,
        /// The decoder's reason.
        reason: String,
    },
    /// PEM sections, none of them a certificate.
    #[error("{origin} holds {found}, not a certificate: give the CA certificate (`-----BEGIN CERTIFICATE-----`)")]
    NotCertificate {
        /// Where the input came from.
        origin: String,
        /// The section labels found, e.g. `PUBLIC KEY`.
        found: String,
    },
    /// A private key next to the certificate: the key must not travel into containers.
    #[error("{origin} also holds a private key: give a file with the CA certificate only (for mitmproxy: `mitmproxy-ca-cert.pem`)")]
    PrivateKeyIncluded {
        /// Where the input came from.
        origin: String,
    },
    /// A certificate section that is not valid X.509.
    #[error("certificate #{index} in {origin} cannot be parsed ({reason}): re-export the CA certificate")]
    BadCertificate {
        /// Where the input came from.
        origin: String,
        /// 1-based position in the file.
        index: usize,
        /// The parser's reason.
        reason: String,
    },
    /// A leaf (server) certificate where a CA was expected.
    #[error("certificate `{subject}` in {origin} is not a CA (no basicConstraints CA:TRUE): give the proxy's CA certificate, not a server certificate")]
    NotCa {
        /// Where the input came from.
        origin: String,
        /// The certificate's subject.
        subject: String,
    },
    /// The certificate's validity has ended.
    #[error("CA certificate `{subject}` in {origin} expired on {not_after}: fetch the proxy's current CA")]
    Expired {
        /// Where the input came from.
        origin: String,
        /// The certificate's subject.
        subject: String,
        /// When it stopped being valid.
        not_after: String,
    },
    /// The certificate's validity has not begun.
    #[error("CA certificate `{subject}` in {origin} is not valid before {not_before}: check this machine's clock")]
    NotYetValid {
        /// Where the input came from.
        origin: String,
        /// The certificate's subject.
        subject: String,
        /// When it starts being valid.
        not_before: String,
    },
    /// Writing a trust file or its directory failed.
    #[error("cannot write `{}`: {source}: check that the directory is writable and the disk not full", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
}
