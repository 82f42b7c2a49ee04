//! flowc-bench: runs the same five flows on flowc's generated programs, Node-RED and n8n (and
//! flow 3 on a hand-written floor program), checks that every engine gives the same answers,
//! drives each with the same load generator and prints one table (BENCHMARKS.md).
//!
//! `bench/run` is the one command: it builds flowc and this crate, then runs `flowc-bench all`.

mod engines;
mod floor;
mod flows;
mod load;
mod procs;
mod report;
mod stats;
mod target;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, Subcommand};
use serde_json::{json, Value};

use engines::{Dirs, Kind, Running};
use flows::BenchFlow;
use report::{EngineResult, FlowResults, LoadResult, Status};
use target::TargetStats;

#[derive(Parser)]
#[command(name = "flowc-bench", about = "Benchmarks flowc against Node-RED and n8n on the same flows")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install the engines (npm), build the flows, check that every engine answers alike, time
    /// them, print the table and write target/bench/results.json.
    All(AllArgs),
    /// The local target server, in the foreground (for trying flows by hand).
    Target {
        #[arg(long, default_value = "127.0.0.1:8099")]
        addr: String,
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
    },
    /// The hand-written floor program for flow (3), serving `POST /run`.
    Floor {
        #[arg(long)]
        addr: String,
    },
    /// Drive one URL with the load generator and print what it measured (for trying by hand).
    Load {
        #[arg(long)]
        url: String,
        /// The JSON body of every request.
        #[arg(long, default_value = "null")]
        body: String,
        #[arg(long, default_value_t = 50)]
        connections: usize,
        #[arg(long, default_value_t = 5.0)]
        duration: f64,
    },
    /// Write every engine's flow documents to a folder.
    Flows {
        #[arg(long, default_value = "target/bench/flows")]
        out: PathBuf,
    },
}

#[derive(Parser, Clone)]
struct AllArgs {
    /// Also install (about 2.9 GB, minutes) and measure n8n.
    #[arg(long)]
    with_n8n: bool,
    /// Engines to measure (flowc, floor, node-red, n8n); default all but n8n (see --with-n8n).
    #[arg(long, value_delimiter = ',')]
    engines: Option<Vec<String>>,
    /// Flows to run, by name (webhook, transforms, http-chain, fan-out, map); default all.
    #[arg(long, value_delimiter = ',')]
    flows: Option<Vec<String>>,
    /// Concurrent connections of the load runs.
    #[arg(long, value_delimiter = ',', default_value = "1,50")]
    connections: Vec<usize>,
    /// Seconds of each measured load run.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Seconds of warm-up before each load run.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Seconds a request in flight may still take after a run's time is up (50 maps of 1,000
    /// items at once take Node-RED about 20 s).
    #[arg(long, default_value_t = 40.0)]
    grace: f64,
    /// Fixed latency of the target server's answers, in ms.
    #[arg(long, default_value_t = 0)]
    target_latency_ms: u64,
    /// Seconds the whole command may take: measurements that would not fit are skipped, and at
    /// the limit everything is stopped and what was measured is written.
    #[arg(long, default_value_t = 780)]
    budget: u64,
    /// The flowc binary (built by bench/run).
    #[arg(long, default_value = "target/release/flowc")]
    flowc: PathBuf,
    /// Update BENCHMARKS.md with the table (between its markers) and bench/results.json.
    #[arg(long)]
    write_md: bool,
    /// The command line to record in the results.
    #[arg(long, default_value = "bench/run")]
    command_line: String,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // reqwest is built with `rustls-no-provider` (as the runtime has it): a client needs a
    // provider installed, even for http:// only.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a tokio runtime");
    match cli.command {
        Cmd::Target { addr, latency_ms } => {
            if let Err(e) = runtime.block_on(target::serve_forever(&addr, Duration::from_millis(latency_ms))) {
                eprintln!("error: {e}");
                return std::process::ExitCode::from(1);
            }
            std::process::ExitCode::SUCCESS
        }
        Cmd::Floor { addr } => match runtime.block_on(floor::serve(&addr)) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::ExitCode::from(1)
            }
        },
        Cmd::Flows { out } => match write_flows(&out, &flows::all()) {
            Ok(()) => {
                println!("wrote {}", out.display());
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::ExitCode::from(1)
            }
        },
        Cmd::Load { url, body, connections, duration } => {
            let spec = load::Load {
                url,
                body: Bytes::from(body),
                connections,
                warmup: Duration::from_millis(500),
                duration: Duration::from_secs_f64(duration),
                grace: Duration::from_secs(30),
            };
            let measured = runtime.block_on(load::run(&spec));
            println!("{}", serde_json::to_string_pretty(&measured.to_json()).expect("json"));
            std::process::ExitCode::SUCCESS
        }
        Cmd::All(args) => std::process::ExitCode::from(runtime.block_on(all(args))),
    }
}

