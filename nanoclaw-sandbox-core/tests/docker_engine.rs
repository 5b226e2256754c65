//! DockerRuntime against the real daemon, for everything that needs no
//! running process: images, the no-pull guarantee, create/inspect/list/remove,
//! labels and orphan cleanup. (Running agents: nanoclaw-cli/tests/docker_agent.rs,
//! where the agent executable is at hand.)

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt;
use nanoclaw_sandbox_core::runtime::docker::{DockerOptions, DockerRuntime};
use nanoclaw_sandbox_core::runtime::{
    BuildRequest, ContainerRuntime, ContainerState, ImageBuilder, InstanceId, RuntimeError,
    INSTALL, INSTANCE, MANAGED, TEST,
};
use nanoclaw_sandbox_core::spec::{ContainerSpec, EnvVar, Mount, NetworkMode};
use nanoclaw_testkit::docker::{container_ids, ImageGuard};
use nanoclaw_testkit::tar::tar_context;
use support::docker::{connect, scratch_image, unique_tag};

/// A spec for an inert test container of `image` (created, never started).
fn inert(image: &str) -> nanoclaw_sandbox_core::spec::ContainerSpecBuilder {
    ContainerSpec::builder(image)
        .label(TEST, "true")
        .network(NetworkMode::None)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

#[tokio::test]
async fn a_missing_image_fails_at_once_naming_it_and_nothing_is_pulled() {
    let Some(runtime) = connect().await else {
        return;
    };
    let image = format!("nanoclaw-missing-{}:latest", InstanceId::generate());
    let control_tag = unique_tag("nanoclaw-test-control");
    let _cleanup = ImageGuard::of([control_tag.clone()]);
    let control_image = scratch_image(&runtime, &control_tag).await;
    let control = |which: &str| {
        let name = format!("nanoclaw-test-{which}-{}", InstanceId::generate());
        inert(&control_image).name(name).build().unwrap()
    };

    let since = unix_now();
    // Before and after: containers whose events must show up, proving the
    // event window below is complete (the daemon keeps a bounded buffer).
    let before = runtime.create(&control("before")).await.unwrap();
    runtime.remove(&before, true).await.unwrap();

    let spec = inert(&image).build().unwrap();
    let started = Instant::now();
    let err = runtime.create(&spec).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(
        err,
        RuntimeError::ImageNotFound {
            image: image.clone()
        }
    );
    assert!(err.to_string().contains(&image), "{err}");
    assert!(took < Duration::from_secs(1), "took {took:?}");

    let after = runtime.create(&control("after")).await.unwrap();
    runtime.remove(&after, true).await.unwrap();
    let until = unix_now() + 1;

    let docker = bollard::Docker::connect_with_defaults()
        .unwrap()
        .negotiate_version()
        .await
        .unwrap();
    let options = EventsOptions {
        since: Some(since.to_string()),
        until: Some(until.to_string()),
        filters: Some(HashMap::from([(
            "type".to_string(),
            vec!["image".to_string(), "container".to_string()],
        )])),
    };
    let events: Vec<_> = docker
        .events(Some(options))
        .map(|e| e.expect("reading daemon events"))
        .collect()
        .await;
    let destroyed: Vec<&str> = events
        .iter()
        .filter(|e| e.action.as_deref() == Some("destroy"))
        .filter_map(|e| e.actor.as_ref()?.id.as_deref())
        .collect();
    assert!(
        destroyed.contains(&before.as_str()),
        "the event window misses the first control"
    );
    assert!(
        destroyed.contains(&after.as_str()),
        "the event window misses the last control"
    );
    let pulls: Vec<_> = events
        .iter()
        .filter(|e| e.action.as_deref().is_some_and(|a| a.contains("pull")))
        .collect();
    assert!(pulls.is_empty(), "the daemon pulled: {pulls:?}");
    assert!(!runtime.image_exists(&image).await.unwrap());
}

#[tokio::test]
async fn images_build_from_a_tar_context_are_found_by_label_and_removed() {
    let Some(runtime) = connect().await else {
        return;
    };
    let (first, second) = (
        unique_tag("nanoclaw-test-build"),
        unique_tag("nanoclaw-test-build-alias"),
    );
    let _cleanup = ImageGuard::of([first.clone(), second.clone()]);
    let marker = InstanceId::generate().to_string();
    let context = tar_context(&[
        (
            "build/Dockerfile.test",
            "FROM scratch\nARG WHAT\nCOPY file /file\nLABEL what=$WHAT\n",
        ),
        ("file", "content"),
    ]);
    let request = BuildRequest::new(context)
        .dockerfile("build/Dockerfile.test")
        .tag(&first)
        .tag(&second)
        .build_arg("WHAT", "built-by-test")
        .label(TEST, "true")
        .label("nanoclaw.test.marker", &marker)
        .network(NetworkMode::None);
    let mut output = Vec::new();
    let id = runtime
        .build(request, &mut |line| output.push(line.to_string()))
        .await
        .unwrap();
    assert!(
        output.iter().any(|l| l.starts_with("Step 1/")),
        "{output:?}"
    );
    assert!(runtime.image_exists(&first).await.unwrap());
    assert!(runtime.image_exists(&second).await.unwrap());

    let found = runtime
        .find_images(&BTreeMap::from([(
            "nanoclaw.test.marker".to_string(),
            marker,
        )]))
        .await
        .unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].id, id);
    assert!(found[0].tags.contains(&first) && found[0].tags.contains(&second));
    assert_eq!(found[0].labels["what"], "built-by-test");

    runtime.remove_image(id.as_str(), true).await.unwrap();
    assert!(!runtime.image_exists(&first).await.unwrap());
    assert!(matches!(
        runtime.remove_image(&first, true).await,
        Err(RuntimeError::ImageNotFound { .. })
    ));
}

