//! `input`: the run's input, checked against a JSON Schema subset, defaults applied.

use crate::types::Type;
use quote::quote;
use serde_json::Value;

use super::CheckCx;
use crate::check::reader::{Field, Ty};
use crate::diag::{Code, Diagnostic};
use crate::emit::{EmitCx, NodeCode};

pub const FIELDS: &[Field] = &[Field::opt(
    "schema",
    Ty::Schema,
    "a JSON Schema subset (type, properties, required, additionalProperties, default, enum, items) the input must match",
)];

#[derive(Debug, Clone)]
pub struct Config {
    pub schema: Option<Value>,
}

pub fn check(cx: &mut CheckCx<'_>) -> Option<Config> {
    let (r, sink, _) = cx.read(FIELDS)?;
    let pointer = r.pointer.clone();
    let schema = r.get("schema").cloned();
    let mut ok = r.ok;
    if let Some(schema) = &schema {
        for problem in flowc_runtime::input::check_schema(schema) {
            sink.push(
                Diagnostic::new(Code::E021, format!("{pointer}/schema{}", problem.pointer), problem.message).help(
                    "input schemas use type, properties, required, additionalProperties, default, enum and items",
                ),
            );
            ok = false;
        }
    }
    ok.then_some(Config { schema })
}

/// The input as its schema describes it; `any` without one.
pub fn output(config: &Config) -> Type {
    config.schema.as_ref().map_or(Type::Any, Type::of_schema)
}

pub fn emit(_cx: &EmitCx<'_>, _config: &Config) -> NodeCode {
    // The schema is checked (and its defaults applied) before the run starts; see `FLOW`.
    NodeCode::body(quote! {
        Ok(rt::Output::data(cx.run_input().clone()))
    })
}
