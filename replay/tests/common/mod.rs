//! A real journal for the replay tests: the real server (in-process, simulated channels, small
//! segments so the journal spans several), driven over TCP with the blocking client, with what the
//! client saw recorded for comparison. Built once per test binary.
//!
//! The run: payments for merchants 1001–1004; one blocked by risk (block-listed user); one that
//! fails over after a retryable error on its first channel; one that fails over after its first
//! attempt times out (the pulse fires the timeout); an admin snapshot in the middle; a full and a
//! partial refund; a query of the timed-out order at the end. The simulated channels always
//! succeed outside the outages, so every outcome is known.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use sluice_gateway::client::Client;
use sluice_gateway::config::{Config, DEFAULT_CONFIG};
use sluice_gateway::server::{ServeOptions, Server, ServerReport, SimCommand};
use sluice_protocol::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long the test waits for an answer the server owes it.
pub const WAIT: Duration = Duration::from_secs(30);

/// One payment as the acquirer saw it.
#[derive(Debug, Clone)]
pub struct Paid {
    pub request: PaymentRequest,
    pub ack: PaymentAck,
    /// `None` for a payment refused at once (no result follows a rejected ack).
    pub result: Option<PaymentResult>,
}

/// One refund as the acquirer saw it.
#[derive(Debug, Clone)]
pub struct Refunded {
    pub request: RefundRequest,
    pub ack: RefundAck,
    pub result: RefundResult,
}

/// The journal and what the clients saw while it was written.
#[derive(Debug)]
pub struct Recorded {
    pub dir: PathBuf,
    pub payments: Vec<Paid>,
    pub refunds: Vec<Refunded>,
    /// Request ids of the special payments.
    pub blocked: u64,
    pub failover_error: u64,
    pub failover_timeout: u64,
    /// The sequence of the admin SnapshotRequest (a snapshot is written there).
    pub mid_snapshot_seq: u64,
    /// QueryOrder's answer for the timed-out order, at the end of the run.
    pub queried: OrderStatus,
    /// What the server reported when it stopped (last sequence, state hash).
    pub report: ServerReport,
}

impl Recorded {
    pub fn payment(&self, request_id: u64) -> &Paid {
        self.payments
            .iter()
            .find(|p| p.request.request_id == request_id)
            .unwrap_or_else(|| panic!("no payment {request_id}"))
    }

    pub fn data_dir(&self) -> sluice_replay::DataDir {
        sluice_replay::DataDir::open(&self.dir).expect("data dir")
    }
}

const TEMP_PREFIX: &str = "sluice-replay-test-";

