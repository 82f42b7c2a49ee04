//! The logic of the n8n nodes that compiled item flows run, and the expression context
//! ([`Cx`]) their parameters are evaluated in.
//!
//! A program compiled from an n8n workflow has one function per node (see `items`); for the
//! node kinds below, that function evaluates the node's expressions (generated code, given a
//! [`Cx`]) and hands the values to the function here that does what the node does:
//! - Edit Fields (Set) v3.3 / v3.4, manual mapping: [`set`];
//! - If v2.2: [`if_node`], and Filter v2.2: [`filter`] (filter conditions of version 2);
//! - Limit v1: [`limit`]; Merge v3, mode append: [`merge_append`]; No Operation: [`noop`];
//!   Manual Trigger: [`manual_trigger`].
//!
//! They follow n8n's own semantics for these node versions (its `nodes-base` sources and
//! `n8n-workflow`'s type validation and filter parameter), down to its conversion rules
//! (`"12"` is a number, `"0"` a boolean, JavaScript's `Number()` and `String()`), its error
//! messages and which output an item that failed goes to: an imported workflow must give the
//! items n8n gives, or it is not the same workflow. Where n8n relies on JavaScript (lodash
//! paths, `JSON.parse`, luxon dates), the small equivalents are written here, and each says
//! how far it goes.

use chrono::{DateTime, NaiveDate};
use serde_json::{json, Map, Value};

use crate::error::Error;
use crate::items::{text, truthy, Item, NodeInput, NodeOutput, OnError, Order, PairError, Paired};

static NULL: Value = Value::Null;

/// Which input [`NodeInput::main`] takes its items from.
pub(crate) fn main_input(input: &NodeInput<'_>) -> usize {
    match input.order {
        Order::V0 => 0,
        Order::V1 => input.inputs.iter().position(|items| !items.is_empty()).unwrap_or(0),
    }
}

/// Item `item` of input `input`, passed on unchanged: paired with itself.
/// `$env.NAME`: the environment variable's value, `null` when it is not set (n8n's `undefined`).
pub fn env(name: &str) -> Value {
    std::env::var(name).map_or(Value::Null, Value::String)
}

/// An item as an expression sees it in a list of items: `{"json": …}` (n8n's items also have
/// `binary` and `pairedItem`, which flowc's do not expose).
fn item_value(item: &Item) -> Value {
    let mut object = Map::new();
    object.insert("json".to_owned(), item.json.clone());
    Value::Object(object)
}

pub(crate) fn passed(item: &Item, index: usize, input: usize) -> Item {
    Item { json: item.json.clone(), paired: vec![Paired { item: index, input }] }
}

/// A failure of the whole node on item `index`: its message says which item, as n8n's does.
pub(crate) fn at_item(mut error: Error, index: usize) -> Error {
    if !error.message.contains(&format!("item {index}]")) {
        error.message = format!("{} [item {index}]", error.message);
    }
    error
}

// ---------------------------------------------------------------------------------------------
// The expression context
// ---------------------------------------------------------------------------------------------

/// Where an expression is evaluated: a node's run, and the index of the item (in
/// `input.main()`).
pub struct Cx<'a> {
    pub input: &'a NodeInput<'a>,
    pub index: usize,
}

impl<'a> Cx<'a> {
    /// `$json`: the item's JSON (`null` past the end of the input).
    pub fn json(&self) -> &Value {
        self.input.main().get(self.index).map_or(&NULL, |item| &item.json)
    }

    /// `$itemIndex`.
    pub fn item_index(&self) -> Value {
        Value::from(self.index)
    }

    /// `$runIndex`.
    pub fn run_index(&self) -> Value {
        Value::from(self.input.run_index)
    }

    /// `$input.first().json` (`null` when the input is empty).
    pub fn input_first(&self) -> Result<Value, Error> {
        Ok(self.input.main().first().map_or(Value::Null, |item| item.json.clone()))
    }

    /// `$input.last().json` (`null` when the input is empty).
    pub fn input_last(&self) -> Result<Value, Error> {
        Ok(self.input.main().last().map_or(Value::Null, |item| item.json.clone()))
    }

    /// `$input.all()`: the items, each `{"json": …}` as n8n's items are (so that
    /// `$input.all().map(item => item.json.x)` and `$input.all()[0].json` read what they do in
    /// n8n).
    pub fn input_all(&self) -> Value {
        Value::Array(self.input.main().iter().map(item_value).collect())
    }

    /// `$('Node').item.json`: the item of `node` this item came from, followed back through the
    /// paired items. The errors are n8n's (`WorkflowDataProxy`), in its words, with the node
    /// named and n8n's error type as the code.
    pub fn node_item(&self, node: &str) -> Result<Value, Error> {
        let wanted = self.node_index(node)?;
        self.last_run_output(wanted, node)?;
        if !upstream(self.input, wanted) {
            return Err(expression_error(
                format!("Invalid expression: there is no connection back to the node '{node}'"),
                "paired_item_no_connection",
            ));
        }
        match self.input.paired_item(main_input(self.input), self.index, wanted) {
            Ok(item) => Ok(item.json.clone()),
            Err(PairError::Missing { node: at }) => {
                let at = self.input.flow.nodes.get(at).map_or(node, |n| n.name);
                Err(expression_error(
                    format!("Paired item data for item from node '{at}' is unavailable. Ensure '{at}' is providing the required output."),
                    "paired_item_no_info",
                ))
            }
            Err(PairError::Several) => Err(expression_error(
                format!("Multiple matches found: item {} came from several items of the node '{node}'", self.index),
                "paired_item_multiple_matches",
            )),
            Err(PairError::NoPath) => Err(expression_error(
                format!("Can't get data for expression: item {} did not come from the node '{node}'", self.index),
                "paired_item_invalid_info",
            )),
        }
    }

    /// `$('Node').first().json`: the first item of output 0 of the node's last run so far
    /// (`null` when it gave none).
    pub fn node_first(&self, node: &str) -> Result<Value, Error> {
        let at = self.node_index(node)?;
        Ok(self.last_run_output(at, node)?.first().map_or(Value::Null, |item| item.json.clone()))
    }

    /// `$('Node').last().json`.
    pub fn node_last(&self, node: &str) -> Result<Value, Error> {
        let at = self.node_index(node)?;
        Ok(self.last_run_output(at, node)?.last().map_or(Value::Null, |item| item.json.clone()))
    }

    /// `$('Node').all()`: the items, each `{"json": …}`, as [`Cx::input_all`].
    pub fn node_all(&self, node: &str) -> Result<Value, Error> {
        let at = self.node_index(node)?;
        Ok(Value::Array(self.last_run_output(at, node)?.iter().map(item_value).collect()))
    }

    /// `$('Node').itemMatching(index)` / `$node["Node"].json`: the item at `index` of output 0 of
    /// the node's last run (`null` past its end).
    pub fn node_at_index(&self, node: &str, index: usize) -> Result<Value, Error> {
        let at = self.node_index(node)?;
        Ok(self.last_run_output(at, node)?.get(index).map_or(Value::Null, |item| item.json.clone()))
    }

    /// `$execution.id`.
    pub fn execution_id(&self) -> Value {
        Value::from(self.input.execution_id)
    }

    /// `$workflow`: its id and name; a compiled workflow is never an active n8n one.
    pub fn workflow(&self) -> Value {
        json!({"id": self.input.flow.id, "name": self.input.flow.name, "active": false})
    }

    fn node_index(&self, node: &str) -> Result<usize, Error> {
        self.input.flow.nodes.iter().position(|n| n.name == node).ok_or_else(|| {
            expression_error(
                format!("Referenced node doesn't exist: there is no node called '{node}'"),
                "node_not_found",
            )
        })
    }

    /// Output 0 of the last run of node `at` so far.
    fn last_run_output(&self, at: usize, node: &str) -> Result<&'a [Item], Error> {
        let history: &'a [crate::items::NodeRun] = self.input.history;
        let run = history.iter().rev().find(|run| run.node == at).ok_or_else(|| {
            expression_error(
                format!("Referenced node is unexecuted: an expression references the node '{node}', which hasn't been executed"),
                "no_node_execution_data",
            )
        })?;
        Ok(run.outputs.first().map_or(&[], Vec::as_slice))
    }
}

fn expression_error(message: String, code: &str) -> Error {
    Error::validation(message).with_code(code)
}

/// Whether node `wanted` is upstream of the running node: of the nodes its batches came from.
fn upstream(input: &NodeInput<'_>, wanted: usize) -> bool {
    let mut seen = vec![false; input.flow.nodes.len()];
    let mut todo: Vec<usize> = input.sources.iter().flatten().map(|source| source.node).collect();
    while let Some(at) = todo.pop() {
        if at == wanted {
            return true;
        }
        if at >= seen.len() || std::mem::replace(&mut seen[at], true) {
            continue;
        }
        todo.extend(input.flow.connections.iter().filter(|c| c.target == at).map(|c| c.source));
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Edit Fields (Set)
// ---------------------------------------------------------------------------------------------

/// The type of a field that Edit Fields sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    String,
    Number,
    Boolean,
    Array,
    Object,
    /// Set as it is.
    Any,
}

impl FieldType {
    fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Boolean => "boolean",
            FieldType::Array => "array",
            FieldType::Object => "object",
            FieldType::Any => "any",
        }
    }
}

