//! The tests' one certificate authority, made with rcgen: a stand-in
//! "public" CA for upstream servers, proxy CAs whose PEM a sandbox hands
//! over, rogue CAs nobody trusts, and CAs with chosen validity windows
//! (expired, not yet valid) for the trust tests. Plus the rustls helpers
//! every test client and server shares (ring as the provider).
//!
//! ```
//! use nanoclaw_testkit::ca::TestCa;
//!
//! let ca = TestCa::new("test public root");
//! let leaf = ca.issue(&["upstream.test", "127.0.0.1"]);
//! assert!(ca.pem().starts_with("-----BEGIN CERTIFICATE-----"));
//! assert!(leaf.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
//! let _tls = leaf.server_config(&[b"h2", b"http/1.1"]);
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertifiedIssuer, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

/// A date `(year, month, day)`.
pub type Ymd = (i32, u8, u8);

/// Where [`TestCa::new`]'s validity window starts.
pub const VALID_FROM: Ymd = (2020, 1, 1);
/// Where [`TestCa::new`]'s validity window ends.
pub const VALID_UNTIL: Ymd = (2100, 1, 1);

/// A self-signed CA that issues server certificates for any names.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pem: String,
    valid: (Ymd, Ymd),
}

impl TestCa {
    /// A CA named `common_name` (subject `CN=<common_name>` alone), valid
    /// from [`VALID_FROM`] to [`VALID_UNTIL`].
    pub fn new(common_name: &str) -> Self {
        Self::valid_between(common_name, VALID_FROM, VALID_UNTIL)
    }

    /// A CA named `common_name`, valid between two dates; the certificates it
    /// issues carry the same window. Past or future windows make expired or
    /// not-yet-valid CAs.
    pub fn valid_between(common_name: &str, from: Ymd, until: Ymd) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, (from, until));
        let key = KeyPair::generate().expect("CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("CA certificate");
        TestCa {
            pem: issuer.pem(),
            issuer,
            valid: (from, until),
        }
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The CA's private key, PEM (PKCS#8).
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// Writes the CA certificate to `dir/<file>` and returns the path.
    pub fn write_pem(&self, dir: &Path, file: &str) -> PathBuf {
        let path = dir.join(file);
        std::fs::write(&path, &self.pem).expect("write CA PEM");
        path
    }

    /// A server (leaf, not CA) certificate for `names` (DNS names or IPs),
    /// subject `CN=<first name>`, valid as long as the CA.
    pub fn issue(&self, names: &[&str]) -> ServerCert {
        let owned: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(owned).expect("leaf params");
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("server"),
        );
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, self.valid);
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        ServerCert {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key_der: PrivatePkcs8KeyDer::from(key.serialize_der()),
        }
    }

    /// A rustls server configuration presenting a certificate for `names`,
    /// offering `alpn` (e.g. `[b"h2", b"http/1.1"]`).
    pub fn server_config(&self, names: &[&str], alpn: &[&[u8]]) -> Arc<ServerConfig> {
        self.issue(names).server_config(alpn)
    }
}

fn set_validity(params: &mut CertificateParams, (from, until): (Ymd, Ymd)) {
    params.not_before = date_time_ymd(from.0, from.1, from.2);
    params.not_after = date_time_ymd(until.0, until.1, until.2);
}

/// A server certificate with its key.
pub struct ServerCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The certificate, DER.
    pub cert_der: CertificateDer<'static>,
    /// The private key, PKCS#8 DER.
    pub key_der: PrivatePkcs8KeyDer<'static>,
}

impl ServerCert {
    /// The chain a server presents: the certificate alone.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![self.cert_der.clone()]
    }

    /// The key as rustls takes it.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key_der.clone_key())
    }

    /// The key, PEM (`PRIVATE KEY`, PKCS#8), for servers that read files.
    pub fn key_pem(&self) -> String {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(self.key_der.secret_pkcs8_der());
        let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END PRIVATE KEY-----\n");
        pem
    }

    /// A rustls server configuration presenting this certificate, offering `alpn`.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Arc<ServerConfig> {
        let mut config = ServerConfig::builder_with_provider(ring())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(self.chain(), self.private_key())
            .expect("server certificate");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

/// The provider every test client and server uses.
pub fn ring() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate of PEM text, DER; panics on text that is not PEM.
pub fn certs_from_pem(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("not PEM certificates ({e}):\n{pem}"))
}

/// The first certificate of PEM text, DER (a proxy's CA as a client's extra root).
pub fn cert_der_from_pem(pem: &str) -> CertificateDer<'static> {
    certs_from_pem(pem)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no certificate in:\n{pem}"))
}

/// A TLS client configuration trusting exactly these PEM CAs, offering `alpn`.
pub fn client_config(trusted_pems: &[&str], alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for pem in trusted_pems {
        for cert in certs_from_pem(pem) {
            roots.add(cert).expect("CA certificate");
        }
    }
    let mut config = ClientConfig::builder_with_provider(ring())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A server name for rustls: DNS name or IP literal.
pub fn server_name(host: &str) -> ServerName<'static> {
    ServerName::try_from(host.to_string()).expect("server name")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_pem_holds_the_key_der() {
        let cert = TestCa::new("ca").issue(&["a.test"]);
        let der = PrivateKeyDer::from_pem_slice(cert.key_pem().as_bytes()).expect("a PEM key");
        assert_eq!(der.secret_der(), cert.key_der.secret_pkcs8_der());
    }

    #[test]
    fn pem_and_der_are_the_same_certificate() {
        let ca = TestCa::new("ca");
        assert_eq!(cert_der_from_pem(ca.pem()), ca.cert_der());
    }
}
