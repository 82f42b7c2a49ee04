//! The `classify` node: a model picks one of named categories for a text, over the
//! chat-completions wire format with a structured-output schema. The category is the node's
//! route; `default` (or the configured fallback) when the model says nothing fits, or when its
//! answer is not a category after one corrective retry.

use serde_json::{json, Value};

use crate::error::Error;
use crate::flow::Output;
use crate::http::Http;
use crate::llm::{add_usage, complete, Endpoint};

/// What the model answers when no category fits.
pub const NONE_FITS: &str = "default";

/// One classification, as a `classify` node's config compiles to.
#[derive(Debug, Clone)]
pub struct Classify {
    pub endpoint: Endpoint,
    pub model: String,
    /// More for the system message, after the categories.
    pub instructions: Option<String>,
    /// What to classify.
    pub input: String,
    /// The categories, in order: name and description (may be empty).
    pub categories: &'static [(&'static str, &'static str)],
    /// The category taken when none fits; `None`: the `default` route.
    pub fallback: Option<&'static str>,
    pub temperature: Option<f64>,
    /// Ask once more when an answer names no category (else take the fallback at once).
    pub retry_unclear: bool,
}

impl Classify {
    /// The system message: the categories and how to answer.
    pub fn system(&self) -> String {
        let mut text = String::from(
            "Classify the user's message into exactly one of these categories (name: what belongs in it):\n",
        );
        for (name, description) in self.categories {
            if description.is_empty() {
                text.push_str(&format!("- {name}\n"));
            } else {
                text.push_str(&format!("- {name}: {description}\n"));
            }
        }
        text.push_str(&format!(
            "Answer with a JSON object {{\"category\": <one of the names above, or \"{NONE_FITS}\" when none fits>, \
             \"reason\": <one short sentence>}}."
        ));
        if let Some(instructions) = &self.instructions {
            text.push_str("\n\n");
            text.push_str(instructions);
        }
        text
    }

    /// The structured-output schema: `category` is one of the names or `default`.
    pub fn schema(&self) -> Value {
        let mut names: Vec<&str> = self.categories.iter().map(|(name, _)| *name).collect();
        names.push(NONE_FITS);
        json!({
            "type": "object",
            "properties": {"category": {"type": "string", "enum": names}, "reason": {"type": "string"}},
            "required": ["category", "reason"],
            "additionalProperties": false
        })
    }

