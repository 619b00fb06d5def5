//! The on-disk layout of segments and records, as pure functions over byte slices. Nothing here
//! touches a file; `docs/JOURNAL.md` describes the same layout in prose.

use std::sync::atomic::{Ordering, fence};

use crate::storage::load_u32_relaxed;

/// First 8 bytes of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"SLJRNL01";
/// Version of the segment and record layout.
pub const SEGMENT_FORMAT_VERSION: u32 = 1;
/// Length of the segment header; the first record starts here.
pub const SEGMENT_HEADER_LEN_BYTES: u64 = 64;
/// Length of a record header; the payload starts here.
pub const RECORD_HEADER_LEN_BYTES: u64 = 32;
/// Every record starts at a multiple of this.
pub const RECORD_ALIGN_BYTES: u64 = 8;
/// Smallest segment size accepted in a config or a segment header.
pub const MIN_SEGMENT_SIZE_BYTES: u64 = 512;
/// Largest segment size accepted (1 TiB): a bound on what one map may need.
pub const MAX_SEGMENT_SIZE_BYTES: u64 = 1 << 40;
/// Sequences stay below this (2^63 - 1; a segment may start at it): far beyond any real use,
/// and low enough that sequence arithmetic on values read from disk can never overflow.
pub const MAX_SEQ: u64 = u64::MAX >> 1;
/// File-name suffix of a segment: `<first_seq, 20 digits>.seg`.
pub const SEGMENT_FILE_SUFFIX: &str = ".seg";
/// Decimal digits of the sequence in segment and snapshot file names.
pub const FILE_NAME_SEQ_DIGITS: usize = 20;

/// Byte offsets inside the segment header.
const HEADER_VERSION_AT: usize = 8;
const HEADER_LEN_AT: usize = 12;
const HEADER_FIRST_SEQ_AT: usize = 16;
const HEADER_SIZE_AT: usize = 24;
const HEADER_CRC_AT: usize = 32;
const HEADER_RESERVED_AT: usize = 36;

/// Byte offsets inside a record header.
const RECORD_CRC_AT: usize = 4;
const RECORD_SEQ_AT: usize = 8;
const RECORD_TIMESTAMP_AT: usize = 16;
const RECORD_KIND_AT: usize = 24;
const RECORD_FLAGS_AT: usize = 26;
const RECORD_UNCOMMITTED_AT: usize = 28;

/// Rounds `len_bytes` up to the record alignment.
pub(crate) const fn align_up(len_bytes: u64) -> u64 {
    len_bytes.div_ceil(RECORD_ALIGN_BYTES) * RECORD_ALIGN_BYTES
}

/// The largest payload that fits an empty segment of `segment_size_bytes`: the record (header and
/// payload, padded) must fit after the segment header, and its length must fit the u32 field.
pub(crate) fn max_payload_bytes(segment_size_bytes: u64) -> u64 {
    let room_bytes = segment_size_bytes.saturating_sub(SEGMENT_HEADER_LEN_BYTES);
    let room_bytes = room_bytes - room_bytes % RECORD_ALIGN_BYTES;
    let by_segment = room_bytes.saturating_sub(RECORD_HEADER_LEN_BYTES);
    let by_length_field = u64::from(u32::MAX) - RECORD_HEADER_LEN_BYTES;
    by_segment.min(by_length_field)
}

/// Checks a segment size from a config or a header; returns why it is unusable.
pub(crate) fn check_segment_size(segment_size_bytes: u64) -> Result<(), String> {
    if !(MIN_SEGMENT_SIZE_BYTES..=MAX_SEGMENT_SIZE_BYTES).contains(&segment_size_bytes) {
        return Err(format!(
            "segment size {segment_size_bytes} bytes is outside \
             {MIN_SEGMENT_SIZE_BYTES}..={MAX_SEGMENT_SIZE_BYTES}"
        ));
    }
    if !segment_size_bytes.is_multiple_of(RECORD_ALIGN_BYTES) {
        return Err(format!(
            "segment size {segment_size_bytes} bytes is not a multiple of {RECORD_ALIGN_BYTES}"
        ));
    }
    Ok(())
}

/// `<seq, 20 digits><suffix>`: zero padding makes name order equal sequence order.
pub(crate) fn seq_file_name(seq: u64, suffix: &str) -> String {
    format!("{seq:0width$}{suffix}", width = FILE_NAME_SEQ_DIGITS)
}

/// The sequence in a `<20 digits><suffix>` file name, or `None` for any other name.
pub(crate) fn parse_seq_file_name(name: &str, suffix: &str) -> Option<u64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() != FILE_NAME_SEQ_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()
}

fn array_at<const LEN: usize>(bytes: &[u8], at: usize) -> Option<[u8; LEN]> {
    bytes.get(at..at.checked_add(LEN)?)?.try_into().ok()
}

