//! The engine alone, per input kind: time per `Engine::apply` on the reference world
//! (`sluice_engine::fixture`), with pre-encoded inputs and one reused `Outbox`, as the processor
//! thread runs it. Each sample builds a fresh world sized for the inputs it will apply (orders are
//! bounded and most inputs change state, so an input cannot be applied twice), preloads the orders
//! the inputs refer to, and times only the `apply` calls.
//!
//! Every case is checked once before it is measured (the expected outputs appear), so a figure
//! never measures a rejection by mistake.
//!
//! `cargo bench --bench engine`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_engine::driver::Driver;
use sluice_engine::fixture;
use sluice_engine::state::Counters;
use sluice_engine::{ENVELOPE_LEN, Engine, Outbox, ROLE_SEQUENCER, write_envelope};
use sluice_protocol::*;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Event time between two inputs (a 100k inputs/s stream).
const STEP_NS: u64 = 10_000;
/// Event time between two pulses (the gateway's default pulse interval).
const PULSE_STEP_NS: u64 = 10_000_000;
/// Orders preloaded for the kinds that do not consume orders (queries, pulses).
const STANDING_ORDERS: u64 = 10_000;
const SBE_MAX: usize = 128;
const ACQUIRER_SESSION: u64 = 1_000;

/// One pre-encoded input as the journal holds it, envelope (the sender) and SBE bytes; sequence
/// and time are stamped when applied.
#[derive(Clone, Copy)]
struct Input {
    len: u8,
    payload: [u8; ENVELOPE_LEN + SBE_MAX],
}

impl Input {
    fn new<M: Message>(session_id: u64, principal_id: u32, role: u8, msg: &M) -> Input {
        let mut payload = [0u8; ENVELOPE_LEN + SBE_MAX];
        write_envelope(&mut payload, session_id, principal_id, role);
        let len = encode_sbe(msg, &mut payload[ENVELOPE_LEN..]).expect("input fits SBE_MAX");
        Input {
            len: (ENVELOPE_LEN + len) as u8,
            payload,
        }
    }

    fn acquirer<M: Message>(msg: &M) -> Input {
        Input::new(
            ACQUIRER_SESSION,
            fixture::ACQUIRER_A,
            Role::Acquirer as u8,
            msg,
        )
    }

    fn channel<M: Message>(channel_id: u16, msg: &M) -> Input {
        Input::new(
            900_000 + u64::from(channel_id),
            u32::from(channel_id),
            Role::Channel as u8,
            msg,
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    PaymentAccepted,
    ChannelResultSuccess,
    ChannelResultRetryable,
    RefundRequest,
    RefundChannelResult,
    QueryOrder,
    Pulse,
    PaymentInvalid,
}

const KINDS: [Kind; 8] = [
    Kind::PaymentAccepted,
    Kind::ChannelResultSuccess,
    Kind::ChannelResultRetryable,
    Kind::RefundRequest,
    Kind::RefundChannelResult,
    Kind::QueryOrder,
    Kind::Pulse,
    Kind::PaymentInvalid,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::PaymentAccepted => "payment_accepted",
            Kind::ChannelResultSuccess => "channel_result_success_split_ledger",
            Kind::ChannelResultRetryable => "channel_result_retryable_failover",
            Kind::RefundRequest => "refund_request",
            Kind::RefundChannelResult => "refund_channel_result",
            Kind::QueryOrder => "query_order",
            Kind::Pulse => "pulse",
            Kind::PaymentInvalid => "payment_rejected_invalid",
        }
    }

    /// Inputs are applied in a cycle over a fixed pool (they change nothing an input depends on).
    fn cycles(self) -> bool {
        matches!(self, Kind::QueryOrder | Kind::Pulse)
    }

    fn step_ns(self) -> u64 {
        match self {
            Kind::Pulse => PULSE_STEP_NS,
            // The failure bucket leaks only over whole milliseconds between two failures of a
            // channel (sub-millisecond gaps leak nothing), so the failures come 1 ms apart.
            Kind::ChannelResultRetryable => 1_000_000,
            _ => STEP_NS,
        }
    }
}

