//! The balance yield's part of the scripted month (issue 24; docs/YIELD.md): the admin inputs,
//! by day index (0..30), for the default configuration's parties.
//!
//! What the demo should show, day by day:
//! - Day 0: the script opts in shop 1001 (keeps 1,000.00 CNY, redeems up to 50,000.00 a day at
//!   once; the configuration's `[[yield_holders]]` example has the same terms), headquarters 1002
//!   (keeps 500.00, 20,000.00 a day) and promoter 501 (keeps nothing, 1,000.00 a day).
//! - Every day after settlement, the day step sweeps each holder's available balance above its
//!   minimum into the fund (`Swept` events; the shop's available stays at 1,000.00).
//! - From day 1, each day the fund's yield of the day before is published (about 0.65 per
//!   10,000 units) and accrues to every holder: floor(position × yield / 10^8) each, what the
//!   rounding leaves of the fund's total in `yield_residual` (`YieldAccrued`, `YieldResidual`).
//! - Day 25: the shop redeems everything: 50,000.00 comes back to available at once, the rest is
//!   queued and paid on the next working day (`Redeemed`, `RedemptionQueued`,
//!   `RedemptionPaid`); the same request sent again moves nothing.
//! - Day 27: promoter 501 redeems 5,000.00 (1,000.00 at once, the rest next working day).
//! - Day 28: headquarters 1002 opts out (everything redeemed under the same rules).
//! - Day 29: YieldQuery of each holder and of the fund's totals (YieldPosition): principal,
//!   accrued yield, yield ever, queue, residual.
//!
//! `FundYield::day` in the script is a day index like the script's own; `on_days` turns them into
//! engine days from the month's first day.

use sluice_protocol::{AnyMessage, ConfigYield, FundYield, PartyKind, YieldQuery, YieldRedeem};

/// ISO 4217 numeric of the demo's currency (CNY).
const CNY: u16 = 156;
const SHOP: u32 = 1001;
const HEADQUARTERS: u32 = 1002;
const PROMOTER: u32 = 501;

/// The fund's yield per 10,000 units (4 decimals) published on day index `day` for the day
/// before: around 0.6543, moving a little from day to day as a fund's does.
fn published(day: u32) -> i64 {
    6_543 + i64::from((day * 37) % 200) - 100
}

fn opt_in(
    kind: PartyKind,
    id: u32,
    keep_minimum_minor: i64,
    instant_limit_minor: i64,
) -> AnyMessage {
    ConfigYield {
        party_kind: kind,
        party_id: id,
        currency: CNY,
        opt_in: true,
        keep_minimum_minor,
        instant_limit_minor,
    }
    .into()
}

fn redeem(request_id: u64, kind: PartyKind, id: u32, amount_minor: i64) -> AnyMessage {
    YieldRedeem {
        request_id,
        party_kind: kind,
        party_id: id,
        currency: CNY,
        amount_minor,
    }
    .into()
}

fn query(kind: PartyKind, id: u32) -> AnyMessage {
    YieldQuery {
        party_kind: kind,
        party_id: id,
        currency: CNY,
    }
    .into()
}

/// The month's yield inputs: (day index 0..30, admin input), in order.
pub fn month_script() -> Vec<(u32, AnyMessage)> {
    let mut script = vec![
        (0, opt_in(PartyKind::Merchant, SHOP, 100_000, 5_000_000)),
        (
            0,
            opt_in(PartyKind::Merchant, HEADQUARTERS, 50_000, 2_000_000),
        ),
        (0, opt_in(PartyKind::Promoter, PROMOTER, 0, 100_000)),
    ];
    for day in 1..30 {
        let fund = FundYield {
            currency: CNY,
            day: day - 1,
            yield_per_10k_e4: published(day),
        };
        script.push((day, fund.into()));
        match day {
            25 => {
                script.push((day, redeem(25_001, PartyKind::Merchant, SHOP, 0)));
                script.push((day, redeem(25_001, PartyKind::Merchant, SHOP, 0)));
            }
            27 => script.push((day, redeem(27_001, PartyKind::Promoter, PROMOTER, 500_000))),
            28 => {
                let out = ConfigYield {
                    party_kind: PartyKind::Merchant,
                    party_id: HEADQUARTERS,
                    currency: CNY,
                    opt_in: false,
                    keep_minimum_minor: 0,
                    instant_limit_minor: 0,
                };
                script.push((day, out.into()));
            }
            _ => {}
        }
    }
    script.push((29, query(PartyKind::Merchant, SHOP)));
    script.push((29, query(PartyKind::Merchant, HEADQUARTERS)));
    script.push((29, query(PartyKind::Promoter, PROMOTER)));
    script.push((29, query(PartyKind::Platform, 0)));
    script
}

