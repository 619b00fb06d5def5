//! The simulator's tests: the model, the book's answers through the timer queue, the faults.

use super::*;
use crate::config::SimOutage;

fn model(outages: Vec<SimOutage>) -> ChannelModel {
    ChannelModel {
        config: SimChannel {
            channel_id: 1,
            success_rate: 0.9,
            decline_rate: 0.05,
            latency_us_min: 100,
            latency_us_max: 200,
            outages,
            faults: None,
            bill_format: None,
            bill_account: None,
        },
    }
}

#[test]
fn rates_are_respected_and_reproducible() {
    let m = model(vec![]);
    let run = |seed| {
        let mut rng = Rng::new(seed);
        let mut ok = 0;
        for _ in 0..10_000 {
            if m.decide(&mut rng, 0.0).0 == Behaviour::Answer(ChannelOutcome::Succeeded) {
                ok += 1;
            }
        }
        ok
    };
    let ok = run(7);
    assert!((8_800..=9_200).contains(&ok), "{ok}");
    assert_eq!(run(7), ok, "same seed, same outcomes");
}

#[test]
fn outages_apply_in_their_window() {
    let m = model(vec![SimOutage {
        from_s: 5.0,
        to_s: 15.0,
        mode: "error".into(),
    }]);
    let mut rng = Rng::new(1);
    assert_eq!(
        m.decide(&mut rng, 6.0).0,
        Behaviour::Answer(ChannelOutcome::RetryableError)
    );
    let m = model(vec![SimOutage {
        from_s: 5.0,
        to_s: 15.0,
        mode: "timeout".into(),
    }]);
    assert_eq!(m.decide(&mut rng, 14.9).0, Behaviour::Silent);
}

fn sim_with(faults: Faults) -> Simulator {
    let mut channel = model(vec![]).config;
    channel.success_rate = 1.0;
    channel.decline_rate = 0.0;
    Simulator::new(&[channel], 7, 0, 64).with_faults(faults)
}

fn dispatch(order_id: u64, deadline_ns: u64) -> Dispatch {
    Dispatch {
        order_id,
        attempt: 1,
        channel_id: 1,
        merchant_id: 1001,
        amount_minor: 500,
        currency: 156,
        method: sluice_protocol::PaymentMethod::Wallet,
        scene: sluice_protocol::Scene::App,
        deadline_ns,
        at_ns: 0,
    }
}

fn control(op: sluice_protocol::ChannelOp, order_id: u64) -> ChannelControl {
    ChannelControl {
        op,
        order_id,
        attempt: 1,
        refund_id: 0,
        channel_id: 1,
        amount_minor: 500,
        currency: 156,
        channel_ref: sluice_protocol::Chars::new(""),
        at_ns: 0,
    }
}

/// Everything due up to `now_ns`.
fn drain(sim: &mut Simulator, now_ns: u64) -> Vec<SimReply> {
    std::iter::from_fn(|| sim.due(now_ns).map(|(_, r)| r)).collect()
}

fn status_of(replies: &[SimReply]) -> Vec<sluice_protocol::ChannelStatus> {
    replies
        .iter()
        .filter_map(|r| match r {
            SimReply::Control(c) => Some(c.status),
            _ => None,
        })
        .collect()
}

const MS: u64 = 1_000_000;

#[test]
fn a_lost_answer_does_not_change_what_the_channel_did() {
    use sluice_protocol::{ChannelOp, ChannelStatus};
    let mut sim = sim_with(Faults {
        lost: 1.0,
        ..Faults::default()
    });
    sim.on_dispatch(&dispatch(1, 2_000 * MS), 0);
    assert!(
        drain(&mut sim, 10_000 * MS).is_empty(),
        "the answer is lost"
    );
    assert!(sim.book().attempt(1, 1).unwrap().captured(MS));
    // A query is answered from the book (`lost` is for answers to dispatches).
    sim.on_control(&control(ChannelOp::Query, 1), 10_000 * MS);
    let replies = drain(&mut sim, 11_000 * MS);
    assert_eq!(status_of(&replies), [ChannelStatus::Paid]);
    assert_eq!(sim.fault_counts().lost, 1);
}

#[test]
fn a_late_capture_closed_first_never_captures_nor_answers() {
    use sluice_protocol::{ChannelOp, ChannelStatus};
    let mut sim = sim_with(Faults {
        late: 1.0,
        late_ms_max: 1_000,
        ..Faults::default()
    });
    sim.on_dispatch(&dispatch(1, 100 * MS), 0);
    let effective = sim.book().attempt(1, 1).unwrap().effective_ns;
    assert!(effective > 100 * MS, "after the deadline: {effective}");
    sim.on_control(&control(ChannelOp::Query, 1), 100 * MS);
    sim.on_control(&control(ChannelOp::Close, 1), 100 * MS);
    let replies = drain(&mut sim, 100 * MS + 200_000);
    assert_eq!(
        status_of(&replies),
        [ChannelStatus::NotPaid, ChannelStatus::Closed]
    );
    assert!(
        drain(&mut sim, effective + MS).is_empty(),
        "no success after a close"
    );
    assert!(!sim.book().attempt(1, 1).unwrap().captured(effective + MS));
    assert_eq!(sim.fault_counts().closed_before_capture, 1);
    // A late capture not closed is answered when it takes effect.
    sim.on_dispatch(&dispatch(2, 100 * MS), 0);
    let effective = sim.book().attempt(2, 1).unwrap().effective_ns;
    assert!(drain(&mut sim, effective - 1).is_empty());
    assert!(matches!(
        drain(&mut sim, effective)[..],
        [SimReply::Payment(_)]
    ));
}

