//! The prepare step: the instance directory the patched spec's mounts point at.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nanoclaw_sandbox_core::proxy::{ProxySettings, ProxyUrl};
use nanoclaw_sandbox_core::sandbox::{
    instances_base, CaSource, InstanceDir, InstanceDirError, Mode, ProxyCa, SandboxPatcher,
};
use nanoclaw_sandbox_core::spec::{ContainerSpec, Mount};
use nanoclaw_sandbox_core::trust::{SystemRoots, TrustStore, CONTAINER_CA_DIR};
use nanoclaw_testkit::ca::TestCa;

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_instance_dir_lies_under_the_workspace_root_with_the_right_modes() {
    let workspace = tempfile::tempdir().unwrap();
    let dir = InstanceDir::create(Some(workspace.path()), "host-1").unwrap();
    assert_eq!(
        dir.path(),
        workspace.path().join(".nanoclaw/instances/host-1")
    );
    assert!(dir
        .path()
        .starts_with(instances_base(Some(workspace.path()))));
    let paths = dir.paths();
    assert_eq!(mode_of(dir.path()), 0o700);
    assert_eq!(mode_of(&paths.ca_dir), 0o755);
    assert_eq!(mode_of(&paths.empty_file), 0o644);
    assert_eq!(std::fs::metadata(&paths.empty_file).unwrap().len(), 0);
    assert!(paths.empty_file.is_file() && paths.ca_dir.is_dir());
    assert_eq!(dir.trust_dir().path(), paths.ca_dir);
}

#[test]
fn without_a_workspace_root_it_goes_under_the_temp_dir() {
    let base = instances_base(None);
    assert!(base.starts_with(std::env::temp_dir()), "{}", base.display());
}

#[test]
fn prepared_paths_feed_the_patcher_and_everything_is_removed_on_drop() {
    let workspace = tempfile::tempdir().unwrap();
    let root;
    {
        let dir = InstanceDir::create(Some(workspace.path()), "host-2").unwrap();
        root = dir.path().to_path_buf();
        let store = TrustStore::from_pem(TestCa::new("Instance CA").pem().as_bytes(), "t").unwrap();
        dir.write_trust(&store, &SystemRoots::Builtin.load().unwrap())
            .unwrap();
        let url = ProxyUrl::parse("http://gateway.docker.internal:3128").unwrap();
        let mode = Mode::Proxied {
            proxy: ProxySettings {
                https: Some(url),
                ..ProxySettings::default()
            },
            ca: Some(ProxyCa::new(store, CaSource::EnvBase64)),
        };
        let spec = ContainerSpec::builder("agent")
            .mount(Mount::bind("/dev/null", "/app/.env", true))
            .build()
            .unwrap();
        let (patched, _) = SandboxPatcher::new(&mode, Some(dir.paths()))
            .unwrap()
            .patch(&spec)
            .unwrap();
        // Every bind source of the patched spec exists on the host.
        for mount in patched.mounts() {
            if let Mount::Bind { source, .. } = mount {
                assert!(source.exists(), "{}", source.display());
            }
        }
        assert!(patched
            .mounts()
            .iter()
            .any(|m| m.target() == CONTAINER_CA_DIR));
        assert!(dir.trust_dir().ca_file().is_file() && dir.trust_dir().bundle_file().is_file());
    }
    assert!(!root.exists(), "{} survived the drop", root.display());
}

#[test]
fn ids_that_are_not_plain_names_are_refused() {
    let base = tempfile::tempdir().unwrap();
    for id in ["", ".", "..", "a/b", "../up", "sp ace"] {
        let err = InstanceDir::create_in(base.path(), id).unwrap_err();
        assert!(
            matches!(err, InstanceDirError::InvalidId { .. }),
            "{id:?}: {err:?}"
        );
    }
    assert_eq!(std::fs::read_dir(base.path()).unwrap().count(), 0);
}
