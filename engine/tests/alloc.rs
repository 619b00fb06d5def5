//! The engine allocates nothing on the hot path once built: a counting global allocator watches
//! `Engine::apply` over a few thousand mixed inputs (payments, channel results of every kind,
//! refunds and their results, withdrawals, resends, stale answers, pulses across several days,
//! queries and reports).
//!
//! Channel results need the order ids and attempts the engine hands out, so the inputs are found
//! in a rehearsal: a first engine is driven adaptively (decoding its outputs, which allocates) and
//! every input is recorded as encoded SBE bytes. A second engine then replays the same inputs —
//! configuration and warm-up unarmed, the rest armed — with a preallocated outbox. Determinism
//! makes the second engine's outputs those of the first, which the test checks by checksum.

// A global allocator is unsafe to implement; this one only counts and forwards to the system's.
#![allow(unsafe_code)]

use sluice_engine::fixture::{self, *};
use sluice_engine::{
    ENVELOPE_LEN, Engine, MAX_OUTPUT_BYTES_PER_INPUT, Outbox, ROLE_SEQUENCER, write_envelope,
};
use sluice_protocol::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

// ---------------------------------------------------------------------------------------------
// The counting allocator
// ---------------------------------------------------------------------------------------------

struct Counting;

/// Allocations (alloc, alloc_zeroed, realloc) made by an armed thread.
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// The size of the first of them, and the index of the input that made it.
static FIRST_SIZE: AtomicU64 = AtomicU64::new(0);
static FIRST_INPUT: AtomicU64 = AtomicU64::new(u64::MAX);
static CURRENT_INPUT: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // Const-initialised and without a destructor: reading it never allocates.
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

