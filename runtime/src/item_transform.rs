//! The logic of n8n's routing and item-list nodes, for compiled item flows: Switch, Split Out,
//! Aggregate, Sort, Remove Duplicates, Summarize and Stop and Error.
//!
//! As in `item_nodes`, a compiled node function evaluates its node's expressions (generated code,
//! given a [`Cx`]) and hands the values to the function here that does what the node does:
//! - Switch v3 to v3.4 (`nodes/Switch/V3/SwitchV3.node.ts`): rules mode [`switch_rules`],
//!   expression mode [`switch_expression`];
//! - Split Out v1 (`nodes/Transform/SplitOut/SplitOut.node.ts`): [`split_out`];
//! - Aggregate v1 (`nodes/Transform/Aggregate/Aggregate.node.ts`): [`aggregate_fields`],
//!   [`aggregate_all`];
//! - Sort v1, simple mode (`nodes/Transform/Sort/Sort.node.ts`): [`sort`];
//! - Remove Duplicates v1.1 and v2, operation "remove items repeated within current input"
//!   (`nodes/Transform/RemoveDuplicates/utils.ts`): [`remove_duplicates`];
//! - Summarize v1.1 (`nodes/Transform/Summarize/Summarize.node.ts`, `utils.ts`): [`summarize`];
//! - Stop and Error v1, error type "error message": [`stop_and_error`].
//!
//! These are the versions the n8n of today writes into a workflow, and an imported workflow must
//! give the items n8n gives or it is not the same workflow: the functions follow n8n's sources
//! down to their quirks (the output names Summarize makes, Sort's case-insensitive comparison,
//! which of several duplicates is kept), their error messages, and the JavaScript they rely on.
//! Sort and Remove Duplicates sort with n8n's comparators ([`js_sort`], a stable sort): for
//! fields of one type the order is n8n's; for fields that mix types in one input (lodash's `lt`
//! on a string and a number is false both ways) it may differ from the order V8 happens to give.
//! Every output item says which input items it came from (an input item passed on
//! unchanged is paired to its own place), so that `$('Node').item` follows it back.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use serde_json::{json, Map, Value};

use crate::error::Error;
use crate::item_nodes::{at_item, js_typeof, main_input, passed, passes, path_get, path_set, path_unset};
use crate::item_nodes::{Conditions, Cx};
use crate::items::{text, Item, NodeInput, NodeOutput, OnError, Paired};

/// An empty object, for an item whose JSON is not one.
fn object(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// A field of an item, under dot notation as lodash's `get` reads a path, or as a key.
fn field<'v>(json: &'v Value, name: &str, dot: bool) -> Option<&'v Value> {
    let map = json.as_object()?;
    if dot {
        path_get(map, name, true)
    } else {
        map.get(name)
    }
}

/// Paired to every item in `items` of input `from`.
fn paired_all(items: impl IntoIterator<Item = usize>, from: usize) -> Vec<Paired> {
    items.into_iter().map(|item| Paired { item, input: from }).collect()
}

/// Names as n8n's `prepareFieldsArray` leaves them: trimmed, the empty ones dropped.
fn names(list: &[&'static str]) -> Vec<&'static str> {
    list.iter().map(|name| name.trim()).filter(|name| !name.is_empty()).collect()
}

/// The item n8n's Switch puts on output 0 for an item that failed, when the node goes on (the
/// runtime moves it to the error output, with the item's fields, under `ContinueErrorOutput`).
fn error_item(error: &Error, index: usize, from: usize) -> Item {
    Item { json: json!({ "error": error.message }), paired: vec![Paired { item: index, input: from }] }
}

// ---------------------------------------------------------------------------------------------
// Switch
// ---------------------------------------------------------------------------------------------

/// Where Switch sends an item no rule matched (its option `fallbackOutput`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Nowhere: the item is dropped (the default).
    None,
    /// To an output of its own, after the rules' outputs.
    Extra,
    /// To the output of rule `n`.
    Output(usize),
}

/// A Switch node in rules mode: one filter (conditions of version 2) per rule and output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwitchConfig {
    pub rules: &'static [Conditions],
    pub fallback: Fallback,
    /// Sends an item to the output of every rule it matches (`allMatchingOutputs`), not only the
    /// first.
    pub all_matching: bool,
}

