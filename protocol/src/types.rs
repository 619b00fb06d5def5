//! Every enum of the schema, with its numeric values. The protocol document's enum tables are
//! generated from these definitions (and a test keeps the document equal to them).

wire_enum! {
    /// The role a session logs in with; it decides which messages the session may send.
    Role: u8 {
        Acquirer = 1 => "An acquirer: sends payments, refunds, withdrawals and queries for its own merchants.",
        Channel = 2 => "A payment-channel connector: receives dispatches, answers with channel results.",
        Admin = 3 => "An operator: configuration, balances, statistics, snapshots.",
    }
}

wire_enum! {
    /// The payment instrument.
    PaymentMethod: u8 {
        Card = 1 => "Debit or credit card (identified by fingerprint and BIN, never a card number).",
        Wallet = 2 => "A wallet balance (WeChat Pay, Alipay, PayPal...).",
        BankTransfer = 3 => "A direct bank transfer.",
    }
}

wire_enum! {
    /// Where the payment is made.
    Scene: u8 {
        ScanCode = 1 => "The payer scans a merchant QR code (or the merchant scans the payer's).",
        H5 = 2 => "A mobile web page.",
        App = 3 => "A native mobile app.",
        OfficialAccount = 4 => "Inside an official account (e.g. WeChat official account).",
        MiniProgram = 5 => "Inside a mini program.",
        Pos = 6 => "A point-of-sale terminal.",
    }
}

wire_enum! {
    /// Whether a request was accepted for processing.
    AckStatus: u8 {
        Accepted = 1 => "Accepted. In PaymentAck and RefundAck a final result follows; in ConfigAck the change is applied.",
        Rejected = 2 => "Rejected; `reason` says why. Nothing else follows.",
    }
}

wire_enum! {
    /// The final status of a payment, refund or withdrawal.
    FinalStatus: u8 {
        Succeeded = 1 => "The money moved.",
        Failed = 2 => "The money did not move; `reason` says why.",
    }
}

wire_enum! {
    /// The state of an order as `OrderStatus` reports it.
    OrderState: u8 {
        NotFound = 0 => "No such order (for this acquirer); see OrderStatus for what the other fields hold.",
        Rejected = 1 => "Refused by risk (RiskBlocked) or because no channel could take it (NoChannelAvailable); never dispatched. Validation refusals create no order.",
        InFlight = 2 => "Dispatched to a channel; awaiting its result.",
        Succeeded = 3 => "Paid; cleared and split.",
        Failed = 4 => "Every attempt failed, or a non-retryable decline.",
    }
}

wire_enum! {
    /// The action a risk verdict takes.
    RiskAction: u8 {
        None = 0 => "No rule fired.",
        Allow = 1 => "An allow-list entry or allow rule matched: later rules are skipped.",
        Review = 2 => "Processed, and flagged for manual review.",
        Block = 3 => "Refused.",
    }
}

wire_enum! {
    /// What a channel answered for one attempt.
    ChannelOutcome: u8 {
        Succeeded = 1 => "The channel took the money (or returned it, for a refund).",
        Declined = 2 => "A final decline: never retried on another channel.",
        RetryableError = 3 => "A technical failure: the payment fails over to the next channel.",
    }
}

wire_enum! {
    /// The state of one attempt of a payment (or of a refund).
    AttemptStatus: u8 {
        Pending = 1 => "Dispatched; no answer yet.",
        Succeeded = 2 => "The channel succeeded.",
        Declined = 3 => "The channel declined.",
        RetryableError = 4 => "The channel failed with a retryable error.",
        TimedOut = 5 => "No answer before the deadline (schema version 1 and 2; from version 3 a deadline makes the attempt Unknown).",
        Unknown = 6 => "No answer by the deadline, or the connector was lost: the outcome is unknown and the channel is being asked (ChannelControl Query). The payment does not fail over while an attempt is Unknown.",
        Closing = 7 => "The channel said the attempt is not paid (or not found, past the channel's query window): a close was sent (ChannelControl Close), and is sent again at every query interval until the channel answers Closed or Paid.",
        Closed = 8 => "The channel confirmed the attempt will never capture: the payment may fail over.",
        Abandoned = 9 => "The channel never answered within the channel's query window and its policy is FailOver: the payment failed over. The server still sends Close at every interval until the channel answers Closed (then Closed) or Paid (a capture the payment does not keep: Reversing).",
        Reversing = 10 => "The attempt captured, but the payment's outcome was already another (a late or second capture): a reversal was sent (ChannelControl Reverse).",
        Reversed = 11 => "The channel confirmed the reversal: the payer has the money back.",
    }
}

