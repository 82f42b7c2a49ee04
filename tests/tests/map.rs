//! `map` nodes end to end: items in order, bounded concurrency, isolated failures, fail-fast,
//! deadlines that keep what finished, nested maps, dead letters and replay, and a rate limit
//! shared by map items and concurrent nodes.

use std::collections::BTreeSet;
use std::time::Duration;

use flowc_tests::flows::{build, build_with, run, run_with};
use flowc_tests::server::TestServer;
use serde_json::{json, Value};

/// Items `0..n`; those in `failing` call `/flaky/{key}-{i}?fail=1` (a 503 the first time,
/// 200 after), the others `/slow/{key}-{i}?ms={ms}`.
fn items(key: &str, n: usize, failing: &BTreeSet<usize>, ms: u64) -> Value {
    Value::Array(
        (0..n)
            .map(|i| {
                let path = if failing.contains(&i) {
                    format!("/flaky/{key}-{i}?fail=1")
                } else {
                    format!("/slow/{key}-{i}?ms={ms}")
                };
                json!({ "id": i, "path": path })
            })
            .collect(),
    )
}

/// A fresh folder for a test's files, under the target folder.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = flowc_tests::flows::flows_dir().join("scratch").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The record of item `index` in a map's envelope (only items that did not succeed have one).
fn record(map: &Value, index: usize) -> &Value {
    let records = map["metadata"]["items"].as_array().expect("metadata.items");
    records.iter().find(|r| r["index"] == index).unwrap_or_else(|| panic!("no record of item {index}: {records:#?}"))
}

fn read_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

#[test]
fn a_thousand_items_keep_their_order_their_failures_and_a_dead_letter_each() {
    let server = TestServer::start_blocking();
    let failing: BTreeSet<usize> = (0..1000).filter(|i| i % 20 == 7).collect();
    assert_eq!(failing.len(), 50);
    let binary = build("map-items");
    let dir = scratch("map-thousand");
    let letters = dir.join("dead.jsonl");
    let input = json!({ "base_url": server.base_url(), "items": items("k", 1000, &failing, 5) });
    let first = run(&binary, &input, &["--dead-letter", letters.to_str().unwrap()], &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.status(), "partial", "failed items under on_error: continue make the run partial");

    let map = first.node("each");
    assert_eq!(map["status"], "error");
    assert_eq!(map["metadata"]["handled_by"], "continue");
    assert_eq!(map["error"]["code"], "items_failed");
    assert_eq!(map["error"]["kind"], "server_error");
    assert_eq!(
        map["metadata"]["counts"],
        json!({"total": 1000, "success": 950, "partial": 0, "error": 50, "skipped": 0})
    );
    let data = map["data"].as_array().unwrap();
    assert_eq!(data.len(), 1000);
    for (i, result) in data.iter().enumerate() {
        if failing.contains(&i) {
            assert_eq!(*result, Value::Null, "item {i}");
        } else {
            assert_eq!(*result, json!({"index": i, "id": i, "status": 200}), "item {i}");
        }
    }
    // A record of each failed item, in item order, with its input, error and nodes.
    let records = map["metadata"]["items"].as_array().unwrap();
    let recorded: Vec<usize> = records.iter().map(|r| r["index"].as_u64().unwrap() as usize).collect();
    assert_eq!(recorded, failing.iter().copied().collect::<Vec<_>>());
    for r in records {
        assert_eq!(r["status"], "error");
        assert_eq!(r["error"]["status"], 503);
        assert_eq!(r["item"]["id"], r["index"], "a failed item keeps its input");
        assert_eq!(r["nodes"]["fetch"]["status"], "error", "and its nodes' envelopes");
        assert_eq!(r["nodes"]["result"]["status"], "skipped");
    }
    // Downstream of the map runs on what the items produced.
    assert_eq!(first.result["outputs"]["succeeded"], 950);
    assert_eq!(first.result["outputs"]["results"].as_array().unwrap().len(), 1000);

    // Every item called the server once (no retry), at most 8 at once (the map's concurrency).
    let calls = server.requests_to("/slow/k-").len() + server.requests_to("/flaky/k-").len();
    assert_eq!(calls, 1000);
    let overlap = server.max_overlap("/slow/k-");
    assert!((2..=8).contains(&overlap), "at most 8 items at once, and more than one: {overlap}");

    // The dead letters: exactly the 50 failed items, with their inputs and errors.
    let lines = read_lines(&letters);
    let indices: BTreeSet<usize> = lines.iter().map(|l| l["index"].as_u64().unwrap() as usize).collect();
    assert_eq!(lines.len(), 50);
    assert_eq!(indices, failing);
    for line in &lines {
        assert_eq!(line["kind"], "map_item");
        assert_eq!((&line["flow"], &line["node"]), (&json!("map-items"), &json!("each")));
        assert_eq!(line["item"]["id"], line["index"]);
        assert_eq!(line["error"]["kind"], "server_error");
        assert_eq!(line["run_input"]["base_url"], server.base_url());
    }

    // A replay runs exactly those items again; the flaky endpoint answers 200 the second time.
    let again = dir.join("again.jsonl");
    let replay =
        run_with(&binary, &["--replay", letters.to_str().unwrap(), "--dead-letter", again.to_str().unwrap()], &[]);
    assert_eq!(replay.code, 0, "{}", replay.stderr);
    assert_eq!(replay.status(), "success");
    let map = replay.node("each");
    assert_eq!(map["metadata"]["counts"]["total"], 50);
    let replayed: Vec<u64> = map["data"].as_array().unwrap().iter().map(|r| r["index"].as_u64().unwrap()).collect();
    assert_eq!(replayed, failing.iter().map(|&i| i as u64).collect::<Vec<_>>(), "the old indices, in order");
    assert_eq!(map["data"][0], json!({"index": 7, "id": 7, "status": 200}));
    assert_eq!(map["metadata"]["items"], json!([]), "every replayed item succeeded");
    let flaky = server.requests_to("/flaky/k-");
    assert_eq!(flaky.len(), 100, "each failed item was called once more");
    assert_eq!(server.requests_to("/slow/k-").len(), 950, "no item that had succeeded ran again");
    assert_eq!(read_lines(&again).len(), 0, "nothing failed in the replay: an empty dead-letter file");
}

