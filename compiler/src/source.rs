//! The flow document's text: parsing with positions, and JSON pointer → line:col.
//!
//! jsonc-parser (strict: no comments, no trailing commas) gives an AST with byte ranges; we
//! turn it into a `serde_json::Value` and an index from every JSON pointer to its range, so
//! any check can name the place it complains about without carrying spans around.

use std::collections::HashMap;

use jsonc_parser::ast;
use jsonc_parser::{CollectOptions, ParseOptions};
use serde_json::{Map, Number, Value};

/// Byte range in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range {
    pub start: usize,
    pub end: usize,
}

/// A parsed document: its value and where every part of it is.
#[derive(Debug)]
pub struct Document {
    pub value: Value,
    /// Pointer → the range of the value at that pointer.
    values: HashMap<String, Range>,
    /// Pointer → the range of the member name that introduces it (object members only).
    keys: HashMap<String, Range>,
    /// Pointers of members whose name appears twice in the same object (the later ones).
    pub duplicate_keys: Vec<String>,
}

/// A syntax error.
#[derive(Debug)]
pub struct SyntaxError {
    pub range: Range,
    pub message: String,
}

impl Document {
    pub fn parse(text: &str) -> Result<Document, SyntaxError> {
        if let Some(at) = too_deep(text) {
            return Err(SyntaxError {
                range: Range { start: at, end: at + 1 },
                message: format!("the document nests arrays and objects more than {MAX_DEPTH} deep"),
            });
        }
        let options = ParseOptions {
            allow_comments: false,
            allow_loose_object_property_names: false,
            allow_trailing_commas: false,
        };
        let parsed = jsonc_parser::parse_to_ast(text, &CollectOptions::default(), &options).map_err(|e| {
            let range = e.range();
            SyntaxError { range: Range { start: range.start, end: range.end }, message: e.kind().to_string() }
        })?;
        let Some(root) = parsed.value else {
            return Err(SyntaxError {
                range: Range { start: 0, end: text.len() },
                message: "the file is empty: a flow document is a JSON object".to_owned(),
            });
        };
        let mut doc =
            Document { value: Value::Null, values: HashMap::new(), keys: HashMap::new(), duplicate_keys: Vec::new() };
        doc.value = doc.walk(&root, String::new())?;
        Ok(doc)
    }

    fn walk(&mut self, node: &ast::Value<'_>, pointer: String) -> Result<Value, SyntaxError> {
        let (range, value) = match node {
            ast::Value::StringLit(s) => (s.range, Value::String(s.value.to_string())),
            ast::Value::NumberLit(n) => {
                let number: Number = serde_json::from_str(n.value).map_err(|_| SyntaxError {
                    range: Range { start: n.range.start, end: n.range.end },
                    message: format!("`{}` is not a JSON number", n.value),
                })?;
                (n.range, Value::Number(number))
            }
            ast::Value::BooleanLit(b) => (b.range, Value::Bool(b.value)),
            ast::Value::NullKeyword(n) => (n.range, Value::Null),
            ast::Value::Array(a) => {
                let mut items = Vec::with_capacity(a.elements.len());
                for (i, element) in a.elements.iter().enumerate() {
                    items.push(self.walk(element, format!("{pointer}/{i}"))?);
                }
                (a.range, Value::Array(items))
            }
            ast::Value::Object(o) => {
                let mut map = Map::new();
                for prop in &o.properties {
                    let (name, name_range) = match &prop.name {
                        ast::ObjectPropName::String(s) => (s.value.to_string(), s.range),
                        ast::ObjectPropName::Word(w) => (w.value.to_string(), w.range),
                    };
                    let child = format!("{pointer}/{}", escape(&name));
                    if map.contains_key(&name) {
                        self.duplicate_keys.push(child.clone());
                    }
                    self.keys.insert(child.clone(), Range { start: name_range.start, end: name_range.end });
                    let value = self.walk(&prop.value, child)?;
                    map.insert(name, value);
                }
                (o.range, Value::Object(map))
            }
        };
        self.values.insert(pointer, Range { start: range.start, end: range.end });
        Ok(value)
    }

    /// Where the value at `pointer` is; for a pointer that does not exist (a missing field),
    /// the nearest ancestor that does.
    pub fn value_range(&self, pointer: &str) -> Range {
        let mut p = pointer;
        loop {
            if let Some(range) = self.values.get(p) {
                return *range;
            }
            match p.rfind('/') {
                Some(cut) => p = &p[..cut],
                None => return Range { start: 0, end: 0 },
            }
        }
    }

