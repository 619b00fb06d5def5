//! The load of the reconciliation scenario (src/demo_recon.rs): two scripted days of payments
//! across the five channels of the default configuration — CNY wallets (WeChat Pay, Alipay), CNY
//! cards (UnionPay), USD cards (Stripe) and EUR wallets (PayPal) — paid at 10:00 and again a
//! minute before midnight (Beijing time), with partial refunds in the afternoon, some payments
//! refunded twice (two refunds of one trade). Everything over real TCP, windowed on one
//! connection; the clock moves only when the scenario moves it.

use sluice_gateway::client::Client;
use sluice_node::ScriptedClock;
use sluice_protocol::*;
use std::ops::Range;
use std::time::Duration;

pub(crate) const NS_PER_DAY: u64 = 86_400_000_000_000;
const NS_PER_MINUTE: u64 = 60_000_000_000;
/// 2026-12-01 00:00:00 in UTC+8.
pub(crate) const START_NS: u64 = 1_796_054_400_000_000_000;
const WAIT: Duration = Duration::from_secs(30);
/// Requests in flight on the connection.
const WINDOW: u64 = 256;
/// Payments per thousand paid a minute before midnight (the rest at 10:00).
const LATE_PER_MILLE: u64 = 15;

/// What the load did.
#[derive(Debug, Default, Clone)]
pub(crate) struct Loaded {
    pub payments: u64,
    pub succeeded: u64,
    pub refunds: u64,
    pub refunds_succeeded: u64,
    /// Succeeded payments per channel id (1..=5).
    pub per_channel: [u64; 6],
    /// Request ids of the succeeded payments with their amounts, for the refunds.
    paid: Vec<(u64, i64)>,
}

/// One payment of the mix: the channel it is meant for follows from merchant, currency and
/// method (the merchants' routing picks among the channels that take them).
fn payment(id: u64) -> PaymentRequest {
    let (merchant_id, currency, method, country) = match id % 10 {
        0..=4 => (1003, 156, PaymentMethod::Wallet, "CN"), // WeChat Pay or Alipay
        5 | 6 => (1002, 156, PaymentMethod::Card, "CN"),   // UnionPay
        7 | 8 => (1001, 840, PaymentMethod::Card, "US"),   // Stripe
        _ => (1001, 978, PaymentMethod::Wallet, "DE"),     // PayPal
    };
    PaymentRequest {
        request_id: id,
        merchant_id,
        promoter_id: 0,
        amount_minor: 1_000 + (id * 7_919 % 90_000) as i64,
        currency,
        method,
        scene: Scene::App,
        goods_category: 5999,
        user_id: 100_000 + id % 50_000,
        device_id: 200_000 + id % 50_000,
        ip: Ip::v4([10, (id >> 16) as u8, (id >> 8) as u8, id as u8]),
        country: Chars::new(country),
        ..PaymentRequest::default()
    }
}

/// Sends `requests` with at most WINDOW unanswered; `answer` maps each message received to
/// Some(succeeded) when it finishes a request.
fn windowed<M: Message>(
    client: &mut Client,
    requests: impl Iterator<Item = M>,
    mut answer: impl FnMut(&AnyMessage) -> Option<bool>,
) -> Result<(u64, u64), String> {
    let mut requests = requests.peekable();
    let (mut sent, mut finished, mut succeeded) = (0u64, 0u64, 0u64);
    while requests.peek().is_some() || finished < sent {
        while sent - finished < WINDOW {
            let Some(r) = requests.next() else { break };
            client.send(&r).map_err(|e| e.to_string())?;
            sent += 1;
        }
        match client.recv(WAIT).map_err(|e| e.to_string())? {
            Some(m) => {
                if let Some(ok) = answer(&m) {
                    finished += 1;
                    succeeded += u64::from(ok);
                }
            }
            None => return Err(format!("no answer in {WAIT:?} ({finished} of {sent})")),
        }
    }
    Ok((sent, succeeded))
}

