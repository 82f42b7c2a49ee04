//! JavaScript value semantics over JSON values, for compiled n8n expressions.
//!
//! An n8n expression such as `{{ $json.name.toUpperCase() + ' ' + ($json.n * 2) }}` is
//! JavaScript. flowc compiles each one to straight-line Rust calling into this module, roughly
//! `add(&add(&call_method(&path(json, &[("name", false)])?, "toUpperCase", &[])?, &" ".into()),
//! &mul(&path(json, &[("n", false)])?, &2.into()))`. Every value an expression sees is JSON, so
//! these functions take and give [`serde_json::Value`] and reproduce what JavaScript (V8, as in
//! n8n) does with such values: `+` that concatenates once a string is involved, `==` coercions,
//! `Number("0x1f")`, `(1.005).toFixed(2)`, UTF-16 string indices, and the methods n8n adds to
//! strings, numbers, arrays and objects (`isEmpty`, `pluck`, `toTitleCase`...).
//!
//! No crate fits. A JavaScript engine (boa, QuickJS bindings) would parse and run every
//! expression per call, set up a realm, convert JSON in and out, and bring a large runtime into
//! every generated program; the compiler already knows each expression's shape, so what it needs
//! is not an interpreter but these semantics, one function per operation.
//!
//! Conventions:
//! - `null` stands for both `null` and `undefined`. Where JS tells them apart, null's behaviour
//!   is kept (`Number(null)` is 0, `null + "x"` is `"nullx"`), except that a null in an optional
//!   argument's place counts as the argument left out, so the default applies
//!   (`"a".padStart(3, null)` pads with spaces).
//! - Numbers are read as f64 and written back through [`from_f64`]: NaN and ±Infinity, which
//!   JSON cannot hold, become null; integral values within ±2^53 become integer numbers.
//! - A JS exception becomes [`Error::validation`] carrying the message V8 gives (without the
//!   `TypeError: ` prefix): `Cannot read properties of undefined (reading 'name')`.
//! - String lengths and indices count UTF-16 code units, as in JS. A slice that splits a
//!   surrogate pair gives U+FFFD in place of the lone half (a Rust string cannot hold it).
//! - Object keys keep insertion order: core/Cargo.toml turns on serde_json's `preserve_order`
//!   feature. JS differs only in listing integer-like keys (`"1"`, `"2"`) first, in ascending
//!   order; here they stay where they were inserted.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::error::Error;

/// 2^53: every integer up to this magnitude is exact in an f64.
const SAFE_INTEGER: f64 = 9_007_199_254_740_992.0;

/// V8's longest string, in UTF-16 code units: a longer result is a RangeError.
const MAX_STRING_LENGTH: usize = (1 << 29) - 24;

/// JS's `null`, to lend out where an argument is missing.
const NULL: Value = Value::Null;

// ---------------------------------------------------------------------------------------------
// Conversions
// ---------------------------------------------------------------------------------------------

/// JS truthiness: false for null, false, 0, NaN and `""`; true for everything else, including
/// `[]`, `{}` and `"0"`.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => {
            let f = as_f64(n);
            f != 0.0 && !f.is_nan()
        }
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// JS `String(v)`. Arrays are their elements' strings joined by `,` (null elements give
/// nothing), objects `[object Object]`, numbers as `Number.prototype.toString` writes them.
pub fn string(v: &Value) -> String {
    match v {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_to_string(as_f64(n)),
        Value::String(s) => s.clone(),
        Value::Array(items) => join(items, ","),
        Value::Object(_) => "[object Object]".to_owned(),
    }
}

/// JS `Number(v)`: null and `false` are 0, `true` 1; strings are parsed after trimming (`""`
/// is 0, `"0x1f"` 31, `"Infinity"`, anything else invalid NaN); arrays and objects go through
/// their string (`[]` is 0, `[7]` 7, `[1, 2]` and `{}` NaN).
pub fn number(v: &Value) -> f64 {
    match v {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => as_f64(n),
        Value::String(s) => string_to_number(s),
        Value::Array(_) | Value::Object(_) => string_to_number(&string(v)),
    }
}

/// A JS number as a JSON value: NaN and ±Infinity become null, an integral value within ±2^53
/// an integer, anything else a float.
pub fn from_f64(f: f64) -> Value {
    if !f.is_finite() {
        return Value::Null;
    }
    if f.fract() == 0.0 && f.abs() <= SAFE_INTEGER {
        // Exact: the value is an integer of at most 53 bits (and -0 becomes 0).
        return Value::from(f as i64);
    }
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// A JSON number as an f64 (always possible without serde_json's arbitrary precision).
fn as_f64(n: &serde_json::Number) -> f64 {
    n.as_f64().unwrap_or(f64::NAN)
}

/// An f64 as JS's `Number.prototype.toString()` writes it: integers without a fraction, the
/// shortest digits that read back as the same double, and an exponent (`1e+21`, `1e-7`)
/// outside 1e-6 to 1e21.
pub fn number_to_string(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if f == 0.0 {
        return "0".to_owned();
    }
    if f.fract() == 0.0 && f.abs() <= SAFE_INTEGER {
        // Exact: an integer of at most 53 bits.
        return (f as i64).to_string();
    }
    // Rust writes the shortest round-trip digits too: `{:e}` gives them with their exponent.
    // When two such digit strings are equally near the exact value, JS takes the even one and
    // Rust the upper; Rust's exact formatting, to as many digits, rounds half to even.
    let shortest = format!("{:e}", f.abs());
    let k = shortest.split('e').next().map_or(0, |m| m.bytes().filter(u8::is_ascii_digit).count());
    let exact = format!("{:.*e}", k.saturating_sub(1), f.abs());
    let scientific = if exact != shortest && exact.parse::<f64>() == Ok(f.abs()) { exact } else { shortest };
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    // ECMAScript's Number::toString: the value is 0.digits × 10^n, with k digits.
    let k = digits.len() as i64;
    let n = exponent.parse::<i64>().unwrap_or(0) + 1;
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        format!("{int}.{frac}")
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let sign = if n - 1 < 0 { '-' } else { '+' };
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() { String::new() } else { format!(".{rest}") };
        format!("{first}{rest}e{sign}{}", (n - 1).abs())
    };
    if f < 0.0 {
        format!("-{body}")
    } else {
        body
    }
}

/// JS's WhiteSpace and LineTerminator characters: what `trim` and `Number` strip.
pub fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
    )
}

/// JS's StringToNumber: the whole trimmed string must be a number literal.
pub fn string_to_number(s: &str) -> f64 {
    let t = s.trim_matches(is_js_space);
    if t.is_empty() {
        return 0.0;
    }
    match t {
        "Infinity" | "+Infinity" => return f64::INFINITY,
        "-Infinity" => return f64::NEG_INFINITY,
        _ => {}
    }
    // Prefixed integers take no sign.
    for (prefix, radix) in [("0x", 16), ("0X", 16), ("0o", 8), ("0O", 8), ("0b", 2), ("0B", 2)] {
        if let Some(rest) = t.strip_prefix(prefix) {
            let digits: Option<Vec<u32>> = rest.chars().map(|c| c.to_digit(radix)).collect();
            return match digits {
                Some(digits) if !digits.is_empty() => digits_to_f64(&digits, radix),
                _ => f64::NAN,
            };
        }
    }
    if decimal_prefix_len(t) == t.len() {
        // The grammar is Rust's float grammar without `inf` and `nan`: the parse succeeds.
        t.parse().unwrap_or(f64::NAN)
    } else {
        f64::NAN
    }
}

/// The length of the longest prefix of `s` that is a decimal literal: an optional sign, digits
/// with an optional `.` (at least one digit in all), an optional exponent. 0 if none.
fn decimal_prefix_len(s: &str) -> usize {
    let b = s.as_bytes();
    let digits_from = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let int_end = digits_from(i);
    let mut mantissa_digits = int_end - i;
    i = int_end;
    if b.get(i) == Some(&b'.') {
        let frac_end = digits_from(i + 1);
        mantissa_digits += frac_end - (i + 1);
        i = frac_end;
    }
    if mantissa_digits == 0 {
        return 0;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let exp_end = digits_from(j);
        if exp_end > j {
            i = exp_end;
        }
    }
    i
}

/// Digits in a radix as an f64, as V8 computes it: for a power of two, the nearest f64
/// (exactly, while the digits fit in 128 bits); for other radices, V8's approximation beyond
/// 2^53, which the spec allows: digits are taken in runs whose multiplier fits in 32 bits, and
/// each run is added in double arithmetic.
fn digits_to_f64(digits: &[u32], radix: u32) -> f64 {
    if radix.is_power_of_two() {
        let exact =
            digits.iter().try_fold(0u128, |acc, d| acc.checked_mul(u128::from(radix))?.checked_add(u128::from(*d)));
        if let Some(n) = exact {
            return n as f64;
        }
    }
    // V8 skips leading zeros, then bounds a run's multiplier by u32::MAX / 36.
    let digits = &digits[digits.iter().take_while(|d| **d == 0).count()..];
    let max_multiplier = u32::MAX / 36;
    let mut run = 1;
    while radix.pow(run + 1) <= max_multiplier {
        run += 1;
    }
    digits.chunks(run as usize).fold(0.0, |value, chunk| {
        let part = chunk.iter().fold(0u32, |acc, d| acc * radix + d);
        value * f64::from(radix.pow(chunk.len() as u32)) + f64::from(part)
    })
}

/// JS's ToIntegerOrInfinity: NaN is 0, anything else truncated toward zero.
fn to_integer(f: f64) -> f64 {
    if f.is_nan() {
        0.0
    } else {
        f.trunc()
    }
}

/// JS's ToUint32 (`split`'s limit).
fn to_uint32(f: f64) -> f64 {
    if !f.is_finite() {
        return 0.0;
    }
    f.trunc().rem_euclid(4_294_967_296.0)
}

/// JS's ToInt32 (`parseInt`'s radix).
fn to_int32(f: f64) -> i64 {
    let u = to_uint32(f) as i64;
    if u >= 1 << 31 {
        u - (1 << 32)
    } else {
        u
    }
}

/// What `+`, `==` and `<` turn arrays and objects into before going on: their string.
fn primitive(v: &Value) -> Cow<'_, Value> {
    match v {
        Value::Array(_) | Value::Object(_) => Cow::Owned(Value::String(string(v))),
        _ => Cow::Borrowed(v),
    }
}

// ---------------------------------------------------------------------------------------------
// Operators
// ---------------------------------------------------------------------------------------------

/// JS `a + b`: concatenation of the strings once either side is a string (arrays and objects
/// count, as their string is what JS adds; null then reads `"null"`), numeric addition
/// otherwise (null is 0).
pub fn add(a: &Value, b: &Value) -> Value {
    let (a, b) = (primitive(a), primitive(b));
    if a.is_string() || b.is_string() {
        Value::String(string(&a) + &string(&b))
    } else {
        from_f64(number(&a) + number(&b))
    }
}

/// JS `a - b`.
pub fn sub(a: &Value, b: &Value) -> Value {
    from_f64(number(a) - number(b))
}

/// JS `a * b`.
pub fn mul(a: &Value, b: &Value) -> Value {
    from_f64(number(a) * number(b))
}

/// JS `a / b` (a division by zero is ±Infinity or NaN in JS: null here).
pub fn div(a: &Value, b: &Value) -> Value {
    from_f64(number(a) / number(b))
}

/// JS `a % b`: the remainder takes the dividend's sign, as Rust's `%` on floats does.
pub fn rem(a: &Value, b: &Value) -> Value {
    from_f64(number(a) % number(b))
}

/// JS unary `-a`.
pub fn neg(a: &Value) -> Value {
    from_f64(-number(a))
}

/// JS unary `+a`: the value as a number.
pub fn plus(a: &Value) -> Value {
    from_f64(number(a))
}

/// JS `!a`.
pub fn not(a: &Value) -> Value {
    Value::Bool(!truthy(a))
}

// ---------------------------------------------------------------------------------------------
// Equality and comparison
// ---------------------------------------------------------------------------------------------

