//! The payout and calendar sections of a configuration (schema 7, docs/PAYOUTS.md): payout
//! channels, the payout policy per currency, calendar dates, and the schedule and payout terms
//! that merchants and promoters share.

use rust_decimal::Decimal;
use serde::Deserialize;
use sluice_protocol::*;

use super::{ConfigError, CurrencyValue, currency, err, named, rate};

fn default_true() -> bool {
    true
}
fn d_payout_timeout() -> u32 {
    30_000
}
fn d_payout_query_interval() -> u32 {
    5_000
}
fn d_zero_rate() -> String {
    "0".into()
}
pub(super) fn d_party_schedule() -> String {
    "calendar_days".into()
}
pub(super) fn d_payout_mode() -> String {
    "manual".into()
}

/// `[[payout_channels]]`: a ConfigPayoutChannel.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct PayoutChannelEntry {
    id: u16,
    name: String,
    #[serde(default = "default_true")]
    active: bool,
    #[serde(default = "d_payout_timeout")]
    timeout_ms: u32,
    #[serde(default = "d_payout_query_interval")]
    query_interval_ms: u32,
    #[serde(default)]
    fee_fixed_minor: i64,
    #[serde(default = "d_zero_rate")]
    fee_rate: String,
}

/// `[[payout_policies]]`: a ConfigPayoutPolicy.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct PayoutPolicyEntry {
    currency: CurrencyValue,
    #[serde(default)]
    review_above_minor: i64,
    #[serde(default)]
    platform_payout_channel: u16,
}

/// `[[calendar]]`: a ConfigCalendarDay; `date` is `YYYY-MM-DD` in the engine's day.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct CalendarEntry {
    date: String,
    /// `holiday`, `workday` or `default`.
    kind: String,
}

/// The schedule and payout terms a merchant or promoter entry spells (all optional).
pub(super) struct PartyTerms {
    pub schedule: PartySchedule,
    pub schedule_anchor: u8,
    pub reserve_rate: Decimal,
    pub reserve_days: u16,
    pub payout_mode: PayoutMode,
    pub payout_channel_id: u16,
    pub min_payout_minor: i64,
}

/// The file's spelling of [`PartyTerms`], checked.
pub(super) struct PartyTermsText<'a> {
    pub schedule: &'a str,
    pub schedule_anchor: u8,
    pub reserve_rate: &'a str,
    pub reserve_days: u16,
    pub payout_mode: &'a str,
    pub payout_channel: u16,
    pub min_payout_minor: i64,
}

pub(super) fn party_terms(
    t: &PartyTermsText<'_>,
    line: Option<usize>,
    key: &str,
) -> Result<PartyTerms, ConfigError> {
    let k = |f: &str| format!("{key}.{f}");
    Ok(PartyTerms {
        schedule: named(
            t.schedule,
            PartySchedule::from_name,
            line,
            &k("schedule"),
            "schedule (calendar_days, business_days, weekly, monthly, manual)",
        )?,
        schedule_anchor: t.schedule_anchor,
        reserve_rate: rate(t.reserve_rate, line, &k("reserve_rate"))?,
        reserve_days: t.reserve_days,
        payout_mode: named(
            t.payout_mode,
            PayoutMode::from_name,
            line,
            &k("payout_mode"),
            "payout mode (manual, automatic)",
        )?,
        payout_channel_id: t.payout_channel,
        min_payout_minor: t.min_payout_minor,
    })
}

pub(super) fn payout_channel(
    c: &PayoutChannelEntry,
    line: Option<usize>,
    key: &str,
) -> Result<ConfigPayoutChannel, ConfigError> {
    if c.name.is_empty() || c.name.len() > 16 {
        return err(line, format!("{key}.name"), "1..=16 bytes");
    }
    Ok(ConfigPayoutChannel {
        channel_id: c.id,
        name: Chars::new(&c.name),
        status: if c.active {
            Activity::Active
        } else {
            Activity::Disabled
        },
        timeout_ms: c.timeout_ms,
        query_interval_ms: c.query_interval_ms,
        fee_fixed_minor: c.fee_fixed_minor,
        fee_rate: rate(&c.fee_rate, line, &format!("{key}.fee_rate"))?,
    })
}

pub(super) fn payout_policy(
    p: &PayoutPolicyEntry,
    line: Option<usize>,
    key: &str,
) -> Result<ConfigPayoutPolicy, ConfigError> {
    Ok(ConfigPayoutPolicy {
        currency: currency(&p.currency, line, &format!("{key}.currency"))?,
        review_above_minor: p.review_above_minor,
        platform_payout_channel_id: p.platform_payout_channel,
    })
}

pub(super) fn calendar_day(
    c: &CalendarEntry,
    line: Option<usize>,
    key: &str,
) -> Result<ConfigCalendarDay, ConfigError> {
    let Some(day) = parse_date(&c.date) else {
        return err(
            line,
            format!("{key}.date"),
            format!("{:?} is not a date like 2026-10-01", c.date),
        );
    };
    Ok(ConfigCalendarDay {
        day,
        kind: named(
            &c.kind,
            DayKind::from_name,
            line,
            &format!("{key}.kind"),
            "day kind (holiday, workday, default)",
        )?,
    })
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (1970..=9999), if it is one.
pub fn parse_date(text: &str) -> Option<u32> {
    let mut parts = text.trim().splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || day < 1 {
        return None;
    }
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if day > month_days[(month - 1) as usize] {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    u32::try_from(era * 146_097 + doe - 719_468).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_days_since_the_epoch() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-03-01"), Some(11_017));
        assert_eq!(parse_date("2026-10-01"), Some(20_727));
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2026-13-01"), None);
        assert_eq!(parse_date("tomorrow"), None);
    }
}
