//! `classify`: a chat model picks one of named categories for a text; the category is the
//! node's handle, like a `switch` case, and `default` is taken when none fits.

use quote::quote;
use serde_json::Value;

use super::{CheckCx, TypeCx};
use crate::check::reader::{short, Field, Ty};
use crate::diag::{Code, Diagnostic};
use crate::emit::{EmitCx, EmitError, NodeCode};
use crate::template::Template;
use crate::types::Type;

pub const FIELDS: &[Field] = &[
    super::llm::ENDPOINT_FIELDS[0],
    super::llm::ENDPOINT_FIELDS[1],
    super::llm::ENDPOINT_FIELDS[2],
    Field::req("text", Ty::Template, "what to classify"),
    Field::req(
        "categories",
        Ty::Other("an object: category name → what belongs in it"),
        "the categories, in order; each is a handle of the node",
    ),
    Field::opt("instructions", Ty::Template, "more for the system message, after the categories"),
    Field::opt(
        "fallback",
        Ty::String,
        "the category taken when none fits (default: the `default` handle)",
    ),
    Field::opt("temperature", Ty::Number, "sampling temperature, 0 to 2"),
    Field::opt(
        "retry_unclear",
        Ty::Boolean,
        "ask once more when the answer names no category (default true); false takes the fallback at once",
    ),
];

#[derive(Debug, Clone)]
pub struct Config {
    model: Template,
    base_url: Option<Template>,
    credential: Option<String>,
    text: Template,
    categories: Vec<(String, String)>,
    instructions: Option<Template>,
    fallback: Option<String>,
    temperature: Option<f64>,
    retry_unclear: bool,
}

/// The handles: the categories, and `default` unless a fallback replaces it.
fn handles(config: &Value) -> Vec<String> {
    let mut names: Vec<String> =
        config.get("categories").and_then(Value::as_object).map(|m| m.keys().cloned().collect()).unwrap_or_default();
    if config.get("fallback").is_none() {
        names.push("default".into());
    }
    names
}

pub fn check(cx: &mut CheckCx<'_>) -> Option<Config> {
    let (mut r, sink, node) = cx.read(FIELDS)?;
    let pointer = r.pointer.clone();
    let model = r.template(sink, "model");
    let base_url = super::llm::read_endpoint(&mut r, sink, node);
    let text = r.template(sink, "text");
    let instructions = r.template(sink, "instructions");
    let temperature = r.number(sink, "temperature", 0.0, 2.0);
    let fallback = r.string(sink, "fallback").map(str::to_owned);
    let retry_unclear = r.boolean(sink, "retry_unclear").unwrap_or(true);
    let mut categories = Vec::new();
    match r.get("categories") {
        Some(Value::Object(map)) if !map.is_empty() => {
            for (name, description) in map {
                let at = format!("{pointer}/categories/{}", crate::source::escape(name));
                if name == "default" || name == "error" {
                    sink.push(
                        Diagnostic::new(Code::E015, at, format!("`{name}` cannot name a category: it is a handle of its own"))
                            .help("rename the category; `default` is taken when none fits, `error` when the node fails")
                            .at_key(),
                    );
                    r.ok = false;
                } else if name.trim().is_empty() {
                    sink.push(
                        Diagnostic::new(Code::E015, at, format!("{} cannot name a category", short(&Value::from(name.as_str()))))
                            .help("a category name is what the model answers with: write a word or two")
                            .at_key(),
                    );
                    r.ok = false;
                }
                match description {
                    Value::String(text) => categories.push((name.clone(), text.clone())),
                    other => {
                        sink.push(
                            Diagnostic::new(
                                Code::E002,
                                format!("{pointer}/categories/{}", crate::source::escape(name)),
                                format!("the description of category `{name}` must be a string, not {}", short(other)),
                            )
                            .help("e.g. \"billing\": \"questions about invoices and payments\" (or \"\")"),
                        );
                        r.ok = false;
                    }
                }
            }
        }
        Some(other) => {
            sink.push(
                Diagnostic::new(
                    Code::E002,
                    format!("{pointer}/categories"),
                    format!("`categories` must be a non-empty object, not {}", short(other)),
                )
                .help("e.g. \"categories\": {\"billing\": \"invoices and payments\", \"tech\": \"bugs and outages\"}"),
            );
            r.ok = false;
        }
        None => {}
    }
    if let Some(fallback) = &fallback {
        if !categories.is_empty() && !categories.iter().any(|(name, _)| name == fallback) {
            let names: Vec<&str> = categories.iter().map(|(n, _)| n.as_str()).collect();
            let help = match crate::diag::did_you_mean(fallback, names.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("name one of the categories: {}", crate::check::reader::list(names.iter().copied())),
            };
            r.invalid(sink, "fallback", format!("`fallback` is `{fallback}`, which is not a category"), help);
        }
    }
    match (r.ok, model, text) {
        (true, Some(model), Some(text)) => Some(Config {
            model,
            base_url,
            credential: node.credential.clone(),
            text,
            categories,
            instructions,
            fallback,
            temperature,
            retry_unclear,
        }),
        _ => None,
    }
}

pub struct ClassifyKind;

impl super::Kind for ClassifyKind {
    fn name(&self) -> &'static str {
        "classify"
    }

    fn summary(&self) -> &'static str {
        "Has a language model pick one of named categories for a text and takes that category's edges, yielding `{category, reason}`."
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn handles(&self, config: &Value) -> Vec<String> {
        handles(config)
    }

    fn check(&self, cx: &mut CheckCx<'_>) -> Option<super::Config> {
        check(cx).map(super::config)
    }
}

impl super::NodeConfig for Config {
    /// `{category, reason}`.
    fn output_type(&self, _cx: &TypeCx<'_>) -> Type {
        Type::object([("category", Type::String), ("reason", Type::String)])
    }

    fn emit(&self, cx: &EmitCx<'_>) -> Result<NodeCode, EmitError> {
        let endpoint = super::llm::emit_endpoint(cx, &self.base_url, &self.credential)?;
        let model = cx.string(&self.model)?;
        let text = cx.string(&self.text)?;
        let instructions = super::some(self.instructions.as_ref().map(|t| cx.string(t)).transpose()?);
        let categories = self.categories.iter().map(|(name, description)| quote! { (#name, #description) });
        let fallback = super::some(self.fallback.as_ref());
        let retry_unclear = self.retry_unclear;
        let temperature = super::some(self.temperature.map(proc_macro2::Literal::f64_unsuffixed));
        Ok(NodeCode::body(quote! {
            let classify = rt::classify::Classify {
                endpoint: #endpoint,
                model: #model,
                instructions: #instructions,
                input: #text,
                categories: &[#(#categories),*],
                fallback: #fallback,
                temperature: #temperature,
                retry_unclear: #retry_unclear,
            };
            classify.send(cx.http()).await
        }))
    }

    fn describe(&self) -> Vec<String> {
        let names: Vec<String> = self.categories.iter().map(|(name, _)| super::code_text(name)).collect();
        let otherwise = match &self.fallback {
            Some(name) => format!("else {}", super::code_text(name)),
            None => "else `default`".to_owned(),
        };
        vec![format!(
            "Asks model {} at {} which of {} fits {} ({otherwise}), and takes that category's edges.",
            super::code_text(&self.model.display()),
            super::llm::endpoint_text(&self.base_url),
            names.join(", "),
            super::code_text(&self.text.display()),
        )]
    }

    fn needs(&self, _cx: &EmitCx<'_>) -> Vec<super::Need> {
        super::llm::endpoint_needs(&self.base_url)
    }
}