/// The amount of payment `request_id`: 10.00 to 106.00 CNY.
fn amount(request_id: u64) -> i64 {
    1_000 + (request_id % 97) as i64 * 100
}

/// A wallet payment with its own payer, device and IP, so no velocity rule fires.
fn payment(request_id: u64) -> PaymentRequest {
    let amount_minor = amount(request_id);
    const MERCHANTS: [u32; 4] = [
        fixture::SHOP,
        fixture::HQ,
        fixture::BRANCH,
        fixture::DISTRIBUTOR,
    ];
    let merchant = MERCHANTS[(request_id % 4) as usize];
    let mut p = fixture::payment(request_id, merchant, amount_minor);
    p.user_id = 1_000_000 + request_id;
    p.device_id = 5_000_000 + request_id;
    p
}

/// The outputs of template `M` in an outbox.
fn outputs<M: Message>(outbox: &Outbox) -> impl Iterator<Item = M> + '_ {
    outbox.iter().filter_map(|r| {
        let (header, _) = split_sbe(r.frame.get(SOFH_LEN..)?).ok()?;
        (header.template_id == M::TEMPLATE_ID)
            .then(|| decode_frame::<M>(r.frame).ok())
            .flatten()
    })
}

/// The reference world with room for `orders_max` orders and `refunds_max` refunds.
fn world(orders_max: u64, refunds_max: u64) -> Driver {
    world_with(orders_max, refunds_max, fixture::config_messages())
}

fn world_with(orders_max: u64, refunds_max: u64, config: Vec<AnyMessage>) -> Driver {
    let mut genesis = fixture::genesis(orders_max as u32 + 16);
    genesis.refunds_max = refunds_max as u32 + 16;
    let mut d = Driver::new(&genesis, fixture::START_NS).expect("genesis");
    let refusals = d.configure(&config);
    assert!(refusals.is_empty(), "{refusals:?}");
    // As the server does before it listens: first-touch page faults are not an input's cost.
    d.engine.prefault();
    d
}

/// The reference world whose channels never leave rotation: a stream of nothing but retryable
/// errors would otherwise open every wallet channel after a few failures, and the failovers being
/// measured would turn into final failures. The largest bucket, leaking as fast as allowed.
fn world_without_health_checks(orders_max: u64) -> Driver {
    let config = fixture::config_messages()
        .into_iter()
        .map(|m| match m {
            AnyMessage::ConfigChannel(mut c) => {
                c.failure_threshold = u16::MAX;
                c.failure_leak_per_sec = u16::MAX;
                c.min_success_rate = Default::default();
                AnyMessage::ConfigChannel(c)
            }
            other => other,
        })
        .collect();
    world_with(orders_max, 0, config)
}

/// Pays `n` orders (request ids 1..=n); returns each order's first dispatch.
fn preload_payments(d: &mut Driver, n: u64) -> Vec<Dispatch> {
    (1..=n)
        .map(|id| {
            d.advance_ns(STEP_NS);
            let out = d.apply(
                ACQUIRER_SESSION,
                fixture::ACQUIRER_A,
                Role::Acquirer as u8,
                &payment(id),
            );
            outputs::<Dispatch>(out).next().expect("payment dispatched")
        })
        .collect()
}

fn channel_result(d: &Dispatch, outcome: ChannelOutcome) -> ChannelResult {
    ChannelResult {
        order_id: d.order_id,
        attempt: d.attempt,
        outcome,
        channel_code: 0,
        latency_us: 1_500,
        channel_ref: Chars::new("bench-ref"),
    }
}

/// Answers every dispatch with success.
fn preload_successes(d: &mut Driver, dispatches: &[Dispatch]) {
    for disp in dispatches {
        d.advance_ns(STEP_NS);
        let out = d.apply(
            900_000 + u64::from(disp.channel_id),
            u32::from(disp.channel_id),
            Role::Channel as u8,
            &channel_result(disp, ChannelOutcome::Succeeded),
        );
        assert_eq!(outputs::<PaymentResult>(out).count(), 1);
    }
}

