//! Routing: which channel takes a payment, why, and what the channels' results teach us.
//!
//! Candidates are the merchant's channel list. Each is checked (active, method, currency, amount
//! limits, health, probe slots, already tried); the eligible ones are ranked by the merchant's
//! strategy and the best is chosen; the rest stay ranked as failover candidates. Every candidate and
//! its decision is kept with the order, so `QueryOrder` explains the route.
//!
//! Scores (higher is better):
//! - Priority: 100 − list position.
//! - WeightedSplit: the list weight; the pick is deterministic: `hash(order_id) mod Σweights`.
//! - Cheapest: −fee (minor units).
//! - HighestSuccessRate: recent attempt success rate in ppm, Laplace-smoothed: (s+1)/(n+2).
//! - WeightedScore: (w_s·sr_ppm − w_c·cost_ppm − w_l·latency_us) / 10⁹ with the merchant's weights
//!   in ppb; cost_ppm = fee / amount in ppm, latency_us the moving average.
//! - ExpectedValue: sr_ppm × (amount − fee), i.e. the expected net in ppm·minor units.
//!
//! Ties keep list order.

use arrayvec::ArrayVec;
use sluice_protocol::{
    AttemptStatus, CandidateDecision, HealthState, MAX_ROUTE_CHANNELS, PaymentMethod,
    RoutingStrategy, SkipReason,
};

use crate::money::channel_fee;
use crate::state::{Candidate, Channel, Merchant, MethodStats, Slot16};

/// Attempts per statistics block.
pub const BLOCK_ATTEMPTS: u32 = 32;
const PPM: i64 = 1_000_000;

/// What routing needs to know about a payment.
#[derive(Debug, Clone, Copy)]
pub struct RouteRequest {
    pub order_id: u64,
    pub amount_minor: i64,
    pub currency: u16,
    /// The currency's ledger slot (bit of `Channel::currency_mask`).
    pub currency_slot: u8,
    pub method: PaymentMethod,
}

/// The fee a channel charges for `method` and `amount`: None when it does not list the method,
/// and also when the fee would not fit an i64 (`method_fee` tells the two apart).
pub fn fee_for(ch: &Channel, method: PaymentMethod, amount_minor: i64) -> Option<i64> {
    method_fee(ch, method, amount_minor).flatten()
}

/// The fee a channel charges for `method` and `amount`: None when it does not list the method,
/// Some(None) when the fee would not fit an i64 (`money::channel_fee`: never saturated).
pub fn method_fee(ch: &Channel, method: PaymentMethod, amount_minor: i64) -> Option<Option<i64>> {
    ch.methods
        .iter()
        .find(|m| m.method == method)
        .map(|m| channel_fee(amount_minor, m.fee_bps, m.fee_fixed_minor))
}

/// Why `ch` cannot take the payment now (None = it can).
pub fn skip_reason(ch: &Channel, req: &RouteRequest, tried: &[u16]) -> SkipReason {
    if tried.contains(&ch.id) {
        return SkipReason::AlreadyTried;
    }
    if !ch.active {
        return SkipReason::Disabled;
    }
    if ch.method_mask & (1u8 << (req.method as u8 & 7)) == 0 {
        return SkipReason::MethodUnsupported;
    }
    if ch.currency_mask & (1u8 << (req.currency_slot & 7)) == 0 {
        return SkipReason::CurrencyUnsupported;
    }
    if req.amount_minor < ch.min_amount_minor || req.amount_minor > ch.max_amount_minor {
        return SkipReason::AmountOutOfRange;
    }
    match ch.health {
        HealthState::Open => SkipReason::Unhealthy,
        HealthState::Probing if ch.probes_in_flight >= ch.probe_slots => SkipReason::ProbeBusy,
        _ => SkipReason::None,
    }
}

/// The index of a method in a channel's per-method statistics.
fn method_index(method: PaymentMethod) -> usize {
    method as usize - 1
}

/// Recent attempt success rate in ppm, Laplace-smoothed.
pub fn success_rate_ppm(s: &MethodStats) -> i64 {
    let (n, k) = recent_totals(s);
    ((k + 1) * PPM as u64 / (n + 2)) as i64
}

/// (attempts, successes) over the completed blocks and the current one.
pub fn recent_totals(s: &MethodStats) -> (u64, u64) {
    let mut n = u64::from(s.current_attempts);
    let mut k = u64::from(s.current_successes);
    for (a, b) in s.blocks {
        n += u64::from(a);
        k += u64::from(b);
    }
    (n, k)
}

