//! `SandboxEnv::detect_from`: the proxy variables' precedence and where the
//! proxy CA is found, without touching the process environment.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine;
use nanoclaw_sandbox_core::sandbox::{
    CaSource, DetectError, DetectOptions, EnvWarning, Mode, SandboxEnv,
};
use nanoclaw_testkit::ca::TestCa;

struct Fixture {
    dir: tempfile::TempDir,
    vars: HashMap<String, String>,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            dir: tempfile::tempdir().unwrap(),
            vars: HashMap::new(),
        }
    }

    fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    fn proxied(&mut self) -> &mut Self {
        self.set("HTTPS_PROXY", "http://gateway.docker.internal:3128")
    }

    /// Writes a fresh CA named `cn` to `name` in the fixture's directory.
    fn ca_file(&self, name: &str, cn: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, TestCa::new(cn).pem()).unwrap();
        path
    }

    fn options(&self) -> DetectOptions {
        DetectOptions::default()
            .with_sandbox_ca_path(self.dir.path().join("no-sandbox-ca.crt"))
            .with_system_bundle_paths([self.dir.path().join("system-bundle.crt")])
    }

    fn detect_with(&self, options: &DetectOptions) -> Result<SandboxEnv, DetectError> {
        SandboxEnv::detect_from(|name| self.vars.get(name).cloned(), options)
    }

    fn detect(&self) -> Result<SandboxEnv, DetectError> {
        self.detect_with(&self.options())
    }
}

fn ca_subject(env: &SandboxEnv) -> Option<String> {
    env.trust_store().map(|s| s.info()[0].subject().to_string())
}

#[test]
fn no_proxy_variable_means_standard_docker() {
    let mut fx = Fixture::new();
    let env = fx.detect().unwrap();
    assert_eq!(env.mode(), &Mode::StandardDocker);
    assert!(env.warnings().is_empty());
    // NO_PROXY alone routes nothing through a proxy.
    fx.set("NO_PROXY", "localhost").set("https_proxy", "");
    assert_eq!(fx.detect().unwrap().mode(), &Mode::StandardDocker);
}

#[test]
fn lowercase_wins_over_uppercase_with_a_redacted_warning() {
    let mut fx = Fixture::new();
    fx.set("https_proxy", "http://low:3128")
        .set("HTTPS_PROXY", "http://user:hunter2@up:3128")
        .set("HTTP_PROXY", "http://only-upper:3128")
        .set("no_proxy", ".a")
        .set("NO_PROXY", ".b");
    let env = fx.detect().unwrap();
    let proxy = env.proxy().unwrap();
    assert_eq!(proxy.https.as_ref().unwrap().expose(), "http://low:3128");
    assert_eq!(
        proxy.http.as_ref().unwrap().expose(),
        "http://only-upper:3128"
    );
    assert_eq!(proxy.no_proxy.as_deref(), Some(".a"));
    let conflicts: Vec<_> = env
        .warnings()
        .iter()
        .filter_map(|w| match w {
            EnvWarning::CaseConflict { used, ignored, .. } => Some((*used, *ignored)),
            _ => None,
        })
        .collect();
    assert_eq!(
        conflicts,
        [("https_proxy", "HTTPS_PROXY"), ("no_proxy", "NO_PROXY")]
    );
    let shown: String = env
        .warnings()
        .iter()
        .map(|w| format!("{w}\n{w:?}\n"))
        .collect();
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("using https_proxy"), "{shown}");
}