wire_enum! {
    /// The party a split line (or a ledger movement) belongs to.
    PartyRole: u8 {
        Platform = 1 => "The platform's commission.",
        PromoterLevel1 = 2 => "The promoter who brought the payer.",
        PromoterLevel2 = 3 => "That promoter's own promoter.",
        Merchant = 4 => "The merchant that sold (its remainder, net of the fee when it bears it).",
        MerchantParent = 5 => "The merchant's parent in its hierarchy (e.g. the branch above a distributor).",
        MerchantGrandparent = 6 => "The parent's parent (e.g. headquarters).",
        ChannelFee = 7 => "The part that covers the channel fee when the merchant bears it.",
    }
}

wire_enum! {
    /// Who bears a channel's fee.
    FeeBearer: u8 {
        Platform = 1 => "The platform pays the fee out of its own revenue.",
        Merchant = 2 => "The fee comes out of the merchant's part.",
    }
}

wire_enum! {
    /// How a merchant's payments are routed.
    RoutingStrategy: u8 {
        Priority = 1 => "The merchant's channel list in order; the first that can take it.",
        WeightedSplit = 2 => "Volume split by the list's weights, chosen by a hash of the order id.",
        Cheapest = 3 => "Lowest fee for this amount and method.",
        HighestSuccessRate = 4 => "Highest recent success rate for the payment's method.",
        WeightedScore = 5 => "Score of success rate, cost and latency with the merchant's weights.",
        ExpectedValue = 6 => "Highest success rate x (amount - fee).",
    }
}

wire_enum! {
    /// The decision about one candidate channel in a routing explanation.
    CandidateDecision: u8 {
        Chosen = 1 => "This channel was chosen (for the first attempt, or later by a failover).",
        Ranked = 2 => "Could take the payment; ranked below the chosen one (a failover candidate).",
        Skipped = 3 => "Could not take the payment when it was routed; `skip_reason` says why.",
    }
}

wire_enum! {
    /// Why a channel could not take a payment.
    SkipReason: u8 {
        None = 0 => "Not skipped.",
        MethodUnsupported = 1 => "The channel does not support the payment method.",
        CurrencyUnsupported = 2 => "The channel does not support the currency.",
        AmountOutOfRange = 3 => "The amount is outside the channel's limits.",
        Disabled = 4 => "The channel is disabled by configuration.",
        Unhealthy = 5 => "The channel is out of rotation (cooling down after failures).",
        AlreadyTried = 6 => "An earlier attempt of this payment used it.",
        ProbeBusy = 7 => "The channel is probing and its probe slots are taken.",
        ZeroWeight = 8 => "Weighted split with weight 0.",
        UnknownChannel = 9 => "The merchant lists a channel that is not configured.",
    }
}

wire_enum! {
    /// A channel's health.
    HealthState: u8 {
        Healthy = 1 => "In rotation.",
        Open = 2 => "Out of rotation until its cooldown ends.",
        Probing = 3 => "Cooldown over: a few probe payments decide whether it comes back.",
    }
}

wire_enum! {
    /// What a risk rule measures.
    RiskFeature: u8 {
        PaymentCount = 1 => "Payments by the entity within the window (this one included).",
        PaymentAmount = 2 => "Amount paid by the entity within the window, this one included (minor units).",
        RefundCount = 3 => "Refunds requested for the entity within the window (this one included).",
        DeclineCount = 4 => "Declined attempts for the entity within the window.",
        SingleAmount = 5 => "This payment's amount (minor units); the entity is ignored.",
    }
}

wire_enum! {
    /// Whose activity a risk rule or list entry is about.
    RiskEntity: u8 {
        None = 0 => "No entity (for single-amount rules).",
        User = 1 => "The payer's user id.",
        Ip = 2 => "The payer's IP address.",
        Device = 3 => "The payer's device id.",
        CardFingerprint = 4 => "The card fingerprint.",
        CardBin = 5 => "The card BIN.",
        Merchant = 6 => "The merchant (for refund-frequency rules).",
    }
}

