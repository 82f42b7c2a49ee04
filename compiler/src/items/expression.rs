//! n8n expressions: a parameter value `=text {{ code }} text…`, read into its text and code
//! chunks, each code chunk parsed into the JavaScript subset flowc translates at compile time.
//!
//! The subset is what real workflows write inside `{{ }}`: literals, identifiers (`$json`,
//! `$now`), member access (`.a`, `["a"]`, `?.`), calls (`$('Node').item`, `.toUpperCase()`),
//! unary, binary and logical operators, `??`, the conditional operator, template literals,
//! array and object literals, and arrow functions with an expression body (`t => t.length > 3`).
//! A chunk outside it (a `function`, `new`, an assignment, a regular-expression literal, a
//! spread, …) is `Err`: it runs in the JavaScript engine instead. No crate parses exactly
//! this: JavaScript parsers (swc, oxc, boa's) are whole-language front ends of tens of
//! thousands of lines, and flowc needs only the subset, with n8n's chunking around it.
//!
//! n8n's rules, kept here: a value is an expression only when it is a string starting with
//! `=`; `}}` inside a string or template literal of the code does not end the chunk; an
//! unclosed last `{{` is a chunk of its own (n8n evaluates what it has).

use std::fmt;

/// An expression parameter value, in chunks.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    pub chunks: Vec<Chunk>,
}

/// A piece of an expression value.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk {
    /// Text, as it is.
    Text(String),
    /// The code of a `{{ }}`: its source, and its syntax tree when it is in the subset.
    Code { source: String, parsed: Result<Expr, Unsupported> },
}

impl Expression {
    /// The expression of a parameter value, `None` for a value that is not one (no leading
    /// `=`).
    pub fn parse(value: &str) -> Option<Expression> {
        let text = value.strip_prefix('=')?;
        Some(Expression { chunks: chunks(text) })
    }

    /// Whether the value is exactly one `{{ }}` and nothing else: n8n keeps the code's value
    /// (a number stays a number); with any text around, the value is a string.
    pub fn is_single(&self) -> bool {
        matches!(self.chunks.as_slice(), [Chunk::Code { .. }])
    }

    /// Whether every code chunk is in the subset.
    pub fn is_static(&self) -> bool {
        self.chunks.iter().all(|c| !matches!(c, Chunk::Code { parsed: Err(_), .. }))
    }
}

/// Splits the text after `=` into chunks.
fn chunks(text: &str) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            out.push(Chunk::Text(rest[..open].to_owned()));
        }
        let code = &rest[open + 2..];
        let end = code_end(code);
        let source = code[..end].trim().to_owned();
        let parsed = parse(&source);
        out.push(Chunk::Code { source, parsed });
        rest = code.get(end + 2..).unwrap_or("");
    }
    if !rest.is_empty() {
        out.push(Chunk::Text(rest.to_owned()));
    }
    out
}

/// Where the code of a chunk ends: at the first `}}` outside string and template literals (the
/// end of the text for an unclosed chunk).
fn code_end(code: &str) -> usize {
    let bytes = code.as_bytes();
    let mut i = 0;
    // The quotes open at this point, innermost last; a `${` in a template pushes `}`.
    let mut open: Vec<u8> = Vec::new();
    while i < bytes.len() {
        let b = bytes[i];
        match open.last().copied() {
            Some(q @ (b'\'' | b'"')) => {
                if b == b'\\' {
                    i += 1;
                } else if b == q {
                    open.pop();
                }
            }
            Some(b'`') => {
                if b == b'\\' {
                    i += 1;
                } else if b == b'`' {
                    open.pop();
                } else if b == b'$' && bytes.get(i + 1) == Some(&b'{') {
                    open.push(b'}');
                    i += 1;
                }
            }
            _ => match b {
                b'\'' | b'"' | b'`' => open.push(b),
                b'{' => open.push(b'}'),
                b'}' if open.last() == Some(&b'}') => {
                    open.pop();
                }
                b'}' if bytes.get(i + 1) == Some(&b'}') => return i,
                _ => {}
            },
        }
        i += 1;
    }
    code.len()
}

/// Why a chunk is outside the subset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The byte offset in the chunk's source.
    pub at: usize,
    pub reason: String,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at character {})", self.reason, self.at + 1)
    }
}

