//! Order search: one order's whole story from the exported rows — the order, its routing
//! explanation (every candidate, decision, skip reason, score, rank), each attempt, the result,
//! split lines, refunds and their results, reversals, risk hits and the ledger transfers of the
//! same inputs — in time order.

use super::super::html::{esc, money, table, time_ns};
use super::{Ctx, channel_label, store_error};
use sluice_node::flow::{Order, Rows, TABLES};
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// What the search found: the page's body and its HTTP status (200, 400 or 404).
pub struct Found {
    pub status: u16,
    pub body: String,
}

fn form(out: &mut String, value: &str) {
    let _ = write!(
        out,
        "<form method=\"get\" action=\"/order\"><label>Order id <input id=\"order-id\" \
         name=\"id\" value=\"{}\" inputmode=\"numeric\" autofocus></label> \
         <button id=\"order-search\" type=\"submit\">Search</button></form>",
        esc(value)
    );
}

fn summary(out: &mut String, o: &Order, label: &dyn Fn(i32) -> String) {
    let fields: Vec<(&str, String)> = vec![
        ("Order id", o.order_id.to_string()),
        ("Created", time_ns(o.at_ns)),
        (
            "Acquirer / request",
            format!("{} / {}", o.acquirer_id, o.request_id),
        ),
        (
            "Merchant (parent, promoter)",
            format!(
                "{} ({}, {})",
                o.merchant_id, o.parent_merchant_id, o.promoter_id
            ),
        ),
        (
            "Amount",
            format!("{} (currency {})", money(o.amount_minor), o.currency),
        ),
        (
            "Method / scene / category",
            format!("{} / {} / {}", o.method, o.scene, o.goods_category),
        ),
        ("Routing strategy", o.strategy.clone()),
        (
            "Acknowledged",
            format!("{} ({})", o.ack_status, o.reject_reason),
        ),
        (
            "Risk verdict",
            format!("{} (rule {})", o.risk_action, o.risk_rule_id),
        ),
        ("First channel", label(o.first_channel_id)),
    ];
    let rows: Vec<Vec<String>> = fields
        .into_iter()
        .map(|(k, v)| vec![esc(k), esc(&v)])
        .collect();
    table(out, "order-summary", &["Field", "Value"], &rows);
}

fn routing(out: &mut String, rows: &Rows, id: i64, label: &dyn Fn(i32) -> String) {
    let mut cs: Vec<_> = rows
        .routing_candidates
        .iter()
        .filter(|c| c.order_id == id)
        .collect();
    cs.sort_by_key(|c| c.position);
    out.push_str("<h2>Routing explanation</h2>");
    if cs.is_empty() {
        out.push_str("<p class=\"note\">No routing candidates (the order was not routed).</p>");
        return;
    }
    let t: Vec<Vec<String>> = cs
        .iter()
        .map(|c| {
            let rank = if c.rank == 0 {
                "–".to_string()
            } else {
                c.rank.to_string()
            };
            vec![
                c.position.to_string(),
                esc(&label(c.channel_id)),
                esc(&c.decision),
                esc(&c.skip_reason),
                c.score.to_string(),
                rank,
            ]
        })
        .collect();
    table(
        out,
        "routing",
        &[
            "Position",
            "Channel",
            "Decision",
            "Skip reason",
            "Score",
            "Rank",
        ],
        &t,
    );
}

/// The story's events: (time ns, sequence, what happened).
fn events(rows: &Rows, id: i64, label: &dyn Fn(i32) -> String) -> Vec<(i64, i64, String)> {
    let mut ev = Vec::new();
    for o in rows.orders.iter().filter(|o| o.order_id == id) {
        ev.push((
            o.at_ns,
            o.seq,
            format!(
                "Payment requested: {} {} by {}; {} ({}); risk {}",
                money(o.amount_minor),
                o.currency,
                o.method,
                o.ack_status,
                o.reject_reason,
                o.risk_action
            ),
        ));
    }
    for h in rows.risk_hits.iter().filter(|h| h.order_id == id) {
        let mode = if h.shadow { "shadow rule" } else { "rule" };
        ev.push((
            h.at_ns,
            h.seq,
            format!(
                "Risk {mode} {} fired on the {}: {}",
                h.rule_id, h.subject, h.action
            ),
        ));
    }
    for a in rows.attempts.iter().filter(|a| a.order_id == id) {
        let probe = if a.probe { " (health probe)" } else { "" };
        ev.push((
            a.dispatched_ns,
            a.seq,
            format!(
                "Attempt {} dispatched to {}{probe}: {} (channel code {}, {} µs)",
                a.attempt,
                label(a.channel_id),
                a.status,
                a.channel_code,
                a.latency_us
            ),
        ));
    }
    for r in rows.payment_results.iter().filter(|r| r.order_id == id) {
        ev.push((
            r.at_ns,
            r.seq,
            format!(
                "Payment {} ({}) on {} after {} attempt(s); fee {}; reference {:?}",
                r.status,
                r.reason,
                label(r.channel_id),
                r.attempts,
                money(r.fee_minor),
                r.channel_ref
            ),
        ));
    }
    refund_events(rows, id, label, &mut ev);
    ev.sort_by_key(|e| (e.0, e.1));
    ev
}

