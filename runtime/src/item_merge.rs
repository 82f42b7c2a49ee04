//! The combining modes of n8n's Merge node, v3.x (3, 3.1, 3.2): combine by matching fields,
//! by position, every combination, and choose branch (mode append is
//! [`crate::item_nodes::merge_append`]).
//!
//! A compiled workflow must give the items n8n gives, so each function here follows what
//! n8n's Merge v3 does (its `nodes-base` sources, `Merge/v3/actions/mode/*` and
//! `Merge/v3/helpers/utils.ts`), quirks included:
//! - which value wins when both inputs have a field is lodash's `merge` (deep) or `assign`
//!   (shallow) over the inputs in the order the clash option gives, and "minimize empty
//!   fields" keeps a value already there over a later `null` or `""` ([`Clash`]);
//! - "add suffix" renames the top-level fields of input *n* to `field_n`; combining by
//!   position then also keeps the fields of the last input under their own names, as n8n
//!   does (it takes the preferred input before renaming);
//! - matching compares with lodash's `isEqual`, or n8n's `fuzzyCompare` when fuzzy;
//! - an output item made from several input items is paired with each of them, in n8n's
//!   order (duplicates included); an item passed on as it was is paired with itself.
//!
//! Each input item is identified by its place: item `i` of input `n` is `Paired { item: i,
//! input: n }`, which is what n8n's input items carry as their `pairedItem`.
//!
//! Binary data is not modelled; the SQL mode is not here.

use serde_json::{Map, Value};

use crate::error::Error;
use crate::item_nodes::{as_index, js_typeof, passed, path_get};
use crate::items::{Item, NodeInput, NodeOutput, Paired, Required};

/// Which input's value wins when two have the same field
/// (`options.clashHandling.values.resolveClash`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolve {
    /// `preferLast`: the later input's value (input 2's; by position, the last input's).
    PreferLast,
    /// `preferInput1`: input 1's value ("Use Earliest Version" with more than two inputs).
    PreferInput1,
    /// `addSuffix`: no clash: every top-level field is renamed `field_<input number>`.
    AddSuffix,
}

impl Resolve {
    /// What n8n does when `resolveClash` is not set: prefer the last input, except when
    /// combining by fields with `enrichInput2`, where input 1 wins.
    pub fn unset(join: Option<Join>) -> Resolve {
        match join {
            Some(Join::EnrichInput2) => Resolve::PreferInput1,
            _ => Resolve::PreferLast,
        }
    }
}

/// Clash handling (`options.clashHandling.values`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clash {
    pub resolve: Resolve,
    /// `mergeMode`: `deepMerge` (the default, and what an unset mode does) merges nested
    /// objects and arrays; `shallowMerge` takes each top-level field whole.
    pub deep: bool,
    /// `overrideEmpty` ("Minimize Empty Fields"): a later `null` or `""` does not replace a
    /// value already there.
    pub override_empty: bool,
}

impl Default for Clash {
    fn default() -> Clash {
        Clash { resolve: Resolve::PreferLast, deep: true, override_empty: false }
    }
}

/// Which items combining by fields outputs (`joinMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// `keepMatches` (the default): matching items, merged (inner join).
    KeepMatches,
    /// `keepNonMatches`: the items that match nothing.
    KeepNonMatches,
    /// `keepEverything`: matches merged, then the unmatched of input 1, then of input 2.
    KeepEverything,
    /// `enrichInput1`: every item of input 1, merged with its matches (left join).
    EnrichInput1,
    /// `enrichInput2`: every item of input 2, merged with its matches (right join).
    EnrichInput2,
}

/// Whose items combining by fields outputs (`outputDataFrom`, for `keepMatches` and
/// `keepNonMatches`; `both` otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFrom {
    Both,
    Input1,
    Input2,
}

/// An input item: where it is, and its JSON.
#[derive(Clone, Copy)]
struct Entry<'a> {
    at: Paired,
    json: &'a Value,
}

fn entries<'a>(input: &'a NodeInput<'_>, which: usize) -> Vec<Entry<'a>> {
    input
        .inputs
        .get(which)
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .enumerate()
        .map(|(item, i)| entry(i, item, which))
        .collect()
}

fn entry(item: &Item, index: usize, input: usize) -> Entry<'_> {
    Entry { at: Paired { item: index, input }, json: &item.json }
}

/// The entry as it was, paired with itself.
fn kept(e: &Entry<'_>) -> Item {
    Item { json: e.json.clone(), paired: vec![e.at] }
}

/// The entry with each top-level field renamed `field_suffix` (n8n's `addSuffixToEntriesKeys`).
fn suffixed(e: &Entry<'_>, suffix: usize) -> Item {
    Item { json: Value::Object(suffix_keys(e.json, Some(suffix))), paired: vec![e.at] }
}

/// The fields of `json`, renamed `field_suffix` when there is a suffix.
fn suffix_keys(json: &Value, suffix: Option<usize>) -> Map<String, Value> {
    let fields = json.as_object().into_iter().flatten();
    match suffix {
        Some(n) => fields.map(|(k, v)| (format!("{k}_{n}"), v.clone())).collect(),
        None => fields.map(|(k, v)| (k.clone(), v.clone())).collect(),
    }
}

