//! The container path, measured side by side: every comparison runs
//! interleaved in one run (A B A B …), each pair gives a ratio, and the
//! median ratio is reported, so the machine's drift cancels out.
//!
//! Rows (docs/benchmarks.md has the table and what each measures):
//!
//! - **message → first reply byte**, the agent answering at once (the
//!   CLI's agent, `agent --serve --echo`, in its `FROM scratch` image):
//!   a warm agent taken from an `AgentPool` vs a cold spawn through the
//!   library (`AgentProfile::spec_for` + `AgentHandle::spawn`) vs
//!   `docker run -i --rm --pull never` as a child process (what today's
//!   hosts do per message), on `--network none` and on the bridge;
//! - **cold spawn**, create → start → exit → removed: library vs docker CLI;
//! - **patched vs unpatched** cold spawn: `SandboxRuntime` in an
//!   intercepting sandbox (proxy variables, CA mount, trust variables) vs the
//!   `DockerRuntime` underneath;
//! - **the patcher alone** (a dry run of the same patch, no engine);
//! - **host memory per live agent handle** (100 agents blocked on stdin).
//!
//! It ends with one `ratio NAME: X.XX` line per ratio, for scripts; every
//! sample goes to `<target>/nanoclaw-bench/spawn-samples.csv`, which
//! `benches/plot_spawn.py` turns into the SVG in docs/.
//!
//! `cargo bench --bench spawn`; `NANOCLAW_BENCH_PAIRS` sets the rounds per
//! comparison (default 12). Without a daemon or an agent executable it says
//! so and exits. Nothing is pulled.

#[path = "../examples/support/agent_image.rs"]
mod agent_image;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nanoclaw_sandbox_core::channel::ChatId;
use nanoclaw_sandbox_core::host::profile::{SESSION_DIR_VAR, SESSION_MOUNT};
use nanoclaw_sandbox_core::host::{AgentPool, AgentProfile, ChatKey};
use nanoclaw_sandbox_core::proxy::ProxyVar;
use nanoclaw_sandbox_core::runtime::docker::{DockerOptions, DockerRuntime};
use nanoclaw_sandbox_core::runtime::{AgentHandle, ContainerRuntime, InstallId, Stdin, TEST};
use nanoclaw_sandbox_core::runtime::{OutputStream, SpawnTimings};
use nanoclaw_sandbox_core::sandbox::{DetectOptions, SandboxEnv, SandboxRuntime};
use nanoclaw_sandbox_core::spec::{ContainerSpec, NetworkMode};
use nanoclaw_sandbox_core::trust::SystemRoots;
use nanoclaw_testkit::ca::TestCa;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PAIRS_VAR: &str = "NANOCLAW_BENCH_PAIRS";
const DEFAULT_PAIRS: usize = 12;
/// Live handles for the memory row.
const HANDLES: usize = 100;
/// Patches per timed batch of the patcher row.
const PATCH_BATCH: u32 = 2_000;
/// What the bench writes to the agent: one protocol message.
const MESSAGE: &str = "{\"type\":\"message\",\"v\":1,\"id\":\"1\",\"chat\":\"bench:1\",\"message_id\":\"1\",\"text\":\"ping\"}\n";

type Result<T> = std::result::Result<T, String>;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let pairs = std::env::var(PAIRS_VAR)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n: &usize| *n > 0)
        .unwrap_or(DEFAULT_PAIRS);
    if let Err(e) = rt.block_on(run(pairs)) {
        eprintln!("spawn benchmark failed: {e}");
        std::process::exit(1);
    }
}

/// One measured value of one way, for the CSV and the medians.
struct Sample {
    row: &'static str,
    way: &'static str,
    round: usize,
    seconds: f64,
}

#[derive(Default)]
struct Report {
    samples: Vec<Sample>,
    /// `(name, ratios per pair)`.
    ratios: Vec<(String, Vec<f64>)>,
    /// Lines of the phase breakdown.
    notes: Vec<String>,
}

impl Report {
    fn sample(&mut self, row: &'static str, way: &'static str, round: usize, took: Duration) {
        self.samples.push(Sample {
            row,
            way,
            round,
            seconds: took.as_secs_f64(),
        });
    }

    fn ratio(&mut self, name: &str, value: f64) {
        match self.ratios.iter_mut().find(|(n, _)| n == name) {
            Some((_, values)) => values.push(value),
            None => self.ratios.push((name.to_string(), vec![value])),
        }
    }

