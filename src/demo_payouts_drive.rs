//! The payout scenario's driver (src/demo_payouts.rs): the scripted clock moved through the
//! month day by day, payments over real TCP each morning, the balances watched for the days each
//! party settles on, and the day's payout actions, each with the payout channel's outcome
//! scripted for its party (`SimCommand::PayoutScript`) before the request that causes it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crossbeam::channel::Sender;
use sluice_gateway::client::Client;
use sluice_gateway::config::Config;
use sluice_gateway::server::SimCommand;
use sluice_gateway::sim_bridge::PayoutReport;
use sluice_gateway::sim_payout::Path;
use sluice_node::ScriptedClock;
use sluice_protocol::*;

use crate::demo_payouts::{CNY, DAYS, NS_PER_DAY, PARTIES, PAYOUT_CHANNEL, START_NS, first_day};

const NS_PER_MIN: u64 = 60_000_000_000;
const WAIT: Duration = Duration::from_secs(30);
/// Payments per merchant per day.
const PAYMENTS_PER_MERCHANT: u64 = 8;
/// How long the gateway takes at most to pulse after the clock jumped (a pulse interval and a
/// turn of its loop), with room.
const AFTER_JUMP: Duration = Duration::from_millis(30);

/// A party's balances at one observation.
pub type Balances = BalanceEntry;

/// One settlement the scenario saw: a party's pending balance fell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    pub kind: PartyKind,
    pub id: u32,
    pub day: u32,
    pub amount_minor: i64,
}

/// One payout the scenario asked for (automatic ones are in the channel's report).
#[derive(Debug, Clone)]
pub struct Asked {
    pub what: &'static str,
    pub kind: PartyKind,
    pub id: u32,
    pub day: u32,
    pub amount_minor: i64,
    /// The payout id (0: refused), the ack's state and reason.
    pub payout_id: u64,
    pub state: PayoutState,
    pub reason: ReasonCode,
    /// The channel's scripted path; the review decision, if it went to review.
    pub path: Option<Path>,
    pub review: Option<bool>,
    /// What the acquirer was told at the end (withdrawals): status and reason.
    pub result: Option<(FinalStatus, ReasonCode)>,
    /// Steps of the clock it took to end (a deadline and a query take some).
    pub steps: u32,
}

/// What the scenario drove and saw.
pub struct Driven {
    pub settled: Vec<Settled>,
    /// Per party, the days it earned on (a split line of its own).
    pub earned: BTreeMap<(PartyKind, u32), BTreeSet<u32>>,
    /// Per party, the day of its ReleaseSettlement and the day released through.
    pub released: BTreeMap<(PartyKind, u32), (u32, u32)>,
    /// Per party, its balances every morning (first day first).
    pub mornings: BTreeMap<(PartyKind, u32), Vec<Balances>>,
    /// Per party, its balances at the end.
    pub last: BTreeMap<(PartyKind, u32), Balances>,
    pub asked: Vec<Asked>,
    pub payments: u64,
    pub succeeded: u64,
    pub stats: StatsReport,
    pub channel: PayoutReport,
    /// Every WithdrawAck, WithdrawResult and WithdrawReturned the acquirers received.
    pub withdraw_news: Vec<AnyMessage>,
}

/// The scenario's connections and what they saw.
pub struct Driver<'a> {
    clock: &'a ScriptedClock,
    acquirers: [Client; 2],
    admin: Client,
    control: Sender<SimCommand>,
    news: Vec<AnyMessage>,
    last_pending: BTreeMap<(PartyKind, u32), i64>,
    driven: Driven,
    next_request: u64,
}

/// The acquirer (index in `Driver::acquirers`) of a merchant.
fn acquirer_of(merchant: u32) -> usize {
    usize::from(merchant == 2001)
}

/// Keeps what an acquirer is told about its withdrawals, whenever it comes.
fn is_withdraw_news(m: &AnyMessage) -> bool {
    matches!(
        m,
        AnyMessage::WithdrawAck(_)
            | AnyMessage::WithdrawResult(_)
            | AnyMessage::WithdrawReturned(_)
    )
}

fn text<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