/// Payment-level success rate in ppm (raw; 0 with no data).
pub fn payment_success_rate_ppm(s: &MethodStats) -> u32 {
    let (mut n, mut k) = (
        u64::from(s.payment_current.0),
        u64::from(s.payment_current.1),
    );
    for (a, b) in s.payment_blocks {
        n += u64::from(a);
        k += u64::from(b);
    }
    ppm(k, n)
}

/// `part / whole` in parts per million (0 when `whole` is 0).
pub fn ppm(part: u64, whole: u64) -> u32 {
    (part * 1_000_000).checked_div(whole).unwrap_or(0) as u32
}

/// Raw recent attempt success rate of a channel over all methods, ppm.
pub fn channel_recent_rate_ppm(ch: &Channel) -> u32 {
    let (mut n, mut k) = (0, 0);
    for s in &ch.stats {
        let (a, b) = recent_totals(s);
        n += a;
        k += b;
    }
    ppm(k, n)
}

fn score(
    strategy: RoutingStrategy,
    m: &Merchant,
    ch: &Channel,
    req: &RouteRequest,
    position: usize,
    weight: u16,
) -> i64 {
    let stats = &ch.stats[method_index(req.method)];
    // An eligible channel lists the method; a fee past i64 (a payment refused BalanceOverflow
    // before routing) would rank it the most expensive.
    let fee = fee_for(ch, req.method, req.amount_minor).unwrap_or(i64::MAX);
    match strategy {
        RoutingStrategy::Priority => 100 - position as i64,
        RoutingStrategy::WeightedSplit => i64::from(weight),
        RoutingStrategy::Cheapest => -fee,
        RoutingStrategy::HighestSuccessRate => success_rate_ppm(stats),
        RoutingStrategy::WeightedScore => {
            // i64 with saturation: weights are at most 1000 (10^12 ppb), rates at most 10^6 ppm.
            let sr = success_rate_ppm(stats);
            let cost_ppm = if req.amount_minor > 0 {
                fee.saturating_mul(PPM) / req.amount_minor
            } else {
                0
            };
            let latency = i64::from(stats.latency_ewma_us);
            let term = |weight_ppb: i64, x: i64| weight_ppb.saturating_mul(x) / 1_000_000_000;
            term(m.weight_success_ppb, sr)
                - term(m.weight_cost_ppb, cost_ppm)
                - term(m.weight_latency_ppb, latency)
        }
        RoutingStrategy::ExpectedValue => {
            success_rate_ppm(stats).saturating_mul(req.amount_minor - fee)
        }
    }
}

/// The deterministic weighted pick: a hash of the order id into the total weight.
fn weighted_pick(order_id: u64, weights: &[(u16, u16)]) -> Option<u16> {
    let total: u64 = weights.iter().map(|(_, w)| u64::from(*w)).sum();
    if total == 0 {
        return None;
    }
    let mut h = order_id.wrapping_add(0x9E37_79B9_7F4A_7C15);
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^= h >> 31;
    let mut point = h % total;
    for &(id, w) in weights {
        if point < u64::from(w) {
            return Some(id);
        }
        point -= u64::from(w);
    }
    None
}

/// Ranks the merchant's channels for a payment. `lookup` maps a channel id to its slot.
/// The result lists eligible candidates best first (the first is Chosen), then skipped ones.
pub fn rank(
    m: &Merchant,
    channels: &[Channel],
    lookup: impl Fn(u16) -> Option<u32>,
    req: &RouteRequest,
    tried: &[u16],
) -> ArrayVec<Candidate, MAX_ROUTE_CHANNELS> {
    let strategy = m.strategy;
    let mut eligible: ArrayVec<Candidate, MAX_ROUTE_CHANNELS> = ArrayVec::new();
    let mut skipped: ArrayVec<Candidate, MAX_ROUTE_CHANNELS> = ArrayVec::new();
    let mut weights: ArrayVec<(u16, u16), MAX_ROUTE_CHANNELS> = ArrayVec::new();
    for (position, &(channel_id, weight)) in m.channels.iter().enumerate() {
        let Some(slot) = lookup(channel_id) else {
            skipped.push(candidate(channel_id, None, SkipReason::UnknownChannel, 0));
            continue;
        };
        let ch = &channels[slot as usize];
        let mut reason = skip_reason(ch, req, tried);
        if reason == SkipReason::None && strategy == RoutingStrategy::WeightedSplit && weight == 0 {
            reason = SkipReason::ZeroWeight;
        }
        if reason != SkipReason::None {
            skipped.push(candidate(channel_id, Some(slot), reason, 0));
            continue;
        }
        let s = score(strategy, m, ch, req, position, weight);
        weights.push((channel_id, weight));
        eligible.push(candidate(channel_id, Some(slot), SkipReason::None, s));
    }
    // Stable sort: equal scores keep list order.
    eligible.sort_by_key(|c| std::cmp::Reverse(c.score));
    if strategy == RoutingStrategy::WeightedSplit {
        // The pick goes first; the others stay ranked by weight as failover candidates.
        if let Some(id) = weighted_pick(req.order_id, &weights)
            && let Some(pos) = eligible.iter().position(|c| c.channel_id == id)
        {
            let c = eligible.remove(pos);
            eligible.insert(0, c);
        }
    }
    for (i, c) in eligible.iter_mut().enumerate() {
        c.rank = i as u8 + 1;
        c.decision = if i == 0 {
            CandidateDecision::Chosen
        } else {
            CandidateDecision::Ranked
        };
    }
    let mut out = eligible;
    for c in skipped {
        if out.try_push(c).is_err() {
            break;
        }
    }
    out
}

