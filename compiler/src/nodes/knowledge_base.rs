//! `knowledge_base`: `upsert` chunks texts, embeds them (an OpenAI-compatible `/embeddings`
//! model) and stores them; `query` embeds a text and yields the closest chunks. The store is
//! a JSON Lines file (no server) or a Chroma collection.

use quote::quote;
use serde_json::Value;

use super::{CheckCx, TypeCx};
use crate::check::reader::{short, Field, Json, Ty};
use crate::diag::{Code, Diagnostic};
use crate::emit::{EmitCx, EmitError, NodeCode};
use crate::template::Template;
use crate::types::Type;

pub const FIELDS: &[Field] = &[
    Field::req("operation", Ty::Enum(&["query", "upsert"]), "`query`: the chunks closest to `query`; `upsert`: store `documents`"),
    Field::req(
        "store",
        Ty::Other("{\"type\": \"file\", \"path\"} or {\"type\": \"chroma\", \"url\", \"collection\", ...}"),
        "where the chunks are kept",
    ),
    super::llm::ENDPOINT_FIELDS[0],
    super::llm::ENDPOINT_FIELDS[1],
    super::llm::ENDPOINT_FIELDS[2],
    Field::opt("query", Ty::Template, "with query: the text to find chunks for"),
    Field::opt("top_k", Ty::Integer, "with query: how many chunks, 1 to 100 (default 5)"),
    Field::opt("min_score", Ty::Number, "with query: leave out chunks whose cosine similarity is lower, -1 to 1"),
    Field::opt(
        "documents",
        Ty::Json,
        "with upsert: a text, {text, id?, metadata?}, or an array of them; strings may hold templates",
    ),
    Field::opt("chunk_size", Ty::Integer, "with upsert: the most characters per chunk, 50 to 100000 (default 1000)"),
    Field::opt("chunk_overlap", Ty::Integer, "with upsert: characters repeated from the previous chunk (default 200, at most half of chunk_size)"),
    Field::opt("batch_size", Ty::Integer, "texts per embeddings request, 1 to 2048 (default 64)"),
];

const FILE_FIELDS: &[&str] = &["type", "path"];
const CHROMA_FIELDS: &[&str] = &["type", "url", "collection", "tenant", "database", "credential"];

#[derive(Debug, Clone)]
enum Store {
    File { path: String },
    Chroma { url: Template, collection: Template, tenant: String, database: String, credential: Option<String> },
}

#[derive(Debug, Clone)]
enum Operation {
    Query { query: Template, top_k: u64, min_score: Option<f64> },
    Upsert { documents: Json, chunk_size: u64, chunk_overlap: u64 },
}

#[derive(Debug, Clone)]
pub struct Config {
    store: Store,
    model: Template,
    base_url: Option<Template>,
    credential: Option<String>,
    batch_size: u64,
    operation: Operation,
}

