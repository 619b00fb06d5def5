//! The working-day calendar (docs/PAYOUTS.md, section 2) and the civil-date arithmetic the whole
//! workspace shares. Days are days since 1970-01-01 in the engine's day (`Engine::today`).
//! Saturday and Sunday are days off and every other day is a working day, unless a dated entry
//! says otherwise: a holiday (a weekday off) or a make-up working day (a weekend day worked,
//! China's 调休). The entries are a sorted, bounded table searched by bisection; a scan over days
//! walks the table beside the days, so it costs one search and then a step per day.

use rkyv::{Archive, Deserialize, Serialize};

/// Most dated entries (about a century of one country's holidays and make-up days).
pub const CALENDAR_ENTRIES_MAX: usize = 4_096;

/// The last day a calendar entry (and a settlement's due day) may name: split lines keep their
/// due day in a u16 (`state::Line`), which lasts until the year 2149.
pub const CALENDAR_DAY_MAX: u32 = u16::MAX as u32 - 1;

/// How far "the next working day" scans: a year and a day. A calendar whose days off run longer
/// is refused (`Calendar::set`), so the scan always finds one.
pub const WORKING_DAY_SCAN_DAYS: u32 = 366;

/// Proleptic Gregorian dates (Howard Hinnant's `days_from_civil` and `civil_from_days`), exact for
/// every day number an i64 holds a date for. The node's times and the store's report periods use
/// these too.
pub mod civil {
    /// Days since 1970-01-01 of a proleptic Gregorian date (month 1..=12, day 1..=31).
    pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
        let year = if month <= 2 { year - 1 } else { year };
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let month_from_march = (i64::from(month) + 9) % 12;
        let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    /// The proleptic Gregorian date (year, month 1..=12, day 1..=31) of a day number.
    pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let month_from_march = (5 * day_of_year + 2) / 153;
        let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
        let month = if month_from_march < 10 {
            month_from_march + 3
        } else {
            month_from_march - 9
        } as u32;
        (year_of_era + era * 400 + i64::from(month <= 2), month, day)
    }

    /// Days in a month (1..=12) of a proleptic Gregorian year.
    pub fn days_in_month(year: i64, month: u32) -> u32 {
        let leap =
            year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0);
        match month {
            2 if leap => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }
    }

    /// The ISO weekday of a day number: 1 = Monday … 7 = Sunday (1970-01-01 was a Thursday).
    pub fn iso_weekday(days: i64) -> u32 {
        (days + 3).rem_euclid(7) as u32 + 1
    }
}

use civil::{civil_from_days, days_from_civil, days_in_month, iso_weekday};

/// What a dated calendar entry makes of its day.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalendarEntry {
    pub day: u32,
    /// A make-up working day (true) or a holiday (false).
    pub working: bool,
}

/// How a configuration sets one date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaySetting {
    /// Back to the weekday rule (the entry, if any, goes).
    Default,
    /// A day off.
    Holiday,
    /// A working day.
    Workday,
}

/// Why a calendar change is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalendarRefusal {
    /// Past `CALENDAR_DAY_MAX`.
    DayOutOfRange,
    /// `CALENDAR_ENTRIES_MAX` entries already.
    Full,
    /// A run of days off as long as the scan for a working day would follow.
    NoWorkingDay,
}

impl CalendarRefusal {
    pub fn why(self) -> &'static str {
        match self {
            CalendarRefusal::DayOutOfRange => {
                "day must be 0..=65534 (days since 1970-01-01, before 2149)"
            }
            CalendarRefusal::Full => "the calendar is full (4096 dated entries)",
            CalendarRefusal::NoWorkingDay => "the calendar would have no working day for a year",
        }
    }
}

/// The working-day calendar: weekends off, plus dated exceptions sorted by day.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    entries: Vec<CalendarEntry>,
}

/// The weekday rule alone: Monday to Friday are working days.
fn weekday_works(day: u32) -> bool {
    iso_weekday(i64::from(day)) <= 5
}

impl Calendar {
    /// An empty calendar with room for every entry (configuration never allocates after this).
    pub fn new() -> Calendar {
        Calendar {
            entries: Vec::with_capacity(CALENDAR_ENTRIES_MAX),
        }
    }

    pub fn entries(&self) -> &[CalendarEntry] {
        &self.entries
    }

    /// Keeps the entry table's capacity after a snapshot load.
    pub fn reserve_all(&mut self) {
        let more = CALENDAR_ENTRIES_MAX.saturating_sub(self.entries.len());
        self.entries.reserve_exact(more);
    }

    /// The index of the first entry on or after `day`.
    fn first_at_or_after(&self, day: u32) -> usize {
        self.entries.partition_point(|e| e.day < day)
    }

    pub fn is_working_day(&self, day: u32) -> bool {
        let at = self.first_at_or_after(day);
        match self.entries.get(at) {
            Some(e) if e.day == day => e.working,
            _ => weekday_works(day),
        }
    }

