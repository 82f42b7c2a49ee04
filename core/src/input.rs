//! The `input` node's schema: a small JSON Schema subset, checked at compile time and applied
//! (validation plus defaults) at run time.
//!
//! Keywords: `type`, `properties`, `required`, `default`, `enum`, `items`, and the annotations
//! `title`, `description`, `examples` (accepted, ignored). Properties not named in `properties`
//! are allowed and kept.

use serde_json::{Map, Value};

/// One problem, with the JSON pointer (RFC 6901, "" for the root) of the offending place.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub pointer: String,
    pub message: String,
}

const KEYWORDS: [&str; 10] = [
    "type",
    "properties",
    "required",
    "additionalProperties",
    "default",
    "enum",
    "items",
    "title",
    "description",
    "examples",
];

const TYPES: [&str; 7] = ["object", "array", "string", "number", "integer", "boolean", "null"];

/// Compile-time check of a schema. Pointers point into the schema. Returns every problem, in
/// the order of the schema's keys.
pub fn check_schema(schema: &Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    check(schema, "", &mut problems);
    problems
}

/// Run-time: validates `input` against `schema` (which passed [`check_schema`]) and applies
/// `default`s for missing object properties, recursively. Pointers point into the input.
/// A `null` input for an object schema is treated as `{}`.
pub fn apply(schema: &Value, input: Value) -> Result<Value, Vec<Problem>> {
    let input = if input.is_null() && allows(schema, "object") && !allows(schema, "null") {
        Value::Object(Map::new())
    } else {
        input
    };
    let mut problems = Vec::new();
    let value = validate(schema, input, "", &mut problems);
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(problems)
    }
}

/// Checks the part at JSON pointer `at` of a node's data (`""`: all of it; `"/body"`: a
/// response's body) against a schema its config gives (`output_schema`, `response_schema`, …;
/// JSON text, checked at compile time): the data as it is when it matches (defaults are not
/// applied: the check changes nothing), else a `validation` error with code `code` that lists
/// the problems and keeps the whole data in the envelope.
pub fn conform(schema: &str, data: Value, at: &str, what: &str, code: &str) -> Result<Value, crate::error::Error> {
    let schema: Value = serde_json::from_str(schema).unwrap_or(Value::Null);
    let part = data.pointer(at).cloned().unwrap_or(Value::Null);
    match apply(&schema, part) {
        Ok(_) => Ok(data),
        Err(problems) => {
            let mut listed: Vec<String> = problems
                .iter()
                .take(5)
                .map(|p| if p.pointer.is_empty() { p.message.clone() } else { format!("{}: {}", p.pointer, p.message) })
                .collect();
            if problems.len() > 5 {
                listed.push(format!("and {} more", problems.len() - 5));
            }
            Err(crate::error::Error::validation(format!("{what} does not match its `{code}`: {}", listed.join("; ")))
                .with_code(code)
                .with_data(data))
        }
    }
}

fn problem(problems: &mut Vec<Problem>, pointer: &str, message: String) {
    problems.push(Problem { pointer: pointer.to_string(), message });
}

