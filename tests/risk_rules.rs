//! The default configuration's ten risk rules written in the rule language (`rules/default.rules`)
//! decide exactly as the struct rules of `gateway/src/default_config.toml` do: one demo-like
//! workload, generated from the default world with payment patterns that trip every kind of rule
//! (hot users, a shared IP, a card being tested, a device farm, big spenders, refund abuse, the
//! lists), is applied to two engines, one configured with each form. Every input's outputs must
//! be byte-for-byte the same, every payment's and refund's verdict (action and rule id) is compared
//! one by one, and the rule hit counters (enforced and shadow) must agree.

use sluice_engine::risk::lang::parse_rules_file;
use sluice_engine::{
    ENVELOPE_LEN, Engine, MAX_OUTPUT_BYTES_PER_INPUT, OutIter, Outbox, write_envelope,
};
use sluice_gateway::config::{Config, DEFAULT_CONFIG};
use sluice_protocol::*;
use sluice_workload::Workload;
use std::collections::{BTreeMap, VecDeque};

const DEFAULT_RULES: &str = include_str!("../rules/default.rules");
const MERCHANTS: [u32; 4] = [1001, 1002, 1003, 1004];
const STEP_NS: u64 = 2_000_000;
const INPUTS: u64 = 120_000;
/// The card being tested: shared by many payers, mostly declined.
const TESTED_CARD: &str = "fp-tested-card";

/// Two engines fed the same inputs.
struct Pair {
    engines: [Engine; 2],
    outboxes: [Outbox; 2],
    seq: u64,
    now: u64,
    scratch: Vec<u8>,
}

/// A verdict as the acquirer sees it: (request id, is refund, action, rule id).
type Verdict = (u64, bool, RiskAction, u32);

impl Pair {
    /// Applies one input to both engines; returns the first engine's outputs (the second's are
    /// asserted to be the same bytes).
    fn apply(&mut self, session: u64, principal: u32, role: u8, m: &AnyMessage) -> Vec<AnyMessage> {
        write_envelope(&mut self.scratch, session, principal, role);
        let n = ENVELOPE_LEN
            + m.encode_sbe(&mut self.scratch[ENVELOPE_LEN..])
                .expect("encode");
        self.seq += 1;
        for (engine, out) in self.engines.iter_mut().zip(self.outboxes.iter_mut()) {
            out.clear();
            engine
                .apply_record(self.seq, self.now, &self.scratch[..n], out)
                .expect("apply");
        }
        let decoded = |o: &Outbox| -> Vec<AnyMessage> {
            OutIter::new(o.bytes())
                .map(|r| decode_any_frame(r.frame).expect("decode an output"))
                .collect()
        };
        decoded(&self.outboxes[0])
    }

    fn same_outputs(&self) -> bool {
        self.outboxes[0].bytes() == self.outboxes[1].bytes()
    }
}

/// The default world's configuration inputs; with `text`, the risk rules replaced (in place) by
/// `rules/default.rules` as ConfigRiskRuleText messages.
fn configuration(config: &Config, text: bool) -> Vec<AnyMessage> {
    let rules = parse_rules_file(DEFAULT_RULES).expect("rules/default.rules parses");
    let mut out = Vec::new();
    let mut rules_done = false;
    for input in &config.world.inputs {
        if !(text && input.key.starts_with("risk_rules[")) {
            out.push(input.message.clone());
            continue;
        }
        if !rules_done {
            rules_done = true;
            for r in &rules {
                out.push(AnyMessage::from(ConfigRiskRuleText {
                    rule_id: r.id,
                    name: Chars::new(&r.name),
                    priority: r.priority,
                    target: r.target,
                    shadow: r.shadow,
                    status: if r.active {
                        Activity::Active
                    } else {
                        Activity::Disabled
                    },
                    source: codec::text(&r.source),
                }));
            }
        }
    }
    out
}

