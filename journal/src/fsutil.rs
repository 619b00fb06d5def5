//! Small file-system helpers for durable directory changes.

use std::fs::{self, File};
use std::path::Path;

use crate::error::JournalError;

/// Makes the directory's entries (creations, renames, removals) durable.
pub(crate) fn fsync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(JournalError::io(dir))
}

/// Creates `dir` (and missing parents) if needed. When `durable`, also syncs the parent so
/// that the new directory itself survives a power loss.
pub(crate) fn create_dir(dir: &Path, durable: bool) -> Result<(), JournalError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(JournalError::io(dir))?;
    if durable {
        let parent = match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        fsync_dir(parent)?;
    }
    Ok(())
}
