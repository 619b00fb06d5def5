//! `sluice channel-sim`: simulated payment channels as real connectors over TCP. Each channel logs
//! in with the channel role, receives Dispatch / RefundDispatch and answers ChannelResult /
//! RefundChannelResult after a latency drawn from its model, with scheduled outages; answers
//! ChannelControl from its book; suffers the faults of its profile (`--faults`); seeded, so a run
//! is reproducible. The server's in-process simulator plays the same model (gateway/src/sim.rs).
//! With `--book PATH` the channels' book is kept in a file (gateway/src/sim_book_file.rs) and read
//! back at start: a channel-sim killed and started again keeps its truth, as a wallet does.

use clap::Args;
use sluice_gateway::client::{Client, ClientError};
use sluice_gateway::config::{Config, DEFAULT_CONFIG, SimChannel, SimOutage};
use sluice_gateway::sim::{SimReply, Simulator};
use sluice_gateway::sim_bills::{BillChannel, bill_channels};
use sluice_gateway::sim_bills_days::DayCloser;
use sluice_gateway::sim_bills_inject::{BillOptions, Class};
use sluice_gateway::sim_book::{Book, Record};
use sluice_gateway::sim_book_file::BookFile;
use sluice_gateway::sim_faults::Faults;
use sluice_gateway::sim_payout::SimPayoutChannel;
use sluice_node::wall_clock_ns;
use sluice_protocol::*;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Args)]
pub struct ChannelSimArgs {
    /// Server address.
    #[arg(long, default_value = "127.0.0.1:7700")]
    pub addr: SocketAddr,
    /// Channels to play (comma-separated ids); default: every channel of the simulator section.
    #[arg(long)]
    pub channels: Option<String>,
    /// Configuration whose [simulator] section gives the channel models (default: the embedded one).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Seed of the outcomes and latencies.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Scheduled outage, repeatable: CHANNEL:FROM-TO[:MODE] in seconds since start, MODE error
    /// (default), decline or timeout. Example: --outage 2:5-15 (alipay fails from second 5 to 15).
    #[arg(long)]
    pub outage: Vec<String>,
    /// Secret of the channel keys (ch-wechat, ch-alipay, ... in the embedded configuration).
    #[arg(long, default_value = "sluice-demo-channel")]
    pub secret: String,
    /// Stop after this many seconds (default: run until killed).
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Fault profile, repeatable: [CHANNEL:]NAME[=RATE],... with NAME late, lost, duplicate,
    /// disconnect, slow-queries, silent-queries (a name alone takes its default rate), or late-ms, duplicate-ms,
    /// disconnect-ms, query-delay-ms (milliseconds). Without CHANNEL it applies to every channel
    /// (instead of the configuration's [simulator.faults]); with it, to that channel only.
    /// Example: --faults late,lost,duplicate --faults 2:slow-queries=0.5. See docs/OPERATIONS.md.
    #[arg(long, value_name = "PROFILE")]
    pub faults: Vec<String>,
    /// The channels' book, kept in this file (append-only, one record a line, written before the
    /// answer it causes is sent) and read back at start, so a restarted channel-sim keeps its truth.
    #[arg(long, value_name = "PATH")]
    pub book: Option<PathBuf>,
    /// Also fdatasync the book file at every write (against power loss, not only a kill).
    #[arg(long)]
    pub book_sync: bool,
    /// Write each channel's bills into DIR/<channel_id>/ (its layout's file name, and the
    /// ground truth <yyyy-mm-dd>.expected.json): a day's once the channel's clock (the server's
    /// event time) has passed its end plus the timing tolerance, the rest at shutdown.
    #[arg(long, value_name = "DIR")]
    pub bills_dir: Option<PathBuf>,
    /// Inject each discrepancy class into this share of the bills' rows (0 to 1/7).
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub bill_discrepancies: f64,
    /// Seed of the injected discrepancies.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub bill_seed: u64,
    /// The classes injected, comma-separated (default: all): missing_on_channel,
    /// missing_on_platform, amount_mismatch, status_mismatch, fee_mismatch, duplicate, timing.
    #[arg(long, value_name = "LIST")]
    pub bill_classes: Option<String>,
    /// Reconciliation's timing tolerance, seconds: a `timing` row is a capture in the last half of
    /// it before a day's end, and a day's bill waits this long past its end.
    #[arg(long, value_name = "S", default_value_t = 600)]
    pub bill_timing_tolerance_s: u64,
    /// The share of timing rows (captures in the last half of the tolerance before a bill day's
    /// end) moved across midnight; default: the discrepancy rate.
    #[arg(long)]
    pub bill_timing_rate: Option<f64>,
}

