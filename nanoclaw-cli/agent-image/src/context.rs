//! The agent image's content hash (its name) and build context (a
//! deterministic tar archive).

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use super::files::ImageFile;
use super::AgentImageError;

/// Where the files go in the build context; `COPY rootfs/ /` puts them in place.
const ROOTFS: &str = "rootfs";

/// The Dockerfile: nothing but the files, and the entrypoint.
pub(super) fn dockerfile(entrypoint: &[String]) -> String {
    // serde_json renders a JSON array of strings: the exec form Docker wants.
    let exec_form = serde_json::to_string(entrypoint).unwrap_or_else(|_| "[]".to_string());
    format!("FROM scratch\nCOPY {ROOTFS}/ /\nENTRYPOINT {exec_form}\n")
}

/// The lineage of an agent image: everything that names it except the
/// executable's content (see [`LINEAGE_LABEL`](super::LINEAGE_LABEL)).
pub(super) fn lineage(
    binary: &std::path::Path,
    entrypoint: &[String],
    labels: &BTreeMap<String, String>,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"nanoclaw-agent-lineage v1\0");
    hasher.update(binary.as_os_str().as_encoded_bytes());
    for part in entrypoint {
        hasher.update([b"\0", part.as_bytes()].concat());
    }
    for (key, value) in labels {
        hasher.update([b"\0", key.as_bytes(), b"=", value.as_bytes()].concat());
    }
    hex(&hasher.finalize()[..8])
}

/// Hex SHA-256 over the Dockerfile, the labels (they change the image) and
/// every file's path, mode and content.
pub(super) fn content_hash(
    dockerfile: &str,
    files: &[ImageFile],
    labels: &BTreeMap<String, String>,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"nanoclaw-agent-image v1\0");
    hasher.update(dockerfile.as_bytes());
    for (key, value) in labels {
        hasher.update([key.as_bytes(), b"\0", value.as_bytes(), b"\0"].concat());
    }
    for file in files {
        hasher.update(file.path.as_bytes());
        hasher.update(b"\0");
        hasher.update(file.mode.to_le_bytes());
        hasher.update((file.content.len() as u64).to_le_bytes());
        hasher.update(&file.content);
    }
    hex(&hasher.finalize())
}

/// The build context: `dockerfile` at the root, `files` under `rootfs/`.
pub(super) fn pack(dockerfile: &str, files: &[ImageFile]) -> Result<Vec<u8>, AgentImageError> {
    let pack_error = |e: std::io::Error| AgentImageError::Pack {
        reason: e.to_string(),
    };
    let mut tar = tar::Builder::new(Vec::new());
    append(&mut tar, "Dockerfile", 0o644, dockerfile.as_bytes()).map_err(pack_error)?;
    for dir in parent_dirs(files) {
        let mut header = header(0, 0o755);
        header.set_entry_type(tar::EntryType::Directory);
        header.set_cksum();
        tar.append_data(&mut header, format!("{ROOTFS}{dir}/"), std::io::empty())
            .map_err(pack_error)?;
    }
    for file in files {
        let path = format!("{ROOTFS}{}", file.path);
        append(&mut tar, &path, file.mode, &file.content).map_err(pack_error)?;
    }
    tar.into_inner().map_err(pack_error)
}

/// Every directory the files live in, parents first, so the image gets real
/// directories with sane modes rather than ones implied by file paths.
fn parent_dirs(files: &[ImageFile]) -> BTreeSet<String> {
    let mut dirs = BTreeSet::new();
    for file in files {
        let mut path = file.path.as_str();
        while let Some((parent, _)) = path.rsplit_once('/') {
            if parent.is_empty() {
                break;
            }
            dirs.insert(parent.to_string());
            path = parent;
        }
    }
    dirs
}

fn append(
    tar: &mut tar::Builder<Vec<u8>>,
    path: &str,
    mode: u32,
    content: &[u8],
) -> std::io::Result<()> {
    let mut header = header(content.len() as u64, mode);
    header.set_cksum();
    tar.append_data(&mut header, path, content)
}

/// A header with fixed owner and time: the same files give the same archive.
fn header(size: u64, mode: u32) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Vec<ImageFile> {
        vec![
            ImageFile {
                path: "/lib/x86_64-linux-gnu/libc.so.6".into(),
                mode: 0o755,
                content: b"libc".to_vec(),
            },
            ImageFile {
                path: "/nanoclaw-agent".into(),
                mode: 0o755,
                content: b"agent".to_vec(),
            },
        ]
    }

    #[test]
    fn same_input_same_hash_and_archive() {
        let labels = BTreeMap::new();
        let df = dockerfile(&["/nanoclaw-agent".into(), "agent".into()]);
        let hash = content_hash(&df, &files(), &labels);
        assert_eq!(hash, content_hash(&df, &files(), &labels));
        assert_eq!(hash.len(), 64);
        assert_eq!(pack(&df, &files()).unwrap(), pack(&df, &files()).unwrap());
    }

    #[test]
    fn any_change_changes_the_hash() {
        let df = dockerfile(&["/nanoclaw-agent".into()]);
        let none = BTreeMap::new();
        let base = content_hash(&df, &files(), &none);
        let mut changed = files();
        changed[1].content = b"agent2".to_vec();
        assert_ne!(base, content_hash(&df, &changed, &none));
        let labelled = BTreeMap::from([("k".to_string(), "v".to_string())]);
        assert_ne!(base, content_hash(&df, &files(), &labelled));
        let other_df = dockerfile(&["/nanoclaw-agent".into(), "x".into()]);
        assert_ne!(base, content_hash(&other_df, &files(), &none));
    }

    #[test]
    fn lineage_ignores_content_but_not_names() {
        let path = std::path::Path::new("/bin/agent");
        let none = BTreeMap::new();
        let base = lineage(path, &["agent".into()], &none);
        assert_eq!(base, lineage(path, &["agent".into()], &none));
        assert_eq!(base.len(), 16);
        assert_ne!(
            base,
            lineage(std::path::Path::new("/other"), &["agent".into()], &none)
        );
        let marked = BTreeMap::from([("m".to_string(), "1".to_string())]);
        assert_ne!(base, lineage(path, &["agent".into()], &marked));
    }

    #[test]
    fn the_archive_holds_dockerfile_dirs_and_files() {
        let df = dockerfile(&["/nanoclaw-agent".into(), "agent".into()]);
        assert_eq!(
            df,
            "FROM scratch\nCOPY rootfs/ /\nENTRYPOINT [\"/nanoclaw-agent\",\"agent\"]\n"
        );
        let tar = pack(&df, &files()).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let paths: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            paths,
            [
                "Dockerfile",
                "rootfs/lib/",
                "rootfs/lib/x86_64-linux-gnu/",
                "rootfs/lib/x86_64-linux-gnu/libc.so.6",
                "rootfs/nanoclaw-agent"
            ]
        );
    }
}