/// An expression of the subset.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Null,
    Undefined,
    Bool(bool),
    Number(f64),
    String(String),
    /// A template literal: its text and expression parts, in order.
    Template(Vec<TemplatePart>),
    Ident(String),
    Array(Vec<Expr>),
    Object(Vec<(String, Expr)>),
    /// `object.name`, `object[key]`; `optional` for `?.`.
    Member {
        object: Box<Expr>,
        key: Key,
        optional: bool,
    },
    Call {
        callee: Box<Expr>,
        args: Vec<Expr>,
        optional: bool,
    },
    Unary {
        op: &'static str,
        operand: Box<Expr>,
    },
    Binary {
        op: &'static str,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    Conditional {
        test: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    Arrow {
        params: Vec<String>,
        body: Box<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Key {
    Name(String),
    Computed(Box<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum TemplatePart {
    Text(String),
    Expr(Expr),
}

/// A template literal's raw parts: each text, with the source of the `${}` after it.
type TemplateParts = Vec<(String, Option<String>)>;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    String(String),
    /// A template literal's raw parts.
    Template(TemplateParts),
    Ident(String),
    Punct(&'static str),
}

/// The punctuators of the subset, longest first.
const PUNCTS: &[&str] = &[
    "===", "!==", "?.", "??", "==", "!=", "<=", ">=", "&&", "||", "=>", "(", ")", "[", "]", "{", "}", ",", ".", ":",
    "?", "+", "-", "*", "/", "%", "<", ">", "!",
];

/// Punctuation outside the subset, with why.
const REFUSED: &[(&str, &str)] = &[
    ("...", "a spread"),
    ("**", "the `**` operator"),
    ("=", "an assignment"),
    (";", "a statement"),
    ("&", "a bitwise operator"),
    ("|", "a bitwise operator"),
    ("^", "a bitwise operator"),
    ("~", "a bitwise operator"),
];

fn tokens(source: &str) -> Result<Vec<(usize, Token)>, Unsupported> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = source.char_indices().collect();
    let mut i = 0;
    let fail = |at: usize, reason: &str| Unsupported { at, reason: reason.to_owned() };
    while i < chars.len() {
        let (at, c) = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|(_, d)| d.is_ascii_digit())) {
            let start = i;
            while i < chars.len() && (chars[i].1.is_ascii_alphanumeric() || chars[i].1 == '.') {
                i += 1;
            }
            let end = chars.get(i).map_or(source.len(), |(p, _)| *p);
            let text = &source[at..end];
            let number =
                text.parse::<f64>().map_err(|_| fail(chars[start].0, "a number in a form flowc does not read"))?;
            out.push((at, Token::Number(number)));
            continue;
        }
        if c.is_alphabetic() || c == '_' || c == '$' {
            let mut end = i;
            while end < chars.len() && (chars[end].1.is_alphanumeric() || chars[end].1 == '_' || chars[end].1 == '$') {
                end += 1;
            }
            let stop = chars.get(end).map_or(source.len(), |(p, _)| *p);
            out.push((at, Token::Ident(source[at..stop].to_owned())));
            i = end;
            continue;
        }
        if c == '\'' || c == '"' {
            let (text, next) = string(&chars, i, c).ok_or_else(|| fail(at, "a string that does not end"))?;
            out.push((at, Token::String(text)));
            i = next;
            continue;
        }
        if c == '`' {
            let (parts, next) = template(&chars, i).ok_or_else(|| fail(at, "a template literal that does not end"))?;
            out.push((at, Token::Template(parts)));
            i = next;
            continue;
        }
        let rest = &source[at..];
        if let Some(p) = PUNCTS.iter().find(|p| rest.starts_with(**p)) {
            // `=` after these is an assignment or more (`==` is matched before).
            let refused = REFUSED.iter().find(|(r, _)| rest.starts_with(r) && r.len() > p.len());
            if let Some((_, why)) = refused {
                return Err(fail(at, why));
            }
            if matches!(*p, "+" | "-" | "*" | "/" | "%" | "<" | ">" | "!" | "&&" | "||" | "??")
                && rest[p.len()..].starts_with('=')
                && !matches!(*p, "<" | ">" | "!")
            {
                return Err(fail(at, "an assignment"));
            }
            if (*p == "+" || *p == "-") && rest[1..].starts_with(*p) {
                return Err(fail(at, "an increment or decrement"));
            }
            out.push((at, Token::Punct(p)));
            i += p.chars().count();
            continue;
        }
        let why =
            REFUSED.iter().find(|(r, _)| rest.starts_with(r)).map_or("a character outside the subset", |(_, w)| w);
        return Err(fail(at, why));
    }
    Ok(out)
}

/// A string literal from the quote at `i`: its value, and the index after it.
fn string(chars: &[(usize, char)], i: usize, quote: char) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut j = i + 1;
    while j < chars.len() {
        match chars[j].1 {
            c if c == quote => return Some((out, j + 1)),
            '\\' => {
                j += 1;
                out.push(escaped(chars.get(j)?.1));
            }
            c => out.push(c),
        }
        j += 1;
    }
    None
}

