//! The stand-in's certificate authority: generated once with rcgen (or loaded
//! from the CA directory), then reused across restarts so that clients that
//! trust it keep trusting it; and the per-host leaf certificates it issues,
//! cached while they are fresh.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::error::StandinError;
use super::fsutil;

/// The CA certificate's file name: Docker Sandboxes' name for it.
pub const CA_CERT_FILE: &str = "proxy-ca.crt";
/// The CA key's file name (mode 0600).
pub const CA_KEY_FILE: &str = "proxy-ca.key";

const CA_COMMON_NAME: &str = "nanoclaw-sandbox stand-in proxy CA";
const DAY: Duration = Duration::from_secs(24 * 60 * 60);
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);
/// Short-lived leaves, as an intercepting proxy's should be; renewed at half life.
const LEAF_VALIDITY: Duration = Duration::from_secs(30 * 24 * 60 * 60);
/// A bound on the cache, so a client naming endless hosts cannot grow it forever.
const LEAF_CACHE_LIMIT: usize = 4096;

/// The CA and its leaf cache.
pub(crate) struct CertificateAuthority {
    cert_pem: String,
    cert_path: PathBuf,
    issuer: Issuer<'static, KeyPair>,
    provider: Arc<CryptoProvider>,
    leaves: Mutex<HashMap<String, CachedLeaf>>,
}

struct CachedLeaf {
    key: Arc<CertifiedKey>,
    renew_after: SystemTime,
}

impl CertificateAuthority {
    /// Loads the CA from `dir`, or generates one there when the directory has
    /// neither file. Half a CA (one file without the other), a key that does
    /// not match the certificate, or an expired CA is an error, never silently
    /// replaced: clients may trust the old one.
    pub(crate) fn load_or_generate(
        dir: &Path,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, StandinError> {
        let dir_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StandinError::CaDir { path, source }
        };
        fsutil::create_private_dir(dir).map_err(dir_error(dir))?;
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let cert = fsutil::read_if_present(&cert_path).map_err(dir_error(&cert_path))?;
        let key = fsutil::read_if_present(&key_path).map_err(dir_error(&key_path))?;
        let (cert_pem, issuer) = match (cert, key) {
            (Some(cert), Some(key)) => {
                warn_if_key_is_shared(&key_path);
                let issuer = load(&cert, &cert_path, &key, &key_path)?;
                (cert, issuer)
            }
            (None, None) => generate(&cert_path, &key_path)?,
            (Some(_), None) => return Err(half_a_ca(&key_path, CA_CERT_FILE)),
            (None, Some(_)) => return Err(half_a_ca(&cert_path, CA_KEY_FILE)),
        };
        Ok(CertificateAuthority {
            cert_pem,
            cert_path,
            issuer,
            provider,
            leaves: Mutex::new(HashMap::new()),
        })
    }

    /// The CA certificate as PEM (public; never the key).
    pub(crate) fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Where the CA certificate is stored.
    pub(crate) fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// A leaf certificate for `host` (a name, or an IP literal which gets an
    /// IP SAN), from the cache while it is fresh.
    pub(crate) fn leaf_for(&self, host: &str) -> Result<Arc<CertifiedKey>, String> {
        let now = SystemTime::now();
        if let Some(leaf) = self.cache().get(host).filter(|leaf| now < leaf.renew_after) {
            return Ok(Arc::clone(&leaf.key));
        }
        let key = Arc::new(self.issue(host)?);
        let mut cache = self.cache();
        if cache.len() >= LEAF_CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(
            host.to_string(),
            CachedLeaf {
                key: Arc::clone(&key),
                renew_after: now + LEAF_VALIDITY / 2,
            },
        );
        Ok(key)
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, CachedLeaf>> {
        // A panic while holding the lock cannot leave the map inconsistent
        // (inserts are single calls): keep using it.
        self.leaves
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn issue(&self, host: &str) -> Result<CertifiedKey, String> {
        let fail = |what: &str, e: &dyn std::fmt::Display| format!("{what} for `{host}`: {e}");
        // `new` makes an IP SAN for an IP literal, a DNS SAN otherwise.
        let mut params = CertificateParams::new(vec![host.to_string()])
            .map_err(|e| fail("no certificate name", &e))?;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, host);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, LEAF_VALIDITY);
        // A key per leaf: rcgen derives the serial from it, so serials differ.
        let key = KeyPair::generate().map_err(|e| fail("no leaf key", &e))?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| fail("no leaf certificate", &e))?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        CertifiedKey::from_der(vec![cert.der().clone()], key_der, &self.provider)
            .map_err(|e| fail("unusable leaf", &e))
    }
}

fn half_a_ca(missing: &Path, present: &str) -> StandinError {
    StandinError::CaInvalid {
        path: missing.to_path_buf(),
        reason: format!("it is missing while `{present}` exists"),
    }
}

