//! The state a run carries to the next (section 4): timing records with the day they were
//! first carried, the keys matched ahead, Stripe payouts still being filled, the last day
//! reconciled. `DIR/<channel>/state.json`, replaced atomically (temporary file, fsync, rename,
//! directory fsync); the state as it was before each day is kept beside that day's reports
//! (`DIR/<channel>/<day>/state_before.json`) so a `--rerun` of the day starts from exactly it.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::platform::{Key, Record};
use super::{ReconError, fail, report};

/// The state file's format version.
pub const STATE_VERSION: u32 = 1;

/// A platform record in `[end − T, end)` the day's bill did not have: the next bill may.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carry {
    pub record: Record,
    /// The bill day whose run first carried it.
    pub since_day: u32,
}

/// A key a bill matched near the end of its day (platform time ≥ end − T): the next day's run
/// does not report its record missing, and a row of it in the next bill is a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ahead {
    pub key: Key,
    /// The bill day that matched it.
    pub day: u32,
    pub at_ns: u64,
}

/// A Rolling (Stripe) payout still being filled: the rows seen so far across bill days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    /// `automatic_payout_id`.
    pub id: String,
    pub currency: u16,
    pub lines: u64,
    /// Σ net of its rows so far.
    pub net_minor: i64,
    /// Σ (platform net − bill net) of its fee_mismatch rows so far.
    pub fee_difference_minor: i64,
    /// The bill day it is paid out on: a row's day plus its availability delay.
    pub effective_day: u32,
    /// The first bill day that had one of its rows.
    pub first_day: u32,
}

/// Everything carried from one run to the next.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub channel_id: i32,
    /// The last bill day reconciled (None: never).
    pub last_day: Option<u32>,
    pub timing: Vec<Carry>,
    pub matched_ahead: Vec<Ahead>,
    pub payouts: Vec<Payout>,
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    #[serde(flatten)]
    state: State,
}

/// Where one channel's files are.
#[derive(Debug, Clone)]
pub struct Files {
    channel_id: i32,
    channel_dir: PathBuf,
}

impl Files {
    pub fn new(dir: &Path, channel_id: i32) -> Files {
        Files {
            channel_id,
            channel_dir: dir.join(channel_id.to_string()),
        }
    }

    pub fn state_path(&self) -> PathBuf {
        self.channel_dir.join("state.json")
    }

    pub fn day_dir(&self, day: u32) -> PathBuf {
        self.channel_dir.join(report::format_day(day))
    }

    fn before_path(&self, day: u32) -> PathBuf {
        self.day_dir(day).join("state_before.json")
    }

    /// The current state (empty before the first run).
    pub fn current(&self) -> Result<State, ReconError> {
        let state = read(&self.state_path())?.unwrap_or_else(|| State {
            channel_id: self.channel_id,
            ..State::default()
        });
        if state.channel_id != self.channel_id {
            return fail(format!(
                "{}: the state of channel {}, not {}",
                self.state_path().display(),
                state.channel_id,
                self.channel_id
            ));
        }
        Ok(state)
    }

    /// The state a run of `day` starts from: the current one, or — for a day already
    /// reconciled, only with `rerun` — the state kept from before that day's first run.
    pub fn state_before(&self, day: u32, rerun: bool) -> Result<State, ReconError> {
        let current = self.current()?;
        let Some(last) = current.last_day.filter(|&last| day <= last) else {
            return Ok(current);
        };
        if !rerun {
            return fail(format!(
                "channel {}: the bill day {} is already reconciled (the last day reconciled is \
                 {}); pass --rerun to reconcile it again from the state before it",
                self.channel_id,
                report::format_day(day),
                report::format_day(last)
            ));
        }
        let path = self.before_path(day);
        match read(&path)? {
            Some(state) => Ok(state),
            None => fail(format!(
                "{}: missing, so the bill day {} cannot be rerun exactly",
                path.display(),
                report::format_day(day)
            )),
        }
    }

    /// Keeps `before` as the state before `day` and makes `next` the current state. A rerun of
    /// an earlier day rewinds the current state to after that day: the days after it run again.
    pub fn save(&self, day: u32, before: &State, next: &State) -> Result<(), ReconError> {
        write_atomic(&self.before_path(day), &encode(before)?)?;
        write_atomic(&self.state_path(), &encode(next)?)
    }
}

fn encode(state: &State) -> Result<Vec<u8>, ReconError> {
    let file = StateFile {
        version: STATE_VERSION,
        state: state.clone(),
    };
    serde_json::to_vec_pretty(&file).map_err(|e| ReconError(format!("state: {e}")))
}

fn read(path: &Path) -> Result<Option<State>, ReconError> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return fail(format!("{}: {e}", path.display())),
    };
    let file: StateFile = serde_json::from_slice(&bytes)
        .map_err(|e| ReconError(format!("{}: not a reconcile state: {e}", path.display())))?;
    if file.version != STATE_VERSION {
        return fail(format!(
            "{}: state version {}, this binary reads {STATE_VERSION}",
            path.display(),
            file.version
        ));
    }
    Ok(Some(file.state))
}

/// Replaces `path` with `bytes` atomically: a temporary file beside it, synced, renamed, the
/// directory synced. Creates the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReconError> {
    let io = |p: &Path, e: std::io::Error| ReconError(format!("{}: {e}", p.display()));
    let dir = path
        .parent()
        .ok_or_else(|| ReconError(format!("{}: no directory", path.display())))?;
    fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let temp = dir.join(format!(".{}.tmp", name.unwrap_or_default()));
    let mut file = File::create(&temp).map_err(|e| io(&temp, e))?;
    file.write_all(bytes).map_err(|e| io(&temp, e))?;
    file.sync_all().map_err(|e| io(&temp, e))?;
    fs::rename(&temp, path).map_err(|e| io(path, e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, e))
}
