//! `[simulator]`: the in-process simulated channels (payment channels, `sim`; payout channels,
//! `sim_payout`), their faults and their book file. Read by the server's configuration and by
//! `sluice channel-sim`.

use serde::Deserialize;
use sluice_node::world::{ConfigError, err};
use std::path::PathBuf;

use crate::sim_faults::Faults;
use crate::sim_payout::SimPayoutChannel;

/// `[simulator]`: in-process simulated channels.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorSection {
    pub enabled: bool,
    pub seed: u64,
    pub channels: Vec<SimChannel>,
    /// Faults of every channel that has none of its own (`sim_faults`; none by default).
    pub faults: Faults,
    /// The channels' book kept in this file, as `sluice channel-sim --book` does (read back at
    /// start, appended to as the simulator runs); none by default.
    pub book: Option<PathBuf>,
    /// Simulated payout channels (`sim_payout`): bank transfers answered paid, failed,
    /// processing, lost, unseen or returned.
    pub payout_channels: Vec<SimPayoutChannel>,
}

impl Default for SimulatorSection {
    fn default() -> Self {
        SimulatorSection {
            enabled: false,
            seed: 42,
            channels: Vec::new(),
            faults: Faults::default(),
            book: None,
            payout_channels: Vec::new(),
        }
    }
}

/// One simulated channel.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimChannel {
    pub channel_id: u16,
    /// Probability of success (the rest is split by `decline_rate`, then retryable errors).
    pub success_rate: f64,
    #[serde(default)]
    pub decline_rate: f64,
    #[serde(default = "d_lat_min")]
    pub latency_us_min: u32,
    #[serde(default = "d_lat_max")]
    pub latency_us_max: u32,
    /// Scheduled outages, in seconds since the simulator started.
    #[serde(default)]
    pub outages: Vec<SimOutage>,
    /// This channel's faults, instead of `[simulator.faults]`.
    #[serde(default)]
    pub faults: Option<Faults>,
    /// The layout of its bills (`sim_bills`): wechat, alipay, unionpay, stripe or paypal; by
    /// default from the channel's name (wechat_pay, alipay, unionpay, stripe, paypal).
    #[serde(default)]
    pub bill_format: Option<String>,
    /// The merchant account its bills name; by default the layout's sample account.
    #[serde(default)]
    pub bill_account: Option<String>,
}

fn d_lat_min() -> u32 {
    200
}
fn d_lat_max() -> u32 {
    2_000
}

/// An outage: from `from_s` to `to_s` every attempt fails with `mode`.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimOutage {
    pub from_s: f64,
    pub to_s: f64,
    /// "error" (retryable error), "decline" or "timeout" (no answer).
    #[serde(default = "d_mode")]
    pub mode: String,
}

fn d_mode() -> String {
    "error".into()
}

pub(crate) fn check_simulator(s: &SimulatorSection) -> Result<(), ConfigError> {
    if let Err(e) = s.faults.check() {
        return err(None, "simulator.faults", e);
    }
    for (i, c) in s.payout_channels.iter().enumerate() {
        let key = format!("simulator.payout_channels[{i}]");
        if let Err(e) = c.check() {
            return err(None, key, e);
        }
        if s.channels.iter().any(|p| p.channel_id == c.channel_id) {
            return err(
                None,
                key,
                "a channel id is a payment or a payout channel, not both",
            );
        }
    }
    for (i, c) in s.channels.iter().enumerate() {
        let key = format!("simulator.channels[{i}]");
        let p = |v: f64| (0.0..=1.0).contains(&v);
        if !p(c.success_rate) || !p(c.decline_rate) || c.success_rate + c.decline_rate > 1.0 {
            return err(
                None,
                key,
                "success_rate and decline_rate must be in [0, 1] and sum to at most 1",
            );
        }
        if c.latency_us_min > c.latency_us_max {
            return err(None, key, "latency_us_min must not exceed latency_us_max");
        }
        if let Some(Err(e)) = c.faults.as_ref().map(Faults::check) {
            return err(None, format!("{key}.faults"), e);
        }
        if let Some(f) = c.bill_format.as_deref()
            && sluice_bills::Format::from_name(f).is_none()
        {
            return err(
                None,
                format!("{key}.bill_format"),
                "a bill layout: wechat, alipay, unionpay, stripe or paypal",
            );
        }
        for o in &c.outages {
            let valid = o.from_s >= 0.0
                && o.to_s >= o.from_s
                && matches!(o.mode.as_str(), "error" | "decline" | "timeout");
            if !valid {
                return err(
                    None,
                    key,
                    "outages need 0 <= from_s <= to_s and mode error, decline or timeout",
                );
            }
        }
    }
    Ok(())
}
