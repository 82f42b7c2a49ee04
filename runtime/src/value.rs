//! Template reads and rendering.
//!
//! flowc compiles every `{{ node.path }}` in a flow into a [`read`] with a static path, and
//! every string that mixes text and templates into a [`render`] of [`Part`]s. Nothing here
//! parses templates at run time.

use serde_json::Value;

/// One step of a path: `.field`, `["any key"]` or `[0]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seg {
    Key(&'static str),
    Index(usize),
}

/// Reads `path` inside `value`; a missing key, an index out of range or a step into a scalar
/// gives `null`, as reading a skipped node does.
pub fn read(value: &Value, path: &[Seg]) -> Value {
    lookup(value, path).cloned().unwrap_or(Value::Null)
}

/// Like [`read`], by reference; `None` where the path leads nowhere.
pub fn lookup<'v>(value: &'v Value, path: &[Seg]) -> Option<&'v Value> {
    let mut here = value;
    for seg in path {
        here = match (seg, here) {
            (Seg::Key(key), Value::Object(map)) => map.get(*key)?,
            (Seg::Index(i), Value::Array(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(here)
}

/// A piece of a rendered string: literal text, a value, or a path read inside a value.
#[derive(Debug, Clone, Copy)]
pub enum Part<'a> {
    Text(&'a str),
    Value(&'a Value),
    Read(&'a Value, &'a [Seg]),
}

/// Renders parts into one string: text as written, strings as they are, `null` as nothing,
/// other values as compact JSON.
pub fn render(parts: &[Part<'_>]) -> String {
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Text(text) => out.push_str(text),
            Part::Value(value) => push_value(&mut out, value),
            Part::Read(value, path) => {
                if let Some(value) = lookup(value, path) {
                    push_value(&mut out, value);
                }
            }
        }
    }
    out
}

/// A JSON array of `items`: what generated code writes for an array literal (a function
/// call rather than `vec![…]`, whose contents rustfmt and prettyplease leave unformatted).
pub fn array<const N: usize>(items: [Value; N]) -> Value {
    Value::Array(Vec::from(items))
}

/// Builds an object from members, in order (generated code builds config objects this way).
pub fn object<const N: usize>(members: [(&str, Value); N]) -> Value {
    Value::Object(members.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// The text of a value as it appears inside a rendered string.
pub fn to_text(value: &Value) -> String {
    let mut out = String::new();
    push_value(&mut out, value);
    out
}

/// How messages name a value's type: `an array`, `null`, `a string "abc…"`.
pub fn type_name(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() > 40 => format!("a string ({} characters)", s.chars().count()),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

fn push_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => {}
        Value::String(s) => out.push_str(s),
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_keys_indexes_and_misses() {
        let v = json!({"a": {"b c": [10, {"d": true}]}});
        assert_eq!(read(&v, &[Seg::Key("a"), Seg::Key("b c"), Seg::Index(1), Seg::Key("d")]), json!(true));
        assert_eq!(read(&v, &[Seg::Key("a"), Seg::Key("nope")]), Value::Null);
        assert_eq!(read(&v, &[Seg::Key("a"), Seg::Key("b c"), Seg::Index(7)]), Value::Null);
        assert_eq!(read(&v, &[Seg::Index(0)]), Value::Null);
        assert_eq!(read(&v, &[]), v);
    }

    #[test]
    fn renders_strings_raw_and_others_as_json() {
        let s = json!("x\"y");
        let n = json!(4.5);
        let o = json!({"k": [1, null]});
        let parts = [
            Part::Text("s="),
            Part::Value(&s),
            Part::Text(" n="),
            Part::Value(&n),
            Part::Text(" o="),
            Part::Value(&o),
            Part::Text(" null="),
            Part::Value(&Value::Null),
            Part::Text(" read="),
            Part::Read(&o, &[Seg::Key("k"), Seg::Index(0)]),
            Part::Text(" miss="),
            Part::Read(&o, &[Seg::Key("zz")]),
        ];
        assert_eq!(render(&parts), r#"s=x"y n=4.5 o={"k":[1,null]} null= read=1 miss="#);
    }
}