/// `null` and `""`: what "minimize empty fields" lets a value already there win over.
fn empty(value: &Value) -> bool {
    matches!(value, Value::Null) || value.as_str() == Some("")
}

/// The objects merged into one, later ones winning (n8n's `selectMergeMethod`).
fn merge_all(parts: &[Map<String, Value>], clash: &Clash) -> Map<String, Value> {
    let mut out = Map::new();
    for part in parts {
        merge_into(&mut out, part, clash);
    }
    out
}

/// Merges `source` into `target`: lodash's `merge` when deep, `assign` when shallow; under
/// `override_empty`, an empty source value leaves a target value there (lodash's customizer
/// returning the target value).
fn merge_into(target: &mut Map<String, Value>, source: &Map<String, Value>, clash: &Clash) {
    for (key, value) in source {
        let nested = matches!(value, Value::Object(_) | Value::Array(_));
        if clash.deep && nested {
            match target.get_mut(key) {
                Some(slot) => merge_value(slot, value, clash),
                None => {
                    target.insert(key.clone(), value.clone());
                }
            }
        } else if !(clash.override_empty && empty(value) && target.contains_key(key)) {
            target.insert(key.clone(), value.clone());
        }
    }
}

/// Deep merge of a source value into a target value (lodash's `baseMergeDeep`).
fn merge_value(slot: &mut Value, source: &Value, clash: &Clash) {
    match (slot, source) {
        (Value::Object(target), Value::Object(source)) => merge_into(target, source, clash),
        (Value::Array(target), Value::Array(source)) => {
            for (index, value) in source.iter().enumerate() {
                merge_at(target, index, value, clash);
            }
        }
        // lodash merges an object's index-like keys into an array there; other keys are
        // properties of the array, which JSON drops.
        (Value::Array(target), Value::Object(source)) => {
            for (key, value) in source {
                if let Some(index) = as_index(key) {
                    merge_at(target, index, value, clash);
                }
            }
        }
        (slot, source) if matches!(source, Value::Object(_) | Value::Array(_)) => *slot = source.clone(),
        (slot, source) => {
            if !(clash.override_empty && empty(source)) {
                *slot = source.clone();
            }
        }
    }
}

fn merge_at(target: &mut Vec<Value>, index: usize, value: &Value, clash: &Clash) {
    if index >= target.len() {
        // A hole is `undefined`, which any value replaces; JSON writes the others as null.
        target.resize(index, Value::Null);
        target.push(value.clone());
    } else if clash.deep && matches!(value, Value::Object(_) | Value::Array(_)) {
        merge_value(&mut target[index], value, clash);
    } else if !(clash.override_empty && empty(value)) {
        target[index] = value.clone();
    }
}

// Combine by matching fields (`Merge/v3/actions/mode/combineByFields.ts`).

/// An item of input 1 and the input 2 items merged with it.
struct Matched<'a> {
    entry: Entry<'a>,
    matches: Vec<Entry<'a>>,
}

/// lodash's `isFalsy` of n8n's `fuzzyCompare`: null, `""` and `[]`.
fn falsy(value: &Value) -> bool {
    matches!(value, Value::Null) || value.as_str() == Some("") || value.as_array().is_some_and(Vec::is_empty)
}

/// n8n's `fuzzyCompare` (version 1), `b` missing being `undefined`: numbers equal their
/// text, booleans `"true"`/`"false"` (any case), `1`/`0` and `"1"`/`"0"`, an object or
/// array its JSON text; null, `""`, `[]` and a missing field all equal.
fn fuzzy_equal(a: &Value, b: Option<&Value>) -> bool {
    use Value::{Array, Bool, Number, Object, String};
    let Some(b) = b else { return falsy(a) };
    if !a.is_null() && !b.is_null() && js_typeof(a) == js_typeof(b) {
        return crate::js::strict_eq(a, b);
    }
    if falsy(a) && falsy(b) {
        return true;
    }
    let number_text =
        |n: &serde_json::Number, s: &str| crate::js::number_to_string(n.as_f64().unwrap_or(f64::NAN)) == s;
    let json_text = |s: &str, v: &Value| serde_json::from_str::<Value>(s).is_ok_and(|p| crate::js::strict_eq(&p, v));
    let bool_text = |x: bool, s: &str| {
        let lower = s.to_lowercase();
        (x && (lower == "true" || s == "1")) || (!x && (lower == "false" || s == "0"))
    };
    let bool_number = |x: bool, n: &serde_json::Number| n.as_f64() == Some(if x { 1.0 } else { 0.0 });
    match (a, b) {
        (Number(n), String(s)) | (String(s), Number(n)) => number_text(n, s),
        (Object(_) | Array(_), String(s)) => json_text(s, a),
        (String(s), Object(_) | Array(_)) => json_text(s, b),
        (Bool(x), String(s)) | (String(s), Bool(x)) => bool_text(*x, s),
        (Bool(x), Number(n)) | (Number(n), Bool(x)) => bool_number(*x, n),
        _ => crate::js::strict_eq(a, b),
    }
}

