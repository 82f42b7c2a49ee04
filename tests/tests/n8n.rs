//! n8n workflows compiled as they are: workflows we wrote in n8n's export format
//! (`fixtures/n8n/`), translated, built and run, each giving the items n8n's documentation says
//! its nodes give; and what cannot be compiled, as diagnostics into the original file.

use flowc_tests::bin::flowc;
use flowc_tests::flows::{build_imported, fixture, run, run_with};
use serde_json::{json, Value};

/// Every item `json` of node `name`'s output `output`, over its runs.
fn items<'a>(result: &'a Value, name: &str, output: usize) -> &'a Value {
    let node = result["nodes"].get(name).unwrap_or_else(|| panic!("no envelope for {name} in {result:#}"));
    &node["data"][output]
}

/// Edit Fields (v3.4) computes fields per item and keeps the others; If (v2.2) sends each item
/// down the output its condition picks, both in one run; the true branch reads the items they
/// came from, two nodes back, through pairing (`$('Edit Fields').item`).
#[test]
fn an_if_sends_items_down_both_outputs_and_pairing_finds_their_origin() {
    let binary = build_imported("n8n", "orders-by-size");
    let input = json!([
        {"name": "ann", "item": "pen", "price": 2, "qty": 3},
        {"name": "bob", "item": "ink", "price": 5, "qty": 4}
    ]);
    let ran = run(&binary, &input, &[], &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let result = &ran.result;
    assert_eq!(result["status"], "success", "{result:#}");
    assert_eq!(
        items(result, "Edit Fields", 0),
        &json!([
            {"name": "ann", "item": "pen", "price": 2, "qty": 3, "customer": "ANN", "total": 6, "line": "3 × pen for ann"},
            {"name": "bob", "item": "ink", "price": 5, "qty": 4, "customer": "BOB", "total": 20, "line": "4 × ink for bob"}
        ])
    );
    // Without `includeOtherFields`, only the fields set; `$itemIndex` is the index in this run.
    assert_eq!(
        result["outputs"],
        json!({
            "Big": [{"label": "big order from BOB", "original_price": 5, "index": 0}],
            "Small": [{"name": "ann", "item": "pen", "price": 2, "qty": 3, "customer": "ANN", "total": 6, "line": "3 × pen for ann"}]
        }),
        "{result:#}"
    );
    assert_eq!(items(result, "Is it big?", 0).as_array().map(Vec::len), Some(1));
    assert_eq!(items(result, "Is it big?", 1).as_array().map(Vec::len), Some(1));
    // The sticky note is not a node of the program.
    assert!(!ran.stdout.contains("Sticky Note"));

    // Without input, the manual trigger gives one empty item: `$json.name` is undefined, and
    // `undefined.toUpperCase()` fails the node as n8n's expression would.
    let ran = run_with(&binary, &[], &[]);
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    assert_eq!(ran.result["status"], "error");
    let failed = &ran.result["nodes"]["Edit Fields"];
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Cannot read properties of undefined (reading 'toUpperCase')"),
        "{failed:#}"
    );
}

