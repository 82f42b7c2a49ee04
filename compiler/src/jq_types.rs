//! Types through jq filters: the type of what a filter yields, inferred for the common forms
//! (paths, object and array construction, `map`, `select`, `keys`, `length`, arithmetic,
//! comparisons, string functions), and every path the filter takes from its input (`.a.b`) or
//! from `$nodes` (`$nodes.x.y`) followed through the types it reads, as templates are.
//!
//! flowc does this on jaq's own parse tree (`jaq_core::load::parse`), so it reads filters
//! exactly as they run. It is deliberately conservative: whatever it does not model yields
//! `any`, and inside such a form (a `reduce`, a definition, an unknown function's arguments,
//! where `.` may be something else) it checks nothing, so it never reports a path that could
//! exist. `?` and `try` silence what they guard.

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Term};
use jaq_core::path::{Opt, Part};

use crate::template::Seg;
use crate::types::{Member, Miss, Object, Type};

/// A path a filter takes that its input's type cannot have.
#[derive(Debug, Clone, PartialEq)]
pub struct PathProblem {
    /// Character offset of the step in the filter.
    pub offset: usize,
    /// The path as written up to and including the step: `.body.itmes`, `$nodes.fetch.x`.
    pub path: String,
    /// The path before the step.
    pub before: String,
    /// Whether `.` there is the filter's input (not an element inside `map`, nor what the left
    /// of a `|` gave).
    pub on_input: bool,
    pub miss: Miss,
}

/// What a filter reads: `.`, `$nodes` and `$params`.
pub struct Inputs<'a> {
    pub input: Type,
    /// `$nodes`: every finished ancestor's data by id.
    pub nodes: &'a Type,
    /// `$params`: the flow's parameters.
    pub params: &'a Type,
}

/// What a filter was found to yield and to read.
pub struct Inferred {
    /// The type of each output.
    pub each: Type,
    /// Whether it may yield other than exactly one output (`,`, `.[]`, `select`, `empty`).
    pub several: bool,
    /// The paths it takes that cannot exist.
    pub problems: Vec<PathProblem>,
}

impl Inferred {
    /// The data of a `transform` with this filter: one output as it is, several as an array,
    /// none as `null`.
    pub fn collected(&self) -> Type {
        if self.several {
            Type::union([self.each.clone(), Type::array(self.each.clone()), Type::Null])
        } else {
            self.each.clone()
        }
    }
}

/// Infers what `code` yields and checks the paths it takes. A filter that does not parse is
/// `any` with no problems: its syntax is reported elsewhere.
pub fn infer(code: &str, inputs: &Inputs<'_>) -> Inferred {
    // The parser and this walk recurse per level: a filter past the nesting limits is refused
    // (E019) before anything parses it.
    let (deepest, chain) = flowc_core::jq::complexity(code);
    if deepest > flowc_core::jq::MAX_NESTING || chain > flowc_core::jq::MAX_CHAIN {
        return Inferred { each: Type::Any, several: false, problems: Vec::new() };
    }
    let Some(term) = jaq_core::load::parse(code, |p| p.term()) else {
        return Inferred { each: Type::Any, several: false, problems: Vec::new() };
    };
    let mut cx = Cx {
        code,
        nodes: inputs.nodes,
        params: inputs.params,
        problems: Vec::new(),
        quiet: 0,
        several: false,
        rebound: 0,
    };
    let each = cx.term(&term, &inputs.input);
    Inferred { each, several: cx.several, problems: cx.problems }
}

struct Cx<'a> {
    code: &'a str,
    nodes: &'a Type,
    params: &'a Type,
    problems: Vec<PathProblem>,
    /// Inside `try` or after `?`: problems are not reported.
    quiet: usize,
    /// The stream may hold other than one value.
    several: bool,
    /// How many `|` and `map`-like arguments in from the filter's own input `.` is.
    rebound: usize,
}

