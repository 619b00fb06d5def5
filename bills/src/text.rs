//! The pieces every layout shares: civil dates and times, decimal amounts, CSV records, line
//! iteration and errors. Pure functions on text; no format knowledge.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::model::BillError;

const NS_PER_S: u64 = 1_000_000_000;
const S_PER_DAY: i64 = 86_400;
/// The latest year a bill time may have: `u64` nanoseconds since 1970 end in 2554.
const YEAR_MAX: i64 = 2500;

/// A calendar date and wall-clock time, to the second, in some fixed zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm; the same as
/// `sluice_engine::calendar::civil`, which the node and the store use — a second copy, kept here
/// so the bill crate depends on nothing of the workspace).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = if year >= 0 { year } else { year - 399 } / 400;
    let year_of_era = (year - era * 400) as u64;
    let month_from_march = u64::from(if month > 2 { month - 3 } else { month + 9 });
    let day_of_year = (153 * month_from_march + 2) / 5 + u64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era as i64 - 719_468
}

/// The proleptic Gregorian date of a day number (days since 1970-01-01).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let day_of_era = (z - era * 146_097) as u64;
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
    let year = year_of_era as i64 + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Civil {
    /// The local time of `at_ns` (UTC) in a zone `offset_min` east of UTC, to the second.
    pub fn of(at_ns: u64, offset_min: i32) -> Civil {
        let local_s = (at_ns / NS_PER_S) as i64 + i64::from(offset_min) * 60;
        let (year, month, day) = civil_from_days(local_s.div_euclid(S_PER_DAY));
        let in_day = local_s.rem_euclid(S_PER_DAY) as u32;
        Civil {
            year,
            month,
            day,
            hour: in_day / 3600,
            minute: in_day / 60 % 60,
            second: in_day % 60,
        }
    }

    /// Midnight of bill day `day` (days since 1970-01-01).
    pub fn of_day(day: u32) -> Civil {
        let (year, month, day) = civil_from_days(i64::from(day));
        Civil {
            year,
            month,
            day,
            hour: 0,
            minute: 0,
            second: 0,
        }
    }

    /// Whether every part is in range (a real date, a real time of day).
    pub fn is_valid(&self) -> bool {
        (1970..=YEAR_MAX).contains(&self.year)
            && (1..=12).contains(&self.month)
            && (1..=days_in_month(self.year, self.month)).contains(&self.day)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
    }

    /// Days since 1970-01-01 of the date.
    pub fn day_number(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }

    /// The UTC instant of this local time in a zone `offset_min` east of UTC; None before 1970.
    pub fn at_ns(&self, offset_min: i32) -> Option<u64> {
        let local_s = self.day_number() * S_PER_DAY
            + i64::from(self.hour * 3600 + self.minute * 60 + self.second);
        let utc_s = local_s - i64::from(offset_min) * 60;
        u64::try_from(utc_s).ok()?.checked_mul(NS_PER_S)
    }

    /// `YYYY{sep}MM{sep}DD HH:MM:SS`.
    pub fn write(&self, out: &mut String, date_sep: char) {
        let _ = write!(
            out,
            "{:04}{date_sep}{:02}{date_sep}{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
    }

    /// `YYYYMMDD`.
    pub fn write_compact_date(&self, out: &mut String) {
        let _ = write!(out, "{:04}{:02}{:02}", self.year, self.month, self.day);
    }

    /// Parses `YYYY{sep}MM{sep}DD HH:MM:SS` exactly; None unless it is a valid time.
    pub fn parse(text: &str, date_sep: u8) -> Option<Civil> {
        let b = text.as_bytes();
        let shape_ok = b.len() == 19
            && b[4] == date_sep
            && b[7] == date_sep
            && b[10] == b' '
            && b[13] == b':'
            && b[16] == b':';
        if !shape_ok {
            return None;
        }
        let civil = Civil {
            year: i64::from(digits(&b[0..4])?),
            month: digits(&b[5..7])?,
            day: digits(&b[8..10])?,
            hour: digits(&b[11..13])?,
            minute: digits(&b[14..16])?,
            second: digits(&b[17..19])?,
        };
        civil.is_valid().then_some(civil)
    }

    /// Parses `YYYYMMDD`; None unless it is a valid date.
    pub fn parse_compact_date(text: &str) -> Option<Civil> {
        let b = text.as_bytes();
        if b.len() != 8 {
            return None;
        }
        let civil = Civil {
            year: i64::from(digits(&b[0..4])?),
            month: digits(&b[4..6])?,
            day: digits(&b[6..8])?,
            hour: 0,
            minute: 0,
            second: 0,
        };
        civil.is_valid().then_some(civil)
    }
}

/// The value of a run of ASCII digits (at most 9); None if empty, too long or not all digits.
pub(crate) fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// The last bill day (2500-12-30): the day after it, which Alipay's header states, is still a
/// time the readers accept.
pub const BILL_DAY_MAX: u32 = 193_942;

/// A bill day (days since 1970) from its date, when in range (`BILL_DAY_MAX`).
pub(crate) fn day_of(civil: &Civil) -> Option<u32> {
    u32::try_from(civil.day_number())
        .ok()
        .filter(|d| *d <= BILL_DAY_MAX)
}

/// Writes `minor` as a decimal with `exponent` digits after the point (`-12.05`, `1234`).
pub(crate) fn write_decimal(out: &mut String, minor: i64, exponent: u8) {
    if minor < 0 {
        out.push('-');
    }
    let magnitude = minor.unsigned_abs();
    if exponent == 0 {
        let _ = write!(out, "{magnitude}");
        return;
    }
    let scale = 10u64.pow(u32::from(exponent));
    let _ = write!(
        out,
        "{}.{:0width$}",
        magnitude / scale,
        magnitude % scale,
        width = usize::from(exponent)
    );
}

/// Parses a decimal with exactly `exponent` digits after the point (none and no point when 0),
/// an optional leading `-`, into minor units. None on any other shape or on overflow.
pub(crate) fn parse_decimal(text: &str, exponent: u8) -> Option<i64> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = match rest.split_once('.') {
        Some((w, f)) if exponent > 0 && f.len() == usize::from(exponent) => (w, f),
        None if exponent == 0 => (rest, ""),
        _ => return None,
    };
    if whole.is_empty() || whole.len() > 15 {
        return None;
    }
    let mut value: i64 = 0;
    for c in whole.bytes().chain(fraction.bytes()) {
        if !c.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
    }
    Some(if negative { -value } else { value })
}