fn escaped(c: char) -> char {
    match c {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        '0' => '\0',
        other => other,
    }
}

/// A template literal from the backtick at `i`: each text part with the `${}` source after it,
/// and the index after it.
fn template(chars: &[(usize, char)], i: usize) -> Option<(TemplateParts, usize)> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut j = i + 1;
    while j < chars.len() {
        match chars[j].1 {
            '`' => {
                parts.push((text, None));
                return Some((parts, j + 1));
            }
            '\\' => {
                j += 1;
                text.push(escaped(chars.get(j)?.1));
            }
            '$' if chars.get(j + 1).is_some_and(|(_, c)| *c == '{') => {
                let mut depth = 1;
                let mut k = j + 2;
                let mut code = String::new();
                while k < chars.len() {
                    match chars[k].1 {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    code.push(chars[k].1);
                    k += 1;
                }
                if k >= chars.len() {
                    return None;
                }
                parts.push((std::mem::take(&mut text), Some(code)));
                j = k;
            }
            c => text.push(c),
        }
        j += 1;
    }
    None
}

/// How deep expressions may nest (parentheses, calls, template literals in template
/// literals): the parser recurses per level, and a document is hostile until checked.
const MAX_DEPTH: usize = 128;

/// Parses one chunk's code.
pub fn parse(source: &str) -> Result<Expr, Unsupported> {
    parse_at(source, 0)
}

fn parse_at(source: &str, depth: usize) -> Result<Expr, Unsupported> {
    if source.is_empty() {
        return Ok(Expr::Undefined);
    }
    let tokens = tokens(source)?;
    let mut parser = Parser { tokens, at: 0, end: source.len(), depth };
    let expr = parser.expression()?;
    match parser.tokens.get(parser.at) {
        None => Ok(expr),
        Some((at, _)) => Err(Unsupported { at: *at, reason: "more after the expression".to_owned() }),
    }
}

/// Keywords that begin what the subset does not have.
const REFUSED_WORDS: &[&str] = &[
    "function",
    "new",
    "class",
    "let",
    "const",
    "var",
    "return",
    "if",
    "for",
    "while",
    "do",
    "switch",
    "try",
    "throw",
    "delete",
    "void",
    "in",
    "instanceof",
    "yield",
    "await",
    "async",
    "this",
    "super",
    "import",
    "with",
];

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    /// The source's length: where "the end" is.
    end: usize,
    /// How many expressions the one being parsed is inside.
    depth: usize,
}

