"""A small, dependency-free Python client for the Sluice wire protocol.

Written from docs/PROTOCOL.md alone (section numbers below refer to it). Standard library only:
`socket` and `struct` do the work; `enum`, `decimal`, `time` and `types` are for readability.

    from sluice_client import Client, PaymentMethod, Role, Scene
    with Client.connect("127.0.0.1", 7070) as c:
        c.login(Role.Acquirer, "acq-a", "sluice-demo-acquirer-a")
        c.send("PaymentRequest", request_id=1, merchant_id=1001, amount_minor=10000, currency=156,
               method=PaymentMethod.Wallet, scene=Scene.App, country="CN")
        ack = c.wait_for("PaymentAck", request_id=1)

Every message is described once, as a table of (offset, field, type) copied from section 5; one
generic encoder and one generic decoder work from those tables. The tables are checked when the
module is imported: offsets must be contiguous and add up to the documented block length.
"""

from __future__ import annotations

import decimal
import enum
import socket
import struct
import time
from types import SimpleNamespace

# --------------------------------------------------------------------------------------------------
# Section 1: framing constants
# --------------------------------------------------------------------------------------------------

SOFH = struct.Struct(">IH")  # u32 message_length, u16 encoding_type -- BIG-endian
SBE_HEADER = struct.Struct("<HHHH")  # block_length, template_id, schema_id, version -- little-endian
GROUP_HEADER = struct.Struct("<HH")  # block_length (bytes per entry), count
TEXT_LENGTH = struct.Struct("<H")  # variable-length text: u16 length, then the bytes

ENCODING_TYPE = 0xEB50  # SBE 1.0 little-endian
SCHEMA_ID = 0x534C  # "SL"
SCHEMA_VERSION = 9  # section 1, Versioning: the server accepts any version >= 1
HEADERS_LEN = SOFH.size + SBE_HEADER.size  # 14: also the shortest valid frame
MAX_FRAME_TO_SERVER = 1024  # largest frame the server accepts (LoginAccepted.max_frame_bytes says so too)
MAX_FRAME_FROM_SERVER = 16384  # largest frame the server sends


class ProtocolError(Exception):
    """The bytes do not follow the protocol (bad framing, a body that does not decode...)."""


class SluiceError(Exception):
    """The server refused something, or did not answer as expected."""


class Rejected(SluiceError):
    """The server answered with Reject (or Logout); `.msg` is the decoded message."""

    def __init__(self, msg):
        super().__init__(describe(msg))
        self.msg = msg


# --------------------------------------------------------------------------------------------------
# Section 6: enums. An undefined value is a decode error.
# --------------------------------------------------------------------------------------------------


class Role(enum.IntEnum):
    Acquirer = 1
    Channel = 2
    Admin = 3


class PaymentMethod(enum.IntEnum):
    Card = 1
    Wallet = 2
    BankTransfer = 3


class Scene(enum.IntEnum):
    ScanCode = 1
    H5 = 2
    App = 3
    OfficialAccount = 4
    MiniProgram = 5
    Pos = 6


class AckStatus(enum.IntEnum):
    Accepted = 1
    Rejected = 2


class FinalStatus(enum.IntEnum):
    Succeeded = 1
    Failed = 2


class PayoutState(enum.IntEnum):
    Review = 1
    Sent = 2
    Paid = 3
    Failed = 4
    Returned = 5


class OrderState(enum.IntEnum):
    NotFound = 0
    Rejected = 1
    InFlight = 2
    Succeeded = 3
    Failed = 4


class LoanState(enum.IntEnum):
    NONE = 0  # "None" in the document (a Python keyword)
    Active = 1
    Overdue = 2
    Defaulted = 3
    Closed = 4


class LabelKind(enum.IntEnum):
    NONE = 0  # "None" in the document (a Python keyword)
    Fraud = 1
    FalsePositive = 2
    Legitimate = 3


class LabelSource(enum.IntEnum):
    NONE = 0  # "None" in the document (a Python keyword)
    Analyst = 1
    IssuerReport = 2
    Customer = 3
    Review = 4
    Chargeback = 5


class DisputeStage(enum.IntEnum):
    Opened = 1
    Won = 2
    Lost = 3


class DisputeReason(enum.IntEnum):
    Fraud = 1
    NotReceived = 2
    NotAsDescribed = 3
    Duplicate = 4
    Other = 5


class ReviewAction(enum.IntEnum):
    Approve = 1
    RefundAndBlock = 2


class RefundState(enum.IntEnum):
    Pending = 1
    Succeeded = 2
    Failed = 3
    Unknown = 4


class RiskAction(enum.IntEnum):
    NONE = 0  # "None" in the document (a Python keyword)
    Allow = 1
    Review = 2
    Block = 3


class ChannelOutcome(enum.IntEnum):
    Succeeded = 1
    Declined = 2
    RetryableError = 3


class AttemptStatus(enum.IntEnum):
    Pending = 1
    Succeeded = 2
    Declined = 3
    RetryableError = 4
    TimedOut = 5
    Unknown = 6
    Closing = 7
    Closed = 8
    Abandoned = 9
    Reversing = 10
    Reversed = 11


class ChannelOp(enum.IntEnum):
    Query = 1
    Close = 2
    Reverse = 3
    RefundQuery = 4


class ChannelStatus(enum.IntEnum):
    Paid = 1
    NotPaid = 2
    NotFound = 3
    Closed = 4
    Reversed = 5
    Refunded = 6
    RefundFailed = 7
    Processing = 8
    Error = 9


class UnknownPolicy(enum.IntEnum):
    Legacy = 0
    Hold = 1
    FailOver = 2


class ResumeStatus(enum.IntEnum):
    NotRequested = 0
    Resuming = 1
    Refused = 2


class ReversalState(enum.IntEnum):
    Reversing = 1
    Reversed = 2


class PartyRole(enum.IntEnum):
    Platform = 1
    PromoterLevel1 = 2
    PromoterLevel2 = 3
    Merchant = 4
    MerchantParent = 5
    MerchantGrandparent = 6
    ChannelFee = 7


class FeeBearer(enum.IntEnum):
    Platform = 1
    Merchant = 2


class RoutingStrategy(enum.IntEnum):
    Priority = 1
    WeightedSplit = 2
    Cheapest = 3
    HighestSuccessRate = 4
    WeightedScore = 5
    ExpectedValue = 6


class CandidateDecision(enum.IntEnum):
    Chosen = 1
    Ranked = 2
    Skipped = 3


class SkipReason(enum.IntEnum):
    NONE = 0
    MethodUnsupported = 1
    CurrencyUnsupported = 2
    AmountOutOfRange = 3
    Disabled = 4
    Unhealthy = 5
    AlreadyTried = 6
    ProbeBusy = 7
    ZeroWeight = 8
    UnknownChannel = 9


