//! The PostgreSQL flow store (docs/STORE.md §3): one table per row type, keyed as rows.rs says;
//! each batch is one transaction that copies rows into temporary staging tables, inserts them
//! with `ON CONFLICT DO NOTHING` and moves `sluice_export_position`, so the database holds a
//! batch and its position together or neither.
//!
//! The client is the synchronous `postgres` crate: tokio-postgres on a current-thread runtime it
//! owns, so the exporter's thread simply blocks on the database.

pub mod copy;
pub mod schema;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

use std::io::{Read, Write};

use postgres::{Client, NoTls, Transaction};
use sluice_node::flow::{Row, Rows, TABLES, TableVisitor, TableVisitorMut, Value};

use crate::{DayRange, FlowReader, FlowStore, StoreError};

/// The `sluice_export_position` row the flow exporter keeps.
pub const POSITION_NAME: &str = "flow";

/// How long connecting may take unless the URL says (`connect_timeout`).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The PostgreSQL store.
pub struct PgStore {
    config: postgres::Config,
    /// Where the connection goes, for messages (the URL without its password).
    target: String,
    client: Client,
    /// Test hook: lose the connection right before the next commit.
    #[cfg(any(test, feature = "test-support"))]
    crash_before_commit: bool,
}

impl PgStore {
    /// Connects to `url` (`postgresql://user@host:port/db` or `host=… port=… dbname=…`),
    /// applies the migrations the database lacks and makes sure the position row exists.
    pub fn connect(url: &str) -> Result<PgStore, StoreError> {
        // The URL may hold a password: the message names the setting, not its value.
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::new(format!("postgres_url is not a PostgreSQL URL: {e}")))?;
        // An unreachable server is an error after a while, not a hang; a DBA sees who is connected.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("sluice-export");
        }
        let target = describe(&config);
        let client = open(&config, &target)?;
        Ok(PgStore {
            config,
            target,
            client,
            #[cfg(any(test, feature = "test-support"))]
            crash_before_commit: false,
        })
    }

    /// Test hook: the next `commit` loses its connection (the server ends it) after copying
    /// every row and before committing, as a crash or a network failure would.
    #[cfg(any(test, feature = "test-support"))]
    pub fn crash_before_next_commit(&mut self) {
        self.crash_before_commit = true;
    }

    /// The client, connected again if the last connection was lost: the database's position is
    /// the truth, so the exporter simply retries its batch.
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.is_closed() {
            tracing::warn!(target = %self.target, "PostgreSQL connection lost; reconnecting");
            self.client = open(&self.config, &self.target)?;
        }
        Ok(&mut self.client)
    }

    fn error(&self, what: &str, cause: impl std::fmt::Display) -> StoreError {
        StoreError::new(format!(
            "PostgreSQL store ({}): {what}: {cause}",
            self.target
        ))
    }

    fn commit_rows(&mut self, rows: &Rows, through: u64) -> Result<(), StoreError> {
        let through_i64 = i64::try_from(through)
            .map_err(|_| self.error("committing", format!("sequence {through} is over 2^63")))?;
        let target = self.target.clone();
        #[cfg(any(test, feature = "test-support"))]
        let crash = std::mem::take(&mut self.crash_before_commit);
        let err = |what: &str, cause: &dyn std::fmt::Display| {
            StoreError::new(format!("PostgreSQL store ({target}): {what}: {cause}"))
        };
        let mut tx = self
            .client()?
            .transaction()
            .map_err(|e| err("beginning a batch", &e))?;
        let position = lock_position(&mut tx).map_err(|e| err("reading the position", &e))?;
        if through_i64 <= position {
            // Everything through `through` is stored already: nothing to do.
            return Ok(());
        }
        let mut stage = Stage {
            tx: &mut tx,
            after: position,
            through: through_i64,
            failed: None,
        };
        rows.visit(&mut stage);
        if let Some(e) = stage.failed {
            return Err(err("storing rows", &e));
        }
        tx.execute(
            "UPDATE sluice_export_position SET seq = $2, updated_at = now() WHERE name = $1",
            &[&POSITION_NAME, &through_i64],
        )
        .map_err(|e| err("moving the position", &e))?;
        #[cfg(any(test, feature = "test-support"))]
        if crash {
            let _ = tx.batch_execute("SELECT pg_terminate_backend(pg_backend_pid())");
        }
        tx.commit().map_err(|e| err("committing a batch", &e))
    }

    fn load_rows(&mut self, tables: &[&str], days: DayRange) -> Result<Rows, StoreError> {
        if let Some(unknown) = tables.iter().find(|t| !TABLES.contains(t)) {
            return Err(self.error(
                "loading",
                format!("no table {unknown:?} (tables: {})", TABLES.join(", ")),
            ));
        }
        let target = self.target.clone();
        let client = self.client()?;
        let mut tx = client
            .build_transaction()
            .read_only(true)
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .start()
            .map_err(|e| {
                StoreError::new(format!(
                    "PostgreSQL store ({target}): beginning a load: {e}"
                ))
            })?;
        let mut rows = Rows::default();
        let mut load = Load {
            tx: &mut tx,
            tables,
            days,
            failed: None,
        };
        rows.visit_mut(&mut load);
        if let Some(e) = load.failed {
            return Err(StoreError::new(format!(
                "PostgreSQL store ({target}): loading rows: {e}"
            )));
        }
        tx.commit().map_err(|e| {
            StoreError::new(format!("PostgreSQL store ({target}): ending a load: {e}"))
        })?;
        Ok(rows)
    }
}

