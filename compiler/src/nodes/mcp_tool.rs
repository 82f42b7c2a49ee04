//! `mcp_tool`: call a tool of an MCP server, over stdio or Streamable HTTP.
//!
//! Nodes that describe the same server (transport, allowed directories and credential alike)
//! share one session per run; the generated program has one `static` per distinct server,
//! named after the first node that uses it.

use crate::check::shape::PARAMS_ROOT;
use crate::template::{Seg, Template};
use crate::types::Type;
use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use super::{CheckCx, TypeCx};
use crate::check::reader::{Field, Json, Reader, Ty};
use crate::diag::{Code, Diagnostic};
use crate::emit::{EmitCx, EmitError, NodeCode};

pub const STDIO_FIELDS: &[Field] = &[
    Field::req("transport", Ty::Enum(&["stdio"]), "\"stdio\": start the server as a child process"),
    Field::req(
        "command",
        Ty::Template,
        "the program to start (found on PATH); may take parameters ({{ params.x }}), never run data",
    ),
    Field::opt("args", Ty::TemplateList, "its arguments; may hold templates"),
    Field::opt(
        "env",
        Ty::TemplateMap,
        "environment variables for it (it inherits only PATH, HOME and a few more); values may hold templates",
    ),
    Field::opt("cwd", Ty::Template, "its working directory; may hold templates"),
    Field::opt("credential_env", Ty::String, "the environment variable that carries the node's credential"),
];

pub const HTTP_FIELDS: &[Field] = &[
    Field::req("transport", Ty::Enum(&["http"]), "\"http\": connect over Streamable HTTP"),
    Field::req("url", Ty::Template, "the server's MCP endpoint (http or https); may hold templates"),
    Field::opt("headers", Ty::TemplateMap, "headers sent with every request; values may hold templates"),
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

/// How to reach a server; every string but `credential_env` and the names may hold templates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    Stdio {
        command: Template,
        args: Vec<Template>,
        env: Vec<(String, Template)>,
        cwd: Option<Template>,
        credential_env: Option<String>,
    },
    Http {
        url: Template,
        headers: Vec<(String, Template)>,
    },
}

impl Transport {
    /// Every template of the transport, in the order written.
    pub fn templates(&self) -> Vec<&Template> {
        match self {
            Transport::Stdio { command, args, env, cwd, .. } => std::iter::once(command)
                .chain(args)
                .chain(env.iter().map(|(_, value)| value))
                .chain(cwd)
                .collect(),
            Transport::Http { url, headers } => std::iter::once(url).chain(headers.iter().map(|(_, v)| v)).collect(),
        }
    }

    /// The templates' reads of run data (anything but parameters), as written.
    pub fn data_reads(&self) -> Vec<String> {
        let mut reads: Vec<String> = Vec::new();
        for path in self.templates().into_iter().flat_map(Template::paths) {
            let read = format!("{{{{ {} }}}}", path.display());
            if path.root != PARAMS_ROOT && !reads.contains(&read) {
                reads.push(read);
            }
        }
        reads
    }

