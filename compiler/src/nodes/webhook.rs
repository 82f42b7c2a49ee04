//! `webhook`: starts the flow from an HTTP request in `<bin> serve`, optionally signed with an
//! HMAC-SHA256 of its body; yields `{method, path, query, headers, body}`.

use crate::types::Type;
use quote::quote;
use serde_json::Value;

use super::{CheckCx, TypeCx};
use crate::check::reader::{Field, Reader, Ty};
use crate::diag::{did_you_mean, Code, Diagnostic};
use crate::emit::{EmitCx, EmitError, NodeCode};

pub const HMAC_FIELDS: &[Field] = &[
    Field::req("credential", Ty::String, "the credential whose secret signs the requests"),
    Field::opt(
        "header",
        Ty::String,
        "the header that carries the signature, hex or `sha256=<hex>` (default `X-Signature-256`)",
    ),
    Field::opt(
        "timestamp_header",
        Ty::String,
        "a header with the time of signing (Unix seconds); signs `<timestamp>.<body>`",
    ),
    Field::opt(
        "tolerance_secs",
        Ty::Integer,
        "how far that time may be from now, and how long a request is remembered (default 300)",
    ),
    Field::opt(
        "id_header",
        Ty::String,
        "a header that identifies each delivery (its idempotency key; default: the signature)",
    ),
];

pub const FIELDS: &[Field] = &[
    Field::opt("path", Ty::String, "where `<bin> serve` answers it (default `/webhook/<node id>`)"),
    Field::opt("method", Ty::Enum(METHODS), "the HTTP method (default POST)"),
    Field::opt("hmac", Ty::Object(HMAC_FIELDS), "require an HMAC-SHA256 signature of the body"),
    Field::opt(
        "response",
        Ty::Enum(RESPONSES),
        "what the request is answered with: the whole run result (`result`, the default) or only its outputs (`outputs`)",
    ),
    Field::opt(
        "schema",
        Ty::Schema,
        "a JSON Schema subset the request body must match (checked when the node runs); what reads `body` is checked against it",
    ),
];

const METHODS: &[&str] = &["POST", "PUT", "PATCH", "GET", "DELETE"];
const RESPONSES: &[&str] = &["result", "outputs"];

/// Paths `<bin> serve` answers itself.
const RESERVED: &[&str] = &["/run", "/healthz", "/readyz", "/metrics", "/mcp"];

#[derive(Debug, Clone)]
pub struct Config {
    pub path: String,
    pub method: &'static str,
    pub hmac: Option<Hmac>,
    /// `result` or `outputs`.
    pub response: &'static str,
    /// The schema the request body must match.
    pub schema: Option<serde_json::Value>,
}

#[derive(Debug, Clone)]
pub struct Hmac {
    pub credential: String,
    pub header: String,
    pub timestamp_header: Option<String>,
    pub tolerance_secs: u64,
    pub id_header: Option<String>,
}

pub fn check(cx: &mut CheckCx<'_>) -> Option<Config> {
    let credentials = cx.scope.credentials;
    let (mut r, sink, node) = cx.read(FIELDS)?;
    let path = r.string(sink, "path").map(str::to_owned).unwrap_or_else(|| format!("/webhook/{}", node.id));
    let valid = path.starts_with('/')
        && path.len() > 1
        && path.chars().all(|c| c.is_ascii_alphanumeric() || "/-_.~".contains(c))
        && !path.contains("//");
    if !valid {
        r.invalid(
            sink,
            "path",
            format!("`{path}` is not a webhook path"),
            "write a path such as \"/hooks/github\": it starts with `/`, and holds letters, digits, `/`, `-`, `_`, `.` and `~`".to_owned(),
        );
    } else if let Some(taken) = RESERVED.iter().find(|p| path == **p || path.starts_with(&format!("{p}/"))) {
        r.invalid(
            sink,
            "path",
            format!("`{path}` is a path `<bin> serve` answers itself ({taken})"),
            "choose another path, such as \"/hooks/<name>\"".to_owned(),
        );
    }
    let method = r.one_of(sink, "method", METHODS).unwrap_or("POST");
    let response = r.one_of(sink, "response", RESPONSES).unwrap_or("result");
    let schema = super::schema_field(&mut r, sink, "schema");
    let hmac = match r.get("hmac") {
        None => None,
        Some(value) => hmac(sink, value, &r.child("hmac"), credentials),
    };
    if r.get("hmac").is_some() && hmac.is_none() {
        r.ok = false;
    }
    r.ok.then_some(Config { path, method, hmac, response, schema })
}

