//! The runtime with running agents, on the real daemon. The agent is this
//! package's own binary (`nanoclaw-sandbox agent ...`) packed into a
//! `FROM scratch` image by the library: these tests live here because only
//! here does Cargo hand us that binary's path.
//!
//! Every container runs with `--network none` and is labelled `nanoclaw.test=true`.

mod cli_support;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use nanoclaw_agent_image::{ensure_agent_image, AgentImage, AgentImageRequest, CONTENT_HASH_LABEL};
use nanoclaw_sandbox_core::runtime::docker::{DockerOptions, DockerRuntime, IdleTimeouts};
use nanoclaw_sandbox_core::runtime::{
    AgentHandle, BlockingRemover, ContainerGuard, ContainerId, ContainerRuntime, ContainerState,
    ImageBuilder, InstallId, InstanceId, RuntimeError, INSTALL, TEST,
};
use nanoclaw_sandbox_core::spec::{ContainerSpec, ContainerSpecBuilder, NetworkMode};
use nanoclaw_testkit::docker::{container_ids, ImageGuard};
use tokio::sync::OnceCell;

use cli_support::{connect, connect_with, test_install};

const AGENT_EXE: &str = env!("CARGO_BIN_EXE_nanoclaw-sandbox");

/// The agent image, built (or found) once for all tests of this binary.
static AGENT_IMAGE: OnceCell<AgentImage> = OnceCell::const_new();

async fn agent_image(runtime: &DockerRuntime) -> String {
    AGENT_IMAGE
        .get_or_try_init(|| async {
            let request = AgentImageRequest::new(AGENT_EXE).entrypoint_args(["agent"]);
            ensure_agent_image(runtime, &request, &mut |_| {}).await
        })
        .await
        .expect("building the agent image")
        .tag
        .clone()
}

/// A connected runtime of a fresh test install, and the agent image.
async fn setup() -> Option<(Arc<DockerRuntime>, String)> {
    let runtime = connect().await?;
    let image = agent_image(&runtime).await;
    Some((Arc::new(runtime), image))
}

/// An agent running `args`, labelled as a test, with no network.
fn agent(image: &str, args: &[&str]) -> ContainerSpecBuilder {
    ContainerSpec::builder(image)
        .command(args.iter().copied())
        .label(TEST, "true")
        .network(NetworkMode::None)
}

