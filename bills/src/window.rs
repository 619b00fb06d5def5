//! The bill day: which instants a channel's bill for day D covers (docs/RECONCILIATION.md,
//! section 3). One home for the simulator that writes bills and the reconciler that reads them.

const NS_PER_MIN: u64 = 60_000_000_000;
const NS_PER_DAY: u64 = 1_440 * NS_PER_MIN;

/// Minutes after local midnight of day D where bill day D ends: the cutoff, or the next midnight
/// when it is 0 (so UnionPay's day D, cutoff 1380, is `[D−1 23:00, D 23:00)` and WeChat's
/// `[D 00:00, D+1 00:00)`, local time).
fn end_min(cutoff_min: u16) -> i64 {
    match cutoff_min {
        0 => 1_440,
        c => i64::from(c.min(1_440)),
    }
}

/// Bill day `day`'s window in UTC, ns since the epoch, `[start, end)`: local = UTC +
/// `utc_offset_min` (a fixed offset: no daylight saving).
pub fn day_window(day: u32, utc_offset_min: i32, cutoff_min: u16) -> (u64, u64) {
    let end_local_min = i64::from(day) * 1_440 + end_min(cutoff_min);
    let end_min_utc = (end_local_min - i64::from(utc_offset_min)).max(0) as u64;
    let end_ns = end_min_utc * NS_PER_MIN;
    (end_ns.saturating_sub(NS_PER_DAY), end_ns)
}

/// The bill day whose window holds `at_ns`.
pub fn day_of(at_ns: u64, utc_offset_min: i32, cutoff_min: u16) -> u32 {
    let local_ns = i128::from(at_ns) + i128::from(utc_offset_min) * i128::from(NS_PER_MIN);
    let shifted = local_ns - i128::from(end_min(cutoff_min)) * i128::from(NS_PER_MIN);
    let day = shifted.div_euclid(i128::from(NS_PER_DAY)) + 1;
    u32::try_from(day.max(0)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_instant_of_a_window_is_of_its_day() {
        for (offset, cutoff) in [(480, 0), (480, 1380), (0, 0), (-480, 0), (330, 90)] {
            for day in [20_000, 20_793] {
                let (start, end) = day_window(day, offset, cutoff);
                assert_eq!(end - start, NS_PER_DAY);
                assert_eq!(day_of(start, offset, cutoff), day);
                assert_eq!(day_of(end - 1, offset, cutoff), day);
                assert_eq!(day_of(end, offset, cutoff), day + 1);
            }
        }
    }
}