impl<'a> Driver<'a> {
    pub fn connect(
        addr: SocketAddr,
        clock: &'a ScriptedClock,
        control: Sender<SimCommand>,
    ) -> Result<Driver<'a>, String> {
        let login = |role, key: &str, secret: &str| {
            Client::login(addr, role, key, secret).map_err(|e| format!("login {key}: {e:?}"))
        };
        let acquirers = [
            login(Role::Acquirer, "acq-a", "sluice-demo-acquirer-a")?,
            login(Role::Acquirer, "acq-b", "sluice-demo-acquirer-b")?,
        ];
        let admin = login(Role::Admin, "admin", "sluice-demo-admin")?;
        Ok(Driver {
            clock,
            acquirers,
            admin,
            control,
            news: Vec::new(),
            last_pending: BTreeMap::new(),
            driven: Driven {
                settled: Vec::new(),
                earned: BTreeMap::new(),
                released: BTreeMap::new(),
                mornings: BTreeMap::new(),
                last: BTreeMap::new(),
                asked: Vec::new(),
                payments: 0,
                succeeded: 0,
                stats: StatsReport::default(),
                channel: empty_report(),
                withdraw_news: Vec::new(),
            },
            next_request: 1,
        })
    }

    /// The month: setup, then each day its morning, payments and actions; then the end.
    pub fn run(mut self, config: &Config) -> Result<Driven, String> {
        for input in crate::demo_payouts::setup_inputs(config)? {
            self.admin_input(&input)?;
        }
        for i in 0..DAYS {
            self.advance(START_NS + u64::from(i) * NS_PER_DAY + 30 * NS_PER_MIN);
            self.observe(i, true)?;
            self.advance(START_NS + u64::from(i) * NS_PER_DAY + 600 * NS_PER_MIN);
            self.pay(i)?;
            self.observe(i, false)?;
            self.advance(START_NS + u64::from(i) * NS_PER_DAY + 660 * NS_PER_MIN);
            crate::demo_payouts_actions::act(&mut self, i)?;
            self.observe(i, false)?;
        }
        self.finish()
    }

    /// The end: the morning after the last day, nothing left in flight; the engine's counters
    /// and the channel's book.
    fn finish(mut self) -> Result<Driven, String> {
        self.advance(START_NS + u64::from(DAYS) * NS_PER_DAY + 30 * NS_PER_MIN);
        self.observe(DAYS, true)?;
        self.settle_payouts(10)?;
        for t in &PARTIES {
            let b = self.balance(t.kind, t.id)?;
            self.driven.last.insert((t.kind, t.id), b);
        }
        self.driven.stats = self.stats()?;
        self.driven.channel = self.channel_report()?;
        // Whatever the acquirers still have to say.
        for i in 0..2 {
            self.wait(i, Duration::from_millis(200), |_| None::<()>)?;
        }
        self.driven.withdraw_news = std::mem::take(&mut self.news);
        Ok(self.driven)
    }

    /// Moves the clock (never back) and lets the gateway pulse.
    pub fn advance(&self, to_ns: u64) {
        self.clock.advance_to(to_ns);
        std::thread::sleep(AFTER_JUMP);
    }

    pub fn now_ns(&self) -> u64 {
        self.clock.now_ns()
    }

    /// The engine's day of scenario day `i`.
    pub fn day(i: u32) -> u32 {
        first_day() + i
    }

    /// Receives on acquirer `i` until `pick` matches or `timeout` passes, keeping withdrawal
    /// news on the way.
    pub fn wait<T>(
        &mut self,
        i: usize,
        timeout: Duration,
        mut pick: impl FnMut(&AnyMessage) -> Option<T>,
    ) -> Result<Option<T>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let Some(m) = self.acquirers[i].recv(left).map_err(text)? else {
                continue;
            };
            if is_withdraw_news(&m) {
                self.news.push(m.clone());
            }
            if let Some(t) = pick(&m) {
                return Ok(Some(t));
            }
        }
    }

    pub fn send_acquirer<M: Message>(&mut self, i: usize, m: &M) -> Result<(), String> {
        self.acquirers[i].send(m).map_err(text)
    }

    /// Sends an admin input and waits for its ConfigAck: an error when refused.
    pub fn admin_input(&mut self, m: &AnyMessage) -> Result<u64, String> {
        self.admin_send(m)?;
        let ack = self
            .admin
            .recv_until(WAIT, |m| match m {
                AnyMessage::ConfigAck(a) => Some(a.clone()),
                AnyMessage::Reject(r) => Some(ConfigAck {
                    status: AckStatus::Rejected,
                    reason: r.reason,
                    ..ConfigAck::default()
                }),
                _ => None,
            })
            .map_err(text)?;
        match ack.status {
            AckStatus::Accepted => Ok(ack.object_id),
            _ => Err(format!(
                "{} refused: {:?} {}",
                m.name(),
                ack.reason,
                ack.text
            )),
        }
    }

    fn admin_send(&mut self, m: &AnyMessage) -> Result<(), String> {
        let mut frame = vec![0u8; MAX_FRAME_BYTES];
        let n = m.encode_frame(&mut frame).map_err(text)?;
        self.admin.send_raw(&frame[..n]).map_err(text)
    }

    /// An admin PayoutRequest; its PayoutAck.
    pub fn payout_request(&mut self, request: PayoutRequest) -> Result<PayoutAck, String> {
        self.admin.send(&request).map_err(text)?;
        let id = request.payout_request_id;
        self.admin
            .recv_until(WAIT, |m| match m {
                AnyMessage::PayoutAck(a) if a.payout_request_id == id => Some(a.clone()),
                _ => None,
            })
            .map_err(text)
    }

    pub fn balance(&mut self, kind: PartyKind, id: u32) -> Result<Balances, String> {
        let query = BalanceQuery {
            party_kind: kind,
            party_id: id,
        };
        self.admin.send(&query).map_err(text)?;
        let report = self
            .admin
            .recv_until(WAIT, |m| match m {
                AnyMessage::BalanceReport(r) if r.party_id == id && r.party_kind == kind => {
                    Some(r.clone())
                }
                _ => None,
            })
            .map_err(text)?;
        let entry = report.balances.iter().find(|b| b.currency == CNY);
        Ok(entry.copied().unwrap_or_default())
    }

    pub fn stats(&mut self) -> Result<StatsReport, String> {
        self.admin.send(&StatsQuery { flags: 0 }).map_err(text)?;
        self.admin
            .recv_until(WAIT, |m| match m {
                AnyMessage::StatsReport(s) => Some(s.clone()),
                _ => None,
            })
            .map_err(text)
    }

    pub fn channel_report(&self) -> Result<PayoutReport, String> {
        let (tx, rx) = crossbeam::channel::bounded(1);
        self.control
            .send(SimCommand::PayoutReport(tx))
            .map_err(|_| "the simulator is gone".to_string())?;
        rx.recv_timeout(WAIT)
            .map_err(|_| "the payout simulator did not answer".to_string())
    }

    /// The next new payout of the party takes `path` at the payout channel.
    pub fn script(&self, kind: PartyKind, id: u32, path: Path) -> Result<(), String> {
        let command = SimCommand::PayoutScript {
            channel_id: PAYOUT_CHANNEL,
            party: Some((kind, id)),
            paths: vec![path],
        };
        self.control
            .send(command)
            .map_err(|_| "the simulator is gone".to_string())
    }

    /// Steps the clock a minute at a time (at most `minutes`) until the engine has no payout in
    /// flight; returns the steps taken.
    pub fn settle_payouts(&mut self, minutes: u32) -> Result<u32, String> {
        for step in 0..=minutes {
            if self.stats()?.payouts_in_flight == 0 {
                return Ok(step);
            }
            self.advance(self.now_ns() + NS_PER_MIN);
        }
        Err(format!(
            "payouts still in flight after {minutes} minutes of event time"
        ))
    }

    pub fn request_id(&mut self) -> u64 {
        self.next_request += 1;
        self.next_request
    }

    pub fn record(&mut self, asked: Asked) {
        self.driven.asked.push(asked);
    }

    pub fn release(
        &mut self,
        kind: PartyKind,
        id: u32,
        i: u32,
        through_day: u32,
    ) -> Result<(), String> {
        let release = ReleaseSettlement {
            party_kind: kind,
            party_id: id,
            through_day,
        };
        self.admin_input(&release.into())?;
        self.driven
            .released
            .insert((kind, id), (Self::day(i), through_day));
        Ok(())
    }

    /// Every party's balances: a fall of pending is a settlement on scenario day `i`.
    fn observe(&mut self, i: u32, morning: bool) -> Result<(), String> {
        for t in &PARTIES {
            let key = (t.kind, t.id);
            let b = self.balance(t.kind, t.id)?;
            let before = self.last_pending.insert(key, b.pending_minor).unwrap_or(0);
            if b.pending_minor < before {
                self.driven.settled.push(Settled {
                    kind: t.kind,
                    id: t.id,
                    day: Self::day(i),
                    amount_minor: before - b.pending_minor,
                });
            }
            if morning {
                self.driven.mornings.entry(key).or_default().push(b);
            }
        }
        Ok(())
    }

    /// The day's payments: each merchant's, every one brought by promoter 501.
    fn pay(&mut self, i: u32) -> Result<(), String> {
        let merchants = [1001u32, 1002, 1003, 1004, 2001];
        let mut waiting = [0u64; 2];
        for (m, &merchant) in merchants.iter().enumerate() {
            for k in 0..PAYMENTS_PER_MERCHANT {
                let n = (u64::from(i) * 5 + m as u64) * PAYMENTS_PER_MERCHANT + k + 1;
                let request = payment(n, merchant);
                self.send_acquirer(acquirer_of(merchant), &request)?;
                waiting[acquirer_of(merchant)] += 1;
            }
        }
        let day = Self::day(i);
        for (a, count) in waiting.into_iter().enumerate() {
            for _ in 0..count {
                let result = self.wait(a, WAIT, |m| match m {
                    AnyMessage::PaymentResult(r) => Some(Ok(r.clone())),
                    AnyMessage::PaymentAck(k) if k.status != AckStatus::Accepted => Some(Err(
                        format!("payment {} refused: {:?}", k.request_id, k.reason),
                    )),
                    _ => None,
                })?;
                let result = result.ok_or("a payment had no result in time")??;
                self.driven.payments += 1;
                if result.status == FinalStatus::Succeeded {
                    self.driven.succeeded += 1;
                    self.earned(&result, day);
                }
            }
        }
        Ok(())
    }

    /// The parties with a line of the payment's split earned on `day`.
    fn earned(&mut self, result: &PaymentResult, day: u32) {
        for line in result.split.iter().filter(|l| l.amount_minor > 0) {
            let kind = match line.role {
                PartyRole::Merchant
                | PartyRole::MerchantParent
                | PartyRole::MerchantGrandparent => PartyKind::Merchant,
                PartyRole::PromoterLevel1 | PartyRole::PromoterLevel2 => PartyKind::Promoter,
                _ => continue,
            };
            let days = self.driven.earned.entry((kind, line.party_id)).or_default();
            days.insert(day);
        }
    }
}

fn empty_report() -> PayoutReport {
    PayoutReport {
        summary: Default::default(),
        counts: Default::default(),
        payouts: Vec::new(),
        in_flight: 0,
        event_ns: 0,
    }
}

/// Payment `n` of the scenario: amounts 200.00 to 1,000.00, a payer of its own (the risk rules
/// count per user, device and address), every one brought by promoter 501.
fn payment(n: u64, merchant: u32) -> PaymentRequest {
    PaymentRequest {
        request_id: n,
        merchant_id: merchant,
        promoter_id: 501,
        amount_minor: 20_000 + (n * 7_919 % 80_000) as i64,
        currency: CNY,
        method: PaymentMethod::Wallet,
        scene: Scene::App,
        goods_category: 5999,
        user_id: 300_000 + n,
        device_id: 400_000 + n,
        ip: Ip::v4([10, 9, (n >> 8) as u8, n as u8]),
        country: Chars::new("CN"),
        ..PaymentRequest::default()
    }
}