/// Parses an unsigned integer of ASCII digits only (no sign, no space), at most 18 digits.
pub(crate) fn parse_u64(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Parses a refund id as Sluice sends it: decimal, no leading zero, not 0.
pub(crate) fn parse_refund_id(text: &str) -> Option<u64> {
    let id = parse_u64(text)?;
    (id != 0 && !text.starts_with('0')).then_some(id)
}

/// Whether `text` is an identifier a bill may carry (a trade number, an account, a payout id):
/// 1 to 64 of ASCII letters, digits and `_-.@`. Nothing that needs quoting in any layout.
pub(crate) fn is_ident(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'@'))
}

/// The lines of a text with their 1-based numbers, without the `\n` or a trailing `\r`. A final
/// empty line (the file ends with a newline) is not yielded.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = (u32, &str)> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let empty = body.is_empty() && text.is_empty();
    body.split('\n')
        .filter(move |_| !empty)
        .enumerate()
        .map(|(i, l)| {
            (
                u32::try_from(i + 1).unwrap_or(u32::MAX),
                l.strip_suffix('\r').unwrap_or(l),
            )
        })
}

/// Splits one CSV record (no line terminator) into `out`. A field may be quoted; inside quotes a
/// comma is data and `""` is one quote. Unquoted fields and quoted ones without `""` are borrowed.
pub(crate) fn split_csv<'a>(
    line: &'a str,
    out: &mut Vec<Cow<'a, str>>,
) -> Result<(), &'static str> {
    out.clear();
    let mut rest = line;
    loop {
        if let Some(quoted) = rest.strip_prefix('"') {
            let (field, after) = quoted_field(quoted)?;
            out.push(field);
            match after.strip_prefix(',') {
                Some(next) => rest = next,
                None if after.is_empty() => return Ok(()),
                None => return Err("text after a closing quote"),
            }
        } else {
            let (field, next) = match rest.find(',') {
                Some(comma) => (&rest[..comma], Some(&rest[comma + 1..])),
                None => (rest, None),
            };
            if field.contains('"') {
                return Err("a quote inside an unquoted field");
            }
            out.push(Cow::Borrowed(field));
            match next {
                Some(next) => rest = next,
                None => return Ok(()),
            }
        }
    }
}

