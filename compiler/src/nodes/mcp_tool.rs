//! `mcp_tool`: call a tool of an MCP server, over stdio or Streamable HTTP.
//!
//! Nodes that describe the same server (transport, allowed directories and credential alike)
//! share one session per run; the generated program has one `static` per distinct server,
//! named after the first node that uses it.

use crate::types::Type;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{CheckCx, TypeCx};
use crate::check::reader::{Field, Json, Reader, Ty};
use crate::diag::{Code, Diagnostic};
use crate::emit::{EmitCx, EmitError, NodeCode};

const STDIO_FIELDS: &[Field] = &[
    Field::req("transport", Ty::Enum(&["stdio"]), "\"stdio\": start the server as a child process"),
    Field::req("command", Ty::String, "the program to start (found on PATH)"),
    Field::opt("args", Ty::StringList, "its arguments"),
    Field::opt("env", Ty::StringMap, "environment variables for it (it inherits only PATH, HOME and a few more)"),
    Field::opt("cwd", Ty::String, "its working directory"),
    Field::opt("credential_env", Ty::String, "the environment variable that carries the node's credential"),
];

const HTTP_FIELDS: &[Field] = &[
    Field::req("transport", Ty::Enum(&["http"]), "\"http\": connect over Streamable HTTP"),
    Field::req("url", Ty::String, "the server's MCP endpoint (http or https)"),
    Field::opt("headers", Ty::StringMap, "headers sent with every request"),
];

pub const FIELDS: &[Field] = &[
    Field::req(
        "server",
        Ty::Tagged { tag: "transport", variants: &[("stdio", STDIO_FIELDS), ("http", HTTP_FIELDS)] },
        "the MCP server: {\"transport\": \"stdio\", \"command\", ...} or {\"transport\": \"http\", \"url\", ...}",
    ),
    Field::req("tool", Ty::String, "the name of the tool to call"),
    Field::opt("arguments", Ty::Json, "the tool's arguments, an object; strings inside may hold templates"),
    Field::opt(
        "allowed_directories",
        Ty::StringList,
        "the directories the tool may touch: given to the server as its roots, and path arguments outside them are refused",
    ),
    Field::opt(
        "output_schema",
        Ty::Schema,
        "a JSON Schema subset the result's structured content must match (checked when it arrives); what reads `structured_content` is checked against it",
    ),
];

/// How to reach a server.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    Stdio {
        command: String,
        args: Vec<String>,
        env: Vec<(String, String)>,
        cwd: Option<String>,
        credential_env: Option<String>,
    },
    Http {
        url: String,
        headers: Vec<(String, String)>,
    },
}

/// One server, as the nodes that use it describe it: nodes with equal `Server`s share a
/// session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Server {
    pub transport: Transport,
    pub allowed_directories: Vec<String>,
    pub credential: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub server: Server,
    pub tool: String,
    pub arguments: Json,
    /// The schema the result's `structured_content` must match.
    pub output_schema: Option<serde_json::Value>,
}

pub fn check(cx: &mut CheckCx<'_>) -> Option<Config> {
    let (mut r, sink, node) = cx.read(FIELDS)?;
    let what = r.what().to_owned();
    let transport = r.get("server").and_then(|server| read_transport(sink, server, &r.child("server"), node));
    r.ok &= transport.is_some() || r.get("server").is_none();
    let tool = r.string(sink, "tool");
    if tool.is_some_and(|t| t.trim().is_empty()) {
        r.invalid(sink, "tool", format!("`tool` in {what} is empty"), "name the tool to call".to_owned());
    }
    let arguments = r.json(sink, "arguments").unwrap_or(Json::Object(Vec::new()));
    let output_schema = super::schema_field(&mut r, sink, "output_schema");
    if !matches!(arguments, Json::Object(_)) {
        let found = r.get("arguments").map(crate::check::reader::type_name).unwrap_or("null");
        sink.push(
            Diagnostic::new(
                Code::E002,
                r.child("arguments"),
                format!("`arguments` in {what} must be an object, not {found}"),
            )
            .help("write the arguments as {\"name\": value, ...}; a template may fill a value"),
        );
        r.ok = false;
    }
    let allowed_directories = r.string_list(sink, "allowed_directories").unwrap_or_default();
    if let Some(i) = allowed_directories.iter().position(|d| d.trim().is_empty()) {
        sink.push(
            Diagnostic::new(
                Code::E015,
                format!("{}/{i}", r.child("allowed_directories")),
                "an allowed directory is empty",
            )
            .help("write a directory path, absolute or relative to where the program runs"),
        );
        r.ok = false;
    }
    match (r.ok, transport, tool) {
        (true, Some(transport), Some(tool)) => Some(Config {
            server: Server { transport, allowed_directories, credential: node.credential.clone() },
            tool: tool.to_owned(),
            arguments,
            output_schema,
        }),
        _ => None,
    }
}

