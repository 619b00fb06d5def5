//! One part file: a table's rows of one day, written with the `parquet` crate's column writers
//! (no Arrow), to a temporary name, synced and renamed into place.

use std::fs::{self, File};
use std::path::Path;
use std::sync::Arc;

use parquet::basic::{Compression, LogicalType, Repetition, Type as PhysicalType, ZstdLevel};
use parquet::data_type::{BoolType, ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter};
use parquet::schema::types::{Type, TypePtr};
use sluice_node::flow::{ColType, Column, Row, Value};

use crate::StoreError;

/// The Parquet type of a column: every column is REQUIRED (no cell is ever missing).
fn column_type(c: &Column) -> Result<TypePtr, parquet::errors::ParquetError> {
    let (physical, logical) = match c.ty {
        ColType::I64 => (PhysicalType::INT64, None),
        ColType::I32 => (PhysicalType::INT32, None),
        ColType::Bool => (PhysicalType::BOOLEAN, None),
        ColType::Text => (PhysicalType::BYTE_ARRAY, Some(LogicalType::String)),
        ColType::Date => (PhysicalType::INT32, Some(LogicalType::Date)),
    };
    Type::primitive_type_builder(c.name, physical)
        .with_repetition(Repetition::REQUIRED)
        .with_logical_type(logical)
        .build()
        .map(Arc::new)
}

/// The schema of table `R`, generated from its columns.
pub(super) fn schema<R: Row>() -> Result<TypePtr, StoreError> {
    let fields = R::COLUMNS
        .iter()
        .map(column_type)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::new(format!("schema of {}: {e}", R::TABLE)))?;
    Type::group_type_builder(R::TABLE)
        .with_fields(fields)
        .build()
        .map(Arc::new)
        .map_err(|e| StoreError::new(format!("schema of {}: {e}", R::TABLE)))
}

fn properties() -> Arc<WriterProperties> {
    let level = ZstdLevel::try_new(3).expect("zstd level 3 is valid");
    Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
            .set_created_by("sluice export".to_string())
            .build(),
    )
}

/// Writes `rows` of table `R` to `path` (temporary name, fsync, rename, fsync of the directory).
pub(super) fn write_part<R: Row>(path: &Path, rows: &[&R]) -> Result<(), StoreError> {
    let dir = path.parent().expect("a part file has a directory");
    let name = path
        .file_name()
        .expect("a part file has a name")
        .to_string_lossy();
    let temp = dir.join(format!(".{name}.tmp"));
    let bad = |what: &Path, e: &dyn std::fmt::Display| {
        StoreError::new(format!("{}: {e}", what.display()))
    };
    let file = File::create(&temp).map_err(|e| bad(&temp, &e))?;
    let values: Vec<Vec<Value>> = rows.iter().map(|r| r.values()).collect();
    let mut writer = SerializedFileWriter::new(file, schema::<R>()?, properties())
        .map_err(|e| bad(&temp, &e))?;
    let mut group = writer.next_row_group().map_err(|e| bad(&temp, &e))?;
    for (j, column) in R::COLUMNS.iter().enumerate() {
        let mut col = group
            .next_column()
            .map_err(|e| bad(&temp, &e))?
            .ok_or_else(|| bad(&temp, &"fewer columns than the schema"))?;
        write_column(&mut col, column.ty, values.iter().map(|v| &v[j]))
            .map_err(|e| bad(&temp, &e))?;
        col.close().map_err(|e| bad(&temp, &e))?;
    }
    group.close().map_err(|e| bad(&temp, &e))?;
    let file = writer.into_inner().map_err(|e| bad(&temp, &e))?;
    file.sync_all().map_err(|e| bad(&temp, &e))?;
    fs::rename(&temp, path).map_err(|e| bad(path, &e))?;
    sync_dir(dir)
}

/// Writes one column's cells (their types are the column's: `Row::values` follows `COLUMNS`).
fn write_column<'v>(
    col: &mut SerializedColumnWriter<'_>,
    ty: ColType,
    cells: impl Iterator<Item = &'v Value>,
) -> Result<usize, parquet::errors::ParquetError> {
    let wrong = || parquet::errors::ParquetError::General(format!("a cell is not of type {ty:?}"));
    match ty {
        ColType::I64 => {
            let v: Option<Vec<i64>> = cells.map(Value::as_i64).collect();
            col.typed::<Int64Type>()
                .write_batch(&v.ok_or_else(wrong)?, None, None)
        }
        ColType::I32 | ColType::Date => {
            let v: Option<Vec<i32>> = cells.map(Value::as_i32).collect();
            col.typed::<Int32Type>()
                .write_batch(&v.ok_or_else(wrong)?, None, None)
        }
        ColType::Bool => {
            let v: Option<Vec<bool>> = cells.map(Value::as_bool).collect();
            col.typed::<BoolType>()
                .write_batch(&v.ok_or_else(wrong)?, None, None)
        }
        ColType::Text => {
            let v: Option<Vec<ByteArray>> = cells
                .map(|c| c.as_text().map(|s| ByteArray::from(s.as_bytes().to_vec())))
                .collect();
            col.typed::<ByteArrayType>()
                .write_batch(&v.ok_or_else(wrong)?, None, None)
        }
    }
}

/// Makes a directory's entries (a rename, a new file or directory) durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::new(format!("{}: {e}", dir.display())))
}