/// Which input fields an output item keeps (n8n's `include`; `includeOtherFields: false` is
/// [`Include::None`]). The names are paths under dot notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Include {
    All,
    None,
    Selected(&'static [&'static str]),
    Except(&'static [&'static str]),
}

/// An Edit Fields node's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetConfig {
    pub include: Include,
    /// `"a.b"` writes `b` under `a` (lodash paths: `a[0].b` too); otherwise a literal key.
    pub dot_notation: bool,
    /// A value that does not convert to its field's type is set as it is.
    pub ignore_conversion_errors: bool,
}

/// Edit Fields (Set) v3.3/3.4, manual mode: per item, the fields `fields(cx)` gives (name,
/// type, value already evaluated) are converted to their type and written over the input
/// fields the item keeps. Output items are paired to their input item.
///
/// The conversion is n8n's (`validateEntry`, `validateFieldType`): `null` stays `null`; a
/// string is `String(value)` (JSON text for arrays and objects); a number is JavaScript's
/// `Number(value)` (`"12"` is 12, `""` is 0, `"abc"` fails); a boolean takes `true`/`false` in
/// any case, and what `Number()` makes 1 or 0; an array or object takes JSON text (an array
/// `'` quoted too, an object JavaScript object notation too). A value that does not convert is
/// an error `'name' expects a number but we got 'abc' [item 0]`, or with
/// `ignore_conversion_errors` is set as it is.
///
/// When an item fails (a conversion, or an expression) and `on_error` is not
/// [`OnError::Stop`], the item becomes what n8n makes it, `{"error": message, "pairedItem":
/// {"item": index}}`, and the others go on; otherwise the node fails with the error.
pub fn set(
    input: &NodeInput<'_>,
    config: &SetConfig,
    on_error: OnError,
    fields: impl Fn(&Cx<'_>) -> Result<Vec<(String, FieldType, Value)>, Error>,
) -> NodeOutput {
    let from = main_input(input);
    let mut items = Vec::with_capacity(input.main().len());
    for (index, item) in input.main().iter().enumerate() {
        let cx = Cx { input, index };
        let paired = vec![Paired { item: index, input: from }];
        match fields(&cx).and_then(|fields| set_item(&item.json, fields, config, index)) {
            Ok(json) => items.push(Item { json, paired }),
            Err(error) if on_error == OnError::Stop => return Err(at_item(error, index)),
            // n8n's Set puts `pairedItem` inside the JSON here (`manual.mode.ts`), and so the
            // item is not one the error output takes (more keys than `error` and `message`).
            Err(error) => {
                items.push(Item { json: json!({"error": error.message, "pairedItem": {"item": index}}), paired })
            }
        }
    }
    Ok(vec![items])
}

/// One output item of Edit Fields (n8n's `composeReturnItem`).
fn set_item(
    json: &Value,
    fields: Vec<(String, FieldType, Value)>,
    config: &SetConfig,
    index: usize,
) -> Result<Value, Error> {
    // The new fields first (a later field of the same name wins, in the first one's place).
    let mut new_fields = Map::new();
    for (name, ty, value) in fields {
        let value = convert_field(&name, ty, value, index, config.ignore_conversion_errors)?;
        new_fields.insert(name, value);
    }
    let dot = config.dot_notation;
    let empty = Map::new();
    let given = json.as_object().unwrap_or(&empty);
    let mut out = match config.include {
        Include::All => given.clone(),
        Include::None => Map::new(),
        Include::Selected(keys) => {
            let mut out = Map::new();
            for key in keys.iter().map(|k| k.trim()).filter(|k| !k.is_empty()) {
                if let Some(value) = path_get(given, key, dot) {
                    // A path keeps its last name only.
                    let name = if dot && key.contains('.') { key.rsplit('.').next().unwrap_or(key) } else { key };
                    path_set(&mut out, name, value.clone(), dot);
                }
            }
            out
        }
        Include::Except(keys) => {
            let mut out = given.clone();
            for key in keys.iter().map(|k| k.trim()).filter(|k| !k.is_empty()) {
                path_unset(&mut out, key, dot);
            }
            out
        }
    };
    for (name, value) in new_fields {
        path_set(&mut out, &name, value, dot);
    }
    Ok(Value::Object(out))
}

/// A field's value converted to its type (n8n's `validateEntry` for v3.2 and later).
fn convert_field(name: &str, ty: FieldType, value: Value, index: usize, ignore: bool) -> Result<Value, Error> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let converted = match ty {
        FieldType::String => {
            return Ok(Value::String(match &value {
                Value::Array(_) | Value::Object(_) => crate::js::stringify(&value, ""),
                other => text(other),
            }))
        }
        FieldType::Any => return Ok(value),
        FieldType::Number => to_number(&value),
        FieldType::Boolean => to_boolean(&value).map(Value::Bool),
        FieldType::Array => to_array(&value),
        FieldType::Object => to_object(&value),
    };
    match converted {
        Some(converted) => Ok(converted),
        None if ignore => Ok(value),
        None => Err(Error::validation(format!(
            "'{name}' expects a{} {} but we got {} [item {index}]",
            if ty == FieldType::Array || ty == FieldType::Object { "n" } else { "" },
            ty.name(),
            describe(&value)
        ))),
    }
}

/// A value as n8n's type errors show it (`getValueDescription`).
fn describe(value: &Value) -> String {
    match value {
        Value::Array(_) => "array".to_owned(),
        Value::Object(_) => "object".to_owned(),
        other => format!("'{}'", crate::js::string(other)),
    }
}

// Paths, as lodash's `get`, `set` and `unset` read them (what n8n's dot notation uses).

/// The names of a path: `a.b[0]["c.d"]` is `a`, `b`, `0`, `c.d`. (lodash also keeps the
/// empty names of `a..b`; this skips them.)
fn path_names(path: &str) -> Vec<String> {
    let chars: Vec<char> = path.chars().collect();
    let mut names = Vec::new();
    if path.starts_with('.') {
        names.push(String::new());
    }
    let mut name = String::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                if !name.is_empty() {
                    names.push(std::mem::take(&mut name));
                }
                i += 1;
            }
            '[' => {
                if !name.is_empty() {
                    names.push(std::mem::take(&mut name));
                }
                let quote = chars.get(i + 1).copied().filter(|c| *c == '"' || *c == '\'');
                let mut j = i + 1 + usize::from(quote.is_some());
                let mut inner = String::new();
                let mut closed = false;
                while j < chars.len() {
                    match (quote, chars[j]) {
                        (Some(_), '\\') if j + 1 < chars.len() => {
                            inner.push(chars[j + 1]);
                            j += 2;
                        }
                        (Some(q), c) if c == q && chars.get(j + 1) == Some(&']') => {
                            j += 2;
                            closed = true;
                            break;
                        }
                        (None, ']') => {
                            j += 1;
                            closed = true;
                            break;
                        }
                        (_, c) => {
                            inner.push(c);
                            j += 1;
                        }
                    }
                }
                if !closed {
                    // No closing bracket: the rest is a name.
                    name = chars[i..].iter().collect();
                    break;
                }
                names.push(inner);
                i = j;
            }
            c => {
                name.push(c);
                i += 1;
            }
        }
    }
    if !name.is_empty() {
        names.push(name);
    }
    names
}

/// Whether `path` is one key of `object` rather than a path (lodash's `isKey`).
fn is_key(object: &Map<String, Value>, path: &str) -> bool {
    object.contains_key(path) || !(path.contains('.') || path.contains('['))
}

/// An array index, as lodash's `isIndex` reads one.
pub(crate) fn as_index(name: &str) -> Option<usize> {
    let canonical =
        name == "0" || (!name.is_empty() && !name.starts_with('0') && name.bytes().all(|b| b.is_ascii_digit()));
    canonical.then(|| name.parse().ok()).flatten()
}

/// A key without dot notation: as it is, or without the `['…']` around it (n8n's
/// `sanitizeDataPathKey`).
fn literal_key<'k>(object: &Map<String, Value>, key: &'k str) -> &'k str {
    if object.contains_key(key) {
        return key;
    }
    let wrapped = key.len() >= 4
        && ((key.starts_with("['") && key.ends_with("']")) || (key.starts_with("[\"") && key.ends_with("\"]")));
    if wrapped {
        &key[2..key.len() - 2]
    } else {
        key
    }
}

pub(crate) fn path_get<'v>(object: &'v Map<String, Value>, path: &str, dot: bool) -> Option<&'v Value> {
    if !dot {
        return object.get(literal_key(object, path));
    }
    if is_key(object, path) {
        return object.get(path);
    }
    let names = path_names(path);
    let (first, rest) = names.split_first()?;
    let mut at = object.get(first)?;
    for name in rest {
        at = match at {
            Value::Object(map) => map.get(name)?,
            Value::Array(items) => items.get(as_index(name)?)?,
            _ => return None,
        };
    }
    Some(at)
}

