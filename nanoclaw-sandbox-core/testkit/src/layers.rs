//! What an image holds: the layers a build added to its base image (from
//! `docker save`) searched for byte strings (a CA's PEM line or DER bytes,
//! file names), and the needles that identify a CA. How the build tests
//! show that a sandbox build leaves nothing of the proxy CA in the image.

use base64::Engine as _;

use crate::docker::docker;
use crate::error::{Context, FixtureError, Result};

/// A line from the middle of the CA's PEM: it identifies this CA in a bundle.
pub fn ca_marker(pem: &str) -> Result<String> {
    let lines: Vec<&str> = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && !l.trim().is_empty())
        .collect();
    lines
        .get(lines.len() / 2)
        .map(|l| l.trim().to_string())
        .ok_or_else(|| FixtureError::new(format!("the CA PEM has no body:\n{pem}")))
}

/// The DER bytes of the first certificate in `pem`.
pub fn der_of(pem: &str) -> Result<Vec<u8>> {
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body.trim())
        .context(|| "the CA's PEM body".to_string())
}

/// What of `needles` (name, bytes) the layers `tag` adds to `base` hold:
/// `docker save`, its manifest for the layer order, then every layer past
/// the base image's searched as it is (an uncompressed tar: file names and
/// contents appear in it byte for byte). The image's config (its history)
/// is left to the history check.
pub fn found_in_layers(tag: &str, base: &str, needles: &[(&str, Vec<u8>)]) -> Result<Vec<String>> {
    let base_layers: usize = docker([
        "image",
        "inspect",
        "--format",
        "{{len .RootFS.Layers}}",
        base,
    ])?
    .trim()
    .parse()
    .context(|| format!("the layer count of {base}"))?;
    let dir = tempfile::tempdir().context(|| "a directory for docker save".to_string())?;
    let saved = dir.path().join("image.tar");
    let saved_arg = saved.to_string_lossy().into_owned();
    docker(["save", "-o", saved_arg.as_str(), tag])?;
    let open = || -> Result<tar::Archive<std::fs::File>> {
        Ok(tar::Archive::new(
            std::fs::File::open(&saved).context(|| "the saved image".to_string())?,
        ))
    };
    let mut manifest = None;
    let mut archive = open()?;
    for entry in archive
        .entries_with_seek()
        .context(|| "the saved image".to_string())?
    {
        let entry = entry.context(|| "a saved image entry".to_string())?;
        if entry.path().is_ok_and(|p| p.as_os_str() == "manifest.json") {
            let value: serde_json::Value =
                serde_json::from_reader(entry).context(|| "manifest.json".to_string())?;
            manifest = Some(value);
            break;
        }
    }
    let layers: Vec<String> = manifest
        .as_ref()
        .and_then(|m| m[0]["Layers"].as_array())
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let ours = layers.get(base_layers..).unwrap_or_default();
    if ours.is_empty() {
        return Err(FixtureError::new(format!(
            "docker save of {tag}: {} layer(s), {base_layers} of them the base's: nothing to search",
            layers.len()
        )));
    }
    let mut found = Vec::new();
    let mut searched = 0;
    let mut archive = open()?;
    for entry in archive
        .entries_with_seek()
        .context(|| "the saved image".to_string())?
    {
        let mut entry = entry.context(|| "a saved image entry".to_string())?;
        let path = entry
            .path()
            .context(|| "an entry path".to_string())?
            .to_string_lossy()
            .into_owned();
        if !ours.contains(&path) {
            continue;
        }
        searched += 1;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).context(|| format!("layer {path}"))?;
        for (name, needle) in needles {
            if memchr::memmem::find(&bytes, needle).is_some() {
                found.push(format!(
                    "{name} in {path}: {}",
                    files_holding(&bytes, needle)
                ));
            }
        }
    }
    if searched != ours.len() {
        return Err(FixtureError::new(format!(
            "docker save of {tag}: searched {searched} of its {} own layers",
            ours.len()
        )));
    }
    Ok(found)
}

/// The files of the layer tar `layer` whose name or content holds `needle`,
/// for the failure message.
fn files_holding(layer: &[u8], needle: &[u8]) -> String {
    let mut names = Vec::new();
    let mut archive = tar::Archive::new(layer);
    let Ok(entries) = archive.entries() else {
        return "(not a tar)".to_string();
    };
    for mut entry in entries.flatten() {
        let name = entry
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut content = Vec::new();
        let _ = std::io::Read::read_to_end(&mut entry, &mut content);
        let link = entry
            .link_name_bytes()
            .map(|l| l.into_owned())
            .unwrap_or_default();
        if [name.as_bytes(), &content, &link]
            .iter()
            .any(|hay| memchr::memmem::find(hay, needle).is_some())
        {
            names.push(name);
        }
    }
    names.join(", ")
}
