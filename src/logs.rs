//! The binary's logs: the libraries emit `tracing` events, and this installs the one subscriber
//! that writes them to stderr — human-readable lines by default, one JSON object per line with
//! `--log-json` — at the level `SLUICE_LOG` names (docs/OPERATIONS.md, "Logs").

use tracing::Level;

/// The environment variable that sets the level.
pub const LEVEL_VARIABLE: &str = "SLUICE_LOG";

/// The level a value of `SLUICE_LOG` names: unset or empty means `info`; anything but `error`,
/// `warn`, `info`, `debug` or `trace` (in any case) is an error that names the variable and the
/// value, so a typo never silently changes what an operator sees.
pub fn level(value: Option<&str>) -> Result<Level, String> {
    let value = value.map(str::trim).unwrap_or_default();
    match value.to_ascii_lowercase().as_str() {
        "" | "info" => Ok(Level::INFO),
        "error" => Ok(Level::ERROR),
        "warn" => Ok(Level::WARN),
        "debug" => Ok(Level::DEBUG),
        "trace" => Ok(Level::TRACE),
        _ => Err(format!(
            "{LEVEL_VARIABLE}={value:?} is not a log level: use error, warn, info, debug or trace"
        )),
    }
}

/// Reads `SLUICE_LOG` and installs the subscriber: JSON lines when `json`, else human lines.
pub fn install(json: bool) -> Result<(), String> {
    let value = match std::env::var(LEVEL_VARIABLE) {
        Ok(v) => Some(v),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(v)) => {
            return Err(format!("{LEVEL_VARIABLE}={v:?} is not a log level"));
        }
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level(value.as_deref())?);
    let installed = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    installed.map_err(|e| format!("log subscriber: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_level_is_one_of_five_names_and_info_when_unset() {
        assert_eq!(level(None), Ok(Level::INFO));
        assert_eq!(level(Some("")), Ok(Level::INFO));
        assert_eq!(level(Some("warn")), Ok(Level::WARN));
        assert_eq!(level(Some("DEBUG")), Ok(Level::DEBUG));
        assert_eq!(level(Some(" trace ")), Ok(Level::TRACE));
        assert_eq!(level(Some("error")), Ok(Level::ERROR));
        let refused = level(Some("verbose")).expect_err("not a level");
        assert!(refused.contains("SLUICE_LOG=\"verbose\""), "{refused}");
        // The filter syntax of RUST_LOG is not accepted either: SLUICE_LOG is a level.
        assert!(level(Some("sluice=debug")).is_err());
    }
}