/// The content of a quoted field (after its opening quote) and the text after its closing quote.
fn quoted_field(text: &str) -> Result<(Cow<'_, str>, &str), &'static str> {
    let mut owned: Option<String> = None;
    let mut start = 0;
    loop {
        let close = text[start..].find('"').ok_or("an unclosed quote")? + start;
        if text[close + 1..].starts_with('"') {
            owned
                .get_or_insert_with(String::new)
                .push_str(&text[start..=close]);
            start = close + 2;
            continue;
        }
        let field = match owned {
            Some(mut s) => {
                s.push_str(&text[start..close]);
                Cow::Owned(s)
            }
            None => Cow::Borrowed(&text[..close]),
        };
        return Ok((field, &text[close + 1..]));
    }
}

/// Writes `text` as a quoted CSV field (PayPal quotes every text field).
pub(crate) fn write_quoted(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

/// Builds errors for one file.
#[derive(Clone, Copy)]
pub(crate) struct Errors<'a> {
    pub file: &'a str,
}

impl Errors<'_> {
    pub fn at(&self, line: u32, field: &str, message: impl Into<String>) -> BillError {
        BillError {
            file: self.file.to_string(),
            line,
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// The base name of a path (what follows the last `/` or `\`).
pub(crate) fn base_name(file: &str) -> &str {
    file.rsplit(['/', '\\']).next().unwrap_or(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips_over_days_and_offsets() {
        for day in [0i64, 1, 59, 365, 10_957, 20_454, 20_793, 200_000] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        let at_ns = 1_764_981_296 * NS_PER_S; // 2025-12-06 00:34:56 UTC
        let beijing = Civil::of(at_ns, 480);
        assert_eq!(
            (beijing.year, beijing.month, beijing.day, beijing.hour),
            (2025, 12, 6, 8)
        );
        assert_eq!(beijing.at_ns(480), Some(at_ns));
        let pacific = Civil::of(at_ns, -480);
        assert_eq!((pacific.day, pacific.hour), (5, 16));
        assert_eq!(pacific.at_ns(-480), Some(at_ns));
        assert_eq!(Civil::of_day(0).at_ns(60), None);
    }

    #[test]
    fn civil_parse_is_strict() {
        let mut s = String::new();
        let c = Civil::parse("2024-02-29 23:59:59", b'-').expect("a leap day");
        c.write(&mut s, '-');
        assert_eq!(s, "2024-02-29 23:59:59");
        for bad in [
            "2023-02-29 00:00:00",
            "2024-13-01 00:00:00",
            "2024-01-01 24:00:00",
            "2024-01-01 00:60:00",
            "2024/01/01 00:00:00",
            "2024-01-01T00:00:00",
            "2024-01-01 00:00:0",
            "+024-01-01 00:00:00",
            "1969-12-31 23:59:59",
        ] {
            assert_eq!(Civil::parse(bad, b'-'), None, "{bad}");
        }
    }

    #[test]
    fn decimals() {
        let cases = [
            (0, 2, "0.00"),
            (5, 2, "0.05"),
            (-1234, 2, "-12.34"),
            (7, 0, "7"),
            (1, 3, "0.001"),
        ];
        for (minor, exponent, text) in cases {
            let mut s = String::new();
            write_decimal(&mut s, minor, exponent);
            assert_eq!(s, text);
            assert_eq!(parse_decimal(text, exponent), Some(minor));
        }
        for (text, exponent) in [
            ("1.2", 2),
            ("1", 2),
            ("1.00", 0),
            ("", 2),
            (".50", 2),
            ("1,00", 2),
            ("--1.00", 2),
            ("1e3", 0),
            ("99999999999999999.00", 2),
        ] {
            assert_eq!(parse_decimal(text, exponent), None, "{text}");
        }
    }

    #[test]
    fn csv_fields() {
        let mut out = Vec::new();
        split_csv(r#"a,"b,c","d""e",,"""""#, &mut out).expect("valid");
        assert_eq!(out, ["a", "b,c", "d\"e", "", "\""]);
        for bad in [r#""abc"#, r#""a"b"#, r#"a"b"#] {
            assert!(split_csv(bad, &mut out).is_err(), "{bad}");
        }
        let mut s = String::new();
        write_quoted(&mut s, "x\"y");
        split_csv(&s, &mut out).expect("valid");
        assert_eq!(out, ["x\"y"]);
    }

    #[test]
    fn line_numbers() {
        let got: Vec<_> = lines("a\r\nb\n\nc\n").collect();
        assert_eq!(got, [(1, "a"), (2, "b"), (3, ""), (4, "c")]);
        assert_eq!(lines("").count(), 0);
        assert_eq!(lines("x").collect::<Vec<_>>(), [(1, "x")]);
    }
}
