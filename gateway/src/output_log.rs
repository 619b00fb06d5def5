//! The output log: every output of each acquirer's recoverable flow, as the engine wrote it, in
//! per-acquirer segment files, so that a resume retransmits them without re-deriving anything
//! (docs/NOTIFICATIONS.md, section 1). Written by the outputs follower (`OutputLogSink`), read by
//! the gateway's resume worker (`read_from`); the two share nothing but the files and a table of
//! bounds (`LogBounds`).
//!
//! Layout: `DATA/outputs/<acquirer>/<first out_seq, 20 digits>.log` holds records — u32 frame
//! length, u32 CRC32C of the rest, u64 out_seq, u64 event time (ns) of the input that caused the
//! output, the frame — and the `.idx` beside it one u64 byte offset per out_seq, from the
//! segment's first: output k's record is at the offset in entry k − first, so a resume seeks
//! directly. A record is written before its index entry; a reader takes only what the index
//! lists, and checks each record's CRC and number.
//!
//! Appends are idempotent by out_seq (a number already written is skipped: the follower repeats
//! records after a crash). At open, the last segment is scanned and cut at the first torn or
//! corrupt record, and its index is rewritten from what is left. Whole segments older than the
//! window, or beyond the per-acquirer byte bound, are deleted (never the one being written).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Bytes of a record's header.
pub const RECORD_HEADER_LEN: usize = 24;
/// Bytes of an index entry.
const INDEX_ENTRY_LEN: u64 = 8;
/// The most frames one `read_from` returns.
pub const READ_FRAMES_MAX: usize = 256;

/// The bounds of the output log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// Segments whose newest output is older than this (event time) are deleted, ns.
    pub window_ns: u64,
    /// An acquirer's segments beyond this many bytes are deleted, oldest first.
    pub max_bytes_per_acquirer: u64,
}

impl LogLimits {
    /// A segment rolls at a quarter of the byte bound (at most 64 MiB), so pruning keeps at least
    /// three quarters of it.
    pub fn segment_bytes(&self) -> u64 {
        (self.max_bytes_per_acquirer / 4).clamp(1024, 64 << 20)
    }
}

/// What the log holds per acquirer: (oldest out_seq, newest out_seq), shared with the gateway.
#[derive(Debug, Default)]
pub struct LogBounds(Mutex<BTreeMap<u32, (u64, u64)>>);

impl LogBounds {
    /// The oldest and newest out_seq the log holds for `acquirer` (None: nothing).
    pub fn get(&self, acquirer: u32) -> Option<(u64, u64)> {
        self.0.lock().ok().and_then(|m| m.get(&acquirer).copied())
    }

    fn set(&self, acquirer: u32, bounds: Option<(u64, u64)>) {
        if let Ok(mut m) = self.0.lock() {
            match bounds {
                Some(b) => m.insert(acquirer, b),
                None => m.remove(&acquirer),
            };
        }
    }
}

/// One segment as the writer knows it.
#[derive(Debug, Clone, Copy)]
struct Segment {
    first: u64,
    count: u64,
    bytes: u64,
    /// Event time of its newest record.
    last_ns: u64,
}

impl Segment {
    fn next(&self) -> u64 {
        self.first + self.count
    }
}

/// One acquirer's log, as the writer holds it.
struct AcquirerLog {
    dir: PathBuf,
    segments: Vec<Segment>,
    /// The last segment's files, open for appending.
    tail: Option<(File, File)>,
    dirty: bool,
    dir_dirty: bool,
}

fn io_err(path: &Path, e: std::io::Error) -> String {
    format!("{}: {e}", path.display())
}

fn segment_name(first: u64, ext: &str) -> String {
    format!("{first:020}.{ext}")
}

/// The first out_seqs of the segments in `dir`, ascending.
fn list_segments(dir: &Path) -> Result<Vec<u64>, String> {
    let mut firsts = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(firsts),
        Err(e) => return Err(io_err(dir, e)),
    };
    for entry in entries {
        let name = entry.map_err(|e| io_err(dir, e))?.file_name();
        let name = name.to_string_lossy();
        if let Some(first) = name
            .strip_suffix(".log")
            .and_then(|n| n.parse::<u64>().ok())
        {
            firsts.push(first);
        }
    }
    firsts.sort_unstable();
    Ok(firsts)
}

