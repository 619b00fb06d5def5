//! The Sluice wire protocol: one codec used by the gateway, the engine, the journal tools and every
//! client.
//!
//! A frame is the FIX Simple Open Framing Header (6 bytes, big-endian: u32 frame length including the
//! header, u16 encoding type 0xEB50 = SBE 1.0 little-endian), then the SBE 1.0 message header (8
//! bytes, little-endian: block_length, template_id, schema_id, version), then the root block, then
//! repeating groups and variable-length texts. `docs/PROTOCOL.md` describes every message; its tables
//! are generated from this crate and a test keeps them equal.
//!
//! Decoding never panics and never allocates: every read is bounds-checked, groups and texts decode
//! into fixed-capacity arrays whose maxima are part of the schema.

#![forbid(unsafe_code)]

#[macro_use]
mod macros;

pub mod codec;
pub mod messages;
pub mod recoverable;
pub mod rng;
pub mod schema;
pub mod types;

pub use codec::{Chars, DecodeError, Ip};
pub use messages::*;
pub use recoverable::{
    RECOVERABLE_TEMPLATES, is_recoverable, read_out_seq, set_retransmission, write_out_seq,
};
pub use types::*;

/// Bytes of the Simple Open Framing Header.
pub const SOFH_LEN: usize = 6;
/// Bytes of the SBE message header.
pub const MESSAGE_HEADER_LEN: usize = 8;
/// SOFH encoding type for SBE 1.0 little-endian.
pub const ENCODING_SBE_LE: u16 = 0xEB50;
/// Sluice's SBE schema id ("SL").
pub const SCHEMA_ID: u16 = 0x534C;
/// The schema version this code writes. Decoders accept any version >= 1 (append-only).
pub const SCHEMA_VERSION: u16 = 9;
/// Largest frame the server accepts from a peer, framing header included.
pub const MAX_INBOUND_FRAME_BYTES: usize = 1024;
/// Largest frame anyone sends (server replies such as StatsReport are the largest).
pub const MAX_FRAME_BYTES: usize = 16 * 1024;

/// Who sends a message. The gateway refuses a message from a role that may not send it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SentBy {
    /// Any client, before login (Login).
    Client,
    /// Either side (Heartbeat, Logout).
    Any,
    /// Only the server.
    Server,
    /// Acquirer sessions.
    Acquirer,
    /// Channel-connector sessions.
    Channel,
    /// Admin sessions.
    Admin,
    /// Acquirer or admin sessions.
    AcquirerOrAdmin,
    /// Channel-connector or admin sessions (DisputeNotice, schema 8).
    ChannelOrAdmin,
    /// Only the server's sequencer (journaled inputs that no peer may send).
    Sequencer,
}

impl SentBy {
    /// Whether a logged-in session with `role` may send a message of this kind.
    pub fn allows(self, role: Role) -> bool {
        match self {
            SentBy::Any => true,
            SentBy::Acquirer => role == Role::Acquirer,
            SentBy::Channel => role == Role::Channel,
            SentBy::Admin => role == Role::Admin,
            SentBy::AcquirerOrAdmin => matches!(role, Role::Acquirer | Role::Admin),
            SentBy::ChannelOrAdmin => matches!(role, Role::Channel | Role::Admin),
            SentBy::Client | SentBy::Server | SentBy::Sequencer => false,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            SentBy::Client => "client (before login)",
            SentBy::Any => "either side",
            SentBy::Server => "server",
            SentBy::Acquirer => "acquirer",
            SentBy::Channel => "channel",
            SentBy::Admin => "admin",
            SentBy::AcquirerOrAdmin => "acquirer or admin",
            SentBy::ChannelOrAdmin => "channel or admin",
            SentBy::Sequencer => "sequencer (journal only)",
        }
    }
}

/// A message of the schema.
pub trait Message: Sized {
    const TEMPLATE_ID: u16;
    const NAME: &'static str;
    /// Root block length of this version.
    const BLOCK_LENGTH: u16;
    /// The root block of the message's first version: a shorter block is corrupt; fields past
    /// it that a later version appended read as their defaults when a block ends before them.
    const MIN_BLOCK_LENGTH: u16;
    const SENT_BY: SentBy;
    /// Largest body (root, groups, texts) this message can have.
    const MAX_BODY_LEN: usize;
    /// Body length of this value.
    fn body_len(&self) -> usize;
    /// Writes the body; `buf.len() >= body_len()`.
    fn write_body(&self, buf: &mut [u8]);
    /// Reads a body whose root block is `block_length` bytes.
    fn read_body(block_length: u16, body: &[u8]) -> Result<Self, DecodeError>;
    /// The message's documentation.
    fn schema() -> schema::MessageDoc;
}

