//! The tests' "public" PKI: a CA standing in for the public roots, issuing
//! server certificates for test names. Upstreams present these; mitmproxy
//! verifies them against this CA (`ssl_verify_upstream_trusted_ca`), and the
//! combined bundle a container gets holds this CA where the system roots
//! would be.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::error::{Context, Result};

/// A certificate authority made for one test run.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

/// A server certificate with its key.
pub struct ServerCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The certificate, DER, for a rustls server.
    pub cert_der: CertificateDer<'static>,
    /// The private key, PKCS#8 DER.
    pub key_der: PrivatePkcs8KeyDer<'static>,
}

impl ServerCert {
    /// The key as rustls takes it.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key_der.clone_key())
    }
}

// Fixed, plainly valid dates: deterministic, and inside what every client
// accepts (rcgen's default ends in year 4096).
fn validity(params: &mut CertificateParams) {
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2045, 1, 1);
}

impl TestCa {
    /// A self-signed CA called `common_name`.
    pub fn new(common_name: &str) -> Result<Self> {
        let what = || format!("creating test CA `{common_name}`");
        let key = KeyPair::generate().context(what)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationName, "nanoclaw-sandbox tests");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params);
        let cert = params.self_signed(&key).context(what)?;
        Ok(Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn issue(&self, names: &[&str]) -> Result<ServerCert> {
        let what = || format!("issuing a server certificate for {names:?}");
        let key = KeyPair::generate().context(what)?;
        let owned: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(owned).context(what)?;
        params.distinguished_name.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("server"),
        );
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params);
        let cert = params.signed_by(&key, &self.issuer).context(what)?;
        Ok(ServerCert {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key_der: PrivatePkcs8KeyDer::from(key.serialize_der()),
        })
    }
}

/// The test "public" CA and its PEM on disk (mitmproxy reads it from a file).
pub struct TestPki {
    public_ca: TestCa,
    public_ca_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestPki {
    /// A fresh public CA, written to a temporary directory.
    pub fn new() -> Result<Self> {
        let public_ca = TestCa::new("nanoclaw test public root")?;
        let dir = tempfile::Builder::new()
            .prefix("nanoclaw-e2e-pki-")
            .tempdir()
            .context(|| "creating the PKI directory".to_string())?;
        let public_ca_path = dir.path().join("public-ca.pem");
        fs::write(&public_ca_path, public_ca.cert_pem())
            .context(|| format!("writing {}", public_ca_path.display()))?;
        Ok(Self {
            public_ca,
            public_ca_path,
            _dir: dir,
        })
    }

    /// The CA that stands in for the public roots.
    pub fn public_ca(&self) -> &TestCa {
        &self.public_ca
    }

    /// Where the public CA's PEM lies.
    pub fn public_ca_path(&self) -> &Path {
        &self.public_ca_path
    }
}