    fn times(&self, row: &str, way: &str) -> Vec<f64> {
        self.samples
            .iter()
            .filter(|s| s.row == row && s.way == way)
            .map(|s| s.seconds)
            .collect()
    }
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// A ratio as `X.XX`, with more digits when it is small.
fn shown(ratio: f64) -> String {
    if ratio < 0.1 {
        format!("{ratio:.4}")
    } else {
        format!("{ratio:.2}")
    }
}

fn ms(seconds: f64) -> String {
    format!("{:.1} ms", seconds * 1e3)
}

async fn run(pairs: usize) -> Result<()> {
    let Some((docker, image)) = setup().await else {
        return Ok(());
    };
    let plain: Arc<dyn ContainerRuntime> = Arc::new(docker.clone());
    let workspace = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut report = Report::default();
    let started = Instant::now();
    println!("spawn benchmark: {pairs} interleaved rounds per comparison, agent image {image}");

    for (network, label) in [
        (NetworkMode::None, "none"),
        (NetworkMode::Default, "bridge"),
    ] {
        message_rows(
            &plain,
            &image,
            workspace.path(),
            network,
            label,
            pairs,
            &mut report,
        )
        .await?;
    }
    spawn_rows(&plain, &image, pairs, &mut report).await?;
    let sandbox = sandboxed(docker, workspace.path())?;
    patched_rows(&plain, sandbox.clone(), &image, pairs, &mut report).await?;
    patcher_row(&sandbox, &image, &mut report)?;
    memory_row(&plain, &image, &mut report).await?;

    write_samples(&report);
    println!();
    println!("medians (each way's own samples):");
    let mut rows: Vec<(&str, &str)> = Vec::new();
    for s in &report.samples {
        if !rows.contains(&(s.row, s.way)) {
            rows.push((s.row, s.way));
        }
    }
    for (row, way) in rows {
        let times = report.times(row, way);
        println!(
            "  {row:<28} {way:<18} {:>10}  (n={})",
            ms(median(&times)),
            times.len()
        );
    }
    for note in &report.notes {
        println!("{note}");
    }
    println!(
        "spawn benchmark finished in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    println!();
    for (name, values) in &report.ratios {
        println!("ratio {name}: {}", shown(median(values)));
    }
    Ok(())
}

/// The runtime and the agent image, or `None` (with the reason printed).
async fn setup() -> Option<(DockerRuntime, String)> {
    let workspace = std::env::current_dir().ok()?;
    let options = DockerOptions::new(InstallId::from_workspace(&workspace));
    let runtime = match DockerRuntime::connect(options).await {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("skipping the spawn benchmark: {e}");
            return None;
        }
    };
    let image = match agent_image::agent_image_tag(&runtime).await {
        Ok(Some(tag)) => tag,
        Ok(None) => return None,
        Err(e) => {
            eprintln!("skipping the spawn benchmark: {e}");
            return None;
        }
    };
    Some((runtime, image))
}

/// The echo agent's profile on `network`.
fn echo_profile(image: &str, network: NetworkMode) -> Result<AgentProfile> {
    let spec = ContainerSpec::builder(image)
        .command(["--serve", "--echo"])
        .label(TEST, "true")
        .network(network)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(AgentProfile::new(spec).user("1000:1000"))
}

/// Writes the message and reads stdout until the reply line shows; returns
/// when its first byte arrived.
async fn ask(stdin: &mut Stdin, stdout: &mut OutputStream) -> Result<Instant> {
    stdin
        .write_all(MESSAGE.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut seen = Vec::new();
    while let Some(chunk) = stdout.next_chunk().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        seen.extend_from_slice(&chunk);
        if contains(&seen, b"\"reply\"") {
            return Ok(Instant::now());
        }
    }
    Err(format!(
        "the agent ended without a reply: {}",
        String::from_utf8_lossy(&seen)
    ))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A cold spawn of `spec` answering one message: (first reply, timings, reply after start).
async fn cold_message(
    runtime: &Arc<dyn ContainerRuntime>,
    spec: &ContainerSpec,
) -> Result<(Duration, SpawnTimings, Duration)> {
    let began = Instant::now();
    let mut handle = AgentHandle::spawn(runtime.clone(), spec)
        .await
        .map_err(|e| e.to_string())?;
    let spawned = Instant::now();
    let (mut stdin, mut stdout) = streams(&mut handle)?;
    let replied = ask(&mut stdin, &mut stdout).await?;
    let timings = handle.timings();
    handle.remove().await.map_err(|e| e.to_string())?;
    Ok((replied - began, timings, replied - spawned))
}

fn streams(handle: &mut AgentHandle) -> Result<(Stdin, OutputStream)> {
    let stdin = handle.take_stdin().ok_or("no stdin attached")?;
    let stdout = handle.take_stdout().ok_or("no stdout")?;
    Ok((stdin, stdout))
}

/// `docker run -i --rm --pull never` with the same user, mounts, variable,
/// label and network as the library's agent, answering one message.
async fn docker_run_message(
    image: &str,
    network: &str,
    chat: &Path,
    session: &Path,
) -> Result<Duration> {
    let began = Instant::now();
    let mut child = tokio::process::Command::new("docker")
        .args(["run", "-i", "--rm", "--pull", "never", "--network", network])
        .arg("--label")
        .arg(format!("{TEST}=true"))
        .args(["--user", "1000:1000"])
        .arg("-v")
        .arg(format!("{}:/workspace/chat", chat.display()))
        .arg("-v")
        .arg(format!("{}:{SESSION_MOUNT}", session.display()))
        .arg("-e")
        .arg(format!("{SESSION_DIR_VAR}={SESSION_MOUNT}"))
        .args([image, "--serve", "--echo"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("running docker: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    stdin
        .write_all(MESSAGE.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut seen = Vec::new();
    let mut buffer = [0u8; 4096];
    let replied = loop {
        let n = stdout.read(&mut buffer).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!(
                "docker run ended without a reply: {}",
                String::from_utf8_lossy(&seen)
            ));
        }
        seen.extend_from_slice(&buffer[..n]);
        if contains(&seen, b"\"reply\"") {
            break Instant::now();
        }
    };
    drop(stdin);
    let status = child.wait().await.map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("docker run failed: {status}"));
    }
    Ok(replied - began)
}

/// Message → first reply byte: pooled, cold library, docker run.
async fn message_rows(
    runtime: &Arc<dyn ContainerRuntime>,
    image: &str,
    workspace: &Path,
    network: NetworkMode,
    label: &'static str,
    pairs: usize,
    report: &mut Report,
) -> Result<()> {
    let row: &'static str = if label == "none" {
        "message none"
    } else {
        "message bridge"
    };
    let docker_network = if label == "none" { "none" } else { "bridge" };
    let profile = echo_profile(image, network)?;
    let ws = workspace.join(format!("message-{label}"));
    let pool =
        AgentPool::start(runtime.clone(), profile.clone(), &ws, 1).map_err(|e| e.to_string())?;
    let chat_dir = |kind: &str, n: usize| -> Result<PathBuf> {
        let dir = ws.join(format!("{kind}-{n}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        Ok(dir)
    };
    let mut phases: Vec<(SpawnTimings, Duration)> = Vec::new();
    // One untimed warm-up round, then the timed ones.
    for round in 0..=pairs {
        tokio::time::timeout(Duration::from_secs(60), pool.ready_at_least(1))
            .await
            .map_err(|_| format!("no warm agent within 60 s: {pool:?}"))?;
        let chat = ChatKey::new("bench", ChatId(format!("{label}-{round}")));
        let began = Instant::now();
        let mut agent = pool.take(&chat).ok_or("the pool had no warm agent")?;
        let (mut stdin, mut stdout) = streams(agent.handle_mut())?;
        let pooled = ask(&mut stdin, &mut stdout).await? - began;
        agent.remove().await.map_err(|e| e.to_string())?;
        // The refill runs now: let it finish before the next timing.
        tokio::time::timeout(Duration::from_secs(60), pool.ready_at_least(1))
            .await
            .map_err(|_| "the pool did not refill within 60 s".to_string())?;

        let spec = profile
            .spec_for(
                &chat,
                &chat_dir("cold-chat", round)?,
                &chat_dir("cold-session", round)?,
            )
            .map_err(|e| e.to_string())?;
        let (cold, timings, after_start) = cold_message(runtime, &spec).await?;

        let cli = docker_run_message(
            image,
            docker_network,
            &chat_dir("cli-chat", round)?,
            &chat_dir("cli-session", round)?,
        )
        .await?;
        if round == 0 {
            continue;
        }
        report.sample(row, "pooled", round, pooled);
        report.sample(row, "cold-library", round, cold);
        report.sample(row, "docker-run", round, cli);
        phases.push((timings, after_start));
        let suffix = if label == "none" { "" } else { "-bridge" };
        report.ratio(
            &format!("pooled/docker-run{suffix}"),
            pooled.as_secs_f64() / cli.as_secs_f64(),
        );
        report.ratio(
            &format!("cold-library/docker-run{suffix}"),
            cold.as_secs_f64() / cli.as_secs_f64(),
        );
        report.ratio(
            &format!("pooled/cold-library{suffix}"),
            pooled.as_secs_f64() / cold.as_secs_f64(),
        );
    }
    pool.close().await;
    let part = |f: &dyn Fn(&(SpawnTimings, Duration)) -> Duration| {
        median(
            &phases
                .iter()
                .map(|p| f(p).as_secs_f64())
                .collect::<Vec<_>>(),
        )
    };
    let mut note = format!("where a cold library spawn's time goes (--network {label}, medians):");
    let _ = write!(
        note,
        " create {}, attach {}, start {}, start → first reply byte {}",
        ms(part(&|p| p.0.create)),
        ms(part(&|p| p.0.attach)),
        ms(part(&|p| p.0.start)),
        ms(part(&|p| p.1)),
    );
    report.notes.push(note);
    Ok(())
}

/// Cold spawn, create → start → exit → removed: library vs docker CLI.
async fn spawn_rows(
    runtime: &Arc<dyn ContainerRuntime>,
    image: &str,
    pairs: usize,
    report: &mut Report,
) -> Result<()> {
    let spec = exit_spec(image)?;
    for round in 0..=pairs {
        let library = spawn_to_exit(runtime, &spec).await?;
        let began = Instant::now();
        let status = tokio::process::Command::new("docker")
            .args(["run", "--rm", "--pull", "never", "--network", "none"])
            .arg("--label")
            .arg(format!("{TEST}=true"))
            .arg(image)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .map_err(|e| format!("running docker: {e}"))?;
        let cli = began.elapsed();
        if !status.success() {
            return Err(format!("docker run failed: {status}"));
        }
        if round == 0 {
            continue;
        }
        report.sample("spawn to exit", "library", round, library);
        report.sample("spawn to exit", "docker-cli", round, cli);
        report.ratio(
            "cold-library/docker-cli",
            library.as_secs_f64() / cli.as_secs_f64(),
        );
    }
    Ok(())
}

/// The agent image run with no arguments: it prints its usage and exits.
fn exit_spec(image: &str) -> Result<ContainerSpec> {
    ContainerSpec::builder(image)
        .label(TEST, "true")
        .network(NetworkMode::None)
        .build()
        .map_err(|e| e.to_string())
}

async fn spawn_to_exit(
    runtime: &Arc<dyn ContainerRuntime>,
    spec: &ContainerSpec,
) -> Result<Duration> {
    let began = Instant::now();
    let handle = AgentHandle::spawn(runtime.clone(), spec)
        .await
        .map_err(|e| e.to_string())?;
    let out = handle.output().await.map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("the agent failed: {}", out.status));
    }
    Ok(began.elapsed())
}

/// An intercepting sandbox with a CA file of its own, on `docker`.
fn sandboxed(
    docker: DockerRuntime,
    workspace: &Path,
) -> Result<Arc<SandboxRuntime<DockerRuntime>>> {
    let ca_path = workspace.join("proxy-ca.crt");
    std::fs::write(&ca_path, TestCa::new("Bench Spawn Proxy CA").pem())
        .map_err(|e| e.to_string())?;
    let vars = |name: &str| {
        (name == ProxyVar::HTTPS_PROXY.upper).then(|| "http://proxy.invalid:3128".into())
    };
    let env = SandboxEnv::detect_from(vars, &DetectOptions::default().with_explicit_ca(&ca_path))
        .map_err(|e| e.to_string())?;
    let sandbox = SandboxRuntime::builder(docker)
        .env(env)
        .workspace_root(workspace)
        .system_roots(SystemRoots::Builtin)
        .build()
        .map_err(|e| e.to_string())?;
    Ok(Arc::new(sandbox))
}

/// Cold spawn to exit through the sandbox layer vs the runtime underneath.
async fn patched_rows(
    plain: &Arc<dyn ContainerRuntime>,
    sandbox: Arc<SandboxRuntime<DockerRuntime>>,
    image: &str,
    pairs: usize,
    report: &mut Report,
) -> Result<()> {
    let spec = exit_spec(image)?;
    let (patched_spec, _) = sandbox.patch(&spec).map_err(|e| e.to_string())?;
    if patched_spec == spec {
        return Err("the sandbox layer did not patch the spec: nothing to compare".into());
    }
    let patched: Arc<dyn ContainerRuntime> = sandbox;
    for round in 0..=pairs {
        let unpatched_time = spawn_to_exit(plain, &spec).await?;
        let patched_time = spawn_to_exit(&patched, &spec).await?;
        if round == 0 {
            continue;
        }
        report.sample(
            "spawn to exit (sandbox)",
            "unpatched",
            round,
            unpatched_time,
        );
        report.sample("spawn to exit (sandbox)", "patched", round, patched_time);
        report.ratio(
            "patched/unpatched",
            patched_time.as_secs_f64() / unpatched_time.as_secs_f64(),
        );
    }
    Ok(())
}

/// The patcher alone: the same patch, as a dry run, in batches.
fn patcher_row(
    sandbox: &SandboxRuntime<DockerRuntime>,
    image: &str,
    report: &mut Report,
) -> Result<()> {
    let profile = echo_profile(image, NetworkMode::None)?;
    let chat = ChatKey::new("bench", ChatId("patch".into()));
    let spec = profile
        .spec_for(
            &chat,
            Path::new("/ws/chats/bench.patch"),
            Path::new("/ws/sessions/bench.patch"),
        )
        .map_err(|e| e.to_string())?;
    let mut per_patch = Vec::new();
    for _ in 0..20 {
        let began = Instant::now();
        for _ in 0..PATCH_BATCH {
            std::hint::black_box(
                sandbox
                    .patch(std::hint::black_box(&spec))
                    .map_err(|e| e.to_string())?,
            );
        }
        per_patch.push(began.elapsed().as_secs_f64() / f64::from(PATCH_BATCH));
    }
    let us = median(&per_patch) * 1e6;
    report
        .notes
        .push(format!("the patcher alone (an agent spec with its two folders, intercepting sandbox): {us:.2} µs per patch (median of 20 batches of {PATCH_BATCH})"));
    report.ratio("patcher/20us", us / 20.0);
    Ok(())
}

/// Resident memory of this process, in KiB (Linux).
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Host memory per live agent handle: 100 echo agents blocked on stdin,
/// their streams held.
async fn memory_row(
    runtime: &Arc<dyn ContainerRuntime>,
    image: &str,
    report: &mut Report,
) -> Result<()> {
    let profile = echo_profile(image, NetworkMode::None)?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let chat = ChatKey::new("bench", ChatId("memory".into()));
    let spec = profile
        .spec_for(&chat, dir.path(), dir.path())
        .map_err(|e| e.to_string())?;
    // One handle first, so the connection and the runtime's buffers exist.
    let warm_up = AgentHandle::spawn(runtime.clone(), &spec)
        .await
        .map_err(|e| e.to_string())?;
    let before = rss_kib().ok_or("no /proc/self/status")?;
    let began = Instant::now();
    let mut handles = Vec::with_capacity(HANDLES);
    let mut failure = None;
    for _ in 0..HANDLES {
        match AgentHandle::spawn(runtime.clone(), &spec).await {
            Ok(handle) => handles.push(handle),
            Err(e) => {
                failure = Some(e.to_string());
                break;
            }
        }
    }
    let after = rss_kib().ok_or("no /proc/self/status")?;
    let made = handles.len();
    let took = began.elapsed();
    let removing = Instant::now();
    let mut removals = tokio::task::JoinSet::new();
    for handle in handles.into_iter().chain([warm_up]) {
        removals.spawn(handle.remove());
        while removals.len() >= 8 {
            if let Some(Ok(Err(e))) = removals.join_next().await {
                eprintln!("removing an agent failed: {e}");
            }
        }
    }
    while let Some(result) = removals.join_next().await {
        if let Ok(Err(e)) = result {
            eprintln!("removing an agent failed: {e}");
        }
    }
    if let Some(e) = failure {
        return Err(format!("only {made} of {HANDLES} agents started: {e}"));
    }
    let per_handle = after.saturating_sub(before) as f64 / made as f64;
    report.notes.push(format!(
        "host memory per live agent handle: {per_handle:.1} KiB ({HANDLES} echo agents blocked on stdin, streams held; RSS {before} → {after} KiB; spawned in {:.0} s, removed in {:.0} s)",
        took.as_secs_f64(),
        removing.elapsed().as_secs_f64()
    ));
    report.ratio("handle-memory/64KiB", per_handle / 64.0);
    Ok(())
}

/// Every sample as CSV, for `benches/plot_spawn.py`.
fn write_samples(report: &Report) {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"));
    let dir = target.join("nanoclaw-bench");
    let path = dir.join("spawn-samples.csv");
    let mut csv = String::from("row,way,round,seconds\n");
    for s in &report.samples {
        let _ = writeln!(csv, "{},{},{},{:.6}", s.row, s.way, s.round, s.seconds);
    }
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, csv)) {
        Ok(()) => println!("samples written to {}", path.display()),
        Err(e) => eprintln!(
            "the samples could not be written to {}: {e}",
            path.display()
        ),
    }
}