/// The refunds' and reversals' events.
fn refund_events(
    rows: &Rows,
    id: i64,
    label: &dyn Fn(i32) -> String,
    ev: &mut Vec<(i64, i64, String)>,
) {
    for r in rows.refunds.iter().filter(|r| r.order_id == id) {
        ev.push((
            r.at_ns,
            r.seq,
            format!(
                "Refund {} requested ({}): {} {} ({})",
                r.refund_id,
                r.refund_request_id,
                money(r.amount_minor),
                r.ack_status,
                r.reject_reason
            ),
        ));
    }
    for r in rows.refund_results.iter().filter(|r| r.order_id == id) {
        ev.push((
            r.at_ns,
            r.seq,
            format!(
                "Refund {} {} ({}) on {}: {}",
                r.refund_id,
                r.status,
                r.reason,
                label(r.channel_id),
                money(r.amount_minor)
            ),
        ));
    }
    for r in rows.reversals.iter().filter(|r| r.order_id == id) {
        ev.push((
            r.at_ns,
            r.seq,
            format!(
                "Capture of attempt {} on {} {} ({}): {}",
                r.attempt,
                label(r.channel_id),
                r.state,
                r.reason,
                money(r.amount_minor)
            ),
        ));
    }
}

fn money_tables(out: &mut String, rows: &Rows, id: i64, seqs: &BTreeSet<i64>) {
    let lines: Vec<Vec<String>> = rows
        .split_lines
        .iter()
        .filter(|l| l.order_id == id)
        .map(|l| {
            vec![
                l.seq.to_string(),
                l.refund_id.to_string(),
                esc(&l.role),
                l.party_id.to_string(),
                money(l.amount_minor),
            ]
        })
        .collect();
    out.push_str("<h2>Split lines</h2>");
    table(
        out,
        "split-lines",
        &["Sequence", "Refund", "Role", "Party", "Amount"],
        &lines,
    );
    let transfers: Vec<Vec<String>> = rows
        .ledger_transfers
        .iter()
        .filter(|t| seqs.contains(&t.seq))
        .map(|t| {
            let party = |kind: &str, owner: i32, role: &str| esc(&format!("{kind}:{owner} {role}"));
            vec![
                t.seq.to_string(),
                esc(&t.phase),
                party(&t.debit_kind, t.debit_owner, &t.debit_role),
                party(&t.credit_kind, t.credit_owner, &t.credit_role),
                money(t.amount_minor),
            ]
        })
        .collect();
    out.push_str("<h2>Ledger transfers of the same inputs</h2>");
    table(
        out,
        "ledger",
        &["Sequence", "Phase", "Debit", "Credit", "Amount"],
        &transfers,
    );
}

fn story(out: &mut String, rows: &Rows, id: i64, label: &dyn Fn(i32) -> String) {
    let ev = events(rows, id, label);
    let seqs: BTreeSet<i64> = ev.iter().map(|e| e.1).collect();
    out.push_str("<h2>Story</h2>");
    let t: Vec<Vec<String>> = ev
        .iter()
        .map(|(at, seq, what)| vec![esc(&time_ns(*at)), seq.to_string(), esc(what)])
        .collect();
    table(
        out,
        "story",
        &["Time (UTC)", "Sequence", "What happened"],
        &t,
    );
    money_tables(out, rows, id, &seqs);
}

/// The page for `?id=…` (`None`: just the form).
pub fn render(ctx: &Ctx, id: Option<&str>) -> Found {
    let mut out = String::new();
    form(&mut out, id.unwrap_or(""));
    let Some(text) = id.map(str::trim).filter(|t| !t.is_empty()) else {
        return Found {
            status: 200,
            body: out,
        };
    };
    let Ok(order_id) = text.parse::<i64>() else {
        let _ = write!(
            out,
            "<p class=\"error\" id=\"order-error\">{} is not an order id: an order id is a whole number.</p>",
            esc(text)
        );
        return Found {
            status: 400,
            body: out,
        };
    };
    let rows = match ctx.data.load(TABLES) {
        Ok((rows, _)) => rows,
        Err(e) => {
            store_error(&mut out, &e);
            return Found {
                status: 503,
                body: out,
            };
        }
    };
    let now = ctx.channels_now();
    let label = |c: i32| {
        if c == 0 {
            "–".to_string()
        } else {
            channel_label(c, &now)
        }
    };
    let Some(order) = rows.orders.iter().find(|o| o.order_id == order_id) else {
        let _ = write!(
            out,
            "<p class=\"error\" id=\"order-error\">No order {order_id} in the exported flow.</p>"
        );
        return Found {
            status: 404,
            body: out,
        };
    };
    summary(&mut out, order, &label);
    routing(&mut out, &rows, order_id, &label);
    story(&mut out, &rows, order_id, &label);
    Found {
        status: 200,
        body: out,
    }
}
