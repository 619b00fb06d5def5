//! Reading the cells of one row by column index, each failure naming the file, the line and the
//! column as the layout names it.

use std::borrow::Cow;

use crate::model::BillError;
use crate::rules::LineFault;
use crate::text::{Civil, Errors, is_ident, parse_decimal, parse_refund_id, parse_u64};

/// One row's cells, with the layout's column names.
pub(crate) struct Row<'r, 'a> {
    pub errors: Errors<'r>,
    pub line: u32,
    pub columns: &'static [&'static str],
    pub cells: &'r [Cow<'a, str>],
}

impl Row<'_, '_> {
    /// Checks the cell count against the columns.
    pub fn check_width(&self) -> Result<(), BillError> {
        if self.cells.len() == self.columns.len() {
            return Ok(());
        }
        Err(self.errors.at(
            self.line,
            "(row)",
            format!(
                "{} cells, expected {}",
                self.cells.len(),
                self.columns.len()
            ),
        ))
    }

    pub fn fail(&self, column: usize, message: impl Into<String>) -> BillError {
        self.errors.at(self.line, self.columns[column], message)
    }

    /// A fault of the line's rules, reported at the column the format states it in.
    pub fn fault(&self, column: usize, fault: LineFault) -> BillError {
        self.fail(column, fault.to_string())
    }

    pub fn text(&self, column: usize) -> &str {
        &self.cells[column]
    }

    /// The cell, which must be `expected`.
    pub fn literal(&self, column: usize, expected: &str) -> Result<(), BillError> {
        if self.text(column) == expected {
            return Ok(());
        }
        Err(self.fail(
            column,
            format!("{:?}, expected {expected:?}", self.text(column)),
        ))
    }

    /// An identifier (`text::is_ident`), owned.
    pub fn ident(&self, column: usize) -> Result<String, BillError> {
        self.check_ident(column)?;
        Ok(self.text(column).to_string())
    }

    /// Checks that the cell is an identifier, keeping nothing.
    pub fn check_ident(&self, column: usize) -> Result<(), BillError> {
        let text = self.text(column);
        if is_ident(text) {
            return Ok(());
        }
        Err(self.fail(column, format!("{text:?} is not an identifier")))
    }

    /// An identifier, or empty.
    pub fn ident_or_empty(&self, column: usize) -> Result<String, BillError> {
        if self.text(column).is_empty() {
            return Ok(String::new());
        }
        self.ident(column)
    }

    /// A decimal amount with `exponent` digits after the point, in minor units.
    pub fn decimal(&self, column: usize, exponent: u8) -> Result<i64, BillError> {
        parse_decimal(self.text(column), exponent).ok_or_else(|| {
            self.fail(
                column,
                format!(
                    "{:?} is not an amount with {exponent} decimals",
                    self.text(column)
                ),
            )
        })
    }

    /// An unsigned integer.
    pub fn integer(&self, column: usize) -> Result<u64, BillError> {
        parse_u64(self.text(column))
            .ok_or_else(|| self.fail(column, format!("{:?} is not a number", self.text(column))))
    }

    /// A refund id as Sluice sends it.
    pub fn refund_id(&self, column: usize) -> Result<u64, BillError> {
        parse_refund_id(self.text(column)).ok_or_else(|| {
            self.fail(
                column,
                format!("{:?} is not a refund id", self.text(column)),
            )
        })
    }

    /// A local time `YYYY{sep}MM{sep}DD HH:MM:SS` in a zone `offset_min` east of UTC, as UTC ns.
    pub fn time(&self, column: usize, date_sep: u8, offset_min: i32) -> Result<u64, BillError> {
        Civil::parse(self.text(column), date_sep)
            .and_then(|c| c.at_ns(offset_min))
            .ok_or_else(|| {
                self.fail(
                    column,
                    format!("{:?} is not a valid time", self.text(column)),
                )
            })
    }

    /// A value that must equal what the row's other cells imply.
    pub fn expect_eq(&self, column: usize, got: i64, expected: i64) -> Result<(), BillError> {
        if got == expected {
            return Ok(());
        }
        Err(self.fail(
            column,
            format!("{got} minor units, the row implies {expected}"),
        ))
    }
}
