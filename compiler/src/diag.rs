//! Diagnostics: every problem flowc finds in a flow document, with a stable code, the JSON
//! pointer of the offending place, its line:col, and a help line that says what to do.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{json, Value};

use crate::escape;
use crate::source::{Document, LineIndex, Range};

/// The catalogue of codes. Codes are stable: tools may match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Code {
    /// The file is not valid JSON.
    E001,
    /// A value has the wrong JSON type.
    E002,
    /// An object has a field it does not know.
    E003,
    /// A required field is missing.
    E004,
    /// `version` is not a version flowc reads.
    E005,
    /// An id does not have the required form, or is reserved.
    E006,
    /// Two nodes have the same id.
    E007,
    /// Two edges have the same id.
    E008,
    /// The node kind does not exist.
    E009,
    /// The node kind exists but this version of flowc cannot compile it.
    E010,
    /// An edge names a node that does not exist.
    E011,
    /// An edge uses a handle its source node does not have.
    E012,
    /// The edges form a cycle.
    E013,
    /// A node names a credential the flow does not declare.
    E014,
    /// A value is out of range or not one of the allowed values.
    E015,
    /// A template is malformed.
    E016,
    /// A template reads a node that does not exist.
    E017,
    /// A template reads a node that is not upstream of the reader.
    E018,
    /// A jq filter does not parse or names something undefined.
    E019,
    /// A `code` node's Rust does not parse.
    E020,
    /// The input schema uses something outside the supported subset.
    E021,
    /// The flow has more than one `input` node.
    E022,
    /// An object has the same field twice.
    E023,
    /// Two `output` nodes have the same name.
    E024,
    /// A node needs a credential and names none.
    E025,
    /// A map's nested flow is not a flow a map can run: an `input` node, a node id taken
    /// outside it or by the item, no `output` node.
    E026,
    /// A trigger node (`webhook`, `schedule`) is not where a trigger can be: a second one,
    /// one inside a map, one with an incoming edge.
    E027,
    /// A name that must be an identifier is not one: an environment variable's name.
    E028,
    /// A template reads a field or element that the node's output type cannot have.
    E029,
    /// `flowc image` cannot put what the flow needs into the image: a stdio MCP server's
    /// program it does not know how to bundle.
    E030,
    /// An imported document (CoconutFlow) holds something flowc cannot compile.
    E031,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::E001 => "E001",
            Code::E002 => "E002",
            Code::E003 => "E003",
            Code::E004 => "E004",
            Code::E005 => "E005",
            Code::E006 => "E006",
            Code::E007 => "E007",
            Code::E008 => "E008",
            Code::E009 => "E009",
            Code::E010 => "E010",
            Code::E011 => "E011",
            Code::E012 => "E012",
            Code::E013 => "E013",
            Code::E014 => "E014",
            Code::E015 => "E015",
            Code::E016 => "E016",
            Code::E017 => "E017",
            Code::E018 => "E018",
            Code::E019 => "E019",
            Code::E020 => "E020",
            Code::E021 => "E021",
            Code::E022 => "E022",
            Code::E023 => "E023",
            Code::E024 => "E024",
            Code::E025 => "E025",
            Code::E026 => "E026",
            Code::E027 => "E027",
            Code::E028 => "E028",
            Code::E029 => "E029",
            Code::E030 => "E030",
            Code::E031 => "E031",
        }
    }
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    /// The JSON pointer of the offending place ("" for the whole document).
    pub pointer: String,
    /// Point at the member's name rather than its value (unknown or duplicate fields).
    pub at_key: bool,
    /// What to do about it.
    pub help: Option<String>,
    /// Where it is, resolved from the pointer once all checks ran.
    pub range: Option<Range>,
}

