//! Rows kept in memory: a [`FlowReader`] (and [`FlowStore`]) for tests, and the one filter every
//! reader applies (tables asked, days in range).

use crate::{DayRange, FlowReader, FlowStore, StoreError};
use sluice_node::flow::{Day, Row, Rows, TableVisitorMut};

/// Keeps the tables named in `tables` (their rows whose day is in `days`) and empties the others.
pub fn filter(rows: &mut Rows, tables: &[&str], days: DayRange) {
    struct Filter<'a>(&'a [&'a str], DayRange);
    impl TableVisitorMut for Filter<'_> {
        fn table<R: Row>(&mut self, rows: &mut Vec<R>) {
            if !self.0.contains(&R::TABLE) {
                rows.clear();
                return;
            }
            let Some(day_at) = R::COLUMNS.iter().position(|c| c.name == "day") else {
                return;
            };
            let days = self.1;
            rows.retain(|r| {
                let day = r.values().get(day_at).and_then(|v| v.as_i32());
                day.is_none_or(|d| days.contains(Day(d)))
            });
        }
    }
    if days != DayRange::default() || tables.len() < sluice_node::flow::TABLES.len() {
        rows.visit_mut(&mut Filter(tables, days));
    }
}

/// Every row in memory, with a position.
#[derive(Debug, Clone, Default)]
pub struct MemoryReader {
    pub rows: Rows,
    pub position: u64,
}

impl MemoryReader {
    pub fn new(rows: Rows, position: u64) -> MemoryReader {
        MemoryReader { rows, position }
    }
}

impl FlowReader for MemoryReader {
    fn load(&mut self, tables: &[&str], days: DayRange) -> Result<Rows, StoreError> {
        let mut rows = self.rows.clone();
        filter(&mut rows, tables, days);
        Ok(rows)
    }

    fn position(&mut self) -> Result<u64, StoreError> {
        Ok(self.position)
    }
}

impl FlowStore for MemoryReader {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn position(&mut self) -> Result<u64, StoreError> {
        Ok(self.position)
    }

    fn commit(&mut self, rows: &Rows, through: u64) -> Result<(), StoreError> {
        if through > self.position {
            self.rows.append(&mut rows.clone());
            self.position = through;
        }
        Ok(())
    }
}
