//! The real server (in-process) with its journal and snapshots on a fault-injecting storage
//! (`sluice_journal::FaultyStorage`): a failing journal call of any kind — the commit's msync, a
//! segment's preparation, the rename or directory sync of a roll — stops the server cleanly with
//! the error, and every payment it acknowledged is there after a restart on the same directory
//! (nothing is acknowledged that was not written). A failing snapshot write, rename or directory
//! sync is not fatal: the server keeps serving, writes the next snapshot once the storage heals,
//! and restarts to the same state.

mod common;
use sluice_gateway::client::Client;
use sluice_gateway::config::Config;
use sluice_gateway::server::{ServeOptions, Server, ServerReport};
use sluice_journal::{Durability, FaultKind, FaultyStorage};
use sluice_protocol::*;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

fn config(dir: &Path) -> Config {
    let mut config = common::in_process_config(dir, 20_000);
    config.durability = Durability::Fsync;
    // Small segments: rolls come every few hundred inputs.
    config.segment_size_bytes = 64 * 1024;
    config
}

fn payment(request_id: u64) -> PaymentRequest {
    PaymentRequest {
        request_id,
        merchant_id: [1001, 1002, 1003, 1004][(request_id % 4) as usize],
        amount_minor: 1_000 + (request_id % 500) as i64,
        currency: 156,
        method: PaymentMethod::Wallet,
        user_id: 50_000 + request_id,
        country: Chars::new("CN"),
        ..PaymentRequest::default()
    }
}

/// A server on `storage`, running on its own thread.
struct Running {
    addr: std::net::SocketAddr,
    cursor: sluice_node::DurableCursor,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<ServerReport>,
}

fn start(dir: &Path, storage: Option<Arc<FaultyStorage>>) -> Running {
    let options = ServeOptions {
        storage: storage.map(|s| s as Arc<dyn sluice_journal::Storage>),
        ..ServeOptions::default()
    };
    let server = Server::start(config(dir), options).expect("server starts");
    let (addr, stop) = (server.local_addr, server.stop.clone());
    Running {
        addr,
        cursor: server.durable_cursor(),
        stop,
        thread: std::thread::spawn(move || server.run()),
    }
}

/// An acknowledged payment: its request id, and the journal sequence of its input.
type Acked = (u64, u64);

/// Pays in windows of 50 until the server goes away; returns the payments it acknowledged with
/// an order (the rest were refused before one existed, or never answered).
fn pay_until_the_server_stops(mut client: Client, first_id: u64) -> Vec<Acked> {
    let mut acked = Vec::new();
    let deadline = Instant::now() + WAIT;
    let mut next = first_id;
    'run: while Instant::now() < deadline {
        for id in next..next + 50 {
            if client.send(&payment(id)).is_err() {
                break 'run;
            }
        }
        next += 50;
        let mut answered = 0;
        while answered < 50 {
            match client.recv(Duration::from_secs(5)) {
                Ok(Some(AnyMessage::PaymentAck(a))) => {
                    answered += 1;
                    if a.order_id != 0 {
                        acked.push((a.request_id, a.sequence));
                    }
                }
                Ok(Some(AnyMessage::Logout(_))) | Ok(None) | Err(_) => break 'run,
                Ok(Some(_)) => {}
            }
        }
    }
    acked
}

/// Every acknowledged payment is found after a restart on the operating system's storage.
fn check_restart_keeps(dir: &Path, acked: &[Acked]) {
    let running = start(dir, None);
    let mut client = Client::login(
        running.addr,
        Role::Acquirer,
        "acq-a",
        "sluice-demo-acquirer-a",
    )
    .expect("login");
    for &(request_id, _) in acked {
        client
            .send(&QueryOrder {
                order_id: 0,
                request_id,
            })
            .expect("query");
        let status = client
            .recv_until(WAIT, |m| match m {
                AnyMessage::OrderStatus(s) if s.request_id == request_id => Some(s.clone()),
                _ => None,
            })
            .expect("status");
        assert_ne!(
            status.state,
            OrderState::NotFound,
            "payment {request_id} was acknowledged but is lost"
        );
    }
    running.stop.store(true, Ordering::Release);
    let report = running.thread.join().expect("server thread");
    assert!(report.error.is_none(), "{:?}", report.error);
}

/// A journal call of `kind` fails from its next call on, while payments flow.
fn journal_fault_stops_the_server_and_loses_no_ack(kind: FaultKind, expect_in_error: &str) {
    let test_dir = common::TestDir::new(&format!("faults-{kind:?}"));
    let dir = test_dir.path.clone();
    let storage = Arc::new(FaultyStorage::new());
    let running = start(&dir, Some(storage.clone()));
    // Some payments on healthy storage first.
    let mut acked = pay_until_limit(running.addr, 1, 400);
    // Logged in before the fault: the next pulse's commit may already hit it.
    let client = Client::login(
        running.addr,
        Role::Acquirer,
        "acq-a",
        "sluice-demo-acquirer-a",
    )
    .expect("login");
    storage.fail_from_nth(kind, storage.calls(kind) + 1);
    acked.extend(pay_until_the_server_stops(client, 10_000));
    let report = running.thread.join().expect("server thread");
    let error = report.error.expect("the server stopped on the fault");
    assert!(storage.injected(kind) > 0, "{kind:?} was injected");
    assert!(error.contains(expect_in_error), "{kind:?}: {error}");
    assert!(acked.len() >= 400, "{} acknowledged", acked.len());
    // Nothing was acknowledged past what the journal made durable before the fault.
    let durable = running.cursor.get();
    let latest = acked.iter().map(|&(_, seq)| seq).max().unwrap_or(0);
    assert!(
        latest <= durable,
        "{kind:?}: an ack for input {latest}, past the durable cursor {durable}"
    );
    assert!(
        report.last_seq > durable,
        "{kind:?}: the fault left inputs undurable"
    );
    check_restart_keeps(&dir, &acked);
}

