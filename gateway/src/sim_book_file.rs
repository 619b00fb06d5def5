//! The book file of `sluice channel-sim --book PATH`: the channel's book, append-only, one record
//! a line, so that a channel-sim killed and started again keeps its truth (a real wallet does).
//!
//! ```text
//! sluice channel book 2
//! attempt CHANNEL ORDER ATTEMPT AMOUNT CURRENCY capture|decline|error EFFECTIVE_NS CHANNEL_AT_NS FEE
//! close CHANNEL ORDER ATTEMPT AMOUNT CURRENCY
//! reverse CHANNEL ORDER ATTEMPT AT_NS
//! refund CHANNEL REFUND ORDER AMOUNT CURRENCY paid|failed EFFECTIVE_NS ATTEMPT CHANNEL_AT_NS FEE_RETURNED
//! ```
//!
//! Version 2 adds what the channel's bills need (`sim_bills`): the channel's time of a capture,
//! refund or reversal, the fee, the fee returned and the refunded attempt. A version 1 book
//! (`sluice channel book 1`, lines without those words) is still read: its records bill at their
//! effective time with no fee, a reversal at its capture's time; new records are appended in the
//! version 2 form (each line reads by its own word count), so the file keeps its first header.
//!
//! The records a message causes are written with one `write(2)` before the answer it causes is
//! sent, so a process killed at any point has written everything it answered (the page cache keeps
//! it); with `sync` each such write is also `fdatasync`ed, against power loss. A last line cut short
//! by a kill is dropped (and cut off the file) when the book is opened again; any other line that
//! does not read is an error naming its line.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::sim_book::{AttemptEntry, Decided, Record, RefundEntry};

const HEADER: &str = "sluice channel book 2";
/// The first version's header, still read.
const HEADER_V1: &str = "sluice channel book 1";

/// One record as its line (without the newline).
pub fn encode(record: &Record) -> String {
    match *record {
        Record::Attempt {
            order_id,
            attempt,
            entry: e,
        } => {
            let decided = match e.decided {
                Decided::Capture => "capture",
                Decided::Decline => "decline",
                Decided::Error => "error",
            };
            format!(
                "attempt {} {order_id} {attempt} {} {} {decided} {} {} {}",
                e.channel_id,
                e.amount_minor,
                e.currency,
                e.effective_ns,
                e.channel_at_ns,
                e.fee_minor
            )
        }
        Record::Close {
            channel_id,
            order_id,
            attempt,
            amount_minor,
            currency,
        } => format!("close {channel_id} {order_id} {attempt} {amount_minor} {currency}"),
        Record::Reverse {
            channel_id,
            order_id,
            attempt,
            at_ns,
        } => format!("reverse {channel_id} {order_id} {attempt} {at_ns}"),
        Record::Refund {
            refund_id,
            entry: r,
        } => format!(
            "refund {} {refund_id} {} {} {} {} {} {} {} {}",
            r.channel_id,
            r.order_id,
            r.amount_minor,
            r.currency,
            if r.paid { "paid" } else { "failed" },
            r.effective_ns,
            r.attempt,
            r.channel_at_ns,
            r.fee_returned_minor
        ),
    }
}

/// The words of one line, read as numbers where asked.
struct Words<'a> {
    line: &'a str,
    words: Vec<&'a str>,
}

impl Words<'_> {
    fn bad(&self) -> String {
        format!("not a book record: {:?}", self.line)
    }

    /// Checks the word count: `v1` words (a version 1 line) or `v2`; true for version 2.
    fn arity(&self, v1: usize, v2: usize) -> Result<bool, String> {
        match self.words.len() {
            n if n == v2 => Ok(true),
            n if n == v1 => Ok(false),
            _ => Err(self.bad()),
        }
    }

    /// Word `i` of a version 2 line, `default` on a version 1 line.
    fn num_or<T: std::str::FromStr>(&self, v2: bool, i: usize, default: T) -> Result<T, String> {
        if v2 { self.num(i) } else { Ok(default) }
    }

    fn word(&self, i: usize) -> &str {
        self.words.get(i).copied().unwrap_or_default()
    }

    fn num<T: std::str::FromStr>(&self, i: usize) -> Result<T, String> {
        self.word(i).parse().map_err(|_| self.bad())
    }
}