/// Encodes one record.
fn encode_record(out_seq: u64, timestamp_ns: u64, frame: &[u8], buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(&(frame.len() as u32).to_le_bytes());
    buf.extend_from_slice(&[0u8; 4]);
    buf.extend_from_slice(&out_seq.to_le_bytes());
    buf.extend_from_slice(&timestamp_ns.to_le_bytes());
    buf.extend_from_slice(frame);
    let crc = crc32c::crc32c(&buf[8..]);
    buf[4..8].copy_from_slice(&crc.to_le_bytes());
}

/// A record read back: (out_seq, event time, frame), or None when `bytes` does not start with a
/// whole, intact record.
pub fn decode_record(bytes: &[u8]) -> Option<(u64, u64, &[u8])> {
    let header = bytes.get(..RECORD_HEADER_LEN)?;
    let u32_at = |i: usize| u32::from_le_bytes(header[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(header[i..i + 8].try_into().expect("8 bytes"));
    let len = u32_at(0) as usize;
    if len > sluice_protocol::MAX_FRAME_BYTES {
        return None;
    }
    let whole = bytes.get(..RECORD_HEADER_LEN + len)?;
    if crc32c::crc32c(&whole[8..]) != u32_at(4) {
        return None;
    }
    Some((u64_at(8), u64_at(16), &whole[RECORD_HEADER_LEN..]))
}

impl AcquirerLog {
    /// Opens an acquirer's directory: older segments as their files say, the last one scanned and
    /// cut at its first torn record (its index rewritten). Segments that do not continue the
    /// newest run are deleted (the log must be gap-free).
    fn open(dir: PathBuf) -> Result<AcquirerLog, String> {
        let firsts = list_segments(&dir)?;
        let mut segments = Vec::with_capacity(firsts.len());
        for (i, &first) in firsts.iter().enumerate() {
            let last = i + 1 == firsts.len();
            segments.push(scan_segment(&dir, first, last)?);
        }
        // Keep the newest contiguous run.
        let mut keep_from = 0;
        for i in 1..segments.len() {
            if segments[i - 1].next() != segments[i].first {
                keep_from = i;
            }
        }
        for s in segments.drain(..keep_from) {
            remove_segment(&dir, s.first)?;
        }
        let mut log = AcquirerLog {
            dir,
            segments,
            tail: None,
            dirty: false,
            dir_dirty: false,
        };
        if let Some(last) = log.segments.last().copied() {
            log.tail = Some(open_segment_files(&log.dir, last.first)?);
        }
        Ok(log)
    }

    fn bounds(&self) -> Option<(u64, u64)> {
        let first = self.segments.first()?;
        let last = self.segments.last()?;
        (last.count > 0).then(|| (first.first, last.next() - 1))
    }

    fn newest(&self) -> u64 {
        self.segments.last().map_or(0, |s| s.next() - 1)
    }

    /// Appends output `out_seq` unless it is written already. A number past the next one (the
    /// log was cut, or started late) starts the log over at it.
    fn append(
        &mut self,
        out_seq: u64,
        timestamp_ns: u64,
        frame: &[u8],
        limits: &LogLimits,
        scratch: &mut Vec<u8>,
    ) -> Result<bool, String> {
        let newest = self.newest();
        if !self.segments.is_empty() && out_seq <= newest {
            return Ok(false);
        }
        if !self.segments.is_empty() && out_seq != newest + 1 {
            self.clear()?;
        }
        encode_record(out_seq, timestamp_ns, frame, scratch);
        let roll = self
            .segments
            .last()
            .is_none_or(|s| s.count > 0 && s.bytes + scratch.len() as u64 > limits.segment_bytes());
        if roll {
            self.start_segment(out_seq)?;
        }
        let seg = self.segments.last_mut().expect("a segment was started");
        let (log, idx) = self.tail.as_mut().expect("the last segment is open");
        let failed = |e| io_err(&self.dir.join(segment_name(seg.first, "log")), e);
        // The record first, then its index entry: a reader takes only what the index lists.
        log.write_all(scratch).map_err(failed)?;
        idx.write_all(&seg.bytes.to_le_bytes()).map_err(failed)?;
        seg.bytes += scratch.len() as u64;
        seg.count += 1;
        seg.last_ns = timestamp_ns;
        self.dirty = true;
        Ok(true)
    }

    fn start_segment(&mut self, first: u64) -> Result<(), String> {
        if let Some((log, idx)) = self.tail.take() {
            log.sync_data().map_err(|e| io_err(&self.dir, e))?;
            idx.sync_data().map_err(|e| io_err(&self.dir, e))?;
        }
        fs::create_dir_all(&self.dir).map_err(|e| io_err(&self.dir, e))?;
        self.tail = Some(open_segment_files(&self.dir, first)?);
        self.segments.push(Segment {
            first,
            count: 0,
            bytes: 0,
            last_ns: 0,
        });
        self.dir_dirty = true;
        Ok(())
    }

    fn clear(&mut self) -> Result<(), String> {
        self.tail = None;
        for s in std::mem::take(&mut self.segments) {
            remove_segment(&self.dir, s.first)?;
        }
        Ok(())
    }

    /// Deletes whole segments older than the window (by `now_ns`, event time) or beyond the byte
    /// bound, oldest first; never the last.
    fn prune(&mut self, now_ns: u64, limits: &LogLimits) -> Result<(), String> {
        let mut total: u64 = self.segments.iter().map(|s| s.bytes).sum();
        while self.segments.len() > 1 {
            let oldest = self.segments[0];
            let too_old = now_ns.saturating_sub(oldest.last_ns) > limits.window_ns;
            if !too_old && total <= limits.max_bytes_per_acquirer {
                break;
            }
            remove_segment(&self.dir, oldest.first)?;
            total -= oldest.bytes;
            self.segments.remove(0);
            self.dir_dirty = true;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), String> {
        if self.dirty
            && let Some((log, idx)) = &self.tail
        {
            log.sync_data().map_err(|e| io_err(&self.dir, e))?;
            idx.sync_data().map_err(|e| io_err(&self.dir, e))?;
        }
        if self.dir_dirty && self.dir.exists() {
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_err(&self.dir, e))?;
        }
        self.dirty = false;
        self.dir_dirty = false;
        Ok(())
    }
}

fn open_segment_files(dir: &Path, first: u64) -> Result<(File, File), String> {
    let open = |ext: &str| {
        let path = dir.join(segment_name(first, ext));
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))
    };
    // The index before the log: readers list segments by their `.log`, so a listed segment
    // always has its index (a reader that found a new `.log` without its `.idx` took a resume
    // that had only to wait for its first output as gone: found by tests/resume.rs).
    let idx = open("idx")?;
    Ok((open("log")?, idx))
}