    /// Whether day `d` works, with `at` a cursor into the entries that only moves forward: the
    /// first entry on or after the previous day asked (so a scan costs one search, then a step
    /// per day).
    fn works_from(&self, at: &mut usize, d: u32) -> bool {
        while self.entries.get(*at).is_some_and(|e| e.day < d) {
            *at += 1;
        }
        match self.entries.get(*at) {
            Some(e) if e.day == d => e.working,
            _ => weekday_works(d),
        }
    }

    /// The first working day on or after `day`; `day` itself when none is within
    /// `WORKING_DAY_SCAN_DAYS` (a calendar `set` refuses).
    pub fn next_working_on_or_after(&self, day: u32) -> u32 {
        let mut at = self.first_at_or_after(day);
        (day..day.saturating_add(WORKING_DAY_SCAN_DAYS))
            .find(|&d| self.works_from(&mut at, d))
            .unwrap_or(day)
    }

    /// The `n`-th working day after `day` (`day` itself does not count; `n` = 0 gives `day`).
    /// Each working day is within `WORKING_DAY_SCAN_DAYS` of the one before (`set` sees to it);
    /// past that bound the scan gives its last day.
    pub fn nth_working_day_after(&self, day: u32, n: u32) -> u32 {
        let first = day.saturating_add(1);
        let last = first.saturating_add(WORKING_DAY_SCAN_DAYS.saturating_mul(n));
        let mut at = self.first_at_or_after(first);
        let mut left = n;
        for d in first..last {
            if self.works_from(&mut at, d) {
                left -= 1;
                if left == 0 {
                    return d;
                }
            }
        }
        if n == 0 { day } else { last }
    }

    /// The first `anchor` weekday (ISO: 1 = Monday … 7 = Sunday) on or after `from`, rolled to the
    /// next working day when it is not one.
    pub fn weekly_due(&self, from: u32, anchor: u8) -> u32 {
        let weekday = iso_weekday(i64::from(from));
        let ahead = (u32::from(anchor) + 7 - weekday) % 7;
        self.next_working_on_or_after(from.saturating_add(ahead))
    }

    /// The first `anchor` date (1..=31) on or after `from`, the month's last day in a month
    /// shorter than the anchor, rolled to the next working day when it is not one.
    pub fn monthly_due(&self, from: u32, anchor: u8) -> u32 {
        let (year, month, day) = civil_from_days(i64::from(from));
        let anchor = u32::from(anchor);
        let this_month = anchor.min(days_in_month(year, month));
        let due = if this_month >= day {
            days_from_civil(year, month, this_month)
        } else {
            let (year, month) = if month == 12 {
                (year + 1, 1)
            } else {
                (year, month + 1)
            };
            days_from_civil(year, month, anchor.min(days_in_month(year, month)))
        };
        let due = u32::try_from(due).expect("a later date than a u32 day, within u32 days");
        self.next_working_on_or_after(due)
    }

    /// Sets one date, or refuses (changing nothing) with the reason: a day past
    /// `CALENDAR_DAY_MAX`, a full table, or a change that would leave a run of days off as long
    /// as the scan for a working day.
    pub fn set(&mut self, day: u32, setting: DaySetting) -> Result<(), CalendarRefusal> {
        if day > CALENDAR_DAY_MAX {
            return Err(CalendarRefusal::DayOutOfRange);
        }
        let at = self.first_at_or_after(day);
        let present = self.entries.get(at).is_some_and(|e| e.day == day);
        let working = match setting {
            DaySetting::Default => weekday_works(day),
            DaySetting::Holiday => false,
            DaySetting::Workday => true,
        };
        let needed = working != weekday_works(day);
        if needed && !present && self.entries.len() >= CALENDAR_ENTRIES_MAX {
            return Err(CalendarRefusal::Full);
        }
        if !working && self.off_run_through(day) >= WORKING_DAY_SCAN_DAYS {
            return Err(CalendarRefusal::NoWorkingDay);
        }
        match (needed, present) {
            (true, true) => self.entries[at].working = working,
            (true, false) => self.entries.insert(at, CalendarEntry { day, working }),
            (false, true) => {
                self.entries.remove(at);
            }
            (false, false) => {}
        }
        Ok(())
    }

    /// How many days the run of days off through `day` would have if `day` were off too: the days
    /// off just before it, itself, and the days off just after it (each side scanned up to the
    /// scan's length, which is all the answer needs).
    fn off_run_through(&self, day: u32) -> u32 {
        let before = (1..=WORKING_DAY_SCAN_DAYS)
            .take_while(|&k| day.checked_sub(k).is_some_and(|d| !self.is_working_day(d)))
            .count() as u32;
        let after = (1..=WORKING_DAY_SCAN_DAYS)
            .take_while(|&k| !self.is_working_day(day.saturating_add(k)))
            .count() as u32;
        before + 1 + after
    }
}

#[cfg(test)]
mod tests;
