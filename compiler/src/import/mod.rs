//! Other tools' flow documents, compiled as they are: each is recognised by its shape and
//! translated into a flowc document, which the checker then compiles like any other. What
//! cannot be translated is a diagnostic (E031) that points into the original file.

pub mod coconutflow;
pub mod n8n;

use crate::diag::Diagnostics;

/// A document translated from another tool's format.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The tool whose format it was (`CoconutFlow`).
    pub dialect: &'static str,
    /// The flowc document, as readable JSON.
    pub text: String,
    /// What a user should know: the credentials and settings the flow reads, and what the
    /// translation made explicit.
    pub notes: Vec<String>,
}

/// The other tool whose format `text` is in, if any (flowc's own documents have `version`).
pub fn dialect(text: &str) -> Option<&'static str> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    if value.get("version").is_some() {
        return None;
    }
    if n8n::recognise(&value) {
        return Some("n8n");
    }
    coconutflow::recognise(&value).then_some("CoconutFlow")
}

/// Translates `text` when it is another tool's document: `Ok(None)` for a flowc document (or
/// one that is not JSON: the checker reports it), `Err` with every problem of the translation.
pub fn import(file: &str, text: &str) -> Result<Option<Imported>, Diagnostics> {
    match dialect(text) {
        Some("CoconutFlow") => coconutflow::import(file, text).map(Some),
        Some("n8n") => n8n::import(file, text).map(Some),
        _ => Ok(None),
    }
}
