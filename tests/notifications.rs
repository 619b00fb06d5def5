//! Merchant notifications end to end (docs/NOTIFICATIONS.md): the real `sluice serve` with its
//! channel simulator, the real load generator, and a real HTTPS merchant (`sluice_notify::receiver`)
//! that fails the first three attempts of some notifications, answers others slowly, verifies
//! every signature, de-duplicates on the notification id, and is down for a while — while the
//! server is SIGKILLed mid-run and restarted on its data directory.
//!
//! What it checks: the notifications the journal calls for (derived by a clean replay of the
//! journal with `sluice_node::notifications`, the notifier's own derivation) are exactly the ones
//! the merchant accepted — each once, whatever was repeated — and as many as the final payment
//! and refund results in the replayed state; no signature failed; nothing was given up.

mod common;

use common::*;
use sluice_engine::state::RefundStatus;
use sluice_node::{Replayer, notifications};
use sluice_notify::receiver::{Receiver, ReceiverConfig};
use sluice_protocol::OrderState;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The acquirer `acq-a`'s merchants in the embedded configuration (the load generator pays them).
const MERCHANTS: [u32; 4] = [1001, 1002, 1003, 1004];

fn settings(ca_file: &Path) -> Settings {
    Settings {
        simulator: true,
        // Snapshots now and then, so the restart starts from one.
        snapshot_every_inputs: 2_000,
        extra_toml: format!(
            "[notify.delivery]\nschedule_ms = [100, 200, 400, 800, 1000, 1000, 1000, 1000, \
             1000, 1000, 1000, 1000]\nca_file = {:?}\nresponse_timeout_ms = 3000\n\
             per_host_connections = 64\n",
            ca_file.display().to_string()
        ),
        ..Settings::default()
    }
}

/// `sluice loadgen` at a modest open-loop rate (payments, refunds and queries), in the
/// background: the server may be killed under it.
fn loadgen(addr: SocketAddr, seed: u64, secs: u32) -> Child {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["loadgen", "--addr", &addr.to_string(), "--rate", "1500"])
        .args(["--duration", &secs.to_string(), "--connections", "2"])
        .args(["--mix", "payments=85,refunds=10,queries=5"])
        .args(["--seed", &seed.to_string(), "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sluice loadgen")
}

/// The notification ids the journal in `data` calls for, and the final payment and refund
/// results in its replayed state.
fn expected(data: &Path) -> (BTreeSet<String>, usize) {
    let reader = sluice_journal::JournalReader::open(&sluice_journal::journal_dir(data))
        .expect("open the journal");
    let mut replayer = Replayer::from_genesis(&reader).expect("genesis");
    let last = sluice_replay::journal_end(&reader)
        .expect("read the journal")
        .expect("records")
        .seq;
    let mut ids = BTreeSet::new();
    replayer
        .run_to(&reader, last, |applied| {
            notifications::drafts(&applied, |d| {
                assert!(ids.insert(d.id.clone()), "{} derived twice", d.id);
            });
            Ok::<(), sluice_node::Error>(())
        })
        .expect("replay");
    let state = replayer.engine.state();
    let payments = state
        .orders
        .iter()
        .filter(|o| !o.vacant && MERCHANTS.contains(&o.merchant_id))
        .filter(|o| matches!(o.state, OrderState::Succeeded | OrderState::Failed))
        .count();
    let refunds = state
        .refunds
        .iter()
        .filter(|r| !r.vacant)
        .filter(|r| matches!(r.state, RefundStatus::Succeeded | RefundStatus::Failed))
        .count();
    (ids, payments + refunds)
}

#[test]
fn every_final_result_reaches_its_merchant_once_across_a_crash_and_an_outage() {
    let receiver = Receiver::start(ReceiverConfig {
        https: true,
        fail_first_attempts: 3,
        fail_modulo: 5,
        // Every merchant is on one host here, so slow answers take the host's connections from
        // all of them: a few, not a seventh.
        slow_ms: 300,
        slow_modulo: 40,
        ..ReceiverConfig::default()
    })
    .expect("start the receiver");
    let ca = receiver
        .ca_file()
        .expect("an https receiver has a CA")
        .to_path_buf();
    let dir = TestDir::new("notifications");
    let config = write_config(&dir.path, &settings(&ca));
    let data = dir.join("data");
    let mut server = ServerProcess::start(&config, &data);
    let secrets = set_secrets(server.addr, &data, &dir.path, &receiver);
    assert_eq!(secrets, MERCHANTS.len());

    // Load, then a SIGKILL in the middle of it (notifications are pending: some are failing,
    // some slow), the merchant down across the restart, and load again.
    let mut load = loadgen(server.addr, 1, 4);
    std::thread::sleep(Duration::from_millis(2_500));
    server.kill();
    let _ = load.wait();
    receiver.set_down(true).expect("down");
    let mut server = ServerProcess::start(&config, &data);
    std::thread::sleep(Duration::from_millis(1_500));
    receiver.set_down(false).expect("up");
    let mut load = loadgen(server.addr, 2, 3);
    assert!(load.wait().expect("loadgen").success(), "loadgen failed");

    // Everything final is notified: wait for the count the journal calls for.
    std::thread::sleep(Duration::from_millis(500));
    let (ids, finals) = expected(&data);
    assert!(finals > 1_000, "the load made only {finals} final results");
    let delivered = receiver.wait_for(ids.len() as u64, Duration::from_secs(60));
    let accepted: BTreeSet<String> = receiver.accepted_ids().into_iter().collect();
    let stats = receiver.stats();
    eprintln!("{} notifications expected, receiver: {stats:?}", ids.len());
    assert!(delivered, "{} of {} accepted", accepted.len(), ids.len());
    assert_eq!(
        accepted, ids,
        "accepted exactly the notifications the journal calls for"
    );
    assert_eq!(
        ids.len(),
        finals,
        "one notification per final payment and refund result"
    );
    assert_eq!(stats.bad_signatures, 0, "every signature verified");
    assert!(
        stats.failures_injected > 0,
        "some attempts failed and were retried"
    );

    // The store records outcomes in batches (at most 100 ms apart): give it a moment.
    let mut status = notify_status(&data);
    for _ in 0..50 {
        if status.contains("pending 0, given up 0") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        status = notify_status(&data);
    }
    assert!(
        status.contains("pending 0, given up 0"),
        "nothing pending or given up:\n{status}"
    );
    server.terminate();
    assert_replay_check(&data);
}