fn check(schema: &Value, ptr: &str, problems: &mut Vec<Problem>) {
    let Some(map) = schema.as_object() else {
        problem(problems, ptr, format!("a schema must be an object, found {}", describe(schema)));
        return;
    };
    let before = problems.len();
    for (key, value) in map {
        let at = child(ptr, key);
        match key.as_str() {
            "type" => check_type(value, &at, problems),
            "properties" => match value.as_object() {
                Some(props) => {
                    for (name, sub) in props {
                        check(sub, &child(&at, name), problems);
                    }
                }
                None => problem(
                    problems,
                    &at,
                    format!("`properties` must be an object of schemas, found {}", describe(value)),
                ),
            },
            "required" => match value.as_array() {
                Some(names) => {
                    for (i, name) in names.iter().enumerate() {
                        if !name.is_string() {
                            let message = format!("`required` must list property names, found {}", describe(name));
                            problem(problems, &child(&at, &i.to_string()), message);
                        }
                    }
                }
                None => problem(
                    problems,
                    &at,
                    format!("`required` must be an array of property names, found {}", describe(value)),
                ),
            },
            "items" => check(value, &at, problems),
            "additionalProperties" => match value {
                Value::Bool(_) => {}
                Value::Object(_) => check(value, &at, problems),
                _ => problem(
                    problems,
                    &at,
                    format!("`additionalProperties` must be a boolean or a schema, found {}", describe(value)),
                ),
            },
            "enum" => match value.as_array() {
                Some(values) if values.is_empty() => {
                    problem(problems, &at, "`enum` must list at least one value".to_string())
                }
                Some(_) => {}
                None => problem(problems, &at, format!("`enum` must be an array of values, found {}", describe(value))),
            },
            "default" | "title" | "description" | "examples" => {}
            _ => {
                let mut message = format!("unknown keyword `{key}`");
                match closest(key, &KEYWORDS) {
                    Some(near) => message.push_str(&format!("; did you mean `{near}`?")),
                    None => message.push_str(&format!(" (supported: {})", KEYWORDS.join(", "))),
                }
                problem(problems, &at, message);
            }
        }
    }
    // A default is only checked against a well-formed schema, so its problems are not echoes.
    if let (Some(default), true) = (map.get("default"), problems.len() == before) {
        let at = child(ptr, "default");
        let mut found = Vec::new();
        validate(schema, default.clone(), "", &mut found);
        for p in found {
            let message = format!("the default is invalid: {}", p.message);
            problem(problems, &format!("{at}{}", p.pointer), message);
        }
    }
}

fn check_type(value: &Value, ptr: &str, problems: &mut Vec<Problem>) {
    let mut check_name = |name: &Value, at: &str| match name.as_str() {
        Some(n) if TYPES.contains(&n) => {}
        Some(n) => {
            let mut message = format!("unknown type {}", compact(name));
            match closest(n, &TYPES) {
                Some(near) => message.push_str(&format!("; did you mean \"{near}\"?")),
                None => message.push_str(&format!(" (types: {})", TYPES.join(", "))),
            }
            problem(problems, at, message);
        }
        None => problem(problems, at, format!("a type must be a type name, found {}", describe(name))),
    };
    match value {
        Value::Array(names) if names.is_empty() => {
            problem(problems, ptr, "`type` must name at least one type".to_string())
        }
        Value::Array(names) => {
            for (i, name) in names.iter().enumerate() {
                check_name(name, &child(ptr, &i.to_string()));
            }
        }
        _ => check_name(value, ptr),
    }
}

/// Validates `value` against `schema`, applying defaults; problems go to `problems`.
fn validate(schema: &Value, value: Value, ptr: &str, problems: &mut Vec<Problem>) -> Value {
    let Some(schema) = schema.as_object() else {
        return value;
    };
    if let Some(ty) = schema.get("type") {
        let names: Vec<&str> = match ty {
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => ty.as_str().into_iter().collect(),
        };
        if !names.is_empty() && !names.iter().any(|n| has_type(&value, n)) {
            let expected: Vec<&str> = names.iter().map(|n| article(n)).collect();
            let message = format!("expected {}, found {}", or_list(&expected), describe(&value));
            problem(problems, ptr, message);
            return value;
        }
    }
    let value = match value {
        Value::Object(mut obj) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            for (name, sub) in props.into_iter().flatten() {
                let at = child(ptr, name);
                if let Some(v) = obj.remove(name) {
                    obj.insert(name.clone(), validate(sub, v, &at, problems));
                } else if let Some(default) = sub.get("default") {
                    obj.insert(name.clone(), validate(sub, default.clone(), &at, problems));
                } else if required.contains(&name.as_str()) {
                    let message = format!("missing required property {}", compact(&Value::from(name.as_str())));
                    problem(problems, &at, message);
                }
            }
            for name in required {
                let declared = props.is_some_and(|p| p.contains_key(name));
                if !declared && !obj.contains_key(name) {
                    let message = format!("missing required property {}", compact(&Value::from(name)));
                    problem(problems, &child(ptr, name), message);
                }
            }
            // Members `properties` does not list: kept, unless `additionalProperties` says
            // otherwise (`false` refuses them, a schema checks them).
            match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    for name in obj.keys().filter(|name| !props.is_some_and(|p| p.contains_key(name.as_str()))) {
                        let message = format!(
                            "unexpected property {}: the schema lists only its `properties`",
                            compact(&Value::from(name.as_str()))
                        );
                        problem(problems, &child(ptr, name), message);
                    }
                }
                Some(extra @ Value::Object(_)) => {
                    let names: Vec<String> = obj
                        .keys()
                        .filter(|name| !props.is_some_and(|p| p.contains_key(name.as_str())))
                        .cloned()
                        .collect();
                    for name in names {
                        if let Some(v) = obj.remove(&name) {
                            let checked = validate(extra, v, &child(ptr, &name), problems);
                            obj.insert(name, checked);
                        }
                    }
                }
                _ => {}
            }
            Value::Object(obj)
        }
        Value::Array(items) => match schema.get("items") {
            Some(sub) => Value::Array(
                items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| validate(sub, v, &child(ptr, &i.to_string()), problems))
                    .collect(),
            ),
            None => Value::Array(items),
        },
        other => other,
    };
    if let Some(Value::Array(allowed)) = schema.get("enum") {
        if !allowed.iter().any(|a| json_eq(a, &value)) {
            let mut listed: Vec<String> = allowed.iter().take(8).map(compact).collect();
            if allowed.len() > 8 {
                listed.push("…".to_string());
            }
            let message = format!("{} is not one of {}", compact(&value), listed.join(", "));
            problem(problems, ptr, message);
        }
    }
    value
}