/// Switch v3 rules mode: one output per rule (and one more for [`Fallback::Extra`]). Per item,
/// the rules are tested in order, rule `r`'s (left, right) values coming from `values(cx, r)`,
/// evaluated only when rule `r` is tested; the item goes to the first rule that matches, or to
/// every one with `all_matching`, or to the fallback when none does. Items are paired to
/// themselves. No rules at all: one empty output, as n8n gives.
///
/// A failed item (a condition's type error, an expression, a fallback output that does not exist:
/// `The ouput 3 is not allowed.`, n8n's spelling) fails the node under [`OnError::Stop`], the
/// message naming the item (`… [item 2]`); otherwise, as n8n's `continueOnFail` does, output 0
/// gets `{"error": message}` in its place (after whatever outputs it had already reached), and
/// the other items go on.
pub fn switch_rules(
    input: &NodeInput<'_>,
    config: &SwitchConfig,
    on_error: OnError,
    values: impl Fn(&Cx<'_>, usize) -> Result<Vec<(Value, Value)>, Error>,
) -> NodeOutput {
    if config.rules.is_empty() {
        return Ok(vec![Vec::new()]);
    }
    let from = main_input(input);
    let count = config.rules.len() + usize::from(config.fallback == Fallback::Extra);
    let mut outputs: Vec<Vec<Item>> = vec![Vec::new(); count];
    for (index, item) in input.main().iter().enumerate() {
        match route(input, config, index, &values, &mut outputs, || passed(item, index, from)) {
            Ok(()) => {}
            Err(error) if on_error == OnError::Stop => return Err(at_item(error, index)),
            Err(error) => outputs[0].push(error_item(&error, index, from)),
        }
    }
    Ok(outputs)
}

/// Sends item `index` where the rules say, in n8n's order (`SwitchV3.node.ts`, `execute`).
fn route(
    input: &NodeInput<'_>,
    config: &SwitchConfig,
    index: usize,
    values: &impl Fn(&Cx<'_>, usize) -> Result<Vec<(Value, Value)>, Error>,
    outputs: &mut [Vec<Item>],
    item: impl Fn() -> Item,
) -> Result<(), Error> {
    let mut matched = false;
    for (r, rule) in config.rules.iter().enumerate() {
        if passes(input, rule, index, &|cx: &Cx<'_>| values(cx, r))? {
            matched = true;
            outputs[r].push(item());
            if !config.all_matching {
                return Ok(());
            }
        }
    }
    if !matched {
        match config.fallback {
            Fallback::None => {}
            Fallback::Extra => outputs[outputs.len() - 1].push(item()),
            Fallback::Output(n) => {
                check_output(outputs.len(), n as f64)?;
                outputs[n].push(item());
            }
        }
    }
    Ok(())
}

/// n8n's `checkIndexRange`: an output index one past the last, or outside, is an error.
fn check_output(outputs: usize, index: f64) -> Result<(), Error> {
    let shown = crate::js::number_to_string(index);
    if index == outputs as f64 {
        return Err(Error::validation(format!("The ouput {shown} is not allowed.")));
    }
    if index < 0.0 || index > outputs as f64 {
        return Err(Error::validation(format!("The ouput {shown} is not allowed")));
    }
    Ok(())
}

/// V8's TypeError for pushing onto an output that does not exist: what n8n's Switch gives for an
/// output index that is not an integer, or is empty.
const NO_SUCH_OUTPUT: &str = "Cannot read properties of undefined (reading 'push')";

/// Switch v3 expression mode: `outputs` outputs; `output(cx)` gives the index of the output the
/// item goes to, read as n8n reads its number parameter `output` (`Number()`: `"2"` is 2). Its
/// errors are n8n's: `Invalid input for 'Output Index' [item 0]` for what is not a number, `The
/// ouput 4 is not allowed.` for the output one past the last, `The ouput 9 is not allowed` past
/// that or below 0, and V8's TypeError (`Cannot read properties of undefined (reading 'push')`)
/// for an index that is not an integer or is empty. A failed item is handled as in
/// [`switch_rules`].
pub fn switch_expression(
    input: &NodeInput<'_>,
    outputs: usize,
    on_error: OnError,
    output: impl Fn(&Cx<'_>) -> Result<Value, Error>,
) -> NodeOutput {
    let from = main_input(input);
    let mut routed: Vec<Vec<Item>> = vec![Vec::new(); outputs];
    for (index, item) in input.main().iter().enumerate() {
        let target = output(&Cx { input, index }).and_then(|value| output_index(&value, outputs, index));
        match target {
            Ok(n) => routed[n].push(passed(item, index, from)),
            Err(error) if on_error == OnError::Stop || outputs == 0 => return Err(at_item(error, index)),
            Err(error) => routed[0].push(error_item(&error, index, from)),
        }
    }
    if routed.is_empty() {
        return Ok(vec![Vec::new()]);
    }
    Ok(routed)
}

/// The output an expression's value names (n8n's `validateFieldType` for a number, then
/// `checkIndexRange`, then the array index).
fn output_index(value: &Value, outputs: usize, index: usize) -> Result<usize, Error> {
    if value.is_null() {
        // n8n's validation lets null through as undefined, which indexes nothing.
        return Err(Error::validation(NO_SUCH_OUTPUT));
    }
    let n = crate::js::number(value);
    if n.is_nan() {
        return Err(Error::validation(format!("Invalid input for 'Output Index' [item {index}]")));
    }
    check_output(outputs, n)?;
    if n.fract() != 0.0 {
        return Err(Error::validation(NO_SUCH_OUTPUT));
    }
    Ok(n as usize)
}

// ---------------------------------------------------------------------------------------------
// Split Out
// ---------------------------------------------------------------------------------------------

/// Which other fields of the input item the items Split Out makes keep (its `include`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Others {
    /// None (`noOtherFields`, the default).
    None,
    /// All of them, the split fields aside (`allOtherFields`).
    All,
    /// These (`selectedOtherFields`), each under its name as given.
    Selected(&'static [&'static str]),
}

/// Split Out v1: per input item, the value of each field in `fields` becomes one item per
/// element; several fields are split side by side (element `k` of each goes into item `k`). An
/// array gives its elements, an object its values, anything else (`null` too) itself; a missing
/// field nothing (n8n only hints "The field 'x' wasn't found in any input item": no error).
///
/// An element goes under the field's name, or under its destination field (`destination_field`:
/// n8n's parameter, several names separated by commas, one per field; under dot notation a
/// destination with dots is a path). With [`Others::None`], one field and no destination, an
/// element that is an object *is* the new item's JSON. [`Others::All`] keeps the input item's
/// other fields (the split fields removed, as lodash's `unset` does under dot notation),
/// [`Others::Selected`] the named ones. Each new item is paired to its input item. `$binary`
/// (splitting binary data) is not supported: there is none.
pub fn split_out(
    input: &NodeInput<'_>,
    fields: &'static [&'static str],
    include: Others,
    destination_field: Option<&'static str>,
    dot_notation: bool,
) -> NodeOutput {
    let from = main_input(input);
    let fields: Vec<&str> = fields.iter().map(|f| f.trim()).map(|f| f.strip_prefix("$json.").unwrap_or(f)).collect();
    let destinations: Vec<&str> =
        destination_field.unwrap_or("").split(',').map(str::trim).filter(|d| !d.is_empty()).collect();
    if !destinations.is_empty() && destinations.len() != fields.len() {
        return Err(Error::validation(
            "If multiple fields to split out are given, the same number of destination fields must be given",
        ));
    }
    let unsafe_name = |name: &str| name.split('.').any(|n| matches!(n, "__proto__" | "constructor" | "prototype"));
    if dot_notation && destinations.iter().any(|d| d.contains('.') && unsafe_name(d)) {
        return Err(Error::validation("Invalid destination field name"));
    }
    let multi = fields.len() > 1;
    let mut items = Vec::new();
    for (index, item) in input.main().iter().enumerate() {
        let json = object(&item.json);
        let mut split: Vec<Map<String, Value>> = Vec::new();
        for (entry, name) in fields.iter().enumerate() {
            let destination = destinations.get(entry).copied().unwrap_or("");
            let elements: Vec<Value> = match field(&item.json, name, dot_notation) {
                None => Vec::new(),
                Some(Value::Array(elements)) => elements.clone(),
                Some(Value::Object(map)) => map.values().cloned().collect(),
                Some(other) => vec![other.clone()],
            };
            for (k, element) in elements.into_iter().enumerate() {
                if split.len() <= k {
                    split.push(Map::new());
                }
                let target = &mut split[k];
                let is_object = matches!(element, Value::Object(_) | Value::Array(_));
                if is_object && include == Others::None && destination.is_empty() && !multi {
                    // `{ ...json, ...element }`: an array spreads its indices.
                    match element {
                        Value::Object(map) => target.extend(map),
                        Value::Array(list) => {
                            target.extend(list.into_iter().enumerate().map(|(i, v)| (i.to_string(), v)))
                        }
                        _ => {}
                    }
                } else if !destination.is_empty() && dot_notation && destination.contains('.') {
                    path_set(target, destination, element, true);
                } else {
                    let key = if destination.is_empty() { name } else { destination };
                    target.insert(key.to_owned(), element);
                }
            }
        }
        for entry in split {
            let json = match include {
                Others::None => entry,
                Others::All => {
                    let mut others = json.clone();
                    for name in &fields {
                        if dot_notation {
                            path_unset(&mut others, name, true);
                        } else {
                            others.shift_remove(*name);
                        }
                    }
                    others.extend(entry);
                    others
                }
                Others::Selected(list) => {
                    let list = names(list);
                    if list.is_empty() {
                        return Err(Error::validation("No fields specified"));
                    }
                    let mut entry = entry;
                    for name in list {
                        match field(&item.json, name, dot_notation) {
                            Some(value) => {
                                entry.insert(name.to_owned(), value.clone());
                            }
                            // `undefined`, which JSON drops.
                            None => {
                                entry.shift_remove(name);
                            }
                        }
                    }
                    entry
                }
            };
            items.push(Item { json: Value::Object(json), paired: vec![Paired { item: index, input: from }] });
        }
    }
    Ok(vec![items])
}

// ---------------------------------------------------------------------------------------------
// Aggregate
// ---------------------------------------------------------------------------------------------

/// Aggregate v1, individual fields: one item holding, for each `(field, output name)`, the list of
/// that field's values over the items, under the output name, or else under the field's name (its
/// last part, under dot notation: `a.b` gives `b`). Missing and `null` values are left out, and
/// `null`s inside list values too, unless `keep_missing` (a missing value is then `null`);
/// `merge_lists` puts the elements of list values in the list rather than the lists. Under dot
/// notation the output names are paths. The item is paired to every input item.
///
/// Errors as n8n's: `No fields specified` for no fields, `The 'x' output field is used more than
/// once`. Options left out: grouping (`groupByFields`) and binaries.
pub fn aggregate_fields(
    input: &NodeInput<'_>,
    fields: &'static [(&'static str, Option<&'static str>)],
    merge_lists: bool,
    keep_missing: bool,
    dot_notation: bool,
) -> NodeOutput {
    if fields.is_empty() {
        return Err(Error::validation("No fields specified"));
    }
    let mut seen: Vec<&str> = Vec::new();
    for (name, rename) in fields {
        let output = rename.unwrap_or(name);
        if seen.contains(&output) {
            return Err(Error::validation(format!("The '{output}' output field is used more than once")));
        }
        seen.push(output);
    }
    let items = input.main();
    let mut values = Map::new();
    for (name, rename) in fields {
        if name.is_empty() {
            continue;
        }
        let output = match rename.filter(|r| !r.is_empty()) {
            Some(rename) => rename,
            None if dot_notation && name.contains('.') => name.rsplit('.').next().unwrap_or(name),
            None => name,
        };
        let mut list = Vec::new();
        for item in items {
            let value = field(&item.json, name, dot_notation);
            let value = match value {
                None | Some(Value::Null) if !keep_missing => continue,
                Some(Value::Array(elements)) if !keep_missing => {
                    Value::Array(elements.iter().filter(|e| !e.is_null()).cloned().collect())
                }
                value => value.cloned().unwrap_or(Value::Null),
            };
            match value {
                Value::Array(elements) if merge_lists => list.extend(elements),
                value => list.push(value),
            }
        }
        values.insert(output.to_owned(), Value::Array(list));
    }
    let mut json = Map::new();
    for (key, value) in values {
        path_set(&mut json, &key, value, dot_notation);
    }
    Ok(vec![vec![Item { json: Value::Object(json), paired: paired_all(0..items.len(), main_input(input)) }]])
}