/// Filter (v2, `or`, case-insensitive) keeps the items one condition holds for, Limit keeps
/// the last two, Edit Fields (v3.2, nothing else kept) writes dotted names as nested fields,
/// and Merge appends its inputs in input order once both have run (v1 order: the upper branch
/// first).
#[test]
fn filter_limit_set_and_merge_give_n8ns_items() {
    let binary = build_imported("n8n", "tagged-feed");
    let input = json!([
        {"title": " Rust 2026 ", "tags": ["lang"]},
        {"title": "Go news", "tags": ["news", "go"]},
        {"title": "Cooking", "tags": []},
        {"title": "RUSTY nails", "tags": ["diy"]}
    ]);
    let ran = run(&binary, &input, &[], &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(
        ran.result["outputs"],
        json!({"Together": [
            {"title": "Go news", "tags": ["news", "go"]},
            {"title": "RUSTY nails", "tags": ["diy"]},
            {"title": "Rust 2026", "meta": {"count": 1, "first": "lang"}},
            {"title": "Go news", "meta": {"count": 2, "first": "news"}},
            {"title": "Cooking", "meta": {"count": 0, "first": "none"}},
            {"title": "RUSTY nails", "meta": {"count": 1, "first": "diy"}}
        ]}),
        "{:#}",
        ran.result
    );
    assert_eq!(items(&ran.result, "Rust or news", 0).as_array().map(Vec::len), Some(3));
}

/// What this version cannot compile is one diagnostic per cause, in the original file: a node
/// type, an expression outside the subset, a node name the workflow does not have.
#[test]
fn what_cannot_be_compiled_points_into_the_n8n_file() {
    let path = fixture("n8n", "unsupported");
    let ran = flowc(&["check", path.to_str().unwrap()], &[]);
    assert_eq!(ran.code, 1, "{ran}");
    assert!(ran.stderr.contains("error[E031]"), "{ran}");
    assert!(ran.stderr.contains("n8n node `Fetch` (n8n-nodes-base.code v2) runs JavaScript"), "{ran}");
    assert!(ran.stderr.contains("unsupported.json:5:"), "{ran}");
    assert!(ran.stderr.contains("error[E016]"), "{ran}");
    assert!(ran.stderr.contains("`$now`"), "{ran}");
    assert!(ran.stderr.contains("(at /nodes/2/parameters/assignments/assignments/0/value)"), "{ran}");
    assert!(ran.stderr.contains("error[E017]"), "{ran}");
    assert!(ran.stderr.contains("did you mean `Fetch`?"), "{ran}");
}

/// `flowc import` writes the item flow the other commands compile: a flowc document that
/// checks on its own.
#[test]
fn import_writes_an_item_flow_that_checks() {
    let path = fixture("n8n", "orders-by-size");
    let out = flowc_tests::flows::flows_dir().join("n8n-import");
    std::fs::create_dir_all(&out).unwrap();
    let written = out.join("orders-by-size.flow.json");
    let ran = flowc(&["import", path.to_str().unwrap(), "-o", written.to_str().unwrap()], &[]);
    assert_eq!(ran.code, 0, "{ran}");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&written).unwrap()).unwrap();
    assert_eq!(doc["items"], json!({"order": "v1"}));
    assert_eq!(doc["id"], "orders-by-size");
    let names: Vec<&str> = doc["nodes"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["When clicking 'Test workflow'", "Edit Fields", "Is it big?", "Big", "Small"]);
    assert_eq!(doc["nodes"][2]["type"], "if");
    assert_eq!(doc["nodes"][2]["origin"], "n8n-nodes-base.if@2.2");
    assert_eq!(doc["edges"][3], json!({"source": "Is it big?", "output": 1, "target": "Small", "input": 0}));
    let checked = flowc(&["check", written.to_str().unwrap()], &[]);
    assert_eq!(checked.code, 0, "{checked}");
}