impl Cx<'_> {
    fn offset(&self, s: &str) -> usize {
        let start = self.code.as_ptr() as usize;
        let at = s.as_ptr() as usize;
        if at >= start && at <= start + self.code.len() {
            self.code[..at - start].chars().count()
        } else {
            0
        }
    }

    fn term(&mut self, term: &Term<&str>, input: &Type) -> Type {
        match term {
            Term::Id => input.clone(),
            Term::Num(n) => {
                if n.contains(['.', 'e', 'E']) {
                    Type::Number
                } else {
                    Type::Integer
                }
            }
            Term::Str(_, parts) => {
                for part in parts {
                    if let StrPart::Term(t) = part {
                        self.term(t, input);
                    }
                }
                Type::String
            }
            Term::Arr(None) => Type::array(Type::Any),
            // Whatever the inner stream holds, the array is one value.
            Term::Arr(Some(t)) => {
                let several = self.several;
                let ty = Type::array(self.term(t, input));
                self.several = several;
                ty
            }
            Term::Obj(entries) => self.object(entries, input),
            Term::Neg(t) => {
                self.term(t, input);
                Type::Number
            }
            Term::BinOp(l, op, r) => self.binop(l, op, r, input),
            Term::IfThenElse(branches, otherwise) => {
                let mut out = Vec::new();
                for (condition, then) in branches {
                    self.term(condition, input);
                    out.push(self.term(then, input));
                }
                out.push(match otherwise {
                    Some(t) => self.term(t, input),
                    None => input.clone(),
                });
                Type::union(out)
            }
            Term::TryCatch(body, catch) => {
                self.quiet += 1;
                let body = self.term(body, input);
                self.quiet -= 1;
                match catch {
                    // The catch's input is the error, not the filter's input.
                    Some(_) => Type::Any,
                    None => body,
                }
            }
            Term::Var(name) if *name == "$nodes" => self.nodes.clone(),
            Term::Var(name) if *name == "$params" => self.params.clone(),
            Term::Path(base, path) => {
                let base_text = match &**base {
                    Term::Id => String::new(),
                    Term::Var(name) => (*name).to_owned(),
                    _ => "…".to_owned(),
                };
                let base_ty = self.term(base, input);
                self.path(base_ty, base_text, &path.0, input)
            }
            Term::Call(name, args) => self.call(name, args, input),
            // Variables bound by `as`, `reduce`, `foreach`, `label`, definitions, `..`: not
            // modelled; nothing inside them is checked.
            _ => Type::Any,
        }
    }

    fn object(&mut self, entries: &[(Term<&str>, Option<Term<&str>>)], input: &Type) -> Type {
        let mut fields = Vec::new();
        let mut open = false;
        for (key, value) in entries {
            // `{$x}` is the field `x`; `{$x: v}` has the key `$x` holds, not known here.
            let name = match (key, value) {
                (Term::Var(var), None) => Some(var.trim_start_matches('$').to_owned()),
                (Term::Var(_), Some(_)) => None,
                _ => literal(key),
            };
            let ty = match (value, &name) {
                (Some(v), _) => self.term(v, input),
                // `{a}` is `{a: .a}`; `{$x}` is `{x: $x}`.
                (None, Some(name)) => match key {
                    Term::Var(_) => Type::Any,
                    _ => {
                        let (at, shown) = key_text(key);
                        self.step(input.clone(), &Seg::Key(name.clone()), at, &shown, &mut String::new(), false)
                    }
                },
                (None, None) => Type::Any,
            };
            match name {
                Some(name) => fields.push((name, Member { ty, optional: false })),
                None => {
                    self.term(key, input);
                    open = true;
                }
            }
        }
        Type::record(Object { fields, rest: open.then(|| Box::new(Type::Any)) })
    }

    fn binop(&mut self, l: &Term<&str>, op: &BinaryOp<&str>, r: &Term<&str>, input: &Type) -> Type {
        match op {
            BinaryOp::Pipe(None) => {
                let left = self.term(l, input);
                self.rebound += 1;
                let right = self.term(r, &left);
                self.rebound -= 1;
                right
            }
            // `l as $x | r`: `r` reads the same input, and `$x`, which is not modelled.
            BinaryOp::Pipe(Some(_)) => {
                self.term(l, input);
                self.term(r, input)
            }
            BinaryOp::Comma => {
                self.several = true;
                let left = self.term(l, input);
                let right = self.term(r, input);
                Type::union([left, right])
            }
            BinaryOp::Alt => {
                let left = self.term(l, input);
                let right = self.term(r, input);
                Type::union([without_null(left), right])
            }
            BinaryOp::Or | BinaryOp::And | BinaryOp::Cmp(_) => {
                self.term(l, input);
                self.term(r, input);
                Type::Boolean
            }
            BinaryOp::Math(_) => {
                let left = self.term(l, input);
                let right = self.term(r, input);
                match (left, right) {
                    (Type::Integer | Type::Number, Type::Integer | Type::Number) => Type::Number,
                    (Type::String, Type::String) => Type::String,
                    _ => Type::Any,
                }
            }
            // Assignments and updates yield the input, changed: its shape is not followed.
            _ => Type::Any,
        }
    }

    /// A path after `base` (of type `ty`, written `text`).
    fn path(&mut self, mut ty: Type, mut text: String, parts: &[(Part<Term<&str>>, Opt)], input: &Type) -> Type {
        let mut quiet_from_here = false;
        for (part, opt) in parts {
            quiet_from_here |= matches!(opt, Opt::Optional);
            ty = match part {
                Part::Index(index) => {
                    if let Some(name) = literal(index) {
                        let (at, shown) = key_text(index);
                        self.step(ty, &Seg::Key(name), at, &shown, &mut text, quiet_from_here)
                    } else if let Term::Num(n) = index {
                        match n.parse::<usize>() {
                            Ok(i) => self.step(ty, &Seg::Index(i), n, &format!("[{n}]"), &mut text, quiet_from_here),
                            Err(_) => Type::Any,
                        }
                    } else {
                        self.term(index, input);
                        text.push_str("[…]");
                        Type::Any
                    }
                }
                // `.[]`: each element of an array, or each value of an object.
                Part::Range(None, None) => {
                    self.several = true;
                    text.push_str("[]");
                    match ty.element() {
                        Some(element) => element,
                        None => values(&ty),
                    }
                }
                // A slice: the same type.
                Part::Range(from, to) => {
                    for bound in [from, to].into_iter().flatten() {
                        self.term(bound, input);
                    }
                    text.push_str("[…:…]");
                    ty
                }
            };
        }
        ty
    }

    /// One step, written `shown` at `at` in the filter, after the path `text` (which it
    /// extends); reported when the type cannot have it.
    fn step(&mut self, ty: Type, seg: &Seg, at: &str, shown: &str, text: &mut String, quiet: bool) -> Type {
        let before = text.clone();
        text.push_str(shown);
        match ty.step(seg) {
            Ok(next) => next,
            Err(miss) => {
                if self.quiet == 0 && !quiet {
                    let offset = self.offset(at);
                    let on_input = self.rebound == 0 && !text.starts_with('$');
                    self.problems.push(PathProblem { offset, path: text.clone(), before, on_input, miss });
                }
                Type::Any
            }
        }
    }

    fn call(&mut self, name: &str, args: &[Term<&str>], input: &Type) -> Type {
        // A modelled function yields one value whatever its arguments' streams hold, except
        // `select` and `empty` (and the functions not modelled), which set the flag below.
        let several = self.several;
        let ty = self.call_inner(name, args, input);
        if !matches!(name, "select" | "empty") && ty != Type::Any {
            self.several = several;
        }
        ty
    }

    fn call_inner(&mut self, name: &str, args: &[Term<&str>], input: &Type) -> Type {
        let element = || input.element().unwrap_or(Type::Any);
        match (name, args) {
            ("map", [f]) => {
                let e = element();
                self.rebound += 1;
                let ty = Type::array(self.term(f, &e));
                self.rebound -= 1;
                ty
            }
            ("select", [f]) => {
                self.several = true;
                self.term(f, input);
                input.clone()
            }
            ("first" | "last", []) => element(),
            ("empty", []) => {
                self.several = true;
                Type::Any
            }
            ("first" | "last" | "values" | "not", [f]) => {
                let t = self.term(f, input);
                if name == "not" {
                    Type::Boolean
                } else {
                    t
                }
            }
            ("add", []) => match element() {
                t @ (Type::Integer | Type::Number | Type::String) => t,
                _ => Type::Any,
            },
            ("sort" | "unique" | "reverse", []) => input.clone(),
            ("sort_by" | "unique_by" | "group_by" | "min_by" | "max_by", [f]) => {
                let e = element();
                self.rebound += 1;
                self.term(f, &e);
                self.rebound -= 1;
                match name {
                    "group_by" => Type::array(input.clone()),
                    "min_by" | "max_by" => e.nullable(),
                    _ => input.clone(),
                }
            }
            ("keys" | "keys_unsorted", []) => Type::array(Type::String),
            ("length" | "utf8bytelength", []) => Type::Integer,
            ("not", []) => Type::Boolean,
            ("tostring" | "ascii_downcase" | "ascii_upcase" | "tojson" | "trim" | "ltrim" | "rtrim" | "type", []) => {
                Type::String
            }
            ("tonumber" | "floor" | "ceil" | "round" | "sqrt" | "fabs" | "abs", []) => Type::Number,
            ("ltrimstr" | "rtrimstr" | "join" | "ascii", [f]) => {
                self.term(f, input);
                Type::String
            }
            ("split", [f]) => {
                self.term(f, input);
                Type::array(Type::String)
            }
            ("has" | "contains" | "inside" | "startswith" | "endswith" | "test" | "any" | "all" | "in", args) => {
                for a in args {
                    self.term(a, input);
                }
                Type::Boolean
            }
            ("tostream" | "to_entries" | "from_entries" | "with_entries" | "paths" | "env", _) => Type::Any,
            ("null", []) => Type::Null,
            ("true" | "false", []) => Type::Boolean,
            // Anything else: not modelled (it may yield any number of values), and its
            // arguments may read another `.`.
            _ => {
                self.several = true;
                Type::Any
            }
        }
    }
}

