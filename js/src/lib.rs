//! JavaScript, for what of an imported n8n workflow flowc cannot compile to Rust: its Code
//! nodes, and expressions outside the subset translated at compile time.
//!
//! The engine is QuickJS-ng, through the `rquickjs` crate. `scripts/bench-js-engines` chose it
//! (one run on the 2-core machine, the same expressions, an item's JSON in and the result's
//! JSON out):
//!
//! | engine | cold build | stripped binary | start-up | per item |
//! |---|---|---|---|---|
//! | none (the expressions in Rust) | 7 s | 0.47 MB | 0 | 0.11–0.23 µs |
//! | rquickjs 0.14 | 50 s | 1.65 MB | 0.5 ms | 5.4–5.6 µs |
//! | boa_engine 0.22 | 173 s | 13.05 MB | 1.1 ms | 4.9–8.4 µs |
//!
//! Per item they are alike. QuickJS builds in a third of the time, adds a tenth of the size,
//! and can be stopped: a memory limit and an interrupt handler bound what runaway or hostile
//! code costs, where boa limits only loop iterations and recursion.
//!
//! The engine is a crate of its own. Only programs that run JavaScript depend on it; the others
//! build, link and lock exactly as if it did not exist.
//!
//! QuickJS runtimes are single-threaded, so each thread has its own engine, made at its first
//! call, and compiles each function once. Values cross as JSON text. A script sees the
//! language's own globals and nothing of the host: no files, network, processes or clock
//! beyond `Date`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rquickjs::function::Rest;
use rquickjs::{Context, Ctx, Function, Runtime};
use serde_json::Value;

use flowc_core::error::{Error, ErrorKind};

/// What one call may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The engine's heap, in bytes.
    pub memory: usize,
    /// How long the call may run.
    pub time: Duration,
}

impl Limits {
    /// 64 MiB and 5 s (n8n's own task runners give a Code node 60 s by default; a compiled
    /// flow that needs more says so).
    pub const DEFAULT: Limits = Limits { memory: 64 * 1024 * 1024, time: Duration::from_secs(5) };
}

/// The deepest the engine's stack may go, in bytes: well inside the 2 MiB a worker thread has.
const MAX_STACK: usize = 512 * 1024;

/// One thread's engine.
struct Engine {
    runtime: Runtime,
    context: Context,
    /// Each function's global name, by its parameters and body.
    functions: HashMap<(Vec<String>, String), String>,
    /// When the call running must stop, in nanoseconds after `epoch` (0: no call is running).
    deadline: Arc<AtomicU64>,
    epoch: Instant,
}

thread_local! {
    static ENGINE: RefCell<Option<Engine>> = const { RefCell::new(None) };
}

/// Calls the function `function (params) { body }` with `args` (each a parameter's value):
/// its result, `None` for `undefined` (and for what JSON cannot hold, such as a function).
pub fn call(params: &[&str], body: &str, args: &[&Value], limits: Limits) -> Result<Option<Value>, Error> {
    ENGINE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let engine = match slot.as_mut() {
            Some(engine) => engine,
            None => slot.insert(Engine::new()?),
        };
        let outcome = engine.call(params, body, args, limits);
        // A heap that ran out may hold what made it: the next call gets a new engine.
        if matches!(&outcome, Err(e) if e.code.as_deref() == Some("js_memory")) {
            *slot = None;
        }
        outcome
    })
}

impl Engine {
    fn new() -> Result<Engine, Error> {
        let runtime = Runtime::new().map_err(|e| engine_error(format!("cannot start the JavaScript engine: {e}")))?;
        runtime.set_max_stack_size(MAX_STACK);
        let deadline = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let watched = deadline.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || {
            let at = watched.load(Ordering::Relaxed);
            at != 0 && epoch.elapsed().as_nanos() as u64 > at
        })));
        let context =
            Context::full(&runtime).map_err(|e| engine_error(format!("cannot start the JavaScript engine: {e}")))?;
        Ok(Engine { runtime, context, functions: HashMap::new(), deadline, epoch })
    }

    fn call(&mut self, params: &[&str], body: &str, args: &[&Value], limits: Limits) -> Result<Option<Value>, Error> {
        self.runtime.set_memory_limit(limits.memory);
        let key = (params.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>(), body.to_owned());
        let count = self.functions.len();
        let name = self.functions.entry(key).or_insert_with(|| format!("__flowc_function_{count}")).clone();
        let fresh = self.functions.len() > count;
        let until = self.epoch.elapsed() + limits.time;
        self.deadline.store(until.as_nanos() as u64, Ordering::Relaxed);
        let outcome = self.context.with(|ctx| {
            let globals = ctx.globals();
            if fresh {
                let source = format!("(function ({}) {{\n{body}\n}})", params.join(", "));
                let function: Function = ctx.eval(source).map_err(|e| thrown(&ctx, e, "compile"))?;
                globals.set(name.as_str(), function).map_err(|e| thrown(&ctx, e, "compile"))?;
            }
            let function: Function = globals.get(name.as_str()).map_err(|e| thrown(&ctx, e, "call"))?;
            let mut values = Vec::with_capacity(args.len());
            for arg in args {
                let text = serde_json::to_string(arg).map_err(|e| engine_error(e.to_string()))?;
                values.push(ctx.json_parse(text).map_err(|e| thrown(&ctx, e, "call"))?);
            }
            let result: rquickjs::Value = function.call((Rest(values),)).map_err(|e| thrown(&ctx, e, "call"))?;
            if result.is_undefined() {
                return Ok(None);
            }
            let Some(text) = ctx.json_stringify(result).map_err(|e| thrown(&ctx, e, "call"))? else { return Ok(None) };
            let text = text.to_string().map_err(|e| thrown(&ctx, e, "call"))?;
            serde_json::from_str(&text).map(Some).map_err(|e| engine_error(e.to_string()))
        });
        let timed_out = self.epoch.elapsed() > until;
        self.deadline.store(0, Ordering::Relaxed);
        match outcome {
            // The interrupt handler's stop is an uncatchable exception: whatever it says, the
            // time was up.
            Err(error) if timed_out && error.code.as_deref() != Some("js_memory") => Err(Error::new(
                ErrorKind::Timeout,
                format!("the JavaScript ran longer than {} ms and was stopped", limits.time.as_millis()),
            )
            .with_code("js_timeout")),
            other => other,
        }
    }
}