#[test]
fn an_unusable_proxy_variable_is_an_error_naming_it() {
    let mut fx = Fixture::new();
    fx.set("all_proxy", "socks5://u:secret@h:1080");
    let err = fx.detect().unwrap_err();
    assert!(
        matches!(
            err,
            DetectError::InvalidProxy {
                variable: "all_proxy",
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("all_proxy") && !text.contains("secret"),
        "{text}"
    );
}

#[test]
fn a_proxy_without_a_ca_is_a_plain_proxy() {
    let mut fx = Fixture::new();
    fx.proxied();
    let env = fx.detect().unwrap();
    assert!(
        matches!(env.mode(), Mode::Proxied { ca: None, .. }),
        "{env:?}"
    );
    assert!(env.trust_store().is_none());
}

#[test]
fn ca_sources_are_tried_in_order() {
    let mut fx = Fixture::new();
    fx.proxied();
    let explicit = fx.ca_file("explicit.pem", "explicit");
    let sandbox = fx.ca_file("sandbox.crt", "sandbox");
    let node = fx.ca_file("node.pem", "node");
    let ssl = fx.ca_file("ssl.pem", "ssl");
    let b64 = base64::engine::general_purpose::STANDARD.encode(TestCa::new("b64").pem());
    fx.set("PROXY_CA_CERT_B64", &b64)
        .set("NODE_EXTRA_CA_CERTS", node.to_str().unwrap())
        .set("SSL_CERT_FILE", ssl.to_str().unwrap());
    let all = fx
        .options()
        .with_sandbox_ca_path(&sandbox)
        .with_explicit_ca(&explicit);

    let env = fx.detect_with(&all).unwrap();
    assert_eq!(ca_subject(&env).as_deref(), Some("CN=explicit"));
    assert_eq!(
        env.mode().ca().unwrap().source(),
        &CaSource::ExplicitPath(explicit)
    );

    let no_explicit = fx.options().with_sandbox_ca_path(&sandbox);
    let env = fx.detect_with(&no_explicit).unwrap();
    assert_eq!(ca_subject(&env).as_deref(), Some("CN=b64"));
    assert_eq!(env.mode().ca().unwrap().source(), &CaSource::EnvBase64);

    fx.vars.remove("PROXY_CA_CERT_B64");
    let env = fx.detect_with(&no_explicit).unwrap();
    assert_eq!(ca_subject(&env).as_deref(), Some("CN=sandbox"));
    assert_eq!(
        env.mode().ca().unwrap().source(),
        &CaSource::SandboxPath(sandbox)
    );

    let env = fx.detect().unwrap();
    assert_eq!(ca_subject(&env).as_deref(), Some("CN=node"));
    assert_eq!(
        env.mode().ca().unwrap().source().to_string(),
        format!("NODE_EXTRA_CA_CERTS ({})", node.display())
    );

    fx.vars.remove("NODE_EXTRA_CA_CERTS");
    assert_eq!(ca_subject(&fx.detect().unwrap()).as_deref(), Some("CN=ssl"));
}

#[test]
fn the_b64_variable_tolerates_line_breaks_missing_padding_and_plain_pem() {
    let mut fx = Fixture::new();
    fx.proxied();
    let pem = TestCa::new("wrapped").pem().to_string();
    let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(&pem);
    let wrapped: Vec<String> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    fx.set("PROXY_CA_CERT_B64", &wrapped.join("\n"));
    assert_eq!(
        ca_subject(&fx.detect().unwrap()).as_deref(),
        Some("CN=wrapped")
    );
    fx.set("PROXY_CA_CERT_B64", &pem);
    assert_eq!(
        ca_subject(&fx.detect().unwrap()).as_deref(),
        Some("CN=wrapped")
    );
    fx.set("PROXY_CA_CERT_B64", "not base64 at all!");
    let err = fx.detect().unwrap_err();
    assert!(matches!(err, DetectError::BadBase64 { .. }), "{err:?}");
    assert!(err.to_string().contains("base64 -w0"), "{err}");
}

#[test]
fn variables_naming_the_system_bundle_are_not_the_proxy_ca() {
    let mut fx = Fixture::new();
    fx.proxied();
    let bundle = fx.ca_file("system-bundle.crt", "public root");
    let link = fx.dir.path().join("cert.pem");
    std::os::unix::fs::symlink(&bundle, &link).unwrap();
    fx.set("SSL_CERT_FILE", link.to_str().unwrap())
        .set("NODE_EXTRA_CA_CERTS", bundle.to_str().unwrap());
    let env = fx.detect().unwrap();
    assert!(env.trust_store().is_none(), "{env:?}");
    // The combined bundle this crate mounts is not the CA either.
    fx.set("SSL_CERT_FILE", "/etc/nanoclaw/ca/ca-bundle.pem");
    assert!(fx.detect().unwrap().trust_store().is_none());
}

#[test]
fn a_variable_naming_a_missing_file_is_skipped_with_a_warning() {
    let mut fx = Fixture::new();
    fx.proxied();
    let ssl = fx.ca_file("ssl.pem", "ssl");
    let missing = fx.dir.path().join("missing.pem");
    fx.set("NODE_EXTRA_CA_CERTS", missing.to_str().unwrap())
        .set("SSL_CERT_FILE", ssl.to_str().unwrap());
    let env = fx.detect().unwrap();
    assert_eq!(ca_subject(&env).as_deref(), Some("CN=ssl"));
    assert_eq!(
        env.warnings(),
        [EnvWarning::CaFileMissing {
            variable: "NODE_EXTRA_CA_CERTS",
            path: missing
        }]
    );
}

#[test]
fn a_ca_that_is_found_but_unusable_is_an_error_naming_it() {
    let mut fx = Fixture::new();
    fx.proxied();
    let sandbox = fx.dir.path().join("sandbox.crt");
    std::fs::write(&sandbox, TestCa::new("i").issue(&["leaf.test"]).cert_pem).unwrap();
    let err = fx
        .detect_with(&fx.options().with_sandbox_ca_path(&sandbox))
        .unwrap_err();
    assert!(matches!(err, DetectError::Ca { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&sandbox.display().to_string()) && text.contains("not a CA"),
        "{text}"
    );

    let missing = fx.dir.path().join("nope.pem");
    let err = fx
        .detect_with(&fx.options().with_explicit_ca(&missing))
        .unwrap_err();
    assert!(err.to_string().contains("nope.pem"), "{err}");
}

#[test]
fn a_ca_without_a_proxy_is_ignored_with_a_warning() {
    let mut fx = Fixture::new();
    fx.set("PROXY_CA_CERT_B64", "anything");
    let env = fx
        .detect_with(&fx.options().with_explicit_ca("/some/ca.pem"))
        .unwrap();
    assert_eq!(env.mode(), &Mode::StandardDocker);
    assert_eq!(env.warnings().len(), 2, "{:?}", env.warnings());
    assert!(env
        .warnings()
        .iter()
        .all(|w| matches!(w, EnvWarning::CaWithoutProxy { .. })));
}

fn rewrite(path: &Path, cn: &str) {
    std::fs::write(path, TestCa::new(cn).pem()).unwrap();
}

#[test]
fn reload_notices_a_rotated_ca_file() {
    let mut fx = Fixture::new();
    fx.proxied();
    let path = fx.ca_file("rotating.crt", "first");
    let mut env = fx
        .detect_with(&fx.options().with_sandbox_ca_path(&path))
        .unwrap();
    assert!(
        !env.reload_ca().unwrap(),
        "unchanged file reported as changed"
    );
    rewrite(&path, "second");
    assert!(env.reload_ca().unwrap());
    assert_eq!(ca_subject(&env).as_deref(), Some("CN=second"));
    // A broken rotation keeps the CA in use.
    std::fs::write(&path, "garbage").unwrap();
    assert!(env.reload_ca().is_err());
    assert_eq!(ca_subject(&env).as_deref(), Some("CN=second"));
}

#[test]
fn reload_of_the_b64_variable_or_no_ca_changes_nothing() {
    let mut fx = Fixture::new();
    fx.proxied();
    let b64 = base64::engine::general_purpose::STANDARD.encode(TestCa::new("b64").pem());
    fx.set("PROXY_CA_CERT_B64", &b64);
    let mut env = fx.detect().unwrap();
    assert!(!env.reload_ca().unwrap());
    let mut standard = Fixture::new().detect().unwrap();
    assert!(!standard.reload_ca().unwrap());
}