    fn body(&self, messages: &[Value]) -> Value {
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            "response_format": {"type": "json_schema", "json_schema": {"name": "classification", "schema": self.schema(), "strict": true}}
        });
        if let Some(t) = self.temperature {
            body["temperature"] = json!(t);
        }
        body
    }

    /// The category an answer names, or what is wrong with it.
    fn read(&self, content: Option<&str>) -> Result<(&'static str, String), String> {
        let Some(content) = content else { return Err("the answer has no text".to_owned()) };
        let (said, reason) = match serde_json::from_str::<Value>(content) {
            Ok(parsed) => {
                let said = parsed["category"].as_str().ok_or("the answer has no `category`")?.to_owned();
                (said, parsed["reason"].as_str().unwrap_or_default().to_owned())
            }
            // A server that ignores the structured-output format may still answer with the
            // name: its first word counts, the rest is the reason.
            Err(_) => {
                let text = content.trim();
                let end = text.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-')).unwrap_or(text.len());
                if end == 0 {
                    return Err(format!("`{}` is not JSON", crate::http::clip(content, 200)));
                }
                let rest = text[end..].trim_start_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace());
                (text[..end].to_owned(), rest.to_owned())
            }
        };
        let said = said.as_str();
        if said == NONE_FITS {
            return Ok((NONE_FITS, reason));
        }
        // Names match as written; a model that changes the case still means the category.
        let found = self
            .categories
            .iter()
            .find(|(name, _)| *name == said)
            .or_else(|| self.categories.iter().find(|(name, _)| name.eq_ignore_ascii_case(said.trim())));
        match found {
            Some((name, _)) => Ok((name, reason)),
            None => Err(format!("`{}` is not one of the categories", crate::http::clip(said, 100))),
        }
    }

    /// Asks the model; an answer that names no category gets one corrective retry, then the
    /// fallback. Output `data`: `{category, reason}`, routed to the category; `metadata`: the
    /// model, the token usage of every call, and how many calls it took.
    pub async fn send(self, http: &Http) -> Result<Output, Error> {
        let mut messages =
            vec![json!({"role": "system", "content": self.system()}), json!({"role": "user", "content": self.input})];
        let mut usage = Value::Null;
        let mut model = self.model.clone();
        let mut problem = String::new();
        let calls = if self.retry_unclear { 2 } else { 1 };
        for call in 1..=calls {
            let completion = complete(http, &self.endpoint, self.body(&messages)).await?;
            add_usage(&mut usage, &completion.usage);
            model = completion.model.clone();
            match self.read(completion.content.as_deref()) {
                Ok((category, reason)) => {
                    let route = if category == NONE_FITS { self.fallback.unwrap_or(NONE_FITS) } else { category };
                    return Ok(self.output(route, Value::from(reason), &model, usage, call));
                }
                Err(why) => {
                    problem = why;
                    messages.push(completion.message);
                    let names: Vec<&str> = self.categories.iter().map(|(n, _)| *n).collect();
                    messages.push(json!({"role": "user", "content": format!(
                        "That answer cannot be used: {problem}. Answer again with only a JSON object whose `category` is one of {}, or \"{NONE_FITS}\".",
                        names.join(", ")
                    )}));
                }
            }
        }
        let route = self.fallback.unwrap_or(NONE_FITS);
        let twice = if calls == 2 { " twice" } else { "" };
        let reason = format!("the model named no category{twice} ({problem}), so `{route}` was taken");
        Ok(self
            .output(route, Value::from(reason), &model, usage, calls)
            .with_metadata("unclassified", Value::Bool(true)))
    }

    fn output(&self, route: &'static str, reason: Value, model: &str, usage: Value, calls: u32) -> Output {
        let mut output = Output::routed(json!({"category": route, "reason": reason}), route);
        output = output.with_metadata("model", Value::from(model));
        output.with_metadata("usage", usage).with_metadata("calls", Value::from(calls))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify() -> Classify {
        Classify {
            endpoint: Endpoint { base_url: String::new(), api_key: None },
            model: "m".into(),
            instructions: None,
            input: "my invoice is wrong".into(),
            categories: &[("billing", "invoices and payments"), ("tech", "")],
            fallback: None,
            temperature: None,
            retry_unclear: true,
        }
    }

    #[test]
    fn the_schema_and_prompt_name_every_category() {
        let c = classify();
        assert_eq!(c.schema()["properties"]["category"]["enum"], json!(["billing", "tech", "default"]));
        assert!(c.system().contains("- billing: invoices and payments\n- tech\n"), "{}", c.system());
    }

    #[test]
    fn answers_are_read_strictly_but_not_by_case() {
        let c = classify();
        assert_eq!(c.read(Some(r#"{"category": "billing", "reason": "r"}"#)).unwrap(), ("billing", "r".to_owned()));
        assert_eq!(c.read(Some(r#"{"category": "Tech"}"#)).unwrap().0, "tech");
        assert_eq!(c.read(Some(r#"{"category": "default"}"#)).unwrap().0, "default");
        assert!(c.read(Some(r#"{"category": "sales"}"#)).unwrap_err().contains("not one of the categories"));
        assert_eq!(
            c.read(Some("Billing. The invoice is wrong")).unwrap(),
            ("billing", "The invoice is wrong".to_owned())
        );
        assert!(c.read(Some("sales")).unwrap_err().contains("not one of the categories"));
        assert!(c.read(Some("...")).unwrap_err().contains("is not JSON"));
        assert!(c.read(None).is_err());
    }
}