class HealthState(enum.IntEnum):
    Healthy = 1
    Open = 2
    Probing = 3


class RiskFeature(enum.IntEnum):
    PaymentCount = 1
    PaymentAmount = 2
    RefundCount = 3
    DeclineCount = 4
    SingleAmount = 5


class RiskEntity(enum.IntEnum):
    NONE = 0
    User = 1
    Ip = 2
    Device = 3
    CardFingerprint = 4
    CardBin = 5
    Merchant = 6


class RiskWindow(enum.IntEnum):
    NONE = 0
    Minute = 1
    Hour = 2
    Day = 3


class Comparison(enum.IntEnum):
    Greater = 1
    GreaterOrEqual = 2
    Less = 3
    LessOrEqual = 4
    Equal = 5


class RuleTarget(enum.IntEnum):
    Payment = 1
    Refund = 2


class ListKind(enum.IntEnum):
    Allow = 1
    Block = 2


class ListOp(enum.IntEnum):
    Add = 1
    Remove = 2


class PartyKind(enum.IntEnum):
    Merchant = 1
    Promoter = 2
    Platform = 3


class Activity(enum.IntEnum):
    Active = 1
    Disabled = 2


class CredentialOp(enum.IntEnum):
    Add = 1
    Rotate = 2
    Revoke = 3


class SecretHash(enum.IntEnum):
    Sha256 = 1
    HmacSha256 = 2


class ConfigKind(enum.IntEnum):
    Merchant = 1
    Channel = 2
    SplitProfile = 3
    Promoter = 4
    RiskRule = 5
    ListEntry = 6
    Credential = 7


class ConfigLookup(enum.IntEnum):
    ById = 0
    ByPosition = 1


class ReasonCode(enum.IntEnum):
    NONE = 0
    MalformedMessage = 1
    UnknownTemplate = 2
    NotLoggedIn = 3
    RoleNotAllowed = 4
    FrameTooLarge = 5
    BadEncodingType = 6
    FrameTooShort = 7
    WrongSchema = 8
    BadCredentials = 9
    AlreadyLoggedIn = 10
    HeartbeatTimeout = 11
    SlowConsumer = 12
    ServerShuttingDown = 13
    TooManyConnections = 14
    CredentialRevoked = 15
    UnknownMerchant = 100
    MerchantNotOwned = 101
    MerchantDisabled = 102
    AmountNotPositive = 103
    AmountBelowMinimum = 104
    AmountAboveMaximum = 105
    CurrencyNotAccepted = 106
    DuplicateRequestMismatch = 107
    OrdersFull = 108
    RiskBlocked = 109
    NoChannelAvailable = 110
    UnknownPromoter = 111
    InvalidField = 112
    UnknownOrder = 120
    OrderNotSucceeded = 121
    RefundExceedsCaptured = 122
    InsufficientBalance = 123
    RefundsFull = 124
    RefundInProgress = 125
    BalanceOverflow = 126
    TooManyRefunds = 127
    ChannelDeclined = 130
    AttemptsExhausted = 131
    ChannelTimeout = 132
    WrongChannel = 133
    StaleAttempt = 134
    LateCapture = 135
    RefundWindowPassed = 128
    OrderExpired = 129
    UnknownChannel = 140
    UnknownSplitProfile = 141
    CapacityReached = 142
    InvalidConfig = 143
    UnknownRule = 144
    UnknownCredential = 145
    CredentialExists = 146
    NotFound = 147
    WithdrawalsFull = 150
    NoPayoutChannel = 151
    BelowMinimumPayout = 152
    PayoutsFull = 153
    PayoutRejected = 154
    PayoutFailed = 155
    UnknownPayout = 156
    PayoutNotInReview = 157
    ResumeTooOld = 160
    ResumeAhead = 161
    ResumeUnavailable = 162
    DisputeExists = 190
    UnknownDispute = 191
    DisputeExceedsCaptured = 192
    AttemptNotCaptured = 193
    DisputesFull = 194
    NotInReview = 195
    CreditLimitExceeded = 220
    UnknownLoan = 221
    LoanOpen = 222
    LoansFull = 223
    NoCreditPolicy = 224


# --------------------------------------------------------------------------------------------------
# Section 1 "Body encoding": field types
# --------------------------------------------------------------------------------------------------


class FieldType:
    """One wire type: a size, an encoder and a decoder."""

    def __init__(self, name: str, size: int):
        self.name, self.size = name, size

    def default(self):
        return 0

    def encode(self, value) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes, field: str):
        raise NotImplementedError


class Int(FieldType):
    def __init__(self, name: str, fmt: str):
        self.struct = struct.Struct("<" + fmt)
        super().__init__(name, self.struct.size)

    def encode(self, value):
        return self.struct.pack(int(value))

    def decode(self, data, field):
        return self.struct.unpack(data)[0]


class Bool(FieldType):
    def __init__(self):
        super().__init__("bool", 1)

    def encode(self, value):
        return bytes([1 if value else 0])

    def decode(self, data, field):
        if data[0] > 1:
            raise ProtocolError(f"{field}: bool must be 0 or 1, got {data[0]}")
        return data[0]  # kept as 0/1, which is how the document talks about it ("duplicate = 1")


class Enum(FieldType):
    def __init__(self, cls: type[enum.IntEnum], fmt: str):
        self.cls, self.int = cls, Int(fmt, fmt)
        super().__init__(f"{cls.__name__} ({'u8' if fmt == 'B' else 'u16'})", self.int.size)

    def default(self):
        return 0  # the enums without a 0 value must be given explicitly when encoding

    def encode(self, value):
        return self.int.encode(value)

    def decode(self, data, field):
        raw = self.int.decode(data, field)
        try:
            return self.cls(raw)
        except ValueError:
            raise ProtocolError(f"{field}: {raw} is not a {self.cls.__name__}") from None


class Chars(FieldType):
    """char[N]: ASCII/UTF-8, NUL-padded, not NUL-terminated when full."""

    def __init__(self, n: int):
        super().__init__(f"char[{n}]", n)

    def default(self):
        return ""

    def encode(self, value):
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        if len(raw) > self.size:
            raise ValueError(f"{raw!r} is longer than {self.size} bytes")
        return raw.ljust(self.size, b"\0")

    def decode(self, data, field):
        # The document says "padded with NUL"; we cut at the first NUL.
        return data.split(b"\0", 1)[0].decode("utf-8", errors="replace")


class Ip(FieldType):
    """ip: u8 version (0 = none, 4, 6) then 16 address bytes (IPv4 in the first 4, rest 0).

    Python value: None, or the address as text ("203.0.113.7", "2001:db8::1")."""

    def __init__(self):
        super().__init__("ip", 17)

    def default(self):
        return None

    def encode(self, value):
        if not value:
            return bytes(17)
        if ":" in value:
            return b"\x06" + socket.inet_pton(socket.AF_INET6, value)
        return b"\x04" + socket.inet_pton(socket.AF_INET, value).ljust(16, b"\0")

    def decode(self, data, field):
        version = data[0]
        if version == 0:
            return None
        if version == 4:
            return socket.inet_ntop(socket.AF_INET, data[1:5])
        if version == 6:
            return socket.inet_ntop(socket.AF_INET6, data[1:17])
        raise ProtocolError(f"{field}: ip version must be 0, 4 or 6, got {version}")


