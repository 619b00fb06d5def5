//! Merchant credit in the demo's scripted month (docs/CREDIT.md), for the default configuration
//! (its `[credit]` policy: CNY, a 30-day window, 30 % of the settled flow, at most 50,000.00 CNY,
//! 0.05 % a day, 20 % of each settlement repays, default after 30 days overdue).
//!
//! What the demo should show, day by day (day 0 = the month's first day):
//! - days 0–29: shop 1001 takes twenty 500.00 CNY wallet payments a day from acquirer 1; each
//!   day's income settles the next day (T+1; 5 % deposit held 7 days), so the shop's settled
//!   flow grows by 9,000.00 CNY a day (its share after the split);
//! - day 14: `CreditQuery` shows a flow of 126,000.00 and a limit of 37,800.00 (30 %); a `LoanRequest` of 60,000.00 (loan 24002) is refused `CreditLimitExceeded` and moves
//!   nothing; one of 20,000.00 over 30 days (loan 24001) is within it and goes to the shop's
//!   available balance at once;
//! - days 15–29: each settlement gives 20 % of what it credits to the loan, interest first; the
//!   loan accrues 10.00 CNY a day on 20,000.00 and less as it is repaid; `CreditQuery` on day 21
//!   shows it partly repaid (11,970.00 repaid, 8,072.10 principal left);
//! - day 29: `CreditQuery` shows loan 24001 Closed: repaid in full from settlements, with the
//!   53.75 of interest it accrued (interest_income in the ledger; 20,053.75 repaid in all), and
//!   the limit back to the 50,000.00 cap.
//!
//! Each entry is (day, message): payments are sent by acquirer 1 (merchant 1001's), the credit
//! inputs by an admin; the day's payments before its credit inputs.

use sluice_protocol::*;

/// The shop that borrows.
pub const SHOP: u32 = 1001;
/// The loan within the limit, and the one over it.
pub const LOAN: u64 = 24_001;
pub const LOAN_OVER_LIMIT: u64 = 24_002;
/// Payments a day, and each one's amount (minor units).
const PAYMENTS_PER_DAY: u64 = 20;
const PAYMENT_MINOR: i64 = 50_000;

fn payment(day: u32, i: u64) -> PaymentRequest {
    let request_id = 24_000_000 + u64::from(day) * 1_000 + i;
    PaymentRequest {
        request_id,
        merchant_id: SHOP,
        promoter_id: 0,
        amount_minor: PAYMENT_MINOR,
        currency: 156,
        method: PaymentMethod::Wallet,
        scene: Scene::App,
        goods_category: 0,
        user_id: 240_000 + request_id % 5_000,
        device_id: 250_000 + request_id % 5_000,
        ip: Ip::v4([10, 24, (request_id >> 8) as u8, request_id as u8]),
        card_fingerprint: Chars::default(),
        card_bin: 0,
        country: Chars::new("CN"),
        ..PaymentRequest::default()
    }
}

fn query() -> AnyMessage {
    CreditQuery {
        merchant_id: SHOP,
        loan_id: 0,
    }
    .into()
}

fn loan(loan_id: u64, amount_minor: i64) -> AnyMessage {
    LoanRequest {
        loan_id,
        merchant_id: SHOP,
        amount_minor,
        term_days: 30,
    }
    .into()
}

/// The month's script: (day 0..30, message), in order.
pub fn month_script() -> Vec<(u32, AnyMessage)> {
    let mut script = Vec::new();
    for day in 0..30u32 {
        for i in 0..PAYMENTS_PER_DAY {
            script.push((day, payment(day, i).into()));
        }
        match day {
            14 => {
                script.push((day, query()));
                script.push((day, loan(LOAN_OVER_LIMIT, 6_000_000)));
                script.push((day, loan(LOAN, 2_000_000)));
            }
            21 | 29 => script.push((day, query())),
            _ => {}
        }
    }
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_in_day_order_with_unique_requests() {
        let s = month_script();
        assert!(s.windows(2).all(|w| w[0].0 <= w[1].0));
        let mut ids: Vec<u64> = s
            .iter()
            .filter_map(|(_, m)| match m {
                AnyMessage::PaymentRequest(p) => Some(p.request_id),
                _ => None,
            })
            .collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n);
        assert_eq!(n, 30 * PAYMENTS_PER_DAY as usize);
    }
}

