//! `llm`: one chat completion over the OpenAI chat-completions wire format.

use crate::types::Type;
use quote::quote;

use super::{CheckCx, TypeCx};
use crate::check::reader::{Field, Ty};
use crate::diag::{Code, Diagnostic};
use crate::emit::{EmitCx, EmitError, NodeCode};
use crate::template::Template;

const PROVIDERS: &[&str] = &["openai", "openai_compatible"];

pub const FIELDS: &[Field] = &[
    ENDPOINT_FIELDS[0],
    ENDPOINT_FIELDS[1],
    ENDPOINT_FIELDS[2],
    Field::opt("system", Ty::Template, "the system message"),
    Field::req("prompt", Ty::Template, "the user message"),
    Field::opt("temperature", Ty::Number, "sampling temperature, 0 to 2"),
    Field::opt("max_tokens", Ty::Integer, "the longest answer, in tokens"),
    Field::opt(
        "response_format",
        Ty::Enum(&["text", "json"]),
        "`json` asks for a JSON object and parses it into `json`",
    ),
    Field::opt(
        "json_schema",
        Ty::Schema,
        "with response_format json: the JSON Schema subset the answer must match, sent as the structured-output format and checked when it arrives",
    ),
];

#[derive(Debug, Clone)]
pub struct Config {
    pub model: Template,
    /// `None`: OpenAI's API.
    pub base_url: Option<Template>,
    pub system: Option<Template>,
    pub prompt: Template,
    pub sampling: Sampling,
    pub credential: Option<String>,
}

/// The fields every kind that calls a chat model has: which server, and as whom.
pub const ENDPOINT_FIELDS: [Field; 3] = [
    Field::req("model", Ty::Template, "the model name, e.g. \"gpt-4o-mini\""),
    Field::opt(
        "provider",
        Ty::Enum(PROVIDERS),
        "`openai` (default) or `openai_compatible` (vLLM, Ollama, llama.cpp, Groq, OpenRouter: needs `base_url`)",
    ),
    Field::opt(
        "base_url",
        Ty::Template,
        "the API root, e.g. \"http://127.0.0.1:11434/v1\" (default: OPENAI_BASE_URL, else OpenAI's)",
    ),
];

/// Reads `provider` and `base_url` (E004 for a compatible server without one, E025 for OpenAI
/// without a credential): the `base_url`, `None` for OpenAI's.
pub fn read_endpoint(r: &mut crate::check::reader::Reader<'_>, sink: &mut crate::check::reader::Sink, node: &crate::model::Node) -> Option<Template> {
    let what = r.what().to_owned();
    let pointer = r.pointer.clone();
    let provider = r.one_of(sink, "provider", PROVIDERS).unwrap_or("openai");
    let base_url = r.template(sink, "base_url");
    if provider == "openai_compatible" && r.get("base_url").is_none() {
        sink.push(
            Diagnostic::new(
                Code::E004,
                pointer,
                format!("{what} uses an OpenAI-compatible server but names no `base_url`"),
            )
            .help("add \"base_url\": \"http://host:port/v1\", the root the server's /chat/completions is under"),
        );
        r.ok = false;
    }
    if provider == "openai" {
        r.ok &= super::require_credential(sink, node, "OpenAI", ("openai", "OPENAI_API_KEY"), "");
    }
    base_url
}