/// A field of an item: by lodash path under dot notation, else the key as it is.
fn field<'v>(json: &'v Value, path: &str, dot_notation: bool) -> Option<&'v Value> {
    let object = json.as_object()?;
    if dot_notation {
        path_get(object, path, true)
    } else {
        object.get(path)
    }
}

/// How combining by fields matches items: `all_matches` is `options.multipleMatches` `all`
/// (the default) rather than `first`; `fuzzy` is `options.fuzzyCompare`; `dot_notation` is
/// `options.disableDotNotation`, the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matching {
    pub all_matches: bool,
    pub fuzzy: bool,
    pub dot_notation: bool,
}

/// Combine by matching fields: `fields` are (field of input 1, field of input 2) pairs
/// (`fieldsToMatchString`, each name for both inputs, or `mergeByFields.values` when
/// `advanced`); `all_matches` is `options.multipleMatches` `all` (the default) rather than
/// `first`; `clash.resolve` must be [`Resolve::unset`]`(Some(join))` when n8n's is unset.
pub fn merge_by_fields(
    input: &NodeInput<'_>,
    fields: &'static [(&'static str, &'static str)],
    join: Join,
    output_from: OutputFrom,
    clash: &Clash,
    matching: &Matching,
) -> NodeOutput {
    let Matching { all_matches, fuzzy, dot_notation } = *matching;
    if fields.is_empty() || (fields.len() == 1 && fields[0].0.is_empty() && fields[0].1.is_empty()) {
        return Err(Error::config("You need to define at least one pair of fields in \"Fields to Match\" to match on"));
    }
    if let Some((at, (one, two))) = fields.iter().enumerate().find(|(_, (a, b))| a.is_empty() || b.is_empty()) {
        return Err(Error::config(format!(
            "You need to define both fields in \"Fields to Match\" for pair {}, field 1 = '{one}' field 2 = '{two}'",
            at + 1
        )));
    }
    let input1 = entries(input, 0);
    let input2 = entries(input, 1);
    if input1.is_empty() || input2.is_empty() {
        let nothing = matches!(
            (join, output_from, input1.is_empty(), input2.is_empty()),
            (Join::KeepNonMatches, OutputFrom::Input1, true, _)
                | (Join::KeepNonMatches, OutputFrom::Input2, _, true)
                | (Join::KeepMatches, _, _, _)
                | (Join::EnrichInput1, _, true, _)
                | (Join::EnrichInput2, _, _, true)
        );
        // Otherwise the items of the input that has any, as they are.
        let items = if nothing { Vec::new() } else { input1.iter().chain(&input2).map(kept).collect() };
        return Ok(vec![items]);
    }

    // The values to look for, by input 2's field (a later pair of the same field wins).
    let mut matched: Vec<Matched<'_>> = Vec::new();
    let mut unmatched1: Vec<Entry<'_>> = Vec::new();
    let mut found2 = vec![false; input2.len()];
    let one_per_match = output_from == OutputFrom::Both || matches!(join, Join::EnrichInput1 | Join::EnrichInput2);
    'entries: for e1 in &input1 {
        let mut lookup: Vec<(&str, &Value)> = Vec::new();
        for (field1, field2) in fields {
            let Some(value) = field(e1.json, field1, dot_notation) else {
                unmatched1.push(*e1);
                continue 'entries;
            };
            match lookup.iter_mut().find(|(k, _)| *k == *field2) {
                Some(slot) => slot.1 = value,
                None => lookup.push((*field2, value)),
            }
        }
        let equal = |e2: &Entry<'_>| {
            lookup.iter().all(|(key, expected)| {
                let value = field(e2.json, key, dot_notation);
                if fuzzy {
                    fuzzy_equal(expected, value)
                } else {
                    value.is_some_and(|v| crate::js::strict_eq(expected, v))
                }
            })
        };
        let mut matches = Vec::new();
        for (i, e2) in input2.iter().enumerate() {
            if equal(e2) {
                found2[i] = true;
                matches.push(*e2);
                if !all_matches {
                    break;
                }
            }
        }
        if matches.is_empty() {
            unmatched1.push(*e1);
        } else if one_per_match {
            matched.extend(matches.into_iter().map(|m| Matched { entry: *e1, matches: vec![m] }));
        } else {
            matched.push(Matched { entry: *e1, matches });
        }
    }
    let matched2: Vec<Entry<'_>> = input2.iter().zip(&found2).filter(|(_, f)| **f).map(|(e, _)| *e).collect();
    let unmatched2: Vec<Entry<'_>> = input2.iter().zip(&found2).filter(|(_, f)| !**f).map(|(e, _)| *e).collect();
    let suffix = clash.resolve == Resolve::AddSuffix;
    let rest = |entries: &[Entry<'_>], n: usize| -> Vec<Item> {
        entries.iter().map(|e| if suffix { suffixed(e, n) } else { kept(e) }).collect()
    };

    let items = match join {
        Join::KeepMatches | Join::KeepEverything => {
            let mut output: Vec<Item> = match output_from {
                OutputFrom::Input1 => matched.iter().map(|m| kept(&m.entry)).collect(),
                OutputFrom::Input2 => matched2.iter().map(kept).collect(),
                OutputFrom::Both => merge_matched(&matched, clash),
            };
            if join == Join::KeepEverything {
                output.extend(rest(&unmatched1, 1));
                output.extend(rest(&unmatched2, 2));
            }
            output
        }
        Join::KeepNonMatches => match output_from {
            OutputFrom::Input1 => unmatched1.iter().map(kept).collect(),
            OutputFrom::Input2 => unmatched2.iter().map(kept).collect(),
            OutputFrom::Both => {
                let tagged = |e: &Entry<'_>, source: &str| {
                    let mut json = suffix_keys(e.json, None);
                    json.insert("_source".to_owned(), Value::from(source));
                    Item { json: Value::Object(json), paired: vec![e.at] }
                };
                unmatched1
                    .iter()
                    .map(|e| tagged(e, "input1"))
                    .chain(unmatched2.iter().map(|e| tagged(e, "input2")))
                    .collect()
            }
        },
        Join::EnrichInput1 => {
            let mut output = merge_matched(&matched, clash);
            output.extend(rest(&unmatched1, 1));
            output
        }
        Join::EnrichInput2 => {
            let mut output = merge_matched(&matched, clash);
            output.extend(rest(&unmatched2, 2));
            output
        }
    };
    Ok(vec![items])
}