async fn spawn(runtime: &Arc<DockerRuntime>, spec: ContainerSpecBuilder) -> AgentHandle {
    let runtime: Arc<dyn ContainerRuntime> = runtime.clone();
    AgentHandle::spawn(runtime, &spec.build().unwrap())
        .await
        .expect("spawning an agent")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn exit_codes_are_values_not_errors() {
    let Some((runtime, image)) = setup().await else {
        return;
    };
    for code in [0, 7] {
        let code_arg = code.to_string();
        let handle = spawn(&runtime, agent(&image, &["--exit", &code_arg])).await;
        let out = handle.output().await.unwrap();
        assert_eq!(out.status.code, code);
        assert_eq!(out.status.success(), code == 0);
        assert!(!out.status.oom_killed);
    }
    let install = &runtime.identity().install;
    assert!(container_ids(INSTALL, install.as_str()).is_empty());
}

#[tokio::test]
async fn stdout_and_stderr_stay_separate_and_complete() {
    let Some((runtime, image)) = setup().await else {
        return;
    };
    let spec = agent(
        &image,
        &[
            "--stdout", "out 1", "--stderr", "err 1", "--stdout", "out 2", "--stderr", "err 2",
        ],
    );
    let out = spawn(&runtime, spec).await.output().await.unwrap();
    assert_eq!(text(&out.stdout), "out 1\nout 2\n");
    assert_eq!(text(&out.stderr), "err 1\nerr 2\n");
    assert!(out.status.success());
}

#[tokio::test]
async fn stdin_is_delivered_and_closing_it_ends_the_input() {
    let Some((runtime, image)) = setup().await else {
        return;
    };
    let mut handle = spawn(
        &runtime,
        agent(&image, &["--echo-stdin"]).attach_stdin(true),
    )
    .await;
    let mut stdin = handle.take_stdin().expect("stdin was attached");
    stdin.write_all(b"hello\n").await.unwrap();
    stdin.write_all(b"world\n").await.unwrap();
    stdin.close().await.unwrap();
    let out = handle.output().await.unwrap();
    assert_eq!(text(&out.stdout), "hello\nworld\n");
    assert!(out.status.success());
}

#[tokio::test]
async fn the_environment_reaches_the_agent() {
    let Some((runtime, image)) = setup().await else {
        return;
    };
    let spec = agent(&image, &["--print-env"])
        .env("NANOCLAW_B", "second=2")
        .env("NANOCLAW_A", "first");
    let out = spawn(&runtime, spec).await.output().await.unwrap();
    let printed = text(&out.stdout);
    let lines: Vec<&str> = printed.lines().collect();
    assert!(lines.contains(&"NANOCLAW_A=first"), "{printed}");
    assert!(lines.contains(&"NANOCLAW_B=second=2"), "{printed}");
}

#[tokio::test]
async fn exec_runs_in_a_running_container_and_not_in_a_stopped_one() {
    let Some((runtime, image)) = setup().await else {
        return;
    };
    let handle = spawn(&runtime, agent(&image, &["--sleep", "60"])).await;
    let cmd: Vec<String> = [
        "/nanoclaw-agent",
        "agent",
        "--stdout",
        "from exec",
        "--stderr",
        "exec err",
        "--exit",
        "3",
    ]
    .map(String::from)
    .to_vec();
    let out = handle.exec(&cmd).await.unwrap();
    assert_eq!(out.exit_code, 3);
    assert_eq!(out.stdout_text(), "from exec\n");
    assert_eq!(out.stderr_text(), "exec err\n");

    handle.stop(Duration::ZERO).await.unwrap();
    let err = handle.exec(&cmd).await.unwrap_err();
    assert!(
        matches!(err, RuntimeError::ContainerNotRunning { .. }),
        "{err}"
    );
    handle.remove().await.unwrap();
}

#[tokio::test]
async fn inspect_reports_a_running_then_oom_killed_agent() {
    let Some((runtime, image)) = setup().await else {
        return;
    };
    // Sleeps first (time to look at it running), then allocates past the limit.
    let spec = agent(&image, &["--sleep", "1", "--alloc-mib", "512"])
        .memory_bytes(64 << 20)
        .env("NANOCLAW_SEEN", "yes");
    let handle = spawn(&runtime, spec).await;
    let running = handle.inspect().await.unwrap();
    assert_eq!(running.state, ContainerState::Running);
    assert_eq!(running.exit_code, None);
    assert!(running
        .env
        .iter()
        .any(|v| v.name() == "NANOCLAW_SEEN" && v.value() == "yes"));
    assert_eq!(running.network_mode, "none");

    let status = handle.wait().await.unwrap();
    assert!(status.oom_killed, "{status}");
    assert_eq!(status.code, 137);
    let exited = handle.inspect().await.unwrap();
    assert_eq!(exited.state, ContainerState::Exited);
    assert_eq!(exited.exit_code, Some(137));
    assert!(exited.oom_killed);
    handle.remove().await.unwrap();
}

#[tokio::test]
async fn stop_gives_a_grace_period_then_kills() {
    let Some((runtime, image)) = setup().await else {
        return;
    };
    // Ignores SIGTERM (PID 1 without a handler): killed once the grace is over.
    let stubborn = spawn(&runtime, agent(&image, &["--sleep", "60"])).await;
    let started = Instant::now();
    stubborn.stop(Duration::from_secs(2)).await.unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2),
        "stopped after {took:?}, before the grace ended"
    );
    assert!(took < Duration::from_secs(15), "stopped after {took:?}");
    assert_eq!(stubborn.wait().await.unwrap().code, 137);
    stubborn.remove().await.unwrap();

    // Handles SIGTERM: ends well within the grace, with its own code.
    let polite = spawn(
        &runtime,
        agent(&image, &["--term-exit", "42", "--sleep", "60"]),
    )
    .await;
    // Give the agent a moment to install its handler.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    polite.stop(Duration::from_secs(20)).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(polite.wait().await.unwrap().code, 42);
    polite.remove().await.unwrap();
}

