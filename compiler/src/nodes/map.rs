//! `map`: a nested flow run once per item of an array, at most `concurrency` items at once.
//!
//! The nested flow is checked like the document's own (shape, graph, configs, templates),
//! with pointers into the map's config (`/nodes/3/config/nodes/1/...`). Its nodes read
//! `{{ item }}`, `{{ index }}`, each other, and any node upstream of the map.

use std::collections::HashMap;

use crate::types::Type;
use quote::quote;
use serde_json::Value;

use super::{CheckCx, Role, TypeCx};
use crate::check::Checked;
use crate::check::reader::{type_name, Field, Ty};
use crate::check::shape;
use crate::diag::{Code, Diagnostic};
use crate::emit::{EmitCx, EmitError, NodeCode};
use crate::model::{NodeRetry, OnError};
use crate::template::Template;

pub const FIELDS: &[Field] = &[
    Field::req("items", Ty::Template, "the array to map over, as one template: \"{{ in.users }}\""),
    Field::opt("concurrency", Ty::Integer, "how many items run at once (default 4)"),
    Field::req(
        "nodes",
        Ty::Other("array of nodes"),
        "the nested flow, run once per item: its nodes read `{{ item }}` and `{{ index }}`",
    ),
    Field::opt("edges", Ty::Other("array of edges"), "the nested flow's edges"),
];

/// How many items run at once when `concurrency` is not given.
pub const DEFAULT_CONCURRENCY: u64 = 4;

/// The nested flow is not in the config: the check leaves it in `CheckCx::nested_flow`, and
/// the IR holds it as a flow of its own (`IrNode::nested`).
#[derive(Debug, Clone)]
pub struct Config {
    pub items: Template,
    pub concurrency: u64,
    /// The type of one item's result: its one output's value, or an object by output name.
    pub item_result: crate::types::Type,
}

pub fn check(cx: &mut CheckCx<'_>) -> Option<Config> {
    let nested = cx.nested?;
    let errors_before = cx.sink.diagnostics.len();
    let (mut r, sink, node) = cx.read(FIELDS)?;
    let pointer = r.pointer.clone();
    let items = r.template(sink, "items");
    if let Some(Template::Literal(_) | Template::Mixed(_)) = &items {
        r.invalid(
            sink,
            "items",
            format!("`items` of map `{}` must be exactly one template, which reads an array", node.id),
            "write the whole string as one template, e.g. \"{{ in.users }}\": text around it would make a string"
                .to_owned(),
        );
    }
    let concurrency = r.integer(sink, "concurrency", 1, 10_000).unwrap_or(DEFAULT_CONCURRENCY);
    if let NodeRetry::Policy(_) = node.retry {
        sink.push(
            Diagnostic::new(
                Code::E015,
                format!("{}/retry", node.pointer),
                format!("map `{}` cannot be retried as a whole", node.id),
            )
            .help("a retry would run every item again: give the nodes inside the map a `retry` policy instead"),
        );
        r.ok = false;
    }

    // The nested flow's nodes and edges, read as the document's are.
    let mut nodes = Vec::new();
    let mut broken_ids = std::collections::BTreeSet::new();
    match r.get("nodes") {
        Some(Value::Array(list)) if list.is_empty() => {
            sink.push(
                Diagnostic::new(Code::E004, format!("{pointer}/nodes"), format!("map `{}` has no nodes", node.id))
                    .help(
                    "add the nodes to run for each item, ending in an `output` node whose value is the item's result",
                ),
            );
            r.ok = false;
        }
        Some(Value::Array(list)) => {
            for (i, value) in list.iter().enumerate() {
                let at = format!("{pointer}/nodes/{i}");
                match shape::node(sink, value, at, i, nested.settings, nested.credentials) {
                    Ok(inner) if nested_node_ok(sink, &inner, &node.id, nested) => nodes.push(inner),
                    Ok(inner) => {
                        broken_ids.insert(inner.id);
                    }
                    Err(Some(id)) => {
                        broken_ids.insert(id);
                    }
                    Err(None) => {}
                }
            }
        }
        Some(other) => {
            sink.push(
                Diagnostic::new(
                    Code::E002,
                    format!("{pointer}/nodes"),
                    format!("`nodes` of map `{}` must be an array, not {}", node.id, type_name(other)),
                )
                .help("write the nested flow's nodes as [ {\"id\": ..., \"type\": ...}, ... ]"),
            );
            r.ok = false;
        }
        None => {}
    }
    let mut edges = Vec::new();
    match r.get("edges") {
        Some(Value::Array(list)) => {
            for (i, value) in list.iter().enumerate() {
                if let Some(edge) = shape::edge(sink, value, format!("{pointer}/edges/{i}"), i) {
                    edges.push(edge);
                }
            }
        }
        Some(other) => {
            sink.push(
                Diagnostic::new(
                    Code::E002,
                    format!("{pointer}/edges"),
                    format!("`edges` of map `{}` must be an array, not {}", node.id, type_name(other)),
                )
                .help("write the nested flow's edges as [ {\"source\": ..., \"target\": ...}, ... ]"),
            );
            r.ok = false;
        }
        None => {}
    }
    let has_output = nodes.iter().any(|n| n.kind.role() == Role::Output)
        || r.get("nodes")
            .and_then(Value::as_array)
            .is_some_and(|list| list.iter().any(|n| n.get("type").and_then(Value::as_str) == Some("output")));
    if !has_output && r.get("nodes").is_some_and(|n| n.as_array().is_some_and(|l| !l.is_empty())) {
        sink.push(
            Diagnostic::new(
                Code::E026,
                format!("{pointer}/nodes"),
                format!("the nested flow of map `{}` has no `output` node", node.id),
            )
            .help("add an `output` node: its value is the item's result (with several, an object by output name)"),
        );
        r.ok = false;
    }
    let (graph, configs, types, inner) = crate::check::check_scope(sink, nested, &nodes, &edges, &broken_ids, r.ok);
    if !r.ok || sink.diagnostics.len() > errors_before {
        return None;
    }
    let configs = configs.into_iter().collect::<Option<Vec<_>>>()?;
    let outputs: Vec<(&str, crate::types::Type)> = configs
        .iter()
        .zip(&types)
        .filter_map(|(config, ty)| Some((config.output_name()?, ty.clone())))
        .collect();
    let item_result = match outputs.as_slice() {
        [(_, ty)] => ty.clone(),
        several => crate::types::Type::record(crate::types::Object {
            fields: several
                .iter()
                .map(|(name, ty)| ((*name).to_owned(), crate::types::Member { ty: ty.clone(), optional: true }))
                .collect(),
            rest: None,
        }),
    };
    let items = items?;
    cx.nested_flow = Some(Checked { nodes, edges, graph, configs, types, nested: inner });
    Some(Config { items, concurrency, item_result })
}

