//! PostgreSQL's binary COPY format for flow rows: pure byte functions, no connection.
//!
//! Binary rather than text COPY: nothing to escape (a text cell holding a tab, a backslash or a
//! newline travels as its bytes), no number formatting, and `date` travels as a day count, so
//! the store needs no date crate. Layout (PostgreSQL docs, "COPY ... Binary Format"): the
//! signature `PGCOPY\n\xff\r\n\0`, a 32-bit flags word and a 32-bit header-extension length;
//! then per tuple a 16-bit field count and per field a 32-bit length (-1 = NULL) and its bytes,
//! all big-endian; then the trailer, a field count of -1.

use sluice_node::flow::{ColType, Row, Value};

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// 1970-01-01 counted from PostgreSQL's date epoch, 2000-01-01.
const UNIX_EPOCH_PG_DAYS: i32 = -10_957;

/// Appends the header of a binary COPY stream.
pub fn begin(out: &mut Vec<u8>) {
    out.extend_from_slice(SIGNATURE);
    out.extend_from_slice(&0i32.to_be_bytes()); // flags: no OIDs
    out.extend_from_slice(&0i32.to_be_bytes()); // no header extension
}

/// Appends the trailer.
pub fn end(out: &mut Vec<u8>) {
    out.extend_from_slice(&(-1i16).to_be_bytes());
}

/// Appends one row as a tuple; an error names the column whose cell does not fit.
pub fn encode_row<R: Row>(row: &R, out: &mut Vec<u8>) -> Result<(), String> {
    encode_values::<R>(&row.values(), out)
}

/// Appends one row's cells (`R::values`) as a tuple.
pub fn encode_values<R: Row>(values: &[Value], out: &mut Vec<u8>) -> Result<(), String> {
    if values.len() != R::COLUMNS.len() {
        return Err(format!(
            "a row has {} cells for {} columns",
            values.len(),
            R::COLUMNS.len()
        ));
    }
    let fields = i16::try_from(values.len()).map_err(|_| "too many columns".to_owned())?;
    out.extend_from_slice(&fields.to_be_bytes());
    for (value, column) in values.iter().zip(R::COLUMNS) {
        encode_cell(value, column.ty, out).map_err(|e| format!("column {}: {e}", column.name))?;
    }
    Ok(())
}

fn encode_cell(value: &Value, ty: ColType, out: &mut Vec<u8>) -> Result<(), String> {
    let mut field = |bytes: &[u8]| -> Result<(), String> {
        let len = i32::try_from(bytes.len()).map_err(|_| "cell over 2 GiB".to_owned())?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(bytes);
        Ok(())
    };
    match (ty, value) {
        (ColType::I64, Value::I64(v)) => field(&v.to_be_bytes()),
        (ColType::I32, Value::I32(v)) => field(&v.to_be_bytes()),
        (ColType::Bool, Value::Bool(v)) => field(&[u8::from(*v)]),
        (ColType::Text, Value::Text(v)) if v.contains('\0') => Err(format!(
            "text {v:?} holds a NUL byte, which PostgreSQL text cannot store"
        )),
        (ColType::Text, Value::Text(v)) => field(v.as_bytes()),
        (ColType::Date, Value::Date(days)) => {
            let pg = days
                .checked_add(UNIX_EPOCH_PG_DAYS)
                .ok_or_else(|| format!("day {days} is out of PostgreSQL's date range"))?;
            field(&pg.to_be_bytes())
        }
        (ty, value) => Err(format!("a {value:?} cell in a {ty:?} column")),
    }
}

/// A cursor over a binary COPY stream.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() < n {
            return Err(format!(
                "the stream ends {} bytes early",
                n - self.bytes.len()
            ));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }
    fn i16(&mut self) -> Result<i16, String> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, String> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Decodes a whole binary COPY stream of `R`'s columns, in `COLUMNS` order.
