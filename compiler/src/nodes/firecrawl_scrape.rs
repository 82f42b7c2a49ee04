//! `firecrawl_scrape`: scrape one page with Firecrawl.

use crate::types::Type;
use quote::quote;
use serde_json::Value;

use super::{CheckCx, TypeCx};
use crate::check::reader::{list, short, Field, Ty};
use crate::diag::{did_you_mean, Code, Diagnostic};
use crate::emit::{EmitCx, EmitError, NodeCode};
use crate::template::Template;

/// The string formats of Firecrawl's scrape endpoint.
const FORMATS: &[&str] = &["markdown", "html", "rawHtml", "links", "summary", "images", "screenshot"];

pub const FIELDS: &[Field] = &[
    Field::req("url", Ty::Template, "the page to scrape"),
    Field::opt(
        "formats",
        Ty::Other("array of formats"),
        "what to return: markdown (default), html, rawHtml, links, summary, images, screenshot",
    ),
    Field::opt("only_main_content", Ty::Boolean, "leave out headers, navigation and footers (default true)"),
    Field::opt(
        "base_url",
        Ty::Template,
        "a self-hosted Firecrawl, e.g. \"http://127.0.0.1:3002\" (default: the hosted API)",
    ),
];

#[derive(Debug, Clone)]
pub struct Config {
    pub url: Template,
    pub formats: Vec<&'static str>,
    pub only_main_content: bool,
    pub base_url: Option<Template>,
    pub credential: Option<String>,
}

pub fn check(cx: &mut CheckCx<'_>) -> Option<Config> {
    let (mut r, sink, node) = cx.read(FIELDS)?;
    let pointer = r.pointer.clone();
    let url = r.template(sink, "url");
    let only_main_content = r.boolean(sink, "only_main_content").unwrap_or(true);
    let base_url = r.template(sink, "base_url");
    let mut formats = Vec::new();
    match r.get("formats") {
        None => formats.push("markdown"),
        Some(Value::Array(items)) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                let found = item.as_str().and_then(|s| FORMATS.iter().find(|f| **f == s));
                match found {
                    Some(format) => formats.push(*format),
                    None => {
                        let help = match item.as_str().and_then(|s| did_you_mean(s, FORMATS.iter().copied())) {
                            Some(near) => format!("did you mean `{near}`?"),
                            None => format!("formats are {}", list(FORMATS.iter().copied())),
                        };
                        sink.push(
                            Diagnostic::new(
                                Code::E015,
                                format!("{pointer}/formats/{i}"),
                                format!("{} is not a Firecrawl format", short(item)),
                            )
                            .help(help),
                        );
                        r.ok = false;
                    }
                }
            }
        }
        Some(other) => {
            sink.push(
                Diagnostic::new(
                    Code::E002,
                    format!("{pointer}/formats"),
                    format!("`formats` must be a non-empty array, not {}", short(other)),
                )
                .help("e.g. \"formats\": [\"markdown\", \"links\"]"),
            );
            r.ok = false;
        }
    }
    if base_url.is_none() {
        let alternative = ", or a `base_url` for a self-hosted Firecrawl";
        r.ok &= super::require_credential(
            sink,
            node,
            "the hosted Firecrawl",
            ("firecrawl", "FIRECRAWL_API_KEY"),
            alternative,
        );
    }
    match (r.ok, url) {
        (true, Some(url)) => {
            Some(Config { url, formats, only_main_content, base_url, credential: node.credential.clone() })
        }
        _ => None,
    }
}

/// Firecrawl's `data`: a member per format asked for, and `metadata` (its known members, and
/// whatever else the page's meta tags give).
pub fn output(config: &Config) -> Type {
    use crate::types::{Member, Object};
    let mut fields: Vec<(String, Member)> = config
        .formats
        .iter()
        .map(|format| {
            let ty = match *format {
                "links" | "images" => Type::array(Type::String),
                _ => Type::String,
            };
            ((*format).to_owned(), Member { ty, optional: false })
        })
        .collect();
    let metadata = Type::Object(Object {
        fields: [
            ("title", Type::String),
            ("description", Type::String),
            ("language", Type::String),
            ("sourceURL", Type::String),
            ("url", Type::String),
            ("statusCode", Type::Integer),
            ("error", Type::String),
        ]
        .into_iter()
        .map(|(name, ty)| (name.to_owned(), Member { ty, optional: name != "sourceURL" && name != "statusCode" }))
        .collect(),
        rest: Some(Box::new(Type::Any)),
    });
    fields.push(("metadata".to_owned(), Member { ty: metadata, optional: false }));
    fields.push(("warning".to_owned(), Member { ty: Type::String, optional: true }));
    Type::Object(Object { fields, rest: None })
}

pub fn emit(cx: &EmitCx<'_>, config: &Config) -> Result<NodeCode, EmitError> {
    let Config { url, formats, only_main_content, base_url, credential } = config;
    let base_url = cx.base_url(base_url, &flowc_core::services::FIRECRAWL)?;
    let url = cx.string(url)?;
    let api_key = cx.api_key(credential);
    Ok(NodeCode::body(quote! {
        let scrape = rt::firecrawl::Scrape {
            base_url: #base_url,
            url: #url,
            formats: Vec::from([#(#formats),*]),
            only_main_content: #only_main_content,
            api_key: #api_key,
        };
        scrape.send(cx.http()).await
    }))
}

pub struct FirecrawlScrape;

impl super::Kind for FirecrawlScrape {
    fn name(&self) -> &'static str {
        "firecrawl_scrape"
    }

    fn summary(&self) -> &'static str {
        "Scrapes one page with Firecrawl and yields its markdown, html, links and metadata."
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
            "Scrapes {} with Firecrawl{}, as {}.",
            super::code_text(&self.url.display()),
            self.base_url.as_ref().map_or_else(String::new, |url| format!(" at {}", super::code_text(&url.display()))),
            self.formats.join(", ")
        )]
    }

    fn needs(&self, _cx: &EmitCx<'_>) -> Vec<super::Need> {
        super::service_origin(&self.base_url, &flowc_core::services::FIRECRAWL).map(super::Need::Host).into_iter().collect()
    }
}
