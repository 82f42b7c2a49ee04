//! `code`: a block of Rust, parsed with syn at compile time. `input` (the node's input, a
//! `&serde_json::Value`) is in scope; the block returns a `Value`, or a `Result<Value, E>`
//! when it ends in `Ok(..)`/`Err(..)` or uses `?`.

use proc_macro2::{TokenStream, TokenTree};
use quote::{format_ident, quote};

use super::{CheckCx, TypeCx};
use crate::types::Type;
use crate::check::reader::{Field, Ty};
use crate::diag::{Code, Diagnostic};
use crate::emit::{EmitCx, EmitError, NodeCode};

pub const FIELDS: &[Field] = &[
    Field::req(
        "rust",
        Ty::Rust,
        "the statements of a block; `input: &serde_json::Value` is in scope, `json!` and `Value` are imported",
    ),
    Field::opt(
        "output_schema",
        Ty::Schema,
        "a JSON Schema subset the block's value must match (checked when it runs); what reads the node is checked against it",
    ),
];

#[derive(Debug, Clone)]
pub struct Config {
    /// The statements as written; checked to parse as a block. The generated function holds
    /// them verbatim, comments and layout included.
    pub source: String,
    /// Whether the block yields a `Result`.
    pub fallible: bool,
    /// Whether the block reads `input`.
    pub reads_input: bool,
    /// Whether a string literal in it spans lines (then its lines are not re-indented).
    pub multiline_literal: bool,
    /// The schema the value must match.
    pub output_schema: Option<serde_json::Value>,
}

