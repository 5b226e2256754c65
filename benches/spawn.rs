//! Spawn latency of one agent container, create → start → exit → removed:
//! through the library, and side by side in the same run through
//! `docker run --rm --pull never --network none` (what today's TypeScript
//! hosts do per agent), so the two can be compared. Prints the ratio at the end.
//!
//! `cargo bench --bench spawn`. Without a daemon it says so and exits.

#[path = "../examples/support/agent_image.rs"]
mod agent_image;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::Criterion;
use nanoclaw_sandbox_core::runtime::docker::{DockerOptions, DockerRuntime};
use nanoclaw_sandbox_core::runtime::{AgentHandle, ContainerRuntime, InstallId, TEST};
use nanoclaw_sandbox_core::spec::{ContainerSpec, NetworkMode};

/// Total time and iterations measured for one way of spawning.
#[derive(Default)]
struct Tally {
    total: Duration,
    iterations: u64,
}

impl Tally {
    fn mean(&self) -> Option<Duration> {
        u32::try_from(self.iterations)
            .ok()
            .filter(|n| *n > 0)
            .map(|n| self.total / n)
    }
}

fn main() {
    let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let Some((runtime, image)) = rt.block_on(setup()) else {
        return;
    };
    let spec = ContainerSpec::builder(image.as_str())
        .label(TEST, "true")
        .network(NetworkMode::None)
        .build()
        .expect("a valid spec");

    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(20))
        .configure_from_args();
    let mut group = criterion.benchmark_group("spawn");
    // Each iteration takes a few hundred ms: flat sampling is meant for that.
    group.sampling_mode(criterion::SamplingMode::Flat);

    let library = Arc::new(Mutex::new(Tally::default()));
    group.bench_function("library", |b| {
        b.to_async(&rt).iter_custom(|iterations| {
            let (runtime, spec, tally) = (runtime.clone(), spec.clone(), library.clone());
            async move {
                let started = Instant::now();
                for _ in 0..iterations {
                    let handle = AgentHandle::spawn(runtime.clone(), &spec)
                        .await
                        .expect("spawn");
                    let out = handle.output().await.expect("wait and remove");
                    assert!(out.status.success(), "the agent failed: {}", out.status);
                }
                record(&tally, started.elapsed(), iterations)
            }
        })
    });

    let cli = Arc::new(Mutex::new(Tally::default()));
    let docker_cli_present = std::process::Command::new("docker")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if docker_cli_present {
        group.bench_function("docker-cli", |b| {
            b.to_async(&rt).iter_custom(|iterations| {
                let (image, tally) = (image.clone(), cli.clone());
                async move {
                    let started = Instant::now();
                    for _ in 0..iterations {
                        let status = tokio::process::Command::new("docker")
                            .args(["run", "--rm", "--pull", "never", "--network", "none"])
                            .args(["--label", "nanoclaw.test=true", &image])
                            .status()
                            .await
                            .expect("running docker");
                        assert!(status.success(), "docker run failed: {status}");
                    }
                    record(&tally, started.elapsed(), iterations)
                }
            })
        });
    } else {
        eprintln!("no `docker` CLI on PATH: measuring the library only");
    }
    group.finish();
    criterion.final_summary();

    let lock = |t: &Arc<Mutex<Tally>>| t.lock().map(|t| t.mean()).ok().flatten();
    if let (Some(library), Some(cli)) = (lock(&library), lock(&cli)) {
        println!(
            "mean spawn: library {:.1} ms, docker CLI {:.1} ms: the CLI takes {:.2}x the library's time",
            library.as_secs_f64() * 1e3,
            cli.as_secs_f64() * 1e3,
            cli.as_secs_f64() / library.as_secs_f64()
        );
    }
}

fn record(tally: &Mutex<Tally>, elapsed: Duration, iterations: u64) -> Duration {
    if let Ok(mut tally) = tally.lock() {
        tally.total += elapsed;
        tally.iterations += iterations;
    }
    elapsed
}

/// The runtime and the agent image, or `None` (with the reason printed).
async fn setup() -> Option<(Arc<dyn ContainerRuntime>, String)> {
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
    Some((Arc::new(runtime), image))
}