/// JS `a === b`: same type and value; numbers compare as f64 (`1 === 1.0`, NaN never equal).
///
/// JS compares arrays and objects by identity, which JSON values do not have: here they
/// compare structurally (same elements, same keys with strictly equal values, key order
/// ignored). A deliberate approximation: `$json.tags === $json.tags` stays true, and two equal
/// literals compare equal where JS would say false.
pub fn strict_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => as_f64(x) == as_f64(y),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| strict_eq(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| strict_eq(v, w)))
        }
        _ => false,
    }
}

/// JS `a == b`: null equals only null; a boolean is compared as its number; a number and a
/// string compare as numbers; an array or object against a string or number compares as its
/// string. Two arrays, or two objects, compare as [`strict_eq`] does.
pub fn loose_eq(a: &Value, b: &Value) -> bool {
    use Value::{Array, Bool, Null, Number, Object, String};
    match (a, b) {
        (Null, Null) => true,
        (Null, _) | (_, Null) => false,
        (Bool(x), Bool(y)) => x == y,
        (Number(_), Number(_)) | (String(_), String(_)) => strict_eq(a, b),
        (Array(_), Array(_)) | (Object(_), Object(_)) => strict_eq(a, b),
        // Distinct objects: JS compares identities, which differ.
        (Array(_), Object(_)) | (Object(_), Array(_)) => false,
        (Bool(x), _) => loose_eq(&from_f64(f64::from(u8::from(*x))), b),
        (_, Bool(y)) => loose_eq(a, &from_f64(f64::from(u8::from(*y)))),
        (Number(x), String(s)) | (String(s), Number(x)) => as_f64(x) == string_to_number(s),
        (Array(_) | Object(_), _) => loose_eq(&primitive(a), b),
        (_, Array(_) | Object(_)) => loose_eq(a, &primitive(b)),
    }
}

/// JS's relational operators, `op` one of `<`, `<=`, `>`, `>=` (any other is false). Two
/// strings (arrays and objects count as their string) compare by UTF-16 code units; anything
/// else compares as numbers, and a NaN makes the comparison false.
pub fn compare(op: &str, a: &Value, b: &Value) -> bool {
    let (a, b) = (primitive(a), primitive(b));
    if let (Value::String(x), Value::String(y)) = (a.as_ref(), b.as_ref()) {
        let order = x.encode_utf16().cmp(y.encode_utf16());
        return match op {
            "<" => order == Ordering::Less,
            "<=" => order != Ordering::Greater,
            ">" => order == Ordering::Greater,
            ">=" => order != Ordering::Less,
            _ => false,
        };
    }
    let (x, y) = (number(&a), number(&b));
    match op {
        "<" => x < y,
        "<=" => x <= y,
        ">" => x > y,
        ">=" => x >= y,
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Property access
// ---------------------------------------------------------------------------------------------

/// A property access chain, `base.a.b?.c`: each step is (key, whether it is reached with
/// `?.`). Reading a property of null is V8's TypeError; a `?.` step on null makes the whole
/// chain null, skipping the steps after it, as JS's optional chaining does.
///
/// Objects give their field (missing: null); arrays their `length` or an element by index
/// (`"0"`, not `"01"`); strings their `length` in UTF-16 code units or the code unit at an
/// index as a string; numbers and booleans null for any key.
pub fn path(base: &Value, steps: &[(&str, bool)]) -> Result<Value, Error> {
    let mut current = Cow::Borrowed(base);
    for &(key, optional) in steps {
        if current.is_null() {
            return if optional { Ok(Value::Null) } else { Err(read_error(key)) };
        }
        current = match current {
            Cow::Borrowed(v) => property(v, key),
            Cow::Owned(v) => Cow::Owned(property(&v, key).into_owned()),
        };
    }
    Ok(current.into_owned())
}

/// A computed access, `base[key]`: a number indexes an array or a string (a negative or
/// fractional one gives null); any other key is `String(key)`, read as [`path`] reads a step.
pub fn get(base: &Value, key: &Value) -> Result<Value, Error> {
    if base.is_null() {
        return Err(read_error(&string(key)));
    }
    if let Value::Number(n) = key {
        let index = array_index(as_f64(n));
        match base {
            Value::Array(items) => return Ok(index.and_then(|i| items.get(i)).cloned().unwrap_or(Value::Null)),
            Value::String(s) => return Ok(index.map_or(Value::Null, |i| code_unit_at(s, i))),
            _ => {}
        }
    }
    Ok(property(base, &string(key)).into_owned())
}

/// One property of a non-null value.
fn property<'a>(base: &'a Value, key: &str) -> Cow<'a, Value> {
    match base {
        Value::Object(map) => map.get(key).map_or(Cow::Owned(Value::Null), Cow::Borrowed),
        Value::Array(items) if key == "length" => Cow::Owned(Value::from(items.len())),
        Value::Array(items) => match index_key(key).and_then(|i| items.get(i)) {
            Some(item) => Cow::Borrowed(item),
            None => Cow::Owned(Value::Null),
        },
        Value::String(s) if key == "length" => Cow::Owned(Value::from(s.encode_utf16().count())),
        Value::String(s) => Cow::Owned(index_key(key).map_or(Value::Null, |i| code_unit_at(s, i))),
        Value::Null | Value::Bool(_) | Value::Number(_) => Cow::Owned(Value::Null),
    }
}

/// A key that is an array index: decimal digits without a leading zero (`"0"` itself aside).
fn index_key(key: &str) -> Option<usize> {
    let canonical = !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) && (key == "0" || !key.starts_with('0'));
    if canonical {
        key.parse().ok()
    } else {
        None
    }
}

/// A number that is an array index: a non-negative integer.
fn array_index(f: f64) -> Option<usize> {
    (f >= 0.0 && f.fract() == 0.0 && f < 4_294_967_295.0).then_some(f as usize)
}

/// The UTF-16 code unit at `index` as a one-unit string, or null past the end.
fn code_unit_at(s: &str, index: usize) -> Value {
    s.encode_utf16().nth(index).map_or(Value::Null, |unit| Value::String(from_utf16(&[unit])))
}

/// V8's TypeError for reading a property of null or undefined.
fn read_error(key: &str) -> Error {
    Error::validation(format!("Cannot read properties of undefined (reading '{key}')"))
}

/// V8's TypeError for calling what is not a function, naming the receiver's type.
fn not_a_function(this: &Value, name: &str) -> Error {
    Error::validation(format!("{}.{name} is not a function", type_name(this)))
}

/// The receiver's type as messages name it (`typeof`, with arrays told apart).
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

// ---------------------------------------------------------------------------------------------
// Methods
// ---------------------------------------------------------------------------------------------

/// The methods [`call_method`] supports on strings: JS's own, then n8n's extensions.
pub const STRING_METHODS: &[&str] = &[
    "toUpperCase",
    "toLowerCase",
    "trim",
    "trimStart",
    "trimEnd",
    "includes",
    "startsWith",
    "endsWith",
    "indexOf",
    "lastIndexOf",
    "slice",
    "substring",
    "substr",
    "split",
    "replace",
    "replaceAll",
    "padStart",
    "padEnd",
    "repeat",
    "charAt",
    "charCodeAt",
    "at",
    "concat",
    "toString", // n8n:
    "isEmpty",
    "isNotEmpty",
    "isBlank",
    "isNotBlank",
    "toInt",
    "toFloat",
    "toNumber",
    "toBoolean",
    "capitalize",
    "toTitleCase",
    "isEmail",
    "isNumeric",
    "urlEncode",
    "urlDecode",
    "quote",
    "toJsonString",
];

/// The methods [`call_method`] supports on arrays: JS's own, then n8n's extensions. The
/// methods taking a callback are functions of their own: [`ARRAY_CALLBACK_METHODS`].
pub const ARRAY_METHODS: &[&str] = &[
    "join",
    "includes",
    "indexOf",
    "lastIndexOf",
    "slice",
    "concat",
    "at",
    "reverse",
    "flat",
    "toString", // n8n:
    "isEmpty",
    "isNotEmpty",
    "first",
    "last",
    "sum",
    "min",
    "max",
    "average",
    "unique",
    "removeDuplicates",
    "compact",
    "pluck",
    "chunk",
    "smartJoin",
    "difference",
    "intersection",
    "union",
    "toJsonString",
];

/// The array methods taking a callback, each its own function here ([`map`], [`filter`],
/// [`find`], [`find_index`], [`some`], [`every`]), by their JS names.
pub const ARRAY_CALLBACK_METHODS: &[&str] = &["map", "filter", "find", "findIndex", "some", "every"];

/// The methods [`call_method`] supports on numbers: JS's own, then n8n's extensions.
pub const NUMBER_METHODS: &[&str] = &[
    "toFixed",
    "toString", // n8n:
    "round",
    "floor",
    "ceil",
    "abs",
    "isEven",
    "isOdd",
    "isInteger",
    "toInt",
    "toFloat",
    "toBoolean",
];

/// The methods [`call_method`] supports on objects: `toString`, then n8n's extensions (and
/// `keep`, flowc's: only the named fields).
pub const OBJECT_METHODS: &[&str] = &[
    "toString",
    "keys",
    "values",
    "isEmpty",
    "isNotEmpty",
    "hasField",
    "removeField",
    "removeFieldsContaining",
    "keepFieldsContaining",
    "merge",
    "compact",
    "toJsonString",
    "keep",
    "urlEncode",
];

/// The methods [`call_method`] supports on booleans.
pub const BOOLEAN_METHODS: &[&str] = &["toString", "toInt"];

/// `this.name(...args)`. On null it is V8's TypeError for reading the method; a name the
/// receiver's type does not have (see [`STRING_METHODS`] and the other lists) is
/// `string.name is not a function`.
pub fn call_method(this: &Value, name: &str, args: &[Value]) -> Result<Value, Error> {
    match this {
        Value::Null => Err(read_error(name)),
        Value::String(s) => string_method(this, s, name, args),
        Value::Array(items) => array_method(this, items, name, args),
        Value::Number(n) => number_method(this, as_f64(n), name, args),
        Value::Object(map) => object_method(this, map, name, args),
        Value::Bool(b) => match name {
            "toString" => Ok(Value::String(b.to_string())),
            "toInt" => Ok(Value::from(u8::from(*b))),
            _ => Err(not_a_function(this, name)),
        },
    }
}

/// Argument `i`, unless it is missing or null (which stands for undefined).
fn arg(args: &[Value], i: usize) -> Option<&Value> {
    args.get(i).filter(|v| !v.is_null())
}

/// Argument `i` as an integer (ToIntegerOrInfinity), or `default` when left out.
fn int_arg(args: &[Value], i: usize, default: f64) -> f64 {
    arg(args, i).map_or(default, |v| to_integer(number(v)))
}

/// Argument `i` as a string, or `default` when left out.
fn str_arg(args: &[Value], i: usize, default: &str) -> String {
    arg(args, i).map_or_else(|| default.to_owned(), string)
}

/// A relative index (negative counts from the end) clamped to `0..=len`, as `slice` takes it.
fn relative(index: f64, len: usize) -> usize {
    let len = len as f64;
    let index = if index < 0.0 { (len + index).max(0.0) } else { index.min(len) };
    index as usize
}

/// An index clamped to `0..=len`, as `substring` takes it.
fn clamp(index: f64, len: usize) -> usize {
    index.clamp(0.0, len as f64) as usize
}