/// The SBE message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageHeader {
    pub block_length: u16,
    pub template_id: u16,
    pub schema_id: u16,
    pub version: u16,
}

impl MessageHeader {
    /// Reads and checks the header at the start of `sbe` (schema id and version).
    #[inline]
    pub fn read(sbe: &[u8]) -> Result<Self, DecodeError> {
        codec::need(sbe, MESSAGE_HEADER_LEN)?;
        let le = |i: usize| u16::from_le_bytes([sbe[i], sbe[i + 1]]);
        let header = MessageHeader {
            block_length: le(0),
            template_id: le(2),
            schema_id: le(4),
            version: le(6),
        };
        if header.schema_id != SCHEMA_ID {
            return Err(DecodeError::WrongSchema {
                schema_id: header.schema_id,
            });
        }
        if header.version == 0 {
            return Err(DecodeError::BadVersion { version: 0 });
        }
        Ok(header)
    }

    #[inline]
    fn write(&self, buf: &mut [u8]) {
        buf[0..2].copy_from_slice(&self.block_length.to_le_bytes());
        buf[2..4].copy_from_slice(&self.template_id.to_le_bytes());
        buf[4..6].copy_from_slice(&self.schema_id.to_le_bytes());
        buf[6..8].copy_from_slice(&self.version.to_le_bytes());
    }
}

/// A framing error: the stream cannot be trusted after it, so the connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The length is shorter than the two headers.
    TooShort { length: u32 },
    /// The length is over the maximum.
    TooLarge { length: u32, max: u32 },
    /// The encoding type is not 0xEB50.
    BadEncodingType { encoding: u16 },
}

impl FrameError {
    pub fn reason(&self) -> ReasonCode {
        match self {
            FrameError::TooShort { .. } => ReasonCode::FrameTooShort,
            FrameError::TooLarge { .. } => ReasonCode::FrameTooLarge,
            FrameError::BadEncodingType { .. } => ReasonCode::BadEncodingType,
        }
    }
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            FrameError::TooShort { length } => {
                write!(
                    f,
                    "frame length {length} is shorter than the headers (14 bytes)"
                )
            }
            FrameError::TooLarge { length, max } => {
                write!(f, "frame length {length} is over the maximum {max}")
            }
            FrameError::BadEncodingType { encoding } => {
                write!(f, "encoding type {encoding:#06x} is not 0xEB50")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// Looks at the framing header at the start of `buf`: `Ok(None)` if more bytes are needed to know,
/// `Ok(Some(n))` if a whole frame of `n` bytes is there, an error if the stream is not a valid
/// frame stream. Never reads past `buf` and never trusts the length before checking it.
#[inline]
pub fn frame_length(buf: &[u8], max_frame_bytes: usize) -> Result<Option<usize>, FrameError> {
    if buf.len() < SOFH_LEN {
        return Ok(None);
    }
    let length = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let encoding = u16::from_be_bytes([buf[4], buf[5]]);
    if encoding != ENCODING_SBE_LE {
        return Err(FrameError::BadEncodingType { encoding });
    }
    if (length as usize) < SOFH_LEN + MESSAGE_HEADER_LEN {
        return Err(FrameError::TooShort { length });
    }
    if length as usize > max_frame_bytes {
        return Err(FrameError::TooLarge {
            length,
            max: max_frame_bytes as u32,
        });
    }
    if buf.len() < length as usize {
        return Ok(None);
    }
    Ok(Some(length as usize))
}

/// Encoding failed: the buffer is too small for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferTooSmall {
    pub needed: usize,
    pub available: usize,
}

impl std::fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "buffer too small: {} bytes needed, {} available",
            self.needed, self.available
        )
    }
}

impl std::error::Error for BufferTooSmall {}

/// Bytes `msg` takes as a whole frame.
#[inline]
pub fn frame_len<M: Message>(msg: &M) -> usize {
    SOFH_LEN + MESSAGE_HEADER_LEN + msg.body_len()
}

