//! `delay`: waits, then passes its input on.

use quote::quote;

use super::{CheckCx, TypeCx};
use crate::types::Type;
use crate::check::reader::{Field, Ty};
use crate::emit::{EmitCx, EmitError, NodeCode};

pub const FIELDS: &[Field] = &[Field::req("ms", Ty::Integer, "how long to wait, in milliseconds")];

#[derive(Debug, Clone)]
pub struct Config {
    pub ms: u64,
}

pub fn check(cx: &mut CheckCx<'_>) -> Option<Config> {
    let (mut r, sink, _) = cx.read(FIELDS)?;
    let ms = r.integer(sink, "ms", 0, 86_400_000);
    match (r.ok, ms) {
        (true, Some(ms)) => Some(Config { ms }),
        _ => None,
    }
}

pub struct Delay;

impl super::Kind for Delay {
    fn name(&self) -> &'static str {
        "delay"
    }

    fn summary(&self) -> &'static str {
        "Waits, then passes its input on."
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
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

    fn emit(&self, _cx: &EmitCx<'_>) -> Result<NodeCode, EmitError> {
        let ms = proc_macro2::Literal::u64_unsuffixed(self.ms);
        Ok(NodeCode::body(quote! {
            rt::sleep_ms(#ms).await;
            Ok(rt::Output::data(cx.input()))
        }))
    }

    fn describe(&self) -> Vec<String> {
        vec![format!("Waits {} ms, then passes its input on.", self.ms)]
    }
}
