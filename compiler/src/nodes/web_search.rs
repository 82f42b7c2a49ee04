//! `web_search`: one query to a web search API (Brave Search, Tavily, SerpApi, SearXNG), its
//! results as `{title, url, snippet}` whichever provider answered.

use crate::types::Type;
use quote::quote;

use super::{CheckCx, TypeCx};
use crate::check::reader::{Field, Ty};
use crate::diag::{Code, Diagnostic};
use crate::emit::{EmitCx, EmitError, NodeCode};
use crate::template::Template;

const PROVIDERS: &[&str] = &["brave", "tavily", "serpapi", "searxng", "environment"];

pub const FIELDS: &[Field] = &[
    Field::req(
        "provider",
        Ty::Enum(PROVIDERS),
        "`brave`, `tavily`, `serpapi`, `searxng` (self-hosted: needs `base_url`), or `environment`: the first configured of SEARXNG_URL, BRAVE_API_KEY, TAVILY_API_KEY, SERPAPI_API_KEY",
    ),
    Field::req("query", Ty::Template, "what to search for"),
    Field::opt("max_results", Ty::Integer, "the most results kept, 1 to 20 (default 5)"),
    Field::opt(
        "base_url",
        Ty::Template,
        "the API root: a SearXNG instance, e.g. \"http://127.0.0.1:8888\", or another server for the hosted APIs",
    ),
];

/// Where the node's provider comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provider {
    /// Named in the document.
    Named(&'static str),
    /// The first configured in the environment when the program starts.
    Environment,
}

#[derive(Debug, Clone)]
pub struct Config {
    provider: Provider,
    query: Template,
    max_results: u64,
    base_url: Option<Template>,
    credential: Option<String>,
}

/// The runtime's name for a provider, and its hosted root.
fn provider(name: &str) -> (proc_macro2::TokenStream, Option<&'static str>) {
    match name {
        "brave" => (quote! { rt::search::Provider::Brave }, Some("https://api.search.brave.com")),
        "tavily" => (quote! { rt::search::Provider::Tavily }, Some("https://api.tavily.com")),
        "serpapi" => (quote! { rt::search::Provider::SerpApi }, Some("https://serpapi.com")),
        _ => (quote! { rt::search::Provider::Searxng }, None),
    }
}

pub fn check(cx: &mut CheckCx<'_>) -> Option<Config> {
    let (mut r, sink, node) = cx.read(FIELDS)?;
    let what = r.what().to_owned();
    let pointer = r.pointer.clone();
    let name = r.one_of(sink, "provider", PROVIDERS);
    let query = r.template(sink, "query");
    let max_results = r.integer(sink, "max_results", 1, 20).unwrap_or(5);
    let base_url = r.template(sink, "base_url");
    match name {
        Some("environment") => {
            if r.get("base_url").is_some() {
                r.invalid(
                    sink,
                    "base_url",
                    format!("{what} takes its provider from the environment, so it takes no `base_url`"),
                    "name the provider (\"provider\": \"searxng\") to give its root, or set SEARXNG_URL".to_owned(),
                );
            }
            if node.credential.is_some() {
                sink.push(
                    Diagnostic::new(
                        Code::E015,
                        format!("{}/credential", node.pointer),
                        format!("node `{}` takes its provider and key from the environment, not a credential", node.id),
                    )
                    .help("remove `credential`, or name the provider and keep the credential"),
                );
                r.ok = false;
            }
        }
        Some("searxng") => {
            if r.get("base_url").is_none() {
                sink.push(
                    Diagnostic::new(Code::E004, pointer.clone(), format!("{what} searches SearXNG but names no `base_url`"))
                        .help("SearXNG is self-hosted: add \"base_url\": \"http://host:port\", the instance's root"),
                );
                r.ok = false;
            }
            if node.credential.is_some() {
                sink.push(
                    Diagnostic::new(
                        Code::E015,
                        format!("{}/credential", node.pointer),
                        format!("node `{}` searches SearXNG, whose API takes no key", node.id),
                    )
                    .help("remove `credential`"),
                );
                r.ok = false;
            }
        }
        Some(hosted) if base_url.is_none() => {
            let (service, env) = match hosted {
                "brave" => ("Brave Search", ("brave", "BRAVE_API_KEY")),
                "tavily" => ("Tavily", ("tavily", "TAVILY_API_KEY")),
                _ => ("SerpApi", ("serpapi", "SERPAPI_API_KEY")),
            };
            r.ok &= super::require_credential(sink, node, service, env, ", or a `base_url` for a server that needs none");
        }
        _ => {}
    }
    let provider = match name? {
        "environment" => Provider::Environment,
        named => Provider::Named(named),
    };
    match (r.ok, query) {
        (true, Some(query)) => {
            Some(Config { provider, query, max_results, base_url, credential: node.credential.clone() })
        }
        _ => None,
    }
}

