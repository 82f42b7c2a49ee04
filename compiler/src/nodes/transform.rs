//! `transform`: a new value, built from templates (`value`) or computed by a jq filter (`jq`).

use crate::types::Type;
use quote::quote;

use super::CheckCx;
use crate::check::reader::{Field, Json, Ty};
use crate::diag::{Code, Diagnostic};
use crate::emit::{EmitCx, NodeCode};

pub const FIELDS: &[Field] = &[
    Field::opt("value", Ty::Json, "the result, with templates (exactly one of value and jq)"),
    Field::opt("jq", Ty::Jq, "a jq filter: `.` is the input, `$nodes` every finished upstream node's data"),
];

#[derive(Debug, Clone)]
pub enum Config {
    Value(Json),
    Jq(String),
}

pub fn check(cx: &mut CheckCx<'_>) -> Option<Config> {
    let (mut r, sink, _) = cx.read(FIELDS)?;
    let what = r.what().to_owned();
    let pointer = r.pointer.clone();
    let value = r.json(sink, "value");
    let jq = r.string(sink, "jq");
    if r.get("value").is_some() == r.get("jq").is_some() {
        sink.push(
            Diagnostic::new(Code::E015, pointer.clone(), format!("{what} needs exactly one of `value` and `jq`"))
                .help("use \"value\" for a JSON value with templates, or \"jq\" for a filter"),
        );
        return None;
    }
    if let Some(code) = jq {
        if !super::check_jq(sink, code, &format!("{pointer}/jq")) {
            return None;
        }
    }
    if !r.ok {
        return None;
    }
    match (value, jq) {
        (Some(value), _) => Some(Config::Value(value)),
        (None, Some(code)) => Some(Config::Jq(code.to_owned())),
        _ => None,
    }
}

/// The value's shape, or what the jq filter yields (see `jq_types`).
pub fn output(config: &Config, cx: &super::TypeCx<'_>) -> Type {
    match config {
        Config::Value(value) => cx.json(value),
        Config::Jq(code) => {
            let inputs = crate::jq_types::Inputs { input: cx.input.clone(), nodes: &cx.nodes };
            crate::jq_types::infer(code, &inputs).collected()
        }
    }
}

pub fn emit(cx: &EmitCx<'_>, config: &Config) -> NodeCode {
    match config {
        Config::Value(value) => {
            let value = cx.json(value);
            NodeCode::body(quote! { Ok(rt::Output::data(#value)) })
        }
        Config::Jq(code) => {
            let filter = cx.filter("FILTER");
            let nodes = cx.jq_nodes(code);
            NodeCode::body(quote! {
                let data = #filter.run_one(&cx.input(), &#nodes)?;
                Ok(rt::Output::data(data))
            })
            .with_filter(filter, code)
        }
    }
}
