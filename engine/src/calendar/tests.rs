use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// `YYYY-MM-DD` as a day number.
fn d(text: &str) -> u32 {
    let p: Vec<i64> = text.split('-').map(|x| x.parse().unwrap()).collect();
    days_from_civil(p[0], p[1] as u32, p[2] as u32) as u32
}

/// China's 2026 National Day week as configuration: 2026-10-01..07 off (Thursday to the next
/// Wednesday), Sunday 2026-09-27 and Saturday 2026-10-10 worked instead.
fn golden_week() -> Calendar {
    let mut c = Calendar::new();
    for day in d("2026-10-01")..=d("2026-10-07") {
        c.set(day, DaySetting::Holiday).unwrap();
    }
    c.set(d("2026-09-27"), DaySetting::Workday).unwrap();
    c.set(d("2026-10-10"), DaySetting::Workday).unwrap();
    c
}

#[test]
fn civil_dates_and_weekdays() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(civil_from_days(0), (1970, 1, 1));
    assert_eq!(civil_from_days(i64::from(d("2000-02-29"))), (2000, 2, 29));
    assert_eq!(civil_from_days(-1), (1969, 12, 31));
    assert_eq!(iso_weekday(0), 4, "1970-01-01 was a Thursday");
    assert_eq!(iso_weekday(i64::from(d("2026-12-06"))), 7, "a Sunday");
    assert_eq!(iso_weekday(i64::from(d("2026-10-01"))), 4, "a Thursday");
    assert_eq!(days_in_month(2026, 2), 28);
    assert_eq!(days_in_month(2028, 2), 29);
    assert_eq!(days_in_month(2100, 2), 28);
    assert_eq!(days_in_month(2000, 2), 29);
    for day in -800_000i64..800_000 {
        let (y, m, dd) = civil_from_days(day);
        assert!((1..=12).contains(&m) && dd >= 1 && dd <= days_in_month(y, m));
        assert_eq!(days_from_civil(y, m, dd), day);
    }
}

#[test]
fn weekends_holidays_and_make_up_days() {
    let c = golden_week();
    assert!(c.is_working_day(d("2026-09-25")), "a Friday");
    assert!(!c.is_working_day(d("2026-09-26")), "a Saturday");
    assert!(c.is_working_day(d("2026-09-27")), "a make-up Sunday");
    assert!(!c.is_working_day(d("2026-10-01")), "a holiday");
    assert!(!c.is_working_day(d("2026-10-07")), "a holiday");
    assert!(c.is_working_day(d("2026-10-08")));
    assert!(c.is_working_day(d("2026-10-10")), "a make-up Saturday");
    assert!(!c.is_working_day(d("2026-10-11")), "a Sunday");
    assert_eq!(c.next_working_on_or_after(d("2026-09-30")), d("2026-09-30"));
    assert_eq!(c.next_working_on_or_after(d("2026-10-01")), d("2026-10-08"));
    assert_eq!(c.nth_working_day_after(d("2026-09-30"), 1), d("2026-10-08"));
    assert_eq!(c.nth_working_day_after(d("2026-09-30"), 3), d("2026-10-10"));
    assert_eq!(c.nth_working_day_after(d("2026-09-30"), 4), d("2026-10-12"));
    assert_eq!(c.nth_working_day_after(d("2026-09-26"), 1), d("2026-09-27"));
    assert_eq!(c.nth_working_day_after(d("2026-09-26"), 0), d("2026-09-26"));
}

