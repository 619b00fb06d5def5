//! Reading part files back: the schema must be the table's (a foreign or damaged file is an error
//! naming it), then every row becomes the table's row type. A part written before columns were
//! added at the end of its table (docs/STORE.md section 6) reads them as their defaults.

use std::fs::File;
use std::path::Path;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use sluice_node::flow::{ColType, Row, Value};

use crate::StoreError;

/// Every row of a part file of table `R`.
pub(super) fn read_part<R: Row>(path: &Path, out: &mut Vec<R>) -> Result<(), StoreError> {
    let bad = |why: String| StoreError::new(format!("{}: {why}", path.display()));
    // The reader is not ours: a damaged file must be an error that names it, never a crash.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_rows::<R>(path)));
    let rows = match result {
        Ok(rows) => rows.map_err(bad)?,
        Err(_) => {
            return Err(bad(
                "the Parquet reader failed on this file (damaged?)".into()
            ));
        }
    };
    out.extend(rows);
    Ok(())
}

fn read_rows<R: Row>(path: &Path) -> Result<Vec<R>, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let reader = SerializedFileReader::new(file).map_err(|e| format!("not a Parquet file: {e}"))?;
    let present = check_schema::<R>(&reader)?;
    let mut rows = Vec::with_capacity(reader.metadata().file_metadata().num_rows().max(0) as usize);
    let iter = reader.get_row_iter(None).map_err(|e| e.to_string())?;
    let mut values = Vec::with_capacity(R::COLUMNS.len());
    for (n, row) in iter.enumerate() {
        let row = row.map_err(|e| format!("row {n}: {e}"))?;
        values.clear();
        for ((_, field), column) in row.get_column_iter().zip(R::COLUMNS) {
            let value = cell(field, column.ty).ok_or_else(|| {
                format!(
                    "row {n}, column {}: {field:?} is not {:?}",
                    column.name, column.ty
                )
            })?;
            values.push(value);
        }
        if values.len() != present {
            return Err(format!(
                "row {n} has {} columns, not {present}",
                values.len()
            ));
        }
        values.extend(R::COLUMNS[present..].iter().map(|c| default_cell(c.ty)));
        rows.push(
            R::from_values(&values).ok_or_else(|| format!("row {n} does not fit {}", R::TABLE))?,
        );
    }
    Ok(rows)
}

/// The file's columns are the table's, by name, in order — or the first of them, for a part
/// written before the rest were added (it must still have the key). Returns how many it has.
fn check_schema<R: Row>(reader: &SerializedFileReader<File>) -> Result<usize, String> {
    let schema = reader.metadata().file_metadata().schema_descr();
    let names: Vec<&str> = schema.columns().iter().map(|c| c.name()).collect();
    let expected: Vec<&str> = R::COLUMNS.iter().map(|c| c.name).collect();
    let has_key = R::KEY.iter().all(|k| names.contains(k));
    if !expected.starts_with(&names) || !has_key {
        return Err(format!(
            "not a part of table {}: columns {names:?}, expected {expected:?}",
            R::TABLE
        ));
    }
    Ok(names.len())
}

/// What a column added after a part was written reads as in it.
fn default_cell(ty: ColType) -> Value {
    match ty {
        ColType::I64 => Value::I64(0),
        ColType::I32 => Value::I32(0),
        ColType::Date => Value::Date(0),
        ColType::Bool => Value::Bool(false),
        ColType::Text => Value::Text(String::new()),
    }
}

fn cell(field: &Field, ty: ColType) -> Option<Value> {
    Some(match (ty, field) {
        (ColType::I64, Field::Long(v)) => Value::I64(*v),
        (ColType::I32, Field::Int(v)) => Value::I32(*v),
        (ColType::Date, Field::Date(v)) => Value::Date(*v),
        (ColType::Bool, Field::Bool(v)) => Value::Bool(*v),
        (ColType::Text, Field::Str(v)) => Value::Text(v.clone()),
        _ => return None,
    })
}