/// An item flow's own mistakes: `.item` of a node that is not upstream (no item can have come
/// from it), an unknown operator, an edge to a missing node, an expression that reads a
/// credential's secret.
#[test]
fn item_flow_mistakes_are_compile_errors() {
    let doc = json!({
        "version": 1, "id": "mistakes", "items": {"order": "v1"},
        "nodes": [
            {"name": "Start", "type": "manual_trigger"},
            {"name": "A", "type": "noop"},
            {"name": "B", "type": "set", "config": {"fields": [{"name": "x", "value": "={{ $('A').item.json.x }}"}]}},
            {"name": "C", "type": "filter", "config": {"conditions": [{"left": "={{ $json.x }}", "operator": "number:bigger", "right": 1}]}},
            {"name": "E", "type": "http_request", "config": {"url": "={{ $env.API_URL }}/x", "auth": {"type": "bearer", "token_env": "API_TOKEN"}}},
            {"name": "F", "type": "set", "config": {"fields": [{"name": "leak", "value": "={{ $env.API_TOKEN }}"}]}},
            {"name": "G", "type": "filter", "config": {"conditions": [{"left": "={{ $json.x }}", "operator": "string:regex", "right": "^a"}]}}
        ],
        "edges": [
            {"source": "Start", "target": "A"},
            {"source": "Start", "target": "B"},
            {"source": "B", "target": "C"},
            {"source": "C", "target": "D"}
        ]
    });
    let out = flowc_tests::flows::flows_dir().join("n8n-import");
    std::fs::create_dir_all(&out).unwrap();
    let path = out.join("mistakes.json");
    std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
    let ran = flowc(&["check", path.to_str().unwrap()], &[]);
    assert_eq!(ran.code, 1, "{ran}");
    assert!(ran.stderr.contains("error[E018]") && ran.stderr.contains("`A` is not upstream"), "{ran}");
    assert!(ran.stderr.contains("error[E015]") && ran.stderr.contains("`number:bigger`"), "{ran}");
    // n8n has it, the runtime does not run it (no regular expressions): refused at compile time.
    assert!(ran.stderr.contains("unknown condition operator `string:regex`"), "{ran}");
    assert!(ran.stderr.contains("error[E011]") && ran.stderr.contains("`D`"), "{ran}");
    assert!(
        ran.stderr.contains("reads `$env.API_TOKEN`, which holds the secret of the credential of node `E`"),
        "{ran}"
    );
}