/// A payment of the demo workload, bent into one of the patterns the rules look for.
fn patterned(w: &mut Workload) -> PaymentRequest {
    let mut p = w.payment(&MERCHANTS);
    let draw = w.rng().below(1_000);
    let card = |p: &mut PaymentRequest, fp: &str| {
        p.method = PaymentMethod::Card;
        p.card_fingerprint = Chars::new(fp);
        p.card_bin = 622_848;
    };
    match draw {
        // Hot payers (about 40 a minute each): user_per_minute.
        0..=79 => p.user_id = 10 + u64::from(draw as u32 % 4),
        // Many payers behind one IP: ip_per_minute.
        80..=199 => p.ip = Ip::v4([10, 9, 9, 9]),
        // One card tried by many payers: card_declines_hour (answered mostly Declined).
        200..=239 => card(&mut p, TESTED_CARD),
        // A device farm: device_per_hour.
        240..=299 => p.device_id = 42,
        // Big spenders: user_daily_amount.
        300..=319 => {
            p.user_id = 100 + u64::from(draw as u32 % 3);
            p.amount_minor = 400_000;
        }
        // The allow-listed payer.
        320..=322 => p.user_id = 777,
        // The block-listed IP.
        323..=325 => p.ip = Ip::v4([198, 51, 100, 66]),
        _ => {}
    }
    p
}

/// The channel's answer to a dispatch: the tested card is mostly declined.
fn outcome(w: &mut Workload, tested: bool) -> ChannelOutcome {
    let r = w.rng().below(100);
    match (tested, r) {
        (true, 0..=69) => ChannelOutcome::Declined,
        (_, 0..=4) => ChannelOutcome::RetryableError,
        (_, 5..=6) => ChannelOutcome::Declined,
        _ => ChannelOutcome::Succeeded,
    }
}

/// What the drive saw: every verdict of each engine.
#[derive(Default)]
struct Seen {
    verdicts: [Vec<Verdict>; 2],
    inputs_compared: u64,
}

fn verdicts_in(outputs: &[AnyMessage]) -> impl Iterator<Item = Verdict> + '_ {
    outputs.iter().filter_map(|m| match m {
        AnyMessage::PaymentAck(a) => Some((a.request_id, false, a.risk_action, a.risk_rule_id)),
        AnyMessage::RefundAck(a) => {
            Some((a.refund_request_id, true, a.risk_action, a.risk_rule_id))
        }
        _ => None,
    })
}

fn drive(pair: &mut Pair, w: &mut Workload) -> Seen {
    let mut seen = Seen::default();
    let mut pending: VecDeque<(bool, u64, u8, u16, bool)> = VecDeque::new();
    let mut tested_orders = std::collections::HashSet::new();
    for i in 0..INPUTS {
        pair.now += STEP_NS;
        let (session, principal, role, m): (u64, u32, u8, AnyMessage) = if i % 1_000 == 999 {
            (0, 0, 0, Pulse { flags: 0 }.into())
        } else if !pending.is_empty() && (pending.len() > 256 || w.rng().below(2) == 0) {
            let (refund, id, attempt, channel, tested) = pending.pop_front().expect("not empty");
            let outcome = outcome(w, tested);
            let m: AnyMessage = if refund {
                let outcome = match outcome {
                    ChannelOutcome::Declined => ChannelOutcome::Succeeded,
                    o => o,
                };
                RefundChannelResult {
                    refund_id: id,
                    outcome,
                    channel_code: 0,
                    latency_us: 500,
                    channel_ref: Chars::new("t"),
                }
                .into()
            } else {
                ChannelResult {
                    order_id: id,
                    attempt,
                    outcome,
                    channel_code: 0,
                    latency_us: 500,
                    channel_ref: Chars::new("t"),
                }
                .into()
            };
            (
                900 + u64::from(channel),
                u32::from(channel),
                Role::Channel as u8,
                m,
            )
        } else if w.rng().below(25) == 0
            && let Some((r, _)) = w.refund()
        {
            (77, 1, Role::Acquirer as u8, r.into())
        } else {
            (77, 1, Role::Acquirer as u8, patterned(w).into())
        };
        let tested_payment = matches!(&m, AnyMessage::PaymentRequest(p) if p.card_fingerprint.as_str() == TESTED_CARD);
        let outputs = pair.apply(session, principal, role, &m);
        assert!(
            pair.same_outputs(),
            "input {i} ({}): the two engines' outputs differ",
            m.name()
        );
        seen.inputs_compared += 1;
        for o in &outputs {
            match o {
                AnyMessage::PaymentAck(a) if tested_payment => {
                    tested_orders.insert(a.order_id);
                }
                AnyMessage::Dispatch(d) => {
                    let tested = tested_orders.contains(&d.order_id);
                    pending.push_back((false, d.order_id, d.attempt, d.channel_id, tested));
                }
                AnyMessage::RefundDispatch(d) => {
                    pending.push_back((true, d.refund_id, 0, d.channel_id, false))
                }
                AnyMessage::PaymentResult(p) if p.status == FinalStatus::Succeeded => {
                    w.succeeded(p.request_id, p.amount_minor, 0)
                }
                _ => {}
            }
        }
        seen.verdicts[0].extend(verdicts_in(&outputs));
        // The second engine's outputs are the same bytes (asserted above); decode them anyway so
        // the verdict lists below are each engine's own.
        let second: Vec<AnyMessage> = OutIter::new(pair.outboxes[1].bytes())
            .map(|r| decode_any_frame(r.frame).expect("decode"))
            .collect();
        seen.verdicts[1].extend(verdicts_in(&second));
    }
    seen
}