fn notify_status(data: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["notify", "status", "--data"])
        .arg(data)
        .output()
        .expect("run sluice notify status");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sluice admin notify ARGS --notify-key KEY --secret-out FILE` for merchant 1001: the exit
/// status, the JSON lines, and the new secret when there is one.
fn notify_admin(
    addr: SocketAddr,
    data: &Path,
    dir: &Path,
    args: &[&str],
) -> (bool, Vec<serde_json::Value>, Option<Vec<u8>>) {
    let key = data.join("keys").join("notify.key").display().to_string();
    let secret_file = dir.join("rotated.secret");
    let _ = std::fs::remove_file(&secret_file);
    let secret_out = secret_file.display().to_string();
    let mut all: Vec<&str> = vec!["notify"];
    all.extend_from_slice(args);
    if args[0] != "remove" {
        all.extend_from_slice(&["--notify-key", &key, "--secret-out", &secret_out]);
    }
    let (ok, lines) = admin(addr, &all);
    let secret = std::fs::read_to_string(&secret_file)
        .ok()
        .map(|s| s.trim().as_bytes().to_vec());
    (ok, lines, secret)
}

#[test]
fn a_rotation_signs_with_both_secrets_and_bad_settings_are_refused() {
    let receiver = Receiver::start(ReceiverConfig::default()).expect("start the receiver");
    let settings = Settings {
        simulator: true,
        ..Settings::default()
    };
    let (dir, mut server) = start_server("notify-rotation", &settings);
    let (addr, data) = (server.addr, dir.join("data"));
    let url = receiver.url(1001);
    let set = ["set", "--merchant", "1001", "--url", url.as_str()];
    let (ok, _, first) = notify_admin(addr, &data, &dir.path, &set);
    let first = first.filter(|_| ok).expect("set gives a secret");
    // Refused, with the reason, and nothing changes: a URL that is not http(s), an unknown
    // merchant, a rotation window past a week.
    for bad in [
        vec!["set", "--merchant", "1001", "--url", "ftp://m.example/n"],
        vec!["set", "--merchant", "999999", "--url", url.as_str()],
        vec!["rotate", "--merchant", "1001", "--window", "8d"],
    ] {
        let (ok, lines, secret) = notify_admin(addr, &data, &dir.path, &bad);
        assert!(
            !ok && secret.is_none(),
            "{bad:?} must be refused: {lines:?}"
        );
    }
    let rotate = ["rotate", "--merchant", "1001", "--window", "1d"];
    let (ok, _, second) = notify_admin(addr, &data, &dir.path, &rotate);
    let second = second.filter(|_| ok).expect("rotate gives a secret");
    assert_ne!(first, second);
    // The merchant knows only the new secret: every notification verifies (both sign).
    // A merchant that knows only the new secret, then one still on the old secret: every
    // notification verifies either way (both sign during the window).
    for (secret, seed) in [(second, "1"), (first, "2")] {
        receiver.set_secrets(1001, vec![secret]);
        let mut load = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["loadgen", "--addr", &addr.to_string(), "--rate", "300"])
            .args([
                "--duration",
                "2",
                "--merchants",
                "1001",
                "--seed",
                seed,
                "--json",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sluice loadgen");
        assert!(load.wait().expect("loadgen").success());
        std::thread::sleep(Duration::from_millis(500));
        let (ids, _) = expected(&data);
        assert!(ids.len() > 100, "only {} notifications", ids.len());
        assert!(receiver.wait_for(ids.len() as u64, Duration::from_secs(30)));
        assert_eq!(receiver.stats().bad_signatures, 0, "seed {seed}");
    }
    let (ok, _, _) = notify_admin(addr, &data, &dir.path, &["remove", "--merchant", "1001"]);
    assert!(ok, "remove");
    server.terminate();
    assert_replay_check(&data);
}

/// Sets every merchant's notify settings through `sluice admin notify set` (the secret written
/// to a file only the owner reads) and hands the secrets to the receiver; returns how many.
fn set_secrets(addr: SocketAddr, data: &Path, dir: &Path, receiver: &Receiver) -> usize {
    let key: PathBuf = data.join("keys").join("notify.key");
    let mut set = 0;
    for m in MERCHANTS {
        let secret_file = dir.join(format!("merchant-{m}.secret"));
        let merchant = m.to_string();
        admin_ok(
            addr,
            &[
                "notify",
                "set",
                "--merchant",
                &merchant,
                "--url",
                &receiver.url(m),
                "--notify-key",
                &key.display().to_string(),
                "--secret-out",
                &secret_file.display().to_string(),
            ],
        );
        let secret = std::fs::read_to_string(&secret_file).expect("the secret file");
        receiver.set_secrets(m, vec![secret.trim().as_bytes().to_vec()]);
        set += 1;
    }
    set
}
