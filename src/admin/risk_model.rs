//! `sluice admin risk model load FILE` / `unload ID`: the learned risk score's model
//! (docs/RISK_SCORE.md), sent as a journaled ConfigRiskModel.

use clap::Subcommand;
use sluice_protocol::{Activity, AnyMessage, ConfigRiskModel};
use std::path::PathBuf;

use super::Output;
use super::conn::AdminConn;

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Load (or replace) the model a `sluice risk train` model file defines.
    Load {
        /// The model file (TOML).
        file: PathBuf,
    },
    /// Unload the model: payments are scored 0 again.
    Unload {
        /// The model id to name in the journal.
        #[arg(default_value_t = 1)]
        model_id: u32,
    },
}

pub fn run(conn: &mut AdminConn, command: ModelCommand, out: &mut Output) -> Result<(), String> {
    let (model, what) = match command {
        ModelCommand::Load { file } => {
            let m = sluice_train::model_file::read(&file)?;
            let what = format!("risk model {} ({} terms)", m.model_id, m.terms.len());
            (m, what)
        }
        ModelCommand::Unload { model_id } => {
            let m = ConfigRiskModel {
                model_id,
                status: Activity::Disabled,
                ..Default::default()
            };
            (m, format!("risk model {model_id} unloaded"))
        }
    };
    let answer = conn.request(&AnyMessage::ConfigRiskModel(model))?;
    out.change(&what, &answer);
    Ok(())
}
