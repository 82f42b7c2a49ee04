//! `schedule` nodes: a cron expression in a time zone. `<bin> serve` fires the flow at each
//! time it names (unless `--no-schedule`); `<bin> run` runs it once, as if it fired now.
//!
//! Cron expressions have 5 fields (minute hour day-of-month month day-of-week), or 6 with
//! seconds first, or 7 with a year last; `@daily`-style nicknames and `MON`/`JAN` names are
//! accepted (croner's syntax, that of most cron implementations). Times are computed in the
//! schedule's IANA time zone (chrono-tz, bundled, so an image needs no zoneinfo files), so
//! `0 3 * * *` in `Europe/Berlin` stays at 03:00 local time across daylight-saving changes.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use croner::Cron;

/// A schedule, as the flow declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub cron: &'static str,
    /// An IANA time zone name (`UTC`, `Europe/Berlin`).
    pub timezone: &'static str,
}

/// What is wrong with a schedule: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Cron(String),
    Timezone(String),
}

/// Checks a cron expression and a time zone, each on its own (the compiler calls this for
/// every `schedule` node, so a program never starts with a schedule it cannot compute).
pub fn check(cron: &str, timezone: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Err(message) = parse_cron(cron) {
        problems.push(Problem::Cron(message));
    }
    if let Err(message) = parse_timezone(timezone) {
        problems.push(Problem::Timezone(message));
    }
    problems
}

/// Every time zone name, for "did you mean" hints.
pub fn timezones() -> impl Iterator<Item = &'static str> {
    chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())
}

fn parse_cron(cron: &str) -> Result<Cron, String> {
    Cron::from_str(cron).map_err(|e| e.to_string())
}

fn parse_timezone(name: &str) -> Result<chrono_tz::Tz, String> {
    chrono_tz::Tz::from_str(name).map_err(|_| format!("`{name}` is not an IANA time zone name"))
}

impl Schedule {
    /// The first time the schedule fires strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
        let cron = parse_cron(self.cron)?;
        let tz = parse_timezone(self.timezone)?;
        let local = after.with_timezone(&tz);
        cron.find_next_occurrence(&local, false)
            .map(|next| next.with_timezone(&Utc))
            .map_err(|e| format!("the schedule `{}` has no next time: {e}", self.cron))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn computes_the_next_time_in_the_schedule_s_time_zone() {
        let nightly = Schedule { cron: "0 3 * * *", timezone: "Europe/Berlin" };
        // 2026-03-28 is the last day of winter time in Berlin (UTC+1); 03:00 on the 29th is
        // summer time (UTC+2).
        let at = Utc.with_ymd_and_hms(2026, 3, 28, 12, 0, 0).unwrap();
        assert_eq!(nightly.next_after(at).unwrap(), Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap());
        let at = Utc.with_ymd_and_hms(2026, 3, 27, 12, 0, 0).unwrap();
        assert_eq!(nightly.next_after(at).unwrap(), Utc.with_ymd_and_hms(2026, 3, 28, 2, 0, 0).unwrap());
    }

    #[test]
    fn seconds_are_optional_and_the_next_time_is_strictly_later() {
        let every_second = Schedule { cron: "* * * * * *", timezone: "UTC" };
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(every_second.next_after(at).unwrap(), Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 1).unwrap());
    }

    #[test]
    fn reports_which_field_is_wrong() {
        assert!(check("*/5 * * * *", "UTC").is_empty());
        assert!(matches!(check("61 * * * *", "UTC").as_slice(), [Problem::Cron(_)]));
        assert!(matches!(check("* * *", "UTC").as_slice(), [Problem::Cron(_)]));
        assert_eq!(
            check("0 3 * * *", "Europe/Berlinn"),
            [Problem::Timezone("`Europe/Berlinn` is not an IANA time zone name".into())]
        );
        assert_eq!(check("x", "y").len(), 2, "both are reported");
    }
}