#[test]
fn default_rules_as_text_decide_every_payment_as_the_struct_rules_do() {
    let config = Config::parse(DEFAULT_CONFIG).expect("the default configuration");
    let start_ns = 1_764_086_400_000_000_000;
    let mut genesis = config.world.genesis.clone();
    genesis.orders_max = genesis.orders_max.max(200_000);
    let engine = || Engine::new(&genesis, start_ns).expect("engine");
    let mut pair = Pair {
        engines: [engine(), engine()],
        outboxes: [0, 1].map(|_| Outbox::with_capacity(4 * MAX_OUTPUT_BYTES_PER_INPUT)),
        seq: 1,
        now: start_ns,
        scratch: vec![0u8; ENVELOPE_LEN + MAX_FRAME_BYTES],
    };
    let configs = [configuration(&config, false), configuration(&config, true)];
    assert!(
        configs[1]
            .iter()
            .any(|m| matches!(m, AnyMessage::ConfigRiskRuleText(_)))
    );
    assert!(
        !configs[1]
            .iter()
            .any(|m| matches!(m, AnyMessage::ConfigRiskRule(_)))
    );
    for (k, messages) in configs.iter().enumerate() {
        let mut out = Outbox::with_capacity(4 * MAX_OUTPUT_BYTES_PER_INPUT);
        for (i, m) in messages.iter().enumerate() {
            let mut scratch = vec![0u8; ENVELOPE_LEN + MAX_FRAME_BYTES];
            write_envelope(&mut scratch, 1, 1, Role::Admin as u8);
            let n = ENVELOPE_LEN + m.encode_sbe(&mut scratch[ENVELOPE_LEN..]).expect("encode");
            out.clear();
            pair.engines[k]
                .apply_record(2 + i as u64, start_ns, &scratch[..n], &mut out)
                .expect("config");
            for o in OutIter::new(out.bytes()) {
                if let Ok(AnyMessage::ConfigAck(a)) = decode_any_frame(o.frame) {
                    assert_eq!(a.status, AckStatus::Accepted, "{}: {}", m.name(), a.text);
                }
            }
        }
    }
    pair.seq = 1 + configs[0].len().max(configs[1].len()) as u64;
    let mut w = Workload::new(23, 0);
    let seen = drive(&mut pair, &mut w);

    // Every verdict, one by one.
    assert_eq!(seen.verdicts[0].len(), seen.verdicts[1].len());
    for (a, b) in seen.verdicts[0].iter().zip(&seen.verdicts[1]) {
        assert_eq!(a, b, "verdicts differ");
    }
    // The workload really exercised the rules: every kind of verdict, credited to many rules.
    let mut by_rule: BTreeMap<u32, u64> = BTreeMap::new();
    for v in &seen.verdicts[0] {
        *by_rule.entry(v.3).or_default() += 1;
    }
    eprintln!(
        "{} inputs; verdicts by rule id: {by_rule:?}",
        seen.inputs_compared
    );
    for rule in [1, 2, 3, 4, 5, 6, 7, 8, 10, 11] {
        assert!(
            by_rule.contains_key(&rule),
            "no verdict by rule {rule}: {by_rule:?}"
        );
    }
    // Hit counters, enforced and shadow (rule 9 is a shadow rule), agree.
    let hits = |e: &Engine| e.counters().rule_hits.clone();
    assert_eq!(hits(&pair.engines[0]), hits(&pair.engines[1]));
    let ids: Vec<u32> = pair.engines[1]
        .state()
        .risk
        .rules
        .rules
        .iter()
        .map(|r| r.id)
        .collect();
    let nine = ids.iter().position(|&id| id == 9).expect("rule 9");
    assert!(
        hits(&pair.engines[1])[nine].1 > 0,
        "the shadow rule 9 never matched"
    );
}