class Decimal(FieldType):
    """decimal: i64 mantissa, u8 scale (0..=28); value = mantissa / 10^scale."""

    def __init__(self):
        self.struct = struct.Struct("<qB")
        super().__init__("decimal", 9)

    def default(self):
        return decimal.Decimal(0)

    def encode(self, value):
        d = decimal.Decimal(str(value)).normalize()
        sign, digits, exponent = d.as_tuple()
        scale = max(0, -exponent)
        mantissa = int(d.scaleb(scale))
        if scale > 28:
            raise ValueError(f"{value}: more than 28 decimal places")
        return self.struct.pack(mantissa, scale)

    def decode(self, data, field):
        mantissa, scale = self.struct.unpack(data)
        if scale > 28:
            raise ProtocolError(f"{field}: decimal scale {scale} > 28")
        return decimal.Decimal(mantissa).scaleb(-scale)


U8, U16, U32, U64 = Int("u8", "B"), Int("u16", "H"), Int("u32", "I"), Int("u64", "Q")
I32, I64 = Int("i32", "i"), Int("i64", "q")
BOOL, IP, DECIMAL = Bool(), Ip(), Decimal()


def E8(cls):
    return Enum(cls, "B")


def E16(cls):
    return Enum(cls, "H")


# --------------------------------------------------------------------------------------------------
# Section 5: the message tables
# --------------------------------------------------------------------------------------------------


class Block:
    """A fixed block (a root block or a group entry): fields at given offsets."""

    def __init__(self, name: str, length: int, fields: list[tuple[int, str, FieldType]]):
        self.name, self.length, self.fields = name, length, fields
        at = 0
        for offset, field, ftype in fields:  # check the transcription from the document
            assert offset == at, f"{name}.{field}: offset {offset}, expected {at}"
            at += ftype.size
        assert at == length, f"{name}: fields end at {at}, block length is {length}"

    def encode(self, values: dict) -> bytes:
        known = {f for _, f, _ in self.fields}
        unknown = set(values) - known
        if unknown:
            raise TypeError(f"{self.name}: unknown fields {sorted(unknown)}")
        out = bytearray()
        for _, field, ftype in self.fields:
            out += ftype.encode(values.get(field, ftype.default()))
        return bytes(out)

    def decode(self, data: bytes, pos: int, block_length: int, where: str) -> SimpleNamespace:
        if block_length < self.length:
            raise ProtocolError(f"{where}: block_length {block_length} < {self.length}")
        if pos + block_length > len(data):
            raise ProtocolError(f"{where}: body too short for a {block_length}-byte block")
        out = SimpleNamespace()
        for offset, field, ftype in self.fields:
            start = pos + offset
            setattr(out, field, ftype.decode(data[start : start + ftype.size], f"{where}.{field}"))
        return out  # bytes beyond self.length (fields of a newer version) are skipped


class Group:
    def __init__(self, name: str, entry: Block, max_count: int):
        self.name, self.entry, self.max_count = name, entry, max_count


class Text:
    def __init__(self, name: str, max_len: int = 128):
        self.name, self.max_len = name, max_len


class MessageType:
    def __init__(self, template_id, name, block_length, fields, groups=(), texts=()):
        self.template_id, self.name = template_id, name
        self.root = Block(name, block_length, fields)
        self.groups, self.texts = list(groups), list(texts)


# Entry blocks shared by several messages.
SPLIT_LINE = Block("SplitLine", 13, [(0, "role", E8(PartyRole)), (1, "party_id", U32), (5, "amount_minor", I64)])
CURRENCY_ENTRY = Block("CurrencyEntry", 2, [(0, "currency", U16)])

