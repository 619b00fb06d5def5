//! Hand-written inputs for the engine target: each decodes into the message sequence its comment
//! describes and reaches the part of the engine its name says (they are the corpus's seeds too).

use sluice_fuzz_targets::{engine_input, explain_engine_input};

/// Op 0 (a payment): merchant 11 of acquirer 1, 1,000 CNY by wallet, user 1001, no promoter.
const PAY: [u8; 17] = [0, 0, 1, 1, 1, 0xe7, 0x03, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0];
/// Op 9: the channel answers the first pending dispatch with success.
const ANSWER: [u8; 7] = [9, 0, 0, 0, 0, 0, 0];
/// Op 16: a refund of half of what is left of the first paid payment.
const REFUND_HALF: [u8; 4] = [16, 0, 1, 2];
/// Op 19: the channel answers the first pending refund with success.
const ANSWER_REFUND: [u8; 7] = [19, 0, 1, 0, 0, 0, 0];
/// Op 28: two days pass, then a pulse (settlement runs).
const TWO_DAYS: [u8; 2] = [28, 13];
/// Op 28: a little more than the channel timeout passes, then a pulse.
const PAST_TIMEOUT: [u8; 2] = [28, 5];
/// Op 22: asks merchant 11's CNY balance, then withdraws all that is available.
const WITHDRAW_ALL: [u8; 5] = [22, 0, 1, 0, 0];

pub fn money_flow() -> Vec<u8> {
    [
        &PAY[..],
        &ANSWER,
        &PAY,
        &ANSWER,
        &REFUND_HALF,
        &ANSWER_REFUND,
        &TWO_DAYS,
        &WITHDRAW_ALL,
    ]
    .concat()
}

/// Five bursts of 64 payments (320, the orders' maximum) by user 0, then the channel timeout
/// passes: the pulse meets its timeout budget.
pub fn timeout_storm() -> Vec<u8> {
    let mut spec = PAY[1..].to_vec();
    spec[12] = 0; // user 0: no velocity rule counts it
    let burst = [&[6u8, 63][..], &spec].concat();
    [&burst[..], &burst, &burst, &burst, &burst, &PAST_TIMEOUT].concat()
}

fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

#[test]
fn money_flow_pays_refunds_settles_and_withdraws() {
    let lines = explain_engine_input(&money_flow());
    let text = lines.join("\n");
    assert!(!text.contains("PANIC"), "{text}");
    assert_eq!(count(&lines, "PaymentResult { request_id"), 2, "{text}");
    assert!(
        text.contains("status: Succeeded, reason: None, channel_id: 1"),
        "{text}"
    );
    assert!(text.contains("RefundResult { refund_request_id"), "{text}");
    // Accepted and sent to the payout channel (which never answers here).
    let withdrawal = lines
        .iter()
        .find(|l| l.contains("WithdrawAck {"))
        .expect("a withdrawal");
    assert!(withdrawal.contains("status: Accepted"), "{withdrawal}");
    engine_input(&money_flow());
}

#[test]
fn timeout_storm_meets_the_pulse_budget_within_the_output_bound() {
    let lines = explain_engine_input(&timeout_storm());
    let text = lines.join("\n");
    assert!(
        !text.contains("PANIC"),
        "{}",
        &text[text.len().saturating_sub(4_000)..]
    );
    let pulse = lines
        .iter()
        .rposition(|l| l.contains("Pulse("))
        .expect("a pulse");
    let dispatches = count(&lines[pulse..], "Dispatch(Dispatch");
    let results = count(&lines[pulse..], "PaymentResult(");
    // The world's channels ask (Hold, FailOver): a deadline makes a question, not a failover.
    let questions = count(&lines[pulse..], "ChannelControl(ChannelControl");
    assert!(
        dispatches + results + questions >= 256,
        "{dispatches} dispatches, {results} results and {questions} questions"
    );
    engine_input(&timeout_storm());
}

#[test]
fn any_bytes_run() {
    for seed in 0u8..=255 {
        let data: Vec<u8> = (0..64u8)
            .map(|i| i.wrapping_mul(seed).wrapping_add(seed))
            .collect();
        engine_input(&data);
    }
}