wire_enum! {
    /// A rolling window in event time.
    RiskWindow: u8 {
        None = 0 => "No window (single-amount rules).",
        Minute = 1 => "The last 60 seconds.",
        Hour = 2 => "The last 60 minutes.",
        Day = 3 => "The last 24 hours.",
    }
}

wire_enum! {
    /// How a rule compares its feature with its threshold.
    Comparison: u8 {
        Greater = 1 => "feature > threshold",
        GreaterOrEqual = 2 => "feature >= threshold",
        Less = 3 => "feature < threshold",
        LessOrEqual = 4 => "feature <= threshold",
        Equal = 5 => "feature == threshold",
    }
}

wire_enum! {
    /// What a risk rule applies to.
    RuleTarget: u8 {
        Payment = 1 => "Evaluated on every PaymentRequest.",
        Refund = 2 => "Evaluated on every RefundRequest.",
    }
}

wire_enum! {
    /// Which list an entry belongs to.
    ListKind: u8 {
        Allow = 1 => "Matches skip every other rule.",
        Block = 2 => "Matches are refused.",
    }
}

wire_enum! {
    /// Add or remove a list entry.
    ListOp: u8 {
        Add = 1 => "Add the entry (idempotent).",
        Remove = 2 => "Remove the entry (idempotent).",
    }
}

wire_enum! {
    /// Whose balance is asked for.
    PartyKind: u8 {
        Merchant = 1 => "A merchant (pending, available, frozen).",
        Promoter = 2 => "A promoter (pending, available, frozen).",
        Platform = 3 => "The platform (revenue and fee expense).",
    }
}

wire_enum! {
    /// Whether a merchant, channel or rule is active.
    Activity: u8 {
        Active = 1 => "Active.",
        Disabled = 2 => "Disabled: kept, but not used for new payments.",
    }
}

