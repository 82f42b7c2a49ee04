//! `branch`: routes to its `true` or `false` edges by a jq condition; passes its input on.

use quote::quote;

use super::CheckCx;
use crate::check::reader::{Field, Ty};
use crate::emit::{EmitCx, NodeCode};

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

pub fn emit(cx: &EmitCx<'_>, config: &Config) -> NodeCode {
    let filter = cx.filter("CONDITION");
    let nodes = cx.jq_nodes(&config.condition);
    NodeCode::body(quote! {
        let input = cx.input();
        let route = if #filter.run_bool(&input, &#nodes)? { "true" } else { "false" };
        Ok(rt::Output::routed(input, route))
    })
    .with_filter(filter, &config.condition)
}
