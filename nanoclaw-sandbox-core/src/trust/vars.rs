//! The trust variables: which tool reads which variable, and which file it gets.
//!
//! This table is the only place that knows them; the patcher, the docs' table
//! test and the doctor all read it.

use std::fmt;

/// The directory containers see the trust files in. A directory mount, never
/// a single-file mount: a file mount pins the inode (a rotated CA would not
/// show) and an image symlink at the target could redirect it.
pub const CONTAINER_CA_DIR: &str = "/etc/nanoclaw/ca";

/// The file holding the proxy CA alone.
pub const CA_FILE_NAME: &str = "proxy-ca.pem";

/// The file holding the system roots followed by the proxy CA.
pub const BUNDLE_FILE_NAME: &str = "ca-bundle.pem";

/// [`CA_FILE_NAME`] as containers see it.
pub const CONTAINER_CA_FILE: &str = "/etc/nanoclaw/ca/proxy-ca.pem";

/// [`BUNDLE_FILE_NAME`] as containers see it.
pub const CONTAINER_BUNDLE_FILE: &str = "/etc/nanoclaw/ca/ca-bundle.pem";

/// How a tool uses its trust variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrustVarKind {
    /// The file is trusted *in addition to* the tool's own roots: it gets the
    /// proxy CA alone.
    Additive,
    /// The file *replaces* the tool's roots: it gets the combined bundle,
    /// never the CA alone (that would break every host the proxy lets through
    /// with its real certificate).
    Replacing,
}

impl TrustVarKind {
    /// The file, inside [`CONTAINER_CA_DIR`], this kind of variable points at.
    pub fn file_name(self) -> &'static str {
        match self {
            TrustVarKind::Additive => CA_FILE_NAME,
            TrustVarKind::Replacing => BUNDLE_FILE_NAME,
        }
    }

    /// The full container path this kind of variable points at.
    pub fn container_path(self) -> &'static str {
        match self {
            TrustVarKind::Additive => CONTAINER_CA_FILE,
            TrustVarKind::Replacing => CONTAINER_BUNDLE_FILE,
        }
    }
}

impl fmt::Display for TrustVarKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrustVarKind::Additive => "additive",
            TrustVarKind::Replacing => "replacing",
        })
    }
}

/// One trust variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustVar {
    /// The variable's name.
    pub name: &'static str,
    /// Additive or replacing.
    pub kind: TrustVarKind,
    /// The tools that read it.
    pub read_by: &'static str,
}

impl TrustVar {
    /// The value containers get.
    pub fn container_value(&self) -> &'static str {
        self.kind.container_path()
    }
}

/// Node's (and Bun's) additive trust variable. Detection also reads it on the
/// host: a file it names holds extra CAs by definition, so it is tried first
/// for the proxy CA.
pub const NODE_EXTRA_CA_CERTS: TrustVar = TrustVar {
    name: "NODE_EXTRA_CA_CERTS",
    kind: TrustVarKind::Additive,
    // Bun honours it too, additively (oven-sh/bun#13150), and has no
    // trust variable of its own.
    read_by: "Node.js, Bun",
};

/// The replacing trust variable of OpenSSL and the tools built on it.
/// Detection also reads it on the host, after [`NODE_EXTRA_CA_CERTS`].
pub const SSL_CERT_FILE: TrustVar = TrustVar {
    name: "SSL_CERT_FILE",
    kind: TrustVarKind::Replacing,
    read_by: "OpenSSL, Python ssl, Go, Ruby, rustls-native-certs",
};

/// Every trust variable the patcher sets, additive ones first.
pub const TRUST_VARS: &[TrustVar] = &[
    NODE_EXTRA_CA_CERTS,
    TrustVar {
        name: "DENO_CERT",
        kind: TrustVarKind::Additive,
        read_by: "Deno",
    },
    SSL_CERT_FILE,
    TrustVar {
        name: "REQUESTS_CA_BUNDLE",
        kind: TrustVarKind::Replacing,
        read_by: "Python requests",
    },
    TrustVar {
        name: "CURL_CA_BUNDLE",
        kind: TrustVarKind::Replacing,
        read_by: "curl",
    },
    TrustVar {
        name: "GIT_SSL_CAINFO",
        kind: TrustVarKind::Replacing,
        read_by: "git",
    },
    TrustVar {
        name: "PIP_CERT",
        kind: TrustVarKind::Replacing,
        read_by: "pip",
    },
    TrustVar {
        name: "AWS_CA_BUNDLE",
        kind: TrustVarKind::Replacing,
        read_by: "AWS CLI and SDKs",
    },
    TrustVar {
        name: "CARGO_HTTP_CAINFO",
        kind: TrustVarKind::Replacing,
        read_by: "cargo",
    },
];

/// The table entry for `name`, when it is a trust variable.
pub fn trust_var(name: &str) -> Option<&'static TrustVar> {
    TRUST_VARS.iter().find(|v| v.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_are_inside_the_ca_dir() {
        assert_eq!(
            CONTAINER_CA_FILE,
            format!("{CONTAINER_CA_DIR}/{CA_FILE_NAME}")
        );
        assert_eq!(
            CONTAINER_BUNDLE_FILE,
            format!("{CONTAINER_CA_DIR}/{BUNDLE_FILE_NAME}")
        );
    }

    #[test]
    fn replacing_variables_never_get_the_ca_alone() {
        for var in TRUST_VARS {
            let expected = match var.kind {
                TrustVarKind::Additive => CONTAINER_CA_FILE,
                TrustVarKind::Replacing => CONTAINER_BUNDLE_FILE,
            };
            assert_eq!(var.container_value(), expected, "{}", var.name);
        }
        let additive: Vec<_> = TRUST_VARS
            .iter()
            .filter(|v| v.kind == TrustVarKind::Additive)
            .map(|v| v.name)
            .collect();
        assert_eq!(additive, ["NODE_EXTRA_CA_CERTS", "DENO_CERT"]);
        assert_eq!(TRUST_VARS.len(), 9);
    }

    #[test]
    fn lookup_by_name() {
        assert_eq!(
            trust_var("PIP_CERT").map(|v| v.kind),
            Some(TrustVarKind::Replacing)
        );
        assert!(trust_var("HOME").is_none());
    }
}
