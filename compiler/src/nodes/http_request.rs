//! `http_request`: one HTTP request on the run's pooled client.

use crate::types::Type;
use quote::quote;
use serde_json::Value;

use super::{CheckCx, TypeCx};
use crate::check::reader::{short, Field, Json, Ty};
use crate::diag::{Code, Diagnostic};
use crate::emit::{EmitCx, EmitError, NodeCode};
use crate::template::Template;

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

pub const FIELDS: &[Field] = &[
    Field::opt("method", Ty::Enum(METHODS), "the HTTP method (default GET)"),
    Field::req("url", Ty::Template, "the URL, http or https; may hold templates"),
    Field::opt("query", Ty::TemplateMap, "query parameters, added to the URL's"),
    Field::opt("headers", Ty::TemplateMap, "request headers"),
    Field::opt("body", Ty::Json, "the body; strings inside may hold templates"),
    Field::opt("body_type", Ty::Enum(&["json", "form", "text"]), "how the body is sent (default json)"),
    Field::opt(
        "auth",
        Ty::Other("\"bearer\", \"basic\" or {\"header\": \"Header-Name\"}"),
        "how the node's credential is sent (default bearer when the node has a credential)",
    ),
    Field::opt(
        "expect_status",
        Ty::Other("an integer, an array of integers, or \"2xx\""),
        "the statuses that count as success (default 2xx)",
    ),
    Field::opt(
        "response",
        Ty::Enum(&["auto", "json", "text"]),
        "how the body is read (default auto: JSON when the Content-Type says so)",
    ),
    Field::opt(
        "max_response_bytes",
        Ty::Integer,
        "the largest response body read, in bytes (default settings.http.max_response_bytes)",
    ),
    Field::opt(
        "response_schema",
        Ty::Schema,
        "a JSON Schema subset the response body must match (checked when it arrives); what reads `body` is checked against it",
    ),
];

#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Bearer(String),
    Basic(String),
    Header { name: String, credential: String },
}

#[derive(Debug, Clone)]
pub enum Body {
    Empty,
    Json(Json),
    Form(Json),
    Text(Template),
}

#[derive(Debug, Clone)]
pub struct Config {
    pub method: &'static str,
    pub url: Template,
    pub query: Vec<(String, Template)>,
    pub headers: Vec<(String, Template)>,
    pub body: Body,
    pub auth: Auth,
    /// `None`: any 2xx.
    pub expect_status: Option<Vec<u16>>,
    pub response: &'static str,
    /// `None`: `settings.http.max_response_bytes`.
    pub max_response_bytes: Option<u64>,
    /// The schema the response body must match.
    pub response_schema: Option<serde_json::Value>,
}

pub fn valid_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

