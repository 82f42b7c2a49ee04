//! Documents made to hurt the checker, through the real `flowc` binary: deep nesting that
//! would overflow a parser's stack, bytes that are not UTF-8, and strings that would drive the
//! terminal that shows the diagnostics. Every one must get a diagnostic, an exit code of 1 and
//! never a crash.

use flowc_tests::bin::{flowc, Ran};
use serde_json::{json, Value};

/// A flow of `in → n → out` with `node` as `n`, written to a temp file.
fn flow(node: Value) -> Value {
    json!({
        "version": 1,
        "id": "hostile",
        "nodes": [ { "id": "in", "type": "input" }, node, { "id": "out", "type": "output", "config": { "name": "x", "value": "{{ n }}" } } ],
        "edges": [ { "source": "in", "target": "n" }, { "source": "n", "target": "out" } ]
    })
}

struct Doc {
    dir: std::path::PathBuf,
    path: String,
}

impl Doc {
    fn new(tag: &str, bytes: &[u8]) -> Doc {
        let dir = std::env::temp_dir().join(format!("flowc-hostile-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a temp folder");
        let path = dir.join("flow.json");
        std::fs::write(&path, bytes).expect("write the document");
        Doc { path: path.display().to_string(), dir }
    }

    /// `flowc check`, `compile` and `graph` on it: each exits 1 (never 134, a stack overflow's
    /// SIGABRT, nor 101, a panic) with the same diagnostics. Returns the human ones.
    fn refused(&self) -> String {
        let check = flowc(&["check", &self.path], &[]);
        assert_eq!(check.code, 1, "check: {check}");
        let out = self.dir.join("out").display().to_string();
        let compile = flowc(&["compile", &self.path, "-o", &out], &[]);
        assert_eq!(compile.code, 1, "compile: {compile}");
        assert_eq!(compile.stderr, check.stderr, "compile reports what check does");
        let graph = flowc(&["graph", &self.path], &[]);
        assert_eq!(graph.code, 1, "graph: {graph}");
        assert_eq!(graph.stderr, check.stderr, "graph reports what check does");
        check.stderr
    }

    fn check_json(&self) -> (Ran, Value) {
        let ran = flowc(&["check", "--format", "json", &self.path], &[]);
        let json = ran.json();
        (ran, json)
    }
}

impl Drop for Doc {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn doc(tag: &str, value: &Value) -> Doc {
    Doc::new(tag, value.to_string().as_bytes())
}

#[test]
fn two_thousand_nested_braces_in_a_code_node_are_refused_without_a_crash() {
    // The 4 KB document of the report.
    let rust = format!("{}json!(1){}", "{".repeat(2000), "}".repeat(2000));
    let stderr = doc("braces", &flow(json!({ "id": "n", "type": "code", "config": { "rust": rust } }))).refused();
    assert!(
        stderr.contains("error[E020]") && stderr.contains("nests brackets 2001 levels deep; at most 128"),
        "{stderr}"
    );
}

#[test]
fn five_thousand_pipes_in_a_jq_filter_are_refused_without_a_crash() {
    let jq = format!("{}.", ". | ".repeat(5000));
    let stderr = doc("pipes", &flow(json!({ "id": "n", "type": "transform", "config": { "jq": jq } }))).refused();
    assert!(stderr.contains("error[E019]") && stderr.contains("chains 5000 `|` and `,`; at most 1000"), "{stderr}");
}

#[test]
fn thirty_five_hundred_parentheses_in_a_branch_condition_are_refused_without_a_crash() {
    let condition = format!("{}true{}", "(".repeat(3500), ")".repeat(3500));
    let stderr =
        doc("parens", &flow(json!({ "id": "n", "type": "branch", "config": { "condition": condition } }))).refused();
    assert!(stderr.contains("error[E019]") && stderr.contains("nests brackets 3500 levels deep"), "{stderr}");
}

#[test]
fn ten_megabytes_of_nesting_are_refused_without_a_crash() {
    // JSON arrays 5 million deep, and a jq filter of 5 MB nesting inside a valid document.
    let arrays = format!("{}{}", "[".repeat(5_000_000), "]".repeat(5_000_000));
    let stderr = Doc::new("arrays", arrays.as_bytes()).refused();
    assert!(stderr.contains("error[E001]"), "{stderr}");
    let jq = format!("{}.{}", "[".repeat(2_500_000), "]".repeat(2_500_000));
    let stderr = doc("jq-arrays", &flow(json!({ "id": "n", "type": "transform", "config": { "jq": jq } }))).refused();
    assert!(stderr.contains("error[E019]") && stderr.contains("nests brackets 2500000 levels deep"), "{stderr}");
}

#[test]
fn a_document_that_is_not_utf8_is_a_json_diagnostic_with_its_position() {
    let mut bytes = b"{\n  \"version\": 1,\n  \"id\": \"caf".to_vec();
    bytes.push(0xE9); // Latin-1 é
    bytes.extend_from_slice(b"\"\n}\n");
    let doc = Doc::new("latin1", &bytes);
    let (ran, json) = doc.check_json();
    assert_eq!(ran.code, 1, "{ran}");
    assert_eq!(json["valid"], false, "{json}");
    let d = &json["diagnostics"][0];
    assert_eq!(d["code"], "E001", "{json}");
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(3), Some(13)), "{json}");
    assert!(d["message"].as_str().unwrap_or_default().contains("not UTF-8: at byte offset 30, 0xE9"), "{json}");
    // The human rendering says the same, and so does every command.
    let stderr = doc.refused();
    assert!(stderr.contains("error[E001]: the file is not UTF-8") && stderr.contains(":3:13"), "{stderr}");
}

