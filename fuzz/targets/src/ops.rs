//! The structure-aware decoder: a fuzzer's bytes become a sequence of valid messages from every
//! role. Each operation starts with one byte that picks it (the table `OPS` sets the mix); the bytes
//! after it pick its fields from small tables of interesting values, so that most mutations change
//! one choice and keep the message valid. Answers (channel results, refunds, refund results) pick
//! among what the engine's outputs actually asked for (see `Track`).

use sluice_protocol::*;

use crate::admin::Edits;
use crate::bytes::Bytes;
use crate::harness::{Harness, Sender};
use crate::track::Recent;
use crate::world::{self, *};

/// Most inputs one fuzz input turns into (bounds a run's time whatever its length).
pub const INPUTS_MAX: u32 = 4_096;

/// Picks a variant of a wire enum.
macro_rules! pick_enum {
    ($b:expr, $e:ty) => {{
        let variants = <$e>::VARIANTS;
        <$e>::from_wire(variants[$b.below(variants.len())].0 as _).expect("a listed variant")
    }};
}
pub(crate) use pick_enum;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Pay,
    Burst,
    ResendPay,
    AlterPay,
    Answer,
    LateAnswer,
    WrongAnswer,
    Refund,
    ResendRefund,
    AnswerRefund,
    WrongRefundAnswer,
    Withdraw,
    ResendWithdraw,
    Query,
    Admin,
    Pulse,
    Raw,
}

/// The mix: how many of the 32 values of the op byte's low five bits pick each operation.
const MIX: [(Op, usize); 17] = [
    (Op::Pay, 6),
    (Op::Burst, 1),
    (Op::ResendPay, 1),
    (Op::AlterPay, 1),
    (Op::Answer, 5),
    (Op::LateAnswer, 1),
    (Op::WrongAnswer, 1),
    (Op::Refund, 2),
    (Op::ResendRefund, 1),
    (Op::AnswerRefund, 2),
    (Op::WrongRefundAnswer, 1),
    (Op::Withdraw, 1),
    (Op::ResendWithdraw, 1),
    (Op::Query, 1),
    (Op::Admin, 3),
    (Op::Pulse, 3),
    (Op::Raw, 1),
];

/// `MIX` spread over the 32 values.
const OPS: [Op; 32] = {
    let mut table = [Op::Pay; 32];
    let (mut at, mut i) = (0, 0);
    while i < MIX.len() {
        let (op, n) = MIX[i];
        let mut k = 0;
        while k < n {
            table[at] = op;
            at += 1;
            k += 1;
        }
        i += 1;
    }
    assert!(at == 32, "the mix must cover the 32 values");
    table
};

/// What this run has sent, for resends, and the configuration as the admin edited it.
#[derive(Default)]
pub struct Run {
    next_id: u64,
    pub sent: Recent<(Sender, PaymentRequest), 16>,
    refunds: Recent<(Sender, RefundRequest), 8>,
    withdrawals: Recent<(Sender, WithdrawRequest), 8>,
    pub edits: Option<Box<Edits>>,
}

