//! The `llm` node: one chat completion over the OpenAI chat-completions wire format
//! (`POST {base_url}/chat/completions`), which OpenAI and the compatible servers (vLLM, Ollama,
//! llama.cpp's server, Groq, OpenRouter) all speak.

use serde_json::{json, Map, Value};

use crate::error::{Error, ErrorKind};
use crate::flow::Output;
use crate::http::{Body, Http, Request};

/// One completion request, as an `llm` node's config compiles to.
#[derive(Debug, Clone, Default)]
pub struct Chat {
    /// The API root, without `/chat/completions`.
    pub base_url: String,
    pub model: String,
    pub system: Option<String>,
    pub prompt: String,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u64>,
    /// Ask for a JSON object (`response_format: {"type": "json_object"}`) and parse the
    /// answer into `json`.
    pub json: bool,
    /// With `json`: the name (letters, digits, `_`, `-`) and JSON Schema (JSON text) the
    /// answer must match. It is sent as the structured-output `response_format`
    /// (`{"type": "json_schema", "json_schema": {name, schema, strict: false}}`) and the parsed
    /// answer is checked against it.
    pub json_schema: Option<(&'static str, &'static str)>,
    /// The bearer token; local servers may need none.
    pub api_key: Option<String>,
}

impl Chat {
    /// The request body, per the chat-completions reference.
    pub fn body(&self) -> Value {
        let mut messages = Vec::new();
        if let Some(system) = &self.system {
            messages.push(json!({"role": "system", "content": system}));
        }
        messages.push(json!({"role": "user", "content": self.prompt}));
        let mut body = json!({"model": self.model, "messages": messages});
        if let Some(t) = self.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(n) = self.max_tokens {
            body["max_tokens"] = json!(n);
        }
        match self.json_schema.and_then(|(name, s)| Some((name, serde_json::from_str::<Value>(s).ok()?))) {
            // Not `strict`: OpenAI's strict mode takes only schemas whose every object lists
            // all its properties as required and refuses others; the answer is checked here.
            Some((name, schema)) => {
                body["response_format"] =
                    json!({"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": false}});
            }
            None if self.json => body["response_format"] = json!({"type": "json_object"}),
            None => {}
        }
        body
    }

    /// Sends the request. Output `data`: `{text, json?, model, usage}`; `metadata`: the
    /// completion's id, model, finish reason and token usage.
    pub async fn send(self, http: &Http) -> Result<Output, Error> {
        let url = format!("{}/chat/completions", self.base_url.trim_end_matches('/'));
        let request = Request::api("POST", url, Body::Json(self.body()), self.api_key.clone());
        let response = http.send(request).await.map_err(api_error)?;
        let body = &response["body"];
        let text = body["choices"][0]["message"]["content"].as_str().ok_or_else(|| {
            Error::validation(format!(
                "the completion has no `choices[0].message.content`: {}",
                crate::value::to_text(body).chars().take(200).collect::<String>()
            ))
            .with_code("invalid_completion")
            .with_data(response.clone())
        })?;
        let model = body["model"].as_str().unwrap_or(&self.model).to_owned();
        let usage = body.get("usage").cloned().unwrap_or(Value::Null);
        let mut data = Map::new();
        data.insert("text".into(), Value::from(text));
        if self.json {
            let parsed: Value = serde_json::from_str(text).map_err(|e| {
                Error::validation(format!("the model was asked for JSON and answered something else ({e})"))
                    .with_code("invalid_json")
                    .with_data(json!({"text": text, "model": model, "usage": usage}))
            })?;
            data.insert("json".into(), parsed);
        }
        data.insert("model".into(), Value::from(model.clone()));
        data.insert("usage".into(), usage.clone());
        let mut data = Value::Object(data);
        if let Some((_, schema)) = self.json_schema {
            data = crate::input::conform(schema, data, "/json", "the model's JSON answer", "json_schema")?;
        }
        Ok(Output::data(data)
            .with_metadata("id", body["id"].clone())
            .with_metadata("model", Value::from(model))
            .with_metadata("finish_reason", body["choices"][0]["finish_reason"].clone())
            .with_metadata("usage", usage))
    }
}

/// The API's own error body (`{"error": {"message", "type", "code"}}`) becomes the error's
/// message and code.
fn api_error(mut error: Error) -> Error {
    let Some(api) = error.data.as_ref().and_then(|d| d["body"].get("error")).cloned() else {
        return error;
    };
    if let Some(message) = api["message"].as_str() {
        error.message = format!("{} (HTTP {})", message, error.status.unwrap_or_default());
    }
    if let Some(code) = api["code"].as_str().or_else(|| api["type"].as_str()) {
        error.code = Some(code.to_owned());
    }
    if error.kind == ErrorKind::ClientError && api["code"] == "context_length_exceeded" {
        error.kind = ErrorKind::Validation;
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_reference_body() {
        let chat = Chat {
            model: "gpt-4o-mini".into(),
            system: Some("Be brief.".into()),
            prompt: "Hi".into(),
            temperature: Some(0.2),
            max_tokens: Some(50),
            json: true,
            ..Chat::default()
        };
        assert_eq!(
            chat.body(),
            json!({
                "model": "gpt-4o-mini",
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                "temperature": 0.2,
                "max_tokens": 50,
                "response_format": {"type": "json_object"}
            })
        );
    }

    #[test]
    fn api_errors_keep_the_service_message_and_code() {
        let error = crate::http::status_error("POST x", 401, &Value::Null)
            .with_data(json!({"status": 401, "body": {"error": {"message": "Incorrect API key", "type": "invalid_request_error", "code": "invalid_api_key"}}}));
        let error = api_error(error);
        assert_eq!(error.kind, ErrorKind::Permission);
        assert_eq!(error.code.as_deref(), Some("invalid_api_key"));
        assert!(error.message.starts_with("Incorrect API key"), "{}", error.message);
    }
}