/// Reads one line back.
pub fn decode(line: &str) -> Result<Record, String> {
    let w = Words {
        line,
        words: line.split(' ').collect(),
    };
    match w.word(0) {
        "attempt" => {
            let v2 = w.arity(8, 10)?;
            let decided = match w.word(6) {
                "capture" => Decided::Capture,
                "decline" => Decided::Decline,
                "error" => Decided::Error,
                _ => return Err(w.bad()),
            };
            let effective_ns = w.num(7)?;
            let entry = AttemptEntry {
                channel_id: w.num(1)?,
                amount_minor: w.num(4)?,
                currency: w.num(5)?,
                decided,
                effective_ns,
                closed: false,
                reversed: false,
                channel_at_ns: w.num_or(v2, 8, effective_ns)?,
                fee_minor: w.num_or(v2, 9, 0)?,
                reversed_at_ns: 0,
            };
            let (order_id, attempt) = (w.num(2)?, w.num(3)?);
            Ok(Record::Attempt {
                order_id,
                attempt,
                entry,
            })
        }
        "close" => {
            w.arity(6, 6)?;
            Ok(Record::Close {
                channel_id: w.num(1)?,
                order_id: w.num(2)?,
                attempt: w.num(3)?,
                amount_minor: w.num(4)?,
                currency: w.num(5)?,
            })
        }
        "reverse" => {
            let v2 = w.arity(4, 5)?;
            Ok(Record::Reverse {
                channel_id: w.num(1)?,
                order_id: w.num(2)?,
                attempt: w.num(3)?,
                at_ns: w.num_or(v2, 4, 0)?,
            })
        }
        "refund" => decode_refund(&w),
        _ => Err(w.bad()),
    }
}

fn decode_refund(w: &Words<'_>) -> Result<Record, String> {
    let v2 = w.arity(8, 11)?;
    let paid = match w.word(6) {
        "paid" => true,
        "failed" => false,
        _ => return Err(w.bad()),
    };
    let effective_ns = w.num(7)?;
    let entry = RefundEntry {
        channel_id: w.num(1)?,
        order_id: w.num(3)?,
        attempt: w.num_or(v2, 8, 0)?,
        amount_minor: w.num(4)?,
        currency: w.num(5)?,
        paid,
        effective_ns,
        channel_at_ns: w.num_or(v2, 9, effective_ns)?,
        fee_returned_minor: w.num_or(v2, 10, 0)?,
    };
    Ok(Record::Refund {
        refund_id: w.num(2)?,
        entry,
    })
}

/// An open book file, appended to.
pub struct BookFile {
    file: File,
    path: PathBuf,
    sync: bool,
}