fn engine_error(message: String) -> Error {
    Error::new(ErrorKind::Internal, message).with_code("js_engine")
}

/// What a failed step of a call threw, as an error: the exception's message and stack, or the
/// engine's own failure.
fn thrown(ctx: &Ctx<'_>, error: rquickjs::Error, step: &str) -> Error {
    if !matches!(error, rquickjs::Error::Exception) {
        return engine_error(format!("the JavaScript engine failed to {step}: {error}"));
    }
    let exception = ctx.catch();
    let text = match exception.as_exception() {
        Some(exception) => {
            let message = exception.message().unwrap_or_default();
            let stack = exception.stack().unwrap_or_default();
            let name: String = exception.get("name").unwrap_or_default();
            let mut text = if name.is_empty() { message } else { format!("{name}: {message}") };
            if !stack.trim().is_empty() {
                text = format!("{text}\n{}", stack.trim_end());
            }
            text
        }
        None => match exception.as_string().and_then(|s| s.to_string().ok()) {
            Some(text) => text,
            None => ctx.json_stringify(exception).ok().flatten().and_then(|s| s.to_string().ok()).unwrap_or_default(),
        },
    };
    if text.contains("out of memory") {
        return Error::validation(format!(
            "the JavaScript used more memory than its limit and was stopped: {}",
            text.lines().next().unwrap_or_default()
        ))
        .with_code("js_memory");
    }
    let code = if step == "compile" { "js_syntax" } else { "js_error" };
    Error::validation(text).with_code(code)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(params: &[&str], body: &str, args: &[Value]) -> Result<Option<Value>, Error> {
        let args: Vec<&Value> = args.iter().collect();
        call(params, body, &args, Limits { memory: 16 * 1024 * 1024, time: Duration::from_millis(300) })
    }

    #[test]
    fn a_function_of_json_gives_json() {
        let item = json!({"name": "ada", "tags": ["a", "long", "tag"], "n": 2});
        let result =
            run(&["$json"], "return $json.name.toUpperCase() + ' ' + $json.n * 2;", std::slice::from_ref(&item));
        assert_eq!(result.unwrap(), Some(json!("ADA 4")));
        let result =
            run(&["$json"], "return { long: $json.tags.filter(t => t.length > 3), at: new Date(0) };", &[item]);
        assert_eq!(result.unwrap(), Some(json!({"long": ["long"], "at": "1970-01-01T00:00:00.000Z"})));
        assert_eq!(run(&[], "return undefined;", &[]).unwrap(), None);
        assert_eq!(run(&[], "return () => 1;", &[]).unwrap(), None, "a function is not JSON");
        // Compiled once, called again with other arguments.
        assert_eq!(run(&["a", "b"], "return a + b;", &[json!(1), json!(2)]).unwrap(), Some(json!(3)));
        assert_eq!(run(&["a", "b"], "return a + b;", &[json!("x"), json!("y")]).unwrap(), Some(json!("xy")));
    }

    #[test]
    fn what_a_script_throws_is_an_error_with_its_message() {
        let error = run(&[], "throw new TypeError('boom at item 3');", &[]).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("js_error"));
        assert!(error.message.starts_with("TypeError: boom at item 3"), "{}", error.message);
        let error = run(&[], "return null.x;", &[]).unwrap_err();
        assert!(error.message.starts_with("TypeError"), "{}", error.message);
        let error = run(&[], "return (;", &[]).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("js_syntax"), "{}", error.message);
        let error = run(&[], "throw 'plain';", &[]).unwrap_err();
        assert_eq!(error.message, "plain");
    }

    #[test]
    fn runaway_scripts_are_stopped_and_the_engine_goes_on() {
        let began = Instant::now();
        let error = run(&[], "while (true) {}", &[]).unwrap_err();
        assert_eq!((error.kind, error.code.as_deref()), (ErrorKind::Timeout, Some("js_timeout")), "{}", error.message);
        assert!(began.elapsed() < Duration::from_secs(5), "stopped near its 300 ms");
        // Not even a catch keeps it going.
        let error = run(&[], "for (;;) { try { while (true) {} } catch (e) {} }", &[]).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("js_timeout"), "{}", error.message);
        let error = run(&[], "let a = []; for (;;) a.push('x'.repeat(1 << 20) + a.length);", &[]).unwrap_err();
        assert_eq!(error.code.as_deref(), Some("js_memory"), "{}", error.message);
        let error = run(&[], "function f(n) { return f(n + 1) + 1; } return f(0);", &[]).unwrap_err();
        assert!(error.message.contains("stack"), "{}", error.message);
        assert_eq!(run(&[], "return 1 + 1;", &[]).unwrap(), Some(json!(2)), "the next call works");
    }

    #[test]
    fn a_script_sees_nothing_of_the_host() {
        let seen = run(
            &[],
            "return [typeof require, typeof process, typeof fetch, typeof std, typeof os, typeof XMLHttpRequest, typeof Deno];",
            &[],
        );
        assert_eq!(seen.unwrap(), Some(Value::from(vec!["undefined"; 7])));
    }
}