pub fn check(cx: &mut CheckCx<'_>) -> Option<Config> {
    let (mut r, sink, node) = cx.read(FIELDS)?;
    let pointer = r.pointer.clone();
    let method = r.one_of(sink, "method", METHODS).unwrap_or("GET");
    let url = r.template(sink, "url");
    if let Some(Template::Literal(url)) = &url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            r.invalid(
                sink,
                "url",
                format!("`url` of node `{}` is `{url}`, which is not an http or https URL", node.id),
                "write a full URL such as \"https://api.example.com/items\"".to_owned(),
            );
        }
    }
    let query = r.template_map(sink, "query").unwrap_or_default();
    let headers = r.template_map(sink, "headers").unwrap_or_default();
    for (name, _) in &headers {
        if !valid_header_name(name) {
            sink.push(
                Diagnostic::new(
                    Code::E015,
                    format!("{pointer}/headers/{}", crate::source::escape(name)),
                    format!("`{name}` is not a valid HTTP header name"),
                )
                .help("header names are letters, digits and !#$%&'*+-.^_`|~")
                .at_key(),
            );
            r.ok = false;
        }
    }
    let body_type = r.one_of(sink, "body_type", &["json", "form", "text"]).unwrap_or("json");
    let body = match r.json(sink, "body") {
        None => Body::Empty,
        Some(json) => match (body_type, json) {
            ("form", json @ Json::Object(_)) => Body::Form(json),
            ("text", Json::String(t)) => Body::Text(t),
            ("json", json) => Body::Json(json),
            (kind, _) => {
                let shape = if kind == "form" { "an object" } else { "a string" };
                r.invalid(
                    sink,
                    "body",
                    format!("with \"body_type\": \"{kind}\", `body` must be {shape}"),
                    format!("make `body` {shape}, or use \"body_type\": \"json\""),
                );
                Body::Empty
            }
        },
    };
    let auth = match (r.get("auth"), &node.credential) {
        (None, None) => Auth::None,
        (None, Some(c)) => Auth::Bearer(c.clone()),
        (Some(value), credential) => {
            let auth = match value {
                Value::String(s) if s == "bearer" => Some(Auth::Bearer(String::new())),
                Value::String(s) if s == "basic" => Some(Auth::Basic(String::new())),
                Value::Object(m)
                    if m.len() == 1 && m.get("header").and_then(Value::as_str).is_some_and(valid_header_name) =>
                {
                    Some(Auth::Header {
                        name: m["header"].as_str().unwrap_or_default().to_owned(),
                        credential: String::new(),
                    })
                }
                other => {
                    r.invalid(
                        sink,
                        "auth",
                        format!("`auth` cannot be {}", short(other)),
                        "use \"bearer\", \"basic\" or {\"header\": \"X-Api-Key\"}".to_owned(),
                    );
                    None
                }
            };
            match (auth, credential) {
                (Some(_), None) => {
                    sink.push(
                        Diagnostic::new(
                            Code::E025,
                            format!("{pointer}/auth"),
                            format!("node `{}` authenticates but names no credential", node.id),
                        )
                        .help("add \"credential\": \"<name>\" to the node, with the name declared under `credentials`"),
                    );
                    r.ok = false;
                    Auth::None
                }
                (Some(Auth::Bearer(_)), Some(c)) => Auth::Bearer(c.clone()),
                (Some(Auth::Basic(_)), Some(c)) => Auth::Basic(c.clone()),
                (Some(Auth::Header { name, .. }), Some(c)) => Auth::Header { name, credential: c.clone() },
                _ => Auth::None,
            }
        }
    };
    let expect_status = match r.get("expect_status") {
        None => None,
        Some(Value::String(s)) if s == "2xx" => None,
        Some(value) => {
            let list: Vec<&Value> = match value {
                Value::Array(items) => items.iter().collect(),
                one => vec![one],
            };
            let codes: Vec<Option<u16>> =
                list.iter().map(|v| v.as_u64().filter(|c| (100..=599).contains(c)).map(|c| c as u16)).collect();
            if list.is_empty() || codes.iter().any(Option::is_none) {
                r.invalid(
                    sink,
                    "expect_status",
                    format!("`expect_status` cannot be {}", short(value)),
                    "use a status (200), a list of statuses ([200, 404]) or \"2xx\"".to_owned(),
                );
                None
            } else {
                Some(codes.into_iter().flatten().collect())
            }
        }
    };
    let response = r.one_of(sink, "response", &["auto", "json", "text"]).unwrap_or("auto");
    let max_response_bytes =
        r.integer(sink, "max_response_bytes", 1, crate::model::HttpSettings::MAX_RESPONSE_BYTES_LIMIT);
    let response_schema = super::schema_field(&mut r, sink, "response_schema");
    match (r.ok, url) {
        (true, Some(url)) => Some(Config {
            method,
            url,
            query,
            headers,
            body,
            auth,
            expect_status,
            response,
            max_response_bytes,
            response_schema,
        }),
        _ => None,
    }
}

/// `{status, headers, body}`: the body as `response_schema` says, a string with
/// `response: text`, else anything.
pub fn output(config: &Config) -> Type {
    let body = match &config.response_schema {
        Some(schema) => Type::of_schema(schema),
        None if config.response == "text" => Type::String,
        None => Type::Any,
    };
    Type::object([("status", Type::Integer), ("headers", Type::map_of(Type::String)), ("body", body)])
}

