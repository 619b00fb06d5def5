//! `[export]`: the flow exporter in-process (docs/STORE.md, "In the server"). The gateway only
//! reads and checks the section; the binary starts the exporter (the gateway does not depend on
//! the flow store).

use serde::Deserialize;
use sluice_node::world::{ConfigError, err};

/// `[export]`, checked by [`ExportSection::check`].
#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ExportSection {
    /// Run the exporter beside the server (off by default).
    pub enabled: bool,
    /// Where the rows go: "parquet" (DATA/export/parquet) or "postgres" (`postgres_url`).
    pub to: String,
    /// PostgreSQL connection URL (with `to = "postgres"`).
    pub postgres_url: String,
    /// Commit once this many rows wait.
    pub batch_rows: u32,
    /// Commit rows that waited this many milliseconds.
    pub batch_ms: u32,
}

impl Default for ExportSection {
    fn default() -> Self {
        ExportSection {
            enabled: false,
            to: "parquet".into(),
            postgres_url: String::new(),
            batch_rows: 65_536,
            batch_ms: 1_000,
        }
    }
}

impl ExportSection {
    /// Checks the keys (whether the chosen store is built is the binary's question).
    pub fn check(&self) -> Result<(), ConfigError> {
        match self.to.as_str() {
            "parquet" => {}
            "postgres" if self.postgres_url.trim().is_empty() => {
                return err(None, "export.postgres_url", "to = \"postgres\" needs a URL");
            }
            "postgres" => {}
            other => {
                let what = format!("{other:?} is not parquet or postgres");
                return err(None, "export.to", what);
            }
        }
        if self.batch_rows == 0 {
            return err(None, "export.batch_rows", "must be at least 1");
        }
        if !(1..=3_600_000).contains(&self.batch_ms) {
            return err(None, "export.batch_ms", "must be 1..=3600000");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn export_is_off_by_default_and_its_keys_are_checked() {
        let c = Config::default_config();
        assert!(!c.export.enabled);
        assert_eq!(c.export.to, "parquet");
        let c = Config::parse("[export]\nenabled = true\nbatch_rows = 10\n").unwrap();
        assert!(c.export.enabled && c.export.batch_rows == 10);
        let e = Config::parse("[export]\nto = \"postgres\"\n").unwrap_err();
        assert_eq!(e.key, "export.postgres_url", "{e}");
        let e = Config::parse("[export]\nto = \"csv\"\n").unwrap_err();
        assert_eq!(e.key, "export.to", "{e}");
        let e = Config::parse("[export]\nbatch_rows = 0\n").unwrap_err();
        assert_eq!(e.key, "export.batch_rows", "{e}");
        let e = Config::parse("[export]\nbatch_ms = 0\n").unwrap_err();
        assert_eq!(e.key, "export.batch_ms", "{e}");
        let e = Config::parse("[export]\nurl = \"x\"\n").unwrap_err();
        assert!(e.message.contains("unknown field"), "{e}");
    }
}