fn remove_segment(dir: &Path, first: u64) -> Result<(), String> {
    for ext in ["idx", "log"] {
        let path = dir.join(segment_name(first, ext));
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&path, e)),
        }
    }
    Ok(())
}

/// Reads a segment's extent. The last one (`rescan`) is read whole, cut at the first record that
/// is torn, corrupt or out of sequence, and its index rewritten; an older one is taken from its
/// index (its newest record read for its time).
fn scan_segment(dir: &Path, first: u64, rescan: bool) -> Result<Segment, String> {
    let log_path = dir.join(segment_name(first, "log"));
    let bytes = fs::read(&log_path).map_err(|e| io_err(&log_path, e))?;
    let idx_path = dir.join(segment_name(first, "idx"));
    let mut seg = Segment {
        first,
        count: 0,
        bytes: 0,
        last_ns: 0,
    };
    let mut offsets = Vec::new();
    let mut at = 0usize;
    while let Some((out_seq, ts, frame)) = decode_record(&bytes[at..]) {
        if out_seq != first + seg.count {
            break;
        }
        offsets.extend_from_slice(&(at as u64).to_le_bytes());
        at += RECORD_HEADER_LEN + frame.len();
        seg.count += 1;
        seg.last_ns = ts;
    }
    seg.bytes = at as u64;
    if rescan && at < bytes.len() {
        tracing::warn!(
            "output log {}: cut {} bytes of a torn or corrupt tail",
            log_path.display(),
            bytes.len() - at
        );
        let f = OpenOptions::new()
            .write(true)
            .open(&log_path)
            .map_err(|e| io_err(&log_path, e))?;
        f.set_len(at as u64).map_err(|e| io_err(&log_path, e))?;
        f.sync_all().map_err(|e| io_err(&log_path, e))?;
    }
    let idx_ok = fs::metadata(&idx_path).is_ok_and(|m| m.len() == offsets.len() as u64);
    if !idx_ok {
        let mut f = File::create(&idx_path).map_err(|e| io_err(&idx_path, e))?;
        f.write_all(&offsets).map_err(|e| io_err(&idx_path, e))?;
        f.sync_all().map_err(|e| io_err(&idx_path, e))?;
    }
    Ok(seg)
}