fn read_transport(
    sink: &mut crate::check::reader::Sink,
    server: &serde_json::Value,
    pointer: &str,
    node: &crate::model::Node,
) -> Option<Transport> {
    let what = format!("the server of node `{}`", node.id);
    let transport = server.get("transport");
    let fields =
        match transport.and_then(|t| t.as_str()) {
            Some("stdio") => STDIO_FIELDS,
            Some("http") => HTTP_FIELDS,
            _ if !server.is_object() => STDIO_FIELDS, // Reader::new reports the wrong type.
            found => {
                let message = match (found, transport) {
                    (Some(found), _) => format!("{what} has the transport `{found}`, which is not allowed"),
                    (None, Some(_)) => format!("`transport` in {what} must be a string"),
                    (None, None) => format!("{what} is missing the required field `transport`"),
                };
                let (code, at) = match transport {
                    Some(_) => (Code::E015, format!("{pointer}/transport")),
                    None => (Code::E004, pointer.to_owned()),
                };
                sink.push(Diagnostic::new(code, at, message).help(
                    "write \"transport\": \"stdio\" (with \"command\") or \"transport\": \"http\" (with \"url\")",
                ));
                return None;
            }
        };
    let mut r = Reader::new(sink, server, pointer, fields, &what)?;
    let transport = if std::ptr::eq(fields, STDIO_FIELDS) {
        let command = r.string(sink, "command");
        if command.is_some_and(|c| c.trim().is_empty()) {
            r.invalid(sink, "command", format!("`command` in {what} is empty"), "name the program to start".to_owned());
        }
        let args = r.string_list(sink, "args").unwrap_or_default();
        let env = r.string_map(sink, "env").unwrap_or_default();
        let cwd = r.string(sink, "cwd").map(str::to_owned);
        let credential_env = r.string(sink, "credential_env").map(str::to_owned);
        for (key, _) in &env {
            if !crate::ident::is_env_name(key) {
                let at = format!("{}/{}", r.child("env"), crate::source::escape(key));
                sink.push(crate::check::shape::env_name_diagnostic(at, key, &format!("`env` of {what}")).at_key());
                r.ok = false;
            }
        }
        if let Some(name) = credential_env.as_deref().filter(|name| !crate::ident::is_env_name(name)) {
            sink.push(crate::check::shape::env_name_diagnostic(
                r.child("credential_env"),
                name,
                &format!("`credential_env` of {what}"),
            ));
            r.ok = false;
        }
        match (&node.credential, &credential_env) {
            (Some(credential), None) => sink.push(
                Diagnostic::new(
                    Code::E004,
                    pointer,
                    format!(
                        "node `{}` names the credential `{credential}`, but {what} does not say how to pass it",
                        node.id
                    ),
                )
                .help("add \"credential_env\": \"VARIABLE\": the server gets the secret in that environment variable"),
            ),
            (None, Some(_)) => sink.push(
                Diagnostic::new(
                    Code::E025,
                    format!("{pointer}/credential_env"),
                    format!("{what} passes a credential in `credential_env`, but node `{}` names none", node.id),
                )
                .help("add \"credential\": \"<name>\" to the node, declared under the flow's \"credentials\""),
            ),
            _ => {}
        }
        r.ok &= node.credential.is_some() == credential_env.is_some();
        command.map(|command| Transport::Stdio { command: command.to_owned(), args, env, cwd, credential_env })
    } else {
        let url = r.string(sink, "url");
        if let Some(url) = url.filter(|u| !(u.starts_with("http://") || u.starts_with("https://"))) {
            r.invalid(
                sink,
                "url",
                format!("`url` in {what} is `{url}`, which is not an http or https URL"),
                "write the server's MCP endpoint, such as \"http://127.0.0.1:3001/mcp\"".to_owned(),
            );
        }
        let headers = r.string_map(sink, "headers").unwrap_or_default();
        for (name, _) in &headers {
            if !super::http_request::valid_header_name(name) {
                r.invalid(
                    sink,
                    "headers",
                    format!("`{name}` in {what} is not a valid HTTP header name"),
                    "use letters, digits and `-`".to_owned(),
                );
            }
        }
        url.map(|url| Transport::Http { url: url.to_owned(), headers })
    };
    r.ok.then_some(transport).flatten()
}

/// The Rust name of a server's static, from the node that first uses it.
pub fn server_ident(first_user: &str) -> proc_macro2::Ident {
    format_ident!("MCP_{}", first_user.to_uppercase())
}