/// Writes the SBE header and body of `msg` (no framing header) into `out`; returns bytes written.
#[inline]
pub fn encode_sbe<M: Message>(msg: &M, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
    let len = MESSAGE_HEADER_LEN + msg.body_len();
    if out.len() < len {
        return Err(BufferTooSmall {
            needed: len,
            available: out.len(),
        });
    }
    MessageHeader {
        block_length: M::BLOCK_LENGTH,
        template_id: M::TEMPLATE_ID,
        schema_id: SCHEMA_ID,
        version: SCHEMA_VERSION,
    }
    .write(out);
    msg.write_body(&mut out[MESSAGE_HEADER_LEN..len]);
    Ok(len)
}

/// Writes `msg` as a whole frame (framing header, SBE header, body) into `out`; returns bytes written.
#[inline]
pub fn encode_frame<M: Message>(msg: &M, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
    let len = frame_len(msg);
    if out.len() < len {
        return Err(BufferTooSmall {
            needed: len,
            available: out.len(),
        });
    }
    write_sofh(out, len);
    encode_sbe(msg, &mut out[SOFH_LEN..])?;
    Ok(len)
}

/// Writes a framing header for a frame of `frame_len` bytes (header included).
#[inline]
pub fn write_sofh(out: &mut [u8], frame_len: usize) {
    out[0..4].copy_from_slice(&(frame_len as u32).to_be_bytes());
    out[4..6].copy_from_slice(&ENCODING_SBE_LE.to_be_bytes());
}

/// Splits SBE bytes (header and body, no framing header) into the checked header and the body.
#[inline]
pub fn split_sbe(sbe: &[u8]) -> Result<(MessageHeader, &[u8]), DecodeError> {
    let header = MessageHeader::read(sbe)?;
    Ok((header, &sbe[MESSAGE_HEADER_LEN..]))
}

/// Decodes SBE bytes (no framing header) as message `M`.
#[inline]
pub fn decode_sbe<M: Message>(sbe: &[u8]) -> Result<M, DecodeError> {
    let (header, body) = split_sbe(sbe)?;
    if header.template_id != M::TEMPLATE_ID {
        return Err(DecodeError::UnknownTemplate {
            template_id: header.template_id,
        });
    }
    M::read_body(header.block_length, body)
}

/// Decodes a whole frame (framing header included) as message `M`.
#[inline]
pub fn decode_frame<M: Message>(frame: &[u8]) -> Result<M, DecodeError> {
    codec::need(frame, SOFH_LEN)?;
    decode_sbe(&frame[SOFH_LEN..])
}

macro_rules! all_messages {
    ($($m:ident),* $(,)?) => {
        /// Any message of the schema, decoded. Large (it can hold a StatsReport) but never allocates.
        #[derive(Debug, Clone, PartialEq)]
        #[allow(clippy::large_enum_variant)] // Decoding must not allocate, so no boxing.
        pub enum AnyMessage {
            $( $m($m), )*
        }

        impl AnyMessage {
            /// Decodes a body by its header's template id.
            pub fn decode(header: MessageHeader, body: &[u8]) -> Result<Self, DecodeError> {
                match header.template_id {
                    $( <$m as Message>::TEMPLATE_ID => Ok(AnyMessage::$m($m::read_body(header.block_length, body)?)), )*
                    template_id => Err(DecodeError::UnknownTemplate { template_id }),
                }
            }

            pub fn template_id(&self) -> u16 {
                match self { $( AnyMessage::$m(_) => <$m as Message>::TEMPLATE_ID, )* }
            }

            pub fn name(&self) -> &'static str {
                match self { $( AnyMessage::$m(_) => <$m as Message>::NAME, )* }
            }

            /// Writes the message as a whole frame.
            pub fn encode_frame(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
                match self { $( AnyMessage::$m(m) => encode_frame(m, out), )* }
            }

            /// Writes the message as SBE bytes (no framing header).
            pub fn encode_sbe(&self, out: &mut [u8]) -> Result<usize, BufferTooSmall> {
                match self { $( AnyMessage::$m(m) => encode_sbe(m, out), )* }
            }

            /// A sample of the message with template `template_id`, built from entropy (tests).
            pub fn sample(template_id: u16, e: &mut codec::Entropy<'_>) -> Option<Self> {
                match template_id {
                    $( <$m as Message>::TEMPLATE_ID => Some(AnyMessage::$m(<$m as codec::Sample>::sample(e))), )*
                    _ => None,
                }
            }
        }

        $(
            impl From<$m> for AnyMessage {
                fn from(m: $m) -> Self { AnyMessage::$m(m) }
            }
        )*

        /// Every message's documentation, in template order.
        pub fn message_docs() -> Vec<schema::MessageDoc> {
            vec![$( <$m as Message>::schema(), )*]
        }

        /// Every template id.
        pub const TEMPLATE_IDS: &[u16] = &[$( <$m as Message>::TEMPLATE_ID, )*];

        /// The name of a template id.
        pub fn template_name(template_id: u16) -> Option<&'static str> {
            match template_id {
                $( <$m as Message>::TEMPLATE_ID => Some(<$m as Message>::NAME), )*
                _ => None,
            }
        }

        /// Who may send a template id.
        pub fn sent_by(template_id: u16) -> Option<SentBy> {
            match template_id {
                $( <$m as Message>::TEMPLATE_ID => Some(<$m as Message>::SENT_BY), )*
                _ => None,
            }
        }

        /// The largest body of a template id (groups and texts full).
        pub fn max_body_len(template_id: u16) -> Option<usize> {
            match template_id {
                $( <$m as Message>::TEMPLATE_ID => Some(<$m as Message>::MAX_BODY_LEN), )*
                _ => None,
            }
        }
    };
}

