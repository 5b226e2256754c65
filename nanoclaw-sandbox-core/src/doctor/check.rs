//! [`Check`]: one finding of the doctor, as data.

use std::fmt;

use serde::Serialize;

use super::CheckId;

/// How a check came out. Ordered from best to worst, so the worst of a run
/// is its maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// All good.
    Pass,
    /// Not applicable here, or its input was not given (the detail says which).
    Skip,
    /// Works, but something deserves a look (the fix says what).
    Warn,
    /// Broken: agents or the host will fail (the fix says how to repair it).
    Fail,
}

impl Status {
    /// The status as `--json` and the docs write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Skip => "skip",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One check's outcome. Built from redacted values only: no proxy
/// credentials, tokens or keys ever reach `detail` or `fix`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable, kebab-case (see [`CheckId`]); docs/troubleshooting.md
    /// maps every one to the symptoms it catches.
    pub id: CheckId,
    /// How it came out.
    pub status: Status,
    /// What was found, naming the inputs.
    pub detail: String,
    /// The exact fix, for warnings and failures.
    pub fix: Option<String>,
}

impl Check {
    /// A passing check.
    pub fn pass(id: CheckId, detail: impl Into<String>) -> Self {
        Self::new(id, Status::Pass, detail, None)
    }

    /// A skipped check; `detail` says why.
    pub fn skip(id: CheckId, detail: impl Into<String>) -> Self {
        Self::new(id, Status::Skip, detail, None)
    }

    /// A warning with its fix.
    pub fn warn(id: CheckId, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(id, Status::Warn, detail, Some(fix.into()))
    }

    /// A failure with its fix.
    pub fn fail(id: CheckId, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self::new(id, Status::Fail, detail, Some(fix.into()))
    }

    fn new(id: CheckId, status: Status, detail: impl Into<String>, fix: Option<String>) -> Self {
        Check {
            id,
            status,
            detail: detail.into(),
            fix,
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.id, self.detail)?;
        if let Some(fix) = &self.fix {
            write!(f, " (fix: {fix})")?;
        }
        Ok(())
    }
}

/// The worst status among `checks` ([`Status::Pass`] for none).
pub fn worst(checks: &[Check]) -> Status {
    checks
        .iter()
        .map(|c| c.status)
        .max()
        .unwrap_or(Status::Pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_status_decides() {
        assert_eq!(worst(&[]), Status::Pass);
        let checks = [
            Check::pass(CheckId::ProxyEnv, "ok"),
            Check::skip(CheckId::ProxyCa, "n/a"),
            Check::warn(CheckId::TlsProbe, "hm", "look"),
        ];
        assert_eq!(worst(&checks), Status::Warn);
        let mut failing = checks.to_vec();
        failing.push(Check::fail(CheckId::DaemonCa, "broken", "repair"));
        assert_eq!(worst(&failing), Status::Fail);
    }

    #[test]
    fn serialises_as_the_cli_prints_it() {
        let json = serde_json::to_value(Check::fail(CheckId::ProxyEnv, "x", "y")).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": "proxy-env", "status": "fail", "detail": "x", "fix": "y"})
        );
        let json = serde_json::to_value(Check::pass(CheckId::ProxyEnv, "x")).unwrap();
        assert_eq!(json["fix"], serde_json::Value::Null);
    }
}