#[test]
fn a_timeout_outage_answers_no_question_either() {
    let mut sim = sim_with(Faults::default());
    sim.start_outage(1, 0, 1.0, "timeout");
    sim.on_control(&control(sluice_protocol::ChannelOp::Query, 1), 500 * MS);
    assert!(drain(&mut sim, 2_000 * MS).is_empty());
    assert_eq!(sim.fault_counts().controls_unanswered, 1);
    sim.on_control(&control(sluice_protocol::ChannelOp::Query, 1), 1_500 * MS);
    assert_eq!(
        drain(&mut sim, 2_000 * MS).len(),
        1,
        "answered after the outage"
    );
}

#[test]
fn a_full_book_refuses_new_attempts_with_an_error() {
    let book = crate::sim_book::Book::new(false).with_entries_max(1);
    let mut sim = sim_with(Faults::default()).with_book(book);
    sim.on_dispatch(&dispatch(1, 2_000 * MS), 0);
    sim.on_dispatch(&dispatch(2, 2_000 * MS), 0);
    let outcomes: Vec<_> = drain(&mut sim, 1_000 * MS)
        .into_iter()
        .filter_map(|r| match r {
            SimReply::Payment(r) => Some((r.order_id, r.outcome)),
            _ => None,
        })
        .collect();
    assert!(
        outcomes.contains(&(2, ChannelOutcome::RetryableError)),
        "{outcomes:?}"
    );
    assert!(sim.book().attempt(2, 1).is_none());
}

#[test]
fn duplicates_go_twice_and_a_resent_dispatch_is_answered_from_the_book() {
    let mut sim = sim_with(Faults {
        duplicate: 1.0,
        ..Faults::default()
    });
    sim.on_dispatch(&dispatch(1, 2_000 * MS), 0);
    assert_eq!(drain(&mut sim, 1_000 * MS).len(), 2);
    sim.faults.duplicate = 0.0;
    sim.on_dispatch(&dispatch(1, 2_000 * MS), 1_000 * MS);
    let replies = drain(&mut sim, 2_000 * MS);
    assert!(
        matches!(&replies[..], [SimReply::Payment(r)] if r.outcome == ChannelOutcome::Succeeded)
    );
    assert_eq!(sim.book().summary(u64::MAX).attempts, 1);
}

#[test]
fn a_disconnect_loses_what_arrives_and_what_is_due_until_it_ends() {
    let mut sim = sim_with(Faults::default());
    sim.on_dispatch(&dispatch(1, 2_000 * MS), 0);
    sim.faults = Faults {
        disconnect: 1.0,
        disconnect_ms: 500,
        ..Faults::default()
    };
    sim.on_dispatch(&dispatch(2, 2_000 * MS), 0);
    assert_eq!(sim.take_disconnect(), Some(500 * MS));
    assert_eq!(sim.take_disconnect(), None);
    sim.on_dispatch(&dispatch(3, 2_000 * MS), 100 * MS);
    assert!(drain(&mut sim, 400 * MS).is_empty());
    assert!(sim.book().attempt(2, 1).is_none() && sim.book().attempt(3, 1).is_none());
    assert!(
        sim.book().attempt(1, 1).is_some(),
        "what the channel did stands"
    );
    let c = sim.fault_counts();
    assert_eq!((c.disconnects, c.unseen, c.lost_disconnected), (1, 2, 1));
    sim.faults = Faults::default();
    sim.on_dispatch(&dispatch(4, 2_000 * MS), 600 * MS);
    assert_eq!(drain(&mut sim, 700 * MS).len(), 1);
}

#[test]
fn faults_are_the_same_for_the_same_seed_and_leave_the_model_alone() {
    let faults =
        Faults::parse("late,lost=0.2,duplicate=0.2,slow-queries=0.5,silent-queries").unwrap();
    let run = |faults: Faults| {
        let mut sim = sim_with(faults);
        sim.models[0].config.success_rate = 0.5;
        for order in 1..=200 {
            sim.on_dispatch(&dispatch(order, 2_000 * MS), order * MS);
            sim.on_control(
                &control(sluice_protocol::ChannelOp::Close, order),
                order * MS,
            );
        }
        let replies = drain(&mut sim, u64::MAX);
        let decided: Vec<_> = (1..=200)
            .map(|o| sim.book().attempt(o, 1).map(|e| e.decided))
            .collect();
        (format!("{replies:?}"), decided, sim.fault_counts())
    };
    let (a, b) = (run(faults.clone()), run(faults));
    assert_eq!(a, b, "same seed, same faults");
    let c = a.2;
    assert!(
        c.lost > 0
            && c.duplicated > 0
            && c.late > 0
            && c.controls_unanswered > 0
            && c.controls_slowed > 0
    );
    assert_eq!(
        run(Faults::default()).1,
        a.1,
        "faults draw from their own generator"
    );
}
