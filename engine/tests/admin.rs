//! The admin surface of the engine: ConfigQuery answers every object's current definition, and
//! applying that answer back changes nothing; credentials are added, rotated and revoked as
//! journaled state, each change sent to the gateway's table.

mod common;
use common::*;
use sluice_engine::DestKind;
use sluice_engine::credentials::hex_chars;
use sluice_engine::fixture::*;
use sluice_protocol::*;

fn query(kind: ConfigKind, id: u64) -> ConfigQuery {
    ConfigQuery::by_id(kind, id)
}

/// The single answer to an admin query.
fn answer(d: &mut sluice_engine::driver::Driver, q: &ConfigQuery) -> AnyMessage {
    let out = d.admin(q);
    assert_eq!(out.len(), 1, "{out:?}");
    out.into_iter().next().map(|(_, m)| m).expect("an answer")
}

#[test]
fn every_object_reads_back_as_the_message_that_sets_it_and_applying_it_changes_nothing() {
    let mut d = world();
    let mut queries: Vec<ConfigQuery> = Vec::new();
    queries.extend(
        merchants()
            .iter()
            .map(|m| query(ConfigKind::Merchant, u64::from(m.merchant_id))),
    );
    queries.extend(
        channels()
            .iter()
            .map(|c| query(ConfigKind::Channel, u64::from(c.channel_id))),
    );
    queries.extend(
        profiles()
            .iter()
            .map(|p| query(ConfigKind::SplitProfile, u64::from(p.profile_id))),
    );
    queries.extend(
        promoters()
            .iter()
            .map(|p| query(ConfigKind::Promoter, u64::from(p.promoter_id))),
    );
    queries.extend(
        rules()
            .iter()
            .map(|r| query(ConfigKind::RiskRule, u64::from(r.rule_id))),
    );
    queries.extend((0..list_entries().len() as u64).map(|i| query(ConfigKind::ListEntry, i)));
    let before = d.engine.content_hash();
    for q in &queries {
        let message = answer(&mut d, q);
        assert!(message.name().starts_with("Config"), "{q:?}: {message:?}");
        // The answer, sent back as an input, is accepted and changes nothing.
        let out = d
            .apply_any(1, 1, Role::Admin as u8, &message)
            .to_vec_decoded();
        let accepted = out
            .iter()
            .any(|m| matches!(m, AnyMessage::ConfigAck(a) if a.status == AckStatus::Accepted));
        assert!(accepted, "{q:?} applied back: {out:?}");
        assert_eq!(d.engine.content_hash(), before, "{q:?} changed the state");
    }
    // The fixture's merchant comes back with its exact rates.
    let AnyMessage::ConfigMerchant(m) =
        answer(&mut d, &query(ConfigKind::Merchant, u64::from(SHOP)))
    else {
        panic!("a merchant");
    };
    let fixture_shop = &merchants()[0];
    assert_eq!(m.deposit_rate, fixture_shop.deposit_rate.normalize());
    assert_eq!(m.channels, fixture_shop.channels);
    assert_eq!(m.split_profile_id, fixture_shop.split_profile_id);
}

#[test]
fn a_walk_by_position_lists_every_object_of_a_kind_in_order_of_definition() {
    let mut d = world();
    let ids = |m: &AnyMessage| match m {
        AnyMessage::ConfigMerchant(m) => u64::from(m.merchant_id),
        AnyMessage::ConfigChannel(c) => u64::from(c.channel_id),
        AnyMessage::ConfigRiskRule(r) => u64::from(r.rule_id),
        other => panic!("unexpected {other:?}"),
    };
    let expected: [(ConfigKind, Vec<u64>); 3] = [
        (
            ConfigKind::Merchant,
            merchants()
                .iter()
                .map(|m| u64::from(m.merchant_id))
                .collect(),
        ),
        (
            ConfigKind::Channel,
            channels().iter().map(|c| u64::from(c.channel_id)).collect(),
        ),
        (
            ConfigKind::RiskRule,
            rules().iter().map(|r| u64::from(r.rule_id)).collect(),
        ),
    ];
    for (kind, want) in expected {
        let mut got = Vec::new();
        for position in 0.. {
            match answer(&mut d, &ConfigQuery::by_position(kind, position)) {
                AnyMessage::ConfigAck(a) => {
                    assert_eq!(a.reason, ReasonCode::NotFound, "{kind:?} at {position}");
                    break;
                }
                m => got.push(ids(&m)),
            }
        }
        assert_eq!(got, want, "{kind:?}");
    }
}

#[test]
fn a_query_for_nothing_is_refused_with_its_reason() {
    let mut d = world();
    for (q, reason) in [
        (
            query(ConfigKind::Merchant, 9_999),
            ReasonCode::UnknownMerchant,
        ),
        (
            query(ConfigKind::Channel, 70_000),
            ReasonCode::UnknownChannel,
        ),
        (query(ConfigKind::RiskRule, 999), ReasonCode::UnknownRule),
        (query(ConfigKind::ListEntry, 99), ReasonCode::NotFound),
        (
            query(ConfigKind::Credential, 0),
            ReasonCode::UnknownCredential,
        ),
    ] {
        let AnyMessage::ConfigAck(a) = answer(&mut d, &q) else {
            panic!("a ConfigAck for {q:?}");
        };
        assert_eq!((a.status, a.reason), (AckStatus::Rejected, reason), "{q:?}");
    }
}

