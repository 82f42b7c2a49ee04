//! `input`: the run's input, checked against a JSON Schema subset, defaults applied.

use crate::types::Type;
use quote::quote;
use serde_json::Value;

use super::{CheckCx, TypeCx};
use crate::check::reader::{Field, Ty};
use crate::diag::{Code, Diagnostic};
use crate::emit::{EmitCx, EmitError, NodeCode};

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
        for problem in flowc_core::input::check_schema(schema) {
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

pub struct Input;

impl super::Kind for Input {
    fn name(&self) -> &'static str {
        "input"
    }

    fn summary(&self) -> &'static str {
        "Yields the run's input, checked against the input schema, defaults applied."
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn role(&self) -> super::Role {
        super::Role::Input
    }

    fn check(&self, cx: &mut CheckCx<'_>) -> Option<super::Config> {
        check(cx).map(super::config)
    }
}

impl super::NodeConfig for Config {
    /// The input as its schema describes it; `any` without one.
    fn output_type(&self, _cx: &TypeCx<'_>) -> Type {
        self.schema.as_ref().map_or(Type::Any, Type::of_schema)
    }

    fn emit(&self, _cx: &EmitCx<'_>) -> Result<NodeCode, EmitError> {
        // The schema is checked (and its defaults applied) before the run starts; see `FLOW`.
        Ok(NodeCode::body(quote! {
            Ok(rt::Output::data(cx.run_input().clone()))
        }))
    }

    fn describe(&self) -> Vec<String> {
        vec![match &self.schema {
            Some(_) => "Yields the run's input, which matched `FLOW.input_schema` (defaults applied) before the run started.".to_owned(),
            None => "Yields the run's input as given (the node has no schema).".to_owned(),
        }]
    }

    fn input_schema(&self) -> Option<&Value> {
        self.schema.as_ref()
    }
}