/// Each input 1 item merged with its matches (n8n's `mergeMatched`).
fn merge_matched(matched: &[Matched<'_>], clash: &Clash) -> Vec<Item> {
    matched
        .iter()
        .map(|Matched { entry, matches }| {
            let (order, suffixes): (Vec<&Entry<'_>>, bool) = match clash.resolve {
                Resolve::AddSuffix => (std::iter::once(entry).chain(matches).collect(), true),
                Resolve::PreferLast => (std::iter::once(entry).chain(matches).collect(), false),
                Resolve::PreferInput1 => (matches.iter().chain(std::iter::once(entry)).collect(), false),
            };
            let parts: Vec<Map<String, Value>> = order
                .iter()
                .map(|e| suffix_keys(e.json, suffixes.then_some(if e.at.input == 0 { 1 } else { 2 })))
                .collect();
            Item { json: Value::Object(merge_all(&parts, clash)), paired: order.iter().map(|e| e.at).collect() }
        })
        .collect()
}

// Combine by position (`Merge/v3/actions/mode/combineByPosition.ts`).

/// Combine by position: item `i` of every input merged into one, the preferred input's
/// version winning (input 1's under [`Resolve::PreferInput1`], else the last input's); as
/// many items as the shortest input has, or the longest under `include_unpaired`
/// (`options.includeUnpaired`). Every input of the node counts (`numberInputs`).
pub fn merge_by_position(input: &NodeInput<'_>, clash: &Clash, include_unpaired: bool) -> NodeOutput {
    let count = input.inputs.len();
    if count == 0 {
        return Ok(vec![Vec::new()]);
    }
    let preferred = if clash.resolve == Resolve::PreferInput1 { 0 } else { count - 1 };
    let suffix = clash.resolve == Resolve::AddSuffix;
    let lengths = input.inputs.iter().map(Vec::len);
    let n = if include_unpaired { lengths.max() } else { lengths.min() }.unwrap_or(0);
    let mut items = Vec::with_capacity(n);
    for i in 0..n {
        let mut parts = Vec::with_capacity(count + 1);
        let mut paired = Vec::with_capacity(count + 1);
        for (which, items) in input.inputs.iter().enumerate() {
            match items.get(i) {
                Some(item) => {
                    parts.push(suffix_keys(&item.json, suffix.then_some(which + 1)));
                    paired.push(Paired { item: i, input: which });
                }
                None => parts.push(Map::new()),
            }
        }
        // n8n merges the preferred input's item once more, last, and as it was before any
        // suffix was added.
        if let Some(item) = input.inputs[preferred].get(i) {
            parts.push(suffix_keys(&item.json, None));
            paired.push(Paired { item: i, input: preferred });
        }
        items.push(Item { json: Value::Object(merge_all(&parts, clash)), paired });
    }
    Ok(vec![items])
}

// Combine all (`Merge/v3/actions/mode/combineAll.ts`).

/// Every combination of an input 1 item and an input 2 item, merged, in input 1 order, each
/// input 1 item with every input 2 item; under [`Resolve::PreferInput1`] n8n swaps the
/// inputs, so input 2's items lead and input 1's win.
pub fn merge_all_combinations(input: &NodeInput<'_>, clash: &Clash) -> NodeOutput {
    let (mut first, mut second) = (entries(input, 0), entries(input, 1));
    if clash.resolve == Resolve::PreferInput1 {
        std::mem::swap(&mut first, &mut second);
    }
    let suffix = clash.resolve == Resolve::AddSuffix;
    let mut items = Vec::with_capacity(first.len() * second.len());
    for a in &first {
        for b in &second {
            let parts = [suffix_keys(a.json, suffix.then_some(1)), suffix_keys(b.json, suffix.then_some(2))];
            items.push(Item { json: Value::Object(merge_all(&parts, clash)), paired: vec![a.at, b.at] });
        }
    }
    Ok(vec![items])
}

// Choose branch (`Merge/v3/actions/mode/chooseBranch.ts`).

/// Choose branch (`chooseBranchMode` `waitForAll`): the items of input `Some(i)` (0-based;
/// `useDataOfInput` is 1-based) as they are, or (`None`: `output` `empty`) one empty item
/// paired with every item of inputs 1 and 2.
pub fn merge_choose_branch(input: &NodeInput<'_>, branch: Option<usize>) -> NodeOutput {
    let Some(which) = branch else {
        let paired = (0..2).flat_map(|which| entries(input, which)).map(|e| e.at).collect();
        return Ok(vec![vec![Item { json: Value::Object(Map::new()), paired }]]);
    };
    let Some(items) = input.inputs.get(which) else {
        return Err(Error::config(format!("Input {} doesn't exist", which + 1)));
    };
    Ok(vec![items.iter().enumerate().map(|(i, item)| passed(item, i, which)).collect()])
}

/// Which inputs must have had data before the node runs (Merge v3's `requiredInputs`):
/// inputs 1 and 2 for `chooseBranch`, any one input otherwise. With more than two inputs,
/// n8n requires only the first two for `chooseBranch`; [`Required`] cannot say so, and
/// [`Required::All`] waits for every input.
pub fn required_inputs(mode: &str, inputs: usize) -> Required {
    let _ = inputs;
    if mode == "chooseBranch" {
        Required::All
    } else {
        Required::AtLeast(1)
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;

    use serde_json::json;

    use super::*;
    use crate::items::{ItemFlow, ItemNode, Order};

    fn idle(_input: NodeInput<'_>) -> Pin<Box<dyn Future<Output = NodeOutput> + Send + '_>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    static NODES: [ItemNode; 1] = [ItemNode::new("Merge", "test", "", (0, 0), 1, idle)];

    fn flow() -> ItemFlow {
        ItemFlow { id: "wf", name: "Test", description: "", nodes: &NODES, connections: &[], order: Order::V1 }
    }

    /// A node input of these inputs, each item paired with its own place.
    fn input<'a>(flow: &'a ItemFlow, inputs: &[Vec<Value>]) -> NodeInput<'a> {
        let inputs: Vec<Vec<Item>> = inputs
            .iter()
            .enumerate()
            .map(|(n, jsons)| {
                jsons
                    .iter()
                    .enumerate()
                    .map(|(i, j)| Item { json: j.clone(), paired: vec![Paired { item: i, input: n }] })
                    .collect()
            })
            .collect();
        let sources = vec![None; inputs.len()];
        NodeInput {
            inputs,
            sources,
            run_index: 0,
            history: &[],
            order: Order::V1,
            flow,
            execution_id: "1",
            context: Box::leak(Box::default()),
        }
    }

    fn jsons(items: &[Item]) -> Vec<Value> {
        items.iter().map(|i| i.json.clone()).collect()
    }

    /// Pairings as (input, item) lists.
    fn pairs(items: &[Item]) -> Vec<Vec<(usize, usize)>> {
        items.iter().map(|i| i.paired.iter().map(|p| (p.input, p.item)).collect()).collect()
    }

    const LAST: Clash = Clash { resolve: Resolve::PreferLast, deep: true, override_empty: false };
    const FIRST: Clash = Clash { resolve: Resolve::PreferInput1, deep: true, override_empty: false };
    const SUFFIX: Clash = Clash { resolve: Resolve::AddSuffix, deep: true, override_empty: false };
    static ID: [(&str, &str); 1] = [("id", "id")];

    /// n8n's own test data for Merge v3 (`Merge/test/v3/operations.test.ts`), cut down.
    fn people() -> Vec<Vec<Value>> {
        vec![
            vec![
                json!({"id": 1, "data": "a", "name": "Sam"}),
                json!({"id": 2, "data": "b"}),
                json!({"id": 6, "data": "e"}),
            ],
            vec![
                json!({"id": 1, "data": "aa", "country": "PL"}),
                json!({"id": 3, "data": "cc"}),
                json!({"id": 1, "data": "a2"}),
            ],
        ]
    }

    fn by_fields(inputs: &[Vec<Value>], join: Join, from: OutputFrom, clash: &Clash) -> Vec<Item> {
        let flow = flow();
        merge_by_fields(
            &input(&flow, inputs),
            &ID,
            join,
            from,
            clash,
            &Matching { all_matches: true, fuzzy: false, dot_notation: true },
        )
        .unwrap()
        .remove(0)
    }

    // combineByFields.ts / utils.ts `findMatches`, `mergeMatched`: keepMatches, both, with
    // every match, preferLast: input 2's value wins; paired with input 1's item, then input 2's.
    #[test]
    fn keep_matches_merges_each_match_with_input_2_winning() {
        let out = by_fields(&people(), Join::KeepMatches, OutputFrom::Both, &LAST);
        assert_eq!(
            jsons(&out),
            [
                json!({"id": 1, "data": "aa", "name": "Sam", "country": "PL"}),
                json!({"id": 1, "data": "a2", "name": "Sam"}),
            ]
        );
        assert_eq!(pairs(&out), [vec![(0, 0), (1, 0)], vec![(0, 0), (1, 2)]]);
        // preferInput1: input 1's value wins, paired with the match first.
        let out = by_fields(&people(), Join::KeepMatches, OutputFrom::Both, &FIRST);
        assert_eq!(out[0].json, json!({"id": 1, "data": "a", "country": "PL", "name": "Sam"}));
        assert_eq!(pairs(&out)[0], [(1, 0), (0, 0)]);
        // addSuffix: `field_1`, `field_2`.
        let out = by_fields(&people(), Join::KeepMatches, OutputFrom::Both, &SUFFIX);
        assert_eq!(
            out[0].json,
            json!({"id_1": 1, "data_1": "a", "name_1": "Sam", "id_2": 1, "data_2": "aa", "country_2": "PL"})
        );
    }

    // combineByFields.ts: `multipleMatches: first` keeps the first match only; outputDataFrom
    // input1 gives each matched input 1 item once, input2 the matched input 2 items.
    #[test]
    fn keep_matches_can_take_the_first_match_or_one_input() {
        let flow = flow();
        let people = people();
        let inp = input(&flow, &people);
        let first = merge_by_fields(
            &inp,
            &ID,
            Join::KeepMatches,
            OutputFrom::Both,
            &LAST,
            &Matching { all_matches: false, fuzzy: false, dot_notation: true },
        )
        .unwrap();
        assert_eq!(jsons(&first[0]), [json!({"id": 1, "data": "aa", "name": "Sam", "country": "PL"})]);
        let out = by_fields(&people, Join::KeepMatches, OutputFrom::Input1, &LAST);
        assert_eq!(jsons(&out), [people[0][0].clone()]);
        assert_eq!(pairs(&out), [vec![(0, 0)]]);
        let out = by_fields(&people, Join::KeepMatches, OutputFrom::Input2, &LAST);
        assert_eq!(jsons(&out), [people[1][0].clone(), people[1][2].clone()]);
        assert_eq!(pairs(&out), [vec![(1, 0)], vec![(1, 2)]]);
    }

    // combineByFields.ts, keepNonMatches: both adds `_source`; input1 / input2 as they are.
    #[test]
    fn keep_non_matches_gives_the_unmatched_items() {
        let out = by_fields(&people(), Join::KeepNonMatches, OutputFrom::Both, &LAST);
        assert_eq!(
            jsons(&out),
            [
                json!({"id": 2, "data": "b", "_source": "input1"}),
                json!({"id": 6, "data": "e", "_source": "input1"}),
                json!({"id": 3, "data": "cc", "_source": "input2"}),
            ]
        );
        assert_eq!(pairs(&out), [vec![(0, 1)], vec![(0, 2)], vec![(1, 1)]]);
        let out = by_fields(&people(), Join::KeepNonMatches, OutputFrom::Input2, &LAST);
        assert_eq!(jsons(&out), [json!({"id": 3, "data": "cc"})]);
        let out = by_fields(&people(), Join::KeepNonMatches, OutputFrom::Input1, &LAST);
        assert_eq!(pairs(&out), [vec![(0, 1)], vec![(0, 2)]]);
    }

    // combineByFields.ts, keepEverything: merged matches, then unmatched of input 1, then of
    // input 2 (suffixed under addSuffix).
    #[test]
    fn keep_everything_is_an_outer_join() {
        let out = by_fields(&people(), Join::KeepEverything, OutputFrom::Both, &LAST);
        assert_eq!(out.len(), 5);
        assert_eq!(
            jsons(&out[2..]),
            [json!({"id": 2, "data": "b"}), json!({"id": 6, "data": "e"}), json!({"id": 3, "data": "cc"})]
        );
        assert_eq!(pairs(&out[2..]), [vec![(0, 1)], vec![(0, 2)], vec![(1, 1)]]);
        let out = by_fields(&people(), Join::KeepEverything, OutputFrom::Both, &SUFFIX);
        assert_eq!(out[2].json, json!({"id_1": 2, "data_1": "b"}));
        assert_eq!(out[4].json, json!({"id_2": 3, "data_2": "cc"}));
    }

    // combineByFields.ts, enrichInput1 / enrichInput2: merged matches, then the rest of the
    // enriched input; an unset resolveClash prefers input 1 for enrichInput2 (utils.ts).
    #[test]
    fn enrich_keeps_every_item_of_one_input() {
        let out = by_fields(&people(), Join::EnrichInput1, OutputFrom::Both, &LAST);
        assert_eq!(out.len(), 4);
        assert_eq!(jsons(&out[2..]), [json!({"id": 2, "data": "b"}), json!({"id": 6, "data": "e"})]);
        let clash = Clash { resolve: Resolve::unset(Some(Join::EnrichInput2)), ..LAST };
        let out = by_fields(&people(), Join::EnrichInput2, OutputFrom::Both, &clash);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].json, json!({"id": 1, "data": "a", "country": "PL", "name": "Sam"}));
        assert_eq!(pairs(&out), [vec![(1, 0), (0, 0)], vec![(1, 2), (0, 0)], vec![(1, 1)]]);
    }

    // combineByFields.ts: an empty input stops keepMatches and the enrich of that input;
    // otherwise the items of the other input pass as they are.
    #[test]
    fn an_empty_input_gives_nothing_or_the_other_input() {
        let inputs = vec![vec![json!({"id": 1})], vec![]];
        assert!(by_fields(&inputs, Join::KeepMatches, OutputFrom::Both, &LAST).is_empty());
        assert!(by_fields(&inputs, Join::KeepNonMatches, OutputFrom::Input2, &LAST).is_empty());
        assert!(by_fields(&inputs, Join::EnrichInput2, OutputFrom::Both, &LAST).is_empty());
        let out = by_fields(&inputs, Join::KeepNonMatches, OutputFrom::Both, &LAST);
        assert_eq!(jsons(&out), [json!({"id": 1})], "no `_source` on this path");
        assert_eq!(by_fields(&inputs, Join::EnrichInput1, OutputFrom::Both, &LAST).len(), 1);
    }

    // utils.ts `findMatches` with `fuzzyCompare` (utilities.ts): strict is lodash isEqual;
    // fuzzy matches 3 and "3", true and "TRUE", a missing field and null. A field missing in
    // input 1 matches nothing. Dot notation reads nested paths.
    #[test]
    fn matching_is_strict_unless_fuzzy_and_follows_dot_notation() {
        let flow = flow();
        let inputs = vec![
            vec![json!({"id": 3}), json!({"id": true}), json!({"id": null}), json!({"other": 1})],
            vec![json!({"id": "3"}), json!({"id": "TRUE"}), json!({"x": 1})],
        ];
        let inp = input(&flow, &inputs);
        let strict = merge_by_fields(
            &inp,
            &ID,
            Join::KeepMatches,
            OutputFrom::Input1,
            &LAST,
            &Matching { all_matches: true, fuzzy: false, dot_notation: true },
        )
        .unwrap();
        assert!(strict[0].is_empty());
        let fuzzy = merge_by_fields(
            &inp,
            &ID,
            Join::KeepMatches,
            OutputFrom::Input1,
            &LAST,
            &Matching { all_matches: true, fuzzy: true, dot_notation: true },
        )
        .unwrap();
        assert_eq!(pairs(&fuzzy[0]), [vec![(0, 0)], vec![(0, 1)], vec![(0, 2)]]);
        static NESTED: [(&str, &str); 1] = [("a.b", "key")];
        let inputs = vec![vec![json!({"a": {"b": 1}}), json!({"a.b": 2})], vec![json!({"key": 1}), json!({"key": 2})]];
        let inp = input(&flow, &inputs);
        let dot = merge_by_fields(
            &inp,
            &NESTED,
            Join::KeepMatches,
            OutputFrom::Input2,
            &LAST,
            &Matching { all_matches: true, fuzzy: false, dot_notation: true },
        )
        .unwrap();
        assert_eq!(pairs(&dot[0]), [vec![(1, 0)], vec![(1, 1)]], "a path, or a key with a dot");
        let plain = merge_by_fields(
            &inp,
            &NESTED,
            Join::KeepMatches,
            OutputFrom::Input2,
            &LAST,
            &Matching { all_matches: true, fuzzy: false, dot_notation: false },
        )
        .unwrap();
        assert_eq!(pairs(&plain[0]), [vec![(1, 1)]]);
    }

    // utils.ts `checkMatchFieldsInput`: both fields of a pair must be given.
    #[test]
    fn a_pair_with_an_empty_field_fails() {
        let flow = flow();
        static HALF: [(&str, &str); 1] = [("id", "")];
        let err = merge_by_fields(
            &input(&flow, &people()),
            &HALF,
            Join::KeepMatches,
            OutputFrom::Both,
            &LAST,
            &Matching { all_matches: true, fuzzy: false, dot_notation: true },
        );
        assert!(err.unwrap_err().message.contains("for pair 1"));
    }

    // utils.ts `selectMergeMethod`: deep merges nested objects and arrays by index, shallow
    // takes the later top-level value whole; overrideEmpty keeps a value over null or "".
    #[test]
    fn clash_handling_merges_deep_or_shallow_and_can_keep_values_over_empty_ones() {
        let flow = flow();
        let inputs = vec![
            vec![json!({"id": 1, "o": {"a": 1, "b": 1}, "l": [1, 2, 3], "n": "x", "e": "y"})],
            vec![json!({"id": 1, "o": {"b": 2}, "l": [9], "n": null, "e": ""})],
        ];
        let inp = input(&flow, &inputs);
        let run = |clash: Clash| {
            merge_by_fields(
                &inp,
                &ID,
                Join::KeepMatches,
                OutputFrom::Both,
                &clash,
                &Matching { all_matches: true, fuzzy: false, dot_notation: true },
            )
            .unwrap()[0][0]
                .json
                .clone()
        };
        assert_eq!(run(LAST), json!({"id": 1, "o": {"a": 1, "b": 2}, "l": [9, 2, 3], "n": null, "e": ""}));
        assert_eq!(run(Clash { deep: false, ..LAST }), json!({"id": 1, "o": {"b": 2}, "l": [9], "n": null, "e": ""}));
        assert_eq!(
            run(Clash { override_empty: true, ..LAST }),
            json!({"id": 1, "o": {"a": 1, "b": 2}, "l": [9, 2, 3], "n": "x", "e": "y"})
        );
        assert_eq!(
            run(Clash { deep: false, override_empty: true, ..LAST }),
            json!({"id": 1, "o": {"b": 2}, "l": [9], "n": "x", "e": "y"})
        );
    }

    // combineByPosition.ts: the last input wins unless preferInput1; as many items as the
    // shortest input, or the longest with includeUnpaired; paired with each input's item, and
    // the preferred input's once more.
    #[test]
    fn by_position_merges_the_items_at_each_place() {
        let flow = flow();
        let inputs = vec![vec![json!({"a": 1, "k": 1}), json!({"a": 2})], vec![json!({"b": 1, "k": 2})]];
        let inp = input(&flow, &inputs);
        let out = merge_by_position(&inp, &LAST, false).unwrap().remove(0);
        assert_eq!(jsons(&out), [json!({"a": 1, "k": 2, "b": 1})]);
        assert_eq!(pairs(&out), [vec![(0, 0), (1, 0), (1, 0)]]);
        let out = merge_by_position(&inp, &FIRST, true).unwrap().remove(0);
        assert_eq!(jsons(&out), [json!({"a": 1, "k": 1, "b": 1}), json!({"a": 2})]);
        assert_eq!(pairs(&out), [vec![(0, 0), (1, 0), (0, 0)], vec![(0, 1), (0, 1)]]);
        // addSuffix: n8n also merges the last input's item under its own names.
        let out = merge_by_position(&inp, &SUFFIX, false).unwrap().remove(0);
        assert_eq!(out[0].json, json!({"a_1": 1, "k_1": 1, "b_2": 1, "k_2": 2, "b": 1, "k": 2}));
        // Three inputs.
        let three = input(&flow, &[vec![json!({"a": 1})], vec![json!({"a": 2})], vec![json!({"c": 3})]]);
        let out = merge_by_position(&three, &LAST, false).unwrap().remove(0);
        assert_eq!(out[0].json, json!({"a": 2, "c": 3}));
        let empty = input(&flow, &[vec![json!({"a": 1})], vec![]]);
        assert!(merge_by_position(&empty, &LAST, false).unwrap()[0].is_empty());
    }

    // combineAll.ts: every pair, input 1 outer; preferInput1 swaps the inputs.
    #[test]
    fn all_combinations_pair_every_item_with_every_other() {
        let flow = flow();
        let inputs =
            vec![vec![json!({"k": "a1"}), json!({"k": "a2"})], vec![json!({"k": "b1", "b": 1}), json!({"k": "b2"})]];
        let inp = input(&flow, &inputs);
        let out = merge_all_combinations(&inp, &LAST).unwrap().remove(0);
        assert_eq!(
            jsons(&out),
            [json!({"k": "b1", "b": 1}), json!({"k": "b2"}), json!({"k": "b1", "b": 1}), json!({"k": "b2"})]
        );
        assert_eq!(
            pairs(&out),
            [vec![(0, 0), (1, 0)], vec![(0, 0), (1, 1)], vec![(0, 1), (1, 0)], vec![(0, 1), (1, 1)]]
        );
        let out = merge_all_combinations(&inp, &FIRST).unwrap().remove(0);
        assert_eq!(jsons(&out)[..2], [json!({"k": "a1", "b": 1}), json!({"k": "a2", "b": 1})]);
        assert_eq!(pairs(&out)[0], [(1, 0), (0, 0)]);
        let out = merge_all_combinations(&inp, &SUFFIX).unwrap().remove(0);
        assert_eq!(out[0].json, json!({"k_1": "a1", "k_2": "b1", "b_2": 1}));
    }

    // chooseBranch.ts: the chosen input's items as they are, or one empty item paired with
    // every item of inputs 1 and 2; a missing input fails. versionDescription.ts: only
    // chooseBranch needs both inputs.
    #[test]
    fn choose_branch_passes_one_input_or_one_empty_item() {
        let flow = flow();
        let inp = input(&flow, &[vec![json!({"a": 1})], vec![json!({"b": 1}), json!({"b": 2})]]);
        let out = merge_choose_branch(&inp, Some(1)).unwrap().remove(0);
        assert_eq!(jsons(&out), [json!({"b": 1}), json!({"b": 2})]);
        assert_eq!(pairs(&out), [vec![(1, 0)], vec![(1, 1)]]);
        let out = merge_choose_branch(&inp, None).unwrap().remove(0);
        assert_eq!(jsons(&out), [json!({})]);
        assert_eq!(pairs(&out), [vec![(0, 0), (1, 0), (1, 1)]]);
        assert!(merge_choose_branch(&inp, Some(2)).unwrap_err().message.contains("Input 3 doesn't exist"));
        assert_eq!(required_inputs("chooseBranch", 2), Required::All);
        assert_eq!(required_inputs("combine", 2), Required::AtLeast(1));
    }
}