/// Binary operators by precedence, lowest first.
const LEVELS: &[&[&str]] =
    &[&["??"], &["||"], &["&&"], &["==", "!=", "===", "!=="], &["<", ">", "<=", ">="], &["+", "-"], &["*", "/", "%"]];

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn offset(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |(at, _)| *at)
    }

    fn fail<T>(&self, reason: impl Into<String>) -> Result<T, Unsupported> {
        Err(Unsupported { at: self.offset(), reason: reason.into() })
    }

    fn eat(&mut self, punct: &str) -> bool {
        if matches!(self.peek(), Some(Token::Punct(p)) if *p == punct) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, punct: &str) -> Result<(), Unsupported> {
        if self.eat(punct) {
            Ok(())
        } else {
            self.fail(format!("`{punct}` expected"))
        }
    }

    fn expression(&mut self) -> Result<Expr, Unsupported> {
        if self.depth >= MAX_DEPTH {
            return self.fail(format!("more than {MAX_DEPTH} levels of nesting"));
        }
        self.depth += 1;
        let expr = self.conditional();
        self.depth -= 1;
        expr
    }

    fn conditional(&mut self) -> Result<Expr, Unsupported> {
        if let Some(arrow) = self.arrow()? {
            return Ok(arrow);
        }
        let test = self.binary(0)?;
        if !self.eat("?") {
            return Ok(test);
        }
        let then = self.expression()?;
        self.expect(":")?;
        let otherwise = self.expression()?;
        Ok(Expr::Conditional { test: Box::new(test), then: Box::new(then), otherwise: Box::new(otherwise) })
    }

    /// `x => body` or `(x, y) => body`, if that is what comes.
    fn arrow(&mut self) -> Result<Option<Expr>, Unsupported> {
        let start = self.at;
        let params = match self.peek() {
            Some(Token::Ident(name)) if matches!(self.tokens.get(self.at + 1), Some((_, Token::Punct("=>")))) => {
                let name = name.clone();
                self.at += 2;
                vec![name]
            }
            Some(Token::Punct("(")) => {
                let mut j = self.at + 1;
                let mut params = Vec::new();
                loop {
                    match self.tokens.get(j).map(|(_, t)| t) {
                        Some(Token::Punct(")")) if params.is_empty() => break,
                        Some(Token::Ident(name)) => {
                            params.push(name.clone());
                            j += 1;
                            match self.tokens.get(j).map(|(_, t)| t) {
                                Some(Token::Punct(",")) => j += 1,
                                Some(Token::Punct(")")) => break,
                                _ => return Ok(None),
                            }
                        }
                        _ => return Ok(None),
                    }
                }
                if !matches!(self.tokens.get(j + 1), Some((_, Token::Punct("=>")))) {
                    return Ok(None);
                }
                self.at = j + 2;
                params
            }
            _ => return Ok(None),
        };
        if matches!(self.peek(), Some(Token::Punct("{"))) {
            self.at = start;
            return self.fail("an arrow function with a block body");
        }
        let body = self.expression()?;
        Ok(Some(Expr::Arrow { params, body: Box::new(body) }))
    }

    fn binary(&mut self, level: usize) -> Result<Expr, Unsupported> {
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        while let Some(op) = self.peek().and_then(|t| match t {
            Token::Punct(p) => LEVELS[level].iter().find(|op| *op == p).copied(),
            _ => None,
        }) {
            self.at += 1;
            let right = self.binary(level + 1)?;
            left = Expr::Binary { op, left: Box::new(left), right: Box::new(right) };
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, Unsupported> {
        for op in ["!", "-", "+"] {
            if self.eat(op) {
                // `!!!!…` nests as deep as parentheses do.
                let operand = self.expression_of(Self::unary)?;
                return Ok(Expr::Unary { op, operand: Box::new(operand) });
            }
        }
        if matches!(self.peek(), Some(Token::Ident(w)) if w == "typeof") {
            self.at += 1;
            let operand = self.expression_of(Self::unary)?;
            return Ok(Expr::Unary { op: "typeof", operand: Box::new(operand) });
        }
        self.postfix()
    }

    /// `parse` one level deeper.
    fn expression_of(&mut self, parse: fn(&mut Parser) -> Result<Expr, Unsupported>) -> Result<Expr, Unsupported> {
        if self.depth >= MAX_DEPTH {
            return self.fail(format!("more than {MAX_DEPTH} levels of nesting"));
        }
        self.depth += 1;
        let expr = parse(self);
        self.depth -= 1;
        expr
    }

    fn postfix(&mut self) -> Result<Expr, Unsupported> {
        let mut expr = self.primary()?;
        loop {
            let optional = self.eat("?.");
            if self.eat(".") || (optional && matches!(self.peek(), Some(Token::Ident(_)))) {
                let Some(Token::Ident(name)) = self.peek().cloned() else {
                    return self.fail("a property name expected");
                };
                self.at += 1;
                expr = Expr::Member { object: Box::new(expr), key: Key::Name(name), optional };
            } else if self.eat("[") {
                let key = self.expression()?;
                self.expect("]")?;
                let key = match key {
                    Expr::String(name) => Key::Name(name),
                    other => Key::Computed(Box::new(other)),
                };
                expr = Expr::Member { object: Box::new(expr), key, optional };
            } else if self.eat("(") {
                let args = self.list(")")?;
                expr = Expr::Call { callee: Box::new(expr), args, optional };
            } else if optional {
                return self.fail("a property, index or call expected after `?.`");
            } else {
                return Ok(expr);
            }
        }
    }

    /// Comma-separated expressions up to `close`.
    fn list(&mut self, close: &str) -> Result<Vec<Expr>, Unsupported> {
        let mut items = Vec::new();
        while !self.eat(close) {
            items.push(self.expression()?);
            if !self.eat(",") {
                self.expect(close)?;
                break;
            }
        }
        Ok(items)
    }

    fn primary(&mut self) -> Result<Expr, Unsupported> {
        let Some(token) = self.peek().cloned() else { return self.fail("an expression expected") };
        let at = self.offset();
        self.at += 1;
        Ok(match token {
            Token::Number(n) => Expr::Number(n),
            Token::String(s) => Expr::String(s),
            Token::Template(parts) => {
                let mut out = Vec::new();
                for (text, code) in parts {
                    if !text.is_empty() {
                        out.push(TemplatePart::Text(text));
                    }
                    if let Some(code) = code {
                        let inner =
                            parse_at(code.trim(), self.depth + 1).map_err(|e| Unsupported { at, reason: e.reason })?;
                        out.push(TemplatePart::Expr(inner));
                    }
                }
                Expr::Template(out)
            }
            Token::Ident(word) => match word.as_str() {
                "null" => Expr::Null,
                "undefined" => Expr::Undefined,
                "true" => Expr::Bool(true),
                "false" => Expr::Bool(false),
                w if REFUSED_WORDS.contains(&w) => {
                    self.at -= 1;
                    return self.fail(format!("`{w}`"));
                }
                _ => Expr::Ident(word),
            },
            Token::Punct("(") => {
                let inner = self.expression()?;
                self.expect(")")?;
                inner
            }
            Token::Punct("[") => Expr::Array(self.list("]")?),
            Token::Punct("{") => {
                let mut fields = Vec::new();
                while !self.eat("}") {
                    let key = match self.peek().cloned() {
                        Some(Token::Ident(k)) | Some(Token::String(k)) => k,
                        _ => return self.fail("an object key expected"),
                    };
                    self.at += 1;
                    self.expect(":")?;
                    fields.push((key, self.expression()?));
                    if !self.eat(",") {
                        self.expect("}")?;
                        break;
                    }
                }
                Expr::Object(fields)
            }
            Token::Punct("/") => {
                self.at -= 1;
                return self.fail("a regular-expression literal");
            }
            Token::Punct(p) => {
                self.at -= 1;
                return self.fail(format!("`{p}` where an expression was expected"));
            }
        })
    }
}

/// Which items a data reference reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The item the parameter is evaluated on: `$json`, `$input.item.json`.
    Current,
    /// The node's input: `$input.first()`, `.last()`, `.all()`.
    Input(Pick),
    /// Another node's items: `$('Name').item`, `.first()`, `.last()`, `.all()`.
    Node { name: String, pick: Pick },
    /// Another node's item at the same index, without following pairing: the legacy
    /// `$node["Name"].json`.
    NodeAtIndex(String),
}