wire_enum! {
    /// Why something was refused. Carried by PaymentAck, RefundAck, WithdrawAck, WithdrawResult,
    /// PayoutAck, Reject,
    /// LoginRejected, Logout, ConfigAck, OrderStatus and the final results.
    ReasonCode: u16 {
        None = 0 => "No error.",
        MalformedMessage = 1 => "The message could not be decoded (the Reject text says which field).",
        UnknownTemplate = 2 => "The template id is not defined.",
        NotLoggedIn = 3 => "Only Login is accepted before login (Reject, then close); also the Logout sent when no Login came within the login deadline.",
        RoleNotAllowed = 4 => "This role may not send this message (no peer may send templates 90 and 91).",
        FrameTooLarge = 5 => "The frame is longer than the maximum (connection closed).",
        BadEncodingType = 6 => "The framing header's encoding type is not 0xEB50 (connection closed).",
        FrameTooShort = 7 => "The framing header's length is shorter than the headers (connection closed).",
        WrongSchema = 8 => "The SBE header's schema id is not Sluice's.",
        BadCredentials = 9 => "Unknown key id, wrong secret, or a role the key does not have.",
        AlreadyLoggedIn = 10 => "Login sent twice on one session.",
        HeartbeatTimeout = 11 => "No message within the idle timeout (connection closed).",
        SlowConsumer = 12 => "The client did not read its replies. Never sent in this version: the connection is just closed.",
        ServerShuttingDown = 13 => "The server is stopping (Logout, then close).",
        TooManyConnections = 14 => "The connection cap is reached (Logout at accept, then close).",
        CredentialRevoked = 15 => "The key this session logged in with was revoked, or the secret it used was rotated out at the end of its window (Logout, then close).",
        UnknownMerchant = 100 => "The merchant id is not configured.",
        MerchantNotOwned = 101 => "The merchant belongs to another acquirer (also: an acquirer's BalanceQuery for anything but one of its own merchants).",
        MerchantDisabled = 102 => "The merchant is disabled.",
        AmountNotPositive = 103 => "The amount must be greater than zero.",
        AmountBelowMinimum = 104 => "The amount is below the merchant's minimum.",
        AmountAboveMaximum = 105 => "The amount is above the merchant's maximum.",
        CurrencyNotAccepted = 106 => "The merchant does not accept this currency.",
        DuplicateRequestMismatch = 107 => "This request id was used before with different fields.",
        OrdersFull = 108 => "The orders in memory reached their configured maximum.",
        RiskBlocked = 109 => "A risk rule or block-list entry refused it (PaymentAck names the rule).",
        NoChannelAvailable = 110 => "No configured, healthy channel can take this payment.",
        UnknownPromoter = 111 => "The promoter id is not configured.",
        InvalidField = 112 => "A field holds a value outside its allowed range.",
        UnknownOrder = 120 => "No such order for this acquirer (RefundAck); no such order, attempt or refund (Reject of a ChannelResult, RefundChannelResult or ChannelControlResult); an order id never issued (RiskLabel, DisputeNotice, ReviewDecision, ReviewQuery).",
        OrderNotSucceeded = 121 => "Only a succeeded payment can be refunded.",
        RefundExceedsCaptured = 122 => "The refund is larger than captured minus already refunded.",
        InsufficientBalance = 123 => "A party's available balance cannot cover the reversal or withdrawal.",
        RefundsFull = 124 => "The refunds in memory reached their configured maximum (Genesis refunds_max); or, for a channel of the Legacy policy (configured by a version 1 or 2 ConfigChannel), the payment has had its channel's refunds_max (16) refunds, failed ones included.",
        RefundInProgress = 125 => "Another refund of this order is still at the channel (not sent in this version: refunds of one order may overlap).",
        ChannelDeclined = 130 => "The channel declined (not retried). For a refund: any channel answer but Succeeded (RefundChannelResult), or RefundFailed (ChannelControlResult).",
        AttemptsExhausted = 131 => "Every allowed attempt failed with a retryable error or timed out.",
        ChannelTimeout = 132 => "The channel did not answer before the deadline.",
        WrongChannel = 133 => "A channel answered for an attempt that was dispatched to another channel.",
        StaleAttempt = 134 => "A result for an attempt that is no longer pending (late or repeated), or a ChannelControlResult for an attempt or refund the server is not asking about, when it reports nothing new (a capture the payment does not keep is never refused: it is reversed).",
        UnknownChannel = 140 => "The channel id is not configured (a ConfigQuery for it; a merchant may list an unknown channel, which routing skips).",
        UnknownSplitProfile = 141 => "The split profile id is not configured.",
        CapacityReached = 142 => "A configured maximum (merchants, channels, rules, list entries...) is reached.",
        InvalidConfig = 143 => "A configuration field is out of range (the text says which).",
        UnknownRule = 144 => "The risk rule id is not configured (ConfigQuery).",
        UnknownCredential = 145 => "No such key id (ConfigCredential Rotate or Revoke, ConfigQuery), or the key is revoked (Rotate).",
        CredentialExists = 146 => "ConfigCredential Add of a key id that exists (revoked keys included: key ids are never reused).",
        NotFound = 147 => "ConfigQuery: no object of that kind and id (list entries: no entry at that index).",
        BalanceOverflow = 126 => "Accepting it could take a ledger account or a party's total past the largest balance, 2^63 - 1 minor units (section 4, Money limits); nothing changed. In a PaymentResult: the capture could not be kept.",
        RefundWindowPassed = 128 => "The payment is older than its channel's refund window (ConfigChannel refund_window_days).",
        OrderExpired = 129 => "QueryOrder: the order id was issued, but the order and its retired record are gone (past every retention window; section 4, Retention). Also a DisputeNotice Opened of such an order (its split is gone; docs/DISPUTES.md).",
        TooManyRefunds = 127 => "The payment has had as many refunds as its channel allows (ConfigChannel refunds_max; failed refunds count).",
        LateCapture = 135 => "PaymentReversal: an attempt captured after the payment had its final outcome (or a second attempt captured); the capture is being reversed.",
        WithdrawalsFull = 150 => "The withdrawals in memory reached their configured maximum.",
        ResumeTooOld = 160 => "LoginAccepted: the resume asked for outputs older than the server keeps (LoginAccepted.oldest_out_seq; section 3, Resume): the session is open without a resume; query orders (QueryOrder) for what was missed.",
        ResumeAhead = 161 => "LoginAccepted: the resume claims an out_seq the server has not sent yet (beyond LoginAccepted.last_out_seq): the session is open without a resume.",
        DuplicateBatch = 170 => "ChannelSettlement: this channel's batch was applied already (nothing changed).",
        DiscrepancyExists = 171 => "Discrepancy Open: an entry with this id exists (nothing changed).",
        UnknownDiscrepancy = 172 => "Discrepancy Resolve: no open entry with this id.",
        DiscrepanciesFull = 173 => "Discrepancy Open: the list in memory reached its maximum.",
        NoPayoutChannel = 151 => "No active payout channel is configured for the payout: the party's payout_channel_id (the platform's: ConfigPayoutPolicy's platform_payout_channel_id) names none, or it is disabled or does not take the currency (docs/PAYOUTS.md).",
        BelowMinimumPayout = 152 => "The payout is below the party's min_payout_minor (ConfigMerchant, ConfigPromoter).",
        PayoutsFull = 153 => "The payouts in memory (in flight, in review, and ended ones kept for duplicates) reached their maximum (Genesis withdrawals_max).",
        PayoutRejected = 154 => "WithdrawResult: an admin's PayoutReview rejected the payout; the money is back in the party's available balance.",
        PayoutFailed = 155 => "WithdrawResult: the payout channel failed the transfer; the money (fee included) is back in the party's available balance.",
        UnknownPayout = 156 => "PayoutReview of an unknown payout; a PayoutChannelResult for a payout the server does not know or did not send to that channel.",
        PayoutNotInReview = 157 => "PayoutReview of a payout that is not waiting in Review (already reviewed, sent or ended).",
        CalendarFull = 180 => "ConfigCalendarDay: the calendar holds its maximum of dated entries (4,096).",
        NothingToRelease = 181 => "ReleaseSettlement: the party has no income waiting through that day.",
        DisputeExists = 190 => "DisputeNotice: this (channel, dispute_id) is known with different fields, or a stage that cannot follow the one it is at (Won after Lost...); nothing changed.",
        UnknownDispute = 191 => "DisputeNotice Won or Lost of a dispute that was never Opened.",
        DisputeExceedsCaptured = 192 => "DisputeNotice Opened: the amount is more than captured minus refunded, refunding and already disputed.",
        AttemptNotCaptured = 193 => "DisputeNotice: the order's attempt did not capture (or is not the attempt the payment kept).",
        DisputesFull = 194 => "DisputeNotice Opened: the disputes in memory reached their maximum (Genesis disputes_max).",
        NotInReview = 195 => "ReviewDecision of an order that is not in the review queue (never queued, or decided already).",
        CreditLimitExceeded = 220 => "LoanRequest: the amount is over the merchant's credit limit (docs/CREDIT.md: min(cap, flow share) less what it owes); nothing moved.",
        UnknownLoan = 221 => "LoanRepayment or CreditQuery of a loan that does not exist, or a repayment of a closed loan.",
        LoanOpen = 222 => "LoanRequest: the merchant has an open loan (active, overdue, or defaulted with something owed).",
        LoansFull = 223 => "LoanRequest: the loans in memory reached their maximum (4 × merchants_max, at most 1,000,000).",
        NoCreditPolicy = 224 => "LoanRequest or CreditQuery before any ConfigCreditPolicy.",
        ResumeUnavailable = 162 => "LoginAccepted: this server keeps no output log (`[resume] enabled = false`), or it could not be read: the session is open without a resume. Also the Logout of a resume that could not finish: the output log did not reach the outputs to retransmit within the resume timeout, or could not be read.",
    }
}

