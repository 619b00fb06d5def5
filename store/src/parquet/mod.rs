//! The embedded flow store (docs/STORE.md, sections 2–3): Parquet files partitioned by day,
//! `DATA/export/parquet/<table>/day=YYYY-MM-DD/part-<first seq>-<last seq>.parquet`, and the
//! position file `DATA/export/parquet/_position` (magic, sequence, CRC32C).
//!
//! A commit writes one part per table and day (each to a temporary name, synced, renamed, its
//! directory synced), then replaces the position file the same way. A crash between the two
//! leaves parts whose first sequence is past the saved position: `open` deletes them, so the
//! store holds a batch entirely or not at all.

mod read;
mod write;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sluice_node::flow::{Day, Row, Rows, TABLES, TableVisitor, TableVisitorMut, Value};
use sluice_node::time::{format_ns, parse_time};

use crate::{DayRange, FlowReader, FlowStore, StoreError};

const NS_PER_DAY: u64 = 86_400 * 1_000_000_000;
const POSITION_FILE: &str = "_position";
const POSITION_MAGIC: &[u8; 8] = b"SLPQPOS1";
/// Bytes of the position file: magic, sequence, CRC32C of both.
const POSITION_LEN: usize = 20;

/// Parquet files in a data directory.
pub struct ParquetStore {
    dir: PathBuf,
    position: u64,
}

/// A part file's place: its day and the batch's sequence range.
#[derive(Debug, Clone)]
struct Part {
    day: Day,
    first: u64,
    path: PathBuf,
}

impl ParquetStore {
    /// The store's directory in a data directory.
    pub fn dir_in(data_dir: &Path) -> PathBuf {
        data_dir.join("export").join("parquet")
    }

    /// Opens (creating) the store of `data_dir`, deleting the parts a crash left past its
    /// position and temporary files.
    pub fn open(data_dir: &Path) -> Result<ParquetStore, StoreError> {
        let dir = Self::dir_in(data_dir);
        fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let position = read_position(&dir.join(POSITION_FILE))?.unwrap_or(0);
        let store = ParquetStore { dir, position };
        store.delete_orphans()?;
        Ok(store)
    }

    /// Opens the store of `data_dir` for reading only: nothing is created or deleted (parts past
    /// the position are skipped).
    pub fn open_read_only(data_dir: &Path) -> Result<ParquetStore, StoreError> {
        let dir = Self::dir_in(data_dir);
        if !dir.is_dir() {
            return Err(StoreError::new(format!(
                "{}: no Parquet export here (run `sluice export` first)",
                dir.display()
            )));
        }
        let position = read_position(&dir.join(POSITION_FILE))?.unwrap_or(0);
        Ok(ParquetStore { dir, position })
    }

    fn delete_orphans(&self) -> Result<(), StoreError> {
        for table in TABLES {
            for part in self.parts(table, true)? {
                if part.first > self.position {
                    fs::remove_file(&part.path).map_err(|e| io(&part.path, e))?;
                }
            }
        }
        Ok(())
    }

    /// The parts of `table`, in sequence order (with `temporaries`, leftover temporary files are
    /// deleted on the way).
    fn parts(&self, table: &str, temporaries: bool) -> Result<Vec<Part>, StoreError> {
        let table_dir = self.dir.join(table);
        let mut parts = Vec::new();
        for day_dir in list(&table_dir)? {
            let Some(day) = parse_day_dir(&day_dir) else {
                continue;
            };
            for path in list(&day_dir)? {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if name.starts_with('.') && name.ends_with(".tmp") {
                    if temporaries {
                        fs::remove_file(&path).map_err(|e| io(&path, e))?;
                    }
                    continue;
                }
                if let Some(first) = parse_part_name(&name) {
                    parts.push(Part { day, first, path });
                }
            }
        }
        parts.sort_by_key(|p| (p.first, p.day));
        Ok(parts)
    }
}

fn io(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::new(format!("{}: {e}", path.display()))
}

/// The entries of a directory (none when it does not exist), sorted.
fn list(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir, e)),
    };
    let mut paths = entries
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| io(dir, e))?;
    paths.sort();
    Ok(paths)
}

/// `day=YYYY-MM-DD` for a day.
fn day_dir_name(day: Day) -> String {
    let ns = u64::try_from(day.0).unwrap_or(0) * NS_PER_DAY;
    format!("day={}", &format_ns(ns)[..10])
}

fn parse_day_dir(path: &Path) -> Option<Day> {
    let name = path.file_name()?.to_str()?;
    let date = name.strip_prefix("day=")?;
    let ns = parse_time(date).ok()?;
    (date.len() == 10).then_some(Day((ns / NS_PER_DAY) as i32))
}

/// The first sequence of `part-<first>-<last>.parquet`.
fn parse_part_name(name: &str) -> Option<u64> {
    let range = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let (first, last) = range.split_once('-')?;
    let (first, last) = (first.parse::<u64>().ok()?, last.parse::<u64>().ok()?);
    (first <= last).then_some(first)
}

fn read_position(path: &Path) -> Result<Option<u64>, StoreError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path, e)),
    };
    let bad = |why: &str| StoreError::new(format!("{}: {why}", path.display()));
    if bytes.len() != POSITION_LEN || &bytes[..8] != POSITION_MAGIC {
        return Err(bad(
            "not a Parquet export position file (wrong length or magic)",
        ));
    }
    let crc = u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes"));
    if crc32c::crc32c(&bytes[..16]) != crc {
        return Err(bad("checksum mismatch"));
    }
    Ok(Some(u64::from_le_bytes(
        bytes[8..16].try_into().expect("8 bytes"),
    )))
}