#[test]
fn on_error_fail_starts_no_item_after_a_failure() {
    let server = TestServer::start_blocking();
    let binary =
        build_with("map-items", "fail-fast", &[("\"label\": \"Fetch each item\", \"on_error\": \"continue\",", "")]);
    // Item 3 fails at once; the others take 300 ms, so items 0..8 are in flight when it does.
    let failing = BTreeSet::from([3]);
    let letters = scratch("map-fail-fast").join("dead.jsonl");
    let input = json!({ "base_url": server.base_url(), "items": items("ff", 20, &failing, 300) });
    let result = run(&binary, &input, &["--dead-letter", letters.to_str().unwrap()], &[]);
    assert_eq!(result.code, 1, "{}", result.stdout);
    assert_eq!(result.status(), "error");
    let map = result.node("each");
    assert_eq!(map["metadata"]["counts"], json!({"total": 20, "success": 7, "partial": 0, "error": 1, "skipped": 12}));
    assert_eq!(record(map, 3)["status"], "error");
    for i in 8..20 {
        assert_eq!(record(map, i)["status"], "skipped");
        assert_eq!(record(map, i)["reason"], "not run: item 3 failed, and the map's on_error is fail");
    }
    assert!(map["error"]["message"].as_str().unwrap().contains("12 items were not started"), "{map}");
    assert_eq!(server.requests_to("/slow/ff-").len(), 7, "no item was started after the failure");
    assert_eq!(result.node("count")["status"], "skipped");
    // The failed item and the twelve that never ran are dead letters.
    let lines = read_lines(&letters);
    assert_eq!(lines.len(), 13);
    assert_eq!(lines.iter().filter(|l| l["status"] == "skipped").count(), 12);
}

#[test]
fn the_flow_deadline_cuts_a_map_and_keeps_the_items_that_finished() {
    let server = TestServer::start_blocking();
    let binary = build_with(
        "map-items",
        "deadline",
        &[(
            "\"settings\": { \"max_concurrency\": 16 }",
            "\"settings\": { \"max_concurrency\": 16, \"timeout_ms\": 1500 }",
        )],
    );
    // Items 0..4 answer in 50 ms, the others stall for 10 s: 4..12 take the 8 places (the
    // map's concurrency) and stall, 12 and 13 never start.
    let items: Vec<Value> = (0..14)
        .map(|i| json!({ "id": i, "path": format!("/slow/cut-{i}?ms={}", if i < 4 { 50 } else { 10_000 }) }))
        .collect();
    let result = run(&binary, &json!({ "base_url": server.base_url(), "items": items }), &[], &[]);
    assert_eq!(result.code, 1, "{}", result.stdout);
    assert_eq!(result.status(), "error");
    let map = result.node("each");
    assert_eq!(map["error"]["code"], "flow_deadline");
    assert_eq!(map["metadata"]["counts"], json!({"total": 14, "success": 4, "partial": 0, "error": 8, "skipped": 2}));
    for i in 0..4 {
        assert_eq!(
            map["data"][i],
            json!({"index": i, "id": i, "status": 200}),
            "item {i} finished before the deadline"
        );
    }
    for i in 4..12 {
        assert_eq!(record(map, i)["status"], "error");
        assert_eq!(record(map, i)["error"]["kind"], "timeout");
        assert!(record(map, i)["item"]["path"].as_str().unwrap().contains("ms=10000"));
    }
    assert_eq!(record(map, 12)["status"], "skipped");
    assert_eq!(
        record(map, 13)["reason"],
        "not run: the map was cut short: the flow's deadline of 1500 ms passed while this node ran"
    );
    assert_eq!(result.node("count")["status"], "skipped");
    assert!(result.result["duration_ms"].as_u64().unwrap() < 5000, "the stalled calls were not waited for");
    // The stalled requests were cancelled: the server saw their connections close.
    std::thread::sleep(Duration::from_millis(200));
    let stalled: Vec<_> = server.requests_to("/slow/cut-").into_iter().filter(|r| r.query.contains("10000")).collect();
    assert_eq!(stalled.len(), 8);
    assert!(stalled.iter().all(|r| r.status.is_none()), "{stalled:#?}");
}