MESSAGES = [
    MessageType(1, "Login", 58, [
        (0, "role", E8(Role)), (1, "key_id", Chars(16)), (17, "secret", Chars(32)),
        (49, "resume", BOOL), (50, "last_out_seq", U64),
    ]),
    MessageType(2, "LoginAccepted", 44, [
        (0, "session_id", U64), (8, "principal_id", U32), (12, "role", E8(Role)),
        (13, "heartbeat_interval_ms", U32), (17, "idle_timeout_ms", U32), (21, "max_frame_bytes", U32),
        (25, "last_out_seq", U64), (33, "oldest_out_seq", U64), (41, "resume_status", E8(ResumeStatus)),
        (42, "resume_reason", E16(ReasonCode)),
    ]),
    MessageType(3, "LoginRejected", 2, [(0, "reason", E16(ReasonCode))], texts=[Text("text")]),
    MessageType(4, "Heartbeat", 8, [(0, "timestamp_ns", U64)]),
    MessageType(5, "Logout", 2, [(0, "reason", E16(ReasonCode))], texts=[Text("text")]),
    MessageType(7, "ResumeComplete", 16, [(0, "last_out_seq", U64), (8, "retransmitted", U64)]),
    MessageType(6, "Reject", 12, [
        (0, "ref_template_id", U16), (2, "reason", E16(ReasonCode)), (4, "ref_request_id", U64),
    ], texts=[Text("text")]),
    MessageType(10, "PaymentRequest", 87, [
        (0, "request_id", U64), (8, "merchant_id", U32), (12, "promoter_id", U32),
        (16, "amount_minor", I64), (24, "currency", U16), (26, "method", E8(PaymentMethod)),
        (27, "scene", E8(Scene)), (28, "goods_category", U16), (30, "user_id", U64),
        (38, "device_id", U64), (46, "ip", IP), (63, "card_fingerprint", Chars(16)),
        (79, "card_bin", U32), (83, "country", Chars(2)),
        # Schema 9 (docs/INSTALLMENTS.md): 0 = no plan, else 3, 6 or 12 installments.
        (85, "installment_count", U8), (86, "installment_payer_interest", BOOL),
    ]),
    MessageType(11, "PaymentAck", 53, [
        (0, "request_id", U64), (8, "order_id", U64), (16, "status", E8(AckStatus)),
        (17, "reason", E16(ReasonCode)), (19, "channel_id", U16), (21, "risk_action", E8(RiskAction)),
        (22, "risk_rule_id", U32), (26, "duplicate", BOOL), (27, "sequence", U64),
        (35, "timestamp_ns", U64), (43, "out_seq", U64), (51, "retransmission", BOOL),
        (52, "risk_score", U8),
    ]),
    MessageType(12, "PaymentResult", 82, [
        (0, "request_id", U64), (8, "order_id", U64), (16, "status", E8(FinalStatus)),
        (17, "reason", E16(ReasonCode)), (19, "channel_id", U16), (21, "attempts", U8),
        (22, "amount_minor", I64), (30, "currency", U16), (32, "fee_minor", I64),
        (40, "channel_ref", Chars(24)), (64, "duplicate", BOOL), (65, "sequence", U64),
        (73, "out_seq", U64), (81, "retransmission", BOOL),
    ], groups=[Group("split", SPLIT_LINE, 8)]),
    MessageType(13, "RefundRequest", 24, [
        (0, "refund_request_id", U64), (8, "payment_request_id", U64), (16, "amount_minor", I64),
    ]),
    MessageType(14, "RefundAck", 50, [
        (0, "refund_request_id", U64), (8, "order_id", U64), (16, "refund_id", U64),
        (24, "status", E8(AckStatus)), (25, "reason", E16(ReasonCode)), (27, "risk_action", E8(RiskAction)),
        (28, "risk_rule_id", U32), (32, "duplicate", BOOL), (33, "sequence", U64),
        (41, "out_seq", U64), (49, "retransmission", BOOL),
    ]),
    MessageType(15, "RefundResult", 55, [
        (0, "refund_request_id", U64), (8, "order_id", U64), (16, "refund_id", U64),
        (24, "status", E8(FinalStatus)), (25, "reason", E16(ReasonCode)), (27, "amount_minor", I64),
        (35, "currency", U16), (37, "duplicate", BOOL), (38, "sequence", U64),
        (46, "out_seq", U64), (54, "retransmission", BOOL),
    ], groups=[Group("reversal", SPLIT_LINE, 8)]),
    MessageType(16, "QueryOrder", 16, [(0, "order_id", U64), (8, "request_id", U64)]),
    MessageType(17, "OrderStatus", 104, [
        (0, "order_id", U64), (8, "request_id", U64), (16, "acquirer_id", U32), (20, "merchant_id", U32),
        (24, "promoter_id", U32), (28, "amount_minor", I64), (36, "currency", U16),
        (38, "method", E8(PaymentMethod)), (39, "scene", E8(Scene)), (40, "state", E8(OrderState)),
        (41, "reason", E16(ReasonCode)), (43, "risk_action", E8(RiskAction)), (44, "risk_rule_id", U32),
        (48, "strategy", E8(RoutingStrategy)), (49, "channel_id", U16), (51, "fee_minor", I64),
        (59, "refunded_minor", I64), (67, "refund_pending_minor", I64), (75, "created_ns", U64),
        (83, "updated_ns", U64), (91, "settle_day", U32), (95, "sequence", U64), (103, "retired", BOOL),
    ], groups=[
        Group("attempts", Block("AttemptEntry", 18, [
            (0, "attempt", U8), (1, "channel_id", U16), (3, "status", E8(AttemptStatus)),
            (4, "channel_code", U16), (6, "latency_us", U32), (10, "dispatched_ns", U64),
        ]), 4),
        Group("candidates", Block("CandidateEntry", 13, [
            (0, "channel_id", U16), (2, "decision", E8(CandidateDecision)),
            (3, "skip_reason", E8(SkipReason)), (4, "rank", U8), (5, "score", I64),
        ]), 8),
        Group("split", SPLIT_LINE, 8),
        Group("refunds", Block("RefundEntry", 25, [
            (0, "refund_id", U64), (8, "refund_request_id", U64), (16, "amount_minor", I64),
            (24, "state", E8(RefundState)),
        ]), 50),
    ]),
    MessageType(18, "WithdrawRequest", 22, [
        (0, "withdraw_request_id", U64), (8, "merchant_id", U32), (12, "currency", U16), (14, "amount_minor", I64),
    ]),
    MessageType(19, "WithdrawResult", 59, [
        (0, "withdraw_request_id", U64), (8, "withdrawal_id", U64), (16, "merchant_id", U32),
        (20, "currency", U16), (22, "amount_minor", I64), (30, "status", E8(FinalStatus)),
        (31, "reason", E16(ReasonCode)), (33, "available_after_minor", I64), (41, "duplicate", BOOL),
        (42, "sequence", U64), (50, "out_seq", U64), (58, "retransmission", BOOL),
    ]),
    MessageType(21, "WithdrawAck", 68, [
        (0, "withdraw_request_id", U64), (8, "withdrawal_id", U64), (16, "merchant_id", U32),
        (20, "currency", U16), (22, "amount_minor", I64), (30, "fee_minor", I64),
        (38, "status", E8(AckStatus)), (39, "reason", E16(ReasonCode)), (41, "state", E8(PayoutState)),
        (42, "available_after_minor", I64), (50, "duplicate", BOOL), (51, "sequence", U64),
        (59, "out_seq", U64), (67, "retransmission", BOOL),
    ]),
    MessageType(22, "WithdrawReturned", 57, [
        (0, "withdraw_request_id", U64), (8, "withdrawal_id", U64), (16, "merchant_id", U32),
        (20, "currency", U16), (22, "amount_minor", I64), (30, "channel_code", U16),
        (32, "available_after_minor", I64), (40, "sequence", U64), (48, "out_seq", U64),
        (56, "retransmission", BOOL),
    ]),
    MessageType(20, "PaymentReversal", 81, [
        (0, "request_id", U64), (8, "order_id", U64), (16, "attempt", U8), (17, "channel_id", U16),
        (19, "amount_minor", I64), (27, "currency", U16), (29, "state", E8(ReversalState)),
        (30, "reason", E16(ReasonCode)), (32, "channel_ref", Chars(24)), (56, "sequence", U64),
        (64, "timestamp_ns", U64), (72, "out_seq", U64), (80, "retransmission", BOOL),
    ]),
    MessageType(23, "DisputeUpdate", 91, [
        (0, "request_id", U64), (8, "order_id", U64), (16, "dispute_id", U64), (24, "channel_id", U16),
        (26, "merchant_id", U32), (30, "stage", E8(DisputeStage)), (31, "reason", E8(DisputeReason)),
        (32, "currency", U16), (34, "amount_minor", I64), (42, "fee_minor", I64),
        (50, "available_after_minor", I64), (58, "receivable_after_minor", I64), (66, "sequence", U64),
        (74, "timestamp_ns", U64), (82, "out_seq", U64), (90, "retransmission", BOOL),
    ], groups=[Group("reversal", SPLIT_LINE, 8)]),
    MessageType(28, "CreditPosition", 103, [
        (0, "merchant_id", U32), (4, "currency", U16), (6, "flow_minor", I64), (14, "gross_limit_minor", I64),
        (22, "limit_minor", I64), (30, "loan_id", U64), (38, "loan_state", E8(LoanState)),
        (39, "principal_minor", I64), (47, "principal_outstanding_minor", I64),
        (55, "interest_outstanding_minor", I64), (63, "interest_accrued_minor", I64), (71, "repaid_minor", I64),
        (79, "written_off_minor", I64), (87, "disbursed_day", U32), (91, "due_day", U32), (95, "sequence", U64),
    ]),
    MessageType(24, "ReviewItem", 91, [
        (0, "order_id", U64), (8, "request_id", U64), (16, "acquirer_id", U32), (20, "merchant_id", U32),
        (24, "amount_minor", I64), (32, "currency", U16), (34, "method", E8(PaymentMethod)),
        (35, "state", E8(OrderState)), (36, "risk_rule_id", U32), (40, "queued_ns", U64),
        (48, "in_queue", BOOL), (49, "position", U32), (53, "queue_len", U32), (57, "refunded_minor", I64),
        (65, "disputed_minor", I64), (73, "label", E8(LabelKind)), (74, "label_source", E8(LabelSource)),
        (75, "label_ns", U64), (83, "sequence", U64),
    ]),
    MessageType(25, "YieldPosition", 108, [
        (0, "party_kind", E8(PartyKind)), (1, "party_id", U32), (5, "currency", U16), (7, "opted_in", BOOL),
        (8, "keep_minimum_minor", I64), (16, "instant_limit_minor", I64), (24, "principal_minor", I64),
        (32, "accrued_minor", I64), (40, "yield_total_minor", I64), (48, "instant_used_today_minor", I64),
        (56, "queued_minor", I64), (64, "queued_due_day", U32), (68, "available_minor", I64),
        (76, "last_yield_day", U32), (80, "last_yield_per_10k_e4", I64), (88, "residual_minor", I64),
        (96, "holders", U32), (100, "sequence", U64),
    ]),
    MessageType(30, "Dispatch", 35, [
        (0, "order_id", U64), (8, "attempt", U8), (9, "channel_id", U16), (11, "merchant_id", U32),
        (15, "amount_minor", I64), (23, "currency", U16), (25, "method", E8(PaymentMethod)),
        (26, "scene", E8(Scene)), (27, "deadline_ns", U64),
    ]),
    MessageType(31, "ChannelResult", 40, [
        (0, "order_id", U64), (8, "attempt", U8), (9, "outcome", E8(ChannelOutcome)),
        (10, "channel_code", U16), (12, "latency_us", U32), (16, "channel_ref", Chars(24)),
    ]),
    MessageType(32, "RefundDispatch", 60, [
        (0, "refund_id", U64), (8, "order_id", U64), (16, "channel_id", U16), (18, "amount_minor", I64),
        (26, "currency", U16), (28, "deadline_ns", U64), (36, "payment_channel_ref", Chars(24)),
    ]),
    MessageType(33, "RefundChannelResult", 39, [
        (0, "refund_id", U64), (8, "outcome", E8(ChannelOutcome)), (9, "channel_code", U16),
        (11, "latency_us", U32), (15, "channel_ref", Chars(24)),
    ]),
    MessageType(34, "ChannelControl", 54, [
        (0, "op", E8(ChannelOp)), (1, "order_id", U64), (9, "attempt", U8), (10, "refund_id", U64),
        (18, "channel_id", U16), (20, "amount_minor", I64), (28, "currency", U16),
        (30, "channel_ref", Chars(24)),
    ]),
    MessageType(35, "ChannelControlResult", 45, [
        (0, "op", E8(ChannelOp)), (1, "order_id", U64), (9, "attempt", U8), (10, "refund_id", U64),
        (18, "status", E8(ChannelStatus)), (19, "channel_code", U16), (21, "channel_ref", Chars(24)),
    ]),
    MessageType(39, "DisputeNotice", 63, [
        (0, "dispute_id", U64), (8, "channel_id", U16), (10, "order_id", U64), (18, "attempt", U8),
        (19, "stage", E8(DisputeStage)), (20, "reason", E8(DisputeReason)), (21, "currency", U16),
        (23, "amount_minor", I64), (31, "fee_minor", I64), (39, "channel_ref", Chars(24)),
    ]),
    MessageType(40, "ConfigMerchant", 73, [
        (0, "merchant_id", U32), (4, "acquirer_id", U32), (8, "split_profile_id", U32),
        (12, "parent_merchant_id", U32), (16, "status", E8(Activity)), (17, "strategy", E8(RoutingStrategy)),
        (18, "settlement_days", U8), (19, "deposit_rate", DECIMAL), (28, "deposit_hold_days", U16),
        (30, "min_amount_minor", I64), (38, "max_amount_minor", I64), (46, "weight_success", DECIMAL),
        (55, "weight_cost", DECIMAL), (64, "weight_latency", DECIMAL),
    ], groups=[
        Group("currencies", CURRENCY_ENTRY, 8),
        Group("channels", Block("RouteEntry", 4, [(0, "channel_id", U16), (2, "weight", U16)]), 8),
    ]),
    MessageType(41, "ConfigChannel", 72, [
        (0, "channel_id", U16), (2, "name", Chars(16)), (18, "status", E8(Activity)), (19, "timeout_ms", U32),
        (23, "min_amount_minor", I64), (31, "max_amount_minor", I64), (39, "failure_threshold", U16),
        (41, "failure_leak_per_sec", U16), (43, "min_success_rate", DECIMAL),
        (52, "min_attempts_for_rate", U16), (54, "cooldown_ms", U32), (58, "probe_slots", U8),
        (59, "probe_successes", U8), (60, "query_interval_ms", U32), (64, "query_window_ms", U32),
        (68, "unknown_policy", E8(UnknownPolicy)), (69, "refunds_max", U8), (70, "refund_window_days", U16),
    ], groups=[
        Group("currencies", CURRENCY_ENTRY, 8),
        Group("methods", Block("MethodFee", 11, [
            (0, "method", E8(PaymentMethod)), (1, "fee_bps", U16), (3, "fee_fixed_minor", I64),
        ]), 4),
    ]),
    MessageType(42, "ConfigSplitProfile", 50, [
        (0, "profile_id", U32), (4, "platform_rate", DECIMAL), (13, "promoter_level1_rate", DECIMAL),
        (22, "promoter_level2_rate", DECIMAL), (31, "parent_share", DECIMAL),
        (40, "grandparent_share", DECIMAL), (49, "fee_bearer", E8(FeeBearer)),
    ], groups=[
        Group("tiers", Block("RateTier", 17, [(0, "min_amount_minor", I64), (8, "rate", DECIMAL)]), 8),
        Group("categories", Block("CategoryRate", 11, [(0, "category", U16), (2, "rate", DECIMAL)]), 8),
    ]),
    MessageType(43, "ConfigPromoter", 10, [
        (0, "promoter_id", U32), (4, "parent_promoter_id", U32), (8, "settlement_days", U8),
        (9, "status", E8(Activity)),
    ]),
    MessageType(44, "ConfigRiskRule", 50, [
        (0, "rule_id", U32), (4, "name", Chars(24)), (28, "target", E8(RuleTarget)),
        (29, "feature", E8(RiskFeature)), (30, "entity", E8(RiskEntity)), (31, "window", E8(RiskWindow)),
        (32, "comparison", E8(Comparison)), (33, "threshold", I64), (41, "action", E8(RiskAction)),
        (42, "shadow", BOOL), (43, "status", E8(Activity)), (44, "merchant_id", U32),
        (48, "goods_category", U16),
    ]),
    MessageType(66, "ConfigRiskRuleText", 35, [
        (0, "rule_id", U32), (4, "name", Chars(24)), (28, "priority", U32), (32, "target", E8(RuleTarget)),
        (33, "shadow", BOOL), (34, "status", E8(Activity)),
    ], texts=[Text("source")]),
    MessageType(45, "ConfigListEntry", 48, [
        (0, "list", E8(ListKind)), (1, "op", E8(ListOp)), (2, "entity", E8(RiskEntity)), (3, "id", U64),
        (11, "ip", IP), (28, "card_fingerprint", Chars(16)), (44, "card_bin", U32),
    ]),
    MessageType(70, "ConfigRiskModel", 9, [
        (0, "model_id", U32), (4, "status", E8(Activity)), (5, "intercept", I32),
    ], groups=[Group("terms", Block("ScoreTerm", 6, [(0, "feature", U16), (2, "weight", I32)]), 32)]),
    MessageType(46, "ConfigAck", 21, [
        (0, "ref_template_id", U16), (2, "object_id", U64), (10, "status", E8(AckStatus)),
        (11, "reason", E16(ReasonCode)), (13, "sequence", U64),
    ], texts=[Text("text")]),
    MessageType(47, "BalanceQuery", 5, [(0, "party_kind", E8(PartyKind)), (1, "party_id", U32)]),
    MessageType(48, "BalanceReport", 14, [
        (0, "party_kind", E8(PartyKind)), (1, "party_id", U32), (5, "found", BOOL), (6, "sequence", U64),
    ], groups=[
        Group("balances", Block("BalanceEntry", 26, [
            (0, "currency", U16), (2, "pending_minor", I64), (10, "available_minor", I64),
            (18, "frozen_minor", I64),
        ]), 8),
    ]),
    MessageType(49, "StatsQuery", 1, [(0, "flags", U8)]),
    MessageType(50, "StatsReport", 193, [
        (0, "sequence", U64), (8, "orders", U64), (16, "accepted", U64), (24, "rejected_invalid", U64),
        (32, "rejected_risk", U64), (40, "succeeded", U64), (48, "failed", U64), (56, "failed_over", U64),
        (64, "in_flight", U64), (72, "reviews", U64), (80, "refunds_succeeded", U64),
        (88, "refunds_failed", U64), (96, "timeouts", U64), (104, "withdrawals", U64),
        (112, "ledger_balanced", BOOL), (113, "unknown_attempts", U64), (121, "unknown_resolved", U64),
        (129, "late_captures", U64), (137, "reversals", U64), (145, "unknown_refunds", U64),
        (153, "receipts", U64), (161, "orders_retired", U64), (169, "orders_revived", U64),
        (177, "receipts_expired", U64), (185, "retire_blocked", U64),
    ], groups=[
        Group("channels", Block("ChannelStats", 67, [
            (0, "channel_id", U16), (2, "health", E8(HealthState)), (3, "attempts", U64),
            (11, "successes", U64), (19, "declines", U64), (27, "retryable_errors", U64),
            (35, "timeouts", U64), (43, "recent_success_rate_ppm", U32),
            (47, "payment_success_rate_ppm", U32), (51, "latency_avg_us", U32),
            (55, "latency_p99_us", U32), (59, "consecutive_failures", U32), (63, "health_changes", U32),
        ]), 32),
        Group("rules", Block("RuleStats", 20, [
            (0, "rule_id", U32), (4, "enforced_hits", U64), (12, "shadow_hits", U64),
        ]), 64),
        Group("strategies", Block("StrategyStats", 17, [
            (0, "strategy", E8(RoutingStrategy)), (1, "decisions", U64), (9, "failovers", U64),
        ]), 8),
    ]),
    MessageType(51, "SnapshotRequest", 1, [(0, "flags", U8)]),
    MessageType(52, "HealthAlert", 28, [
        (0, "channel_id", U16), (2, "from", E8(HealthState)), (3, "to", E8(HealthState)),
        (4, "failure_level_milli", U32), (8, "recent_success_rate_ppm", U32), (12, "timestamp_ns", U64),
        (20, "sequence", U64),
    ]),
    MessageType(53, "ConfigCredential", 123, [
        (0, "key_id", Chars(16)), (16, "op", E8(CredentialOp)), (17, "role", E8(Role)),
        (18, "principal_id", U32), (22, "algorithm", E8(SecretHash)), (23, "rotation_window_ms", U32),
        (27, "salt", Chars(32)), (59, "hash", Chars(64)),
    ]),
    MessageType(80, "ConfigCreditPolicy", 28, [
        (0, "currency", U16), (2, "window_days", U16), (4, "advance_permille", U16), (6, "cap_minor", I64),
        (14, "daily_rate_e6", U32), (18, "penalty_rate_e6", U32), (22, "repay_share_bps", U16),
        (24, "term_days_max", U16), (26, "default_after_days", U16),
    ]),
    MessageType(81, "LoanRequest", 22, [
        (0, "loan_id", U64), (8, "merchant_id", U32), (12, "amount_minor", I64), (20, "term_days", U16),
    ]),
    MessageType(82, "LoanRepayment", 24, [(0, "loan_id", U64), (8, "repayment_id", U64), (16, "amount_minor", I64)]),
    MessageType(83, "CreditQuery", 12, [(0, "merchant_id", U32), (4, "loan_id", U64)]),
    MessageType(55, "ConfigQuery", 26, [
        (0, "kind", E8(ConfigKind)), (1, "lookup", E8(ConfigLookup)), (2, "id", U64), (10, "key_id", Chars(16)),
    ]),
    MessageType(67, "RiskLabel", 18, [
        (0, "order_id", U64), (8, "kind", E8(LabelKind)), (9, "source", E8(LabelSource)), (10, "reference", U64),
    ], texts=[Text("note")]),
    MessageType(68, "ReviewDecision", 9, [(0, "order_id", U64), (8, "action", E8(ReviewAction))]),
    MessageType(69, "ReviewQuery", 12, [(0, "order_id", U64), (8, "position", U32)]),
    MessageType(71, "ConfigYield", 24, [
        (0, "party_kind", E8(PartyKind)), (1, "party_id", U32), (5, "currency", U16), (7, "opt_in", BOOL),
        (8, "keep_minimum_minor", I64), (16, "instant_limit_minor", I64),
    ]),
    MessageType(72, "FundYield", 14, [(0, "currency", U16), (2, "day", U32), (6, "yield_per_10k_e4", I64)]),
    MessageType(73, "YieldRedeem", 23, [
        (0, "request_id", U64), (8, "party_kind", E8(PartyKind)), (9, "party_id", U32), (13, "currency", U16),
        (15, "amount_minor", I64),
    ]),
    MessageType(74, "YieldQuery", 7, [(0, "party_kind", E8(PartyKind)), (1, "party_id", U32), (5, "currency", U16)]),
    # Schema 9: consumer installments (docs/INSTALLMENTS.md).
    MessageType(75, "ConfigInstallments", 21, [
        (0, "merchant_id", U32), (4, "fee_bps_3", U16), (6, "fee_bps_6", U16), (8, "fee_bps_12", U16),
        (10, "rate_bps_3", U16), (12, "rate_bps_6", U16), (14, "rate_bps_12", U16),
        (16, "late_fee_bps", U16), (18, "default_after_days", U16), (20, "period_days", U8),
    ]),
    MessageType(76, "InstallmentRepayment", 26, [
        (0, "order_id", U64), (8, "index", U16), (10, "amount_minor", I64), (18, "reference", U64),
    ]),
    MessageType(77, "InstallmentEarlyRepayment", 24, [
        (0, "order_id", U64), (8, "amount_minor", I64), (16, "reference", U64),
    ]),
    MessageType(78, "InstallmentDefault", 8, [(0, "order_id", U64)]),
    MessageType(79, "InstallmentQuery", 8, [(0, "order_id", U64)]),
    MessageType(26, "InstallmentPlan", 85, [
        (0, "order_id", U64), (8, "merchant_id", U32), (12, "currency", U16), (14, "count", U8),
        (15, "payer_interest", BOOL), (16, "status", U8), (17, "principal_minor", I64),
        (25, "interest_minor", I64), (33, "fee_minor", I64), (41, "open_day", U32),
        (45, "outstanding_minor", I64), (53, "paid_minor", I64), (61, "payoff_minor", I64),
        (69, "written_off_minor", I64), (77, "sequence", U64),
    ], groups=[
        Group("installments", Block("InstallmentEntry", 32, [
            (0, "index", U16), (2, "due_day", U32), (6, "principal_minor", I64),
            (14, "interest_minor", I64), (22, "late_fee_minor", I64), (30, "status", U8),
            (31, "late", BOOL),
        ]), 12),
    ]),
    # Templates 90 and above exist only in the journal; listed so that journal bytes can be decoded.
    MessageType(90, "Pulse", 1, [(0, "flags", U8)]),
    MessageType(91, "Genesis", 75, [
        (0, "orders_max", U32), (4, "refunds_max", U32), (8, "withdrawals_max", U32),
        (12, "merchants_max", U32), (16, "promoters_max", U32), (20, "channels_max", U16),
        (22, "split_profiles_max", U16), (24, "risk_rules_max", U16), (26, "list_entries_max", U32),
        (30, "velocity_keys_max", U32), (34, "attempts_max", U8), (35, "utc_offset_secs", I32),
        (39, "order_retention_ms", U64), (47, "idempotency_window_ms", U64), (55, "receipts_max", U32),
        (59, "labels_max", U32), (63, "disputes_max", U32), (67, "review_queue_max", U32),
        (71, "installment_plans_max", U32),
    ], groups=[Group("ledger_currencies", CURRENCY_ENTRY, 8)]),
]

