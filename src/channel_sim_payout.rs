//! `sluice channel-sim` for a payout channel: a connector logged in with the channel's key (a
//! channel principal whose id is the payout channel's), answering PayoutDispatch and PayoutQuery
//! with PayoutChannelResult from the simulated bank-transfer API (`sim_payout`), and sending a
//! returned transfer's Returned unasked once the server's event time (the `at_ns` of what it
//! receives) passes its return day.

use sluice_gateway::client::{Client, ClientError};
use sluice_gateway::sim_payout::{PayoutSim, SimPayoutChannel};
use sluice_gateway::sim_payout_book::{PayoutBook, PayoutRecord};
use sluice_gateway::sim_payout_book_file::{PayoutBookFile, beside};
use sluice_node::wall_clock_ns;
use sluice_protocol::*;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::channel_sim::{ChannelSimArgs, key_for};

/// The payout book file shared by the payout channels' threads, and what it held at start.
type SharedBook = (Option<Arc<Mutex<PayoutBookFile>>>, Vec<PayoutRecord>);

/// `--book PATH`: the payout channels' book at PATH.payouts (`sim_payout_book_file`).
fn open_book(args: &ChannelSimArgs) -> Result<SharedBook, String> {
    let Some(path) = &args.book else {
        return Ok((None, Vec::new()));
    };
    let (file, records) = PayoutBookFile::open(&beside(path), args.book_sync)?;
    Ok((Some(Arc::new(Mutex::new(file))), records))
}

/// Logs every payout channel in and starts its thread.
pub fn spawn(
    args: &ChannelSimArgs,
    models: Vec<SimPayoutChannel>,
    deadline_ns: Option<u64>,
    stop: &Arc<AtomicBool>,
) -> Result<Vec<JoinHandle<Result<String, String>>>, String> {
    if models.is_empty() {
        return Ok(Vec::new());
    }
    let (file, records) = open_book(args)?;
    let mut threads = Vec::new();
    for (i, model) in models.into_iter().enumerate() {
        let channel = model.channel_id;
        let seed = args.seed.wrapping_add(i as u64 * 0x9E37_79B9);
        let key =
            key_for(channel).ok_or_else(|| format!("payout channel {channel} has no demo key"))?;
        let mut book = PayoutBook::new(file.is_some());
        records
            .iter()
            .filter(|r| r.channel_id() == channel)
            .for_each(|r| book.apply(r));
        let mut connector = PayoutConnector::login(args.addr, key, &args.secret, model, seed)?;
        connector.sim = connector.sim.with_book(book);
        connector.file = file.clone();
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            connector.serve(deadline_ns, &stop)
        }));
    }
    Ok(threads)
}

/// One payout channel's connector.
pub struct PayoutConnector {
    client: Client,
    sim: PayoutSim,
    channel: u16,
    file: Option<Arc<Mutex<PayoutBookFile>>>,
}

impl PayoutConnector {
    pub fn login(
        addr: SocketAddr,
        key: &str,
        secret: &str,
        model: SimPayoutChannel,
        seed: u64,
    ) -> Result<PayoutConnector, String> {
        let channel = model.channel_id;
        let client = Client::login(addr, Role::Channel, key, secret)
            .map_err(|e| format!("payout channel {channel}: {e}"))?;
        eprintln!("channel-sim: payout channel {channel} logged in as {key}");
        Ok(PayoutConnector {
            client,
            sim: PayoutSim::new(&[model], seed, 1 << 16),
            channel,
            file: None,
        })
    }

    /// Answers until stopped; returns a summary line.
    pub fn serve(mut self, deadline_ns: Option<u64>, stop: &AtomicBool) -> Result<String, String> {
        let channel = self.channel;
        let mut last_heartbeat = wall_clock_ns();
        loop {
            let now = wall_clock_ns();
            if stop.load(Ordering::Acquire) || deadline_ns.is_some_and(|d| now >= d) {
                let _ = self.client.send(&Logout {
                    reason: ReasonCode::None,
                    text: codec::text("channel-sim stopping"),
                });
                return Ok(self.summary());
            }
            self.persist()?;
            while let Some((_, answer)) = self.sim.due(now) {
                self.client
                    .send(&answer)
                    .map_err(|e| format!("payout channel {channel}: send: {e}"))?;
            }
            if now.saturating_sub(last_heartbeat) > 500_000_000 {
                self.client
                    .send(&Heartbeat { timestamp_ns: now })
                    .map_err(|e| format!("payout channel {channel}: {e}"))?;
                last_heartbeat = now;
            }
            let wait = self
                .sim
                .next_due_ns()
                .map_or(Duration::from_millis(20), |d| {
                    Duration::from_nanos(d.saturating_sub(now)).min(Duration::from_millis(20))
                });
            let message = self.client.recv(wait.max(Duration::from_micros(100)));
            self.handle(message)?;
        }
    }

    fn handle(&mut self, message: Result<Option<AnyMessage>, ClientError>) -> Result<(), String> {
        let channel = self.channel;
        let now = wall_clock_ns();
        match message {
            Ok(Some(AnyMessage::PayoutDispatch(d))) => self.sim.on_dispatch(&d, now),
            Ok(Some(AnyMessage::PayoutQuery(q))) => self.sim.on_query(&q, now),
            Ok(Some(AnyMessage::Logout(l))) => {
                return Err(format!(
                    "payout channel {channel}: server logged out: {:?} {}",
                    l.reason, l.text
                ));
            }
            Ok(Some(AnyMessage::Reject(r))) => eprintln!(
                "channel-sim: payout channel {channel}: reject {:?} {}",
                r.reason, r.text
            ),
            Ok(_) => {}
            Err(ClientError::Closed) => {
                return Err(format!(
                    "payout channel {channel}: connection closed by the server"
                ));
            }
            Err(e) => return Err(format!("payout channel {channel}: {e}")),
        }
        Ok(())
    }

    /// Writes the book's new records (before the answers they cause go out).
    fn persist(&mut self) -> Result<(), String> {
        let records = self.sim.take_records();
        match &self.file {
            Some(file) if !records.is_empty() => file
                .lock()
                .map_err(|_| "the payout book file's lock is poisoned".to_string())?
                .append(&records),
            _ => Ok(()),
        }
    }

    fn summary(&self) -> String {
        let c = self.sim.counts();
        let s = self.sim.book().summary(self.sim.event_ns());
        let paid: u64 = s.channels.values().map(|f| f.paid_count).sum();
        let returned: u64 = s.channels.values().map(|f| f.returned_count).sum();
        format!(
            "payout channel {}: {} dispatches ({} repeats), {} queries, {} answers; {paid} paid, {returned} returned, {} processing, {} unseen",
            self.channel, c.dispatches, c.repeats, c.queries, c.answers, s.processing, s.unseen
        )
    }
}
