//! The `firecrawl_scrape` node: Firecrawl's scrape endpoint (`POST {base_url}/v1/scrape`,
//! bearer auth), on the hosted service or a self-hosted one.

use serde_json::{json, Value};

use crate::error::Error;
use crate::flow::Output;
use crate::http::{Body, Http, Request};

/// One scrape, as a `firecrawl_scrape` node's config compiles to.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    pub base_url: String,
    pub url: String,
    /// `markdown`, `html`, `rawHtml`, `links`, … (Firecrawl's names).
    pub formats: Vec<&'static str>,
    pub only_main_content: bool,
    /// The bearer token; a self-hosted instance may need none.
    pub api_key: Option<String>,
}

impl Scrape {
    /// The request body, per the scrape reference.
    pub fn body(&self) -> Value {
        json!({"url": self.url, "formats": self.formats, "onlyMainContent": self.only_main_content})
    }

    /// Sends the scrape. Output `data`: Firecrawl's `data` (`markdown`, `html`, `links`, …
    /// as asked, and `metadata`); `metadata`: the page's title, source URL and status.
    pub async fn send(self, http: &Http) -> Result<Output, Error> {
        let url = format!("{}/v1/scrape", self.base_url.trim_end_matches('/'));
        let request = Request::api("POST", url, Body::Json(self.body()), self.api_key.clone());
        let response = http.send(request).await.map_err(api_error)?;
        let body = &response["body"];
        if body["success"] != Value::Bool(true) || !body["data"].is_object() {
            let reason = body["error"].as_str().unwrap_or("the response has no `data`");
            return Err(Error::validation(format!("Firecrawl could not scrape {}: {reason}", self.url))
                .with_code("scrape_failed")
                .with_data(response.clone()));
        }
        let data = body["data"].clone();
        let page = &data["metadata"];
        Ok(Output::data(data.clone())
            .with_metadata("url", Value::from(self.url))
            .with_metadata("title", page["title"].clone())
            .with_metadata("source_url", page["sourceURL"].clone())
            .with_metadata("status_code", page["statusCode"].clone()))
    }
}

/// Firecrawl's error body (`{"success": false, "error": "..."}`) becomes the message.
fn api_error(mut error: Error) -> Error {
    if let Some(message) = error.data.as_ref().and_then(|d| d["body"]["error"].as_str()) {
        error.message = format!("Firecrawl: {message} (HTTP {})", error.status.unwrap_or_default());
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_reference_body() {
        let scrape = Scrape {
            url: "https://example.com".into(),
            formats: vec!["markdown", "links"],
            only_main_content: true,
            ..Scrape::default()
        };
        assert_eq!(
            scrape.body(),
            json!({"url": "https://example.com", "formats": ["markdown", "links"], "onlyMainContent": true})
        );
    }

    #[test]
    fn error_bodies_become_the_message() {
        let error = crate::http::status_error("POST x", 402, &Value::Null)
            .with_data(json!({"status": 402, "body": {"success": false, "error": "Payment required"}}));
        assert_eq!(api_error(error).message, "Firecrawl: Payment required (HTTP 402)");
    }
}