/// Which fields of each item a node takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fields {
    All,
    /// These (Aggregate's `specifiedFields`; Remove Duplicates' `selectedFields`).
    Only(&'static [&'static str]),
    /// All but these (`allFieldsExcept`).
    Except(&'static [&'static str]),
}

/// Aggregate v1, all item data: one item `{destination: [json, …]}` of the items' JSON, keeping
/// the top-level fields `include` says (no dot notation here, as in n8n; an empty list keeps
/// them all). An item left with no field is dropped. The item is paired to the items it holds.
pub fn aggregate_all(input: &NodeInput<'_>, destination: &'static str, include: Fields) -> NodeOutput {
    let from = main_input(input);
    // n8n filters only when it has names to filter by.
    let filter: Option<(Vec<&str>, bool)> = match include {
        Fields::All => None,
        Fields::Only(list) => Some((names(list), true)),
        Fields::Except(list) => Some((names(list), false)),
    }
    .filter(|(list, _)| !list.is_empty());
    let mut list = Vec::new();
    let mut paired = Vec::new();
    for (index, item) in input.main().iter().enumerate() {
        let json = match &filter {
            None => item.json.clone(),
            Some((names, only)) => {
                let kept: Map<String, Value> =
                    object(&item.json).into_iter().filter(|(key, _)| names.contains(&key.as_str()) == *only).collect();
                if kept.is_empty() {
                    continue;
                }
                Value::Object(kept)
            }
        };
        list.push(json);
        paired.push(Paired { item: index, input: from });
    }
    let mut json = Map::new();
    json.insert(destination.to_owned(), Value::Array(list));
    Ok(vec![vec![Item { json: Value::Object(json), paired }]])
}

// ---------------------------------------------------------------------------------------------
// Sort
// ---------------------------------------------------------------------------------------------

/// lodash's `lt`: two strings compare by UTF-16 code units; anything else as numbers (`toNumber`:
/// JavaScript's `Number()`, `undefined` NaN), a NaN making it false.
fn lodash_lt(a: Option<&Value>, b: Option<&Value>) -> bool {
    if let (Some(Value::String(a)), Some(Value::String(b))) = (a, b) {
        return a.encode_utf16().cmp(b.encode_utf16()) == Ordering::Less;
    }
    let number = |v: Option<&Value>| v.map_or(f64::NAN, crate::js::number);
    number(a) < number(b)
}

/// lodash's `isEqual` of two values, `None` being `undefined`.
fn lodash_eq(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => crate::js::strict_eq(a, b),
        _ => false,
    }
}

/// Sort v1, simple mode: the items in the order of `fields`, each `(name, descending)`, the first
/// deciding and the next breaking its ties. Strings compare without case (n8n lower-cases them),
/// by UTF-16 code units; other values as lodash's `lt` compares them; equal values (lodash's
/// `isEqual`) keep their order. As n8n's comparator is not consistent for values of mixed types
/// (a number and a string are each greater than the other), the order is what V8's sort makes of
/// it ([`js_sort`]). Items are paired to themselves.
///
/// Errors as n8n's: `No sorting specified. Please add a field to sort by`, and `Couldn't find the
/// field 'x' in the input data` when no item has the field.
pub fn sort(input: &NodeInput<'_>, fields: &'static [(&'static str, bool)], dot_notation: bool) -> NodeOutput {
    if fields.is_empty() {
        return Err(Error::validation("No sorting specified. Please add a field to sort by"));
    }
    let items = input.main();
    for (name, _) in fields {
        let found = items.iter().any(|item| field(&item.json, name, dot_notation).is_some());
        if !found {
            return Err(Error::validation(format!("Couldn't find the field '{name}' in the input data")));
        }
    }
    // Each item's sort values, strings lower-cased.
    let keys: Vec<Vec<Option<Value>>> = items
        .iter()
        .map(|item| {
            fields
                .iter()
                .map(|(name, _)| match field(&item.json, name, dot_notation) {
                    Some(Value::String(s)) => Some(Value::String(s.to_lowercase())),
                    other => other.cloned(),
                })
                .collect()
        })
        .collect();
    let order = js_sort(items.len(), |a, b| {
        for (f, (_, descending)) in fields.iter().enumerate() {
            let (x, y) = (keys[a][f].as_ref(), keys[b][f].as_ref());
            if !lodash_eq(x, y) {
                // `lt ? -dir : dir`: less-than only when `lt` says so ascending, or not descending.
                return lodash_lt(x, y) != *descending;
            }
        }
        false
    });
    let from = main_input(input);
    Ok(vec![order.into_iter().map(|i| passed(&items[i], i, from)).collect()])
}

// ---------------------------------------------------------------------------------------------
// Remove Duplicates
// ---------------------------------------------------------------------------------------------

/// The paths of the leaves of `value` (n8n's `flattenKeys`: nested objects and arrays give
/// `a.b`, `list.0`; an empty one gives nothing), added to `out` if new.
fn flatten_keys(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<String>) {
    let children: Vec<(String, &Value)> = match value {
        Value::Object(map) => map.iter().map(|(key, child)| (key.clone(), child)).collect(),
        Value::Array(list) => list.iter().enumerate().map(|(i, child)| (i.to_string(), child)).collect(),
        _ => {
            let key = prefix.join(".");
            if !out.contains(&key) {
                out.push(key);
            }
            return;
        }
    };
    for (key, child) in children {
        prefix.push(key);
        flatten_keys(child, prefix, out);
        prefix.pop();
    }
}

/// Remove Duplicates v1.1 and v2, "remove items repeated within current input": of the items
/// that are equal on the compared fields, the first is kept, the others dropped; the kept items
/// stay in their order and are paired to themselves.
///
/// [`Fields::All`] compares every field: under dot notation every leaf path (`a.b`, `list.0`) any
/// item has, else every top-level key; [`Fields::Except`] those but the named ones (under dot
/// notation the leaf paths of the first item, as n8n takes them); [`Fields::Only`] the named
/// ones. `remove_other_fields` keeps only the compared fields (lodash's `pick`).
///
/// As n8n, it sorts the items on the compared fields and drops each item equal to the last kept
/// one, so with values of mixed types what counts as repeated is what V8's sort makes adjacent.
/// Errors as n8n's: `No fields specified. Please add a field to compare on` (or `… to exclude
/// from comparison`), `'x' field is missing from some input items`, `'x' isn't always the same
/// type` (`null` is of any type).
pub fn remove_duplicates(
    input: &NodeInput<'_>,
    compare: Fields,
    remove_other_fields: bool,
    dot_notation: bool,
) -> NodeOutput {
    let items = input.main();
    if items.is_empty() {
        return Ok(vec![Vec::new()]);
    }
    let top_keys = |json: &Value, out: &mut Vec<String>| {
        for key in object(json).keys() {
            if !out.contains(key) {
                out.push(key.clone());
            }
        }
    };
    let mut keys: Vec<String> = Vec::new();
    for item in items {
        if dot_notation {
            flatten_keys(&item.json, &mut Vec::new(), &mut keys);
        } else {
            top_keys(&item.json, &mut keys);
        }
    }
    match compare {
        Fields::All => {}
        Fields::Except(list) => {
            let list = names(list);
            if list.is_empty() {
                return Err(Error::validation("No fields specified. Please add a field to exclude from comparison"));
            }
            if dot_notation {
                keys.clear();
                flatten_keys(&items[0].json, &mut Vec::new(), &mut keys);
            }
            keys.retain(|key| !list.contains(&key.as_str()));
        }
        Fields::Only(list) => {
            let list = names(list);
            if list.is_empty() {
                return Err(Error::validation("No fields specified. Please add a field to compare on"));
            }
            keys = list.into_iter().map(str::to_owned).collect();
        }
    }
    let values: Vec<Vec<Option<&Value>>> =
        items.iter().map(|item| keys.iter().map(|key| field(&item.json, key, dot_notation)).collect()).collect();
    let order = js_sort(items.len(), |a, b| {
        for (&x, &y) in values[a].iter().zip(&values[b]) {
            if !lodash_eq(x, y) {
                return lodash_lt(x, y);
            }
        }
        false
    });
    // n8n's `validateInputData`, over the sorted items.
    for (k, key) in keys.iter().enumerate() {
        let mut ty: Option<&str> = None;
        for &i in &order {
            if key.is_empty() {
                return Err(Error::validation("Name of field to compare is blank"));
            }
            let value = match values[i][k] {
                Some(Value::Null) => continue,
                None => return Err(Error::validation(format!("'{key}' field is missing from some input items"))),
                Some(value) => value,
            };
            let this = js_typeof(value);
            if ty.is_some_and(|ty| ty != this) {
                return Err(Error::validation(format!("'{key}' isn't always the same type")));
            }
            ty = Some(this);
        }
    }
    let mut removed = vec![false; items.len()];
    let mut kept = order[0];
    for &i in &order[1..] {
        if values[i].iter().zip(&values[kept]).all(|(&x, &y)| lodash_eq(x, y)) {
            removed[i] = true;
        } else {
            kept = i;
        }
    }
    let from = main_input(input);
    let mut out = Vec::new();
    for (index, item) in items.iter().enumerate().filter(|(i, _)| !removed[*i]) {
        let json = if remove_other_fields { pick(&item.json, &keys) } else { item.json.clone() };
        out.push(Item { json, paired: vec![Paired { item: index, input: from }] });
    }
    Ok(vec![out])
}

/// lodash's `pick`: the fields at `paths` that exist, at the same paths (a key the object has as
/// it is stays one).
fn pick(json: &Value, paths: &[String]) -> Value {
    let source = object(json);
    let mut out = Map::new();
    for path in paths {
        if let Some(value) = path_get(&source, path, true) {
            if source.contains_key(path) {
                out.insert(path.clone(), value.clone());
            } else {
                path_set(&mut out, path, value.clone(), true);
            }
        }
    }
    Value::Object(out)
}

// ---------------------------------------------------------------------------------------------
// Summarize
// ---------------------------------------------------------------------------------------------

/// One aggregation of Summarize; `include_empty` counts (or keeps) missing, `null` and `""`
/// values, which are otherwise left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    Count {
        include_empty: bool,
    },
    CountUnique {
        include_empty: bool,
    },
    /// Of the values that are numbers; the others are left out.
    Sum,
    Min,
    Max,
    /// Of the values that are numbers (`null`, as NaN, when there are none).
    Average,
    /// The values as text (objects and `null` as JSON, a missing value as `undefined`), joined by
    /// `separator`.
    Concatenate {
        separator: &'static str,
        include_empty: bool,
    },
    /// The list of the values.
    Append {
        include_empty: bool,
    },
}

