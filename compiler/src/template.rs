//! Templates: `{{ node.path }}` inside config strings.
//!
//! A path starts with a node id and goes on with `.field`, `[0]` or `["any key"]`. The grammar
//! is flowc's own (node ids may hold `-`, which no expression language's identifiers allow),
//! so this is a small hand-written parser rather than a template engine: flowc compiles each
//! path into a direct read, and nothing parses templates at run time.

/// One step after the root.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// `root.seg[0]["seg"]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path {
    pub root: String,
    pub segs: Vec<Seg>,
}

impl Path {
    /// The path as written, normalised: `node.a[0]["b c"]`.
    pub fn display(&self) -> String {
        let mut out = self.root.clone();
        for seg in &self.segs {
            match seg {
                Seg::Key(k) if is_plain_key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Seg::Key(k) => out.push_str(&format!("[{}]", serde_json::Value::String(k.clone()))),
                Seg::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }
}

/// A piece of a template string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Part {
    Text(String),
    Path(Path),
}

/// A parsed string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Template {
    /// No `{{` at all.
    Literal(String),
    /// Exactly one `{{ path }}` and nothing else: yields the value itself, of any type.
    Value(Path),
    /// Text and paths mixed: yields a string.
    Mixed(Vec<Part>),
}

impl Template {
    /// The template as written, normalised: `https://x/{{ in.id }}`.
    pub fn display(&self) -> String {
        match self {
            Template::Literal(text) => text.clone(),
            Template::Value(path) => format!("{{{{ {} }}}}", path.display()),
            Template::Mixed(parts) => parts
                .iter()
                .map(|part| match part {
                    Part::Text(text) => text.clone(),
                    Part::Path(path) => format!("{{{{ {} }}}}", path.display()),
                })
                .collect(),
        }
    }

    /// Every path the template reads.
    pub fn paths(&self) -> Vec<&Path> {
        match self {
            Template::Literal(_) => Vec::new(),
            Template::Value(p) => vec![p],
            Template::Mixed(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    Part::Path(p) => Some(p),
                    Part::Text(_) => None,
                })
                .collect(),
        }
    }
}

/// A syntax error, at a character offset into the string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
    pub help: String,
}

pub fn is_plain_key(key: &str) -> bool {
    !key.is_empty() && key.chars().all(is_ident_char)
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Parses a config string.
pub fn parse(text: &str) -> Result<Template, TemplateError> {
    if !text.contains("{{") {
        if let Some(at) = text.find("}}") {
            return Err(TemplateError {
                offset: text[..at].chars().count(),
                message: "`}}` without a matching `{{`".to_owned(),
                help: "remove the stray `}}`, or open the template with `{{`".to_owned(),
            });
        }
        return Ok(Template::Literal(text.to_owned()));
    }
    let mut parts = Vec::new();
    let mut rest = text;
    let mut consumed = 0; // bytes of `text` before `rest`
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            parts.push(Part::Text(rest[..open].to_owned()));
        }
        let inner_start = open + 2;
        let Some(close) = rest[inner_start..].find("}}") else {
            return Err(TemplateError {
                offset: text[..consumed + open].chars().count(),
                message: "`{{` is never closed".to_owned(),
                help: "close the template with `}}`".to_owned(),
            });
        };
        if rest[inner_start..inner_start + close].contains("{{") {
            return Err(TemplateError {
                offset: text[..consumed + open].chars().count(),
                message: "`{{` is never closed: another `{{` comes first".to_owned(),
                help: "close each template with `}}` before the next one starts".to_owned(),
            });
        }
        let inner = &rest[inner_start..inner_start + close];
        let inner_offset = consumed + inner_start;
        let path = parse_path(inner).map_err(|(at, message)| TemplateError {
            offset: text[..inner_offset + at].chars().count(),
            message,
            help: "a template is `{{ node_id.field }}`, `{{ node_id[0] }}` or `{{ node_id[\"any key\"] }}`".to_owned(),
        })?;
        parts.push(Part::Path(path));
        let advance = inner_start + close + 2;
        consumed += advance;
        rest = &rest[advance..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_owned()));
    }
    Ok(match parts.as_slice() {
        [Part::Path(p)] => Template::Value(p.clone()),
        _ => Template::Mixed(parts),
    })
}