fn credential(key: &str, op: CredentialOp, byte: u8) -> ConfigCredential {
    ConfigCredential {
        key_id: Chars::new(key),
        op,
        role: Role::Acquirer,
        principal_id: 3,
        algorithm: SecretHash::HmacSha256,
        rotation_window_ms: 60_000,
        salt: hex_chars(&[byte; 16]),
        hash: hex_chars(&[byte; 32]),
    }
}

/// The ConfigAck and the gateway's update of one credential input.
fn apply_credential(
    d: &mut sluice_engine::driver::Driver,
    m: &ConfigCredential,
) -> (ConfigAck, Option<CredentialUpdate>) {
    let out = d.admin(m);
    let ack = find(&out, |m| match m {
        AnyMessage::ConfigAck(a) => Some(a),
        _ => None,
    })
    .clone();
    let update = out.iter().find_map(|(dest, m)| match m {
        AnyMessage::CredentialUpdate(u) => {
            assert_eq!(
                dest.kind,
                DestKind::Gateway,
                "updates go to the gateway only"
            );
            Some(u.clone())
        }
        _ => None,
    });
    (ack, update)
}

#[test]
fn credentials_are_added_rotated_and_revoked_as_journaled_state() {
    let mut d = world();
    let (ack, update) = apply_credential(&mut d, &credential("acq-c", CredentialOp::Add, 1));
    assert_eq!(ack.status, AckStatus::Accepted);
    let update = update.expect("an update");
    assert_eq!(
        (update.status, update.generation, update.principal_id),
        (Activity::Active, 1, 3)
    );
    assert_eq!(update.hash, hex_chars(&[1; 32]));
    assert_eq!(update.previous_until_ns, 0);

    d.advance_ns(1_000_000_000);
    let now = d.now_ns();
    let (_, update) = apply_credential(&mut d, &credential("acq-c", CredentialOp::Rotate, 2));
    let update = update.expect("an update");
    assert_eq!(update.generation, 2);
    assert_eq!(
        (update.hash, update.previous_hash),
        (hex_chars(&[2; 32]), hex_chars(&[1; 32]))
    );
    assert_eq!(update.previous_until_ns, now + 60_000 * 1_000_000);

    // The table survives a snapshot and answers a query.
    let (hash, snapshot) = d.engine.snapshot();
    let restored = sluice_engine::Engine::from_snapshot(&snapshot, hash).expect("restore");
    assert_eq!(
        restored.state().credentials.entries,
        d.engine.state().credentials.entries
    );
    let mut q = query(ConfigKind::Credential, 0);
    q.key_id = Chars::new("acq-c");
    let AnyMessage::ConfigCredential(c) = answer(&mut d, &q) else {
        panic!("a credential");
    };
    assert_eq!((c.op, c.hash), (CredentialOp::Add, hex_chars(&[2; 32])));

    let (_, update) = apply_credential(&mut d, &credential("acq-c", CredentialOp::Revoke, 0));
    let update = update.expect("an update");
    assert_eq!(
        (update.status, update.previous_until_ns),
        (Activity::Disabled, 0)
    );

    // Refusals: name the reason, change nothing, send no update.
    let before = d.engine.content_hash();
    for (m, reason) in [
        (
            credential("acq-c", CredentialOp::Add, 3),
            ReasonCode::CredentialExists,
        ),
        (
            credential("acq-c", CredentialOp::Rotate, 3),
            ReasonCode::UnknownCredential,
        ),
        (
            credential("nobody", CredentialOp::Revoke, 3),
            ReasonCode::UnknownCredential,
        ),
        (
            ConfigCredential {
                hash: Chars::new("not hex"),
                ..credential("acq-d", CredentialOp::Add, 4)
            },
            ReasonCode::InvalidConfig,
        ),
        (
            ConfigCredential {
                principal_id: 0,
                ..credential("acq-d", CredentialOp::Add, 4)
            },
            ReasonCode::InvalidConfig,
        ),
    ] {
        let (ack, update) = apply_credential(&mut d, &m);
        assert_eq!(
            (ack.status, ack.reason),
            (AckStatus::Rejected, reason),
            "{m:?}"
        );
        assert!(update.is_none());
    }
    assert_eq!(d.engine.content_hash(), before);
}

/// Decoded outputs of the driver's last input.
trait Decoded {
    fn to_vec_decoded(&self) -> Vec<AnyMessage>;
}

impl Decoded for sluice_engine::Outbox {
    fn to_vec_decoded(&self) -> Vec<AnyMessage> {
        self.iter()
            .filter_map(|r| decode_any_frame(r.frame).ok())
            .collect()
    }
}
