//! The `web_search` node: one query to a web search API, its results in one shape
//! (`{title, url, snippet}`) whichever provider answered. Each provider is called as its public
//! API reference says:
//!
//! | provider | request | key | results |
//! |---|---|---|---|
//! | Brave Search | `GET {base}/res/v1/web/search?q=&count=` | `X-Subscription-Token` header | `web.results[]`: `title`, `url`, `description` |
//! | Tavily | `POST {base}/search` `{query, max_results}` | bearer token | `results[]`: `title`, `url`, `content` |
//! | SerpApi | `GET {base}/search.json?engine=google&q=` | `api_key` query parameter | `organic_results[]`: `title`, `link`, `snippet` |
//! | SearXNG | `GET {base}/search?q=&format=json` | none (self-hosted) | `results[]`: `title`, `url`, `content` |

use serde_json::{json, Map, Value};

use crate::error::{Error, ErrorKind};
use crate::flow::Output;
use crate::http::{Auth, Body, Http, Request};

/// A web search API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Brave,
    Tavily,
    SerpApi,
    Searxng,
}

impl Provider {
    /// The name a flow document gives it.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Brave => "brave",
            Provider::Tavily => "tavily",
            Provider::SerpApi => "serpapi",
            Provider::Searxng => "searxng",
        }
    }

    /// The hosted API's root; SearXNG has none (it is self-hosted).
    pub fn default_root(self) -> Option<&'static str> {
        match self {
            Provider::Brave => Some("https://api.search.brave.com"),
            Provider::Tavily => Some("https://api.tavily.com"),
            Provider::SerpApi => Some("https://serpapi.com"),
            Provider::Searxng => None,
        }
    }
}

/// The variables a search with the provider picked from the environment reads, in the order
/// they are tried: SearXNG's root, then the keys of Brave, Tavily and SerpApi.
pub const ENVIRONMENT: &[&str] = &["SEARXNG_URL", "BRAVE_API_KEY", "TAVILY_API_KEY", "SERPAPI_API_KEY"];

/// The first provider configured in the environment (see [`ENVIRONMENT`]): its root and key.
pub fn from_environment(var: impl Fn(&str) -> Option<String>) -> Result<(Provider, String, Option<String>), Error> {
    let set = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    if let Some(root) = set("SEARXNG_URL") {
        return Ok((Provider::Searxng, root, None));
    }
    for (provider, key) in [
        (Provider::Brave, "BRAVE_API_KEY"),
        (Provider::Tavily, "TAVILY_API_KEY"),
        (Provider::SerpApi, "SERPAPI_API_KEY"),
    ] {
        if let Some(key) = set(key) {
            let root = provider.default_root().unwrap_or_default().to_owned();
            return Ok((provider, root, Some(key)));
        }
    }
    Err(Error::config(unconfigured()).with_code("no_search_provider"))
}

/// The provider a search from the environment calls, checked at start-up and by `health`.
pub static PROVIDER_FROM_ENVIRONMENT: crate::health::Environment =
    crate::health::Environment { what: "web search provider", check: provider_from_environment };

fn provider_from_environment() -> Result<String, String> {
    let var = |name: &str| std::env::var(name).ok();
    match from_environment(var) {
        Ok((provider, root, _)) => {
            let from = ENVIRONMENT.iter().find(|v| var(v).is_some_and(|v| !v.trim().is_empty())).unwrap_or(&"");
            Ok(format!("{} at {root} (from {from})", label(provider)))
        }
        Err(error) => Err(error.message),
    }
}

/// Why a search from the environment cannot run.
pub fn unconfigured() -> String {
    format!("no web search provider is configured: set one of {}", ENVIRONMENT.join(", "))
}

/// One search, as a `web_search` node's config compiles to.
#[derive(Debug, Clone)]
pub struct Search {
    pub provider: Provider,
    /// The API root (for SearXNG, the instance's).
    pub base_url: String,
    pub query: String,
    /// The most results kept (1 to 20).
    pub max_results: u64,
    /// The provider's key; SearXNG takes none.
    pub api_key: Option<String>,
}

