//! Reading certificates out of PEM text, and writing them back.
//!
//! Shared by the proxy CA ([`super::TrustStore`]) and the system roots
//! ([`super::SystemRoots`]) so both refuse bad input the same way.

use std::io::Read;
use std::path::Path;

use base64::Engine;
use rustls_pki_types::pem::{PemObject, SectionKind};
use rustls_pki_types::CertificateDer;

use super::TrustError;

/// The most a proxy CA file may hold: a CA (or a short chain of them) is a
/// few KiB; anything near this is the wrong file.
pub(crate) const MAX_CA_FILE_BYTES: u64 = 1 << 20;

/// The most a system roots bundle may hold (Debian's is about 220 KiB).
pub(crate) const MAX_BUNDLE_FILE_BYTES: u64 = 16 << 20;

/// The UTF-8 encoding of U+FEFF, the byte order mark.
const UTF8_BOM: &[u8] = b"\xef\xbb\xbf";

/// The first byte of a DER `SEQUENCE`: how a binary certificate starts.
const DER_SEQUENCE_TAG: u8 = 0x30;

/// Reads `path`, refusing files over `limit` bytes before reading them whole.
pub(crate) fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, TrustError> {
    let unreadable = |source| TrustError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let too_large = |size| TrustError::TooLarge {
        origin: format!("`{}`", path.display()),
        size,
        limit,
    };
    let size = file.metadata().map_err(unreadable)?.len();
    if size > limit {
        return Err(too_large(size));
    }
    // The length can change between the check and the read (or be 0 for
    // special files), so the read itself is bounded too.
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

/// The certificates in `bytes`, refusing anything that is not PEM
/// certificates. `origin` names the input in errors. A private key anywhere in
/// the input is refused: what is read here gets copied into containers.
pub(crate) fn certificates_in(
    bytes: &[u8],
    origin: &str,
    limit: u64,
) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let origin = || origin.to_string();
    // A UTF-8 byte order mark (some Windows editors write one) is no PEM
    // text: read past it, or the first BEGIN line goes unseen.
    let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
    if bytes.len() as u64 > limit {
        return Err(TrustError::TooLarge {
            origin: origin(),
            size: bytes.len() as u64,
            limit,
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(TrustError::Empty { origin: origin() });
    }
    if bytes.first() == Some(&DER_SEQUENCE_TAG) {
        return Err(TrustError::Der { origin: origin() });
    }
    let labels = section_labels(bytes);
    if labels.is_empty() {
        return Err(TrustError::NotPem { origin: origin() });
    }
    if labels.iter().any(|l| l.contains("PRIVATE KEY")) {
        return Err(TrustError::PrivateKeyIncluded { origin: origin() });
    }
    let mut certs = Vec::new();
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes) {
        let (kind, der) = section.map_err(|e| TrustError::BadPem {
            origin: origin(),
            reason: e.to_string(),
        })?;
        if kind == SectionKind::Certificate {
            certs.push(CertificateDer::from(der));
        }
    }
    if certs.is_empty() {
        return Err(TrustError::NotCertificate {
            origin: origin(),
            found: labels.join(", "),
        });
    }
    Ok(certs)
}

/// The labels of every `-----BEGIN LABEL-----` line, known to rustls or not.
fn section_labels(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|line| {
            line.trim()
                .strip_prefix("-----BEGIN ")?
                .strip_suffix("-----")
                .map(str::to_string)
        })
        .collect()
}

/// `certs` as PEM text, one `CERTIFICATE` section each, 64-column base64.
pub(crate) fn encode(certs: &[CertificateDer<'_>]) -> String {
    let mut out = String::new();
    for cert in certs {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let body = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        for chunk in body.as_bytes().chunks(64) {
            // base64 output is ASCII, so every chunk is valid UTF-8.
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_and_parse_round_trip() {
        let der = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
        let pem = encode(std::slice::from_ref(&der));
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        let back = certificates_in(pem.as_bytes(), "test", MAX_CA_FILE_BYTES).unwrap();
        assert_eq!(back, vec![der]);
    }

    #[test]
    fn long_bodies_wrap_at_64_columns() {
        let der = CertificateDer::from(vec![7u8; 200]);
        let pem = encode(&[der]);
        assert!(pem.lines().all(|l| l.len() <= 64), "{pem}");
    }

    #[test]
    fn labels_are_listed_as_written() {
        let text = b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
        assert_eq!(section_labels(text), ["PUBLIC KEY"]);
    }
}
