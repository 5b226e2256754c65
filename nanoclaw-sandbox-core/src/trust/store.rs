//! [`TrustStore`]: the proxy's CA certificates, checked and ready to hand out.

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::time::ASN1Time;

use super::pem::{self, MAX_CA_FILE_BYTES};
use super::TrustError;

const SECONDS_PER_DAY: i64 = 24 * 60 * 60;

/// The proxy's CA certificates: parsed from PEM, each one checked to be a CA
/// (basicConstraints `CA:TRUE`) and within its validity period.
///
/// One value feeds both consumers: the HTTP client adds
/// [`ca_certificates`](Self::ca_certificates) to its roots, and
/// [`TrustDir`](super::TrustDir) writes them for containers.
#[derive(Clone, PartialEq, Eq)]
pub struct TrustStore {
    certs: Vec<CertificateDer<'static>>,
    info: Vec<CaInfo>,
}

/// What the doctor shows about one CA certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaInfo {
    subject: String,
    not_before: i64,
    not_after: i64,
}

impl TrustStore {
    /// Checks PEM text (`origin` names it in errors) against the clock now.
    pub fn from_pem(bytes: &[u8], origin: &str) -> Result<Self, TrustError> {
        Self::from_pem_at(bytes, origin, SystemTime::now())
    }

    /// Checks PEM text as of `now`: every certificate must be a CA valid at `now`.
    pub fn from_pem_at(bytes: &[u8], origin: &str, now: SystemTime) -> Result<Self, TrustError> {
        let certs = pem::certificates_in(bytes, origin, MAX_CA_FILE_BYTES)?;
        let now = unix_seconds(now);
        let info = certs
            .iter()
            .enumerate()
            .map(|(i, der)| check_ca(der, origin, i + 1, now))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustStore { certs, info })
    }

    /// Reads and checks a PEM file (at most 1 MiB).
    pub fn from_file(path: &Path) -> Result<Self, TrustError> {
        let bytes = Self::read_file_bytes(path)?;
        Self::from_pem(&bytes, &format!("`{}`", path.display()))
    }

    /// A CA file's bytes, unchecked but size-limited: for callers that keep
    /// the raw bytes to notice rotation.
    pub(crate) fn read_file_bytes(path: &Path) -> Result<Vec<u8>, TrustError> {
        pem::read_limited(path, MAX_CA_FILE_BYTES)
    }

    /// The CA certificates, for an HTTP client's extra roots.
    pub fn ca_certificates(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }

    /// One entry per certificate, in file order.
    pub fn info(&self) -> &[CaInfo] {
        &self.info
    }

    /// The certificates as PEM: what `proxy-ca.pem` holds.
    pub fn to_pem(&self) -> String {
        pem::encode(&self.certs)
    }
}

impl fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.info.iter().map(CaInfo::subject))
            .finish()
    }
}

impl CaInfo {
    /// The subject, e.g. `CN=mitmproxy, O=mitmproxy`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Start of validity.
    pub fn not_before(&self) -> SystemTime {
        system_time(self.not_before)
    }

    /// End of validity.
    pub fn not_after(&self) -> SystemTime {
        system_time(self.not_after)
    }

    /// End of validity as `YYYY-MM-DD HH:MM:SS UTC`.
    pub fn not_after_text(&self) -> String {
        format_unix(self.not_after)
    }

    /// Whole days from `now` until the end of validity (negative once expired).
    pub fn days_until_expiry(&self, now: SystemTime) -> i64 {
        (self.not_after - unix_seconds(now)).div_euclid(SECONDS_PER_DAY)
    }
}

impl fmt::Display for CaInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (valid until {})",
            self.subject,
            self.not_after_text()
        )
    }
}

fn check_ca(
    der: &CertificateDer<'_>,
    origin: &str,
    index: usize,
    now: i64,
) -> Result<CaInfo, TrustError> {
    let (_, cert) =
        X509Certificate::from_der(der.as_ref()).map_err(|e| TrustError::BadCertificate {
            origin: origin.to_string(),
            index,
            reason: e.to_string(),
        })?;
    let subject = cert.subject().to_string();
    let validity = cert.validity();
    let (not_before, not_after) = (
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    );
    if !cert.is_ca() {
        return Err(TrustError::NotCa {
            origin: origin.to_string(),
            subject,
        });
    }
    if now < not_before {
        return Err(TrustError::NotYetValid {
            origin: origin.to_string(),
            subject,
            not_before: format_unix(not_before),
        });
    }
    if now > not_after {
        return Err(TrustError::Expired {
            origin: origin.to_string(),
            subject,
            not_after: format_unix(not_after),
        });
    }
    Ok(CaInfo {
        subject,
        not_before,
        not_after,
    })
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

fn system_time(seconds: i64) -> SystemTime {
    let magnitude = Duration::from_secs(seconds.unsigned_abs());
    if seconds >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

fn format_unix(seconds: i64) -> String {
    match ASN1Time::from_timestamp(seconds) {
        Ok(t) => {
            let t = t.to_datetime();
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        }
        Err(_) => format!("{seconds} seconds after 1970-01-01 UTC"),
    }
}

/// A trust store holding a freshly generated CA: for the crate's unit tests.
#[cfg(test)]
pub(crate) fn generated_ca_store() -> TrustStore {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let pem = params
        .self_signed(&KeyPair::generate().unwrap())
        .unwrap()
        .pem();
    TrustStore::from_pem(pem.as_bytes(), "test CA").unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_convert_both_ways() {
        for s in [-86_400, 0, 1_700_000_000] {
            assert_eq!(unix_seconds(system_time(s)), s);
        }
        assert_eq!(format_unix(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_unix(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }

    #[test]
    fn days_until_expiry_rounds_down_and_goes_negative() {
        let info = CaInfo {
            subject: "CN=x".into(),
            not_before: 0,
            not_after: 10 * SECONDS_PER_DAY,
        };
        assert_eq!(info.days_until_expiry(system_time(0)), 10);
        assert_eq!(info.days_until_expiry(system_time(SECONDS_PER_DAY + 1)), 8);
        assert_eq!(
            info.days_until_expiry(system_time(11 * SECONDS_PER_DAY)),
            -1
        );
    }
}