/// The writer's side: every acquirer's log under `root` (`DATA/outputs`).
pub struct OutputLog {
    root: PathBuf,
    limits: LogLimits,
    acquirers: BTreeMap<u32, AcquirerLog>,
    bounds: Arc<LogBounds>,
    scratch: Vec<u8>,
}

impl OutputLog {
    /// Opens (creating) the log under `root`, publishing what it holds into `bounds`.
    pub fn open(
        root: &Path,
        limits: LogLimits,
        bounds: Arc<LogBounds>,
    ) -> Result<OutputLog, String> {
        fs::create_dir_all(root).map_err(|e| io_err(root, e))?;
        let mut acquirers = BTreeMap::new();
        for entry in fs::read_dir(root).map_err(|e| io_err(root, e))? {
            let entry = entry.map_err(|e| io_err(root, e))?;
            let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let log = AcquirerLog::open(entry.path())?;
            bounds.set(id, log.bounds());
            acquirers.insert(id, log);
        }
        Ok(OutputLog {
            root: root.to_path_buf(),
            limits,
            acquirers,
            bounds,
            scratch: Vec::with_capacity(sluice_protocol::MAX_FRAME_BYTES + RECORD_HEADER_LEN),
        })
    }

    /// Appends `acquirer`'s output `out_seq`; false when it was written already (idempotent).
    pub fn append(
        &mut self,
        acquirer: u32,
        out_seq: u64,
        timestamp_ns: u64,
        frame: &[u8],
    ) -> Result<bool, String> {
        let root = &self.root;
        let log = match self.acquirers.entry(acquirer) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(AcquirerLog::open(acquirer_dir(root, acquirer))?)
            }
        };
        let written = log.append(
            out_seq,
            timestamp_ns,
            frame,
            &self.limits,
            &mut self.scratch,
        )?;
        if written {
            self.bounds.set(acquirer, log.bounds());
        }
        Ok(written)
    }

    /// Deletes what is past the bounds at event time `now_ns`, then makes every append durable.
    pub fn sync(&mut self, now_ns: u64) -> Result<(), String> {
        for (&id, log) in self.acquirers.iter_mut() {
            log.prune(now_ns, &self.limits)?;
            log.sync()?;
            self.bounds.set(id, log.bounds());
        }
        Ok(())
    }

    /// The oldest and newest out_seq held for `acquirer`.
    pub fn bounds(&self, acquirer: u32) -> Option<(u64, u64)> {
        self.acquirers.get(&acquirer).and_then(AcquirerLog::bounds)
    }
}

/// `DATA/outputs`.
pub fn outputs_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("outputs")
}

/// `DATA/outputs/<acquirer>`.
pub fn acquirer_dir(root: &Path, acquirer: u32) -> PathBuf {
    root.join(acquirer.to_string())
}