fn read_store(cx: &mut CheckCx<'_>, value: &Value, at: &str) -> Option<Store> {
    let node = cx.node;
    let Value::Object(map) = value else {
        cx.sink.push(
            Diagnostic::new(Code::E002, at, format!("`store` must be an object, not {}", short(value)))
                .help("e.g. {\"type\": \"file\", \"path\": \"kb/docs.jsonl\"}"),
        );
        return None;
    };
    let kind = map.get("type").and_then(Value::as_str);
    let fields = match kind {
        Some("file") => FILE_FIELDS,
        Some("chroma") => CHROMA_FIELDS,
        _ => {
            cx.sink.push(
                Diagnostic::new(Code::E015, format!("{at}/type"), format!("the store of node `{}` has the type {}", node.id, map.get("type").map_or("nothing".to_owned(), short)))
                    .help("a store is {\"type\": \"file\", \"path\"} or {\"type\": \"chroma\", \"url\", \"collection\"}"),
            );
            return None;
        }
    };
    let mut ok = true;
    for key in map.keys().filter(|k| !fields.contains(&k.as_str())) {
        cx.sink.push(
            Diagnostic::new(Code::E003, format!("{at}/{}", crate::source::escape(key)), format!("unknown field `{key}` in the store of node `{}`", node.id))
                .help(format!("a {} store has the fields {}", kind.unwrap_or_default(), crate::check::reader::list(fields.iter().copied())))
                .at_key(),
        );
        ok = false;
    }
    let text = |key: &str| map.get(key).and_then(Value::as_str).filter(|s| !s.trim().is_empty());
    let mut required = |cx: &mut CheckCx<'_>, key: &str| {
        let found = text(key);
        if found.is_none() {
            cx.sink.push(
                Diagnostic::new(Code::E004, at, format!("the store of node `{}` has no `{key}`", node.id))
                    .help(if key == "path" { "name the file, e.g. \"kb/docs.jsonl\"" } else { "e.g. \"url\": \"http://127.0.0.1:8000\", \"collection\": \"docs\"" }),
            );
            ok = false;
        }
        found
    };
    match kind {
        Some("file") => {
            let path = required(cx, "path")?.to_owned();
            if path.contains('\0') || path.contains("{{") {
                cx.sink.push(
                    Diagnostic::new(Code::E015, format!("{at}/path"), "the store's path must be a plain file path")
                        .help("the path is written in the document, not taken from run data"),
                );
                ok = false;
            }
            ok.then_some(Store::File { path })
        }
        _ => {
            let url = required(cx, "url").map(str::to_owned);
            let collection = required(cx, "collection").map(str::to_owned);
            let credential = text("credential").map(str::to_owned);
            if let Some(name) = &credential {
                if !cx.scope.credentials.contains(name) {
                    cx.sink.push(
                        Diagnostic::new(Code::E014, format!("{at}/credential"), format!("the store of node `{}` uses the credential `{name}`, which the flow does not declare", node.id))
                            .help(format!("declare it: \"credentials\": {{\"{name}\": {{\"env\": \"CHROMA_TOKEN\"}}}}")),
                    );
                    ok = false;
                }
            }
            let url = url.and_then(|u| crate::check::reader::parse_template(cx.sink, &u, &format!("{at}/url")));
            let collection = collection.and_then(|c| crate::check::reader::parse_template(cx.sink, &c, &format!("{at}/collection")));
            match (ok, url, collection) {
                (true, Some(url), Some(collection)) => Some(Store::Chroma {
                    url,
                    collection,
                    tenant: text("tenant").unwrap_or("default_tenant").to_owned(),
                    database: text("database").unwrap_or("default_database").to_owned(),
                    credential,
                }),
                _ => None,
            }
        }
    }
}

pub fn check(cx: &mut CheckCx<'_>) -> Option<Config> {
    let (mut r, sink, node) = cx.read(FIELDS)?;
    let what = r.what().to_owned();
    let pointer = r.pointer.clone();
    let operation = r.one_of(sink, "operation", &["query", "upsert"]);
    let model = r.template(sink, "model");
    let base_url = super::llm::read_endpoint(&mut r, sink, node);
    let query = r.template(sink, "query");
    let top_k = r.integer(sink, "top_k", 1, 100).unwrap_or(5);
    let min_score = r.number(sink, "min_score", -1.0, 1.0);
    let documents = r.json(sink, "documents");
    let chunk_size = r.integer(sink, "chunk_size", 50, 100_000).unwrap_or(1000);
    let chunk_overlap = r.integer(sink, "chunk_overlap", 0, chunk_size / 2).unwrap_or(200.min(chunk_size / 2));
    let batch_size = r.integer(sink, "batch_size", 1, 2048).unwrap_or(64);
    let (needs, other): (&[&str], &[&str]) = match operation {
        Some("query") => (&["query"], &["documents", "chunk_size", "chunk_overlap"]),
        Some(_) => (&["documents"], &["query", "top_k", "min_score"]),
        None => (&[], &[]),
    };
    let missing: Vec<&str> = needs.iter().copied().filter(|f| r.get(f).is_none()).collect();
    for field in missing {
        sink.push(
            Diagnostic::new(Code::E004, pointer.clone(), format!("{what} does `{}` but has no `{field}`", operation.unwrap_or_default()))
                .help(if field == "query" { "add \"query\": \"{{ in.question }}\"" } else { "add \"documents\": \"{{ page.markdown }}\" (a text, {text, id?, metadata?}, or an array of them)" }),
        );
        r.ok = false;
    }
    let extra: Vec<&str> = other.iter().copied().filter(|f| r.get(f).is_some()).collect();
    for field in extra {
        let operation = operation.unwrap_or_default();
        r.invalid(sink, field, format!("{what} does `{operation}`, which takes no `{field}`"), format!("remove `{field}`, or change `operation`"));
    }
    let store_value = r.get("store").cloned();
    let ok = r.ok;
    drop(r);
    let store = store_value.and_then(|v| read_store(cx, &v, &format!("{pointer}/store")));
    let operation = match operation? {
        "query" => Operation::Query { query: query?, top_k, min_score },
        _ => Operation::Upsert { documents: documents?, chunk_size, chunk_overlap },
    };
    match (ok, store, model) {
        (true, Some(store), Some(model)) => {
            Some(Config { store, model, base_url, credential: cx.node.credential.clone(), batch_size, operation })
        }
        _ => None,
    }
}

