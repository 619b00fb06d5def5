//! How far in event time the flow store is exported: the journal's timestamp of the input at the
//! store's position (its last exported sequence). Rows alone cannot say it — a quiet channel or a
//! pulse that changes nothing writes none — while every journal record carries its event time.

use std::path::Path;

use sluice_journal::{JournalReader, journal_dir};

use super::ReconError;

/// The event time of journal record `position` in `data_dir` (0 for position 0: nothing
/// exported). A journal that no longer holds the record (archived past it) is an error naming
/// what to do.
pub fn exported_through_ns(data_dir: &Path, position: u64) -> Result<u64, ReconError> {
    if position == 0 {
        return Ok(0);
    }
    let dir = journal_dir(data_dir);
    let reader = JournalReader::open(&dir)
        .map_err(|e| ReconError(format!("journal {}: {e}", dir.display())))?;
    match reader.iter_from(position).next() {
        Some(Ok(record)) if record.seq == position => Ok(record.timestamp_ns),
        Some(Ok(record)) => Err(ReconError(format!(
            "journal {}: record {position} missing (found {})",
            dir.display(),
            record.seq
        ))),
        Some(Err(e)) => Err(ReconError(format!(
            "journal {}: reading record {position}: {e}",
            dir.display()
        ))),
        None => Err(ReconError(format!(
            "journal {}: the flow store's position {position} is past the journal's end",
            dir.display()
        ))),
    }
}