/// Pays `count` payments from `first_id`, 50 at a time; returns those acknowledged with an order.
fn pay_until_limit(addr: std::net::SocketAddr, first_id: u64, count: u64) -> Vec<Acked> {
    let mut client =
        Client::login(addr, Role::Acquirer, "acq-a", "sluice-demo-acquirer-a").expect("login");
    let mut acked = Vec::new();
    for window in (first_id..first_id + count).collect::<Vec<_>>().chunks(50) {
        for &id in window {
            client.send(&payment(id)).expect("send");
        }
        for _ in window {
            let ack = client
                .recv_until(WAIT, |m| match m {
                    AnyMessage::PaymentAck(a) => Some(a.clone()),
                    _ => None,
                })
                .expect("ack");
            if ack.order_id != 0 {
                acked.push((ack.request_id, ack.sequence));
            }
        }
    }
    acked
}

#[test]
fn a_failed_commit_msync_stops_the_server_and_loses_no_acknowledged_payment() {
    journal_fault_stops_the_server_and_loses_no_ack(FaultKind::Flush, "journal");
}

#[test]
fn a_failed_segment_preparation_stops_the_server_and_loses_no_acknowledged_payment() {
    journal_fault_stops_the_server_and_loses_no_ack(FaultKind::PrepareSegment, "journal");
}

#[test]
fn a_failed_roll_rename_stops_the_server_and_loses_no_acknowledged_payment() {
    journal_fault_stops_the_server_and_loses_no_ack(FaultKind::Rename, "journal");
}

#[test]
fn a_failed_roll_directory_sync_stops_the_server_and_loses_no_acknowledged_payment() {
    journal_fault_stops_the_server_and_loses_no_ack(FaultKind::SyncDir, "journal");
}

/// Asks for a snapshot and waits for its ConfigAck.
fn request_snapshot(admin: &mut Client) -> u64 {
    admin.send(&SnapshotRequest { flags: 0 }).expect("send");
    admin
        .recv_until(WAIT, |m| match m {
            AnyMessage::ConfigAck(a) if a.ref_template_id == SnapshotRequest::TEMPLATE_ID => {
                Some(a.sequence)
            }
            _ => None,
        })
        .expect("snapshot ack")
}

fn snapshot_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(sluice_journal::snapshots_dir(dir))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".snap"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Waits until the snapshot writer has tried `seq` (a file for it, or a failed call of `kind`).
fn wait_for_snapshot_attempt(dir: &Path, seq: u64, storage: &FaultyStorage, kind: FaultKind) {
    let deadline = Instant::now() + WAIT;
    let name = format!("{seq:020}.snap");
    while !snapshot_files(dir).contains(&name) && storage.injected(kind) == 0 {
        assert!(
            Instant::now() < deadline,
            "the snapshot at {seq} was never tried"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_failed_snapshot_write_rename_or_directory_sync_is_survived() {
    for kind in [
        FaultKind::WriteSynced,
        FaultKind::Rename,
        FaultKind::SyncDir,
    ] {
        let test_dir = common::TestDir::new(&format!("faults-snapshot-{kind:?}"));
        let dir = test_dir.path.clone();
        let storage = Arc::new(FaultyStorage::new());
        let running = start(&dir, Some(storage.clone()));
        let mut acked = pay_until_limit(running.addr, 1, 100);
        let mut admin =
            Client::login(running.addr, Role::Admin, "admin", "sluice-demo-admin").expect("admin");
        storage.fail_next(kind);
        let failed_seq = request_snapshot(&mut admin);
        wait_for_snapshot_attempt(&dir, failed_seq, &storage, kind);
        assert_eq!(storage.injected(kind), 1, "{kind:?}");
        assert!(
            snapshot_files(&dir).is_empty(),
            "{kind:?}: no snapshot may stand after a failed write: {:?}",
            snapshot_files(&dir)
        );
        // The server still serves, and the next snapshot is written.
        acked.extend(pay_until_limit(running.addr, 1_000, 100));
        let seq = request_snapshot(&mut admin);
        wait_for_snapshot_attempt(&dir, seq, &storage, kind);
        let deadline = Instant::now() + WAIT;
        while !snapshot_files(&dir).contains(&format!("{seq:020}.snap")) {
            assert!(
                Instant::now() < deadline,
                "{kind:?}: the healed snapshot was not written"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        running.stop.store(true, Ordering::Release);
        let report = running.thread.join().expect("server thread");
        assert!(report.error.is_none(), "{kind:?}: {:?}", report.error);
        check_restart_keeps(&dir, &acked);
    }
}