    /// The parameters the templates read, by name, sorted.
    pub fn parameters(&self) -> Vec<String> {
        let mut names: Vec<String> = (self.templates().into_iter().flat_map(Template::paths))
            .filter(|path| path.root == PARAMS_ROOT)
            .filter_map(|path| match path.segs.first() {
                Some(Seg::Key(name)) => Some(name.clone()),
                _ => None,
            })
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }
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
    let who = format!("node `{}`", node.id);
    let transport =
        r.get("server").and_then(|server| read_transport(sink, server, &r.child("server"), &who, &node.credential));
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
    let allowed_directories = allowed_directories(&mut r, sink);
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

/// Reads `allowed_directories` (none empty).
pub fn allowed_directories(r: &mut Reader<'_>, sink: &mut crate::check::reader::Sink) -> Vec<String> {
    let allowed_directories = r.string_list(sink, "allowed_directories").unwrap_or_default();
    if let Some(i) = allowed_directories.iter().position(|d| d.trim().is_empty()) {
        sink.push(
            Diagnostic::new(Code::E015, format!("{}/{i}", r.child("allowed_directories")), "an allowed directory is empty")
                .help("write a directory path, absolute or relative to where the program runs"),
        );
        r.ok = false;
    }
    allowed_directories
}

/// Reads a server's transport (`server` at `pointer`), for an `mcp_tool` node or an agent's
/// MCP tools.
pub fn read_transport(
    sink: &mut crate::check::reader::Sink,
    server: &serde_json::Value,
    pointer: &str,
    who: &str,
    credential: &Option<String>,
) -> Option<Transport> {
    let what = format!("the server of {who}");
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
        let command = r.template(sink, "command");
        if matches!(&command, Some(Template::Literal(c)) if c.trim().is_empty()) {
            r.invalid(sink, "command", format!("`command` in {what} is empty"), "name the program to start".to_owned());
        }
        // The program that runs is the flow's author's choice (or the deployment's, through a
        // parameter), never whoever sends the run its input.
        if let Some(read) = command.as_ref().and_then(|c| c.paths().into_iter().find(|p| p.root != PARAMS_ROOT)) {
            sink.push(
                Diagnostic::new(
                    Code::E015,
                    r.child("command"),
                    format!(
                        "`command` in {what} reads `{{{{ {} }}}}`, data of the run: whoever sends the run its input would choose the program that runs",
                        read.display()
                    ),
                )
                .help("write the program, or take it from a parameter such as \"{{ params.mcp_command }}\"; run data may go into `args` or `env`"),
            );
            r.ok = false;
        }
        let args = r.template_list(sink, "args").unwrap_or_default();
        let env = r.template_map(sink, "env").unwrap_or_default();
        let cwd = r.template(sink, "cwd");
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
        match (credential, &credential_env) {
            (Some(credential), None) => sink.push(
                Diagnostic::new(
                    Code::E004,
                    pointer,
                    format!("{who} names the credential `{credential}`, but {what} does not say how to pass it"),
                )
                .help("add \"credential_env\": \"VARIABLE\": the server gets the secret in that environment variable"),
            ),
            (None, Some(_)) => sink.push(
                Diagnostic::new(
                    Code::E025,
                    format!("{pointer}/credential_env"),
                    format!("{what} passes a credential in `credential_env`, but {who} names none"),
                )
                .help(format!("add \"credential\": \"<name>\" to {who}, declared under the flow's \"credentials\"")),
            ),
            _ => {}
        }
        r.ok &= credential.is_some() == credential_env.is_some();
        command.map(|command| Transport::Stdio { command, args, env, cwd, credential_env })
    } else {
        let url = r.template(sink, "url");
        let literal = match &url {
            Some(Template::Literal(url)) => Some(url.as_str()),
            _ => None,
        };
        if let Some(url) = literal.filter(|u| !(u.starts_with("http://") || u.starts_with("https://"))) {
            r.invalid(
                sink,
                "url",
                format!("`url` in {what} is `{url}`, which is not an http or https URL"),
                "write the server's MCP endpoint, such as \"http://127.0.0.1:3001/mcp\"".to_owned(),
            );
        }
        let headers = r.template_map(sink, "headers").unwrap_or_default();
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
        url.map(|url| Transport::Http { url, headers })
    };
    r.ok.then_some(transport).flatten()
}

/// The Rust name of a server's static, from the node that first uses it.
pub fn server_ident(first_user: &str) -> proc_macro2::Ident {
    format_ident!("MCP_{}", first_user.to_uppercase())
}

/// The name of the function that renders a start-up server's transport.
pub fn transport_fn(first_user: &str) -> proc_macro2::Ident {
    format_ident!("mcp_{}_transport", first_user)
}