pub(crate) fn path_set(object: &mut Map<String, Value>, path: &str, value: Value, dot: bool) {
    if !dot {
        let key = literal_key(object, path).to_owned();
        object.insert(key, value);
        return;
    }
    if is_key(object, path) {
        object.insert(path.to_owned(), value);
        return;
    }
    let names = path_names(path);
    if names.is_empty() || names.iter().any(|n| matches!(n.as_str(), "__proto__" | "constructor" | "prototype")) {
        return;
    }
    let mut root = Value::Object(std::mem::take(object));
    set_in(&mut root, &names, value);
    if let Value::Object(map) = root {
        *object = map;
    }
}

/// Writes `value` at `names` under `target`, making the objects (or arrays, before an index)
/// on the way where there is none.
fn set_in(target: &mut Value, names: &[String], value: Value) {
    let Some((name, rest)) = names.split_first() else { return };
    let slot = match target {
        Value::Object(map) => map.entry(name.clone()).or_insert(Value::Null),
        Value::Array(items) => {
            // A name that is not an index is a property of the array, which JSON drops.
            let Some(index) = as_index(name) else { return };
            if index >= items.len() {
                items.resize(index + 1, Value::Null);
            }
            &mut items[index]
        }
        _ => return,
    };
    let Some(next) = rest.first() else {
        *slot = value;
        return;
    };
    if !matches!(slot, Value::Object(_) | Value::Array(_)) {
        *slot = if as_index(next).is_some() { Value::Array(Vec::new()) } else { Value::Object(Map::new()) };
    }
    set_in(slot, rest, value);
}