BY_NAME = {m.name: m for m in MESSAGES}
BY_ID = {m.template_id: m for m in MESSAGES}


# --------------------------------------------------------------------------------------------------
# Encoding and decoding whole frames
# --------------------------------------------------------------------------------------------------


def encode(name: str, /, **fields) -> bytes:
    """One frame: SOFH + SBE header + root block + groups (lists of dicts) + texts (str)."""
    mtype = BY_NAME[name]
    groups = {g.name: fields.pop(g.name, []) for g in mtype.groups}
    texts = {t.name: fields.pop(t.name, "") for t in mtype.texts}
    body = bytearray(mtype.root.encode(fields))
    for group in mtype.groups:  # in the order the message lists them
        entries = groups[group.name]
        if len(entries) > group.max_count:
            raise ValueError(f"{name}.{group.name}: {len(entries)} entries, at most {group.max_count}")
        body += GROUP_HEADER.pack(group.entry.length, len(entries))
        for entry in entries:
            body += group.entry.encode(entry if isinstance(entry, dict) else vars(entry))
    for text in mtype.texts:  # texts follow the groups
        raw = texts[text.name].encode("utf-8")
        if len(raw) > text.max_len:
            raise ValueError(f"{name}.{text.name}: {len(raw)} bytes, at most {text.max_len}")
        body += TEXT_LENGTH.pack(len(raw)) + raw
    length = HEADERS_LEN + len(body)
    header = SOFH.pack(length, ENCODING_TYPE)
    header += SBE_HEADER.pack(mtype.root.length, mtype.template_id, SCHEMA_ID, SCHEMA_VERSION)
    return header + body