pub fn check(cx: &mut CheckCx<'_>) -> Option<Config> {
    let (mut r, sink, node) = cx.read(FIELDS)?;
    let pointer = r.pointer.clone();
    let source = r.string(sink, "rust");
    let output_schema = super::schema_field(&mut r, sink, "output_schema");
    let ok = r.ok;
    let source = source?;
    // syn recurses per nesting level: a deep block would overflow the stack before it could
    // say anything.
    let (deepest, _) = flowc_core::jq::complexity(source);
    if deepest > flowc_core::jq::MAX_NESTING {
        sink.push(
            Diagnostic::new(
                Code::E020,
                format!("{pointer}/rust"),
                format!(
                    "the Rust of node `{}` nests brackets {deepest} levels deep; at most {} are allowed",
                    node.id,
                    flowc_core::jq::MAX_NESTING
                ),
            )
            .help("move the deep part into a helper function or a literal the code reads"),
        );
        return None;
    }
    // rustc denies these anywhere in source ("Trojan Source"); an escape in a literal is fine.
    if let Some((line, column, c)) = source.lines().enumerate().find_map(|(i, text)| {
        text.chars().position(crate::escape::is_bidi).map(|at| (i + 1, at + 1, text.chars().nth(at).unwrap_or(' ')))
    }) {
        let code = format!("{:x}", c as u32);
        sink.push(
            Diagnostic::new(
                Code::E020,
                format!("{pointer}/rust"),
                format!("the Rust of node `{}` holds the bidirectional control U+{} (line {line}, column {column} of the code), which rustc refuses", node.id, code.to_uppercase()),
            )
            .help(format!("in a string or char literal write it as `\\u{{{code}}}`; elsewhere remove it")),
        );
        return None;
    }
    let text = format!("{{\n{source}\n}}");
    let block = match syn::parse_str::<syn::Block>(&text) {
        Ok(block) => block,
        Err(error) => {
            let start = error.span().start();
            // Line 1 of the parsed text is the `{` we added.
            let (line, column) = (start.line.saturating_sub(1).max(1), start.column + 1);
            sink.push(
                Diagnostic::new(Code::E020, format!("{pointer}/rust"), format!("the Rust of node `{}` does not parse: {error} (line {line}, column {column} of the code)", node.id))
                    .help("`rust` holds the statements of a block, e.g. \"let n = input[\\\"n\\\"].as_i64().unwrap_or(0); json!({\\\"double\\\": n * 2})\""),
            );
            return None;
        }
    };
    let yields_value = match block.stmts.last() {
        Some(syn::Stmt::Expr(_, None)) => true,
        Some(syn::Stmt::Macro(m)) => m.semi_token.is_none(),
        Some(syn::Stmt::Expr(syn::Expr::Return(_), Some(_))) => true,
        _ => false,
    };
    if !yields_value {
        sink.push(
            Diagnostic::new(Code::E020, format!("{pointer}/rust"), format!("the Rust of node `{}` yields nothing: its last line must be the value it returns", node.id))
                .help("end the block with an expression and no `;`, such as `json!({\"n\": n})`, or `Ok(json!(...))` for a block that uses `?`"),
        );
        return None;
    }
    let tokens = quote! { #block };
    ok.then(|| Config {
        source: source.to_owned(),
        fallible: is_fallible(&block),
        reads_input: any_token(tokens.clone(), &|t| matches!(t, TokenTree::Ident(i) if i == "input")),
        multiline_literal: any_token(tokens, &|t| matches!(t, TokenTree::Literal(l) if l.to_string().contains('\n'))),
        output_schema,
    })
}

/// A block yields a `Result` when its tail is `Ok(..)` or `Err(..)`, or it uses `?`.
fn is_fallible(block: &syn::Block) -> bool {
    let tail_is_result = match block.stmts.last() {
        Some(syn::Stmt::Expr(syn::Expr::Call(call), None)) => {
            matches!(&*call.func, syn::Expr::Path(p) if p.path.is_ident("Ok") || p.path.is_ident("Err"))
        }
        _ => false,
    };
    tail_is_result || any_token(quote! { #block }, &|t| matches!(t, TokenTree::Punct(p) if p.as_char() == '?'))
}

/// Whether any token, at any depth, satisfies `test`.
fn any_token(tokens: TokenStream, test: &dyn Fn(&TokenTree) -> bool) -> bool {
    tokens.into_iter().any(|t| match &t {
        TokenTree::Group(g) => any_token(g.stream(), test),
        other => test(other),
    })
}

/// The marker statement the emitter replaces with the block's source, after formatting.
pub const VERBATIM_MARKER: &str = "__flowc_code_block!();";

pub fn emit(cx: &EmitCx<'_>, config: &Config) -> Result<NodeCode, EmitError> {
    let name = format_ident!("code_{}", cx.node.name);
    let doc = format!(" The Rust of node `{}`, as written at {}/config/rust.", cx.node.id, cx.node.pointer);
    let (returns, call) = if config.fallible {
        (
            quote! { ::std::result::Result<rt::serde_json::Value, rt::code::BoxError> },
            quote! { #name(&input).map_err(rt::code::error)? },
        )
    } else {
        (quote! { rt::serde_json::Value }, quote! { #name(&input) })
    };
    let param = if config.reads_input { format_ident!("input") } else { format_ident!("_input") };
    // The block goes in as written (syn would drop its comments): the formatted function
    // holds a marker statement that is then replaced by the source. The source parsed as a
    // block, so its delimiters balance and it cannot reach outside the function.
    let marker: TokenStream = VERBATIM_MARKER.parse().unwrap_or_default();
    let item = quote! {
        #[doc = #doc]
        #[allow(unused_imports)]
        fn #name(#param: &rt::serde_json::Value) -> #returns {
            use ::serde_json::{json, Value};
            #marker
        }
    };
    let indent = if config.multiline_literal { "" } else { "    " };
    let mut verbatim = String::new();
    for line in config.source.trim_matches('\n').lines() {
        if !line.trim().is_empty() {
            verbatim.push_str(indent);
            verbatim.push_str(line.trim_end());
        }
        verbatim.push('\n');
    }
    let Some(schema) = &config.output_schema else {
        return Ok(NodeCode::body(quote! {
            let input = cx.input();
            Ok(rt::Output::data(#call))
        })
        .with_item(item)
        .with_verbatim(verbatim));
    };
    let schema_name = format_ident!("OUTPUT_SCHEMA_{}", cx.node.name.to_uppercase());
    let text = crate::escape::json_compact(schema);
    let schema_doc = format!(" The `output_schema` of node `{}`: the block's value must match it.", cx.node.id);
    let what = format!("the value of code node `{}`", cx.node.id);
    Ok(NodeCode::body(quote! {
        let input = cx.input();
        let value = #call;
        let value = rt::input::conform(#schema_name, value, "", #what, "output_schema")?;
        Ok(rt::Output::data(value))
    })
    .with_item(item)
    .with_item(quote! {
        #[doc = #schema_doc]
        const #schema_name: &str = #text;
    })
    .with_verbatim(verbatim))
}

pub struct CodeKind;

impl super::Kind for CodeKind {
    fn name(&self) -> &'static str {
        "code"
    }

    fn summary(&self) -> &'static str {
        "Runs a block of Rust written in the flow document."
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn check(&self, cx: &mut CheckCx<'_>) -> Option<super::Config> {
        check(cx).map(super::config)
    }
}

impl super::NodeConfig for Config {
    fn output_type(&self, _cx: &TypeCx<'_>) -> Type {
        self.output_schema.as_ref().map_or(Type::Any, Type::of_schema)
    }

    fn emit(&self, cx: &EmitCx<'_>) -> Result<NodeCode, EmitError> {
        emit(cx, self)
    }

    fn describe(&self) -> Vec<String> {
        let mut lines = vec![format!("Runs the Rust block of its config on its input{}.", if self.fallible { " (it may fail)" } else { "" })];
        if self.output_schema.is_some() {
            lines.push("The block's value must match its `output_schema`.".to_owned());
        }
        lines
    }
}
