//! Reading checked values out of the document's JSON: every read reports what is wrong with
//! the value (with its pointer) and returns `None`, so a check can go on past a mistake and
//! report the next one.

use serde_json::{Map, Value};

use crate::diag::{did_you_mean, Code, Diagnostic};
use crate::source::escape;
use crate::template::{self, Template};

/// What a field holds, for the JSON Schema of the format and its reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    String,
    /// A string that may hold `{{ templates }}`.
    Template,
    Integer,
    Number,
    Boolean,
    /// Any JSON; strings inside may hold templates.
    Json,
    /// An object of template strings.
    TemplateMap,
    /// An array of template strings.
    TemplateList,
    /// One of these strings.
    Enum(&'static [&'static str]),
    /// A jq filter.
    Jq,
    /// A Rust block.
    Rust,
    /// A JSON Schema (the supported subset).
    Schema,
    /// An array of plain strings.
    StringList,
    /// An object of plain strings.
    StringMap,
    /// An object described by its own fields.
    Object(&'static [Field]),
    /// An array of objects described by these fields.
    ListOf(&'static [Field]),
    /// An object whose string member `tag` says which of the field sets describes it.
    Tagged {
        tag: &'static str,
        variants: &'static [(&'static str, &'static [Field])],
    },
    /// An object whose values are objects described by these fields.
    MapOf(&'static [Field]),
    /// Something with its own shape, described in words.
    Other(&'static str),
}

/// One field of an object in the flow document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
    pub doc: &'static str,
}

impl Field {
    pub const fn req(name: &'static str, ty: Ty, doc: &'static str) -> Field {
        Field { name, ty, required: true, doc }
    }

    pub const fn opt(name: &'static str, ty: Ty, doc: &'static str) -> Field {
        Field { name, ty, required: false, doc }
    }
}

/// Collects diagnostics.
#[derive(Debug, Default)]
pub struct Sink {
    pub diagnostics: Vec<Diagnostic>,
    /// Every template parsed so far, with its pointer: the template phase checks what they read.
    pub templates: Vec<(String, Template)>,
    /// Every jq filter read so far, with its pointer, to be checked together.
    pub filters: Vec<(String, String)>,
    /// Roots that templates under a pointer may read besides nodes (an agent tool's `args`),
    /// with their types: `(pointer prefix, root, type)`.
    pub locals: Vec<(String, String, crate::types::Type)>,
    /// The modules of the flow tools' documents so far, with each document's canonical path:
    /// two documents may not make one module.
    pub flow_modules: Vec<(String, std::path::PathBuf)>,
}

impl Sink {
    pub fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }
}

/// The JSON type name used in messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A compact rendering of a value for messages, cut at 40 characters.
pub fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

/// An object being read. Creating it reports unknown and missing fields.
pub struct Reader<'a> {
    pub map: &'a Map<String, Value>,
    pub pointer: String,
    /// Whether every read so far was fine.
    pub ok: bool,
    what: String,
}

impl<'a> Reader<'a> {
    /// Starts reading `value` at `pointer` as an object with `fields`; `what` names it in
    /// messages ("node `fetch`'s config"). Returns `None` (and reports it) if it is not an
    /// object.
    pub fn new(sink: &mut Sink, value: &'a Value, pointer: &str, fields: &[Field], what: &str) -> Option<Reader<'a>> {
        let Value::Object(map) = value else {
            sink.push(
                Diagnostic::new(Code::E002, pointer, format!("{what} must be an object, not {}", type_name(value)))
                    .help(format!("write {what} as {{ ... }} with the fields {}", list(fields.iter().map(|f| f.name)))),
            );
            return None;
        };
        let mut reader = Reader { map, pointer: pointer.to_owned(), ok: true, what: what.to_owned() };
        // A missing required field that an unknown field is a typo of is reported once, as
        // the typo.
        let mut typos_of = Vec::new();
        for key in map.keys() {
            if !fields.iter().any(|f| f.name == key) {
                let d =
                    Diagnostic::new(Code::E003, reader.child(key), format!("unknown field `{key}` in {what}")).at_key();
                let d = match did_you_mean(key, fields.iter().map(|f| f.name)) {
                    Some(near) => {
                        typos_of.push(near);
                        d.help(format!("did you mean `{near}`?"))
                    }
                    None => d.help(format!("{what} has the fields {}", list(fields.iter().map(|f| f.name)))),
                };
                sink.push(d);
                reader.ok = false;
            }
        }
        for field in fields.iter().filter(|f| f.required && !map.contains_key(f.name)) {
            reader.ok = false;
            if !typos_of.contains(&field.name) {
                sink.push(
                    Diagnostic::new(
                        Code::E004,
                        pointer,
                        format!("{what} is missing the required field `{}`", field.name),
                    )
                    .help(format!("add `\"{}\": ...` ({})", field.name, field.doc)),
                );
            }
        }
        Some(reader)
    }

    /// How messages name the object read ("the config of node `fetch` (http_request)").
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The pointer of a member.
    pub fn child(&self, name: &str) -> String {
        format!("{}/{}", self.pointer, escape(name))
    }

    /// The raw value of a field, if present.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name)
    }