/// Which of a node's items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// The item the current one came from (`.item`, following paired items).
    Item,
    First,
    Last,
    /// Every item, as an array (the path that follows indexes that array).
    All,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Key(String),
    Index(u64),
}

/// A read of workflow data, as a path: where from, and the steps into the item's `json` (or,
/// for [`Pick::All`], into the array of items).
#[derive(Debug, Clone, PartialEq)]
pub struct DataRef {
    pub source: Source,
    pub path: Vec<Step>,
}

/// The data reference `expr` is, when it is nothing but one (`$json.user.name`,
/// `$('Fetch').item.json.id`, `$input.first().json["a b"][0]`).
pub fn data_ref(expr: &Expr) -> Option<DataRef> {
    // The steps from the outside in, reversed at the end.
    let mut steps = Vec::new();
    let mut at = expr;
    loop {
        if let Some(source) = item_source(at) {
            steps.reverse();
            return Some(DataRef { source, path: steps });
        }
        if let Some((source, rest)) = items_source(at) {
            // `.all()` is an array of items: what follows indexes it.
            let mut path = rest;
            steps.reverse();
            path.extend(steps);
            return Some(DataRef { source, path });
        }
        match at {
            Expr::Member { object, key, optional: false } => {
                steps.push(step(key)?);
                at = object;
            }
            _ => return None,
        }
    }
}

