//! The `knowledge_base` node: texts chunked, embedded through an OpenAI-compatible
//! `/embeddings` model and kept in a store; queries answered with the closest chunks.
//!
//! Stores: a JSON Lines file (one chunk per line: `{id, text, metadata, embedding}`) searched
//! exactly by cosine similarity, which needs no server; and Chroma's HTTP API (v2), for
//! collections larger than a file should hold.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{json, Map, Value};

use crate::error::{Error, ErrorKind};
use crate::flow::Output;
use crate::http::{Auth, Body, Http, Request};
use crate::llm::Endpoint;

/// Where chunks are kept.
#[derive(Debug, Clone)]
pub enum Store {
    /// A JSON Lines file, read whole for each query and rewritten (to a temporary file, then
    /// renamed) for each upsert.
    File { path: &'static str },
    /// A collection of a Chroma server (made on first use, with cosine distance).
    Chroma { url: String, tenant: String, database: String, collection: String, token: Option<String> },
}

/// The embedding model.
#[derive(Debug, Clone)]
pub struct Embedder {
    pub endpoint: Endpoint,
    pub model: String,
    /// Texts per `/embeddings` request.
    pub batch_size: usize,
}

impl Embedder {
    /// Embeds `texts` in batches, in order.
    pub async fn embed(&self, http: &Http, texts: &[String]) -> Result<Vec<Vec<f64>>, Error> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.batch_size.max(1)) {
            let url = format!("{}/embeddings", self.endpoint.base_url.trim_end_matches('/'));
            let body = json!({"model": self.model, "input": batch});
            let request = Request::api("POST", url, Body::Json(body), self.endpoint.api_key.clone());
            let response = http.send(request).await?;
            let data = response["body"]["data"].as_array().cloned().unwrap_or_default();
            let mut vectors: Vec<(u64, Vec<f64>)> = data
                .iter()
                .map(|item| {
                    let vector = item["embedding"].as_array().map(|v| v.iter().filter_map(Value::as_f64).collect());
                    (item["index"].as_u64().unwrap_or(u64::MAX), vector.unwrap_or_default())
                })
                .collect();
            vectors.sort_by_key(|(index, _)| *index);
            if vectors.len() != batch.len() || vectors.iter().any(|(_, v)| v.is_empty()) {
                return Err(Error::validation(format!(
                    "the embeddings answer has {} vectors for {} texts",
                    vectors.len(),
                    batch.len()
                ))
                .with_code("invalid_embeddings")
                .with_data(response));
            }
            out.extend(vectors.into_iter().map(|(_, v)| v));
        }
        Ok(out)
    }
}

/// One chunk, as stored.
#[derive(Debug, Clone)]
struct Chunk {
    id: String,
    text: String,
    metadata: Value,
    embedding: Vec<f64>,
}

/// Splits a text into chunks of at most `size` characters. A chunk ends at the last paragraph
/// break in its second half, else the last line break, else the last sentence end (`. `,
/// `! `, `? `), else the last space, else at `size`; the next one starts at the first word that
/// begins within the last `overlap` characters of it (none: where it ended). Chunks are
/// trimmed; empty ones are left out.
pub fn split(text: &str, size: usize, overlap: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = size.max(1);
    let overlap = overlap.min(size / 2);
    let mut out = Vec::new();
    let mut start = 0;
    while start < chars.len() {
        let mut end = (start + size).min(chars.len());
        if end < chars.len() {
            let window: String = chars[start..end].iter().collect();
            let half = window.char_indices().nth(size / 2).map_or(0, |(i, _)| i);
            let found = ["\n\n", "\n", ". ", "! ", "? ", " "]
                .iter()
                .find_map(|sep| window[half..].rfind(sep).map(|at| half + at + sep.len()));
            if let Some(byte) = found {
                end = start + window[..byte].chars().count();
            }
        }
        let chunk: String = chars[start..end].iter().collect::<String>().trim().to_owned();
        if !chunk.is_empty() {
            out.push(chunk);
        }
        if end >= chars.len() {
            break;
        }
        let mut next = end.saturating_sub(overlap).max(start + 1);
        // Not in the middle of a word.
        while next < end && !chars[next - 1].is_whitespace() {
            next += 1;
        }
        start = next;
    }
    out
}