wire_enum! {
    /// A merchant loan's state (schema 9; docs/CREDIT.md).
    LoanState: u8 {
        None = 0 => "No loan.",
        Active = 1 => "Disbursed, not due yet.",
        Overdue = 2 => "Past its due day with money owed; accrues the penalty rate too.",
        Defaulted = 3 => "Written off after default_after_days overdue; settlements still recover it.",
        Closed = 4 => "Repaid (or recovered) in full.",
    }
}

wire_enum! {
    /// What a ConfigCredential does.
    CredentialOp: u8 {
        Add = 1 => "A new key with its first secret.",
        Rotate = 2 => "A new secret for an active key; the previous one stays valid for the rotation window.",
        Revoke = 3 => "The key stops working at once; its live sessions are closed.",
    }
}

wire_enum! {
    /// What a ConfigMerchantNotify does.
    NotifyOp: u8 {
        Set = 1 => "The URL and a new signing secret (replacing any earlier secret at once).",
        Rotate = 2 => "A new signing secret; the previous one still signs for the rotation window, so both are valid at the merchant.",
        Remove = 3 => "No more notifications for this merchant (pending ones are given up at their next attempt).",
    }
}

wire_enum! {
    /// How a credential's secret is hashed (the secret itself is never sent or stored).
    SecretHash: u8 {
        Sha256 = 1 => "SHA-256 of \"key_id:secret\", unsalted: only for configuration files of earlier versions.",
        HmacSha256 = 2 => "HMAC-SHA256 keyed by a 16-byte random salt, of \"key_id:secret\".",
    }
}