/// The node settings, as n8n applies them: `onError: continueRegularOutput` turns an item's
/// failure into an error item and goes on; `executeOnce` runs on the first item only; a node
/// whose output is empty stops its branch, unless `alwaysOutputData` gives one empty item; a
/// disabled node passes its input through; a node fed twice runs twice (`$runIndex` 0 and 1),
/// in v1's depth-first order.
#[test]
fn node_settings_change_what_runs_and_what_it_gives() {
    let binary = build_imported("n8n", "node-settings");
    let input =
        json!([{"name": "ann", "amount": "12"}, {"name": "bob", "amount": "x1"}, {"name": "cy", "amount": "7.5"}]);
    let ran = run(&binary, &input, &[], &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let result = &ran.result;
    assert_eq!(result["status"], "success");
    assert_eq!(
        result["outputs"],
        json!({
            // Edit Fields' error item keeps n8n's shape, `pairedItem` inside the json.
            "Parsed": [
                {"name": "ann", "amount": 12},
                {"error": "'amount' expects a number but we got 'x1' [item 1]", "pairedItem": {"item": 1}},
                {"name": "cy", "amount": 7.5}
            ],
            "After VIPs": [{}],
            "Run index": [{"run": 0, "who": "ann"}, {"run": 1, "who": "ann"}, {"run": 1, "who": "bob"}, {"run": 1, "who": "cy"}]
        }),
        "{result:#}"
    );
    // `$('Start').all()` is every item of Start, `{json}` each, as in n8n.
    assert_eq!(items(result, "First only", 0), &json!([{"count": 1, "first": "ann", "names": "ann, bob, cy"}]));
    assert_eq!(items(result, "Off", 0), &input);
    assert_eq!(items(result, "Nobody", 0), &json!([]));
    assert_eq!(result["nodes"]["Never"]["status"], "skipped");
    assert_eq!(result["nodes"]["Twice"]["metadata"]["runs"], 2);
}

/// Hostile strings where an n8n workflow has them (its name, node names, field names and
/// values, text around expressions): the workflow translates, builds without a warning and
/// runs, each string arriving as written.
#[test]
fn a_workflow_of_hostile_strings_builds_and_runs() {
    let h = "NUL\0 RLO\u{202e} LS\u{2028} \"q\" */ /* r#\" {{ x }} }} {% if %} $(id) `t` é🦀\n# h";
    // (A name of its own: the CoconutFlow test's document of the same strings has the flow id
    // `h` gives, and two programs of one id would share one binary in the build folder.)
    let workflow = json!({
        "name": format!("n8n {h}"),
        "nodes": [
            {"parameters": {}, "name": format!("{h} | cell"), "type": "n8n-nodes-base.manualTrigger", "typeVersion": 1, "position": [0, 0]},
            {"parameters": {"assignments": {"assignments": [
                {"id": "1", "name": h, "value": h, "type": "string"},
                {"id": "2", "name": "echo", "value": "=\"q\" */ {{ $json.a }} é🦀 `t`", "type": "string"},
                {"id": "3", "name": "code", "value": "={{ [1e400, $json[\"we\\\"ird }} key\"] ?? 'd}}', $json.list.map((x, i) => x * i + 0.5).filter(x => x > 1)] }}", "type": "array"}
            ]}, "options": {}}, "name": format!("set {h}"), "type": "n8n-nodes-base.set", "typeVersion": 3.4, "position": [200, 0]}
        ],
        "connections": {(format!("{h} | cell")): {"main": [[{"node": format!("set {h}"), "type": "main", "index": 0}]]}},
        "settings": {"executionOrder": "v1"}
    });
    let dir = flowc_tests::flows::flows_dir().join("projects").join("n8n-hostile");
    let options = flowc::Options { runtime: flowc::RuntimeSource::Path(flowc_tests::flows::root().join("runtime")) };
    let project = flowc::compile("hostile.json", &workflow.to_string(), &options).unwrap_or_else(|d| panic!("{d}"));
    project.write_to(&dir).unwrap();
    let binary = flowc_tests::flows::cargo_build(&dir, &flowc_tests::flows::flows_dir().join("target"), &[]);
    // The README's table of nodes keeps three cells a row, whatever the names hold.
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let rows: Vec<&str> = readme.lines().filter(|l| l.contains("manual_trigger") || l.contains("| set |")).collect();
    assert_eq!(rows.len(), 2, "{readme}");
    for row in rows {
        assert_eq!(row.replace("\\|", "").matches('|').count(), 4, "{row}");
    }
    let ran = run(&binary, &json!({"a": h, "list": [1, 2]}), &[], &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    // A value that does not start with `=` is text, braces and all.
    let set = &ran.result["outputs"][format!("set {h}")][0];
    assert_eq!(set[h], h, "{:#}", ran.result);
    assert_eq!(set["echo"], format!("\"q\" */ {h} é🦀 `t`"));
    // Infinity is null in JSON; `}}` inside a string literal does not end the expression.
    assert_eq!(set["code"], json!([null, "d}}", [2.5]]));
}

/// HTTP Request (v4.2) per item against a server on 127.0.0.1: the URL, query and headers
/// from each item's expressions, a bearer credential from the variable `flowc import` names, a
/// JSON body of fields with the full response, a 503 retried (`retryOnFail`: the whole node
/// runs again, every item's request sent each time, as n8n does), a 404 as an error item (`continueRegularOutput`), a text answer
/// under `data` (`executeOnce`: one request).
#[test]
fn http_requests_run_per_item_with_n8ns_shapes() {
    let server = flowc_tests::server::TestServer::start_blocking();
    let binary = build_imported("n8n", "api-calls");
    let base = server.base_url();
    let input = json!([{"base": base, "id": 1, "name": "ann"}, {"base": base, "id": 2, "name": "bob"}]);
    let ran = run(&binary, &input, &[], &[("N8N_ACME_TOKEN_TOKEN", "s3cret"), ("ACME_REGION", "us")]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let outputs = &ran.result["outputs"];
    assert_eq!(
        outputs["Shape"],
        json!([
            {"path": "/echo/users/1", "q": "ann", "auth": "Bearer s3cret", "trace": "t-0", "user": "ann", "region": "us"},
            {"path": "/echo/users/2", "q": "bob", "auth": "Bearer s3cret", "trace": "t-1", "user": "bob", "region": "us"}
        ]),
        "{:#}",
        ran.result
    );
    let posted = &outputs["Post"][1];
    assert_eq!(posted["statusCode"], 200);
    assert_eq!(posted["body"]["body"], json!({"name": "bob", "id": 2}));
    assert_eq!(posted["body"]["headers"]["content-type"], "application/json");
    // n8n sends every item's request before the node fails: both fail once, both pass on the
    // second try.
    assert_eq!(outputs["Flaky"], json!([{"ok": true, "key": "1", "calls": 2}, {"ok": true, "key": "2", "calls": 2}]));
    assert_eq!(ran.result["nodes"]["Flaky"]["attempts"], 2);
    let missing = &outputs["Missing"];
    assert_eq!(missing.as_array().map(Vec::len), Some(2));
    assert_eq!(missing[0]["error"]["status"], 404, "{missing:#}");
    assert_eq!(outputs["Text"], json!([{"data": "hello"}]));
    assert_eq!(server.requests_to("/text").len(), 1);

    // Without the credential's variable, the node fails before any request, naming it.
    let ran = run(&binary, &input, &[], &[]);
    assert_eq!(ran.code, 1);
    let fetch = &ran.result["nodes"]["Fetch"];
    assert!(fetch["error"]["message"].as_str().unwrap().contains("N8N_ACME_TOKEN_TOKEN"), "{fetch:#}");
}

/// The transform nodes on one order's lines: Split Out makes an item per line; Sort (by
/// quantity, descending), Remove Duplicates (by SKU, keeping the first) and Aggregate (each
/// field's values as a list) in a chain; Summarize per SKU (n8n's `sum_`, `unique_count_`,
/// `max_`, `concatenated_` fields, then the split field); Switch (v3.2) routes each line to the
/// first rule it matches or to the extra fallback output; Aggregate collects every item.
#[test]
fn transform_nodes_give_n8ns_items() {
    let binary = build_imported("n8n", "order-lines");
    let input = json!({"order": "A1", "customer": "ann", "lines": [
        {"sku": "pen", "qty": 2, "price": 1.5},
        {"sku": "ink", "qty": 1, "price": 4},
        {"sku": "pen", "qty": 3, "price": 1.5}
    ]});
    let ran = run(&binary, &input, &[], &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(
        ran.result["outputs"],
        json!({
            "SKUs": [{"skus": ["pen", "ink"], "qty": [3, 1]}],
            "Per SKU": [
                {"sum_qty": 5, "unique_count_price": 1, "max_price": 1.5, "concatenated_qty": "2|3", "sku": "pen"},
                {"sum_qty": 1, "unique_count_price": 1, "max_price": 4, "concatenated_qty": "1", "sku": "ink"}
            ],
            "Bulk": [{"sku": "pen", "qty": 3, "price": 1.5}],
            "Ink": [{"sku": "ink", "qty": 1, "price": 4}],
            "Other": [{"sku": "pen", "qty": 2, "price": 1.5}],
            "All lines": [{"lines": [{"sku": "pen", "qty": 2}, {"sku": "ink", "qty": 1}, {"sku": "pen", "qty": 3}]}]
        }),
        "{:#}",
        ran.result
    );
    assert_eq!(
        items(&ran.result, "By quantity", 0),
        &json!([{"sku": "pen", "qty": 3, "price": 1.5}, {"sku": "pen", "qty": 2, "price": 1.5}, {"sku": "ink", "qty": 1, "price": 4}])
    );
}

/// Stop and Error fails the workflow with its message, evaluated on its item; what ran before
/// it (the If's true branch, first in v1 order, through a Wait) keeps its items.
#[test]
fn stop_and_error_fails_the_workflow_with_its_message() {
    let binary = build_imported("n8n", "stop-on-bad-order");
    let ran = run(&binary, &json!([{"id": 1, "ok": true}, {"id": 2, "ok": false}]), &[], &[]);
    assert_eq!(ran.code, 1, "{}", ran.stdout);
    assert_eq!(ran.result["status"], "error");
    assert_eq!(ran.result["nodes"]["Fine"]["data"], json!([[{"id": 1, "ok": true}]]));
    // Wait (0.2 s) held the items that long before passing them on.
    assert_eq!(ran.result["nodes"]["Pause"]["data"], json!([[{"id": 1, "ok": true}]]));
    assert!(ran.result["nodes"]["Pause"]["duration_ms"].as_u64().unwrap() >= 200, "{:#}", ran.result["nodes"]["Pause"]);
    assert_eq!(ran.result["nodes"]["Fail"]["status"], "error");
    assert_eq!(ran.result["nodes"]["Fail"]["error"]["message"], "Order 2 is not ok");
    // Every item ok: the error branch never runs.
    let ran = run(&binary, &json!([{"id": 1, "ok": true}]), &[], &[]);
    assert_eq!(ran.code, 0, "{}", ran.stdout);
    assert_eq!(ran.result["nodes"]["Fail"]["status"], "skipped");
}

/// `flowc import --report DIR`: every workflow of a folder imported, checked and built; how
/// many compile, and the first cause of the others by node type. Files that are no tool's
/// workflow are counted apart.
#[test]
fn import_report_counts_what_compiles_and_why_the_rest_does_not() {
    let dir = flowc_tests::flows::flows_dir().join("n8n-report");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("nested")).unwrap();
    std::fs::copy(fixture("n8n", "orders-by-size"), dir.join("orders-by-size.json")).unwrap();
    std::fs::copy(fixture("n8n", "unsupported"), dir.join("nested/unsupported.json")).unwrap();
    std::fs::write(dir.join("nested/not-a-workflow.json"), "{\"a\": 1}").unwrap();
    // A link back to the folder itself: the walk must not follow it.
    std::os::unix::fs::symlink(&dir, dir.join("nested/loop")).unwrap();
    let cache = flowc_tests::flows::flows_dir().join("cli-cache");
    let ran = flowc(&["import", "--report", dir.to_str().unwrap()], &[("FLOWC_CACHE_DIR", cache.to_str().unwrap())]);
    assert_eq!(ran.code, 0, "{ran}");
    assert!(ran.stdout.contains("1 of 2 workflows check and build (50.0%); 1 other JSON files skipped"), "{ran}");
    assert!(ran.stdout.contains("ok      "), "{ran}");
    assert!(
        ran.stdout
            .contains("| n8n-nodes-base.code | 1 | E031: n8n node `Fetch` (n8n-nodes-base.code v2) runs JavaScript"),
        "{ran}"
    );
    // The program it built runs.
    let binary = cache.join("target/release/orders-by-size");
    let ran = run_with(&binary, &[], &[]);
    assert_eq!(ran.code, 1, "one empty item: `$json.name.toUpperCase()` fails, as in n8n");
}

/// Merge v3's modes on customers (input 1) and their orders (input 2): combine by a matching
/// field (inner join; input 2's value wins a clash), enrich input 1, combine by position with
/// suffixes (n8n also writes the last input's fields unsuffixed, which is kept), every
/// combination preferring input 1 (n8n loops over input 2 first then), and choose branch.
#[test]
fn merge_modes_give_n8ns_items() {
    let binary = build_imported("n8n", "merge-modes");
    let input = json!([
        {"kind": "customer", "id": 1, "name": "ann"},
        {"kind": "customer", "id": 2, "name": "bob"},
        {"kind": "order", "id": 1, "total": 10},
        {"kind": "order", "id": 3, "total": 5}
    ]);
    let ran = run(&binary, &input, &[], &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(
        ran.result["outputs"],
        json!({
            "By id": [{"kind": "order", "id": 1, "name": "ann", "total": 10}],
            "Enrich": [{"kind": "order", "id": 1, "name": "ann", "total": 10}, {"kind": "customer", "id": 2, "name": "bob"}],
            "By position": [
                {"kind_1": "customer", "id_1": 1, "name_1": "ann", "kind_2": "order", "id_2": 1, "total_2": 10, "kind": "order", "id": 1, "total": 10},
                {"kind_1": "customer", "id_1": 2, "name_1": "bob", "kind_2": "order", "id_2": 3, "total_2": 5, "kind": "order", "id": 3, "total": 5}
            ],
            "Every pair": [
                {"kind": "customer", "id": 1, "total": 10, "name": "ann"},
                {"kind": "customer", "id": 2, "total": 10, "name": "bob"},
                {"kind": "customer", "id": 1, "total": 5, "name": "ann"},
                {"kind": "customer", "id": 2, "total": 5, "name": "bob"}
            ],
            "Pick orders": [{"kind": "order", "id": 1, "total": 10}, {"kind": "order", "id": 3, "total": 5}]
        }),
        "{:#}",
        ran.result
    );
    // Each merge ran once, when both inputs had their items.
    for merge in ["By id", "Enrich", "By position", "Every pair", "Pick orders"] {
        assert_eq!(ran.result["nodes"][merge]["metadata"]["runs"], 1, "{merge}");
    }
}

/// Loop Over Items (v3) in batches of 2: the body runs once per batch (`$runIndex` 0, 1, 2),
/// pairing leads back through the loop to the trigger's items, and `done` gives every
/// processed item once the last batch came back. A cycle that no loop node closes is E013.
#[test]
fn loop_over_items_runs_the_body_per_batch() {
    let binary = build_imported("n8n", "loop-over-items");
    let ran = run(&binary, &json!([{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}, {"n": 5}]), &[], &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    let done: Vec<Value> =
        (1..=5).map(|n| json!({"n": n, "doubled": n * 2, "batch": (n - 1) / 2, "origin": n})).collect();
    assert_eq!(ran.result["outputs"], json!({"Done": done}), "{:#}", ran.result);
    assert_eq!(ran.result["nodes"]["Process"]["metadata"]["runs"], 3);
    assert_eq!(ran.result["nodes"]["Loop Over Items"]["metadata"]["runs"], 4);

    let doc = json!({
        "version": 1, "id": "endless", "items": {"order": "v1"},
        "nodes": [{"name": "Start", "type": "manual_trigger"}, {"name": "A", "type": "noop"}, {"name": "B", "type": "noop"}],
        "edges": [{"source": "Start", "target": "A"}, {"source": "A", "target": "B"}, {"source": "B", "target": "A"}]
    });
    let out = flowc_tests::flows::flows_dir().join("n8n-import");
    std::fs::create_dir_all(&out).unwrap();
    let path = out.join("endless.json");
    std::fs::write(&path, doc.to_string()).unwrap();
    let ran = flowc(&["check", path.to_str().unwrap()], &[]);
    assert_eq!(ran.code, 1, "{ran}");
    assert!(ran.stderr.contains("error[E013]") && ran.stderr.contains("no Loop Over Items node closes"), "{ran}");
}

/// If and Filter version 1, as most exported workflows still have them: conditions by type
/// (`value1`, `operation`, `value2`), evaluated booleans, dates, numbers, then strings, with
/// plain JavaScript comparisons; `any` (If's `combineOperation`) and Filter's default AND.
#[test]
fn if_and_filter_version_1_give_n8ns_items() {
    let binary = build_imported("n8n", "legacy-if");
    let input = json!([
        {"n": 1, "s": "axe", "ok": true},
        {"n": 3, "s": "", "ok": true},
        {"n": 0, "s": "b", "ok": false},
        {"n": 5, "s": "x", "ok": true}
    ]);
    let ran = run(&binary, &input, &[], &[]);
    assert_eq!(ran.code, 0, "{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(
        ran.result["outputs"],
        json!({
            "Yes": [{"n": 1, "s": "axe", "ok": true}, {"n": 3, "s": "", "ok": true}, {"n": 5, "s": "x", "ok": true}],
            "No": [{"n": 0, "s": "b", "ok": false}],
            "Kept": [{"n": 1, "s": "axe", "ok": true}, {"n": 5, "s": "x", "ok": true}]
        }),
        "{:#}",
        ran.result
    );
}
