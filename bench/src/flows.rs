//! The five benchmark flows, each written for flowc (a flow document), for Node-RED (a flows
//! file) and for n8n (a workflow to import), with the inputs the equivalence check sends and
//! the answer every engine must give (computed here, independently of all of them).
//!
//! Every flow reads the target server's base URL from its input, so no document depends on a
//! port. A peer answers with the flow's result as its JSON body; flowc answers with its run
//! result, whose `outputs.result` is that value.

use serde_json::{json, Value};

/// How many items flow 5 maps over, and how many at once.
pub const MAP_ITEMS: usize = 1_000;
pub const MAP_CONCURRENCY: usize = 8;
/// How many calls flow 4 fans out to.
pub const FAN_OUT: usize = 20;
/// How many transforms flow 2 chains, and HTTP calls flow 3.
pub const TRANSFORMS: usize = 10;
pub const CHAIN: usize = 5;

/// One benchmark flow.
pub struct BenchFlow {
    /// Short name: the flowc flow id is `bench-<name>`, the peers' path `/bench-<name>`.
    pub name: &'static str,
    pub title: &'static str,
    /// Node executions of one run, as flowc counts them (a map's nested nodes once per item):
    /// the divisor of the per-node overhead.
    pub node_runs: u64,
    /// Target calls on the critical path of one run (in sequence): the target's own time in a
    /// run's latency is this times its mean handling time.
    pub critical_calls: f64,
    /// The flow's inputs given the target's base URL: the first is also the timed input.
    pub inputs: fn(&str) -> Vec<Value>,
    /// The result every engine must give for an input.
    pub expected: fn(&Value) -> Value,
    pub flowc: fn() -> Value,
    pub node_red: fn() -> Value,
    pub n8n: fn() -> Value,
}

impl BenchFlow {
    pub fn id(&self) -> String {
        format!("bench-{}", self.name)
    }
}

