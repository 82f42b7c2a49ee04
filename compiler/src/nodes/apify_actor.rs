//! `apify_actor`: run an Apify actor and read its dataset.

use crate::types::Type;
use quote::quote;

use super::{CheckCx, TypeCx};
use crate::check::reader::{Field, Json, Ty};
use crate::emit::{EmitCx, EmitError, NodeCode};
use crate::template::Template;

pub const FIELDS: &[Field] = &[
    Field::req("actor_id", Ty::Template, "the actor: \"user/name\", \"user~name\" or its id"),
    Field::opt("input", Ty::Json, "the actor's input, with templates (default {})"),
    Field::opt("max_items", Ty::Integer, "how many dataset items to read (default 100)"),
    Field::opt("timeout_secs", Ty::Integer, "how long the run may take before it is aborted (default 300)"),
    Field::opt("base_url", Ty::Template, "another Apify API root (default https://api.apify.com)"),
];

#[derive(Debug, Clone)]
pub struct Config {
    pub actor_id: Template,
    pub input: Json,
    pub max_items: u64,
    pub timeout_secs: u64,
    pub base_url: Option<Template>,
    pub credential: Option<String>,
}

fn valid_actor_id(id: &str) -> bool {
    let part = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    match id.split_once(['/', '~']) {
        Some((user, name)) => part(user) && part(name),
        None => part(id),
    }
}

pub fn check(cx: &mut CheckCx<'_>) -> Option<Config> {
    let (mut r, sink, node) = cx.read(FIELDS)?;
    let actor_id = r.template(sink, "actor_id");
    if let Some(Template::Literal(id)) = &actor_id {
        if !valid_actor_id(id) {
            r.invalid(
                sink,
                "actor_id",
                format!("`{id}` is not an Apify actor id"),
                "write \"user/name\" (e.g. \"apify/web-scraper\"), \"user~name\" or the actor's id".to_owned(),
            );
        }
    }
    let input = r.json(sink, "input").unwrap_or(Json::Object(Vec::new()));
    let max_items = r.integer(sink, "max_items", 1, 1_000_000).unwrap_or(100);
    let timeout_secs = r.integer(sink, "timeout_secs", 1, 86_400).unwrap_or(300);
    let base_url = r.template(sink, "base_url");
    if base_url.is_none() {
        r.ok &= super::require_credential(sink, node, "Apify", ("apify", "APIFY_TOKEN"), "");
    }
    match (r.ok, actor_id) {
        (true, Some(actor_id)) => {
            Some(Config { actor_id, input, max_items, timeout_secs, base_url, credential: node.credential.clone() })
        }
        _ => None,
    }
}

/// `{run_id, status, items}`: the items are whatever the actor stored.
pub fn output() -> Type {
    Type::object([("run_id", Type::String), ("status", Type::String), ("items", Type::array(Type::Any))])
}

pub fn emit(cx: &EmitCx<'_>, config: &Config) -> Result<NodeCode, EmitError> {
    let Config { actor_id, input, max_items, timeout_secs, base_url, credential } = config;
    let base_url = cx.base_url(base_url, &flowc_core::services::APIFY)?;
    let actor_id = cx.string(actor_id)?;
    let input = cx.json(input)?;
    let max_items = proc_macro2::Literal::u64_unsuffixed(*max_items);
    let timeout_secs = proc_macro2::Literal::u64_unsuffixed(*timeout_secs);
    let api_key = cx.api_key(credential);
    Ok(NodeCode::body(quote! {
        let run = rt::apify::ActorRun {
            base_url: #base_url,
            actor_id: #actor_id,
            input: #input,
            max_items: #max_items,
            timeout_secs: #timeout_secs,
            api_key: #api_key,
        };
        run.send(cx.http()).await
    }))
}

pub struct ApifyActor;

impl super::Kind for ApifyActor {
    fn name(&self) -> &'static str {
        "apify_actor"
    }

    fn summary(&self) -> &'static str {
        "Runs an Apify actor to its end and yields `{run_id, status, items}`."
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
        output()
    }

    fn emit(&self, cx: &EmitCx<'_>) -> Result<NodeCode, EmitError> {
        emit(cx, self)
    }

    fn describe(&self) -> Vec<String> {
        vec![format!(
            "Runs Apify actor {} to its end (at most {} s) and yields at most {} of its items.",
            super::code_text(&self.actor_id.display()),
            self.timeout_secs,
            self.max_items
        )]
    }

    fn needs(&self, _cx: &EmitCx<'_>) -> Vec<super::Need> {
        super::service_origin(&self.base_url, &flowc_core::services::APIFY).map(super::Need::Host).into_iter().collect()
    }
}
