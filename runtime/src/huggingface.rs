//! The `huggingface_inference` node: the Hugging Face Inference API
//! (`POST {base_url}/models/{model}` with `{"inputs", "parameters"}`), hosted or on an
//! Inference Endpoint / text-embeddings-inference server with the same shape.

use serde_json::{json, Value};

use crate::error::{Error, ErrorKind};
use crate::flow::Output;
use crate::http::{Body, Http, Request};

/// One inference call, as a `huggingface_inference` node's config compiles to.
#[derive(Debug, Clone, Default)]
pub struct Inference {
    pub base_url: String,
    pub model: String,
    /// The task (`text-classification`, …): recorded, and checked against the answer's shape.
    pub task: &'static str,
    pub inputs: Value,
    pub parameters: Option<Value>,
    pub api_key: Option<String>,
}

impl Inference {
    /// The request body, per the Inference API reference.
    pub fn body(&self) -> Value {
        let mut body = json!({"inputs": self.inputs});
        if let Some(parameters) = &self.parameters {
            body["parameters"] = parameters.clone();
        }
        body
    }

    /// Sends the call. Output `data`: the model's JSON answer; `metadata`: model and task.
    /// A 503 "model is loading" answer is a `server_error` whose retry waits `estimated_time`.
    pub async fn send(self, http: &Http) -> Result<Output, Error> {
        let url = format!("{}/models/{}", self.base_url.trim_end_matches('/'), self.model);
        let request = Request::api("POST", url, Body::Json(self.body()), self.api_key.clone());
        let response = http.send(request).await.map_err(api_error)?;
        let answer = response["body"].clone();
        if !shape_matches(self.task, &answer) {
            return Err(Error::validation(format!(
                "the answer of {} does not have the shape of a {} result: {}",
                self.model,
                self.task,
                crate::value::to_text(&answer).chars().take(200).collect::<String>()
            ))
            .with_code("unexpected_answer")
            .with_data(response));
        }
        Ok(Output::data(answer)
            .with_metadata("model", Value::from(self.model))
            .with_metadata("task", Value::from(self.task)))
    }
}

/// Whether an answer has the shape the task's reference gives (lists of labelled scores,
/// generated text, vectors, …). Loose on purpose: only what downstream nodes rely on.
fn shape_matches(task: &str, answer: &Value) -> bool {
    let first = |v: &Value| v.as_array().and_then(|a| a.first()).cloned().unwrap_or(Value::Null);
    match task {
        "text-generation" => first(answer).get("generated_text").is_some(),
        "summarization" => first(answer).get("summary_text").is_some(),
        "translation" => first(answer).get("translation_text").is_some(),
        "text-classification" | "token-classification" | "fill-mask" => answer.is_array(),
        "zero-shot-classification" => answer.get("labels").is_some() || answer.is_array(),
        "question-answering" => answer.get("answer").is_some() || first(answer).get("answer").is_some(),
        "feature-extraction" | "sentence-similarity" => answer.is_array(),
        _ => true,
    }
}

/// The API's error body (`{"error": "...", "estimated_time": 20.0}`) becomes the message, and a
/// loading model's estimated time the wait before the retry.
fn api_error(mut error: Error) -> Error {
    let Some(body) = error.data.as_ref().map(|d| d["body"].clone()) else { return error };
    if let Some(message) = body["error"].as_str() {
        error.message = format!("Hugging Face: {message} (HTTP {})", error.status.unwrap_or_default());
    }
    if error.status == Some(503) {
        // Cut to an hour, as `Retry-After` is: `1e20` must not panic the node.
        if let Some(wait) = body["estimated_time"].as_f64().and_then(crate::http::wait_of_seconds) {
            error.kind = ErrorKind::ServerError;
            error.retryable = true;
            error.code = Some("model_loading".into());
            error.retry_after = Some(wait);
        }
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_loading_model_waits_its_estimated_time() {
        let error = crate::http::status_error("POST x", 503, &Value::Null)
            .with_data(json!({"body": {"error": "Model m is currently loading", "estimated_time": 1.5}}));
        let error = api_error(error);
        assert_eq!(error.code.as_deref(), Some("model_loading"));
        assert_eq!(error.retry_after, Some(Duration::from_millis(1500)));
        assert!(error.message.contains("currently loading"));
    }

    #[test]
    fn a_huge_estimated_time_is_cut_to_an_hour_not_a_panic() {
        for estimated in [json!(1e20), json!(f64::MAX), json!(-1.0)] {
            let error = crate::http::status_error("POST x", 503, &Value::Null)
                .with_data(json!({"body": {"error": "Model m is currently loading", "estimated_time": estimated}}));
            let wait = api_error(error).retry_after;
            assert!(wait.is_none_or(|w| w <= crate::http::MAX_RETRY_AFTER), "{estimated}: {wait:?}");
        }
    }

    #[test]
    fn answers_are_checked_against_the_task() {
        assert!(shape_matches("text-classification", &json!([[{"label": "POSITIVE", "score": 0.9}]])));
        assert!(shape_matches("summarization", &json!([{"summary_text": "s"}])));
        assert!(!shape_matches("summarization", &json!({"error": "x"})));
        assert!(shape_matches("question-answering", &json!({"answer": "a", "score": 0.5, "start": 0, "end": 1})));
        assert!(!shape_matches("feature-extraction", &json!({"vector": []})));
    }
}