fn hmac(sink: &mut crate::check::reader::Sink, value: &Value, pointer: &str, credentials: &[String]) -> Option<Hmac> {
    let mut r = Reader::new(sink, value, pointer, HMAC_FIELDS, "`hmac`")?;
    let credential = r.string(sink, "credential").map(str::to_owned);
    if let Some(name) = &credential {
        if !credentials.contains(name) {
            let help = match did_you_mean(name, credentials.iter().map(String::as_str)) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("declare it: \"credentials\": {{\"{name}\": {{\"env\": \"WEBHOOK_SECRET\"}}}}"),
            };
            sink.push(
                Diagnostic::new(
                    Code::E014,
                    r.child("credential"),
                    format!("the webhook's `hmac` names the credential `{name}`, which the flow does not declare"),
                )
                .help(help),
            );
            r.ok = false;
        }
    }
    let header_name = |r: &mut Reader<'_>, sink: &mut crate::check::reader::Sink, field: &str| {
        let name = r.string(sink, field)?;
        let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            r.invalid(
                sink,
                field,
                format!("`{name}` is not a header name"),
                "write a header name such as \"X-Hub-Signature-256\"".to_owned(),
            );
            return None;
        }
        Some(name.to_ascii_lowercase())
    };
    let header = header_name(&mut r, sink, "header").unwrap_or_else(|| "x-signature-256".to_owned());
    let timestamp_header = header_name(&mut r, sink, "timestamp_header");
    let id_header = header_name(&mut r, sink, "id_header");
    let tolerance_secs = r.integer(sink, "tolerance_secs", 1, 86_400).unwrap_or(300);
    match (r.ok, credential) {
        (true, Some(credential)) => Some(Hmac { credential, header, timestamp_header, tolerance_secs, id_header }),
        _ => None,
    }
}

/// The static that describes the webhook to `<bin> serve`.
pub fn trigger_static(cx: &EmitCx<'_>, config: &Config) -> (proc_macro2::Ident, proc_macro2::TokenStream) {
    let name = quote::format_ident!("WEBHOOK_{}", cx.node.name.to_uppercase());
    let (path, method) = (&config.path, config.method);
    let hmac = match &config.hmac {
        None => quote! { None },
        Some(h) => {
            let (credential, header) = (&h.credential, &h.header);
            let option = |v: &Option<String>| match v {
                Some(v) => quote! { Some(#v) },
                None => quote! { None },
            };
            let timestamp_header = option(&h.timestamp_header);
            let id_header = option(&h.id_header);
            let tolerance = proc_macro2::Literal::u64_unsuffixed(h.tolerance_secs);
            quote! {
                Some(rt::webhook::Hmac {
                    credential: #credential,
                    header: #header,
                    timestamp_header: #timestamp_header,
                    tolerance_secs: #tolerance,
                    id_header: #id_header,
                })
            }
        }
    };
    let response = match config.response {
        "outputs" => quote! { rt::webhook::Response::Outputs },
        _ => quote! { rt::webhook::Response::RunResult },
    };
    let doc = format!(
        " Where `serve` answers node `{}`, how it checks the requests' signatures and what it answers.",
        cx.node.id
    );
    let item = quote! {
        #[doc = #doc]
        static #name: rt::webhook::Webhook = rt::webhook::Webhook {
            method: #method,
            path: #path,
            hmac: #hmac,
            response: #response,
        };
    };
    (name, item)
}

/// `{method, path, query, headers, body}`: the body is the request's JSON, not known here.
pub fn output(config: &Config) -> Type {
    Type::object([
        ("method", Type::String),
        ("path", Type::String),
        ("query", Type::map_of(Type::Any)),
        ("headers", Type::map_of(Type::String)),
        ("body", config.schema.as_ref().map_or(Type::Any, Type::of_schema)),
    ])
}

pub fn emit(cx: &EmitCx<'_>, config: &Config) -> Result<NodeCode, EmitError> {
    let (_, item) = trigger_static(cx, config);
    let Some(schema) = &config.schema else {
        return Ok(NodeCode::body(quote! { Ok(rt::Output::data(cx.webhook_request())) }).with_item(item));
    };
    let name = quote::format_ident!("BODY_SCHEMA_{}", cx.node.name.to_uppercase());
    let text = crate::escape::json_compact(schema);
    let doc = format!(" The `schema` of node `{}`: the request body must match it.", cx.node.id);
    let what = format!("the request body of webhook `{}`", cx.node.id);
    Ok(NodeCode::body(quote! {
        let request = rt::input::conform(#name, cx.webhook_request(), "/body", #what, "schema")?;
        Ok(rt::Output::data(request))
    })
    .with_item(item)
    .with_item(quote! {
        #[doc = #doc]
        const #name: &str = #text;
    }))
}

pub struct Webhook;

impl super::Kind for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn summary(&self) -> &'static str {
        "Starts the flow from an HTTP request (`serve`) and yields `{method, path, query, headers, body}`."
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn role(&self) -> super::Role {
        super::Role::Trigger
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
        let mut lines = vec![format!("Starts the flow on `{}` requests to {} in `serve`.", self.method, super::code_text(&self.path))];
        if let Some(hmac) = &self.hmac {
            lines.push(format!("Each request must be signed (HMAC-SHA256 in {}).", super::code_text(&hmac.header)));
        }
        if self.schema.is_some() {
            lines.push("The request body must match its `schema`.".to_owned());
        }
        lines
    }

    fn needs(&self, _cx: &EmitCx<'_>) -> Vec<super::Need> {
        self.hmac.iter().map(|hmac| super::Need::Credential(hmac.credential.clone())).collect()
    }

    fn trigger(&self) -> Option<super::Trigger<'_>> {
        Some(super::Trigger::Webhook)
    }

    fn trigger_entry(&self, cx: &EmitCx<'_>) -> Option<proc_macro2::TokenStream> {
        let (name, _) = trigger_static(cx, self);
        Some(quote! { rt::Trigger::Webhook(&#name) })
    }
}
