//! A Notifier against the real test receiver over HTTP and HTTPS: failures, slow answers, an
//! outage, a crash and restart; secret rotation; give-up and an operator's resend.

use sluice_notify::receiver::{Receiver, ReceiverConfig, id_hash};
use sluice_notify::{
    Endpoint, Notification, Notifier, NotifyConfig, ResendRequest, StatusFilter, request_resend,
    status,
};
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const MERCHANTS: [u32; 3] = [11, 12, 13];

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-notify-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn secret(merchant_id: u32) -> Vec<u8> {
    format!("whsec_test_{merchant_id}").into_bytes()
}

/// Milliseconds-scale schedule, 15 retries like WeChat's (about 9 s in all).
fn fast_config(receiver: &Receiver) -> NotifyConfig {
    NotifyConfig {
        schedule_ms: Some(vec![
            10, 10, 20, 50, 100, 200, 300, 500, 500, 500, 1000, 1000, 1000, 2000, 2000,
        ]),
        response_timeout_ms: 2_000,
        connect_timeout_ms: 500,
        ca_file: receiver.ca_file().map(|p| p.to_path_buf()),
        ..NotifyConfig::default()
    }
}

fn note(i: u64) -> Notification {
    let merchant_id = MERCHANTS[(i % 3) as usize];
    let id = format!("ntf_{i}_0");
    let body = format!(
        r#"{{"id":"{id}","type":"payment.succeeded","order_id":{i},"merchant_id":{merchant_id}}}"#
    );
    Notification {
        id,
        merchant_id,
        order_id: i,
        kind: "payment.succeeded".into(),
        body: body.into_bytes(),
    }
}

fn set_endpoints(notifier: &Notifier, receiver: &Receiver) {
    for m in MERCHANTS {
        notifier.set_endpoint(
            m,
            Some(Endpoint {
                url: receiver.url(m),
                secrets: vec![secret(m)],
            }),
        );
    }
}

fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}