/// The script through an engine built from the default configuration, with every payment's
/// dispatch answered Succeeded and a pulse at the start of each day: what the doc comment says.
#[cfg(test)]
mod month {
    use super::*;
    use sluice_engine::NS_PER_DAY;
    use sluice_engine::driver::Driver;

    /// 2026-12-01 00:00:00 in UTC+8.
    const START_NS: u64 = 1_796_054_400_000_000_000;

    fn position(out: &[(sluice_engine::Dest, AnyMessage)]) -> Option<CreditPosition> {
        out.iter().find_map(|(_, m)| match m {
            AnyMessage::CreditPosition(p) => Some(p.clone()),
            _ => None,
        })
    }

    fn run_day(d: &mut Driver, day: u32, m: &AnyMessage, seen: &mut Vec<(u32, CreditPosition)>) {
        let AnyMessage::PaymentRequest(p) = m else {
            d.apply_any(1, 1, Role::Admin as u8, m);
            let out = d.decoded();
            if let Some(pos) = position(&out) {
                seen.push((day, pos));
            }
            if let AnyMessage::LoanRequest(l) = m {
                let ack = out.iter().find_map(|(_, o)| match o {
                    AnyMessage::ConfigAck(a) => Some(a.reason),
                    _ => None,
                });
                let expected = match l.loan_id {
                    LOAN => ReasonCode::None,
                    _ => ReasonCode::CreditLimitExceeded,
                };
                assert_eq!(ack, Some(expected), "loan {}", l.loan_id);
            }
            return;
        };
        let out = d.acquirer(1, p);
        let dispatch = out.iter().find_map(|(_, o)| match o {
            AnyMessage::Dispatch(x) => Some(x.clone()),
            _ => None,
        });
        let dispatch = dispatch.expect("the demo's payments are dispatched");
        let result = ChannelResult {
            order_id: dispatch.order_id,
            attempt: dispatch.attempt,
            outcome: ChannelOutcome::Succeeded,
            channel_code: 0,
            latency_us: 1_000,
            channel_ref: Chars::new("demo"),
        };
        d.channel(dispatch.channel_id, &result);
    }

    #[test]
    fn the_loan_is_within_the_limit_and_repaid_from_settlements_by_month_end() {
        let world = sluice_gateway::config::Config::default_config().world;
        let mut d = Driver::new(&world.genesis, START_NS).unwrap();
        let inputs: Vec<AnyMessage> = world.inputs.iter().map(|i| i.message.clone()).collect();
        assert!(d.configure(&inputs).is_empty());
        let mut seen = Vec::new();
        let mut today = u32::MAX;
        for (day, m) in month_script() {
            if day != today {
                today = day;
                d.set_time_ns(START_NS + u64::from(day) * NS_PER_DAY + 60_000_000_000);
                d.pulse();
                d.set_time_ns(START_NS + u64::from(day) * NS_PER_DAY + 10 * 3_600_000_000_000);
            }
            run_day(&mut d, day, &m, &mut seen);
            d.engine.verify_ledger().unwrap();
        }
        let (_, first) = &seen[0];
        assert!(
            first.flow_minor > 10_000_000 && first.limit_minor > 2_000_000,
            "{first:?}"
        );
        let (_, last) = seen.last().unwrap();
        assert_eq!(last.loan_id, LOAN);
        assert_eq!(last.loan_state, LoanState::Closed, "{last:?}");
        assert!(last.interest_accrued_minor > 0 && last.repaid_minor > 2_000_000);
    }
}
