//! The demo's operator tour, after the load: the server's configuration listed back through
//! ConfigQuery and compared with the embedded file, then a credential's life at runtime — added
//! (a payment through it), rotated (the old secret's session closed), revoked (its session
//! closed, logins refused) — without a restart, each change a journaled input the follower
//! applies too. The same calls as `sluice admin`.

use serde_json::json;
use sluice_gateway::client::{Client, ClientError};
use sluice_gateway::config::Config;
use sluice_protocol::*;
use std::net::SocketAddr;
use std::time::Duration;

use crate::admin::conn::{AdminConn, Answer};
use crate::admin::credential::new_secret;

const KEY: &str = "acq-demo";
const WAIT: Duration = Duration::from_secs(10);

/// What the tour showed.
pub struct Tour {
    /// Objects the server listed, by kind.
    pub listed: Vec<(&'static str, usize)>,
    /// Differences between the embedded configuration and the journal.
    pub differences: usize,
    /// Journal sequences of the add, the rotation and the revocation.
    pub sequences: [u64; 3],
    /// The result of the payment through the new key: Succeeded, or Failed with the channel's
    /// reason (the simulated channels decline a few per cent of payments).
    pub payment: (FinalStatus, ReasonCode),
}

fn change(conn: &mut AdminConn, m: ConfigCredential) -> Result<u64, String> {
    match conn.request(&m.into())? {
        Answer::Accepted { sequence } => Ok(sequence),
        other => Err(format!("credential {KEY}: {other:?}")),
    }
}

fn credential(op: CredentialOp, secret: &(String, Chars<32>, Chars<64>)) -> ConfigCredential {
    ConfigCredential {
        key_id: Chars::new(KEY),
        op,
        role: Role::Acquirer,
        principal_id: 2,
        algorithm: SecretHash::HmacSha256,
        rotation_window_ms: 0,
        salt: secret.1,
        hash: secret.2,
    }
}

fn login(addr: SocketAddr, secret: &str) -> Result<Client, String> {
    Client::login(addr, Role::Acquirer, KEY, secret).map_err(|e| format!("login as {KEY}: {e:?}"))
}

/// Waits for the server to log a session out with CredentialRevoked.
fn revoked(c: &mut Client, what: &str) -> Result<(), String> {
    let pick = |m: &AnyMessage| match m {
        AnyMessage::Logout(l) => Some(l.reason),
        _ => None,
    };
    match c.recv_until(WAIT, pick) {
        Ok(ReasonCode::CredentialRevoked) => Ok(()),
        other => Err(format!(
            "{what}: expected Logout(CredentialRevoked), got {other:?}"
        )),
    }
}

/// One payment at merchant 2001 (acquirer 2) through the new key, to its result. A refusal at the
/// acknowledgement is an error of the tour: the key did not work.
fn pay(c: &mut Client) -> Result<(FinalStatus, ReasonCode), String> {
    let request_id = 9_000_000_001;
    let p = PaymentRequest {
        request_id,
        merchant_id: 2001,
        promoter_id: 0,
        amount_minor: 1_000,
        currency: 156,
        method: PaymentMethod::Wallet,
        scene: Scene::App,
        goods_category: 0,
        user_id: 9_000_000,
        device_id: 0,
        ip: Ip::default(),
        card_fingerprint: Chars::default(),
        card_bin: 0,
        country: Chars::new("CN"),
        installment_count: 0,
        installment_payer_interest: false,
    };
    c.send(&p).map_err(|e| e.to_string())?;
    let answer = c
        .recv_until(WAIT, |m| match m {
            AnyMessage::PaymentResult(r) if r.request_id == request_id => {
                Some(Ok((r.status, r.reason)))
            }
            AnyMessage::PaymentAck(a)
                if a.request_id == request_id && a.status != AckStatus::Accepted =>
            {
                Some(Err(format!("{:?} ({:?})", a.status, a.reason)))
            }
            _ => None,
        })
        .map_err(|e| format!("payment through {KEY}: {e:?}"))?;
    answer.map_err(|refused| format!("payment through {KEY} refused: {refused}"))
}

/// Runs the tour against the server at `addr`, configured by `config`.
pub fn tour(addr: SocketAddr, config: &Config) -> Result<Tour, String> {
    let mut conn = AdminConn::login(addr, "admin", "sluice-demo-admin")?;
    let server = conn.walk_all()?;
    let listed = count(&server);
    let differences = sluice_node::world::diff::diff_onto(&server, &config.world)
        .map_err(|e| e.to_string())?
        .len();
    let first = new_secret(KEY)?;
    let added = change(&mut conn, credential(CredentialOp::Add, &first))?;
    let mut session = login(addr, &first.0)?;
    let payment = pay(&mut session)?;
    let second = new_secret(KEY)?;
    let rotated = change(&mut conn, credential(CredentialOp::Rotate, &second))?;
    revoked(&mut session, "the session on the rotated-out secret")?;
    let mut session = login(addr, &second.0)?;
    let gone = change(&mut conn, credential(CredentialOp::Revoke, &second))?;
    revoked(&mut session, "the revoked key's session")?;
    match Client::login(addr, Role::Acquirer, KEY, &second.0) {
        Err(ClientError::LoginRejected(ReasonCode::BadCredentials, _)) => {}
        other => return Err(format!("a revoked key logged in: {:?}", other.err())),
    }
    Ok(Tour {
        listed,
        differences,
        sequences: [added, rotated, gone],
        payment,
    })
}

fn count(objects: &[AnyMessage]) -> Vec<(&'static str, usize)> {
    let kinds = [
        ("channels", ConfigChannel::TEMPLATE_ID),
        ("split profiles", ConfigSplitProfile::TEMPLATE_ID),
        ("promoters", ConfigPromoter::TEMPLATE_ID),
        ("merchants", ConfigMerchant::TEMPLATE_ID),
        ("risk rules", ConfigRiskRule::TEMPLATE_ID),
        ("list entries", ConfigListEntry::TEMPLATE_ID),
        ("credentials", ConfigCredential::TEMPLATE_ID),
    ];
    let of = |t: u16| objects.iter().filter(|m| m.template_id() == t).count();
    kinds.iter().map(|&(name, t)| (name, of(t))).collect()
}

impl Tour {
    pub fn json(&self) -> serde_json::Value {
        let listed: serde_json::Map<String, serde_json::Value> = self
            .listed
            .iter()
            .map(|(k, n)| (k.to_string(), json!(n)))
            .collect();
        let [added, rotated, revoked] = self.sequences;
        json!({
            "listed": listed,
            "differences_from_embedded_config": self.differences,
            "credential": { "key_id": KEY, "added_seq": added, "payment": self.payment.0.name(), "reason": self.payment.1.name(), "rotated_seq": rotated, "revoked_seq": revoked },
        })
    }

