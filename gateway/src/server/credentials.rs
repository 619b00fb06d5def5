//! Credentials while the server runs: the engine's `CredentialUpdate`s (durable, like any output)
//! change the login table, and sessions whose secret no longer logs in are closed — at once for a
//! revoked key or a rotation without a window, at the window's end otherwise (docs/OPERATIONS.md).

use sluice_protocol::*;

use tracing::{error, info};

use super::{Gateway, session_field};
use crate::auth::KeyChange;

impl Gateway {
    /// An output for the gateway itself: a credential changed.
    pub(super) fn on_gateway_output(&mut self, frame: &[u8]) {
        let update = match decode_frame::<CredentialUpdate>(frame) {
            Ok(u) => u,
            Err(e) => {
                // The engine writes these; an unreadable one is a bug, and the table stays as it is.
                error!("an output for the gateway is not a CredentialUpdate: {e}");
                return;
            }
        };
        let (seq, key_id, generation) =
            (update.sequence, update.key_id.as_str(), update.generation);
        match self.keys.apply(&update) {
            Some(KeyChange::Added) => info!(seq, key_id = %key_id, "credential {key_id:?} added"),
            Some(KeyChange::Rotated) => info!(
                seq,
                key_id = %key_id,
                generation,
                "credential {key_id:?} rotated to generation {generation}"
            ),
            Some(KeyChange::Revoked) => {
                info!(seq, key_id = %key_id, "credential {key_id:?} revoked")
            }
            None => error!(
                seq,
                key_id = %key_id,
                "credential {key_id:?}: unreadable hash, table unchanged"
            ),
        }
        self.close_invalid_sessions(Some(update.key_id.0));
    }

    /// Logs out the sessions whose key was revoked or whose secret rotated out, at the event time
    /// the sequencer would stamp now. `only`: look at one key's sessions.
    pub(super) fn close_invalid_sessions(&mut self, only: Option<[u8; 16]>) {
        let now_ns = self.sequencer.event_time_ns();
        let stale: Vec<(usize, bool)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.closing.is_none())
            .filter_map(|(k, c)| c.session.identity().map(|i| (k, i)))
            .filter(|(_, i)| only.is_none_or(|key_id| key_id == i.key_id))
            .filter(|(_, i)| !self.keys.still_valid(&i.key_id, i.generation, now_ns))
            .map(|(k, i)| (k, self.keys.is_active(&i.key_id)))
            .collect();
        for (key, active) in stale {
            let why = if active {
                "the secret this session logged in with was rotated out"
            } else {
                "the credential this session logged in with was revoked"
            };
            if let Some(c) = self.conns.get(key) {
                let session = c.session.identity().map(|i| session_field(i.id));
                info!(peer = %c.peer, session, "logging out {}: {why}", c.peer);
            }
            self.send_logout(key, ReasonCode::CredentialRevoked, why);
            self.close_after_flush(key, why.into());
        }
    }
}
