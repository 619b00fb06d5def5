//! The store's records as bytes (pure functions, no files). A frame is
//! `len: u32 LE | crc32c(payload): u32 LE | payload`, and a payload is a tag byte then fields:
//! integers little-endian, strings and bodies as `u32 length | bytes`.

use crate::Notification;

/// A frame's header: length and CRC32C.
pub const FRAME_HEADER_BYTES: usize = 8;
/// No record is larger: a length above it is damage, not a record.
pub const RECORD_MAX_BYTES: usize = 16 << 20;
/// A notification body is at most this (the merchant's endpoint is not a file transfer).
pub const BODY_MAX_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The first record of every log and checkpoint: which compaction generation it belongs to.
    Header {
        generation: u64,
    },
    Created {
        note: Notification,
        at_ms: u64,
    },
    /// A failed attempt: how many so far, when the next is due, and why it failed.
    Attempted {
        id: String,
        attempts: u32,
        next_due_ms: u64,
        error: String,
    },
    Delivered {
        id: String,
        at_ms: u64,
    },
    GivenUp {
        id: String,
        attempts: u32,
        at_ms: u64,
        error: String,
    },
    Resend {
        id: String,
        at_ms: u64,
    },
    /// Checkpoint only: an undelivered notification with its whole state.
    Pending {
        note: Notification,
        attempts: u32,
        due_ms: u64,
        last_error: String,
        given_up: bool,
    },
    /// Checkpoint only: a delivered id kept for idempotent enqueue.
    DeliveredId {
        id: String,
        at_ms: u64,
    },
}

const TAG_HEADER: u8 = 1;
const TAG_CREATED: u8 = 2;
const TAG_ATTEMPTED: u8 = 3;
const TAG_DELIVERED: u8 = 4;
const TAG_GIVEN_UP: u8 = 5;
const TAG_RESEND: u8 = 6;
const TAG_PENDING: u8 = 7;
const TAG_DELIVERED_ID: u8 = 8;

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_bytes(out: &mut Vec<u8>, v: &[u8]) {
    put_u32(
        out,
        u32::try_from(v.len()).expect("fields are bounded far below 4 GiB"),
    );
    out.extend_from_slice(v);
}

fn put_note(out: &mut Vec<u8>, note: &Notification) {
    put_bytes(out, note.id.as_bytes());
    put_u32(out, note.merchant_id);
    put_u64(out, note.order_id);
    put_bytes(out, note.kind.as_bytes());
    put_bytes(out, &note.body);
}

/// Appends one framed record to `out`.
pub fn encode(record: &Record, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER_BYTES]);
    encode_payload(record, out);
    let payload = &out[start + FRAME_HEADER_BYTES..];
    assert!(
        payload.len() <= RECORD_MAX_BYTES,
        "records are bounded by the body limit"
    );
    let len = u32::try_from(payload.len()).expect("bounded above");
    let crc = crc32c::crc32c(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn encode_payload(record: &Record, out: &mut Vec<u8>) {
    match record {
        Record::Header { generation } => {
            out.push(TAG_HEADER);
            put_u64(out, *generation);
        }
        Record::Created { note, at_ms } => {
            out.push(TAG_CREATED);
            put_note(out, note);
            put_u64(out, *at_ms);
        }
        Record::Attempted {
            id,
            attempts,
            next_due_ms,
            error,
        } => {
            out.push(TAG_ATTEMPTED);
            put_bytes(out, id.as_bytes());
            put_u32(out, *attempts);
            put_u64(out, *next_due_ms);
            put_bytes(out, error.as_bytes());
        }
        Record::Delivered { id, at_ms }
        | Record::Resend { id, at_ms }
        | Record::DeliveredId { id, at_ms } => {
            out.push(match record {
                Record::Delivered { .. } => TAG_DELIVERED,
                Record::Resend { .. } => TAG_RESEND,
                _ => TAG_DELIVERED_ID,
            });
            put_bytes(out, id.as_bytes());
            put_u64(out, *at_ms);
        }
        Record::GivenUp {
            id,
            attempts,
            at_ms,
            error,
        } => {
            out.push(TAG_GIVEN_UP);
            put_bytes(out, id.as_bytes());
            put_u32(out, *attempts);
            put_u64(out, *at_ms);
            put_bytes(out, error.as_bytes());
        }
        Record::Pending {
            note,
            attempts,
            due_ms,
            last_error,
            given_up,
        } => {
            out.push(TAG_PENDING);
            put_note(out, note);
            put_u32(out, *attempts);
            put_u64(out, *due_ms);
            put_bytes(out, last_error.as_bytes());
            out.push(u8::from(*given_up));
        }
    }
}

/// Reads fields off a payload; every read is bounds-checked (a bad payload is an error).
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() < n {
            return Err(format!(
                "a field needs {n} bytes, {} left",
                self.bytes.len()
            ));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("took 4"),
        ))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("took 8"),
        ))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, String> {
        let len = self.u32()? as usize;
        Ok(self.take(len)?.to_vec())
    }
    fn string(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?).map_err(|_| "a text field is not UTF-8".to_string())
    }
    fn note(&mut self) -> Result<Notification, String> {
        Ok(Notification {
            id: self.string()?,
            merchant_id: self.u32()?,
            order_id: self.u64()?,
            kind: self.string()?,
            body: self.bytes()?,
        })
    }
}