pub struct KnowledgeBase;

impl super::Kind for KnowledgeBase {
    fn name(&self) -> &'static str {
        "knowledge_base"
    }

    fn summary(&self) -> &'static str {
        "Stores texts as embedded chunks (upsert) or finds the chunks closest to a text (query), in a file or a Chroma collection."
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
        match self.operation {
            Operation::Query { .. } => {
                let matched = Type::object([("id", Type::String), ("text", Type::String), ("score", Type::Number), ("metadata", Type::Any)]);
                Type::object([("query", Type::String), ("matches", Type::array(matched)), ("text", Type::String)])
            }
            Operation::Upsert { .. } => {
                Type::object([("documents", Type::Integer), ("chunks", Type::Integer), ("ids", Type::array(Type::String))])
            }
        }
    }

    fn emit(&self, cx: &EmitCx<'_>) -> Result<NodeCode, EmitError> {
        let endpoint = super::llm::emit_endpoint(cx, &self.base_url, &self.credential)?;
        let model = cx.string(&self.model)?;
        let batch = proc_macro2::Literal::usize_unsuffixed(self.batch_size as usize);
        let store = match &self.store {
            Store::File { path } => quote! { rt::knowledge::Store::File { path: #path } },
            Store::Chroma { url, collection, tenant, database, credential } => {
                let url = cx.string(url)?;
                let collection = cx.string(collection)?;
                let token = cx.api_key(credential);
                quote! {
                    rt::knowledge::Store::Chroma {
                        url: #url,
                        tenant: #tenant.to_owned(),
                        database: #database.to_owned(),
                        collection: #collection,
                        token: #token,
                    }
                }
            }
        };
        let embedder = quote! { rt::knowledge::Embedder { endpoint: #endpoint, model: #model, batch_size: #batch } };
        let body = match &self.operation {
            Operation::Query { query, top_k, min_score } => {
                let query = cx.string(query)?;
                let top_k = proc_macro2::Literal::usize_unsuffixed(*top_k as usize);
                let min_score = super::some(min_score.map(proc_macro2::Literal::f64_unsuffixed));
                quote! {
                    let query = rt::knowledge::Query { store: #store, embedder: #embedder, query: #query, top_k: #top_k, min_score: #min_score };
                    query.send(cx.http()).await
                }
            }
            Operation::Upsert { documents, chunk_size, chunk_overlap } => {
                let documents = cx.json(documents)?;
                let size = proc_macro2::Literal::usize_unsuffixed(*chunk_size as usize);
                let overlap = proc_macro2::Literal::usize_unsuffixed(*chunk_overlap as usize);
                quote! {
                    let upsert = rt::knowledge::Upsert {
                        store: #store,
                        embedder: #embedder,
                        documents: #documents,
                        chunk_size: #size,
                        chunk_overlap: #overlap,
                    };
                    upsert.send(cx.http()).await
                }
            }
        };
        Ok(NodeCode::body(body))
    }

    fn describe(&self) -> Vec<String> {
        let store = match &self.store {
            Store::File { path } => format!("the file {}", super::code_text(path)),
            Store::Chroma { url, collection, .. } => {
                format!("Chroma collection {} at {}", super::code_text(&collection.display()), super::code_text(&url.display()))
            }
        };
        let model = super::code_text(&self.model.display());
        vec![match &self.operation {
            Operation::Query { query, top_k, .. } => format!(
                "Finds the {top_k} chunks of {store} closest to {} (embedded with {model}).",
                super::code_text(&query.display())
            ),
            Operation::Upsert { chunk_size, chunk_overlap, .. } => format!(
                "Splits its documents into chunks of at most {chunk_size} characters ({chunk_overlap} overlapping), embeds them with {model} and stores them in {store}."
            ),
        }]
    }

    fn needs(&self, _cx: &EmitCx<'_>) -> Vec<super::Need> {
        let mut needs = super::llm::endpoint_needs(&self.base_url);
        if let Store::Chroma { url, credential, .. } = &self.store {
            needs.extend(super::url_origin(url).map(|o| super::Need::Host(super::HostOrigin::Literal(o))));
            needs.extend(credential.iter().map(|c| super::Need::Credential(c.clone())));
        }
        needs
    }
}
