//! The Sluice business-logic processor: deterministic and sans-IO.
//!
//! `Engine::apply(meta, sbe, outbox)` turns one sequenced input into state changes and outputs. The
//! engine reads no clock, no socket and no random source; time comes with each input. It allocates
//! nothing on the hot path once built: every table is preallocated from the limits in `Genesis`.
//! See `docs/ENGINE.md` for the decisions behind it.

pub mod input;
pub mod ledger;
pub mod money;
pub mod outbox;
pub mod risk;
pub mod routing;
pub mod split;
pub mod state;

pub mod driver;
/// The reference world of the tests and benchmarks (feature `test-support`: never in a build that
/// serves payments).
#[cfg(feature = "test-support")]
pub mod fixture;

mod attempts;
pub mod calendar;
pub mod channel_settlement;
mod config;
mod config_query;
mod controls;
mod core;
pub mod credentials;
pub mod credit;
mod credit_money;
pub mod discrepancies;
pub mod dispute_events;
mod dispute_money;
pub mod disputes;
pub mod finance_events;
mod genesis;
mod index;
mod installment_admin;
mod installment_money;
pub mod installments;
mod invariants;
pub mod labels;
mod limits;
mod mem;
pub mod merchant_notify;
pub mod out_seq;
mod payments;
pub mod payout_events;
pub mod payout_outcomes;
mod payouts;
mod refund_queries;
mod refunds;
mod reports;
mod retention;
mod reversals;
pub mod review;
pub mod risk_observations;
mod schedules;
mod settlement;
pub mod transfers;
mod yield_ops;
pub mod yields;

pub use crate::core::{ApplyError, Engine, STATE_FORMAT, StateHash, Summary, day_of};
pub use genesis::{genesis_limits, validate_genesis};
pub use input::{ENVELOPE_LEN, Envelope, InputMeta, ROLE_SEQUENCER, read_envelope, write_envelope};
pub use outbox::{Dest, DestKind, OUT_HEADER_LEN, OutIter, OutRecord, Outbox};
pub use payments::Lookahead;

/// Most expired attempts (payments and refunds together) one pulse handles; the rest wait for the
/// next pulse. Bounds the work and the output of a single input.
pub const TIMEOUTS_PER_PULSE: u32 = 256;

/// Most questions (ChannelControl: Query, Close, Reverse, RefundQuery) one pulse sends, or
/// abandonments it decides; the rest wait for the next pulse. Bounds the work and output of a
/// pulse apart from its timeouts, so that a backlog of unknown outcomes cannot delay deadlines.
pub const CONTROLS_PER_PULSE: u32 = 256;

/// Largest output one input can produce, bytes (a pulse at its timeout and control budgets, each
/// timeout causing a question, a dispatch or a result and a health alert, each control step at
/// most two frames). The pipeline keeps this much free in the outbox.
pub const MAX_OUTPUT_BYTES_PER_INPUT: usize = TIMEOUTS_PER_PULSE as usize * 3 * 256
    + CONTROLS_PER_PULSE as usize * 2 * 256
    + payout_outcomes::PAYOUT_STEPS_PER_PULSE as usize * 256
    + 16 * 1024;

/// Most channels a Genesis may allow (a channel's slot fits a u16, its candidate record 16 bytes).
pub const MAX_CHANNELS: u32 = 256;
const _: () = assert!(MAX_CHANNELS < u16::MAX as u32);

/// The most bytes an output of type `M` takes in an outbox: routing header and whole frame.
const fn out_bytes<M: sluice_protocol::Message>() -> usize {
    OUT_HEADER_LEN
        + sluice_protocol::SOFH_LEN
        + sluice_protocol::MESSAGE_HEADER_LEN
        + M::MAX_BODY_LEN
}

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

// The bound's arithmetic. A timeout emits at most a health alert and then a dispatch (failover), a
// result (payment or refund) or a question (the attempt or refund became Unknown): within its
// 3 × 256 bytes. A control step emits a question, and after an abandonment also a dispatch or a
// result (the health alert came with the timeout): within 2 × 256 bytes. A pulse also emits at most
// one health alert per channel (a cooldown ending), within the rest. Any other input emits at most
// four frames (a channel's answer that ends a payment: its result, a PaymentReversal and a
// Reverse), each at most MAX_FRAME_BYTES.
const _: () = {
    use sluice_protocol::{
        ChannelControl, Dispatch, HealthAlert, MAX_FRAME_BYTES, PaymentResult, RefundResult,
    };
    let answer = max(
        out_bytes::<Dispatch>(),
        max(out_bytes::<PaymentResult>(), out_bytes::<ChannelControl>()),
    );
    let after_timeout = max(answer, out_bytes::<RefundResult>());
    let per_timeout = out_bytes::<HealthAlert>() + after_timeout;
    assert!(per_timeout <= 3 * 256);
    assert!(answer <= 256);
    // A payout step sends at most one PayoutDispatch or PayoutQuery.
    let payout = max(
        out_bytes::<sluice_protocol::PayoutDispatch>(),
        out_bytes::<sluice_protocol::PayoutQuery>(),
    );
    assert!(payout <= 256);
    let pulse = TIMEOUTS_PER_PULSE as usize * per_timeout
        + CONTROLS_PER_PULSE as usize * 2 * answer
        + payout_outcomes::PAYOUT_STEPS_PER_PULSE as usize * payout
        + MAX_CHANNELS as usize * out_bytes::<HealthAlert>();
    assert!(pulse <= MAX_OUTPUT_BYTES_PER_INPUT);
    assert!(4 * (OUT_HEADER_LEN + MAX_FRAME_BYTES) <= MAX_OUTPUT_BYTES_PER_INPUT);
    // The largest answer to an acquirer's input, an OrderStatus listing MAX_REFUNDS_PER_ORDER (50)
    // refunds, is one of those frames.
    assert!(out_bytes::<sluice_protocol::OrderStatus>() <= OUT_HEADER_LEN + MAX_FRAME_BYTES);
};

/// Nanoseconds per day.
pub const NS_PER_DAY: u64 = 86_400 * 1_000_000_000;
