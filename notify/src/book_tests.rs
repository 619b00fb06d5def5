//! The core with time passed in: no sockets, no clocks.

use super::*;
use crate::config::WECHAT_SCHEDULE_SECS;

fn limits(max_in_flight: u32, per_merchant_in_flight: u32) -> BookLimits {
    BookLimits {
        schedule_ms: WECHAT_SCHEDULE_SECS.iter().map(|s| s * 1000).collect(),
        max_in_flight,
        per_merchant_in_flight,
        delivered_ids_max: 1000,
        delivered_horizon_ms: 60_000,
    }
}

fn note(id: &str, merchant_id: u32) -> Arc<Notification> {
    Arc::new(Notification {
        id: id.into(),
        merchant_id,
        order_id: 1,
        kind: "payment.succeeded".into(),
        body: b"{}".to_vec(),
    })
}

fn ids(dispatches: &[Dispatch]) -> Vec<String> {
    dispatches.iter().map(|d| d.note.id.clone()).collect()
}

#[test]
fn the_full_wechat_schedule_walks_to_give_up() {
    let mut book = DeliveryBook::new(limits(10, 10));
    assert!(book.handle_enqueue(note("a", 1), 0));
    let mut now_ms = 0;
    for (i, delay_s) in WECHAT_SCHEDULE_SECS.iter().enumerate() {
        let due = book.poll_due(now_ms);
        assert_eq!(ids(&due), ["a"]);
        assert_eq!(due[0].attempt, i as u32 + 1);
        let outcome = book.handle_outcome("a", Err("500".into()), now_ms);
        let next_due_ms = now_ms + delay_s * 1000;
        assert_eq!(
            outcome,
            Outcome::Retry {
                attempts: i as u32 + 1,
                next_due_ms
            }
        );
        assert!(
            book.poll_due(next_due_ms - 1).is_empty(),
            "not before its time"
        );
        assert_eq!(book.next_wake_ms(), Some(next_due_ms));
        now_ms = next_due_ms;
    }
    assert_eq!(now_ms, 86_640_000, "24 h 4 min of retries in all");
    assert_eq!(book.poll_due(now_ms)[0].attempt, 16);
    assert_eq!(
        book.handle_outcome("a", Err("timeout".into()), now_ms),
        Outcome::GaveUp { attempts: 16 }
    );
    assert!(book.poll_due(u64::MAX).is_empty());
    assert_eq!(
        book.counts(),
        BookCounts {
            pending: 0,
            in_flight: 0,
            given_up: 1,
            delivered_ids: 0
        }
    );
    assert!(
        !book.handle_enqueue(note("a", 1), now_ms),
        "a given-up id is still known"
    );
    assert_eq!(book.handle_resend("a", now_ms), Resend::Restarted);
    let due = book.poll_due(now_ms);
    assert_eq!(due[0].attempt, 1, "a resend restarts the schedule");
    assert_eq!(
        book.handle_outcome("a", Ok(()), now_ms),
        Outcome::Delivered { attempts: 1 }
    );
    assert_eq!(
        book.counts(),
        BookCounts {
            pending: 0,
            in_flight: 0,
            given_up: 0,
            delivered_ids: 1
        }
    );
}

#[test]
fn enqueue_is_idempotent_within_the_horizon() {
    let mut book = DeliveryBook::new(limits(10, 10));
    assert!(book.handle_enqueue(note("a", 1), 0));
    assert!(!book.handle_enqueue(note("a", 1), 0));
    book.poll_due(0);
    book.handle_outcome("a", Ok(()), 0);
    assert!(!book.handle_enqueue(note("a", 1), 59_999));
    assert_eq!(book.handle_resend("a", 1), Resend::Delivered);
    // Past the horizon, the id is forgotten (the journal side never goes back that far).
    book.handle_enqueue(note("b", 1), 60_001);
    book.poll_due(60_001);
    book.handle_outcome("b", Ok(()), 60_001);
    assert!(!book.is_known("a"));
    assert!(book.is_known("b"));
}