pub(crate) fn path_unset(object: &mut Map<String, Value>, path: &str, dot: bool) {
    if !dot {
        let key = literal_key(object, path).to_owned();
        object.shift_remove(&key);
        return;
    }
    if is_key(object, path) {
        object.shift_remove(path);
        return;
    }
    let names = path_names(path);
    let Some((last, parents)) = names.split_last() else { return };
    let Some((first, rest)) = parents.split_first() else {
        object.shift_remove(last);
        return;
    };
    let Some(mut at) = object.get_mut(first) else { return };
    for name in rest {
        at = match at {
            Value::Object(map) => match map.get_mut(name) {
                Some(next) => next,
                None => return,
            },
            Value::Array(items) => match as_index(name).and_then(|i| items.get_mut(i)) {
                Some(next) => next,
                None => return,
            },
            _ => return,
        };
    }
    match at {
        Value::Object(map) => {
            map.shift_remove(last);
        }
        // `delete` leaves a hole in an array, which JSON writes as `null`.
        Value::Array(items) => {
            if let Some(item) = as_index(last).and_then(|i| items.get_mut(i)) {
                *item = Value::Null;
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// If and Filter
// ---------------------------------------------------------------------------------------------

/// Every operator these nodes run (`type:operation`), with whether it takes a right value: the
/// list the compiler checks workflows against (`flowc_core::n8n`).
pub use crate::n8n::CONDITION_OPERATORS as OPERATORS;

/// Whether `op` (`type:operation`) is one of [`OPERATORS`].
pub fn operator_known(op: &str) -> bool {
    OPERATORS.iter().any(|(known, _)| *known == op)
}

/// Whether operator `op` takes no right value (n8n's `singleValue`): `exists`, `notExists`,
/// `empty`, `notEmpty`, and the booleans' `true` and `false`.
pub fn is_unary(op: &str) -> bool {
    operator_known(op)
        && matches!(op.split_once(':'), Some((_, "exists" | "notExists" | "empty" | "notEmpty" | "true" | "false")))
}

/// The conditions of an If or a Filter node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conditions {
    /// One `type:operation` per condition.
    pub operators: &'static [&'static str],
    /// Every condition must pass (the combinator `and`), or one (`or`).
    pub and: bool,
    pub case_sensitive: bool,
    /// Values of another type are converted (`looseTypeValidation`), rather than an error.
    pub loose: bool,
}

/// If v2: the items that pass the conditions go to output 0 (`true`), the others to output 1
/// (`false`). `values(cx)` gives each condition's (left, right), evaluated.
///
/// The values are taken as n8n's filter (version 2) takes them: with strict type validation
/// a value of the wrong type is an error (`Wrong type: 'abc' is a string but was expecting a
/// number [condition 0, item 0]`); loose, it is converted (`Number()`, `String()`, `"true"`,
/// JSON text), and one that does not convert is an error too (`Conversion error: the string
/// 'abc' can't be converted to a number [condition 0, item 0]`). Conditions are taken in
/// order and stop at the first that decides. Items are paired to themselves. When an item
/// fails and `on_error` is not [`OnError::Stop`], it goes to the `false` output, as n8n's If
/// puts it; otherwise the node fails.
pub fn if_node(
    input: &NodeInput<'_>,
    c: &Conditions,
    on_error: OnError,
    values: impl Fn(&Cx<'_>) -> Result<Vec<(Value, Value)>, Error>,
) -> NodeOutput {
    let from = main_input(input);
    let (mut yes, mut no) = (Vec::new(), Vec::new());
    for (index, item) in input.main().iter().enumerate() {
        match passes(input, c, index, &values) {
            Ok(true) => yes.push(passed(item, index, from)),
            Ok(false) => no.push(passed(item, index, from)),
            Err(error) if on_error == OnError::Stop => return Err(at_item(error, index)),
            Err(_) => no.push(passed(item, index, from)),
        }
    }
    Ok(vec![yes, no])
}

/// Filter v2: the items that pass the conditions, on its one output; the others are dropped.
/// As [`if_node`] otherwise: an item that fails while the node goes on is dropped, as n8n's
/// Filter discards it.
pub fn filter(
    input: &NodeInput<'_>,
    c: &Conditions,
    on_error: OnError,
    values: impl Fn(&Cx<'_>) -> Result<Vec<(Value, Value)>, Error>,
) -> NodeOutput {
    let from = main_input(input);
    let mut kept = Vec::new();
    for (index, item) in input.main().iter().enumerate() {
        match passes(input, c, index, &values) {
            Ok(true) => kept.push(passed(item, index, from)),
            Ok(false) => {}
            Err(error) if on_error == OnError::Stop => return Err(at_item(error, index)),
            Err(_) => {}
        }
    }
    Ok(vec![kept])
}

/// Whether item `index` passes the conditions (n8n's `executeFilter`).
pub(crate) fn passes(
    input: &NodeInput<'_>,
    c: &Conditions,
    index: usize,
    values: &impl Fn(&Cx<'_>) -> Result<Vec<(Value, Value)>, Error>,
) -> Result<bool, Error> {
    let pairs = values(&Cx { input, index })?;
    if pairs.len() != c.operators.len() {
        return Err(Error::internal(format!(
            "{} conditions were given {} pairs of values",
            c.operators.len(),
            pairs.len()
        )));
    }
    for (n, (op, (left, right))) in c.operators.iter().zip(&pairs).enumerate() {
        let pass = condition(op, left, right, c, n, index)?;
        if pass != c.and {
            return Ok(pass);
        }
    }
    Ok(c.and)
}

/// A value of a condition, as n8n's filter has parsed it for the operator's type.
#[derive(Debug, Clone, PartialEq)]
enum Parsed {
    /// `null` (or a missing value): JavaScript's `undefined`.
    Null,
    Str(String),
    Num(f64),
    Bool(bool),
    Arr(Vec<Value>),
    Obj(Map<String, Value>),
    /// Milliseconds since the epoch.
    Date(i64),
    /// As it is (the right value of `array:contains`).
    Any(Value),
}

/// The type the right value of `ty:operation` is parsed as (n8n's `rightType`).
fn right_type<'t>(ty: &'t str, operation: &str) -> &'t str {
    match (ty, operation) {
        ("array", "contains" | "notContains") => "any",
        ("array", op) if op.starts_with("length") => "number",
        (ty, _) => ty,
    }
}

/// A value parsed for type `ty` (n8n's `parseSingleFilterValue`, filter version 2); `None`
/// when it has the wrong type.
fn parse_for(value: &Value, ty: &str, strict: bool) -> Option<Parsed> {
    if value.is_null() {
        return Some(Parsed::Null);
    }
    Some(match (ty, value) {
        ("any", value) => Parsed::Any(value.clone()),
        ("boolean", Value::Bool(b)) => Parsed::Bool(*b),
        ("boolean", _) if strict => return None,
        // Loose: what converts to a boolean, else JavaScript's truthiness.
        ("boolean", value) => Parsed::Bool(to_boolean(value).unwrap_or_else(|| truthy(value))),
        ("string", Value::String(s)) => Parsed::Str(s.clone()),
        ("string", _) if strict => return None,
        ("string", value @ (Value::Array(_) | Value::Object(_))) => Parsed::Str(crate::js::stringify(value, "")),
        ("string", value) => Parsed::Str(text(value)),
        ("number", Value::Number(n)) => Parsed::Num(n.as_f64()?),
        ("number", _) if strict => return None,
        ("number", value) => Some(crate::js::number(value)).filter(|n| !n.is_nan()).map(Parsed::Num)?,
        ("array", Value::Array(items)) => Parsed::Arr(items.clone()),
        ("array", _) if strict => return None,
        ("array", value) => match to_array(value)? {
            Value::Array(items) => Parsed::Arr(items),
            _ => return None,
        },
        ("object", value) if strict && !matches!(value, Value::Object(_) | Value::Array(_)) => return None,
        ("object", value) => match to_object(value)? {
            Value::Object(map) => Parsed::Obj(map),
            _ => return None,
        },
        ("dateTime", value) => Parsed::Date(parse_datetime(&crate::js::string(value))?),
        _ => return None,
    })
}

/// Condition `n` of item `item` (n8n's `executeFilterCondition`).
fn condition(op: &str, left: &Value, right: &Value, c: &Conditions, n: usize, item: usize) -> Result<bool, Error> {
    // n8n takes an unknown operator as failing (the compiler rejects them anyway).
    let Some((ty, operation)) = op.split_once(':').filter(|_| operator_known(op)) else { return Ok(false) };
    let strict = !c.loose;
    let right_ty = right_type(ty, operation);
    let parsed_left = parse_for(left, ty, strict);
    let parsed_right = if is_unary(op) { Some(Parsed::Null) } else { parse_for(right, right_ty, strict) };
    let suffix = format!("[condition {n}, item {item}]");
    let (l, r) = match (parsed_left, parsed_right) {
        (None, None) if js_typeof(left) == js_typeof(right) => {
            return Err(Error::validation(format!(
                "Comparison type expects {} but both fields are {}",
                article(ty),
                article(js_typeof(left))
            )))
        }
        (None, _) => return Err(wrong_type(ty, left, strict, &suffix)),
        (_, None) => return Err(wrong_type(right_ty, right, strict, &suffix)),
        (Some(l), Some(r)) => (l, r),
    };
    let exists = l != Parsed::Null;
    match operation {
        "exists" => return Ok(exists),
        "notExists" => return Ok(!exists),
        _ => {}
    }
    let number = |p: &Parsed| match p {
        Parsed::Num(n) => Some(*n),
        _ => None,
    };
    let compare = |l: Option<f64>, r: Option<f64>| -> bool {
        match (operation, l, r) {
            ("equals" | "lengthEquals", l, r) => l == r,
            ("notEquals" | "lengthNotEquals", l, r) => l != r,
            ("gt" | "lengthGt", Some(l), Some(r)) => l > r,
            ("lt" | "lengthLt", Some(l), Some(r)) => l < r,
            ("gte" | "lengthGte", Some(l), Some(r)) => l >= r,
            ("lte" | "lengthLte", Some(l), Some(r)) => l <= r,
            _ => false,
        }
    };
    let ignore_case = !c.case_sensitive;
    Ok(match ty {
        "string" => {
            let string = |p: Parsed| match p {
                Parsed::Str(s) if ignore_case => s.to_lowercase(),
                Parsed::Str(s) => s,
                _ => String::new(),
            };
            let (l, r) = (string(l), string(r));
            match operation {
                "empty" => l.is_empty(),
                "notEmpty" => !l.is_empty(),
                "equals" => l == r,
                "notEquals" => l != r,
                "contains" => l.contains(&r),
                "notContains" => !l.contains(&r),
                "startsWith" => l.starts_with(&r),
                "notStartsWith" => !l.starts_with(&r),
                "endsWith" => l.ends_with(&r),
                "notEndsWith" => !l.ends_with(&r),
                _ => false,
            }
        }
        "number" => match operation {
            "empty" => !exists,
            "notEmpty" => exists,
            _ => compare(number(&l), number(&r)),
        },
        "dateTime" => match (operation, l, r) {
            ("empty", ..) => !exists,
            ("notEmpty", ..) => exists,
            (operation, Parsed::Date(l), Parsed::Date(r)) => match operation {
                "equals" => l == r,
                "notEquals" => l != r,
                "after" => l > r,
                "before" => l < r,
                "afterOrEquals" => l >= r,
                "beforeOrEquals" => l <= r,
                _ => false,
            },
            // n8n: a missing date passes no comparison.
            _ => false,
        },
        "boolean" => {
            let boolean = |p: &Parsed| match p {
                Parsed::Bool(b) => Some(*b),
                _ => None,
            };
            let (l, r) = (boolean(&l), boolean(&r));
            match operation {
                "empty" => !exists,
                "notEmpty" => exists,
                "true" => l == Some(true),
                // `!left`: a missing value is not true.
                "false" => l != Some(true),
                "equals" => l == r,
                "notEquals" => l != r,
                _ => false,
            }
        }
        "array" => {
            let items = match l {
                Parsed::Arr(items) => items,
                _ => Vec::new(),
            };
            match operation {
                "contains" => array_contains(&items, &r, ignore_case),
                "notContains" => !array_contains(&items, &r, ignore_case),
                "empty" => items.is_empty(),
                "notEmpty" => !items.is_empty(),
                _ => compare(Some(items.len() as f64), number(&r)),
            }
        }
        "object" => {
            let empty = match &l {
                Parsed::Obj(map) => map.is_empty(),
                _ => true,
            };
            match operation {
                "empty" => empty,
                "notEmpty" => !empty,
                _ => false,
            }
        }
        _ => false,
    })
}

/// `array:contains`: JavaScript's `includes` (objects and arrays are never equal to another
/// value), comparing strings without case when `ignore_case` (n8n's `arrayContainsValue`).
fn array_contains(items: &[Value], value: &Parsed, ignore_case: bool) -> bool {
    match value {
        Parsed::Any(Value::String(s)) if ignore_case => {
            let s = s.to_lowercase();
            items.iter().any(|item| matches!(item, Value::String(i) if i.to_lowercase() == s))
        }
        Parsed::Any(value) => items.iter().any(|item| match (item, value) {
            (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            _ => false,
        }),
        _ => items.iter().any(Value::is_null),
    }
}

/// n8n's error for a condition value of the wrong type.
fn wrong_type(ty: &str, value: &Value, strict: bool, suffix: &str) -> Error {
    let (from, shown) = (js_typeof(value), crate::js::string(value));
    Error::validation(if strict {
        format!("Wrong type: '{shown}' is {} but was expecting {} {suffix}", article(from), article(ty))
    } else {
        format!("Conversion error: the {from} '{shown}' can't be converted to {} {suffix}", article(ty))
    })
}

fn article(noun: &str) -> String {
    let an = noun.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {noun}", if an { "an" } else { "a" })
}

// ---------------------------------------------------------------------------------------------
// Limit, Merge, No Operation, Manual Trigger
// ---------------------------------------------------------------------------------------------

/// Limit v1: the first `max_items` items, or the last ones when `keep_last`; all of them when
/// there are no more than that. Each is paired to its input item.
pub fn limit(input: &NodeInput<'_>, max_items: usize, keep_last: bool) -> NodeOutput {
    let from = main_input(input);
    let items = input.main();
    let range = if max_items > items.len() {
        0..items.len()
    } else if keep_last {
        items.len() - max_items..items.len()
    } else {
        0..max_items
    };
    Ok(vec![range.map(|i| passed(&items[i], i, from)).collect()])
}

/// Merge v3, mode append: the items of every input, input 0's first, on one output; each
/// paired to its place in its input.
pub fn merge_append(input: &NodeInput<'_>) -> NodeOutput {
    let items = input
        .inputs
        .iter()
        .enumerate()
        .flat_map(|(from, items)| items.iter().enumerate().map(move |(i, item)| passed(item, i, from)))
        .collect();
    Ok(vec![items])
}

/// No Operation: the items as they came, on output 0.
pub fn noop(input: &NodeInput<'_>) -> NodeOutput {
    let from = main_input(input);
    Ok(vec![input.main().iter().enumerate().map(|(i, item)| passed(item, i, from)).collect()])
}

/// Manual Trigger: the items the execution starts with (`items::execute` gives them to the
/// start node on its input 0), passed on.
pub fn manual_trigger(input: &NodeInput<'_>) -> NodeOutput {
    let items = input.inputs.first().map_or(&[][..], Vec::as_slice);
    Ok(vec![items.iter().enumerate().map(|(i, item)| passed(item, i, 0)).collect()])
}

// ---------------------------------------------------------------------------------------------
// JavaScript's conversions, as n8n's type validation relies on them
// ---------------------------------------------------------------------------------------------

/// JavaScript's `typeof` of a JSON value.
pub(crate) fn js_typeof(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Null | Value::Array(_) | Value::Object(_) => "object",
    }
}

/// n8n's `tryToParseNumber`: `Number(value)`, unless that is NaN.
fn to_number(value: &Value) -> Option<Value> {
    if let Value::Number(_) = value {
        return Some(value.clone());
    }
    Some(crate::js::number(value)).filter(|n| !n.is_nan()).map(crate::js::from_f64)
}

/// n8n's `tryToParseBoolean`: a boolean; `"true"`/`"false"` in any case; what `Number()` makes
/// 1 or 0 (not blank text).
fn to_boolean(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.to_lowercase() == "true" => Some(true),
        Value::String(s) if s.to_lowercase() == "false" => Some(false),
        Value::String(s) if s.trim_matches(crate::js::is_js_space).is_empty() => None,
        other => {
            let n = crate::js::number(other);
            if n == 0.0 {
                Some(false)
            } else if n == 1.0 {
                Some(true)
            } else {
                None
            }
        }
    }
}

/// n8n's `tryToParseArray`: an array, or JSON text of one (`'` quotes taken as `"`).
fn to_array(value: &Value) -> Option<Value> {
    if let Value::Array(_) = value {
        return Some(value.clone());
    }
    let text = crate::js::string(value);
    let parsed = serde_json::from_str::<Value>(&text)
        .ok()
        .or_else(|| serde_json::from_str::<Value>(&text.replace('\'', "\"")).ok())?;
    matches!(parsed, Value::Array(_)).then(|| crate::js::normalize_numbers(parsed))
}

/// n8n's `tryToParseObject`: an object, or JSON text of one, or JavaScript object notation
/// (`jsonParse` with `acceptJSObject`; see [`parse_js_object`]).
fn to_object(value: &Value) -> Option<Value> {
    if let Value::Object(_) = value {
        return Some(value.clone());
    }
    let text = crate::js::string(value);
    let parsed = serde_json::from_str::<Value>(&text).ok().or_else(|| parse_js_object(&text))?;
    matches!(parsed, Value::Object(_)).then(|| crate::js::normalize_numbers(parsed))
}

/// A JavaScript literal of plain data: JSON, plus names as keys, `'` quoted strings, trailing
/// commas, `undefined` (as `null`) and JavaScript's number forms. What n8n's `jsonParse`
/// accepts with `acceptJSObject`, for the data a workflow writes; no expressions.
fn parse_js_object(text: &str) -> Option<Value> {
    struct Reader {
        chars: Vec<char>,
        at: usize,
    }
    impl Reader {
        fn space(&mut self) {
            while self.chars.get(self.at).is_some_and(|c| crate::js::is_js_space(*c)) {
                self.at += 1;
            }
        }
        fn peek(&mut self) -> Option<char> {
            self.space();
            self.chars.get(self.at).copied()
        }
        fn eat(&mut self, c: char) -> bool {
            let found = self.peek() == Some(c);
            self.at += usize::from(found);
            found
        }
        fn word(&mut self) -> String {
            let start = self.at;
            while self
                .chars
                .get(self.at)
                .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '$' | '.' | '+' | '-'))
            {
                self.at += 1;
            }
            self.chars[start..self.at].iter().collect()
        }
        fn string(&mut self, quote: char) -> Option<String> {
            self.at += 1;
            let mut out = String::new();
            loop {
                let c = *self.chars.get(self.at)?;
                self.at += 1;
                match c {
                    c if c == quote => return Some(out),
                    '\\' => {
                        let e = *self.chars.get(self.at)?;
                        self.at += 1;
                        match e {
                            'n' => out.push('\n'),
                            't' => out.push('\t'),
                            'r' => out.push('\r'),
                            'b' => out.push('\u{8}'),
                            'f' => out.push('\u{c}'),
                            'v' => out.push('\u{b}'),
                            '0' => out.push('\0'),
                            'u' | 'x' => {
                                let n = if e == 'u' { 4 } else { 2 };
                                let hex: String = self.chars.get(self.at..self.at + n)?.iter().collect();
                                self.at += n;
                                out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                            }
                            other => out.push(other),
                        }
                    }
                    c => out.push(c),
                }
            }
        }
        fn value(&mut self) -> Option<Value> {
            match self.peek()? {
                '{' => {
                    self.at += 1;
                    let mut map = Map::new();
                    loop {
                        if self.eat('}') {
                            return Some(Value::Object(map));
                        }
                        let key = match self.peek()? {
                            q @ ('"' | '\'') => self.string(q)?,
                            _ => Some(self.word()).filter(|w| !w.is_empty())?,
                        };
                        if !self.eat(':') {
                            return None;
                        }
                        map.insert(key, self.value()?);
                        if !self.eat(',') {
                            return self.eat('}').then_some(Value::Object(map));
                        }
                    }
                }
                '[' => {
                    self.at += 1;
                    let mut items = Vec::new();
                    loop {
                        if self.eat(']') {
                            return Some(Value::Array(items));
                        }
                        items.push(self.value()?);
                        if !self.eat(',') {
                            return self.eat(']').then_some(Value::Array(items));
                        }
                    }
                }
                q @ ('"' | '\'') => self.string(q).map(Value::String),
                _ => match self.word().as_str() {
                    "true" => Some(Value::Bool(true)),
                    "false" => Some(Value::Bool(false)),
                    "null" | "undefined" => Some(Value::Null),
                    "" => None,
                    number => {
                        Some(crate::js::string_to_number(number)).filter(|n| !n.is_nan()).map(crate::js::from_f64)
                    }
                },
            }
        }
    }
    let mut reader = Reader { chars: text.chars().collect(), at: 0 };
    let value = reader.value()?;
    reader.space();
    (reader.at == reader.chars.len()).then_some(value)
}

