//! `knowledge_base`: chunks embedded by the embeddings stand-in (`tests/src/server/embeddings.rs`)
//! and kept in a JSON Lines file, or in a real Chroma server (PyPI `chromadb`, `chroma run`)
//! that the test starts on 127.0.0.1.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flowc_tests::flows::{build_with, root, run, Run};
use flowc_tests::server::TestServer;
use serde_json::{json, Value};

const KEY: (&str, &str) = ("OPENAI_API_KEY", "test-key");
const PATH: &str = "target/kb-tests/docs.jsonl";

fn docs() -> Value {
    json!([
        {"id": "rust", "text": "Rust is a systems language. Cargo builds Rust code.", "metadata": {"lang": "en"}},
        {"id": "py", "text": "Python is a scripting language. Pip installs Python packages fast."},
        "Tokio runs async Rust."
    ])
}

fn file_store(server: &TestServer, variant: &str, scenario: &str) -> (Run, std::path::PathBuf) {
    let path = format!("target/kb-tests/{variant}.jsonl");
    let file = root().join(&path);
    let binary = build_with("kb-file", variant, &[(PATH, &path)]);
    let input = json!({"docs": docs(), "question": "How does Cargo build Rust code?", "api": server.base_url(), "scenario": scenario});
    (run(&binary, &input, &[], &[KEY]), file)
}

#[test]
fn the_file_store_keeps_chunks_and_finds_the_closest() {
    let server = TestServer::start_blocking();
    let _ = std::fs::remove_file(root().join("target/kb-tests/a.jsonl"));
    let (result, file) = file_store(&server, "a", "ok");
    assert_eq!(result.code, 0, "{}", result.stderr);
    let out = &result.result["outputs"]["context"];
    assert_eq!(out["stored"], 4, "one chunk, two (the second one is longer than 60), one: {out}");
    assert_eq!(out["best"]["id"], "rust#0");
    assert_eq!(out["best"]["metadata"], json!({"lang": "en", "document": "rust", "chunk": 0}));
    let score = out["best"]["score"].as_f64().unwrap();
    assert!(score > 0.5 && score <= 1.0, "{score}");
    assert!(
        out["text"].as_str().unwrap().starts_with("Rust is a systems language. Cargo builds Rust code.\n\n"),
        "{out}"
    );
    let ids: Vec<&str> =
        result.node("store")["data"]["ids"].as_array().unwrap().iter().map(|i| i.as_str().unwrap()).collect();
    assert_eq!(ids[..3], ["rust#0", "py#0", "py#1"]);
    assert!(
        ids[3].ends_with("#0") && ids[3].len() == 18,
        "a text without an id gets 16 hex digits of its SHA-256: {ids:?}"
    );

    // Batches of two: two requests for four chunks, then one for the question.
    let calls: Vec<Value> = server.requests_to("/openai/ok/v1/embeddings").iter().map(|r| r.json()).collect();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0]["input"].as_array().unwrap().len(), 2);
    assert_eq!(calls[0]["model"], "text-embedding-3-small");
    assert_eq!(calls[2]["input"], json!(["How does Cargo build Rust code?"]));
    let lines = std::fs::read_to_string(&file).unwrap();
    assert_eq!(lines.lines().count(), 4);

    // The same documents again replace their chunks rather than add to them.
    let (again, _) = file_store(&server, "a", "ok");
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 4);
}

#[test]
fn a_store_built_with_another_model_and_a_short_answer_fail_clearly() {
    let server = TestServer::start_blocking();
    let file = root().join("target/kb-tests/b.jsonl");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let (short, _) = file_store(&server, "b", "short");
    assert_eq!(short.code, 1);
    assert_eq!(short.node("store")["error"]["code"], "invalid_embeddings", "{}", short.node("store"));
    assert_eq!(short.node("find")["status"], "skipped");

    std::fs::write(&file, "{\"id\": \"x#0\", \"text\": \"t\", \"metadata\": {}, \"embedding\": [1, 0, 0]}\n").unwrap();
    let binary = build_with("kb-file", "b", &[(PATH, "target/kb-tests/b.jsonl")]);
    let input = json!({"docs": [], "question": "q", "api": server.base_url()});
    let mismatch = run(&binary, &input, &[], &[KEY]);
    assert_eq!(mismatch.node("store")["data"]["chunks"], 0);
    assert_eq!(mismatch.node("find")["error"]["code"], "dimension_mismatch", "{}", mismatch.node("find"));
    std::fs::write(&file, "{broken\n").unwrap();
    let damaged = run(&binary, &input, &[], &[KEY]);
    assert_eq!(damaged.node("find")["error"]["code"], "damaged_store");
}

