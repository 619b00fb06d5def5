//! The payout scenario's own model of the working-day calendar and the settlement schedules
//! (docs/PAYOUTS.md, sections 2 and 3), written apart from the engine's so that the scenario can
//! check the days the engine settled on against the rules rather than against itself.
//! Days are days since 1970-01-01 in the engine's day.

use sluice_protocol::PartySchedule;
use std::collections::BTreeSet;

/// How far "the next working day" looks (the engine's bound).
const SCAN_DAYS_MAX: u32 = 366;

/// The ISO weekday of a day: 1 = Monday ... 7 = Sunday (1970-01-01 was a Thursday).
pub fn weekday(day: u32) -> u8 {
    ((day + 3) % 7 + 1) as u8
}

/// (year, month 1..=12, day 1..=31) of a day since the epoch (Howard Hinnant's civil_from_days).
pub fn civil(day: u32) -> (i32, u32, u32) {
    let z = i64::from(day) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = (yoe + era * 400 + i64::from(m <= 2)) as i32;
    (y, m, d)
}

/// The day of a civil date (days_from_civil); the date must be on or after 1970-01-01.
pub fn day_of(y: i32, m: u32, d: u32) -> u32 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    u32::try_from(era * 146_097 + doe - 719_468).expect("a date after 1970")
}

fn days_in_month(y: i32, m: u32) -> u32 {
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    day_of(ny, nm, 1) - day_of(y, m, 1)
}

/// A "YYYY-MM-DD Www" label.
pub fn label(day: u32) -> String {
    let (y, m, d) = civil(day);
    let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    format!("{y}-{m:02}-{d:02} {}", names[usize::from(weekday(day) - 1)])
}

/// Holidays (weekdays off) and make-up working days (weekend days worked).
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    pub holidays: BTreeSet<u32>,
    pub workdays: BTreeSet<u32>,
}

impl Calendar {
    pub fn working(&self, day: u32) -> bool {
        if self.holidays.contains(&day) {
            return false;
        }
        self.workdays.contains(&day) || weekday(day) <= 5
    }

    /// `day` when it is a working day, else the next one (at most `SCAN_DAYS_MAX` ahead).
    pub fn roll(&self, day: u32) -> u32 {
        (day..=day + SCAN_DAYS_MAX)
            .find(|&d| self.working(d))
            .unwrap_or(day)
    }

    /// The `n`-th working day after `day`.
    pub fn nth_working_after(&self, day: u32, n: u32) -> u32 {
        let mut d = day;
        for _ in 0..n {
            d = self.roll(d + 1);
        }
        d
    }

    /// The due day of income earned on `earned` under a schedule with `n` = settlement_days and
    /// `anchor`; None for Manual (an admin releases it).
    pub fn due_day(&self, schedule: PartySchedule, anchor: u8, n: u32, earned: u32) -> Option<u32> {
        let start = earned + n;
        match schedule {
            PartySchedule::CalendarDays => Some(start),
            PartySchedule::BusinessDays => Some(self.nth_working_after(earned, n)),
            PartySchedule::Weekly => {
                let ahead = (7 + u32::from(anchor) - u32::from(weekday(start))) % 7;
                Some(self.roll(start + ahead))
            }
            PartySchedule::Monthly => Some(self.roll(monthly_anchor(start, u32::from(anchor)))),
            _ => None,
        }
    }
}

/// The first `anchor` date on or after `day`; in a month shorter than the anchor, its last day.
fn monthly_anchor(day: u32, anchor: u32) -> u32 {
    let (y, m, d) = civil(day);
    let this = anchor.min(days_in_month(y, m));
    if d <= this {
        return day_of(y, m, this);
    }
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    day_of(ny, nm, anchor.min(days_in_month(ny, nm)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_and_weekdays() {
        let nov1 = day_of(2026, 11, 1);
        assert_eq!(civil(nov1), (2026, 11, 1));
        assert_eq!(weekday(nov1), 7, "2026-11-01 is a Sunday");
        assert_eq!(weekday(0), 4, "1970-01-01 was a Thursday");
        assert_eq!(label(nov1 + 29), "2026-11-30 Mon");
        assert_eq!(days_in_month(2028, 2), 29);
    }

    #[test]
    fn schedules_follow_the_calendar() {
        let nov = |d| day_of(2026, 11, d);
        let mut c = Calendar::default();
        c.holidays.extend((16..=20).map(nov));
        c.workdays.insert(nov(14));
        // T+1 business days from Friday the 13th: Saturday the 14th is a make-up working day.
        assert_eq!(
            c.due_day(PartySchedule::BusinessDays, 0, 1, nov(13)),
            Some(nov(14))
        );
        // From the 14th: Sunday off, the holiday week off, then Saturday the 21st is a weekend.
        assert_eq!(
            c.due_day(PartySchedule::BusinessDays, 0, 1, nov(14)),
            Some(nov(23))
        );
        // Weekly on Monday: the 16th is a holiday, so the next working day.
        assert_eq!(
            c.due_day(PartySchedule::Weekly, 1, 1, nov(10)),
            Some(nov(23))
        );
        assert_eq!(c.due_day(PartySchedule::Weekly, 1, 1, nov(1)), Some(nov(2)));
        // Monthly on the 31st: November has 30 days.
        assert_eq!(
            c.due_day(PartySchedule::Monthly, 31, 1, nov(3)),
            Some(nov(30))
        );
        assert_eq!(
            c.due_day(PartySchedule::Monthly, 31, 1, nov(30)),
            Some(day_of(2026, 12, 31))
        );
        assert_eq!(
            c.due_day(PartySchedule::CalendarDays, 0, 7, nov(16)),
            Some(nov(23))
        );
        assert_eq!(c.due_day(PartySchedule::Manual, 0, 1, nov(3)), None);
    }
}
