//! The types of node outputs: what the checker knows of a node's `data` before the flow runs,
//! so that a template or a jq path that reads a field which cannot exist is an error at compile
//! time rather than a silent `null` at run time.
//!
//! The language is small: the JSON types, arrays of one element type, objects with known fields
//! (each required or optional) that are either closed (exactly those fields) or open (other
//! fields of some type), unions, and `any` where nothing is known. Every path into `any` is
//! accepted. A failed or skipped node reads `null` whatever its type; the checker does not hold
//! that against a path (see the format's §7.5), so `null` in a union only matters when it is all
//! a value can be.

use std::fmt;

use serde_json::Value;

use crate::template::Seg;

/// The most fields an object type has, and members a union has, before it is given up for
/// `any` (see [`Type::record`] and [`Type::union`]).
pub const MAX_FIELDS: usize = 256;
pub const MAX_UNION: usize = 32;

#[derive(Debug, Clone, PartialEq)]
pub enum Type {
    /// Nothing is known: every path is accepted.
    Any,
    Null,
    Boolean,
    Integer,
    Number,
    String,
    /// An array whose elements have this type.
    Array(Box<Type>),
    Object(Object),
    /// One of these: at least two, none of them `Any` or a union.
    Union(Vec<Type>),
}

/// An object type.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// The known fields, in the order they were declared.
    pub fields: Vec<(String, Member)>,
    /// The type of the fields not listed; `None` when there are none (the object is closed).
    pub rest: Option<Box<Type>>,
}

/// A known field of an object type.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub ty: Type,
    /// The field may be absent.
    pub optional: bool,
}

/// Why a step of a path cannot be taken.
#[derive(Debug, Clone, PartialEq)]
pub enum Miss {
    /// `.name` on a closed object without that field: the fields it has.
    NoField { name: String, fields: Vec<String> },
    /// `.name` or `[i]` on a value that is never an object or array: its type.
    Scalar { step: Seg, found: Type },
    /// `[i]` on an object (it has no elements), or `.name` on an array (it has no fields).
    WrongContainer { step: Seg, found: Type },
}

impl Type {
    /// An object type built from a document (a literal, a schema, a flow's nodes): past
    /// [`MAX_FIELDS`] fields it is an open object of anything, so that no document can make
    /// each field lookup (one per read) or comparison cost more than a bounded scan.
    pub fn record(object: Object) -> Type {
        if object.fields.len() > MAX_FIELDS {
            Type::map_of(Type::Any)
        } else {
            Type::Object(object)
        }
    }

    pub fn array(of: Type) -> Type {
        Type::Array(Box::new(of))
    }