/// A `rt::mcp::Transport` expression, each template rendered by `string`.
pub fn transport_tokens(
    transport: &Transport,
    string: impl Fn(&Template) -> Result<TokenStream, EmitError>,
) -> Result<TokenStream, EmitError> {
    let list = |items: &[Template]| -> Result<TokenStream, EmitError> {
        let items = items.iter().map(&string).collect::<Result<Vec<_>, _>>()?;
        Ok(if items.is_empty() { quote! { Vec::new() } } else { quote! { Vec::from([#(#items),*]) } })
    };
    let pairs = |pairs: &[(String, Template)]| -> Result<TokenStream, EmitError> {
        let items = pairs
            .iter()
            .map(|(name, value)| {
                let value = string(value)?;
                Ok(quote! { (#name, #value) })
            })
            .collect::<Result<Vec<_>, EmitError>>()?;
        Ok(if items.is_empty() { quote! { Vec::new() } } else { quote! { Vec::from([#(#items),*]) } })
    };
    Ok(match transport {
        Transport::Stdio { command, args, env, cwd, credential_env } => {
            let command = string(command)?;
            let args = list(args)?;
            let env = pairs(env)?;
            let cwd = match cwd {
                Some(cwd) => {
                    let cwd = string(cwd)?;
                    quote! { Some(#cwd) }
                }
                None => quote! { None },
            };
            let credential_env = option(credential_env);
            quote! {
                rt::mcp::Transport::Stdio {
                    command: #command,
                    args: #args,
                    env: #env,
                    cwd: #cwd,
                    credential_env: #credential_env,
                }
            }
        }
        Transport::Http { url, headers } => {
            let url = string(url)?;
            let headers = pairs(headers)?;
            quote! { rt::mcp::Transport::Http { url: #url, headers: #headers } }
        }
    })
}

/// The `static` of one server, with a doc comment naming the nodes that use it; for a server
/// known at start-up (literals and parameters), also the function that renders its transport.
pub fn server_static(used: &crate::ir::McpServerUse) -> Result<TokenStream, EmitError> {
    let crate::ir::McpServerUse { name, server, users } = used;
    let ident = server_ident(name);
    let users: Vec<String> = users.iter().map(|u| format!("`{u}`")).collect();
    let doc =
        format!(" MCP server `{name}`, used by node{} {}.", if users.len() == 1 { "" } else { "s" }, users.join(", "));
    let reads = server.transport.data_reads();
    let (address, function) = if reads.is_empty() {
        let function = transport_fn(name);
        let parameters = server.transport.parameters();
        let transport = transport_tokens(&server.transport, |template| {
            crate::emit::render_string(template, |path| {
                let segs = crate::emit::segs(&path.segs);
                Ok(quote! { rt::Part::Read(rt::params::values(), #segs) })
            })
        })?;
        let fn_doc = format!(" How to reach MCP server `{name}`: known at start-up.");
        (
            quote! { rt::mcp::Address::StartUp { transport: #function, parameters: &[#(#parameters),*] } },
            quote! {
                #[doc = #fn_doc]
                fn #function() -> rt::mcp::Transport {
                    #transport
                }
            },
        )
    } else {
        let reads = reads.join(", ");
        (quote! { rt::mcp::Address::Run { reads: #reads } }, TokenStream::new())
    };
    let allowed = &server.allowed_directories;
    let credential = option(&server.credential);
    Ok(quote! {
        #[doc = #doc]
        static #ident: rt::mcp::Server = rt::mcp::Server {
            name: #name,
            address: #address,
            allowed_directories: &[#(#allowed),*],
            credential: #credential,
        };

        #function
    })
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
    let used = cx.mcp_server(server)?;
    let static_ident = server_ident(&used.name);
    // A server known at start-up has its own function; one that reads run data is rendered
    // here, from this node's upstream data.
    let (prelude, transport) = if server.transport.data_reads().is_empty() {
        let function = transport_fn(&used.name);
        (TokenStream::new(), quote! { transport: #function() })
    } else {
        let transport = transport_tokens(&server.transport, |template| cx.string(template))?;
        (quote! { let transport = #transport; }, quote! { transport })
    };
    let arguments = cx.json(arguments)?;
    let call = quote! {
        #prelude
        let call = rt::mcp::ToolCall {
            server: &#static_ident,
            #transport,
            tool: #tool.into(),
            arguments: #arguments,
        };
    };
    let Some(schema) = output_schema else {
        return Ok(NodeCode::body(quote! {
            #call
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
        #call
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
            Transport::Stdio { command, .. } => {
                format!("the MCP server that {} runs on stdio", super::code_text(&command.display()))
            }
            Transport::Http { url, .. } => format!("the MCP server at {}", super::code_text(&url.display())),
        };
        let mut lines = vec![format!("Calls tool {} of {server}.", super::code_text(&self.tool))];
        if self.output_schema.is_some() {
            lines.push("The result's structured content must match its `output_schema`.".to_owned());
        }
        lines
    }

    fn needs(&self, cx: &EmitCx<'_>) -> Vec<super::Need> {
        match cx.mcp_server(&self.server) {
            Ok(used) => {
                vec![super::Need::McpTool { server: server_ident(&used.name).to_string(), tool: self.tool.clone() }]
            }
            Err(_) => Vec::new(),
        }
    }

    fn mcp_servers(&self) -> Vec<&Server> {
        vec![&self.server]
    }
}
