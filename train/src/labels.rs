//! Labels: which orders were fraud (ground truth of a simulation, or reports and chargebacks
//! read from a journal). Kept as a small CSV beside the journal: `order_id,acquirer_id,request_id,
//! fraud,pattern,time_ns`.

use std::collections::HashMap;
use std::path::Path;

/// The simulator's ground-truth file, beside the journal in the data directory.
pub const LABELS_FILE: &str = "labels.csv";
const HEADER: &str = "order_id,acquirer_id,request_id,fraud,pattern,time_ns";

/// One label of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub order_id: u64,
    pub acquirer_id: u32,
    pub request_id: u64,
    /// Fraud (true) or confirmed genuine (false).
    pub fraud: bool,
    /// The pattern or the source of the label.
    pub pattern: String,
    pub time_ns: u64,
}

/// Writes `labels` as CSV.
pub fn write(path: &Path, labels: &[Label]) -> Result<(), String> {
    let mut text = String::with_capacity(64 * (labels.len() + 1));
    text.push_str(HEADER);
    text.push('\n');
    for l in labels {
        text.push_str(&format!(
            "{},{},{},{},{},{}\n",
            l.order_id,
            l.acquirer_id,
            l.request_id,
            u8::from(l.fraud),
            l.pattern,
            l.time_ns
        ));
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads a labels CSV; an error names the file and the line.
pub fn read(path: &Path) -> Result<Vec<Label>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut labels = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if (i == 0 && line == HEADER) || line.trim().is_empty() {
            continue;
        }
        let bad = |what: &str| format!("{} line {}: {what}", path.display(), i + 1);
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 6 {
            return Err(bad("expected 6 fields"));
        }
        let num = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| bad(&format!("{s:?} is not a number")))
        };
        labels.push(Label {
            order_id: num(f[0])?,
            acquirer_id: u32::try_from(num(f[1])?).map_err(|_| bad("acquirer_id too large"))?,
            request_id: num(f[2])?,
            fraud: match f[3] {
                "1" => true,
                "0" => false,
                _ => return Err(bad("fraud must be 0 or 1")),
            },
            pattern: f[4].to_string(),
            time_ns: num(f[5])?,
        });
    }
    Ok(labels)
}

/// Fraud by order id (the last label of an order wins: a false-positive report overrides).
pub fn by_order(labels: &[Label]) -> HashMap<u64, bool> {
    labels.iter().map(|l| (l.order_id, l.fraud)).collect()
}
