//! `schedule`: starts the flow on a cron schedule in `<bin> serve`; yields `{fired_at}`.

use crate::types::Type;
use quote::quote;

use super::{CheckCx, TypeCx};
use crate::check::reader::{Field, Ty};
use crate::diag::did_you_mean;
use crate::emit::{EmitCx, EmitError, NodeCode};

pub const FIELDS: &[Field] = &[
    Field::req(
        "cron",
        Ty::String,
        "when to fire: 5 fields (minute hour day month weekday), 6 with seconds first, or @hourly, @daily, …",
    ),
    Field::opt("timezone", Ty::String, "the IANA time zone the cron times are in (default UTC)"),
];

#[derive(Debug, Clone)]
pub struct Config {
    pub cron: String,
    pub timezone: String,
}

pub fn check(cx: &mut CheckCx<'_>) -> Option<Config> {
    let (mut r, sink, _) = cx.read(FIELDS)?;
    let cron = r.string(sink, "cron");
    let timezone = r.string(sink, "timezone").unwrap_or("UTC");
    let cron = cron?;
    for problem in flowc_core::schedule::check(cron, timezone) {
        match problem {
            flowc_core::schedule::Problem::Cron(message) => r.invalid(
                sink,
                "cron",
                format!("`{cron}` is not a cron expression: {message}"),
                "e.g. \"*/15 * * * *\" (every 15 minutes), \"0 3 * * MON-FRI\" (03:00 on weekdays), \"@daily\""
                    .to_owned(),
            ),
            flowc_core::schedule::Problem::Timezone(message) => {
                let help = match did_you_mean(timezone, flowc_core::schedule::timezones()) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => "use an IANA time zone name, such as \"UTC\", \"Europe/Berlin\" or \"America/New_York\""
                        .to_owned(),
                };
                r.invalid(sink, "timezone", message, help);
            }
        }
    }
    r.ok.then(|| Config { cron: cron.to_owned(), timezone: timezone.to_owned() })
}

/// The static that describes the schedule to `<bin> serve`.
pub fn trigger_static(cx: &EmitCx<'_>, config: &Config) -> (proc_macro2::Ident, proc_macro2::TokenStream) {
    let name = quote::format_ident!("SCHEDULE_{}", cx.node.name.to_uppercase());
    let (cron, timezone) = (&config.cron, &config.timezone);
    let doc = format!(" When `serve` fires the flow (node `{}`).", cx.node.id);
    let item = quote! {
        #[doc = #doc]
        static #name: rt::schedule::Schedule = rt::schedule::Schedule { cron: #cron, timezone: #timezone };
    };
    (name, item)
}

/// `{fired_at}`, an RFC 3339 time.
pub fn output() -> Type {
    Type::object([("fired_at", Type::String)])
}

pub fn emit(cx: &EmitCx<'_>, config: &Config) -> Result<NodeCode, EmitError> {
    let (_, item) = trigger_static(cx, config);
    Ok(NodeCode::body(quote! { Ok(rt::Output::data(cx.schedule_fired())) }).with_item(item))
}

pub struct Schedule;

impl super::Kind for Schedule {
    fn name(&self) -> &'static str {
        "schedule"
    }

    fn summary(&self) -> &'static str {
        "Starts the flow on its cron schedule (`serve`) and yields `{fired_at}`."
    }

    fn fields(&self) -> &'static [Field] {
        FIELDS
    }

    fn role(&self) -> super::Role {
        super::Role::Trigger
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
        vec![format!("Starts the flow at {} ({}) in `serve`.", super::code_text(&self.cron), super::code_text(&self.timezone))]
    }

    fn trigger(&self) -> Option<super::Trigger<'_>> {
        Some(super::Trigger::Schedule { cron: &self.cron, timezone: &self.timezone })
    }

    fn trigger_entry(&self, cx: &EmitCx<'_>) -> Option<proc_macro2::TokenStream> {
        let (name, _) = trigger_static(cx, self);
        Some(quote! { rt::Trigger::Schedule(&#name) })
    }
}
