//! Test certificates made with rcgen: CAs (valid, expired, not yet valid) and
//! leaves, as PEM. Shared by the trust, sandbox and patcher tests.
#![allow(dead_code)]

use rcgen::{date_time_ymd, BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A CA certificate with its key, and its PEM.
pub struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    /// The certificate as PEM.
    pub pem: String,
}

/// A CA named `cn`, valid from 2020 to 2100.
pub fn ca(cn: &str) -> TestCa {
    ca_valid(cn, (2020, 1, 1), (2100, 1, 1))
}

/// A CA named `cn`, valid between two dates `(year, month, day)`.
pub fn ca_valid(cn: &str, from: (i32, u8, u8), until: (i32, u8, u8)) -> TestCa {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.not_before = date_time_ymd(from.0, from.1, from.2);
    params.not_after = date_time_ymd(until.0, until.1, until.2);
    let key = KeyPair::generate().unwrap();
    let pem = params.self_signed(&key).unwrap().pem();
    TestCa { params, key, pem }
}

impl TestCa {
    /// A server (leaf) certificate for `name`, signed by this CA, as PEM.
    pub fn leaf_pem(&self, name: &str) -> String {
        let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::from_params(&self.params, &self.key);
        params.signed_by(&key, &issuer).unwrap().pem()
    }

    /// This CA's private key as PEM.
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }
}
