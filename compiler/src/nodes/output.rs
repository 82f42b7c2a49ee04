//! `output`: names a value of the run result's `outputs`.

use crate::types::Type;
use quote::quote;

use super::CheckCx;
use crate::check::reader::{Field, Json, Ty};
use crate::emit::{EmitCx, NodeCode};

pub const FIELDS: &[Field] = &[
    Field::opt("name", Ty::String, "the key in the run result's `outputs` (default: the node id)"),
    Field::opt("value", Ty::Json, "the value, with templates (default: the upstream data)"),
];

#[derive(Debug, Clone)]
pub struct Config {
    pub name: String,
    pub value: Option<Json>,
}

pub fn check(cx: &mut CheckCx<'_>) -> Option<Config> {
    let (mut r, sink, node) = cx.read(FIELDS)?;
    let name = r.string(sink, "name").unwrap_or(&node.id).to_owned();
    let value = r.json(sink, "value");
    r.ok.then_some(Config { name, value })
}

/// The value, or the node's input when it has none.
pub fn output(config: &Config, cx: &super::TypeCx<'_>) -> Type {
    config.value.as_ref().map_or_else(|| cx.input.clone(), |value| cx.json(value))
}

pub fn emit(cx: &EmitCx<'_>, config: &Config) -> NodeCode {
    let value = match &config.value {
        Some(value) => cx.json(value),
        None => quote! { cx.input() },
    };
    NodeCode::body(quote! {
        Ok(rt::Output::data(#value))
    })
}
