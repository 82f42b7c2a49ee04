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
        sampling(&mut body, self.temperature, self.max_tokens, self.json, self.json_schema);
        body
    }

    /// Sends the request. Output `data`: `{text, json?, model, usage}`; `metadata`: the
    /// completion's id, model, finish reason and token usage.
    pub async fn send(self, http: &Http) -> Result<Output, Error> {
        let endpoint = Endpoint { base_url: self.base_url.clone(), api_key: self.api_key.clone() };
        let completion = complete(http, &endpoint, self.body()).await?;
        let text = completion.content.as_deref().ok_or_else(|| {
            Error::validation(format!(
                "the completion has no `choices[0].message.content`: {}",
                crate::value::to_text(&completion.body).chars().take(200).collect::<String>()
            ))
            .with_code("invalid_completion")
            .with_data(json!({"body": completion.body}))
        })?;
        let body = &completion.body;
        let model = completion.model.clone();
        let usage = completion.usage.clone();
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

/// Adds `temperature`, `max_tokens` and the answer's format to a request body: with
/// `json_schema` (a name and JSON Schema text) the structured-output format, else with `json`
/// a JSON object.
pub fn sampling(
    body: &mut Value,
    temperature: Option<f64>,
    max_tokens: Option<u64>,
    json: bool,
    json_schema: Option<(&'static str, &'static str)>,
) {
    if let Some(t) = temperature {
        body["temperature"] = json!(t);
    }
    if let Some(n) = max_tokens {
        body["max_tokens"] = json!(n);
    }
    match json_schema.and_then(|(name, s)| Some((name, serde_json::from_str::<Value>(s).ok()?))) {
        // Not `strict`: OpenAI's strict mode takes only schemas whose every object lists all
        // its properties as required and refuses others; the answer is checked when it comes.
        Some((name, schema)) => {
            body["response_format"] =
                json!({"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": false}});
        }
        None if json => body["response_format"] = json!({"type": "json_object"}),
        None => {}
    }
}

/// Where chat completions go, and as whom.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The API root, without `/chat/completions`.
    pub base_url: String,
    /// The bearer token; local servers may need none.
    pub api_key: Option<String>,
}

/// One answer of the model, as the chat-completions reference shapes it.
#[derive(Debug, Clone)]
pub struct Completion {
    /// `choices[0].message`: the assistant message, to send back in a conversation.
    pub message: Value,
    /// Its `content`, when it is text.
    pub content: Option<String>,
    /// Its `tool_calls`.
    pub tool_calls: Vec<ToolCall>,
    pub finish_reason: Value,
    /// The model that answered (the one asked for, when the answer does not say).
    pub model: String,
    /// `usage`: `{prompt_tokens, completion_tokens, total_tokens}`, or `null`.
    pub usage: Value,
    /// The whole answer.
    pub body: Value,
}

/// A function the model asked to call.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them: JSON text, not always valid.
    pub arguments: String,
}

/// `POST {base_url}/chat/completions` with `body`. An answer without a `choices[0].message`
/// object is `validation` (`invalid_completion`); the service's error bodies become the error's
/// message and code.
pub async fn complete(http: &Http, endpoint: &Endpoint, body: Value) -> Result<Completion, Error> {
    let asked = body["model"].as_str().unwrap_or_default().to_owned();
    let url = format!("{}/chat/completions", endpoint.base_url.trim_end_matches('/'));
    let request = Request::api("POST", url, Body::Json(body), endpoint.api_key.clone());
    let mut response = http.send(request).await.map_err(api_error)?;
    let body = response["body"].take();
    let message = body["choices"][0]["message"].clone();
    if !message.is_object() {
        return Err(Error::validation(format!(
            "the completion has no `choices[0].message`: {}",
            crate::value::to_text(&body).chars().take(200).collect::<String>()
        ))
        .with_code("invalid_completion")
        .with_data(json!({"body": body})));
    }
    let tool_calls = message["tool_calls"]
        .as_array()
        .map(|calls| {
            calls
                .iter()
                .map(|call| ToolCall {
                    id: call["id"].as_str().unwrap_or_default().to_owned(),
                    name: call["function"]["name"].as_str().unwrap_or_default().to_owned(),
                    arguments: call["function"]["arguments"].as_str().unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Completion {
        content: message["content"].as_str().map(str::to_owned),
        message,
        tool_calls,
        finish_reason: body["choices"][0]["finish_reason"].clone(),
        model: body["model"].as_str().map_or(asked, str::to_owned),
        usage: body.get("usage").cloned().unwrap_or(Value::Null),
        body,
    })
}

/// Adds one completion's `usage` to a running total (`{prompt_tokens, completion_tokens,
/// total_tokens}`).
pub fn add_usage(total: &mut Value, usage: &Value) {
    if !usage.is_object() {
        return;
    }
    if !total.is_object() {
        *total = json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0});
    }
    for key in ["prompt_tokens", "completion_tokens", "total_tokens"] {
        let sum = total[key].as_u64().unwrap_or(0) + usage[key].as_u64().unwrap_or(0);
        total[key] = json!(sum);
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
