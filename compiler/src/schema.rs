//! `flowc schema`: the JSON Schema of the flow document, built from the same field tables
//! the checks use, so it cannot drift from what flowc accepts.

use serde_json::{json, Map, Value};

use crate::check::reader::{Field, Ty};
use crate::check::shape::{EDGE_FIELDS, FLOW_FIELDS, NODE_FIELDS, RETRY_FIELDS};
use crate::nodes::NodeKind;

fn ty_schema(ty: Ty) -> Value {
    match ty {
        Ty::String | Ty::Template | Ty::Jq | Ty::Rust => json!({"type": "string"}),
        Ty::Integer => json!({"type": "integer", "minimum": 0}),
        Ty::Number => json!({"type": "number"}),
        Ty::Boolean => json!({"type": "boolean"}),
        Ty::Json => json!({}),
        Ty::TemplateMap => json!({"type": "object", "additionalProperties": {"type": "string"}}),
        Ty::Enum(values) => json!({"enum": values}),
        Ty::Schema => json!({"type": "object"}),
        Ty::StringList | Ty::TemplateList => json!({"type": "array", "items": {"type": "string"}}),
        Ty::StringMap => json!({"type": "object", "additionalProperties": {"type": "string"}}),
        Ty::Object(fields) => object(fields),
        Ty::ListOf(fields) => json!({"type": "array", "items": object(fields)}),
        Ty::Tagged { tag, variants } => json!({"oneOf": variants
            .iter()
            .map(|(name, fields)| {
                let mut variant = object(fields);
                variant["properties"][tag] = json!({"const": name});
                variant
            })
            .collect::<Vec<_>>()}),
        Ty::MapOf(fields) => json!({"type": "object", "additionalProperties": object(fields)}),
        Ty::Other(_) => json!({}),
    }
}

fn object(fields: &[Field]) -> Value {
    let mut properties = Map::new();
    for field in fields {
        let mut schema = ty_schema(field.ty);
        if let Value::Object(map) = &mut schema {
            map.insert("description".into(), Value::from(field.doc));
        }
        properties.insert(field.name.to_owned(), schema);
    }
    let required: Vec<&str> = fields.iter().filter(|f| f.required).map(|f| f.name).collect();
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

/// The JSON Schema (draft 2020-12) of flow documents, version 1.
pub fn flow_schema() -> Value {
    let mut schema = object(FLOW_FIELDS);
    let retry = json!({"oneOf": [object(RETRY_FIELDS), {"const": false}]});
    let on_error = json!({"oneOf": [
        {"enum": ["fail", "continue"]},
        {"type": "object", "properties": {"fallback": {}}, "required": ["fallback"], "additionalProperties": false}
    ]});
    let mut node = object(NODE_FIELDS);
    node["properties"]["type"] = json!({"enum": NodeKind::names().collect::<Vec<_>>()});
    node["properties"]["id"]["pattern"] = json!("^[A-Za-z0-9_-]{1,128}$");
    node["properties"]["retry"] = retry;
    node["properties"]["on_error"] = on_error;
    node["allOf"] = NodeKind::all()
        .map(|kind| {
            json!({
                "if": {"properties": {"type": {"const": kind.as_str()}}},
                "then": {"properties": {"config": object(kind.fields())}}
            })
        })
        .collect();
    schema["properties"]["id"]["pattern"] = json!("^[a-z][a-z0-9_-]{0,63}$");
    schema["properties"]["version"] = json!({"const": 1});
    schema["properties"]["nodes"] = json!({"type": "array", "minItems": 1, "items": node});
    schema["properties"]["edges"] = json!({"type": "array", "items": object(EDGE_FIELDS)});
    if let Value::Object(map) = &mut schema {
        map.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
        map.insert("title".into(), json!("flowc flow document, version 1"));
    }
    schema
}

/// The name of every node kind this version compiles.
pub fn node_kinds() -> Vec<&'static str> {
    NodeKind::names().collect()
}