#[test]
fn nested_maps_read_their_item_their_index_and_nodes_outside() {
    let binary = build("map-grid");
    let result = run(
        &binary,
        &json!({ "label": "g", "rows": [ { "cells": [1, 7] }, { "cells": [] }, { "cells": [30] } ] }),
        &[],
        &[],
    );
    assert_eq!(result.code, 0, "{}", result.stderr);
    let cell = |value: i64, big: bool, index: usize| json!({ "value": value, "big": big, "cell": index, "grid": "g" });
    assert_eq!(
        result.result["outputs"]["rows"],
        json!([
            { "row": 0, "sum": 16, "cells": [cell(2, false, 0), cell(14, true, 1)] },
            { "row": 1, "sum": 0, "cells": [] },
            { "row": 2, "sum": 60, "cells": [cell(60, true, 0)] },
        ])
    );
    assert_eq!(result.node("rows")["metadata"]["counts"]["success"], 3);
}

#[test]
fn a_map_whose_items_are_not_an_array_fails_with_a_clear_error() {
    let binary =
        build_with("map-grid", "not-array", &[("\"items\": \"{{ item.cells }}\"", "\"items\": \"{{ item }}\"")]);
    let result = run(&binary, &json!({ "rows": [ { "cells": [1] } ] }), &[], &[]);
    assert_eq!(result.code, 1, "{}", result.stdout);
    let row = record(result.node("rows"), 0);
    assert_eq!(row["status"], "error");
    assert_eq!(row["error"]["code"], "items_not_array");
    assert_eq!(row["error"]["message"], "the map's `items` must be an array, and it is an object");
    assert_eq!(row["nodes"]["cells"]["status"], "error", "the inner map's envelope is kept");
}

#[test]
fn a_rate_limit_holds_across_map_items_and_concurrent_nodes() {
    let server = TestServer::start_blocking();
    let binary = build("map-rate-limited");
    let items: Vec<Value> = (0..90).map(|i| json!(i)).collect();
    let result = run(&binary, &json!({ "base_url": server.base_url(), "items": items }), &[], &[("API_TOKEN", "t")]);
    assert_eq!(result.code, 0, "{}", result.stderr);
    assert_eq!(result.status(), "success");
    let mut times: Vec<_> = server.requests_to("/echo/").into_iter().map(|r| r.received_at).collect();
    assert_eq!(times.len(), 100);
    assert_eq!(server.requests_to("/echo/side-").len(), 10);
    times.sort();
    let times: Vec<f64> = times.iter().map(|t| (*t - times[0]).as_secs_f64()).collect();
    // 20 a second with a burst of 5: no window of `w` seconds holds more than 5 + 20 w calls,
    // and 100 calls take at least (100 - 5) / 20 s. The times are when the server received
    // each call, not when the limiter let it go: on a loaded machine a delayed call arrives
    // with the next one, so one call and 50 ms of slack (without a limit, all 100 arrive
    // within milliseconds).
    for (i, start) in times.iter().enumerate() {
        for (j, end) in times.iter().enumerate().skip(i) {
            let allowed = 6.0 + 20.0 * (end - start + 0.05);
            assert!((j - i + 1) as f64 <= allowed, "calls {i}..={j} within {:.3} s", end - start);
        }
    }
    assert!(times[99] >= 4.5, "100 calls at 20/s with a burst of 5 take about 4.75 s, not {:.2} s", times[99]);
}

#[test]
fn ctrl_c_during_a_map_reports_every_item_and_exits_130() {
    use std::process::{Command, Stdio};
    let server = TestServer::start_blocking();
    let binary = build("map-items");
    let items: Vec<Value> = (0..14)
        .map(|i| json!({ "id": i, "path": format!("/slow/int-{i}?ms={}", if i < 4 { 20 } else { 10_000 }) }))
        .collect();
    let input = json!({ "base_url": server.base_url(), "items": items }).to_string();
    let child = Command::new(&binary)
        .args(["run", "--input-json", &input])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the eight stalling items are in flight, interrupt the program.
    let began = std::time::Instant::now();
    while server.requests_to("/slow/int-").len() < 12 {
        assert!(began.elapsed() < Duration::from_secs(20), "the items never reached the server");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Command::new("kill").arg("-INT").arg(child.id().to_string()).status().unwrap();
    assert!(sent.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", String::from_utf8_lossy(&output.stderr));
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["status"], "cancelled");
    let map = &result["nodes"]["each"];
    assert_eq!(map["error"]["code"], "interrupted");
    assert_eq!(map["metadata"]["counts"], json!({"total": 14, "success": 4, "partial": 0, "error": 8, "skipped": 2}));
    assert_eq!(record(map, 5)["error"]["kind"], "cancelled");
    assert_eq!(map["data"][3], json!({"index": 3, "id": 3, "status": 200}), "finished items keep their results");
    assert_eq!(result["nodes"]["count"]["status"], "skipped");
}