fn allows(schema: &Value, name: &str) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == name,
        Some(Value::Array(a)) => a.iter().any(|t| t.as_str() == Some(name)),
        _ => false,
    }
}

fn has_type(value: &Value, name: &str) -> bool {
    match (name, value) {
        ("object", Value::Object(_)) | ("array", Value::Array(_)) => true,
        ("string", Value::String(_)) | ("number", Value::Number(_)) => true,
        ("boolean", Value::Bool(_)) | ("null", Value::Null) => true,
        ("integer", Value::Number(n)) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.is_finite() && f.fract() == 0.0)
        }
        _ => false,
    }
}

/// JSON equality where numbers compare by value (`1` equals `1.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if x.is_f64() || y.is_f64() {
                x.as_f64() == y.as_f64()
            } else {
                x == y
            }
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn article(type_name: &str) -> &'static str {
    match type_name {
        "object" => "an object",
        "array" => "an array",
        "string" => "a string",
        "number" => "a number",
        "integer" => "an integer",
        "boolean" => "a boolean",
        "null" => "null",
        _ => "a value of an unknown type",
    }
}

/// "a string", "a string or null", "a string, a number or null".
fn or_list(items: &[&str]) -> String {
    match items.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// `a number (42)`, `null`.
fn describe(value: &Value) -> String {
    let kind = match value {
        Value::Null => return "null".to_string(),
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    format!("{kind} ({})", compact(value))
}

/// Compact JSON, cut to at most 60 characters with "…".
fn compact(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 60 {
        return text;
    }
    let mut cut: String = text.chars().take(59).collect();
    cut.push('…');
    cut
}

/// `parent` extended by one RFC 6901 reference token.
fn child(parent: &str, token: &str) -> String {
    format!("{parent}/{}", token.replace('~', "~0").replace('/', "~1"))
}

/// The candidate within two edits of `word` (optimal string alignment distance), if any.
fn closest(word: &str, candidates: &[&'static str]) -> Option<&'static str> {
    candidates
        .iter()
        .map(|c| (edit_distance(&word.to_lowercase(), c), *c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > 2 {
        return 3;
    }
    // d[i][j]: distance between a[..i] and b[..j].
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn conform_passes_matching_data_on_unchanged_and_keeps_the_rest() {
        use serde_json::json;
        let schema =
            r#"{"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}, "d": {"default": 1}}}"#;
        assert_eq!(super::conform(schema, json!({"n": 2}), "", "x", "output_schema").unwrap(), json!({"n": 2}));
        let error =
            super::conform(schema, json!({"n": "2"}), "", "the value of node `c`", "output_schema").unwrap_err();
        assert_eq!(error.code.as_deref(), Some("output_schema"));
        assert_eq!(
            error.message,
            "the value of node `c` does not match its `output_schema`: /n: expected an integer, found a string (\"2\")"
        );
        assert_eq!(error.data.as_deref(), Some(&json!({"n": "2"})));
    }

    #[test]
    fn additional_properties_false_refuses_and_a_schema_checks_unlisted_members() {
        use serde_json::json;
        let closed = json!({ "type": "object", "properties": { "a": {} }, "additionalProperties": false });
        assert!(super::check_schema(&closed).is_empty());
        let found = super::apply(&closed, json!({ "a": 1, "b": 2 })).unwrap_err();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].pointer, "/b");
        let typed = json!({ "type": "object", "additionalProperties": { "type": "integer" } });
        assert!(super::apply(&typed, json!({ "x": 1 })).is_ok());
        assert_eq!(super::apply(&typed, json!({ "x": "1" })).unwrap_err()[0].pointer, "/x");
        assert!(super::apply(&json!({ "properties": { "a": {} } }), json!({ "b": 2 })).is_ok());
        assert!(!super::check_schema(&json!({ "additionalProperties": 1 })).is_empty());
    }

    use super::*;
    use serde_json::json;

    fn p(pointer: &str, message: &str) -> Problem {
        Problem { pointer: pointer.to_string(), message: message.to_string() }
    }

    fn errors(schema: Value, input: Value) -> Vec<Problem> {
        assert_eq!(check_schema(&schema), vec![], "the test schema must be valid");
        apply(&schema, input).expect_err("expected problems")
    }

    #[test]
    fn design_example_schema_is_valid_and_applies() {
        let schema = json!({ "type": "object", "required": ["url"],
                             "properties": { "url": { "type": "string" } } });
        assert_eq!(check_schema(&schema), vec![]);
        let input = json!({ "url": "https://example.com", "extra": [1, 2] });
        assert_eq!(apply(&schema, input.clone()), Ok(input));
    }

    #[test]
    fn defaults_are_applied_recursively() {
        let schema = json!({
            "type": "object",
            "properties": {
                "limit": { "type": "integer", "default": 10 },
                "given": { "type": "string", "default": "unused" },
                "opts": {
                    "type": "object",
                    "default": {},
                    "properties": {
                        "depth": { "type": "integer", "default": 2 },
                        "mode": { "enum": ["fast", "slow"], "default": "fast" }
                    }
                },
                "list": { "type": "array", "items": {
                    "type": "object", "properties": { "n": { "default": 0 } } } }
            }
        });
        assert_eq!(check_schema(&schema), vec![]);
        let out = apply(&schema, json!({ "given": "mine", "list": [{}, { "n": 5 }] })).unwrap();
        assert_eq!(
            out,
            json!({ "limit": 10, "given": "mine", "opts": { "depth": 2, "mode": "fast" },
                    "list": [{ "n": 0 }, { "n": 5 }] })
        );
        // A nested object that is present still gets its own missing defaults.
        let out = apply(&schema, json!({ "opts": { "mode": "slow" } })).unwrap();
        assert_eq!(out["opts"], json!({ "depth": 2, "mode": "slow" }));
    }

    #[test]
    fn null_input_for_object_schema_is_empty_object_with_defaults() {
        let schema = json!({ "type": "object", "properties": { "n": { "default": 3 } } });
        assert_eq!(apply(&schema, Value::Null), Ok(json!({ "n": 3 })));
        let required = json!({ "type": "object", "required": ["url"] });
        assert_eq!(apply(&required, Value::Null), Err(vec![p("/url", "missing required property \"url\"")]));
        // When null is allowed, null stays null.
        let nullable = json!({ "type": ["object", "null"], "properties": { "n": { "default": 3 } } });
        assert_eq!(apply(&nullable, Value::Null), Ok(Value::Null));
        // Null for a non-object schema is a type problem.
        assert_eq!(errors(json!({ "type": "string" }), Value::Null), vec![p("", "expected a string, found null")]);
    }

    #[test]
    fn all_problems_are_collected() {
        let schema = json!({
            "type": "object",
            "required": ["a", "b", "c", "undeclared"],
            "properties": {
                "a": { "type": "string" },
                "b": { "type": "boolean" },
                "c": { "type": "number" },
                "d": { "type": "array", "items": { "type": "integer" } }
            }
        });
        let found = errors(schema, json!({ "a": 42, "d": [1, "x", 2.5] }));
        assert_eq!(
            found,
            vec![
                p("/a", "expected a string, found a number (42)"),
                p("/b", "missing required property \"b\""),
                p("/c", "missing required property \"c\""),
                p("/d/1", "expected an integer, found a string (\"x\")"),
                p("/d/2", "expected an integer, found a number (2.5)"),
                p("/undeclared", "missing required property \"undeclared\""),
            ]
        );
    }

    #[test]
    fn type_mismatch_messages() {
        let cases = [
            (json!("string"), json!(42), "expected a string, found a number (42)"),
            (json!("object"), json!([1]), "expected an object, found an array ([1])"),
            (json!("array"), json!({"a": 1}), "expected an array, found an object ({\"a\":1})"),
            (json!("boolean"), json!("true"), "expected a boolean, found a string (\"true\")"),
            (json!("null"), json!(false), "expected null, found a boolean (false)"),
            (json!(["string", "null"]), json!(1), "expected a string or null, found a number (1)"),
            (
                json!(["string", "number", "null"]),
                json!(true),
                "expected a string, a number or null, found a boolean (true)",
            ),
        ];
        for (ty, input, message) in cases {
            assert_eq!(errors(json!({ "type": ty }), input), vec![p("", message)]);
        }
    }

    #[test]
    fn long_values_are_cut_to_sixty_characters() {
        let long = "x".repeat(100);
        let found = errors(json!({ "type": "number" }), json!(long));
        let shown: String = format!("\"{}", "x".repeat(58)) + "…";
        assert_eq!(shown.chars().count(), 60);
        assert_eq!(found, vec![p("", &format!("expected a number, found a string ({shown})"))]);
    }

    #[test]
    fn integer_versus_number() {
        let int = json!({ "type": "integer" });
        for ok in [json!(3), json!(-3), json!(u64::MAX), json!(3.0), json!(-0.0)] {
            assert_eq!(apply(&int, ok.clone()), Ok(ok));
        }
        assert_eq!(errors(int, json!(3.5)), vec![p("", "expected an integer, found a number (3.5)")]);
        let num = json!({ "type": "number" });
        for ok in [json!(3), json!(3.5), json!(-1e300)] {
            assert_eq!(apply(&num, ok.clone()), Ok(ok));
        }
    }

    #[test]
    fn enum_membership() {
        let schema = json!({ "type": "string", "enum": ["red", "green"] });
        assert_eq!(apply(&schema, json!("red")), Ok(json!("red")));
        assert_eq!(errors(schema, json!("purple")), vec![p("", "\"purple\" is not one of \"red\", \"green\"")]);
        // Numbers compare by value; structured values compare deeply.
        let schema = json!({ "enum": [1, { "a": [true] }] });
        assert_eq!(apply(&schema, json!(1.0)), Ok(json!(1.0)));
        assert_eq!(apply(&schema, json!({ "a": [true] })), Ok(json!({ "a": [true] })));
        assert_eq!(
            errors(schema, json!({ "a": [false] })),
            vec![p("", "{\"a\":[false]} is not one of 1, {\"a\":[true]}")]
        );
    }

    #[test]
    fn items_are_validated_with_their_index() {
        let schema = json!({ "type": "object", "properties": { "items": {
            "type": "array",
            "items": { "type": "object", "required": ["name"],
                       "properties": { "name": { "type": "string" } } } } } });
        let found = errors(schema, json!({ "items": [{ "name": "a" }, { "name": "b" }, {}, { "name": 1 }] }));
        assert_eq!(
            found,
            vec![
                p("/items/2/name", "missing required property \"name\""),
                p("/items/3/name", "expected a string, found a number (1)"),
            ]
        );
    }

    #[test]
    fn required_only_requires_presence() {
        let schema = json!({ "type": "object", "required": ["url"],
                             "properties": { "url": { "type": ["string", "null"] } } });
        assert_eq!(apply(&schema, json!({ "url": null })), Ok(json!({ "url": null })));
        // A default satisfies `required`.
        let schema = json!({ "type": "object", "required": ["n"],
                             "properties": { "n": { "default": 1 } } });
        assert_eq!(apply(&schema, json!({})), Ok(json!({ "n": 1 })));
    }

    #[test]
    fn pointers_escape_tilde_and_slash() {
        let schema = json!({ "type": "object", "required": ["a/b"],
                             "properties": { "m~n": { "type": "string" } } });
        let found = errors(schema, json!({ "m~n": 1 }));
        assert_eq!(
            found,
            vec![p("/m~0n", "expected a string, found a number (1)"), p("/a~1b", "missing required property \"a/b\""),]
        );
        let bad = json!({ "properties": { "x/y~z": { "type": "text" } } });
        assert_eq!(
            check_schema(&bad),
            vec![p(
                "/properties/x~1y~0z/type",
                "unknown type \"text\" (types: object, array, string, number, integer, boolean, null)"
            )]
        );
    }

    #[test]
    fn unknown_keywords_get_did_you_mean() {
        let schema = json!({ "type": "object", "propertes": {}, "requird": [], "minLength": 3 });
        let mut found = check_schema(&schema);
        found.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        assert_eq!(
            found,
            vec![
                p(
                    "/minLength",
                    "unknown keyword `minLength` (supported: type, properties, required, additionalProperties, default, enum, items, title, description, examples)"
                ),
                p("/propertes", "unknown keyword `propertes`; did you mean `properties`?"),
                p("/requird", "unknown keyword `requird`; did you mean `required`?"),
            ]
        );
        // Transpositions and case count as one edit each; nested schemas are checked too.
        let nested = json!({ "properties": { "a": { "tpye": "string", "Items": {} } } });
        let mut found = check_schema(&nested);
        found.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        assert_eq!(
            found,
            vec![
                p("/properties/a/Items", "unknown keyword `Items`; did you mean `items`?"),
                p("/properties/a/tpye", "unknown keyword `tpye`; did you mean `type`?"),
            ]
        );
    }

    #[test]
    fn keyword_shapes_are_checked() {
        let schema = json!({
            "type": ["string", 3, "strng"],
            "properties": { "a": "string", "b": { "items": [] } },
            "required": "a",
            "enum": {},
            "items": { "type": [] },
            "title": "t", "description": "d", "examples": [1]
        });
        let mut found = check_schema(&schema);
        found.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        assert_eq!(
            found,
            vec![
                p("/enum", "`enum` must be an array of values, found an object ({})"),
                p("/items/type", "`type` must name at least one type"),
                p("/properties/a", "a schema must be an object, found a string (\"string\")"),
                p("/properties/b/items", "a schema must be an object, found an array ([])"),
                p("/required", "`required` must be an array of property names, found a string (\"a\")"),
                p("/type/1", "a type must be a type name, found a number (3)"),
                p("/type/2", "unknown type \"strng\"; did you mean \"string\"?"),
            ]
        );
        assert_eq!(
            check_schema(&json!({ "enum": [], "required": ["a", 1] })),
            vec![
                p("/enum", "`enum` must list at least one value"),
                p("/required/1", "`required` must list property names, found a number (1)"),
            ]
        );
        assert_eq!(check_schema(&json!(true)), vec![p("", "a schema must be an object, found a boolean (true)")]);
    }

    #[test]
    fn defaults_must_match_their_schema() {
        let schema = json!({ "properties": {
            "n": { "type": "integer", "default": "ten" },
            "o": { "type": "object", "required": ["k"], "default": { "j": 1 },
                   "properties": { "j": { "type": "string" } } },
            "ok": { "type": "string", "enum": ["a"], "default": "a" }
        } });
        assert_eq!(
            check_schema(&schema),
            vec![
                p("/properties/n/default", "the default is invalid: expected an integer, found a string (\"ten\")"),
                p("/properties/o/default/j", "the default is invalid: expected a string, found a number (1)"),
                p("/properties/o/default/k", "the default is invalid: missing required property \"k\""),
            ]
        );
    }

    #[test]
    fn no_panics_on_odd_schemas_or_inputs() {
        // apply assumes a checked schema, but must not panic on anything.
        for schema in [json!(null), json!([1]), json!({ "type": 5, "properties": 1, "items": "x", "enum": 2 })] {
            assert!(apply(&schema, json!({ "a": [1, 2] })).is_ok());
            let _ = check_schema(&schema);
        }
        let _ = apply(&json!({ "type": "number" }), json!("é".repeat(200)));
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("type", "type"), 0);
        assert_eq!(edit_distance("typ", "type"), 1);
        assert_eq!(edit_distance("tpye", "type"), 1);
        assert_eq!(edit_distance("propreties", "properties"), 1);
        assert_eq!(edit_distance("xyz", "type"), 3);
        assert_eq!(closest("minimum", &KEYWORDS), None);
    }
}
