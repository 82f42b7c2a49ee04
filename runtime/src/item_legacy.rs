//! If v1 ([`if_v1`]) and Filter v1 ([`filter_v1`]): the conditions of n8n's first versions of
//! these nodes, which most exported workflows still use.
//!
//! Their parameters are `conditions: {boolean: […], dateTime: […], number: […], string: […]}`,
//! each condition `{value1, operation, value2}`, and how to combine them (If v1:
//! `combineOperation`, `all` or `any`; Filter v1: `combineConditions`, `AND` or `OR`). n8n
//! evaluates them type by type, in the fixed order boolean, dateTime, number, string, each
//! type's in their order, and stops at the first condition that decides.
//!
//! Unlike version 2, these conditions do no type validation: each operation is a plain
//! JavaScript expression on the two values as the parameters gave them (n8n-nodes-base
//! `nodes/If/V1/IfV1.node.ts`, `nodes/Filter/V1/GenericFunctions.ts`), and so are these, with
//! `crate::js`'s semantics: `===` for `equal`, the relational operators on `value || 0` for
//! `larger` and the others (two strings compare as strings), `String(value || '')` for
//! `contains`, `String.prototype.startsWith` / `endsWith` on `value1` itself (a TypeError when
//! it is not a string). The `dateTime` conditions first turn both values into milliseconds
//! (`new Date(string).getTime()`, or a number as it is), and fail the node when one does not
//! convert.
//!
//! A failure fails the whole node, whatever its `onError` says: these versions have no per-item
//! error handling, and n8n's engine then passes the node's input items on to output 0 when
//! the node goes on (the scheduler does the same with an `Err`).

use serde_json::{json, Value};

use crate::error::Error;
use crate::item_nodes::{at_item, main_input, parse_datetime, passed, Cx};
use crate::items::{NodeInput, NodeOutput, OnError};
use crate::js;

/// The conditions of an If v1 or a Filter v1 node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegacyConditions {
    /// One v1 condition's type and operation, e.g. ("number", "larger"), in the order n8n
    /// evaluates them (by type: boolean, dateTime, number, string).
    pub conditions: &'static [(&'static str, &'static str)],
    /// One condition passing is enough (`any` / `OR`), rather than all (`all` / `AND`).
    pub any: bool,
}

/// Every (type, operation) these nodes offer that flowc runs: the list the compiler checks
/// workflows against (`flowc_core::n8n`).
pub use crate::n8n::LEGACY_OPERATIONS;