fn refund(id: u64) -> RefundRequest {
    RefundRequest {
        refund_request_id: id,
        payment_request_id: id,
        amount_minor: amount(id),
    }
}

/// Refunds every payment in full; returns each refund's dispatch.
fn preload_refunds(d: &mut Driver, n: u64) -> Vec<RefundDispatch> {
    (1..=n)
        .map(|id| {
            d.advance_ns(STEP_NS);
            let out = d.apply(
                ACQUIRER_SESSION,
                fixture::ACQUIRER_A,
                Role::Acquirer as u8,
                &refund(id),
            );
            outputs::<RefundDispatch>(out)
                .next()
                .expect("refund dispatched")
        })
        .collect()
}

/// A world and the inputs to apply to it.
struct Case {
    driver: Driver,
    inputs: Vec<Input>,
}

fn setup(kind: Kind, n: u64) -> Case {
    let (mut driver, inputs) = match kind {
        Kind::PaymentAccepted => (
            world(n, 0),
            (1..=n).map(|id| Input::acquirer(&payment(id))).collect(),
        ),
        Kind::PaymentInvalid => (
            world(0, 0),
            (1..=n)
                .map(|id| {
                    let mut p = payment(id);
                    p.amount_minor = 0;
                    Input::acquirer(&p)
                })
                .collect(),
        ),
        Kind::ChannelResultSuccess | Kind::ChannelResultRetryable => {
            let (mut d, outcome) = if kind == Kind::ChannelResultSuccess {
                (world(n, 0), ChannelOutcome::Succeeded)
            } else {
                (
                    world_without_health_checks(n),
                    ChannelOutcome::RetryableError,
                )
            };
            let inputs = preload_payments(&mut d, n)
                .iter()
                .map(|disp| Input::channel(disp.channel_id, &channel_result(disp, outcome)))
                .collect();
            (d, inputs)
        }
        Kind::RefundRequest | Kind::RefundChannelResult => {
            let mut d = world(n, n);
            let dispatches = preload_payments(&mut d, n);
            preload_successes(&mut d, &dispatches);
            let inputs = if kind == Kind::RefundRequest {
                (1..=n).map(|id| Input::acquirer(&refund(id))).collect()
            } else {
                preload_refunds(&mut d, n)
                    .iter()
                    .map(|r| {
                        let answer = RefundChannelResult {
                            refund_id: r.refund_id,
                            outcome: ChannelOutcome::Succeeded,
                            channel_code: 0,
                            latency_us: 900,
                            channel_ref: Chars::new("bench-refund"),
                        };
                        Input::channel(r.channel_id, &answer)
                    })
                    .collect()
            };
            (d, inputs)
        }
        Kind::QueryOrder | Kind::Pulse => {
            let mut d = world(STANDING_ORDERS, 0);
            let dispatches = preload_payments(&mut d, STANDING_ORDERS);
            preload_successes(&mut d, &dispatches);
            let inputs = if kind == Kind::QueryOrder {
                (1..=STANDING_ORDERS)
                    .map(|order_id| {
                        Input::acquirer(&QueryOrder {
                            order_id,
                            request_id: 0,
                        })
                    })
                    .collect()
            } else {
                vec![Input::new(0, 0, ROLE_SEQUENCER, &Pulse { flags: 0 })]
            };
            (d, inputs)
        }
    };
    driver.advance_ns(kind.step_ns());
    if !kind.cycles() {
        assert_eq!(inputs.len() as u64, n);
    }
    Case { driver, inputs }
}

