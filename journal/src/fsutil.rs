//! Small file-system helpers for durable directory changes.

use std::path::Path;

use crate::error::JournalError;
use crate::storage::Storage;

/// Makes the directory's entries (creations, renames, removals) durable.
pub(crate) fn fsync_dir(storage: &dyn Storage, dir: &Path) -> Result<(), JournalError> {
    storage.sync_dir(dir).map_err(JournalError::io(dir))
}

/// Creates `dir` (and missing parents) if needed. When `durable`, also syncs the parent so
/// that the new directory itself survives a power loss.
pub(crate) fn create_dir(
    storage: &dyn Storage,
    dir: &Path,
    durable: bool,
) -> Result<(), JournalError> {
    if dir.is_dir() {
        return Ok(());
    }
    storage.create_dir_all(dir).map_err(JournalError::io(dir))?;
    if durable {
        let parent = match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        fsync_dir(storage, parent)?;
    }
    Ok(())
}
