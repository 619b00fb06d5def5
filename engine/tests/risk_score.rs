//! The learned risk score (docs/RISK_SCORE.md): a model loaded by ConfigRiskModel scores every
//! payment in fixed point, the score is reported in the ack and kept with the order, a snapshot
//! and a replay give the same scores, a bad model is refused and changes nothing, and the
//! observation recorder records what the risk engine saw.

mod common;
use common::*;
use sluice_engine::driver::Driver;
use sluice_engine::fixture::*;
use sluice_engine::risk::score::{lg, score_of_logit};
use sluice_protocol::*;

/// payments_per_card_minute (feature 10): +2.0 per doubling; intercept -6.0.
const CARD_MINUTE: u16 = 10;

fn card_model(model_id: u32) -> ConfigRiskModel {
    let mut m = ConfigRiskModel {
        model_id,
        status: Activity::Active,
        intercept: -6 << 16,
        ..Default::default()
    };
    m.terms.push(ScoreTerm {
        feature: CARD_MINUTE,
        weight: 2 << 16,
    });
    m
}

/// A card payment of SHOP with fingerprint `fp` (the fixture's distinct user per request id).
fn card_payment(id: u64, fp: &str) -> PaymentRequest {
    let mut req = payment(id, SHOP, 1_000);
    req.method = PaymentMethod::Card;
    req.card_fingerprint = Chars::new(fp);
    req
}

/// The score the model gives a card's `n`-th payment within the minute.
fn expected_score(n: u64) -> u8 {
    // Q16 logit: intercept + weight (Q16) * feature (Q8) / 256.
    score_of_logit((-6i64 << 16) + 512 * lg(n))
}

/// Sends `ids` as card payments on one card and returns the acks' scores.
fn scores(d: &mut Driver, ids: std::ops::Range<u64>) -> Vec<u8> {
    ids.map(|id| ack(&d.acquirer(ACQUIRER_A, &card_payment(id, "fp-score"))).risk_score)
        .collect()
}

#[test]
fn a_loaded_model_scores_each_payment_in_its_ack_and_a_snapshot_and_a_replay_agree() {
    let mut d = world();
    assert_eq!(scores(&mut d, 1..3), [0, 0], "no model: score 0");
    configure_ok(&mut d, &card_model(9));
    // Two earlier payments of the card were counted (the windows were cleared when the model
    // started reading them, so they start from this one).
    let got = scores(&mut d, 3..9);
    let want: Vec<u8> = (1..7).map(expected_score).collect();
    assert_eq!(got, want);
    assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
    // A payment without a card has no card features: the intercept alone.
    let wallet = ack(&d.acquirer(ACQUIRER_A, &payment(50, SHOP, 1_000))).risk_score;
    assert_eq!(wallet, score_of_logit(-6 << 16));
    // A resend repeats the score the order kept.
    let resend = ack(&d.acquirer(ACQUIRER_A, &card_payment(8, "fp-score"))).clone();
    assert!(resend.duplicate);
    assert_eq!(resend.risk_score, *want.last().unwrap());

    // A snapshot taken now and restored continues with the same scores.
    let (hash, bytes) = d.engine.snapshot();
    let restored = sluice_engine::Engine::from_snapshot(&bytes, hash).unwrap();
    let mut twin = d.twin(restored);
    assert_eq!(scores(&mut d, 9..12), scores(&mut twin, 9..12));

    // A replay of the same inputs (recorder on from the start) reports the same scores.
    let mut replay = world();
    replay.engine.record_risk_observations(true);
    scores(&mut replay, 1..3);
    configure_ok(&mut replay, &card_model(9));
    let mut observed = Vec::new();
    for id in 3..9 {
        let a = ack(&replay.acquirer(ACQUIRER_A, &card_payment(id, "fp-score"))).clone();
        let obs = replay.engine.recorded_risk_observations();
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].order_id, a.order_id);
        assert_eq!(obs[0].risk_score, a.risk_score);
        observed.push(a.risk_score);
    }
    // The recorder kept the card's windows from Genesis: the replay's card minute counts the two
    // payments before the model was loaded, the live engine's did not.
    let from_genesis: Vec<u8> = (3..9).map(expected_score).collect();
    assert_eq!(observed, from_genesis);
}

#[test]
fn the_same_inputs_give_the_same_scores_and_state() {
    let run = || {
        let mut d = world();
        configure_ok(&mut d, &card_model(1));
        let s = scores(&mut d, 1..20);
        (s, d.engine.state_hash())
    };
    assert_eq!(run(), run());
}

#[test]
fn a_bad_model_is_refused_with_its_reason_and_changes_nothing() {
    let mut d = world();
    configure_ok(&mut d, &card_model(1));
    let before = d.engine.state().risk.clone();
    let mut bad = card_model(2);
    bad.terms.push(ScoreTerm {
        feature: 99,
        weight: 1,
    });
    let out = d.admin(&bad);
    let a = config_ack(&out);
    assert_eq!(a.status, AckStatus::Rejected);
    assert_eq!(a.reason, ReasonCode::InvalidConfig);
    assert!(a.text.as_str().contains("feature"), "{a:?}");
    let after = &d.engine.state().risk;
    assert_eq!(before.model, after.model);
    assert_eq!(before.velocity.window_masks, after.velocity.window_masks);
    assert_eq!(scores(&mut d, 1..3), [expected_score(1), expected_score(2)]);
    // Unloading: scores go back to 0.
    let mut off = card_model(1);
    off.status = Activity::Disabled;
    configure_ok(&mut d, &off);
    assert_eq!(scores(&mut d, 3..5), [0, 0]);
}

#[test]
fn the_recorder_records_the_verdict_and_the_features_and_is_cleared_per_input() {
    let mut d = world();
    d.engine.record_risk_observations(true);
    // Fixture rule 3 blocks single amounts over 5,000,000: a blocked payment is observed too.
    let out = d.acquirer(ACQUIRER_A, &payment(1, SHOP, 5_000_001));
    assert_eq!(ack(&out).status, AckStatus::Rejected);
    let obs = d.engine.recorded_risk_observations()[0];
    assert_eq!(obs.action, RiskAction::Block);
    assert_eq!(obs.rule_id, 3);
    assert_eq!(obs.amount_minor, 5_000_001);
    assert_eq!(obs.features[0], lg(5_000_001));
    assert_eq!(
        obs.features[3], 256,
        "the user's first payment of the day: lg(1)"
    );
    assert_eq!(obs.risk_score, 0, "no model");
    d.pulse();
    assert!(d.engine.recorded_risk_observations().is_empty());
    // The same card twice: its daily count includes the payment itself.
    d.acquirer(ACQUIRER_A, &card_payment(2, "fp-rec"));
    d.acquirer(ACQUIRER_A, &card_payment(3, "fp-rec"));
    let obs = d.engine.recorded_risk_observations()[0];
    assert_eq!(obs.features[12], lg(2));
    assert_eq!(obs.features[23], 256, "has a card");
    d.engine.record_risk_observations(false);
    d.acquirer(ACQUIRER_A, &card_payment(4, "fp-rec"));
    assert!(d.engine.recorded_risk_observations().is_empty());
}
