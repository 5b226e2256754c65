//! HTTPS through an intercepting proxy, side by side in one run: the
//! library's `HttpClient` vs reqwest (rustls, the same `ClientConfig`
//! roots: only the proxy's CA) through the stand-in and through mitmproxy,
//! and the stand-in vs mitmproxy; plus the stand-in's plain tunnel (bypass)
//! vs going direct. Every comparison is interleaved (one batch of each way
//! per round), each round gives a ratio, and the median ratio is reported.
//!
//! Workloads, on `GET https://upstream.test/1k` and `/1m` (a local HTTPS
//! server; both proxies map the name to it): sequential requests over one
//! client (one tunnel, kept alive) and 32 requests in flight at once.
//!
//! `cargo bench --bench https`; `NANOCLAW_BENCH_HTTPS_ROUNDS` sets the
//! rounds (default 5; mitmproxy, at about half a second per MiB here, gets
//! fewer requests per batch than the stand-in). Without mitmproxy the rows that need it are left
//! out, and it says so. Ends with `ratio NAME: X.XX` lines.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nanoclaw_sandbox_core::http::{HttpClient, Timeouts};
use nanoclaw_sandbox_core::proxy::{ProxyUrl, StaticProxyConfig};
use nanoclaw_sandbox_core::standin::{self, HostMapping, HostPattern, Standin, StandinConfig};
use nanoclaw_testkit::ca::{cert_der_from_pem, client_config, TestCa};
use nanoclaw_testkit::https::{Server, Site};
use nanoclaw_testkit::mitm::{MitmOptions, Mitmproxy, Route};

const ROUNDS_VAR: &str = "NANOCLAW_BENCH_HTTPS_ROUNDS";
const DEFAULT_ROUNDS: usize = 5;
/// The name clients ask for; the proxies map it to the local server.
const UPSTREAM: &str = "upstream.test";
/// Requests in flight at once in the concurrent workload.
const WIDTH: usize = 32;
/// Requests of the tunnel-overhead row, per way and round.
const LATENCY_REQUESTS: usize = 200;

type Result<T> = std::result::Result<T, String>;

#[derive(Clone, Copy)]
struct Workload {
    name: &'static str,
    path: &'static str,
    bytes: usize,
    /// Requests per batch through the stand-in.
    requests: usize,
    /// Requests per batch through mitmproxy, which is 10 to 100 times
    /// slower: the same count would make a 1 MiB round last minutes.
    mitm_requests: usize,
    width: usize,
}

impl Workload {
    /// The same workload with `requests` per batch.
    fn with_requests(self, requests: usize) -> Workload {
        Workload { requests, ..self }
    }
}

const WORKLOADS: [Workload; 4] = [
    Workload {
        name: "seq-1KiB",
        path: "/1k",
        bytes: 1024,
        requests: 100,
        mitm_requests: 100,
        width: 1,
    },
    Workload {
        name: "seq-1MiB",
        path: "/1m",
        bytes: 1 << 20,
        // A batch of 4 lasted ~40 ms through the stand-in: scheduling noise
        // moved its ratio between 0.62 and 1.45 from run to run.
        requests: 64,
        mitm_requests: 4,
        width: 1,
    },
    Workload {
        name: "32x-1KiB",
        path: "/1k",
        bytes: 1024,
        requests: 16 * WIDTH,
        mitm_requests: 4 * WIDTH,
        width: WIDTH,
    },
    Workload {
        name: "32x-1MiB",
        path: "/1m",
        bytes: 1 << 20,
        requests: 4 * WIDTH,
        mitm_requests: WIDTH,
        width: WIDTH,
    },
];

/// One client, either kind.
#[derive(Clone)]
enum Client {
    /// Boxed: the library's client is much larger than reqwest's handle.
    Library(Box<HttpClient>),
    Reqwest(reqwest::Client),
}

impl Client {
    async fn get(&self, url: &str) -> Result<usize> {
        match self {
            Client::Library(c) => {
                let response = c.get(url).await.map_err(|e| e.to_string())?;
                if response.status() != 200 {
                    return Err(format!("{url}: HTTP {}", response.status()));
                }
                Ok(response.body().len())
            }
            Client::Reqwest(c) => {
                let response = c.get(url).send().await.map_err(|e| format!("{e:?}"))?;
                if response.status() != 200 {
                    return Err(format!("{url}: HTTP {}", response.status()));
                }
                Ok(response.bytes().await.map_err(|e| e.to_string())?.len())
            }
        }
    }
}

