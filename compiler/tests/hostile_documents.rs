//! Documents made to crash the checker: each must get a diagnostic, on a test thread's small
//! stack (2 MiB), so the nesting limits, not the CLI's large stack, are what holds.

use serde_json::json;

fn flow(node: serde_json::Value) -> String {
    json!({
        "version": 1,
        "id": "hostile",
        "nodes": [ { "id": "in", "type": "input" }, node, { "id": "out", "type": "output", "config": { "name": "x", "value": "{{ n.x }}" } } ],
        "edges": [ { "source": "in", "target": "n" }, { "source": "n", "target": "out" } ]
    })
    .to_string()
}

fn messages(text: &str) -> String {
    let diagnostics = flowc::check("hostile.json", text).expect_err("the document is refused");
    diagnostics.render()
}

#[test]
fn two_thousand_nested_braces_in_a_code_node_are_a_diagnostic() {
    // 2,000 braces, and the parentheses of `json!(1)` inside them.
    let rust = format!("{}json!(1){}", "{".repeat(2000), "}".repeat(2000));
    let out = messages(&flow(json!({ "id": "n", "type": "code", "config": { "rust": rust } })));
    assert!(out.contains("nests brackets 2001 levels deep; at most 128"), "{out}");
}

#[test]
fn five_thousand_pipes_in_a_jq_filter_are_a_diagnostic() {
    let filter = format!("{}.", ". | ".repeat(5000));
    let out = messages(&flow(json!({ "id": "n", "type": "transform", "config": { "jq": filter } })));
    assert!(out.contains("chains 5000 `|` and `,`; at most 1000"), "{out}");
}

#[test]
fn thirty_five_hundred_nested_parentheses_in_a_branch_condition_are_a_diagnostic() {
    let condition = format!("{}true{}", "(".repeat(3500), ")".repeat(3500));
    let out = messages(&flow(json!({ "id": "n", "type": "branch", "config": { "condition": condition } })));
    assert!(out.contains("nests brackets 3500 levels deep"), "{out}");
}