pub(crate) fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    array_at(bytes, at).map(u16::from_le_bytes)
}

pub(crate) fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    array_at(bytes, at).map(u32::from_le_bytes)
}

pub(crate) fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    array_at(bytes, at).map(u64::from_le_bytes)
}

/// The fixed part of a segment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub first_seq: u64,
    pub segment_size_bytes: u64,
}

impl SegmentHeader {
    pub(crate) fn encode(&self) -> [u8; SEGMENT_HEADER_LEN_BYTES as usize] {
        let mut bytes = [0u8; SEGMENT_HEADER_LEN_BYTES as usize];
        bytes[0..8].copy_from_slice(&SEGMENT_MAGIC);
        bytes[8..12].copy_from_slice(&SEGMENT_FORMAT_VERSION.to_le_bytes());
        bytes[12..16].copy_from_slice(&(SEGMENT_HEADER_LEN_BYTES as u32).to_le_bytes());
        bytes[16..24].copy_from_slice(&self.first_seq.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.segment_size_bytes.to_le_bytes());
        let crc = crc32c::crc32c(&bytes[0..HEADER_CRC_AT]);
        bytes[32..36].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Parses and checks a header; the error says what is wrong with it.
    pub(crate) fn decode(bytes: &[u8]) -> Result<SegmentHeader, String> {
        let short = || "the file is shorter than the segment header".to_string();
        let header = bytes
            .get(..SEGMENT_HEADER_LEN_BYTES as usize)
            .ok_or_else(short)?;
        if header[0..8] != SEGMENT_MAGIC {
            return Err("bad magic: not a Sluice journal segment".into());
        }
        let stored_crc = read_u32(header, HEADER_CRC_AT).ok_or_else(short)?;
        if crc32c::crc32c(&header[0..HEADER_CRC_AT]) != stored_crc {
            return Err("segment header checksum mismatch".into());
        }
        let version = read_u32(header, HEADER_VERSION_AT).ok_or_else(short)?;
        if version != SEGMENT_FORMAT_VERSION {
            return Err(format!("unsupported segment format version {version}"));
        }
        let header_len = read_u32(header, HEADER_LEN_AT).ok_or_else(short)?;
        if u64::from(header_len) != SEGMENT_HEADER_LEN_BYTES {
            return Err(format!("unsupported segment header length {header_len}"));
        }
        if header[HEADER_RESERVED_AT..].iter().any(|byte| *byte != 0) {
            return Err("non-zero reserved bytes in the segment header".into());
        }
        let first_seq = read_u64(header, HEADER_FIRST_SEQ_AT).ok_or_else(short)?;
        if first_seq == 0 || first_seq > MAX_SEQ {
            return Err(format!(
                "segment header says first seq {first_seq}, outside 1..={MAX_SEQ}"
            ));
        }
        let segment_size_bytes = read_u64(header, HEADER_SIZE_AT).ok_or_else(short)?;
        check_segment_size(segment_size_bytes)?;
        Ok(SegmentHeader {
            first_seq,
            segment_size_bytes,
        })
    }
}

/// The fields of a record header that the writer chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordFields {
    pub seq: u64,
    pub timestamp_ns: u64,
    pub kind: u16,
    /// How many records before this one had been appended but not yet committed when it was
    /// written (saturating). Recovery uses it to tell a torn uncommitted batch from damage to
    /// records that were already committed.
    pub uncommitted_before: u32,
}

impl RecordFields {
    /// The last sequence that was committed when this record was written.
    pub(crate) fn committed_seq_at_write(&self) -> Option<u64> {
        self.seq
            .checked_sub(1)?
            .checked_sub(u64::from(self.uncommitted_before))
    }
}

/// The record checksum: CRC32C over bytes [8, 32) of the header, then the payload, then the four
/// bytes of `total_len`. Covering the length last means a torn length can never pass.
pub(crate) fn record_crc(header_after_crc: &[u8], payload: &[u8], total_len: u32) -> u32 {
    let crc = crc32c::crc32c(header_after_crc);
    let crc = crc32c::crc32c_append(crc, payload);
    crc32c::crc32c_append(crc, &total_len.to_le_bytes())
}

