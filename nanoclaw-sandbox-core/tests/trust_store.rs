//! `TrustStore`: every kind of bad CA input gets its own error naming the input.

use std::time::{Duration, SystemTime};

use nanoclaw_sandbox_core::trust::{TrustError, TrustStore};
use nanoclaw_testkit::ca::TestCa;

fn load(bytes: &[u8]) -> Result<TrustStore, TrustError> {
    TrustStore::from_pem(bytes, "`test.pem`")
}

#[test]
fn a_valid_ca_loads_with_its_details() {
    let ca = TestCa::new("Test Proxy CA");
    let store = load(ca.pem().as_bytes()).unwrap();
    assert_eq!(store.ca_certificates().len(), 1);
    let info = &store.info()[0];
    assert_eq!(info.subject(), "CN=Test Proxy CA");
    assert_eq!(info.not_after_text(), "2100-01-01 00:00:00 UTC");
    let days = info.days_until_expiry(SystemTime::now());
    assert!(days > 365 * 70 && days < 365 * 80, "{days}");
    assert!(format!("{store:?}").contains("Test Proxy CA"));
    // What proxy-ca.pem gets reads back as the same store.
    assert_eq!(load(store.to_pem().as_bytes()).unwrap(), store);
}

#[test]
fn several_cas_in_one_file_are_all_kept() {
    let text = format!("{}\n{}", TestCa::new("one").pem(), TestCa::new("two").pem());
    let store = load(text.as_bytes()).unwrap();
    let subjects: Vec<_> = store.info().iter().map(|i| i.subject()).collect();
    assert_eq!(subjects, ["CN=one", "CN=two"]);
}

#[test]
fn crlf_pem_with_surrounding_text_is_accepted() {
    let pem = TestCa::new("crlf").pem().replace('\n', "\r\n");
    let text = format!("subject=CN = crlf\r\n{pem}");
    assert_eq!(load(text.as_bytes()).unwrap().info().len(), 1);
}

#[test]
fn empty_input_is_refused() {
    for input in [&b""[..], b"  \n\t\n"] {
        let err = load(input).unwrap_err();
        assert!(matches!(err, TrustError::Empty { .. }), "{err:?}");
        assert!(err.to_string().contains("`test.pem` is empty"), "{err}");
    }
}

#[test]
fn der_input_is_recognised_and_the_conversion_named() {
    let ca = TestCa::new("der");
    let der = load(ca.pem().as_bytes()).unwrap().ca_certificates()[0].to_vec();
    let err = load(&der).unwrap_err();
    assert!(matches!(err, TrustError::Der { .. }), "{err:?}");
    assert!(
        err.to_string().contains("openssl x509 -inform der"),
        "{err}"
    );
}

#[test]
fn text_without_pem_is_refused() {
    let err = load(b"hello, this is not a certificate\n").unwrap_err();
    assert!(matches!(err, TrustError::NotPem { .. }), "{err:?}");
}

#[test]
fn pem_that_is_not_a_certificate_names_what_it_holds() {
    let text = b"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n";
    let err = load(text).unwrap_err();
    match &err {
        TrustError::NotCertificate { found, .. } => assert_eq!(found, "PUBLIC KEY"),
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string()
            .contains("holds PUBLIC KEY, not a certificate"),
        "{err}"
    );
}

#[test]
fn a_private_key_is_refused_alone_or_with_the_certificate() {
    let ca = TestCa::new("keyed");
    for text in [ca.key_pem(), format!("{}{}", ca.pem(), ca.key_pem())] {
        let err = load(text.as_bytes()).unwrap_err();
        assert!(
            matches!(err, TrustError::PrivateKeyIncluded { .. }),
            "{err:?}"
        );
        // The key's bytes never reach the message.
        assert!(!err.to_string().contains("MII"), "{err}");
    }
}

#[test]
fn malformed_pem_is_refused() {
    let pem = TestCa::new("cut").pem().to_string();
    let cut = &pem[..pem.find("-----END").unwrap()];
    let err = load(cut.as_bytes()).unwrap_err();
    assert!(matches!(err, TrustError::BadPem { .. }), "{err:?}");
    let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let err = load(garbage).unwrap_err();
    assert!(
        matches!(err, TrustError::BadCertificate { index: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn a_leaf_certificate_is_not_a_ca() {
    let ca = TestCa::new("issuer");
    let leaf = ca.issue(&["api.example.test"]).cert_pem;
    let err = load(leaf.as_bytes()).unwrap_err();
    match &err {
        TrustError::NotCa { subject, .. } => assert_eq!(subject, "CN=api.example.test"),
        other => panic!("{other:?}"),
    }
    // One leaf among CAs spoils the file.
    let mixed = format!("{}{}", ca.pem(), leaf);
    assert!(matches!(
        load(mixed.as_bytes()),
        Err(TrustError::NotCa { .. })
    ));
}

#[test]
fn expired_and_not_yet_valid_cas_say_their_dates() {
    let old = TestCa::valid_between("old", (2001, 1, 1), (2021, 1, 1));
    let err = load(old.pem().as_bytes()).unwrap_err();
    assert!(matches!(err, TrustError::Expired { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("expired on 2021-01-01 00:00:00 UTC"),
        "{err}"
    );

    let future = TestCa::valid_between("future", (2090, 6, 1), (2100, 1, 1));
    let err = load(future.pem().as_bytes()).unwrap_err();
    assert!(matches!(err, TrustError::NotYetValid { .. }), "{err:?}");
    assert!(
        err.to_string().contains("not valid before 2090-06-01"),
        "{err}"
    );
}

#[test]
fn validity_is_judged_at_the_time_given() {
    let ca = TestCa::valid_between("window", (2030, 1, 1), (2031, 1, 1));
    let in_2030 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
    assert!(TrustStore::from_pem_at(ca.pem().as_bytes(), "x", in_2030).is_ok());
    let in_2040 = SystemTime::UNIX_EPOCH + Duration::from_secs(2_220_000_000);
    assert!(matches!(
        TrustStore::from_pem_at(ca.pem().as_bytes(), "x", in_2040),
        Err(TrustError::Expired { .. })
    ));
}

#[test]
fn files_over_one_mebibyte_are_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.pem");
    let mut text = TestCa::new("big").pem().to_string();
    while text.len() <= 1 << 20 {
        text.push_str("# padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&path, &text).unwrap();
    let err = TrustStore::from_file(&path).unwrap_err();
    assert!(
        matches!(err, TrustError::TooLarge { limit: 1048576, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("huge.pem"), "{err}");
}

#[test]
fn an_unreadable_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.pem");
    let err = TrustStore::from_file(&path).unwrap_err();
    assert!(matches!(err, TrustError::Unreadable { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn a_file_source_names_its_path_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leaf.pem");
    std::fs::write(&path, TestCa::new("i").issue(&["leaf.test"]).cert_pem).unwrap();
    let err = TrustStore::from_file(&path).unwrap_err();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}