/// The library's client through `proxy` (or direct), trusting only `root_pem`.
fn library(proxy: Option<&str>, root_pem: &str) -> Result<Client> {
    let config = match proxy {
        Some(url) => StaticProxyConfig::via(ProxyUrl::parse(url).map_err(|e| e.to_string())?),
        None => StaticProxyConfig::direct(),
    };
    HttpClient::builder(config)
        .public_roots(vec![cert_der_from_pem(root_pem)])
        .native_roots(false)
        .timeouts(Timeouts {
            connect: Duration::from_secs(10),
            tls: Duration::from_secs(10),
            request: Duration::from_secs(60),
        })
        .build()
        .map(|client| Client::Library(Box::new(client)))
        .map_err(|e| e.to_string())
}

fn reqwest_client(proxy: &str, ca_pem: &str) -> Result<Client> {
    let tls = (*client_config(&[ca_pem], &[b"h2", b"http/1.1"])).clone();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .proxy(reqwest::Proxy::all(proxy).map_err(|e| e.to_string())?)
        .timeout(Duration::from_secs(60))
        .build()
        .map(Client::Reqwest)
        .map_err(|e| e.to_string())
}

/// Runs `workload` with `client`; returns requests per second.
async fn batch(client: &Client, workload: Workload) -> Result<f64> {
    let url = format!("https://{UPSTREAM}{}", workload.path);
    let began = Instant::now();
    if workload.width == 1 {
        for _ in 0..workload.requests {
            check(client.get(&url).await?, workload)?;
        }
    } else {
        let mut left = workload.requests;
        let mut tasks = tokio::task::JoinSet::new();
        while left > 0 || !tasks.is_empty() {
            while left > 0 && tasks.len() < workload.width {
                let (client, url) = (client.clone(), url.clone());
                tasks.spawn(async move { client.get(&url).await });
                left -= 1;
            }
            if let Some(done) = tasks.join_next().await {
                check(done.map_err(|e| e.to_string())??, workload)?;
            }
        }
    }
    Ok(workload.requests as f64 / began.elapsed().as_secs_f64())
}

fn check(got: usize, workload: Workload) -> Result<()> {
    if got == workload.bytes {
        Ok(())
    } else {
        Err(format!(
            "{}: {got} bytes instead of {}",
            workload.name, workload.bytes
        ))
    }
}

/// Per-request latencies of `n` sequential GETs of `url`.
async fn latencies(client: &Client, url: &str, n: usize) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let began = Instant::now();
        client.get(url).await?;
        out.push(began.elapsed().as_secs_f64());
    }
    Ok(out)
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

fn shown(ratio: f64) -> String {
    if ratio < 0.1 {
        format!("{ratio:.4}")
    } else {
        format!("{ratio:.2}")
    }
}

#[derive(Default)]
struct Ratios(Vec<(String, Vec<f64>)>);

impl Ratios {
    fn push(&mut self, name: String, value: f64) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => self.0.push((name, vec![value])),
        }
    }
}

async fn start_standin(
    dir: &Path,
    name: &str,
    upstream: &Server,
    upstream_ca: &Path,
    bypass: bool,
) -> Result<Standin> {
    let map: HostMapping = format!("{UPSTREAM}={}", upstream.addr())
        .parse()
        .map_err(|e| format!("{e}"))?;
    let mut builder = StandinConfig::builder()
        .listen(standin::parse_listen_addr("0").map_err(|e| e.to_string())?)
        .ca_dir(dir.join(name))
        .maps([map])
        .upstream_ca_files([upstream_ca.to_path_buf()]);
    if bypass {
        let every: HostPattern = "**".parse().map_err(|e| format!("{e}"))?;
        builder = builder.bypass([every]);
    }
    standin::start(builder.build())
        .await
        .map_err(|e| e.to_string())
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let rounds = std::env::var(ROUNDS_VAR)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n: &usize| *n > 0)
        .unwrap_or(DEFAULT_ROUNDS);
    if let Err(e) = rt.block_on(run(rounds)) {
        eprintln!("https benchmark failed: {e}");
        std::process::exit(1);
    }
}