    /// A closed object of these fields, all required.
    pub fn object<'a>(fields: impl IntoIterator<Item = (&'a str, Type)>) -> Type {
        Type::Object(Object {
            fields: fields.into_iter().map(|(n, ty)| (n.to_owned(), Member { ty, optional: false })).collect(),
            rest: None,
        })
    }

    /// An object whose fields all have type `of`, none known by name (a map, a header list).
    pub fn map_of(of: Type) -> Type {
        Type::Object(Object { fields: Vec::new(), rest: Some(Box::new(of)) })
    }

    /// `a | b`, flattened, without repeats; `any` absorbs everything.
    pub fn union(types: impl IntoIterator<Item = Type>) -> Type {
        let mut out: Vec<Type> = Vec::new();
        for t in types {
            let members = match t {
                Type::Any => return Type::Any,
                Type::Union(inner) => inner,
                t => vec![t],
            };
            for t in members {
                if !out.contains(&t) {
                    out.push(t);
                }
            }
            // Each member is compared with those before it: past [`MAX_UNION`] members (an
            // `enum` or an array literal of many shapes) nothing useful is known anyway.
            if out.len() > MAX_UNION {
                return Type::Any;
            }
        }
        // An integer is a number: `integer | number` is `number`.
        if out.contains(&Type::Number) {
            out.retain(|t| *t != Type::Integer);
        }
        match out.len() {
            0 => Type::Any,
            1 => out.pop().unwrap_or(Type::Any),
            _ => Type::Union(out),
        }
    }

    /// This type or `null`.
    pub fn nullable(self) -> Type {
        Type::union([self, Type::Null])
    }

    /// With field `name` of an object type set (added, or replaced) to `member`.
    pub fn with_field(self, name: &str, member: Member) -> Type {
        match self {
            Type::Object(mut o) => {
                match o.fields.iter_mut().find(|(n, _)| n == name) {
                    Some((_, m)) => *m = member,
                    None => o.fields.push((name.to_owned(), member)),
                }
                Type::Object(o)
            }
            other => other,
        }
    }

    /// The type of a JSON literal: exactly its shape.
    pub fn of_value(value: &Value) -> Type {
        match value {
            Value::Null => Type::Null,
            Value::Bool(_) => Type::Boolean,
            Value::Number(n) if n.is_i64() || n.is_u64() => Type::Integer,
            Value::Number(_) => Type::Number,
            Value::String(_) => Type::String,
            // An empty literal's elements are unknown (`any`), not "never".
            Value::Array(items) => Type::array(Type::union(items.iter().map(Type::of_value))),
            Value::Object(map) => Type::record(Object {
                fields: map
                    .iter()
                    .map(|(k, v)| (k.clone(), Member { ty: Type::of_value(v), optional: false }))
                    .collect(),
                rest: None,
            }),
        }
    }

    /// The type a JSON Schema of the input subset describes (see `flowc_core::input`):
    /// `type`, `enum`, `properties`, `required`, `default`, `items`, `additionalProperties`.
    /// An object schema that lists `properties` has exactly those fields unless
    /// `additionalProperties` is `true` or a schema; one that lists none may have any.
    pub fn of_schema(schema: &Value) -> Type {
        let Some(schema) = schema.as_object() else { return Type::Any };
        if let Some(Value::Array(values)) = schema.get("enum") {
            return Type::union(values.iter().map(Type::of_value));
        }
        let names: Vec<&str> = match schema.get("type") {
            Some(Value::String(name)) => vec![name.as_str()],
            Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
            _ if schema.contains_key("properties") => vec!["object"],
            _ if schema.contains_key("items") => vec!["array"],
            _ => return Type::Any,
        };
        Type::union(names.into_iter().map(|name| match name {
            "null" => Type::Null,
            "boolean" => Type::Boolean,
            "integer" => Type::Integer,
            "number" => Type::Number,
            "string" => Type::String,
            "array" => Type::array(schema.get("items").map_or(Type::Any, Type::of_schema)),
            "object" => object_of_schema(schema),
            _ => Type::Any,
        }))
    }

    /// This type with `null` admitted at every level below the top: every field, element and
    /// union member may be `null` (what a run yields when a node it reads was skipped).
    pub fn with_nulls(&self) -> Type {
        match self {
            Type::Array(of) => Type::array(of.with_nulls().nullable()),
            Type::Object(o) => Type::Object(Object {
                fields: o
                    .fields
                    .iter()
                    .map(|(n, m)| (n.clone(), Member { ty: m.ty.with_nulls().nullable(), optional: m.optional }))
                    .collect(),
                rest: o.rest.as_ref().map(|r| Box::new(r.with_nulls().nullable())),
            }),
            Type::Union(members) => Type::union(members.iter().map(Type::with_nulls)),
            t => t.clone(),
        }
    }

    /// The type of the value one step further along a path.
    pub fn step(&self, step: &Seg) -> Result<Type, Miss> {
        match (self, step) {
            (Type::Any, _) => Ok(Type::Any),
            (Type::Object(o), Seg::Key(name)) => match o.fields.iter().find(|(n, _)| n == name) {
                // A field that may be missing reads `null` then.
                Some((_, member)) if member.optional => Ok(member.ty.clone().nullable()),
                Some((_, member)) => Ok(member.ty.clone()),
                None => match &o.rest {
                    // A field not listed may be absent, and reads `null` then.
                    Some(rest) => Ok((**rest).clone().nullable()),
                    None => Err(Miss::NoField {
                        name: name.clone(),
                        fields: o.fields.iter().map(|(n, _)| n.clone()).collect(),
                    }),
                },
            },
            (Type::Array(of), Seg::Index(_)) => Ok((**of).clone()),
            (Type::Object(_), Seg::Index(_)) | (Type::Array(_), Seg::Key(_)) => {
                Err(Miss::WrongContainer { step: step.clone(), found: self.clone() })
            }
            (Type::Union(members), _) => {
                let mut found = Vec::new();
                let mut first_miss = None;
                for member in members {
                    match member.step(step) {
                        Ok(t) => found.push(t),
                        // A read through `null` is the null of a failed or skipped node: it
                        // neither proves nor refutes the path.
                        Err(_) if *member == Type::Null => {}
                        Err(miss) => {
                            first_miss.get_or_insert(miss);
                        }
                    }
                }
                if found.is_empty() {
                    Err(match first_miss {
                        Some(Miss::NoField { name, .. }) => Miss::NoField { name, fields: self.field_names() },
                        Some(miss) => miss,
                        None => Miss::Scalar { step: step.clone(), found: Type::Null },
                    })
                } else {
                    Ok(Type::union(found))
                }
            }
            (scalar, _) => Err(Miss::Scalar { step: step.clone(), found: scalar.clone() }),
        }
    }

    /// Follows `segs` from this type: the type at the end, or the index of the first step that
    /// cannot be taken and why.
    pub fn follow(&self, segs: &[Seg]) -> Result<Type, (usize, Miss)> {
        let mut at = self.clone();
        for (i, seg) in segs.iter().enumerate() {
            at = at.step(seg).map_err(|miss| (i, miss))?;
        }
        Ok(at)
    }

    /// The type of an element, when this type is an array (or a union with arrays in it).
    pub fn element(&self) -> Option<Type> {
        match self {
            Type::Array(of) => Some((**of).clone()),
            Type::Union(members) => {
                let elements: Vec<Type> = members.iter().filter_map(Type::element).collect();
                (!elements.is_empty()).then(|| Type::union(elements))
            }
            _ => None,
        }
    }

    /// The names of the known fields of this type's object forms.
    pub fn field_names(&self) -> Vec<String> {
        match self {
            Type::Object(o) => o.fields.iter().map(|(n, _)| n.clone()).collect(),
            Type::Union(members) => {
                let mut names: Vec<String> = Vec::new();
                for name in members.iter().flat_map(Type::field_names) {
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
                names
            }
            _ => Vec::new(),
        }
    }

    /// A word for the kind of value: "a string", "an array", "an object".
    pub fn article(&self) -> String {
        match self {
            Type::Any => "any value".to_owned(),
            Type::Null => "always null".to_owned(),
            Type::Boolean => "a boolean".to_owned(),
            Type::Integer => "an integer".to_owned(),
            Type::Number => "a number".to_owned(),
            Type::String => "a string".to_owned(),
            Type::Array(_) => "an array".to_owned(),
            Type::Object(_) => "an object".to_owned(),
            Type::Union(_) => format!("`{self}`"),
        }
    }
}

