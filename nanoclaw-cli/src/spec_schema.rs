//! `nanoclaw-sandbox spec-schema`: the JSON Schema of the container spec
//! files `run --spec` and `doctor --spec` read (TOML or JSON: the library's
//! `ContainerSpec` serde form). docs/spec-file.md documents every field.
//!
//! The library's spec types carry serde derives only, so the file is
//! described here, type for type, and the schema is generated from this
//! description by schemars. The tests hold the description to the
//! library's form: a spec with every field set, as the library serializes
//! it, validates and names every property the schema has; each document the
//! schema refuses, the library refuses too; the forms of each enum validate.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use schemars::JsonSchema;
use serde::Serialize;

/// A container spec file: one agent container, as `nanoclaw-sandbox run
/// --spec` and `doctor --spec` read it (TOML or JSON). Only `image` is
/// required; `run`'s flags override the file's fields.
// Described, never built: only its schema is used (hence dead_code).
#[allow(dead_code)]
#[derive(JsonSchema)]
#[schemars(title = "nanoclaw-sandbox container spec", deny_unknown_fields)]
struct SpecFile {
    /// The image reference, e.g. `nanoclaw-agent:latest`. Never pulled:
    /// build or load it first.
    #[schemars(regex(pattern = r"\S"))]
    image: String,
    /// The container's name: letters, digits, `_`, `.` and `-`, starting
    /// with a letter or digit.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"))]
    #[serde(default)]
    name: Option<String>,
    /// Replaces the image's entrypoint: the executable, then its first
    /// arguments.
    #[serde(default)]
    entrypoint: Option<Vec<String>>,
    /// The command: the arguments after the entrypoint (the image's `CMD`
    /// when empty).
    #[serde(default)]
    command: Vec<String>,
    /// Environment variables as `NAME=VALUE`, in order; the value may hold
    /// `=`. No NUL byte in either.
    #[schemars(inner(regex(pattern = r"^[^=]+=")))]
    #[serde(default)]
    env: Vec<String>,
    /// Filesystem mounts; each container path may be mounted once.
    #[serde(default)]
    mounts: Vec<MountFile>,
    /// Labels, `key = value`; keys are not empty. The sandbox layer adds
    /// its own (`nanoclaw.*`).
    #[schemars(extend("propertyNames" = { "minLength": 1 }))]
    #[serde(default)]
    labels: BTreeMap<String, String>,
    /// The network the container joins.
    #[serde(default)]
    network: NetworkFile,
    /// Extra `/etc/hosts` entries.
    #[serde(default)]
    extra_hosts: Vec<ExtraHostFile>,
    /// DNS servers (IP addresses).
    #[serde(default)]
    dns: Vec<String>,
    /// The user: `uid[:gid]` or a name (the image's user when unset).
    #[serde(default)]
    user: Option<String>,
    /// The working directory: an absolute container path.
    #[schemars(regex(pattern = r"^/[^:]*$"))]
    #[serde(default)]
    working_dir: Option<String>,
    /// Keep stdin open so it can be written to (`run -i`).
    #[serde(default)]
    attach_stdin: bool,
    /// Resource limits.
    #[serde(default)]
    resources: ResourcesFile,
    /// Have the engine remove the container when it exits.
    #[serde(default)]
    auto_remove: bool,
}

/// A mount, by `type`.
#[allow(dead_code)]
#[derive(Serialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum MountFile {
    /// A host path bound into the container. In a sandbox only paths inside
    /// the workspace can be bound; a `/dev/null` source is replaced by an
    /// empty file.
    Bind {
        /// The host path: give an absolute one.
        #[schemars(length(min = 1))]
        source: PathBuf,
        /// The container path: absolute, without `..` or `:`.
        #[schemars(regex(pattern = r"^/[^:]*$"))]
        target: String,
        /// Mount read-only.
        #[serde(default)]
        read_only: bool,
    },
    /// An in-memory filesystem.
    Tmpfs {
        /// The container path: absolute, without `..` or `:`.
        #[schemars(regex(pattern = r"^/[^:]*$"))]
        target: String,
        /// Its size limit in bytes (no limit when unset).
        #[schemars(range(min = 1))]
        #[serde(default)]
        size_bytes: Option<u64>,
    },
}

