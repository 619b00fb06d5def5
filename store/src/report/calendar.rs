//! Days and periods in the settlement calendar: rows carry `day` (days since 1970-01-01 in the
//! calendar of `Genesis.utc_offset_secs`), and every period here is a run of those days — a day,
//! an ISO week (Monday to Sunday) or a calendar month.

use serde::Serialize;
use sluice_engine::calendar::civil::{self, civil_from_days, days_in_month};
use sluice_node::flow::Day;

use crate::StoreError;

/// How long a statement's period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodKind {
    Day,
    Week,
    Month,
}

impl PeriodKind {
    /// `day`, `week` or `month` (also `daily`, `weekly`, `monthly`).
    pub fn parse(text: &str) -> Result<PeriodKind, StoreError> {
        match text {
            "day" | "daily" => Ok(PeriodKind::Day),
            "week" | "weekly" => Ok(PeriodKind::Week),
            "month" | "monthly" => Ok(PeriodKind::Month),
            _ => Err(StoreError::new(format!(
                "period `{text}`: expected day, week or month"
            ))),
        }
    }
}

/// An inclusive run of days: one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Period {
    pub kind: PeriodKind,
    /// First day, `YYYY-MM-DD`.
    pub start: String,
    /// Last day, `YYYY-MM-DD`.
    pub end: String,
    /// `2026-11-30`, `2026-W49` or `2026-11`.
    pub label: String,
    #[serde(skip)]
    pub start_day: Day,
    #[serde(skip)]
    pub end_day: Day,
}

impl Period {
    /// The period of `kind` that holds `day`.
    pub fn of(kind: PeriodKind, day: Day) -> Period {
        let (start_day, end_day, label) = match kind {
            PeriodKind::Day => (day, day, format_day(day)),
            PeriodKind::Week => {
                // 1970-01-01 was a Thursday: Monday is weekday 0.
                let weekday = (i64::from(day.0) + 3).rem_euclid(7) as i32;
                let monday = Day(day.0 - weekday);
                (monday, Day(monday.0 + 6), iso_week_label(monday))
            }
            PeriodKind::Month => {
                let (y, m, _) = civil_from_days(i64::from(day.0));
                let first = days_from_civil(y, m, 1);
                let next = if m == 12 {
                    days_from_civil(y + 1, 1, 1)
                } else {
                    days_from_civil(y, m + 1, 1)
                };
                (Day(first), Day(next - 1), format!("{y:04}-{m:02}"))
            }
        };
        Period {
            kind,
            start: format_day(start_day),
            end: format_day(end_day),
            label,
            start_day,
            end_day,
        }
    }

    /// Every period of `kind` that overlaps `from..=to`, in order.
    pub fn covering(kind: PeriodKind, from: Day, to: Day) -> Vec<Period> {
        let mut out = Vec::new();
        let mut day = from;
        while day <= to {
            let p = Period::of(kind, day);
            day = Day(p.end_day.0 + 1);
            out.push(p);
        }
        out
    }

    pub fn contains(&self, day: Day) -> bool {
        self.start_day <= day && day <= self.end_day
    }
}

/// The ISO week label of the week starting on `monday`: its Thursday decides the year.
fn iso_week_label(monday: Day) -> String {
    let thursday = i64::from(monday.0) + 3;
    let (year, _, _) = civil_from_days(thursday);
    let jan1 = days_from_civil(year, 1, 1);
    let week = (thursday - i64::from(jan1)) / 7 + 1;
    format!("{year:04}-W{week:02}")
}

/// `YYYY-MM-DD`.
pub fn format_day(day: Day) -> String {
    let (y, m, d) = civil_from_days(i64::from(day.0));
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses `YYYY-MM-DD`; `what` names the argument in the error.
pub fn parse_day(text: &str, what: &str) -> Result<Day, StoreError> {
    let bad = || StoreError::new(format!("{what} `{text}`: expected a date YYYY-MM-DD"));
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let y: i64 = y.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    let d: u32 = d.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return Err(bad());
    }
    Ok(Day(days_from_civil(y, m, d)))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the engine's civil-date arithmetic).
fn days_from_civil(y: i64, m: u32, d: u32) -> i32 {
    i32::try_from(civil::days_from_civil(y, m, d)).expect("a four-digit year's day fits an i32")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_bad_dates_are_named() {
        let day = parse_day("2026-12-06", "--from").unwrap();
        assert_eq!(format_day(day), "2026-12-06");
        assert_eq!(parse_day("1970-01-01", "x").unwrap(), Day(0));
        let err = parse_day("2026-02-30", "--to").unwrap_err();
        assert_eq!(err.0, "--to `2026-02-30`: expected a date YYYY-MM-DD");
        assert!(parse_day("2026-1-01", "--from").is_err());
        assert!(parse_day("yesterday", "--from").is_err());
    }

    #[test]
    fn weeks_run_monday_to_sunday_and_months_are_calendar_months() {
        // 2026-12-06 is a Sunday; 2026-12-07 a Monday.
        let sunday = parse_day("2026-12-06", "d").unwrap();
        let w = Period::of(PeriodKind::Week, sunday);
        assert_eq!(
            (w.start.as_str(), w.end.as_str()),
            ("2026-11-30", "2026-12-06")
        );
        assert_eq!(w.label, "2026-W49");
        let w = Period::of(PeriodKind::Week, Day(sunday.0 + 1));
        assert_eq!(w.start, "2026-12-07");
        // 2027-01-01 is a Friday: it belongs to 2026's week 53.
        let w = Period::of(PeriodKind::Week, parse_day("2027-01-01", "d").unwrap());
        assert_eq!(w.label, "2026-W53");
        let m = Period::of(PeriodKind::Month, parse_day("2028-02-10", "d").unwrap());
        assert_eq!(
            (m.start.as_str(), m.end.as_str()),
            ("2028-02-01", "2028-02-29")
        );
        let all = Period::covering(
            PeriodKind::Month,
            parse_day("2026-11-30", "d").unwrap(),
            sunday,
        );
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].label, "2026-12");
    }
}