fn step(key: &Key) -> Option<Step> {
    match key {
        Key::Name(name) => Some(Step::Key(name.clone())),
        Key::Computed(index) => match **index {
            Expr::Number(n) if n >= 0.0 && n.fract() == 0.0 && n < 9.0e15 => Some(Step::Index(n as u64)),
            _ => None,
        },
    }
}

/// The source of an item's `json`: `expr` is `$json`, or `<one item>.json`.
fn item_source(expr: &Expr) -> Option<Source> {
    match expr {
        Expr::Ident(name) if name == "$json" => Some(Source::Current),
        Expr::Member { object, key: Key::Name(json), optional: false } if json == "json" => one_item(object),
        _ => None,
    }
}

/// The source of one item: `$input.item`, `$input.first()`, `$('N').item`, `$('N').last()`,
/// `$node["N"]`.
fn one_item(expr: &Expr) -> Option<Source> {
    match expr {
        Expr::Member { object, key: Key::Name(item), optional: false } if item == "item" => match &**object {
            Expr::Ident(input) if input == "$input" => Some(Source::Current),
            other => node_name(other).map(|name| Source::Node { name, pick: Pick::Item }),
        },
        Expr::Member { object, key: Key::Name(name), optional: false } if matches!(&**object, Expr::Ident(n) if n == "$node") => {
            Some(Source::NodeAtIndex(name.clone()))
        }
        Expr::Call { callee, args, optional: false } if args.is_empty() => {
            let Expr::Member { object, key: Key::Name(method), optional: false } = &**callee else { return None };
            let pick = match method.as_str() {
                "first" => Pick::First,
                "last" => Pick::Last,
                _ => return None,
            };
            match &**object {
                Expr::Ident(input) if input == "$input" => Some(Source::Input(pick)),
                other => node_name(other).map(|name| Source::Node { name, pick }),
            }
        }
        _ => None,
    }
}

/// `$input.all()` or `$('N').all()`, with the steps into the array already taken (none).
fn items_source(expr: &Expr) -> Option<(Source, Vec<Step>)> {
    let Expr::Call { callee, args, optional: false } = expr else { return None };
    let Expr::Member { object, key: Key::Name(method), optional: false } = &**callee else { return None };
    if method != "all" || !args.is_empty() {
        return None;
    }
    match &**object {
        Expr::Ident(input) if input == "$input" => Some((Source::Input(Pick::All), Vec::new())),
        other => node_name(other).map(|name| (Source::Node { name, pick: Pick::All }, Vec::new())),
    }
}

