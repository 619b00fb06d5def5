//! `Engine::prefetch_input` is a hint: it accepts any bytes without panicking, and applying the
//! same inputs with or without it (at any lookahead, with stale or unrelated inputs) gives the same
//! outputs and the same state hash.

mod common;

use proptest::prelude::*;
use sluice_engine::{Lookahead, fixture};
use sluice_protocol::*;

fn sbe_of<M: Message>(msg: &M) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_FRAME_BYTES];
    let n = encode_sbe(msg, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// A payment from a payer drawn from a small population, so velocity keys repeat.
fn payment(i: u64, user: u64) -> PaymentRequest {
    let mut p = fixture::payment(i, 1001, 1_000 + (i as i64 % 7) * 100);
    p.user_id = user;
    p.device_id = 7_000 + user;
    p.ip = Ip::v4([10, 0, (user >> 8) as u8, user as u8]);
    p
}

/// Runs the payments (and a pulse every 10), prefetching `ahead` inputs ahead when asked; returns
/// every output byte and the final state hash.
fn run(users: &[u64], prefetch: Option<usize>) -> (Vec<u8>, String) {
    let mut d = common::world_with(1_000);
    let inputs: Vec<Vec<u8>> = users
        .iter()
        .enumerate()
        .map(|(i, &u)| sbe_of(&payment(i as u64 + 1, u)))
        .collect();
    let mut outputs = Vec::new();
    for (i, sbe) in inputs.iter().enumerate() {
        if let Some(ahead) = prefetch {
            for (k, lookahead) in [(ahead + 1, Lookahead::Far), (ahead, Lookahead::Near)] {
                if let Some(next) = inputs.get(i + k) {
                    d.engine.prefetch_input(1, next, lookahead);
                }
            }
        }
        d.advance_ns(1_000_000);
        d.apply_raw(1000, 1, Role::Acquirer as u8, sbe);
        if i == 0 {
            assert_eq!(common::ack(&d.decoded()).status, AckStatus::Accepted);
        }
        outputs.extend_from_slice(d.outbox().bytes());
        if i % 10 == 9 {
            d.advance_ns(1_000_000_000);
            d.pulse();
            outputs.extend_from_slice(d.outbox().bytes());
        }
    }
    (outputs, d.engine.state_hash().to_string())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn prefetch_changes_neither_outputs_nor_state(
        users in proptest::collection::vec(1u64..40, 1..60),
        ahead in 0usize..4,
    ) {
        let plain = run(&users, None);
        let prefetched = run(&users, Some(ahead));
        prop_assert_eq!(plain, prefetched);
    }

    #[test]
    fn prefetch_takes_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let d = common::world();
        d.engine.prefetch_input(1, &bytes, Lookahead::Far);
        d.engine.prefetch_input(1, &bytes, Lookahead::Near);
        // A PaymentRequest header followed by arbitrary bytes reaches the body decoder.
        let mut framed = sbe_of(&payment(1, 1));
        framed.truncate(MESSAGE_HEADER_LEN);
        framed.extend_from_slice(&bytes);
        d.engine.prefetch_input(1, &framed, Lookahead::Far);
        d.engine.prefetch_input(1, &framed, Lookahead::Near);
    }
}
