//! `output`: names a value of the run result's `outputs`.

use crate::types::Type;
use quote::quote;

use super::{CheckCx, TypeCx};
use crate::check::reader::{Field, Json, Ty};
use crate::emit::{EmitCx, EmitError, NodeCode};

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

pub struct Output;

impl super::Kind for Output {
    fn name(&self) -> &'static str {
        "output"
    }

    fn summary(&self) -> &'static str {
        "Yields a value of the run result's `outputs`."
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn role(&self) -> super::Role {
        super::Role::Output
    }

    fn check(&self, cx: &mut CheckCx<'_>) -> Option<super::Config> {
        check(cx).map(super::config)
    }
}

impl super::NodeConfig for Config {
    /// The value, or the node's input when it has none.
    fn output_type(&self, cx: &TypeCx<'_>) -> Type {
        self.value.as_ref().map_or_else(|| cx.input.clone(), |value| cx.json(value))
    }

    fn emit(&self, cx: &EmitCx<'_>) -> Result<NodeCode, EmitError> {
        let value = match &self.value {
            Some(value) => cx.json(value)?,
            None => quote! { cx.input() },
        };
        Ok(NodeCode::body(quote! {
            Ok(rt::Output::data(#value))
        }))
    }

    fn describe(&self) -> Vec<String> {
        let what = if self.value.is_some() { "its `value`" } else { "its input" };
        vec![format!("Writes {what} as `outputs[{}]` of the run result.", crate::escape::json_string(&self.name))]
    }

    fn output_name(&self) -> Option<&str> {
        Some(&self.name)
    }
}
