//! `merge`: joins the data of its upstream nodes that produced data.

use crate::types::Type;
use quote::quote;

use super::CheckCx;
use crate::check::reader::{Field, Ty};
use crate::emit::{EmitCx, NodeCode};

const MODES: &[&str] = &["object", "array", "first"];

pub const FIELDS: &[Field] = &[Field::opt(
    "mode",
    Ty::Enum(MODES),
    "`object` (default): keyed by upstream id; `array`: in edge order; `first`: the first upstream, in edge order, that produced data",
)];

#[derive(Debug, Clone)]
pub struct Config {
    pub mode: &'static str,
}

pub fn check(cx: &mut CheckCx<'_>) -> Option<Config> {
    let (mut r, sink, _) = cx.read(FIELDS)?;
    let mode = r.one_of(sink, "mode", MODES).unwrap_or("object");
    r.ok.then_some(Config { mode })
}

/// By mode: an object of the upstream nodes that produced data (each may be missing), an
/// array of their data, or the first one's data (`null` when none did).
pub fn output(config: &Config, cx: &super::TypeCx<'_>) -> Type {
    match config.mode {
        "array" => Type::array(Type::union(cx.upstream.iter().map(|(_, t)| t.clone()))),
        "first" => Type::union(cx.upstream.iter().map(|(_, t)| t.clone())).nullable(),
        _ => Type::record(crate::types::Object {
            fields: cx
                .upstream
                .iter()
                .map(|(id, t)| ((*id).to_owned(), crate::types::Member { ty: t.clone(), optional: true }))
                .collect(),
            rest: None,
        }),
    }
}

pub fn emit(_cx: &EmitCx<'_>, config: &Config) -> NodeCode {
    let mode = match config.mode {
        "array" => quote! { rt::Merge::Array },
        "first" => quote! { rt::Merge::First },
        _ => quote! { rt::Merge::Object },
    };
    NodeCode::body(quote! {
        Ok(rt::Output::data(cx.merge(#mode)))
    })
}
