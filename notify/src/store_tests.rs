//! Write, crash (torn tail), recover; compaction keeps state; damage in the middle is an error.

use super::*;
use crate::book::{BookLimits, Phase};

fn limits() -> BookLimits {
    BookLimits {
        schedule_ms: vec![1000, 2000],
        max_in_flight: 8,
        per_merchant_in_flight: 8,
        delivered_ids_max: 1000,
        delivered_horizon_ms: u64::MAX,
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("sluice-notify-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn note(id: &str) -> Notification {
    Notification {
        id: id.into(),
        merchant_id: 3,
        order_id: 42,
        kind: "refund.succeeded".into(),
        body: b"{\"x\":1}".to_vec(),
    }
}

/// Three notifications: one delivered, one failed twice (due at 7000), one given up.
fn write_history(store: &mut Store) {
    for id in ["d", "p", "g"] {
        store.append(&Record::Created {
            note: note(id),
            at_ms: 100,
        });
    }
    store.append(&Record::Delivered {
        id: "d".into(),
        at_ms: 200,
    });
    store.append(&Record::Attempted {
        id: "p".into(),
        attempts: 2,
        next_due_ms: 7000,
        error: "HTTP 500".into(),
    });
    store.append(&Record::GivenUp {
        id: "g".into(),
        attempts: 3,
        at_ms: 300,
        error: "timeout".into(),
    });
}

fn check_history(book: &DeliveryBook) {
    assert!(
        book.is_known("d") && book.entry("d").is_none(),
        "delivered: id only"
    );
    let p = book.entry("p").expect("pending kept");
    assert_eq!((p.attempts, p.due_ms, p.phase), (2, 7000, Phase::Waiting));
    assert_eq!(p.last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(p.note.body, b"{\"x\":1}");
    let g = book.entry("g").expect("given up kept");
    assert_eq!((g.attempts, g.phase), (3, Phase::GivenUp));
}

#[test]
fn write_crash_recover_with_a_torn_tail() {
    let dir = temp_dir("torn");
    let (mut store, _) = Store::open(&dir, limits()).unwrap();
    write_history(&mut store);
    store.append(&Record::Created {
        note: note("torn"),
        at_ms: 400,
    });
    store.sync().unwrap();
    drop(store);
    // The crash: the last record is cut in the middle.
    let log = dir.join(LOG_FILE);
    let len = std::fs::metadata(&log).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let loaded = load(&dir, limits()).unwrap();
    assert_eq!(loaded.torn_tails.len(), 1);
    assert!(loaded.torn_tails[0].0 == log && loaded.torn_tails[0].1 < len - 5);
    let (_, book) = Store::open(&dir, limits()).unwrap();
    check_history(&book);
    assert_eq!(book.counts().pending, 1);
    assert!(
        !book.is_known("torn"),
        "the torn record is gone, the rest is whole"
    );
    // Reopening again is clean: the tail was cut by the fresh checkpoint and log.
    assert!(load(&dir, limits()).unwrap().torn_tails.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn compaction_keeps_pending_and_given_up_state() {
    let dir = temp_dir("compact");
    let (mut store, mut book) = Store::open(&dir, limits()).unwrap();
    write_history(&mut store);
    // Build the live book the way the notifier would have.
    for record in [
        Record::Created {
            note: note("d"),
            at_ms: 100,
        },
        Record::Created {
            note: note("p"),
            at_ms: 100,
        },
        Record::Created {
            note: note("g"),
            at_ms: 100,
        },
        Record::Delivered {
            id: "d".into(),
            at_ms: 200,
        },
        Record::Attempted {
            id: "p".into(),
            attempts: 2,
            next_due_ms: 7000,
            error: "HTTP 500".into(),
        },
        Record::GivenUp {
            id: "g".into(),
            attempts: 3,
            at_ms: 300,
            error: "timeout".into(),
        },
    ] {
        apply(&mut book, record);
    }
    let compaction = store.begin_compaction(&book).unwrap();
    store.append(&Record::Created {
        note: note("after"),
        at_ms: 500,
    });
    store.sync().unwrap();
    // A crash before the checkpoint is written: old checkpoint + old log + next log.
    let crashed = load(&dir, limits()).unwrap();
    check_history(&crashed.book);
    assert!(crashed.book.is_known("after"));
    compaction.write().unwrap();
    // A crash after the checkpoint, before the rename: checkpoint + next log.
    check_history(&load(&dir, limits()).unwrap().book);
    store.finish_compaction().unwrap();
    store.append(&Record::Delivered {
        id: "after".into(),
        at_ms: 600,
    });
    store.sync().unwrap();
    let small = std::fs::metadata(dir.join(LOG_FILE)).unwrap().len();
    assert!(
        small < 200,
        "the log restarted after compaction ({small} bytes)"
    );
    drop(store);
    let (_, book) = Store::open(&dir, limits()).unwrap();
    check_history(&book);
    assert!(book.is_known("after") && book.entry("after").is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn damage_in_the_middle_names_file_and_offset() {
    let dir = temp_dir("corrupt");
    let (mut store, _) = Store::open(&dir, limits()).unwrap();
    write_history(&mut store);
    store.sync().unwrap();
    drop(store);
    let log = dir.join(LOG_FILE);
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[30] ^= 0x55; // Inside the first Created record, with whole records after it.
    std::fs::write(&log, &bytes).unwrap();
    let error = Store::open(&dir, limits()).err().expect("refused");
    let message = error.to_string();
    assert!(matches!(error, NotifyError::Corrupt(_)), "{message}");
    assert!(message.contains("state.log at offset 17"), "{message}");
    let _ = std::fs::remove_dir_all(&dir);
}