/// What a read found.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// `frames` frames were appended to the buffer, from out_seq `from`.
    Frames(usize),
    /// `from` is not written yet (the follower lags): ask again later.
    NotYet,
    /// `from` is older than what the log keeps (pruned), or the log is damaged there.
    Gone(String),
}

/// Reads `acquirer`'s outputs from out_seq `from` on, at most `max_frames` and about `max_bytes`,
/// appending each frame to `out` (frames are self-delimiting: their framing header holds their
/// length). Runs on the resume worker; never blocks on the writer.
pub fn read_from(
    root: &Path,
    acquirer: u32,
    from: u64,
    max_frames: usize,
    max_bytes: usize,
    out: &mut Vec<u8>,
) -> ReadOutcome {
    let dir = acquirer_dir(root, acquirer);
    let firsts = match list_segments(&dir) {
        Ok(f) => f,
        Err(e) => return ReadOutcome::Gone(e),
    };
    let Some(&first) = firsts.iter().rev().find(|&&f| f <= from) else {
        return match firsts.first() {
            Some(_) => ReadOutcome::Gone(format!("output {from} was pruned")),
            None => ReadOutcome::NotYet,
        };
    };
    match read_segment(&dir, first, from, max_frames, max_bytes, out) {
        Ok(0) if firsts.last() != Some(&first) => {
            ReadOutcome::Gone(format!("output {from} is missing from segment {first}"))
        }
        Ok(0) => ReadOutcome::NotYet,
        Ok(n) => ReadOutcome::Frames(n),
        Err(e) => ReadOutcome::Gone(e),
    }
}

fn read_segment(
    dir: &Path,
    first: u64,
    from: u64,
    max_frames: usize,
    max_bytes: usize,
    out: &mut Vec<u8>,
) -> Result<usize, String> {
    let idx_path = dir.join(segment_name(first, "idx"));
    let mut idx = match File::open(&idx_path) {
        Ok(f) => f,
        // A segment being started (or pruned) this instant: nothing listed in it.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_err(&idx_path, e)),
    };
    let listed = idx.metadata().map_err(|e| io_err(&idx_path, e))?.len() / INDEX_ENTRY_LEN;
    let k = from - first;
    if k >= listed {
        return Ok(0);
    }
    let mut entry = [0u8; 8];
    idx.seek(SeekFrom::Start(k * INDEX_ENTRY_LEN))
        .and_then(|_| idx.read_exact(&mut entry))
        .map_err(|e| io_err(&idx_path, e))?;
    let want = (listed - k).min(max_frames as u64);
    let log_path = dir.join(segment_name(first, "log"));
    let mut log = File::open(&log_path).map_err(|e| io_err(&log_path, e))?;
    log.seek(SeekFrom::Start(u64::from_le_bytes(entry)))
        .map_err(|e| io_err(&log_path, e))?;
    let mut bytes = Vec::with_capacity(max_bytes.min(1 << 20) + RECORD_HEADER_LEN);
    let cap = (max_bytes + sluice_protocol::MAX_FRAME_BYTES + RECORD_HEADER_LEN) as u64;
    log.take(cap)
        .read_to_end(&mut bytes)
        .map_err(|e| io_err(&log_path, e))?;
    let (mut at, mut n, mut used) = (0usize, 0u64, 0usize);
    while n < want && used < max_bytes {
        let Some((out_seq, _, frame)) = decode_record(&bytes[at..]) else {
            return Err(format!(
                "{}: damaged at output {}",
                log_path.display(),
                from + n
            ));
        };
        if out_seq != from + n {
            return Err(format!(
                "{}: output {} found where {} belongs",
                log_path.display(),
                out_seq,
                from + n
            ));
        }
        out.extend_from_slice(frame);
        at += RECORD_HEADER_LEN + frame.len();
        used += frame.len();
        n += 1;
    }
    Ok(n as usize)
}

#[cfg(test)]
#[path = "output_log_tests.rs"]
mod tests;
