//! The files an executable needs in an otherwise empty (`FROM scratch`)
//! image: itself, its dynamic loader, and every shared library it needs,
//! transitively, each at the path where the loader will look for it.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use super::elf::dynamic_needs;
use super::AgentImageError;

/// One file of the image: where it goes and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ImageFile {
    /// Absolute path inside the image.
    pub path: String,
    /// File mode.
    pub mode: u32,
    /// Content.
    pub content: Vec<u8>,
}

/// The binary at `binary` (placed at `binary_target`) and everything it loads.
pub(super) fn collect(
    binary: &Path,
    binary_target: &str,
) -> Result<Vec<ImageFile>, AgentImageError> {
    let binary_error = |reason: String| AgentImageError::Binary {
        path: binary.to_path_buf(),
        reason,
    };
    let content = std::fs::read(binary).map_err(|e| binary_error(e.to_string()))?;
    let needs = dynamic_needs(&content).map_err(binary_error)?;

    // Keyed by image path: each file once, in a stable order.
    let mut files: BTreeMap<String, ImageFile> = BTreeMap::new();
    let mut queue: VecDeque<(String, PathBuf, Vec<String>)> = VecDeque::new();
    let origin = binary.parent().unwrap_or(Path::new("/")).to_path_buf();
    for soname in &needs.needed {
        queue.push_back((soname.clone(), binary.to_path_buf(), needs.runpath.clone()));
    }
    if let Some(interpreter) = &needs.interpreter {
        // The kernel loads the interpreter from exactly this path.
        let content = std::fs::read(interpreter).map_err(|e| AgentImageError::Library {
            name: interpreter.clone(),
            needed_by: binary.to_path_buf(),
            reason: e.to_string(),
        })?;
        files.insert(interpreter.clone(), file(interpreter, content));
    }
    files.insert(
        binary_target.to_string(),
        ImageFile {
            path: binary_target.to_string(),
            mode: 0o755,
            content,
        },
    );

    let mut resolved: BTreeMap<String, String> = BTreeMap::new();
    while let Some((soname, needed_by, runpath)) = queue.pop_front() {
        if resolved.contains_key(&soname) {
            continue;
        }
        let requester_dir = needed_by.parent().unwrap_or(&origin).to_path_buf();
        let dirs = search_dirs(&runpath, &requester_dir);
        let Some(found) = dirs.iter().map(|d| d.join(&soname)).find(|p| p.is_file()) else {
            return Err(AgentImageError::Library {
                name: soname,
                needed_by,
                reason: format!(
                    "not found in {}",
                    dirs.iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        };
        let content = std::fs::read(&found).map_err(|e| AgentImageError::Library {
            name: soname.clone(),
            needed_by: needed_by.clone(),
            reason: e.to_string(),
        })?;
        let lib_needs = dynamic_needs(&content).map_err(|reason| AgentImageError::Library {
            name: soname.clone(),
            needed_by: needed_by.clone(),
            reason,
        })?;
        for next in lib_needs.needed {
            queue.push_back((next, found.clone(), lib_needs.runpath.clone()));
        }
        let image_path = found.to_string_lossy().into_owned();
        resolved.insert(soname, image_path.clone());
        files
            .entry(image_path.clone())
            .or_insert_with(|| file(&image_path, content));
    }
    Ok(files.into_values().collect())
}

fn file(path: &str, content: Vec<u8>) -> ImageFile {
    ImageFile {
        path: path.to_string(),
        mode: 0o755,
        content,
    }
}

/// Where the loader looks: the run path (with `$ORIGIN`), then the system
/// directories, multiarch first as on Debian, where the loader of an image
/// without `/etc/ld.so.cache` finds them too.
fn search_dirs(runpath: &[String], requester_dir: &Path) -> Vec<PathBuf> {
    let origin = requester_dir.to_string_lossy();
    let triple = format!("{}-linux-gnu", std::env::consts::ARCH);
    let mut dirs: Vec<PathBuf> = runpath
        .iter()
        .map(|p| PathBuf::from(p.replace("${ORIGIN}", &origin).replace("$ORIGIN", &origin)))
        .collect();
    dirs.extend(
        [
            format!("/lib/{triple}"),
            format!("/usr/lib/{triple}"),
            "/lib64".to_string(),
            "/usr/lib64".to_string(),
            "/lib".to_string(),
            "/usr/lib".to_string(),
        ]
        .into_iter()
        .map(PathBuf::from),
    );
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_binary_brings_its_loader_and_libc() {
        let exe = std::env::current_exe().unwrap();
        let files = collect(&exe, "/agent").unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert!(paths.contains(&"/agent"), "{paths:?}");
        assert!(paths.iter().any(|p| p.contains("ld-linux")), "{paths:?}");
        assert!(paths.iter().any(|p| p.ends_with("/libc.so.6")), "{paths:?}");
        // Sorted and unique: the content hash depends on a stable order.
        let mut sorted = paths.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(paths, sorted);
    }

    #[test]
    fn a_missing_or_non_elf_binary_is_named() {
        let err = collect(Path::new("/nonexistent/agent"), "/agent").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/agent"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("script.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        let err = collect(&script, "/agent").unwrap_err();
        assert!(err.to_string().contains("not an ELF file"), "{err}");
    }

    #[test]
    fn origin_is_substituted() {
        let dirs = search_dirs(&["$ORIGIN/../lib".into()], Path::new("/opt/app/bin"));
        assert_eq!(dirs[0], PathBuf::from("/opt/app/bin/../lib"));
    }
}
