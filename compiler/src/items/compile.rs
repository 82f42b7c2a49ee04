//! n8n expressions compiled to Rust: each `{{ }}` of the static subset becomes a Rust
//! expression of type `Value` that the generated node function evaluates per item, with
//! JavaScript's semantics from the runtime's `js` module (`+` concatenating strings, `&&`
//! giving an operand, `?.` short-circuiting a path).
//!
//! The code it writes runs inside a closure that returns `Result<_, rt::Error>` and has `cx`
//! (`rt::item_nodes::Cx`, the item and its run) in scope: a step that can fail (a property
//! of `undefined`, a paired item that cannot be found) ends in `?`, as a thrown error ends a
//! JavaScript expression. What references other nodes is checked here, at compile time: a
//! node that does not exist, and `.item` of a node that is not upstream (n8n would fail at
//! run time, for every item).

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

use super::expression::{data_ref, Chunk, Expr, Expression, Key, Pick, Source, Step, TemplatePart};
use crate::diag::Code;

/// What an expression may name: every node of the flow, and the nodes upstream of the one
/// it belongs to.
pub struct Scope<'a> {
    pub nodes: &'a [String],
    pub upstream: &'a [String],
    /// The environment variables the expressions compiled so far read (`$env.NAME`).
    pub env: std::cell::RefCell<std::collections::BTreeSet<String>>,
}

impl<'a> Scope<'a> {
    pub fn new(nodes: &'a [String], upstream: &'a [String]) -> Scope<'a> {
        Scope { nodes, upstream, env: Default::default() }
    }
}

/// Why an expression does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub code: Code,
    pub message: String,
    pub help: String,
}

impl Problem {
    fn outside(what: impl Into<String>) -> Problem {
        Problem {
            code: Code::E016,
            message: what.into(),
            help: "flowc compiles a subset of n8n's JavaScript expressions ahead of time (docs/flow-format.md, \"Importing from n8n\"); rewrite this part with what the subset has"
                .to_owned(),
        }
    }
}

type Compiled = Result<TokenStream, Problem>;

/// A config value: an expression (a string starting with `=`), or JSON as it is.
pub fn value(scope: &Scope<'_>, value: &serde_json::Value) -> Compiled {
    match value.as_str().and_then(Expression::parse) {
        Some(expression) => expression_value(scope, &expression),
        None => Ok(crate::emit::static_json(value)),
    }
}