    fn wrong(&mut self, sink: &mut Sink, name: &str, expected: &str, found: &Value) {
        let what = &self.what;
        sink.push(
            Diagnostic::new(
                Code::E002,
                self.child(name),
                format!("`{name}` in {what} must be {expected}, not {} ({})", type_name(found), short(found)),
            )
            .help(format!("change `{name}` to {expected}")),
        );
        self.ok = false;
    }

    /// Reports a problem with a field that is of the right type but not acceptable.
    pub fn invalid(&mut self, sink: &mut Sink, name: &str, message: String, help: String) {
        sink.push(Diagnostic::new(Code::E015, self.child(name), message).help(help));
        self.ok = false;
    }

    pub fn string(&mut self, sink: &mut Sink, name: &str) -> Option<&'a str> {
        match self.get(name)? {
            Value::String(s) => Some(s),
            other => {
                self.wrong(sink, name, "a string", other);
                None
            }
        }
    }

    pub fn boolean(&mut self, sink: &mut Sink, name: &str) -> Option<bool> {
        match self.get(name)? {
            Value::Bool(b) => Some(*b),
            other => {
                self.wrong(sink, name, "true or false", other);
                None
            }
        }
    }

    /// An integer in `min..=max`.
    pub fn integer(&mut self, sink: &mut Sink, name: &str, min: u64, max: u64) -> Option<u64> {
        let value = self.get(name)?;
        if let Some(n) = value.as_u64().filter(|n| (min..=max).contains(n)) {
            return Some(n);
        }
        if value.is_i64() || value.is_u64() {
            let what = self.what.clone();
            self.invalid(
                sink,
                name,
                format!("`{name}` in {what} is {value}, outside {min}..={max}"),
                format!("use a value from {min} to {max}"),
            );
        } else {
            self.wrong(sink, name, &format!("an integer from {min} to {max}"), value);
        }
        None
    }

    /// A number in `min..=max`.
    pub fn number(&mut self, sink: &mut Sink, name: &str, min: f64, max: f64) -> Option<f64> {
        let value = self.get(name)?;
        match value.as_f64() {
            Some(n) if n >= min && n <= max => Some(n),
            Some(n) => {
                let what = self.what.clone();
                self.invalid(
                    sink,
                    name,
                    format!("`{name}` in {what} is {n}, outside {min}..={max}"),
                    format!("use a value from {min} to {max}"),
                );
                None
            }
            None => {
                self.wrong(sink, name, "a number", value);
                None
            }
        }
    }

    /// One of `allowed`.
    pub fn one_of(&mut self, sink: &mut Sink, name: &str, allowed: &[&'static str]) -> Option<&'static str> {
        let value = self.string(sink, name)?;
        if let Some(found) = allowed.iter().find(|a| **a == value) {
            return Some(found);
        }
        let what = self.what.clone();
        let help = match did_you_mean(value, allowed.iter().copied()) {
            Some(near) => format!("did you mean `{near}`? (allowed: {})", list(allowed.iter().copied())),
            None => format!("use one of {}", list(allowed.iter().copied())),
        };
        self.invalid(sink, name, format!("`{name}` in {what} is `{value}`, which is not allowed"), help);
        None
    }

    /// A string that may hold templates.
    pub fn template(&mut self, sink: &mut Sink, name: &str) -> Option<Template> {
        let text = self.string(sink, name)?;
        let pointer = self.child(name);
        let parsed = parse_template(sink, text, &pointer);
        self.ok &= parsed.is_some();
        parsed
    }

    /// An object of template strings, in key order.
    pub fn template_map(&mut self, sink: &mut Sink, name: &str) -> Option<Vec<(String, Template)>> {
        let value = self.get(name)?;
        let Value::Object(map) = value else {
            self.wrong(sink, name, "an object of strings", value);
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (key, value) in map {
            let pointer = format!("{}/{}", self.child(name), escape(key));
            match value {
                Value::String(text) => match parse_template(sink, text, &pointer) {
                    Some(t) => out.push((key.clone(), t)),
                    None => ok = false,
                },
                other => {
                    sink.push(
                        Diagnostic::new(
                            Code::E002,
                            pointer,
                            format!("`{name}.{key}` must be a string, not {} ({})", type_name(other), short(other)),
                        )
                        .help("write the value as a string; use a template such as \"{{ node.field }}\" for data"),
                    );
                    ok = false;
                }
            }
        }
        self.ok &= ok;
        ok.then_some(out)
    }

    /// An array of template strings.
    pub fn template_list(&mut self, sink: &mut Sink, name: &str) -> Option<Vec<Template>> {
        let texts = self.string_list(sink, name)?;
        let pointer = self.child(name);
        let parsed: Vec<Option<Template>> =
            texts.iter().enumerate().map(|(i, text)| parse_template(sink, text, &format!("{pointer}/{i}"))).collect();
        let ok = parsed.iter().all(Option::is_some);
        self.ok &= ok;
        ok.then(|| parsed.into_iter().flatten().collect())
    }

    /// An array of plain strings (no templates).
    pub fn string_list(&mut self, sink: &mut Sink, name: &str) -> Option<Vec<String>> {
        let value = self.get(name)?;
        let Value::Array(items) = value else {
            self.wrong(sink, name, "an array of strings", value);
            return None;
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(text) => out.push(text.clone()),
                other => {
                    sink.push(
                        Diagnostic::new(
                            Code::E002,
                            format!("{}/{i}", self.child(name)),
                            format!("`{name}[{i}]` must be a string, not {} ({})", type_name(other), short(other)),
                        )
                        .help(format!("write every item of `{name}` as a string")),
                    );
                    self.ok = false;
                }
            }
        }
        (out.len() == items.len()).then_some(out)
    }

    /// An object of plain strings (no templates), in key order.
    pub fn string_map(&mut self, sink: &mut Sink, name: &str) -> Option<Vec<(String, String)>> {
        let value = self.get(name)?;
        let Value::Object(map) = value else {
            self.wrong(sink, name, "an object of strings", value);
            return None;
        };
        let mut out = Vec::new();
        for (key, value) in map {
            match value {
                Value::String(text) => out.push((key.clone(), text.clone())),
                other => {
                    sink.push(
                        Diagnostic::new(
                            Code::E002,
                            format!("{}/{}", self.child(name), escape(key)),
                            format!("`{name}.{key}` must be a string, not {} ({})", type_name(other), short(other)),
                        )
                        .help(format!("write every value of `{name}` as a string")),
                    );
                    self.ok = false;
                }
            }
        }
        (out.len() == map.len()).then_some(out)
    }

    /// Any JSON; every string inside is parsed as a template.
    pub fn json(&mut self, sink: &mut Sink, name: &str) -> Option<Json> {
        let value = self.get(name)?;
        let pointer = self.child(name);
        let parsed = Json::parse(sink, value, &pointer);
        self.ok &= parsed.is_some();
        parsed
    }
}

/// Parses a template string, reporting a syntax error at `pointer`.
pub fn parse_template(sink: &mut Sink, text: &str, pointer: &str) -> Option<Template> {
    match template::parse(text) {
        Ok(t) => {
            if !matches!(t, Template::Literal(_)) {
                sink.templates.push((pointer.to_owned(), t.clone()));
            }
            Some(t)
        }
        Err(e) => {
            sink.push(
                Diagnostic::new(
                    Code::E016,
                    pointer,
                    format!(
                        "bad template at character {} of {}: {}",
                        e.offset + 1,
                        short(&Value::from(text)),
                        e.message
                    ),
                )
                .help(e.help),
            );
            None
        }
    }
}

/// JSON whose strings may hold templates.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(Template),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    pub fn parse(sink: &mut Sink, value: &Value, pointer: &str) -> Option<Json> {
        Some(match value {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Number(n.clone()),
            Value::String(s) => Json::String(parse_template(sink, s, pointer)?),
            Value::Array(items) => {
                let parsed: Vec<Option<Json>> =
                    items.iter().enumerate().map(|(i, v)| Json::parse(sink, v, &format!("{pointer}/{i}"))).collect();
                Json::Array(parsed.into_iter().collect::<Option<_>>()?)
            }
            Value::Object(map) => {
                let parsed: Vec<Option<(String, Json)>> = map
                    .iter()
                    .map(|(k, v)| Json::parse(sink, v, &format!("{pointer}/{}", escape(k))).map(|j| (k.clone(), j)))
                    .collect();
                Json::Object(parsed.into_iter().collect::<Option<_>>()?)
            }
        })
    }

    /// Every template inside, with its pointer relative to this value.
    pub fn templates(&self) -> Vec<(String, &Template)> {
        let mut out = Vec::new();
        self.collect(String::new(), &mut out);
        out
    }

    fn collect<'s>(&'s self, at: String, out: &mut Vec<(String, &'s Template)>) {
        match self {
            Json::String(t) => out.push((at, t)),
            Json::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    item.collect(format!("{at}/{i}"), out);
                }
            }
            Json::Object(members) => {
                for (k, v) in members {
                    v.collect(format!("{at}/{}", escape(k)), out);
                }
            }
            _ => {}
        }
    }

    /// Whether no string inside holds a template.
    pub fn is_static(&self) -> bool {
        self.templates().iter().all(|(_, t)| matches!(t, Template::Literal(_)))
    }
}

/// `a`, `b` or `c` → "`a`, `b`, `c`".
pub fn list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items.into_iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ")
}
