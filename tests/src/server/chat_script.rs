//! Scripted answers of the OpenAI chat-completions stand-in: `POST
//! /openai/script-{key}/v1/chat/completions` answers with the next step a test gave
//! [`TestServer::script`](super::TestServer::script) for `key`, so the tool-calling loop,
//! parallel calls, errors, `max_iterations` and structured output can all be exercised.
//!
//! A step is one of:
//! - `{"content": "text"}`: an assistant message, `finish_reason: "stop"`;
//! - `{"tool_calls": [{"name": "t", "arguments": {...}}, ...]}`: tool calls (ids
//!   `call_{n}_{i}`, arguments sent as JSON text; `"arguments_text": "..."` sends that text as
//!   it is), `finish_reason: "tool_calls"`;
//! - `{"status": 500}`: that status with an OpenAI error body.
//!
//! Every request is checked as the API checks it: `tools` are `{"type": "function",
//! "function": {"name", "description"?, "parameters"?}}` with names of at most 64 of
//! `a-z A-Z 0-9 _ -`; an assistant message with `tool_calls` must be followed by one `tool`
//! message per call id, and a `tool` message must answer such a call. A request that breaks a
//! rule is 400, as the API answers it. A script that has run out is 500.

use serde_json::{json, Value};

use super::{openai_error, Shared};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// What the API would refuse in `request`, as its message.
fn invalid(request: &Value) -> Option<String> {
    let name_ok = |n: &str| {
        !n.is_empty() && n.len() <= 64 && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if let Some(tools) = request.get("tools") {
        let Some(tools) = tools.as_array() else { return Some("'tools' must be an array".into()) };
        for (i, tool) in tools.iter().enumerate() {
            let name = tool["function"]["name"].as_str().unwrap_or("");
            if tool["type"] != "function" || !name_ok(name) {
                return Some(format!(
                    "Invalid 'tools[{i}].function.name': string does not match pattern '^[a-zA-Z0-9_-]+$'"
                ));
            }
            if let Some(parameters) = tool["function"].get("parameters") {
                if !parameters.is_object() {
                    return Some(format!("Invalid 'tools[{i}].function.parameters': expected an object"));
                }
            }
        }
    }
    let messages = request["messages"].as_array()?;
    let mut pending: Vec<String> = Vec::new();
    for (i, message) in messages.iter().enumerate() {
        let role = message["role"].as_str().unwrap_or("");
        if role == "tool" {
            let id = message["tool_call_id"].as_str().unwrap_or("");
            match pending.iter().position(|p| p == id) {
                Some(at) => {
                    pending.remove(at);
                }
                None => {
                    return Some(format!(
                        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls' (messages[{i}])"
                    ))
                }
            }
            if !message["content"].is_string() {
                return Some(format!("Invalid 'messages[{i}].content': expected a string"));
            }
            continue;
        }
        if !pending.is_empty() {
            return Some(format!(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
                pending.join(", ")
            ));
        }
        if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
            pending = calls.iter().map(|c| c["id"].as_str().unwrap_or("").to_owned()).collect();
        }
    }
    (!pending.is_empty()).then(|| format!("tool_call_ids did not have response messages: {}", pending.join(", ")))
}

pub(super) fn answer(shared: &Shared, key: &str, request: &Value, n: u64) -> Response {
    if let Some(message) = invalid(request) {
        return openai_error(StatusCode::BAD_REQUEST, &message, "invalid_request_error", None);
    }
    let step = shared.scripts.lock().unwrap().get_mut(key).and_then(|steps| steps.pop_front());
    let Some(step) = step else {
        return openai_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("script `{key}` has no more steps"),
            "server_error",
            None,
        );
    };
    if let Some(status) = step["status"].as_u64() {
        let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return openai_error(status, "The server had an error while processing your request.", "server_error", None);
    }
    let (message, finish) = match step.get("tool_calls").and_then(Value::as_array) {
        Some(calls) => {
            let calls: Vec<Value> = calls
                .iter()
                .enumerate()
                .map(|(i, call)| {
                    let arguments = match call.get("arguments_text") {
                        Some(text) => text.clone(),
                        None => Value::from(call["arguments"].to_string()),
                    };
                    json!({"id": format!("call_{n}_{i}"), "type": "function", "function": {"name": call["name"], "arguments": arguments}})
                })
                .collect();
            (json!({"role": "assistant", "content": null, "tool_calls": calls}), "tool_calls")
        }
        None => (json!({"role": "assistant", "content": step["content"]}), "stop"),
    };
    let prompt_tokens = request["messages"].as_array().map_or(0, Vec::len) * 10;
    Json(json!({
        "id": format!("chatcmpl-{n}"),
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": request["model"],
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 5, "total_tokens": prompt_tokens + 5}
    }))
    .into_response()
}