/// An expression's value: a single `{{ }}` keeps its value's type; with text around it, the
/// value is the text, each `{{ }}` written as n8n writes a value among text.
pub fn expression_value(scope: &Scope<'_>, expression: &Expression) -> Compiled {
    if expression.is_single() {
        if let [Chunk::Code { source, parsed }] = expression.chunks.as_slice() {
            return code(scope, source, parsed);
        }
    }
    let mut parts = Vec::new();
    for chunk in &expression.chunks {
        match chunk {
            Chunk::Text(text) => parts.push(quote! { text.push_str(#text); }),
            Chunk::Code { source, parsed } => {
                let value = code(scope, source, parsed)?;
                parts.push(quote! { text.push_str(&rt::items::text(&#value)); });
            }
        }
    }
    Ok(quote! { {
        let mut text = String::new();
        #(#parts)*
        rt::serde_json::Value::String(text)
    } })
}

fn code(scope: &Scope<'_>, source: &str, parsed: &Result<Expr, super::expression::Unsupported>) -> Compiled {
    match parsed {
        Ok(expr) => Compiler { scope, locals: Vec::new() }.expr(expr),
        Err(why) => Err(Problem::outside(format!(
            "`{{{{ {} }}}}` is outside the expressions flowc compiles: {why}",
            source.trim()
        ))),
    }
}

struct Compiler<'a> {
    scope: &'a Scope<'a>,
    /// The parameters of the arrow functions around the code being compiled.
    locals: Vec<String>,
}

/// `Value` in generated code.
fn value_type() -> TokenStream {
    quote! { rt::serde_json::Value }
}

impl Compiler<'_> {
    fn expr(&mut self, expr: &Expr) -> Compiled {
        let v = value_type();
        if let Some(reference) = data_ref(expr) {
            return self.data(&reference.source, &reference.path);
        }
        Ok(match expr {
            Expr::Null | Expr::Undefined => quote! { #v::Null },
            Expr::Bool(b) => quote! { #v::Bool(#b) },
            Expr::Number(n) => number(*n),
            Expr::String(s) => quote! { #v::from(#s) },
            Expr::Template(parts) => {
                let mut pushes = Vec::new();
                for part in parts {
                    pushes.push(match part {
                        TemplatePart::Text(text) => quote! { text.push_str(#text); },
                        TemplatePart::Expr(e) => {
                            let e = self.expr(e)?;
                            quote! { text.push_str(&rt::js::string(&#e)); }
                        }
                    });
                }
                quote! { {
                    let mut text = String::new();
                    #(#pushes)*
                    #v::String(text)
                } }
            }
            Expr::Ident(name) => self.ident(name)?,
            Expr::Array(items) => {
                let items = items.iter().map(|e| self.expr(e)).collect::<Result<Vec<_>, _>>()?;
                quote! { #v::Array(Vec::from([#(#items),*])) }
            }
            Expr::Object(members) => {
                let mut inserts = Vec::new();
                for (key, e) in members {
                    let e = self.expr(e)?;
                    inserts.push(quote! { object.insert(#key.to_owned(), #e); });
                }
                quote! { {
                    let mut object = rt::serde_json::Map::new();
                    #(#inserts)*
                    #v::Object(object)
                } }
            }
            Expr::Member { .. } => self.member(expr)?,
            Expr::Call { callee, args, optional } => self.call(callee, args, *optional)?,
            Expr::Unary { op, operand } => {
                let operand = self.expr(operand)?;
                match *op {
                    "!" => quote! { rt::js::not(&#operand) },
                    "-" => quote! { rt::js::neg(&#operand) },
                    "+" => quote! { rt::js::plus(&#operand) },
                    other => {
                        return Err(Problem::outside(format!(
                            "the operator `{other}` is outside the expressions flowc compiles"
                        )))
                    }
                }
            }
            Expr::Binary { op, left, right } => self.binary(op, left, right)?,
            Expr::Conditional { test, then, otherwise } => {
                let (test, then, otherwise) = (self.expr(test)?, self.expr(then)?, self.expr(otherwise)?);
                quote! { if rt::js::truthy(&#test) { #then } else { #otherwise } }
            }
            Expr::Arrow { .. } => {
                return Err(Problem::outside(
                    "an arrow function is compiled only as the callback of map, filter, find, findIndex, some or every",
                ))
            }
        })
    }

    fn ident(&mut self, name: &str) -> Compiled {
        let v = value_type();
        if self.locals.iter().any(|l| l == name) {
            let local = local_ident(name);
            return Ok(quote! { #local.clone() });
        }
        Ok(match name {
            "$json" => quote! { cx.json().clone() },
            "$itemIndex" => quote! { cx.item_index() },
            "$runIndex" => quote! { cx.run_index() },
            "$workflow" => quote! { cx.workflow() },
            "$execution" => quote! { rt::serde_json::json!({ "id": cx.execution_id(), "mode": "manual" }) },
            "undefined" => quote! { #v::Null },
            "NaN" | "Infinity" => quote! { #v::Null },
            other => {
                return Err(Problem::outside(format!(
                    "`{other}` is outside the expressions flowc compiles (it has $json, $input, $('Node'), $node, $itemIndex, $runIndex, $workflow, $execution and $env)"
                )))
            }
        })
    }

    /// A data reference: the item's json (or the array of items' json) it starts from, and
    /// the steps into it.
    fn data(&mut self, source: &Source, path: &[Step]) -> Compiled {
        let base = match source {
            Source::Current => quote! { cx.json() },
            Source::Input(Pick::Item) => quote! { cx.json() },
            Source::Input(Pick::First) => quote! { &cx.input_first()? },
            Source::Input(Pick::Last) => quote! { &cx.input_last()? },
            Source::Input(Pick::All) => quote! { &cx.input_all() },
            Source::Node { name, pick } => {
                self.node(name, *pick == Pick::Item)?;
                match pick {
                    Pick::Item => quote! { &cx.node_item(#name)? },
                    Pick::First => quote! { &cx.node_first(#name)? },
                    Pick::Last => quote! { &cx.node_last(#name)? },
                    Pick::All => quote! { &cx.node_all(#name)? },
                }
            }
            Source::NodeAtIndex(name) => {
                self.node(name, false)?;
                quote! { &cx.node_at_index(#name, cx.index)? }
            }
        };
        if path.is_empty() {
            return Ok(quote! { (#base).clone() });
        }
        let steps = path.iter().map(|step| match step {
            Step::Key(key) => quote! { (#key, false) },
            Step::Index(index) => {
                let index = index.to_string();
                quote! { (#index, false) }
            }
        });
        Ok(quote! { rt::js::path(#base, &[#(#steps),*])? })
    }

    /// Checks a node an expression reads.
    fn node(&self, name: &str, paired: bool) -> Result<(), Problem> {
        if !self.scope.nodes.iter().any(|n| n == name) {
            let near = crate::diag::did_you_mean(name, self.scope.nodes.iter().map(String::as_str));
            return Err(Problem {
                code: Code::E017,
                message: format!("the expression reads node `{name}`, and the workflow has no node of that name"),
                help: match near {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => "name a node of the workflow (names are case-sensitive)".to_owned(),
                },
            });
        }
        if paired && !self.scope.upstream.iter().any(|n| n == name) {
            return Err(Problem {
                code: Code::E018,
                message: format!("the expression reads `$('{name}').item`, and `{name}` is not upstream of this node: no item here came from it"),
                help: format!("connect `{name}` before this node, or read `$('{name}').first()` or `.all()`, which do not follow items back"),
            });
        }
        Ok(())
    }

    /// A member access that is not a data reference: the chain of `.name` steps on one base
    /// is one `path` call, so that `?.` short-circuits what follows it, as in JavaScript.
    fn member(&mut self, expr: &Expr) -> Compiled {
        let mut steps = Vec::new();
        let mut at = expr;
        while let Expr::Member { object, key: Key::Name(name), optional } = at {
            steps.push((name.clone(), *optional));
            at = object;
        }
        if steps.is_empty() {
            // A computed key: `object[key]`.
            let Expr::Member { object, key: Key::Computed(key), optional } = at else {
                return self.expr(at);
            };
            if let (Expr::Ident(root), Expr::String(name)) = (&**object, &**key) {
                if root == "$env" {
                    let member =
                        Expr::Member { object: object.clone(), key: Key::Name(name.clone()), optional: *optional };
                    return self.member(&member);
                }
            }
            let (object, key) = (self.expr(object)?, self.expr(key)?);
            return Ok(if *optional {
                quote! { { let object = #object; if object.is_null() { rt::serde_json::Value::Null } else { rt::js::get(&object, &#key)? } } }
            } else {
                quote! { rt::js::get(&#object, &#key)? }
            });
        }
        steps.reverse();
        // `$env.NAME`: the variable, read when the expression is evaluated (null when unset).
        if let (Expr::Ident(root), [(name, false), rest @ ..]) = (at, steps.as_slice()) {
            if root == "$env" {
                if !crate::ident::is_env_name(name) {
                    return Err(Problem::outside(format!("`$env.{name}` does not name an environment variable")));
                }
                self.scope.env.borrow_mut().insert(name.clone());
                if rest.is_empty() {
                    return Ok(quote! { rt::item_nodes::env(#name) });
                }
                let rest = rest.iter().map(|(name, optional)| quote! { (#name, #optional) });
                return Ok(quote! { rt::js::path(&rt::item_nodes::env(#name), &[#(#rest),*])? });
            }
        }
        // `$execution.id` and the like read the run, not data.
        if let (Expr::Ident(root), [(first, false), ..]) = (at, steps.as_slice()) {
            if root == "$execution" && first == "id" && steps.len() == 1 {
                return Ok(quote! { cx.execution_id() });
            }
        }
        let base = self.expr(at)?;
        let steps = steps.iter().map(|(name, optional)| quote! { (#name, #optional) });
        Ok(quote! { rt::js::path(&#base, &[#(#steps),*])? })
    }

    fn call(&mut self, callee: &Expr, args: &[Expr], optional: bool) -> Compiled {
        if optional {
            return Err(Problem::outside("an optional call `?.()` is outside the expressions flowc compiles"));
        }
        // A global function: `Math.round(x)`, `JSON.stringify(x)`, `String(x)`.
        if let Some(global) = global_name(callee) {
            if !flowc_core::js::GLOBALS.contains(&global.as_str()) {
                return Err(Problem::outside(format!(
                    "`{global}()` is outside the functions flowc compiles ({})",
                    flowc_core::js::GLOBALS.join(", ")
                )));
            }
            let args = self.args(args)?;
            return Ok(quote! { rt::js::call_global(#global, &[#(#args),*])? });
        }
        let Expr::Member { object, key: Key::Name(method), optional: member_optional } = callee else {
            return Err(Problem::outside(
                "only methods and the global functions can be called in the expressions flowc compiles",
            ));
        };
        let receiver = self.expr(object)?;
        let callback = match method.as_str() {
            "map" => Some(quote! { rt::js::map }),
            "filter" => Some(quote! { rt::js::filter }),
            "find" => Some(quote! { rt::js::find }),
            "findIndex" => Some(quote! { rt::js::find_index }),
            "some" => Some(quote! { rt::js::some }),
            "every" => Some(quote! { rt::js::every }),
            _ => None,
        };
        let call = if let Some(function) = callback {
            let [Expr::Arrow { params, body }] = args else {
                return Err(Problem::outside(format!(
                    "`.{method}()` is compiled with an arrow function as its one argument (`x => …`)"
                )));
            };
            if params.len() > 2 {
                return Err(Problem::outside(format!(
                    "the callback of `.{method}()` takes the element and its index, no more"
                )));
            }
            let before = self.locals.len();
            self.locals.extend(params.iter().cloned());
            let body = self.expr(body);
            self.locals.truncate(before);
            let body = body?;
            let element = params.first().map_or_else(|| format_ident!("_element"), |p| local_ident(p));
            let index = match params.get(1) {
                Some(p) => {
                    let local = local_ident(p);
                    quote! { let #local = rt::serde_json::Value::from(index); }
                }
                None => quote! { let _ = index; },
            };
            quote! {
                #function(&receiver, |#element: &rt::serde_json::Value, index: usize| {
                    #index
                    let #element = #element.clone();
                    Ok(#body)
                })?
            }
        } else {
            let known = [
                flowc_core::js::STRING_METHODS,
                flowc_core::js::ARRAY_METHODS,
                flowc_core::js::NUMBER_METHODS,
                flowc_core::js::OBJECT_METHODS,
                flowc_core::js::BOOLEAN_METHODS,
            ];
            if !known.iter().any(|methods| methods.contains(&method.as_str())) {
                return Err(Problem::outside(format!(
                    "the method `.{method}()` is outside the methods flowc compiles"
                )));
            }
            let args = self.args(args)?;
            quote! { rt::js::call_method(&receiver, #method, &[#(#args),*])? }
        };
        Ok(if *member_optional {
            quote! { { let receiver = #receiver; if receiver.is_null() { rt::serde_json::Value::Null } else { #call } } }
        } else {
            quote! { { let receiver = #receiver; #call } }
        })
    }

    fn args(&mut self, args: &[Expr]) -> Result<Vec<TokenStream>, Problem> {
        args.iter().map(|a| self.expr(a)).collect()
    }

    fn binary(&mut self, op: &str, left: &Expr, right: &Expr) -> Compiled {
        let (l, r) = (self.expr(left)?, self.expr(right)?);
        let v = value_type();
        Ok(match op {
            "+" => quote! { rt::js::add(&#l, &#r) },
            "-" => quote! { rt::js::sub(&#l, &#r) },
            "*" => quote! { rt::js::mul(&#l, &#r) },
            "/" => quote! { rt::js::div(&#l, &#r) },
            "%" => quote! { rt::js::rem(&#l, &#r) },
            "===" => quote! { #v::Bool(rt::js::strict_eq(&#l, &#r)) },
            "!==" => quote! { #v::Bool(!rt::js::strict_eq(&#l, &#r)) },
            "==" => quote! { #v::Bool(rt::js::loose_eq(&#l, &#r)) },
            "!=" => quote! { #v::Bool(!rt::js::loose_eq(&#l, &#r)) },
            "<" | "<=" | ">" | ">=" => quote! { #v::Bool(rt::js::compare(#op, &#l, &#r)) },
            // The logical operators give one of their operands, and evaluate the right one
            // only when it decides.
            "&&" => quote! { { let left = #l; if rt::js::truthy(&left) { #r } else { left } } },
            "||" => quote! { { let left = #l; if rt::js::truthy(&left) { left } else { #r } } },
            "??" => quote! { { let left = #l; if left.is_null() { #r } else { left } } },
            other => {
                return Err(Problem::outside(format!(
                    "the operator `{other}` is outside the expressions flowc compiles"
                )))
            }
        })
    }
}

/// The dotted name of a global function a callee is (`Math.round`, `String`), if it is one.
fn global_name(callee: &Expr) -> Option<String> {
    const ROOTS: &[&str] = &["Math", "JSON", "Object", "Array", "Number"];
    const FUNCTIONS: &[&str] =
        &["String", "Number", "Boolean", "parseInt", "parseFloat", "isNaN", "encodeURIComponent", "decodeURIComponent"];
    match callee {
        Expr::Ident(name) if FUNCTIONS.contains(&name.as_str()) => Some(name.clone()),
        Expr::Member { object, key: Key::Name(name), optional: false } => match &**object {
            Expr::Ident(root) if ROOTS.contains(&root.as_str()) => Some(format!("{root}.{name}")),
            _ => None,
        },
        _ => None,
    }
}

/// The Rust local an arrow function's parameter becomes (`item` → `p_item`).
fn local_ident(name: &str) -> proc_macro2::Ident {
    let mapped: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    format_ident!("p_{}", mapped)
}

/// A number literal as a `Value`: an integer when it is one.
fn number(n: f64) -> TokenStream {
    if !n.is_finite() {
        // `1e400` is Infinity, which JSON writes as null (and a Rust literal cannot hold).
        return quote! { rt::serde_json::Value::Null };
    }
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        let lit = Literal::i64_suffixed(n as i64);
        quote! { rt::serde_json::Value::from(#lit) }
    } else {
        let lit = Literal::f64_suffixed(n);
        quote! { rt::js::from_f64(#lit) }
    }
}
