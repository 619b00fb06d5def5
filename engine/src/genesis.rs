//! The Genesis input's limits, checked: the one place their ranges live.

use sluice_protocol::Genesis;

use crate::core::ApplyError;
use crate::state::Limits;

pub(crate) fn check_genesis(g: &Genesis) -> Result<Limits, ApplyError> {
    let bad = |why: &str| Err(ApplyError::InvalidGenesis(why.to_string()));
    let in_range = |v: u64, lo: u64, hi: u64| v >= lo && v <= hi;
    if !in_range(u64::from(g.orders_max), 1, 50_000_000)
        || !in_range(u64::from(g.refunds_max), 1, 50_000_000)
        || !in_range(u64::from(g.withdrawals_max), 1, 10_000_000)
    {
        return bad("orders_max, refunds_max (1..=50M) or withdrawals_max (1..=10M) out of range");
    }
    if !in_range(u64::from(g.merchants_max), 1, 1_000_000)
        || !in_range(u64::from(g.promoters_max), 1, 1_000_000)
        || !in_range(u64::from(g.channels_max), 1, u64::from(crate::MAX_CHANNELS))
        || !in_range(u64::from(g.split_profiles_max), 1, 4096)
        || !in_range(u64::from(g.risk_rules_max), 1, 1024)
        || !in_range(u64::from(g.list_entries_max), 1, 10_000_000)
        || !in_range(u64::from(g.velocity_keys_max), 8, 4_000_000)
    {
        return bad("a table limit is out of range");
    }
    if !in_range(
        u64::from(g.attempts_max),
        1,
        sluice_protocol::MAX_ATTEMPTS as u64,
    ) {
        return bad("attempts_max must be 1..=4");
    }
    if g.utc_offset_secs.abs() > 14 * 3600 {
        return bad("utc_offset_secs must be within ±14 h");
    }
    check_retention(g)?;
    if g.labels_max > 10_000_000 || g.disputes_max > 10_000_000 || g.review_queue_max > 1_000_000 {
        return bad("labels_max, disputes_max (at most 10M) or review_queue_max (1M) out of range");
    }
    let mut currencies = arrayvec::ArrayVec::new();
    for c in &g.ledger_currencies {
        if c.currency == 0 || currencies.contains(&c.currency) {
            return bad("ledger currencies must be non-zero and distinct");
        }
        currencies.push(c.currency);
    }
    if currencies.is_empty() {
        return bad("at least one ledger currency");
    }
    Ok(Limits {
        orders_max: g.orders_max,
        refunds_max: g.refunds_max,
        withdrawals_max: g.withdrawals_max,
        merchants_max: g.merchants_max,
        promoters_max: g.promoters_max,
        channels_max: u32::from(g.channels_max),
        split_profiles_max: u32::from(g.split_profiles_max),
        risk_rules_max: u32::from(g.risk_rules_max),
        list_entries_max: g.list_entries_max,
        velocity_keys_max: g.velocity_keys_max,
        attempts_max: g.attempts_max,
        utc_offset_secs: g.utc_offset_secs,
        order_retention_ns: g.order_retention_ms * 1_000_000,
        idempotency_window_ns: g.idempotency_window_ms * 1_000_000,
        receipts_max: g.receipts_max,
        labels_max: or_default(g.labels_max, DEFAULT_LABELS_MAX),
        disputes_max: or_default(g.disputes_max, DEFAULT_DISPUTES_MAX),
        review_queue_max: or_default(g.review_queue_max, DEFAULT_REVIEW_QUEUE_MAX),
        currencies,
    })
}

/// The labels table's size when Genesis leaves it 0 (schema 8; docs/DISPUTES.md).
pub const DEFAULT_LABELS_MAX: u32 = 65_536;
/// The disputes table's size when Genesis leaves it 0.
pub const DEFAULT_DISPUTES_MAX: u32 = 16_384;
/// The review queue's size when Genesis leaves it 0.
pub const DEFAULT_REVIEW_QUEUE_MAX: u32 = 4_096;

fn or_default(v: u32, default: u32) -> u32 {
    if v == 0 { default } else { v }
}

/// Genesis's retention settings (schema version 4; all 0 in an earlier Genesis: orders never
/// retire).
fn check_retention(g: &Genesis) -> Result<(), ApplyError> {
    const DAY_MS: u64 = 86_400_000;
    let bad = |why: &str| Err(ApplyError::InvalidGenesis(why.to_string()));
    if g.order_retention_ms > 3650 * DAY_MS || g.idempotency_window_ms > 3650 * DAY_MS {
        return bad("order_retention_ms and idempotency_window_ms must be at most 10 years");
    }
    if g.order_retention_ms > 0 && !(1..=50_000_000).contains(&g.receipts_max) {
        return bad("receipts_max must be 1..=50M when orders retire (order_retention_ms > 0)");
    }
    if g.receipts_max > 50_000_000 {
        return bad("receipts_max must be at most 50M");
    }
    Ok(())
}

/// The limits a Genesis input sets (checked), without building anything.
pub fn genesis_limits(genesis: &Genesis) -> Result<Limits, ApplyError> {
    check_genesis(genesis)
}

/// Checks a Genesis input's limits without building anything.
pub fn validate_genesis(genesis: &Genesis) -> Result<(), ApplyError> {
    check_genesis(genesis).map(|_| ())
}