/// `"default"` (the engine's default network: Docker's bridge), `"none"`,
/// `"host"`, `{ "named": "NAME" }` for a network of that name, or
/// `{ "container": "ID" }` for another container's network namespace.
#[allow(dead_code)]
#[derive(Default, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
enum NetworkFile {
    /// The engine's default network (Docker's bridge).
    #[default]
    Default,
    /// No network at all.
    None,
    /// The host's network namespace.
    Host,
    /// A named network.
    Named(String),
    /// Another container's network namespace (`container:ID`).
    Container(String),
}

/// An `/etc/hosts` entry.
#[allow(dead_code)]
#[derive(Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ExtraHostFile {
    /// The host name (no `:`).
    #[schemars(regex(pattern = r"^[^:]+$"))]
    name: String,
    /// An IP address, or `host-gateway` for the engine host's gateway address.
    #[schemars(length(min = 1))]
    address: String,
}

/// Resource limits; each is unlimited when unset.
#[allow(dead_code)]
#[derive(Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ResourcesFile {
    /// Memory limit in bytes.
    #[schemars(range(min = 1))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    memory_bytes: Option<u64>,
    /// CPU limit in CPUs (1.5 = one and a half cores).
    #[schemars(extend("exclusiveMinimum" = 0))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cpus: Option<f64>,
    /// Maximum number of processes.
    #[schemars(range(min = 1))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pids: Option<u64>,
}

/// The schema, as `spec-schema` prints it.
pub(crate) fn schema() -> schemars::Schema {
    let mut schema = schemars::schema_for!(SpecFile);
    // Changed in place: the schema's own serializer puts `$schema`, `title`
    // and `description` first, as a person reads it.
    if let Some(map) = schema.as_object_mut() {
        unwrap_map(map);
    }
    schema
}

fn unwrap_map(map: &mut serde_json::Map<String, serde_json::Value>) {
    for (key, inner) in map.iter_mut() {
        match inner {
            serde_json::Value::String(text) if key == "description" => {
                *text = text.replace('\n', " ");
            }
            _ => unwrap_descriptions(inner),
        }
    }
}