/// Parses the inside of `{{ }}`; errors carry a byte offset into `inner`.
fn parse_path(inner: &str) -> Result<Path, (usize, String)> {
    let bytes = inner.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < bytes.len() && (bytes[*i] as char).is_ascii_whitespace() {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    let start = i;
    while i < bytes.len() && is_ident_char(bytes[i] as char) {
        i += 1;
    }
    if i == start {
        let message = if i >= bytes.len() {
            "empty template: `{{ }}` names nothing".to_owned()
        } else {
            format!("a template must start with a node id, not `{}`", &inner[i..].chars().next().unwrap_or(' '))
        };
        return Err((i, message));
    }
    let root = inner[start..i].to_owned();
    let mut segs = Vec::new();
    loop {
        if i >= bytes.len() {
            break;
        }
        match bytes[i] {
            b'.' => {
                i += 1;
                let key_start = i;
                while i < bytes.len() && is_ident_char(bytes[i] as char) {
                    i += 1;
                }
                if i == key_start {
                    return Err((i, "expected a field name after `.`".to_owned()));
                }
                segs.push(Seg::Key(inner[key_start..i].to_owned()));
            }
            b'[' => {
                i += 1;
                skip_ws(&mut i);
                if i < bytes.len() && bytes[i] == b'"' {
                    // A JSON string: find its end, honouring escapes, and decode it with serde_json.
                    let lit_start = i;
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    if i >= bytes.len() {
                        return Err((lit_start, "unterminated string in `[...]`".to_owned()));
                    }
                    i += 1;
                    let key: String = serde_json::from_str(&inner[lit_start..i])
                        .map_err(|e| (lit_start, format!("invalid string in `[...]`: {e}")))?;
                    segs.push(Seg::Key(key));
                } else {
                    let num_start = i;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                    if i == num_start {
                        return Err((i, "expected an index or a quoted key inside `[...]`".to_owned()));
                    }
                    let index = inner[num_start..i]
                        .parse::<usize>()
                        .map_err(|_| (num_start, "the index is too large".to_owned()))?;
                    segs.push(Seg::Index(index));
                }
                skip_ws(&mut i);
                if i >= bytes.len() || bytes[i] != b']' {
                    return Err((i, "expected `]`".to_owned()));
                }
                i += 1;
            }
            c if (c as char).is_ascii_whitespace() => {
                skip_ws(&mut i);
                if i < bytes.len() {
                    return Err((
                        i,
                        "unexpected text after the path: a template holds one path, not an expression".to_owned(),
                    ));
                }
            }
            _ => {
                let found = inner[i..].chars().next().unwrap_or(' ');
                return Err((i, format!("unexpected `{found}` in the path")));
            }
        }
    }
    Ok(Path { root, segs })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(root: &str, segs: Vec<Seg>) -> Path {
        Path { root: root.to_owned(), segs }
    }

    #[test]
    fn literal_value_and_mixed() {
        assert_eq!(parse("plain").unwrap(), Template::Literal("plain".into()));
        assert_eq!(parse("{{ in.url }}").unwrap(), Template::Value(path("in", vec![Seg::Key("url".into())])));
        assert_eq!(
            parse("a {{my-node[0][\"b c\"]}} z").unwrap(),
            Template::Mixed(vec![
                Part::Text("a ".into()),
                Part::Path(path("my-node", vec![Seg::Index(0), Seg::Key("b c".into())])),
                Part::Text(" z".into()),
            ])
        );
    }

    #[test]
    fn errors_point_into_the_string() {
        let e = parse("x {{ in.url").unwrap_err();
        assert_eq!(e.offset, 2);
        let e = parse("{{ in. }}").unwrap_err();
        assert_eq!(e.offset, 6);
        assert!(parse("{{ }}").unwrap_err().message.contains("empty"));
        assert!(parse("{{ a + b }}").unwrap_err().message.contains("one path"));
        assert!(parse("{{ a[x] }}").is_err());
        assert!(parse("oops }}").is_err());
        assert!(parse("{{ a.b and {{ c }}").unwrap_err().message.contains("never closed"));
        assert!(parse("é {{ a[\"unterminated }}").is_err());
    }

    #[test]
    fn display_round_trips() {
        let t = parse("{{ n.a[2][\"x y\"].b }}").unwrap();
        let Template::Value(p) = t else { panic!() };
        assert_eq!(p.display(), "n.a[2][\"x y\"].b");
    }
}