/// Cosine similarity; 0 for a zero vector.
fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}

/// A stable id for a text without one: the first 16 hex digits of its SHA-256.
fn text_id(text: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(text.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Upserts into the file store serialise per path within the process.
fn file_lock(path: &Path) -> Arc<tokio::sync::Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let locks = LOCKS.get_or_init(Default::default);
    locks.lock().unwrap_or_else(|e| e.into_inner()).entry(path.to_owned()).or_default().clone()
}

fn read_file(path: &Path) -> Result<Vec<Chunk>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::config(format!("cannot read the knowledge base {}: {e}", path.display()))),
    };
    let mut chunks = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let value: Value = serde_json::from_str(line).map_err(|e| {
            Error::config(format!("the knowledge base {} is damaged at line {}: {e}", path.display(), n + 1))
                .with_code("damaged_store")
        })?;
        chunks.push(Chunk {
            id: value["id"].as_str().unwrap_or_default().to_owned(),
            text: value["text"].as_str().unwrap_or_default().to_owned(),
            metadata: value["metadata"].clone(),
            embedding: value["embedding"]
                .as_array()
                .map(|v| v.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default(),
        });
    }
    Ok(chunks)
}

fn write_file(path: &Path, chunks: &[Chunk]) -> Result<(), Error> {
    let io = |e: std::io::Error| Error::config(format!("cannot write the knowledge base {}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut text = String::new();
    for c in chunks {
        text.push_str(
            &json!({"id": c.id, "text": c.text, "metadata": c.metadata, "embedding": c.embedding}).to_string(),
        );
        text.push('\n');
    }
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&temporary, text).map_err(io)?;
    std::fs::rename(&temporary, path).map_err(io)
}

impl Store {
    fn chroma_root(url: &str, tenant: &str, database: &str) -> String {
        format!("{}/api/v2/tenants/{tenant}/databases/{database}/collections", url.trim_end_matches('/'))
    }

    fn chroma_request(method: &'static str, url: String, body: Value, token: &Option<String>) -> Request {
        let mut request = Request::api(method, url, Body::Json(body), None);
        if let Some(token) = token {
            request.auth = Auth::Header("x-chroma-token", token.clone());
        }
        request
    }

    /// The collection's id (made, with cosine distance, if missing).
    async fn chroma_collection(
        http: &Http,
        url: &str,
        tenant: &str,
        database: &str,
        name: &str,
        token: &Option<String>,
    ) -> Result<String, Error> {
        let body = json!({"name": name, "get_or_create": true, "metadata": {"hnsw:space": "cosine"}});
        let response = http
            .send(Self::chroma_request("POST", Self::chroma_root(url, tenant, database), body, token))
            .await
            .map_err(chroma_error)?;
        response["body"]["id"].as_str().map(str::to_owned).ok_or_else(|| {
            Error::validation("Chroma's answer names no collection id")
                .with_code("invalid_store_response")
                .with_data(response.clone())
        })
    }

    async fn upsert(&self, http: &Http, chunks: Vec<Chunk>) -> Result<(), Error> {
        match self {
            Store::File { path } => {
                let path = Path::new(path);
                let lock = file_lock(path);
                let _held = lock.lock().await;
                let mut stored = read_file(path)?;
                for chunk in chunks {
                    match stored.iter_mut().find(|c| c.id == chunk.id) {
                        Some(old) => *old = chunk,
                        None => stored.push(chunk),
                    }
                }
                write_file(path, &stored)
            }
            Store::Chroma { url, tenant, database, collection, token } => {
                let id = Self::chroma_collection(http, url, tenant, database, collection, token).await?;
                let metadatas: Vec<Value> = chunks.iter().map(|c| scalar_metadata(&c.metadata)).collect();
                let body = json!({
                    "ids": chunks.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
                    "embeddings": chunks.iter().map(|c| &c.embedding).collect::<Vec<_>>(),
                    "documents": chunks.iter().map(|c| c.text.as_str()).collect::<Vec<_>>(),
                    "metadatas": metadatas,
                });
                let url = format!("{}/{id}/upsert", Self::chroma_root(url, tenant, database));
                http.send(Self::chroma_request("POST", url, body, token)).await.map_err(chroma_error)?;
                Ok(())
            }
        }
    }

    /// The `top_k` chunks closest to `vector`, best first, as `(chunk, score)`.
    async fn query(&self, http: &Http, vector: &[f64], top_k: usize) -> Result<Vec<(Chunk, f64)>, Error> {
        match self {
            Store::File { path } => {
                let stored = read_file(Path::new(path))?;
                if let Some(other) = stored.iter().find(|c| c.embedding.len() != vector.len()) {
                    return Err(Error::validation(format!(
                        "the knowledge base {path} holds vectors of {} numbers and the query's has {}: it was built with another embedding model",
                        other.embedding.len(),
                        vector.len()
                    ))
                    .with_code("dimension_mismatch"));
                }
                let mut scored: Vec<(Chunk, f64)> = stored
                    .into_iter()
                    .map(|c| {
                        let score = cosine(&c.embedding, vector);
                        (c, score)
                    })
                    .collect();
                scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.id.cmp(&b.0.id)));
                scored.truncate(top_k);
                Ok(scored)
            }
            Store::Chroma { url, tenant, database, collection, token } => {
                let id = Self::chroma_collection(http, url, tenant, database, collection, token).await?;
                let body = json!({"query_embeddings": [vector], "n_results": top_k, "include": ["documents", "metadatas", "distances"]});
                let url = format!("{}/{id}/query", Self::chroma_root(url, tenant, database));
                let response = http.send(Self::chroma_request("POST", url, body, token)).await.map_err(chroma_error)?;
                let body = &response["body"];
                let ids = body["ids"][0].as_array().cloned().unwrap_or_default();
                Ok(ids
                    .iter()
                    .enumerate()
                    .map(|(k, id)| {
                        let chunk = Chunk {
                            id: id.as_str().unwrap_or_default().to_owned(),
                            text: body["documents"][0][k].as_str().unwrap_or_default().to_owned(),
                            metadata: body["metadatas"][0][k].clone(),
                            embedding: Vec::new(),
                        };
                        // Cosine distance is 1 − similarity.
                        (chunk, 1.0 - body["distances"][0][k].as_f64().unwrap_or(1.0))
                    })
                    .collect())
            }
        }
    }
}

