//! `sluice replay state`, per channel and currency: where each channel stands with the platform
//! (docs/RECONCILIATION.md, section 6) — what it owes (its receivable), what it paid into the
//! platform's bank, its fee differences, what was written off, and its open discrepancies.

use std::io::Write;

use serde_json::{Value as Json, json};
use sluice_engine::Engine;
use sluice_engine::channel_settlement::ChannelPosition;

use crate::trace::currency_name;

/// One channel in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelLine {
    pub channel_id: u16,
    pub currency: u16,
    pub position: ChannelPosition,
}

/// Every configured channel in each ledger currency it takes or has figures in.
pub fn channel_lines(engine: &Engine) -> Vec<ChannelLine> {
    let state = engine.state();
    let mut out = Vec::new();
    for ch in &state.channels {
        for &currency in &state.limits.currencies {
            let has_figures = state.channel_settlements.get(ch.id, currency).is_some()
                || state.discrepancies.open_of(ch.id, currency).0 > 0;
            if !ch.currencies.contains(&currency) && !has_figures {
                continue;
            }
            if let Some(position) = engine.channel_position(ch.id, currency) {
                out.push(ChannelLine {
                    channel_id: ch.id,
                    currency,
                    position,
                });
            }
        }
    }
    out
}

fn num(v: i128) -> Json {
    match i64::try_from(v) {
        Ok(v) => Json::from(v),
        Err(_) => Json::from(v.to_string()),
    }
}

pub fn lines_json(lines: &[ChannelLine]) -> Json {
    let lines: Vec<Json> = lines
        .iter()
        .map(|l| {
            let p = &l.position;
            json!({
                "channel_id": l.channel_id,
                "currency": currency_name(l.currency),
                "code": l.currency,
                "receivable_minor": num(p.receivable_minor),
                "paid_minor": num(p.paid_minor),
                "fee_differences_minor": num(p.fee_differences_minor),
                "written_off_minor": num(p.written_off_minor),
                "batches": p.batches,
                "open_discrepancies": p.open_discrepancies,
                "open_discrepancies_minor": num(p.open_discrepancies_minor),
            })
        })
        .collect();
    Json::Array(lines)
}

pub fn write_lines(lines: &[ChannelLine], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "channel settlement (minor units):")?;
    for l in lines {
        let p = &l.position;
        writeln!(
            out,
            "  {:<3} {:<4} owes {}, paid {} in {} batch(es), fee differences {}, written off {}, \
             open discrepancies {} ({})",
            l.channel_id,
            currency_name(l.currency),
            p.receivable_minor,
            p.paid_minor,
            p.batches,
            p.fee_differences_minor,
            p.written_off_minor,
            p.open_discrepancies,
            p.open_discrepancies_minor
        )?;
    }
    Ok(())
}