/// The `rt::llm::Endpoint` of a node's `base_url` and credential.
pub fn emit_endpoint(cx: &EmitCx<'_>, base_url: &Option<Template>, credential: &Option<String>) -> Result<proc_macro2::TokenStream, EmitError> {
    let base_url = cx.base_url(base_url, &flowc_core::services::OPENAI)?;
    let api_key = cx.api_key(credential);
    Ok(quote! { rt::llm::Endpoint { base_url: #base_url, api_key: #api_key } })
}

/// How a chat model answers: `temperature`, `max_tokens`, and JSON (`response_format`,
/// `json_schema`); `llm` and `agent` read them alike.
#[derive(Debug, Clone, Default)]
pub struct Sampling {
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
    pub json: bool,
    /// With `json`: the schema the answer must match.
    pub json_schema: Option<serde_json::Value>,
}

impl Sampling {
    /// Reads the fields (E015 for a `json_schema` without `response_format: json`).
    pub fn read(r: &mut crate::check::reader::Reader<'_>, sink: &mut crate::check::reader::Sink) -> Sampling {
        let what = r.what().to_owned();
        let temperature = r.number(sink, "temperature", 0.0, 2.0);
        let max_tokens = r.integer(sink, "max_tokens", 1, 1_000_000);
        let json = r.one_of(sink, "response_format", &["text", "json"]) == Some("json");
        let json_schema = super::schema_field(r, sink, "json_schema");
        if r.get("json_schema").is_some() && !json {
            r.invalid(
                sink,
                "json_schema",
                format!("{what} has a `json_schema` but does not ask for JSON"),
                "add \"response_format\": \"json\", or remove `json_schema`".to_owned(),
            );
        }
        Sampling { temperature, max_tokens, json, json_schema }
    }

    /// The runtime's fields: `temperature`, `max_tokens`, `json` and `json_schema` (named after
    /// the node: OpenAI's `json_schema.name` is at most 64 of `a-z A-Z 0-9 _ -`, which node ids
    /// are made of).
    pub fn fields(&self, cx: &EmitCx<'_>) -> proc_macro2::TokenStream {
        let temperature = super::some(self.temperature.map(proc_macro2::Literal::f64_unsuffixed));
        let max_tokens = super::some(self.max_tokens.map(proc_macro2::Literal::u64_unsuffixed));
        let json = self.json;
        let json_schema = match &self.json_schema {
            Some(schema) => {
                let name: String = cx.node.id.chars().take(64).collect();
                let text = crate::escape::json_compact(schema);
                quote! { Some((#name, #text)) }
            }
            None => quote! { None },
        };
        quote! { temperature: #temperature, max_tokens: #max_tokens, json: #json, json_schema: #json_schema, }
    }

    /// The type of the answer's `json`.
    pub fn json_type(&self) -> Type {
        self.json_schema.as_ref().map_or(Type::Any, Type::of_schema)
    }
}

/// Where a chat model is, for `health`.
pub fn endpoint_needs(base_url: &Option<Template>) -> Vec<super::Need> {
    super::service_origin(base_url, &flowc_core::services::OPENAI).map(super::Need::Host).into_iter().collect()
}

/// How `describe` names where a chat model is.
pub fn endpoint_text(base_url: &Option<Template>) -> String {
    base_url.as_ref().map_or_else(|| "OpenAI (or `OPENAI_BASE_URL`)".to_owned(), |url| super::code_text(&url.display()))
}

pub fn check(cx: &mut CheckCx<'_>) -> Option<Config> {
    let (mut r, sink, node) = cx.read(FIELDS)?;
    let model = r.template(sink, "model");
    let base_url = read_endpoint(&mut r, sink, node);
    let system = r.template(sink, "system");
    let prompt = r.template(sink, "prompt");
    let sampling = Sampling::read(&mut r, sink);
    match (r.ok, model, prompt) {
        (true, Some(model), Some(prompt)) => {
            Some(Config { model, base_url, system, prompt, sampling, credential: node.credential.clone() })
        }
        _ => None,
    }
}

/// `{text, json?, model, usage}`: `json` with `response_format: json` only.
pub fn output(config: &Config) -> Type {
    let mut fields = vec![("text", Type::String)];
    if config.sampling.json {
        fields.push(("json", config.sampling.json_type()));
    }
    fields.extend([("model", Type::String), ("usage", Type::map_of(Type::Any).nullable())]);
    Type::object(fields)
}

pub fn emit(cx: &EmitCx<'_>, config: &Config) -> Result<NodeCode, EmitError> {
    let Config { model, base_url, system, prompt, sampling, credential } = config;
    let base_url = cx.base_url(base_url, &flowc_core::services::OPENAI)?;
    let model = cx.string(model)?;
    let system = super::some(system.as_ref().map(|s| cx.string(s)).transpose()?);
    let prompt = cx.string(prompt)?;
    let sampling = sampling.fields(cx);
    let api_key = cx.api_key(credential);
    Ok(NodeCode::body(quote! {
        let chat = rt::llm::Chat {
            base_url: #base_url,
            model: #model,
            system: #system,
            prompt: #prompt,
            #sampling
            api_key: #api_key,
        };
        chat.send(cx.http()).await
    }))
}

pub struct Llm;

impl super::Kind for Llm {
    fn name(&self) -> &'static str {
        "llm"
    }

    fn summary(&self) -> &'static str {
        "Asks a language model for one chat completion and yields `{text, json?, model, usage}`."
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn check(&self, cx: &mut CheckCx<'_>) -> Option<super::Config> {
        check(cx).map(super::config)
    }
}

impl super::NodeConfig for Config {
    fn output_type(&self, _cx: &TypeCx<'_>) -> Type {
        output(self)
    }

    fn emit(&self, cx: &EmitCx<'_>) -> Result<NodeCode, EmitError> {
        emit(cx, self)
    }

    fn describe(&self) -> Vec<String> {
        let at = endpoint_text(&self.base_url);
        let mut lines = vec![format!("Asks model {} at {at} for one chat completion of its prompt.", super::code_text(&self.model.display()))];
        if self.sampling.json {
            let schema = if self.sampling.json_schema.is_some() { ", which must match its `json_schema`" } else { "" };
            lines.push(format!("The answer is JSON{schema}."));
        }
        lines
    }

    fn needs(&self, _cx: &EmitCx<'_>) -> Vec<super::Need> {
        endpoint_needs(&self.base_url)
    }
}
