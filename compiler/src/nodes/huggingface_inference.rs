//! `huggingface_inference`: one call of the Hugging Face Inference API.

use crate::types::Type;
use quote::quote;

use super::{CheckCx, TypeCx};
use crate::check::reader::{Field, Json, Ty};
use crate::diag::{Code, Diagnostic};
use crate::emit::{EmitCx, EmitError, NodeCode};
use crate::template::Template;

pub const TASKS: &[&str] = &[
    "text-generation",
    "text-classification",
    "summarization",
    "translation",
    "feature-extraction",
    "zero-shot-classification",
    "token-classification",
    "question-answering",
    "fill-mask",
    "sentence-similarity",
];

pub const FIELDS: &[Field] = &[
    Field::req("model", Ty::Template, "the model id, e.g. \"distilbert/distilbert-base-uncased-finetuned-sst-2-english\""),
    Field::req("task", Ty::Enum(TASKS), "what the model does; decides the shape of `inputs` and of the answer"),
    Field::req("inputs", Ty::Json, "the inputs: a string (or array of strings), {question, context} for question-answering, {source_sentence, sentences} for sentence-similarity"),
    Field::opt("parameters", Ty::Json, "task parameters, e.g. {\"candidate_labels\": [...]} for zero-shot-classification"),
    Field::opt("base_url", Ty::Template, "an Inference Endpoint or local server (default: the hosted Inference API)"),
];

#[derive(Debug, Clone)]
pub struct Config {
    pub model: Template,
    pub task: &'static str,
    pub inputs: Json,
    pub parameters: Option<Json>,
    pub base_url: Option<Template>,
    pub credential: Option<String>,
}

/// The members an object `inputs` must have for `task`; `None`: the inputs are text.
fn object_inputs(task: &str) -> Option<&'static [&'static str]> {
    match task {
        "question-answering" => Some(&["question", "context"]),
        "sentence-similarity" => Some(&["source_sentence", "sentences"]),
        _ => None,
    }
}

pub fn check(cx: &mut CheckCx<'_>) -> Option<Config> {
    let (mut r, sink, node) = cx.read(FIELDS)?;
    let what = r.what().to_owned();
    let pointer = r.pointer.clone();
    let model = r.template(sink, "model");
    let task = r.one_of(sink, "task", TASKS);
    let inputs = r.json(sink, "inputs");
    let parameters = r.json(sink, "parameters");
    let base_url = r.template(sink, "base_url");
    if let (Some(task), Some(inputs)) = (task, &inputs) {
        let problem = match (object_inputs(task), inputs) {
            // A single template yields a value of any shape: checked at run time by the API.
            (_, Json::String(Template::Value(_))) => None,
            (Some(members), Json::Object(given)) => {
                let missing: Vec<&str> =
                    members.iter().copied().filter(|m| !given.iter().any(|(k, _)| k == m)).collect();
                (!missing.is_empty()).then(|| format!("`inputs` of a {task} model needs {}", missing.join(" and ")))
            }
            (Some(members), _) => {
                Some(format!("`inputs` of a {task} model is an object with {}", members.join(" and ")))
            }
            (None, Json::Object(_)) => {
                Some(format!("`inputs` of a {task} model is text (or an array of texts), not an object"))
            }
            (None, _) => None,
        };
        if let Some(message) = problem {
            r.invalid(sink, "inputs", message, "see the task's input in the Inference API reference".to_owned());
        }
        if task == "zero-shot-classification" {
            let has_labels =
                matches!(&parameters, Some(Json::Object(p)) if p.iter().any(|(k, _)| k == "candidate_labels"));
            if !has_labels {
                sink.push(
                    Diagnostic::new(
                        Code::E004,
                        format!("{pointer}/parameters"),
                        format!("{what}: zero-shot-classification needs `parameters.candidate_labels`"),
                    )
                    .help("add \"parameters\": {\"candidate_labels\": [\"positive\", \"negative\"]}"),
                );
                r.ok = false;
            }
        }
    }
    if base_url.is_none() {
        let service = "the hosted Inference API";
        r.ok &= super::require_credential(sink, node, service, ("huggingface", "HF_TOKEN"), ", or a `base_url`");
    }
    match (r.ok, model, task, inputs) {
        (true, Some(model), Some(task), Some(inputs)) => {
            Some(Config { model, task, inputs, parameters, base_url, credential: node.credential.clone() })
        }
        _ => None,
    }
}