/// The node `$('Name')` names.
fn node_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Call { callee, args, optional: false } if matches!(&**callee, Expr::Ident(f) if f == "$") => {
            match args.as_slice() {
                [Expr::String(name)] => Some(name.clone()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Every node an expression names, by `$('Name')` or `$node["Name"]`, in order, each once:
/// what the importer checks against the workflow's nodes.
pub fn node_names(expr: &Expr) -> Vec<String> {
    let mut names = Vec::new();
    walk(expr, &mut |e| {
        let name = match e {
            Expr::Member { object, key: Key::Name(name), .. } if matches!(&**object, Expr::Ident(n) if n == "$node") => {
                Some(name.clone())
            }
            other => node_name(other),
        };
        if let Some(name) = name.filter(|n| !names.contains(n)) {
            names.push(name);
        }
    });
    names
}

/// Calls `visit` on `expr` and every expression inside it.
fn walk(expr: &Expr, visit: &mut dyn FnMut(&Expr)) {
    visit(expr);
    match expr {
        Expr::Template(parts) => {
            for part in parts {
                if let TemplatePart::Expr(e) = part {
                    walk(e, visit);
                }
            }
        }
        Expr::Array(items) => items.iter().for_each(|e| walk(e, visit)),
        Expr::Object(fields) => fields.iter().for_each(|(_, e)| walk(e, visit)),
        Expr::Member { object, key, .. } => {
            walk(object, visit);
            if let Key::Computed(k) = key {
                walk(k, visit);
            }
        }
        Expr::Call { callee, args, .. } => {
            walk(callee, visit);
            args.iter().for_each(|e| walk(e, visit));
        }
        Expr::Unary { operand, .. } => walk(operand, visit),
        Expr::Binary { left, right, .. } => {
            walk(left, visit);
            walk(right, visit);
        }
        Expr::Conditional { test, then, otherwise } => {
            walk(test, visit);
            walk(then, visit);
            walk(otherwise, visit);
        }
        Expr::Arrow { body, .. } => walk(body, visit),
        Expr::Null | Expr::Undefined | Expr::Bool(_) | Expr::Number(_) | Expr::String(_) | Expr::Ident(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(value: &str) -> Result<Expr, Unsupported> {
        match Expression::parse(value).unwrap().chunks.as_slice() {
            [Chunk::Code { parsed, .. }] => parsed.clone(),
            other => panic!("{value}: {other:?}"),
        }
    }

    fn ident(name: &str) -> Box<Expr> {
        Box::new(Expr::Ident(name.to_owned()))
    }

    fn member(object: Box<Expr>, name: &str) -> Box<Expr> {
        Box::new(Expr::Member { object, key: Key::Name(name.to_owned()), optional: false })
    }

    #[test]
    fn values_are_expressions_only_with_a_leading_equals_sign() {
        assert_eq!(Expression::parse("{{ $json.a }}"), None);
        assert_eq!(Expression::parse("=TRUE").unwrap().chunks, [Chunk::Text("TRUE".into())]);
        assert!(Expression::parse("=").unwrap().chunks.is_empty());
        let mixed = Expression::parse("=Hello {{ $json.name }}, you are {{ $json.age }}!").unwrap();
        assert_eq!(mixed.chunks.len(), 5);
        assert!(!mixed.is_single() && mixed.is_static());
        assert_eq!(mixed.chunks[0], Chunk::Text("Hello ".into()));
        assert_eq!(mixed.chunks[4], Chunk::Text("!".into()));
        assert!(Expression::parse("={{ $json.n }}").unwrap().is_single());
        assert!(!Expression::parse("={{ $json.n }} ").unwrap().is_single(), "a trailing space makes it a string");
    }

    #[test]
    fn braces_inside_strings_and_templates_do_not_end_a_chunk() {
        let e = Expression::parse("={{ '}}' + `a${ {b: 1}.b }}}` }} after").unwrap();
        let Chunk::Code { source, parsed } = &e.chunks[0] else { panic!("{e:?}") };
        assert_eq!(source, "'}}' + `a${ {b: 1}.b }}}`");
        assert!(parsed.is_ok(), "{parsed:?}");
        assert_eq!(e.chunks[1], Chunk::Text(" after".into()));
        // An unclosed chunk runs to the end.
        let e = Expression::parse("=a {{ $json.x").unwrap();
        assert!(matches!(&e.chunks[1], Chunk::Code { source, .. } if source == "$json.x"));
    }

    #[test]
    fn paths_calls_and_operators_parse() {
        assert_eq!(code("={{ $json.user.name }}").unwrap(), *member(member(ident("$json"), "user"), "name"));
        let item = code("={{ $('Fetch user').item.json[\"first name\"] }}").unwrap();
        let call =
            Box::new(Expr::Call { callee: ident("$"), args: vec![Expr::String("Fetch user".into())], optional: false });
        assert_eq!(item, *member(member(member(call, "item"), "json"), "first name"));
        assert!(matches!(code("={{ $json.a?.b }}").unwrap(), Expr::Member { optional: true, .. }));
        let sum = code("={{ 1 + 2 * 3 }}").unwrap();
        assert!(matches!(&sum, Expr::Binary { op: "+", right, .. } if matches!(**right, Expr::Binary { op: "*", .. })));
        let test = code("={{ $json.n > 3 && !$json.off ? 'big' : $json.n ?? 0 }}").unwrap();
        assert!(matches!(test, Expr::Conditional { .. }));
        let arrow = code("={{ $json.tags.filter(t => t.length > 3).join(', ') }}").unwrap();
        let Expr::Call { callee, .. } = arrow else { panic!() };
        let Expr::Member { object, .. } = *callee else { panic!() };
        let Expr::Call { args, .. } = *object else { panic!() };
        assert!(matches!(&args[0], Expr::Arrow { params, .. } if params == &["t"]));
        assert!(matches!(code("={{ (a, b) => a + b }}").unwrap(), Expr::Arrow { params, .. } if params.len() == 2));
        assert!(matches!(code("={{ `Hi ${$json.name}!` }}").unwrap(), Expr::Template(parts) if parts.len() == 3));
        assert!(matches!(code("={{ {a: 1, 'b c': [1, 2.5, -3]} }}").unwrap(), Expr::Object(f) if f.len() == 2));
        assert_eq!(code("={{ }}").unwrap(), Expr::Undefined);
        assert_eq!(code("={{ 'it\\'s' }}").unwrap(), Expr::String("it's".into()));
    }

    #[test]
    fn what_the_subset_lacks_is_refused_with_where_and_why() {
        for (value, why) in [
            ("={{ function () { return 1 } }}", "`function`"),
            ("={{ new Date() }}", "`new`"),
            ("={{ $json.a = 1 }}", "an assignment"),
            ("={{ $json.a += 1 }}", "an assignment"),
            ("={{ x++ }}", "an increment or decrement"),
            ("={{ /a+/.test($json.s) }}", "a regular-expression literal"),
            ("={{ [...$json.list] }}", "a spread"),
            ("={{ a; b }}", "a statement"),
            ("={{ a | b }}", "a bitwise operator"),
            ("={{ x => { return x } }}", "an arrow function with a block body"),
            ("={{ 'open }}", "a string that does not end"),
            ("={{ a b }}", "more after the expression"),
        ] {
            let error = code(value).unwrap_err();
            assert_eq!(error.reason, why, "{value}");
        }
        assert_eq!(code("={{ a b }}").unwrap_err().at, 2);
        // Hostile nesting is refused, not a stack overflow.
        for deep in [
            "(".repeat(100_000) + "1" + &")".repeat(100_000),
            "!".repeat(100_000) + "x",
            "`${".repeat(5_000) + "1" + &"}`".repeat(5_000),
        ] {
            let error = parse(&deep).unwrap_err();
            assert!(error.reason.contains("levels of nesting"), "{error}");
        }
        let e = Expression::parse("=x {{ new Date() }}").unwrap();
        assert!(!e.is_static());
    }

    fn path(value: &str) -> Option<DataRef> {
        data_ref(&code(value).unwrap())
    }

    fn keys(names: &[&str]) -> Vec<Step> {
        names.iter().map(|n| Step::Key((*n).to_owned())).collect()
    }

    #[test]
    fn data_references_are_read_as_paths() {
        assert_eq!(
            path("={{ $json.user.name }}"),
            Some(DataRef { source: Source::Current, path: keys(&["user", "name"]) })
        );
        assert_eq!(path("={{ $json }}"), Some(DataRef { source: Source::Current, path: vec![] }));
        assert_eq!(path("={{ $input.item.json.id }}"), Some(DataRef { source: Source::Current, path: keys(&["id"]) }));
        let fetch = |pick| Source::Node { name: "Fetch user".into(), pick };
        assert_eq!(
            path("={{ $('Fetch user').item.json['first name'][0] }}"),
            Some(DataRef { source: fetch(Pick::Item), path: vec![Step::Key("first name".into()), Step::Index(0)] })
        );
        assert_eq!(path("={{ $('Fetch user').last().json.id }}").unwrap().source, fetch(Pick::Last));
        assert_eq!(path("={{ $input.first().json.id }}").unwrap().source, Source::Input(Pick::First));
        assert_eq!(
            path("={{ $('Fetch user').all().length }}"),
            Some(DataRef { source: fetch(Pick::All), path: keys(&["length"]) })
        );
        assert_eq!(
            path("={{ $node[\"Fetch user\"].json.id }}").unwrap().source,
            Source::NodeAtIndex("Fetch user".into())
        );
        // Not a path: a call on it, a computed key, optional chaining, another variable.
        for value in [
            "={{ $json.name.toUpperCase() }}",
            "={{ $json[$json.key] }}",
            "={{ $json.a?.b }}",
            "={{ $now }}",
            "={{ $('A').item.binary }}",
        ] {
            assert_eq!(path(value), None, "{value}");
        }
    }

    #[test]
    fn every_node_an_expression_names_is_found() {
        let e = code("={{ $('A').item.json.x + $node['B'].json.y + `${$('A').first().json.z}` + $('C').isExecuted }}")
            .unwrap();
        assert_eq!(node_names(&e), ["A", "B", "C"]);
    }
}
