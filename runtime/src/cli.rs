//! The command line of a generated program: `run` and `describe`.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use serde_json::{json, Value};

pub use flowc_core::run_args::RunArgs;

use crate::envelope::RunStatus;
use crate::flow::{Flow, Handle};
use crate::scheduler::{self, Interrupt, RunOptions};

/// Exit code for bad input or configuration.
pub const EXIT_BAD_INPUT: u8 = 2;

#[derive(Parser, Debug)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the flow once and print the run result as JSON.
    Run(RunArgs),
    /// Print the flow's id, nodes, input schema and credentials as JSON.
    Describe,
    /// Serve the flow over HTTP: `POST /run`, its webhook, `/healthz`, `/readyz`, `/metrics`,
    /// `/mcp`; fire its schedule. Stops on SIGTERM or SIGINT once the runs in flight are done.
    Serve(ServeArgs),
    /// Serve the flow as an MCP server with one tool (named after the flow) that runs it: over
    /// stdio, or over Streamable HTTP at http://ADDR/mcp with --http.
    Mcp(McpArgs),
    /// Check, without running the flow, everything it depends on: parameters, credentials, the services
    /// it calls, its MCP servers and their tools. Exits 0 only when every check passes.
    Health {
        /// `text` (a line per check) or `json`.
        #[arg(long, value_parser = ["text", "json"], default_value = "text")]
        format: String,
    },
}

/// The options of `serve`.
#[derive(Args, Debug, Clone)]
struct ServeArgs {
    /// The address to listen on (`0.0.0.0:8080` in a container).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    addr: std::net::SocketAddr,
    /// How many runs may go on at once; one more request is answered 503 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = 64)]
    max_runs: usize,
    /// The largest request body, in bytes; a larger one is answered 413.
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024)]
    max_body: usize,
    /// Do not fire the flow's schedule (for a replica that only answers requests).
    #[arg(long)]
    no_schedule: bool,
    /// Write each run's progress events (JSON lines) to stderr.
    #[arg(long)]
    events: bool,
    /// `POST /run` and `/mcp` also accept this `Host` (`name`, `*.example.com`, or `*` for any).
    /// Accepted without it: IP addresses, `localhost`, one-label names and names under `.svc`
    /// and `.svc.cluster.local` (DNS-rebinding protection).
    #[arg(long = "allow-host", value_name = "HOST")]
    allow_hosts: Vec<String>,
    /// `POST /run` and `/mcp` also accept requests from this browser origin
    /// (`https://app.example.com`, `:*` for any port); loopback origins are accepted.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    allow_origins: Vec<String>,
    /// `POST /run`, `/mcp`, an unsigned webhook and `/readyz?deep=1` require
    /// `Authorization: Bearer <secret>`, the secret being this credential of the flow.
    #[arg(long, value_name = "NAME")]
    auth_credential: Option<String>,
    #[command(flatten)]
    sessions: McpSessionArgs,
    /// Signed webhook deliveries remembered within the replay window, at the most; past that,
    /// deliveries are answered 503 (never forgotten early).
    #[arg(long, value_name = "N", default_value_t = crate::webhook::DEFAULT_REPLAY_CACHE)]
    replay_cache: usize,
    /// A connection that has not sent a request's headers within this many seconds is closed.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    header_timeout_secs: u64,
    /// A request whose body has not arrived within this many seconds is answered 408.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    body_timeout_secs: u64,
    /// Refuse every request to a loopback, private or link-local address, as the flow's
    /// `settings.http.deny_private_networks` does.
    #[arg(long)]
    deny_private_networks: bool,
}

/// How many `/mcp` sessions may be open, and for how long idle.
#[derive(Args, Debug, Clone)]
struct McpSessionArgs {
    /// `/mcp` sessions open at once; one more `initialize` is answered 503 with Retry-After.
    #[arg(long, value_name = "N", default_value_t = crate::mcp_server::DEFAULT_MAX_SESSIONS)]
    max_mcp_sessions: usize,
    /// An `/mcp` session without a request for this many seconds is closed.
    #[arg(long, value_name = "SECS", default_value_t = crate::mcp_server::DEFAULT_SESSION_IDLE.as_secs())]
    mcp_session_idle_secs: u64,
}