/// n8n's parameter names of Summarize's aggregations, in its order.
pub const SUMMARIZE_AGGREGATIONS: &[&str] =
    &["append", "average", "concatenate", "count", "countUnique", "max", "min", "sum"];

impl Aggregation {
    /// The start of the output field's name (n8n's `AggregationDisplayNames`).
    fn prefix(self) -> &'static str {
        match self {
            Aggregation::Append { .. } => "appended_",
            Aggregation::Average => "average_",
            Aggregation::Concatenate { .. } => "concatenated_",
            Aggregation::Count { .. } => "count_",
            Aggregation::CountUnique { .. } => "unique_count_",
            Aggregation::Max => "max_",
            Aggregation::Min => "min_",
            Aggregation::Sum => "sum_",
        }
    }
}

/// n8n's `normalizeFieldName`: without `[`, `]` and `"`, spaces and dots as `_`.
fn normalize_field_name(name: &str) -> String {
    name.chars().filter(|c| !matches!(c, '[' | ']' | '"')).map(|c| if c == ' ' || c == '.' { '_' } else { c }).collect()
}

/// Summarize's `isEmpty`: undefined, `null` or `""`.
fn is_empty(value: Option<&Value>) -> bool {
    matches!(value, None | Some(Value::Null)) || value.and_then(Value::as_str) == Some("")
}

/// A key under which JavaScript's `Map` and `Set` (SameValueZero) take a value as the same:
/// primitives by type and value (`1` and `1.0` alike), each array or object its own.
fn same_value_key(value: Option<&Value>, own: usize) -> String {
    match value {
        None => "u".to_owned(),
        Some(Value::Null) => "z".to_owned(),
        Some(Value::Bool(b)) => format!("b{b}"),
        Some(Value::Number(n)) => format!("n{}", (n.as_f64().unwrap_or(f64::NAN) + 0.0).to_bits()),
        Some(Value::String(s)) => format!("s{s}"),
        Some(_) => format!("o{own}"),
    }
}

/// A group of Summarize: its split fields' names and values (the innermost first; `None` for a
/// missing value), and its items.
type Group = (Vec<(String, Option<Value>)>, Vec<usize>);

/// Summarize v1.1, output format "each split in a separate item" (the default): the items are
/// grouped by the values of the `split_by` fields (all in one group when there are none), and
/// per group one item holds, for each `(aggregation, field)`, the aggregation over the group's
/// values of the field, named as n8n names it (`count_x`, `unique_count_x`, `sum_x`,
/// `average_x`, `min_x`, `max_x`, `concatenated_x`, `appended_x`, with `[`, `]`, `"` removed and
/// spaces and dots as `_`: `sum_a_b` for `a.b`), then the split-by fields with the group's values
/// (the innermost first; an object's value as its JSON; a missing one left out), each item paired
/// to the items of its group. Groups come in the order their first item does; values of
/// different types (`1`, `"1"`) are different groups.
///
/// With no aggregation of a non-empty field, the error is n8n's (`You need to add at least one
/// aggregation to 'Fields to Summarize' with non empty 'Field'`); a field no item has is no error
/// (a hint, in n8n 1.1). Left out: the output format "all splits in a single item", the option "ignore items
/// without valid fields to group by", and version 1's conversion of group values to text.
pub fn summarize(
    input: &NodeInput<'_>,
    split_by: &'static [&'static str],
    aggregations: &'static [(Aggregation, &'static str)],
    dot_notation: bool,
) -> NodeOutput {
    if aggregations.iter().all(|(_, name)| name.is_empty()) {
        return Err(Error::validation(
            "You need to add at least one aggregation to 'Fields to Summarize' with non empty 'Field'",
        ));
    }
    let items = input.main();
    let split_by = names(split_by);
    let mut groups: Vec<Group> = Vec::new();
    split_groups(items, &split_by, dot_notation, (0..items.len()).collect(), &mut groups);
    let from = main_input(input);
    let mut out = Vec::new();
    for (splits, members) in groups {
        let mut json = Map::new();
        for (aggregation, name) in aggregations {
            let key = normalize_field_name(&format!("{}{name}", aggregation.prefix()));
            let values: Vec<Option<&Value>> =
                members.iter().map(|&i| field(&items[i].json, name, dot_notation)).collect();
            json.insert(key, aggregate(*aggregation, &values));
        }
        for (name, value) in splits {
            match value {
                Some(value) => {
                    json.insert(name, value);
                }
                None => {
                    json.shift_remove(&name);
                }
            }
        }
        out.push(Item { json: Value::Object(json), paired: paired_all(members, from) });
    }
    Ok(vec![out])
}

/// The groups of `members` by the fields `split_by` (n8n's `aggregateAndSplitData`, then
/// `flattenAggregationResultToArray`): each with its split fields' names and values, innermost
/// first.
fn split_groups(items: &[Item], split_by: &[&str], dot: bool, members: Vec<usize>, out: &mut Vec<Group>) {
    let Some((first, rest)) = split_by.split_first() else {
        out.push((Vec::new(), members));
        return;
    };
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut groups: Vec<(Option<Value>, Vec<usize>)> = Vec::new();
    for i in members {
        let value = match field(&items[i].json, first, dot) {
            Some(value @ (Value::Object(_) | Value::Array(_))) => Some(Value::String(crate::js::stringify(value, ""))),
            other => other.cloned(),
        };
        let key = same_value_key(value.as_ref(), 0);
        let at = *index.entry(key).or_insert_with(|| {
            groups.push((value, Vec::new()));
            groups.len() - 1
        });
        groups[at].1.push(i);
    }
    let name = normalize_field_name(first);
    for (value, group) in groups {
        let start = out.len();
        split_groups(items, rest, dot, group, out);
        for (splits, _) in &mut out[start..] {
            splits.push((name.clone(), value.clone()));
        }
    }
}

