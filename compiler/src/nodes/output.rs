//! `output`: names a value of the run result's `outputs`.

use quote::quote;

use super::CheckCx;
use crate::check::reader::{Field, Json, Reader, Ty};
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
    let what = cx.what();
    let pointer = cx.pointer();
    let mut r = Reader::new(cx.sink, &cx.node.config, &pointer, FIELDS, &what)?;
    let name = r.string(cx.sink, "name").unwrap_or(&cx.node.id).to_owned();
    let value = r.json(cx.sink, "value");
    r.ok.then_some(Config { name, value })
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