#[test]
fn terminal_escape_sequences_in_a_document_reach_diagnostics_escaped() {
    // A node id with a colour sequence, a carriage return that would overwrite the line and a
    // right-to-left override (the message shows the decoded id), and an unknown field whose
    // name holds a raw C1 CSI (U+009B) and a raw override (the snippet shows the file's text).
    let node = json!({ "id": "n\u{1b}[31mred\r\u{202e}", "type": "transform", "config": { "jq": "." }, "\u{9b}2J\u{202e}": 1 });
    let text = flow(node).to_string();
    assert!(text.contains('\u{9b}') && text.contains('\u{202e}'), "serde_json writes them raw");
    let ran = flowc(&["check", &Doc::new("escapes", text.as_bytes()).path], &[]);
    assert_eq!(ran.code, 1, "{ran}");
    for raw in ['\u{1b}', '\r', '\u{9b}', '\u{202e}'] {
        assert!(!ran.stderr.contains(raw), "U+{:04X} reached the terminal raw:\n{}", raw as u32, ran.stderr);
    }
    assert!(ran.stderr.contains("n\\u{1b}[31mred\\u{d}\\u{202e}"), "{}", ran.stderr);
    // The caret stays under the escaped text: it points at the unknown key's opening quote.
    let lines: Vec<&str> = ran.stderr.lines().collect();
    let at = lines.iter().position(|l| l.starts_with("1 | ") && l.contains("\\u{9b}2J")).expect("the snippet line");
    let (snippet, caret) = (lines[at], lines[at + 1]);
    let column = caret.find('^').expect("a caret");
    assert!(
        snippet[column..].starts_with("\"\\u{9b}2J\\u{202e}\""),
        "the caret points at the key:\n{snippet}\n{caret}"
    );
}

#[test]
fn field_names_from_a_document_reach_describe_escaped() {
    // A schema property whose name holds a raw C1 CSI and a right-to-left override.
    let node = json!({ "id": "in", "type": "input", "config": { "schema": { "type": "object",
        "properties": { "a\u{9b}2J\u{202e}": { "type": "string" } } } } });
    let text = json!({ "version": 1, "id": "hostile", "nodes": [node], "edges": [] }).to_string();
    let ran = flowc(&["describe", &Doc::new("describe", text.as_bytes()).path], &[]);
    assert_eq!(ran.code, 0, "{ran}");
    for raw in ['\u{9b}', '\u{202e}'] {
        assert!(!ran.stdout.contains(raw), "U+{:04X} reached the terminal raw:\n{}", raw as u32, ran.stdout);
    }
    assert!(ran.stdout.contains("a\\u{9b}2J\\u{202e}"), "{}", ran.stdout);
}