/// Checks what only a nested node must not be: an `input` node, or one whose id is taken by
/// the map item (`item`, `index`) or by a node of an enclosing flow.
fn nested_node_ok(
    sink: &mut crate::check::reader::Sink,
    inner: &crate::model::Node,
    map: &str,
    nested: &crate::check::Scope<'_>,
) -> bool {
    let (pointer, message, help) = if inner.kind.role() == Role::Input {
        (
            format!("{}/type", inner.pointer),
            format!("node `{}` is an `input` node inside map `{map}`", inner.id),
            "the nodes inside a map read the item as `{{ item }}` (and its index as `{{ index }}`): remove the input node".to_owned(),
        )
    } else if inner.id == "item" || inner.id == "index" {
        (
            format!("{}/id", inner.pointer),
            format!("a node inside map `{map}` cannot have the id `{}`", inner.id),
            format!("inside a map, `{{{{ {} }}}}` is the map item's: rename the node", inner.id),
        )
    } else if nested.outer_ids.contains(&inner.id) {
        (
            format!("{}/id", inner.pointer),
            format!("node id `{}` inside map `{map}` is already taken by a node outside it", inner.id),
            "templates name nodes by id, inside a map and out: give the node an id of its own".to_owned(),
        )
    } else {
        return true;
    };
    sink.push(Diagnostic::new(Code::E026, pointer, message).help(help));
    false
}


pub fn emit(cx: &EmitCx<'_>, config: &Config) -> Result<NodeCode, EmitError> {
    let items = cx.value(&config.items)?;
    let flow = cx.nested_flow_ident();
    let on_error = match cx.node.on_error {
        OnError::Fail => "No new item starts once an item has failed (`on_error` is `fail`).",
        OnError::Continue | OnError::Fallback(_) => "Every item runs, whatever the others do.",
    };
    let doc = format!(" The nested flow of map `{}`, run once per item. {on_error}", cx.node.id);
    let definition = cx.nested_flow(config.concurrency)?;
    Ok(NodeCode::body(quote! {
        let items = #items;
        cx.map(&#flow, items).await
    })
    .with_item(quote! {
        #[doc = #doc]
        static #flow: rt::MapFlow = #definition;
    }))
}

/// The type of the item: the element type of the array the `items` template reads.
fn item_type(config: &Value, known: &HashMap<String, Type>) -> Type {
    let Some(Ok(Template::Value(path))) = config.get("items").and_then(Value::as_str).map(crate::template::parse)
    else {
        return Type::Any;
    };
    known
        .get(&path.root)
        .and_then(|root| root.follow(&path.segs).ok())
        .and_then(|items| items.element())
        .unwrap_or(Type::Any)
}

pub struct Map;

impl super::Kind for Map {
    fn name(&self) -> &'static str {
        "map"
    }

    fn summary(&self) -> &'static str {
        "Runs its nested flow once per item of an array and yields every item's result, in item order."
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn nested_item(&self, config: &Value, known: &HashMap<String, Type>) -> Option<Type> {
        Some(item_type(config, known))
    }

    fn check(&self, cx: &mut CheckCx<'_>) -> Option<super::Config> {
        check(cx).map(super::config)
    }
}

impl super::NodeConfig for Config {
    /// An array of every item's result (`null` for an item that failed).
    fn output_type(&self, _cx: &TypeCx<'_>) -> Type {
        Type::array(self.item_result.clone().nullable())
    }

    fn emit(&self, cx: &EmitCx<'_>) -> Result<NodeCode, EmitError> {
        emit(cx, self)
    }

    fn describe(&self) -> Vec<String> {
        vec![format!(
            "Runs its nested flow once per item of {}, {} items at once, and yields the items' results in item order.",
            super::code_text(&self.items.display()),
            self.concurrency
        )]
    }
}
