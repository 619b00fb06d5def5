//! A JSON-lines store: every row as one line `{"table": …, "values": […]}` in `rows.jsonl`,
//! each commit closed by a line `{"position": N}`. Small, slow and readable with `jq`: for tests
//! and debugging (the console's end-to-end test fills one), never for a production volume.
//!
//! A commit appends its rows and then its position line, and syncs; a reader stops at the last
//! position line, so a commit cut short by a crash is not read, and the next commit first cuts
//! the file back to that line.

use crate::{DayRange, FlowReader, FlowStore, StoreError};
use serde_json::{Value as Json, json};
use sluice_node::flow::{ColType, Row, Rows, TableVisitor, TableVisitorMut, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file's name inside the store's directory.
pub const FILE: &str = "rows.jsonl";

pub struct JsonLinesStore {
    path: PathBuf,
}

fn err(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::new(format!("{}: {e}", path.display()))
}

fn to_json(v: &Value) -> Json {
    match v {
        Value::I64(x) => json!(x),
        Value::I32(x) | Value::Date(x) => json!(x),
        Value::Bool(x) => json!(x),
        Value::Text(x) => json!(x),
    }
}

fn from_json(ty: ColType, v: &Json) -> Option<Value> {
    Some(match ty {
        ColType::I64 => Value::I64(v.as_i64()?),
        ColType::I32 => Value::I32(i32::try_from(v.as_i64()?).ok()?),
        ColType::Date => Value::Date(i32::try_from(v.as_i64()?).ok()?),
        ColType::Bool => Value::Bool(v.as_bool()?),
        ColType::Text => Value::Text(v.as_str()?.to_string()),
    })
}

impl JsonLinesStore {
    /// The store in `dir` (created when missing).
    pub fn open(dir: &Path) -> Result<JsonLinesStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
        Ok(JsonLinesStore {
            path: dir.join(FILE),
        })
    }

    /// The committed lines: everything up to the last position line, and that position.
    fn committed(&self) -> Result<(Vec<Json>, u64, usize), StoreError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(err(&self.path, e)),
        };
        let (mut lines, mut position, mut kept, mut end) = (Vec::new(), 0, 0, 0);
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            offset += line.len();
            let Ok(v) = serde_json::from_str::<Json>(line) else {
                break; // A torn last line.
            };
            if let Some(p) = v.get("position").and_then(Json::as_u64) {
                (position, kept, end) = (p, lines.len(), offset);
            } else {
                lines.push(v);
            }
        }
        lines.truncate(kept);
        Ok((lines, position, end))
    }
}

impl FlowStore for JsonLinesStore {
    fn name(&self) -> &'static str {
        "jsonl"
    }

    fn position(&mut self) -> Result<u64, StoreError> {
        Ok(self.committed()?.1)
    }

    fn commit(&mut self, rows: &Rows, through: u64) -> Result<(), StoreError> {
        struct Lines(String);
        impl TableVisitor for Lines {
            fn table<R: Row>(&mut self, rows: &[R]) {
                for r in rows {
                    let values: Vec<Json> = r.values().iter().map(to_json).collect();
                    self.0
                        .push_str(&json!({"table": R::TABLE, "values": values}).to_string());
                    self.0.push('\n');
                }
            }
        }
        let (_, position, end) = self.committed()?;
        if through <= position {
            return Ok(());
        }
        let mut lines = Lines(String::new());
        rows.visit(&mut lines);
        lines
            .0
            .push_str(&json!({ "position": through }).to_string());
        lines.0.push('\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&self.path)
            .map_err(|e| err(&self.path, e))?;
        f.set_len(end as u64).map_err(|e| err(&self.path, e))?;
        std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0)).map_err(|e| err(&self.path, e))?;
        f.write_all(lines.0.as_bytes())
            .and_then(|()| f.sync_data())
            .map_err(|e| err(&self.path, e))
    }
}

impl FlowReader for JsonLinesStore {
    fn load(&mut self, tables: &[&str], days: DayRange) -> Result<Rows, StoreError> {
        struct Fill<'a>(&'a [Json], Option<String>);
        impl TableVisitorMut for Fill<'_> {
            fn table<R: Row>(&mut self, rows: &mut Vec<R>) {
                let mine = self.0.iter().filter(|l| l["table"] == R::TABLE);
                for line in mine {
                    let cells = line["values"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                    let values: Option<Vec<Value>> = (R::COLUMNS.iter().zip(cells))
                        .map(|(c, v)| from_json(c.ty, v))
                        .collect();
                    match values.and_then(|v| R::from_values(&v)) {
                        Some(row) => rows.push(row),
                        None => {
                            self.1 = Some(format!("{}: a row that does not read: {line}", R::TABLE))
                        }
                    }
                }
            }
        }
        let (lines, _, _) = self.committed()?;
        let mut rows = Rows::default();
        let mut fill = Fill(&lines, None);
        rows.visit_mut(&mut fill);
        if let Some(e) = fill.1 {
            return Err(err(&self.path, e));
        }
        crate::memory::filter(&mut rows, tables, days);
        Ok(rows)
    }

    fn position(&mut self) -> Result<u64, StoreError> {
        Ok(self.committed()?.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::testing::sample_rows;

    #[test]
    fn rows_round_trip_and_a_torn_commit_is_not_read() {
        let dir = std::env::temp_dir().join(format!("sluice-jsonl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut store = JsonLinesStore::open(&dir).expect("opens");
        assert_eq!(FlowStore::position(&mut store), Ok(0));
        let rows = sample_rows();
        store.commit(&rows, 40).expect("commits");
        store
            .commit(&rows, 40)
            .expect("a range already held is skipped");
        let all = sluice_node::flow::TABLES;
        assert_eq!(store.load(all, DayRange::default()), Ok(rows.clone()));
        // A crash mid-commit: rows without their position line.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join(FILE))
            .expect("open");
        writeln!(f, "{{\"table\":\"orders\",\"values\":[1]}}\n{{\"tab").expect("write");
        assert_eq!(store.load(all, DayRange::default()), Ok(rows.clone()));
        store
            .commit(&Rows::default(), 41)
            .expect("commits after the torn tail");
        assert_eq!(FlowReader::position(&mut store), Ok(41));
        let only = store.load(&["orders"], DayRange::default()).expect("loads");
        assert_eq!(only.orders, rows.orders);
        assert!(only.attempts.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
