//! `sluice admin` against the real server binary: credentials added, rotated and revoked at
//! runtime (no restart), and surviving a restart and `sluice replay check`; a merchant, a channel,
//! a split profile and a risk rule added from a TOML file, then paid through; bad values refused
//! with their reason, changing nothing; and the start-up report of a configuration file that
//! differs from the journal.

mod common;
use common::*;
use serde_json::Value as Json;
use sluice_gateway::client::{Client, ClientError};
use sluice_protocol::*;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Adds (or rotates) a credential, the secret written to a file; returns the secret.
fn new_secret(addr: SocketAddr, dir: &TestDir, args: &[&str]) -> String {
    let file = dir.join(&format!("secret-{}", args.join("-")));
    let file_arg = file.to_str().expect("utf-8 path");
    let mut all = vec!["credential"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--secret-out", file_arg]);
    admin_ok(addr, &all);
    let secret = std::fs::read_to_string(&file).expect("the secret file");
    secret.trim().to_string()
}

fn try_login(addr: SocketAddr, key: &str, secret: &str) -> Result<Client, ClientError> {
    Client::login(addr, Role::Acquirer, key, secret)
}

fn refused(result: Result<Client, ClientError>, what: &str) {
    match result {
        Err(ClientError::LoginRejected(ReasonCode::BadCredentials, _)) => {}
        Err(e) => panic!("{what}: expected BadCredentials, got {e:?}"),
        Ok(_) => panic!("{what}: the login was accepted"),
    }
}

/// A session is alive: it answers a query.
fn alive(c: &mut Client, what: &str) {
    c.send(&query(1))
        .unwrap_or_else(|e| panic!("{what}: send: {e}"));
    wait_for(c, what, |m| match m {
        AnyMessage::OrderStatus(_) | AnyMessage::Reject(_) => Some(()),
        AnyMessage::Logout(l) => panic!("{what}: logged out: {l:?}"),
        _ => None,
    });
}

/// The server logs a session out with CredentialRevoked, then closes it.
fn closed_as_revoked(c: &mut Client, what: &str) {
    let seen = expect_closed(c, what);
    let revoked = seen
        .iter()
        .any(|m| matches!(m, AnyMessage::Logout(l) if l.reason == ReasonCode::CredentialRevoked));
    assert!(
        revoked,
        "{what}: no Logout(CredentialRevoked) before the close: {seen:?}"
    );
}

#[test]
fn credentials_are_added_rotated_and_revoked_at_runtime_and_survive_a_restart() {
    let (dir, mut server) = start_server("admin-credentials", &Settings::default());
    let addr = server.addr;

    // Added: logs in at once, no restart.
    let first = new_secret(
        addr,
        &dir,
        &["add", "acq-new", "--role", "acquirer", "--principal", "2"],
    );
    let mut on_first = try_login(addr, "acq-new", &first).expect("the new key logs in");
    alive(&mut on_first, "a session on the first secret");
    refused(
        try_login(addr, "acq-new", "not-the-secret"),
        "a wrong secret",
    );

    // Rotated with a window: both secrets log in during it; then only the new one, and the
    // session on the old one is closed while the one on the new secret goes on.
    let window = Duration::from_secs(3);
    let rotated_at = Instant::now();
    let second = new_secret(addr, &dir, &["rotate", "acq-new", "--window", "3s"]);
    let mut on_second = try_login(addr, "acq-new", &second).expect("the new secret logs in");
    if rotated_at.elapsed() < window - Duration::from_millis(500) {
        try_login(addr, "acq-new", &first).expect("the old secret logs in during the window");
    }
    closed_as_revoked(&mut on_first, "the session on the rotated-out secret");
    assert!(
        rotated_at.elapsed() >= window,
        "closed before the window ended"
    );
    refused(
        try_login(addr, "acq-new", &first),
        "the old secret after the window",
    );
    alive(&mut on_second, "the session on the new secret");

    // Revoked: its live session is closed at once, and it logs in no more.
    let doomed = new_secret(
        addr,
        &dir,
        &[
            "add",
            "acq-doomed",
            "--role",
            "acquirer",
            "--principal",
            "1",
        ],
    );
    let mut session = try_login(addr, "acq-doomed", &doomed).expect("login");
    admin_ok(addr, &["credential", "revoke", "acq-doomed"]);
    closed_as_revoked(&mut session, "the revoked key's session");
    refused(try_login(addr, "acq-doomed", &doomed), "a revoked key");
    let (ok, lines) = admin(addr, &["credential", "rotate", "acq-doomed"]);
    assert!(
        !ok && lines[0]["reason"] == "UnknownCredential",
        "{lines:?}"
    );

    // All of it is journaled state: the same after a restart, and the journal replays.
    drop(on_second);
    server.terminate();
    let config = dir.join("sluice.toml");
    let server = ServerProcess::start(&config, &server.data);
    let addr = server.addr;
    alive(
        &mut try_login(addr, "acq-new", &second).expect("after restart"),
        "after restart",
    );
    refused(
        try_login(addr, "acq-new", &first),
        "the rotated-out secret after a restart",
    );
    refused(
        try_login(addr, "acq-doomed", &doomed),
        "the revoked key after a restart",
    );
    drop(server);
    assert_replay_check(&dir.join("data"));
}

const NEW_OBJECTS: &str = r#"
[[channels]]
id = 12
name = "newpay"
currencies = ["CNY"]
methods = [{ method = "wallet", fee_bps = 40 }]
timeout_ms = 5000

[[split_profiles]]
id = 7
platform_rate = "0.02"

[[merchants]]
id = 3001
acquirer_id = 1
split_profile = 7
strategy = "priority"
currencies = ["CNY"]
channels = [{ id = 12 }]

[[risk_rules]]
id = 77
name = "newpay_cap"
feature = "single_amount"
threshold = 5000
action = "block"
merchant_id = 3001
"#;

/// Pays `amount` at merchant 3001 through channel 12, answered by `connector`.
fn pay_through_channel_12(
    acq: &mut Client,
    connector: &mut Client,
    request_id: u64,
) -> PaymentResult {
    acq.send(&payment(request_id, 3001, 1_000, PaymentMethod::Wallet))
        .expect("send payment");
    let dispatch = wait_for(connector, "Dispatch on channel 12", |m| match m {
        AnyMessage::Dispatch(d) => Some(d.clone()),
        _ => None,
    });
    connector
        .send(&channel_result(
            &dispatch,
            ChannelOutcome::Succeeded,
            "np-1",
        ))
        .expect("send ChannelResult");
    wait_for(acq, "PaymentResult", |m| match m {
        AnyMessage::PaymentResult(r) if r.request_id == request_id => Some(r.clone()),
        _ => None,
    })
}

#[test]
fn objects_added_with_sluice_admin_take_payments_and_bad_values_change_nothing() {
    let (dir, server) = start_server("admin-objects", &Settings::default());
    let addr = server.addr;
    let file = dir.join("new-objects.toml");
    std::fs::write(&file, NEW_OBJECTS).expect("write");
    let file = file.to_str().expect("utf-8 path");

    let (ok, diff) = admin(addr, &["diff", file]);
    assert!(ok && diff.len() == 4, "{diff:?}");
    let applied = admin_ok(addr, &["apply", file]);
    let accepted: Vec<&Json> = applied
        .iter()
        .filter(|l| l["status"] == "accepted")
        .collect();
    assert_eq!(accepted.len(), 4, "{applied:?}");
    assert!(
        admin_ok(addr, &["diff", file]).is_empty(),
        "applied, yet differs"
    );

    // The new channel's connector logs in with a key made for it; then pay through it all.
    let ch_secret = new_secret(
        addr,
        &dir,
        &["add", "ch-newpay", "--role", "channel", "--principal", "12"],
    );
    let mut connector = Client::login(addr, Role::Channel, "ch-newpay", &ch_secret).expect("login");
    let mut acq = login(addr, "acq-a");
    let result = pay_through_channel_12(&mut acq, &mut connector, 1);
    assert_eq!(result.status, FinalStatus::Succeeded, "{result:?}");
    assert_eq!(result.channel_id, 12);
    // Split profile 7: 2% of 1000 to the platform.
    assert_eq!(
        line_amount(&result.split, PartyRole::Platform, 0),
        Some(20),
        "{result:?}"
    );
    // Risk rule 77 blocks a payment over 5000 at merchant 3001.
    acq.send(&payment(2, 3001, 6_000, PaymentMethod::Wallet))
        .expect("send");
    let ack = wait_for(&mut acq, "PaymentAck", |m| match m {
        AnyMessage::PaymentAck(a) if a.request_id == 2 => Some(a.clone()),
        _ => None,
    });
    assert_eq!(
        (ack.status, ack.risk_rule_id),
        (AckStatus::Rejected, 77),
        "{ack:?}"
    );

    // Bad values are refused with their reason, and nothing changes.
    let before = admin_ok(addr, &["list", "merchant"]);
    let (ok, lines) = admin(addr, &["set", "merchant", "3001", "max_amount_minor=-5"]);
    assert!(!ok && lines[0]["reason"] == "InvalidConfig", "{lines:?}");
    let (ok, lines) = admin(addr, &["set", "merchant", "3001", "split_profile_id=999"]);
    assert!(
        !ok && lines[0]["reason"] == "UnknownSplitProfile",
        "{lines:?}"
    );
    let (ok, _) = admin(addr, &["set", "merchant", "3001", "no_such_field=1"]);
    assert!(!ok, "an unknown field is an error");
    assert_eq!(
        admin_ok(addr, &["list", "merchant"]),
        before,
        "a refusal changed something"
    );

    // Disabled, a merchant takes no payments; enabled, it does again.
    let disabled = admin_ok(addr, &["disable", "merchant", "3001"]);
    // The audit line of the change names it and its journal sequence (the human format).
    let seq = disabled[0]["sequence"].as_u64().expect("a sequence");
    let audit = server.wait_for_line(WAIT, |l| {
        says(
            l,
            &format!("admin input at sequence {seq}: ConfigMerchant 3001 applied"),
        )
    });
    assert!(audit.contains(&format!(" seq={seq} ")), "{audit}");
    acq.send(&payment(3, 3001, 1_000, PaymentMethod::Wallet))
        .expect("send");
    let ack = wait_for(&mut acq, "PaymentAck", |m| match m {
        AnyMessage::PaymentAck(a) if a.request_id == 3 => Some(a.clone()),
        _ => None,
    });
    assert_eq!(ack.reason, ReasonCode::MerchantDisabled, "{ack:?}");
    admin_ok(addr, &["enable", "merchant", "3001"]);
    assert_eq!(
        pay_through_channel_12(&mut acq, &mut connector, 4).status,
        FinalStatus::Succeeded
    );
}

#[test]
fn serve_reports_a_configuration_that_differs_from_the_journal_and_applies_none_of_it() {
    let (dir, mut server) = start_server("admin-drift", &Settings::default());
    server.terminate();
    let config = dir.join("sluice.toml");
    let text = std::fs::read_to_string(&config).expect("read config");
    let changed = text.replacen(
        "max_amount_minor = 10000000",
        "max_amount_minor = 20000000",
        1,
    );
    assert_ne!(
        changed, text,
        "the default configuration changed: update this test"
    );
    std::fs::write(&config, changed).expect("write config");

    let server = ServerProcess::start(&config, &server.data);
    let warning = server.wait_for_line(WAIT, |l| l.contains("differs from the journaled state"));
    assert_eq!(log_level(&warning).as_deref(), Some("WARN"), "{warning}");
    assert!(warning.contains("1 places"), "{warning}");
    let line = server.wait_for_line(WAIT, |l| l.contains("merchant 1001 (config line"));
    assert!(
        line.contains("max_amount_minor: file 20000000, journal 10000000"),
        "{line}"
    );
    server.wait_for_line(WAIT, |l| l.contains("sluice admin apply"));
    let shown = admin_ok(server.addr, &["show", "merchant", "1001"]);
    assert_eq!(
        shown[0]["fields"]["max_amount_minor"], 10_000_000,
        "the file was applied"
    );

    // Applied on request; the next start has nothing to report.
    admin_ok(server.addr, &["apply", config.to_str().expect("utf-8")]);
    let shown = admin_ok(server.addr, &["show", "merchant", "1001"]);
    assert_eq!(shown[0]["fields"]["max_amount_minor"], 20_000_000);
    let data = server.data.clone();
    drop(server);
    let server = ServerProcess::start(&config, &data);
    server.wait_for_line(WAIT, |l| says(l, "listening on "));
    let warned = server
        .log_lines()
        .iter()
        .any(|l| l.contains("differs from the journaled state") || l.contains("not applied"));
    assert!(!warned, "warned about a file that matches the journal");
}

/// `sluice admin channel-settlement` and `discrepancy` against the real server: applied once,
/// a repeat refused with its reason, and listed back through ConfigQuery.
#[test]
fn channel_settlements_and_discrepancies_are_applied_once_and_listed() {
    let (_dir, server) = start_server("admin-recon", &Settings::default());
    let addr = server.addr;
    let batch = [
        "channel-settlement",
        "apply",
        "--channel",
        "1",
        "--currency",
        "156",
        "--batch",
        "20418",
        "--paid",
        "-500",
        "--fee-difference",
        "3",
        "--first-day",
        "20418",
        "--last-day",
        "20418",
        "--batch-ref",
        "20261126",
    ];
    let lines = admin_ok(addr, &batch);
    assert_eq!(lines[0]["status"], "accepted", "{lines:?}");
    let (ok, lines) = admin(addr, &batch);
    assert!(!ok && lines[0]["reason"] == "DuplicateBatch", "{lines:?}");
    let listed = admin_ok(addr, &["channel-settlement", "list"]);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let fields = &listed[0]["fields"];
    assert_eq!(listed[0]["template"], "ChannelSettlement", "{listed:?}");
    assert_eq!(
        (&fields["paid_minor"], &fields["fee_difference_minor"]),
        (&Json::from(-500), &Json::from(3)),
        "{listed:?}"
    );

    let open = [
        "discrepancy",
        "open",
        "--id",
        "42",
        "--channel",
        "1",
        "--class",
        "FeeMismatch",
        "--currency",
        "156",
        "--amount",
        "-3",
        "--note",
        "fee differs",
    ];
    admin_ok(addr, &open);
    let (ok, lines) = admin(addr, &open);
    assert!(
        !ok && lines[0]["reason"] == "DiscrepancyExists",
        "{lines:?}"
    );
    let resolve = [
        "discrepancy",
        "resolve",
        "--id",
        "42",
        "--note",
        "ok",
        "--write-off",
        "-3",
    ];
    admin_ok(addr, &resolve);
    let (ok, lines) = admin(addr, &resolve);
    assert!(
        !ok && lines[0]["reason"] == "UnknownDiscrepancy",
        "{lines:?}"
    );
    let listed = admin_ok(addr, &["discrepancy", "list"]);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["fields"]["op"], "Resolve", "{listed:?}");
    assert_eq!(listed[0]["fields"]["write_off_minor"], -3, "{listed:?}");
}