impl Search {
    /// The request, per the provider's reference.
    pub fn request(&self) -> Request {
        let root = self.base_url.trim_end_matches('/');
        let key = self.api_key.clone();
        let count = self.max_results.to_string();
        let (method, path, body, auth, query): (_, _, _, _, Vec<(&'static str, String)>) = match self.provider {
            Provider::Brave => (
                "GET",
                "/res/v1/web/search",
                Body::Empty,
                key.map(|k| Auth::Header("x-subscription-token", k)),
                vec![("q", self.query.clone()), ("count", count)],
            ),
            Provider::Tavily => (
                "POST",
                "/search",
                Body::Json(json!({"query": self.query, "max_results": self.max_results})),
                key.map(Auth::Bearer),
                Vec::new(),
            ),
            // Google no longer takes `num`: the first page is cut to `max_results` here.
            Provider::SerpApi => (
                "GET",
                "/search.json",
                Body::Empty,
                key.map(|k| Auth::Query("api_key", k)),
                vec![("engine", "google".to_owned()), ("q", self.query.clone())],
            ),
            Provider::Searxng => {
                ("GET", "/search", Body::Empty, None, vec![("q", self.query.clone()), ("format", "json".to_owned())])
            }
        };
        let mut request = Request::api(method, format!("{root}{path}"), body, None);
        request.auth = auth.unwrap_or(Auth::None);
        request.query = query;
        request.headers.push(("accept", "application/json".to_owned()));
        request
    }

    /// Sends the search. Output `data`: `{query, provider, results: [{title, url, snippet}]}`
    /// (at most `max_results`, in the provider's order); `metadata`: the provider and the
    /// number of results.
    pub async fn send(self, http: &Http) -> Result<Output, Error> {
        let provider = self.provider;
        let response = http.send(self.request()).await.map_err(|e| api_error(provider, e))?;
        let body = &response["body"];
        let results = results(provider, body).map_err(|message| {
            Error::validation(format!("{}: {message}", label(provider)))
                .with_code("invalid_search_response")
                .with_data(response.clone())
        })?;
        let results: Vec<Value> = results.into_iter().take(self.max_results as usize).collect();
        let count = results.len();
        let text = text(&results);
        let mut data = Map::new();
        data.insert("query".into(), Value::from(self.query));
        data.insert("provider".into(), Value::from(provider.name()));
        data.insert("results".into(), Value::Array(results));
        data.insert("text".into(), Value::String(text));
        Ok(Output::data(Value::Object(data))
            .with_metadata("provider", Value::from(provider.name()))
            .with_metadata("count", Value::from(count)))
    }
}

/// The results as text for a prompt: a numbered list of titles, each with its URL and
/// snippet below it.
pub fn text(results: &[Value]) -> String {
    let mut out = String::new();
    for (i, result) in results.iter().enumerate() {
        let field = |name: &str| result[name].as_str().unwrap_or_default();
        out.push_str(&format!("{}. {}\n   {}\n", i + 1, field("title"), field("url")));
        if !field("snippet").is_empty() {
            out.push_str(&format!("   {}\n", field("snippet")));
        }
    }
    out
}

fn label(provider: Provider) -> &'static str {
    match provider {
        Provider::Brave => "Brave Search",
        Provider::Tavily => "Tavily",
        Provider::SerpApi => "SerpApi",
        Provider::Searxng => "SearXNG",
    }
}

/// The results of an answer, as `{title, url, snippet}`; what is not a result (no URL) is left
/// out. `Err`: the answer is not the provider's shape.
pub fn results(provider: Provider, body: &Value) -> Result<Vec<Value>, String> {
    let (list, link, snippet) = match provider {
        // `web` is missing when nothing was found.
        Provider::Brave => match body.get("web") {
            None if body.is_object() => return Ok(Vec::new()),
            _ => (&body["web"]["results"], "url", "description"),
        },
        Provider::Tavily => (&body["results"], "url", "content"),
        // No `organic_results` and an `error` ("Google hasn't returned any results for this
        // query.") on a 200: nothing was found.
        Provider::SerpApi => match body.get("organic_results") {
            None if body.is_object() => return Ok(Vec::new()),
            _ => (&body["organic_results"], "link", "snippet"),
        },
        Provider::Searxng => {
            // Every engine failed: SearXNG still answers 200, with no results.
            let failed = body["unresponsive_engines"].as_array().filter(|e| !e.is_empty());
            if let (Some(failed), Some(true)) = (failed, body["results"].as_array().map(Vec::is_empty)) {
                let names: Vec<String> =
                    failed.iter().map(|e| e[0].as_str().unwrap_or("?").to_owned()).take(5).collect();
                return Err(format!("no engine answered ({})", names.join(", ")));
            }
            (&body["results"], "url", "content")
        }
    };
    let Some(list) = list.as_array() else {
        return Err("the answer has no list of results".to_owned());
    };
    let text = |item: &Value, field: &str| item[field].as_str().unwrap_or_default().to_owned();
    Ok(list
        .iter()
        .filter(|item| item[link].as_str().is_some_and(|u| !u.is_empty()))
        .map(|item| json!({"title": text(item, "title"), "url": text(item, link), "snippet": text(item, snippet)}))
        .collect())
}

