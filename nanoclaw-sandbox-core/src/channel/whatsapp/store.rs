//! The session on disk: one directory, readable by its owner only, holding
//! whatsapp-rust's SQLite session store (the device's identity and Signal
//! keys: whoever reads it can read and send the account's messages).
//!
//! The directory is created (or tightened) to 0700 and the database file
//! made 0600 before SQLite opens it; SQLite gives the files it adds beside
//! it (`-wal`, `-shm`, `-journal`) the database file's permissions, and
//! every file in the directory is tightened again after opening all the same.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The database's file name in the session directory.
pub const DATABASE_FILE: &str = "whatsapp.db";

/// The directory's permissions.
#[cfg(unix)]
const DIR_MODE: u32 = 0o700;
/// Every file's permissions.
#[cfg(unix)]
const FILE_MODE: u32 = 0o600;

/// Makes `dir` (and its parents) and the database file in it, both private;
/// returns the database file's path. Refuses a database path that is not a
/// regular file (a symlink, a directory).
pub(crate) fn prepare(dir: &Path) -> io::Result<PathBuf> {
    create_private_dir(dir)?;
    let database = dir.join(DATABASE_FILE);
    match fs::symlink_metadata(&database) {
        Ok(meta) if !meta.file_type().is_file() => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is not a regular file; remove it or choose another session directory",
                    database.display()
                ),
            ));
        }
        Ok(_) => set_private(&database)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            drop(private_options().create_new(true).open(&database)?);
        }
        Err(e) => return Err(e),
    }
    Ok(database)
}

/// Sets every regular file directly in `dir` to 0600 (and `dir` to 0700).
pub(crate) fn tighten(dir: &Path) -> io::Result<()> {
    set_dir_private(dir)?;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            set_private(&entry.path())?;
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` (replacing it), 0600.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = private_options().create(true).truncate(true).open(path)?;
    // An existing file keeps its mode on open: set it.
    set_private(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn private_options() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(FILE_MODE);
    }
    options
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(dir)?;
    // An existing directory keeps its mode: set it.
    set_dir_private(dir)
}

#[cfg(unix)]
fn set_private(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(FILE_MODE))
}

#[cfg(unix)]
fn set_dir_private(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))
}

#[cfg(not(unix))]
fn set_private(_path: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(not(unix))]
fn set_dir_private(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_session_directory_and_database_are_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b/session");
        let database = prepare(&dir).unwrap();
        assert_eq!(database, dir.join(DATABASE_FILE));
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&database), 0o600);
    }

    #[test]
    fn existing_open_files_and_directories_are_tightened() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("session");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let database = dir.join(DATABASE_FILE);
        fs::write(&database, b"").unwrap();
        fs::set_permissions(&database, fs::Permissions::from_mode(0o644)).unwrap();
        let wal = dir.join("whatsapp.db-wal");
        fs::write(&wal, b"").unwrap();
        fs::set_permissions(&wal, fs::Permissions::from_mode(0o664)).unwrap();
        // Control: they start open.
        assert_eq!(
            (mode(&dir), mode(&database), mode(&wal)),
            (0o755, 0o644, 0o664)
        );
        prepare(&dir).unwrap();
        assert_eq!((mode(&dir), mode(&database)), (0o700, 0o600));
        assert_eq!(mode(&wal), 0o664, "prepare sees the database file only");
        tighten(&dir).unwrap();
        assert_eq!(mode(&wal), 0o600);
    }

    #[test]
    fn a_database_path_that_is_not_a_file_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("session");
        fs::create_dir_all(dir.join(DATABASE_FILE)).unwrap();
        let err = prepare(&dir).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }

    #[test]
    fn private_writes_replace_and_tighten() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("qr.png");
        fs::write(&path, b"old content, longer").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(mode(&path), 0o600);
    }
}