/// Replaces the position file atomically: a temporary file, synced, renamed, the directory synced.
fn write_position(dir: &Path, seq: u64) -> Result<(), StoreError> {
    let mut bytes = [0u8; POSITION_LEN];
    bytes[..8].copy_from_slice(POSITION_MAGIC);
    bytes[8..16].copy_from_slice(&seq.to_le_bytes());
    let crc = crc32c::crc32c(&bytes[..16]);
    bytes[16..20].copy_from_slice(&crc.to_le_bytes());
    let temp = dir.join(".position.tmp");
    let path = dir.join(POSITION_FILE);
    let mut file = File::create(&temp).map_err(|e| io(&temp, e))?;
    file.write_all(&bytes).map_err(|e| io(&temp, e))?;
    file.sync_all().map_err(|e| io(&temp, e))?;
    fs::rename(&temp, &path).map_err(|e| io(&path, e))?;
    write::sync_dir(dir)
}

/// Writes every table's rows past `after`, one part per day.
struct Writer<'a> {
    dir: &'a Path,
    after: u64,
    through: u64,
    error: Option<StoreError>,
}

impl TableVisitor for Writer<'_> {
    fn table<R: Row>(&mut self, rows: &[R]) {
        if self.error.is_none()
            && let Err(e) = self.write_table(rows)
        {
            self.error = Some(e);
        }
    }
}

impl Writer<'_> {
    fn write_table<R: Row>(&self, rows: &[R]) -> Result<(), StoreError> {
        let seq_at = column_index::<R>("seq")?;
        let day_at = column_index::<R>("day")?;
        let mut by_day: BTreeMap<i32, Vec<&R>> = BTreeMap::new();
        for row in rows {
            let values = row.values();
            let seq = values[seq_at].as_i64().unwrap_or(0);
            if seq as u64 <= self.after || seq as u64 > self.through {
                continue;
            }
            let day = values[day_at].as_i32().unwrap_or(0);
            by_day.entry(day).or_default().push(row);
        }
        for (day, rows) in by_day {
            let table_dir = self.dir.join(R::TABLE);
            let day_dir = table_dir.join(day_dir_name(Day(day)));
            if !day_dir.is_dir() {
                fs::create_dir_all(&day_dir).map_err(|e| io(&day_dir, e))?;
                write::sync_dir(&table_dir)?;
                write::sync_dir(self.dir)?;
            }
            let name = format!("part-{}-{}.parquet", self.after + 1, self.through);
            write::write_part(&day_dir.join(name), &rows)?;
        }
        Ok(())
    }
}

fn column_index<R: Row>(name: &str) -> Result<usize, StoreError> {
    R::COLUMNS
        .iter()
        .position(|c| c.name == name)
        .ok_or_else(|| StoreError::new(format!("table {} has no column {name}", R::TABLE)))
}

impl FlowStore for ParquetStore {
    fn name(&self) -> &'static str {
        "parquet"
    }

    fn position(&mut self) -> Result<u64, StoreError> {
        Ok(self.position)
    }

    fn commit(&mut self, rows: &Rows, through: u64) -> Result<(), StoreError> {
        if through <= self.position {
            return Ok(());
        }
        let mut writer = Writer {
            dir: &self.dir,
            after: self.position,
            through,
            error: None,
        };
        rows.visit(&mut writer);
        if let Some(e) = writer.error {
            return Err(e);
        }
        write_position(&self.dir, through)?;
        self.position = through;
        Ok(())
    }
}

/// Loads the requested tables' parts within the days and the position.
struct Loader<'a> {
    store: &'a ParquetStore,
    tables: &'a [&'a str],
    days: DayRange,
    error: Option<StoreError>,
}

impl TableVisitorMut for Loader<'_> {
    fn table<R: Row>(&mut self, rows: &mut Vec<R>) {
        if self.error.is_some() || !self.tables.contains(&R::TABLE) {
            return;
        }
        if let Err(e) = self.load::<R>(rows) {
            self.error = Some(e);
        }
    }
}

impl Loader<'_> {
    fn load<R: Row>(&self, rows: &mut Vec<R>) -> Result<(), StoreError> {
        for part in self.store.parts(R::TABLE, false)? {
            if part.first <= self.store.position && self.days.contains(part.day) {
                read::read_part(&part.path, rows)?;
            }
        }
        Ok(())
    }
}

impl FlowReader for ParquetStore {
    fn load(&mut self, tables: &[&str], days: DayRange) -> Result<Rows, StoreError> {
        if let Some(unknown) = tables.iter().find(|t| !TABLES.contains(t)) {
            return Err(StoreError::new(format!(
                "no table {unknown:?}; tables: {TABLES:?}"
            )));
        }
        self.position = read_position(&self.dir.join(POSITION_FILE))?.unwrap_or(0);
        let mut rows = Rows::default();
        let mut loader = Loader {
            store: self,
            tables,
            days,
            error: None,
        };
        rows.visit_mut(&mut loader);
        match loader.error {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }

    fn position(&mut self) -> Result<u64, StoreError> {
        self.position = read_position(&self.dir.join(POSITION_FILE))?.unwrap_or(0);
        Ok(self.position)
    }
}

/// The value of a row's cell by column name (tests, tools).
pub fn cell<R: Row>(row: &R, name: &str) -> Option<Value> {
    let at = R::COLUMNS.iter().position(|c| c.name == name)?;
    row.values().into_iter().nth(at)
}

#[cfg(test)]
mod tests;