impl BookFile {
    /// Opens (or creates) the book at `path` and returns it with the records it holds.
    pub fn open(path: &Path, sync: bool) -> Result<(BookFile, Vec<Record>), String> {
        let at = |e: std::io::Error| format!("book {}: {e}", path.display());
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(at)?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(at)?;
        // A line cut short by a kill: everything after the last newline.
        let whole = text.rfind('\n').map_or(0, |i| i + 1);
        if whole < text.len() {
            file.set_len(whole as u64).map_err(at)?;
        }
        let mut lines = text[..whole].lines();
        match lines.next() {
            None => file
                .write_all(format!("{HEADER}\n").as_bytes())
                .map_err(at)?,
            Some(HEADER | HEADER_V1) => {}
            Some(other) => {
                return Err(format!(
                    "book {}: line 1 is {other:?}, not {HEADER:?}",
                    path.display()
                ));
            }
        }
        let records = lines
            .enumerate()
            .map(|(i, line)| {
                decode(line).map_err(|e| format!("book {} line {}: {e}", path.display(), i + 2))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let path = path.to_path_buf();
        Ok((BookFile { file, path, sync }, records))
    }

    /// Appends `records` with one write (and one fdatasync with `sync`).
    pub fn append(&mut self, records: &[Record]) -> Result<(), String> {
        if records.is_empty() {
            return Ok(());
        }
        let mut text = String::with_capacity(records.len() * 64);
        for r in records {
            text.push_str(&encode(r));
            text.push('\n');
        }
        let at = |e: std::io::Error| format!("book {}: {e}", self.path.display());
        self.file.write_all(text.as_bytes()).map_err(at)?;
        if self.sync {
            self.file.sync_data().map_err(at)?;
        }
        Ok(())
    }
}

/// The records of the book file at `path` (for a check after the run).
pub fn read(path: &Path) -> Result<Vec<Record>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let whole = text.rfind('\n').map_or(0, |i| i + 1);
    let mut lines = text[..whole].lines();
    if !matches!(lines.next(), Some(HEADER | HEADER_V1)) {
        return Err(format!("{}: not a channel book", path.display()));
    }
    lines.map(decode).collect::<Result<Vec<_>, _>>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Record> {
        vec![
            Record::Attempt {
                order_id: 12,
                attempt: 2,
                entry: AttemptEntry {
                    channel_id: 3,
                    currency: 156,
                    amount_minor: 1_234,
                    decided: Decided::Capture,
                    effective_ns: 1_700_000_000_000_000_000,
                    closed: false,
                    reversed: false,
                    channel_at_ns: 1_699_999_999_999_000_000,
                    fee_minor: 7,
                    reversed_at_ns: 0,
                },
            },
            Record::Close {
                channel_id: 3,
                order_id: 13,
                attempt: 1,
                amount_minor: 5,
                currency: 840,
            },
            Record::Reverse {
                channel_id: 3,
                order_id: 12,
                attempt: 2,
                at_ns: 1_700_000_000_500_000_000,
            },
            Record::Refund {
                refund_id: 99,
                entry: RefundEntry {
                    channel_id: 3,
                    order_id: 12,
                    attempt: 2,
                    currency: 156,
                    amount_minor: 34,
                    paid: false,
                    effective_ns: 7,
                    channel_at_ns: 6,
                    fee_returned_minor: 0,
                },
            },
        ]
    }

    #[test]
    fn records_read_back_as_written() {
        for r in samples() {
            assert_eq!(decode(&encode(&r)), Ok(r));
        }
        assert!(decode("attempt 1 2").is_err());
        assert!(decode("attempt 1 2 3 4 5 maybe 6").is_err());
        assert!(
            decode("close 1 2 300 4 5").is_err(),
            "attempt numbers are u8"
        );
        assert!(decode("").is_err());
    }

    #[test]
    fn a_version_1_book_reads_with_what_it_lacks_defaulted() {
        let dir = std::env::temp_dir().join(format!("sluice-book-v1-{}", std::process::id()));
        let v1 = format!(
            "{HEADER_V1}\nattempt 3 12 2 1234 156 capture 900\nreverse 3 12 2\nrefund 3 99 12 34 156 paid 950\n"
        );
        std::fs::write(&dir, v1).unwrap();
        let (mut file, records) = BookFile::open(&dir, false).unwrap();
        let Record::Attempt { entry, .. } = records[0] else {
            panic!("{records:?}")
        };
        assert_eq!((entry.channel_at_ns, entry.fee_minor), (900, 0));
        assert!(matches!(records[1], Record::Reverse { at_ns: 0, .. }));
        let Record::Refund { entry, .. } = records[2] else {
            panic!("{records:?}")
        };
        assert_eq!((entry.attempt, entry.channel_at_ns), (0, 950));
        // Appended in the version 2 form to the version 1 file, and read back.
        file.append(&samples()).unwrap();
        assert_eq!(read(&dir).unwrap()[3..], samples()[..]);
        let _ = std::fs::remove_file(&dir);
    }

    #[test]
    fn a_reopened_book_has_its_records_and_drops_a_cut_line() {
        let dir = std::env::temp_dir().join(format!("sluice-book-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let (mut file, records) = BookFile::open(&dir, false).unwrap();
        assert!(records.is_empty());
        file.append(&samples()).unwrap();
        drop(file);
        // A kill in the middle of a line.
        let mut f = OpenOptions::new().append(true).open(&dir).unwrap();
        f.write_all(b"attempt 3 14 1 50").unwrap();
        drop(f);
        let (mut file, records) = BookFile::open(&dir, true).unwrap();
        assert_eq!(records, samples());
        file.append(&samples()[..1]).unwrap();
        assert_eq!(read(&dir).unwrap().len(), 5);
        std::fs::write(&dir, format!("{HEADER}\nattempt x\n")).unwrap();
        let e = BookFile::open(&dir, false).err().unwrap();
        assert!(e.contains("line 2"), "{e}");
        let _ = std::fs::remove_file(&dir);
    }
}