/// The bill options of the command line; an error names the flag at fault.
pub fn bill_options(args: &ChannelSimArgs) -> Result<Option<BillOptions>, String> {
    let asked = args.bill_discrepancies != 0.0 || args.bill_classes.is_some();
    if args.bills_dir.is_none() {
        return match asked {
            true => Err("--bill-discrepancies and --bill-classes need --bills-dir".into()),
            false => Ok(None),
        };
    }
    let classes = match &args.bill_classes {
        None => Class::ALL.to_vec(),
        Some(list) => list
            .split(',')
            .map(|name| {
                Class::from_name(name.trim())
                    .ok_or_else(|| format!("--bill-classes: {name:?} is not a discrepancy class"))
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let options = BillOptions {
        discrepancy_rate: args.bill_discrepancies,
        seed: args.bill_seed,
        classes,
        timing_tolerance_s: args.bill_timing_tolerance_s,
        timing_rate: args.bill_timing_rate,
    };
    options
        .check()
        .map_err(|e| format!("--bill-discrepancies: {e}"))?;
    Ok(Some(options))
}

/// The key id the embedded configuration gives each demo channel.
pub(crate) fn key_for(channel: u16) -> Option<&'static str> {
    match channel {
        1 => Some("ch-wechat"),
        2 => Some("ch-alipay"),
        3 => Some("ch-unionpay"),
        4 => Some("ch-stripe"),
        5 => Some("ch-paypal"),
        9 => Some("ch-bank"),
        _ => None,
    }
}

/// Parses CHANNEL:FROM-TO[:MODE].
pub fn parse_outage(text: &str) -> Result<(u16, SimOutage), String> {
    let bad = || format!("--outage {text:?}: expected CHANNEL:FROM-TO[:MODE], e.g. 2:5-15:error");
    let mut parts = text.split(':');
    let channel: u16 = parts.next().and_then(|c| c.parse().ok()).ok_or_else(bad)?;
    let (from, to) = parts
        .next()
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    let from_s: f64 = from.parse().map_err(|_| bad())?;
    let to_s: f64 = to.parse().map_err(|_| bad())?;
    let mode = parts.next().unwrap_or("error").to_string();
    let valid =
        from_s >= 0.0 && to_s >= from_s && matches!(mode.as_str(), "error" | "decline" | "timeout");
    if !valid {
        return Err(bad());
    }
    Ok((channel, SimOutage { from_s, to_s, mode }))
}

/// Parses `--faults [CHANNEL:]PROFILE`.
pub fn parse_faults(text: &str) -> Result<(Option<u16>, Faults), String> {
    let (channel, profile) = match text.split_once(':') {
        Some((c, p)) => {
            let c = c
                .parse()
                .map_err(|_| format!("--faults {text:?}: {c:?} is not a channel id"))?;
            (Some(c), p)
        }
        None => (None, text),
    };
    Ok((channel, Faults::parse(profile)?))
}

/// The channel models to play, their faults and bill settings, and the payout channels.
type Models = (
    Vec<SimChannel>,
    Faults,
    Vec<BillChannel>,
    Vec<SimPayoutChannel>,
);

/// The channel models to play: the configuration's simulator section, narrowed to `--channels`,
/// with the outages and faults of the command line; the faults of every other channel; and the
/// channels' prices and bill settings.
fn models(args: &ChannelSimArgs) -> Result<Models, String> {
    let text = match &args.config {
        Some(p) => std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?,
        None => DEFAULT_CONFIG.to_string(),
    };
    let config = Config::parse(&text).map_err(|e| e.to_string())?;
    let mut models = config.simulator.channels.clone();
    let mut payouts = config.simulator.payout_channels.clone();
    let mut faults = config.simulator.faults.clone();
    if let Some(list) = &args.channels {
        let wanted: Vec<u16> = list
            .split(',')
            .map(|c| {
                c.trim()
                    .parse()
                    .map_err(|_| format!("--channels: {c:?} is not an id"))
            })
            .collect::<Result<_, _>>()?;
        models.retain(|m| wanted.contains(&m.channel_id));
        payouts.retain(|m| wanted.contains(&m.channel_id));
        if models.len() + payouts.len() != wanted.len() {
            return Err("--channels names a channel the simulator section does not model".into());
        }
    }
    fn model(models: &mut [SimChannel], channel: u16) -> Result<&mut SimChannel, String> {
        models
            .iter_mut()
            .find(|m| m.channel_id == channel)
            .ok_or_else(|| format!("channel {channel} is not simulated"))
    }
    for o in &args.outage {
        let (channel, outage) = parse_outage(o)?;
        model(&mut models, channel)?.outages.push(outage);
    }
    for f in &args.faults {
        match parse_faults(f)? {
            (Some(channel), profile) => model(&mut models, channel)?.faults = Some(profile),
            (None, profile) => faults = profile,
        }
    }
    if models.is_empty() && payouts.is_empty() {
        return Err("no channel to simulate".into());
    }
    Ok((models, faults, bill_channels(&config), payouts))
}

/// The book file shared by the channel threads, and the records it held at start.
type SharedBook = Option<Arc<Mutex<BookFile>>>;

fn open_book(args: &ChannelSimArgs) -> Result<(SharedBook, Vec<Record>), String> {
    let Some(path) = &args.book else {
        return Ok((None, Vec::new()));
    };
    let (file, records) = BookFile::open(path, args.book_sync)?;
    eprintln!(
        "channel-sim: book {} ({} records)",
        path.display(),
        records.len()
    );
    Ok((Some(Arc::new(Mutex::new(file))), records))
}

/// The records of `channel` (every record names its channel).
fn book_of(channel: u16, records: &[Record], persisted: bool) -> Book {
    let mut book = Book::new(persisted);
    for r in records {
        let of = match r {
            Record::Attempt { entry, .. } => entry.channel_id,
            Record::Refund { entry, .. } => entry.channel_id,
            Record::Close { channel_id, .. } | Record::Reverse { channel_id, .. } => *channel_id,
        };
        if of == channel {
            book.apply(r);
        }
    }
    book
}

pub fn run(args: ChannelSimArgs) -> Result<(), String> {
    let (models, faults, bill_channels, payouts) = models(&args)?;
    let bill_options = bill_options(&args)?;
    let (book_file, records) = open_book(&args)?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone()).map_err(|e| e.to_string())?;
    }
    let start_ns = wall_clock_ns();
    let deadline_ns = args.seconds.map(|s| start_ns + (s * 1e9) as u64);
    let mut threads = crate::channel_sim_payout::spawn(&args, payouts, deadline_ns, &stop)?;
    for (i, model) in models.into_iter().enumerate() {
        let channel = model.channel_id;
        let key = key_for(channel).ok_or_else(|| {
            format!("channel {channel} has no demo key; use the ch-* keys of the embedded config")
        })?;
        let client = Client::login(args.addr, Role::Channel, key, &args.secret)
            .map_err(|e| format!("channel {channel}: {e}"))?;
        eprintln!("channel-sim: channel {channel} logged in as {key}");
        let seed = args.seed.wrapping_add(i as u64 * 0x9E37_79B9);
        let book = book_of(channel, &records, book_file.is_some());
        let bill_channel = bill_channels.iter().find(|c| c.channel_id == channel);
        let bills = match (&args.bills_dir, &bill_options, bill_channel) {
            (Some(dir), Some(options), Some(c)) => {
                let mut closer = DayCloser::new(c.clone(), options.clone(), dir.clone());
                closer.observe_book(&book);
                Some(closer)
            }
            (Some(_), _, None) => {
                return Err(format!(
                    "channel {channel} has no bill layout (set bill_format)"
                ));
            }
            _ => None,
        };
        let sim = Simulator::new(&[model], seed, start_ns, 1 << 16)
            .with_faults(faults.clone())
            .with_book(book)
            .with_bill_channels(bill_channel.into_iter().cloned().collect());
        let connector = Connector {
            client: Some(client),
            sim,
            book_file: book_file.clone(),
            channel,
            login: (args.addr, key, args.secret.clone()),
            counts: (0, 0, 0),
            bills,
        };
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || {
            connector.serve(deadline_ns, &stop)
        }));
    }
    let mut result = Ok(());
    for t in threads {
        match t.join() {
            Ok(Ok(stats)) => eprintln!("channel-sim: {stats}"),
            Ok(Err(e)) => result = Err(e),
            Err(_) => result = Err("a channel thread panicked".into()),
        }
    }
    result
}