fn candidate(channel_id: u16, slot: Option<u32>, reason: SkipReason, score: i64) -> Candidate {
    Candidate {
        channel_id,
        channel_slot: slot.map(|s| {
            Slot16::new(u16::try_from(s).expect("channel slots are below channels_max (256)"))
        }),
        decision: CandidateDecision::Skipped,
        skip_reason: reason,
        rank: 0,
        score,
    }
}

/// How an attempt ended, as far as statistics and health care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Succeeded,
    Declined,
    RetryableError,
    TimedOut,
}

impl AttemptOutcome {
    /// The attempt's status after this outcome.
    pub fn status(self) -> AttemptStatus {
        match self {
            AttemptOutcome::Succeeded => AttemptStatus::Succeeded,
            AttemptOutcome::Declined => AttemptStatus::Declined,
            AttemptOutcome::RetryableError => AttemptStatus::RetryableError,
            AttemptOutcome::TimedOut => AttemptStatus::TimedOut,
        }
    }
}

/// A health change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthChange {
    pub from: HealthState,
    pub to: HealthState,
}

fn set_health(ch: &mut Channel, to: HealthState) -> Option<HealthChange> {
    let from = ch.health;
    if from == to {
        return None;
    }
    ch.health = to;
    ch.health_changes += 1;
    Some(HealthChange { from, to })
}

fn push_block(blocks: &mut [(u32, u32); 4], cursor: &mut u8, current: (u32, u32)) {
    blocks[*cursor as usize % 4] = current;
    *cursor = (*cursor + 1) % 4;
}

fn record_stats(s: &mut MethodStats, success: bool, latency_us: Option<u32>) {
    s.current_attempts += 1;
    s.current_successes += u32::from(success);
    if s.current_attempts >= BLOCK_ATTEMPTS {
        let current = (s.current_attempts, s.current_successes);
        push_block(&mut s.blocks, &mut s.block_cursor, current);
        s.current_attempts = 0;
        s.current_successes = 0;
    }
    if let Some(lat) = latency_us {
        s.latency_ewma_us = if s.latency_count == 0 {
            lat
        } else {
            let e = i64::from(s.latency_ewma_us);
            (e + (i64::from(lat) - e) / 8).max(0) as u32
        };
        s.latencies_us[s.latency_cursor as usize] = lat;
        s.latency_cursor = (s.latency_cursor + 1) % 64;
        s.latency_count = s.latency_count.saturating_add(1).min(64);
    }
}

/// The recent high percentile (p99) of latency, microseconds.
pub fn latency_p99_us(s: &MethodStats) -> u32 {
    let n = s.latency_count as usize;
    if n == 0 {
        return 0;
    }
    let mut copy = [0u32; 64];
    copy[..n].copy_from_slice(&s.latencies_us[..n]);
    copy[..n].sort_unstable();
    copy[(n * 99).div_ceil(100) - 1]
}

/// Records an attempt's outcome: statistics, the failure bucket and health. Returns a health change.
pub fn record_attempt(
    ch: &mut Channel,
    method: PaymentMethod,
    outcome: AttemptOutcome,
    latency_us: Option<u32>,
    probe: bool,
    now_ns: u64,
) -> Option<HealthChange> {
    let success = outcome == AttemptOutcome::Succeeded;
    record_stats(&mut ch.stats[method_index(method)], success, latency_us);
    ch.attempts += 1;
    match outcome {
        AttemptOutcome::Succeeded => ch.successes += 1,
        AttemptOutcome::Declined => ch.declines += 1,
        AttemptOutcome::RetryableError => ch.retryable_errors += 1,
        AttemptOutcome::TimedOut => ch.timeouts += 1,
    }
    if probe {
        ch.probes_in_flight = ch.probes_in_flight.saturating_sub(1);
    }
    let failure = matches!(
        outcome,
        AttemptOutcome::RetryableError | AttemptOutcome::TimedOut
    );
    if failure {
        on_failure(ch, method, probe, now_ns)
    } else {
        on_working(ch, success, probe)
    }
}