def decode(frame: bytes) -> SimpleNamespace:
    """Decode one whole frame (framing header included). Returns a namespace with `_name`,
    `_template_id`, `_version`, the root fields, each group as a list of namespaces, each text."""
    if len(frame) < HEADERS_LEN:
        raise ProtocolError(f"frame of {len(frame)} bytes is shorter than the {HEADERS_LEN}-byte headers")
    length, encoding_type = SOFH.unpack_from(frame, 0)
    if encoding_type != ENCODING_TYPE:
        raise ProtocolError(f"encoding type {encoding_type:#06x} is not {ENCODING_TYPE:#06x}")
    if length != len(frame):
        raise ProtocolError(f"message_length {length} but the frame has {len(frame)} bytes")
    block_length, template_id, schema_id, version = SBE_HEADER.unpack_from(frame, SOFH.size)
    if schema_id != SCHEMA_ID:
        raise ProtocolError(f"schema id {schema_id:#06x} is not {SCHEMA_ID:#06x}")
    mtype = BY_ID.get(template_id)
    if mtype is None:
        raise ProtocolError(f"unknown template id {template_id}")
    body = frame[HEADERS_LEN:]
    msg = mtype.root.decode(body, 0, block_length, mtype.name)
    msg._name, msg._template_id, msg._version = mtype.name, template_id, version
    pos = block_length  # skip unknown trailing root fields
    for group in mtype.groups:
        where = f"{mtype.name}.{group.name}"
        if pos + GROUP_HEADER.size > len(body):
            raise ProtocolError(f"{where}: missing group header")
        entry_length, count = GROUP_HEADER.unpack_from(body, pos)
        pos += GROUP_HEADER.size
        if count > group.max_count:
            raise ProtocolError(f"{where}: {count} entries, at most {group.max_count}")
        entries = []
        for i in range(count):
            entries.append(group.entry.decode(body, pos, entry_length, f"{where}[{i}]"))
            pos += entry_length  # skip unknown trailing entry fields
        setattr(msg, group.name, entries)
    for text in mtype.texts:
        where = f"{mtype.name}.{text.name}"
        if pos + TEXT_LENGTH.size > len(body):
            raise ProtocolError(f"{where}: missing text length")
        (n,) = TEXT_LENGTH.unpack_from(body, pos)
        pos += TEXT_LENGTH.size
        if n > text.max_len or pos + n > len(body):
            raise ProtocolError(f"{where}: bad text length {n}")
        try:
            setattr(msg, text.name, body[pos : pos + n].decode("utf-8"))
        except UnicodeDecodeError:
            raise ProtocolError(f"{where}: not UTF-8") from None
        pos += n
    return msg  # trailing bytes after the last known group/text are ignored