/// The five flows, in the order.
pub fn all() -> Vec<BenchFlow> {
    vec![
        BenchFlow {
            name: "webhook",
            title: "(1) webhook, answers at once",
            node_runs: 2,
            critical_calls: 0.0,
            inputs: |_| {
                vec![
                    json!({"name": "Ada Lovelace", "n": 1, "tags": ["a", "b"]}),
                    json!({"name": "Grace Hopper", "n": 2.5, "nested": {"x": null}}),
                ]
            },
            expected: |input| input.clone(),
            flowc: flowc_webhook,
            node_red: node_red_webhook,
            n8n: n8n_webhook,
        },
        BenchFlow {
            name: "transforms",
            title: "(2) 10 transforms in a chain",
            node_runs: 2 + TRANSFORMS as u64,
            critical_calls: 0.0,
            inputs: |_| vec![json!({"n": 1, "trace": []}), json!({"n": -7, "trace": ["start"]})],
            expected: |input| {
                let mut n = input["n"].as_i64().expect("n");
                let mut trace = input["trace"].as_array().expect("trace").clone();
                for i in 1..=TRANSFORMS as i64 {
                    trace.push(json!(n));
                    n = n * 2 + i;
                }
                json!({"n": n, "trace": trace})
            },
            flowc: flowc_transforms,
            node_red: node_red_transforms,
            n8n: n8n_transforms,
        },
        BenchFlow {
            name: "http-chain",
            title: "(3) 5 HTTP calls in a chain",
            node_runs: 2 + CHAIN as u64,
            critical_calls: CHAIN as f64,
            inputs: |base| vec![json!({"base_url": base, "key": "k"}), json!({"base_url": base, "key": "second"})],
            expected: |input| {
                let mut v = input["key"].as_str().expect("key").to_string();
                for i in 1..=CHAIN {
                    v = format!("{v}-{i}");
                }
                json!({"v": v})
            },
            flowc: flowc_http_chain,
            node_red: node_red_http_chain,
            n8n: n8n_http_chain,
        },
        BenchFlow {
            name: "fan-out",
            title: "(4) fan-out of 20 HTTP calls, merged",
            node_runs: 4 + FAN_OUT as u64,
            critical_calls: 1.0,
            inputs: |base| vec![json!({"base_url": base, "key": "k"}), json!({"base_url": base, "key": "other"})],
            expected: |input| {
                let key = input["key"].as_str().expect("key");
                json!({"values": (1..=FAN_OUT).map(|i| format!("{key}-{i}")).collect::<Vec<_>>()})
            },
            flowc: flowc_fan_out,
            node_red: node_red_fan_out,
            n8n: n8n_fan_out,
        },
        BenchFlow {
            name: "map",
            title: "(5) map over 1,000 items, 8 at once",
            node_runs: 3 + 2 * MAP_ITEMS as u64,
            critical_calls: (MAP_ITEMS as f64 / MAP_CONCURRENCY as f64).ceil(),
            inputs: |base| {
                let items =
                    |n: usize, from: usize| -> Vec<Value> { (from..from + n).map(|i| json!({"id": i})).collect() };
                vec![
                    json!({"base_url": base, "items": items(MAP_ITEMS, 0)}),
                    json!({"base_url": base, "items": items(3, 40)}),
                ]
            },
            expected: |input| {
                let values: Vec<String> = input["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .map(|item| format!("item-{}", item["id"]))
                    .collect();
                json!({"values": values})
            },
            flowc: flowc_map,
            node_red: node_red_map,
            n8n: n8n_map,
        },
    ]
}

// ---------------------------------------------------------------------------------------------
// flowc: flow documents (docs/flow-format.md), each served by `<bin> serve` at its webhook node's
// path.

fn flowc_doc(id: &str, description: &str, mut nodes: Vec<Value>, edges: Vec<(String, String)>) -> Value {
    // Like the peers' HTTP-in nodes: a webhook node at /<id>; its data's `body` is the input.
    // Like theirs, it answers with the flow's result (`outputs`), not every node's envelope.
    nodes.insert(
        0,
        json!({"id": "hook", "type": "webhook",
               "config": {"path": format!("/{id}"), "method": "POST", "response": "outputs"}}),
    );
    json!({
        "version": 1,
        "id": id,
        "description": description,
        "settings": {"max_concurrency": 32},
        "nodes": nodes,
        "edges": edges.into_iter().map(|(s, t)| json!({"source": s, "target": t})).collect::<Vec<_>>(),
    })
}

fn e(source: &str, target: &str) -> (String, String) {
    (source.to_string(), target.to_string())
}

fn flowc_webhook() -> Value {
    flowc_doc(
        "bench-webhook",
        "Answers at once with its input",
        vec![json!({"id": "out", "type": "output", "config": {"name": "result", "value": "{{ hook.body }}"}})],
        vec![e("hook", "out")],
    )
}

fn flowc_transforms() -> Value {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    let mut prev = "hook".to_string();
    for i in 1..=TRANSFORMS {
        let id = format!("s{i}");
        // The first step reads the request's body, the others the previous step.
        let input = if i == 1 { ".body | " } else { "" };
        nodes.push(json!({"id": id, "type": "transform",
                          "config": {"jq": format!("{input}{{n: (.n * 2 + {i}), trace: (.trace + [.n])}}")}}));
        edges.push(e(&prev, &id));
        prev = id;
    }
    nodes.push(json!({"id": "out", "type": "output", "config": {"name": "result"}}));
    edges.push(e(&prev, "out"));
    flowc_doc("bench-transforms", "Ten jq transforms in a chain", nodes, edges)
}

fn flowc_http_chain() -> Value {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    let mut prev = "hook".to_string();
    for i in 1..=CHAIN {
        let id = format!("c{i}");
        let value = if i == 1 { "{{ hook.body.key }}".to_string() } else { format!("{{{{ c{}.body.v }}}}", i - 1) };
        nodes.push(json!({"id": id, "type": "http_request",
                          "config": {"url": format!("{{{{ hook.body.base_url }}}}/echo/{value}-{i}"), "response": "json"}}));
        edges.push(e(&prev, &id));
        prev = id;
    }
    nodes.push(json!({"id": "out", "type": "output",
                      "config": {"name": "result", "value": format!("{{{{ {prev}.body }}}}")}}));
    edges.push(e(&prev, "out"));
    flowc_doc("bench-http-chain", "Five HTTP calls in a chain, each using the previous answer", nodes, edges)
}

fn flowc_fan_out() -> Value {
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for i in 1..=FAN_OUT {
        let id = format!("f{i:02}");
        nodes.push(json!({"id": id, "type": "http_request",
                          "config": {"url": format!("{{{{ hook.body.base_url }}}}/echo/{{{{ hook.body.key }}}}-{i}"), "response": "json"}}));
        edges.push(e("hook", &id));
    }
    for i in 1..=FAN_OUT {
        edges.push(e(&format!("f{i:02}"), "all"));
    }
    nodes.push(json!({"id": "all", "type": "merge", "config": {"mode": "array"}}));
    nodes.push(json!({"id": "values", "type": "transform", "config": {"jq": "{values: map(.body.v)}"}}));
    nodes.push(json!({"id": "out", "type": "output", "config": {"name": "result"}}));
    edges.push(e("all", "values"));
    edges.push(e("values", "out"));
    flowc_doc("bench-fan-out", "Twenty HTTP calls at once, merged in order", nodes, edges)
}

fn flowc_map() -> Value {
    let map = json!({"id": "each", "type": "map", "config": {
        "items": "{{ hook.body.items }}",
        "concurrency": MAP_CONCURRENCY,
        "nodes": [
            {"id": "fetch", "type": "http_request",
             "config": {"url": "{{ hook.body.base_url }}/echo/item-{{ item.id }}", "response": "json"}},
            {"id": "value", "type": "output", "config": {"value": "{{ fetch.body.v }}"}}
        ],
        "edges": [{"source": "fetch", "target": "value"}]
    }});
    let out = json!({"id": "out", "type": "output", "config": {"name": "result", "value": {"values": "{{ each }}"}}});
    flowc_doc(
        "bench-map",
        "One HTTP call per item, 8 items at once",
        vec![map, out],
        vec![e("hook", "each"), e("each", "out")],
    )
}

// ---------------------------------------------------------------------------------------------
// Node-RED: a flows file (one tab) per flow, with the core nodes a Node-RED user would use:
// `http in`, `function`, `http request` (keep-alive on), `join`, `http response`.

struct NodeRed {
    tab: String,
    nodes: Vec<Value>,
}

impl NodeRed {
    fn new(name: &str) -> NodeRed {
        let tab = format!("tab-{name}");
        NodeRed { nodes: vec![json!({"id": tab, "type": "tab", "label": format!("bench-{name}")})], tab }
    }

    /// Adds a node (its `wires` are given as lists of target ids per output).
    fn add(&mut self, id: &str, mut node: Value, wires: &[&[&str]]) {
        node["id"] = json!(id);
        node["z"] = json!(self.tab);
        node["wires"] = json!(wires);
        // Without a position, Node-RED takes a node for a config node.
        node["x"] = json!(100 + 160 * (self.nodes.len() as i64 % 8));
        node["y"] = json!(80 + 80 * (self.nodes.len() as i64 / 8));
        self.nodes.push(node);
    }

    fn http_in(&mut self, name: &str, next: &str) {
        self.add(
            "in",
            json!({"type": "http in", "url": format!("/bench-{name}"), "method": "post", "upload": false}),
            &[&[next]],
        );
    }

    fn http_response(&mut self) {
        self.add("response", json!({"type": "http response", "statusCode": "", "headers": {}}), &[]);
    }

    fn function(&mut self, id: &str, outputs: usize, code: &str, wires: &[&[&str]]) {
        self.add(
            id,
            json!({"type": "function", "func": code, "outputs": outputs, "noerr": 0,
                   "initialize": "", "finalize": "", "libs": []}),
            wires,
        );
    }

    fn http_request(&mut self, id: &str, next: &str) {
        self.add(
            id,
            json!({"type": "http request", "method": "GET", "ret": "obj", "paytoqs": "ignore", "url": "",
                   "tls": "", "persist": true, "proxy": "", "insecureHTTPParser": false, "authType": "",
                   "senderr": false, "headers": []}),
            &[&[next]],
        );
    }

    fn done(self) -> Value {
        Value::Array(self.nodes)
    }
}

fn node_red_webhook() -> Value {
    let mut f = NodeRed::new("webhook");
    f.http_in("webhook", "response");
    f.http_response();
    f.done()
}

fn node_red_transforms() -> Value {
    let mut f = NodeRed::new("transforms");
    f.http_in("transforms", "s1");
    for i in 1..=TRANSFORMS {
        let next = if i == TRANSFORMS { "response".to_string() } else { format!("s{}", i + 1) };
        let code = format!(
            "const p = msg.payload;\nmsg.payload = {{ n: p.n * 2 + {i}, trace: p.trace.concat([p.n]) }};\nreturn msg;"
        );
        f.function(&format!("s{i}"), 1, &code, &[&[&next]]);
    }
    f.http_response();
    f.done()
}

fn node_red_http_chain() -> Value {
    let mut f = NodeRed::new("http-chain");
    f.http_in("http-chain", "u1");
    for i in 1..=CHAIN {
        // The URL of call i, from the input (call 1) or the previous answer; `msg.headers` is
        // what the previous `http request` received and must not be sent on.
        let code = if i == 1 {
            "msg.base = msg.payload.base_url;\nmsg.url = msg.base + '/echo/' + encodeURIComponent(msg.payload.key + '-1');\nreturn msg;".to_string()
        } else {
            format!("msg.url = msg.base + '/echo/' + encodeURIComponent(msg.payload.v + '-{i}');\ndelete msg.headers;\nreturn msg;")
        };
        let next = format!("c{i}");
        f.function(&format!("u{i}"), 1, &code, &[&[&next]]);
        let after = if i == CHAIN { "answer".to_string() } else { format!("u{}", i + 1) };
        f.http_request(&next, &after);
    }
    f.function("answer", 1, "delete msg.headers;\nreturn msg;", &[&["response"]]);
    f.http_response();
    f.done()
}

fn node_red_fan_out() -> Value {
    let mut f = NodeRed::new("fan-out");
    f.http_in("fan-out", "fan");
    // One message per call, with `parts` so that the join node puts each answer back at its
    // place and never mixes two runs' answers.
    let fan = format!(
        "const base = msg.payload.base_url, key = msg.payload.key, n = {FAN_OUT};\n\
         const out = [];\n\
         for (let i = 1; i <= n; i++) {{\n  \
           out.push({{ req: msg.req, res: msg.res, url: base + '/echo/' + encodeURIComponent(key + '-' + i),\n    \
           parts: {{ id: msg._msgid, index: i - 1, count: n, type: 'array', len: 1 }} }});\n\
         }}\n\
         return [out];"
    );
    f.function("fan", 1, &fan, &[&["call"]]);
    f.http_request("call", "join");
    f.add(
        "join",
        json!({"type": "join", "mode": "auto", "build": "array", "property": "payload", "propertyType": "msg",
               "key": "topic", "joiner": "\\n", "joinerType": "str", "accumulate": false, "timeout": "",
               "count": "", "reduceRight": false, "reduceExp": "", "reduceInit": "", "reduceInitType": "",
               "reduceFixup": ""}),
        &[&["values"]],
    );
    f.function(
        "values",
        1,
        "msg.payload = { values: msg.payload.map(b => b.v) };\ndelete msg.headers;\nreturn msg;",
        &[&["response"]],
    );
    f.http_response();
    f.done()
}

fn node_red_map() -> Value {
    let mut f = NodeRed::new("map");
    f.http_in("map", "map");
    // Node-RED has no map with a concurrency limit among its core nodes: this function keeps
    // each run's state, sends 8 item messages to the `http request` node, and sends the next
    // item each time an answer comes back on the loop; when all are back it answers.
    let map = format!(
        "const limit = {MAP_CONCURRENCY};\n\
         let runs = context.get('runs');\n\
         if (!runs) {{ runs = new Map(); context.set('runs', runs); }}\n\
         function item(id, run) {{\n  \
           const i = run.next++;\n  \
           return {{ mapRun: id, index: i, url: run.base + '/echo/' + encodeURIComponent('item-' + run.items[i].id) }};\n\
         }}\n\
         if (msg.mapRun === undefined) {{\n  \
           const items = msg.payload.items;\n  \
           if (items.length === 0) {{ msg.payload = {{ values: [] }}; return [null, msg]; }}\n  \
           const run = {{ msg, items, base: msg.payload.base_url, next: 0, done: 0, values: new Array(items.length) }};\n  \
           runs.set(msg._msgid, run);\n  \
           const out = [];\n  \
           while (run.next < items.length && out.length < limit) out.push(item(msg._msgid, run));\n  \
           return [out, null];\n\
         }}\n\
         const run = runs.get(msg.mapRun);\n\
         run.values[msg.index] = msg.payload.v;\n\
         run.done++;\n\
         if (run.done === run.items.length) {{\n  \
           runs.delete(msg.mapRun);\n  \
           run.msg.payload = {{ values: run.values }};\n  \
           return [null, run.msg];\n\
         }}\n\
         return run.next < run.items.length ? [item(msg.mapRun, run), null] : null;"
    );
    f.function("map", 2, &map, &[&["call"], &["response"]]);
    f.http_request("call", "map");
    f.http_response();
    f.done()
}

// ---------------------------------------------------------------------------------------------
// n8n: workflows (Webhook → … → Respond to Webhook), imported and published before n8n starts.

struct N8n {
    name: String,
    nodes: Vec<Value>,
    connections: serde_json::Map<String, Value>,
    x: i64,
}

impl N8n {
    fn new(name: &str) -> N8n {
        let mut f = N8n { name: name.to_string(), nodes: Vec::new(), connections: serde_json::Map::new(), x: 0 };
        f.add(
            "Webhook",
            "n8n-nodes-base.webhook",
            2,
            json!({"httpMethod": "POST", "path": format!("bench-{name}"), "responseMode": "responseNode", "options": {}}),
        );
        f.nodes[0]["webhookId"] = json!(uuid_of(name));
        f
    }

    fn add(&mut self, node: &str, kind: &str, version: impl Into<Value>, parameters: Value) {
        self.nodes.push(json!({
            "id": format!("{}-{}", self.name, self.nodes.len()),
            "name": node, "type": kind, "typeVersion": version.into(),
            "position": [self.x, 0], "parameters": parameters,
        }));
        self.x += 200;
    }

    fn connect(&mut self, from: &str, to: &str) {
        let outputs = self.connections.entry(from.to_string()).or_insert_with(|| json!({"main": [[]]}));
        outputs["main"][0].as_array_mut().expect("main").push(json!({"node": to, "type": "main", "index": 0}));
    }

    /// A Set node in JSON mode whose output item is the expression's value.
    fn set(&mut self, node: &str, expression: &str) {
        self.add(
            node,
            "n8n-nodes-base.set",
            3.4,
            json!({"mode": "raw", "jsonOutput": format!("={{{{ {expression} }}}}"), "options": {}}),
        );
    }

    fn http(&mut self, node: &str, url: &str, batch: Option<usize>) {
        let mut options = json!({});
        if let Some(size) = batch {
            options["batching"] = json!({"batch": {"batchSize": size, "batchInterval": 0}});
        }
        self.add(node, "n8n-nodes-base.httpRequest", 4.2, json!({"url": format!("={url}"), "options": options}));
    }

    fn respond(&mut self, from: &str) {
        self.add(
            "Respond",
            "n8n-nodes-base.respondToWebhook",
            1.1,
            json!({"respondWith": "firstIncomingItem", "options": {}}),
        );
        self.connect(from, "Respond");
    }

    fn done(self) -> Value {
        json!({
            "id": format!("bench{}", self.name.replace('-', "")),
            "name": format!("bench-{}", self.name),
            "active": false,
            "nodes": self.nodes,
            "connections": self.connections,
            "settings": {"executionOrder": "v1", "saveDataSuccessExecution": "none",
                         "saveDataErrorExecution": "all", "saveManualExecutions": false},
        })
    }
}

/// A fixed UUID-shaped id derived from a name (FNV-1a), for n8n's `webhookId`.
fn uuid_of(name: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let hex = format!("{h:016x}{:016x}", h.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15);
    format!("{}-{}-4{}-8{}-{}", &hex[0..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
}

fn n8n_webhook() -> Value {
    let mut f = N8n::new("webhook");
    f.set("Body", "$json.body");
    f.connect("Webhook", "Body");
    f.respond("Body");
    f.done()
}

fn n8n_transforms() -> Value {
    let mut f = N8n::new("transforms");
    let mut prev = "Webhook".to_string();
    for i in 1..=TRANSFORMS {
        let node = format!("S{i}");
        let p = if i == 1 { "$json.body" } else { "$json" };
        f.set(&node, &format!("{{ n: {p}.n * 2 + {i}, trace: {p}.trace.concat([{p}.n]) }}"));
        f.connect(&prev, &node);
        prev = node;
    }
    f.respond(&prev);
    f.done()
}

fn n8n_http_chain() -> Value {
    let mut f = N8n::new("http-chain");
    let mut prev = "Webhook".to_string();
    for i in 1..=CHAIN {
        let node = format!("C{i}");
        let value = if i == 1 { "$json.body.key".to_string() } else { "$json.v".to_string() };
        f.http(
            &node,
            &format!(
                "{{{{ $('Webhook').first().json.body.base_url }}}}/echo/{{{{ encodeURIComponent({value} + '-{i}') }}}}"
            ),
            None,
        );
        f.connect(&prev, &node);
        prev = node;
    }
    f.respond(&prev);
    f.done()
}

fn n8n_fan_out() -> Value {
    let mut f = N8n::new("fan-out");
    // n8n runs a node once per item: 20 items make the HTTP Request node send 20 requests.
    f.set(
        "Calls",
        &format!("{{ calls: Array.from({{ length: {FAN_OUT} }}, (_, i) => $json.body.key + '-' + (i + 1)) }}"),
    );
    f.connect("Webhook", "Calls");
    f.add("Split", "n8n-nodes-base.splitOut", 1, json!({"fieldToSplitOut": "calls", "options": {}}));
    f.connect("Calls", "Split");
    f.http("Call", "{{ $('Webhook').first().json.body.base_url }}/echo/{{ encodeURIComponent($json.calls) }}", None);
    f.connect("Split", "Call");
    f.set("Values", "{ values: $input.all().map(item => item.json.v) }");
    // A Set node runs once per item; "execute once" makes it run on the first item and read
    // all of them.
    f.nodes.last_mut().expect("node")["executeOnce"] = json!(true);
    f.connect("Call", "Values");
    f.respond("Values");
    f.done()
}

fn n8n_map() -> Value {
    let mut f = N8n::new("map");
    f.add("Split", "n8n-nodes-base.splitOut", 1, json!({"fieldToSplitOut": "body.items", "options": {}}));
    f.connect("Webhook", "Split");
    // The HTTP Request node's batching sends 8 requests, waits for all of them, then the next
    // 8: n8n's nearest equivalent of a map with concurrency 8.
    f.http(
        "Fetch",
        "{{ $('Webhook').first().json.body.base_url }}/echo/{{ encodeURIComponent('item-' + $json.id) }}",
        Some(MAP_CONCURRENCY),
    );
    f.connect("Split", "Fetch");
    f.set("Values", "{ values: $input.all().map(item => item.json.v) }");
    f.nodes.last_mut().expect("node")["executeOnce"] = json!(true);
    f.connect("Fetch", "Values");
    f.respond("Values");
    f.done()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_answers() {
        let flows = all();
        let chain = &flows[2];
        let input = &(chain.inputs)("http://x")[0];
        assert_eq!((chain.expected)(input), json!({"v": "k-1-2-3-4-5"}));
        let transforms = &flows[1];
        let out = (transforms.expected)(&json!({"n": 1, "trace": []}));
        assert_eq!(out["trace"].as_array().unwrap().len(), TRANSFORMS);
        assert_eq!(out["trace"][1], json!(3)); // 1 * 2 + 1
        let map = &flows[4];
        let out = (map.expected)(&(map.inputs)("http://x")[1]);
        assert_eq!(out, json!({"values": ["item-40", "item-41", "item-42"]}));
    }

    #[test]
    fn documents_are_wired() {
        for flow in all() {
            let doc = (flow.flowc)();
            assert_eq!(doc["id"], json!(flow.id()));
            let ids: Vec<&str> = doc["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
            for edge in doc["edges"].as_array().unwrap() {
                assert!(ids.contains(&edge["source"].as_str().unwrap()), "{}", flow.name);
                assert!(ids.contains(&edge["target"].as_str().unwrap()), "{}", flow.name);
            }
            let red = (flow.node_red)();
            let red_ids: Vec<&str> = red.as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap()).collect();
            for node in red.as_array().unwrap() {
                for output in node["wires"].as_array().into_iter().flatten() {
                    for target in output.as_array().unwrap() {
                        assert!(red_ids.contains(&target.as_str().unwrap()), "{}: {target}", flow.name);
                    }
                }
            }
            let n8n = (flow.n8n)();
            let names: Vec<&str> =
                n8n["nodes"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
            for (from, outputs) in n8n["connections"].as_object().unwrap() {
                assert!(names.contains(&from.as_str()), "{}: {from}", flow.name);
                for link in outputs["main"][0].as_array().unwrap() {
                    assert!(names.contains(&link["node"].as_str().unwrap()), "{}", flow.name);
                }
            }
        }
    }
}
