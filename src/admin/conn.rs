//! The admin's connection: log in as an admin, send configuration inputs and queries, and read
//! their answers in order (a session's answers keep its order; broadcasts and heartbeats between
//! them are skipped).

use sluice_gateway::client::{Client, ClientError};
use sluice_protocol::*;
use std::net::SocketAddr;
use std::time::Duration;

/// How long one answer may take (a journaled input waits for its fsync).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// Queries in flight at once while listing a server's objects: the first batch, and the most (each
/// batch doubles, so a short list costs a few queries past its end, a long one few round trips).
const FIRST_BATCH: u64 = 8;
const MAX_BATCH: u64 = 512;

/// What the server answered one admin message.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Accepted and journaled at `sequence`.
    Accepted { sequence: u64 },
    /// Refused: the engine's ConfigAck, or the gateway's Reject.
    Refused { reason: ReasonCode, text: String },
    /// A query's object.
    Object(Box<AnyMessage>),
}

pub struct AdminConn {
    client: Client,
    frame: Vec<u8>,
}

fn client_error(e: ClientError) -> String {
    match e {
        ClientError::LoginRejected(reason, text) => format!("login refused: {reason:?}: {text}"),
        other => format!("{other:?}"),
    }
}

impl AdminConn {
    pub fn login(addr: SocketAddr, key_id: &str, secret: &str) -> Result<AdminConn, String> {
        let client = Client::login(addr, Role::Admin, key_id, secret)
            .map_err(|e| format!("{addr}: {}", client_error(e)))?;
        Ok(AdminConn {
            client,
            frame: vec![0u8; MAX_FRAME_BYTES],
        })
    }

    fn send(&mut self, message: &AnyMessage) -> Result<(), String> {
        let n = message
            .encode_frame(&mut self.frame)
            .map_err(|e| format!("{}: {e}", message.name()))?;
        self.client
            .send_raw(&self.frame[..n])
            .map_err(|e| format!("send: {e}"))
    }

    /// The next answer to this session: a ConfigAck, a Reject, or a Config* object.
    fn answer(&mut self) -> Result<Answer, String> {
        let pick = |m: &AnyMessage| match m {
            AnyMessage::ConfigAck(a) if a.status == AckStatus::Accepted => Some(Answer::Accepted {
                sequence: a.sequence,
            }),
            AnyMessage::ConfigAck(a) => Some(Answer::Refused {
                reason: a.reason,
                text: a.text.to_string(),
            }),
            AnyMessage::Reject(r) => Some(Answer::Refused {
                reason: r.reason,
                text: r.text.to_string(),
            }),
            AnyMessage::Logout(l) => Some(Answer::Refused {
                reason: l.reason,
                text: format!("logged out: {}", l.text),
            }),
            m if is_config_object(m) => Some(Answer::Object(Box::new(m.clone()))),
            _ => None,
        };
        self.client
            .recv_until(ANSWER_TIMEOUT, pick)
            .map_err(client_error)
    }

    /// Sends one message and waits for its answer.
    pub fn request(&mut self, message: &AnyMessage) -> Result<Answer, String> {
        self.send(message)?;
        self.answer()
    }

    /// The current definition of one object (None: the server has no such object).
    pub fn query(&mut self, query: ConfigQuery) -> Result<Result<AnyMessage, Answer>, String> {
        match self.request(&query.into())? {
            Answer::Object(m) => Ok(Ok(*m)),
            other => Ok(Err(other)),
        }
    }

    /// Every object of `kind` the server holds, in order of first definition.
    pub fn walk(&mut self, kind: ConfigKind) -> Result<Vec<AnyMessage>, String> {
        let mut out = Vec::new();
        let mut batch = FIRST_BATCH;
        loop {
            let start = out.len() as u64;
            for i in 0..batch {
                self.send(&ConfigQuery::by_position(kind, start + i).into())?;
            }
            let mut ended = false;
            for _ in 0..batch {
                match self.answer()? {
                    Answer::Object(m) if !ended => out.push(*m),
                    Answer::Object(_) => {}
                    Answer::Refused {
                        reason: ReasonCode::NotFound,
                        ..
                    } => ended = true,
                    other => return Err(format!("listing {}: {other:?}", kind.name())),
                }
            }
            if ended {
                return Ok(out);
            }
            batch = (batch * 2).min(MAX_BATCH);
        }
    }

    /// Every configuration object the server holds, kind by kind in the order references need.
    pub fn walk_all(&mut self) -> Result<Vec<AnyMessage>, String> {
        let mut out = Vec::new();
        for kind in [
            ConfigKind::Channel,
            ConfigKind::SplitProfile,
            ConfigKind::Promoter,
            ConfigKind::Merchant,
            ConfigKind::RiskRule,
            ConfigKind::ListEntry,
            ConfigKind::Credential,
        ] {
            out.extend(self.walk(kind)?);
        }
        Ok(out)
    }
}

/// Whether a message is one a ConfigQuery answers with (or a PayoutRequest's PayoutAck, a
/// ReviewQuery's ReviewItem, an InstallmentQuery's InstallmentPlan).
fn is_config_object(m: &AnyMessage) -> bool {
    matches!(
        m,
        AnyMessage::ConfigMerchant(_)
            | AnyMessage::ConfigChannel(_)
            | AnyMessage::ConfigSplitProfile(_)
            | AnyMessage::ConfigPromoter(_)
            | AnyMessage::ConfigRiskRule(_)
            | AnyMessage::ConfigRiskRuleText(_)
            | AnyMessage::ConfigListEntry(_)
            | AnyMessage::ConfigCredential(_)
            | AnyMessage::Discrepancy(_)
            | AnyMessage::ChannelSettlement(_)
            | AnyMessage::PayoutAck(_)
            | AnyMessage::ReviewItem(_)
            | AnyMessage::InstallmentPlan(_)
            | AnyMessage::CreditPosition(_)
            | AnyMessage::YieldPosition(_)
    )
}