    /// Where the member name of `pointer` is, if it is an object member.
    pub fn key_range(&self, pointer: &str) -> Option<Range> {
        self.keys.get(pointer).copied()
    }
}

/// How deep arrays and objects may nest. Flow documents are shallow; the limit keeps the
/// recursive parser and checks far from the stack's end on hostile input.
const MAX_DEPTH: usize = 128;

/// The byte offset where nesting first exceeds [`MAX_DEPTH`], if it does.
fn too_deep(text: &str) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, b) in text.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Escapes one reference token of a JSON pointer (RFC 6901).
pub fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// 1-based line and column (in characters) of a byte offset, by a scan of the text: the
/// reference [`LineIndex`] is tested against.
#[cfg(test)]
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// Where each line of a text starts: line and column of any offset by a binary search, so that
/// rendering N diagnostics costs O(N log L) rather than a scan of the text per diagnostic.
#[derive(Debug, Clone)]
pub struct LineIndex {
    /// The byte offset of each line's first character.
    starts: Vec<usize>,
    /// Whether the text is all ASCII: then a column is a byte difference.
    ascii: bool,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { starts, ascii: text.is_ascii() }
    }

    /// 1-based line and column (in characters) of a byte offset, as [`line_col`] computes them.
    pub fn line_col(&self, text: &str, offset: usize) -> (usize, usize) {
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let line = self.starts.partition_point(|&start| start <= offset);
        let start = self.starts[line - 1];
        let col = if self.ascii { offset - start } else { text[start..offset].chars().count() };
        (line, col + 1)
    }

    /// The byte offset where 1-based line `line` starts.
    pub fn start(&self, line: usize) -> usize {
        self.starts.get(line.saturating_sub(1)).copied().unwrap_or(0)
    }

    /// The text of 1-based line `line`, without its line break.
    pub fn line<'t>(&self, text: &'t str, line: usize) -> Option<&'t str> {
        let start = *self.starts.get(line.checked_sub(1)?)?;
        // As `str::lines`: no line starts at the end of the text.
        if start >= text.len() {
            return None;
        }
        let end = self.starts.get(line).map_or(text.len(), |next| next - 1);
        Some(text[start..end].strip_suffix('\r').unwrap_or(&text[start..end]))
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_values_and_keys() {
        let text = "{\n  \"a\": [1, {\"b/c\": true}],\n  \"a\": 2\n}";
        let doc = Document::parse(text).unwrap();
        let r = doc.value_range("/a/1/b~1c");
        assert_eq!(&text[r.start..r.end], "true");
        // A duplicated member points at the later one: it is the one JSON readers keep.
        let k = doc.key_range("/a").unwrap();
        assert_eq!(line_col(text, k.start), (3, 3));
        assert_eq!(doc.duplicate_keys, vec!["/a".to_owned()]);
        // a missing member falls back to its parent
        assert_eq!(doc.value_range("/a/1/zzz"), doc.value_range("/a/1"));
    }

    #[test]
    fn the_line_index_agrees_with_a_scan() {
        for text in ["", "a", "{\n  \"é\": [1,\r\n 2]\n}\n", "\n\n\nx", "ünï\ncödé\n"] {
            let index = LineIndex::new(text);
            for offset in 0..=text.len() + 2 {
                assert_eq!(index.line_col(text, offset), line_col(text, offset), "{text:?} at {offset}");
            }
            for (n, line) in text.lines().enumerate() {
                assert_eq!(index.line(text, n + 1), Some(line), "{text:?} line {}", n + 1);
            }
            assert_eq!(index.line(text, text.lines().count() + 1), None, "{text:?} has no more lines");
        }
    }

    #[test]
    fn reports_syntax_errors_with_a_range() {
        let err = Document::parse("{\"a\": 1,}").unwrap_err();
        assert_eq!(line_col("{\"a\": 1,}", err.range.start).0, 1);
        assert!(Document::parse("").is_err());
        assert!(Document::parse("{\"a\": 1} // no").is_err());
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(5000), "]".repeat(5000));
        assert!(Document::parse(&deep).unwrap_err().message.contains("nests"));
        let fine = format!("{{\"a\": \"{}\"}}", "[".repeat(5000));
        assert!(Document::parse(&fine).is_ok(), "brackets inside strings do not count");
    }
}
