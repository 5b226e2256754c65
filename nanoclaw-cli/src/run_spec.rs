//! The container spec `run` starts from: a `--spec` file (TOML or JSON, the
//! `ContainerSpec` serde form) with the command line's flags on top.

use std::path::{Path, PathBuf};

use anyhow::Context;
use nanoclaw_sandbox_core::spec::{ContainerSpec, Mount, NetworkMode};

/// The flags of `run` that describe the container.
#[derive(Debug, Default, clap::Args)]
pub(crate) struct SpecArgs {
    /// Start from this spec: TOML or JSON (the `ContainerSpec` serde form),
    /// by extension, else whichever parses. Flags override its fields.
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// The image (never pulled: build or load it first).
    #[arg(long, value_name = "IMG")]
    pub image: Option<String>,
    /// Set a variable: `KEY=VALUE`, or `KEY` to pass this process's value
    /// (left out when unset). Repeatable.
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Bind-mount a host path: `SRC:DST[:ro]` (a relative SRC is taken from
    /// the current directory). Repeatable.
    #[arg(short = 'v', long = "volume", value_name = "SRC:DST[:ro]")]
    pub volumes: Vec<String>,
    /// The network: `bridge` (Docker's default), `none`, `host`, or a name.
    #[arg(long, value_name = "MODE")]
    pub network: Option<String>,
    /// The container's name.
    #[arg(long, value_name = "N")]
    pub name: Option<String>,
    /// A label `KEY=VALUE` (repeatable).
    #[arg(short = 'l', long = "label", value_name = "K=V")]
    pub labels: Vec<String>,
    /// Replace the image's entrypoint with this executable.
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,
    /// Keep stdin open and forward this process's stdin to the container.
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// The command (the arguments after the image's entrypoint).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

impl SpecArgs {
    /// The spec file's content (if any) with every flag applied, validated.
    /// `lookup` reads this process's variables (for `-e KEY`).
    pub(crate) fn to_spec(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<ContainerSpec> {
        let mut builder = match (&self.spec, &self.image) {
            (Some(file), image) => {
                let spec = read_spec_file(file)?;
                match image {
                    None => spec.to_builder(),
                    Some(image) => spec.to_builder().image(image.as_str()),
                }
            }
            (None, Some(image)) => ContainerSpec::builder(image.as_str()),
            (None, None) => anyhow::bail!("no image: pass --image IMG, or --spec FILE naming one"),
        };
        for entry in &self.env {
            match entry.split_once('=') {
                Some((name, value)) => builder = builder.env(name, value),
                None => {
                    if let Some(value) = lookup(entry) {
                        builder = builder.env(entry.as_str(), value);
                    }
                }
            }
        }
        for volume in &self.volumes {
            builder = builder.mount(parse_volume(volume)?);
        }
        if let Some(network) = &self.network {
            builder = builder.network(NetworkMode::parse(network));
        }
        if let Some(name) = &self.name {
            builder = builder.name(name.as_str());
        }
        for label in &self.labels {
            let (key, value) = label
                .split_once('=')
                .with_context(|| format!("-l/--label `{label}` is not KEY=VALUE"))?;
            builder = builder.label(key, value);
        }
        if let Some(entrypoint) = &self.entrypoint {
            builder = builder.entrypoint([entrypoint.as_str()]);
        }
        if !self.command.is_empty() {
            builder = builder.command(self.command.iter().map(String::as_str));
        }
        if self.interactive {
            builder = builder.attach_stdin(true);
        }
        builder.build().context("the container spec is invalid")
    }
}

/// `SRC:DST[:ro|rw]`.
fn parse_volume(text: &str) -> anyhow::Result<Mount> {
    let invalid = || format!("-v/--volume `{text}` is not SRC:DST[:ro]");
    let mut parts = text.split(':');
    let (Some(source), Some(target)) = (parts.next(), parts.next()) else {
        anyhow::bail!(invalid());
    };
    let read_only = match parts.next() {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(_) => anyhow::bail!("{}: the option after DST is `ro` or `rw`", invalid()),
    };
    if parts.next().is_some() || source.is_empty() || target.is_empty() {
        anyhow::bail!(invalid());
    }
    // Docker binds absolute host paths only; a relative one would be taken
    // for a named volume.
    let source = std::path::absolute(source)
        .with_context(|| format!("cannot make `{source}` an absolute path"))?;
    Ok(Mount::bind(source, target, read_only))
}

/// Reads a spec file (`run --spec`, `doctor --spec`) with the library's
/// reader (`spec::file`: TOML or JSON by extension, else whichever parses).
/// Errors are input errors (exit 2).
pub(crate) fn read_spec_file(path: &Path) -> anyhow::Result<ContainerSpec> {
    nanoclaw_sandbox_core::spec::file::read(path).map_err(|e| crate::exit::usage(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> SpecArgs {
        SpecArgs::default()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn flags_build_a_spec() {
        let spec = SpecArgs {
            image: Some("agent:1".into()),
            env: vec!["A=1".into(), "FROM_HOST".into(), "UNSET".into()],
            volumes: vec!["/srv/data:/data:ro".into(), "rel:/rel".into()],
            network: Some("bridge".into()),
            name: Some("agent-1".into()),
            labels: vec!["nanoclaw.test=true".into()],
            entrypoint: Some("/bin/agent".into()),
            interactive: true,
            command: vec!["--exit".into(), "3".into()],
            ..args()
        }
        .to_spec(|name| (name == "FROM_HOST").then(|| "host value".to_string()))
        .unwrap();
        assert_eq!(spec.image(), "agent:1");
        assert_eq!(spec.env_value("A"), Some("1"));
        assert_eq!(spec.env_value("FROM_HOST"), Some("host value"));
        assert_eq!(spec.env_value("UNSET"), None);
        assert_eq!(spec.mounts()[0], Mount::bind("/srv/data", "/data", true));
        let Mount::Bind { source, .. } = &spec.mounts()[1] else {
            panic!("a bind mount")
        };
        assert!(
            source.is_absolute() && source.ends_with("rel"),
            "{source:?}"
        );
        assert_eq!(spec.network(), &NetworkMode::Default);
        assert_eq!(spec.name(), Some("agent-1"));
        assert_eq!(spec.labels()["nanoclaw.test"], "true");
        assert_eq!(spec.entrypoint(), Some(&["/bin/agent".to_string()][..]));
        assert_eq!(spec.command(), ["--exit", "3"]);
        assert!(spec.attach_stdin());
    }

    #[test]
    fn flags_override_the_spec_file_by_field() {
        let dir = tempfile::tempdir().unwrap();
        let toml_file = dir.path().join("agent.toml");
        std::fs::write(
            &toml_file,
            "image = \"from-file:1\"\ncommand = [\"--sleep\", \"1\"]\nenv = [\"A=file\", \"B=file\"]\nnetwork = \"none\"\n",
        )
        .unwrap();
        let spec = SpecArgs {
            spec: Some(toml_file.clone()),
            env: vec!["A=flag".into()],
            ..args()
        }
        .to_spec(no_env)
        .unwrap();
        assert_eq!(spec.image(), "from-file:1");
        assert_eq!(spec.env_value("A"), Some("flag"));
        assert_eq!(spec.env_value("B"), Some("file"));
        assert_eq!(spec.command(), ["--sleep", "1"]);
        assert_eq!(spec.network(), &NetworkMode::None);

        let spec = SpecArgs {
            spec: Some(toml_file),
            image: Some("from-flag:2".into()),
            network: Some("host".into()),
            command: vec!["--exit".into(), "0".into()],
            ..args()
        }
        .to_spec(no_env)
        .unwrap();
        assert_eq!(spec.image(), "from-flag:2");
        assert_eq!(spec.network(), &NetworkMode::Host);
        assert_eq!(spec.command(), ["--exit", "0"]);
        assert_eq!(spec.env_value("B"), Some("file"), "other fields kept");
    }

    #[test]
    fn spec_files_are_json_or_toml_with_or_without_an_extension() {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in [
            ("a.json", r#"{"image": "json:1"}"#),
            ("b", r#"{"image": "json:1"}"#),
            ("c", "image = \"json:1\"\n"),
        ] {
            let file = dir.path().join(name);
            std::fs::write(&file, text).unwrap();
            let spec = SpecArgs {
                spec: Some(file),
                ..args()
            }
            .to_spec(no_env)
            .unwrap();
            assert_eq!(spec.image(), "json:1", "{name}");
        }
        let bad = dir.path().join("bad");
        std::fs::write(&bad, "image = ").unwrap();
        let err = SpecArgs {
            spec: Some(bad),
            ..args()
        }
        .to_spec(no_env)
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("neither a JSON spec"),
            "{err:#}"
        );
        let typo = dir.path().join("typo.toml");
        std::fs::write(&typo, "image = \"a\"\nimgae = \"b\"\n").unwrap();
        let err = SpecArgs {
            spec: Some(typo),
            ..args()
        }
        .to_spec(no_env)
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("imgae"),
            "unknown fields are named: {err:#}"
        );
    }

    #[test]
    fn bad_input_is_named() {
        let err = args().to_spec(no_env).unwrap_err();
        assert!(err.to_string().contains("--image"), "{err}");
        for volume in ["/a", "/a:/b:rx", "/a:/b:ro:x", ":/b"] {
            let err = SpecArgs {
                image: Some("a:1".into()),
                volumes: vec![volume.into()],
                ..args()
            }
            .to_spec(no_env)
            .unwrap_err();
            assert!(err.to_string().contains(volume), "{volume}: {err}");
        }
        let err = SpecArgs {
            image: Some("a:1".into()),
            volumes: vec!["/a:relative".into()],
            ..args()
        }
        .to_spec(no_env)
        .unwrap_err();
        assert!(format!("{err:#}").contains("relative"), "{err:#}");
    }
}