fn utf16(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

fn from_utf16(units: &[u16]) -> String {
    String::from_utf16_lossy(units)
}

/// Where `needle` first occurs in `hay` at or after `from`.
fn find_units(hay: &[u16], needle: &[u16], from: usize) -> Option<usize> {
    let last = hay.len().checked_sub(needle.len())?;
    (from..=last).find(|&i| hay[i..].starts_with(needle))
}

/// Where `needle` last occurs in `hay` at or before `from`.
fn rfind_units(hay: &[u16], needle: &[u16], from: usize) -> Option<usize> {
    let last = hay.len().checked_sub(needle.len())?;
    (0..=from.min(last)).rev().find(|&i| hay[i..].starts_with(needle))
}

/// A JS string result, refused past V8's longest string.
fn checked_string(len: usize) -> Result<(), Error> {
    if len > MAX_STRING_LENGTH {
        Err(Error::validation("Invalid string length"))
    } else {
        Ok(())
    }
}

fn string_method(this: &Value, s: &str, name: &str, args: &[Value]) -> Result<Value, Error> {
    let text = |t: String| Ok(Value::String(t));
    let boolean = |b: bool| Ok(Value::Bool(b));
    match name {
        "toUpperCase" => text(s.to_uppercase()),
        "toLowerCase" => text(s.to_lowercase()),
        "trim" => text(s.trim_matches(is_js_space).to_owned()),
        "trimStart" => text(s.trim_start_matches(is_js_space).to_owned()),
        "trimEnd" => text(s.trim_end_matches(is_js_space).to_owned()),
        "includes" | "indexOf" => {
            let units = utf16(s);
            let search = utf16(&str_arg(args, 0, "undefined"));
            let from = clamp(int_arg(args, 1, 0.0), units.len());
            let found = find_units(&units, &search, from);
            if name == "includes" {
                boolean(found.is_some())
            } else {
                Ok(found.map_or(Value::from(-1), Value::from))
            }
        }
        "lastIndexOf" => {
            let units = utf16(s);
            let search = utf16(&str_arg(args, 0, "undefined"));
            // A left-out or NaN position searches from the end.
            let position = arg(args, 1).map_or(f64::NAN, number);
            let from = if position.is_nan() { units.len() } else { clamp(position.trunc(), units.len()) };
            Ok(rfind_units(&units, &search, from).map_or(Value::from(-1), Value::from))
        }
        "startsWith" => {
            let units = utf16(s);
            let start = clamp(int_arg(args, 1, 0.0), units.len());
            boolean(units[start..].starts_with(&utf16(&str_arg(args, 0, "undefined"))))
        }
        "endsWith" => {
            let units = utf16(s);
            let end = clamp(int_arg(args, 1, units.len() as f64), units.len());
            boolean(units[..end].ends_with(&utf16(&str_arg(args, 0, "undefined"))))
        }
        "slice" => {
            let units = utf16(s);
            let from = relative(int_arg(args, 0, 0.0), units.len());
            let to = relative(int_arg(args, 1, units.len() as f64), units.len());
            text(if from < to { from_utf16(&units[from..to]) } else { String::new() })
        }
        "substring" => {
            let units = utf16(s);
            let a = clamp(int_arg(args, 0, 0.0), units.len());
            let b = clamp(int_arg(args, 1, units.len() as f64), units.len());
            text(from_utf16(&units[a.min(b)..a.max(b)]))
        }
        "substr" => {
            let units = utf16(s);
            let start = relative(int_arg(args, 0, 0.0), units.len());
            let length = clamp(int_arg(args, 1, units.len() as f64), units.len());
            let end = start.saturating_add(length).min(units.len());
            text(from_utf16(&units[start..end]))
        }
        "split" => Ok(split(s, arg(args, 0).map(string), arg(args, 1).map(number))),
        "replace" | "replaceAll" => {
            let pattern = str_arg(args, 0, "undefined");
            let replacement = str_arg(args, 1, "undefined");
            text(replace(s, &pattern, &replacement, name == "replaceAll"))
        }
        "padStart" | "padEnd" => text(pad(s, args, name == "padStart")?),
        "repeat" => {
            let count = int_arg(args, 0, 0.0);
            if count < 0.0 || count.is_infinite() {
                return Err(Error::validation(format!("Invalid count value: {}", number_to_string(count))));
            }
            if s.is_empty() {
                return text(String::new());
            }
            checked_string((s.encode_utf16().count() as f64 * count).min(usize::MAX as f64) as usize)?;
            text(s.repeat(count as usize))
        }
        "charAt" => {
            let at = array_index(int_arg(args, 0, 0.0));
            text(at.and_then(|i| s.encode_utf16().nth(i)).map(|u| from_utf16(&[u])).unwrap_or_default())
        }
        "charCodeAt" => {
            let at = array_index(int_arg(args, 0, 0.0));
            Ok(at.and_then(|i| s.encode_utf16().nth(i)).map_or(Value::Null, Value::from))
        }
        "at" => {
            let len = s.encode_utf16().count() as f64;
            let i = int_arg(args, 0, 0.0);
            let i = if i < 0.0 { len + i } else { i };
            Ok(array_index(i).map_or(Value::Null, |i| code_unit_at(s, i)))
        }
        "concat" => text(args.iter().fold(s.to_owned(), |acc, a| acc + &string(a))),
        "toString" => text(s.to_owned()),
        // n8n's extensions.
        "isEmpty" => boolean(s.is_empty()),
        "isNotEmpty" => boolean(!s.is_empty()),
        "isBlank" => boolean(s.trim_matches(is_js_space).is_empty()),
        "isNotBlank" => boolean(!s.trim_matches(is_js_space).is_empty()),
        "toInt" => {
            let radix = arg(args, 0).cloned();
            let n = parse_int(&strip_currency(s), radix.as_ref());
            if n.is_nan() {
                return Err(Error::validation("cannot convert to integer"));
            }
            Ok(from_f64(n))
        }
        "toFloat" => {
            if s.contains(',') {
                return Err(Error::validation("cannot convert to float, expected . as decimal separator"));
            }
            let n = parse_float(&strip_currency(s));
            if n.is_nan() {
                return Err(Error::validation("cannot convert to float"));
            }
            Ok(from_f64(n))
        }
        "toNumber" => {
            let n = string_to_number(&strip_currency(s));
            if n.is_nan() {
                return Err(Error::validation("cannot convert to number"));
            }
            Ok(from_f64(n))
        }
        // n8n: "false", "no" and "0" (any case) and "" are false.
        "toBoolean" => {
            let lower = s.to_lowercase();
            boolean(!lower.is_empty() && !matches!(lower.as_str(), "false" | "no" | "0"))
        }
        "capitalize" => {
            let mut chars = s.chars();
            text(chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default())
        }
        "toTitleCase" => text(title_case(s)),
        "isEmail" => boolean(is_email(s)),
        "isNumeric" => boolean(!s.contains(' ') && !string_to_number(s).is_nan() && !parse_float(s).is_nan()),
        // n8n: with `true`, `encodeURI` (URI syntax characters kept), else `encodeURIComponent`.
        "urlEncode" => text(encode_uri(s, if arg(args, 0).is_some_and(truthy) { URI_RESERVED } else { "" })),
        "urlDecode" => text(decode_uri(s, if arg(args, 0).is_some_and(truthy) { URI_RESERVED } else { "" })?),
        "quote" => {
            let mark = str_arg(args, 0, "\"");
            let escaped = s.replace('\\', "\\\\");
            let escaped = if mark.is_empty() { escaped } else { escaped.replace(&mark, &format!("\\{mark}")) };
            text(format!("{mark}{escaped}{mark}"))
        }
        "toJsonString" => text(stringify(this, "")),
        _ => Err(not_a_function(this, name)),
    }
}

/// JS `s.split(separator, limit)` for a string separator (left out: the whole string).
fn split(s: &str, separator: Option<String>, limit: Option<f64>) -> Value {
    let limit = limit.map_or(u32::MAX as usize, |l| to_uint32(l) as usize);
    let parts: Vec<Value> = match separator {
        _ if limit == 0 => Vec::new(),
        None => vec![Value::String(s.to_owned())],
        // The empty separator splits into UTF-16 code units.
        Some(sep) if sep.is_empty() => s.encode_utf16().take(limit).map(|u| Value::String(from_utf16(&[u]))).collect(),
        Some(sep) => s.split(sep.as_str()).take(limit).map(|p| Value::String(p.to_owned())).collect(),
    };
    Value::Array(parts)
}

/// JS `s.replace(pattern, replacement)` for a string pattern: the first occurrence, or every
/// one for `replaceAll`. The replacement's `$$`, `$&`, `` $` `` and `$'` patterns are expanded as
/// JS does (a string pattern has no groups, so `$1` stays as written).
fn replace(s: &str, pattern: &str, replacement: &str, all: bool) -> String {
    let mut out = String::new();
    let mut last = 0;
    for (at, matched) in s.match_indices(pattern) {
        out.push_str(&s[last..at]);
        let mut chars = replacement.chars().peekable();
        while let Some(c) = chars.next() {
            let expansion = match (c, chars.peek()) {
                ('$', Some('$')) => "$",
                ('$', Some('&')) => matched,
                ('$', Some('`')) => &s[..at],
                ('$', Some('\'')) => &s[at + matched.len()..],
                _ => {
                    out.push(c);
                    continue;
                }
            };
            out.push_str(expansion);
            chars.next();
        }
        last = at + matched.len();
        if !all {
            break;
        }
    }
    out.push_str(&s[last..]);
    out
}

/// JS `padStart` / `padEnd`: `args` are the target length and the filler (default a space).
fn pad(s: &str, args: &[Value], at_start: bool) -> Result<String, Error> {
    let len = s.encode_utf16().count();
    let target = int_arg(args, 0, 0.0);
    let filler = utf16(&str_arg(args, 1, " "));
    if target <= len as f64 || filler.is_empty() {
        return Ok(s.to_owned());
    }
    checked_string(target.min(usize::MAX as f64) as usize)?;
    let padding: Vec<u16> = filler.iter().copied().cycle().take(target as usize - len).collect();
    let padding = from_utf16(&padding);
    Ok(if at_start { padding + s } else { s.to_owned() + &padding })
}

/// The currency symbols n8n strips before `toInt`, `toFloat` and `toNumber`, in its order:
/// at each position the first that matches is removed (single letters such as `S` and `R`
/// included, as in n8n).
const CURRENCY_SYMBOLS: &[&str] = &[
    "Lek", "؋", "$", "ƒ", "₼", "Br", "BZ$", "$b", "KM", "P", "лв", "R$", "៛", "¥", "₡", "kn", "₱", "Kč", "kr", "RD$",
    "£", "€", "¢", "Q", "L", "Ft", "₹", "Rp", "﷼", "₪", "J$", "₩", "₭", "ден", "RM", "₨", "₮", "MT", "C$", "₦", "B/.",
    "Gs", "S/.", "zł", "lei", "₽", "Дин.", "S", "R", "CHF", "NT$", "฿", "TT$", "₺", "₴", "$U", "Bs", "₫", "Z$",
];

fn strip_currency(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        match CURRENCY_SYMBOLS.iter().find(|sym| rest.starts_with(**sym)) {
            Some(sym) => rest = &rest[sym.len()..],
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// The words the `title-case` package (behind n8n's `toTitleCase`) leaves in lower case
/// unless they open or close the string.
const SMALL_WORDS: &[&str] = &[
    "a", "an", "and", "as", "at", "because", "but", "by", "en", "for", "if", "in", "neither", "nor", "of", "on",
    "only", "or", "over", "per", "so", "some", "than", "that", "the", "to", "up", "upon", "v", "v.", "versus", "via",
    "vs", "vs.", "when", "with", "without", "yet",
];

/// n8n's `toTitleCase`, approximately as the `title-case` package does it: each
/// space-separated word gets an upper-case first letter, the rest unchanged; small words
/// inside the string, and words with capitals past their first letter (`iPhone`, `FOX`), stay
/// as they are.
fn title_case(s: &str) -> String {
    let words: Vec<&str> = s.split(' ').collect();
    let last = words.len().saturating_sub(1);
    let titled: Vec<String> = words
        .iter()
        .enumerate()
        .map(|(i, word)| {
            let mut chars = word.chars();
            let Some(first) = chars.next() else { return String::new() };
            let rest = chars.as_str();
            let small = i != 0 && i != last && SMALL_WORDS.contains(&word.to_lowercase().as_str());
            if small || rest.chars().any(char::is_uppercase) {
                (*word).to_owned()
            } else {
                first.to_uppercase().chain(rest.chars()).collect()
            }
        })
        .collect();
    titled.join(" ")
}

/// n8n's `isEmail`, as a check of the whole string: a local part (dot-separated runs without
/// `<>()[]\,;:"@`, or anything in double quotes), `@`, and a domain of at least two labels
/// whose last is two letters or more, or an IPv4 address in brackets. n8n's regular expression
/// also accepts a string that merely contains an address followed by other characters.
fn is_email(s: &str) -> bool {
    if s.chars().any(char::is_whitespace) {
        return false;
    }
    let Some((local, domain)) = s.rsplit_once('@') else { return false };
    let quoted = local.len() >= 3 && local.starts_with('"') && local.ends_with('"');
    let local_ok =
        quoted || local.split('.').all(|part| !part.is_empty() && !part.contains(|c| "<>()[]\\,;:\"@".contains(c)));
    let domain_ok = match domain.strip_prefix('[').and_then(|d| d.strip_suffix(']')) {
        Some(ip) => {
            let parts: Vec<&str> = ip.split('.').collect();
            parts.len() == 4
                && parts.iter().all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        }
        None => {
            let labels: Vec<&str> = domain.split('.').collect();
            let tld = labels.last().copied().unwrap_or_default();
            labels.len() >= 2
                && labels.iter().all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
                && tld.len() >= 2
                && tld.bytes().all(|b| b.is_ascii_alphabetic())
        }
    };
    local_ok && domain_ok
}

fn array_method(this: &Value, items: &[Value], name: &str, args: &[Value]) -> Result<Value, Error> {
    let len = items.len();
    let array = |v: Vec<Value>| Ok(Value::Array(v));
    let boolean = |b: bool| Ok(Value::Bool(b));
    match name {
        "join" => Ok(Value::String(join(items, &str_arg(args, 0, ",")))),
        "toString" => Ok(Value::String(join(items, ","))),
        "includes" => {
            let search = args.first().unwrap_or(&NULL);
            boolean(items[relative(int_arg(args, 1, 0.0), len)..].iter().any(|v| strict_eq(v, search)))
        }
        "indexOf" => {
            let search = args.first().unwrap_or(&NULL);
            let from = relative(int_arg(args, 1, 0.0), len);
            let found = items[from..].iter().position(|v| strict_eq(v, search)).map(|i| i + from);
            Ok(found.map_or(Value::from(-1), Value::from))
        }
        "lastIndexOf" => {
            let search = args.first().unwrap_or(&NULL);
            let from = int_arg(args, 1, len as f64 - 1.0);
            let from = if from < 0.0 { len as f64 + from } else { from.min(len as f64 - 1.0) };
            if from < 0.0 {
                return Ok(Value::from(-1));
            }
            let found = items[..=from as usize].iter().rposition(|v| strict_eq(v, search));
            Ok(found.map_or(Value::from(-1), Value::from))
        }
        "slice" => {
            let from = relative(int_arg(args, 0, 0.0), len);
            let to = relative(int_arg(args, 1, len as f64), len);
            array(if from < to { items[from..to].to_vec() } else { Vec::new() })
        }
        "concat" => {
            let mut out = items.to_vec();
            for a in args {
                match a {
                    Value::Array(more) => out.extend(more.iter().cloned()),
                    other => out.push(other.clone()),
                }
            }
            array(out)
        }
        "at" => {
            let i = int_arg(args, 0, 0.0);
            let i = if i < 0.0 { len as f64 + i } else { i };
            Ok(array_index(i).and_then(|i| items.get(i)).cloned().unwrap_or(Value::Null))
        }
        "reverse" => array(items.iter().rev().cloned().collect()),
        "flat" => {
            let mut out = Vec::new();
            flatten(items, int_arg(args, 0, 1.0), &mut out);
            array(out)
        }
        // n8n's extensions.
        "isEmpty" => boolean(items.is_empty()),
        "isNotEmpty" => boolean(!items.is_empty()),
        "first" => Ok(items.first().cloned().unwrap_or(Value::Null)),
        "last" => Ok(items.last().cloned().unwrap_or(Value::Null)),
        "sum" => Ok(from_f64(numbers(items, name)?.iter().sum())),
        "min" => Ok(from_f64(numbers(items, name)?.iter().fold(f64::INFINITY, |m, &x| js_min(m, x)))),
        "max" => Ok(from_f64(numbers(items, name)?.iter().fold(f64::NEG_INFINITY, |m, &x| js_max(m, x)))),
        "average" => {
            let values = numbers(items, name)?;
            // n8n: the average of nothing is 0.
            Ok(if values.is_empty() {
                Value::from(0)
            } else {
                from_f64(values.iter().sum::<f64>() / values.len() as f64)
            })
        }
        "unique" | "removeDuplicates" => {
            let fields: Vec<String> = args.iter().map(string).collect();
            array(unique(items.to_vec(), &fields))
        }
        "compact" => array(compact_array(items)),
        "pluck" => array(pluck(items, args)),
        "chunk" => {
            let size = match args.first() {
                Some(Value::Number(n)) if as_f64(n) >= 1.0 && as_f64(n).fract() == 0.0 => as_f64(n) as usize,
                _ => return Err(Error::validation("chunk(): expected non-zero numeric arg, e.g. .chunk(5)")),
            };
            array(items.chunks(size).map(|c| Value::Array(c.to_vec())).collect())
        }
        "smartJoin" => {
            let (Some(Value::String(key)), Some(Value::String(value))) = (args.first(), args.get(1)) else {
                return Err(Error::validation(
                    "smartJoin(): expected two string args, e.g. .smartJoin(\"name\", \"value\")",
                ));
            };
            let mut out = Map::new();
            for item in items {
                if let Value::Object(map) = item {
                    if let (Some(k), Some(v)) = (map.get(key), map.get(value)) {
                        out.insert(string(k), v.clone());
                    }
                }
            }
            Ok(Value::Object(out))
        }
        "difference" | "intersection" | "union" => {
            let Some(Value::Array(others)) = args.first() else {
                return Err(Error::validation(format!("{name}(): expected array arg, e.g. .{name}([1, 2, 3, 4])")));
            };
            let contains = |list: &[Value], v: &Value| list.iter().any(|w| strict_eq(v, w));
            let out: Vec<Value> = match name {
                "difference" => items.iter().filter(|v| !contains(others, v)).cloned().collect(),
                "intersection" => items
                    .iter()
                    .filter(|v| contains(others, v))
                    .chain(others.iter().filter(|v| contains(items, v)))
                    .cloned()
                    .collect(),
                _ => items.iter().chain(others).cloned().collect(),
            };
            array(unique(out, &[]))
        }
        "toJsonString" => Ok(Value::String(stringify(this, ""))),
        _ => Err(not_a_function(this, name)),
    }
}

/// `Array.prototype.join`: elements' strings, null elements as nothing.
fn join(items: &[Value], separator: &str) -> String {
    let parts: Vec<String> = items.iter().map(|v| if v.is_null() { String::new() } else { string(v) }).collect();
    parts.join(separator)
}

/// `flat(depth)`: nested arrays spliced in, `depth` levels deep.
fn flatten(items: &[Value], depth: f64, out: &mut Vec<Value>) {
    for item in items {
        match item {
            Value::Array(inner) if depth >= 1.0 => flatten(inner, depth - 1.0, out),
            other => out.push(other.clone()),
        }
    }
}

/// The elements as numbers, for n8n's `sum`, `min`, `max` and `average`, which refuse others.
fn numbers(items: &[Value], name: &str) -> Result<Vec<f64>, Error> {
    items
        .iter()
        .map(|v| match v {
            Value::Number(n) => Ok(as_f64(n)),
            _ => Err(Error::validation(format!("{name}(): all array elements must be numbers"))),
        })
        .collect()
}

/// n8n's `unique`: the first of each group of structurally equal elements; with field names,
/// objects are compared by those fields only.
fn unique(items: Vec<Value>, fields: &[String]) -> Vec<Value> {
    let key = |v: &Value| -> Value {
        match v {
            Value::Object(map) if !fields.is_empty() => {
                Value::Object(fields.iter().map(|f| (f.clone(), map.get(f).cloned().unwrap_or(Value::Null))).collect())
            }
            other => other.clone(),
        }
    };
    let mut seen: Vec<Value> = Vec::new();
    let mut out = Vec::new();
    for item in items {
        let k = key(&item);
        if !seen.iter().any(|s| strict_eq(s, &k)) {
            seen.push(k);
            out.push(item);
        }
    }
    out
}

/// Whether n8n's `compact` drops a value: null, `""`, `"nil"`, or an empty array or object.
fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty() || s == "nil",
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// n8n's `compact` on an array: blank elements dropped, objects compacted in turn. (n8n turns
/// a nested array into an object keyed by index on the way; here it stays as it is.)
fn compact_array(items: &[Value]) -> Vec<Value> {
    items
        .iter()
        .filter(|v| !is_blank(v))
        .map(|v| match v {
            Value::Object(map) => Value::Object(compact_object(map)),
            other => other.clone(),
        })
        .collect()
}

/// n8n's `compact` on an object: blank fields dropped, object fields compacted in turn (one
/// left empty by that is kept).
fn compact_object(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(_, v)| !is_blank(v))
        .map(|(k, v)| match v {
            Value::Object(inner) => (k.clone(), Value::Object(compact_object(inner))),
            other => (k.clone(), other.clone()),
        })
        .collect()
}

/// n8n's `pluck(...fields)`: for each object element, the values of the named fields in the
/// object's own key order; one value is given as is, several as an array of them. Elements
/// that are not objects, or have none of the fields, are skipped; no fields gives the array.
fn pluck(items: &[Value], args: &[Value]) -> Vec<Value> {
    if args.is_empty() {
        return items.to_vec();
    }
    let fields: Vec<String> = args.iter().map(string).collect();
    let mut out = Vec::new();
    for item in items {
        let Value::Object(map) = item else { continue };
        let mut values: Vec<Value> = Vec::new();
        for (k, v) in map {
            values.extend(fields.iter().filter(|f| *f == k).map(|_| v.clone()));
        }
        match values.len() {
            0 => {}
            1 => out.extend(values),
            _ => out.push(Value::Array(values)),
        }
    }
    out
}

fn number_method(this: &Value, f: f64, name: &str, args: &[Value]) -> Result<Value, Error> {
    let integer_only = |f: f64| {
        if f.fract() == 0.0 {
            Ok(f)
        } else {
            Err(Error::validation(format!("{name}() is only callable on integers")))
        }
    };
    match name {
        "toFixed" => Ok(Value::String(to_fixed(f, int_arg(args, 0, 0.0))?)),
        "toString" => {
            let radix = int_arg(args, 0, 10.0);
            if !(2.0..=36.0).contains(&radix) {
                return Err(Error::validation("toString() radix argument must be between 2 and 36"));
            }
            Ok(Value::String(if radix == 10.0 { number_to_string(f) } else { to_radix_string(f, radix as u32) }))
        }
        // n8n: `+value.toFixed(decimalPlaces)`, so halves round away from zero on the exact
        // value of the double (`(2.5).round()` is 3, `(-2.5).round()` -3, `(1.005).round(2)` 1).
        "round" => Ok(from_f64(string_to_number(&to_fixed(f, int_arg(args, 0, 0.0))?))),
        "toInt" => Ok(from_f64(string_to_number(&to_fixed(f, 0.0)?))),
        "floor" => Ok(from_f64(f.floor())),
        "ceil" => Ok(from_f64(f.ceil())),
        "abs" => Ok(from_f64(f.abs())),
        "isEven" => Ok(Value::Bool(integer_only(f)? % 2.0 == 0.0)),
        "isOdd" => Ok(Value::Bool(integer_only(f)?.abs() % 2.0 == 1.0)),
        "isInteger" => Ok(Value::Bool(f.fract() == 0.0)),
        "toFloat" => Ok(from_f64(f)),
        "toBoolean" => Ok(Value::Bool(f != 0.0)),
        _ => Err(not_a_function(this, name)),
    }
}

/// JS `x.toFixed(digits)`: `digits` decimals, rounding the double's exact decimal value half
/// away from zero; from 1e21 up, the plain string of the number.
fn to_fixed(x: f64, digits: f64) -> Result<String, Error> {
    if !(0.0..=100.0).contains(&digits) {
        return Err(Error::validation("toFixed() digits argument must be between 0 and 100"));
    }
    if !x.is_finite() || x.abs() >= 1e21 {
        return Ok(number_to_string(x));
    }
    let digits = digits as usize;
    // Every double has a finite decimal expansion, at most 1074 digits after the point: with
    // that many, Rust's formatting writes it exactly, without rounding.
    let exact = format!("{:.1074}", x.abs());
    let (int, frac) = exact.split_once('.').unwrap_or((&exact, ""));
    let mut kept: Vec<u8> = int.bytes().chain(frac.bytes().take(digits)).collect();
    if frac.as_bytes().get(digits).is_some_and(|d| *d >= b'5') {
        // Round up, carrying through nines.
        let mut i = kept.len();
        loop {
            if i == 0 {
                kept.insert(0, b'1');
                break;
            }
            i -= 1;
            if kept[i] == b'9' {
                kept[i] = b'0';
            } else {
                kept[i] += 1;
                break;
            }
        }
    }
    let split = kept.len() - digits;
    let (int, frac) = kept.split_at(split);
    let mut out = String::new();
    if x < 0.0 {
        out.push('-');
    }
    out.push_str(&String::from_utf8_lossy(int));
    if digits > 0 {
        out.push('.');
        out.push_str(&String::from_utf8_lossy(frac));
    }
    Ok(out)
}

/// JS `x.toString(radix)` for a radix other than 10, as V8 writes it (its
/// `DoubleToRadixCString`): fraction digits only as many as the double's precision carries,
/// and integer digits below that precision written as zeros.
fn to_radix_string(x: f64, radix: u32) -> String {
    if !x.is_finite() {
        return number_to_string(x);
    }
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let value = x.abs();
    let radix_f = f64::from(radix);
    let next_up = |v: f64| f64::from_bits(v.to_bits() + 1);
    let mut integer = value.floor();
    let mut fraction = value - integer;
    // Half the distance to the next double: finer digits would not be the number's.
    let mut delta = (0.5 * (next_up(value) - value)).max(next_up(0.0));
    let mut fraction_digits: Vec<u8> = Vec::new();
    if fraction >= delta {
        loop {
            fraction *= radix_f;
            delta *= radix_f;
            let digit = fraction as u8;
            fraction_digits.push(digit);
            fraction -= f64::from(digit);
            // Round to even; a carry runs back through the digits written so far.
            let rounds_up = fraction > 0.5 || (fraction == 0.5 && digit & 1 == 1);
            if rounds_up && fraction + delta > 1.0 {
                loop {
                    match fraction_digits.pop() {
                        None => {
                            integer += 1.0;
                            break;
                        }
                        Some(d) if u32::from(d) + 1 < radix => {
                            fraction_digits.push(d + 1);
                            break;
                        }
                        // A digit that overflows is dropped: it would be a trailing zero.
                        Some(_) => {}
                    }
                }
                break;
            }
            if fraction < delta {
                break;
            }
        }
    }
    // Integer digits, least significant first; those past the double's 53 bits are zeros.
    let binary_exponent = |v: f64| ((v.to_bits() >> 52) & 0x7ff) as i64 - 1075;
    let mut integer_digits: Vec<u8> = Vec::new();
    while binary_exponent(integer / radix_f) > 0 {
        integer /= radix_f;
        integer_digits.push(0);
    }
    loop {
        let remainder = integer % radix_f;
        integer_digits.push(remainder as u8);
        integer = (integer - remainder) / radix_f;
        if integer <= 0.0 {
            break;
        }
    }
    let mut out = String::new();
    if x < 0.0 {
        out.push('-');
    }
    out.extend(integer_digits.iter().rev().map(|d| char::from(DIGITS[usize::from(*d) % 36])));
    if !fraction_digits.is_empty() {
        out.push('.');
        out.extend(fraction_digits.iter().map(|d| char::from(DIGITS[usize::from(*d) % 36])));
    }
    out
}

fn object_method(this: &Value, map: &Map<String, Value>, name: &str, args: &[Value]) -> Result<Value, Error> {
    let object = |m: Map<String, Value>| Ok(Value::Object(m));
    let field = arg(args, 0).map(string);
    match name {
        "toString" => Ok(Value::String("[object Object]".to_owned())),
        // n8n's extensions.
        "keys" => Ok(Value::Array(map.keys().map(|k| Value::String(k.clone())).collect())),
        "values" => Ok(Value::Array(map.values().cloned().collect())),
        "isEmpty" => Ok(Value::Bool(map.is_empty())),
        "isNotEmpty" => Ok(Value::Bool(!map.is_empty())),
        "hasField" => Ok(Value::Bool(field.is_some_and(|f| map.contains_key(&f)))),
        "removeField" => {
            let mut out = map.clone();
            if let Some(f) = field {
                out.shift_remove(&f);
            }
            object(out)
        }
        "removeFieldsContaining" | "keepFieldsContaining" => {
            let Some(needle) = field.filter(|f| !f.is_empty()) else {
                return Err(Error::validation(format!("{name}(): expected non-empty string arg")));
            };
            let keep = name == "keepFieldsContaining";
            // Fields that are not strings never contain the text.
            let contains = |v: &Value| v.as_str().is_some_and(|s| s.contains(needle.as_str()));
            object(map.iter().filter(|(_, v)| contains(v) == keep).map(|(k, v)| (k.clone(), v.clone())).collect())
        }
        // n8n: the receiver's fields win; the argument only adds the fields it lacks.
        "merge" => {
            let Some(other) = arg(args, 0).filter(|v| v.is_object() || v.is_array()) else {
                return Err(Error::validation("merge(): expected object arg"));
            };
            let mut out = map.clone();
            for (k, v) in own_entries(other) {
                out.entry(k).or_insert(v);
            }
            object(out)
        }
        "compact" => object(compact_object(map)),
        "toJsonString" => Ok(Value::String(stringify(this, ""))),
        "keep" => {
            let fields: Vec<String> = args.iter().map(string).collect();
            object(map.iter().filter(|(k, _)| fields.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect())
        }
        // n8n: `new URLSearchParams(object).toString()`.
        "urlEncode" => {
            let pairs: Vec<String> =
                map.iter().map(|(k, v)| format!("{}={}", form_encode(k), form_encode(&string(v)))).collect();
            Ok(Value::String(pairs.join("&")))
        }
        _ => Err(not_a_function(this, name)),
    }
}

/// A value's own enumerable properties as JS's `Object.entries` lists them: an object's
/// fields, an array's or a string's indices; none for numbers and booleans.
fn own_entries(v: &Value) -> Vec<(String, Value)> {
    match v {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Value::Array(items) => items.iter().enumerate().map(|(i, v)| (i.to_string(), v.clone())).collect(),
        Value::String(s) => {
            s.encode_utf16().enumerate().map(|(i, u)| (i.to_string(), Value::String(from_utf16(&[u])))).collect()
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Array methods with a callback
// ---------------------------------------------------------------------------------------------

/// The elements of a callback method's receiver, or the TypeError JS throws.
fn elements<'a>(arr: &'a Value, name: &str) -> Result<&'a [Value], Error> {
    match arr {
        Value::Array(items) => Ok(items),
        Value::Null => Err(read_error(name)),
        other => Err(not_a_function(other, name)),
    }
}

/// `arr.map((item, index) => ...)`.
pub fn map(arr: &Value, mut f: impl FnMut(&Value, usize) -> Result<Value, Error>) -> Result<Value, Error> {
    let items = elements(arr, "map")?;
    items.iter().enumerate().map(|(i, v)| f(v, i)).collect::<Result<_, _>>().map(Value::Array)
}

/// `arr.filter((item, index) => ...)`: the elements for which the callback is truthy.
pub fn filter(arr: &Value, mut f: impl FnMut(&Value, usize) -> Result<Value, Error>) -> Result<Value, Error> {
    let mut out = Vec::new();
    for (i, v) in elements(arr, "filter")?.iter().enumerate() {
        if truthy(&f(v, i)?) {
            out.push(v.clone());
        }
    }
    Ok(Value::Array(out))
}

/// `arr.find((item, index) => ...)`: the first element for which the callback is truthy, or
/// null.
pub fn find(arr: &Value, mut f: impl FnMut(&Value, usize) -> Result<Value, Error>) -> Result<Value, Error> {
    for (i, v) in elements(arr, "find")?.iter().enumerate() {
        if truthy(&f(v, i)?) {
            return Ok(v.clone());
        }
    }
    Ok(Value::Null)
}

/// `arr.findIndex((item, index) => ...)`: the first index for which the callback is truthy,
/// or -1.
pub fn find_index(arr: &Value, mut f: impl FnMut(&Value, usize) -> Result<Value, Error>) -> Result<Value, Error> {
    for (i, v) in elements(arr, "findIndex")?.iter().enumerate() {
        if truthy(&f(v, i)?) {
            return Ok(Value::from(i));
        }
    }
    Ok(Value::from(-1))
}

/// `arr.some((item, index) => ...)`: whether the callback is truthy for an element (it stops
/// at the first).
pub fn some(arr: &Value, mut f: impl FnMut(&Value, usize) -> Result<Value, Error>) -> Result<Value, Error> {
    for (i, v) in elements(arr, "some")?.iter().enumerate() {
        if truthy(&f(v, i)?) {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

/// `arr.every((item, index) => ...)`: whether the callback is truthy for every element (it
/// stops at the first that is not).
pub fn every(arr: &Value, mut f: impl FnMut(&Value, usize) -> Result<Value, Error>) -> Result<Value, Error> {
    for (i, v) in elements(arr, "every")?.iter().enumerate() {
        if !truthy(&f(v, i)?) {
            return Ok(Value::Bool(false));
        }
    }
    Ok(Value::Bool(true))
}

// ---------------------------------------------------------------------------------------------
// Global functions
// ---------------------------------------------------------------------------------------------

/// The global functions [`call_global`] supports, by their dotted names.
pub const GLOBALS: &[&str] = &[
    "Object.keys",
    "Object.values",
    "Object.entries",
    "Object.assign",
    "JSON.stringify",
    "JSON.parse",
    "Math.round",
    "Math.floor",
    "Math.ceil",
    "Math.abs",
    "Math.min",
    "Math.max",
    "Math.pow",
    "Math.sqrt",
    "Math.trunc",
    "Math.sign",
    "String",
    "Number",
    "Boolean",
    "parseInt",
    "parseFloat",
    "Array.isArray",
    "isNaN",
    "encodeURIComponent",
    "decodeURIComponent",
    "Number.isInteger",
];

/// A call of a global function, `Math.max(...args)`: see [`GLOBALS`]. A name not there is an
/// error.
pub fn call_global(name: &str, args: &[Value]) -> Result<Value, Error> {
    let first = args.first().unwrap_or(&NULL);
    // Math's functions read a missing argument as undefined, which is NaN.
    let num = |i: usize| args.get(i).map_or(f64::NAN, number);
    let math = |f: fn(f64) -> f64| Ok(from_f64(f(num(0))));
    match name {
        "Object.keys" | "Object.values" | "Object.entries" => {
            if first.is_null() {
                return Err(Error::validation("Cannot convert undefined or null to object"));
            }
            let entries = own_entries(first).into_iter();
            Ok(Value::Array(match name {
                "Object.keys" => entries.map(|(k, _)| Value::String(k)).collect(),
                "Object.values" => entries.map(|(_, v)| v).collect(),
                _ => entries.map(|(k, v)| Value::Array(vec![Value::String(k), v])).collect(),
            }))
        }
        // A new object with the fields of every argument, later ones winning (the target is
        // copied, not changed: JSON values are not shared).
        "Object.assign" => {
            if first.is_null() {
                return Err(Error::validation("Cannot convert undefined or null to object"));
            }
            let mut out = Map::new();
            for (k, v) in args.iter().flat_map(own_entries) {
                out.insert(k, v);
            }
            Ok(Value::Object(out))
        }
        "JSON.stringify" => {
            if arg(args, 1).is_some() {
                return Err(Error::validation("JSON.stringify: a replacer is not supported"));
            }
            // JS: a number is that many spaces (at most 10), a string its first 10 characters.
            let indent = match arg(args, 2) {
                Some(Value::Number(n)) => " ".repeat(to_integer(as_f64(n)).clamp(0.0, 10.0) as usize),
                Some(Value::String(s)) => s.chars().take(10).collect(),
                _ => String::new(),
            };
            Ok(Value::String(stringify(first, &indent)))
        }
        "JSON.parse" => {
            let text = string(first);
            match serde_json::from_str::<Value>(&text) {
                Ok(v) => Ok(normalize_numbers(v)),
                Err(e) => {
                    let preview: String = text.chars().take(40).collect();
                    let more = if text.chars().count() > 40 { "..." } else { "" };
                    Err(Error::validation(format!("\"{preview}{more}\" is not valid JSON: {e}")))
                }
            }
        }
        "Math.round" => math(js_round),
        "Math.floor" => math(f64::floor),
        "Math.ceil" => math(f64::ceil),
        "Math.abs" => math(f64::abs),
        "Math.sqrt" => math(f64::sqrt),
        "Math.trunc" => math(f64::trunc),
        "Math.sign" => math(|x| if x.is_nan() || x == 0.0 { x } else { x.signum() }),
        "Math.min" => Ok(from_f64(args.iter().map(number).fold(f64::INFINITY, js_min))),
        "Math.max" => Ok(from_f64(args.iter().map(number).fold(f64::NEG_INFINITY, js_max))),
        "Math.pow" => Ok(from_f64(js_pow(num(0), num(1)))),
        "String" => Ok(Value::String(args.first().map(string).unwrap_or_default())),
        "Number" => Ok(from_f64(args.first().map_or(0.0, number))),
        "Boolean" => Ok(Value::Bool(truthy(first))),
        "parseInt" => Ok(from_f64(parse_int(&string(first), arg(args, 1)))),
        "parseFloat" => Ok(from_f64(parse_float(&string(first)))),
        "Array.isArray" => Ok(Value::Bool(first.is_array())),
        "isNaN" => Ok(Value::Bool(num(0).is_nan())),
        "Number.isInteger" => Ok(Value::Bool(matches!(first, Value::Number(n) if as_f64(n).fract() == 0.0))),
        "encodeURIComponent" => Ok(Value::String(encode_uri(&string(first), ""))),
        "decodeURIComponent" => Ok(Value::String(decode_uri(&string(first), "")?)),
        _ => Err(Error::validation(format!("{name} is not a function"))),
    }
}

/// `Math.round`: to the nearest integer, halves toward +Infinity (`-2.5` is -2).
fn js_round(x: f64) -> f64 {
    let floor = x.floor();
    // `x - floor` is exact, so 0.49999999999999994 does not become 1 as `floor(x + 0.5)` would.
    if x - floor >= 0.5 {
        floor + 1.0
    } else {
        floor
    }
}

/// `Math.min` of two: NaN wins.
fn js_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// `Math.max` of two: NaN wins.
fn js_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// `Math.pow`: as `powf`, except that JS gives NaN for a NaN exponent and for ±1 to an
/// infinite power, where C's `pow` gives 1.
fn js_pow(base: f64, exponent: f64) -> f64 {
    if exponent.is_nan() || (base.abs() == 1.0 && exponent.is_infinite()) {
        f64::NAN
    } else {
        base.powf(exponent)
    }
}

/// `parseInt(s, radix)`: the longest prefix of digits after leading spaces and a sign; radix 0
/// or left out is 10, or 16 after `0x`. No digits, or a radix outside 2 to 36, is NaN.
fn parse_int(s: &str, radix: Option<&Value>) -> f64 {
    let t = s.trim_start_matches(is_js_space);
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut radix = radix.map_or(0, |r| to_int32(number(r)));
    let mut t = t;
    if radix == 0 || radix == 16 {
        if let Some(rest) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            t = rest;
            radix = 16;
        }
    }
    if radix == 0 {
        radix = 10;
    }
    if !(2..=36).contains(&radix) {
        return f64::NAN;
    }
    let radix = radix as u32;
    let digits: Vec<u32> = t.chars().map_while(|c| c.to_digit(radix)).collect();
    if digits.is_empty() {
        return f64::NAN;
    }
    let value = if radix == 10 {
        // Decimal digits parse exactly rounded, however many there are.
        t[..digits.len()].parse().unwrap_or(f64::NAN)
    } else {
        digits_to_f64(&digits, radix)
    };
    if negative {
        -value
    } else {
        value
    }
}

/// `parseFloat(s)`: the longest prefix that is a decimal literal (or `Infinity`) after leading
/// spaces; none is NaN.
fn parse_float(s: &str) -> f64 {
    let t = s.trim_start_matches(is_js_space);
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    if unsigned.starts_with("Infinity") {
        return if t.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY };
    }
    let len = decimal_prefix_len(t);
    if len == 0 {
        f64::NAN
    } else {
        t[..len].parse().unwrap_or(f64::NAN)
    }
}

/// JSON.parse's numbers as JS holds them: `1.0` is the integer 1.
pub fn normalize_numbers(v: Value) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => from_f64(as_f64(&n)),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize_numbers).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, normalize_numbers(v))).collect()),
        other => other,
    }
}