/// Descriptions come from doc comments, wrapped at their line breaks:
/// each becomes one line again.
fn unwrap_descriptions(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => unwrap_map(map),
        serde_json::Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

/// Prints the schema.
pub(crate) fn run() -> anyhow::Result<ExitCode> {
    crate::output::json_document(&schema())?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nanoclaw_sandbox_core::spec::{ContainerSpec, Mount, NetworkMode};
    use serde_json::{json, Value};

    fn validator() -> jsonschema::Validator {
        jsonschema::validator_for(&schema().to_value()).unwrap()
    }

    /// The library's own verdict on `document`.
    fn library_accepts(document: &Value) -> bool {
        serde_json::from_value::<ContainerSpec>(document.clone()).is_ok()
    }

    /// A spec with every field the library's builder can set.
    fn full_spec() -> ContainerSpec {
        ContainerSpec::builder("agent:1")
            .name("agent-1")
            .entrypoint(["/bin/agent"])
            .command(["run", "--x"])
            .env("A", "1=one")
            .mount(Mount::bind("/srv/data", "/data", true))
            .mount(Mount::tmpfs("/tmp", Some(1 << 20)))
            .label("role", "agent")
            .network(NetworkMode::Named("agents".into()))
            .extra_host("h", "host-gateway")
            .dns("127.0.0.1")
            .user("1000:1000")
            .working_dir("/app")
            .attach_stdin(true)
            .memory_bytes(1 << 30)
            .cpus(1.5)
            .pids(256)
            .auto_remove(true)
            .build()
            .unwrap()
    }

    #[test]
    fn a_spec_with_every_field_validates_and_names_every_property() {
        let document = serde_json::to_value(full_spec()).unwrap();
        let validator = validator();
        let errors: Vec<String> = validator
            .iter_errors(&document)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}\n{document}");

        let schema = schema().to_value();
        let properties: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        let fields: Vec<&String> = document.as_object().unwrap().keys().collect();
        let (mut properties, mut fields) = (properties, fields);
        properties.sort();
        fields.sort();
        assert_eq!(
            properties, fields,
            "the schema describes exactly the library's fields"
        );
        assert_eq!(schema["required"], json!(["image"]));
        assert_eq!(schema["additionalProperties"], json!(false));
    }

    #[test]
    fn every_network_and_mount_form_validates_as_the_library_reads_it() {
        let validator = validator();
        for network in [
            json!("default"),
            json!("none"),
            json!("host"),
            json!({"named": "agents"}),
            json!({"container": "c0ffee"}),
        ] {
            let document = json!({"image": "a:1", "network": network});
            assert!(validator.is_valid(&document), "{document}");
            assert!(library_accepts(&document), "{document}");
        }
        for mount in [
            json!({"type": "bind", "source": "/a", "target": "/b"}),
            json!({"type": "bind", "source": "/a", "target": "/b", "read_only": true}),
            json!({"type": "tmpfs", "target": "/t"}),
            json!({"type": "tmpfs", "target": "/t", "size_bytes": 1024}),
        ] {
            let document = json!({"image": "a:1", "mounts": [mount]});
            assert!(validator.is_valid(&document), "{document}");
            assert!(library_accepts(&document), "{document}");
        }
        let minimal = json!({"image": "a:1"});
        assert!(validator.is_valid(&minimal) && library_accepts(&minimal));
    }

    #[test]
    fn what_the_schema_refuses_the_library_refuses() {
        let validator = validator();
        let refused = [
            json!({}),
            json!({"image": "  "}),
            json!({"image": "a:1", "imgae": "b"}),
            json!({"image": "a:1", "name": "-bad"}),
            json!({"image": "a:1", "env": ["NOEQUALS"]}),
            json!({"image": "a:1", "env": ["=value"]}),
            json!({"image": "a:1", "network": "bridge"}),
            json!({"image": "a:1", "network": {"named": 1}}),
            json!({"image": "a:1", "mounts": [{"source": "/a", "target": "/b"}]}),
            json!({"image": "a:1", "mounts": [{"type": "volume", "source": "a", "target": "/b"}]}),
            json!({"image": "a:1", "mounts": [{"type": "bind", "source": "/a", "target": "rel"}]}),
            json!({"image": "a:1", "mounts": [{"type": "bind", "source": "", "target": "/b"}]}),
            json!({"image": "a:1", "mounts": [{"type": "tmpfs", "target": "/t", "source": "/a"}]}),
            json!({"image": "a:1", "mounts": [{"type": "tmpfs", "target": "/t", "size_bytes": 0}]}),
            json!({"image": "a:1", "labels": {"": "x"}}),
            json!({"image": "a:1", "extra_hosts": [{"name": "h"}]}),
            json!({"image": "a:1", "extra_hosts": [{"name": "a:b", "address": "1.2.3.4"}]}),
            json!({"image": "a:1", "working_dir": "app"}),
            json!({"image": "a:1", "resources": {"memory_bytes": 0}}),
            json!({"image": "a:1", "resources": {"cpus": 0}}),
            json!({"image": "a:1", "resources": {"pids": 0}}),
            json!({"image": "a:1", "resources": {"swap": 1}}),
            json!({"image": "a:1", "attach_stdin": "yes"}),
        ];
        for document in refused {
            assert!(
                !validator.is_valid(&document),
                "the schema takes {document}"
            );
            assert!(!library_accepts(&document), "the library takes {document}");
        }
    }
}
