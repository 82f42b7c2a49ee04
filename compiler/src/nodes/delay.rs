//! `delay`: waits, then passes its input on.

use quote::quote;

use super::CheckCx;
use crate::check::reader::{Field, Ty};
use crate::emit::{EmitCx, NodeCode};

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

pub fn emit(_cx: &EmitCx<'_>, config: &Config) -> NodeCode {
    let ms = proc_macro2::Literal::u64_unsuffixed(config.ms);
    NodeCode::body(quote! {
        rt::sleep_ms(#ms).await;
        Ok(rt::Output::data(cx.input()))
    })
}
