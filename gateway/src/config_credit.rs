//! `[credit]`: the merchant-credit policy (docs/CREDIT.md, section 1), optional. Compiled into a
//! `ConfigCreditPolicy` admin input that follows the world's other inputs at a first start; the
//! engine checks the ranges (a refusal names the section at start, like every world input).

use serde::Deserialize;
use sluice_engine::money::CURRENCY_CODES;
use sluice_node::world::{ConfigError, WorldInput, err};
use sluice_protocol::{AnyMessage, ConfigCreditPolicy};

/// `[credit]`.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct CreditSection {
    /// The credit currency: an ISO 4217 code such as "CNY".
    pub currency: String,
    #[serde(default = "d_window")]
    pub window_days: u16,
    #[serde(default = "d_advance")]
    pub advance_permille: u16,
    pub cap_minor: i64,
    #[serde(default)]
    pub daily_rate_e6: u32,
    #[serde(default)]
    pub penalty_rate_e6: u32,
    #[serde(default = "d_share")]
    pub repay_share_bps: u16,
    #[serde(default = "d_term")]
    pub term_days_max: u16,
    #[serde(default = "d_default")]
    pub default_after_days: u16,
}

fn d_window() -> u16 {
    30
}
fn d_advance() -> u16 {
    300
}
fn d_share() -> u16 {
    2_000
}
fn d_term() -> u16 {
    90
}
fn d_default() -> u16 {
    30
}

impl CreditSection {
    /// The policy as an admin input.
    pub fn message(&self) -> Result<ConfigCreditPolicy, ConfigError> {
        let Some(&(_, currency)) = CURRENCY_CODES
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(&self.currency))
        else {
            return err(
                None,
                "credit.currency",
                format!("{:?} is not a known ISO 4217 code", self.currency),
            );
        };
        Ok(ConfigCreditPolicy {
            currency,
            window_days: self.window_days,
            advance_permille: self.advance_permille,
            cap_minor: self.cap_minor,
            daily_rate_e6: self.daily_rate_e6,
            penalty_rate_e6: self.penalty_rate_e6,
            repay_share_bps: self.repay_share_bps,
            term_days_max: self.term_days_max,
            default_after_days: self.default_after_days,
        })
    }

    /// Appends the policy to the world's inputs.
    pub fn compile(&self, inputs: &mut Vec<WorldInput>) -> Result<(), ConfigError> {
        let message = AnyMessage::from(self.message()?);
        inputs.push(WorldInput {
            line: None,
            key: "credit".into(),
            message,
        });
        Ok(())
    }
}

/// Appends the `[credit]` policy, when the section is there, to the world's inputs.
pub fn compile(
    section: Option<&CreditSection>,
    inputs: &mut Vec<WorldInput>,
) -> Result<(), ConfigError> {
    section.map_or(Ok(()), |c| c.compile(inputs))
}