#[tokio::test]
async fn containers_are_listed_by_label() {
    let Some((runtime, image)) = setup().await else {
        return;
    };
    let marker = InstanceId::generate().to_string();
    let handle = spawn(
        &runtime,
        agent(&image, &["--sleep", "60"]).label("nanoclaw.test.marker", marker.as_str()),
    )
    .await;
    let listed = runtime
        .list(&BTreeMap::from([(
            "nanoclaw.test.marker".to_string(),
            marker.clone(),
        )]))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(&listed[0].id, handle.id());
    assert_eq!(listed[0].state, ContainerState::Running);
    assert_eq!(
        listed[0].labels[INSTALL],
        runtime.identity().install.as_str()
    );
    handle.remove().await.unwrap();
    let after = runtime
        .list(&BTreeMap::from([(
            "nanoclaw.test.marker".to_string(),
            marker,
        )]))
        .await
        .unwrap();
    assert!(after.is_empty(), "{after:?}");
}

#[tokio::test]
async fn a_silent_stream_hits_its_idle_timeout_without_killing_the_agent() {
    let idle = IdleTimeouts {
        stdout: Some(Duration::from_millis(400)),
        ..IdleTimeouts::default()
    };
    let Some(runtime) = connect_with(DockerOptions::new(test_install()).idle_timeouts(idle)).await
    else {
        return;
    };
    let image = agent_image(&runtime).await;
    let runtime = Arc::new(runtime);
    let mut handle = spawn(
        &runtime,
        agent(&image, &["--stdout", "one line", "--sleep", "60"]),
    )
    .await;
    let mut stdout = handle.take_stdout().unwrap();
    let first = stdout.next_chunk().await.unwrap().unwrap();
    assert_eq!(text(&first), "one line\n");
    let started = Instant::now();
    let err = stdout.next_chunk().await.unwrap().unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(
            err,
            RuntimeError::StreamIdle {
                stream: "stdout",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    assert!(
        stdout.next_chunk().await.is_none(),
        "the stream ends after its timeout"
    );
    // Only the stream gave up: the agent is still running.
    assert_eq!(
        handle.inspect().await.unwrap().state,
        ContainerState::Running
    );
    handle.remove().await.unwrap();
}

#[tokio::test]
async fn the_request_timeout_bounds_headers_not_a_long_wait() {
    let options = DockerOptions::new(test_install()).request_timeout(Duration::from_secs(1));
    let Some(runtime) = connect_with(options).await else {
        return;
    };
    let image = agent_image(&runtime).await;
    let runtime = Arc::new(runtime);
    let handle = spawn(&runtime, agent(&image, &["--sleep", "3", "--exit", "5"])).await;
    let started = Instant::now();
    let status = handle.wait().await.unwrap();
    assert_eq!(status.code, 5);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    handle.remove().await.unwrap();
}

#[tokio::test]
async fn auto_remove_removes_once_the_status_is_read() {
    let Some((runtime, image)) = setup().await else {
        return;
    };
    let handle = spawn(&runtime, agent(&image, &["--exit", "4"]).auto_remove(true)).await;
    let id = handle.id().clone();
    assert_eq!(handle.wait().await.unwrap().code, 4);
    // A second wait answers from the handle, not the (removed) container.
    assert_eq!(handle.wait().await.unwrap().code, 4);
    assert!(runtime
        .inspect(&id)
        .await
        .unwrap_err()
        .is_no_such_container());
}

#[tokio::test]
async fn dropping_a_handle_removes_its_container() {
    let Some((runtime, image)) = setup().await else {
        return;
    };
    let handle = spawn(&runtime, agent(&image, &["--sleep", "60"])).await;
    let id = handle.id().clone();
    let timings = handle.timings();
    assert!(timings.total() > Duration::ZERO && timings.create > Duration::ZERO);
    drop(handle);
    assert!(
        removed_in_time(&runtime, &id).await,
        "the dropped handle's container is still there"
    );
}

/// Polls the engine until `id` is gone; `false` if it is still there after
/// a minute (a hang, not a timing target).
async fn removed_in_time(runtime: &DockerRuntime, id: &ContainerId) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        match runtime.inspect(id).await {
            Err(e) if e.is_no_such_container() => return true,
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    false
}

/// A remover that first waits (at most 10 s) for a gate to open, and
/// records whether it opened: the test's probe of whether a drop waited.
struct GatedRemover {
    inner: Arc<dyn BlockingRemover>,
    gate: Mutex<mpsc::Receiver<()>>,
    opened: Arc<AtomicBool>,
}

impl BlockingRemover for GatedRemover {
    fn remove_blocking(&self, id: &ContainerId) -> Result<(), RuntimeError> {
        let opened = self
            .gate
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(10))
            .is_ok();
        self.opened.store(opened, Ordering::SeqCst);
        self.inner.remove_blocking(id)
    }
}

// `#[tokio::test]` is a current-thread runtime: one thread for everything.
#[tokio::test]
async fn a_drop_returns_at_once_and_the_removal_follows() {
    let Some((runtime, image)) = setup().await else {
        return;
    };
    let spec = agent(&image, &["--sleep", "60"]).build().unwrap();
    let id = runtime.create(&spec).await.unwrap();
    runtime.start(&id).await.unwrap();
    let (open, gate) = mpsc::channel();
    let opened = Arc::new(AtomicBool::new(false));
    let guard = ContainerGuard::new(
        id.clone(),
        Arc::new(GatedRemover {
            inner: runtime.blocking_remover(),
            gate: Mutex::new(gate),
            opened: opened.clone(),
        }),
    );
    // This task shares the runtime's only thread with the drop below, so it
    // runs (and opens the removal's gate) only once the drop has returned:
    // a drop that waited for the removal would keep the gate shut.
    let opener = tokio::spawn(async move {
        let _ = open.send(());
    });
    drop(guard);
    opener.await.unwrap();
    assert!(
        removed_in_time(&runtime, &id).await,
        "the guard's container is still there"
    );
    assert!(
        opened.load(Ordering::SeqCst),
        "the drop blocked the runtime's thread until the removal gave up waiting"
    );
}

#[test]
fn a_panicking_body_holding_an_agent_leaves_no_container() {
    let install = test_install();
    let body_install = install.clone();
    let (spawned, spawned_rx) = mpsc::channel();
    // The body runs on a thread of its own with its own runtime, as a
    // `#[tokio::test]` does, and panics while the handle is alive.
    let body = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let Some(runtime) = connect_with(DockerOptions::new(body_install)).await else {
                return;
            };
            let image = agent_image(&runtime).await;
            let runtime = Arc::new(runtime);
            let handle = spawn(&runtime, agent(&image, &["--sleep", "300"])).await;
            spawned.send(handle.id().clone()).unwrap();
            panic!("deliberate panic while holding agent {}", handle.id());
        });
    });
    if body.join().is_ok() {
        return; // no daemon: the body said why and skipped
    }
    let id = spawned_rx
        .try_recv()
        .expect("the body panicked before its agent was running");
    println!("the panicked body held {}", id.short());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut left = container_ids(INSTALL, install.as_str());
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        left = container_ids(INSTALL, install.as_str());
    }
    assert!(left.is_empty(), "containers left behind: {left:?}");
}

