//! Documents made to crash the checker: each must get a diagnostic that says which limit it
//! passed, called from a test thread (2 MiB of stack): the library checks on a thread of its
//! own sized for its limits, and the limits bound how deep anything recurses.

use serde_json::json;

fn flow(node: serde_json::Value) -> String {
    json!({
        "version": 1,
        "id": "hostile",
        "nodes": [ { "id": "in", "type": "input" }, node, { "id": "out", "type": "output", "config": { "name": "x", "value": "{{ n }}" } } ],
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

#[test]
fn a_jq_filter_at_the_limits_is_checked_and_typed_on_a_small_stack() {
    // 1,000 `|` in a row and brackets 128 deep: allowed, so parsed and typed, each level a
    // recursion of jaq's parser and of flowc's type inference.
    let chain = format!("{}.", ". | ".repeat(1000));
    let nested = format!("{}.{}", "[".repeat(128), "]".repeat(128));
    for filter in [chain, nested] {
        let text = flow(json!({ "id": "n", "type": "transform", "config": { "jq": filter } }));
        if let Err(d) = flowc::check("limits.json", &text) {
            panic!("{}", d.render());
        }
    }
}