/// Chroma takes metadata values that are scalars: other values go as JSON text.
fn scalar_metadata(metadata: &Value) -> Value {
    match metadata {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::Array(_) | Value::Object(_) => Value::String(v.to_string()),
                        other => other.clone(),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        _ => Value::Object(Map::new()),
    }
}

/// Chroma's error body (`{"error", "message"}`) becomes the message.
fn chroma_error(mut error: Error) -> Error {
    if let Some(message) = error.data.as_ref().and_then(|d| d["body"]["message"].as_str()) {
        error.message = format!("Chroma: {message} (HTTP {})", error.status.unwrap_or_default());
    }
    error
}

/// A query, as a `knowledge_base` node with `operation: query` compiles to.
pub struct Query {
    pub store: Store,
    pub embedder: Embedder,
    pub query: String,
    pub top_k: usize,
    /// Matches scoring lower are left out.
    pub min_score: Option<f64>,
}

impl Query {
    /// Output `data`: `{query, matches: [{id, text, score, metadata}], text}` (`text`: the
    /// matches' texts, best first, separated by blank lines).
    pub async fn send(self, http: &Http) -> Result<Output, Error> {
        let vector = self.embedder.embed(http, std::slice::from_ref(&self.query)).await?.remove(0);
        let found = self.store.query(http, &vector, self.top_k).await?;
        let matches: Vec<Value> = found
            .iter()
            .filter(|(_, score)| self.min_score.is_none_or(|min| *score >= min))
            .map(|(c, score)| json!({"id": c.id, "text": c.text, "score": score, "metadata": c.metadata}))
            .collect();
        let text = matches.iter().filter_map(|m| m["text"].as_str()).collect::<Vec<_>>().join("\n\n");
        let count = matches.len();
        Ok(Output::data(json!({"query": self.query, "matches": matches, "text": text}))
            .with_metadata("matches", Value::from(count)))
    }
}