/// Builds the record header with its checksum. `total_len` (header plus payload, unpadded) is
/// in bytes [0, 4); the writer copies bytes [4, 32) first and publishes the length last.
pub(crate) fn encode_record_header(
    fields: &RecordFields,
    payload: &[u8],
    total_len: u32,
) -> [u8; RECORD_HEADER_LEN_BYTES as usize] {
    debug_assert_eq!(
        u64::from(total_len),
        RECORD_HEADER_LEN_BYTES + payload.len() as u64
    );
    let mut header = [0u8; RECORD_HEADER_LEN_BYTES as usize];
    header[8..16].copy_from_slice(&fields.seq.to_le_bytes());
    header[16..24].copy_from_slice(&fields.timestamp_ns.to_le_bytes());
    header[24..26].copy_from_slice(&fields.kind.to_le_bytes());
    // Bytes [26, 28) are the flags, always zero in format version 1.
    header[28..32].copy_from_slice(&fields.uncommitted_before.to_le_bytes());
    let crc = record_crc(&header[RECORD_SEQ_AT..], payload, total_len);
    header[4..8].copy_from_slice(&crc.to_le_bytes());
    header[0..4].copy_from_slice(&total_len.to_le_bytes());
    header
}

/// A checksummed record found in a segment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawRecord<'a> {
    pub fields: RecordFields,
    pub payload: &'a [u8],
    /// Header plus payload, rounded up to the record alignment: where the next record starts.
    pub padded_len_bytes: u64,
}

/// What is at a record position.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Parsed<'a> {
    /// A zero length (nothing written here yet), or no room left for a record.
    End,
    /// Something that is not a whole, checksummed record; the text says why.
    Bad(&'static str),
    Valid(RawRecord<'a>),
}

/// Loads the `total_len` field at `at`. Inside a live map the writer stores it last with a
/// release store, so this load is atomic and followed by an acquire fence: whatever it reads
/// non-zero is a record whose other bytes are complete. (A relaxed atomic load is allowed on the
/// read-only maps of a reader; an acquire load on read-only memory is not, hence the fence.)
fn load_total_len(bytes: &[u8], at: usize) -> Option<u32> {
    let field: &[u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    let total_len = load_u32_relaxed(field);
    fence(Ordering::Acquire);
    Some(total_len)
}

/// Reads the record at `offset` of a segment whose header declares `segment_size_bytes`.
/// `bytes` is the segment file from its start; it may be shorter than the declared size when
/// the file was truncated. A record is valid only if all its bytes are in the file; a position
/// past the end of the file reads as a zero length (the end).
pub(crate) fn parse_record(bytes: &[u8], offset: u64, segment_size_bytes: u64) -> Parsed<'_> {
    if offset.saturating_add(RECORD_HEADER_LEN_BYTES) > segment_size_bytes {
        return Parsed::End;
    }
    let at = offset as usize;
    let Some(total_len) = load_total_len(bytes, at) else {
        return partial_length_field(bytes, at);
    };
    if total_len == 0 {
        return Parsed::End;
    }
    let total_len_bytes = u64::from(total_len);
    if total_len_bytes < RECORD_HEADER_LEN_BYTES {
        return Parsed::Bad("record length is shorter than a record header");
    }
    let padded_len_bytes = align_up(total_len_bytes);
    if offset + padded_len_bytes > segment_size_bytes {
        return Parsed::Bad("record length runs past the end of the segment");
    }
    let Some(record) = bytes.get(at..at + total_len_bytes as usize) else {
        return Parsed::Bad("the file ends inside the record");
    };
    check_record(record, total_len, padded_len_bytes)
}

/// Fewer than four bytes of the file remain at a record position: a torn length if any is set.
fn partial_length_field(bytes: &[u8], at: usize) -> Parsed<'_> {
    match bytes.get(at..) {
        Some(rest) if rest.iter().any(|byte| *byte != 0) => {
            Parsed::Bad("the file ends inside the record")
        }
        _ => Parsed::End,
    }
}

