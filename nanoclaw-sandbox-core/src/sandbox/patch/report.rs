//! [`PatchReport`]: every change the sandbox layer made, for logs and the doctor.
//!
//! Entries are built from redacted values only (proxy credentials and secret
//! variables never reach a report).

use std::fmt;

use serde::Serialize;

use crate::proxy::ProxyVar;

/// How much an entry matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// A change made as intended.
    Info,
    /// Something the caller should look at: a value of theirs kept, an
    /// insecure setting, a requirement on the host.
    Warn,
    /// A setting that breaks traffic in the container.
    Error,
}

/// What an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PatchKind {
    /// A `/dev/null` bind mount replaced by an empty file.
    DevNullMount,
    /// A proxy variable (`HTTP_PROXY`, `https_proxy`, ...).
    ProxyVariable,
    /// `NO_PROXY`/`no_proxy`.
    NoProxy,
    /// A loopback proxy address rewritten for the container's network.
    ProxyTranslation,
    /// An `/etc/hosts` entry.
    ExtraHost,
    /// The CA directory mount.
    CaMount,
    /// A trust variable (`NODE_EXTRA_CA_CERTS`, `SSL_CERT_FILE`, ...).
    TrustVariable,
    /// TLS verification turned off (insecure dev mode, or by the caller).
    TlsVerification,
    /// A build argument.
    BuildArg,
    /// A Dockerfile rewritten for the build.
    Dockerfile,
}

impl fmt::Display for PatchKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PatchKind::DevNullMount => "/dev/null mount",
            PatchKind::ProxyVariable => "proxy variable",
            PatchKind::NoProxy => ProxyVar::NO_PROXY.lower,
            PatchKind::ProxyTranslation => "proxy address",
            PatchKind::ExtraHost => "extra host",
            PatchKind::CaMount => "CA mount",
            PatchKind::TrustVariable => "trust variable",
            PatchKind::TlsVerification => "TLS verification",
            PatchKind::BuildArg => "build arg",
            PatchKind::Dockerfile => "Dockerfile",
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Error => "error",
        })
    }
}

/// One change or finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PatchEntry {
    /// How much it matters.
    pub severity: Severity,
    /// What it is about.
    pub kind: PatchKind,
    /// The thing changed: a variable name, a mount target, a host name.
    pub subject: String,
    /// What happened, values redacted.
    pub message: String,
}

impl fmt::Display for PatchEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} {}: {}",
            self.severity, self.kind, self.subject, self.message
        )
    }
}

/// The entries of one patch, in the order the changes were made.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PatchReport {
    entries: Vec<PatchEntry>,
}

impl PatchReport {
    /// Every entry.
    pub fn entries(&self) -> &[PatchEntry] {
        &self.entries
    }

    /// Whether nothing was changed or found.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries of at least `severity`.
    pub fn at_least(&self, severity: Severity) -> impl Iterator<Item = &PatchEntry> {
        self.entries.iter().filter(move |e| e.severity >= severity)
    }

    /// Whether any entry is an error.
    pub fn has_errors(&self) -> bool {
        self.at_least(Severity::Error).next().is_some()
    }

    pub(crate) fn push(
        &mut self,
        severity: Severity,
        kind: PatchKind,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.entries.push(PatchEntry {
            severity,
            kind,
            subject: subject.into(),
            message: message.into(),
        });
    }
}

impl fmt::Display for PatchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for entry in &self.entries {
            writeln!(f, "{entry}")?;
        }
        Ok(())
    }
}