fn faults_outage_and_crash(https: bool) {
    const COUNT: u64 = 300;
    let receiver = Receiver::start(ReceiverConfig {
        https,
        fail_first_attempts: 3,
        fail_modulo: 5,
        slow_ms: 150,
        slow_modulo: 7,
        ..ReceiverConfig::default()
    })
    .unwrap();
    for m in MERCHANTS {
        receiver.set_secrets(m, vec![secret(m)]);
    }
    let failing = (0..COUNT)
        .filter(|i| id_hash(&note(*i).id).is_multiple_of(5))
        .count();
    assert!(
        failing > 20,
        "the fault selection covers some ids ({failing})"
    );
    let dir = temp_dir(if https { "https" } else { "http" });
    // Over HTTP, a tiny compaction bound: the live compaction runs again and again mid-run.
    let compact = |config: NotifyConfig| NotifyConfig {
        log_compact_bytes: if https {
            config.log_compact_bytes
        } else {
            4096
        },
        ..config
    };
    let notifier = Notifier::start(compact(fast_config(&receiver)), &dir).unwrap();
    set_endpoints(&notifier, &receiver);
    for i in 0..COUNT {
        assert!(notifier.enqueue(note(i)).unwrap());
    }
    notifier.sync().unwrap();
    assert!(
        receiver.wait_for(COUNT / 3, Duration::from_secs(20)),
        "{:?}",
        receiver.stats()
    );
    // The merchant goes away, and while it is away the notifier crashes (no shutdown).
    receiver.set_down(true).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(notifier);
    receiver.set_down(false).unwrap();
    let notifier = Notifier::start(compact(fast_config(&receiver)), &dir).unwrap();
    set_endpoints(&notifier, &receiver);
    // The journal side re-derives what it had handed over: every id is already known.
    for i in 0..COUNT {
        assert!(
            !notifier.enqueue(note(i)).unwrap(),
            "id {i} known after the restart"
        );
    }
    assert!(
        receiver.wait_for(COUNT, Duration::from_secs(30)),
        "{:?} {:?}",
        receiver.stats(),
        notifier.stats()
    );
    let accepted: HashSet<String> = receiver.accepted_ids().into_iter().collect();
    let expected: HashSet<String> = (0..COUNT).map(|i| note(i).id).collect();
    assert_eq!(
        accepted, expected,
        "every notification accepted, once by id"
    );
    let stats = receiver.stats();
    assert_eq!(stats.bad_signatures, 0, "every signature verified");
    assert!(
        stats.failures_injected >= 3 * failing as u64 / 2,
        "{stats:?}"
    );
    assert!(
        wait_until(Duration::from_secs(5), || notifier.stats().pending == 0),
        "{:?}",
        notifier.stats()
    );
    assert_eq!(notifier.stats().given_up, 0);
    notifier.shutdown(Duration::from_secs(2));
    let report = status(&dir, StatusFilter::All).unwrap();
    assert_eq!(
        (report.pending, report.given_up, report.entries.len()),
        (0, 0, 0)
    );
    assert_eq!(report.delivered_ids, COUNT);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn http_with_failures_slowness_an_outage_and_a_crash() {
    faults_outage_and_crash(false);
}

#[test]
fn https_with_failures_slowness_an_outage_and_a_crash() {
    faults_outage_and_crash(true);
}

#[test]
fn rotation_signs_with_both_secrets() {
    let receiver = Receiver::start(ReceiverConfig::default()).unwrap();
    let (old, new) = (b"whsec_old".to_vec(), b"whsec_new".to_vec());
    receiver.set_secrets(1, vec![old.clone()]); // Has not switched yet.
    receiver.set_secrets(2, vec![new.clone()]); // Switched already.
    let dir = temp_dir("rotation");
    let notifier = Notifier::start(fast_config(&receiver), &dir).unwrap();
    for m in [1, 2] {
        notifier.set_endpoint(
            m,
            Some(Endpoint {
                url: receiver.url(m),
                secrets: vec![new.clone(), old.clone()],
            }),
        );
    }
    for (i, m) in [(1u64, 1u32), (2, 2)] {
        let n = Notification {
            merchant_id: m,
            ..note(i)
        };
        notifier.enqueue(n).unwrap();
    }
    assert!(
        receiver.wait_for(2, Duration::from_secs(10)),
        "{:?}",
        receiver.stats()
    );
    assert_eq!(receiver.stats().bad_signatures, 0);
    notifier.shutdown(Duration::from_secs(1));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn give_up_status_and_resend() {
    // Every id fails its first 4 attempts; the schedule allows 3, so each gives up once.
    let receiver = Receiver::start(ReceiverConfig {
        fail_first_attempts: 4,
        fail_modulo: 1,
        ..ReceiverConfig::default()
    })
    .unwrap();
    receiver.set_secrets(11, vec![secret(11)]);
    let dir = temp_dir("resend");
    let config = NotifyConfig {
        schedule_ms: Some(vec![10, 10]),
        ..fast_config(&receiver)
    };
    let notifier = Notifier::start(config, &dir).unwrap();
    // No endpoint yet: the first attempt fails on that, then the endpoint comes.
    notifier.enqueue(note(0)).unwrap();
    assert!(wait_until(Duration::from_secs(5), || notifier
        .stats()
        .failed_attempts
        >= 1));
    notifier.set_endpoint(
        11,
        Some(Endpoint {
            url: receiver.url(11),
            secrets: vec![secret(11)],
        }),
    );
    assert!(
        wait_until(Duration::from_secs(5), || notifier.stats().given_up == 1),
        "{:?}",
        notifier.stats()
    );
    // Outcome records reach the file within 100 ms (batched).
    assert!(wait_until(Duration::from_secs(2), || status(
        &dir,
        StatusFilter::Failing
    )
    .unwrap()
    .given_up
        == 1));
    let report = status(&dir, StatusFilter::Failing).unwrap();
    let entry = &report.entries[0];
    assert_eq!(
        (entry.id.as_str(), entry.state, entry.attempts),
        ("ntf_0_0", "given_up", 3)
    );
    assert_eq!(entry.last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(
        status(&dir, StatusFilter::Merchant(99))
            .unwrap()
            .entries
            .len(),
        0
    );
    assert_eq!(
        status(&dir, StatusFilter::Order(0)).unwrap().entries.len(),
        1
    );
    // The operator resends; the running notifier picks the request up from the spool.
    request_resend(
        &dir,
        &ResendRequest::Failing {
            merchant_id: Some(11),
        },
    )
    .unwrap();
    assert!(
        receiver.wait_for(1, Duration::from_secs(10)),
        "{:?} {:?}",
        receiver.stats(),
        notifier.stats()
    );
    assert!(wait_until(Duration::from_secs(2), || notifier
        .stats()
        .given_up
        == 0
        && notifier.stats().pending == 0));
    notifier.shutdown(Duration::from_secs(1));
    assert_eq!(
        status(&dir, StatusFilter::All)
            .unwrap()
            .resend_requests_queued,
        0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