/// Checks the checksum and fields of a record whose bytes are all present.
fn check_record(record: &[u8], total_len: u32, padded_len_bytes: u64) -> Parsed<'_> {
    let header_len = RECORD_HEADER_LEN_BYTES as usize;
    let (Some(header), Some(payload)) = (record.get(..header_len), record.get(header_len..)) else {
        return Parsed::Bad("record length is shorter than a record header");
    };
    let (
        Some(stored_crc),
        Some(seq),
        Some(timestamp_ns),
        Some(kind),
        Some(flags),
        Some(uncommitted_before),
    ) = (
        read_u32(header, RECORD_CRC_AT),
        read_u64(header, RECORD_SEQ_AT),
        read_u64(header, RECORD_TIMESTAMP_AT),
        read_u16(header, RECORD_KIND_AT),
        read_u16(header, RECORD_FLAGS_AT),
        read_u32(header, RECORD_UNCOMMITTED_AT),
    )
    else {
        return Parsed::Bad("record length is shorter than a record header");
    };
    if record_crc(&header[RECORD_SEQ_AT..], payload, total_len) != stored_crc {
        return Parsed::Bad("record checksum mismatch");
    }
    if flags != 0 {
        return Parsed::Bad("record has unknown flags set");
    }
    Parsed::Valid(RawRecord {
        fields: RecordFields {
            seq,
            timestamp_ns,
            kind,
            uncommitted_before,
        },
        payload,
        padded_len_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment_with(records: &[(RecordFields, &[u8])], size_bytes: u64) -> Vec<u8> {
        let mut bytes = vec![0u8; size_bytes as usize];
        let header = SegmentHeader {
            first_seq: 1,
            segment_size_bytes: size_bytes,
        };
        bytes[..64].copy_from_slice(&header.encode());
        let mut offset = SEGMENT_HEADER_LEN_BYTES as usize;
        for (fields, payload) in records {
            let total_len = (32 + payload.len()) as u32;
            let record_header = encode_record_header(fields, payload, total_len);
            bytes[offset..offset + 32].copy_from_slice(&record_header);
            bytes[offset + 32..offset + 32 + payload.len()].copy_from_slice(payload);
            offset += align_up(u64::from(total_len)) as usize;
        }
        bytes
    }

    fn fields(seq: u64) -> RecordFields {
        RecordFields {
            seq,
            timestamp_ns: 1_000 + seq,
            kind: 7,
            uncommitted_before: 0,
        }
    }

    #[test]
    fn segment_header_round_trips_and_rejects_every_single_bit_flip() {
        let header = SegmentHeader {
            first_seq: 42,
            segment_size_bytes: 4096,
        };
        let bytes = header.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(header));
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes;
            flipped[bit / 8] ^= 1 << (bit % 8);
            assert!(SegmentHeader::decode(&flipped).is_err(), "bit {bit}");
        }
        assert!(SegmentHeader::decode(&bytes[..63]).is_err());
    }

    #[test]
    fn records_parse_back_and_the_end_is_found() {
        let payload_a: &[u8] = b"hello";
        let payload_b: &[u8] = &[9u8; 24];
        let bytes = segment_with(&[(fields(1), payload_a), (fields(2), payload_b)], 1024);
        let Parsed::Valid(first) = parse_record(&bytes, 64, 1024) else {
            panic!("first record");
        };
        assert_eq!(first.fields, fields(1));
        assert_eq!(first.payload, payload_a);
        assert_eq!(first.padded_len_bytes, 40);
        let Parsed::Valid(second) = parse_record(&bytes, 104, 1024) else {
            panic!("second record");
        };
        assert_eq!(second.payload, payload_b);
        assert!(matches!(parse_record(&bytes, 160, 1024), Parsed::End));
        // No room for a record header at the very end of the segment.
        assert!(matches!(parse_record(&bytes, 1000, 1024), Parsed::End));
    }

    #[test]
    fn damaged_and_short_records_are_bad_not_panics() {
        let bytes = segment_with(&[(fields(1), b"payload!")], 1024);
        for cut in 65..104 {
            let parsed = parse_record(&bytes[..cut], 64, 1024);
            assert!(matches!(parsed, Parsed::Bad(_)), "cut at {cut}: {parsed:?}");
        }
        assert!(matches!(parse_record(&bytes[..64], 64, 1024), Parsed::End));
        let mut flipped = bytes.clone();
        flipped[64 + 40 - 1] ^= 0x10;
        assert!(matches!(parse_record(&flipped, 64, 1024), Parsed::Bad(_)));
        let mut huge = bytes.clone();
        huge[64..68].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(parse_record(&huge, 64, 1024), Parsed::Bad(_)));
        let mut tiny = bytes;
        tiny[64..68].copy_from_slice(&8u32.to_le_bytes());
        assert!(matches!(parse_record(&tiny, 64, 1024), Parsed::Bad(_)));
    }

    #[test]
    fn file_names_sort_by_sequence_and_reject_strangers() {
        assert_eq!(seq_file_name(7, ".seg"), "00000000000000000007.seg");
        assert_eq!(
            parse_seq_file_name("00000000000000000007.seg", ".seg"),
            Some(7)
        );
        assert_eq!(parse_seq_file_name("7.seg", ".seg"), None);
        assert_eq!(
            parse_seq_file_name("0000000000000000000x.seg", ".seg"),
            None
        );
        assert_eq!(
            parse_seq_file_name("99999999999999999999.seg", ".seg"),
            None
        );
        assert_eq!(
            parse_seq_file_name("00000000000000000007.seg.prep", ".seg"),
            None
        );
    }

    #[test]
    fn max_payload_fits_exactly() {
        assert_eq!(max_payload_bytes(4096), 4096 - 64 - 32);
        assert_eq!(
            max_payload_bytes(MAX_SEGMENT_SIZE_BYTES),
            u64::from(u32::MAX) - 32
        );
        assert!(check_segment_size(512).is_ok());
        assert!(check_segment_size(513).is_err());
        assert!(check_segment_size(256).is_err());
    }
}
