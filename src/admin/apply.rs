//! `sluice admin apply|diff FILE`: a TOML file in the configuration's own format (a whole file or
//! a few objects) compared with what the server holds, and the differences sent as admin inputs.
//! The comparison is `sluice_node::world::diff::diff_onto`, over the objects the server lists.

use clap::Args;
use sluice_gateway::config::Config;
use sluice_node::world::World;
use sluice_node::world::diff::{Difference, diff_onto};
use sluice_protocol::{AnyMessage, ConfigCredential, CredentialOp};
use std::path::{Path, PathBuf};

use super::conn::AdminConn;
use super::credential::duration_ms;
use super::output::Output;

#[derive(Args)]
pub struct ApplyArgs {
    /// The TOML file.
    file: PathBuf,
    /// Show what would be sent, send nothing.
    #[arg(long)]
    dry_run: bool,
    /// For a credential whose secret the file changes: how long the old secret still logs in
    /// (e.g. 0, 90s, 15m, 2h, 1d; at most a week).
    #[arg(long, default_value = "0", value_parser = duration_ms)]
    rotation_window: u32,
}

/// The business world a file defines (its operational sections, if any, are checked and ignored).
fn world_of(file: &Path) -> Result<World, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let config = Config::parse(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(config.world)
}

fn differences(conn: &mut AdminConn, file: &Path) -> Result<Vec<Difference>, String> {
    let world = world_of(file)?;
    let server = conn.walk_all()?;
    diff_onto(&server, &world).map_err(|e| format!("{}: {e}", file.display()))
}

fn report(file: &Path, differences: &[Difference], out: &mut Output) {
    let f = file.display();
    match differences.len() {
        0 => out.note(&format!("{f}: no differences from the server's state")),
        1 => out.note(&format!("{f}: 1 difference from the server's state:")),
        n => out.note(&format!("{f}: {n} differences from the server's state:")),
    }
    for d in differences {
        out.difference(d);
    }
}

pub fn diff(conn: &mut AdminConn, file: &Path, out: &mut Output) -> Result<(), String> {
    let differences = differences(conn, file)?;
    report(file, &differences, out);
    Ok(())
}

pub fn apply(conn: &mut AdminConn, args: &ApplyArgs, out: &mut Output) -> Result<(), String> {
    let differences = differences(conn, &args.file)?;
    report(&args.file, &differences, out);
    if args.dry_run {
        out.note("dry run: nothing sent");
        return Ok(());
    }
    for d in &differences {
        let Some(fix) = &d.fix else {
            continue;
        };
        let message = with_window(fix, args.rotation_window);
        let answer = conn.request(&message)?;
        out.change(&d.object, &answer);
    }
    Ok(())
}

/// A credential rotation gets the window the operator asked for.
fn with_window(fix: &AnyMessage, window_ms: u32) -> AnyMessage {
    match fix {
        AnyMessage::ConfigCredential(c) if c.op == CredentialOp::Rotate => ConfigCredential {
            rotation_window_ms: window_ms,
            ..*c
        }
        .into(),
        other => other.clone(),
    }
}