/// A date and time as n8n's `tryToParseDateTime` reads one, in milliseconds since the epoch:
/// ISO 8601 (`2024-05-01`, `2024-05-01T10:30`, `…:00.123Z`, `…+02:00`), the SQL form (a space
/// for the `T`), or RFC 2822 / HTTP dates. A date or time without an offset is taken as UTC
/// (n8n takes it in the workflow's time zone; the two agree whenever both sides have none).
/// JavaScript's `Date.parse` fallback (`"May 1, 2024"`) is not read.
pub(crate) fn parse_datetime(text: &str) -> Option<i64> {
    let text = text.trim();
    iso_datetime(text).or_else(|| DateTime::parse_from_rfc2822(text).ok().map(|d| d.timestamp_millis()))
}

fn iso_datetime(text: &str) -> Option<i64> {
    fn digits(b: &[u8], at: &mut usize, n: usize) -> Option<u32> {
        let part = b.get(*at..*at + n)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        *at += n;
        part.iter().try_fold(0u32, |acc, d| Some(acc * 10 + u32::from(d - b'0')))
    }
    let b = text.as_bytes();
    let mut at = 0;
    let year = digits(b, &mut at, 4)?;
    let (mut month, mut day) = (1, 1);
    if b.get(at) == Some(&b'-') {
        at += 1;
        month = digits(b, &mut at, 2)?;
        if b.get(at) == Some(&b'-') {
            at += 1;
            day = digits(b, &mut at, 2)?;
        }
    }
    let date = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?;
    let (mut hour, mut minute, mut second, mut milli) = (0, 0, 0, 0);
    let mut offset_minutes: i64 = 0;
    if matches!(b.get(at), Some(b'T' | b't' | b' ')) {
        at += 1;
        hour = digits(b, &mut at, 2)?;
        if b.get(at) == Some(&b':') {
            at += 1;
            minute = digits(b, &mut at, 2)?;
            if b.get(at) == Some(&b':') {
                at += 1;
                second = digits(b, &mut at, 2)?;
                if matches!(b.get(at), Some(b'.' | b',')) {
                    at += 1;
                    let start = at;
                    while b.get(at).is_some_and(u8::is_ascii_digit) {
                        at += 1;
                    }
                    if at == start {
                        return None;
                    }
                    // Milliseconds, the finer digits dropped (as luxon does).
                    let mut ms = text[start..at.min(start + 3)].to_owned();
                    while ms.len() < 3 {
                        ms.push('0');
                    }
                    milli = ms.parse().ok()?;
                }
            }
        }
        match b.get(at) {
            Some(b'Z' | b'z') => at += 1,
            Some(sign @ (b'+' | b'-')) => {
                let sign = if *sign == b'-' { -1 } else { 1 };
                at += 1;
                let hours = digits(b, &mut at, 2)?;
                let mut minutes = 0;
                if b.get(at) == Some(&b':') {
                    at += 1;
                    minutes = digits(b, &mut at, 2)?;
                } else if b.get(at).is_some_and(u8::is_ascii_digit) {
                    minutes = digits(b, &mut at, 2)?;
                }
                offset_minutes = sign * i64::from(hours * 60 + minutes);
            }
            _ => {}
        }
    }
    if at != b.len() {
        return None;
    }
    let time = date.and_hms_milli_opt(hour, minute, second, milli)?;
    Some(time.and_utc().timestamp_millis() - offset_minutes * 60_000)
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::items::{execute, Connection, ItemFlow, ItemNode, NodeRun, Source};

    type Boxed<'a> = Pin<Box<dyn Future<Output = NodeOutput> + Send + 'a>>;

    fn idle(_input: NodeInput<'_>) -> Boxed<'_> {
        Box::pin(async { Ok(Vec::new()) })
    }

    const fn node(name: &'static str, x: i64, outputs: usize, run: crate::items::NodeFn) -> ItemNode {
        ItemNode::new(name, "test", "", (x, 0), outputs, run)
    }

    const fn wire(source: usize, target: usize) -> Connection {
        Connection { source, output: 0, target, input: 0 }
    }

    static NODES: [ItemNode; 4] = [
        node("Start", 0, 1, idle),
        node("Edit", 200, 1, idle),
        node("Here", 400, 1, idle),
        node("Later", 600, 1, idle),
    ];
    static WIRES: [Connection; 3] = [wire(0, 1), wire(1, 2), wire(2, 3)];

    fn flow() -> ItemFlow {
        ItemFlow { id: "wf-1", name: "Test", description: "", nodes: &NODES, connections: &WIRES, order: Order::V1 }
    }

    /// Items as the scheduler gives them: each paired with its own place.
    fn stamped(jsons: &[Value], input: usize) -> Vec<Item> {
        jsons
            .iter()
            .enumerate()
            .map(|(item, json)| Item { json: json.clone(), paired: vec![Paired { item, input }] })
            .collect()
    }

    fn input<'a>(flow: &'a ItemFlow, history: &'a [NodeRun], jsons: &[Value]) -> NodeInput<'a> {
        NodeInput {
            inputs: vec![stamped(jsons, 0)],
            sources: vec![None],
            run_index: 0,
            history,
            order: Order::V1,
            flow,
            execution_id: "exec-1",
            context: Box::leak(Box::default()),
        }
    }

    fn jsons(items: &[Item]) -> Vec<Value> {
        items.iter().map(|i| i.json.clone()).collect()
    }

    fn places(items: &[Item]) -> Vec<usize> {
        items.iter().map(|i| i.paired[0].item).collect()
    }

    const ALL: SetConfig = SetConfig { include: Include::All, dot_notation: true, ignore_conversion_errors: false };

    fn field(name: &str, ty: FieldType, value: Value) -> (String, FieldType, Value) {
        (name.to_owned(), ty, value)
    }

    // Expectations: n8n-nodes-base `nodes/Set/v2/helpers/utils.ts` (validateEntry: null stays
    // null from v3.2, a string field is String()/JSON.stringify) and n8n-workflow
    // `TypeValidation.ts` (tryToParseNumber/Boolean/Array/Object).
    #[test]
    fn set_converts_each_field_to_its_type() {
        let flow = flow();
        let input = input(&flow, &[], &[json!({"keep": true})]);
        let fields = |_: &Cx<'_>| {
            Ok(vec![
                field("n", FieldType::Number, json!("12")),
                field("half", FieldType::Number, json!(" 1.5 ")),
                field("blank", FieldType::Number, json!("")),
                field("hex", FieldType::Number, json!("0x10")),
                field("yes", FieldType::Boolean, json!("TRUE")),
                field("zero", FieldType::Boolean, json!("0")),
                field("one", FieldType::Boolean, json!(1)),
                field("s", FieldType::String, json!(42)),
                field("s_float", FieldType::String, json!(2.5)),
                field("s_obj", FieldType::String, json!({"a": 1, "b": [true, null]})),
                field("list", FieldType::Array, json!("[1, 2.0, \"x\"]")),
                field("quoted", FieldType::Array, json!("['a', 'b']")),
                field("obj", FieldType::Object, json!("{\"a\": {\"b\": 1}}")),
                field("js", FieldType::Object, json!("{a: 'b', n: 2,}")),
                field("none", FieldType::Number, Value::Null),
                field("any", FieldType::Any, json!([1])),
            ])
        };
        let out = set(&input, &ALL, OnError::Stop, fields).unwrap();
        assert_eq!(
            out[0][0].json,
            json!({
                "keep": true, "n": 12, "half": 1.5, "blank": 0, "hex": 16, "yes": true, "zero": false,
                "one": true, "s": "42", "s_float": "2.5", "s_obj": "{\"a\":1,\"b\":[true,null]}",
                "list": [1, 2, "x"], "quoted": ["a", "b"], "obj": {"a": {"b": 1}}, "js": {"a": "b", "n": 2},
                "none": null, "any": [1]
            })
        );
        assert_eq!(out[0][0].paired, [Paired { item: 0, input: 0 }]);
    }

    // `utils.ts` composeReturnItem: include all / none / selected (a path keeps its last name) /
    // except (lodash unset), and the new fields written last.
    #[test]
    fn set_keeps_the_input_fields_its_include_mode_says() {
        let flow = flow();
        let given = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": 4});
        let input = input(&flow, &[], std::slice::from_ref(&given));
        let run = |include| {
            let config = SetConfig { include, ..ALL };
            set(&input, &config, OnError::Stop, |_: &Cx<'_>| Ok(vec![field("x", FieldType::Number, json!(9))])).unwrap()
                [0][0]
                .json
                .clone()
        };
        assert_eq!(run(Include::All), json!({"a": 1, "b": {"c": 2, "d": 3}, "e": 4, "x": 9}));
        assert_eq!(run(Include::None), json!({"x": 9}));
        assert_eq!(run(Include::Selected(&["a", " b.c", "missing"])), json!({"a": 1, "c": 2, "x": 9}));
        assert_eq!(run(Include::Except(&["a", "b.c"])), json!({"b": {"d": 3}, "e": 4, "x": 9}));
        // The order of the kept fields is the input's.
        let keys: Vec<String> = run(Include::Except(&["a"])).as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["b", "e", "x"]);
    }

    // `utils.ts` configureFieldHelper: lodash `set` under dot notation (nested, arrays before an
    // index), a literal key without it.
    #[test]
    fn set_writes_paths_under_dot_notation_and_literal_keys_without() {
        let flow = flow();
        let input = input(&flow, &[], &[json!({"b": {"c": 2}, "s": "text"})]);
        let fields = |_: &Cx<'_>| {
            Ok(vec![
                field("b.z", FieldType::Number, json!(5)),
                field("list[1].k", FieldType::String, json!("v")),
                field("s.inner", FieldType::Boolean, json!(true)),
            ])
        };
        let out = set(&input, &ALL, OnError::Stop, fields).unwrap();
        assert_eq!(out[0][0].json, json!({"b": {"c": 2, "z": 5}, "s": {"inner": true}, "list": [null, {"k": "v"}]}));
        let flat = SetConfig { dot_notation: false, ..ALL };
        let out = set(&input, &flat, OnError::Stop, fields).unwrap();
        assert_eq!(out[0][0].json, json!({"b": {"c": 2}, "s": "text", "b.z": 5, "list[1].k": "v", "s.inner": true}));
    }

    // `utils.ts` validateEntry: the error names the field and item; ignoreConversionErrors sets
    // the value as it is.
    #[test]
    fn a_failed_conversion_fails_the_node_unless_ignored() {
        let flow = flow();
        let input = input(&flow, &[], &[json!({"v": "7"}), json!({"v": "abc"})]);
        let fields = |cx: &Cx<'_>| Ok(vec![field("n", FieldType::Number, cx.json()["v"].clone())]);
        let error = set(&input, &ALL, OnError::Stop, fields).unwrap_err();
        assert_eq!(error.message, "'n' expects a number but we got 'abc' [item 1]");
        let error = set(&input, &ALL, OnError::Stop, |_: &Cx<'_>| Ok(vec![field("o", FieldType::Object, json!([1]))]))
            .unwrap_err();
        assert_eq!(error.message, "'o' expects an object but we got array [item 0]");
        let ignore = SetConfig { ignore_conversion_errors: true, ..ALL };
        let out = set(&input, &ignore, OnError::Stop, fields).unwrap();
        assert_eq!(jsons(&out[0]), [json!({"v": "7", "n": 7}), json!({"v": "abc", "n": "abc"})]);
    }

    // `manual.mode.ts`: with continueOnFail the item becomes `{error, pairedItem}` (pairedItem
    // inside the JSON, as n8n writes it) and the others go on.
    #[test]
    fn a_failed_item_becomes_an_error_item_when_the_node_goes_on() {
        let flow = flow();
        let input = input(&flow, &[], &[json!({"v": "1"}), json!({"v": "x"}), json!({"v": "3"})]);
        let fields = |cx: &Cx<'_>| {
            if cx.index == 2 {
                return Err(Error::validation("the expression broke"));
            }
            Ok(vec![field("n", FieldType::Number, cx.json()["v"].clone())])
        };
        let out = set(&input, &ALL, OnError::ContinueRegular, fields).unwrap();
        assert_eq!(
            jsons(&out[0]),
            [
                json!({"v": "1", "n": 1}),
                json!({"error": "'n' expects a number but we got 'x' [item 1]", "pairedItem": {"item": 1}}),
                json!({"error": "the expression broke", "pairedItem": {"item": 2}}),
            ]
        );
        assert_eq!(places(&out[0]), [0, 1, 2]);
        // Stopping: the expression's error names its item.
        assert_eq!(
            set(&input, &ALL, OnError::Stop, |cx: &Cx<'_>| fields(cx)).unwrap_err().message.as_str(),
            "'n' expects a number but we got 'x' [item 1]"
        );
        let only_third = |cx: &Cx<'_>| if cx.index == 2 { fields(cx) } else { Ok(Vec::new()) };
        assert_eq!(set(&input, &ALL, OnError::Stop, only_third).unwrap_err().message, "the expression broke [item 2]");
    }

    const fn conditions(operators: &'static [&'static str], and: bool, loose: bool) -> Conditions {
        Conditions { operators, and, case_sensitive: true, loose }
    }

    // `nodes/If/V2/IfV2.node.ts`: passing items to output 0, the rest to output 1, unchanged.
    #[test]
    fn if_sends_items_down_both_outputs() {
        let flow = flow();
        let input = input(&flow, &[], &[json!({"n": 1}), json!({"n": 3}), json!({"n": 2}), json!({"n": 5})]);
        let c = conditions(&["number:gt"], true, false);
        let out =
            if_node(&input, &c, OnError::Stop, |cx: &Cx<'_>| Ok(vec![(cx.json()["n"].clone(), json!(2))])).unwrap();
        assert_eq!(jsons(&out[0]), [json!({"n": 3}), json!({"n": 5})]);
        assert_eq!(places(&out[0]), [1, 3]);
        assert_eq!(jsons(&out[1]), [json!({"n": 1}), json!({"n": 2})]);
        assert_eq!(places(&out[1]), [0, 2]);
    }

    // n8n-workflow `NodeParameters/FilterParameter.ts` parseFilterConditionValues: strict type
    // validation errors, loose conversion (and its error), the both-wrong message.
    #[test]
    fn strict_conditions_reject_a_wrong_type_and_loose_ones_convert_it() {
        let flow = flow();
        let input = input(&flow, &[], &[json!({"n": "5"}), json!({"n": "abc"})]);
        let values = |cx: &Cx<'_>| Ok(vec![(json!(true), json!(true)), (cx.json()["n"].clone(), json!(4))]);
        let strict = conditions(&["boolean:true", "number:gt"], true, false);
        let error = if_node(&input, &strict, OnError::Stop, values).unwrap_err();
        assert_eq!(error.message, "Wrong type: '5' is a string but was expecting a number [condition 1, item 0]");
        let loose = conditions(&["boolean:true", "number:gt"], true, true);
        let error = if_node(&input, &loose, OnError::Stop, values).unwrap_err();
        assert_eq!(
            error.message,
            "Conversion error: the string 'abc' can't be converted to a number [condition 1, item 1]"
        );
        // Going on, the failed item goes to `false`, as it was.
        let out = if_node(&input, &loose, OnError::ContinueRegular, values).unwrap();
        assert_eq!(jsons(&out[0]), [json!({"n": "5"})]);
        assert_eq!(jsons(&out[1]), [json!({"n": "abc"})]);
        assert_eq!(places(&out[1]), [1]);
        let both = if_node(&input, &strict, OnError::Stop, |_: &Cx<'_>| {
            Ok(vec![(json!(true), json!(true)), (json!("a"), json!("b"))])
        });
        assert_eq!(both.unwrap_err().message, "Comparison type expects a number but both fields are a string [item 0]");
        // Loose booleans take "false" as false (filter version 2), else truthiness.
        let c = conditions(&["boolean:true"], true, true);
        let input = input_of(&flow, &[json!({"b": "false"}), json!({"b": "yes"}), json!({"b": 0})]);
        let out =
            if_node(&input, &c, OnError::Stop, |cx: &Cx<'_>| Ok(vec![(cx.json()["b"].clone(), Value::Null)])).unwrap();
        assert_eq!(places(&out[0]), [1]);
    }

    fn input_of<'a>(flow: &'a ItemFlow, jsons: &[Value]) -> NodeInput<'a> {
        input(flow, &[], jsons)
    }

    // `FilterParameter.ts` executeFilter: `and` is `every`, `or` is `some`, each stopping at the
    // first condition that decides (a later wrong type is then no error).
    #[test]
    fn and_needs_every_condition_and_or_one() {
        let flow = flow();
        let input = input_of(&flow, &[json!({"a": 1, "b": "x"}), json!({"a": 5, "b": "y"}), json!({"a": 7, "b": "x"})]);
        let values = |cx: &Cx<'_>| Ok(vec![(cx.json()["a"].clone(), json!(3)), (cx.json()["b"].clone(), json!("x"))]);
        let and = conditions(&["number:gt", "string:equals"], true, false);
        assert_eq!(places(&filter(&input, &and, OnError::Stop, values).unwrap()[0]), [2]);
        let or = conditions(&["number:gt", "string:equals"], false, false);
        assert_eq!(places(&filter(&input, &or, OnError::Stop, values).unwrap()[0]), [0, 1, 2]);
        let short = |_: &Cx<'_>| Ok(vec![(json!(1), json!(3)), (json!(12), json!("x"))]);
        assert_eq!(filter(&input, &and, OnError::Stop, short).unwrap()[0].len(), 0);
    }

    // `FilterParameter.ts` executeFilterCondition, operator by operator.
    #[test]
    fn operators_follow_n8n() {
        let check = |op: &'static str, left: Value, right: Value, case_sensitive: bool| -> bool {
            let c = Conditions { operators: &[], and: true, case_sensitive, loose: false };
            condition(op, &left, &right, &c, 0, 0).unwrap()
        };
        assert!(check("string:contains", json!("Hello World"), json!("world"), false));
        assert!(!check("string:contains", json!("Hello World"), json!("world"), true));
        assert!(check("string:startsWith", json!("abc"), json!("ab"), true));
        assert!(check("string:notEndsWith", json!("abc"), json!("b"), true));
        assert!(check("string:empty", Value::Null, Value::Null, true));
        assert!(check("string:notExists", Value::Null, Value::Null, true));
        assert!(check("number:lte", json!(2), json!(2.0), true));
        assert!(!check("number:gt", Value::Null, json!(1), true), "a missing number passes no comparison");
        assert!(check("number:empty", Value::Null, Value::Null, true));
        assert!(check("boolean:false", json!(false), Value::Null, true));
        assert!(check("boolean:false", Value::Null, Value::Null, true), "`!undefined`");
        assert!(check("boolean:notEquals", json!(true), json!(false), true));
        assert!(check("array:contains", json!(["A", 2]), json!("a"), false));
        assert!(!check("array:contains", json!(["A", 2]), json!("a"), true));
        assert!(check("array:contains", json!(["A", 2]), json!(2.0), true));
        assert!(!check("array:contains", json!([{"a": 1}]), json!({"a": 1}), true), "objects by reference");
        assert!(check("array:lengthGte", json!([1, 2]), json!(2), true));
        assert!(check("array:lengthNotEquals", json!([1]), Value::Null, true));
        assert!(check("array:empty", Value::Null, Value::Null, true));
        assert!(check("object:notEmpty", json!({"a": 1}), Value::Null, true));
        assert!(check("object:empty", json!({}), Value::Null, true));
        assert!(check("dateTime:equals", json!("2024-01-01T10:00:00+02:00"), json!("2024-01-01T08:00:00Z"), true));
        assert!(check("dateTime:after", json!("2024-01-02"), json!("2024-01-01T23:59:59.999"), true));
        assert!(check("dateTime:before", json!("Mon, 01 Jan 2024 00:00:00 GMT"), json!("2024-01-01 00:00:01"), true));
        assert!(!check("dateTime:after", Value::Null, json!("2024-01-01"), true));
        let c = Conditions { operators: &[], and: true, case_sensitive: true, loose: false };
        let error = condition("dateTime:after", &json!("soon"), &json!("2024-01-01"), &c, 2, 3).unwrap_err();
        assert_eq!(error.message, "Wrong type: 'soon' is a string but was expecting a dateTime [condition 2, item 3]");
        assert!(operator_known("array:lengthLt") && !operator_known("string:regex"));
        assert!(is_unary("boolean:true") && is_unary("object:empty") && !is_unary("number:gt"));
        assert!(OPERATORS.iter().all(|(op, _)| op.split_once(':').is_some()));
        // What takes no right value is what `is_unary` says.
        assert!(OPERATORS.iter().all(|(op, right)| is_unary(op) != *right));
    }

    // `nodes/Filter/V2/FilterV2.node.ts`: one output, discarded items dropped, failed items too
    // when the node goes on.
    #[test]
    fn filter_keeps_the_items_that_pass() {
        let flow = flow();
        let input = input_of(&flow, &[json!({"s": "apple"}), json!({"s": 7}), json!({"s": "banana"})]);
        let c = conditions(&["string:startsWith"], true, false);
        let values = |cx: &Cx<'_>| Ok(vec![(cx.json()["s"].clone(), json!("b"))]);
        assert!(filter(&input, &c, OnError::Stop, values).is_err());
        let out = filter(&input, &c, OnError::ContinueErrorOutput, values).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(jsons(&out[0]), [json!({"s": "banana"})]);
        assert_eq!(places(&out[0]), [2]);
    }

    // `nodes/Limit/Limit.node.ts`: slice of the first or last maxItems, all when fewer.
    #[test]
    fn limit_keeps_the_first_or_the_last_items() {
        let flow = flow();
        let input = input_of(&flow, &[json!({"n": 0}), json!({"n": 1}), json!({"n": 2}), json!({"n": 3})]);
        assert_eq!(places(&limit(&input, 2, false).unwrap()[0]), [0, 1]);
        assert_eq!(places(&limit(&input, 3, true).unwrap()[0]), [1, 2, 3]);
        assert_eq!(jsons(&limit(&input, 1, true).unwrap()[0]), [json!({"n": 3})]);
        assert_eq!(places(&limit(&input, 9, true).unwrap()[0]), [0, 1, 2, 3]);
    }

    // Merge v3 `mode/append`: every input's items in input order; paired to their input.
    #[test]
    fn merge_append_pairs_each_item_with_its_input() {
        let flow = flow();
        let mut input = input_of(&flow, &[json!({"a": 0}), json!({"a": 1})]);
        input.inputs.push(stamped(&[json!({"b": 0})], 1));
        let out = merge_append(&input).unwrap();
        assert_eq!(jsons(&out[0]), [json!({"a": 0}), json!({"a": 1}), json!({"b": 0})]);
        let paired: Vec<Paired> = out[0].iter().map(|i| i.paired[0]).collect();
        assert_eq!(paired, [Paired { item: 0, input: 0 }, Paired { item: 1, input: 0 }, Paired { item: 0, input: 1 }]);
        assert_eq!(noop(&input).unwrap()[0].len(), 2);
        assert_eq!(manual_trigger(&input).unwrap()[0].len(), 2);
    }

    fn run(node: usize, sources: Vec<Option<Source>>, outputs: Vec<Vec<Item>>) -> NodeRun {
        NodeRun {
            node,
            run_index: 0,
            sources,
            outputs,
            error: None,
            tries: 1,
            started: SystemTime::UNIX_EPOCH,
            duration: Duration::ZERO,
        }
    }

    // n8n-workflow `WorkflowDataProxy` (its tests name the errors): `.item` follows pairedItem
    // back; first/last/all read the node's last run; unknown, unexecuted, unconnected nodes and
    // missing pairings are errors.
    #[test]
    fn expressions_read_other_nodes_through_the_history() {
        let flow = flow();
        let start = run(0, vec![None], vec![stamped(&[json!({"name": "a"}), json!({"name": "b"})], 0)]);
        // `Edit` swapped the items: its first came from start's second; its third says nothing.
        let edit_items = vec![
            Item { json: json!({"x": 1}), paired: vec![Paired { item: 1, input: 0 }] },
            Item { json: json!({"x": 2}), paired: vec![Paired { item: 0, input: 0 }] },
            Item::new(json!({"x": 3})),
        ];
        let from_start = Some(Source { node: 0, output: 0, run: 0 });
        let history = vec![start, run(1, vec![from_start], vec![edit_items.clone()])];
        let mut here = input(&flow, &history, &jsons(&edit_items));
        here.sources = vec![Some(Source { node: 1, output: 0, run: 0 })];
        let cx = |index| Cx { input: &here, index };
        assert_eq!(cx(0).node_item("Start").unwrap(), json!({"name": "b"}));
        assert_eq!(cx(1).node_item("Start").unwrap(), json!({"name": "a"}));
        assert_eq!(cx(1).node_item("Edit").unwrap(), json!({"x": 2}));
        let missing = cx(2).node_item("Start").unwrap_err();
        assert_eq!(
            missing.message,
            "Paired item data for item from node 'Edit' is unavailable. Ensure 'Edit' is providing the required output."
        );
        assert_eq!(missing.code.as_deref(), Some("paired_item_no_info"));
        assert_eq!(cx(0).node_first("Start").unwrap(), json!({"name": "a"}));
        assert_eq!(cx(0).node_last("Edit").unwrap(), json!({"x": 3}));
        assert_eq!(cx(0).node_all("Start").unwrap(), json!([{"json": {"name": "a"}}, {"json": {"name": "b"}}]));
        assert_eq!(cx(0).node_at_index("Start", 1).unwrap(), json!({"name": "b"}));
        assert_eq!(cx(0).node_at_index("Start", 5).unwrap(), Value::Null);
        assert!(cx(0).node_item("Nope").unwrap_err().message.starts_with("Referenced node doesn't exist"));
        let unexecuted = cx(0).node_first("Later").unwrap_err();
        assert!(unexecuted.message.starts_with("Referenced node is unexecuted"), "{}", unexecuted.message);
        assert!(unexecuted.message.contains("'Later'"));
        // The other readings of the run.
        assert_eq!(cx(2).json(), &json!({"x": 3}));
        assert_eq!(cx(9).json(), &Value::Null);
        assert_eq!(cx(2).item_index(), json!(2));
        assert_eq!(cx(0).run_index(), json!(0));
        assert_eq!(cx(0).input_last().unwrap(), json!({"x": 3}));
        assert_eq!(cx(0).input_all().as_array().map(Vec::len), Some(3));
        assert_eq!(cx(0).execution_id(), json!("exec-1"));
        assert_eq!(cx(0).workflow(), json!({"id": "wf-1", "name": "Test", "active": false}));
    }

    fn trigger_node(input: NodeInput<'_>) -> Boxed<'_> {
        Box::pin(async move { manual_trigger(&input) })
    }

    fn set_node(input: NodeInput<'_>) -> Boxed<'_> {
        Box::pin(async move {
            const CONFIG: SetConfig =
                SetConfig { include: Include::None, dot_notation: true, ignore_conversion_errors: false };
            set(&input, &CONFIG, OnError::Stop, |cx: &Cx<'_>| {
                Ok(vec![(text(&json!("total")), FieldType::Number, cx.json()["price"].clone())])
            })
        })
    }

    fn if_big(input: NodeInput<'_>) -> Boxed<'_> {
        Box::pin(async move {
            const CONDITIONS: Conditions =
                Conditions { operators: &["number:gte"], and: true, case_sensitive: true, loose: false };
            if_node(&input, &CONDITIONS, OnError::Stop, |cx: &Cx<'_>| Ok(vec![(cx.json()["total"].clone(), json!(10))]))
        })
    }

    fn named(input: NodeInput<'_>) -> Boxed<'_> {
        Box::pin(async move {
            let items = (0..input.main().len())
                .map(|index| Cx { input: &input, index }.node_item("Trigger").map(Item::new))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(vec![items])
        })
    }

    static CHAIN: [ItemNode; 4] = [
        node("Trigger", 0, 1, trigger_node),
        node("Set", 200, 1, set_node),
        node("If", 400, 2, if_big),
        node("Names", 600, 1, named),
    ];
    static CHAIN_WIRES: [Connection; 3] = [wire(0, 1), wire(1, 2), wire(2, 3)];

    // The functions as compiled code calls them, run by the scheduler: the pairings they give
    // are what `$('Trigger').item` follows back.
    #[tokio::test]
    async fn compiled_nodes_run_on_the_scheduler() {
        let flow = ItemFlow {
            id: "t",
            name: "t",
            description: "",
            nodes: &CHAIN,
            connections: &CHAIN_WIRES,
            order: Order::V1,
        };
        let start = vec![
            Item::new(json!({"name": "cheap", "price": "5"})),
            Item::new(json!({"name": "dear", "price": "25"})),
            Item::new(json!({"name": "fair", "price": 10})),
        ];
        let execution = execute(&flow, 0, start, "1").await;
        assert!(execution.error.is_none(), "{:?}", execution.error);
        let set_run = execution.runs_of(1).next().unwrap();
        assert_eq!(jsons(&set_run.outputs[0]), [json!({"total": 5}), json!({"total": 25}), json!({"total": 10})]);
        let names = execution.runs_of(3).next().unwrap();
        assert_eq!(
            jsons(&names.outputs[0]),
            [json!({"name": "dear", "price": "25"}), json!({"name": "fair", "price": 10})]
        );
    }

    #[test]
    fn javascript_conversions() {
        assert_eq!(crate::js::string_to_number("  12  "), 12.0);
        assert_eq!(crate::js::string_to_number("1e3"), 1000.0);
        assert_eq!(crate::js::string_to_number("-.5"), -0.5);
        assert_eq!(crate::js::string_to_number("0b101"), 5.0);
        assert!(crate::js::string_to_number("12px").is_nan());
        assert!(crate::js::string_to_number("inf").is_nan());
        assert!(crate::js::string_to_number("1_000").is_nan());
        assert_eq!(crate::js::number(&json!([7])), 7.0);
        assert_eq!(crate::js::number(&json!([])), 0.0);
        assert!(crate::js::number(&json!({})).is_nan());
        assert_eq!(to_boolean(&json!("  ")), None);
        assert_eq!(to_boolean(&json!(2)), None);
        assert_eq!(crate::js::from_f64(-0.0), json!(0));
        assert_eq!(
            crate::js::stringify(&json!({"a": [1.0, "x\"y"], "b": null}), ""),
            "{\"a\":[1,\"x\\\"y\"],\"b\":null}"
        );
        assert_eq!(
            parse_js_object("{ 'a': [1, 2,], b: {c: \"d\"}, e: undefined }"),
            Some(json!({"a": [1, 2], "b": {"c": "d"}, "e": null}))
        );
        assert_eq!(parse_js_object("{a: 1} x"), None);
        assert_eq!(iso_datetime("2024-02-30"), None);
        assert_eq!(iso_datetime("2024"), iso_datetime("2024-01-01T00:00:00.000Z"));
        assert_eq!(iso_datetime("1970-01-01T00:00:01.5+0100"), Some(1500 - 3_600_000));
        assert_eq!(path_names("a.b[0][\"c.d\"]['e']"), ["a", "b", "0", "c.d", "e"]);
    }
}
