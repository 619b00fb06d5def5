//! `sluice console`: the read-only web console (sluice_store::console, docs/STORE.md section 5).
//! This module picks the store to read and the authority that checks admin logins: the server
//! itself, where an admin key logs in over the binary protocol exactly as `sluice admin` does.

use clap::Args;
use sluice_gateway::client::{Client, ClientError};
use sluice_node::flow::Rows;
use sluice_protocol::Role;
use sluice_store::console::auth::Authority;
use sluice_store::console::{Console, ConsoleConfig};
use sluice_store::{DayRange, FlowReader, ParquetStore, StoreError};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Args)]
pub struct ConsoleArgs {
    /// Data directory: the exported flow is read from DATA/export.
    #[arg(long)]
    data: PathBuf,
    /// The console's address.
    #[arg(long, default_value = "127.0.0.1:7780")]
    listen: SocketAddr,
    /// The server's Prometheus endpoint (`sluice serve --metrics ADDR`).
    #[arg(long, default_value = "http://127.0.0.1:9700/metrics")]
    metrics_url: String,
    /// The server's client address: a console login is an admin login there.
    #[arg(long, default_value = "127.0.0.1:7700")]
    server: SocketAddr,
    /// Read the flow from PostgreSQL instead of the data directory.
    #[arg(long, value_name = "URL")]
    postgres_url: Option<String>,
    /// How often the metrics endpoint is scraped, in milliseconds.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    scrape_ms: u64,
}

/// Admin logins checked by the server: the one authority over credentials (configuration,
/// `sluice admin credential add|rotate|revoke`), compared there against the journaled hash.
struct ServerAuthority {
    addr: SocketAddr,
}

/// The longest secret a Login carries.
const SECRET_MAX_BYTES: usize = 32;

impl Authority for ServerAuthority {
    fn check(&self, key_id: &str, secret: &str) -> Result<Result<(), String>, String> {
        if sluice_gateway::auth::key_bytes(key_id).is_none() {
            return Ok(Err("a key id is 1 to 16 bytes".into()));
        }
        if secret.len() > SECRET_MAX_BYTES {
            return Ok(Err(format!("a secret is at most {SECRET_MAX_BYTES} bytes")));
        }
        match Client::login(self.addr, Role::Admin, key_id, secret) {
            Ok(_session) => Ok(Ok(())),
            Err(ClientError::LoginRejected(reason, text)) => Ok(Err(format!("{reason:?} {text}"))),
            Err(e) => Err(format!("{}: {e}", self.addr)),
        }
    }
}

/// The Parquet export of a data directory, opened when it exists: until the exporter's first
/// commit the store pages are empty (position 0) rather than an error.
struct ParquetReader {
    data: PathBuf,
    store: Option<ParquetStore>,
}

impl ParquetReader {
    fn store(&mut self) -> Result<Option<&mut ParquetStore>, StoreError> {
        if self.store.is_none() && ParquetStore::dir_in(&self.data).is_dir() {
            self.store = Some(ParquetStore::open_read_only(&self.data)?);
        }
        Ok(self.store.as_mut())
    }
}

impl FlowReader for ParquetReader {
    fn load(&mut self, tables: &[&str], days: DayRange) -> Result<Rows, StoreError> {
        match self.store()? {
            Some(s) => s.load(tables, days),
            None => Ok(Rows::default()),
        }
    }

    fn position(&mut self) -> Result<u64, StoreError> {
        match self.store()? {
            Some(s) => FlowReader::position(s),
            None => Ok(0),
        }
    }
}

/// The store the console reads: PostgreSQL when a URL is given, else the Parquet export in
/// DATA/export/parquet (`sluice export`).
fn reader(data: &Path, postgres_url: Option<&str>) -> Result<Box<dyn FlowReader + Send>, String> {
    if let Some(url) = postgres_url {
        let store = sluice_store::pg::PgStore::connect(url).map_err(|e| format!("console: {e}"))?;
        return Ok(Box::new(store));
    }
    if !ParquetStore::dir_in(data).is_dir() {
        tracing::warn!(data = %data.display(), "no exported flow yet: the store pages stay empty until `sluice export` writes");
    }
    Ok(Box::new(ParquetReader {
        data: data.to_path_buf(),
        store: None,
    }))
}

pub fn run(args: ConsoleArgs) -> Result<(), String> {
    let reader = reader(&args.data, args.postgres_url.as_deref())?;
    let mut config = ConsoleConfig::new(args.listen, &args.metrics_url);
    config.scrape_every = std::time::Duration::from_millis(args.scrape_ms);
    let authority = Arc::new(ServerAuthority { addr: args.server });
    let console = Console::start(&config, reader, authority).map_err(|e| e.to_string())?;
    tracing::info!(addr = %console.addr(), metrics = %args.metrics_url, server = %args.server, "console listening");
    eprintln!("console listening on http://{}", console.addr());
    console.run_forever()
}
