//! jq filters, through the jaq crates.
//!
//! flowc checks every filter with [`check`] at compile time; the generated program compiles
//! each filter once at start-up ([`Filter::new`] in a `LazyLock` that `main` forces) and runs
//! it per node call. `$nodes` holds every finished ancestor's data, keyed by node id;
//! `$params` the flow's parameters (see [`crate::params`]).

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{data, Compiler, Ctx, Vars};
use jaq_json::Val;
use serde::Deserialize;
use serde_json::Value;

use crate::error::Error;

type Compiled = jaq_core::Filter<data::JustLut<Val>>;

/// The global variables every filter may read.
const GLOBALS: [&str; 2] = ["$nodes", "$params"];

/// A problem in a filter's text, at a character offset into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub offset: usize,
    pub message: String,
}

/// Checks a filter without running it: syntax, and that every filter and variable it names
/// exists.
pub fn check(code: &str) -> Result<(), Vec<Problem>> {
    compile(code).map(drop)
}

/// Checks many filters at once. Compiling a filter compiles jq's standard library with it,
/// so a flow's filters are first compiled together, as definitions of one program; only
/// when that fails is each compiled alone, to say which is wrong and where.
pub fn check_all(codes: &[&str]) -> Vec<Result<(), Vec<Problem>>> {
    // A filter naming the wrappers could pass together and fail alone: check those alone.
    if codes.len() > 1 && !codes.iter().any(|c| c.contains("__flowc_filter_")) {
        let mut program = String::new();
        for (i, code) in codes.iter().enumerate() {
            // The newline ends a trailing `#` comment before the `;`.
            program.push_str(&format!("def __flowc_filter_{i}: {code}\n;\n"));
        }
        program.push('.');
        if compile(&program).is_ok() {
            return vec![Ok(()); codes.len()];
        }
    }
    codes.iter().map(|code| check(code)).collect()
}

/// How deep brackets may nest, and how many operators a filter may chain, in a jq filter or
/// a `code` node's Rust. Both parsers recurse per level (jaq also per `|`), so a few thousand
/// levels in a 4 KB document overflowed the stack; no hand-written filter comes near these.
pub const MAX_NESTING: usize = 128;
pub const MAX_CHAIN: usize = 1000;

/// The deepest nesting of `()`, `[]` and `{}` in `code`, and the number of `|` and `,`
/// outside string literals: what [`MAX_NESTING`] and [`MAX_CHAIN`] bound. A linear scan,
/// without recursion, so any input is safe to measure.
pub fn complexity(code: &str) -> (usize, usize) {
    let (mut depth, mut deepest, mut chain) = (0usize, 0usize, 0usize);
    let mut chars = code.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '(' | '[' | '{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '|' | ',' => chain += 1,
            _ => {}
        }
    }
    (deepest, chain)
}

/// The problem of a filter too deep or too long to parse safely, if it is one.
fn too_complex(code: &str) -> Option<Problem> {
    let (deepest, chain) = complexity(code);
    if deepest > MAX_NESTING {
        return Some(Problem {
            offset: 0,
            message: format!("the filter nests brackets {deepest} levels deep; at most {MAX_NESTING} are allowed"),
        });
    }
    if chain > MAX_CHAIN {
        return Some(Problem {
            offset: 0,
            message: format!("the filter chains {chain} `|` and `,`; at most {MAX_CHAIN} are allowed: split it"),
        });
    }
    None
}

fn compile(code: &str) -> Result<Compiled, Vec<Problem>> {
    if let Some(problem) = too_complex(code) {
        return Err(vec![problem]);
    }
    let offset = |s: &str| {
        let start = code.as_ptr() as usize;
        let at = s.as_ptr() as usize;
        if at >= start && at <= start + code.len() {
            code[..at - start].chars().count()
        } else {
            0
        }
    };
    let defs = jaq_core::defs().chain(jaq_std::defs()).chain(jaq_json::defs());
    // `env` would hand a filter every environment variable, credentials included, and put
    // them into envelopes: flows read credentials through `credential` only.
    let funs = jaq_core::funs().chain(jaq_std::funs().filter(|(name, _, _)| *name != "env")).chain(jaq_json::funs());
    let arena = Arena::default();
    let modules = Loader::new(defs).load(&arena, File { code, path: () }).map_err(|errors| {
        let mut problems = Vec::new();
        for (_file, error) in errors {
            match error {
                jaq_core::load::Error::Io(items) => {
                    for (path, message) in items {
                        problems
                            .push(Problem { offset: offset(path), message: format!("cannot load module: {message}") });
                    }
                }
                jaq_core::load::Error::Lex(items) => {
                    for (expected, at) in items {
                        problems
                            .push(Problem { offset: offset(at), message: format!("expected {}", expected.as_str()) });
                    }
                }
                jaq_core::load::Error::Parse(items) => {
                    for (expected, at) in items {
                        let found = if at.is_empty() { "the end of the filter".to_owned() } else { format!("`{at}`") };
                        problems.push(Problem {
                            offset: offset(at),
                            message: format!("expected {}, found {found}", expected.as_str()),
                        });
                    }
                }
            }
        }
        problems
    })?;
    Compiler::default().with_funs(funs).with_global_vars(GLOBALS).compile(modules).map_err(|errors| {
        errors
            .into_iter()
            .flat_map(|(_file, undefined)| undefined)
            .map(|(name, what)| Problem {
                offset: offset(name),
                message: format!("undefined {} `{name}`", what.as_str()),
            })
            .collect()
    })
}