fn write_flows(out: &Path, flows: &[BenchFlow]) -> Result<(), String> {
    for (dir, doc) in [("flowc", 0), ("node-red", 1), ("n8n", 2)] {
        let d = out.join(dir);
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for f in flows {
            let value = match doc {
                0 => (f.flowc)(),
                1 => (f.node_red)(),
                _ => (f.n8n)(),
            };
            let path = d.join(format!("bench-{}.json", f.name));
            std::fs::write(&path, serde_json::to_string_pretty(&value).expect("json") + "\n")
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    Ok(())
}

/// What the run knows so far, shared with the watchdog so that it can write partial results.
struct Shared {
    results: Vec<(usize, EngineResult)>,
    notes: Vec<String>,
    versions: serde_json::Map<String, Value>,
}

struct Ctx {
    args: AllArgs,
    dirs: Dirs,
    flows: Vec<BenchFlow>,
    target_url: String,
    target: Arc<TargetStats>,
    deadline: Instant,
    shared: Arc<Mutex<Shared>>,
    started: Instant,
    load_at_start: String,
}

impl Ctx {
    fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    fn record(&self, flow: usize, result: EngineResult) {
        self.shared.lock().expect("shared").results.push((flow, result));
    }

    fn note(&self, note: String) {
        eprintln!("note: {note}");
        self.shared.lock().expect("shared").notes.push(note);
    }

    fn version(&self, key: &str, value: impl Into<Value>) {
        self.shared.lock().expect("shared").versions.insert(key.to_string(), value.into());
    }

    fn wants(&self, kind: Kind) -> bool {
        match &self.args.engines {
            Some(list) => list.iter().any(|e| e == kind.key()),
            None => kind != Kind::N8n || self.args.with_n8n,
        }
    }

    /// Time one engine needs for one flow's measurements, beyond its start.
    fn per_flow_time(&self) -> Duration {
        let runs = self.args.connections.len() as f64;
        Duration::from_secs_f64(runs * (self.args.warmup + self.args.duration) + 5.0)
    }
}

/// Why the run stopped early.
enum Fatal {
    /// An engine's answer differs from the expected one: nothing was timed for it.
    Mismatch(String),
    /// The harness itself failed.
    Harness(String),
}

async fn all(args: AllArgs) -> u8 {
    let started = Instant::now();
    let root = std::env::current_dir().expect("cwd");
    let dirs = Dirs { engines: root.join("target/bench-engines"), work: root.join("target/bench"), root: root.clone() };
    if let Err(e) = std::fs::create_dir_all(dirs.logs()) {
        eprintln!("error: {}: {e}", dirs.logs().display());
        return 2;
    }
    let mut flows = flows::all();
    if let Some(names) = &args.flows {
        flows.retain(|f| names.iter().any(|n| n == f.name));
    }
    if let Err(e) = write_flows(&dirs.work.join("flows"), &flows) {
        eprintln!("error: {e}");
        return 2;
    }
    let (target_url, target) = match target::spawn(Duration::from_millis(args.target_latency_ms)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: the target server: {e}");
            return 2;
        }
    };
    let ctx = Arc::new(Ctx {
        deadline: started + Duration::from_secs(args.budget),
        args,
        dirs,
        flows,
        target_url,
        target,
        shared: Arc::new(Mutex::new(Shared { results: Vec::new(), notes: Vec::new(), versions: Default::default() })),
        started,
        load_at_start: load_average(),
    });
    let outcome = {
        let c = ctx.clone();
        let work = tokio::spawn(async move { run_all(&c).await });
        tokio::select! {
            r = work => match r {
                Ok(r) => r.map(|()| true),
                Err(e) => Err(Fatal::Harness(format!("the harness panicked: {e}"))),
            },
            _ = tokio::time::sleep_until((ctx.deadline + Duration::from_secs(20)).into()) => {
                procs::stop_all();
                ctx.note(format!("stopped at the time budget ({} s): the results are incomplete", ctx.args.budget));
                Ok(false)
            }
            _ = tokio::signal::ctrl_c() => {
                procs::stop_all();
                ctx.note("interrupted: the results are incomplete".to_string());
                Ok(false)
            }
        }
    };
    procs::stop_all();
    let (code, complete) = match outcome {
        Ok(complete) => (0, complete),
        Err(Fatal::Mismatch(m)) => {
            eprintln!("\nerror: the engines do not answer alike, so nothing is compared:\n{m}");
            ctx.note(format!("equivalence check failed: {m}"));
            (1, false)
        }
        Err(Fatal::Harness(m)) => {
            eprintln!("\nerror: {m}");
            ctx.note(m);
            (1, false)
        }
    };
    let code = finish(&ctx, complete).max(code);
    // 3: stopped at the time budget or interrupted.
    let code = if code == 0 && !complete { 3 } else { code };
    eprintln!("done in {:.0} s", ctx.started.elapsed().as_secs_f64());
    code
}

async fn run_all(ctx: &Ctx) -> Result<(), Fatal> {
    ctx.version("flowc", git_describe(&ctx.dirs.root));
    // Node-RED: installed first (about half a minute), as it is always measured.
    let node_red = if ctx.wants(Kind::NodeRed) {
        match engines::install_node_red(&ctx.dirs).await {
            Ok(v) => {
                ctx.version("node-red", v);
                ctx.version(
                    "node (for Node-RED)",
                    command_output(&ctx.dirs.node_red().join("node_modules/node/bin/node"), &["--version"]),
                );
                Ok(())
            }
            Err(e) => Err(e),
        }
    } else {
        Err("not selected".to_string())
    };
    // flowc: every flow built with `flowc build`, in the shared cache target/bench-cache.
    let mut binaries: Vec<Result<PathBuf, String>> = Vec::new();
    for flow in &ctx.flows {
        binaries.push(if ctx.wants(Kind::Flowc) { build_flowc(ctx, flow).await } else { Err("not selected".into()) });
    }
    for (i, flow) in ctx.flows.iter().enumerate() {
        if ctx.wants(Kind::Flowc) {
            let result = match &binaries[i] {
                Ok(bin) => measure(ctx, Kind::Flowc, flow, engines::start_flowc(&ctx.dirs, bin, flow)).await?,
                Err(e) => EngineResult::new(Kind::Flowc, Status::Failed(e.clone())),
            };
            ctx.record(i, result);
        }
        if flow.name == "http-chain" && ctx.wants(Kind::Floor) {
            let result = measure(ctx, Kind::Floor, flow, engines::start_floor(&ctx.dirs)).await?;
            ctx.record(i, result);
        }
        if ctx.wants(Kind::NodeRed) {
            let result = match &node_red {
                Ok(()) => measure(ctx, Kind::NodeRed, flow, engines::start_node_red(&ctx.dirs, flow)).await?,
                Err(e) => EngineResult::new(Kind::NodeRed, Status::Failed(e.clone())),
            };
            ctx.record(i, result);
        }
    }
    if ctx.wants(Kind::N8n) {
        run_n8n(ctx).await?;
    } else {
        for i in 0..ctx.flows.len() {
            ctx.record(i, EngineResult::new(Kind::N8n, Status::Skipped("opt-in (`bench/run --with-n8n`)".to_string())));
        }
    }
    Ok(())
}

async fn run_n8n(ctx: &Ctx) -> Result<(), Fatal> {
    let all_failed = |ctx: &Ctx, status: Status| {
        for i in 0..ctx.flows.len() {
            ctx.record(i, EngineResult::new(Kind::N8n, status.clone()));
        }
    };
    // Leave time for n8n's start and its measurements.
    let needed = ctx.per_flow_time() * ctx.flows.len() as u32 + Duration::from_secs(90);
    let install_limit = ctx.left().saturating_sub(needed);
    if install_limit < Duration::from_secs(30) {
        all_failed(ctx, Status::Skipped("no time left in the budget".to_string()));
        return Ok(());
    }
    match engines::install_n8n(&ctx.dirs, install_limit).await {
        Ok(v) => {
            ctx.version("n8n", v);
            ctx.version(
                "node (for n8n)",
                command_output(&ctx.dirs.node24().join("node_modules/node/bin/node"), &["--version"]),
            );
        }
        Err(e) => {
            all_failed(ctx, Status::Failed(format!("install: {e}")));
            return Ok(());
        }
    }
    let running = match engines::start_n8n(&ctx.dirs, &ctx.flows).await {
        Ok(r) => r,
        Err(e) => {
            all_failed(ctx, Status::Failed(e));
            return Ok(());
        }
    };
    // One n8n serves every workflow (its start takes too long to start it once per flow): its
    // cold start is measured once, on the first flow, and its peak memory per flow is the peak
    // while that flow ran.
    let mut running = Some(running);
    for (i, flow) in ctx.flows.iter().enumerate() {
        let Some(mut r) = running.take() else { break };
        if i > 0 {
            r.engine.reset_peak();
        }
        let (result, back) = measure_running(ctx, flow, r, i == 0).await?;
        let mut result = result;
        result.note = Some("one n8n process serves all five workflows".to_string());
        ctx.record(i, result);
        running = back;
    }
    if let Some(r) = running {
        r.engine.stop(Duration::from_secs(5)).await;
    }
    Ok(())
}

async fn build_flowc(ctx: &Ctx, flow: &BenchFlow) -> Result<PathBuf, String> {
    let path = ctx.dirs.work.join("flows/flowc").join(format!("{}.json", flow.id()));
    let flowc = ctx.dirs.root.join(&ctx.args.flowc);
    eprintln!("flowc build {}", path.display());
    let out = tokio::process::Command::new(&flowc)
        .arg("build")
        .arg(&path)
        .env("FLOWC_CACHE_DIR", ctx.dirs.root.join("target/bench-cache"))
        .output()
        .await
        .map_err(|e| format!("{}: {e}", flowc.display()))?;
    if !out.status.success() {
        return Err(format!("flowc build failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let bin = stdout.lines().last().unwrap_or_default().trim().to_string();
    if bin.is_empty() || !Path::new(&bin).exists() {
        return Err(format!("flowc build printed no binary path: {stdout}"));
    }
    Ok(PathBuf::from(bin))
}

/// Measures an engine that was just started, then stops it.
async fn measure(
    ctx: &Ctx,
    kind: Kind,
    flow: &BenchFlow,
    started: Result<Running, String>,
) -> Result<EngineResult, Fatal> {
    let running = match started {
        Ok(r) => r,
        Err(e) => return Ok(EngineResult::new(kind, Status::Failed(e))),
    };
    if ctx.left() < ctx.per_flow_time() + Duration::from_secs(10) {
        running.engine.stop(Duration::from_secs(2)).await;
        return Ok(EngineResult::new(kind, Status::Skipped("no time left in the budget".to_string())));
    }
    let (result, back) = measure_running(ctx, flow, running, true).await?;
    if let Some(r) = back {
        r.engine.stop(Duration::from_secs(5)).await;
    }
    Ok(result)
}

/// Cold start (when `cold`), the equivalence check, the load runs and the peak memory of one
/// flow on a running engine. Gives the engine back unless it died.
async fn measure_running(
    ctx: &Ctx,
    flow: &BenchFlow,
    mut running: Running,
    cold: bool,
) -> Result<(EngineResult, Option<Running>), Fatal> {
    let kind = running.kind;
    let url = running.url(flow);
    let inputs = (flow.inputs)(&ctx.target_url);
    let first = Bytes::from(inputs[0].to_string());
    eprintln!("{} · {}", flow.title, kind.name());
    let mut result = EngineResult::new(kind, Status::Measured);

    // Cold start: from spawning the process to its first 200 answer to the flow's input.
    let ready_limit = if kind == Kind::N8n { Duration::from_secs(180) } else { Duration::from_secs(60) };
    match wait_ready(&mut running, &url, first.clone(), ready_limit).await {
        Ok(elapsed) => {
            if cold {
                result.cold_start_us = Some(elapsed.as_secs_f64() * 1e6);
            }
        }
        Err(e) => {
            result.status = Status::Failed(e);
            return Ok((result, None));
        }
    }

    // Equivalence: each input's answer must be the expected result, before anything is timed.
    let client = load::client(1);
    for (n, input) in inputs.iter().enumerate() {
        let answer = load::post(&client, &url, Bytes::from(input.to_string()), Duration::from_secs(60)).await;
        let (status, body) = match answer {
            Ok(a) => a,
            Err(e) => {
                result.status = Status::Failed(format!("input {n}: {e}"));
                return Ok((result, Some(running)));
            }
        };
        if n == 0 {
            result.answer_bytes = Some(body.len());
        }
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]).to_string();
        if status != 200 {
            result.status = Status::Failed(format!("input {n}: HTTP {status}: {text}"));
            return Ok((result, Some(running)));
        }
        let parsed: Value = serde_json::from_slice(&body).map_err(|e| {
            Fatal::Mismatch(format!(
                "{} on {}: input {n}: the answer is not JSON ({e}): {text}",
                kind.name(),
                flow.title
            ))
        })?;
        let got = kind
            .extract(&parsed)
            .map_err(|e| Fatal::Mismatch(format!("{} on {}: input {n}: {e}: {text}", kind.name(), flow.title)))?;
        if let Some(d) = stats::first_difference(&(flow.expected)(input), &got) {
            return Err(Fatal::Mismatch(format!("{} on {}: input {n}: {d}", kind.name(), flow.title)));
        }
        result.equivalent_inputs += 1;
    }

    for &connections in &ctx.args.connections {
        let spec = load::Load {
            url: url.clone(),
            body: first.clone(),
            connections,
            warmup: Duration::from_secs_f64(ctx.args.warmup),
            duration: Duration::from_secs_f64(ctx.args.duration),
            grace: Duration::from_secs_f64(ctx.args.grace),
        };
        ctx.target.take();
        let measured = load::run(&spec).await;
        let (target_requests, target_mean_us) = ctx.target.take();
        eprintln!(
            "  @{connections}: {} req/s, p50 {}, p99 {}{}",
            stats::fmt_rate(measured.rps),
            measured.p50_us.map(|u| stats::fmt_micros(u as f64)).unwrap_or_default(),
            measured.p99_us.map(|u| stats::fmt_micros(u as f64)).unwrap_or_default(),
            match (&measured.first_error, measured.failed + measured.unfinished) {
                (Some(e), n) if n > 0 => format!(", {n} failed or unfinished: {e}"),
                _ => String::new(),
            }
        );
        result.loads.push(LoadResult { measured, target_requests, target_mean_us });
        if let Some(status) = running.engine.exited() {
            result.status = Status::Failed(format!("exited ({status}) under load: {}", running.engine.log_tail()));
            return Ok((result, None));
        }
    }
    result.peak_rss = Some(running.engine.peak_rss());
    Ok((result, Some(running)))
}

/// Polls the flow's URL until it answers 200; the time since the process was spawned.
async fn wait_ready(running: &mut Running, url: &str, body: Bytes, limit: Duration) -> Result<Duration, String> {
    let client = load::client(1);
    let mut last = String::new();
    loop {
        if let Some(status) = running.engine.exited() {
            return Err(format!("exited at start ({status}): {}", running.engine.log_tail()));
        }
        let elapsed = running.spawned.elapsed();
        if elapsed > limit {
            return Err(format!("no answer within {} s (last: {last})", limit.as_secs()));
        }
        match load::post(&client, url, body.clone(), Duration::from_secs(30)).await {
            Ok((200, body)) => {
                let done = running.spawned.elapsed();
                // n8n answers 200 "n8n is starting up" before its webhooks are registered.
                if running.kind == Kind::N8n && serde_json::from_slice::<Value>(&body).is_err() {
                    last = String::from_utf8_lossy(&body[..body.len().min(100)]).to_string();
                } else {
                    return Ok(done);
                }
            }
            Ok((status, body)) => {
                last = format!("HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(200)]))
            }
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn command_output(program: &Path, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn git_describe(root: &Path) -> String {
    let out = |args: &[&str]| {
        std::process::Command::new("git")
            .current_dir(root)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let commit = out(&["rev-parse", "--short=12", "HEAD"]);
    let dirty = !out(&["status", "--porcelain", "--untracked-files=no"]).is_empty();
    format!("{commit}{}", if dirty { " (with uncommitted changes)" } else { "" })
}

/// The machine, as BENCHMARKS.md describes it.
fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let os = std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|s| s.trim_matches('"').to_string()))
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_string();
    json!({
        "cpu": model,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "memory_gib": (mem_kib as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        "os": os,
        "kernel": kernel,
        "arch": std::env::consts::ARCH,
        "load_average_at_end": load_average(),
    })
}

/// The 1, 5 and 15 minute load averages: other work on the machine skews every figure.
fn load_average() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn now_utc() -> String {
    command_output(Path::new("date"), &["-u", "+%Y-%m-%d %H:%M UTC"])
}

/// Prints the table, writes results.json (and BENCHMARKS.md when asked and the run went to its
/// end). Returns the exit code: 1 when flowc could not be measured on some flow.
fn finish(ctx: &Ctx, complete: bool) -> u8 {
    let shared = ctx.shared.lock().expect("shared");
    let mut machine = machine();
    machine["load_average_at_start"] = json!(ctx.load_at_start);
    let mut by_flow: Vec<FlowResults> =
        ctx.flows.iter().map(|flow| FlowResults { flow, engines: Vec::new() }).collect();
    for (i, r) in &shared.results {
        by_flow[*i].engines.push(r.clone());
    }
    let order = [Kind::Flowc, Kind::Floor, Kind::NodeRed, Kind::N8n];
    for r in &mut by_flow {
        r.engines.sort_by_key(|e| order.iter().position(|k| *k == e.kind));
    }
    let connections = &ctx.args.connections;
    let table = report::table(&by_flow, connections);
    let losses = report::losses(&by_flow, connections);
    let floor = report::floor_check(&by_flow, connections);
    let date = now_utc();

    let mut md = String::new();
    md.push_str(&format!(
        "Measured {date} with `{}` (flowc {}).\n\n",
        ctx.args.command_line,
        shared.versions.get("flowc").and_then(Value::as_str).unwrap_or("?")
    ));
    md.push_str(&format!(
        "Machine: {}, {} cores, {} GiB, {} ({}, {}); load average {} at the start, {} at the end.\n\n",
        machine["cpu"].as_str().unwrap_or(""),
        machine["cores"],
        machine["memory_gib"],
        machine["os"].as_str().unwrap_or(""),
        machine["kernel"].as_str().unwrap_or(""),
        machine["arch"].as_str().unwrap_or(""),
        ctx.load_at_start,
        machine["load_average_at_end"].as_str().unwrap_or(""),
    ));
    let versions: Vec<String> = shared
        .versions
        .iter()
        .filter(|(k, _)| k.as_str() != "flowc")
        .map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or("")))
        .collect();
    if !versions.is_empty() {
        md.push_str(&format!("Engines: {}.\n\n", versions.join(", ")));
    }
    md.push_str(&format!(
        "Each load run: {} s after {} s of warm-up, closed loop, at {} connections; the target \
         server answers after {} ms. A peer's figure is followed by its ratio to flowc's on the \
         same flow (the peer's value / flowc's): below 1× is slower for req/s, above 1× is slower \
         or bigger for the rest.\n\n",
        ctx.args.duration,
        ctx.args.warmup,
        connections.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(" and "),
        ctx.args.target_latency_ms
    ));
    md.push_str(&table);
    if let Some(checks) = &floor {
        md.push_str("\nflowc against the hand-written floor on flow (3) (goal: ≤ 1.1×): ");
        let parts: Vec<String> = checks.iter().map(|(k, q)| format!("{k} {}", stats::fmt_ratio(*q))).collect();
        md.push_str(&parts.join(", "));
        md.push_str(".\n");
    }
    let errors = report::load_errors(&by_flow);
    if !errors.is_empty() {
        md.push_str("\nRequests that failed under load (not counted in req/s and latencies):\n\n");
        for l in &errors {
            md.push_str(&format!("- {l}\n"));
        }
    }
    if !losses.is_empty() {
        md.push_str("\nFigures on which flowc is behind:\n\n");
        for l in &losses {
            md.push_str(&format!("- {l}\n"));
        }
    }
    if !shared.notes.is_empty() {
        md.push_str("\nNotes of this run:\n\n");
        for n in &shared.notes {
            md.push_str(&format!("- {n}\n"));
        }
    }
    println!("\n{md}");

    let results = json!({
        "date": date,
        "command": ctx.args.command_line,
        "machine": machine,
        "versions": shared.versions,
        "settings": {
            "connections": connections,
            "duration_s": ctx.args.duration,
            "warmup_s": ctx.args.warmup,
            "grace_s": ctx.args.grace,
            "target_latency_ms": ctx.args.target_latency_ms,
            "budget_s": ctx.args.budget,
        },
        "elapsed_s": ctx.started.elapsed().as_secs_f64(),
        "flows": by_flow.iter().map(|r| json!({
            "name": r.flow.name,
            "title": r.flow.title,
            "node_runs": r.flow.node_runs,
            "critical_calls": r.flow.critical_calls,
            "engines": r.engines.iter().map(|e| e.to_json(r.flow)).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "floor_check": floor.map(|c| c.into_iter().map(|(k, q)| json!({"figure": k, "ratio": q})).collect::<Vec<_>>()),
        "losses": losses,
        "notes": shared.notes,
        "table_markdown": md,
    });
    let path = ctx.dirs.work.join("results.json");
    match std::fs::write(&path, serde_json::to_string_pretty(&results).expect("json") + "\n") {
        Ok(()) => eprintln!("wrote {}", path.display()),
        Err(e) => eprintln!("error: {}: {e}", path.display()),
    }
    if ctx.args.write_md && !complete {
        eprintln!("BENCHMARKS.md is left as it was: this run did not go to its end");
    } else if ctx.args.write_md {
        // The raw figures behind BENCHMARKS.md, kept with it.
        let kept = ctx.dirs.root.join("bench/results.json");
        if let Err(e) = std::fs::copy(ctx.dirs.work.join("results.json"), &kept) {
            eprintln!("error: {}: {e}", kept.display());
        }
        let path = ctx.dirs.root.join("BENCHMARKS.md");
        match update_markdown(&path, &md) {
            Ok(()) => eprintln!("updated {}", path.display()),
            Err(e) => eprintln!("error: {}: {e}", path.display()),
        }
    }
    let flowc_missing = by_flow
        .iter()
        .any(|r| r.engines.iter().any(|e| e.kind == Kind::Flowc && !matches!(e.status, Status::Measured)));
    u8::from(flowc_missing)
}

const BEGIN: &str = "<!-- flowc-bench:begin (written by bench/run; edit outside the markers) -->";
const END: &str = "<!-- flowc-bench:end -->";

/// Replaces what is between the markers of BENCHMARKS.md (or writes a new file around them).
fn update_markdown(path: &Path, generated: &str) -> std::io::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let block = format!("{BEGIN}\n\n{}\n{END}", generated.trim_end());
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if e > b => format!("{}{block}{}", &old[..b], &old[e + END.len()..]),
        _ => format!("# Benchmarks\n\n{block}\n"),
    };
    std::fs::write(path, new)
}