impl Type {
    /// The type as a JSON Schema (for an MCP tool's `outputSchema`, `flowc describe`): `{}` for
    /// `any`, `type` lists for unions of plain types, `anyOf` for other unions.
    pub fn to_json_schema(&self) -> Value {
        use serde_json::json;
        match self {
            Type::Any => json!({}),
            Type::Null => json!({"type": "null"}),
            Type::Boolean => json!({"type": "boolean"}),
            Type::Integer => json!({"type": "integer"}),
            Type::Number => json!({"type": "number"}),
            Type::String => json!({"type": "string"}),
            Type::Array(of) => match **of {
                Type::Any => json!({"type": "array"}),
                ref of => json!({"type": "array", "items": of.to_json_schema()}),
            },
            Type::Object(o) => {
                let mut schema = serde_json::Map::new();
                schema.insert("type".into(), json!("object"));
                if !o.fields.is_empty() {
                    let properties: serde_json::Map<String, Value> =
                        o.fields.iter().map(|(name, m)| (name.clone(), m.ty.to_json_schema())).collect();
                    schema.insert("properties".into(), Value::Object(properties));
                    let required: Vec<&str> =
                        o.fields.iter().filter(|(_, m)| !m.optional).map(|(n, _)| n.as_str()).collect();
                    if !required.is_empty() {
                        schema.insert("required".into(), json!(required));
                    }
                }
                match &o.rest {
                    None => {
                        schema.insert("additionalProperties".into(), json!(false));
                    }
                    Some(rest) if **rest == Type::Any => {}
                    Some(rest) => {
                        schema.insert("additionalProperties".into(), rest.to_json_schema());
                    }
                }
                Value::Object(schema)
            }
            Type::Union(members) => {
                let plain: Option<Vec<&str>> = members
                    .iter()
                    .map(|m| match m {
                        Type::Null => Some("null"),
                        Type::Boolean => Some("boolean"),
                        Type::Integer => Some("integer"),
                        Type::Number => Some("number"),
                        Type::String => Some("string"),
                        _ => None,
                    })
                    .collect();
                match plain {
                    Some(names) => json!({"type": names}),
                    None => json!({"anyOf": members.iter().map(Type::to_json_schema).collect::<Vec<_>>()}),
                }
            }
        }
    }
}