/// The options of `mcp`.
#[derive(Args, Debug, Clone)]
struct McpArgs {
    /// Serve Streamable HTTP on this address (e.g. 127.0.0.1:8808) instead of stdio.
    #[arg(long, value_name = "ADDR")]
    http: Option<std::net::SocketAddr>,
    /// Also accept this `Host` (DNS-rebinding protection accepts loopback names only).
    #[arg(long = "allow-host", value_name = "HOST", requires = "http")]
    allow_hosts: Vec<String>,
    /// Also accept requests from this browser origin (e.g. https://app.example.com).
    #[arg(long = "allow-origin", value_name = "ORIGIN", requires = "http")]
    allow_origins: Vec<String>,
    /// Require `Authorization: Bearer <secret>`, the secret being this credential of the flow.
    #[arg(long, value_name = "NAME", requires = "http")]
    auth_credential: Option<String>,
    #[command(flatten)]
    sessions: McpSessionArgs,
    /// Write each run's progress events (JSON lines) to stderr.
    #[arg(long)]
    events: bool,
}

/// The `main` of a generated program.
pub fn main(flow: &'static Flow) -> ExitCode {
    let about = if flow.description.is_empty() { flow.name } else { flow.description };
    let command = Cli::command().name(flow.id).about(about);
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    // Before anything runs: a missing or wrong parameter stops the program here. `describe`
    // reads nothing of the environment; `health` reports each parameter as a check.
    if !matches!(cli.command, Command::Describe | Command::Health { .. }) {
        if let Err(problems) = crate::params::load(flow.parameters) {
            return bad_input(&problems.join("\nerror: "));
        }
        let problems = crate::health::environment(flow);
        if !problems.is_empty() {
            return bad_input(&problems.join("\nerror: "));
        }
    }
    match cli.command {
        Command::Describe => {
            println!("{}", serde_json::to_string_pretty(&describe(flow)).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Command::Run(args) => run(flow, args),
        Command::Serve(args) => serve(flow, args),
        Command::Health { format } => health(flow, &format),
        Command::Mcp(args) => mcp(flow, args),
    }
}

fn mcp(flow: &'static Flow, args: McpArgs) -> ExitCode {
    if let Err(message) = check_filters(flow) {
        return bad_input(&message);
    }
    let token = match &args.auth_credential {
        None => None,
        Some(name) => match flow.credential(name) {
            Ok(secret) => Some(secret),
            Err(error) => return bad_input(&error.message),
        },
    };
    let runtime = match async_runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let served = runtime.block_on(async {
        match args.http {
            None => crate::mcp_server::serve_stdio(flow, args.events).await,
            Some(addr) => {
                let options = crate::mcp_server::HttpOptions {
                    guard: crate::guard::Guard {
                        allow_hosts: args.allow_hosts,
                        allow_origins: args.allow_origins,
                        token,
                    },
                    events: args.events,
                    max_sessions: args.sessions.max_mcp_sessions,
                    session_idle: std::time::Duration::from_secs(args.sessions.mcp_session_idle_secs),
                };
                crate::mcp_server::serve_http(flow, addr, options).await
            }
        }
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => bad_input(&message),
    }
}

fn serve(flow: &'static Flow, args: ServeArgs) -> ExitCode {
    let runtime = match async_runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let token = match &args.auth_credential {
        None => None,
        Some(name) => match flow.credential(name) {
            Ok(secret) => Some(secret),
            Err(error) => return bad_input(&error.message),
        },
    };
    let options = crate::serve::ServeOptions {
        addr: args.addr,
        max_runs: args.max_runs,
        max_body: args.max_body,
        schedule: !args.no_schedule,
        events: args.events,
        guard: crate::guard::Guard { allow_hosts: args.allow_hosts, allow_origins: args.allow_origins, token },
        mcp: crate::mcp_server::HttpOptions {
            events: args.events,
            max_sessions: args.sessions.max_mcp_sessions,
            session_idle: std::time::Duration::from_secs(args.sessions.mcp_session_idle_secs),
            ..Default::default()
        },
        replay_cache: args.replay_cache,
        timeouts: crate::serve::Timeouts {
            headers: std::time::Duration::from_secs(args.header_timeout_secs.max(1)),
            body: std::time::Duration::from_secs(args.body_timeout_secs.max(1)),
        },
        deny_private_networks: args.deny_private_networks,
    };
    match runtime.block_on(crate::serve::serve(flow, options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => bad_input(&message),
    }
}

fn health(flow: &'static Flow, format: &str) -> ExitCode {
    let runtime = match async_runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let report = runtime.block_on(crate::health::check(flow));
    if format == "json" {
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    } else {
        print!("{}", report.text());
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run(flow: &'static Flow, args: RunArgs) -> ExitCode {
    let replay = match &args.replay {
        None => None,
        Some(path) => match crate::deadletter::Replay::read(flow, path) {
            Ok(replay) => Some(std::sync::Arc::new(replay)),
            Err(message) => return bad_input(&message),
        },
    };
    let input = match &replay {
        Some(replay) => Ok(replay.input.clone()),
        None => read_input(&args),
    };
    let input = match input {
        Ok(input) => input,
        Err(message) => return bad_input(&message),
    };
    let input = match prepare(flow, input) {
        Ok(input) => input,
        Err(message) => return bad_input(&message),
    };
    let runtime = match async_runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let options = RunOptions { events: args.events, replay, ..RunOptions::default() };
    let interrupt = options.interrupt.clone();
    let outcome = runtime.block_on(async {
        let signal = tokio::spawn(interrupt_on_signal(interrupt));
        let result = scheduler::run(flow, input, options).await;
        signal.abort();
        (result, signal.await.ok())
    });
    match outcome {
        (Ok(result), signal) => {
            // Written as it is serialised: a map's result can be large, and a second copy of
            // it as one string would double the program's peak memory.
            let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
            let printed = serde_json::to_writer_pretty(&mut stdout, &result)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(stdout))
                .and_then(|()| stdout.flush());
            drop(stdout);
            if let Err(error) = printed {
                eprintln!("error: cannot write the run result: {error}");
            }
            if let Some(path) = &args.dead_letter {
                if let Err(error) = crate::deadletter::write(path, &result) {
                    eprintln!("error: cannot write the dead letters to {}: {error}", path.display());
                    return ExitCode::from(EXIT_BAD_INPUT);
                }
            }
            match (result.status, signal) {
                (RunStatus::Cancelled, Some(code)) => ExitCode::from(code),
                (status, _) => ExitCode::from(status.exit_code()),
            }
        }
        (Err(error), _) => bad_input(&error.to_string()),
    }
}

/// Waits for SIGINT or SIGTERM and interrupts the run: the nodes running are cancelled, MCP
/// servers are stopped and the run result is still printed. A second signal exits at once.
/// Returns the exit code for the signal (130 or 143).
async fn interrupt_on_signal(interrupt: Interrupt) -> u8 {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return std::future::pending().await;
    };
    let code = tokio::select! {
        _ = int.recv() => {
            interrupt.interrupt("the run was interrupted (SIGINT)");
            130
        }
        _ = term.recv() => {
            interrupt.interrupt("the run was stopped (SIGTERM)");
            143
        }
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        eprintln!("error: a second signal: exiting without waiting for the run to stop");
        std::process::exit(i32::from(code));
    });
    code
}

/// Compiles the flow's jq filters; the error lists the ones that do not compile.
pub fn check_filters(flow: &'static Flow) -> Result<(), String> {
    let broken: Vec<&str> = flow.jq_filters.iter().filter_map(|filter| filter.error()).collect();
    if broken.is_empty() {
        Ok(())
    } else {
        Err(broken.join("\n"))
    }
}

/// Compiles the flow's jq filters and checks `input` against the input schema, applying its
/// defaults. The error lists every problem, each with the JSON pointer of the bad value.
pub fn prepare(flow: &'static Flow, input: Value) -> Result<Value, String> {
    check_filters(flow)?;
    let Some(text) = flow.input_schema else { return Ok(input) };
    // Parsed once per process and flow: `serve` and `mcp` prepare every request's input, and
    // agents every call of a flow tool. A program has a handful of flows (its own and its
    // flow tools'), each a static: the schemas are kept by the flow's address.
    type Schemas = Vec<(usize, Arc<Result<Value, String>>)>;
    static SCHEMAS: std::sync::Mutex<Schemas> = std::sync::Mutex::new(Vec::new());
    let key = flow as *const Flow as usize;
    let schema = {
        let mut schemas = SCHEMAS.lock().unwrap_or_else(|e| e.into_inner());
        match schemas.iter().find(|(k, _)| *k == key) {
            Some((_, schema)) => schema.clone(),
            None => {
                let parsed = serde_json::from_str(text).map_err(|e| format!("the input schema is not JSON: {e}"));
                let parsed = Arc::new(parsed);
                schemas.push((key, parsed.clone()));
                parsed
            }
        }
    };
    let schema = schema.as_ref().as_ref().map_err(Clone::clone)?;
    crate::input::apply(schema, input).map_err(|problems| {
        let lines: Vec<String> = problems
            .iter()
            .map(|p| format!("  at {}: {}", if p.pointer.is_empty() { "/" } else { &p.pointer }, p.message))
            .collect();
        format!("the input does not match the flow's input schema:\n{}", lines.join("\n"))
    })
}

pub(crate) fn read_input(args: &RunArgs) -> Result<Value, String> {
    let (text, from) = if let Some(path) = &args.input {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        (text, path.display().to_string())
    } else if let Some(text) = &args.input_json {
        (text.clone(), "--input-json".to_owned())
    } else if !std::io::stdin().is_terminal() {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| format!("cannot read stdin: {e}"))?;
        (text, "stdin".to_owned())
    } else {
        return Ok(Value::Null);
    };
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&text).map_err(|e| format!("the input from {from} is not JSON: {e}"))
}

/// The multi-threaded tokio runtime `run`, `mcp` and `health` work on.
pub(crate) fn async_runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| bad_input(&format!("cannot start the async runtime: {error}")))
}