/// An upsert, as a `knowledge_base` node with `operation: upsert` compiles to.
pub struct Upsert {
    pub store: Store,
    pub embedder: Embedder,
    /// A text, an object `{text, id?, metadata?}`, or an array of them.
    pub documents: Value,
    pub chunk_size: usize,
    pub chunk_overlap: usize,
}

impl Upsert {
    /// Output `data`: `{documents, chunks, ids}`: how many documents and chunks were stored,
    /// and the chunks' ids (`<document id>#<n>`).
    pub async fn send(self, http: &Http) -> Result<Output, Error> {
        let documents = match self.documents {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            one => vec![one],
        };
        let mut chunks = Vec::new();
        for (d, document) in documents.iter().enumerate() {
            let (text, id, metadata) = match document {
                Value::String(text) => (text.as_str(), None, Value::Object(Map::new())),
                Value::Object(map) => match map.get("text").and_then(Value::as_str) {
                    Some(text) => (
                        text,
                        map.get("id").and_then(Value::as_str),
                        map.get("metadata").cloned().filter(Value::is_object).unwrap_or(json!({})),
                    ),
                    None => {
                        return Err(Error::validation(format!("document {d} has no `text` string"))
                            .with_code("invalid_document"))
                    }
                },
                other => {
                    return Err(Error::new(
                        ErrorKind::Validation,
                        format!("document {d} is {other}, not a text or {{text, id?, metadata?}}"),
                    )
                    .with_code("invalid_document"))
                }
            };
            let id = id.map_or_else(|| text_id(text), str::to_owned);
            for (n, piece) in split(text, self.chunk_size, self.chunk_overlap).into_iter().enumerate() {
                let mut metadata = metadata.clone();
                metadata["document"] = json!(id);
                metadata["chunk"] = json!(n);
                chunks.push(Chunk { id: format!("{id}#{n}"), text: piece, metadata, embedding: Vec::new() });
            }
        }
        let texts: Vec<String> = chunks.iter().map(|c| c.text.clone()).collect();
        let vectors = self.embedder.embed(http, &texts).await?;
        for (chunk, vector) in chunks.iter_mut().zip(vectors) {
            chunk.embedding = vector;
        }
        let ids: Vec<String> = chunks.iter().map(|c| c.id.clone()).collect();
        let count = chunks.len();
        if !chunks.is_empty() {
            self.store.upsert(http, chunks).await?;
        }
        Ok(Output::data(json!({"documents": documents.len(), "chunks": count, "ids": ids})))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_prefers_paragraphs_then_sentences_and_overlaps() {
        let text = "First paragraph here.\n\nSecond one is a little longer. It has two sentences.";
        assert_eq!(
            split(text, 40, 0),
            ["First paragraph here.", "Second one is a little longer.", "It has two sentences."]
        );
        let words = "alpha beta gamma delta epsilon zeta eta theta";
        assert_eq!(split(words, 20, 6), ["alpha beta gamma", "gamma delta epsilon", "zeta eta theta"]);
        assert_eq!(split("abcdefghij", 4, 1), ["abcd", "efgh", "ij"], "no break in sight: cut at size");
        assert_eq!(split("", 10, 2), Vec::<String>::new());
        assert_eq!(split("héllo wörld", 100, 10), ["héllo wörld"]);
    }

    #[test]
    fn cosine_and_ids() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 0.0]) - 1.0).abs() < 1e-9);
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 1.0]), 0.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
        assert_eq!(text_id("a"), text_id("a"));
        assert_eq!(text_id("a").len(), 16);
    }

    #[test]
    fn the_file_store_round_trips() {
        let dir = std::env::temp_dir().join(format!("flowc-kb-{}", std::process::id()));
        let path = dir.join("kb.jsonl");
        let chunks =
            vec![Chunk { id: "a#0".into(), text: "t".into(), metadata: json!({"k": 1}), embedding: vec![0.5, 0.25] }];
        write_file(&path, &chunks).unwrap();
        let back = read_file(&path).unwrap();
        assert_eq!((back[0].id.as_str(), back[0].embedding.as_slice()), ("a#0", [0.5, 0.25].as_slice()));
        std::fs::write(&path, "{not json\n").unwrap();
        assert_eq!(read_file(&path).unwrap_err().code.as_deref(), Some("damaged_store"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