/// Decodes one payload (the frame's CRC already checked).
pub fn decode_payload(payload: &[u8]) -> Result<Record, String> {
    let mut r = Reader { bytes: payload };
    let record = match r.u8()? {
        TAG_HEADER => Record::Header {
            generation: r.u64()?,
        },
        TAG_CREATED => Record::Created {
            note: r.note()?,
            at_ms: r.u64()?,
        },
        TAG_ATTEMPTED => Record::Attempted {
            id: r.string()?,
            attempts: r.u32()?,
            next_due_ms: r.u64()?,
            error: r.string()?,
        },
        TAG_DELIVERED => Record::Delivered {
            id: r.string()?,
            at_ms: r.u64()?,
        },
        TAG_GIVEN_UP => Record::GivenUp {
            id: r.string()?,
            attempts: r.u32()?,
            at_ms: r.u64()?,
            error: r.string()?,
        },
        TAG_RESEND => Record::Resend {
            id: r.string()?,
            at_ms: r.u64()?,
        },
        TAG_PENDING => Record::Pending {
            note: r.note()?,
            attempts: r.u32()?,
            due_ms: r.u64()?,
            last_error: r.string()?,
            given_up: r.u8()? != 0,
        },
        TAG_DELIVERED_ID => Record::DeliveredId {
            id: r.string()?,
            at_ms: r.u64()?,
        },
        tag => return Err(format!("unknown record tag {tag}")),
    };
    if !r.bytes.is_empty() {
        return Err(format!(
            "{} bytes after the record's last field",
            r.bytes.len()
        ));
    }
    Ok(record)
}

/// What scanning a buffer of frames found.
#[derive(Debug)]
pub struct Scan {
    pub records: Vec<Record>,
    /// Bytes of whole, valid frames from the start; a torn tail begins here.
    pub valid_bytes: u64,
    /// True when bytes past `valid_bytes` were left (a torn tail).
    pub torn_tail: bool,
}

/// Reads every frame. A frame that runs past the end, or whose CRC fails and that is the last
/// thing in the buffer, is a torn tail (a crash mid-append): reported, not an error. Damage with
/// whole frames after it cannot come from a crash, and is an error naming the offset.
pub fn scan(bytes: &[u8]) -> Result<Scan, (u64, String)> {
    let mut records = Vec::new();
    let mut offset = 0usize;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        let torn = |records| {
            Ok(Scan {
                records,
                valid_bytes: offset as u64,
                torn_tail: true,
            })
        };
        if rest.len() < FRAME_HEADER_BYTES {
            return torn(records);
        }
        let len = u32::from_le_bytes(rest[0..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(rest[4..8].try_into().expect("4 bytes"));
        if len > RECORD_MAX_BYTES {
            return Err((
                offset as u64,
                format!("record length {len} exceeds {RECORD_MAX_BYTES}"),
            ));
        }
        if rest.len() < FRAME_HEADER_BYTES + len {
            return torn(records);
        }
        let payload = &rest[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + len];
        let end = offset + FRAME_HEADER_BYTES + len;
        if crc32c::crc32c(payload) != crc {
            if end == bytes.len() {
                return torn(records);
            }
            return Err((
                offset as u64,
                "CRC32C mismatch with whole records after it".into(),
            ));
        }
        records.push(decode_payload(payload).map_err(|e| (offset as u64, e))?);
        offset = end;
    }
    Ok(Scan {
        records,
        valid_bytes: offset as u64,
        torn_tail: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note() -> Notification {
        Notification {
            id: "ntf_1_0".into(),
            merchant_id: 7,
            order_id: 99,
            kind: "payment.failed".into(),
            body: br#"{"a":1}"#.to_vec(),
        }
    }

    fn all() -> Vec<Record> {
        let id = || "ntf_1_0".to_string();
        vec![
            Record::Header { generation: 3 },
            Record::Created {
                note: note(),
                at_ms: 5,
            },
            Record::Attempted {
                id: id(),
                attempts: 2,
                next_due_ms: 9,
                error: "500".into(),
            },
            Record::Delivered {
                id: id(),
                at_ms: 10,
            },
            Record::GivenUp {
                id: id(),
                attempts: 16,
                at_ms: 11,
                error: "timeout".into(),
            },
            Record::Resend {
                id: id(),
                at_ms: 12,
            },
            Record::Pending {
                note: note(),
                attempts: 1,
                due_ms: 13,
                last_error: String::new(),
                given_up: true,
            },
            Record::DeliveredId {
                id: id(),
                at_ms: 14,
            },
        ]
    }

    #[test]
    fn every_record_round_trips() {
        let mut bytes = Vec::new();
        for record in all() {
            encode(&record, &mut bytes);
        }
        let scan = scan(&bytes).unwrap();
        assert_eq!(scan.records, all());
        assert!(!scan.torn_tail);
    }

    #[test]
    fn a_torn_tail_is_cut_at_every_length_and_middle_damage_is_an_error() {
        let mut bytes = Vec::new();
        for record in all() {
            encode(&record, &mut bytes);
        }
        let whole = scan(&bytes).unwrap().valid_bytes;
        for cut in 0..bytes.len() {
            let scan = scan(&bytes[..cut]).unwrap();
            assert!(scan.valid_bytes <= cut as u64 && scan.valid_bytes < whole);
        }
        let mut damaged = bytes.clone();
        damaged[30] ^= 0xff;
        let (offset, message) = scan(&damaged).unwrap_err();
        assert_eq!(
            offset, 17,
            "the second frame (the header frame is 17 bytes)"
        );
        assert!(message.contains("CRC32C"), "{message}");
        let mut last = bytes.clone();
        let n = last.len();
        last[n - 1] ^= 0xff;
        assert!(
            scan(&last).unwrap().torn_tail,
            "damage in the last frame is a torn write"
        );
        assert!(decode_payload(&[99]).is_err());
        assert!(decode_payload(&[TAG_DELIVERED, 200, 0, 0, 0]).is_err());
    }
}