/// One channel's connector: its connection (none while a disconnect fault lasts), its simulator
/// and the shared book file.
struct Connector {
    client: Option<Client>,
    sim: Simulator,
    book_file: SharedBook,
    channel: u16,
    login: (SocketAddr, &'static str, String),
    /// Dispatches (and refund dispatches), controls, answers sent.
    counts: (u64, u64, u64),
    /// `--bills-dir`: the channel's bills, written as its days finish.
    bills: Option<DayCloser>,
}

impl Connector {
    /// Answers the channel's dispatches and controls until stopped. Returns a summary line.
    fn serve(mut self, deadline_ns: Option<u64>, stop: &AtomicBool) -> Result<String, String> {
        let channel = self.channel;
        let mut last_heartbeat = wall_clock_ns();
        let mut last_bills = last_heartbeat;
        loop {
            let now = wall_clock_ns();
            if stop.load(Ordering::Acquire) || deadline_ns.is_some_and(|d| now >= d) {
                if let Some(c) = self.client.as_mut() {
                    let _ = c.send(&Logout {
                        reason: ReasonCode::None,
                        text: codec::text("channel-sim stopping"),
                    });
                }
                self.write_bills(now, true)?;
                return Ok(self.summary());
            }
            if now.saturating_sub(last_bills) > 1_000_000_000 {
                self.write_bills(now, false)?;
                last_bills = now;
            }
            if let Some(until_ns) = self.sim.take_disconnect() {
                self.disconnect(until_ns, stop)?;
                continue;
            }
            self.send_due(now)?;
            let Some(client) = self.client.as_mut() else {
                continue;
            };
            if now.saturating_sub(last_heartbeat) > 500_000_000 {
                client
                    .send(&Heartbeat { timestamp_ns: now })
                    .map_err(|e| format!("channel {channel}: {e}"))?;
                last_heartbeat = now;
            }
            let wait = self
                .sim
                .next_due_ns()
                .map_or(Duration::from_millis(20), |d| {
                    Duration::from_nanos(d.saturating_sub(now)).min(Duration::from_millis(20))
                });
            let message = client.recv(wait.max(Duration::from_micros(100)));
            self.handle(message)?;
        }
    }

