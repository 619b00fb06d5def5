//! The protocol's enums as the state stores them. The state holds `sluice_protocol` enums (an
//! order's state, an attempt's status, a channel's health, ...) rather than their bytes; rkyv
//! archives each through a mirror declared here (`#[rkyv(remote = ...)]`) whose discriminants are
//! the wire values, so every one is stored as exactly its wire byte and a snapshot's validation
//! refuses a byte that is no variant.

use rkyv::{Archive, Deserialize, Serialize};
use sluice_protocol::{
    AttemptStatus, CandidateDecision, Comparison, DiscrepancyClass, DisputeReason, DisputeStage,
    FinalStatus, HealthState, LabelKind, LabelSource, ListKind, OrderState, PartyKind, PartyRole,
    PartySchedule, PaymentMethod, PayoutMode, PayoutState, ReasonCode, RefundFeePolicy, RiskAction,
    RiskEntity, RiskFeature, RiskWindow, Role, RoutingStrategy, RuleTarget, Scene, SecretHash,
    SettlementSchedule, SkipReason, UnknownPolicy,
};

/// Declares the archived mirror `$def` of the protocol enum `$remote`: one byte per value, the
/// wire value itself. Every wire value must fit in a byte (checked at compile time), and a variant
/// the mirror lacks is a compile error (the derive matches on `$remote` exhaustively).
macro_rules! stored_as_wire {
    ($(#[doc = $doc:literal])+ $def:ident for $remote:ident { $($variant:ident),+ $(,)? }) => {
        $(#[doc = $doc])+
        #[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
        #[rkyv(remote = $remote)]
        #[repr(u8)]
        pub enum $def {
            $($variant = $remote::$variant as u8,)+
        }

        // Each wire value fits the archived byte (a truncated one would store another value).
        const _: () = {
            $(assert!($remote::$variant as u64 <= u8::MAX as u64);)+
        };

        impl From<$def> for $remote {
            fn from(value: $def) -> $remote {
                match value {
                    $($def::$variant => $remote::$variant,)+
                }
            }
        }
    };
}

stored_as_wire! {
    /// An order's state (`OrderState`).
    OrderStateDef for OrderState { NotFound, Rejected, InFlight, Succeeded, Failed }
}

stored_as_wire! {
    /// An attempt's status (`AttemptStatus`).
    AttemptStatusDef for AttemptStatus {
        Pending, Succeeded, Declined, RetryableError, TimedOut, Unknown, Closing, Closed,
        Abandoned, Reversing, Reversed,
    }
}

stored_as_wire! {
    /// A withdrawal's status (`FinalStatus`).
    FinalStatusDef for FinalStatus { Succeeded, Failed }
}

stored_as_wire! {
    /// A channel's health (`HealthState`).
    HealthStateDef for HealthState { Healthy, Open, Probing }
}

stored_as_wire! {
    /// What a channel's unanswered attempts come to (`UnknownPolicy`).
    UnknownPolicyDef for UnknownPolicy { Legacy, Hold, FailOver }
}

stored_as_wire! {
    /// Whether a channel returns its fee on a refund (`RefundFeePolicy`).
    RefundFeePolicyDef for RefundFeePolicy { Keep, ProRata }
}

stored_as_wire! {
    /// A kind of difference between a bill and the platform's records (`DiscrepancyClass`).
    DiscrepancyClassDef for DiscrepancyClass {
        MissingOnChannel, MissingOnPlatform, AmountMismatch, StatusMismatch, FeeMismatch,
        Duplicate, Timing,
    }
}

stored_as_wire! {
    /// How a channel pays what it owes (`SettlementSchedule`).
    SettlementScheduleDef for SettlementSchedule { Daily, Rolling }
}

stored_as_wire! {
    /// A routing candidate's decision (`CandidateDecision`).
    CandidateDecisionDef for CandidateDecision { Chosen, Ranked, Skipped }
}

stored_as_wire! {
    /// Why a routing candidate was skipped (`SkipReason`).
    SkipReasonDef for SkipReason {
        None, MethodUnsupported, CurrencyUnsupported, AmountOutOfRange, Disabled, Unhealthy,
        AlreadyTried, ProbeBusy, ZeroWeight, UnknownChannel,
    }
}

stored_as_wire! {
    /// A split line's party (`PartyRole`).
    PartyRoleDef for PartyRole {
        Platform, PromoterLevel1, PromoterLevel2, Merchant, MerchantParent, MerchantGrandparent,
        ChannelFee,
    }
}

stored_as_wire! {
    /// A party's kind (`PartyKind`).
    PartyKindDef for PartyKind { Merchant, Promoter, Platform }
}

stored_as_wire! {
    /// A risk verdict's or rule's action (`RiskAction`).
    RiskActionDef for RiskAction { None, Allow, Review, Block }
}

stored_as_wire! {
    /// A merchant's routing strategy (`RoutingStrategy`).
    RoutingStrategyDef for RoutingStrategy {
        Priority, WeightedSplit, Cheapest, HighestSuccessRate, WeightedScore, ExpectedValue,
    }
}

stored_as_wire! {
    /// A payment method (`PaymentMethod`).
    PaymentMethodDef for PaymentMethod { Card, Wallet, BankTransfer }
}

stored_as_wire! {
    /// Where a payment is made (`Scene`).
    SceneDef for Scene { ScanCode, H5, App, OfficialAccount, MiniProgram, Pos }
}

stored_as_wire! {
    /// What a risk rule applies to (`RuleTarget`).
    RuleTargetDef for RuleTarget { Payment, Refund }
}

stored_as_wire! {
    /// What a risk rule measures (`RiskFeature`).
    RiskFeatureDef for RiskFeature {
        PaymentCount, PaymentAmount, RefundCount, DeclineCount, SingleAmount,
    }
}

stored_as_wire! {
    /// Whose activity a risk rule or list entry is about (`RiskEntity`).
    RiskEntityDef for RiskEntity { None, User, Ip, Device, CardFingerprint, CardBin, Merchant }
}

stored_as_wire! {
    /// A risk rule's window (`RiskWindow`).
    RiskWindowDef for RiskWindow { None, Minute, Hour, Day }
}

stored_as_wire! {
    /// A risk rule's comparison (`Comparison`).
    ComparisonDef for Comparison { Greater, GreaterOrEqual, Less, LessOrEqual, Equal }
}

stored_as_wire! {
    /// A list's kind (`ListKind`).
    ListKindDef for ListKind { Allow, Block }
}

stored_as_wire! {
    /// Why an order, refund or withdrawal was refused or failed (`ReasonCode`, a u16 on the wire
    /// whose values all fit in a byte: stored as one).
    ReasonCodeDef for ReasonCode {
        None, MalformedMessage, UnknownTemplate, NotLoggedIn, RoleNotAllowed, FrameTooLarge,
        BadEncodingType, FrameTooShort, WrongSchema, BadCredentials, AlreadyLoggedIn,
        HeartbeatTimeout, SlowConsumer, ServerShuttingDown, TooManyConnections,
        CredentialRevoked, UnknownMerchant,
        MerchantNotOwned, MerchantDisabled, AmountNotPositive, AmountBelowMinimum,
        AmountAboveMaximum, CurrencyNotAccepted, DuplicateRequestMismatch, OrdersFull,
        RiskBlocked, NoChannelAvailable, UnknownPromoter, InvalidField, UnknownOrder,
        OrderNotSucceeded, RefundExceedsCaptured, InsufficientBalance, RefundsFull,
        RefundInProgress, ChannelDeclined, AttemptsExhausted, ChannelTimeout, WrongChannel,
        StaleAttempt, UnknownChannel, UnknownSplitProfile, CapacityReached, InvalidConfig,
        UnknownRule, UnknownCredential, CredentialExists, NotFound, WithdrawalsFull,
        BalanceOverflow, TooManyRefunds, LateCapture, RefundWindowPassed, OrderExpired,
        ResumeTooOld, ResumeAhead, ResumeUnavailable, DuplicateBatch, DiscrepancyExists,
        UnknownDiscrepancy, DiscrepanciesFull, NoPayoutChannel, BelowMinimumPayout, PayoutsFull,
        PayoutRejected, PayoutFailed, UnknownPayout, PayoutNotInReview, CalendarFull,
        NothingToRelease, DisputeExists, UnknownDispute, DisputeExceedsCaptured,
        AttemptNotCaptured, DisputesFull, NotInReview, CreditLimitExceeded, UnknownLoan, LoanOpen,
        LoansFull, NoCreditPolicy,
    }
}

stored_as_wire! {
    /// The role a credential logs in as (`Role`).
    RoleDef for Role { Acquirer, Channel, Admin }
}

stored_as_wire! {
    /// How a credential's secret is hashed (`SecretHash`).
    SecretHashDef for SecretHash { Sha256, HmacSha256 }
}

stored_as_wire! {
    /// Where a payout stands (`PayoutState`).
    PayoutStateDef for PayoutState { Review, Sent, Paid, Failed, Returned }
}

stored_as_wire! {
    /// Whether a party is paid out on its own (`PayoutMode`).
    PayoutModeDef for PayoutMode { Manual, Automatic }
}

stored_as_wire! {
    /// When a party's income becomes available (`PartySchedule`).
    PartyScheduleDef for PartySchedule { CalendarDays, BusinessDays, Weekly, Monthly, Manual }
}

stored_as_wire! {
    /// What a risk label says (`LabelKind`, schema 8).
    LabelKindDef for LabelKind { None, Fraud, FalsePositive, Legitimate }
}

stored_as_wire! {
    /// Where a risk label came from (`LabelSource`, schema 8).
    LabelSourceDef for LabelSource { None, Analyst, IssuerReport, Customer, Review, Chargeback }
}

stored_as_wire! {
    /// Where a dispute stands (`DisputeStage`, schema 8).
    DisputeStageDef for DisputeStage { Opened, Won, Lost }
}

stored_as_wire! {
    /// Why the payer disputed (`DisputeReason`, schema 8).
    DisputeReasonDef for DisputeReason { Fraud, NotReceived, NotAsDescribed, Duplicate, Other }
}