/// The `static` of one server, with a doc comment naming the nodes that use it.
pub fn server_static(name: &str, server: &Server, users: &[&str]) -> TokenStream {
    let ident = server_ident(name);
    let users: Vec<String> = users.iter().map(|u| format!("`{u}`")).collect();
    let doc =
        format!(" MCP server `{name}`, used by node{} {}.", if users.len() == 1 { "" } else { "s" }, users.join(", "));
    let transport = match &server.transport {
        Transport::Stdio { command, args, env, cwd, credential_env } => {
            let env = env.iter().map(|(k, v)| quote! { (#k, #v) });
            let cwd = option(cwd);
            let credential_env = option(credential_env);
            quote! {
                rt::mcp::Transport::Stdio {
                    command: #command,
                    args: &[#(#args),*],
                    env: &[#(#env),*],
                    cwd: #cwd,
                    credential_env: #credential_env,
                }
            }
        }
        Transport::Http { url, headers } => {
            let headers = headers.iter().map(|(k, v)| quote! { (#k, #v) });
            quote! { rt::mcp::Transport::Http { url: #url, headers: &[#(#headers),*] } }
        }
    };
    let allowed = &server.allowed_directories;
    let credential = option(&server.credential);
    quote! {
        #[doc = #doc]
        static #ident: rt::mcp::Server = rt::mcp::Server {
            name: #name,
            transport: #transport,
            allowed_directories: &[#(#allowed),*],
            credential: #credential,
        };
    }
}

fn option(value: &Option<String>) -> TokenStream {
    match value {
        Some(value) => quote! { Some(#value) },
        None => quote! { None },
    }
}

/// `{content, structured_content, is_error, text}`.
pub fn output(config: &Config) -> Type {
    Type::object([
        ("content", Type::array(Type::Any)),
        ("structured_content", config.output_schema.as_ref().map_or(Type::Any, Type::of_schema)),
        ("is_error", Type::Boolean),
        ("text", Type::String),
    ])
}

pub fn emit(cx: &EmitCx<'_>, config: &Config) -> Result<NodeCode, EmitError> {
    let Config { server, tool, arguments, output_schema } = config;
    let server = cx.mcp_server(server)?;
    let arguments = cx.json(arguments)?;
    let Some(schema) = output_schema else {
        return Ok(NodeCode::body(quote! {
            let call = rt::mcp::ToolCall { server: &#server, tool: #tool, arguments: #arguments };
            call.send(&cx).await
        }));
    };
    // The structured content is checked where it arrives; content that does not match fails
    // the node with the whole result kept in its envelope.
    let name = quote::format_ident!("OUTPUT_SCHEMA_{}", cx.node.name.to_uppercase());
    let text = crate::escape::json_compact(schema);
    let doc =
        format!(" The `output_schema` of node `{}`: the tool result's structured content must match it.", cx.node.id);
    let what = format!("the structured content of node `{}`", cx.node.id);
    Ok(NodeCode::body(quote! {
        let call = rt::mcp::ToolCall { server: &#server, tool: #tool, arguments: #arguments };
        let mut output = call.send(&cx).await?;
        output.data = rt::input::conform(#name, output.data, "/structured_content", #what, "output_schema")?;
        Ok(output)
    })
    .with_item(quote! {
        #[doc = #doc]
        const #name: &str = #text;
    }))
}

pub struct McpTool;

impl super::Kind for McpTool {
    fn name(&self) -> &'static str {
        "mcp_tool"
    }

    fn summary(&self) -> &'static str {
        "Calls a tool of an MCP server and yields `{content, structured_content, is_error, text}`."
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
        output(self)
    }

    fn emit(&self, cx: &EmitCx<'_>) -> Result<NodeCode, EmitError> {
        emit(cx, self)
    }

    fn describe(&self) -> Vec<String> {
        let server = match &self.server.transport {
            Transport::Stdio { command, .. } => format!("the MCP server that {} runs on stdio", super::code_text(command)),
            Transport::Http { url, .. } => format!("the MCP server at {}", super::code_text(url)),
        };
        let mut lines = vec![format!("Calls tool {} of {server}.", super::code_text(&self.tool))];
        if self.output_schema.is_some() {
            lines.push("The result's structured content must match its `output_schema`.".to_owned());
        }
        lines
    }

    fn needs(&self, cx: &EmitCx<'_>) -> Vec<super::Need> {
        match cx.mcp_server(&self.server) {
            Ok(server) => vec![super::Need::McpTool { server: server.to_string(), tool: self.tool.clone() }],
            Err(_) => Vec::new(),
        }
    }

    fn mcp_server(&self) -> Option<&Server> {
        Some(&self.server)
    }
}
