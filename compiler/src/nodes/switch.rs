//! `switch`: routes to the case whose value equals what a jq filter yields, or to `default`.

use quote::quote;
use serde_json::Value;

use super::{CheckCx, TypeCx};
use crate::types::Type;
use crate::check::reader::{Field, Ty};
use crate::diag::{Code, Diagnostic};
use crate::emit::{EmitCx, EmitError, NodeCode};

pub const FIELDS: &[Field] = &[
    Field::req("value", Ty::Jq, "a jq filter; its result picks the case"),
    Field::req(
        "cases",
        Ty::Other("an object: case name → the JSON value that selects it"),
        "the cases, in order; the first equal value wins",
    ),
];

#[derive(Debug, Clone)]
pub struct Config {
    pub value: String,
    pub cases: Vec<(String, Value)>,
}

/// The handles a switch has, from its raw config (the graph phase runs before config is read).
pub fn case_names(config: &Value) -> Vec<String> {
    let mut names: Vec<String> =
        config.get("cases").and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default();
    names.push("default".into());
    names
}

pub fn check(cx: &mut CheckCx<'_>) -> Option<Config> {
    let (mut r, sink, _) = cx.read(FIELDS)?;
    let pointer = r.pointer.clone();
    let value = r.string(sink, "value");
    let mut ok = r.ok;
    if let Some(code) = value {
        ok &= super::check_jq(sink, code, &format!("{pointer}/value"));
    }
    let cases = match r.get("cases") {
        Some(Value::Object(map)) if !map.is_empty() => {
            for name in map.keys() {
                if name == "default" || name == "error" {
                    sink.push(
                        Diagnostic::new(
                            Code::E015,
                            format!("{pointer}/cases/{}", crate::source::escape(name)),
                            format!("`{name}` cannot name a case: it is a handle of its own"),
                        )
                        .help("rename the case; `default` is taken when no case matches, `error` when the node fails")
                        .at_key(),
                    );
                    ok = false;
                }
            }
            map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        }
        Some(other) => {
            sink.push(
                Diagnostic::new(
                    Code::E002,
                    format!("{pointer}/cases"),
                    format!("`cases` must be a non-empty object, not {}", crate::check::reader::short(other)),
                )
                .help("e.g. \"cases\": {\"small\": \"S\", \"large\": \"L\"}"),
            );
            ok = false;
            Vec::new()
        }
        None => Vec::new(),
    };
    match (ok, value) {
        (true, Some(value)) => Some(Config { value: value.to_owned(), cases }),
        _ => None,
    }
}

pub struct Switch;

impl super::Kind for Switch {
    fn name(&self) -> &'static str {
        "switch"
    }

    fn summary(&self) -> &'static str {
        "Passes its input on and takes the edges of the case a jq filter selects."
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn handles(&self, config: &Value) -> Vec<String> {
        case_names(config)
    }

    fn check(&self, cx: &mut CheckCx<'_>) -> Option<super::Config> {
        check(cx).map(super::config)
    }
}

impl super::NodeConfig for Config {
    /// Its input, passed on.
    fn output_type(&self, cx: &TypeCx<'_>) -> Type {
        cx.input.clone()
    }

    fn filters(&self) -> Vec<(&'static str, &str)> {
        vec![("value", self.value.as_str())]
    }

    fn emit(&self, cx: &EmitCx<'_>) -> Result<NodeCode, EmitError> {
        let filter = cx.filter("VALUE");
        let nodes = cx.jq_nodes(&self.value);
        let arms = self.cases.iter().map(|(name, value)| {
            let value = cx.static_json(value);
            quote! { if value == #value { #name } else }
        });
        Ok(NodeCode::body(quote! {
            let input = cx.input();
            let value = #filter.run_one(&input, &#nodes)?;
            let route = #(#arms)* { "default" };
            Ok(rt::Output::routed(input, route))
        })
        .with_filter(filter, &self.value))
    }

    fn describe(&self) -> Vec<String> {
        let cases: Vec<String> = self
            .cases
            .iter()
            .map(|(name, value)| format!("{} for {}", super::code_text(name), super::code_text(&value.to_string())))
            .collect();
        vec![format!(
            "Passes its input on, taking the edges of the first case whose value {} yields ({}), else `default`.",
            super::code_text(&self.value),
            cases.join(", ")
        )]
    }
}