#[test]
fn weekly_due_days_roll_past_holidays() {
    let c = golden_week();
    // Monday anchor: from Tuesday 2026-09-22 the next Monday is 09-28.
    assert_eq!(c.weekly_due(d("2026-09-22"), 1), d("2026-09-28"));
    // On the anchor day itself: that day.
    assert_eq!(c.weekly_due(d("2026-09-28"), 1), d("2026-09-28"));
    // Monday 2026-10-05 is a holiday: rolled to Thursday 10-08.
    assert_eq!(c.weekly_due(d("2026-09-29"), 1), d("2026-10-08"));
    // A Saturday anchor is rolled to Monday, except on a make-up Saturday.
    assert_eq!(c.weekly_due(d("2026-10-13"), 6), d("2026-10-19"));
    assert_eq!(c.weekly_due(d("2026-10-08"), 6), d("2026-10-10"));
    // A Sunday anchor on the make-up Sunday.
    assert_eq!(c.weekly_due(d("2026-09-21"), 7), d("2026-09-27"));
}

#[test]
fn monthly_due_days_fall_back_to_month_end_and_roll() {
    let c = golden_week();
    assert_eq!(
        c.monthly_due(d("2026-11-10"), 15),
        d("2026-11-16"),
        "15th a Sunday"
    );
    assert_eq!(c.monthly_due(d("2026-11-16"), 15), d("2026-12-15"));
    // Anchor 31: the last day of shorter months (30 November 2026 is a Monday).
    assert_eq!(c.monthly_due(d("2026-11-02"), 31), d("2026-11-30"));
    assert_eq!(c.monthly_due(d("2026-12-01"), 31), d("2026-12-31"));
    // 28 February 2027 is a Sunday: rolled to Monday 1 March.
    assert_eq!(c.monthly_due(d("2027-02-01"), 30), d("2027-03-01"));
    // A leap February: 29 February 2028 is a Tuesday.
    assert_eq!(c.monthly_due(d("2028-02-10"), 29), d("2028-02-29"));
    // The 1st of October 2026 is a holiday: rolled to the 8th.
    assert_eq!(c.monthly_due(d("2026-09-02"), 1), d("2026-10-08"));
    // Past the anchor in December: January of the next year.
    assert_eq!(c.monthly_due(d("2026-12-20"), 5), d("2027-01-05"));
}

#[test]
fn set_refuses_bad_days_a_full_table_and_a_year_without_work() {
    let mut c = Calendar::new();
    assert!(c.set(CALENDAR_DAY_MAX + 1, DaySetting::Holiday).is_err());
    assert!(c.entries().is_empty());
    // Entries that restate the weekday rule are not kept; Default removes one.
    c.set(d("2026-10-03"), DaySetting::Holiday).unwrap();
    assert!(c.entries().is_empty(), "a Saturday is off already");
    c.set(d("2026-10-01"), DaySetting::Holiday).unwrap();
    assert_eq!(c.entries().len(), 1);
    c.set(d("2026-10-01"), DaySetting::Default).unwrap();
    assert!(c.entries().is_empty());
    // Full: 4096 weekdays off, spread so no run is long; a further one is refused, a change to
    // an existing one or a restatement is not.
    let mut day = d("2030-01-07");
    while c.entries().len() < CALENDAR_ENTRIES_MAX {
        if iso_weekday(i64::from(day)) == 3 {
            c.set(day, DaySetting::Holiday).unwrap();
        }
        day += 1;
    }
    let before = c.clone();
    let next_wednesday = day + (3 + 7 - iso_weekday(i64::from(day))) % 7;
    assert!(c.set(next_wednesday, DaySetting::Holiday).is_err());
    assert_eq!(c, before);
    c.set(d("2030-01-09"), DaySetting::Workday).unwrap();
    c.set(d("2030-01-12"), DaySetting::Holiday).unwrap();
    // A year of weekdays off is refused at the day that would close the gap.
    let mut c = Calendar::new();
    let start = d("2026-01-05");
    let mut refused = None;
    for day in start..start + 400 {
        if c.set(day, DaySetting::Holiday).is_err() {
            refused = Some(day);
            break;
        }
    }
    let refused = refused.expect("a run of a year of days off is refused");
    assert!(refused - start < WORKING_DAY_SCAN_DAYS);
    assert_eq!(
        c.next_working_on_or_after(start),
        refused,
        "the last working day left"
    );
}