impl Diagnostic {
    pub fn new(code: Code, pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic { code, message: message.into(), pointer: pointer.into(), at_key: false, help: None, range: None }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn at_key(mut self) -> Self {
        self.at_key = true;
        self
    }

    pub fn at_range(mut self, range: Range) -> Self {
        self.range = Some(range);
        self
    }
}

/// Every problem found in one file, sorted by position.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    /// The file's name as the user gave it.
    pub file: String,
    source: String,
    lines: LineIndex,
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Sorts `items` by position, resolving each pointer against `doc` (when the document
    /// parsed at all).
    pub fn new(file: &str, source: &str, doc: Option<&Document>, mut items: Vec<Diagnostic>) -> Self {
        for d in &mut items {
            if d.range.is_none() {
                if let Some(doc) = doc {
                    let key = if d.at_key { doc.key_range(&d.pointer) } else { None };
                    d.range = Some(key.unwrap_or_else(|| doc.value_range(&d.pointer)));
                }
            }
        }
        items.sort_by(|a, b| {
            let pos = |d: &Diagnostic| d.range.map_or(0, |r| r.start);
            pos(a).cmp(&pos(b)).then(a.code.cmp(&b.code)).then(a.message.cmp(&b.message))
        });
        items.dedup();
        Diagnostics { file: file.to_owned(), source: source.to_owned(), lines: LineIndex::new(source), items }
    }

    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    fn position(&self, d: &Diagnostic) -> ((usize, usize), (usize, usize)) {
        let range = d.range.unwrap_or(Range { start: 0, end: 0 });
        (self.lines.line_col(&self.source, range.start), self.lines.line_col(&self.source, range.end))
    }

    /// The first problem on one line: `file:line:col: error[EXXX]: message`.
    pub fn first_line(&self) -> Option<String> {
        let d = self.items.first()?;
        let ((line, col), _) = self.position(d);
        Some(format!("{}:{line}:{col}: error[{}]: {}", self.file, d.code.as_str(), d.message))
    }

    /// The human rendering: one block per problem, with a snippet of the line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.items {
            let ((line, col), (end_line, end_col)) = self.position(d);
            let pointer = if d.pointer.is_empty() { "/".to_owned() } else { d.pointer.clone() };
            // A document's strings reach the terminal here: control characters (escape
            // sequences) and bidirectional controls are written as `\u{..}`.
            let _ = writeln!(out, "error[{}]: {}", d.code.as_str(), printable(&d.message));
            let _ = writeln!(
                out,
                "  --> {}:{line}:{col} (at {})",
                escape::one_line(&self.file),
                escape::one_line(&pointer)
            );
            if let Some(text) = self.lines.line(&self.source, line) {
                let gutter = line.to_string().len();
                let width = if end_line == line { end_col.saturating_sub(col).max(1) } else { 1 };
                // Very long lines (minified documents) are cut around the column.
                let at = d.range.map_or(0, |r| r.start).saturating_sub(self.lines.start(line));
                let (shown, caret_col) = window(text, at);
                // Escaping widens what comes before the caret and under it.
                let (before, rest) =
                    shown.split_at(shown.char_indices().nth(caret_col - 1).map_or(shown.len(), |(i, _)| i));
                let (before, rest) = (escape::one_line(before), escape::one_line(rest));
                let under: usize = shown
                    .chars()
                    .skip(caret_col - 1)
                    .take(width)
                    .map(|c| escape::one_line(&c.to_string()).chars().count())
                    .sum();
                let caret_col = before.chars().count() + 1;
                let width = under.max(1);
                let shown = before + &rest;
                let _ = writeln!(out, "{:gutter$} |", "");
                let _ = writeln!(out, "{line} | {shown}");
                let width = width.min(shown.chars().count().saturating_sub(caret_col - 1).max(1));
                let _ = writeln!(out, "{:gutter$} | {}{}", "", " ".repeat(caret_col - 1), "^".repeat(width));
            }
            if let Some(help) = &d.help {
                let _ = writeln!(out, "  = help: {}", printable(help));
            }
            out.push('\n');
        }
        let n = self.items.len();
        let _ = writeln!(out, "{}: {n} error{} found", self.file, if n == 1 { "" } else { "s" });
        out
    }

    /// The JSON rendering, for editors and flow builders.
    pub fn to_json(&self) -> Value {
        let items: Vec<Value> = self
            .items
            .iter()
            .map(|d| {
                let ((line, column), (end_line, end_column)) = self.position(d);
                json!({
                    "code": d.code.as_str(),
                    "severity": "error",
                    "message": d.message,
                    "pointer": d.pointer,
                    "line": line,
                    "column": column,
                    "end_line": end_line,
                    "end_column": end_column,
                    "help": d.help,
                })
            })
            .collect();
        json!({ "file": self.file, "valid": items.is_empty(), "diagnostics": items })
    }
}

impl std::fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for Diagnostics {}

/// `text` for a terminal: its lines as written, every hazard in them (escape sequences, a lone
/// carriage return, bidirectional controls) as `\u{..}`.
fn printable(text: &str) -> String {
    escape::lines(text).join("\n")
}

/// At most 100 characters of `text` around byte offset `at`, and the 1-based column of `at`
/// in them. It looks at those characters only, so a diagnostic on a 1.5 MB line costs no more
/// than one on a short line.
fn window(text: &str, at: usize) -> (String, usize) {
    const WIDTH: usize = 100;
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    // 49 characters before the caret's, the caret's and 50 after.
    let before: Vec<char> = text[..at].chars().rev().take(WIDTH / 2 - 1).collect();
    let start = at - before.iter().map(|c| c.len_utf8()).sum::<usize>();
    let after: String = text[at..].chars().take(WIDTH - before.len()).collect();
    let mut shown: String = before.iter().rev().collect();
    shown.push_str(&after);
    // Fewer characters after: show more of what comes before instead.
    let missing = WIDTH.saturating_sub(before.len() + after.chars().count());
    let extra: String = text[..start].chars().rev().take(missing).collect::<Vec<_>>().into_iter().rev().collect();
    let caret = extra.chars().count() + before.len() + 1;
    (extra + &shown, caret)
}

/// The closest of `candidates` to `word`, if one is close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(distance, c)| *distance <= (c.len().max(word.len()) / 3).max(1))
        .min_by_key(|(distance, c)| (*distance, *c))
        .map(|(_, c)| c)
}
