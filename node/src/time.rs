//! Event times: nanoseconds since the Unix epoch, shown and read as RFC 3339 in UTC. No time zone
//! database: the civil-date arithmetic is the engine's (`sluice_engine::calendar::civil`, Howard
//! Hinnant's `days_from_civil` and `civil_from_days`), exact over the whole `u64` nanosecond range.

use sluice_engine::calendar::civil::{self, civil_from_days, days_from_civil};

const NS_PER_SEC: u64 = 1_000_000_000;
const SECS_PER_DAY: u64 = 86_400;

/// `2026-11-26T10:00:00.123456789Z`: RFC 3339 in UTC, nanoseconds always shown (so the text
/// parses back to the same number).
pub fn format_ns(timestamp_ns: u64) -> String {
    let secs = timestamp_ns / NS_PER_SEC;
    let nanos = timestamp_ns % NS_PER_SEC;
    let days = secs / SECS_PER_DAY;
    let secs_of_day = secs % SECS_PER_DAY;
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60
    )
}

/// Reads a time: nanoseconds since the epoch (digits only), or RFC 3339 —
/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, `T` or a space between date and time — or a bare
/// date `YYYY-MM-DD` (midnight UTC).
pub fn parse_time(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse::<u64>()
            .map_err(|_| format!("{text:?}: too large for nanoseconds since the epoch"));
    }
    parse_rfc3339(text).ok_or_else(|| {
        format!(
            "{text:?} is not a time: use RFC 3339 in UTC (e.g. 2026-11-26T10:00:00Z) or \
             nanoseconds since the Unix epoch"
        )
    })
}

fn parse_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !(1..=12).contains(&month) {
        return None;
    }
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year as i64, month as u32, day as u32);
    let mut secs_of_day = 0u64;
    let mut nanos = 0u64;
    let mut offset_secs = 0i64;
    if b.len() > 10 {
        if !matches!(b[10], b'T' | b't' | b' ') {
            return None;
        }
        let (hour, minute, second) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
        if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
            return None;
        }
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        secs_of_day = hour * 3600 + minute * 60 + second.min(59);
        let mut at = 19;
        if b.get(at) == Some(&b'.') {
            at += 1;
            let start = at;
            while at < b.len() && b[at].is_ascii_digit() {
                at += 1;
            }
            let fraction = &text[start..at];
            if fraction.is_empty() || fraction.len() > 9 {
                return None;
            }
            nanos = fraction.parse::<u64>().ok()? * 10u64.pow(9 - fraction.len() as u32);
        }
        offset_secs = parse_offset(&b[at..])?;
    }
    let secs = days.checked_mul(SECS_PER_DAY as i64)? + secs_of_day as i64 - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    secs.checked_mul(NS_PER_SEC)?.checked_add(nanos)
}

/// `Z`, `z` or `±HH:MM`: seconds east of UTC.
fn parse_offset(b: &[u8]) -> Option<i64> {
    match b {
        [b'Z' | b'z'] => Some(0),
        [sign @ (b'+' | b'-'), ..] if b.len() == 6 && b[3] == b':' => {
            let hours = digits(b, 1, 2)? as i64;
            let minutes = digits(b, 4, 2)? as i64;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            Some(if *sign == b'-' { -offset } else { offset })
        }
        _ => None,
    }
}

/// The number in `b[at..at + len]`, if those are all ASCII digits.
fn digits(b: &[u8], at: usize, len: usize) -> Option<u64> {
    let part = b.get(at..at + len)?;
    if !part.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(part.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

fn days_in_month(year: u64, month: u64) -> u64 {
    u64::from(civil::days_in_month(year as i64, month as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_ns(0), "1970-01-01T00:00:00.000000000Z");
        // 2026-11-26T10:00:00Z = 1795687200 s.
        assert_eq!(
            format_ns(1_795_687_200_123_456_789),
            "2026-11-26T10:00:00.123456789Z"
        );
        assert_eq!(
            format_ns(951_782_400 * NS_PER_SEC),
            "2000-02-29T00:00:00.000000000Z"
        );
        assert_eq!(
            format_ns(u64::MAX),
            "2554-07-21T23:34:33.709551615Z",
            "the whole u64 range formats"
        );
    }

    #[test]
    fn parses_what_it_formats_and_common_forms() {
        for ns in [
            0,
            1,
            951_782_400 * NS_PER_SEC,
            1_795_687_200_123_456_789,
            u64::MAX,
        ] {
            assert_eq!(parse_time(&format_ns(ns)), Ok(ns));
        }
        let ten = 1_795_687_200 * NS_PER_SEC;
        assert_eq!(parse_time("2026-11-26T10:00:00Z"), Ok(ten));
        assert_eq!(parse_time("2026-11-26 10:00:00z"), Ok(ten));
        assert_eq!(parse_time("2026-11-26T18:00:00+08:00"), Ok(ten));
        assert_eq!(parse_time("2026-11-26T09:30:00-00:30"), Ok(ten));
        assert_eq!(parse_time("2026-11-26T10:00:00.5Z"), Ok(ten + 500_000_000));
        assert_eq!(parse_time("2026-11-26"), Ok(ten - 10 * 3600 * NS_PER_SEC));
        assert_eq!(parse_time(" 1795687200000000000 "), Ok(ten));
    }

    #[test]
    fn refuses_what_is_not_a_time() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-26T24:00:00Z",
            "2026-11-26T10:00:00",
            "2026-11-26T10:00:00.Z",
            "2026-11-26T10:00:00.1234567890Z",
            "1969-12-31T23:59:59Z",
            "99999999999999999999999",
        ] {
            assert!(parse_time(bad).is_err(), "{bad:?} parsed");
        }
    }
}