/// The naive model: a map of dated exceptions, weekdays counted from a known Monday, dates walked
/// a day at a time from 1970-01-01.
struct Naive {
    exceptions: BTreeMap<u32, bool>,
}

impl Naive {
    fn works(&self, day: u32) -> bool {
        let monday = d("2025-12-29");
        let weekday = (i64::from(day) - i64::from(monday)).rem_euclid(7);
        *self.exceptions.get(&day).unwrap_or(&(weekday < 5))
    }

    fn next_working(&self, day: u32) -> u32 {
        (day..day + 366).find(|&x| self.works(x)).unwrap_or(day)
    }

    fn nth_after(&self, day: u32, n: u32) -> u32 {
        let mut left = n;
        let mut x = day;
        while left > 0 {
            x += 1;
            if self.works(x) {
                left -= 1;
            }
        }
        x
    }

    /// (year, month, day) by walking from a known first of the month.
    fn date(day: u32) -> (i64, u32, u32) {
        let (mut y, mut m, mut dd) = (2020i64, 1u32, 1u32);
        for _ in d("2020-01-01")..day {
            dd += 1;
            let len = match m {
                2 if y % 4 == 0 => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            if dd > len {
                dd = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
        (y, m, dd)
    }

    fn weekly(&self, from: u32, anchor: u32) -> u32 {
        let monday = d("2025-12-29");
        let first = (from..)
            .find(|&x| (i64::from(x) - i64::from(monday)).rem_euclid(7) as u32 + 1 == anchor)
            .unwrap();
        self.next_working(first)
    }

    fn monthly(&self, from: u32, anchor: u32) -> u32 {
        // A day is an anchor date when it is the anchor, or the month's last day and the month
        // is shorter than the anchor.
        let first = (from..)
            .find(|&x| {
                let (_, m, dd) = Self::date(x);
                let (_, next_m, _) = Self::date(x + 1);
                dd == anchor || (next_m != m && dd < anchor)
            })
            .unwrap();
        self.next_working(first)
    }
}

fn settings() -> impl Strategy<Value = Vec<(u32, u8)>> {
    // Days within 2026..2027, mostly near the start so that runs and clusters happen.
    proptest::collection::vec((0u32..500, 0u8..3), 0..120)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_calendar_agrees_with_a_day_by_day_model(
        sets in settings(),
        probes in proptest::collection::vec((0u32..560, 0u32..12, 1u32..=31), 1..24),
    ) {
        let base = d("2026-01-01");
        let mut c = Calendar::new();
        let mut naive = Naive { exceptions: BTreeMap::new() };
        for (offset, kind) in sets {
            let day = base + offset;
            let setting = [DaySetting::Default, DaySetting::Holiday, DaySetting::Workday]
                [usize::from(kind)];
            if c.set(day, setting).is_ok() {
                match setting {
                    DaySetting::Default => { naive.exceptions.remove(&day); }
                    DaySetting::Holiday => { naive.exceptions.insert(day, false); }
                    DaySetting::Workday => { naive.exceptions.insert(day, true); }
                }
            }
            // Sorted, no duplicates, none restating the weekday rule.
            prop_assert!(c.entries().windows(2).all(|w| w[0].day < w[1].day));
            prop_assert!(c.entries().iter().all(|e| e.working != weekday_works(e.day)));
        }
        for (offset, n, anchor) in probes {
            let day = base + offset;
            prop_assert_eq!(c.is_working_day(day), naive.works(day));
            prop_assert_eq!(c.next_working_on_or_after(day), naive.next_working(day));
            prop_assert_eq!(c.nth_working_day_after(day, n), naive.nth_after(day, n));
            let weekday = anchor % 7 + 1;
            prop_assert_eq!(c.weekly_due(day, weekday as u8), naive.weekly(day, weekday));
            prop_assert_eq!(c.monthly_due(day, anchor as u8), naive.monthly(day, anchor));
        }
    }
}