/// A fresh directory for this process and name. The first call removes the directories that
/// earlier test processes (no longer running) left behind.
pub fn temp_dir(name: &str) -> PathBuf {
    static SWEPT: OnceLock<()> = OnceLock::new();
    SWEPT.get_or_init(remove_stale_dirs);
    let dir = std::env::temp_dir().join(format!("{TEMP_PREFIX}{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

/// Removes `sluice-replay-test-*-PID` directories whose process is gone (Linux: `/proc/PID`).
fn remove_stale_dirs() {
    if !cfg!(target_os = "linux") {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(TEMP_PREFIX) else {
            continue;
        };
        let pid = rest.rsplit('-').next().and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A copy of a data directory, removed when the test that made it passes.
pub struct DirCopy(PathBuf);

impl std::ops::Deref for DirCopy {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for DirCopy {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Copies a data directory (journal and snapshots) to a fresh place, for tests that damage it.
pub fn copy_data(src: &Path, name: &str) -> DirCopy {
    let dst = temp_dir(name);
    for sub in ["journal", "snapshots"] {
        let from = src.join(sub);
        let to = dst.join(sub);
        std::fs::create_dir_all(&to).expect("mkdir");
        for entry in std::fs::read_dir(&from).expect("read_dir") {
            let entry = entry.expect("entry");
            if entry.file_type().expect("type").is_file() {
                std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
            }
        }
    }
    DirCopy(dst)
}

/// The journal every test of this binary shares (built on first use).
pub fn recorded() -> &'static Recorded {
    static RECORDED: OnceLock<Recorded> = OnceLock::new();
    RECORDED.get_or_init(|| record(&temp_dir("journal")))
}

fn test_config(dir: &Path) -> Config {
    // Alipay (channel 2) goes silent below (the simulator's "timeout" outage, which answers no
    // question either): under policy FailOver with no query window its attempt is asked about
    // once, abandoned at the next question, and the payment fails over. Under the default policy,
    // Hold, the payment would wait for alipay's answer.
    let alipay = "name = \"alipay\"\n";
    let fail_over =
        "unknown_policy = \"fail_over\"\nquery_interval_ms = 100\nquery_window_ms = 0\n";
    let toml = DEFAULT_CONFIG.replacen(alipay, &format!("{alipay}{fail_over}"), 1);
    assert_ne!(
        toml, DEFAULT_CONFIG,
        "the default configuration names alipay"
    );
    let mut config = Config::parse(&toml).expect("default config");
    config.listen = "127.0.0.1:0".parse().expect("addr");
    config.data_dir = dir.to_path_buf();
    // Small segments: the journal spans several, and rolls are exercised.
    config.segment_size_bytes = 4 * 1024;
    config.world.genesis.orders_max = 10_000;
    config.world.genesis.refunds_max = 1_000;
    config.world.genesis.velocity_keys_max = 4_096;
    config.world.genesis.list_entries_max = 1_024;
    config.simulator.enabled = true;
    for channel in &mut config.simulator.channels {
        channel.success_rate = 1.0;
        channel.decline_rate = 0.0;
    }
    config
}

fn pay(client: &mut Client, request: &PaymentRequest) -> Paid {
    client.send(request).expect("send payment");
    let id = request.request_id;
    let ack = client
        .recv_until(WAIT, |m| match m {
            AnyMessage::PaymentAck(a) if a.request_id == id => Some(a.clone()),
            _ => None,
        })
        .expect("payment ack");
    let result = (ack.status == AckStatus::Accepted).then(|| {
        client
            .recv_until(WAIT, |m| match m {
                AnyMessage::PaymentResult(r) if r.request_id == id => Some(r.clone()),
                _ => None,
            })
            .expect("payment result")
    });
    Paid {
        request: request.clone(),
        ack,
        result,
    }
}

fn refund(client: &mut Client, request: RefundRequest) -> Refunded {
    client.send(&request).expect("send refund");
    let id = request.refund_request_id;
    let ack = client
        .recv_until(WAIT, |m| match m {
            AnyMessage::RefundAck(a) if a.refund_request_id == id => Some(a.clone()),
            _ => None,
        })
        .expect("refund ack");
    let result = client
        .recv_until(WAIT, |m| match m {
            AnyMessage::RefundResult(r) if r.refund_request_id == id => Some(r.clone()),
            _ => None,
        })
        .expect("refund result");
    Refunded {
        request,
        ack,
        result,
    }
}

fn payment(request_id: u64, merchant_id: u32, amount_minor: i64, user_id: u64) -> PaymentRequest {
    PaymentRequest {
        request_id,
        merchant_id,
        promoter_id: if request_id.is_multiple_of(3) { 501 } else { 0 },
        amount_minor,
        currency: 156,
        method: PaymentMethod::Wallet,
        scene: Scene::default(),
        goods_category: 5999,
        user_id,
        device_id: 9_000 + user_id,
        ip: Ip::v4([10, 0, 0, (request_id % 200) as u8 + 1]),
        country: Chars::new("CN"),
        ..PaymentRequest::default()
    }
}

fn record(dir: &Path) -> Recorded {
    let server = Server::start(test_config(dir), ServeOptions::default()).expect("server starts");
    let addr = server.local_addr;
    let stop = server.stop.clone();
    let sim = server.sim_control();
    let handle = std::thread::spawn(move || server.run());
    let mut acquirer =
        Client::login(addr, Role::Acquirer, "acq-a", "sluice-demo-acquirer-a").expect("login");
    let mut admin = Client::login(addr, Role::Admin, "admin", "sluice-demo-admin").expect("admin");
    let mut payments = Vec::new();
    let merchants = [1001, 1002, 1003, 1004];
    for i in 0..12u64 {
        let merchant = merchants[(i % 4) as usize];
        let request = payment(i + 1, merchant, 1_000 + 137 * i as i64, 100 + i);
        payments.push(pay(&mut acquirer, &request));
    }
    // Blocked by risk: user 666 is on the block list.
    let blocked = 50;
    payments.push(pay(&mut acquirer, &payment(blocked, 1001, 5_000, 666)));
    // The first channel of merchant 1004 (priority: 2, then 1) fails with a retryable error.
    let failover_error = 60;
    let outage = |mode: &str| SimCommand::Outage {
        channel_id: 2,
        seconds: 600.0,
        mode: mode.into(),
    };
    sim.send(outage("error")).expect("sim");
    payments.push(pay(
        &mut acquirer,
        &payment(failover_error, 1004, 4_321, 200),
    ));
    sim.send(SimCommand::Recover { channel_id: 2 })
        .expect("sim");
    // An admin snapshot in the middle of the journal.
    admin
        .send(&SnapshotRequest { flags: 0 })
        .expect("snapshot request");
    let mid_snapshot_seq = admin
        .recv_until(WAIT, |m| match m {
            AnyMessage::ConfigAck(a) if a.ref_template_id == SnapshotRequest::TEMPLATE_ID => {
                Some(a.sequence)
            }
            _ => None,
        })
        .expect("snapshot ack");
    // The first channel stays silent: the attempt's outcome is unknown when its deadline passes (a
    // pulse notices), alipay does not answer the question, and the attempt is abandoned at the
    // next one: the payment fails over.
    let failover_timeout = 70;
    sim.send(outage("timeout")).expect("sim");
    payments.push(pay(
        &mut acquirer,
        &payment(failover_timeout, 1004, 8_765, 201),
    ));
    sim.send(SimCommand::Recover { channel_id: 2 })
        .expect("sim");
    for i in 12..16u64 {
        let request = payment(
            i + 1,
            merchants[(i % 4) as usize],
            2_000 + i as i64,
            300 + i,
        );
        payments.push(pay(&mut acquirer, &request));
    }
    // A partial and a full refund of the timed-out order, and a full one of payment 2.
    let refunds = vec![
        refund(
            &mut acquirer,
            RefundRequest {
                refund_request_id: 900,
                payment_request_id: failover_timeout,
                amount_minor: 1_000,
            },
        ),
        refund(
            &mut acquirer,
            RefundRequest {
                refund_request_id: 901,
                payment_request_id: failover_timeout,
                amount_minor: 7_765,
            },
        ),
        refund(
            &mut acquirer,
            RefundRequest {
                refund_request_id: 902,
                payment_request_id: 2,
                amount_minor: 1_137,
            },
        ),
    ];
    acquirer
        .send(&QueryOrder {
            order_id: 0,
            request_id: failover_timeout,
        })
        .expect("query");
    let queried = acquirer
        .recv_until(WAIT, |m| match m {
            AnyMessage::OrderStatus(s) if s.request_id == failover_timeout => Some(s.clone()),
            _ => None,
        })
        .expect("order status");
    stop.store(true, Ordering::Release);
    let report = handle.join().expect("server thread");
    assert!(report.error.is_none(), "server failed: {:?}", report.error);
    Recorded {
        dir: dir.to_path_buf(),
        payments,
        refunds,
        blocked,
        failover_error,
        failover_timeout,
        mid_snapshot_seq,
        queried,
        report,
    }
}