    pub fn print(&self) {
        let listed: Vec<String> = self
            .listed
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        let [added, rotated, revoked] = self.sequences;
        println!(
            "operator   ConfigQuery listed {}; {} differences from the embedded configuration",
            listed.join(", "),
            self.differences
        );
        println!(
            "           credential {KEY} added at seq {added} and logged in without a restart (a payment through it: {} {}); rotated at seq {rotated}: the old secret's session closed (CredentialRevoked), the new one logs in; revoked at seq {revoked}: its session closed, logins refused",
            self.payment.0.name(),
            self.payment.1.name()
        );
    }
}

/// What the demo asks the server as an admin at the end.
pub struct AdminFigures {
    pub stats: StatsReport,
    pub platform: BalanceReport,
    pub merchants: Vec<BalanceReport>,
    pub promoters: Vec<BalanceReport>,
}

/// The stats and the balances of the platform, merchants and promoters.
pub fn admin_figures(addr: SocketAddr) -> Result<AdminFigures, String> {
    let mut c = Client::login(addr, Role::Admin, "admin", "sluice-demo-admin")
        .map_err(|e| e.to_string())?;
    let wait = WAIT;
    c.send(&StatsQuery { flags: 0 })
        .map_err(|e| e.to_string())?;
    let stats = c
        .recv_until(wait, |m| {
            if let AnyMessage::StatsReport(s) = m {
                Some(s.clone())
            } else {
                None
            }
        })
        .map_err(|e| e.to_string())?;
    let mut balance = |kind: PartyKind, id: u32| -> Result<BalanceReport, String> {
        c.send(&BalanceQuery {
            party_kind: kind,
            party_id: id,
        })
        .map_err(|e| e.to_string())?;
        c.recv_until(wait, |m| {
            if let AnyMessage::BalanceReport(b) = m {
                Some(b.clone())
            } else {
                None
            }
        })
        .map_err(|e| e.to_string())
    };
    let platform = balance(PartyKind::Platform, 0)?;
    let merchants = [1001, 1002, 1003, 1004, 2001]
        .iter()
        .map(|&m| balance(PartyKind::Merchant, m))
        .collect::<Result<_, _>>()?;
    let promoters = [501, 502]
        .iter()
        .map(|&p| balance(PartyKind::Promoter, p))
        .collect::<Result<_, _>>()?;
    Ok(AdminFigures {
        stats,
        platform,
        merchants,
        promoters,
    })
}
