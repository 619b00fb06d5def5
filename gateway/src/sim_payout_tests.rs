//! The payout simulator's tests: each path, idempotency, returns, the script and the draws.

use super::*;
use sluice_protocol::PartyKind;

const DAY: u64 = NS_PER_DAY;

fn dispatch(payout_id: u64, at_ns: u64) -> PayoutDispatch {
    PayoutDispatch {
        payout_id,
        channel_id: 9,
        party_kind: PartyKind::Merchant,
        party_id: 1001,
        currency: 156,
        amount_minor: 50_000,
        fee_minor: 200,
        deadline_ns: at_ns + 60 * NS_PER_S,
        at_ns,
    }
}

fn query(payout_id: u64, at_ns: u64) -> PayoutQuery {
    PayoutQuery {
        payout_id,
        channel_id: 9,
        currency: 156,
        amount_minor: 50_000,
        at_ns,
    }
}

fn sim(script: &[&str]) -> PayoutSim {
    let mut c = SimPayoutChannel::paying(9);
    c.script = script.iter().map(|s| s.to_string()).collect();
    c.check().expect("a valid model");
    PayoutSim::new(&[c], 42, 64)
}

/// Every answer due by `now_ns`: (payout id, status, code), by payout id (answers to different
/// payouts go out in the order of their latencies).
fn answers(s: &mut PayoutSim, now_ns: u64) -> Vec<(u64, PayoutChannelStatus, u16)> {
    let mut out: Vec<_> = std::iter::from_fn(|| s.due(now_ns))
        .map(|(c, r)| {
            assert_eq!(c, 9);
            (r.payout_id, r.status, r.channel_code)
        })
        .collect();
    out.sort_by_key(|a| a.0);
    out
}

const LATER: u64 = u64::MAX;

#[test]
fn paid_failed_and_processing_are_answered_as_booked() {
    let mut s = sim(&["paid", "failed", "processing"]);
    for id in 1..=3 {
        s.on_dispatch(&dispatch(id, DAY), 0);
    }
    let got = answers(&mut s, LATER);
    assert_eq!(got[0], (1, PayoutChannelStatus::Paid, 0));
    assert_eq!((got[1].0, got[1].1), (2, PayoutChannelStatus::Failed));
    assert!(FAILURE_CODES.iter().any(|(c, _)| *c == got[1].2));
    assert_eq!(got[2], (3, PayoutChannelStatus::Processing, 0));
    // Processing until processing_s of event time passed; then final.
    s.on_query(&query(3, DAY + 60 * NS_PER_S), 0);
    s.on_query(&query(3, DAY + 7_200 * NS_PER_S), 0);
    let got = answers(&mut s, LATER);
    assert_eq!(got[0].1, PayoutChannelStatus::Processing);
    assert_eq!(got[1].1, PayoutChannelStatus::Paid);
    let f = s.book().summary(2 * DAY).channels[&(9, 156)];
    assert_eq!(
        (f.paid_count, f.paid_minor, f.fees_minor, f.failed_count),
        (2, 100_000, 400, 1)
    );
}

#[test]
fn a_lost_answer_is_found_by_the_query_and_a_repeat_pays_nothing_twice() {
    let mut s = sim(&["lost"]);
    s.on_dispatch(&dispatch(1, DAY), 0);
    assert!(answers(&mut s, LATER).is_empty(), "the answer is lost");
    s.on_query(&query(1, DAY + 61 * NS_PER_S), 0);
    assert_eq!(
        answers(&mut s, LATER),
        vec![(1, PayoutChannelStatus::Paid, 0)]
    );
    s.on_dispatch(&dispatch(1, DAY + 62 * NS_PER_S), 0);
    assert_eq!(
        answers(&mut s, LATER),
        vec![(1, PayoutChannelStatus::Paid, 0)]
    );
    let summary = s.book().summary(2 * DAY);
    assert_eq!(summary.channels[&(9, 156)].paid_count, 1);
    assert!(summary.paid_twice.is_empty());
    assert_eq!((s.counts().repeats, s.counts().dispatches), (1, 2));
}