pub fn decode_rows<R: Row>(bytes: &[u8]) -> Result<Vec<R>, String> {
    let mut r = Reader { bytes };
    if r.take(SIGNATURE.len())? != SIGNATURE {
        return Err("not a binary COPY stream (bad signature)".into());
    }
    let flags = r.i32()?;
    if flags & (1 << 16) != 0 {
        return Err("the stream carries OIDs".into());
    }
    let extension = usize::try_from(r.i32()?).map_err(|_| "negative header extension")?;
    r.take(extension)?;
    let mut rows = Vec::new();
    loop {
        let fields = r.i16()?;
        if fields == -1 {
            break;
        }
        if usize::try_from(fields).ok() != Some(R::COLUMNS.len()) {
            return Err(format!(
                "a tuple of {fields} fields for {} columns",
                R::COLUMNS.len()
            ));
        }
        let mut values = Vec::with_capacity(R::COLUMNS.len());
        for column in R::COLUMNS {
            let value = decode_cell(&mut r, column.ty)
                .map_err(|e| format!("column {}: {e}", column.name))?;
            values.push(value);
        }
        let row =
            R::from_values(&values).ok_or_else(|| format!("cells {values:?} do not make a row"))?;
        rows.push(row);
    }
    if !r.bytes.is_empty() {
        return Err(format!("{} bytes after the trailer", r.bytes.len()));
    }
    Ok(rows)
}

fn decode_cell(r: &mut Reader<'_>, ty: ColType) -> Result<Value, String> {
    let len = r.i32()?;
    let len = usize::try_from(len).map_err(|_| "NULL in a NOT NULL column".to_owned())?;
    let b = r.take(len)?;
    let wrong = || format!("{len} bytes for a {ty:?}");
    Ok(match ty {
        ColType::I64 => Value::I64(i64::from_be_bytes(b.try_into().map_err(|_| wrong())?)),
        ColType::I32 => Value::I32(i32::from_be_bytes(b.try_into().map_err(|_| wrong())?)),
        ColType::Bool => match b {
            [v] => Value::Bool(*v != 0),
            _ => return Err(wrong()),
        },
        ColType::Text => Value::Text(String::from_utf8(b.to_vec()).map_err(|e| e.to_string())?),
        ColType::Date => {
            let pg = i32::from_be_bytes(b.try_into().map_err(|_| wrong())?);
            let days = pg
                .checked_sub(UNIX_EPOCH_PG_DAYS)
                .ok_or_else(|| format!("date {pg} (days since 2000-01-01) is out of range"))?;
            Value::Date(days)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_node::flow::{ChannelHealth, Day, Withdrawal};

    fn health(seq: i64, text: &str) -> ChannelHealth {
        ChannelHealth {
            seq,
            ordinal: 1,
            at_ns: -5,
            day: Day(0),
            channel_id: i32::MIN,
            from_state: text.into(),
            to_state: String::new(),
            failure_level_milli: i64::MAX,
            success_rate_ppm: 0,
        }
    }

    #[test]
    fn rows_round_trip_through_binary_copy() {
        let rows = vec![health(1, "a\tb\\c\nd\u{e9}"), health(2, "")];
        let mut buf = Vec::new();
        begin(&mut buf);
        for row in &rows {
            encode_row(row, &mut buf).unwrap();
        }
        end(&mut buf);
        assert_eq!(decode_rows::<ChannelHealth>(&buf).unwrap(), rows);
        // 1970-01-01 is PostgreSQL's day -10957.
        assert!(buf.windows(4).any(|w| w == (-10_957i32).to_be_bytes()));
    }

    #[test]
    fn bad_input_is_an_error_naming_the_column() {
        let mut buf = Vec::new();
        let err = encode_row(&health(1, "x\0y"), &mut buf).unwrap_err();
        assert!(err.starts_with("column from_state: "), "{err}");
        let mut buf = Vec::new();
        begin(&mut buf);
        encode_row(&health(1, "x"), &mut buf).unwrap();
        end(&mut buf);
        assert!(
            decode_rows::<Withdrawal>(&buf)
                .unwrap_err()
                .contains("fields for 14 columns")
        );
        assert!(decode_rows::<ChannelHealth>(&buf[..buf.len() - 3]).is_err());
        assert!(decode_rows::<ChannelHealth>(b"PGCOPY").is_err());
    }
}