pub fn emit(cx: &EmitCx<'_>, config: &Config) -> Result<NodeCode, EmitError> {
    let Config {
        method,
        url,
        query,
        headers,
        body,
        auth,
        expect_status,
        response,
        max_response_bytes,
        response_schema,
    } = config;
    let url = cx.string(url)?;
    let query = cx.string_pairs(query)?;
    let headers = cx.string_pairs(headers)?;
    let body = match body {
        Body::Empty => quote! { rt::http::Body::Empty },
        Body::Json(json) => {
            let json = cx.json(json)?;
            quote! { rt::http::Body::Json(#json) }
        }
        Body::Form(json) => {
            let json = cx.json(json)?;
            quote! { rt::http::Body::form(#json) }
        }
        Body::Text(t) => {
            let t = cx.string(t)?;
            quote! { rt::http::Body::Text(#t) }
        }
    };
    let auth = match auth {
        Auth::None => quote! { rt::http::Auth::None },
        Auth::Bearer(c) => quote! { rt::http::Auth::Bearer(cx.credential(#c).await?) },
        Auth::Basic(c) => quote! { rt::http::Auth::Basic(cx.credential(#c).await?) },
        Auth::Header { name, credential } => {
            quote! { rt::http::Auth::Header(#name, cx.credential(#credential).await?) }
        }
    };
    let expect = match expect_status {
        None => quote! { rt::http::Expect::Success },
        Some(codes) => quote! { rt::http::Expect::Statuses(&[#(#codes),*]) },
    };
    let response = match *response {
        "json" => quote! { rt::http::ResponseFormat::Json },
        "text" => quote! { rt::http::ResponseFormat::Text },
        _ => quote! { rt::http::ResponseFormat::Auto },
    };
    let max_response_bytes = match max_response_bytes {
        None => quote! { None },
        Some(n) => {
            let n = proc_macro2::Literal::u64_unsuffixed(*n);
            quote! { Some(#n) }
        }
    };
    // The body is checked where it arrives; a body that does not match fails the node with the
    // whole response kept in its envelope.
    let schema = response_schema.as_ref().map(|schema| {
        let name = quote::format_ident!("RESPONSE_SCHEMA_{}", cx.node.name.to_uppercase());
        let text = crate::escape::json_compact(schema);
        let doc = format!(" The `response_schema` of node `{}`: its response body must match it.", cx.node.id);
        let item = quote! { #[doc = #doc] const #name: &str = #text; };
        (name, item)
    });
    let check = schema.as_ref().map(|(name, _)| {
        let what = format!("the response body of node `{}`", cx.node.id);
        quote! {
            let response = rt::input::conform(#name, response, "/body", #what, "response_schema")?;
        }
    });
    let code = NodeCode::body(quote! {
        let request = rt::http::Request {
            method: #method,
            url: #url,
            query: #query,
            headers: #headers,
            body: #body,
            auth: #auth,
            expect: #expect,
            response: #response,
            max_response_bytes: #max_response_bytes,
        };
        let response = cx.http().send(request).await?;
        #check
        Ok(rt::Output::data(response))
    });
    Ok(match schema {
        Some((_, item)) => code.with_item(item),
        None => code,
    })
}

pub struct HttpRequest;

impl super::Kind for HttpRequest {
    fn name(&self) -> &'static str {
        "http_request"
    }

    fn summary(&self) -> &'static str {
        "Sends one HTTP request and yields `{status, headers, body}`."
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
        let mut lines = vec![format!("Sends `{}` to {}.", self.method, super::code_text(&self.url.display()))];
        if let Some(codes) = &self.expect_status {
            let codes: Vec<String> = codes.iter().map(u16::to_string).collect();
            lines.push(format!("A status other than {} fails the node.", codes.join(", ")));
        }
        if self.response_schema.is_some() {
            lines.push("The response body must match its `response_schema`.".to_owned());
        }
        lines
    }

    fn needs(&self, _cx: &EmitCx<'_>) -> Vec<super::Need> {
        super::url_origin(&self.url).map(|origin| super::Need::Host(super::HostOrigin::Literal(origin))).into_iter().collect()
    }
}