/// Env var naming the install the panicking helper spawns its agent under.
const PANIC_HELPER_INSTALL: &str = "NANOCLAW_TEST_PANIC_HELPER_INSTALL";

/// Not a test of its own: the body that `a_panicking_test_leaves_no_container`
/// runs in a child process, so that a real `#[tokio::test]` panics (tearing
/// its runtime down) while holding a running agent.
#[tokio::test]
#[ignore = "helper: run by a_panicking_test_leaves_no_container in a child process"]
async fn panicking_helper_holding_an_agent() {
    let Ok(install) = std::env::var(PANIC_HELPER_INSTALL) else {
        return;
    };
    let install = InstallId::new(install).unwrap();
    let runtime = DockerRuntime::connect(DockerOptions::new(install))
        .await
        .unwrap();
    let image = agent_image(&runtime).await;
    let runtime = Arc::new(runtime);
    let handle = spawn(&runtime, agent(&image, &["--sleep", "300"])).await;
    println!("spawned {}", handle.id());
    panic!("deliberate panic while holding agent {}", handle.id());
}

#[tokio::test]
async fn a_panicking_test_leaves_no_container() {
    let Some(runtime) = connect().await else {
        return;
    };
    let install = runtime.identity().install.clone();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "panicking_helper_holding_an_agent",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PANIC_HELPER_INSTALL, install.as_str())
        .output()
        .unwrap();
    let stdout = text(&child.stdout);
    let stderr = text(&child.stderr);
    assert!(
        stdout.contains("spawned "),
        "the helper never got an agent running:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("deliberate panic") && !child.status.success(),
        "the helper did not panic:\n{stdout}\n{stderr}"
    );
    // The process exited right after its runtime dropped the handle: the
    // detached removal may have died with it (the documented limit). What
    // is left is the next start's: orphan cleanup by label removes it.
    let left = container_ids(INSTALL, install.as_str());
    println!("left by the panicked process at its exit: {}", left.len());
    runtime.cleanup_orphans().await.unwrap();
    // A removal the dead process had under way finishes on the engine
    // (cleanup counts "already in progress" as done): poll, bounded.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut left = container_ids(INSTALL, install.as_str());
    while !left.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = container_ids(INSTALL, install.as_str());
    }
    assert!(
        left.is_empty(),
        "containers left behind after orphan cleanup: {left:?}\n{stderr}"
    );
}