#[test]
fn an_unseen_dispatch_is_not_found_then_processed_when_sent_again() {
    let mut s = sim(&["unseen"]);
    s.on_dispatch(&dispatch(1, DAY), 0);
    assert!(answers(&mut s, LATER).is_empty());
    assert_eq!(s.book().summary(DAY).unseen, 1);
    s.on_query(&query(1, DAY + 61 * NS_PER_S), 0);
    assert_eq!(
        answers(&mut s, LATER),
        vec![(1, PayoutChannelStatus::NotFound, 0)]
    );
    s.on_dispatch(&dispatch(1, DAY + 62 * NS_PER_S), 0);
    assert_eq!(
        answers(&mut s, LATER),
        vec![(1, PayoutChannelStatus::Paid, 0)]
    );
    assert_eq!(s.book().summary(DAY * 2).unseen, 0);
}

#[test]
fn a_returned_transfer_is_told_unasked_once_its_days_passed() {
    let mut s = sim(&["returned", "paid"]);
    s.on_dispatch(&dispatch(1, DAY), 0);
    s.on_dispatch(&dispatch(2, DAY), 0);
    assert_eq!(answers(&mut s, LATER).len(), 2);
    s.observe(DAY + 2 * DAY, 10);
    assert!(answers(&mut s, LATER).is_empty(), "not yet");
    // A later message's event time passes paid + 3 days.
    s.on_query(&query(2, DAY + 3 * DAY), 10);
    let got = answers(&mut s, LATER);
    assert_eq!(got[0], (1, PayoutChannelStatus::Returned, RETURN_CODE));
    assert_eq!(got[1], (2, PayoutChannelStatus::Paid, 0));
    s.on_query(&query(1, 5 * DAY), 10);
    assert_eq!(answers(&mut s, LATER)[0].1, PayoutChannelStatus::Returned);
    // A forced return: once only, and only of a paid transfer.
    assert!(s.force_return(9, 2, 20));
    assert!(!s.force_return(9, 2, 20));
    assert!(!s.force_return(9, 77, 20));
    assert_eq!(
        answers(&mut s, LATER),
        vec![(2, PayoutChannelStatus::Returned, RETURN_CODE)]
    );
    let f = s.book().summary(6 * DAY).channels[&(9, 156)];
    assert_eq!(
        (f.paid_count, f.returned_count, f.returned_minor),
        (2, 2, 100_000)
    );
}

#[test]
fn draws_are_per_payout_and_follow_the_rates() {
    let mut c = SimPayoutChannel::paying(9);
    c.failed_rate = 0.1;
    c.lost_rate = 0.1;
    c.processing_rate = 0.1;
    c.unseen_rate = 0.1;
    c.returned_rate = 0.1;
    let run = |order: &mut dyn Iterator<Item = u64>| {
        let mut s = PayoutSim::new(std::slice::from_ref(&c), 7, 1 << 14);
        for id in order {
            s.on_dispatch(&dispatch(id, DAY), 0);
        }
        (1..=5_000u64)
            .map(|id| s.book().standing(id, 2 * DAY))
            .collect::<Vec<_>>()
    };
    let forward = run(&mut (1..=5_000u64));
    let backward = run(&mut (1..=5_000u64).rev());
    assert_eq!(
        forward, backward,
        "a payout's outcome does not depend on arrival order"
    );
    let failed = forward
        .iter()
        .filter(|s| matches!(s, Standing::Failed(_)))
        .count();
    let unseen = forward.iter().filter(|s| **s == Standing::NotFound).count();
    assert!((400..=600).contains(&failed), "{failed}");
    assert!((400..=600).contains(&unseen), "{unseen}");
}

#[test]
fn the_model_is_checked_and_paths_have_names() {
    let mut c = SimPayoutChannel::paying(9);
    c.failed_rate = 0.7;
    c.lost_rate = 0.7;
    assert!(c.check().is_err());
    let mut c = SimPayoutChannel::paying(9);
    c.script = vec!["vanished".into()];
    assert!(c.check().is_err());
    for name in Path::NAMES {
        assert_eq!(Path::from_name(name).map(Path::name), Some(name));
    }
}

#[test]
fn a_full_answer_queue_drops_and_a_deferred_answer_goes_first() {
    let mut c = SimPayoutChannel::paying(9);
    c.latency_us_min = 0;
    c.latency_us_max = 0;
    let mut s = PayoutSim::new(&[c], 1, 2);
    for id in 1..=3 {
        s.on_dispatch(&dispatch(id, DAY), 100);
    }
    assert_eq!(s.counts().dropped, 1);
    let (channel, first) = s.due(100).expect("due");
    s.defer(channel, first);
    assert_eq!(s.due(100).map(|(_, r)| r.payout_id), Some(1));
    assert_eq!(s.next_due_ns(), Some(100));
}