/// The model's answer, as the Inference API's reference gives it per task: one answer for one
/// input, a list of answers for a list of inputs, so each shape is a union of the two.
pub fn output(config: &Config) -> Type {
    let one_or_many = |t: Type| Type::union([t.clone(), Type::array(t)]);
    let optional = |fields: &[(&str, Type, bool)]| {
        Type::Object(crate::types::Object {
            fields: fields
                .iter()
                .map(|(name, ty, optional)| {
                    ((*name).to_owned(), crate::types::Member { ty: ty.clone(), optional: *optional })
                })
                .collect(),
            rest: None,
        })
    };
    match config.task {
        "text-classification" => {
            one_or_many(Type::array(Type::object([("label", Type::String), ("score", Type::Number)])))
        }
        "token-classification" => one_or_many(Type::array(optional(&[
            ("entity_group", Type::String, true),
            ("entity", Type::String, true),
            ("score", Type::Number, false),
            ("word", Type::String, false),
            ("start", Type::Integer.nullable(), false),
            ("end", Type::Integer.nullable(), false),
        ]))),
        "text-generation" => one_or_many(Type::array(Type::object([("generated_text", Type::String)]))),
        "summarization" => Type::array(Type::object([("summary_text", Type::String)])),
        "translation" => Type::array(Type::object([("translation_text", Type::String)])),
        "question-answering" => one_or_many(Type::object([
            ("answer", Type::String),
            ("score", Type::Number),
            ("start", Type::Integer),
            ("end", Type::Integer),
        ])),
        "zero-shot-classification" => one_or_many(Type::object([
            ("sequence", Type::String),
            ("labels", Type::array(Type::String)),
            ("scores", Type::array(Type::Number)),
        ])),
        "fill-mask" => one_or_many(Type::array(Type::object([
            ("sequence", Type::String),
            ("score", Type::Number),
            ("token", Type::Integer),
            ("token_str", Type::String),
        ]))),
        "sentence-similarity" => Type::array(Type::Number),
        // feature-extraction: a vector, or a vector per token or per input.
        _ => Type::array(Type::Any),
    }
}

pub fn emit(cx: &EmitCx<'_>, config: &Config) -> Result<NodeCode, EmitError> {
    let Config { model, task, inputs, parameters, base_url, credential } = config;
    let base_url = cx.base_url(base_url, &flowc_core::services::HUGGINGFACE)?;
    let model = cx.string(model)?;
    let inputs = cx.json(inputs)?;
    let parameters = match parameters {
        Some(parameters) => {
            let parameters = cx.json(parameters)?;
            quote! { Some(#parameters) }
        }
        None => quote! { None },
    };
    let api_key = cx.api_key(credential);
    Ok(NodeCode::body(quote! {
        let inference = rt::huggingface::Inference {
            base_url: #base_url,
            model: #model,
            task: #task,
            inputs: #inputs,
            parameters: #parameters,
            api_key: #api_key,
        };
        inference.send(cx.http()).await
    }))
}

pub struct HuggingfaceInference;

impl super::Kind for HuggingfaceInference {
    fn name(&self) -> &'static str {
        "huggingface_inference"
    }

    fn summary(&self) -> &'static str {
        "Calls a model of the Hugging Face Inference API and yields its JSON answer."
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
        vec![format!(
            "Asks model {} of the Hugging Face Inference API{} for `{}`.",
            super::code_text(&self.model.display()),
            self.base_url.as_ref().map_or_else(String::new, |url| format!(" at {}", super::code_text(&url.display()))),
            self.task
        )]
    }

    fn needs(&self, _cx: &EmitCx<'_>) -> Vec<super::Need> {
        super::service_origin(&self.base_url, &flowc_core::services::HUGGINGFACE).map(super::Need::Host).into_iter().collect()
    }
}