#[tokio::test]
async fn the_agent_image_is_built_once_then_reused() {
    let Some(runtime) = connect().await else {
        return;
    };
    // A variant of its own (the marker enters the content hash), so that
    // this test really builds, without touching the shared agent image.
    let marker = InstanceId::generate().to_string();
    let request = AgentImageRequest::new(AGENT_EXE)
        .entrypoint_args(["agent"])
        .label(TEST, "true")
        .label("nanoclaw.test.marker", marker.as_str());
    let mut cleanup = ImageGuard::new();

    let mut lines = Vec::new();
    let first = ensure_agent_image(&runtime, &request, &mut |l| lines.push(l.to_string()))
        .await
        .unwrap();
    cleanup.tag(first.tag.clone());
    assert!(first.built);
    assert!(
        lines.iter().any(|l| l.contains("FROM scratch")),
        "{lines:?}"
    );
    assert!(first.tag.starts_with("nanoclaw-agent:"));

    let mut second_lines = Vec::new();
    let second = ensure_agent_image(&runtime, &request, &mut |l| {
        second_lines.push(l.to_string())
    })
    .await
    .unwrap();
    assert!(!second.built, "the second call rebuilt the image");
    assert!(second_lines.is_empty(), "{second_lines:?}");
    assert_eq!(
        (second.id.clone(), second.tag.clone()),
        (first.id.clone(), first.tag.clone())
    );

    let labelled = runtime
        .find_images(&BTreeMap::from([(
            CONTENT_HASH_LABEL.to_string(),
            first.content_hash.clone(),
        )]))
        .await
        .unwrap();
    assert_eq!(labelled.len(), 1);
    assert_eq!(labelled[0].labels[TEST], "true");
}

#[tokio::test]
async fn an_agent_on_no_network_still_runs_from_nothing_but_its_files() {
    let Some((runtime, image)) = setup().await else {
        return;
    };
    // The image holds the executable and its libraries only: no shell, no
    // /etc. It still starts, prints, and exits cleanly with no network.
    let spec = agent(&image, &["--stdout", "alive"]);
    let out = spawn(&runtime, spec).await.output().await.unwrap();
    assert_eq!(text(&out.stdout), "alive\n");
    let shell: Vec<String> = vec!["/bin/sh".into(), "-c".into(), "true".into()];
    let handle = spawn(&runtime, agent(&image, &["--sleep", "60"])).await;
    let ran_a_shell = matches!(handle.exec(&shell).await, Ok(out) if out.exit_code == 0);
    assert!(!ran_a_shell, "the image has a working shell");
    handle.remove().await.unwrap();
}
