//! Turning node ids into Rust identifiers: any id becomes a valid, unique, readable name.

use std::collections::BTreeSet;

/// Rust's keywords, strict and reserved, in every edition.
const KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn", "else",
    "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "macro", "match", "mod",
    "move", "mut", "override", "priv", "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait",
    "true", "try", "type", "typeof", "union", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

/// Whether `name` can name an environment variable everywhere it goes: a shell's `NAME=`, a
/// `.env` file, a Kubernetes container's `env`, a Dockerfile's `ENV`. `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_env_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Allocates one snake_case base name per node id, unique among all of them even when
/// upper-cased (for constants): `my-node` → `my_node`, `1st` → `n_1st`, `A` and `a` → `a`
/// and `a_2`, `-` and `_` → `n` and `n_2`.
#[derive(Debug, Default)]
pub struct Names {
    taken: BTreeSet<String>,
}

impl Names {
    pub fn allocate(&mut self, id: &str) -> String {
        // Words joined by single underscores, none at either end: `node_{name}`, `code_{name}`
        // and the rest are then snake case (rustc's `non_snake_case` lint warns about `a__b`,
        // which `a--b` or `_b` would give otherwise).
        let mapped: String =
            id.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
        let mut base = mapped.split('_').filter(|w| !w.is_empty()).collect::<Vec<_>>().join("_");
        if base.is_empty() {
            base = "n".to_owned();
        } else if base.starts_with(|c: char| c.is_ascii_digit()) {
            base = format!("n_{base}");
        }
        let mut name = base.clone();
        let mut n = 2;
        while !self.taken.insert(name.clone()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_valid_and_unique() {
        let mut names = Names::default();
        assert_eq!(names.allocate("fn"), "fn");
        assert_eq!(names.allocate("my-node"), "my_node");
        assert_eq!(names.allocate("my_node"), "my_node_2");
        assert_eq!(names.allocate("1st"), "n_1st");
        assert_eq!(names.allocate("A"), "a");
        assert_eq!(names.allocate("a"), "a_2");
        assert_eq!(names.allocate("Self"), "self");
        assert_eq!(names.allocate("_"), "n");
        assert_eq!(names.allocate("-"), "n_2");
        assert_eq!(names.allocate("a--b_"), "a_b");
        assert_eq!(names.allocate("_x"), "x");
    }

    #[test]
    fn environment_variable_names() {
        for name in ["A", "_", "API_TOKEN", "_x1", "a"] {
            assert!(is_env_name(name), "{name:?}");
        }
        for name in ["", "1A", "A-B", "A B", "A\nB", "A=B", "Ä", "A\u{0}"] {
            assert!(!is_env_name(name), "{name:?}");
        }
    }
}