/// The provider's own error message becomes the error's; Brave's refused key (a 422) is a
/// permission error, as a 401 is elsewhere.
fn api_error(provider: Provider, mut error: Error) -> Error {
    let Some(body) = error.data.as_ref().map(|d| d["body"].clone()) else {
        return error;
    };
    let status = error.status.unwrap_or_default();
    let (message, code) = match provider {
        // `{"type": "ErrorResponse", "error": {code, detail}}`; some examples have `errors[]`.
        Provider::Brave => {
            let e = if body["error"].is_object() { &body["error"] } else { &body["errors"][0] };
            (e["detail"].as_str().map(str::to_owned), e["code"].as_str().map(str::to_owned))
        }
        // `{"detail": {"error": "..."}}`.
        Provider::Tavily => (body["detail"]["error"].as_str().or(body["detail"].as_str()).map(str::to_owned), None),
        // `{"error": "..."}`.
        Provider::SerpApi => (body["error"].as_str().map(str::to_owned), None),
        // A format the instance does not enable is a 403 HTML page.
        Provider::Searxng if status == 403 => (
            Some("the instance refused the JSON format: add `json` to `search.formats` in its settings.yml".to_owned()),
            Some("json_format_disabled".to_owned()),
        ),
        Provider::Searxng => (None, None),
    };
    if let Some(message) = message {
        error.message = format!("{}: {message} (HTTP {status})", label(provider));
    }
    if let Some(code) = code {
        if code == "SUBSCRIPTION_TOKEN_INVALID" {
            error.kind = ErrorKind::Permission;
            error.retryable = false;
        }
        error.code = Some(code);
    }
    error
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(provider: Provider) -> Search {
        Search {
            provider,
            base_url: "http://127.0.0.1:9/".into(),
            query: "rust".into(),
            max_results: 3,
            api_key: Some("k".into()),
        }
    }

    #[test]
    fn requests_follow_each_reference() {
        let brave = search(Provider::Brave).request();
        assert_eq!((brave.method, brave.url.as_str()), ("GET", "http://127.0.0.1:9/res/v1/web/search"));
        assert_eq!(brave.query, [("q", "rust".to_owned()), ("count", "3".to_owned())]);
        assert!(matches!(brave.auth, Auth::Header("x-subscription-token", ref k) if k == "k"));
        let tavily = search(Provider::Tavily).request();
        assert!(matches!(tavily.body, Body::Json(ref b) if *b == json!({"query": "rust", "max_results": 3})));
        assert!(matches!(tavily.auth, Auth::Bearer(_)));
        let serpapi = search(Provider::SerpApi).request();
        assert_eq!(serpapi.url, "http://127.0.0.1:9/search.json");
        assert!(matches!(serpapi.auth, Auth::Query("api_key", _)));
        let searxng = Search { api_key: None, ..search(Provider::Searxng) }.request();
        assert_eq!(searxng.query, [("q", "rust".to_owned()), ("format", "json".to_owned())]);
        assert!(matches!(searxng.auth, Auth::None));
    }

    #[test]
    fn results_take_one_shape() {
        let brave = json!({"web": {"results": [{"title": "T", "url": "https://a", "description": "D"}]}});
        assert_eq!(
            results(Provider::Brave, &brave).unwrap(),
            [json!({"title": "T", "url": "https://a", "snippet": "D"})]
        );
        assert_eq!(results(Provider::Brave, &json!({"type": "search"})).unwrap(), Vec::<Value>::new());
        let serp =
            json!({"organic_results": [{"title": "T", "link": "https://b", "snippet": "S"}, {"title": "no link"}]});
        assert_eq!(
            results(Provider::SerpApi, &serp).unwrap(),
            [json!({"title": "T", "url": "https://b", "snippet": "S"})]
        );
        let none = json!({"error": "Google hasn't returned any results for this query."});
        assert!(results(Provider::SerpApi, &none).unwrap().is_empty());
        let failed = json!({"results": [], "unresponsive_engines": [["bing", "timeout"]]});
        assert_eq!(results(Provider::Searxng, &failed).unwrap_err(), "no engine answered (bing)");
        assert!(results(Provider::Tavily, &json!({"answer": null})).is_err());
    }

    #[test]
    fn results_read_as_a_numbered_list() {
        let results = [
            json!({"title": "A", "url": "https://a", "snippet": "about a"}),
            json!({"title": "B", "url": "https://b", "snippet": ""}),
        ];
        assert_eq!(text(&results), "1. A\n   https://a\n   about a\n2. B\n   https://b\n");
    }

    #[test]
    fn the_environment_is_read_in_order() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        };
        let (p, root, key) = from_environment(env(&[("TAVILY_API_KEY", "t"), ("SERPAPI_API_KEY", "s")])).unwrap();
        assert_eq!((p, root.as_str(), key.as_deref()), (Provider::Tavily, "https://api.tavily.com", Some("t")));
        let (p, root, _) = from_environment(env(&[("BRAVE_API_KEY", "b"), ("SEARXNG_URL", "http://s")])).unwrap();
        assert_eq!((p, root.as_str()), (Provider::Searxng, "http://s"));
        let error = from_environment(env(&[("SEARXNG_URL", " ")])).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Config);
        assert!(error.message.ends_with("SEARXNG_URL, BRAVE_API_KEY, TAVILY_API_KEY, SERPAPI_API_KEY"));
    }
}
