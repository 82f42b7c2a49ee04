//! `merge`: joins the data of its upstream nodes that produced data.

use crate::types::Type;
use quote::quote;

use super::{CheckCx, TypeCx};
use crate::check::reader::{Field, Ty};
use crate::emit::{EmitCx, EmitError, NodeCode};

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

pub struct Merge;

impl super::Kind for Merge {
    fn name(&self) -> &'static str {
        "merge"
    }

    fn summary(&self) -> &'static str {
        "Joins the data of its upstream nodes."
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn check(&self, cx: &mut CheckCx<'_>) -> Option<super::Config> {
        check(cx).map(super::config)
    }
}

impl super::NodeConfig for Config {
    /// By mode: an object of the upstream nodes that produced data (each may be missing), an
    /// array of their data, or the first one's data (`null` when none did).
    fn output_type(&self, cx: &TypeCx<'_>) -> Type {
        match self.mode {
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

    fn emit(&self, _cx: &EmitCx<'_>) -> Result<NodeCode, EmitError> {
        let mode = match self.mode {
            "array" => quote! { rt::Merge::Array },
            "first" => quote! { rt::Merge::First },
            _ => quote! { rt::Merge::Object },
        };
        Ok(NodeCode::body(quote! {
            Ok(rt::Output::data(cx.merge(#mode)))
        }))
    }

    fn describe(&self) -> Vec<String> {
        vec![match self.mode {
            "array" => "Yields an array of the data of its upstream nodes that produced data, in edge order.",
            "first" => "Yields the data of the first upstream node, in edge order, that produced data (`null` when none did).",
            _ => "Yields an object of the data of its upstream nodes that produced data, by node id.",
        }
        .to_owned()]
    }
}