fn leak(ch: &mut Channel, now_ns: u64) {
    let elapsed_ms = now_ns.saturating_sub(ch.level_updated_ns) / 1_000_000;
    let leaked = elapsed_ms.saturating_mul(u64::from(ch.failure_leak_per_sec));
    ch.failure_level_milli = ch.failure_level_milli.saturating_sub(leaked);
    // Advance by the whole milliseconds leaked only: failures less than a millisecond apart must
    // not lose the time between them (the remainder leaks with the next one).
    ch.level_updated_ns = ch
        .level_updated_ns
        .saturating_add(elapsed_ms.saturating_mul(1_000_000))
        .min(now_ns);
}

fn on_failure(
    ch: &mut Channel,
    method: PaymentMethod,
    probe: bool,
    now_ns: u64,
) -> Option<HealthChange> {
    ch.consecutive_failures += 1;
    leak(ch, now_ns);
    ch.failure_level_milli += 1_000;
    let open = match ch.health {
        // Only a probe's failure reopens a probing channel: an attempt dispatched before the
        // channel was opened (timing out on the pulse that ends the cooldown, or answering late)
        // says nothing about the channel since the cooldown.
        HealthState::Probing => probe,
        HealthState::Healthy => {
            let bucket_full = ch.failure_threshold > 0
                && ch.failure_level_milli >= u64::from(ch.failure_threshold) * 1_000;
            let (n, k) = recent_totals(&ch.stats[method_index(method)]);
            let under_floor = ch.min_success_ppb > 0
                && n >= u64::from(ch.min_attempts_for_rate.max(1))
                && (k as i128) * 1_000_000_000 < i128::from(ch.min_success_ppb) * n as i128;
            bucket_full || under_floor
        }
        HealthState::Open => false,
    };
    if !open {
        return None;
    }
    ch.cooldown_until_ns = now_ns.saturating_add(u64::from(ch.cooldown_ms) * 1_000_000);
    ch.probe_successes_seen = 0;
    set_health(ch, HealthState::Open)
}

fn on_working(ch: &mut Channel, success: bool, probe: bool) -> Option<HealthChange> {
    ch.consecutive_failures = 0;
    // Only probes count towards coming back: an attempt dispatched before the channel was opened
    // that succeeds late says nothing about the channel since its cooldown.
    if !success || !probe || ch.health != HealthState::Probing {
        return None;
    }
    ch.probe_successes_seen += 1;
    if ch.probe_successes_seen < ch.probe_successes.max(1) {
        return None;
    }
    // Back in rotation with a clean slate: the failures that opened it are history.
    ch.failure_level_milli = 0;
    for s in ch.stats.iter_mut() {
        s.blocks = [(0, 0); 4];
        s.current_attempts = 0;
        s.current_successes = 0;
    }
    set_health(ch, HealthState::Healthy)
}

/// Records whether a payment whose first attempt went to `ch` finally succeeded.
pub fn record_payment(ch: &mut Channel, method: PaymentMethod, succeeded: bool) {
    let s = &mut ch.stats[method_index(method)];
    s.payment_current.0 += 1;
    s.payment_current.1 += u32::from(succeeded);
    if s.payment_current.0 >= BLOCK_ATTEMPTS {
        let current = s.payment_current;
        push_block(&mut s.payment_blocks, &mut s.payment_cursor, current);
        s.payment_current = (0, 0);
    }
}

/// A pulse: an open channel whose cooldown is over starts probing.
pub fn on_pulse(ch: &mut Channel, now_ns: u64) -> Option<HealthChange> {
    if ch.health == HealthState::Open && now_ns >= ch.cooldown_until_ns {
        ch.probe_successes_seen = 0;
        return set_health(ch, HealthState::Probing);
    }
    None
}

/// Marks a dispatch to `ch`; returns whether it is a probe.
pub fn on_dispatch(ch: &mut Channel) -> bool {
    if ch.health == HealthState::Probing {
        ch.probes_in_flight += 1;
        return true;
    }
    false
}

/// The method index of a wire method (for statistics arrays).
pub fn method_slot(method: PaymentMethod) -> usize {
    method_index(method)
}