/// One aggregation over a group's values of a field (n8n's `aggregate`).
fn aggregate(aggregation: Aggregation, values: &[Option<&Value>]) -> Value {
    let kept = |include_empty: bool| -> Vec<Option<&Value>> {
        values.iter().copied().filter(|v| include_empty || !is_empty(*v)).collect()
    };
    let numbers = || values.iter().filter_map(|v| v.and_then(Value::as_f64));
    match aggregation {
        Aggregation::Count { include_empty } => Value::from(kept(include_empty).len()),
        Aggregation::CountUnique { include_empty } => {
            let unique: HashSet<String> =
                kept(include_empty).into_iter().enumerate().map(|(i, v)| same_value_key(v, i)).collect();
            Value::from(unique.len())
        }
        Aggregation::Sum => crate::js::from_f64(numbers().fold(0.0, |sum, n| sum + n)),
        Aggregation::Average => {
            let count = numbers().count();
            crate::js::from_f64(numbers().fold(0.0, |sum, n| sum + n) / count as f64)
        }
        Aggregation::Min | Aggregation::Max => {
            let op = if aggregation == Aggregation::Min { "<" } else { ">" };
            let mut best: Option<&Value> = None;
            for value in values.iter().copied().filter(|v| !is_empty(*v)).flatten() {
                if best.is_none_or(|best| crate::js::compare(op, value, best)) {
                    best = Some(value);
                }
            }
            best.cloned().unwrap_or(Value::Null)
        }
        Aggregation::Concatenate { separator, include_empty } => {
            let parts: Vec<String> = kept(include_empty)
                .into_iter()
                .map(|value| match value {
                    None => "undefined".to_owned(),
                    Some(value @ (Value::Null | Value::Object(_) | Value::Array(_))) => crate::js::stringify(value, ""),
                    Some(value) => crate::js::string(value),
                })
                .collect();
            Value::String(parts.join(separator))
        }
        Aggregation::Append { include_empty } => {
            Value::Array(kept(include_empty).into_iter().map(|v| v.cloned().unwrap_or(Value::Null)).collect())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Stop and Error
// ---------------------------------------------------------------------------------------------

/// Stop and Error v1, error type "error message": the node fails with `message(cx)` for the first
/// item, as text (a validation error, code `stop_and_error`), which is what the run reports.
pub fn stop_and_error(input: &NodeInput<'_>, message: impl Fn(&Cx<'_>) -> Result<Value, Error>) -> NodeOutput {
    let message = message(&Cx { input, index: 0 }).map_err(|error| at_item(error, 0))?;
    Err(Error::validation(text(&message)).with_code("stop_and_error"))
}

/// Wait v1.1, resume after a time interval: the items go on, unchanged, once `wait` has passed.
/// (n8n keeps a long wait in its database and resumes the execution later; a compiled program
/// waits in the process, as n8n does for waits under 65 seconds.)
pub async fn wait(input: &NodeInput<'_>, wait: std::time::Duration) -> NodeOutput {
    tokio::time::sleep(wait).await;
    crate::item_nodes::noop(input)
}

// ---------------------------------------------------------------------------------------------
// Sorting with n8n's comparators
// ---------------------------------------------------------------------------------------------

/// The indexes `0..n` in the order a stable sort by `less(a, b)` (element `a` goes before `b`)
/// gives. Our own bottom-up merge sort rather than `slice::sort_by`, because n8n's comparators
/// are not consistent for values of mixed types and the standard library's sort may panic on a
/// comparison that is not a total order; this one never does. For a consistent comparator the
/// order is the one every stable sort gives, V8's `Array.prototype.sort` included; for items
/// whose sort fields mix types it may differ from V8's.
pub fn js_sort(n: usize, mut less: impl FnMut(usize, usize) -> bool) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut merged = order.clone();
    let mut width = 1;
    while width < n {
        let mut start = 0;
        while start < n {
            let middle = (start + width).min(n);
            let end = (start + 2 * width).min(n);
            let (mut left, mut right, mut at) = (start, middle, start);
            while left < middle && right < end {
                // The right element goes first only when it is strictly before: stable.
                if less(order[right], order[left]) {
                    merged[at] = order[right];
                    right += 1;
                } else {
                    merged[at] = order[left];
                    left += 1;
                }
                at += 1;
            }
            merged[at..at + middle - left].copy_from_slice(&order[left..middle]);
            at += middle - left;
            merged[at..at + end - right].copy_from_slice(&order[right..end]);
            start = end;
        }
        std::mem::swap(&mut order, &mut merged);
        width *= 2;
    }
    order
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use serde_json::json;

    use super::*;
    use crate::items::{ItemFlow, ItemNode, NodeFuture, Order};

    fn idle(_input: NodeInput<'_>) -> NodeFuture<'_> {
        Box::pin(async { Ok(Vec::new()) })
    }

    static NODES: [ItemNode; 1] = [ItemNode::new("Here", "test", "", (0, 0), 1, idle)];

    fn flow() -> ItemFlow {
        ItemFlow { id: "wf", name: "Test", description: "", nodes: &NODES, connections: &[], order: Order::V1 }
    }

    /// Items as the scheduler gives them: each paired with its own place.
    fn input<'a>(flow: &'a ItemFlow, jsons: &[Value]) -> NodeInput<'a> {
        let items = jsons
            .iter()
            .enumerate()
            .map(|(item, json)| Item { json: json.clone(), paired: vec![Paired { item, input: 0 }] })
            .collect();
        NodeInput {
            inputs: vec![items],
            sources: vec![None],
            run_index: 0,
            history: &[],
            order: Order::V1,
            flow,
            execution_id: "exec-1",
            context: Box::leak(Box::default()),
        }
    }

    fn jsons(items: &[Item]) -> Vec<Value> {
        items.iter().map(|i| i.json.clone()).collect()
    }

    /// The input items each item came from.
    fn from(items: &[Item]) -> Vec<Vec<usize>> {
        items.iter().map(|i| i.paired.iter().map(|p| p.item).collect()).collect()
    }

    const fn number_rule(op: &'static [&'static str]) -> Conditions {
        Conditions { operators: op, and: true, case_sensitive: true, loose: false }
    }
    static RULES: [Conditions; 2] = [number_rule(&["number:gt"]), number_rule(&["number:gt"])];

    /// Rule 0: n > 10; rule 1: n > 5.
    fn over(cx: &Cx<'_>, rule: usize) -> Result<Vec<(Value, Value)>, Error> {
        Ok(vec![(cx.json()["n"].clone(), json!(if rule == 0 { 10 } else { 5 }))])
    }

    // `nodes/Switch/V3/SwitchV3.node.ts` execute, rules mode: rules in order, the first match
    // wins unless allMatchingOutputs; fallbackOutput none drops, extra adds an output, a rule's
    // index shares its output; items keep `pairedItem: {item: i}`.
    #[test]
    fn switch_rules_routes_each_item_to_the_first_matching_rule_or_the_fallback() {
        let flow = flow();
        let input = input(&flow, &[json!({"n": 12}), json!({"n": 7}), json!({"n": 1})]);
        let config = SwitchConfig { rules: &RULES, fallback: Fallback::None, all_matching: false };
        let tested = RefCell::new(Vec::new());
        let values = |cx: &Cx<'_>, rule: usize| {
            tested.borrow_mut().push((cx.index, rule));
            over(cx, rule)
        };
        let out = switch_rules(&input, &config, OnError::Stop, values).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(jsons(&out[0]), [json!({"n": 12})]);
        assert_eq!(jsons(&out[1]), [json!({"n": 7})]);
        assert_eq!(from(&out[1]), [[1]]);
        // A rule's values are evaluated only when the rule is tested.
        assert_eq!(*tested.borrow(), [(0, 0), (1, 0), (1, 1), (2, 0), (2, 1)]);

        let all = SwitchConfig { all_matching: true, ..config };
        let out = switch_rules(&input, &all, OnError::Stop, over).unwrap();
        assert_eq!(from(&out[0]), [[0]]);
        assert_eq!(from(&out[1]), [[0], [1]]);

        let extra = SwitchConfig { fallback: Fallback::Extra, ..config };
        let out = switch_rules(&input, &extra, OnError::Stop, over).unwrap();
        assert_eq!(out.len(), 3);
        assert_eq!(jsons(&out[2]), [json!({"n": 1})]);

        let shared = SwitchConfig { fallback: Fallback::Output(1), ..config };
        let out = switch_rules(&input, &shared, OnError::Stop, over).unwrap();
        assert_eq!(from(&out[1]), [[1], [2]]);

        // checkIndexRange: the fallback's output must exist (n8n's spelling).
        let missing = SwitchConfig { fallback: Fallback::Output(2), ..config };
        let error = switch_rules(&input, &missing, OnError::Stop, over).unwrap_err();
        assert_eq!(error.message, "The ouput 2 is not allowed. [item 2]");

        // No rules: `if (!returnData.length) return [[]]`.
        let none = SwitchConfig { rules: &[], ..config };
        assert_eq!(switch_rules(&input, &none, OnError::Stop, over).unwrap(), vec![Vec::new()]);
    }

    // SwitchV3 execute's catch: with continueOnFail, `returnData[0].push({json: {error:
    // error.message}})` and the next item; otherwise the filter's error, naming its item.
    #[test]
    fn a_failed_switch_item_fails_the_node_or_becomes_an_error_item_on_output_0() {
        let flow = flow();
        let input = input(&flow, &[json!({"n": 12}), json!({"n": "abc"}), json!({"n": 7})]);
        let config = SwitchConfig { rules: &RULES, fallback: Fallback::None, all_matching: false };
        let error = switch_rules(&input, &config, OnError::Stop, over).unwrap_err();
        assert_eq!(error.message, "Wrong type: 'abc' is a string but was expecting a number [condition 0, item 1]");
        let out = switch_rules(&input, &config, OnError::ContinueRegular, over).unwrap();
        assert_eq!(
            jsons(&out[0]),
            [
                json!({"n": 12}),
                json!({"error": "Wrong type: 'abc' is a string but was expecting a number [condition 0, item 1]"})
            ]
        );
        assert_eq!(from(&out[0]), [[0], [1]]);
        assert_eq!(jsons(&out[1]), [json!({"n": 7})]);
    }

    // SwitchV3 expression mode: `output` is validated as a number (n8n-core
    // `validate-value-against-schema.ts`, n8n-workflow `type-validation.ts`: `Number()`, null
    // passes as undefined), then checkIndexRange, then `returnData[outputIndex].push`.
    #[test]
    fn switch_expression_routes_by_the_index_the_expression_gives() {
        let flow = flow();
        let given = [json!({"o": 0}), json!({"o": "2"}), json!({"o": 1.0}), json!({"o": true})];
        let input = input(&flow, &given);
        let index = |cx: &Cx<'_>| Ok(cx.json()["o"].clone());
        let out = switch_expression(&input, 3, OnError::Stop, index).unwrap();
        assert_eq!(from(&out[0]), [[0]]);
        assert_eq!(from(&out[1]), [[2], [3]]);
        assert_eq!(from(&out[2]), [[1]]);
        let failing = |value: Value| {
            let flow = self::flow();
            let input = self::input(&flow, &[json!({})]);
            switch_expression(&input, 3, OnError::Stop, |_: &Cx<'_>| Ok(value.clone())).unwrap_err().message
        };
        assert_eq!(failing(json!(3)), "The ouput 3 is not allowed. [item 0]");
        assert_eq!(failing(json!(4)), "The ouput 4 is not allowed [item 0]");
        assert_eq!(failing(json!(-1)), "The ouput -1 is not allowed [item 0]");
        assert_eq!(failing(json!(1.5)), "Cannot read properties of undefined (reading 'push') [item 0]");
        assert_eq!(failing(Value::Null), "Cannot read properties of undefined (reading 'push') [item 0]");
        assert_eq!(failing(json!({"a": 1})), "Invalid input for 'Output Index' [item 0]");
        assert_eq!(failing(json!("two")), "Invalid input for 'Output Index' [item 0]");
        let input = self::input(&flow, &[json!({"o": 9}), json!({"o": 1})]);
        let out = switch_expression(&input, 2, OnError::ContinueErrorOutput, index).unwrap();
        assert_eq!(jsons(&out[0]), [json!({"error": "The ouput 9 is not allowed"})]);
        assert_eq!(from(&out[1]), [[1]]);
    }

    // `nodes/Transform/SplitOut/SplitOut.node.ts` execute; its test workflow
    // `test/workflow.splitOut.json`: object elements become the items, others go under the
    // field's name; include all other fields / selected ones; pairedItem {item: i}.
    #[test]
    fn split_out_makes_one_item_per_element() {
        let flow = flow();
        let given = [json!({"id": 1, "list": [{"a": 1}, {"a": 2}]}), json!({"id": 2, "list": [3]})];
        let input = input(&flow, &given);
        let out = split_out(&input, &["list"], Others::None, None, true).unwrap();
        assert_eq!(jsons(&out[0]), [json!({"a": 1}), json!({"a": 2}), json!({"list": 3})]);
        assert_eq!(from(&out[0]), [[0], [0], [1]]);
        let out = split_out(&input, &["$json.list"], Others::All, None, true).unwrap();
        assert_eq!(
            jsons(&out[0]),
            [json!({"id": 1, "list": {"a": 1}}), json!({"id": 1, "list": {"a": 2}}), json!({"id": 2, "list": 3})]
        );
        let out = split_out(&input, &["list"], Others::Selected(&["id", "gone"]), None, true).unwrap();
        assert_eq!(jsons(&out[0])[0], json!({"list": {"a": 1}, "id": 1}));
        let out = split_out(&input, &["list"], Others::None, Some("out"), true).unwrap();
        assert_eq!(jsons(&out[0])[2], json!({"out": 3}));
        let error = split_out(&input, &["list"], Others::Selected(&[" "]), None, true).unwrap_err();
        assert_eq!(error.message, "No fields specified");
    }

    // SplitOut.node.ts: several fields are split side by side; a missing field gives nothing
    // (only a hint); a value that is not a list is one element, an object's values are its
    // elements; the numbers of destination and split fields must agree.
    #[test]
    fn split_out_splits_several_fields_side_by_side_and_reads_any_value() {
        let flow = flow();
        let input = input(&flow, &[json!({"a": [1, 2, 3], "b": ["x", "y"], "s": "one", "o": {"p": 1, "q": 2}})]);
        let out = split_out(&input, &["a", "b"], Others::None, None, true).unwrap();
        assert_eq!(jsons(&out[0]), [json!({"a": 1, "b": "x"}), json!({"a": 2, "b": "y"}), json!({"a": 3})]);
        let out = split_out(&input, &["a", "b"], Others::None, Some("x, y"), true).unwrap();
        assert_eq!(jsons(&out[0])[0], json!({"x": 1, "y": "x"}));
        assert_eq!(jsons(&split_out(&input, &["s"], Others::None, None, true).unwrap()[0]), [json!({"s": "one"})]);
        assert_eq!(
            jsons(&split_out(&input, &["o"], Others::None, None, true).unwrap()[0]),
            [json!({"o": 1}), json!({"o": 2})]
        );
        assert!(split_out(&input, &["missing"], Others::All, None, true).unwrap()[0].is_empty());
        let error = split_out(&input, &["a", "b"], Others::None, Some("x"), true).unwrap_err();
        assert_eq!(
            error.message,
            "If multiple fields to split out are given, the same number of destination fields must be given"
        );
    }

    // `test/workflow.destinationFieldDotNotation.json` ("Item Lists4"): under dot notation the
    // destination is a path; `test/SplitOut.prototypes.test.ts`: a prototype path is refused.
    // The split field itself is read as a path, and unset from the other fields as one.
    #[test]
    fn split_out_reads_and_writes_paths_under_dot_notation() {
        let flow = flow();
        let data = json!({"data": [{"id": 3}, {"id": 4}], "data2": [{"text": "foo"}]});
        let input = input(&flow, &[data]);
        let out = split_out(&input, &["data"], Others::All, Some("data.foo"), true).unwrap();
        assert_eq!(jsons(&out[0])[0], json!({"data2": [{"text": "foo"}], "data": {"foo": {"id": 3}}}));
        let out = split_out(&input, &["data"], Others::None, Some("data.foo"), false).unwrap();
        assert_eq!(jsons(&out[0])[1], json!({"data.foo": {"id": 4}}));
        let error = split_out(&input, &["data"], Others::None, Some("__proto__.polluted"), true).unwrap_err();
        assert_eq!(error.message, "Invalid destination field name");
        let nested = json!({"order": {"id": 7, "lines": ["a", "b"]}});
        let input = self::input(&flow, &[nested]);
        let out = split_out(&input, &["order.lines"], Others::All, None, true).unwrap();
        assert_eq!(jsons(&out[0])[1], json!({"order": {"id": 7}, "order.lines": "b"}));
        assert!(split_out(&input, &["order.lines"], Others::None, None, false).unwrap()[0].is_empty());
    }

    // `nodes/Transform/Aggregate/Aggregate.node.ts`, aggregateIndividualFields: nulls and missing
    // values dropped unless keepMissing (nulls inside lists too), mergeLists flattens, the output
    // name is the rename or the path's last part, set as a path; pairedItem every item.
    #[test]
    fn aggregate_fields_lists_each_fields_values_over_the_items() {
        let flow = flow();
        let given = [json!({"a": 1, "t": [1, null], "x": {"y": 5}}), json!({"a": null, "t": [2]}), json!({"b": 2})];
        let input = input(&flow, &given);
        let run = |fields: &'static [(&'static str, Option<&'static str>)], merge: bool, keep: bool| {
            let out = aggregate_fields(&input, fields, merge, keep, true).unwrap();
            assert_eq!(out[0].len(), 1);
            assert_eq!(from(&out[0]), [[0, 1, 2]]);
            out[0][0].json.clone()
        };
        assert_eq!(run(&[("a", None)], false, false), json!({"a": [1]}));
        assert_eq!(run(&[("a", None)], false, true), json!({"a": [1, null, null]}));
        assert_eq!(run(&[("t", None)], false, false), json!({"t": [[1], [2]]}));
        assert_eq!(run(&[("t", None)], true, false), json!({"t": [1, 2]}));
        assert_eq!(run(&[("t", None)], true, true), json!({"t": [1, null, 2, null]}));
        assert_eq!(run(&[("a", Some("all_a")), ("x.y", None)], false, false), json!({"all_a": [1], "y": [5]}));
        assert_eq!(run(&[("x.y", Some("p.q"))], false, false), json!({"p": {"q": [5]}}));
        let flat = aggregate_fields(&input, &[("x.y", Some("p.q"))], false, true, false).unwrap();
        assert_eq!(flat[0][0].json, json!({"p.q": [null, null, null]}));
        let error = aggregate_fields(&input, &[("a", None), ("b", Some("a"))], false, false, true).unwrap_err();
        assert_eq!(error.message, "The 'a' output field is used more than once");
        assert_eq!(aggregate_fields(&input, &[], false, false, true).unwrap_err().message, "No fields specified");
    }

    // Aggregate.node.ts, aggregateAllItemData: `{[destinationFieldName]: items}`, fields kept or
    // excluded by top-level key, an item left empty dropped and unpaired.
    #[test]
    fn aggregate_all_puts_every_items_data_in_one_list() {
        let flow = flow();
        let input = input(&flow, &[json!({"a": 1, "b": 2}), json!({"b": 3}), json!({})]);
        let out = aggregate_all(&input, "data", Fields::All).unwrap();
        assert_eq!(out[0][0].json, json!({"data": [{"a": 1, "b": 2}, {"b": 3}, {}]}));
        assert_eq!(from(&out[0]), [[0, 1, 2]]);
        let out = aggregate_all(&input, "data", Fields::Only(&["a"])).unwrap();
        assert_eq!(out[0][0].json, json!({"data": [{"a": 1}]}));
        assert_eq!(from(&out[0]), [[0]]);
        let out = aggregate_all(&input, "rows", Fields::Except(&["a"])).unwrap();
        assert_eq!(out[0][0].json, json!({"rows": [{"b": 2}, {"b": 3}]}));
        assert_eq!(from(&out[0]), [[0, 1]]);
        assert_eq!(from(&aggregate_all(&input, "data", Fields::Only(&[])).unwrap()[0]), [[0, 1, 2]]);
    }

    // `nodes/Transform/Sort/Sort.node.ts`, simple mode: strings lower-cased, isEqual ties keep
    // their order (V8's sort is stable), lodash `lt`, `dir` per field.
    #[test]
    fn sort_orders_by_each_field_in_turn_without_case() {
        let flow = flow();
        let given = [
            json!({"name": "b", "n": 1}),
            json!({"name": "A", "n": 2}),
            json!({"name": "a", "n": 3}),
            json!({"name": "C", "n": 4}),
        ];
        let input = input(&flow, &given);
        let out = sort(&input, &[("name", false)], true).unwrap();
        assert_eq!(from(&out[0]), [[1], [2], [0], [3]]);
        let out = sort(&input, &[("name", true)], true).unwrap();
        assert_eq!(from(&out[0]), [[3], [0], [1], [2]]);
        let out = sort(&input, &[("name", false), ("n", true)], true).unwrap();
        assert_eq!(from(&out[0]), [[2], [1], [0], [3]]);
        assert_eq!(jsons(&out[0])[0], json!({"name": "a", "n": 3}));
        // Under dot notation a path, unless the item has the key as it is (lodash's `get`).
        let nested = [json!({"x": {"y": 2}}), json!({"x": {"y": 1}}), json!({"x.y": 0})];
        let input = self::input(&flow, &nested);
        assert_eq!(from(&sort(&input, &[("x.y", false)], true).unwrap()[0]), [[2], [1], [0]]);
        // Without, a key: the items without it (undefined) compare as NaN, equal to each other.
        assert_eq!(from(&sort(&input, &[("x.y", false)], false).unwrap()[0]), [[0], [1], [2]]);
        let error = sort(&input, &[("missing", false)], true).unwrap_err();
        assert_eq!(error.message, "Couldn't find the field 'missing' in the input data");
        let error = sort(&input, &[], true).unwrap_err();
        assert_eq!(error.message, "No sorting specified. Please add a field to sort by");
    }

    // Sort.node.ts's comparator on mixed types is not consistent (lodash `lt` of a string and a
    // number is false both ways): the sort still gives every item once, and the numbers among
    // themselves in order (V8 may place the strings elsewhere: see the module's doc).
    #[test]
    fn sort_of_mixed_types_gives_every_item_once() {
        let flow = flow();
        let values = [json!(3), json!("b"), json!(1), json!("A"), json!(2), json!(null), json!("10"), json!(0)];
        let given: Vec<Value> = values.iter().map(|v| json!({"v": v})).collect();
        let input = input(&flow, &given);
        let order: Vec<usize> =
            sort(&input, &[("v", false)], true).unwrap()[0].iter().map(|i| i.paired[0].item).collect();
        let mut seen = order.clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..values.len()).collect::<Vec<_>>());
        let numbers: Vec<usize> = order.iter().copied().filter(|&i| values[i].is_number()).collect();
        assert_eq!(numbers, [7, 2, 4, 0]);
    }

    // `nodes/Transform/RemoveDuplicates/utils.ts` removeDuplicateInputItems: keys from
    // flattenKeys (allFields), all but the excluded, or the selected; the first of equal items
    // kept; removeOtherFields picks the compared fields.
    #[test]
    fn remove_duplicates_keeps_the_first_of_equal_items() {
        let flow = flow();
        let given = [
            json!({"a": 1, "b": "x"}),
            json!({"a": 1, "b": "x"}),
            json!({"a": 2, "b": "x"}),
            json!({"a": 1, "b": "x"}),
        ];
        let input = input(&flow, &given);
        let kept = |compare, remove| from(&remove_duplicates(&input, compare, remove, true).unwrap()[0]);
        assert_eq!(kept(Fields::All, false), [[0], [2]]);
        assert_eq!(kept(Fields::Only(&["b"]), false), [[0]]);
        assert_eq!(kept(Fields::Except(&["b"]), false), [[0], [2]]);
        let out = remove_duplicates(&input, Fields::Only(&["b"]), true, true).unwrap();
        assert_eq!(jsons(&out[0]), [json!({"b": "x"})]);
        let nested = [json!({"p": {"q": 1}, "r": 1}), json!({"p": {"q": 1}, "r": 2}), json!({"p": {"q": 2}, "r": 1})];
        let input = self::input(&flow, &nested);
        let out = remove_duplicates(&input, Fields::Only(&["p.q"]), true, true).unwrap();
        assert_eq!(jsons(&out[0]), [json!({"p": {"q": 1}}), json!({"p": {"q": 2}})]);
        assert_eq!(from(&out[0]), [[0], [2]]);
        assert_eq!(from(&remove_duplicates(&input, Fields::All, false, true).unwrap()[0]), [[0], [1], [2]]);
        // Without dot notation `p` compares as a whole.
        assert_eq!(from(&remove_duplicates(&input, Fields::Except(&["r"]), false, false).unwrap()[0]), [[0], [2]]);
    }

    // utils.ts validateInputData: every compared field in every item, of one type (null of any
    // from v1.1 on); prepareFieldsArray's empty lists.
    #[test]
    fn remove_duplicates_needs_every_compared_field_of_one_type() {
        let flow = flow();
        let check = |given: &[Value], compare| {
            let input = input(&flow, given);
            remove_duplicates(&input, compare, false, true).map(|out| from(&out[0])).map_err(|e| e.message)
        };
        assert_eq!(
            check(&[json!({"a": 1}), json!({"b": 1})], Fields::All).unwrap_err(),
            "'a' field is missing from some input items"
        );
        assert_eq!(
            check(&[json!({"a": 1}), json!({"a": "1"})], Fields::All).unwrap_err(),
            "'a' isn't always the same type"
        );
        assert_eq!(check(&[json!({"a": null}), json!({"a": 1}), json!({"a": 1})], Fields::All).unwrap(), [[0], [1]]);
        assert_eq!(
            check(&[json!({"a": 1})], Fields::Only(&[" "])).unwrap_err(),
            "No fields specified. Please add a field to compare on"
        );
        assert_eq!(
            check(&[json!({"a": 1})], Fields::Except(&[])).unwrap_err(),
            "No fields specified. Please add a field to exclude from comparison"
        );
    }

    // `nodes/Transform/Summarize/utils.ts` aggregate and aggregateData: the output names
    // (AggregationDisplayNames, normalizeFieldName), numbers only for sum and average, empty
    // values left out unless includeEmpty, JavaScript's `<` for min and max, a Set for unique.
    #[test]
    fn summarize_aggregates_each_field_as_n8n_names_it() {
        let flow = flow();
        let given = [
            json!({"n": 1, "s": "a", "a": {"b": 1}}),
            json!({"n": "2", "s": ""}),
            json!({"n": 3, "s": "b", "a": {"b": 2}}),
            json!({"s": null, "my field": 1}),
        ];
        let input = input(&flow, &given);
        static AGGREGATIONS: [(Aggregation, &str); 12] = [
            (Aggregation::Count { include_empty: false }, "n"),
            (Aggregation::Count { include_empty: true }, "my field"),
            (Aggregation::Sum, "n"),
            (Aggregation::Average, "n"),
            (Aggregation::Min, "n"),
            (Aggregation::Max, "n"),
            (Aggregation::CountUnique { include_empty: false }, "s"),
            (Aggregation::Concatenate { separator: ", ", include_empty: false }, "s"),
            (Aggregation::Append { include_empty: false }, "s"),
            (Aggregation::Sum, "a.b"),
            (Aggregation::Average, "s"),
            (Aggregation::Min, "missing"),
        ];
        let out = summarize(&input, &[], &AGGREGATIONS, true).unwrap();
        assert_eq!(
            out[0][0].json,
            json!({
                "count_n": 3, "count_my_field": 4, "sum_n": 4, "average_n": 2, "min_n": 1, "max_n": 3,
                "unique_count_s": 2, "concatenated_s": "a, b", "appended_s": ["a", "b"], "sum_a_b": 3,
                "average_s": null, "min_missing": null
            })
        );
        assert_eq!(from(&out[0]), [[0, 1, 2, 3]]);
        // With empty values: `""` and `null` as themselves, a missing one as `undefined`.
        static EMPTY: [(Aggregation, &str); 3] = [
            (Aggregation::Concatenate { separator: "|", include_empty: true }, "s"),
            (Aggregation::CountUnique { include_empty: true }, "s"),
            (Aggregation::Append { include_empty: true }, "a.b"),
        ];
        let out = summarize(&input, &[], &EMPTY, true).unwrap();
        assert_eq!(
            out[0][0].json,
            json!({"concatenated_s": "a||b|null", "unique_count_s": 4, "appended_a_b": [1, null, 2, null]})
        );
        static MISSING: [(Aggregation, &str); 1] =
            [(Aggregation::Concatenate { separator: ",", include_empty: true }, "a.b")];
        assert_eq!(
            summarize(&input, &[], &MISSING, true).unwrap()[0][0].json,
            json!({"concatenated_a_b": "1,undefined,2,undefined"})
        );
        let error = summarize(&input, &[], &[(Aggregation::Sum, "")], true).unwrap_err();
        assert_eq!(
            error.message,
            "You need to add at least one aggregation to 'Fields to Summarize' with non empty 'Field'"
        );
    }

    // Summarize utils.ts aggregateAndSplitData (a Map: v1.1 keeps the values' types; objects as
    // JSON) and flattenAggregationResultToArray (the split fields written after the
    // aggregations, the innermost first); each group paired to its items.
    #[test]
    fn summarize_splits_by_fields_into_one_item_per_group() {
        let flow = flow();
        let given = [
            json!({"g": "x", "h": 1, "n": 1}),
            json!({"g": "y", "h": 1, "n": 2}),
            json!({"g": "x", "h": "1", "n": 3}),
            json!({"g": "x", "h": 1.0, "n": 4}),
            json!({"h": {"k": 1}, "n": 5}),
        ];
        let input = input(&flow, &given);
        static SUM: [(Aggregation, &str); 1] = [(Aggregation::Sum, "n")];
        let out = summarize(&input, &["g"], &SUM, true).unwrap();
        assert_eq!(jsons(&out[0]), [json!({"sum_n": 8, "g": "x"}), json!({"sum_n": 2, "g": "y"}), json!({"sum_n": 5})]);
        assert_eq!(from(&out[0]), [vec![0, 2, 3], vec![1], vec![4]]);
        let out = summarize(&input, &[" g ", "h"], &SUM, true).unwrap();
        assert_eq!(
            jsons(&out[0]),
            [
                json!({"sum_n": 5, "h": 1, "g": "x"}),
                json!({"sum_n": 3, "h": "1", "g": "x"}),
                json!({"sum_n": 2, "h": 1, "g": "y"}),
                json!({"sum_n": 5, "h": "{\"k\":1}"}),
            ]
        );
        let keys: Vec<&String> = out[0][0].json.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["sum_n", "h", "g"]);
        assert_eq!(from(&out[0]), [vec![0, 3], vec![2], vec![1], vec![4]]);
    }

    // `nodes/StopAndError/StopAndError.node.ts`: `throw new NodeOperationError(node,
    // errorMessage)`, the message taken for item 0.
    #[test]
    fn stop_and_error_fails_with_its_message() {
        let flow = flow();
        let input = input(&flow, &[json!({"id": 7}), json!({"id": 8})]);
        let error =
            stop_and_error(&input, |cx: &Cx<'_>| Ok(json!(format!("Order {} is bad", cx.json()["id"])))).unwrap_err();
        assert_eq!(error.message, "Order 7 is bad");
        assert_eq!(error.code.as_deref(), Some("stop_and_error"));
        assert_eq!(stop_and_error(&input, |_: &Cx<'_>| Ok(json!(5))).unwrap_err().message, "5");
        let broken = stop_and_error(&input, |_: &Cx<'_>| Err(Error::validation("no such field"))).unwrap_err();
        assert_eq!(broken.message, "no such field [item 0]");
    }

    // V8's TimSort is stable: under a consistent comparator it orders as any stable sort does
    // (long inputs with many ties take its merges and galloping). Its order under inconsistent
    // comparators was checked against node 20 on 600 generated inputs.
    #[test]
    fn js_sort_is_a_stable_sort() {
        let mut state: u32 = 7;
        let mut next = || {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            state
        };
        for n in [0, 1, 2, 5, 63, 64, 65, 200, 1000, 3000] {
            let keys: Vec<u32> = (0..n).map(|_| next() % 9).collect();
            let mut expected: Vec<usize> = (0..n).collect();
            expected.sort_by_key(|&i| keys[i]);
            assert_eq!(js_sort(n, |a, b| keys[a] < keys[b]), expected, "{n}");
            let mut descending: Vec<usize> = (0..n).collect();
            descending.sort_by_key(|&i| std::cmp::Reverse(keys[i]));
            assert_eq!(js_sort(n, |a, b| keys[a] > keys[b]), descending, "{n}");
        }
        // A comparator that says "less" every time: V8 reverses the first run and inserts the
        // rest (node 20: [3, 2, 1, 0]); it must not fail.
        assert_eq!(js_sort(4, |_, _| true), [3, 2, 1, 0]);
    }
}