/// `sluice admin risk rules check|apply|list`: a rules file checked offline (errors at the file's
/// line and column, a non-zero exit), a bad file sends nothing, a good one is applied as text rules
/// that decide payments, and the server lists them back as ConfigRiskRuleText.
#[test]
fn risk_rules_are_checked_offline_applied_as_text_and_listed() {
    let (dir, server) = start_server("admin-risk-rules", &Settings::default());
    let addr = server.addr;
    let bad = dir.join("bad.rules");
    std::fs::write(
        &bad,
        "# a type error\nrule 61 \"bad\"\n  block if :amount: > 'USD'\n",
    )
    .expect("write");
    let bad = bad.to_str().expect("utf-8 path");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["admin", "risk", "rules", "check", bad])
        .output()
        .expect("run sluice admin risk rules check");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "{bad}:3:23: 'USD' is text; this side needs an amount"
        )),
        "{stdout}"
    );
    let (ok, lines) = admin(addr, &["risk", "rules", "apply", bad]);
    assert!(
        !ok && lines.is_empty(),
        "a file with errors sends nothing: {lines:?}"
    );

    let good = dir.join("good.rules");
    let text =
        "rule 60 \"big_at_1001\" priority 1\n  block if :merchant: == 1001 and :amount: > 5000\n";
    std::fs::write(&good, text).expect("write");
    let good = good.to_str().expect("utf-8 path");
    let applied = admin_ok(addr, &["risk", "rules", "apply", good]);
    assert_eq!(applied.len(), 1, "{applied:?}");
    assert_eq!(applied[0]["status"], "accepted", "{applied:?}");

    let mut acq = login(addr, "acq-a");
    acq.send(&payment(1, 1001, 6_000, PaymentMethod::Wallet))
        .expect("send");
    let ack = wait_for(&mut acq, "PaymentAck", |m| match m {
        AnyMessage::PaymentAck(a) if a.request_id == 1 => Some(a.clone()),
        _ => None,
    });
    assert_eq!(
        (ack.status, ack.risk_rule_id),
        (AckStatus::Rejected, 60),
        "{ack:?}"
    );

    let listed = admin_ok(addr, &["risk", "rules", "list"]);
    let text_rules: Vec<&Json> = listed
        .iter()
        .filter(|l| l["template"] == "ConfigRiskRuleText")
        .collect();
    assert_eq!(text_rules.len(), 1, "{listed:?}");
    assert_eq!(text_rules[0]["fields"]["rule_id"], 60, "{listed:?}");
}