/// `{query, provider, results: [{title, url, snippet}], text}`.
pub fn output() -> Type {
    let result = Type::object([("title", Type::String), ("url", Type::String), ("snippet", Type::String)]);
    Type::object([
        ("query", Type::String),
        ("provider", Type::String),
        ("results", Type::array(result)),
        ("text", Type::String),
    ])
}

pub fn emit(cx: &EmitCx<'_>, config: &Config) -> Result<NodeCode, EmitError> {
    let query = cx.string(&config.query)?;
    let max_results = proc_macro2::Literal::u64_unsuffixed(config.max_results);
    let body = match config.provider {
        Provider::Environment => quote! {
            let (provider, base_url, api_key) = rt::search::from_environment(|name| std::env::var(name).ok())?;
            let search = rt::search::Search { provider, base_url, query: #query, max_results: #max_results, api_key };
            search.send(cx.http()).await
        },
        Provider::Named(name) => {
            let (provider, root) = provider(name);
            let base_url = match (&config.base_url, root) {
                (Some(url), _) => cx.string(url)?,
                (None, Some(root)) => quote! { #root.to_owned() },
                (None, None) => return Err(cx.error("a SearXNG search without a `base_url`")),
            };
            let api_key = cx.api_key(&config.credential);
            quote! {
                let search = rt::search::Search {
                    provider: #provider,
                    base_url: #base_url,
                    query: #query,
                    max_results: #max_results,
                    api_key: #api_key,
                };
                search.send(cx.http()).await
            }
        }
    };
    Ok(NodeCode::body(body))
}

pub struct WebSearch;

impl super::Kind for WebSearch {
    fn name(&self) -> &'static str {
        "web_search"
    }

    fn summary(&self) -> &'static str {
        "Searches the web with Brave Search, Tavily, SerpApi or SearXNG and yields `{query, provider, results: [{title, url, snippet}]}`."
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
        output()
    }

    fn emit(&self, cx: &EmitCx<'_>) -> Result<NodeCode, EmitError> {
        emit(cx, self)
    }

    fn describe(&self) -> Vec<String> {
        let query = super::code_text(&self.query.display());
        let at = self.base_url.as_ref().map_or_else(String::new, |url| format!(" at {}", super::code_text(&url.display())));
        let with = match self.provider {
            Provider::Environment => {
                "the first provider configured in the environment (SEARXNG_URL, BRAVE_API_KEY, TAVILY_API_KEY, SERPAPI_API_KEY)"
                    .to_owned()
            }
            Provider::Named(name) => format!("`{name}`{at}"),
        };
        vec![format!("Searches the web for {query} with {with}, keeping at most {} results.", self.max_results)]
    }

    fn needs(&self, _cx: &EmitCx<'_>) -> Vec<super::Need> {
        match (self.provider, &self.base_url) {
            (Provider::Environment, _) => vec![super::Need::Environment("rt::search::PROVIDER_FROM_ENVIRONMENT")],
            (Provider::Named(_), Some(url)) => {
                super::url_origin(url).map(|o| super::Need::Host(super::HostOrigin::Literal(o))).into_iter().collect()
            }
            (Provider::Named(name), None) => {
                provider(name).1.map(|root| super::Need::Host(super::HostOrigin::Literal(root.to_owned()))).into_iter().collect()
            }
        }
    }
}