wire_enum! {
    /// The kind of object a ConfigQuery asks for.
    ConfigKind: u8 {
        Merchant = 1 => "Answered with ConfigMerchant.",
        Channel = 2 => "Answered with ConfigChannel.",
        SplitProfile = 3 => "Answered with ConfigSplitProfile.",
        Promoter = 4 => "Answered with ConfigPromoter.",
        RiskRule = 5 => "Answered with ConfigRiskRule.",
        ListEntry = 6 => "Answered with ConfigListEntry (op Add); the id is an index, 0-based, over every list entry.",
        Credential = 7 => "Answered with ConfigCredential (op Add, the current secret's salt and hash; for a revoked key, op Revoke); named by ConfigQuery.key_id.",
        Discrepancy = 8 => "Since schema 6. Answered with Discrepancy: op Open with the opening note while the entry is open; op Resolve with the resolution note and write_off_minor once resolved. The id is the discrepancy id.",
        ChannelSettlement = 9 => "Since schema 6. Answered with ChannelSettlement carrying a channel's totals in a currency: paid_minor and fee_difference_minor summed over its batches, batch_id, first_day and last_day of the last batch, and batch_ref = `batches N, written off W`. The id is channel_id × 65536 + currency.",
    }
}

wire_enum! {
    /// How a ConfigQuery names its object.
    ConfigLookup: u8 {
        ById = 0 => "By `id` (or, for a credential, `key_id`).",
        ByPosition = 1 => "By `id` as a 0-based position in the order the objects of that kind were first defined: asking 0, 1, 2... until NotFound lists them all, each defined after what it refers to (unless re-pointed later).",
    }
}

wire_enum! {
    /// What the server asks a channel about one attempt or refund (ChannelControl).
    ChannelOp: u8 {
        Query = 1 => "The status of a payment attempt (WeChat Pay orderquery, Alipay trade.query).",
        Close = 2 => "Close an unpaid attempt so that it can never capture (WeChat Pay closeorder, Alipay trade.close).",
        Reverse = 3 => "Return a captured attempt's money to the payer (WeChat Pay reverse, Alipay trade.cancel).",
        RefundQuery = 4 => "The status of a refund (WeChat Pay refundquery, Alipay trade.fastpay.refund.query).",
    }
}

wire_enum! {
    /// A channel's answer to a ChannelControl.
    ChannelStatus: u8 {
        Paid = 1 => "Query, Close: the attempt captured the money (a Close comes too late).",
        NotPaid = 2 => "Query: the attempt exists and has not captured; it still could.",
        NotFound = 3 => "Query, Close, RefundQuery: the channel does not know it (yet): not final, asked again. A Query answered NotFound past the channel's query window is followed by a Close; a RefundQuery answered NotFound by the same RefundDispatch again (the channel never got it).",
        Closed = 4 => "Query, Close: the attempt is closed and will never capture.",
        Reversed = 5 => "Reverse (and Query after one): the captured money went back to the payer.",
        Refunded = 6 => "RefundQuery: the refund was paid.",
        RefundFailed = 7 => "RefundQuery: the refund will not be paid.",
        Processing = 8 => "Any: still in progress; asked again.",
        Error = 9 => "Any: the channel could not answer now; asked again.",
    }
}

wire_enum! {
    /// What the engine does with an attempt whose channel never answers within its query window.
    UnknownPolicy: u8 {
        Legacy = 0 => "Schema versions 1 and 2: a deadline fails the attempt and the payment fails over at once, with no query; a late success is refused StaleAttempt. What a version 1 or 2 ConfigChannel (without the field) means, so that older journals replay as they ran. Unsafe: a payer can be charged twice. A channel switched to Legacy while attempts are Unknown keeps asking about them and fails them over once the window is over, as FailOver does.",
        Hold = 1 => "Keep the payment in flight, still asking at each query interval, until the channel answers (an operator sees it in OrderStatus and the metrics). The safe default.",
        FailOver = 2 => "Mark the attempt Abandoned and fail the payment over; if the abandoned attempt captures later, reverse that capture automatically.",
    }
}

