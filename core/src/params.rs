//! Parameters: non-secret values per deployment (a base URL, a region), each read from an
//! environment variable once, when the program starts, and read by templates as
//! `{{ params.name }}` and by jq filters as `$params.name`.
//!
//! The generated program resolves them with [`load`] before it runs, serves or checks
//! anything: a missing required parameter, or a value outside its `enum`, stops it with exit
//! code 2 and the variable's name. The values live for the process, like the program's
//! configuration does.

use std::sync::OnceLock;

use serde_json::{Map, Value};

/// A parameter the flow declares under `parameters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parameter {
    pub name: &'static str,
    /// The environment variable it is read from.
    pub env: &'static str,
    /// Its value when the variable is unset or empty; `None`: the variable must be set.
    pub default: Option<&'static str>,
    /// The values it may take; empty: any.
    pub allowed: &'static [&'static str],
}

impl Parameter {
    /// Its value from `lookup` (the environment), or what is wrong, naming the variable.
    pub fn resolve(&self, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
        let value = match (lookup(self.env).filter(|v| !v.is_empty()), self.default) {
            (Some(value), _) => value,
            (None, Some(default)) => default.to_owned(),
            (None, None) => {
                return Err(format!("parameter `{}` is not set: set the environment variable {}", self.name, self.env))
            }
        };
        if !self.allowed.is_empty() && !self.allowed.contains(&value.as_str()) {
            return Err(format!(
                "parameter `{}`: {} is {}, which is not one of {}",
                self.name,
                self.env,
                Value::String(value),
                self.allowed.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(value)
    }
}

/// Every parameter's value as an object keyed by name, or every problem (one per line).
pub fn resolve(parameters: &[Parameter], lookup: impl Fn(&str) -> Option<String>) -> Result<Value, Vec<String>> {
    let mut values = Map::new();
    let mut problems = Vec::new();
    for parameter in parameters {
        match parameter.resolve(&lookup) {
            Ok(value) => {
                values.insert(parameter.name.to_owned(), Value::String(value));
            }
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Ok(Value::Object(values))
    } else {
        Err(problems)
    }
}

static VALUES: OnceLock<Value> = OnceLock::new();

/// Resolves the parameters from the environment, once per process; later calls return the
/// first result's values.
pub fn load(parameters: &[Parameter]) -> Result<&'static Value, Vec<String>> {
    if let Some(values) = VALUES.get() {
        return Ok(values);
    }
    let values = resolve(parameters, |name| std::env::var(name).ok())?;
    Ok(VALUES.get_or_init(|| values))
}

/// The resolved parameters (`{}` before [`load`], which the program's `main` calls first).
pub fn values() -> &'static Value {
    static EMPTY: OnceLock<Value> = OnceLock::new();
    VALUES.get().unwrap_or_else(|| EMPTY.get_or_init(|| Value::Object(Map::new())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGION: Parameter = Parameter { name: "region", env: "REGION", default: None, allowed: &["eu", "us"] };
    const BASE: Parameter =
        Parameter { name: "base", env: "CRM_BASE_URL", default: Some("https://crm.example.com"), allowed: &[] };

    #[test]
    fn defaults_apply_when_unset_or_empty_and_the_enum_is_enforced() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        };
        let values = resolve(&[REGION, BASE], env(&[("REGION", "eu"), ("CRM_BASE_URL", "")])).unwrap();
        assert_eq!(values, serde_json::json!({"region": "eu", "base": "https://crm.example.com"}));

        let problems = resolve(&[REGION, BASE], env(&[("REGION", "asia")])).unwrap_err();
        assert_eq!(problems, vec!["parameter `region`: REGION is \"asia\", which is not one of `eu`, `us`"]);

        let problems = resolve(&[REGION, BASE], env(&[])).unwrap_err();
        assert_eq!(problems, vec!["parameter `region` is not set: set the environment variable REGION"]);
    }
}
