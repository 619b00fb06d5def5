//! HTML building blocks: escaping (every string from outside goes through [`esc`]), the page
//! frame with its navigation, and small table helpers. Pages are plain strings built with
//! `write!`; nothing here allocates per character.

use std::fmt::Write as _;

/// Escapes text for an HTML element or a quoted attribute value.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The pages of the navigation bar: (path, title).
pub const NAV: &[(&str, &str)] = &[
    ("/", "Overview"),
    ("/channels", "Channels"),
    ("/risk", "Risk"),
    ("/reviews", "Reviews"),
    ("/reports", "Reports"),
    ("/payouts", "Payouts"),
    ("/finance", "Finance"),
    ("/order", "Order search"),
];

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:0;color:#1d232b;background:#f5f6f8}
header{background:#17324d;color:#fff;padding:.6em 1.2em;display:flex;gap:1.4em;align-items:center}
header a{color:#cfe3f7;text-decoration:none}header a.on{color:#fff;font-weight:600}
header .brand{font-weight:700;letter-spacing:.04em}header form{margin-left:auto}
main{padding:1em 1.4em;max-width:1200px}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;background:#fff;margin:.4em 0 1em}
th,td{border:1px solid #d6dbe1;padding:.25em .6em;text-align:left;font-size:.92em}
th{background:#eef1f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.alert{background:#b3261e;color:#fff;padding:.6em 1em;border-radius:4px;font-weight:600}
.ok{background:#1f7a3a;color:#fff;padding:.6em 1em;border-radius:4px}
.note{color:#5b6570}.bad{color:#b3261e;font-weight:600}.good{color:#1f7a3a;font-weight:600}
.tiles{display:flex;gap:1em;flex-wrap:wrap}.tile{background:#fff;border:1px solid #d6dbe1;
border-radius:4px;padding:.6em 1em;min-width:10em}.tile b{display:block;font-size:1.5em}
.chart{background:#fff;border:1px solid #d6dbe1;border-radius:4px;margin:.4em 0 1em}
.login{max-width:22em;margin:5em auto;background:#fff;padding:1.5em;border:1px solid #d6dbe1}
.login input{display:block;width:100%;margin:.3em 0 .8em;padding:.4em;box-sizing:border-box}
.error{color:#b3261e;font-weight:600}
";

/// A whole page: head, navigation (with `current` marked) and `body`. `refresh_secs` > 0 makes
/// the browser reload the page that often (the live pages).
pub fn page(title: &str, current: &str, refresh_secs: u32, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 4096);
    out.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    if refresh_secs > 0 {
        let _ = write!(
            out,
            "<meta http-equiv=\"refresh\" content=\"{refresh_secs}\">"
        );
    }
    let _ = write!(
        out,
        "<title>{} · Sluice console</title><style>{STYLE}</style></head><body><header>\
         <span class=\"brand\">SLUICE</span>",
        esc(title)
    );
    for (path, name) in NAV {
        let on = if *path == current {
            " class=\"on\""
        } else {
            ""
        };
        let _ = write!(out, "<a href=\"{path}\"{on}>{name}</a>");
    }
    out.push_str(
        "<form method=\"post\" action=\"/logout\"><button type=\"submit\">Log out</button></form>\
         </header><main>",
    );
    let _ = write!(out, "<h1>{}</h1>", esc(title));
    out.push_str(body);
    out.push_str("</main></body></html>");
    out
}

/// A table: a header row and rows of cells already escaped (or built from escaped parts).
/// Cells that are numbers (digits, separators, a sign, a percent) are right-aligned.
pub fn table(out: &mut String, id: &str, headers: &[&str], rows: &[Vec<String>]) {
    let _ = write!(out, "<table id=\"{}\"><thead><tr>", esc(id));
    for h in headers {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let numeric = cell.chars().any(|c| c.is_ascii_digit())
                && cell
                    .chars()
                    .all(|c| c.is_ascii_digit() || ".,-% ".contains(c));
            let class = if numeric { " class=\"num\"" } else { "" };
            let _ = write!(out, "<td{class}>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

/// Minor units as major units with two decimals (`12345` → `123.45`).
pub fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// A ratio as a percentage with one decimal, or `–` without a denominator.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "–".to_string();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// An event time (ns since the epoch) as `YYYY-MM-DD HH:MM:SS.mmm` UTC.
pub fn time_ns(ns: i64) -> String {
    let ms = ns.div_euclid(1_000_000);
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let s = ms_of_day / 1000;
    format!(
        "{} {:02}:{:02}:{:02}.{:03}",
        date(days as i32),
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms_of_day % 1000
    )
}

/// Days since 1970-01-01 as `YYYY-MM-DD` (the civil-from-days algorithm).
pub fn date(days: i32) -> String {
    let z = i64::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn dates_times_and_money_read_as_people_write_them() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(20_454), "2026-01-01");
        assert_eq!(date(-1), "1969-12-31");
        assert_eq!(time_ns(1_500_000_000), "1970-01-01 00:00:01.500");
        assert_eq!(money(-12_345), "-123.45");
        assert_eq!(money(7), "0.07");
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(1, 0), "–");
    }
}
