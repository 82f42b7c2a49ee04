//! The harness's pure logic: percentiles, JSON normalisation for the equivalence check, and
//! the formatting of figures and ratios in the table.

use serde_json::{Map, Value};

/// The `q`-quantile (0 < q ≤ 1) of `sorted` by the nearest-rank method: the smallest sample
/// such that at least `q` of all samples are at most it. `None` for no samples.
pub fn percentile(sorted: &[u32], q: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// A JSON value in a form in which two engines' answers compare equal when they mean the same:
/// object members sorted by name, and numbers with an integral value written as integers
/// (JavaScript prints `2` where Rust may print `2.0`).
pub fn normalise(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                out.insert(key.clone(), normalise(&map[key]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
            _ => value.clone(),
        },
        _ => value.clone(),
    }
}

/// The first place where two normalised values differ, as a JSON pointer and both sides
/// (shortened), for the error message of a failed equivalence check.
pub fn first_difference(expected: &Value, actual: &Value) -> Option<String> {
    fn walk(pointer: &str, a: &Value, b: &Value) -> Option<String> {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for (key, value) in x {
                    let p = format!("{pointer}/{key}");
                    match y.get(key) {
                        Some(other) => {
                            if let Some(d) = walk(&p, value, other) {
                                return Some(d);
                            }
                        }
                        None => return Some(format!("at {p}: missing")),
                    }
                }
                y.keys().find(|k| !x.contains_key(*k)).map(|k| format!("at {pointer}/{k}: unexpected member"))
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                x.iter().zip(y).enumerate().find_map(|(i, (a, b))| walk(&format!("{pointer}/{i}"), a, b))
            }
            _ if a == b => None,
            _ => Some(format!(
                "at {}: expected {}, got {}",
                if pointer.is_empty() { "/" } else { pointer },
                short(a),
                short(b)
            )),
        }
    }
    walk("", &normalise(expected), &normalise(actual))
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 120 {
        let head: String = text.chars().take(117).collect();
        format!("{head}...")
    } else {
        text
    }
}

/// A duration given in microseconds, with a unit that keeps three significant digits or so.
pub fn fmt_micros(us: f64) -> String {
    if us < 1_000.0 {
        format!("{us:.0} µs")
    } else if us < 10_000.0 {
        format!("{:.2} ms", us / 1_000.0)
    } else if us < 1_000_000.0 {
        format!("{:.1} ms", us / 1_000.0)
    } else {
        format!("{:.2} s", us / 1_000_000.0)
    }
}

/// A rate, with thousands separated.
pub fn fmt_rate(per_sec: f64) -> String {
    if per_sec >= 100.0 {
        group(per_sec.round() as u64)
    } else if per_sec >= 10.0 {
        format!("{per_sec:.1}")
    } else {
        format!("{per_sec:.2}")
    }
}

/// Bytes as MiB.
pub fn fmt_mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `value / base` as a ratio for the table (`0.05×`, `1.3×`, `27×`); `None` when either is
/// missing or the base is zero.
pub fn ratio(value: Option<f64>, base: Option<f64>) -> Option<f64> {
    match (value, base) {
        (Some(v), Some(b)) if b > 0.0 && v.is_finite() => Some(v / b),
        _ => None,
    }
}

/// A ratio as the table prints it.
pub fn fmt_ratio(r: f64) -> String {
    if r >= 100.0 {
        format!("{}×", group(r.round() as u64))
    } else if r >= 10.0 {
        format!("{r:.0}×")
    } else if r >= 0.095 {
        format!("{r:.2}×")
    } else {
        format!("{r:.3}×")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&samples, 0.5), Some(50));
        assert_eq!(percentile(&samples, 0.99), Some(99));
        assert_eq!(percentile(&samples, 1.0), Some(100));
        assert_eq!(percentile(&[7], 0.99), Some(7));
        assert_eq!(percentile(&[1, 2], 0.5), Some(1));
        assert_eq!(percentile(&[1, 2, 3], 0.5), Some(2));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn normalisation_ignores_member_order_and_integral_floats() {
        let a = json!({"b": [1.0, {"y": 2, "x": "s"}], "a": null});
        let b = json!({"a": null, "b": [1, {"x": "s", "y": 2.0}]});
        assert_eq!(normalise(&a), normalise(&b));
        assert_eq!(first_difference(&a, &b), None);
        assert_ne!(normalise(&json!(1.5)), normalise(&json!(1)));
        assert_eq!(normalise(&a).to_string(), r#"{"a":null,"b":[1,{"x":"s","y":2}]}"#);
    }

    #[test]
    fn differences_are_located() {
        let expected = json!({"values": ["k-1", "k-2"], "n": 3});
        let d = first_difference(&expected, &json!({"values": ["k-1", "k-3"], "n": 3})).unwrap();
        assert_eq!(d, r#"at /values/1: expected "k-2", got "k-3""#);
        let d = first_difference(&expected, &json!({"values": ["k-1", "k-2"]})).unwrap();
        assert_eq!(d, "at /n: missing");
        let d = first_difference(&expected, &json!("text")).unwrap();
        assert!(d.starts_with("at /: expected {"), "{d}");
    }

    #[test]
    fn figures_and_ratios() {
        assert_eq!(fmt_micros(412.4), "412 µs");
        assert_eq!(fmt_micros(2_345.0), "2.35 ms");
        assert_eq!(fmt_micros(23_450.0), "23.4 ms");
        assert_eq!(fmt_micros(2_345_000.0), "2.35 s");
        assert_eq!(fmt_rate(12_345.4), "12,345");
        assert_eq!(fmt_rate(12.34), "12.3");
        assert_eq!(fmt_rate(1.234), "1.23");
        assert_eq!(fmt_mib(10 * 1024 * 1024 + 512 * 1024), "10.5 MiB");
        assert_eq!(ratio(Some(50.0), Some(200.0)), Some(0.25));
        assert_eq!(ratio(Some(1.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(1.0)), None);
        assert_eq!(fmt_ratio(0.25), "0.25×");
        assert_eq!(fmt_ratio(0.0123), "0.012×");
        assert_eq!(fmt_ratio(27.4), "27×");
        assert_eq!(fmt_ratio(1234.0), "1,234×");
    }
}
