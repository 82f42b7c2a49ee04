//! `branch`: routes to its `true` or `false` edges by a jq condition; passes its input on.

use quote::quote;

use super::{CheckCx, TypeCx};
use crate::types::Type;
use crate::check::reader::{Field, Ty};
use crate::emit::{EmitCx, EmitError, NodeCode};

pub const FIELDS: &[Field] =
    &[Field::req("condition", Ty::Jq, "a jq filter that yields one boolean; `.` is the input")];

#[derive(Debug, Clone)]
pub struct Config {
    pub condition: String,
}

pub fn check(cx: &mut CheckCx<'_>) -> Option<Config> {
    let (mut r, sink, _) = cx.read(FIELDS)?;
    let pointer = r.pointer.clone();
    let condition = r.string(sink, "condition");
    let ok = r.ok;
    let condition = condition?;
    let valid = super::check_jq(sink, condition, &format!("{pointer}/condition"));
    (ok && valid).then(|| Config { condition: condition.to_owned() })
}

pub struct Branch;

impl super::Kind for Branch {
    fn name(&self) -> &'static str {
        "branch"
    }

    fn summary(&self) -> &'static str {
        "Passes its input on and takes its `true` or `false` edges, by a jq condition."
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn handles(&self, _config: &serde_json::Value) -> Vec<String> {
        vec!["true".into(), "false".into()]
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
        vec![("condition", self.condition.as_str())]
    }

    fn emit(&self, cx: &EmitCx<'_>) -> Result<NodeCode, EmitError> {
        let filter = cx.filter("CONDITION");
        let nodes = cx.jq_nodes(&self.condition);
        Ok(NodeCode::body(quote! {
            let input = cx.input();
            let route = if #filter.run_bool(&input, &#nodes)? { "true" } else { "false" };
            Ok(rt::Output::routed(input, route))
        })
        .with_filter(filter, &self.condition))
    }

    fn describe(&self) -> Vec<String> {
        vec![format!(
            "Passes its input on, taking its `true` edges when {} yields true and its `false` edges otherwise.",
            super::code_text(&self.condition)
        )]
    }
}