/// `JSON.stringify(v, null, indent)`: keys in the object's order, numbers as JS writes them
/// (`1e+21`), and with an indent, one member per line and `": "` after keys.
pub fn stringify(v: &Value, indent: &str) -> String {
    let mut out = String::new();
    write_json(v, indent, 0, &mut out);
    out
}

fn write_json(v: &Value, indent: &str, depth: usize, out: &mut String) {
    let newline = |out: &mut String, depth: usize| {
        if !indent.is_empty() {
            out.push('\n');
            out.push_str(&indent.repeat(depth));
        }
    };
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number_to_string(as_f64(n))),
        Value::String(s) => write_json_string(s, out),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_json(item, indent, depth + 1, out);
            }
            newline(out, depth);
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                write_json_string(k, out);
                out.push_str(if indent.is_empty() { ":" } else { ": " });
                write_json(item, indent, depth + 1, out);
            }
            newline(out, depth);
            out.push('}');
        }
    }
}

/// A string in JSON as JS writes it: quotes, backslashes and control characters escaped.
fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The characters `encodeURI` keeps and `decodeURI` leaves escaped, beyond
/// `encodeURIComponent`'s.
const URI_RESERVED: &str = ";/?:@&=+$,#";

/// `encodeURIComponent`, or with `keep` = [`URI_RESERVED`], `encodeURI`: every byte of the
/// UTF-8 form as `%XX`, except ASCII letters, digits, `-_.!~*'()` and `keep`.
fn encode_uri(s: &str, keep: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || "-_.!~*'()".contains(c) || keep.contains(c) {
            out.push(c);
        } else {
            let mut buf = [0; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out
}

/// `decodeURIComponent`, or with `reserved` = [`URI_RESERVED`], `decodeURI` (which leaves
/// those characters' escapes as they are). A bad escape or bad UTF-8 is JS's URIError.
fn decode_uri(s: &str, reserved: &str) -> Result<String, Error> {
    let malformed = || Error::validation("URI malformed");
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let hex = |j: usize| bytes.get(j).and_then(|h| char::from(*h).to_digit(16));
        let (Some(high), Some(low)) = (hex(i + 1), hex(i + 2)) else { return Err(malformed()) };
        let decoded = (high * 16 + low) as u8;
        if decoded.is_ascii() && reserved.contains(char::from(decoded)) {
            out.extend_from_slice(&bytes[i..i + 3]);
        } else {
            out.push(decoded);
        }
        i += 3;
    }
    String::from_utf8(out).map_err(|_| malformed())
}

/// `application/x-www-form-urlencoded`, as `URLSearchParams` writes it: spaces as `+`.
fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b' ' => out.push('+'),
            b if b.is_ascii_alphanumeric() || b"*-._".contains(&b) => out.push(char::from(b)),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    //! Every expected value here is what node v20 (V8) gives for the same JavaScript, run as
    //! `node -e 'console.log(JSON.stringify([...]))'` (NaN and Infinity print as null, as
    //! [`from_f64`] makes them), or for n8n's extensions, what n8n's source computes.

    use serde_json::json;

    use super::*;

    fn s(text: &str) -> Value {
        Value::String(text.to_owned())
    }

    /// A method call that must succeed.
    fn call(this: Value, name: &str, args: &[Value]) -> Value {
        call_method(&this, name, args).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// A global call that must succeed.
    fn global(name: &str, args: &[Value]) -> Value {
        call_global(name, args).unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// The message of a call that must fail.
    fn message(result: Result<Value, Error>) -> String {
        match result {
            Ok(v) => panic!("expected an error, got {v}"),
            Err(e) => e.message,
        }
    }

    #[test]
    fn conversions() {
        // !![], !!{}, !!"0", !!"", !!0, !!null
        let truths: Vec<bool> =
            [json!([]), json!({}), s("0"), s(""), json!(0), json!(null)].iter().map(truthy).collect();
        assert_eq!(truths, [true, true, true, false, false, false]);

        assert_eq!(string(&json!([1, [2, 3], null, "x"])), "1,2,3,,x");
        assert_eq!(string(&json!({"a": 1})), "[object Object]");
        let texts: Vec<String> = [1e21, 1e-7, 0.000001, 123456789012345680000.0, -1.5, 0.1 + 0.2, 1.5e300, 123e-20]
            .into_iter()
            .map(number_to_string)
            .collect();
        assert_eq!(
            texts,
            [
                "1e+21",
                "1e-7",
                "0.000001",
                "123456789012345680000",
                "-1.5",
                "0.30000000000000004",
                "1.5e+300",
                "1.23e-18"
            ]
        );
        // (-1786312152298035.25).toString(): of two equally near 17-digit forms, the even one.
        // (Written as a sum: the literal has more digits than its shortest form, which clippy refuses.)
        assert_eq!(number_to_string(-(1786312152298035.0 + 0.25)), "-1786312152298035.2");
        // 2**53 + 2 read from JSON as an integer.
        assert_eq!(string(&json!(9007199254740994u64)), "9007199254740994");

        let numbers: Vec<Value> =
            [s(""), s("  12  "), s("0x1f"), s("1e3"), s(".5"), s("5."), s("0b101"), json!([7]), json!([]), json!(true)]
                .iter()
                .map(|v| from_f64(number(v)))
                .collect();
        assert_eq!(
            numbers,
            [json!(0), json!(12), json!(31), json!(1000), json!(0.5), json!(5), json!(5), json!(7), json!(0), json!(1)]
        );
        // Number("12px"), Number([1,2]), Number("-0x10"), Number("1_000"), Number({}): NaN.
        for v in [s("12px"), json!([1, 2]), s("-0x10"), s("1_000"), json!({}), s("inf")] {
            assert!(number(&v).is_nan(), "{v}");
        }
        assert_eq!(number(&s(" -Infinity ")), f64::NEG_INFINITY);

        assert_eq!(from_f64(f64::NAN), Value::Null);
        assert_eq!(from_f64(-0.0), json!(0));
        assert_eq!(from_f64(3.0).as_i64(), Some(3));
        assert_eq!(from_f64(1e300), json!(1e300));
    }

    #[test]
    fn operators() {
        // "5"+3, "5"-3, [1,2]+"", 0.1+0.2, null+"x", null+1, true+1, [1]+[2], ({})+"", 1+[2]
        assert_eq!(add(&s("5"), &json!(3)), s("53"));
        assert_eq!(sub(&s("5"), &json!(3)), json!(2));
        assert_eq!(add(&json!([1, 2]), &s("")), s("1,2"));
        assert_eq!(add(&json!(0.1), &json!(0.2)), json!(0.30000000000000004));
        assert_eq!(add(&json!(null), &s("x")), s("nullx"));
        assert_eq!(add(&json!(null), &json!(1)), json!(1));
        assert_eq!(add(&json!(true), &json!(1)), json!(2));
        assert_eq!(add(&json!([1]), &json!([2])), s("12"));
        assert_eq!(add(&json!({}), &s("")), s("[object Object]"));
        assert_eq!(add(&json!(1), &json!([2])), s("12"));
        // 7%3, -7%3, 7/2, 1/0, "6"*"7", -"3", +"  4 ", +"x", !"", !"a"
        let results = [
            rem(&json!(7), &json!(3)),
            rem(&json!(-7), &json!(3)),
            div(&json!(7), &json!(2)),
            div(&json!(1), &json!(0)),
            mul(&s("6"), &s("7")),
            neg(&s("3")),
            plus(&s("  4 ")),
            plus(&s("x")),
            not(&s("")),
            not(&s("a")),
        ];
        assert_eq!(
            results,
            [
                json!(1),
                json!(-1),
                json!(3.5),
                json!(null),
                json!(42),
                json!(-3),
                json!(4),
                json!(null),
                json!(true),
                json!(false)
            ]
        );
    }

    #[test]
    fn equality_and_comparison() {
        // 1=="1", 0==false, ""==0, null==0, null==false, "1"==true, [1]=="1", [1,2]=="1,2"
        let loose = [
            loose_eq(&json!(1), &s("1")),
            loose_eq(&json!(0), &json!(false)),
            loose_eq(&s(""), &json!(0)),
            loose_eq(&json!(null), &json!(0)),
            loose_eq(&json!(null), &json!(false)),
            loose_eq(&s("1"), &json!(true)),
            loose_eq(&json!([1]), &s("1")),
            loose_eq(&json!([1, 2]), &s("1,2")),
        ];
        assert_eq!(loose, [true, true, true, false, false, true, true, true]);
        assert!(strict_eq(&json!(1), &json!(1.0)));
        assert!(!strict_eq(&json!(1), &s("1")));
        // Structural, where JS would compare identities.
        assert!(strict_eq(&json!({"a": [1, 2], "b": null}), &json!({"b": null, "a": [1, 2.0]})));
        assert!(!strict_eq(&json!([1, 2]), &json!([2, 1])));

        // "b">"a", "B"<"a", "10"<"9", 10<9, "10"<9, null<1, "a"<1, [2]>1, "😀"<"\uFFFF"
        let comparisons = [
            compare(">", &s("b"), &s("a")),
            compare("<", &s("B"), &s("a")),
            compare("<", &s("10"), &s("9")),
            compare("<", &json!(10), &json!(9)),
            compare("<", &s("10"), &json!(9)),
            compare("<", &json!(null), &json!(1)),
            compare("<", &s("a"), &json!(1)),
            compare(">", &json!([2]), &json!(1)),
            compare("<", &s("\u{1F600}"), &s("\u{FFFF}")),
        ];
        assert_eq!(comparisons, [true, true, true, false, false, true, false, true, true]);
        assert!(compare("<=", &json!(2), &json!(2)) && compare(">=", &s("a"), &s("a")));
        assert!(!compare(">=", &s("x"), &json!(1)) && !compare("<=", &s("x"), &json!(1)));
    }

    #[test]
    fn property_access() {
        let doc = json!({"user": {"name": "Ada", "tags": ["a", "b"]}, "none": null, "text": "😀a"});
        assert_eq!(path(&doc, &[("user", false), ("name", false)]).ok(), Some(s("Ada")));
        assert_eq!(path(&doc, &[("user", false), ("tags", false), ("length", false)]).ok(), Some(json!(2)));
        assert_eq!(path(&doc, &[("user", false), ("tags", false), ("1", false)]).ok(), Some(s("b")));
        assert_eq!(path(&doc, &[("user", false), ("tags", false), ("01", false)]).ok(), Some(json!(null)));
        assert_eq!(path(&doc, &[("text", false), ("length", false)]).ok(), Some(json!(3)));
        assert_eq!(path(&doc, &[("missing", false)]).ok(), Some(json!(null)));
        // undefined.name, {a:{}}.a.b.c: V8's TypeError.
        assert_eq!(
            message(path(&doc, &[("missing", false), ("name", false)])),
            "Cannot read properties of undefined (reading 'name')"
        );
        assert_eq!(
            message(path(&doc, &[("user", false), ("b", false), ("c", false)])),
            "Cannot read properties of undefined (reading 'c')"
        );
        // {a: null}.a?.b.c is undefined: `?.` short-circuits the rest of the chain.
        assert_eq!(path(&doc, &[("none", false), ("b", true), ("c", false)]).ok(), Some(json!(null)));

        let tags = json!(["a", "b"]);
        assert_eq!(get(&tags, &json!(1)).ok(), Some(s("b")));
        assert_eq!(get(&tags, &json!(-1)).ok(), Some(json!(null)));
        assert_eq!(get(&tags, &json!(0.5)).ok(), Some(json!(null)));
        assert_eq!(get(&tags, &s("length")).ok(), Some(json!(2)));
        assert_eq!(get(&json!({"1": "one"}), &json!(1)).ok(), Some(s("one")));
        assert_eq!(get(&s("abc"), &json!(2)).ok(), Some(s("c")));
        assert_eq!(message(get(&json!(null), &s("k"))), "Cannot read properties of undefined (reading 'k')");
    }

    #[test]
    fn string_methods() {
        let hello = || s("Hello");
        assert_eq!(call(s("abc"), "at", &[json!(-1)]), s("c"));
        assert_eq!(call(s("abc"), "at", &[json!(5)]), json!(null));
        assert_eq!(call(hello(), "slice", &[json!(-3)]), s("llo"));
        assert_eq!(call(hello(), "slice", &[json!(1), json!(-1)]), s("ell"));
        assert_eq!(call(hello(), "substring", &[json!(4), json!(1)]), s("ell"));
        assert_eq!(call(hello(), "substr", &[json!(-4), json!(2)]), s("el"));
        assert_eq!(call(s("a,b,,c"), "split", &[s(",")]), json!(["a", "b", "", "c"]));
        assert_eq!(call(s("a,b,c"), "split", &[s(","), json!(2)]), json!(["a", "b"]));
        assert_eq!(call(s("abc"), "split", &[s("")]), json!(["a", "b", "c"]));
        assert_eq!(call(s(""), "split", &[s(",")]), json!([""]));
        assert_eq!(call(s("aXbXc"), "replace", &[s("X"), s("-")]), s("a-bXc"));
        assert_eq!(call(s("aXbXc"), "replaceAll", &[s("X"), s("-")]), s("a-b-c"));
        assert_eq!(call(s("abc"), "replace", &[s("b"), s("[$&$$]")]), s("a[b$]c"));
        assert_eq!(call(s("5"), "padStart", &[json!(3), s("0")]), s("005"));
        assert_eq!(call(s("ab"), "padEnd", &[json!(7), s("xyz")]), s("abxyzxy"));
        assert_eq!(call(s("ab"), "repeat", &[json!(3)]), s("ababab"));
        assert_eq!(call(s("  hi \n"), "trim", &[]), s("hi"));
        assert_eq!(call(s("ß"), "toUpperCase", &[]), s("SS"));
        let found = [
            call(hello(), "indexOf", &[s("l")]),
            call(hello(), "lastIndexOf", &[s("l")]),
            call(hello(), "includes", &[s("ell")]),
            call(hello(), "startsWith", &[s("He")]),
            call(hello(), "endsWith", &[s("l"), json!(4)]),
            call(s("abc"), "indexOf", &[s(""), json!(10)]),
            call(s("abc"), "charCodeAt", &[json!(1)]),
        ];
        assert_eq!(found, [json!(2), json!(3), json!(true), json!(true), json!(true), json!(3), json!(98)]);
        // "😀a".charAt(2): indices count UTF-16 code units.
        assert_eq!(call(s("😀a"), "charAt", &[json!(2)]), s("a"));
        assert_eq!(call(s("a"), "concat", &[json!(1), json!(null), json!([2, 3])]), s("a1null2,3"));
        assert_eq!(message(call_method(&s("a"), "repeat", &[json!(-1)])), "Invalid count value: -1");
        assert_eq!(message(call_method(&s("a"), "repeat", &[json!(1 << 30)])), "Invalid string length");

        // n8n's extensions.
        let n8n = [
            call(s(""), "isEmpty", &[]),
            call(s("FALSE"), "toBoolean", &[]),
            call(s("no"), "toBoolean", &[]),
            call(s("yes"), "toBoolean", &[]),
            call(s("me@example.com"), "isEmail", &[]),
            call(s("It's me@example.com"), "isEmail", &[]),
            call(s("123E23"), "isNumeric", &[]),
            call(s("1 2"), "isNumeric", &[]),
        ];
        assert_eq!(
            n8n,
            [
                json!(true),
                json!(false),
                json!(false),
                json!(true),
                json!(true),
                json!(false),
                json!(true),
                json!(false)
            ]
        );
        assert_eq!(call(s("$1,234"), "toInt", &[]), json!(1));
        assert_eq!(call(s("€12.50"), "toFloat", &[]), json!(12.5));
        assert_eq!(call(s("1.23E10"), "toNumber", &[]), json!(12300000000u64));
        assert_eq!(message(call_method(&s("abc"), "toInt", &[])), "cannot convert to integer");
        assert_eq!(call(s("hello world"), "capitalize", &[]), s("Hello world"));
        assert_eq!(call(s("the lord of the rings"), "toTitleCase", &[]), s("The Lord of the Rings"));
        assert_eq!(call(s("name=Nathan Automat"), "urlEncode", &[]), s("name%3DNathan%20Automat"));
        assert_eq!(call(s("name=Nathan Automat"), "urlEncode", &[json!(true)]), s("name=Nathan%20Automat"));
        assert_eq!(call(s("name%3DNathan%20Automat"), "urlDecode", &[json!(true)]), s("name%3DNathan Automat"));
        assert_eq!(call(s("Nathan says \"hi\""), "quote", &[]), s("\"Nathan says \\\"hi\\\"\""));
    }

    #[test]
    fn array_methods() {
        let nested = || json!([1, [2, [3, [4]]]]);
        assert_eq!(call(nested(), "flat", &[]), json!([1, 2, [3, [4]]]));
        assert_eq!(call(nested(), "flat", &[json!(2)]), json!([1, 2, 3, [4]]));
        assert_eq!(call(json!([1, 2, 3]), "slice", &[json!(-2)]), json!([2, 3]));
        assert_eq!(call(json!([1, 2, 3]), "at", &[json!(-1)]), json!(3));
        assert_eq!(call(json!([1, null, "x"]), "join", &[s("-")]), s("1--x"));
        assert_eq!(call(json!([1, 2, 1]), "lastIndexOf", &[json!(1)]), json!(2));
        assert_eq!(call(json!([1, 2]), "concat", &[json!([3]), json!(4)]), json!([1, 2, 3, 4]));
        assert_eq!(call(json!([1, 2, 3]), "reverse", &[]), json!([3, 2, 1]));
        assert_eq!(call(json!([1, [2, 3]]), "toString", &[]), s("1,2,3"));

        // n8n's extensions, with the examples of n8n's documentation.
        assert_eq!(call(json!([12, 1, 5]), "sum", &[]), json!(18));
        assert_eq!(call(json!([12, 1, 5]), "average", &[]), json!(6));
        assert_eq!(call(json!([1, 12, 5]), "max", &[]), json!(12));
        assert_eq!(call(json!([]), "min", &[]), json!(null));
        assert_eq!(message(call_method(&json!([1, "2"]), "sum", &[])), "sum(): all array elements must be numbers");
        assert_eq!(call(json!([2, null, 1, "", {}, "nil"]), "compact", &[]), json!([2, 1]));
        assert_eq!(call(json!([1, {"a": 1}, 1, {"a": 1}]), "unique", &[]), json!([1, {"a": 1}]));
        assert_eq!(call(json!([{"a": 1, "b": 1}, {"a": 1, "b": 2}]), "unique", &[s("a")]), json!([{"a": 1, "b": 1}]));
        let people = json!([{"name": "Nathan", "age": 42}, {"name": "Jan", "city": "Berlin"}]);
        assert_eq!(call(people.clone(), "pluck", &[s("name")]), json!(["Nathan", "Jan"]));
        assert_eq!(call(people.clone(), "pluck", &[s("age")]), json!([42]));
        assert_eq!(call(people, "pluck", &[s("age"), s("name")]), json!([["Nathan", 42], "Jan"]));
        assert_eq!(call(json!([1, 2, 3, 4, 5]), "chunk", &[json!(2)]), json!([[1, 2], [3, 4], [5]]));
        let pairs = json!([{"k": "a", "v": 1}, {"k": "b", "v": 2}, {"k": "c"}]);
        assert_eq!(call(pairs, "smartJoin", &[s("k"), s("v")]), json!({"a": 1, "b": 2}));
        assert_eq!(call(json!([1, 2, 3]), "difference", &[json!([2, 3])]), json!([1]));
        assert_eq!(call(json!([1, 2]), "intersection", &[json!([2, 3])]), json!([2]));
        assert_eq!(call(json!([1, 2]), "union", &[json!([2, 3])]), json!([1, 2, 3]));
        assert_eq!(call(json!([]), "first", &[]), json!(null));
    }

    #[test]
    fn number_and_boolean_methods() {
        // (1.005).toFixed(2), (2.5).toFixed(0), (1.25).toFixed(1), (-1.5).toFixed(0),
        // (-0.0001).toFixed(2), (123.456).toFixed(5), (1e21).toFixed(2), (0.000001).toFixed(7),
        // (999.995).toFixed(2), (9.995).toFixed(2)
        let fixed: Vec<Value> = [
            (1.005, 2),
            (2.5, 0),
            (1.25, 1),
            (-1.5, 0),
            (-0.0001, 2),
            (123.456, 5),
            (1e21, 2),
            (0.000001, 7),
            (999.995, 2),
            (9.995, 2),
        ]
        .into_iter()
        .map(|(x, d)| call(json!(x), "toFixed", &[json!(d)]))
        .collect();
        assert_eq!(
            fixed,
            ["1.00", "3", "1.3", "-2", "-0.00", "123.45600", "1e+21", "0.0000010", "1000.00", "9.99"].map(s)
        );
        assert_eq!(
            message(call_method(&json!(1), "toFixed", &[json!(101)])),
            "toFixed() digits argument must be between 0 and 100"
        );

        // (255).toString(16), (255).toString(2), (-255).toString(36), (0.5).toString(2),
        // (3.75).toString(16), (0.1).toString(3), (1e21).toString(36)
        let radix: Vec<Value> = [(255.0, 16), (255.0, 2), (-255.0, 36), (0.5, 2), (3.75, 16), (0.1, 3), (1e21, 36)]
            .into_iter()
            .map(|(x, r)| call(json!(x), "toString", &[json!(r)]))
            .collect();
        assert_eq!(
            radix,
            ["ff", "11111111", "-73", "0.1", "3.c", "0.0022002200220022002200220022002201", "5v1j4f4ds7c000"].map(s)
        );
        assert_eq!(call(json!(1.5), "toString", &[]), s("1.5"));
        assert_eq!(
            message(call_method(&json!(1), "toString", &[json!(1)])),
            "toString() radix argument must be between 2 and 36"
        );

        // n8n's extensions: round is `+value.toFixed(decimals)`.
        assert_eq!(call(json!(1.256), "round", &[json!(1)]), json!(1.3));
        assert_eq!(call(json!(1.256), "round", &[]), json!(1));
        assert_eq!(call(json!(-2.5), "round", &[]), json!(-3));
        assert_eq!(call(json!(-1.7), "abs", &[]), json!(1.7));
        assert_eq!(call(json!(42), "isEven", &[]), json!(true));
        assert_eq!(call(json!(-3), "isOdd", &[]), json!(true));
        assert_eq!(message(call_method(&json!(1.5), "isEven", &[])), "isEven() is only callable on integers");
        assert_eq!(call(json!(0), "toBoolean", &[]), json!(false));
        assert_eq!(call(json!(true), "toInt", &[]), json!(1));
        assert_eq!(call(json!(false), "toString", &[]), s("false"));
    }

    #[test]
    fn object_methods() {
        let nathan = || json!({"name": "Nathan", "age": 42});
        assert_eq!(call(nathan(), "keys", &[]), json!(["name", "age"]));
        assert_eq!(call(nathan(), "values", &[]), json!(["Nathan", 42]));
        assert_eq!(call(nathan(), "hasField", &[s("Name")]), json!(false));
        assert_eq!(call(nathan(), "removeField", &[s("name")]), json!({"age": 42}));
        assert_eq!(call(nathan(), "keep", &[s("age")]), json!({"age": 42}));
        // n8n: the receiver's fields win.
        assert_eq!(
            call(nathan(), "merge", &[json!({"age": 1, "city": "Berlin"})]),
            json!({"name": "Nathan", "age": 42, "city": "Berlin"})
        );
        assert_eq!(
            call(json!({"x": null, "y": 2, "z": "", "w": {"a": null}}), "compact", &[]),
            json!({"y": 2, "w": {}})
        );
        assert_eq!(call(nathan(), "toJsonString", &[]), s(r#"{"name":"Nathan","age":42}"#));
        assert_eq!(
            call(json!({"name": "Mr Nathan", "city": "hanoi"}), "urlEncode", &[]),
            s("name=Mr+Nathan&city=hanoi")
        );
        assert_eq!(
            call(json!({"name": "Mr Nathan", "city": "hanoi", "age": 42}), "keepFieldsContaining", &[s("han")]),
            json!({"name": "Mr Nathan", "city": "hanoi"})
        );
        assert_eq!(call(json!({}), "toString", &[]), s("[object Object]"));
    }

    #[test]
    fn method_errors_and_lists() {
        assert_eq!(
            message(call_method(&json!(null), "trim", &[])),
            "Cannot read properties of undefined (reading 'trim')"
        );
        assert_eq!(message(call_method(&s("x"), "pluck", &[])), "string.pluck is not a function");
        assert_eq!(message(map(&json!({}), |v, _| Ok(v.clone()))), "object.map is not a function");
        // Every listed name is implemented for its receiver: calling it may fail on missing
        // arguments, but never as an unknown function.
        let receivers = [
            (s("x"), STRING_METHODS),
            (json!([1]), ARRAY_METHODS),
            (json!(1), NUMBER_METHODS),
            (json!({"a": 1}), OBJECT_METHODS),
            (json!(true), BOOLEAN_METHODS),
        ];
        for (this, names) in receivers {
            for name in names {
                if let Err(e) = call_method(&this, name, &[]) {
                    assert!(!e.message.ends_with("is not a function"), "{name} on {this}: {}", e.message);
                }
            }
        }
        for name in GLOBALS {
            if let Err(e) = call_global(name, &[json!("1")]) {
                assert!(!e.message.ends_with("is not a function"), "{name}: {}", e.message);
            }
        }
        assert!(call_global("Math.random", &[]).is_err());
    }

    #[test]
    fn callbacks() {
        let items = json!([1, 2, 3, 4]);
        let even = |v: &Value, _: usize| Ok(Value::Bool(number(v) % 2.0 == 0.0));
        assert_eq!(map(&items, |v, i| Ok(from_f64(number(v) * 10.0 + i as f64))).ok(), Some(json!([10, 21, 32, 43])));
        assert_eq!(filter(&items, even).ok(), Some(json!([2, 4])));
        assert_eq!(find(&items, even).ok(), Some(json!(2)));
        assert_eq!(find_index(&items, |v, _| Ok(Value::Bool(number(v) > 9.0))).ok(), Some(json!(-1)));
        assert_eq!(some(&items, even).ok(), Some(json!(true)));
        assert_eq!(every(&items, even).ok(), Some(json!(false)));
        // A callback's error stops the iteration and comes out.
        assert!(map(&items, |_, _| Err(Error::validation("boom"))).is_err());
    }

    #[test]
    fn globals() {
        // parseInt("12px"), parseInt(""), parseInt("0x1f"), parseInt("ff", 16),
        // parseInt("  -42abc"), parseInt("z", 36), parseInt("10", 1)
        let ints = [
            global("parseInt", &[s("12px")]),
            global("parseInt", &[s("")]),
            global("parseInt", &[s("0x1f")]),
            global("parseInt", &[s("ff"), json!(16)]),
            global("parseInt", &[s("  -42abc")]),
            global("parseInt", &[s("z"), json!(36)]),
            global("parseInt", &[s("10"), json!(1)]),
        ];
        assert_eq!(ints, [json!(12), json!(null), json!(31), json!(255), json!(-42), json!(35), json!(null)]);
        // parseInt("9007199254740993", 36): V8's approximation in double arithmetic.
        assert_eq!(string(&global("parseInt", &[s("9007199254740993"), json!(36)])), "1.9896986116031807e+24");
        // parseFloat("2.25abc"), parseFloat(".5e2x"), parseFloat("e5")
        let floats = [
            global("parseFloat", &[s("2.25abc")]),
            global("parseFloat", &[s(".5e2x")]),
            global("parseFloat", &[s("e5")]),
        ];
        assert_eq!(floats, [json!(2.25), json!(50), json!(null)]);
        // Math.round(-2.5), Math.round(2.5), Math.round(0.49999999999999994), Math.max(),
        // Math.min(3,1,2), Math.pow(2,10), Math.sign(-3), Math.trunc(-4.7), Math.sqrt(2.25)
        let math = [
            global("Math.round", &[json!(-2.5)]),
            global("Math.round", &[json!(2.5)]),
            global("Math.round", &[json!(0.49999999999999994)]),
            global("Math.max", &[]),
            global("Math.min", &[json!(3), json!(1), json!(2)]),
            global("Math.pow", &[json!(2), json!(10)]),
            global("Math.sign", &[json!(-3)]),
            global("Math.trunc", &[json!(-4.7)]),
            global("Math.sqrt", &[json!(2.25)]),
        ];
        assert_eq!(
            math,
            [json!(-2), json!(3), json!(0), json!(null), json!(1), json!(1024), json!(-1), json!(-4), json!(1.5)]
        );
        // Math.pow(1, Infinity) is NaN (Infinity has no JSON form: tested on the f64).
        assert!(js_pow(1.0, f64::INFINITY).is_nan());
        // isNaN("abc"), isNaN(null), Number.isInteger(5), Number.isInteger(5.5), Number.isInteger("5")
        let checks = [
            global("isNaN", &[s("abc")]),
            global("isNaN", &[json!(null)]),
            global("Number.isInteger", &[json!(5)]),
            global("Number.isInteger", &[json!(5.5)]),
            global("Number.isInteger", &[s("5")]),
            global("Array.isArray", &[json!([])]),
        ];
        assert_eq!(checks, [true, false, true, false, false, true].map(Value::Bool));
        assert_eq!(global("encodeURIComponent", &[s("a b&c/é")]), s("a%20b%26c%2F%C3%A9"));
        assert_eq!(global("decodeURIComponent", &[s("a%20b%26c%2F%C3%A9")]), s("a b&c/é"));
        assert_eq!(message(call_global("decodeURIComponent", &[s("%E0%A4%A")])), "URI malformed");
        assert_eq!(global("String", &[json!([1, 2])]), s("1,2"));
        assert_eq!(global("Number", &[s(" 0x10 ")]), json!(16));
        assert_eq!(global("Boolean", &[s("0")]), json!(true));
    }

    #[test]
    fn objects_and_json() {
        let doc = json!({"a": [1, 2, {"b": null}], "c": "x\"\n", "d": 1e21, "e": 1.5});
        assert_eq!(global("JSON.stringify", &[doc]), s(r#"{"a":[1,2,{"b":null}],"c":"x\"\n","d":1e+21,"e":1.5}"#));
        let nested = json!({"a": [1, {"b": 2}], "c": {}, "d": []});
        assert_eq!(
            global("JSON.stringify", &[nested, json!(null), json!(2)]),
            s("{\n  \"a\": [\n    1,\n    {\n      \"b\": 2\n    }\n  ],\n  \"c\": {},\n  \"d\": []\n}")
        );
        assert_eq!(global("JSON.stringify", &[json!([1, 2]), json!(null), s("--")]), s("[\n--1,\n--2\n]"));
        assert_eq!(global("JSON.parse", &[s(r#"{"a":[1.0,2.5]}"#)]), json!({"a": [1, 2.5]}));
        assert!(message(call_global("JSON.parse", &[s("abc")])).starts_with("\"abc\" is not valid JSON"));

        assert_eq!(global("Object.keys", &[json!({"b": 1, "a": 2})]), json!(["b", "a"]));
        assert_eq!(global("Object.values", &[json!({"b": 1, "a": 2})]), json!([1, 2]));
        assert_eq!(global("Object.entries", &[json!({"b": 1})]), json!([["b", 1]]));
        assert_eq!(global("Object.keys", &[s("ab")]), json!(["0", "1"]));
        assert_eq!(
            global("Object.assign", &[json!({"a": 1, "b": 1}), json!({"b": 2}), json!(null), json!({"c": 3})]),
            json!({"a": 1, "b": 2, "c": 3})
        );
        assert_eq!(message(call_global("Object.keys", &[json!(null)])), "Cannot convert undefined or null to object");
    }
}