fn generate(
    cert_path: &Path,
    key_path: &Path,
) -> Result<(String, Issuer<'static, KeyPair>), StandinError> {
    let generate_error = |e: rcgen::Error| StandinError::CaGenerate {
        reason: e.to_string(),
    };
    let key = KeyPair::generate().map_err(generate_error)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, CA_COMMON_NAME);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "nanoclaw-sandbox");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, CA_VALIDITY);
    let cert = params.self_signed(&key).map_err(generate_error)?;
    let cert_pem = cert.pem();
    // The key first: a certificate without its key would be "half a CA".
    let write = |path: &Path, text: &str, mode| {
        fsutil::write_atomically(path, text.as_bytes(), mode).map_err(|source| {
            StandinError::CaDir {
                path: path.to_path_buf(),
                source,
            }
        })
    };
    write(key_path, &key.serialize_pem(), 0o600)?;
    write(cert_path, &cert_pem, 0o644)?;
    tracing::info!(cert = %cert_path.display(), "generated a new stand-in CA");
    Ok((cert_pem, Issuer::new(params, key)))
}

fn load(
    cert_pem: &str,
    cert_path: &Path,
    key_pem: &str,
    key_path: &Path,
) -> Result<Issuer<'static, KeyPair>, StandinError> {
    let invalid = |path: &Path, reason: String| StandinError::CaInvalid {
        path: path.to_path_buf(),
        reason,
    };
    let key = KeyPair::from_pem(key_pem)
        .map_err(|e| invalid(key_path, format!("not a private key rcgen can use: {e}")))?;
    let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| invalid(cert_path, format!("no PEM certificate in it: {e}")))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| invalid(cert_path, format!("not an X.509 certificate: {e}")))?;
    if !cert.is_ca() {
        return Err(invalid(cert_path, "it is not a CA certificate".into()));
    }
    if !cert.validity().is_valid() {
        return Err(invalid(
            cert_path,
            format!(
                "it is not valid now (valid until {})",
                cert.validity().not_after
            ),
        ));
    }
    if cert.public_key().raw != rcgen::PublicKeyData::subject_public_key_info(&key).as_slice() {
        return Err(invalid(
            key_path,
            format!("it is not the key of `{}`", cert_path.display()),
        ));
    }
    Issuer::from_ca_cert_der(&der, key)
        .map_err(|e| invalid(cert_path, format!("rcgen cannot issue with it: {e}")))
}

/// Sets a validity from a day ago (clock skew) to `ahead` from now.
fn set_validity(params: &mut CertificateParams, ahead: Duration) {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let now = rcgen::date_time_ymd(1970, 1, 1) + since_epoch;
    params.not_before = now - DAY;
    params.not_after = now + ahead;
}

/// A CA key readable by others lets them intercept whatever trusts the CA:
/// say so (the file is the user's to fix; we never loosen or rewrite it).
fn warn_if_key_is_shared(key_path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(key_path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    key = %key_path.display(),
                    "the stand-in CA key is readable by other users: run `chmod 600` on it"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = key_path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_then_reloads_the_same_ca() {
        let dir = tempfile::tempdir().unwrap();
        let first =
            CertificateAuthority::load_or_generate(dir.path(), crate::crypto::crypto_provider())
                .unwrap();
        let second =
            CertificateAuthority::load_or_generate(dir.path(), crate::crypto::crypto_provider())
                .unwrap();
        assert_eq!(first.cert_pem(), second.cert_pem());
        assert!(first.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(!first.cert_pem().contains("PRIVATE KEY"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(CA_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn leaves_are_cached_and_carry_the_right_san() {
        let dir = tempfile::tempdir().unwrap();
        let ca =
            CertificateAuthority::load_or_generate(dir.path(), crate::crypto::crypto_provider())
                .unwrap();
        let a = ca.leaf_for("api.test").unwrap();
        assert!(Arc::ptr_eq(&a, &ca.leaf_for("api.test").unwrap()));
        let (_, leaf) = x509_parser::parse_x509_certificate(&a.cert[0]).unwrap();
        let san = leaf.subject_alternative_name().unwrap().unwrap();
        assert_eq!(
            format!("{:?}", san.value.general_names),
            r#"[DNSName("api.test")]"#
        );
        let ip = ca.leaf_for("127.0.0.1").unwrap();
        let (_, leaf) = x509_parser::parse_x509_certificate(&ip.cert[0]).unwrap();
        let san = leaf.subject_alternative_name().unwrap().unwrap();
        assert_eq!(
            format!("{:?}", san.value.general_names),
            "[IPAddress([127, 0, 0, 1])]"
        );
        assert!(!leaf.is_ca());
    }

    #[test]
    fn half_a_ca_or_a_foreign_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        CertificateAuthority::load_or_generate(dir.path(), crate::crypto::crypto_provider())
            .unwrap();
        let other = tempfile::tempdir().unwrap();
        CertificateAuthority::load_or_generate(other.path(), crate::crypto::crypto_provider())
            .unwrap();
        std::fs::copy(other.path().join(CA_KEY_FILE), dir.path().join(CA_KEY_FILE)).unwrap();
        let err =
            CertificateAuthority::load_or_generate(dir.path(), crate::crypto::crypto_provider())
                .err()
                .unwrap();
        assert!(err.to_string().contains("is not the key of"), "{err}");
        std::fs::remove_file(dir.path().join(CA_KEY_FILE)).unwrap();
        let err =
            CertificateAuthority::load_or_generate(dir.path(), crate::crypto::crypto_provider())
                .err()
                .unwrap();
        assert!(matches!(err, StandinError::CaInvalid { .. }), "{err}");
        assert!(err.to_string().contains("delete"), "{err}");
    }
}