/// `chroma run` on a free port, with its data in a temporary folder; killed on drop.
struct Chroma {
    child: Child,
    url: String,
    dir: std::path::PathBuf,
}

impl Chroma {
    fn start() -> Chroma {
        let port = flowc_tests::free_port();
        let dir = std::env::temp_dir().join(format!("flowc-chroma-{}-{port}", std::process::id()));
        // scripts/test installs it in a virtual environment and names it; else it is on PATH.
        let program = std::env::var("FLOWC_TEST_CHROMA").unwrap_or_else(|_| "chroma".to_owned());
        let child = Command::new(&program)
            .args(["run", "--host", "127.0.0.1", "--port", &port.to_string(), "--path"])
            .arg(&dir)
            .env("ANONYMIZED_TELEMETRY", "False")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("start `{program} run`: {e}; install it with `pip install chromadb==1.5.9` (scripts/test does)")
            });
        let url = format!("http://127.0.0.1:{port}");
        let began = Instant::now();
        let agent = flowc_tests::http_agent();
        while agent.get(&format!("{url}/api/v2/heartbeat")).call().is_err() {
            assert!(began.elapsed() < Duration::from_secs(60), "chroma did not answer within 60 s");
            std::thread::sleep(Duration::from_millis(200));
        }
        Chroma { child, url, dir }
    }
}

impl Drop for Chroma {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn a_chroma_collection_keeps_chunks_and_finds_the_closest() {
    let server = TestServer::start_blocking();
    let chroma = Chroma::start();
    let binary = flowc_tests::flows::build("kb-chroma");
    let input = json!({"docs": docs(), "question": "How does Cargo build Rust code?", "api": server.base_url(),
                       "chroma": chroma.url, "collection": "flowc-docs"});
    let result = run(&binary, &input, &[], &[KEY]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    let matches = result.result["outputs"]["context"].as_array().unwrap().clone();
    assert_eq!(matches.len(), 2);
    assert_eq!(matches[0]["id"], "rust#0");
    assert_eq!(matches[0]["metadata"]["lang"], "en");
    assert_eq!(matches[0]["text"], "Rust is a systems language. Cargo builds Rust code.");
    // Chroma's cosine distance, as a similarity, agrees with the file store's.
    let q = flowc_tests::server::embeddings::embedding("How does Cargo build Rust code?");
    let d = flowc_tests::server::embeddings::embedding("Rust is a systems language. Cargo builds Rust code.");
    let dot: f64 = q.iter().zip(&d).map(|(a, b)| a * b).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let cosine = dot / (norm(&q) * norm(&d));
    let score = matches[0]["score"].as_f64().unwrap();
    assert!((score - cosine).abs() < 1e-3, "{score} against {cosine}");

    // A second run upserts the same ids: the collection still holds four chunks.
    let again = run(&binary, &input, &[], &[KEY]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    let agent = flowc_tests::http_agent();
    let base = format!("{}/api/v2/tenants/default_tenant/databases/default_database/collections", chroma.url);
    let collection: Value = serde_json::from_str(
        &agent.get(&format!("{base}/flowc-docs")).call().unwrap().body_mut().read_to_string().unwrap(),
    )
    .unwrap();
    let id = collection["id"].as_str().unwrap();
    let count = agent.get(&format!("{base}/{id}/count")).call().unwrap().body_mut().read_to_string().unwrap();
    assert_eq!(count.trim(), "4");
}