/// A filter, compiled the first time it is used (generated programs force every filter at
/// start-up, so a broken one stops the program before anything runs).
pub struct Filter {
    code: &'static str,
    compiled: std::sync::OnceLock<Result<Compiled, String>>,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter").field("code", &self.code).finish_non_exhaustive()
    }
}

impl Filter {
    /// A filter for `code`, to be compiled on first use (`static F: Filter = Filter::new(..)`).
    pub const fn new(code: &'static str) -> Self {
        Filter { code, compiled: std::sync::OnceLock::new() }
    }

    fn compiled(&self) -> &Result<Compiled, String> {
        self.compiled.get_or_init(|| {
            compile(self.code).map_err(|problems| {
                let messages: Vec<String> =
                    problems.iter().map(|p| format!("{} (at character {})", p.message, p.offset)).collect();
                format!("jq filter `{}` does not compile: {}", self.code, messages.join("; "))
            })
        })
    }

    /// Why the filter does not compile, if it does not (flowc checked it, so this means the
    /// runtime's jaq differs from flowc's).
    pub fn error(&self) -> Option<&str> {
        self.compiled().as_ref().err().map(String::as_str)
    }

    /// Runs the filter on `input`, with `$nodes` bound to `nodes`; every output value.
    pub fn run(&self, input: &Value, nodes: &Value) -> Result<Vec<Value>, Error> {
        let filter = self.compiled().as_ref().map_err(|e| Error::config(e.clone()))?;
        let ctx =
            Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new([to_val(nodes)?, to_val(crate::params::values())?]));
        let mut out = Vec::new();
        for item in filter.id.run((ctx, to_val(input)?)) {
            match item {
                Ok(value) => out.push(from_val(&value)?),
                Err(exception) => {
                    let message = match exception.get_err() {
                        Ok(error) => format!("jq filter `{}` failed: {error}", self.code),
                        Err(_) => format!("jq filter `{}` used `halt`, which flows do not support", self.code),
                    };
                    return Err(Error::validation(message).with_code("jq_error"));
                }
            }
        }
        Ok(out)
    }

    /// Runs the filter and folds its outputs into one value: none gives `null`, one gives
    /// itself, several give an array of them.
    pub fn run_one(&self, input: &Value, nodes: &Value) -> Result<Value, Error> {
        let mut values = self.run(input, nodes)?;
        Ok(match values.len() {
            0 => Value::Null,
            1 => values.remove(0),
            _ => Value::Array(values),
        })
    }

    /// Runs a condition: the filter must yield exactly one boolean.
    pub fn run_bool(&self, input: &Value, nodes: &Value) -> Result<bool, Error> {
        match self.run(input, nodes)?.as_slice() {
            [Value::Bool(b)] => Ok(*b),
            other => Err(Error::validation(format!(
                "condition `{}` must yield one boolean, but yielded {}",
                self.code,
                Value::Array(other.to_vec())
            ))
            .with_code("not_a_boolean")),
        }
    }
}

fn to_val(value: &Value) -> Result<Val, Error> {
    Val::deserialize(value).map_err(|e| Error::internal(format!("cannot pass a value to jq: {e}")))
}

fn from_val(value: &Val) -> Result<Value, Error> {
    // jaq's values print as JSON; that is the one conversion jaq-json offers back.
    serde_json::from_str(&value.to_string())
        .map_err(|e| Error::validation(format!("jq produced a value that is not JSON ({value}): {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    static DOUBLE: Filter = Filter::new("[.[] * 2]");

    #[test]
    fn runs_with_std_and_nodes() {
        assert_eq!(DOUBLE.run_one(&json!([1, 2]), &Value::Null).unwrap(), json!([2, 4]));
        let f = Filter::new("$nodes.a.x + (. | length)");
        assert_eq!(f.run_one(&json!("abc"), &json!({"a": {"x": 1}})).unwrap(), json!(4));
        let f = Filter::new(".[] | select(. > 1)");
        assert_eq!(f.run_one(&json!([1, 2, 3]), &Value::Null).unwrap(), json!([2, 3]));
        assert_eq!(f.run_one(&json!([]), &Value::Null).unwrap(), Value::Null);
    }

    #[test]
    fn reports_problems_with_offsets() {
        let problems = check(".a | map(").unwrap_err();
        assert!(!problems.is_empty());
        let problems = check(".a | nosuchfn(1)").unwrap_err();
        assert_eq!(problems[0].offset, 5);
        assert!(problems[0].message.contains("nosuchfn"), "{problems:?}");
        assert!(check("$nodes | keys").is_ok());
        assert!(check("$other").is_err());
        assert!(check("env.HOME").is_err(), "env would leak credentials");
        let all = check_all(&["$nodes | keys", ".a | nosuchfn", "def f: 1; f # comment", "import \"x\" as x; ."]);
        assert!(all[0].is_ok() && all[1].is_err() && all[2].is_ok() && all[3].is_err(), "{all:?}");
        assert_eq!(check_all(&[".a", "def g: 2; g + 1", "[.[] | . * 2] # doubles"]), vec![Ok(()), Ok(()), Ok(())]);
    }

    #[test]
    fn conditions_must_be_boolean_and_errors_are_validation() {
        let f = Filter::new(".n > 2");
        assert!(f.run_bool(&json!({"n": 3}), &Value::Null).unwrap());
        let f = Filter::new(".n");
        assert_eq!(f.run_bool(&json!({"n": 3}), &Value::Null).unwrap_err().kind, crate::ErrorKind::Validation);
        let f = Filter::new("error(\"boom\")");
        assert_eq!(f.run(&Value::Null, &Value::Null).unwrap_err().kind, crate::ErrorKind::Validation);
        let f = Filter::new("halt");
        assert!(f.run(&Value::Null, &Value::Null).is_err());
    }
}
