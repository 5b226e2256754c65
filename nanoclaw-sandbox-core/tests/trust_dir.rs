//! `TrustDir`: the files containers read, their modes, atomic rotation, cleanup.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nanoclaw_sandbox_core::trust::{
    RootsOrigin, SystemRoots, TrustDir, TrustStore, BUNDLE_FILE_NAME, CA_FILE_NAME,
};
use nanoclaw_testkit::ca::TestCa;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn public_roots(dir: &Path) -> (TestCa, SystemRoots) {
    let public = TestCa::new("Test Public Root");
    let path = dir.join("public-roots.pem");
    std::fs::write(&path, public.pem()).unwrap();
    (public, SystemRoots::PemFile(path))
}

#[test]
fn writes_the_ca_alone_and_the_combined_bundle_readable_by_everyone() {
    let base = tempfile::tempdir().unwrap();
    let (public, roots) = public_roots(base.path());
    let roots = roots.load().unwrap();
    assert!(matches!(roots.origin(), RootsOrigin::File(_)));
    let proxy = TrustStore::from_pem(TestCa::new("Proxy CA").pem().as_bytes(), "proxy").unwrap();

    let dir = TrustDir::create(base.path().join("nested/ca")).unwrap();
    dir.write(&proxy, &roots).unwrap();

    assert_eq!(mode(dir.path()), 0o755);
    assert_eq!(dir.ca_file(), dir.path().join(CA_FILE_NAME));
    assert_eq!(dir.bundle_file(), dir.path().join(BUNDLE_FILE_NAME));
    for file in [dir.ca_file(), dir.bundle_file()] {
        assert_eq!(mode(&file), 0o644, "{}", file.display());
    }
    let ca_alone = std::fs::read_to_string(dir.ca_file()).unwrap();
    assert_eq!(ca_alone, proxy.to_pem());
    assert_eq!(ca_alone.matches("BEGIN CERTIFICATE").count(), 1);

    let bundle = std::fs::read_to_string(dir.bundle_file()).unwrap();
    let public_pem = TrustStore::from_pem(public.pem().as_bytes(), "public")
        .unwrap()
        .to_pem();
    assert_eq!(bundle, format!("{public_pem}{}", proxy.to_pem()));
}

#[test]
fn rewriting_replaces_files_atomically_and_leaves_no_temporaries() {
    let base = tempfile::tempdir().unwrap();
    let roots = SystemRoots::Builtin.load().unwrap();
    let dir = TrustDir::create(base.path().join("ca")).unwrap();
    let first = TrustStore::from_pem(TestCa::new("first").pem().as_bytes(), "1").unwrap();
    let second = TrustStore::from_pem(TestCa::new("second").pem().as_bytes(), "2").unwrap();

    dir.write(&first, &roots).unwrap();
    let inode_before =
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(dir.ca_file()).unwrap());
    dir.write(&second, &roots).unwrap();
    let inode_after =
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(dir.ca_file()).unwrap());

    // A rename gives a new inode: a single-file bind mount would keep the old
    // one, which is why containers get the directory.
    assert_ne!(inode_before, inode_after);
    assert_eq!(
        std::fs::read_to_string(dir.ca_file()).unwrap(),
        second.to_pem()
    );
    let bundle = std::fs::read_to_string(dir.bundle_file()).unwrap();
    assert!(bundle.ends_with(&second.to_pem()));
    assert!(!bundle.contains(&first.to_pem()));
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [BUNDLE_FILE_NAME, CA_FILE_NAME]);
}

#[test]
fn drop_removes_the_directory() {
    let base = tempfile::tempdir().unwrap();
    let path = base.path().join("ca");
    {
        let dir = TrustDir::create(&path).unwrap();
        let ca = TrustStore::from_pem(TestCa::new("gone").pem().as_bytes(), "x").unwrap();
        dir.write(&ca, &SystemRoots::Builtin.load().unwrap())
            .unwrap();
        assert!(path.join(CA_FILE_NAME).is_file());
    }
    assert!(!path.exists());
}

#[test]
fn an_unwritable_place_is_named() {
    let base = tempfile::tempdir().unwrap();
    let blocker = base.path().join("file");
    std::fs::write(&blocker, "").unwrap();
    let err = TrustDir::create(blocker.join("ca")).unwrap_err();
    assert!(
        err.to_string().contains(&blocker.display().to_string()),
        "{err}"
    );
}
