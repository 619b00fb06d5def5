//! Scratch engines: small engines (tiny order tables) that hold a business world and nothing
//! else, built by applying its configuration messages as admin inputs. They check a world before
//! it is journaled, and give `diff` both sides in the engine's own terms.

use sluice_engine::{ENVELOPE_LEN, Engine, Outbox, write_envelope};
use sluice_protocol::{
    AckStatus, AnyMessage, ConfigAck, Genesis, ReasonCode, Role, decode_any_frame,
};

use super::{World, WorldInput};
use crate::recovery::BOOTSTRAP_SESSION;
use crate::{Error, MAX_INPUT_PAYLOAD_BYTES};

/// A world input as its journal payload: an admin input from the bootstrap session.
pub(crate) fn encode_world_input(buf: &mut [u8], message: &AnyMessage) -> Result<usize, Error> {
    write_envelope(buf, BOOTSTRAP_SESSION, 0, Role::Admin as u8);
    let sbe = message
        .encode_sbe(&mut buf[ENVELOPE_LEN..])
        .map_err(|e| Error::new(format!("{}: {e}", message.name())))?;
    Ok(ENVELOPE_LEN + sbe)
}

/// `genesis` with order, refund, withdrawal and velocity tables cut to nothing: a scratch engine
/// holds configuration only.
pub fn small(genesis: &Genesis) -> Genesis {
    Genesis {
        orders_max: 1,
        refunds_max: 1,
        withdrawals_max: 1,
        velocity_keys_max: 8,
        list_entries_max: genesis.list_entries_max.min(1 << 16),
        ..genesis.clone()
    }
}

/// A scratch engine and what applying to it takes.
pub struct Scratch {
    pub engine: Engine,
    seq: u64,
    buf: Vec<u8>,
    outbox: Outbox,
}

impl Scratch {
    pub fn new(genesis: &Genesis) -> Result<Scratch, Error> {
        Ok(Scratch {
            engine: Engine::new(&small(genesis), 0)?,
            seq: 1,
            buf: vec![0u8; MAX_INPUT_PAYLOAD_BYTES],
            outbox: Outbox::with_capacity(1 << 16),
        })
    }

    /// Applies one configuration message; its refusal, if the engine refused it.
    pub fn apply(&mut self, message: &AnyMessage) -> Result<Option<(ReasonCode, String)>, Error> {
        let len = encode_world_input(&mut self.buf, message)?;
        self.seq += 1;
        self.outbox.clear();
        self.engine
            .apply_record(self.seq, 0, &self.buf[..len], &mut self.outbox)?;
        Ok(self
            .outbox
            .iter()
            .find_map(|r| match decode_any_frame(r.frame) {
                Ok(AnyMessage::ConfigAck(ConfigAck {
                    status: AckStatus::Rejected,
                    reason,
                    text,
                    ..
                })) => Some((reason, text.to_string())),
                _ => None,
            }))
    }

    /// Applies inputs in order; the first refusal is an error naming its key and line.
    pub fn apply_all<'a>(
        &mut self,
        inputs: impl IntoIterator<Item = &'a WorldInput>,
    ) -> Result<(), Error> {
        for input in inputs {
            if let Some((reason, text)) = self.apply(&input.message)? {
                let at = input
                    .line
                    .map(|l| format!("config line {l}: "))
                    .unwrap_or_default();
                return Err(Error::new(format!(
                    "{at}{}: refused: {reason:?}: {text}",
                    input.key
                )));
            }
        }
        Ok(())
    }
}

/// A scratch engine holding exactly `world`, or the first refusal with its line.
pub fn scratch_world(world: &World) -> Result<Engine, Error> {
    let mut scratch = Scratch::new(&world.genesis)?;
    scratch.apply_all(&world.inputs)?;
    Ok(scratch.engine)
}

/// Applies the world to a scratch engine and reports the first refusal with its line.
pub fn check_world(world: &World) -> Result<(), Error> {
    scratch_world(world).map(|_| ())
}
