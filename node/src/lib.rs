//! # sluice-node
//!
//! The engine over the journal, with no sockets: everything that turns journal records into an
//! engine's state, shared by the live server, the operator's replay tools and followers.
//!
//! - [`world`]: the business half of a configuration (limits, channels, merchants, split
//!   profiles, promoters, rules, lists, currencies) compiled into journaled inputs.
//! - [`recovery`]: opening a data directory — the newest usable snapshot plus the journal's tail,
//!   or, on an empty journal, Genesis and the world as the first inputs.
//! - [`replayer`]: the one loop that applies journal records to an engine
//!   (`Engine::apply_record`, with read-ahead prefetching).
//! - [`follower`]: an engine of its own that tails the live journal, never past the durable
//!   cursor, with a durable position it resumes from.
//! - [`clock`]: where the sequencer's event time comes from — the wall clock, or a scripted clock
//!   that a scenario drives (a simulated month in seconds).
//!
//! See docs/ARCHITECTURE.md for which crate may import which.

pub mod clock;
pub mod flow;
pub mod follower;
pub mod notifications;
pub mod recovery;
pub mod replayer;
pub mod time;
pub mod world;

use std::fmt;

pub use clock::{Clock, ScriptedClock, wall_clock_ns};
pub use follower::{DurableCursor, Follower, FollowerStatus};
pub use recovery::{Recovered, RecoveryEvent, recover};
pub use replayer::{Applied, ReadAhead, Replayer, Start};
pub use world::{ConfigError, World, WorldInput};

/// Bytes of the largest input payload: the envelope and the largest inbound SBE message (what an
/// input ring slot carries and a journal record holds).
pub const MAX_INPUT_PAYLOAD_BYTES: usize = sluice_engine::ENVELOPE_LEN
    + sluice_protocol::MAX_INBOUND_FRAME_BYTES
    - sluice_protocol::SOFH_LEN;

/// Why a node could not reach a state: a sentence for the operator, naming what and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl Error {
    pub fn new(message: impl Into<String>) -> Error {
        Error(message.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<sluice_journal::JournalError> for Error {
    fn from(e: sluice_journal::JournalError) -> Error {
        Error(e.to_string())
    }
}

impl From<sluice_engine::ApplyError> for Error {
    fn from(e: sluice_engine::ApplyError) -> Error {
        Error(e.to_string())
    }
}