all_messages!(
    Login,
    LoginAccepted,
    LoginRejected,
    Heartbeat,
    Logout,
    ResumeComplete,
    Reject,
    PaymentRequest,
    PaymentAck,
    PaymentResult,
    RefundRequest,
    RefundAck,
    RefundResult,
    QueryOrder,
    OrderStatus,
    WithdrawRequest,
    WithdrawResult,
    PaymentReversal,
    WithdrawAck,
    WithdrawReturned,
    DisputeUpdate,
    ReviewItem,
    YieldPosition,
    InstallmentPlan,
    CreditPosition,
    Dispatch,
    ChannelResult,
    RefundDispatch,
    RefundChannelResult,
    ChannelControl,
    ChannelControlResult,
    PayoutDispatch,
    PayoutQuery,
    PayoutChannelResult,
    DisputeNotice,
    ConfigMerchant,
    ConfigChannel,
    ConfigSplitProfile,
    ConfigPromoter,
    ConfigRiskRule,
    ConfigRiskRuleText,
    ConfigListEntry,
    ConfigRiskModel,
    ConfigAck,
    BalanceQuery,
    BalanceReport,
    StatsQuery,
    StatsReport,
    SnapshotRequest,
    HealthAlert,
    ConfigCredential,
    CredentialUpdate,
    ConfigQuery,
    ConfigMerchantNotify,
    ChannelSettlement,
    Discrepancy,
    ConfigCalendarDay,
    ReleaseSettlement,
    PayoutRequest,
    PayoutAck,
    PayoutReview,
    ConfigPayoutChannel,
    ConfigPayoutPolicy,
    RiskLabel,
    ReviewDecision,
    ReviewQuery,
    ConfigYield,
    FundYield,
    YieldRedeem,
    YieldQuery,
    ConfigInstallments,
    InstallmentRepayment,
    InstallmentEarlyRepayment,
    InstallmentDefault,
    InstallmentQuery,
    ConfigCreditPolicy,
    LoanRequest,
    LoanRepayment,
    CreditQuery,
    Pulse,
    Genesis,
);

/// Decodes SBE bytes (no framing header) as whichever message they hold.
pub fn decode_any_sbe(sbe: &[u8]) -> Result<AnyMessage, DecodeError> {
    let (header, body) = split_sbe(sbe)?;
    AnyMessage::decode(header, body)
}

/// Decodes a whole frame as whichever message it holds.
pub fn decode_any_frame(frame: &[u8]) -> Result<AnyMessage, DecodeError> {
    codec::need(frame, SOFH_LEN)?;
    decode_any_sbe(&frame[SOFH_LEN..])
}

/// Whether a logged-in session with `role` may send `template_id`.
pub fn may_send(role: Role, template_id: u16) -> bool {
    sent_by(template_id).is_some_and(|s| s.allows(role))
}