def enum_name(v: enum.IntEnum) -> str:
    """The document's name of an enum value ("None" is spelled NONE in Python)."""
    return "None" if v.name == "NONE" else v.name


def describe(msg: SimpleNamespace) -> str:
    """A one-line, human-readable rendering of a decoded message (groups on their own lines)."""

    def value(v):
        if isinstance(v, enum.IntEnum):
            return enum_name(v)
        if isinstance(v, list):
            return "[" + ", ".join("{" + fields(e) + "}" for e in v) + "]"
        return repr(v) if isinstance(v, str) else str(v)

    def fields(ns):
        return " ".join(f"{k}={value(v)}" for k, v in vars(ns).items() if not k.startswith("_"))

    return f"{msg._name}({fields(msg)})"


# --------------------------------------------------------------------------------------------------
# Section 2 and 8: a blocking session
# --------------------------------------------------------------------------------------------------


class Client:
    """One TCP session. Single-threaded: heartbeats are sent while waiting for frames."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = bytearray()
        self.pending: list[SimpleNamespace] = []  # frames read while waiting for something else
        # Seconds. No Heartbeat before login: anything but Login would get Reject(NotLoggedIn) and
        # the connection closed (section 2). LoginAccepted gives the interval.
        self.heartbeat_interval = float("inf")
        self.last_sent = time.monotonic()
        self.session = None
        self.trace = None  # set to a callable(direction, msg) to see every frame

    @classmethod
    def connect(cls, host: str, port: int, timeout: float = 5.0) -> "Client":
        sock = socket.create_connection((host, port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(sock)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # --- sending ---------------------------------------------------------------------------------

    def send(self, name: str, /, **fields) -> None:
        frame = encode(name, **fields)
        if len(frame) > MAX_FRAME_TO_SERVER:
            raise ValueError(f"{name}: {len(frame)}-byte frame exceeds {MAX_FRAME_TO_SERVER}")
        if self.trace:
            self.trace(">", decode(frame))
        self.sock.sendall(frame)
        self.last_sent = time.monotonic()

    # --- receiving -------------------------------------------------------------------------------

    def _read_frame(self, deadline: float) -> SimpleNamespace | None:
        """The next frame, or None at the deadline. Sends Heartbeats when idle."""
        while True:
            if len(self.buffer) >= SOFH.size:
                length, encoding_type = SOFH.unpack_from(self.buffer, 0)
                if encoding_type != ENCODING_TYPE:
                    raise ProtocolError(f"encoding type {encoding_type:#06x}: the stream is lost")
                if not HEADERS_LEN <= length <= MAX_FRAME_FROM_SERVER:
                    raise ProtocolError(f"frame length {length} out of range: the stream is lost")
                if len(self.buffer) >= length:
                    frame = bytes(self.buffer[:length])
                    del self.buffer[:length]
                    msg = decode(frame)
                    if self.trace:
                        self.trace("<", msg)
                    return msg
            now = time.monotonic()
            if now >= deadline:
                return None
            if now - self.last_sent >= self.heartbeat_interval:
                self.send("Heartbeat", timestamp_ns=time.time_ns())
            wait = min(deadline, self.last_sent + self.heartbeat_interval) - now  # inf-safe
            self.sock.settimeout(max(wait, 0.001))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise SluiceError("the server closed the connection")
            self.buffer += chunk

    def recv(self, timeout: float = 10.0) -> SimpleNamespace:
        """The next message that is not a Heartbeat (buffered ones first)."""
        if self.pending:
            return self.pending.pop(0)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read_frame(deadline)
            if msg is None:
                raise SluiceError(f"nothing received within {timeout} s")
            if msg._name != "Heartbeat":
                return msg

    def wait_for(self, name: str, /, timeout: float = 10.0, **match) -> SimpleNamespace:
        """Wait for a `name` message whose fields equal `match` (e.g. request_id=42). Other messages
        are kept for later recv()/wait_for() calls. A Reject or a Logout raises Rejected. Note that
        a Reject is not tied to a request id (ref_request_id was 0 in every case we saw) and may
        overtake answers to earlier requests: look at `.msg.ref_template_id` before concluding."""
        for i, msg in enumerate(self.pending):
            if msg._name == name and all(getattr(msg, k) == v for k, v in match.items()):
                return self.pending.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read_frame(deadline)
            if msg is None:
                raise SluiceError(f"no {name} matching {match} within {timeout} s")
            if msg._name == name and all(getattr(msg, k) == v for k, v in match.items()):
                return msg
            if msg._name in ("Reject", "Logout"):
                raise Rejected(msg)
            if msg._name != "Heartbeat":
                self.pending.append(msg)

    # --- session ---------------------------------------------------------------------------------

    def login(self, role: Role, key_id: str, secret: str, timeout: float = 10.0,
              resume_after: int | None = None) -> SimpleNamespace:
        """Log in; `resume_after` (acquirers) asks for every output of the recoverable flow after
        that out_seq again (section 3, Resume): LoginAccepted.resume_status says whether."""
        self.send("Login", role=role, key_id=key_id, secret=secret,
                  resume=resume_after is not None, last_out_seq=resume_after or 0)
        msg = self.recv(timeout)
        if msg._name == "LoginRejected":
            raise SluiceError(f"login rejected: {msg.reason.name} {msg.text!r}")
        if msg._name != "LoginAccepted":
            raise SluiceError(f"expected LoginAccepted, got {describe(msg)}")
        self.session = msg
        # Send at the interval; go a little early so the server never sees a late one.
        self.heartbeat_interval = max(msg.heartbeat_interval_ms / 1000.0 * 0.8, 0.05)
        return msg

    def logout(self, timeout: float = 5.0) -> SimpleNamespace:
        """Send Logout and wait for the server's Logout (it closes the connection after it)."""
        self.send("Logout", reason=ReasonCode.NONE, text="")
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read_frame(deadline)
            if msg is None:
                raise SluiceError("no Logout from the server")
            if msg._name == "Logout":
                return msg
