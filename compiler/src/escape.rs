//! Document strings in generated files, escaped for each file's format. Any string a flow
//! document holds may reach a generated file: the flow's name in a doc comment, a credential's
//! name in `.env.example`, a file path in a Kubernetes manifest. What is escaped here, and how:
//!
//! - a *hazard* ([`is_hazard`]) is never written raw anywhere: a control character (NUL, DEL,
//!   C1, line breaks where a line break would end the construct), a bidirectional control
//!   (the "Trojan Source" characters; rustc denies them in comments and literals), a line or
//!   paragraph separator (a line break to some readers, YAML 1.1 among them), the byte order
//!   mark and the non-characters U+FFFE and U+FFFF;
//! - in text (comments, Markdown), a hazard is written as `\u{202e}`, readable and inert;
//! - in a quoted string of JSON, YAML or TOML, as that format's escape, so that the string reads
//!   back exactly.
//!
//! Rust string literals need nothing here: `quote!` writes them with `char::escape_debug`,
//! which escapes every hazard.

use std::fmt::Write as _;

/// Whether `c` must not be written raw in a generated file.
pub fn is_hazard(c: char) -> bool {
    c.is_control()
        || is_bidi(c)
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        )
}

/// The bidirectional embeddings, overrides and isolates, which rustc's deny-by-default
/// `text_direction_codepoint_in_comment` and `text_direction_codepoint_in_literal` lints refuse
/// raw in source. (The implicit marks U+200E, U+200F and U+061C are hazards too, but rustc
/// takes them.)
pub fn is_bidi(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` as one line of inert text, for a comment (`//` or `//!` in Rust, `#` in a Dockerfile
/// or `.env` file): every hazard, line breaks and tabs included, written as `\u{..}`.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_hazard(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` as lines of inert text, for a comment of several lines: split at its line breaks
/// (`\n`, `\r\n`; as by `str::lines`, a last empty line is none), each line as by
/// [`one_line`].
pub fn lines(text: &str) -> Vec<String> {
    text.lines().map(one_line).collect()
}

/// `text` as a JSON string literal with every hazard escaped as `\uXXXX` (serde_json escapes
/// only those below U+0020). The result is also a valid YAML double-quoted scalar and a valid
/// TOML basic string, with the same value.
pub fn json_string(text: &str) -> String {
    let quoted = serde_json::Value::from(text).to_string();
    let mut out = String::with_capacity(quoted.len());
    for c in quoted.chars() {
        // In serde_json's output a hazard can only be inside the string, raw.
        if is_hazard(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// A JSON value as pretty JSON text, with the hazards in its strings escaped (see
/// [`json_string`]).
pub fn json_pretty(value: &serde_json::Value) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    escape_json_text(&text)
}

/// A JSON value as compact JSON text, with the hazards in its strings escaped.
pub fn json_compact(value: &serde_json::Value) -> String {
    escape_json_text(&value.to_string())
}

fn escape_json_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        // Outside strings serde_json writes only ASCII punctuation, digits, letters and
        // whitespace it chose; a raw hazard is inside a string.
        if is_hazard(c) && c != '\n' {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` as a TOML basic string (`"..."`), exactly, with every hazard escaped (`toml_writer`
/// escapes the control characters; the others become `\uXXXX` too).
pub fn toml_string(text: &str) -> String {
    use toml_writer::ToTomlValue as _;
    let quoted = toml_writer::TomlStringBuilder::new(text).as_basic().to_toml_value();
    let mut out = String::with_capacity(quoted.len());
    for c in quoted.chars() {
        if is_hazard(c) {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` as a TOML basic string for Cargo metadata (the `description`): the hazards as
/// `\u{..}` text, line breaks kept. Cargo passes the metadata on to rustc in environment
/// variables (`CARGO_PKG_DESCRIPTION`), where a NUL cannot go: with one, it cannot start rustc.
pub fn cargo_text(text: &str) -> String {
    toml_string(&text.split('\n').map(one_line).collect::<Vec<_>>().join("\n"))
}

/// `text` as Markdown inline text that renders as written: the characters that make inline
/// markup (emphasis, code, links, HTML, entities, tables, math) backslash-escaped everywhere,
/// those that start a block (heading, list, quote, setext underline) at the start of a line, a
/// leading space as `&#32;` (so no line becomes a code block), and hazards as `\u{..}`. With
/// `breaks`, line breaks stay (a paragraph of several lines); without, they are hazards like
/// the others (a heading, a table cell).
pub fn markdown(text: &str, breaks: bool) -> String {
    let text = if breaks { text.replace("\r\n", "\n") } else { text.to_owned() };
    let mut out = String::with_capacity(text.len());
    let parts: Vec<&str> = if breaks { text.split('\n').collect() } else { vec![&text] };
    for (i, line) in parts.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        // An ordered list item: digits, then `.` or `)`.
        let digits = line.chars().take_while(char::is_ascii_digit).count();
        let list_marker = (digits > 0 && line[digits..].starts_with(['.', ')'])).then_some(digits);
        for (at, c) in line.char_indices() {
            match c {
                ' ' if at == 0 => out.push_str("&#32;"),
                c if is_hazard(c) => {
                    let _ = write!(out, "\\\\u\\{{{:x}\\}}", c as u32);
                }
                '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' | '&' | '#' | '$' => {
                    out.push('\\');
                    out.push(c);
                }
                '-' | '+' | '=' if at == 0 => {
                    out.push('\\');
                    out.push(c);
                }
                '.' | ')' if Some(at) == list_marker => {
                    out.push('\\');
                    out.push(c);
                }
                c => out.push(c),
            }
        }
    }
    out
}

/// `text` as a Markdown code span: hazards (line breaks included) as `\u{..}`, between
/// backtick fences longer than any run of backticks in it.
pub fn markdown_code(text: &str) -> String {
    let text = one_line(text);
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    // A space on each side when the text starts or ends with a backtick (or a space, which the
    // renderer would strip); CommonMark removes one space on each side.
    if text.starts_with(['`', ' ']) || text.ends_with(['`', ' ']) {
        format!("{fence} {text} {fence}")
    } else {
        format!("{fence}{text}{fence}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hazards_are_escaped_in_every_form() {
        let text = "a\u{0}b\u{7f}c\u{202e}d\u{2066}e\nf\r\u{2028}g\u{85}\u{feff}";
        assert_eq!(one_line(text), r"a\u{0}b\u{7f}c\u{202e}d\u{2066}e\u{a}f\u{d}\u{2028}g\u{85}\u{feff}");
        assert_eq!(lines("one\r\ntwo\u{202e}\nthree"), ["one", r"two\u{202e}", "three"]);
        let json = json_string(text);
        assert!(json.is_ascii(), "{json}");
        assert_eq!(serde_json::from_str::<String>(&json).unwrap(), text);
        assert_eq!(cargo_text("x\u{0}\n\u{202e}"), r#""x\\u{0}\n\\u{202e}""#);
        assert_eq!(toml_string("x\u{0}\u{7f}\n\"y\"\u{202e}"), r#""x\u0000\u007F\n\"y\"\u202e""#);
        let pretty = json_pretty(&serde_json::json!({"k\u{2028}": ["v\u{7f}"]}));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&pretty).unwrap(),
            serde_json::json!({"k\u{2028}": ["v\u{7f}"]})
        );
        assert!(pretty.is_ascii(), "{pretty}");
    }

    #[test]
    fn markdown_is_inert() {
        assert_eq!(markdown("# *a* `b` c-d.", false), r"\# \*a\* \`b\` c-d.");
        assert_eq!(markdown("x\n  - y\n- z\n12. w\n=", true), "x\n&#32; - y\n\\- z\n12\\. w\n\\=");
        assert_eq!(markdown("x\ny", false), r"x\\u\{a\}y");
        assert_eq!(markdown_code("a`b"), "``a`b``");
        assert_eq!(markdown_code("`a"), "`` `a ``");
        assert_eq!(markdown_code("a\nb"), r"`a\u{a}b`");
    }
}