async fn run(rounds: usize) -> Result<()> {
    let started = Instant::now();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let public = Arc::new(TestCa::new("Bench HTTPS public root"));
    let upstream_ca = public.write_pem(dir.path(), "public-ca.pem");
    let site = Site::new()
        .fixed("/1k", "k".repeat(1024))
        .fixed("/1m", "m".repeat(1 << 20));
    let upstream = Server::https(
        public.server_config(&[UPSTREAM, "127.0.0.1"], &[b"h2", b"http/1.1"]),
        site,
    )
    .start()
    .await
    .map_err(|e| e.to_string())?;

    let standin = start_standin(dir.path(), "standin", &upstream, &upstream_ca, false).await?;
    let tunnel = start_standin(dir.path(), "tunnel", &upstream, &upstream_ca, true).await?;
    let mitm = match Mitmproxy::installed() {
        Ok(()) => Some(
            Mitmproxy::start(&MitmOptions {
                routes: vec![Route::new(UPSTREAM, upstream.addr())],
                upstream_ca_pem: Some(upstream_ca.clone()),
                ..MitmOptions::default()
            })
            .map_err(|e| e.to_string())?,
        ),
        Err(why) => {
            println!("no mitmproxy ({why}): its rows are left out");
            None
        }
    };

    // (proxy name, library client, reqwest client).
    let mut proxies = vec![(
        "standin",
        library(Some(standin.proxy_url()), standin.ca_pem())?,
        reqwest_client(standin.proxy_url(), standin.ca_pem())?,
    )];
    if let Some(mitm) = &mitm {
        proxies.push((
            "mitmproxy",
            library(Some(&mitm.url()), mitm.ca_pem())?,
            reqwest_client(&mitm.url(), mitm.ca_pem())?,
        ));
    }
    println!(
        "https benchmark: {rounds} interleaved rounds; proxies: {}",
        proxies.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
    );

    let mut ratios = Ratios::default();
    let mut rates: Vec<(String, Vec<f64>)> = Vec::new();
    let mut rate = |name: String, value: f64| match rates.iter_mut().find(|(n, _)| *n == name) {
        Some((_, v)) => v.push(value),
        None => rates.push((name, vec![value])),
    };
    for workload in WORKLOADS {
        // One untimed warm-up round: connections, tunnels, leaf certificates.
        for round in 0..=rounds {
            let mut library_rate = Vec::new();
            for (proxy, library, reqwest) in &proxies {
                let workload = match *proxy {
                    "mitmproxy" => workload.with_requests(workload.mitm_requests),
                    _ => workload,
                };
                // Which client goes first alternates per round, so neither
                // always runs on the connection state the other left.
                let (lib, req) = if round % 2 == 0 {
                    let lib = batch(library, workload).await?;
                    (lib, batch(reqwest, workload).await?)
                } else {
                    let req = batch(reqwest, workload).await?;
                    (batch(library, workload).await?, req)
                };
                if round > 0 {
                    rate(format!("{proxy} {} library", workload.name), lib);
                    rate(format!("{proxy} {} reqwest", workload.name), req);
                    ratios.push(
                        format!("library/reqwest-{proxy}-{}", workload.name),
                        lib / req,
                    );
                }
                library_rate.push(lib);
            }
            if round > 0 && library_rate.len() == 2 {
                ratios.push(
                    format!("standin/mitmproxy-{}", workload.name),
                    library_rate[0] / library_rate[1],
                );
            }
        }
    }

    // The tunnel: the stand-in passing TLS through untouched vs direct.
    let direct = library(None, public.pem())?;
    let tunnelled = library(Some(tunnel.proxy_url()), public.pem())?;
    let direct_url = format!("https://127.0.0.1:{}/1k", upstream.addr().port());
    let tunnel_url = format!("https://{UPSTREAM}/1k");
    let (mut direct_p50, mut tunnel_p50) = (Vec::new(), Vec::new());
    for round in 0..=rounds {
        let d = median(&latencies(&direct, &direct_url, LATENCY_REQUESTS).await?);
        let t = median(&latencies(&tunnelled, &tunnel_url, LATENCY_REQUESTS).await?);
        if round > 0 {
            direct_p50.push(d);
            tunnel_p50.push(t);
            ratios.push("tunnel-p50/direct-p50".into(), t / d);
        }
    }

    println!();
    println!("requests per second (median of {rounds} rounds):");
    for (name, values) in &rates {
        println!("  {name:<32} {:>10.1}", median(values));
    }
    let (d, t) = (median(&direct_p50), median(&tunnel_p50));
    println!(
        "tunnel p50 (sequential 1 KiB GETs over one kept-alive connection): direct {:.0} µs, through the stand-in's tunnel {:.0} µs, overhead {:.0} µs",
        d * 1e6,
        t * 1e6,
        (t - d) * 1e6
    );
    println!(
        "https benchmark finished in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    println!();
    for (name, values) in &ratios.0 {
        println!("ratio {name}: {}", shown(median(values)));
    }
    drop(mitm);
    standin.shutdown().await;
    tunnel.shutdown().await;
    Ok(())
}
