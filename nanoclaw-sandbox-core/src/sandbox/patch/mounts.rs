//! `/dev/null` bind mounts.
//!
//! Inside Docker Sandboxes the engine can only mount paths under the
//! workspace, so a bind of the host's `/dev/null` (a common way to hide a
//! file such as `.env` from an agent) fails. An empty regular file in the
//! instance directory, mounted read-only, hides the file the same way.

use std::path::Path;

use crate::spec::Mount;

use super::draft::Draft;
use super::report::{PatchKind, Severity};

/// The bind source the rule replaces.
pub(crate) const DEV_NULL: &str = "/dev/null";

pub(super) fn replace_dev_null(draft: &mut Draft<'_>, empty_file: &Path) {
    let mut changed = Vec::new();
    let mounts: Vec<Mount> = draft
        .original
        .mounts()
        .iter()
        .map(|mount| match mount {
            Mount::Bind { source, target, .. } if source == Path::new(DEV_NULL) => {
                changed.push(target.clone());
                Mount::bind(empty_file, target.clone(), true)
            }
            other => other.clone(),
        })
        .collect();
    if changed.is_empty() {
        return;
    }
    // Replaces the whole list: must run before any rule that adds a mount.
    draft.edit(|b| b.mounts(mounts));
    for target in changed {
        let message = format!(
            "{DEV_NULL} replaced by the empty file {} (read-only): the sandbox's engine can \
             mount only workspace paths",
            empty_file.display()
        );
        draft.note(Severity::Info, PatchKind::DevNullMount, target, message);
    }
}