impl Loaded {
    /// Pays request ids `ids` at the clock's current time.
    fn pay(&mut self, client: &mut Client, ids: Range<u64>) -> Result<(), String> {
        let mut paid = Vec::new();
        let mut per_channel = self.per_channel;
        let (sent, ok) = windowed(client, ids.map(payment), |m| match m {
            AnyMessage::PaymentAck(a) if a.status != AckStatus::Accepted => Some(false),
            AnyMessage::PaymentResult(r) => {
                let ok = r.status == FinalStatus::Succeeded;
                if ok {
                    paid.push((r.request_id, r.amount_minor));
                    per_channel[usize::from(r.channel_id).min(5)] += 1;
                }
                Some(ok)
            }
            _ => None,
        })?;
        self.per_channel = per_channel;
        self.paid.extend(paid);
        self.payments += sent;
        self.succeeded += ok;
        Ok(())
    }

    /// Refunds part of every 8th succeeded payment paid since `from` (index into `paid`), and a
    /// second part of every 40th: two refunds of one trade.
    fn refund(&mut self, client: &mut Client, from: usize) -> Result<(), String> {
        let mut requests = Vec::new();
        for (i, &(request_id, amount)) in self.paid[from..].iter().enumerate() {
            if i % 8 == 3 {
                requests.push((request_id * 4, request_id, amount * 3 / 10));
            }
            if i % 40 == 3 {
                requests.push((request_id * 4 + 1, request_id, amount / 5));
            }
        }
        let (sent, ok) = windowed(
            client,
            requests
                .into_iter()
                .map(|(id, payment, amount)| RefundRequest {
                    refund_request_id: id,
                    payment_request_id: payment,
                    amount_minor: amount,
                }),
            |m| match m {
                AnyMessage::RefundAck(a) if a.status != AckStatus::Accepted => Some(false),
                AnyMessage::RefundResult(r) => Some(r.status == FinalStatus::Succeeded),
                _ => None,
            },
        )?;
        self.refunds += sent;
        self.refunds_succeeded += ok;
        Ok(())
    }
}

/// Pays `per_day` orders on each of `days` days from START_NS (most at 10:00, some at 23:59),
/// refunds some at 15:00 each day, then moves the clock to midnight three days after the last
/// day: every bill day of `bill_days` has ended by then, plus the timing tolerance, in every
/// channel's time zone (PayPal's day ends at 16:00 Beijing time).
pub(crate) fn drive(
    client: &mut Client,
    clock: &ScriptedClock,
    days: u64,
    per_day: u64,
) -> Result<Loaded, String> {
    let mut loaded = Loaded::default();
    let late = per_day * LATE_PER_MILLE / 1000;
    for day in 0..days {
        let midnight = START_NS + day * NS_PER_DAY;
        let first = day * per_day + 1;
        let from = loaded.paid.len();
        clock.advance_to(midnight + 600 * NS_PER_MINUTE);
        loaded.pay(client, first..first + per_day - late)?;
        clock.advance_to(midnight + 900 * NS_PER_MINUTE);
        loaded.refund(client, from)?;
        clock.advance_to(midnight + NS_PER_DAY - NS_PER_MINUTE);
        loaded.pay(client, first + per_day - late..first + per_day)?;
    }
    clock.advance_to(START_NS + (days + 3) * NS_PER_DAY);
    Ok(loaded)
}

/// The bill days to write and reconcile for `days` days of load, in every channel's time zone:
/// from the day before the first (PayPal's day, 16 hours behind Beijing) to two days after the
/// last (captures moved across midnight; Stripe's payouts two days after a charge).
pub(crate) fn bill_days(days: u64) -> (u32, u32) {
    let first = ((START_NS + 8 * 3_600_000_000_000) / NS_PER_DAY) as u32;
    (first - 1, first + days as u32 + 1)
}
