//! `transform`: a new value, built from templates (`value`) or computed by a jq filter (`jq`).

use crate::types::Type;
use quote::quote;

use super::{CheckCx, TypeCx};
use crate::check::reader::{Field, Json, Ty};
use crate::diag::{Code, Diagnostic};
use crate::emit::{EmitCx, EmitError, NodeCode};

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

pub struct Transform;

impl super::Kind for Transform {
    fn name(&self) -> &'static str {
        "transform"
    }

    fn summary(&self) -> &'static str {
        "Yields a new value, built from templates or computed by a jq filter."
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn check(&self, cx: &mut CheckCx<'_>) -> Option<super::Config> {
        check(cx).map(super::config)
    }
}

impl super::NodeConfig for Config {
    /// The value's shape, or what the jq filter yields (see `jq_types`).
    fn output_type(&self, cx: &TypeCx<'_>) -> Type {
        match self {
            Config::Value(value) => cx.json(value),
            Config::Jq(code) => {
                let inputs = crate::jq_types::Inputs { input: cx.input.clone(), nodes: &cx.nodes, params: cx.params() };
                crate::jq_types::infer(code, &inputs).collected()
            }
        }
    }

    fn filters(&self) -> Vec<(&'static str, &str)> {
        match self {
            Config::Jq(code) => vec![("jq", code.as_str())],
            Config::Value(_) => Vec::new(),
        }
    }

    fn emit(&self, cx: &EmitCx<'_>) -> Result<NodeCode, EmitError> {
        Ok(match self {
            Config::Value(value) => {
                let value = cx.json(value)?;
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
        })
    }

    fn describe(&self) -> Vec<String> {
        vec![match self {
            Config::Value(_) => "Yields its `value`, with the templates in it read.".to_owned(),
            Config::Jq(code) => format!("Yields what the jq filter {} yields on its input.", super::code_text(code)),
        }]
    }
}