fn note(size: usize) {
    if ARMED.try_with(Cell::get).unwrap_or(false)
        && ALLOCATIONS.fetch_add(1, Ordering::Relaxed) == 0
    {
        FIRST_SIZE.store(size as u64, Ordering::Relaxed);
        FIRST_INPUT.store(CURRENT_INPUT.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only atomics
// and a const thread-local, neither of which allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn arm(on: bool) {
    ARMED.with(|a| a.set(on));
}

// ---------------------------------------------------------------------------------------------
// Recording inputs
// ---------------------------------------------------------------------------------------------

const ORDERS_MAX: u32 = 50_000;
const WARM_UP_INPUTS: usize = 400;
const HOT_INPUTS: usize = 4_000;

use sluice_protocol::rng::Rng;

fn fnv(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The rehearsal: an engine driven adaptively, recording every input it is given.
struct Rehearsal {
    engine: Engine,
    out: Outbox,
    /// Every input as the journal holds it: (sequence, event time, envelope + SBE).
    inputs: Vec<(u64, u64, Vec<u8>)>,
    checksums: Vec<u64>,
    now_ns: u64,
    rng: Rng,
    next_id: u64,
    pending: BTreeMap<u64, Dispatch>,
    pending_refunds: BTreeMap<u64, RefundDispatch>,
    /// (acquirer, payment request) of the payments sent.
    payments: Vec<(u32, PaymentRequest)>,
    /// (acquirer, request id) of succeeded payments.
    paid: Vec<(u32, u64)>,
    refunds: Vec<(u32, RefundRequest)>,
    answered: Vec<Dispatch>,
}

impl Rehearsal {
    fn new() -> Rehearsal {
        let engine = Engine::new(&fixture::genesis(ORDERS_MAX), START_NS).unwrap();
        Rehearsal {
            engine,
            out: Outbox::with_capacity(MAX_OUTPUT_BYTES_PER_INPUT),
            inputs: Vec::new(),
            checksums: Vec::new(),
            now_ns: START_NS,
            rng: Rng::new(0x9E37_79B9_7F4A_7C15),
            next_id: 1,
            pending: BTreeMap::new(),
            pending_refunds: BTreeMap::new(),
            payments: Vec::new(),
            paid: Vec::new(),
            refunds: Vec::new(),
            answered: Vec::new(),
        }
    }

    /// Encodes, records and applies one input; returns its decoded outputs.
    fn input(
        &mut self,
        session_id: u64,
        principal_id: u32,
        role: u8,
        msg: &AnyMessage,
    ) -> Vec<AnyMessage> {
        let mut payload = vec![0u8; ENVELOPE_LEN + MAX_FRAME_BYTES];
        write_envelope(&mut payload, session_id, principal_id, role);
        let n = msg.encode_sbe(&mut payload[ENVELOPE_LEN..]).unwrap();
        payload.truncate(ENVELOPE_LEN + n);
        let seq = self.inputs.len() as u64 + 2;
        self.out.clear();
        self.engine
            .apply_record(seq, self.now_ns, &payload, &mut self.out)
            .unwrap();
        self.checksums.push(fnv(self.out.bytes()));
        self.inputs.push((seq, self.now_ns, payload));
        let decoded: Vec<AnyMessage> = self
            .out
            .iter()
            .map(|r| decode_any_frame(r.frame).unwrap())
            .collect();
        self.track(&decoded);
        decoded
    }

    fn track(&mut self, outputs: &[AnyMessage]) {
        for m in outputs {
            match m {
                AnyMessage::Dispatch(d) => {
                    self.pending.insert(d.order_id, d.clone());
                }
                AnyMessage::PaymentResult(r) if !r.duplicate => {
                    self.pending.remove(&r.order_id);
                    if r.status == FinalStatus::Succeeded {
                        let o = self.engine.order_status((r.order_id - 1) as u32, 0);
                        self.paid.push((o.acquirer_id, o.request_id));
                    }
                }
                AnyMessage::RefundDispatch(d) => {
                    self.pending_refunds.insert(d.refund_id, d.clone());
                }
                AnyMessage::RefundResult(r) if !r.duplicate => {
                    self.pending_refunds.remove(&r.refund_id);
                }
                _ => {}
            }
        }
    }

    fn acquirer(&mut self, acquirer: u32, msg: AnyMessage) -> Vec<AnyMessage> {
        self.input(
            u64::from(acquirer) * 1000,
            acquirer,
            Role::Acquirer as u8,
            &msg,
        )
    }

    fn channel(&mut self, channel: u16, msg: AnyMessage) -> Vec<AnyMessage> {
        self.input(
            900_000 + u64::from(channel),
            u32::from(channel),
            Role::Channel as u8,
            &msg,
        )
    }

    fn admin(&mut self, msg: AnyMessage) -> Vec<AnyMessage> {
        self.input(1, 1, Role::Admin as u8, &msg)
    }

    fn configure(&mut self) {
        for m in fixture::config_messages() {
            let out = self.admin(m);
            assert!(
                matches!(&out[..], [AnyMessage::ConfigAck(a)] if a.status == AckStatus::Accepted),
                "{out:?}"
            );
        }
    }

    /// One input of the mix.
    fn random_input(&mut self) {
        match self.rng.below(100) {
            0..=27 => self.pay(),
            28..=29 => self.resend_payment(),
            30..=57 => self.answer(),
            58..=59 => self.late_answer(),
            60..=67 => self.refund(),
            68..=69 => self.resend_refund(),
            70..=77 => self.answer_refund(),
            78..=87 => self.pulse(),
            88..=89 => self.withdraw(),
            _ => self.query(),
        }
    }

    fn pay(&mut self) {
        let merchants = [
            (SHOP, ACQUIRER_A),
            (HQ, ACQUIRER_A),
            (BRANCH, ACQUIRER_A),
            (DISTRIBUTOR, ACQUIRER_A),
            (OTHER_SHOP, ACQUIRER_B),
        ];
        let (merchant, acquirer) = merchants[self.rng.below(5) as usize];
        let id = self.next_id;
        self.next_id += 1;
        let mut req = payment(id, merchant, 100 + self.rng.below(200_000) as i64);
        req.user_id = 10_000 + self.rng.below(500);
        req.promoter_id = [0, PROMOTER, PROMOTER_PARENT][self.rng.below(3) as usize];
        req.currency = [CNY, CNY, CNY, HKD, USD][self.rng.below(5) as usize];
        if self.rng.chance(25) {
            req.method = PaymentMethod::Card;
            req.card_fingerprint = Chars::new(["fp-1", "fp-2", "fp-3"][self.rng.below(3) as usize]);
            req.card_bin = 622_202;
        }
        match self.rng.below(100) {
            0..=2 => req.amount_minor = 0,         // refused by validation
            3..=4 => req.user_id = 666,            // block list
            5..=6 => req.amount_minor = 6_000_000, // block rule
            7..=8 => {
                req.goods_category = 7995; // review rule
                req.amount_minor = 600_000;
            }
            9..=10 => {
                req.method = PaymentMethod::BankTransfer; // no channel takes it in USD
                req.currency = USD;
            }
            _ => {}
        }
        self.payments.push((acquirer, req.clone()));
        self.acquirer(acquirer, req.into());
    }

    fn resend_payment(&mut self) {
        if self.payments.is_empty() {
            return self.pay();
        }
        let i = self.rng.below(self.payments.len() as u64) as usize;
        let (acquirer, mut req) = self.payments[i].clone();
        if self.rng.chance(30) {
            req.amount_minor += 1; // DuplicateRequestMismatch
        }
        self.acquirer(acquirer, req.into());
    }

    fn answer(&mut self) {
        if self.pending.is_empty() {
            return self.pay();
        }
        let i = self.rng.below(self.pending.len() as u64) as usize;
        let d = self.pending.values().nth(i).unwrap().clone();
        let outcome = match self.rng.below(100) {
            0..=69 => ChannelOutcome::Succeeded,
            70..=84 => ChannelOutcome::Declined,
            _ => ChannelOutcome::RetryableError,
        };
        let result = ChannelResult {
            order_id: d.order_id,
            attempt: d.attempt,
            outcome,
            channel_code: 0,
            latency_us: 500 + self.rng.below(50_000) as u32,
            channel_ref: Chars::new("ref"),
        };
        self.answered.push(d.clone());
        self.channel(d.channel_id, result.into());
    }

    fn late_answer(&mut self) {
        if self.answered.is_empty() {
            return self.answer();
        }
        let i = self.rng.below(self.answered.len() as u64) as usize;
        let d = self.answered[i].clone();
        let result = ChannelResult {
            order_id: d.order_id,
            attempt: d.attempt,
            outcome: ChannelOutcome::Succeeded,
            channel_code: 0,
            latency_us: 1,
            channel_ref: Chars::new("late"),
        };
        self.channel(d.channel_id, result.into());
    }

    fn refund(&mut self) {
        if self.paid.is_empty() {
            return self.pay();
        }
        let i = self.rng.below(self.paid.len() as u64) as usize;
        let (acquirer, request_id) = self.paid[i];
        let id = self.next_id;
        self.next_id += 1;
        let amount = 1 + self.rng.below(5_000) as i64;
        let req = RefundRequest {
            refund_request_id: id,
            payment_request_id: request_id,
            amount_minor: amount,
        };
        self.refunds.push((acquirer, req.clone()));
        self.acquirer(acquirer, req.into());
    }

    fn resend_refund(&mut self) {
        if self.refunds.is_empty() {
            return self.refund();
        }
        let i = self.rng.below(self.refunds.len() as u64) as usize;
        let (acquirer, mut req) = self.refunds[i].clone();
        if self.rng.chance(30) {
            req.amount_minor += 1; // DuplicateRequestMismatch
        }
        self.acquirer(acquirer, req.into());
    }

    fn answer_refund(&mut self) {
        if self.pending_refunds.is_empty() {
            return self.refund();
        }
        let i = self.rng.below(self.pending_refunds.len() as u64) as usize;
        let d = self.pending_refunds.values().nth(i).unwrap().clone();
        let outcome = if self.rng.chance(85) {
            ChannelOutcome::Succeeded
        } else {
            ChannelOutcome::Declined
        };
        let result = RefundChannelResult {
            refund_id: d.refund_id,
            outcome,
            channel_code: 0,
            latency_us: 700,
            channel_ref: Chars::new("rf"),
        };
        self.channel(d.channel_id, result.into());
    }

    fn pulse(&mut self) {
        // 200 ms to 30 min: timeouts, cooldowns and, over the run, several settlement days.
        self.now_ns += 200_000_000 + self.rng.below(1_800_000_000_000);
        self.input(0, 0, ROLE_SEQUENCER, &Pulse { flags: 0 }.into());
    }

    fn withdraw(&mut self) {
        let (merchant, acquirer) = [
            (SHOP, ACQUIRER_A),
            (HQ, ACQUIRER_A),
            (OTHER_SHOP, ACQUIRER_B),
        ][self.rng.below(3) as usize];
        let id = self.next_id;
        self.next_id += 1;
        let amount = 1 + self.rng.below(20_000) as i64;
        let out = self.acquirer(
            acquirer,
            WithdrawRequest {
                withdraw_request_id: id,
                merchant_id: merchant,
                currency: CNY,
                amount_minor: amount,
            }
            .into(),
        );
        // The payout channel pays (or, one time in four, fails) at once.
        let dispatched = out.iter().find_map(|m| match m {
            AnyMessage::PayoutDispatch(p) => Some(p.payout_id),
            _ => None,
        });
        if let Some(payout_id) = dispatched {
            let status = match self.rng.below(4) {
                0 => PayoutChannelStatus::Failed,
                _ => PayoutChannelStatus::Paid,
            };
            let answer = PayoutChannelResult {
                payout_id,
                status,
                channel_code: 0,
                channel_ref: Chars::new("bank"),
            };
            self.channel(BANK_TRANSFER, answer.into());
        }
    }

    fn query(&mut self) {
        match self.rng.below(3) {
            0 => {
                let request_id = 1 + self.rng.below(self.next_id);
                self.acquirer(
                    ACQUIRER_A,
                    QueryOrder {
                        order_id: 0,
                        request_id,
                    }
                    .into(),
                );
            }
            1 => {
                let q = BalanceQuery {
                    party_kind: PartyKind::Merchant,
                    party_id: SHOP,
                };
                self.admin(q.into());
            }
            _ => {
                self.admin(StatsQuery { flags: 0 }.into());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------------

#[test]
fn the_hot_path_allocates_nothing() {
    // Rehearse: configuration, warm-up and the hot inputs, all recorded.
    let mut r = Rehearsal::new();
    r.configure();
    for _ in 0..WARM_UP_INPUTS {
        r.random_input();
    }
    let hot_start = r.inputs.len();
    while r.inputs.len() < hot_start + HOT_INPUTS {
        r.random_input();
    }
    let stats = r.engine.stats_report(0);
    // The mix really exercised the paths it claims to.
    assert!(stats.succeeded > 500 && stats.failed > 100, "{stats:?}");
    assert!(
        stats.refunds_succeeded > 100 && stats.timeouts > 10,
        "{stats:?}"
    );
    assert!(stats.withdrawals > 5 && stats.failed_over > 10, "{stats:?}");
    assert!(
        stats.rejected_risk > 10 && stats.rejected_invalid > 10,
        "{stats:?}"
    );
    assert!(stats.reviews > 10, "{stats:?}");
    let health_changes: u32 = stats.channels.iter().map(|c| c.health_changes).sum();
    assert!(health_changes > 0, "{stats:?}");
    assert!(r.engine.state().settled_through_day > 0);
    let counters = r.engine.counters();
    assert!(counters.duplicates > 10 && counters.stale_results > 10);

    // Replay on a fresh engine: unarmed up to the hot inputs, armed for them.
    let mut engine = Engine::new(&fixture::genesis(ORDERS_MAX), START_NS).unwrap();
    let mut out = Outbox::with_capacity(MAX_OUTPUT_BYTES_PER_INPUT);
    for (seq, timestamp_ns, payload) in &r.inputs[..hot_start] {
        out.clear();
        engine
            .apply_record(*seq, *timestamp_ns, payload, &mut out)
            .unwrap();
    }
    // A copy restored from a snapshot must keep the property too (its capacities are rebuilt).
    let (hash, snapshot) = engine.snapshot();
    let mut restored = Engine::from_snapshot(&snapshot, hash).unwrap();
    drop(snapshot);
    // Prefaulting (as the server does before it listens) touches only spare capacity: the state
    // hash is unchanged, nothing is reallocated, and the replay below still matches the rehearsal.
    let touched = restored.prefault();
    assert!(touched > 0);
    assert_eq!(restored.state_hash(), hash);
    let mut checksums: Vec<u64> = Vec::with_capacity(HOT_INPUTS);
    let mut errors = 0u32;
    // The counter sees an allocation made while armed (and none while not).
    ALLOCATIONS.store(0, Ordering::Relaxed);
    drop(std::hint::black_box(Box::new(1u64)));
    arm(true);
    drop(std::hint::black_box(Box::new(2u64)));
    arm(false);
    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        1,
        "the counting allocator counts"
    );
    ALLOCATIONS.store(0, Ordering::Relaxed);
    FIRST_INPUT.store(u64::MAX, Ordering::Relaxed);
    arm(true);
    for (i, (seq, timestamp_ns, payload)) in r.inputs[hot_start..].iter().enumerate() {
        CURRENT_INPUT.store(i as u64, Ordering::Relaxed);
        out.clear();
        let applied = engine.apply_record(*seq, *timestamp_ns, payload, &mut out);
        errors += u32::from(applied.is_err());
        checksums.push(fnv(out.bytes()));
    }
    arm(false);
    check_armed_run(&r, hot_start, "the engine built from genesis");
    assert_eq!(errors, 0);
    assert_eq!(
        checksums,
        r.checksums[hot_start..],
        "the replay produced the rehearsal's outputs"
    );
    assert_eq!(engine.state_hash(), r.engine.state_hash());

    // The same inputs through the restored copy.
    let mut engine = restored;
    let mut out = Outbox::with_capacity(MAX_OUTPUT_BYTES_PER_INPUT);
    checksums.clear();
    ALLOCATIONS.store(0, Ordering::Relaxed);
    FIRST_INPUT.store(u64::MAX, Ordering::Relaxed);
    arm(true);
    for (i, (seq, timestamp_ns, payload)) in r.inputs[hot_start..].iter().enumerate() {
        CURRENT_INPUT.store(i as u64, Ordering::Relaxed);
        out.clear();
        let applied = engine.apply_record(*seq, *timestamp_ns, payload, &mut out);
        errors += u32::from(applied.is_err());
        checksums.push(fnv(out.bytes()));
    }
    arm(false);
    check_armed_run(&r, hot_start, "the engine restored from a snapshot");
    assert_eq!(errors, 0);
    assert_eq!(checksums, r.checksums[hot_start..]);
    assert_eq!(engine.state_hash(), r.engine.state_hash());
}

/// Fails with the first allocation's size and input when the armed run allocated.
fn check_armed_run(r: &Rehearsal, hot_start: usize, which: &str) {
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    let first_input = FIRST_INPUT.load(Ordering::Relaxed);
    assert_eq!(
        allocations,
        0,
        "{which}: {allocations} allocations on the hot path; the first ({} bytes) in hot input {first_input}: {:?}",
        FIRST_SIZE.load(Ordering::Relaxed),
        r.inputs
            .get(hot_start + first_input as usize)
            .map(|(seq, _, payload)| (seq, decode_any_sbe(&payload[ENVELOPE_LEN..])))
    );
}