impl Run {
    pub fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// Runs every operation `data` holds against `h`.
pub fn run(h: &mut Harness, data: &[u8]) {
    let mut b = Bytes::new(data);
    let mut run = Run::default();
    let start_seq = h.engine.last_seq();
    while !b.is_done() && h.engine.last_seq() - start_seq < u64::from(INPUTS_MAX) {
        step(h, &mut run, &mut b);
    }
}

fn step(h: &mut Harness, run: &mut Run, b: &mut Bytes<'_>) {
    match OPS[usize::from(b.u8() & 31)] {
        Op::Pay => {
            let (who, req) = payment(run, b);
            pay(h, run, who, req);
        }
        Op::Burst => {
            let n = 1 + b.below(64);
            let (who, req) = payment(run, b);
            for _ in 0..n {
                let mut r = req.clone();
                r.request_id = run.fresh_id();
                pay(h, run, who, r);
            }
        }
        Op::ResendPay => resend_payment(h, run, b),
        Op::AlterPay => alter_payment(h, run, b),
        Op::Answer => answer(h, b),
        Op::LateAnswer => late_answer(h, b),
        Op::WrongAnswer => wrong_answer(h, b),
        Op::Refund => refund(h, run, b),
        Op::ResendRefund => resend_refund(h, run, b),
        Op::AnswerRefund => answer_refund(h, b),
        Op::WrongRefundAnswer => wrong_refund_answer(h, b),
        Op::Withdraw => withdraw(h, run, b),
        Op::ResendWithdraw => resend_withdraw(h, run, b),
        Op::Query => query(h, run, b),
        Op::Admin => crate::admin::admin(h, run, b),
        Op::Pulse => pulse(h, b),
        Op::Raw => crate::raw::raw(h, run, b),
    }
}

fn pay(h: &mut Harness, run: &mut Run, who: Sender, req: PaymentRequest) {
    h.send(who, &req);
    run.sent.push((who, req));
}

/// Amounts: mostly ordinary, sometimes a limit's edge, zero, negative or extreme.
pub fn amount(b: &mut Bytes<'_>) -> i64 {
    const EDGES: [i64; 16] = [
        99,
        100,
        500_000,
        500_001,
        1_000_000,
        1_000_001,
        2_000_000,
        2_000_001,
        5_000_000,
        5_000_001,
        10_000_000,
        10_000_001,
        i64::MAX,
        i64::MIN,
        -1,
        1,
    ];
    let class = b.u8() % 16;
    let v = i64::from(b.u16());
    match class {
        0 => -v,
        1..=6 => 1 + v,
        7..=10 => (1 + v) * 10,
        11..=12 => (1 + v) * 100,
        13 => EDGES[(v % 16) as usize],
        _ => 1 + v % 1_000,
    }
}

const USERS: [u64; 8] = [
    0,
    1_001,
    1_002,
    1_003,
    1_004,
    BLOCKED_USER,
    ALLOWED_USER,
    1_005,
];
const DEVICES: [u64; 4] = [0, 1, 2, 3];
const PROMOTERS: [u32; 6] = [0, 0, 0, PROMOTER, PROMOTER_PARENT, 9];
const CATEGORIES: [u16; 4] = [0, 0, 5411, 7995];
const CURRENCIES: [u16; 6] = [CNY, CNY, CNY, USD, EUR, JPY];
pub const CARDS: [(&str, u32); 4] = [
    ("", 0),
    ("fp-a", 622_202),
    ("fp-b", 622_202),
    ("fp-c", 411_111),
];
/// A merchant id no one configured.
pub const UNKNOWN_MERCHANT: u32 = 99;

pub fn ip(b: &mut Bytes<'_>) -> Ip {
    match b.u8() % 6 {
        0 => Ip::default(),
        1 => Ip::v4([10, 0, 0, 1]),
        2 => Ip::v4([10, 0, 0, 2]),
        3 => Ip::v4([192, 168, 1, 1]),
        4 => Ip::v6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
        _ => Ip {
            version: 4,
            octets: [b.u8(); 16],
        },
    }
}

/// A merchant and the acquirer that sends for it (now and then the wrong one, or a merchant no
/// one configured).
pub fn merchant_and_acquirer(b: &mut Bytes<'_>) -> (u32, u32) {
    let i = b.below(MERCHANTS.len() + 1);
    let (merchant, owner) = MERCHANTS
        .get(i)
        .copied()
        .unwrap_or((UNKNOWN_MERCHANT, ACQUIRER_A));
    let flags = b.u8();
    let acquirer = if flags.is_multiple_of(16) {
        if owner == ACQUIRER_A {
            ACQUIRER_B
        } else {
            ACQUIRER_A
        }
    } else {
        owner
    };
    (merchant, acquirer)
}

/// A payment with a fresh request id, from the acquirer that (mostly) owns its merchant.
pub fn payment(run: &mut Run, b: &mut Bytes<'_>) -> (Sender, PaymentRequest) {
    let (merchant_id, acquirer) = merchant_and_acquirer(b);
    let who = Sender::acquirer(acquirer, b.u8().is_multiple_of(8));
    let amount_minor = amount(b);
    let (fingerprint, card_bin) = b.pick(&CARDS);
    let req = PaymentRequest {
        request_id: run.fresh_id(),
        merchant_id,
        promoter_id: b.pick(&PROMOTERS),
        amount_minor,
        currency: b.pick(&CURRENCIES),
        method: pick_enum!(b, PaymentMethod),
        scene: pick_enum!(b, Scene),
        goods_category: b.pick(&CATEGORIES),
        user_id: b.pick(&USERS),
        device_id: b.pick(&DEVICES),
        ip: ip(b),
        card_fingerprint: Chars::new(fingerprint),
        card_bin,
        country: Chars::new(if b.bool() { "CN" } else { "" }),
        installment_count: 0,
        installment_payer_interest: false,
    };
    (who, req)
}

/// The same request again, byte for byte, from its session or the acquirer's other one.
fn resend_payment(h: &mut Harness, run: &mut Run, b: &mut Bytes<'_>) {
    let Some((who, req)) = run.sent.pick(b.u8()) else {
        return;
    };
    let alt = b.u8().is_multiple_of(4);
    let who = if alt {
        Sender::acquirer(who.principal_id, who.session_id.is_multiple_of(2))
    } else {
        who
    };
    h.send(who, &req);
}

/// The same request id with one field changed (DuplicateRequestMismatch).
fn alter_payment(h: &mut Harness, run: &mut Run, b: &mut Bytes<'_>) {
    let Some((who, mut req)) = run.sent.pick(b.u8()) else {
        return;
    };
    match b.u8() % 4 {
        0 => req.amount_minor = req.amount_minor.wrapping_add(1),
        1 => req.user_id ^= 1,
        2 => req.country = Chars::new("US"),
        _ => req.ip = ip(b),
    }
    h.send(who, &req);
}

/// What a channel answers: mostly success, some declines and retryable errors.
fn outcome(b: &mut Bytes<'_>) -> ChannelOutcome {
    match b.u8() % 8 {
        0..=4 => ChannelOutcome::Succeeded,
        5 => ChannelOutcome::Declined,
        _ => ChannelOutcome::RetryableError,
    }
}

fn channel_result(b: &mut Bytes<'_>, order_id: u64, attempt: u8) -> ChannelResult {
    ChannelResult {
        order_id,
        attempt,
        outcome: outcome(b),
        channel_code: u16::from(b.u8()),
        latency_us: u32::from(b.u16()) * 16,
        channel_ref: Chars::new(if b.bool() { "ref-1" } else { "" }),
    }
}

/// A channel answers one of the attempts it holds.
fn answer(h: &mut Harness, b: &mut Bytes<'_>) {
    let Some(a) = h.track.pending.pick(b.u8()) else {
        return;
    };
    let res = channel_result(b, a.order_id, a.attempt);
    h.send(Sender::channel(a.channel_id), &res);
    h.track.answered(a);
}

/// A channel answers an attempt that is no longer pending (late, or a repeat).
fn late_answer(h: &mut Harness, b: &mut Bytes<'_>) {
    let Some(a) = h.track.past.pick(b.u8()) else {
        return;
    };
    let res = channel_result(b, a.order_id, a.attempt);
    h.send(Sender::channel(a.channel_id), &res);
}

/// A pending attempt answered by another channel, with the wrong attempt number, or for an
/// order that does not exist.
fn wrong_answer(h: &mut Harness, b: &mut Bytes<'_>) {
    let a = h
        .track
        .pending
        .pick(b.u8())
        .unwrap_or(crate::track::Attempt {
            order_id: 1,
            attempt: 1,
            channel_id: 1,
        });
    let how = b.u8() % 4;
    let (order_id, attempt, channel_id) = match how {
        0 => (a.order_id, a.attempt, a.channel_id % 6 + 1),
        1 => (
            a.order_id,
            a.attempt.wrapping_add(1 + b.u8() % 4),
            a.channel_id,
        ),
        2 => (
            b.pick(&[0, u64::MAX, a.order_id + 1_000]),
            a.attempt,
            a.channel_id,
        ),
        _ => (a.order_id, a.attempt, 7),
    };
    let res = channel_result(b, order_id, attempt);
    h.send(Sender::channel(channel_id), &res);
}

/// A refund of a payment that succeeded: full, partial, too much, zero; sometimes of a payment that
/// did not succeed, one that does not exist, or another acquirer's.
fn refund(h: &mut Harness, run: &mut Run, b: &mut Bytes<'_>) {
    let pick = b.u8();
    let size = b.u8();
    let (acquirer, payment_request_id, amount, refunded) = match h.track.paid.pick(pick) {
        Some(p) if size % 16 != 15 => (
            p.acquirer_id,
            p.request_id,
            p.amount_minor,
            p.refunded_minor,
        ),
        _ => match run.sent.pick(pick) {
            Some((who, req)) => (who.principal_id, req.request_id, req.amount_minor, 0),
            None => (ACQUIRER_A, 12_345, 100, 0),
        },
    };
    let left = amount.saturating_sub(refunded);
    let amount_minor = match size % 8 {
        0 => left,
        1..=3 => (left / 2).max(1),
        4 => 1,
        5 => left.saturating_add(1),
        6 => amount,
        _ => -i64::from(b.u8()),
    };
    let flags = b.u8();
    let acquirer = if flags.is_multiple_of(16) {
        ACQUIRER_A + ACQUIRER_B - acquirer
    } else {
        acquirer
    };
    let who = Sender::acquirer(acquirer, flags % 16 == 1);
    let req = RefundRequest {
        refund_request_id: run.fresh_id(),
        payment_request_id,
        amount_minor,
    };
    h.send(who, &req);
    run.refunds.push((who, req));
}

/// A refund request again: identical, or with another amount.
fn resend_refund(h: &mut Harness, run: &mut Run, b: &mut Bytes<'_>) {
    let Some((who, mut req)) = run.refunds.pick(b.u8()) else {
        return;
    };
    if b.u8().is_multiple_of(4) {
        req.amount_minor = req.amount_minor.wrapping_add(1);
    }
    h.send(who, &req);
}

fn refund_result(b: &mut Bytes<'_>, refund_id: u64) -> RefundChannelResult {
    RefundChannelResult {
        refund_id,
        outcome: outcome(b),
        channel_code: u16::from(b.u8()),
        latency_us: u32::from(b.u16()) * 16,
        channel_ref: Chars::new("rf-1"),
    }
}

/// A channel answers a refund it holds (or one it answered before).
fn answer_refund(h: &mut Harness, b: &mut Bytes<'_>) {
    let pick = b.u8();
    let late = b.u8().is_multiple_of(8);
    let r = if late {
        h.track.refunds_past.pick(pick)
    } else {
        h.track.refunds_pending.pick(pick)
    };
    let Some(r) = r else { return };
    let res = refund_result(b, r.refund_id);
    h.send(Sender::channel(r.channel_id), &res);
    h.track.refund_answered(r.refund_id);
}

/// A refund answered by another channel, or a refund that does not exist.
fn wrong_refund_answer(h: &mut Harness, b: &mut Bytes<'_>) {
    let r = h.track.refunds_pending.pick(b.u8());
    let (refund_id, channel_id) = match r {
        Some(r) if b.bool() => (r.refund_id, r.channel_id % 6 + 1),
        Some(r) => (r.refund_id + 1_000, r.channel_id),
        None => (b.pick(&[0, 1, u64::MAX]), 1),
    };
    let res = refund_result(b, refund_id);
    h.send(Sender::channel(channel_id), &res);
}

/// Asks for the merchant's balance, then withdraws all of it, part, one more than it, or nonsense.
fn withdraw(h: &mut Harness, run: &mut Run, b: &mut Bytes<'_>) {
    let (merchant_id, acquirer) = merchant_and_acquirer(b);
    let who = Sender::acquirer(acquirer, false);
    let currency = b.pick(&[CNY, CNY, USD, EUR, JPY]);
    let size = b.u8();
    h.track.balances.clear();
    if size % 8 < 4 {
        let q = BalanceQuery {
            party_kind: PartyKind::Merchant,
            party_id: merchant_id,
        };
        h.send(who, &q);
    }
    let available = (0..h.track.balances.len())
        .filter_map(|i| h.track.balances.get(i))
        .find(|(c, _)| *c == currency)
        .map_or(0, |(_, a)| a);
    let amount_minor = match size % 8 {
        0 => available,
        1 => available / 2,
        2 => available.saturating_add(1),
        3 => 1,
        4 => 0,
        5 => -1,
        _ => i64::from(b.u32()),
    };
    let req = WithdrawRequest {
        withdraw_request_id: run.fresh_id(),
        merchant_id,
        currency,
        amount_minor,
    };
    h.send(who, &req);
    run.withdrawals.push((who, req));
}

fn resend_withdraw(h: &mut Harness, run: &mut Run, b: &mut Bytes<'_>) {
    let Some((who, mut req)) = run.withdrawals.pick(b.u8()) else {
        return;
    };
    if b.u8().is_multiple_of(4) {
        req.amount_minor = req.amount_minor.wrapping_add(1);
    }
    h.send(who, &req);
}

/// Orders by id or request id, balances, statistics and snapshots, from acquirers and the admin.
/// Parties a BalanceQuery names: the world's merchants, an unknown one, the promoters, none.
const PARTY_IDS: [u32; 10] = [
    11,
    12,
    13,
    14,
    21,
    22,
    UNKNOWN_MERCHANT,
    PROMOTER,
    PROMOTER_PARENT,
    0,
];

fn query(h: &mut Harness, run: &mut Run, b: &mut Bytes<'_>) {
    let (acquirer, order_id) = h.track.orders.pick(b.u8()).unwrap_or((ACQUIRER_A, 1));
    let other = ACQUIRER_A + ACQUIRER_B - acquirer;
    match b.u8() % 9 {
        n @ 0..=2 => {
            let by_id = QueryOrder {
                order_id,
                request_id: 0,
            };
            let who = match n {
                0 => Sender::acquirer(acquirer, false),
                1 => Sender::acquirer(other, false),
                _ => Sender::admin(),
            };
            h.send(who, &by_id);
        }
        3 => {
            let (who, request_id) = run
                .sent
                .pick(b.u8())
                .map_or((Sender::acquirer(ACQUIRER_A, false), 7), |(w, r)| {
                    (w, r.request_id)
                });
            h.send(
                who,
                &QueryOrder {
                    order_id: 0,
                    request_id,
                },
            );
        }
        4 => h.send(
            Sender::admin(),
            &QueryOrder {
                order_id: 0,
                request_id: order_id,
            },
        ),
        5 | 6 => {
            let q = BalanceQuery {
                party_kind: pick_enum!(b, PartyKind),
                party_id: b.pick(&PARTY_IDS),
            };
            let who = if b.bool() {
                Sender::admin()
            } else {
                Sender::acquirer(acquirer, false)
            };
            h.send(who, &q);
        }
        7 => h.send(Sender::admin(), &StatsQuery { flags: b.u8() }),
        _ => h.send(Sender::admin(), &SnapshotRequest { flags: 0 }),
    }
}

/// Event time moves (a millisecond to a month), then the sequencer pulses: attempts and refunds
/// time out, channels cool down and probe, settlement runs at day boundaries.
fn pulse(h: &mut Harness, b: &mut Bytes<'_>) {
    const DAY_MS: u64 = 86_400_000;
    const STEPS_MS: [u64; 16] = [
        1,
        10,
        100,
        1_000,
        world::CHANNEL_TIMEOUT_MS as u64 - 1,
        world::CHANNEL_TIMEOUT_MS as u64 + 1,
        2_500,
        5_001,
        30_000,
        61_000,
        3_600_000,
        6 * 3_600_000,
        DAY_MS,
        2 * DAY_MS,
        7 * DAY_MS,
        31 * DAY_MS,
    ];
    let choice = b.u8();
    let ms = if choice & 0x80 == 0 {
        STEPS_MS[usize::from(choice % 16)]
    } else {
        u64::from(b.u16())
    };
    let repeat = 1 + (choice >> 4) % 3;
    for _ in 0..repeat {
        h.advance_ns(ms * 1_000_000);
        h.send(Sender::sequencer(), &Pulse { flags: 0 });
    }
}