    fn summary(&self) -> String {
        let (dispatches, controls, answers) = self.counts;
        let f = self.sim.fault_counts();
        format!(
            "channel {}: {dispatches} dispatches, {controls} controls, {answers} answers; faults: {} late, {} lost, {} duplicated, {} disconnects ({} unseen, {} lost with them), {} controls slowed, {} unanswered",
            self.channel,
            f.late,
            f.lost,
            f.duplicated,
            f.disconnects,
            f.unseen,
            f.lost_disconnected,
            f.controls_slowed,
            f.controls_unanswered
        )
    }

    /// `--bills-dir`: writes the days that have finished (all that remain when `last`).
    fn write_bills(&mut self, now: u64, last: bool) -> Result<(), String> {
        let Some(bills) = self.bills.as_mut() else {
            return Ok(());
        };
        let book = self.sim.book();
        let written = match last {
            true => bills.finish(book, now),
            false => bills.poll(book, now),
        }
        .map_err(|e| format!("channel {}: bills: {e}", self.channel))?;
        for w in written {
            eprintln!(
                "channel-sim: channel {} bill {} ({} lines, {} discrepancies)",
                self.channel,
                w.path.display(),
                w.manifest.lines,
                w.manifest.discrepancies.len()
            );
        }
        Ok(())
    }

    /// Writes the book's new records (before the answers they cause go out).
    fn persist(&mut self) -> Result<(), String> {
        let records = self.sim.take_records();
        match &self.book_file {
            Some(file) if !records.is_empty() => file
                .lock()
                .map_err(|_| "the book file's lock is poisoned".to_string())?
                .append(&records),
            _ => Ok(()),
        }
    }

    /// Sends what is due at `now`.
    fn send_due(&mut self, now: u64) -> Result<(), String> {
        while let Some((_, reply)) = self.sim.due(now) {
            self.persist()?;
            let Some(client) = self.client.as_mut() else {
                continue;
            };
            let sent = match &reply {
                SimReply::Payment(r) => client.send(r),
                SimReply::Refund(r) => client.send(r),
                SimReply::Control(r) => client.send(r),
            };
            sent.map_err(|e| format!("channel {}: send: {e}", self.channel))?;
            self.counts.2 += 1;
        }
        Ok(())
    }

    /// The server's event time on a message to the channel: the channel's clock for its bills.
    fn observe(&mut self, at_ns: u64) {
        if let Some(bills) = self.bills.as_mut() {
            bills.observe(at_ns);
        }
    }

