//! The payout channels' book file: beside the payment channels' book (`sim_book_file`), at the
//! book's path with `.payouts` appended, one record a line, so that a simulator killed and started
//! again keeps its transfers (a bank does) and a repeated dispatch is still never paid twice.
//!
//! ```text
//! sluice payout book 1
//! payout CHANNEL PAYOUT KIND PARTY CURRENCY AMOUNT FEE paid|failed:CODE RECEIVED_NS FINAL_NS RETURN_DUE_NS
//! unseen CHANNEL PAYOUT
//! returned CHANNEL PAYOUT AT_NS
//! ```
//!
//! Written as the payment channels' book is: the records a message causes with one `write(2)`
//! before the answer they cause is sent; a last line cut short by a kill is dropped when the file
//! is opened again.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sluice_protocol::PartyKind;

use crate::sim_payout_book::{Fate, PayoutEntry, PayoutRecord};

const HEADER: &str = "sluice payout book 1";

/// The payout book's path beside a payment channels' book at `book`.
pub fn beside(book: &Path) -> PathBuf {
    let mut name = book.as_os_str().to_owned();
    name.push(".payouts");
    PathBuf::from(name)
}

/// One record as its line (without the newline).
pub fn encode(record: &PayoutRecord) -> String {
    match *record {
        PayoutRecord::Payout {
            payout_id,
            entry: e,
        } => {
            let fate = match e.fate {
                Fate::Paid => "paid".to_string(),
                Fate::Failed(code) => format!("failed:{code}"),
            };
            format!(
                "payout {} {payout_id} {} {} {} {} {} {fate} {} {} {}",
                e.channel_id,
                e.party_kind as u8,
                e.party_id,
                e.currency,
                e.amount_minor,
                e.fee_minor,
                e.received_ns,
                e.final_ns,
                e.return_due_ns
            )
        }
        PayoutRecord::Unseen {
            channel_id,
            payout_id,
        } => format!("unseen {channel_id} {payout_id}"),
        PayoutRecord::Returned {
            channel_id,
            payout_id,
            at_ns,
        } => format!("returned {channel_id} {payout_id} {at_ns}"),
    }
}

/// Reads one line back.
pub fn decode(line: &str) -> Result<PayoutRecord, String> {
    let bad = || format!("not a payout book record: {line:?}");
    let words: Vec<&str> = line.split(' ').collect();
    let num = |i: usize| -> Result<u64, String> {
        words.get(i).and_then(|w| w.parse().ok()).ok_or_else(bad)
    };
    let small = |i: usize| -> Result<u16, String> { u16::try_from(num(i)?).map_err(|_| bad()) };
    let signed = |i: usize| -> Result<i64, String> {
        words.get(i).and_then(|w| w.parse().ok()).ok_or_else(bad)
    };
    match (words.first().copied(), words.len()) {
        (Some("payout"), 12) => {
            let party_kind = match num(3)? {
                1 => PartyKind::Merchant,
                2 => PartyKind::Promoter,
                3 => PartyKind::Platform,
                _ => return Err(bad()),
            };
            let fate = match words[8].split_once(':') {
                None if words[8] == "paid" => Fate::Paid,
                Some(("failed", code)) => Fate::Failed(code.parse().map_err(|_| bad())?),
                _ => return Err(bad()),
            };
            let entry = PayoutEntry {
                channel_id: small(1)?,
                party_kind,
                party_id: u32::try_from(num(4)?).map_err(|_| bad())?,
                currency: small(5)?,
                amount_minor: signed(6)?,
                fee_minor: signed(7)?,
                fate,
                received_ns: num(9)?,
                final_ns: num(10)?,
                return_due_ns: num(11)?,
                returned_ns: 0,
            };
            Ok(PayoutRecord::Payout {
                payout_id: num(2)?,
                entry,
            })
        }
        (Some("unseen"), 3) => Ok(PayoutRecord::Unseen {
            channel_id: small(1)?,
            payout_id: num(2)?,
        }),
        (Some("returned"), 4) => Ok(PayoutRecord::Returned {
            channel_id: small(1)?,
            payout_id: num(2)?,
            at_ns: num(3)?,
        }),
        _ => Err(bad()),
    }
}

/// An open payout book file, appended to.
pub struct PayoutBookFile {
    file: File,
    path: PathBuf,
    sync: bool,
}

impl PayoutBookFile {
    /// Opens (or creates) the file at `path` and returns it with the records it holds.
    pub fn open(path: &Path, sync: bool) -> Result<(PayoutBookFile, Vec<PayoutRecord>), String> {
        let at = |e: std::io::Error| format!("payout book {}: {e}", path.display());
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
            Some(HEADER) => {}
            Some(other) => {
                return Err(format!(
                    "payout book {}: line 1 is {other:?}, not {HEADER:?}",
                    path.display()
                ));
            }
        }
        let records = lines
            .enumerate()
            .map(|(i, line)| {
                decode(line)
                    .map_err(|e| format!("payout book {} line {}: {e}", path.display(), i + 2))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let path = path.to_path_buf();
        Ok((PayoutBookFile { file, path, sync }, records))
    }

    /// Appends `records` with one write (and one fdatasync with `sync`).
    pub fn append(&mut self, records: &[PayoutRecord]) -> Result<(), String> {
        if records.is_empty() {
            return Ok(());
        }
        let mut text = String::with_capacity(records.len() * 96);
        for r in records {
            text.push_str(&encode(r));
            text.push('\n');
        }
        let at = |e: std::io::Error| format!("payout book {}: {e}", self.path.display());
        self.file.write_all(text.as_bytes()).map_err(at)?;
        if self.sync {
            self.file.sync_data().map_err(at)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<PayoutRecord> {
        let entry = PayoutEntry {
            channel_id: 9,
            party_kind: PartyKind::Promoter,
            party_id: 501,
            currency: 156,
            amount_minor: 50_000,
            fee_minor: 200,
            fate: Fate::Failed(3),
            received_ns: 1_793_462_400_000_000_000,
            final_ns: 1_793_462_400_000_000_000,
            return_due_ns: 0,
            returned_ns: 0,
        };
        let paid = PayoutEntry {
            fate: Fate::Paid,
            party_kind: PartyKind::Platform,
            party_id: 0,
            amount_minor: -1,
            return_due_ns: 7,
            ..entry
        };
        vec![
            PayoutRecord::Payout {
                payout_id: 4,
                entry,
            },
            PayoutRecord::Unseen {
                channel_id: 9,
                payout_id: 5,
            },
            PayoutRecord::Payout {
                payout_id: 5,
                entry: paid,
            },
            PayoutRecord::Returned {
                channel_id: 9,
                payout_id: 5,
                at_ns: 99,
            },
        ]
    }

    #[test]
    fn records_read_back_as_written_and_a_cut_line_is_dropped() {
        for r in samples() {
            assert_eq!(decode(&encode(&r)), Ok(r));
        }
        assert!(
            decode("payout 9 1 7 0 156 1 1 paid 0 0 0").is_err(),
            "party kind 7"
        );
        assert!(decode("returned 9 1").is_err());
        let dir = std::env::temp_dir().join(format!("sluice-payout-book-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = beside(&dir.join("book"));
        let _ = std::fs::remove_file(&path);
        let (mut f, read) = PayoutBookFile::open(&path, false).unwrap();
        assert!(read.is_empty());
        f.append(&samples()).unwrap();
        drop(f);
        let mut cut = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        cut.write_all(b"payout 9 77 1").unwrap();
        let (_, read) = PayoutBookFile::open(&path, false).unwrap();
        assert_eq!(read, samples());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