impl ConfigQuery {
    /// The query for the object of `kind` with `id` (for a list entry, its index).
    pub fn by_id(kind: ConfigKind, id: u64) -> ConfigQuery {
        ConfigQuery {
            kind,
            lookup: ConfigLookup::ById,
            id,
            key_id: Chars::default(),
        }
    }

    /// The query for the credential `key_id`.
    pub fn credential(key_id: Chars<16>) -> ConfigQuery {
        ConfigQuery {
            key_id,
            ..ConfigQuery::by_id(ConfigKind::Credential, 0)
        }
    }

    /// The query for the object of `kind` at `position` (0-based, in order of first definition).
    pub fn by_position(kind: ConfigKind, position: u64) -> ConfigQuery {
        ConfigQuery {
            lookup: ConfigLookup::ByPosition,
            ..ConfigQuery::by_id(kind, position)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_fits_the_frame_maximum() {
        for doc in message_docs() {
            let max = max_body_len(doc.template_id).unwrap_or(usize::MAX);
            assert!(
                SOFH_LEN + MESSAGE_HEADER_LEN + max <= MAX_FRAME_BYTES,
                "{} can reach {} bytes",
                doc.name,
                max
            );
            if matches!(
                doc.sent_by,
                SentBy::Acquirer
                    | SentBy::Channel
                    | SentBy::Admin
                    | SentBy::AcquirerOrAdmin
                    | SentBy::ChannelOrAdmin
            ) || doc.sent_by == SentBy::Client
                || doc.sent_by == SentBy::Any
            {
                assert!(
                    SOFH_LEN + MESSAGE_HEADER_LEN + max <= MAX_INBOUND_FRAME_BYTES,
                    "{} (sent by peers) can reach {} bytes, over the inbound maximum",
                    doc.name,
                    max
                );
            }
        }
    }

    #[test]
    fn template_ids_are_unique() {
        let mut ids = TEMPLATE_IDS.to_vec();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), TEMPLATE_IDS.len());
    }

    #[test]
    fn roles_are_enforced() {
        assert!(may_send(Role::Acquirer, PaymentRequest::TEMPLATE_ID));
        assert!(!may_send(Role::Channel, PaymentRequest::TEMPLATE_ID));
        assert!(!may_send(Role::Acquirer, ConfigMerchant::TEMPLATE_ID));
        assert!(may_send(Role::Admin, ConfigMerchant::TEMPLATE_ID));
        assert!(may_send(Role::Channel, ChannelResult::TEMPLATE_ID));
        assert!(!may_send(Role::Admin, Pulse::TEMPLATE_ID));
        assert!(!may_send(Role::Admin, Login::TEMPLATE_ID));
        assert!(may_send(Role::Acquirer, Heartbeat::TEMPLATE_ID));
        assert!(!may_send(Role::Acquirer, PaymentAck::TEMPLATE_ID));
        assert!(!may_send(Role::Admin, 9999));
        assert!(may_send(Role::Channel, PayoutChannelResult::TEMPLATE_ID));
        assert!(!may_send(Role::Acquirer, PayoutChannelResult::TEMPLATE_ID));
        assert!(may_send(Role::Admin, PayoutRequest::TEMPLATE_ID));
        assert!(!may_send(Role::Acquirer, PayoutRequest::TEMPLATE_ID));
        assert!(!may_send(Role::Admin, WithdrawAck::TEMPLATE_ID));
        assert!(may_send(Role::Channel, DisputeNotice::TEMPLATE_ID));
        assert!(may_send(Role::Admin, DisputeNotice::TEMPLATE_ID));
        assert!(!may_send(Role::Acquirer, DisputeNotice::TEMPLATE_ID));
        assert!(may_send(Role::Admin, ReviewDecision::TEMPLATE_ID));
        assert!(!may_send(Role::Channel, RiskLabel::TEMPLATE_ID));
        assert!(!may_send(Role::Admin, DisputeUpdate::TEMPLATE_ID));
        assert!(may_send(Role::Admin, FundYield::TEMPLATE_ID));
        assert!(!may_send(Role::Acquirer, YieldRedeem::TEMPLATE_ID));
        assert!(!may_send(Role::Admin, YieldPosition::TEMPLATE_ID));
        assert!(may_send(Role::Admin, LoanRequest::TEMPLATE_ID));
        assert!(!may_send(Role::Acquirer, LoanRequest::TEMPLATE_ID));
        assert!(!may_send(Role::Admin, CreditPosition::TEMPLATE_ID));
    }
}