    fn handle(&mut self, message: Result<Option<AnyMessage>, ClientError>) -> Result<(), String> {
        let channel = self.channel;
        let now = wall_clock_ns();
        match message {
            Ok(Some(AnyMessage::Dispatch(d))) => {
                self.counts.0 += 1;
                self.observe(d.at_ns);
                self.sim.on_dispatch(&d, now);
            }
            Ok(Some(AnyMessage::RefundDispatch(d))) => {
                self.counts.0 += 1;
                self.observe(d.at_ns);
                self.sim.on_refund(&d, now);
            }
            Ok(Some(AnyMessage::ChannelControl(c))) => {
                self.counts.1 += 1;
                self.observe(c.at_ns);
                self.sim.on_control(&c, now);
            }
            Ok(Some(AnyMessage::Logout(l))) => {
                return Err(format!(
                    "channel {channel}: server logged out: {:?} {}",
                    l.reason, l.text
                ));
            }
            Ok(Some(AnyMessage::Reject(r))) => eprintln!(
                "channel-sim: channel {channel}: reject {:?} {}",
                r.reason, r.text
            ),
            Ok(_) => {}
            Err(ClientError::Closed) => {
                return Err(format!(
                    "channel {channel}: connection closed by the server"
                ));
            }
            Err(e) => return Err(format!("channel {channel}: {e}")),
        }
        self.persist()
    }

    /// A disconnect fault: the connection is dropped (no logout), and opened again once the fault
    /// is over. What the server sends meanwhile is lost; what the channel did stands in its book.
    fn disconnect(&mut self, until_ns: u64, stop: &AtomicBool) -> Result<(), String> {
        self.persist()?;
        self.client = None;
        let ms = until_ns.saturating_sub(wall_clock_ns()) / 1_000_000;
        eprintln!(
            "channel-sim: channel {} disconnected for {ms} ms",
            self.channel
        );
        while wall_clock_ns() < until_ns && !stop.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(10));
        }
        if stop.load(Ordering::Acquire) {
            return Ok(());
        }
        let (addr, key, secret) = &self.login;
        // The server may still be closing the old session: try a few times.
        for _ in 0..50 {
            match Client::login(*addr, Role::Channel, key, secret) {
                Ok(c) => {
                    self.client = Some(c);
                    return Ok(());
                }
                Err(_) if !stop.load(Ordering::Acquire) => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => return Err(format!("channel {}: login again: {e}", self.channel)),
            }
        }
        Err(format!("channel {}: could not log in again", self.channel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_parse() {
        let (c, o) = parse_outage("2:5-15").unwrap();
        assert_eq!(
            (c, o.from_s, o.to_s, o.mode.as_str()),
            (2, 5.0, 15.0, "error")
        );
        let (_, o) = parse_outage("1:0.5-2:timeout").unwrap();
        assert_eq!(o.mode, "timeout");
        assert!(parse_outage("2:15-5").is_err());
        assert!(parse_outage("x:1-2").is_err());
        assert!(parse_outage("2:1-2:explode").is_err());
    }

    #[test]
    fn bill_flags_are_checked() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: ChannelSimArgs,
        }
        let parse = |flags: &[&str]| {
            let cli =
                Cli::try_parse_from(std::iter::once("channel-sim").chain(flags.iter().copied()))
                    .expect("flags");
            bill_options(&cli.args)
        };
        assert_eq!(parse(&[]), Ok(None));
        let options = parse(&[
            "--bills-dir",
            "b",
            "--bill-discrepancies",
            "0.1",
            "--bill-seed",
            "3",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(
            (
                options.discrepancy_rate,
                options.seed,
                options.classes.len()
            ),
            (0.1, 3, 7)
        );
        let one = parse(&[
            "--bills-dir",
            "b",
            "--bill-classes",
            "timing",
            "--bill-discrepancies",
            "0.5",
        ]);
        assert_eq!(one.unwrap().unwrap().classes, vec![Class::Timing]);
        assert!(
            parse(&["--bill-discrepancies", "0.1"]).is_err(),
            "no --bills-dir"
        );
        assert!(
            parse(&["--bills-dir", "b", "--bill-discrepancies", "0.5"]).is_err(),
            "over 1/7"
        );
        assert!(parse(&["--bills-dir", "b", "--bill-discrepancies=-1"]).is_err());
        assert!(parse(&["--bills-dir", "b", "--bill-discrepancies=NaN"]).is_err());
        assert!(parse(&["--bills-dir", "b", "--bill-classes", "late"]).is_err());
    }

    #[test]
    fn fault_profiles_parse_for_all_channels_or_one() {
        let (c, f) = parse_faults("late,lost=0.5").unwrap();
        assert_eq!((c, f.late, f.lost), (None, 0.01, 0.5));
        let (c, f) = parse_faults("2:slow-queries").unwrap();
        assert_eq!((c, f.slow_queries), (Some(2), 0.3));
        assert!(parse_faults("x:late").is_err());
        assert!(parse_faults("late=7").is_err());
    }
}