/// The script with each FundYield's day index made an engine day (days since 1970-01-01 in the
/// engine's day) from the month's first day.
pub fn on_days(script: Vec<(u32, AnyMessage)>, first_day: u32) -> Vec<(u32, AnyMessage)> {
    script
        .into_iter()
        .map(|(day, m)| match m {
            AnyMessage::FundYield(f) => (
                day,
                FundYield {
                    day: first_day + f.day,
                    ..f
                }
                .into(),
            ),
            other => (day, other),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_engine::day_of;
    use sluice_engine::driver::Driver;
    use sluice_gateway::config::Config;
    use sluice_protocol::*;

    const NS_PER_DAY: u64 = 86_400_000_000_000;
    /// 2026-12-01 00:00 UTC+8 minus a little: the engine's day starts at UTC+8 midnight.
    const START_NS: u64 = 1_796_054_400_000_000_000;

    fn pay_shop(d: &mut Driver, request_id: u64) {
        let req = PaymentRequest {
            request_id,
            merchant_id: SHOP,
            promoter_id: PROMOTER,
            amount_minor: 3_000_000,
            currency: CNY,
            method: PaymentMethod::Wallet,
            scene: Scene::App,
            goods_category: 0,
            user_id: 10_000 + request_id,
            device_id: 20_000 + request_id,
            ip: Ip::v4([10, 1, (request_id >> 8) as u8, request_id as u8]),
            card_fingerprint: Chars::default(),
            card_bin: 0,
            country: Chars::new("CN"),
            ..PaymentRequest::default()
        };
        let out = d.acquirer(1, &req);
        let dispatch = out.iter().find_map(|(_, m)| match m {
            AnyMessage::Dispatch(x) => Some(x.clone()),
            _ => None,
        });
        if let Some(x) = dispatch {
            let result = ChannelResult {
                order_id: x.order_id,
                attempt: x.attempt,
                outcome: ChannelOutcome::Succeeded,
                channel_code: 0,
                latency_us: 1_000,
                channel_ref: Chars::new("demo"),
            };
            d.channel(x.channel_id, &result);
        }
    }

    /// Every input of the script is accepted by the default configuration's engine over a month
    /// of payments, and the redemption above the limit is split, then paid.
    #[test]
    fn the_month_script_applies_to_the_default_configuration() {
        let world = Config::default_config().world;
        let mut d = Driver::new(&world.genesis, START_NS).unwrap();
        let inputs: Vec<AnyMessage> = world.inputs.iter().map(|i| i.message.clone()).collect();
        assert!(d.configure(&inputs).is_empty());
        let first = day_of(START_NS, 8 * 3600);
        let script = on_days(month_script(), first);
        let mut next = 0;
        let mut redeemed = vec![];
        for day in 0..30u32 {
            d.set_time_ns(START_NS + u64::from(day) * NS_PER_DAY + 9 * 3_600_000_000_000);
            d.pulse();
            for i in 0..4 {
                pay_shop(&mut d, u64::from(day) * 10 + i + 1);
            }
            while next < script.len() && script[next].0 == day {
                d.apply_any(1, 1, Role::Admin as u8, &script[next].1);
                let out = d.decoded();
                for (_, m) in &out {
                    if let AnyMessage::ConfigAck(a) = m {
                        assert_eq!(a.status, AckStatus::Accepted, "day {day}: {a:?}");
                        if a.object_id == 25_001 {
                            redeemed.push(a.text.to_string());
                        }
                    }
                }
                next += 1;
            }
            d.engine.verify_ledger().unwrap();
        }
        // Asked twice, answered alike: 50,000.00 at once, the rest queued.
        assert_eq!(redeemed.len(), 2);
        assert_eq!(redeemed[0], redeemed[1]);
        assert!(
            redeemed[0].starts_with("instant 5000000, queued "),
            "{redeemed:?}"
        );
        assert!(!redeemed[0].ends_with("queued 0"), "{redeemed:?}");
        let y = d.engine.yields();
        let shop = y.holders[0];
        assert!(shop.yield_total_minor > 0, "{shop:?}");
        assert_eq!(
            shop.queued_minor, 0,
            "paid on the next working day: {shop:?}"
        );
        assert!(!y.holders[1].opted_in, "headquarters opted out");
        assert!(y.totals[0].declared_minor > 0);
    }
}