/// Connects, migrates and makes sure the position row exists.
fn open(config: &postgres::Config, target: &str) -> Result<Client, StoreError> {
    let fail = |what: &str, cause: &dyn std::fmt::Display| {
        StoreError::new(format!("PostgreSQL store ({target}): {what}: {cause}"))
    };
    let mut client = config.connect(NoTls).map_err(|e| fail("connecting", &e))?;
    let applied = schema::migrate(&mut client).map_err(|e| fail("migrating", &e))?;
    if applied > 0 {
        tracing::info!(target = %target, applied, "PostgreSQL schema migrated");
    }
    client
        .execute(
            "INSERT INTO sluice_export_position (name, seq) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING",
            &[&POSITION_NAME],
        )
        .map_err(|e| fail("creating the position row", &e))?;
    Ok(client)
}

/// `user@host:port/dbname`, never the password.
fn describe(config: &postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{host}:{port}/{}",
        config.get_user().unwrap_or("?"),
        config.get_dbname().unwrap_or("?")
    )
}

/// Reads the position, locking its row until the transaction ends (two exporters on one
/// database take turns).
fn lock_position(tx: &mut Transaction<'_>) -> Result<i64, postgres::Error> {
    let row = tx.query_one(
        "SELECT seq FROM sluice_export_position WHERE name = $1 FOR UPDATE",
        &[&POSITION_NAME],
    )?;
    Ok(row.get(0))
}

/// The index of the `seq` column, which every row type has.
fn seq_index<R: Row>() -> Option<usize> {
    R::COLUMNS.iter().position(|c| c.name == "seq")
}

/// Copies one table's new rows into a staging table and inserts them.
struct Stage<'a, 'b> {
    tx: &'a mut Transaction<'b>,
    after: i64,
    through: i64,
    failed: Option<String>,
}

impl TableVisitor for Stage<'_, '_> {
    fn table<R: Row>(&mut self, rows: &[R]) {
        if self.failed.is_none() && !rows.is_empty() {
            self.failed = self
                .stage(rows)
                .err()
                .map(|e| format!("table {}: {e}", R::TABLE));
        }
    }
}