/// A key as written: `.name`, or `."any key"`.
fn key_text<'s>(term: &Term<&'s str>) -> (&'s str, String) {
    match term {
        Term::Str(_, parts) => match parts.as_slice() {
            [StrPart::Str(s)] if crate::template::is_plain_key(s) => (s, format!(".{s}")),
            [StrPart::Str(s)] => (s, format!(".{}", serde_json::Value::String((*s).to_owned()))),
            _ => ("", ".…".to_owned()),
        },
        _ => ("", ".…".to_owned()),
    }
}

/// A string literal without interpolation or escapes: the key it names.
fn literal(term: &Term<&str>) -> Option<String> {
    match term {
        Term::Str(None, parts) => match parts.as_slice() {
            [StrPart::Str(s)] => Some((*s).to_owned()),
            [] => Some(String::new()),
            _ => None,
        },
        _ => None,
    }
}

/// The values of an object type (`.[]` on an object), `any` when not known.
fn values(ty: &Type) -> Type {
    match ty {
        Type::Object(o) if o.rest.is_none() => Type::union(o.fields.iter().map(|(_, m)| m.ty.clone())),
        _ => Type::Any,
    }
}

fn without_null(ty: Type) -> Type {
    match ty {
        Type::Union(members) => Type::union(members.into_iter().filter(|m| *m != Type::Null)),
        Type::Null => Type::Any,
        t => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> Type {
        Type::object([
            ("status", Type::Integer),
            (
                "body",
                Type::object([("items", Type::array(Type::object([("price", Type::Number), ("qty", Type::Integer)])))]),
            ),
        ])
    }

    fn run(code: &str) -> (Type, Vec<String>) {
        let nodes = Type::object([("fetch", input())]);
        let found = infer(code, &Inputs { input: input(), nodes: &nodes, params: &Type::Any });
        (found.each, found.problems.into_iter().map(|p| format!("{}@{}", p.path, p.offset)).collect())
    }

    #[test]
    fn paths_construction_and_common_functions_are_typed() {
        assert_eq!(run(".status").0, Type::Integer);
        assert_eq!(run("[.body.items[] | .price * .qty] | add").0, Type::Number);
        assert_eq!(run("{total: .status, n: (.body.items | length)}").0.to_string(), "{total: integer, n: integer}");
        assert_eq!(run(".body.items | map(.price)").0, Type::array(Type::Number));
        assert_eq!(run("$nodes.fetch.status").0, Type::Integer);
        assert_eq!(run(".status > 200").0, Type::Boolean);
        assert_eq!(run("reduce .[] as $x (0; . + $x)").0, Type::Any);
        let nodes = Type::Any;
        let several = |code: &str| infer(code, &Inputs { input: input(), nodes: &nodes, params: &Type::Any }).several;
        assert!(!several("[.body.items[] | .price]") && !several("{a: .status}"));
        assert!(several(".body.items[]") && several("1, 2") && several("select(.status > 1)"));
        assert!(!several("map(select(. != null)) | length") && !several(".body.items | map(.price) | add"));
    }

    #[test]
    fn a_path_that_cannot_exist_is_reported_where_it_is() {
        assert_eq!(run(".stauts").1, vec![".stauts@1"]);
        assert_eq!(run(".body.itmes | length").1, vec![".body.itmes@6"]);
        assert_eq!(run(".body.items | map(.prize)").1, vec![".prize@19"]);
        assert_eq!(run("$nodes.fetch.bdy").1, vec!["$nodes.fetch.bdy@13"]);
        assert_eq!(run("$nodes.fecth").1, vec!["$nodes.fecth@7"]);
        assert_eq!(run(".status.code").1, vec![".status.code@8"]);
        // Silenced, or not modelled: nothing.
        assert!(run(".stauts?").1.is_empty());
        assert!(run("try .stauts").1.is_empty());
        assert!(run("reduce .body.items[] as $i (0; . + $i.prize)").1.is_empty());
        assert!(run("def f: .x; f").1.is_empty());
        assert!(run("{a: 1} | .a").1.is_empty());
        assert_eq!(run("{a: 1} | .b").1, vec![".b@10"]);
        // A variable's value as the key: not known, so nothing is reported.
        assert!(run(".body.items[0] as $k | .body[$k]").1.is_empty());
        assert!(run("\"price\" as $k | {($k): 1}, {$k: 2} | .other").1.is_empty());
        assert_eq!(run("\"x\" as $k | {$k} | .q").1, vec![".q@20"]);
    }
}