fn object_of_schema(schema: &serde_json::Map<String, Value>) -> Type {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return Type::map_of(match schema.get("additionalProperties") {
            Some(Value::Object(_)) => Type::of_schema(&schema["additionalProperties"]),
            _ => Type::Any,
        });
    };
    let fields = properties
        .iter()
        .map(|(name, property)| {
            // A default fills a missing member in before any node reads it.
            let present = required.contains(&name.as_str()) || property.get("default").is_some();
            (name.clone(), Member { ty: Type::of_schema(property), optional: !present })
        })
        .collect();
    let rest = match schema.get("additionalProperties") {
        Some(Value::Bool(true)) => Some(Box::new(Type::Any)),
        Some(rest @ Value::Object(_)) => Some(Box::new(Type::of_schema(rest))),
        _ => None,
    };
    Type::record(Object { fields, rest })
}

/// Types read as TypeScript writes them: `{text: string, json?: any}`, `string[]`,
/// `string | null`, `{[key]: string}` for a map, `{a: string, ..}` for an open object.
impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Any => f.write_str("any"),
            Type::Null => f.write_str("null"),
            Type::Boolean => f.write_str("boolean"),
            Type::Integer => f.write_str("integer"),
            Type::Number => f.write_str("number"),
            Type::String => f.write_str("string"),
            Type::Array(of) => match **of {
                Type::Union(_) => write!(f, "({of})[]"),
                _ => write!(f, "{of}[]"),
            },
            Type::Object(o) => {
                if o.fields.is_empty() {
                    return match &o.rest {
                        Some(rest) => write!(f, "{{[key]: {rest}}}"),
                        None => f.write_str("{}"),
                    };
                }
                f.write_str("{")?;
                for (i, (name, member)) in o.fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    let name = if crate::template::is_plain_key(name) {
                        name.clone()
                    } else {
                        Value::String(name.clone()).to_string()
                    };
                    write!(f, "{name}{}: {}", if member.optional { "?" } else { "" }, member.ty)?;
                }
                match &o.rest {
                    Some(rest) if **rest == Type::Any => f.write_str(", ..}"),
                    Some(rest) => write!(f, ", [key]: {rest}}}"),
                    None => f.write_str("}"),
                }
            }
            Type::Union(members) => {
                for (i, member) in members.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" | ")?;
                    }
                    write!(f, "{member}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(name: &str) -> Seg {
        Seg::Key(name.to_owned())
    }

    #[test]
    fn a_schema_with_properties_is_closed_unless_it_says_otherwise() {
        let schema = json!({"type": "object", "required": ["url"], "properties": {
            "url": {"type": "string"}, "n": {"type": "integer", "default": 3}, "tags": {"type": "array", "items": {"enum": ["a", "b"]}}}});
        let ty = Type::of_schema(&schema);
        assert_eq!(ty.to_string(), "{url: string, n: integer, tags?: string[]}");
        assert_eq!(ty.step(&key("url")), Ok(Type::String));
        assert_eq!(
            ty.step(&key("ulr")),
            Err(Miss::NoField { name: "ulr".into(), fields: vec!["url".into(), "n".into(), "tags".into()] })
        );
        assert_eq!(ty.follow(&[key("tags"), Seg::Index(0)]), Ok(Type::String));
        assert_eq!(ty.step(&key("tags")), Ok(Type::union([Type::array(Type::String), Type::Null])));
        assert!(matches!(ty.follow(&[key("url"), key("host")]), Err((1, Miss::Scalar { .. }))));
        let open = Type::of_schema(&json!({"type": "object", "properties": {"a": {}}, "additionalProperties": true}));
        assert_eq!(open.step(&key("b")), Ok(Type::Any));
        assert_eq!(Type::of_schema(&json!({"type": "object"})).step(&key("b")), Ok(Type::Any));
    }

    #[test]
    fn a_schema_reads_back_as_the_same_type() {
        let schema = json!({"type": "object", "required": ["url"], "properties": {
            "url": {"type": "string"}, "tags": {"type": "array", "items": {"type": ["string", "null"]}},
            "extra": {"type": "object", "additionalProperties": {"type": "integer"}}}});
        let ty = Type::of_schema(&schema);
        assert_eq!(Type::of_schema(&ty.to_json_schema()), ty);
        assert_eq!(ty.to_json_schema()["additionalProperties"], json!(false));
    }

    #[test]
    fn unions_take_a_step_when_one_member_can_and_null_never_decides() {
        let ty = Type::union([Type::object([("a", Type::String)]), Type::object([("b", Type::Integer)]), Type::Null]);
        assert_eq!(ty.step(&key("a")), Ok(Type::String));
        assert_eq!(ty.step(&key("c")), Err(Miss::NoField { name: "c".into(), fields: vec!["a".into(), "b".into()] }));
        assert_eq!(Type::union([Type::Integer, Type::Number, Type::Integer]), Type::Number);
        assert_eq!(Type::union([Type::String, Type::Any]), Type::Any);
        assert_eq!(Type::of_value(&json!({"a": [1, 2.5], "b": []})).to_string(), "{a: number[], b: any[]}");
    }

    #[test]
    fn documents_cannot_make_types_unbounded() {
        // 10,000 distinct shapes, or 10,000 fields: given up for `any`, every read accepted.
        let shapes: Vec<serde_json::Value> = (0..10_000).map(|i| json!({ format!("k{i}"): i })).collect();
        assert_eq!(Type::of_value(&json!(shapes)), Type::array(Type::Any));
        let wide: serde_json::Map<String, serde_json::Value> =
            (0..10_000).map(|i| (format!("f{i}"), json!(i))).collect();
        let ty = Type::of_value(&serde_json::Value::Object(wide));
        assert_eq!(ty.step(&key("f9999")), Ok(Type::Any));
        assert!(Type::of_value(&json!({"a": 1})).step(&key("b")).is_err(), "a small object stays closed");
    }
}