impl Stage<'_, '_> {
    fn stage<R: Row>(&mut self, rows: &[R]) -> Result<(), String> {
        let seq_at = seq_index::<R>().ok_or("the row type has no seq column")?;
        let mut buf = Vec::new();
        copy::begin(&mut buf);
        let mut count = 0usize;
        for row in rows {
            let values = row.values();
            let seq = match values.get(seq_at) {
                Some(Value::I64(seq)) => *seq,
                other => return Err(format!("seq cell {other:?}")),
            };
            if seq > self.through {
                return Err(format!(
                    "a row of sequence {seq} past the batch's end {}",
                    self.through
                ));
            }
            if seq > self.after {
                copy::encode_values::<R>(&values, &mut buf)?;
                count += 1;
            }
        }
        copy::end(&mut buf);
        if count == 0 {
            return Ok(());
        }
        let t = R::TABLE;
        self.tx
            .batch_execute(&format!(
                "CREATE TEMP TABLE staging_{t} (LIKE {t}) ON COMMIT DROP"
            ))
            .map_err(|e| format!("creating its staging table: {e}"))?;
        let mut writer = self
            .tx
            .copy_in(&format!("COPY staging_{t} FROM STDIN (FORMAT binary)"))
            .map_err(|e| format!("starting COPY: {e}"))?;
        writer.write_all(&buf).map_err(|e| format!("COPY: {e}"))?;
        writer.finish().map_err(|e| format!("COPY: {e}"))?;
        self.tx
            .batch_execute(&format!(
                "INSERT INTO {t} SELECT * FROM staging_{t} ON CONFLICT DO NOTHING"
            ))
            .map_err(|e| format!("inserting from staging: {e}"))
    }
}

/// Loads the requested tables.
struct Load<'a, 'b, 'c> {
    tx: &'a mut Transaction<'b>,
    tables: &'c [&'c str],
    days: DayRange,
    failed: Option<String>,
}

impl TableVisitorMut for Load<'_, '_, '_> {
    fn table<R: Row>(&mut self, rows: &mut Vec<R>) {
        if self.failed.is_none() && self.tables.contains(&R::TABLE) {
            match self.load::<R>() {
                Ok(loaded) => *rows = loaded,
                Err(e) => self.failed = Some(format!("table {}: {e}", R::TABLE)),
            }
        }
    }
}

impl Load<'_, '_, '_> {
    fn load<R: Row>(&mut self) -> Result<Vec<R>, String> {
        // Days are integers, so they go into the COPY text as literals (COPY takes no
        // parameters). Rows come back in the order the exporter derived them.
        let mut filter = Vec::new();
        if let Some(from) = self.days.from {
            filter.push(format!("day >= DATE '1970-01-01' + {}", from.0));
        }
        if let Some(to) = self.days.to {
            filter.push(format!("day <= DATE '1970-01-01' + {}", to.0));
        }
        let filter = if filter.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", filter.join(" AND "))
        };
        let columns: Vec<&str> = R::COLUMNS.iter().map(|c| c.name).collect();
        let query = format!(
            "COPY (SELECT {} FROM {}{filter} ORDER BY seq, {}) TO STDOUT (FORMAT binary)",
            columns.join(", "),
            R::TABLE,
            R::KEY.join(", ")
        );
        let mut reader = self
            .tx
            .copy_out(&query)
            .map_err(|e| format!("starting COPY: {e}"))?;
        let mut buf = Vec::new();
        reader
            .read_to_end(&mut buf)
            .map_err(|e| format!("COPY: {e}"))?;
        copy::decode_rows::<R>(&buf)
    }
}

impl FlowStore for PgStore {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn position(&mut self) -> Result<u64, StoreError> {
        FlowReader::position(self)
    }

    fn commit(&mut self, rows: &Rows, through: u64) -> Result<(), StoreError> {
        self.commit_rows(rows, through)
    }
}

impl FlowReader for PgStore {
    fn load(&mut self, tables: &[&str], days: DayRange) -> Result<Rows, StoreError> {
        self.load_rows(tables, days)
    }

    fn position(&mut self) -> Result<u64, StoreError> {
        let row = self.client()?.query_one(
            "SELECT seq FROM sluice_export_position WHERE name = $1",
            &[&POSITION_NAME],
        );
        let seq: i64 = row
            .map_err(|e| self.error("reading the position", e))?
            .get(0);
        u64::try_from(seq)
            .map_err(|_| self.error("reading the position", format!("negative sequence {seq}")))
    }
}