#[tokio::test]
async fn a_failing_build_step_reports_its_output() {
    let Some(runtime) = connect().await else {
        return;
    };
    let tag = unique_tag("nanoclaw-test-broken");
    let _cleanup = ImageGuard::of([tag.clone()]);
    let context = tar_context(&[("Dockerfile", "FROM scratch\nCOPY missing-file /x\n")]);
    let err = runtime
        .build(
            BuildRequest::new(context).tag(&tag).label(TEST, "true"),
            &mut |_| {},
        )
        .await
        .unwrap_err();
    let RuntimeError::BuildFailed {
        image,
        message,
        step_output,
    } = &err
    else {
        panic!("expected BuildFailed, got {err}");
    };
    assert_eq!(image, &tag);
    assert!(message.contains("missing-file"), "{message}");
    // The step that failed, not the whole build (the API's labels add a step).
    assert!(step_output.starts_with("Step 2/"), "{step_output}");
    assert!(
        step_output.contains("COPY missing-file /x"),
        "{step_output}"
    );
    assert!(!step_output.contains("FROM scratch"), "{step_output}");
    assert!(!runtime.image_exists(&tag).await.unwrap());
}

#[tokio::test]
async fn a_build_on_a_missing_base_image_is_refused_before_any_pull() {
    let Some(runtime) = connect().await else {
        return;
    };
    let base = format!("nanoclaw-missing-base-{}:1", InstanceId::generate());
    let context = tar_context(&[("Dockerfile", "ARG BASE\nFROM ${BASE}\nCOPY x /x\n")]);
    let started = Instant::now();
    let err = runtime
        .build(
            BuildRequest::new(context).build_arg("BASE", &base),
            &mut |_| {},
        )
        .await
        .unwrap_err();
    assert_eq!(err, RuntimeError::ImageNotFound { image: base });
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn created_containers_carry_the_spec_and_the_managed_labels() {
    let Some(runtime) = connect().await else {
        return;
    };
    let tag = unique_tag("nanoclaw-test-inert");
    let _cleanup = ImageGuard::of([tag.clone()]);
    let image = scratch_image(&runtime, &tag).await;
    let host_dir = tempfile::tempdir().unwrap();
    let spec = inert(&image)
        .env("ZED", "last-name-first")
        .env("ALPHA", "a=b")
        .env("API_TOKEN", "not-in-debug")
        .mount(Mount::bind(host_dir.path(), "/data", true))
        .mount(Mount::tmpfs("/scratch", Some(1 << 20)))
        .label("role", "agent")
        .user("1234:1234")
        .working_dir("/data")
        .build()
        .unwrap();
    let id = runtime.create(&spec).await.unwrap();

    let info = runtime.inspect(&id).await.unwrap();
    assert_eq!(info.state, ContainerState::Created);
    assert_eq!(info.exit_code, None);
    let ours: Vec<String> = info
        .env
        .iter()
        .filter(|v| ["ZED", "ALPHA", "API_TOKEN"].contains(&v.name()))
        .map(EnvVar::to_docker_string)
        .collect();
    assert_eq!(
        ours,
        ["ZED=last-name-first", "ALPHA=a=b", "API_TOKEN=not-in-debug"]
    );
    assert!(
        !format!("{info:?}").contains("not-in-debug"),
        "Debug shows a secret"
    );
    let data = info
        .mounts
        .iter()
        .find(|m| m.target == "/data")
        .expect("the bind mount");
    assert_eq!(data.kind, "bind");
    assert!(data.read_only);
    assert_eq!(std::path::Path::new(&data.source), host_dir.path());
    assert_eq!(info.labels[MANAGED], "true");
    assert_eq!(info.labels[INSTALL], runtime.identity().install.as_str());
    assert_eq!(info.labels[INSTANCE], runtime.identity().instance.as_str());
    assert_eq!(info.labels["role"], "agent");
    assert_eq!(info.labels[TEST], "true");
    assert_eq!(info.network_mode, "none");
    assert_eq!(info.user, "1234:1234");

    let listed = runtime
        .list(&BTreeMap::from([
            ("role".to_string(), "agent".to_string()),
            (
                INSTALL.to_string(),
                runtime.identity().install.as_str().to_string(),
            ),
        ]))
        .await
        .unwrap();
    assert_eq!(listed.iter().map(|c| &c.id).collect::<Vec<_>>(), [&id]);
    assert_eq!(listed[0].state, ContainerState::Created);

    runtime.remove(&id, false).await.unwrap();
    assert!(runtime
        .inspect(&id)
        .await
        .unwrap_err()
        .is_no_such_container());
    assert!(runtime
        .remove(&id, true)
        .await
        .unwrap_err()
        .is_no_such_container());
}

#[tokio::test]
async fn cleanup_removes_an_earlier_process_containers_but_not_ours() {
    let Some(current) = connect().await else {
        return;
    };
    let install = current.identity().install.clone();
    let earlier = DockerRuntime::connect(
        DockerOptions::new(install.clone()).instance(InstanceId::new("earlier-crashed").unwrap()),
    )
    .await
    .unwrap();
    let tag = unique_tag("nanoclaw-test-orphans");
    let _cleanup = ImageGuard::of([tag.clone()]);
    let image = scratch_image(&current, &tag).await;
    let spec = inert(&image).build().unwrap();
    let orphan = earlier.create(&spec).await.unwrap();
    let ours = current.create(&spec).await.unwrap();

    let removed = current.cleanup_orphans().await.unwrap();
    assert_eq!(removed, std::slice::from_ref(&orphan));
    assert!(current
        .inspect(&orphan)
        .await
        .unwrap_err()
        .is_no_such_container());
    assert_eq!(
        current.inspect(&ours).await.unwrap().state,
        ContainerState::Created
    );

    current.remove(&ours, true).await.unwrap();
    assert!(container_ids(INSTALL, install.as_str()).is_empty());
}

#[tokio::test]
async fn an_unreachable_daemon_is_named_with_the_fix() {
    let options = DockerOptions::new(support::docker::test_install())
        .endpoint("unix:///nonexistent/nanoclaw-test.sock");
    let err = DockerRuntime::connect(options).await.unwrap_err();
    assert!(
        matches!(err, RuntimeError::DaemonUnreachable { .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("/nonexistent/nanoclaw-test.sock") && text.contains("dockerd"),
        "{text}"
    );
}

#[tokio::test]
async fn the_api_version_is_negotiated_down_to_the_engine() {
    let Some(runtime) = connect().await else {
        return;
    };
    let unnegotiated = bollard::Docker::connect_with_defaults().unwrap();
    let server = unnegotiated.version().await.unwrap();
    let server_api = server
        .api_version
        .expect("the engine names its API version");
    let default = bollard::API_DEFAULT_VERSION;
    let default_api = format!("{}.{}", default.major_version, default.minor_version);
    let newer = |a: &str, b: &str| {
        let parse = |v: &str| -> (u32, u32) {
            let (major, minor) = v.split_once('.').unwrap();
            (major.parse().unwrap(), minor.parse().unwrap())
        };
        parse(a) > parse(b)
    };
    // The runtime speaks the older of the two versions (here: the engine's).
    let expected = if newer(&default_api, &server_api) {
        server_api
    } else {
        default_api
    };
    assert_eq!(runtime.api_version(), expected);
    assert!(!runtime
        .image_exists("nanoclaw-surely-absent:0")
        .await
        .unwrap());
}
