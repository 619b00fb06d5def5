//! The model file: the engine's fixed-point model as TOML, what `sluice risk train` writes and
//! `sluice admin risk model load` sends as a ConfigRiskModel.
//!
//! ```toml
//! model_id = 1
//! intercept_q16 = -310000
//! [[terms]]
//! feature = "payments_per_card_minute"
//! weight_q16 = 91234
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};
use sluice_engine::risk::FEATURE_NAMES;
use sluice_protocol::{Activity, ConfigRiskModel, ScoreTerm};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelFile {
    model_id: u32,
    intercept_q16: i32,
    terms: Vec<TermEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TermEntry {
    /// The feature's name (`sluice_engine::risk::FEATURE_NAMES`).
    feature: String,
    weight_q16: i32,
}

/// The model as TOML text.
pub fn to_toml(m: &ConfigRiskModel) -> String {
    let file = ModelFile {
        model_id: m.model_id,
        intercept_q16: m.intercept,
        terms: m
            .terms
            .iter()
            .map(|t| TermEntry {
                feature: FEATURE_NAMES
                    .get(usize::from(t.feature))
                    .map_or_else(|| t.feature.to_string(), |n| (*n).to_string()),
                weight_q16: t.weight,
            })
            .collect(),
    };
    toml::to_string(&file).expect("a model file serializes")
}

/// Reads a model file; errors name the file and what is wrong. The engine checks the rest.
pub fn read(path: &Path) -> Result<ConfigRiskModel, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses model TOML.
pub fn parse(text: &str) -> Result<ConfigRiskModel, String> {
    let file: ModelFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut m = ConfigRiskModel {
        model_id: file.model_id,
        status: Activity::Active,
        intercept: file.intercept_q16,
        ..Default::default()
    };
    for (i, t) in file.terms.iter().enumerate() {
        let feature = FEATURE_NAMES
            .iter()
            .position(|n| *n == t.feature)
            .ok_or_else(|| format!("terms[{i}].feature: unknown feature {:?}", t.feature))?;
        let term = ScoreTerm {
            feature: feature as u16,
            weight: t.weight_q16,
        };
        m.terms
            .try_push(term)
            .map_err(|_| format!("terms[{i}]: more than {} terms", m.terms.capacity()))?;
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_file_round_trips_and_names_a_bad_feature() {
        let mut m = ConfigRiskModel {
            model_id: 3,
            status: Activity::Active,
            intercept: -5 << 16,
            ..Default::default()
        };
        m.terms.push(ScoreTerm {
            feature: 10,
            weight: 12_345,
        });
        let text = to_toml(&m);
        assert!(text.contains("payments_per_card_minute"), "{text}");
        assert_eq!(parse(&text).unwrap(), m);
        let bad = text.replace("payments_per_card_minute", "card_minute");
        assert!(parse(&bad).unwrap_err().contains("terms[0].feature"));
    }
}
