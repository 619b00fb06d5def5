//! Scores the reconciliation against the simulator's ground truth (src/demo_recon.rs): every
//! discrepancy the simulator injected into a bill (its `<day>.expected.json` manifest) against
//! what `sluice reconcile` reported for that channel and day. A timing injection must be reported
//! as carried on its day and as resolved on a later day's run; anything reported that was not
//! injected is a false positive, anything injected and not reported (or reported in another
//! class) a false negative.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

use sluice_store::recon::Report;

/// (channel, class, key): one discrepancy, as the manifest and the report both name it.
type Finding = (i64, String, String);

/// The tally of one run of the scenario.
#[derive(Debug, Default, Clone)]
pub(crate) struct Score {
    /// Per class: (injected, found and classified correctly).
    pub classes: BTreeMap<String, (u64, u64)>,
    pub false_positives: Vec<String>,
    pub false_negatives: Vec<String>,
    /// Timing injections resolved by a later day's run.
    pub timing_resolved: u64,
}

impl Score {
    pub fn injected(&self) -> u64 {
        self.classes.values().map(|c| c.0).sum()
    }

    pub fn found(&self) -> u64 {
        self.classes.values().map(|c| c.1).sum()
    }

    /// Correct findings over everything reported (1 when nothing was reported).
    pub fn precision(&self) -> f64 {
        let reported = self.found() + self.false_positives.len() as u64;
        ratio(self.found(), reported)
    }

    /// Correct findings over everything injected (1 when nothing was injected).
    pub fn recall(&self) -> f64 {
        ratio(self.found(), self.injected())
    }

    pub fn json(&self) -> Value {
        let classes: serde_json::Map<String, Value> = self
            .classes
            .iter()
            .map(|(c, (i, f))| (c.clone(), json!({ "injected": i, "found": f })))
            .collect();
        json!({
            "injected": self.injected(),
            "found": self.found(),
            "precision": self.precision(),
            "recall": self.recall(),
            "timing_resolved_next_day": self.timing_resolved,
            "classes": classes,
            "false_positives": self.false_positives.iter().take(10).collect::<Vec<_>>(),
            "false_negatives": self.false_negatives.iter().take(10).collect::<Vec<_>>(),
        })
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// The key a manifest entry names, spelled as the report spells it.
fn manifest_key(entry: &Value) -> String {
    let refund = entry["refund_id"].as_u64().unwrap_or(0);
    if refund != 0 {
        return format!("R{refund}");
    }
    entry["out_trade_no"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The injected discrepancies of one manifest file.
pub(crate) fn manifest(path: &Path) -> Result<Vec<Finding>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let entries = v["discrepancies"]
        .as_array()
        .ok_or_else(|| format!("{}: no discrepancies list", path.display()))?;
    Ok(entries
        .iter()
        .map(|e| {
            let channel = e["channel_id"].as_i64().unwrap_or(0);
            let class = e["class"].as_str().unwrap_or_default().to_string();
            (channel, class, manifest_key(e))
        })
        .collect())
}

/// What one report says: its discrepancies (a duplicate's `#n` occurrence suffix dropped) and
/// its carried and resolved timing keys.
fn reported(report: &Report) -> (Vec<Finding>, Vec<String>, Vec<String>) {
    let channel = i64::from(report.channel_id);
    let found = report
        .discrepancies
        .iter()
        .map(|d| {
            let key = d.key.split('#').next().unwrap_or_default().to_string();
            (channel, d.class.name().to_string(), key)
        })
        .collect();
    let carried = report
        .timing_carried
        .iter()
        .map(|c| c.key.clone())
        .collect();
    let resolved = report
        .timing_resolved
        .iter()
        .map(|r| r.key.clone())
        .collect();
    (found, carried, resolved)
}

impl Score {
    /// Adds one channel's days, in order: each day's manifest against each day's report.
    pub(crate) fn add_channel(&mut self, days: &[(Vec<Finding>, &Report)]) {
        let mut pending_timing: Vec<String> = Vec::new();
        for (injected, report) in days {
            let (mut found, carried, resolved) = reported(report);
            for key in resolved {
                if let Some(i) = pending_timing.iter().position(|k| *k == key) {
                    pending_timing.swap_remove(i);
                    self.timing_resolved += 1;
                }
            }
            // Carries of earlier days still waiting were counted on their day.
            let mut carried: Vec<String> = carried
                .into_iter()
                .filter(|k| !pending_timing.contains(k))
                .collect();
            for (channel, class, key) in injected {
                let tally = self.classes.entry(class.clone()).or_default();
                tally.0 += 1;
                let hit = if class == "timing" {
                    take(&mut carried, key).inspect(|_| pending_timing.push(key.clone()))
                } else {
                    take(&mut found, &(*channel, class.clone(), key.clone()))
                };
                match hit {
                    Some(()) => tally.1 += 1,
                    None => self
                        .false_negatives
                        .push(format!("{} {channel} {class} {key}", report.day)),
                }
            }
            self.false_positives.extend(
                found
                    .iter()
                    .map(|(c, class, key)| format!("{} {c} {class} {key}", report.day))
                    .chain(carried.iter().map(|k| format!("{} timing {k}", report.day))),
            );
        }
        // A timing injection never resolved by a later run was not classified correctly.
        if let Some(t) = self.classes.get_mut("timing") {
            t.1 -= pending_timing.len() as u64;
        }
        self.false_negatives.extend(
            pending_timing
                .iter()
                .map(|k| format!("timing {k} never resolved")),
        );
    }
}

/// Removes one `item` from `list`; Some when it was there.
fn take<T: PartialEq>(list: &mut Vec<T>, item: &T) -> Option<()> {
    let i = list.iter().position(|x| x == item)?;
    list.swap_remove(i);
    Some(())
}
