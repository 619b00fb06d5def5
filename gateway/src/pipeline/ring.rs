//! The input ring: its slots, the producer the sequencer owns, and the pollers of the journaler
//! and the processor in either arrangement.

use super::Arrangement;
use disruptor::{
    BusySpin, EventGuard, EventPoller, Polling, SingleConsumerBarrier, SingleProducer,
    SingleProducerBarrier,
};

/// Bytes an input slot carries: the envelope and the largest inbound SBE message.
pub const SLOT_PAYLOAD_BYTES: usize = sluice_node::MAX_INPUT_PAYLOAD_BYTES;

/// One input on the ring: sequence, event time, template id, and the journal payload.
pub struct InputSlot {
    pub seq: u64,
    pub timestamp_ns: u64,
    pub kind: u16,
    pub len: u16,
    pub payload: [u8; SLOT_PAYLOAD_BYTES],
}

impl InputSlot {
    pub(super) fn empty() -> Self {
        InputSlot {
            seq: 0,
            timestamp_ns: 0,
            kind: 0,
            len: 0,
            payload: [0; SLOT_PAYLOAD_BYTES],
        }
    }

    /// The journal payload (envelope + SBE).
    pub fn bytes(&self) -> &[u8] {
        &self.payload[..usize::from(self.len)]
    }
}

/// The ring's producer, owned by the sequencer.
pub type RingProducer = SingleProducer<InputSlot, disruptor::MultiConsumerBarrier>;
pub(super) type RingPoller = EventPoller<InputSlot, SingleProducerBarrier>;
/// The processor's poller when it runs after the journaler (`Arrangement::JournalBefore`).
pub(super) type AfterJournalPoller = EventPoller<InputSlot, SingleConsumerBarrier>;

/// A ring consumer's poll, whichever barrier it waits on. The disruptor crate does not export its
/// barrier trait, so the processor is generic over this instead (monomorphised: no cost).
pub(super) trait PollInputs {
    type Barrier;
    fn poll_inputs(&mut self) -> Result<EventGuard<'_, InputSlot, Self::Barrier>, Polling>;
    /// Whether an event is ready (a cheap check before parking).
    fn has_events(&self) -> bool;
}

impl PollInputs for RingPoller {
    type Barrier = SingleProducerBarrier;
    #[inline]
    fn poll_inputs(&mut self) -> Result<EventGuard<'_, InputSlot, Self::Barrier>, Polling> {
        self.poll()
    }
    #[inline]
    fn has_events(&self) -> bool {
        self.has_available()
    }
}

impl PollInputs for AfterJournalPoller {
    type Barrier = SingleConsumerBarrier;
    #[inline]
    fn poll_inputs(&mut self) -> Result<EventGuard<'_, InputSlot, Self::Barrier>, Polling> {
        self.poll()
    }
    #[inline]
    fn has_events(&self) -> bool {
        self.has_available()
    }
}

/// The processor's poller in either arrangement.
pub(super) enum ProcessorPoller {
    Direct(RingPoller),
    AfterJournal(AfterJournalPoller),
}

/// The ring, its producer, and its two consumers' pollers in the given arrangement.
pub(super) fn build(
    ring_size: usize,
    arrangement: Arrangement,
) -> (RingPoller, ProcessorPoller, RingProducer) {
    let builder = disruptor::build_single_producer(ring_size, InputSlot::empty, BusySpin);
    let (journal_poller, builder) = builder.new_event_poller();
    let (processor_poller, producer) = match arrangement {
        Arrangement::Parallel => {
            let (poller, builder) = builder.new_event_poller();
            (ProcessorPoller::Direct(poller), builder.build())
        }
        Arrangement::JournalBefore => {
            let builder = builder.and_then().with_multi_consumer();
            let (poller, builder) = builder.new_event_poller();
            (ProcessorPoller::AfterJournal(poller), builder.build())
        }
    };
    (journal_poller, processor_poller, producer)
}