/// If v1: the items that pass go to output 0 (`true`), the others to output 1 (`false`), each
/// paired with itself. `values(cx)` gives (value1, value2) per condition, in `conditions`'
/// order. Any failure (an expression's, a value that is not a date, `startsWith` on what is
/// not a string) fails the node: `on_error` does not change what this function does (see the
/// module's documentation).
pub fn if_v1(
    input: &NodeInput<'_>,
    c: &LegacyConditions,
    on_error: OnError,
    values: impl Fn(&Cx<'_>) -> Result<Vec<(Value, Value)>, Error>,
) -> NodeOutput {
    let _ = on_error;
    let from = main_input(input);
    let (mut yes, mut no) = (Vec::new(), Vec::new());
    for (index, item) in input.main().iter().enumerate() {
        if passes(input, c, index, &values)? {
            yes.push(passed(item, index, from));
        } else {
            no.push(passed(item, index, from));
        }
    }
    Ok(vec![yes, no])
}

/// Filter v1: the items that pass, on its one output (`Kept`); the others are dropped. It has
/// no options (no case sensitivity, nothing else). As [`if_v1`] otherwise.
pub fn filter_v1(
    input: &NodeInput<'_>,
    c: &LegacyConditions,
    on_error: OnError,
    values: impl Fn(&Cx<'_>) -> Result<Vec<(Value, Value)>, Error>,
) -> NodeOutput {
    let _ = on_error;
    let from = main_input(input);
    let mut kept = Vec::new();
    for (index, item) in input.main().iter().enumerate() {
        if passes(input, c, index, &values)? {
            kept.push(passed(item, index, from));
        }
    }
    Ok(vec![kept])
}

/// Whether item `index` passes: the conditions in order, the first that decides ends it.
fn passes(
    input: &NodeInput<'_>,
    c: &LegacyConditions,
    index: usize,
    values: &impl Fn(&Cx<'_>) -> Result<Vec<(Value, Value)>, Error>,
) -> Result<bool, Error> {
    let pairs = values(&Cx { input, index }).map_err(|error| at_item(error, index))?;
    if pairs.len() != c.conditions.len() {
        return Err(Error::internal(format!(
            "{} conditions were given {} pairs of values",
            c.conditions.len(),
            pairs.len()
        )));
    }
    for (&(ty, operation), (value1, value2)) in c.conditions.iter().zip(&pairs) {
        let pass = condition(ty, operation, value1, value2)?;
        if pass == c.any {
            return Ok(pass);
        }
    }
    Ok(!c.any)
}

/// One condition. n8n has one table of operations for every type; the type only decides
/// whether the values are first converted to dates.
fn condition(ty: &str, operation: &str, value1: &Value, value2: &Value) -> Result<bool, Error> {
    let (converted1, converted2);
    let (value1, value2) = if ty == "dateTime" {
        converted1 = date_time(value1)?;
        converted2 = date_time(value2)?;
        (&converted1, &converted2)
    } else {
        (value1, value2)
    };
    Ok(match operation {
        "after" | "larger" => js::compare(">", &or_zero(value1), &or_zero(value2)),
        "largerEqual" => js::compare(">=", &or_zero(value1), &or_zero(value2)),
        "before" | "smaller" => js::compare("<", &or_zero(value1), &or_zero(value2)),
        "smallerEqual" => js::compare("<=", &or_zero(value1), &or_zero(value2)),
        "equal" => js::strict_eq(value1, value2),
        "notEqual" => !js::strict_eq(value1, value2),
        "contains" => or_empty(value1).contains(&or_empty(value2)),
        "notContains" => !or_empty(value1).contains(&or_empty(value2)),
        "startsWith" => string_method(value1, "startsWith")?.starts_with(&js::string(value2)),
        "notStartsWith" => !string_method(value1, "startsWith")?.starts_with(&js::string(value2)),
        "endsWith" => string_method(value1, "endsWith")?.ends_with(&js::string(value2)),
        "notEndsWith" => !string_method(value1, "endsWith")?.ends_with(&js::string(value2)),
        "isEmpty" => is_empty(value1),
        "isNotEmpty" => !is_empty(value1),
        _ => {
            return Err(Error::internal(format!("the {ty} condition has an operation flowc does not run: {operation}")))
        }
    })
}

/// JavaScript's `value || 0`.
fn or_zero(value: &Value) -> Value {
    if js::truthy(value) {
        value.clone()
    } else {
        json!(0)
    }
}

/// JavaScript's `(value || '').toString()`.
fn or_empty(value: &Value) -> String {
    if js::truthy(value) {
        js::string(value)
    } else {
        String::new()
    }
}

/// `value1` as the receiver of a string method: V8's TypeError when it is not a string.
fn string_method<'v>(value: &'v Value, method: &str) -> Result<&'v str, Error> {
    match value {
        Value::String(s) => Ok(s),
        Value::Null => Err(Error::validation(format!("Cannot read properties of null (reading '{method}')"))),
        _ => Err(Error::validation(format!("value1.{method} is not a function"))),
    }
}

/// n8n's v1 `isEmpty`: `undefined`, `null`, `""` (and NaN), or an object or array without
/// entries. `0`, `false` and `" "` are not empty.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

/// n8n's v1 `convertDateTime`: a string is what `new Date(string).getTime()` gives, in
/// milliseconds (read as [`parse_datetime`] reads dates: a date and time without an offset
/// is taken as UTC, where JavaScript takes the server's time zone), a number stays as it is;
/// anything else, or a string that is not a date, is an error.
fn date_time(value: &Value) -> Result<Value, Error> {
    let millis = match value {
        Value::Number(_) => return Ok(value.clone()),
        Value::String(s) => parse_datetime(s),
        _ => None,
    };
    millis
        .map(Value::from)
        .ok_or_else(|| Error::validation(format!("The value \"{}\" is not a valid DateTime.", js::string(value))))
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;

    use super::*;
    use crate::items::{Item, ItemFlow, ItemNode, Order, Paired};

    type Boxed<'a> = Pin<Box<dyn Future<Output = NodeOutput> + Send + 'a>>;

    fn idle(_input: NodeInput<'_>) -> Boxed<'_> {
        Box::pin(async { Ok(Vec::new()) })
    }

    static NODES: [ItemNode; 1] = [ItemNode::new("If", "test", "", (0, 0), 2, idle)];
    static FLOW: ItemFlow =
        ItemFlow { id: "wf-1", name: "Test", description: "", nodes: &NODES, connections: &[], order: Order::V1 };

    fn input(jsons: &[Value]) -> NodeInput<'static> {
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
            flow: &FLOW,
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

    /// One condition on one item: whether it passes (If v1, `all`).
    fn check(ty: &'static str, operation: &'static str, value1: Value, value2: Value) -> Result<bool, Error> {
        let conditions: &'static [(&'static str, &'static str)] = Box::leak(Box::new([(ty, operation)]));
        let c = LegacyConditions { conditions, any: false };
        let out =
            if_v1(&input(&[json!({})]), &c, OnError::Stop, |_: &Cx<'_>| Ok(vec![(value1.clone(), value2.clone())]))?;
        assert_eq!(out[0].len() + out[1].len(), 1);
        Ok(out[0].len() == 1)
    }

    fn passes(ty: &'static str, operation: &'static str, value1: Value, value2: Value) -> bool {
        check(ty, operation, value1, value2).unwrap()
    }

    // `nodes/If/V1/IfV1.node.ts` execute: passing items to `true`, the others to `false`, in
    // order, unchanged.
    #[test]
    fn if_v1_sends_items_down_both_outputs_paired_with_themselves() {
        let input = input(&[json!({"n": 1}), json!({"n": 3}), json!({"n": 2}), json!({"n": 5})]);
        let c = LegacyConditions { conditions: &[("number", "larger")], any: false };
        let out = if_v1(&input, &c, OnError::Stop, |cx: &Cx<'_>| Ok(vec![(cx.json()["n"].clone(), json!(2))])).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(jsons(&out[0]), [json!({"n": 3}), json!({"n": 5})]);
        assert_eq!(places(&out[0]), [1, 3]);
        assert_eq!(jsons(&out[1]), [json!({"n": 1}), json!({"n": 2})]);
        assert_eq!(places(&out[1]), [0, 2]);
        assert_eq!(out[0][0].paired, [Paired { item: 1, input: 0 }]);
    }

    // `IfV1.node.ts` smaller/smallerEqual/larger/largerEqual: `(value1 || 0) op (value2 || 0)`,
    // JavaScript's relational operators (a string against a number compares as numbers, two
    // strings as strings); equal/notEqual: `===`.
    #[test]
    fn number_operations_are_plain_javascript_comparisons() {
        assert!(passes("number", "smaller", json!(1), json!(2)));
        assert!(!passes("number", "smaller", json!(2), json!(2)));
        assert!(passes("number", "smallerEqual", json!(2), json!(2)));
        assert!(passes("number", "larger", json!(2.5), json!(2)));
        assert!(passes("number", "largerEqual", json!(2), json!(2)));
        assert!(!passes("number", "largerEqual", json!(1), json!(2)));
        assert!(passes("number", "equal", json!(2), json!(2.0)));
        assert!(passes("number", "notEqual", json!(2), json!(3)));
        // A string from an expression: compared as a number against a number...
        assert!(passes("number", "larger", json!("10"), json!(9)));
        // ... but two strings compare as strings: "10" < "9".
        assert!(!passes("number", "larger", json!("10"), json!("9")));
        assert!(passes("number", "smaller", json!("10"), json!("9")));
        // `|| 0`: "", null and false are 0.
        assert!(passes("number", "larger", json!(""), json!(-1)));
        assert!(passes("number", "smaller", Value::Null, json!(1)));
        assert!(passes("number", "largerEqual", json!(false), json!(0)));
        // NaN compares false every way.
        assert!(!passes("number", "larger", json!("abc"), json!(0)));
        assert!(!passes("number", "smallerEqual", json!("abc"), json!(0)));
        // `===`: no conversion.
        assert!(!passes("number", "equal", json!("5"), json!(5)));
        assert!(passes("number", "notEqual", json!("5"), json!(5)));
    }

    // `IfV1.node.ts` isEmpty: `[undefined, null, '', NaN].includes(value1)`, or an object
    // (arrays too) with no entries; value2 is not read.
    #[test]
    fn is_empty_is_null_blank_or_no_entries() {
        for empty in [json!([]), json!({}), json!(""), Value::Null] {
            assert!(passes("number", "isEmpty", empty.clone(), json!(0)), "{empty}");
            assert!(passes("string", "isEmpty", empty.clone(), json!("x")), "{empty}");
            assert!(!passes("string", "isNotEmpty", empty.clone(), json!("")), "{empty}");
        }
        for full in [json!(0), json!(false), json!(" "), json!([null]), json!({"a": 1}), json!("0")] {
            assert!(!passes("number", "isEmpty", full.clone(), json!(0)), "{full}");
            assert!(passes("string", "isNotEmpty", full.clone(), json!("")), "{full}");
        }
    }

    // `IfV1.node.ts` contains/notContains: `(value || '').toString()` on both sides;
    // startsWith/endsWith: the method called on value1 itself, value2 converted by it.
    #[test]
    fn string_operations_and_their_coercions() {
        assert!(passes("string", "contains", json!("hello world"), json!("o w")));
        assert!(passes("string", "notContains", json!("hello"), json!("x")));
        assert!(passes("string", "contains", json!(12345), json!(23)));
        assert!(passes("string", "contains", json!([1, 2]), json!("1,2")));
        assert!(passes("string", "contains", json!({"a": 1}), json!("object")));
        // `0 || ''` is '', which contains only ''.
        assert!(!passes("string", "contains", json!(0), json!("0")));
        assert!(passes("string", "contains", Value::Null, json!("")));
        assert!(passes("string", "contains", json!("abc"), Value::Null));
        assert!(passes("string", "startsWith", json!("hello"), json!("he")));
        assert!(!passes("string", "startsWith", json!("hello"), json!("lo")));
        assert!(passes("string", "notStartsWith", json!("hello"), json!("lo")));
        assert!(passes("string", "endsWith", json!("hello"), json!("lo")));
        assert!(passes("string", "notEndsWith", json!("hello"), json!("he")));
        // value2 goes through String(): 5 is "5", null is "null".
        assert!(passes("string", "endsWith", json!("v5"), json!(5)));
        assert!(passes("string", "startsWith", json!("null!"), Value::Null));
        assert!(passes("string", "equal", json!("a"), json!("a")));
        assert!(!passes("string", "equal", json!("1"), json!(1)));
        assert!(passes("string", "notEqual", json!("a"), json!("A")));
        // value1 must be a string: V8's TypeErrors.
        let error = check("string", "endsWith", json!(5), json!("5")).unwrap_err();
        assert_eq!(error.message, "value1.endsWith is not a function");
        let error = check("string", "notStartsWith", Value::Null, json!("")).unwrap_err();
        assert_eq!(error.message, "Cannot read properties of null (reading 'startsWith')");
    }

    // `IfV1.node.ts` equal/notEqual on booleans: `===`, so the string "true" is not true.
    #[test]
    fn boolean_operations_are_strict() {
        assert!(passes("boolean", "equal", json!(true), json!(true)));
        assert!(passes("boolean", "equal", json!(false), json!(false)));
        assert!(!passes("boolean", "equal", json!("true"), json!(true)));
        assert!(passes("boolean", "notEqual", json!(true), json!(false)));
        assert!(passes("boolean", "notEqual", json!(1), json!(true)));
    }

    // `IfV1.node.ts` convertDateTime: a string is `new Date(value).getTime()`, a number stays;
    // anything else, or NaN, is `The value "…" is not a valid DateTime.`; then after/before are
    // `>` / `<`.
    #[test]
    fn date_times_are_converted_to_milliseconds_then_compared() {
        assert!(passes("dateTime", "after", json!("2024-05-02"), json!("2024-05-01T23:59:59Z")));
        assert!(!passes("dateTime", "before", json!("2024-05-02"), json!("2024-05-01T23:59:59Z")));
        // 10:00+02:00 is 08:00Z.
        assert!(passes("dateTime", "before", json!("2024-05-01T10:00:00+02:00"), json!("2024-05-01T09:00:00Z")));
        // A number is milliseconds as it is: 2024-05-01 is 1714521600000.
        assert!(passes("dateTime", "after", json!(1_714_521_600_001_i64), json!("2024-05-01")));
        assert!(!passes("dateTime", "after", json!(1_714_521_600_000_i64), json!("2024-05-01")));
        assert!(passes("dateTime", "before", json!("Wed, 01 May 2024 00:00:00 GMT"), json!("2024-05-01T00:00:01Z")));
        for (bad, text) in [(json!(""), ""), (Value::Null, "null"), (json!(true), "true"), (json!("soon"), "soon")] {
            let error = check("dateTime", "after", json!("2024-05-01"), bad).unwrap_err();
            assert_eq!(error.message, format!("The value \"{text}\" is not a valid DateTime."));
        }
        // value1 is converted first.
        let error = check("dateTime", "before", json!("x"), json!("y")).unwrap_err();
        assert_eq!(error.message, "The value \"x\" is not a valid DateTime.");
    }

    // `IfV1.node.ts` execute: `all` stops at the first failing condition, `any` at the first
    // passing one (later ones are not evaluated, so an invalid date after them is no error);
    // with no condition, `all` passes and `any` does not.
    #[test]
    fn all_and_any_stop_at_the_first_condition_that_decides() {
        let input = input(&[json!({"a": true, "n": 1}), json!({"a": false, "n": 5}), json!({"a": true, "n": 9})]);
        let values = |cx: &Cx<'_>| {
            Ok(vec![(cx.json()["a"].clone(), json!(true)), (cx.json()["n"].clone(), json!(3)), (json!(""), json!(""))])
        };
        // `all`: a failing condition before the bad date decides first; item 2 reaches it.
        let conditions = &[("boolean", "equal"), ("number", "larger"), ("dateTime", "after")];
        let all = LegacyConditions { conditions, any: false };
        let error = if_v1(&input, &all, OnError::Stop, values).unwrap_err();
        assert_eq!(error.message, "The value \"\" is not a valid DateTime.");
        let two = |cx: &Cx<'_>| Ok(values(cx)?[..2].to_vec());
        let all = LegacyConditions { conditions: &conditions[..2], any: false };
        let out = if_v1(&input, &all, OnError::Stop, two).unwrap();
        assert_eq!((places(&out[0]), places(&out[1])), (vec![2], vec![0, 1]));
        // `any`: item 1 passes on its number, the others on their boolean; none reaches the date.
        let any = LegacyConditions { conditions, any: true };
        let out = if_v1(&input, &any, OnError::Stop, values).unwrap();
        assert_eq!((places(&out[0]), places(&out[1])), (vec![0, 1, 2], vec![]));
        let any = LegacyConditions { conditions: &conditions[..2], any: true };
        let input = super::tests::input(&[json!({"a": false, "n": 1})]);
        let out = if_v1(&input, &any, OnError::Stop, two).unwrap();
        assert_eq!((places(&out[0]), places(&out[1])), (vec![], vec![0]));
        // No condition at all.
        let none = |_: &Cx<'_>| Ok(Vec::new());
        let out = if_v1(&input, &LegacyConditions { conditions: &[], any: false }, OnError::Stop, none).unwrap();
        assert_eq!((out[0].len(), out[1].len()), (1, 0));
        let out = if_v1(&input, &LegacyConditions { conditions: &[], any: true }, OnError::Stop, none).unwrap();
        assert_eq!((out[0].len(), out[1].len()), (0, 1));
    }

    // `nodes/Filter/V1/FilterV1.node.ts`: one output (Kept), items paired with themselves,
    // `combineConditions` AND / OR as If v1's all / any.
    #[test]
    fn filter_v1_keeps_the_items_that_pass() {
        let input = input(&[json!({"s": "apple"}), json!({"s": "banana"}), json!({"s": ""}), json!({"s": "cherry"})]);
        let values =
            |cx: &Cx<'_>| Ok(vec![(cx.json()["s"].clone(), json!("an")), (cx.json()["s"].clone(), json!("ap"))]);
        let and = LegacyConditions { conditions: &[("string", "notContains"), ("string", "isNotEmpty")], any: false };
        let out = filter_v1(&input, &and, OnError::Stop, values).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(jsons(&out[0]), [json!({"s": "apple"}), json!({"s": "cherry"})]);
        assert_eq!(places(&out[0]), [0, 3]);
        let or = LegacyConditions { conditions: &[("string", "contains"), ("string", "startsWith")], any: true };
        let out = filter_v1(&input, &or, OnError::Stop, values).unwrap();
        assert_eq!(places(&out[0]), [0, 1]);
    }

    // `IfV1.node.ts` / `FilterV1.node.ts` have no try/catch: an error fails the whole node
    // whatever onError is (n8n's engine then passes the input on); an expression's error says
    // which item.
    #[test]
    fn a_failure_fails_the_whole_node() {
        let input = input(&[json!({"d": "2024-05-01"}), json!({"d": "later"})]);
        let c = LegacyConditions { conditions: &[("dateTime", "before")], any: false };
        let values = |cx: &Cx<'_>| Ok(vec![(cx.json()["d"].clone(), json!("2025-01-01"))]);
        for on_error in [OnError::Stop, OnError::ContinueRegular, OnError::ContinueErrorOutput] {
            let error = if_v1(&input, &c, on_error, values).unwrap_err();
            assert_eq!(error.message, "The value \"later\" is not a valid DateTime.");
            assert!(filter_v1(&input, &c, on_error, values).is_err());
        }
        let broken = |cx: &Cx<'_>| {
            if cx.index == 1 {
                return Err(Error::validation("the expression broke"));
            }
            values(cx)
        };
        let error = filter_v1(&input, &c, OnError::ContinueRegular, broken).unwrap_err();
        assert_eq!(error.message, "the expression broke [item 1]");
        let error = if_v1(&input, &c, OnError::Stop, |_: &Cx<'_>| Ok(Vec::new())).unwrap_err();
        assert_eq!(error.message, "1 conditions were given 0 pairs of values");
    }

    // `IfV1.node.ts` options: 2 boolean, 2 dateTime, 8 number and 12 string operations, less
    // the two regex ones; each runs here.
    #[test]
    fn every_listed_operation_runs_and_regex_is_not_listed() {
        assert_eq!(LEGACY_OPERATIONS.len(), 22);
        assert!(!LEGACY_OPERATIONS.iter().any(|(_, op)| op.contains("egex")));
        for &(ty, operation) in LEGACY_OPERATIONS {
            let (value1, value2) = match ty {
                "dateTime" => (json!("2024-05-01"), json!("2024-05-02")),
                _ => (json!("abc"), json!("abc")),
            };
            assert!(condition(ty, operation, &value1, &value2).is_ok(), "{ty} {operation}");
        }
        assert!(condition("string", "regex", &json!("a"), &json!("a")).is_err());
    }
}