wire_enum! {
    /// Where the reversal of a capture stands (PaymentReversal).
    ReversalState: u8 {
        Reversing = 1 => "A capture the payment does not keep was found; its reversal was sent to the channel.",
        Reversed = 2 => "The channel confirmed the reversal: the payer has the money back.",
    }
}

wire_enum! {
    /// Whether a Login's resume is under way (LoginAccepted; section 3, Resume).
    ResumeStatus: u8 {
        NotRequested = 0 => "The Login asked for no resume (or the role has no recoverable flow).",
        Resuming = 1 => "The missed outputs follow, marked retransmission = 1, then ResumeComplete, then new outputs.",
        Refused = 2 => "No resume: `resume_reason` says why. The session is open; outputs from now on are sent as usual.",
    }
}

wire_enum! {
    /// Whether a channel returns its fee when a payment is refunded.
    RefundFeePolicy: u8 {
        Keep = 1 => "The channel keeps its whole fee (Stripe); the platform bears the fee of a refunded payment.",
        ProRata = 2 => "The channel returns its fee in proportion to the amount refunded, rounded half up cumulatively, so a full refund returns the whole fee.",
    }
}

wire_enum! {
    /// How a channel pays what it owes the platform.
    SettlementSchedule: u8 {
        Daily = 1 => "Each bill day is one batch, paid settlement_delay_days after it.",
        Rolling = 2 => "Each transaction becomes available settlement_delay_days after it (refunds at once) and a daily payout takes what became available, mixing days (Stripe).",
    }
}

wire_enum! {
    /// What a Discrepancy does.
    DiscrepancyOp: u8 {
        Open = 1 => "A new entry, open.",
        Resolve = 2 => "The entry is resolved with a note (and an optional write-off).",
    }
}

wire_enum! {
    /// A kind of difference between a channel's bill and the platform's records.
    DiscrepancyClass: u8 {
        MissingOnChannel = 1 => "The platform recorded it; the channel's bill does not have it.",
        MissingOnPlatform = 2 => "The bill has it; the platform has no record of it.",
        AmountMismatch = 3 => "Both have it with different amounts.",
        StatusMismatch = 4 => "Both have it with different statuses.",
        FeeMismatch = 5 => "Both have it with the same amount and different fees.",
        Duplicate = 6 => "The bill has it more than once.",
        Timing = 7 => "The two sides put it on different days; carried to the next bill until it ages out.",
    }
}

wire_enum! {
    /// Where a payout stands (docs/PAYOUTS.md, section 4).
    PayoutState: u8 {
        Review = 1 => "Accepted; its money (amount and fee) is reserved and waits for an admin's PayoutReview.",
        Sent = 2 => "Sent to the payout channel (PayoutDispatch); its money is reserved until the channel's final answer. No answer by the deadline, or Processing, starts PayoutQuery at the channel's query interval.",
        Paid = 3 => "The channel paid it: the amount and the fee left the platform's bank account.",
        Failed = 4 => "The channel failed it or the review rejected it (or, in WithdrawAck and PayoutAck, it was refused): the money, fee included, is back in the party's available balance.",
        Returned = 5 => "Paid, then the receiving bank sent it back: the amount is back in the party's available balance; the fee is not.",
    }
}

wire_enum! {
    /// A payout channel's answer (PayoutChannelResult).
    PayoutChannelStatus: u8 {
        Paid = 1 => "The transfer was paid. Final; a repeat is ignored.",
        Failed = 2 => "The transfer will not be paid. Final.",
        Processing = 3 => "Still in progress: not final; the server asks again (PayoutQuery) at the channel's query interval.",
        NotFound = 4 => "To a PayoutQuery: the channel never received the payout; the server sends the same PayoutDispatch again (channels are idempotent on the payout id).",
        Returned = 5 => "Sent unasked, days later: the receiving bank returned a paid transfer. For a payout still in flight it means paid, then returned.",
    }
}