#[test]
fn caps_are_respected() {
    let mut book = DeliveryBook::new(limits(5, 3));
    for i in 0..10 {
        book.handle_enqueue(note(&format!("m1-{i}"), 1), 0);
        book.handle_enqueue(note(&format!("m2-{i}"), 2), 0);
    }
    let first = book.poll_due(0);
    assert_eq!(first.len(), 5, "global cap");
    let per_merchant = |d: &[Dispatch], m| d.iter().filter(|x| x.note.merchant_id == m).count();
    assert!(per_merchant(&first, 1) <= 3 && per_merchant(&first, 2) <= 3);
    assert!(
        book.poll_due(0).is_empty(),
        "nothing more until an attempt ends"
    );
    assert_eq!(book.counts().in_flight, 5);
    book.handle_outcome(&first[0].note.id, Ok(()), 0);
    assert_eq!(book.poll_due(0).len(), 1);
    assert_eq!(book.counts().in_flight, 5);
}

#[test]
fn a_slow_merchant_does_not_block_others() {
    // Merchant 1 never answers (its attempts stay in flight); merchant 2 answers at once.
    let mut book = DeliveryBook::new(limits(8, 3));
    for i in 0..100 {
        book.handle_enqueue(note(&format!("slow-{i}"), 1), 0);
    }
    for i in 0..20 {
        book.handle_enqueue(note(&format!("fast-{i}"), 2), 0);
    }
    let mut delivered_fast = 0;
    for round in 0..100 {
        for dispatch in book.poll_due(round) {
            if dispatch.note.merchant_id == 2 {
                book.handle_outcome(&dispatch.note.id, Ok(()), round);
                delivered_fast += 1;
            }
        }
    }
    assert_eq!(delivered_fast, 20, "every fast notification went out");
    assert_eq!(
        book.counts().in_flight,
        3,
        "the slow merchant holds only its own cap"
    );
}

#[test]
fn merchants_take_turns() {
    let mut book = DeliveryBook::new(limits(4, 4));
    for i in 0..4 {
        book.handle_enqueue(note(&format!("a{i}"), 1), 0);
    }
    book.handle_enqueue(note("b0", 2), 0);
    let due = book.poll_due(0);
    assert!(
        ids(&due).contains(&"b0".to_string()),
        "merchant 2 is not behind merchant 1's backlog"
    );
}

#[test]
fn resend_moves_a_waiting_retry_to_now() {
    let mut book = DeliveryBook::new(limits(4, 4));
    book.handle_enqueue(note("a", 1), 0);
    book.poll_due(0);
    book.handle_outcome("a", Err("503".into()), 0);
    assert!(book.poll_due(1000).is_empty());
    assert_eq!(book.handle_resend("a", 1000), Resend::MovedToNow);
    let due = book.poll_due(1000);
    assert_eq!(due[0].attempt, 2, "attempts are kept for a pending resend");
    assert_eq!(book.handle_resend("a", 1000), Resend::AlreadyDue);
    assert_eq!(book.handle_resend("zzz", 1000), Resend::Unknown);
    assert_eq!(
        book.handle_outcome("zzz", Ok(()), 1000),
        Outcome::NotInFlight
    );
}

#[test]
fn restore_rebuilds_attempts_and_due_times() {
    let mut book = DeliveryBook::new(limits(4, 4));
    book.restore(note("a", 1), 0, 0, None, false);
    book.restore_attempted("a", 3, 50_000, "500".into());
    book.restore(note("g", 1), 0, 0, None, false);
    book.restore_given_up("g", 16, "timeout".into());
    assert!(
        book.poll_due(49_999).is_empty(),
        "the stale first timer is skipped"
    );
    let due = book.poll_due(50_000);
    assert_eq!(ids(&due), ["a"]);
    assert_eq!(due[0].attempt, 4);
    assert_eq!(book.counts().given_up, 1);
    assert_eq!(book.entry("g").map(|e| e.attempts), Some(16));
}