pub(crate) fn bad_input(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_BAD_INPUT)
}

/// What `describe` prints.
pub fn describe(flow: &Flow) -> Value {
    let nodes: Vec<Value> = flow
        .nodes
        .iter()
        .map(|n| {
            json!({ "id": n.id, "kind": n.kind, "label": n.label, "source": n.source, "output_type": n.output_type.unwrap_or("any") })
        })
        .collect();
    let edges: Vec<Value> = flow
        .edges
        .iter()
        .map(|e| {
            let handle = match e.handle {
                Handle::Success => Value::Null,
                Handle::Error => Value::from("error"),
                Handle::Route(name) => Value::from(name),
            };
            json!({ "source": flow.nodes[e.source].id, "target": flow.nodes[e.target].id, "handle": handle })
        })
        .collect();
    let input_schema = flow.input_schema.and_then(|s| serde_json::from_str::<Value>(s).ok());
    let outputs_schema = flow.outputs_schema.and_then(|s| serde_json::from_str::<Value>(s).ok());
    let credentials: Vec<Value> = flow.credentials.iter().map(|c| c.describe()).collect();
    let parameters: Vec<Value> = flow
        .parameters
        .iter()
        .map(|p| json!({ "name": p.name, "env": p.env, "default": p.default, "enum": p.allowed }))
        .collect();
    let trigger = flow.nodes.iter().find_map(|n| {
        Some(match n.trigger? {
            crate::flow::Trigger::Webhook(hook) => json!({
                "node": n.id, "kind": "webhook", "method": hook.method, "path": hook.path,
                "signed": hook.hmac.is_some(),
            }),
            crate::flow::Trigger::Schedule(schedule) => json!({
                "node": n.id, "kind": "schedule", "cron": schedule.cron, "timezone": schedule.timezone,
            }),
        })
    });
    json!({
        "id": flow.id,
        "name": flow.name,
        "description": flow.description,
        "nodes": nodes,
        "edges": edges,
        "input_schema": input_schema,
        "outputs_schema": outputs_schema,
        "credentials": credentials,
        "parameters": parameters,
        "trigger": trigger,
    })
}
