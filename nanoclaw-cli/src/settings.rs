//! Where a command's sandbox settings come from: the process environment, or
//! an env file (`--env-file`, the file `nanoclaw-sandbox proxy` writes).
//!
//! With `--env-file`, the sandbox variables are read from the file *only*: a
//! stray `https_proxy` in the shell must not override the file's
//! `HTTPS_PROXY` through the lowercase-wins rule. Detection itself (case
//! precedence, CA sources) is the library's `SandboxEnv::detect_from`, so
//! there is one rule, not two.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use nanoclaw_sandbox_core::sandbox::{DetectOptions, SandboxEnv};

/// The `--env-file` flag shared by `run`, `doctor`, `build`, `inspect` and `route`.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct SettingsArgs {
    /// Read the sandbox settings (proxy variables, PROXY_CA_CERT_B64, ...)
    /// from this file instead of the environment: `KEY=VALUE` lines, as
    /// written by `nanoclaw-sandbox proxy --env-file`.
    #[arg(long, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
}

/// The variables sandbox detection reads.
#[derive(Debug, Clone)]
pub(crate) enum VarSource {
    /// The process environment.
    Process,
    /// An env file's values.
    File {
        /// The file, for messages.
        path: PathBuf,
        /// Its variables.
        vars: HashMap<String, String>,
    },
}

impl VarSource {
    /// From `--env-file` when given, else the process environment.
    pub(crate) fn from_args(args: &SettingsArgs) -> anyhow::Result<Self> {
        match &args.env_file {
            None => Ok(VarSource::Process),
            Some(path) => Ok(VarSource::File {
                // A missing or malformed file is an input error (exit 2).
                vars: read_env_file(path).map_err(|e| crate::exit::usage(format!("{e:#}")))?,
                path: path.clone(),
            }),
        }
    }

    /// The value of `name`, if set.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        match self {
            VarSource::Process => std::env::var(name).ok(),
            VarSource::File { vars, .. } => vars.get(name).cloned(),
        }
    }

    /// Detects the sandbox from these variables.
    pub(crate) fn detect(&self) -> anyhow::Result<SandboxEnv> {
        let env = SandboxEnv::detect_from(|name| self.get(name), &DetectOptions::default());
        env.with_context(|| match self {
            VarSource::Process => "cannot read the sandbox settings from the environment".into(),
            VarSource::File { path, .. } => {
                format!("cannot read the sandbox settings from {}", path.display())
            }
        })
    }
}

/// Reads `KEY=VALUE` lines; blank lines and `#` comments are skipped, an
/// `export ` prefix and matching surrounding quotes are removed.
pub(crate) fn read_env_file(path: &Path) -> anyhow::Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read env file {}", path.display()))?;
    parse_env_file(&text).with_context(|| format!("env file {} is malformed", path.display()))
}

fn parse_env_file(text: &str) -> anyhow::Result<HashMap<String, String>> {
    let mut vars = HashMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            anyhow::bail!(
                "line {}: expected KEY=VALUE, found no `=` (the line is not shown: it may hold a secret)",
                index + 1
            );
        };
        let name = name.trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            anyhow::bail!("line {}: `{name}` is not a variable name", index + 1);
        }
        vars.insert(name.to_string(), unquote(value.trim()).to_string());
    }
    Ok(vars)
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return inner;
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_lines_are_parsed() {
        let vars = parse_env_file(
            "# written by nanoclaw-sandbox proxy\n\nHTTPS_PROXY=http://127.0.0.1:3128\nexport no_proxy='localhost,127.0.0.1'\nPROXY_CA_CERT_B64=\"LS0t==\"\n",
        )
        .unwrap();
        assert_eq!(vars["HTTPS_PROXY"], "http://127.0.0.1:3128");
        assert_eq!(vars["no_proxy"], "localhost,127.0.0.1");
        assert_eq!(vars["PROXY_CA_CERT_B64"], "LS0t==");
    }

    #[test]
    fn malformed_lines_are_named_without_their_content() {
        let err = parse_env_file("A=1\nsecret-token-value\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        assert!(!err.to_string().contains("secret-token-value"), "{err}");
        let err = parse_env_file("BAD NAME=1").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn a_file_source_ignores_the_process_environment() {
        let source = VarSource::File {
            path: "x.env".into(),
            vars: HashMap::from([("HTTPS_PROXY".to_string(), "http://p:1".to_string())]),
        };
        assert_eq!(source.get("HTTPS_PROXY").as_deref(), Some("http://p:1"));
        assert_eq!(source.get("PATH"), None);
    }
}