/// Applies `n` inputs of the case to its engine, calling `each` after every input.
fn run(
    kind: Kind,
    case: &mut Case,
    n: u64,
    outbox: &mut Outbox,
    mut each: impl FnMut(&Outbox),
) -> Duration {
    let first_seq = case.driver.next_seq();
    let start_ns = case.driver.now_ns();
    let step_ns = kind.step_ns();
    let engine: &mut Engine = &mut case.driver.engine;
    let pool = case.inputs.len() as u64;
    let started = Instant::now();
    for i in 0..n {
        let input = &case.inputs[(i % pool) as usize];
        outbox.clear();
        let payload = &input.payload[..usize::from(input.len)];
        let applied = engine.apply_record(first_seq + i, start_ns + i * step_ns, payload, outbox);
        assert!(applied.is_ok(), "{applied:?}");
        each(black_box(outbox));
    }
    started.elapsed()
}

/// Applies a small case and checks every input produced what the kind is meant to measure.
fn check(kind: Kind) {
    let n = 64;
    let mut case = setup(kind, n);
    let mut outbox = Outbox::with_capacity(1 << 20);
    run(kind, &mut case, n, &mut outbox, |out| {
        let ok = match kind {
            Kind::PaymentAccepted => {
                outputs::<PaymentAck>(out).any(|a| a.status == AckStatus::Accepted)
                    && outputs::<Dispatch>(out).count() == 1
            }
            Kind::PaymentInvalid => outputs::<PaymentAck>(out).any(|a| {
                a.status == AckStatus::Rejected && a.reason == ReasonCode::AmountNotPositive
            }),
            Kind::ChannelResultSuccess => outputs::<PaymentResult>(out)
                .any(|r| r.status == FinalStatus::Succeeded && !r.split.is_empty()),
            Kind::ChannelResultRetryable => outputs::<Dispatch>(out).any(|d| d.attempt == 2),
            Kind::RefundRequest => {
                outputs::<RefundAck>(out).any(|a| a.status == AckStatus::Accepted)
                    && outputs::<RefundDispatch>(out).count() == 1
            }
            Kind::RefundChannelResult => outputs::<RefundResult>(out)
                .any(|r| r.status == FinalStatus::Succeeded && !r.reversal.is_empty()),
            Kind::QueryOrder => {
                outputs::<OrderStatus>(out).any(|s| s.state == OrderState::Succeeded)
            }
            Kind::Pulse => out.is_empty(),
        };
        assert!(ok, "{}: unexpected outputs", kind.name());
    });
}

/// After a timed sample: every input took the path the kind measures (checked from the counters,
/// so nothing is decoded while timing).
fn verify_counters(kind: Kind, before: &Counters, after: &Counters, n: u64) {
    let (counted, expected) = match kind {
        Kind::PaymentAccepted => (after.accepted - before.accepted, n),
        Kind::PaymentInvalid => (after.rejected_invalid - before.rejected_invalid, n),
        Kind::ChannelResultSuccess => (after.succeeded - before.succeeded, n),
        Kind::ChannelResultRetryable => {
            let failovers = |c: &Counters| c.strategies.iter().map(|s| s.1).sum::<u64>();
            (failovers(after) - failovers(before), n)
        }
        Kind::RefundRequest => (after.refunds_rejected - before.refunds_rejected, 0),
        Kind::RefundChannelResult => (after.refunds_succeeded - before.refunds_succeeded, n),
        Kind::QueryOrder | Kind::Pulse => (after.timeouts - before.timeouts, 0),
    };
    assert_eq!(counted, expected, "{}: {n} inputs", kind.name());
}

fn engine(c: &mut Criterion) {
    for kind in KINDS {
        check(kind);
    }
    let mut group = c.benchmark_group("engine_apply");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    for kind in KINDS {
        group.bench_function(kind.name(), |b| {
            b.iter_custom(|iters| {
                let mut case = setup(kind, iters);
                let mut outbox = Outbox::with_capacity(1 << 20);
                let before = case.driver.engine.counters().clone();
                let elapsed = run(kind, &mut case, iters, &mut outbox, |out| {
                    black_box(out.len_bytes());
                });
                verify_counters(kind, &before, case.driver.engine.counters(), iters);
                elapsed
            })
        });
    }
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