wire_enum! {
    /// What a ConfigCalendarDay makes of a date.
    DayKind: u8 {
        Default = 0 => "Back to the weekday rule: Monday to Friday are working days, Saturday and Sunday are not.",
        Holiday = 1 => "Not a working day (a public holiday on a weekday).",
        Workday = 2 => "A working day even on a weekend (China's make-up working days).",
    }
}

wire_enum! {
    /// When a party's income becomes available (docs/PAYOUTS.md, section 3). Named PartySchedule
    /// because SettlementSchedule already names how a channel pays the platform.
    PartySchedule: u8 {
        CalendarDays = 0 => "settlement_days calendar days after the day the income was earned (what every earlier configuration meant).",
        BusinessDays = 1 => "The settlement_days-th working day after the day the income was earned.",
        Weekly = 2 => "The first schedule_anchor weekday (ISO: 1 = Monday ... 7 = Sunday) on or after settlement_days calendar days, rolled to the next working day.",
        Monthly = 3 => "The first schedule_anchor date (1..=31; a shorter month's last day) on or after settlement_days calendar days, rolled to the next working day.",
        Manual = 4 => "Never on its own: an admin's ReleaseSettlement releases what was earned through a day.",
    }
}

wire_enum! {
    /// Whether a party is paid out on its own.
    PayoutMode: u8 {
        Manual = 0 => "Only when asked (a WithdrawRequest, or an admin's PayoutRequest).",
        Automatic = 1 => "After each of its settlements, its whole available balance less the fee, when that is at least min_payout_minor.",
    }
}

/// Whose payout: the same values as PartyKind (Merchant 1, Promoter 2, Platform 3), one type so
/// that a balance and a payout name a party alike.
pub type PayoutParty = PartyKind;

wire_enum! {
    /// What a risk label says about an order (schema 8; docs/DISPUTES.md, section 1).
    LabelKind: u8 {
        None = 0 => "No label (ReviewItem of an order that has none).",
        Fraud = 1 => "The payment was fraudulent (a fraud report, a fraud chargeback, or a review's RefundAndBlock).",
        FalsePositive = 2 => "A payment that a rule blocked or sent to review was confirmed good.",
        Legitimate = 3 => "The payment was confirmed good (a review's Approve, or an analyst's word).",
    }
}

wire_enum! {
    /// Where a risk label came from (schema 8). RiskLabel may carry Analyst, IssuerReport or
    /// Customer; Review and Chargeback are given by the engine only.
    LabelSource: u8 {
        None = 0 => "No label.",
        Analyst = 1 => "An analyst's own finding (sluice admin label).",
        IssuerReport = 2 => "The card issuer's or scheme's fraud report (TC40, SAFE).",
        Customer = 3 => "The payer or the merchant reported it.",
        Review = 4 => "An admin's ReviewDecision on a review-queue order (engine-given).",
        Chargeback = 5 => "A DisputeNotice Opened with reason Fraud (engine-given).",
    }
}

wire_enum! {
    /// Where a dispute (chargeback) stands (schema 8; docs/DISPUTES.md, section 2).
    DisputeStage: u8 {
        Opened = 1 => "The payer's bank disputed the payment: the channel took the disputed amount and its dispute fee back; the merchant's balance gives them (split reversed like a refund).",
        Won = 2 => "The merchant won: the channel returned the amount and the fee; the reversal is undone. Final.",
        Lost = 3 => "The merchant lost: the reversal stands. Final.",
    }
}

wire_enum! {
    /// Why the payer disputed (schema 8). A Fraud reason also labels the order Fraud.
    DisputeReason: u8 {
        Fraud = 1 => "The cardholder did not authorize the payment.",
        NotReceived = 2 => "Goods or service not received.",
        NotAsDescribed = 3 => "Goods or service not as described.",
        Duplicate = 4 => "Charged twice for one purchase.",
        Other = 5 => "Any other reason (credit not processed, cancelled subscription...).",
    }
}

wire_enum! {
    /// An admin's decision on an order in the review queue (schema 8).
    ReviewAction: u8 {
        Approve = 1 => "The payment is good: it leaves the queue and is labelled Legitimate.",
        RefundAndBlock = 2 => "The payment is fraud: a full refund of what is left starts, the payer's user, device and card fingerprint go on the block list, and it is labelled Fraud.",
    }
}
