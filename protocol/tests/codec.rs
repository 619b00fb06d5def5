//! Round trips for every message, and decoding of arbitrary bytes.

use proptest::prelude::*;
use sluice_protocol::codec::Entropy;
use sluice_protocol::*;

fn roundtrip(template_id: u16, entropy: &[u8]) {
    let mut e = Entropy::new(entropy);
    let msg = AnyMessage::sample(template_id, &mut e).expect("known template");
    let mut buf = vec![0u8; MAX_FRAME_BYTES];
    let len = msg.encode_frame(&mut buf).expect("fits");
    assert_eq!(frame_length(&buf[..len], MAX_FRAME_BYTES), Ok(Some(len)));
    // One byte short is "need more", never an error or a panic.
    assert_eq!(frame_length(&buf[..len - 1], MAX_FRAME_BYTES), Ok(None));
    let back = decode_any_frame(&buf[..len]).expect("decodes");
    assert_eq!(back, msg);
    // The SBE form (what the journal stores) round-trips too.
    let sbe_len = msg.encode_sbe(&mut buf).expect("fits");
    assert_eq!(sbe_len, len - SOFH_LEN);
    assert_eq!(decode_any_sbe(&buf[..sbe_len]).expect("decodes"), msg);
    // Every strict prefix of the body fails cleanly.
    for cut in 0..sbe_len {
        let _ = decode_any_sbe(&buf[..cut]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_message_round_trips(entropy in proptest::collection::vec(any::<u8>(), 0..512)) {
        for &id in TEMPLATE_IDS {
            roundtrip(id, &entropy);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = frame_length(&bytes, MAX_INBOUND_FRAME_BYTES);
        let _ = decode_any_frame(&bytes);
        let _ = decode_any_sbe(&bytes);
        // Also behind a valid framing and SBE header with each template id.
        for &id in TEMPLATE_IDS {
            let mut framed = Vec::with_capacity(bytes.len() + 14);
            framed.extend_from_slice(&((bytes.len() + 14) as u32).to_be_bytes());
            framed.extend_from_slice(&ENCODING_SBE_LE.to_be_bytes());
            let block = bytes.first().copied().unwrap_or(0) as u16;
            framed.extend_from_slice(&block.to_le_bytes());
            framed.extend_from_slice(&id.to_le_bytes());
            framed.extend_from_slice(&SCHEMA_ID.to_le_bytes());
            framed.extend_from_slice(&SCHEMA_VERSION.to_le_bytes());
            framed.extend_from_slice(&bytes);
            let _ = decode_any_frame(&framed);
        }
    }

    #[test]
    fn mutated_frames_never_panic(
        entropy in proptest::collection::vec(any::<u8>(), 0..128),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        for &id in TEMPLATE_IDS {
            let msg = AnyMessage::sample(id, &mut Entropy::new(&entropy)).expect("known");
            let mut buf = vec![0u8; MAX_FRAME_BYTES];
            let len = msg.encode_frame(&mut buf).expect("fits");
            let frame = &mut buf[..len];
            for &(at, byte) in &flips {
                let i = at % frame.len();
                frame[i] ^= byte;
            }
            if let Ok(Some(n)) = frame_length(frame, MAX_FRAME_BYTES) {
                let _ = decode_any_frame(&frame[..n]);
            }
            let _ = decode_any_frame(frame);
        }
    }
}

#[test]
fn framing_errors_are_named() {
    // Wrong encoding type.
    let bad = [0, 0, 0, 20, 0xEB, 0x51, 0, 0];
    assert_eq!(
        frame_length(&bad, 1024),
        Err(FrameError::BadEncodingType { encoding: 0xEB51 })
    );
    // Length shorter than the headers.
    let short = [0, 0, 0, 13, 0xEB, 0x50];
    assert_eq!(
        frame_length(&short, 1024),
        Err(FrameError::TooShort { length: 13 })
    );
    // Oversized: refused from the header alone, before any allocation or read.
    let huge = [0xFF, 0xFF, 0xFF, 0xFF, 0xEB, 0x50];
    assert_eq!(
        frame_length(&huge, 1024),
        Err(FrameError::TooLarge {
            length: u32::MAX,
            max: 1024
        })
    );
    // Incomplete header: need more bytes.
    assert_eq!(frame_length(&[0, 0, 0], 1024), Ok(None));
}

#[test]
fn unknown_template_and_wrong_schema_are_refused() {
    let mut frame = vec![0u8; 14];
    write_sofh(&mut frame, 14);
    frame[8..10].copy_from_slice(&999u16.to_le_bytes());
    frame[10..12].copy_from_slice(&SCHEMA_ID.to_le_bytes());
    frame[12..14].copy_from_slice(&1u16.to_le_bytes());
    assert_eq!(
        decode_any_frame(&frame),
        Err(DecodeError::UnknownTemplate { template_id: 999 })
    );
    frame[10..12].copy_from_slice(&0x1234u16.to_le_bytes());
    assert_eq!(
        decode_any_frame(&frame),
        Err(DecodeError::WrongSchema { schema_id: 0x1234 })
    );
}

#[test]
fn newer_versions_with_longer_blocks_decode_and_shorter_blocks_are_refused() {
    let req = schema::examples::payment_request();
    let mut buf = vec![0u8; 512];
    let len = encode_frame(&req, &mut buf).unwrap();
    // A newer sender appends 6 unknown bytes to the root block.
    let mut newer = buf[..len].to_vec();
    newer.extend_from_slice(&[0xAB; 6]);
    let total = newer.len();
    write_sofh(&mut newer, total);
    let block = PaymentRequest::BLOCK_LENGTH + 6;
    newer[6..8].copy_from_slice(&block.to_le_bytes());
    newer[12..14].copy_from_slice(&2u16.to_le_bytes());
    assert_eq!(decode_frame::<PaymentRequest>(&newer), Ok(req.clone()));
    // A block shorter than the first version's fields is refused (schema 9's fields, in a
    // `since 9` block, may be left out).
    let mut older = buf[..len].to_vec();
    let block = PaymentRequest::MIN_BLOCK_LENGTH - 1;
    older[6..8].copy_from_slice(&block.to_le_bytes());
    assert!(matches!(
        decode_frame::<PaymentRequest>(&older),
        Err(DecodeError::BlockLengthTooShort { .. })
    ));
}

#[test]
fn groups_over_their_maximum_are_refused() {
    let mut result = PaymentResult::default();
    for _ in 0..MAX_SPLIT_LINES {
        result.split.push(SplitLine::default());
    }
    let mut buf = vec![0u8; 1024];
    let len = encode_frame(&result, &mut buf).unwrap();
    let count_at = SOFH_LEN + MESSAGE_HEADER_LEN + PaymentResult::BLOCK_LENGTH as usize + 2;
    buf[count_at..count_at + 2].copy_from_slice(&(MAX_SPLIT_LINES as u16 + 1).to_le_bytes());
    assert!(matches!(
        decode_any_frame(&buf[..len]),
        Err(DecodeError::GroupTooLarge { .. })
    ));
    // A count that claims more entries than the frame holds is "truncated", not a panic.
    buf[count_at..count_at + 2].copy_from_slice(&5u16.to_le_bytes());
    assert!(decode_any_frame(&buf[..len - 40]).is_err());
}

#[test]
fn enums_are_strict() {
    let req = schema::examples::payment_request();
    let mut buf = vec![0u8; 512];
    let len = encode_frame(&req, &mut buf).unwrap();
    let method_at = SOFH_LEN + MESSAGE_HEADER_LEN + 8 + 4 + 4 + 8 + 2;
    assert_eq!(buf[method_at], PaymentMethod::Card.to_wire());
    buf[method_at] = 77;
    assert_eq!(
        decode_frame::<PaymentRequest>(&buf[..len]),
        Err(DecodeError::BadEnum {
            field: "method",
            value: 77
        })
    );
}

/// A block that ends before fields a later version appended is that earlier version's message:
/// the appended fields read as their documented defaults (a version 2 ConfigChannel is the Legacy
/// policy), and a block shorter than the first version is still refused.
#[test]
fn an_earlier_versions_block_reads_the_appended_fields_as_their_defaults() {
    let mut ch = ConfigChannel {
        channel_id: 7,
        timeout_ms: 2_000,
        query_interval_ms: 250,
        query_window_ms: 60_000,
        unknown_policy: UnknownPolicy::Hold,
        refunds_max: 50,
        refund_window_days: 365,
        refund_fee: RefundFeePolicy::ProRata,
        bill_utc_offset_min: -480,
        bill_cutoff_min: 1380,
        settlement: SettlementSchedule::Rolling,
        settlement_delay_days: 2,
        ..Default::default()
    };
    ch.currencies.push(CurrencyEntry { currency: 156 });
    let mut buf = [0u8; 1024];
    let len = encode_frame(&ch, &mut buf).unwrap();
    assert_eq!(decode_frame::<ConfigChannel>(&buf[..len]), Ok(ch.clone()));
    let (min, full) = (
        usize::from(ConfigChannel::MIN_BLOCK_LENGTH),
        usize::from(ConfigChannel::BLOCK_LENGTH),
    );
    assert_eq!(
        full - min,
        4 + 4 + 1 + 1 + 2 + 1 + 4 + 2 + 1 + 1,
        "four fields appended in version 3, one in version 4, five in version 6"
    );
    // A version 3 block: the version 4 and 6 fields read as their defaults (no refund window;
    // the fee kept on refunds, bills in UTC, paid daily the next day).
    let v3 = min + 4 + 4 + 1 + 1;
    let header = SOFH_LEN + MESSAGE_HEADER_LEN;
    let mut third = buf[..header + v3].to_vec();
    third.extend_from_slice(&buf[header + full..len]);
    let total = third.len();
    write_sofh(&mut third, total);
    third[6..8].copy_from_slice(&(v3 as u16).to_le_bytes());
    third[12..14].copy_from_slice(&3u16.to_le_bytes());
    let back = decode_frame::<ConfigChannel>(&third).unwrap();
    assert_eq!(
        back,
        ConfigChannel {
            refund_window_days: 0,
            refund_fee: RefundFeePolicy::Keep,
            bill_utc_offset_min: 0,
            bill_cutoff_min: 0,
            settlement: SettlementSchedule::Daily,
            settlement_delay_days: 1,
            ..ch.clone()
        }
    );
    let mut older = buf[..header + min].to_vec();
    older.extend_from_slice(&buf[header + full..len]);
    let total = older.len();
    write_sofh(&mut older, total);
    older[6..8].copy_from_slice(&(min as u16).to_le_bytes());
    older[12..14].copy_from_slice(&2u16.to_le_bytes());
    let back = decode_frame::<ConfigChannel>(&older).unwrap();
    assert_eq!(back.unknown_policy, UnknownPolicy::Legacy);
    assert_eq!((back.query_interval_ms, back.query_window_ms), (0, 0));
    assert_eq!(back.refunds_max, 16);
    assert_eq!(back.currencies, ch.currencies);
    assert_eq!(back.channel_id, 7);
    let mut corrupt = older.clone();
    corrupt[6..8].copy_from_slice(&(min as u16 - 1).to_le_bytes());
    assert!(matches!(
        decode_frame::<ConfigChannel>(&corrupt),
        Err(DecodeError::BlockLengthTooShort { .. })
    ));
}

/// Version 5 appended a resume claim to Login and the recoverable flow's number to each of its
/// messages: a version 4 Login is a Login without resume, a version 4 PaymentResult (groups after
/// the shorter block) reads out_seq 0 and not retransmitted.
#[test]
fn a_version_4_login_and_result_read_the_resume_fields_as_their_defaults() {
    let login = Login {
        role: Role::Acquirer,
        key_id: Chars::new("acq-1"),
        resume: true,
        last_out_seq: 12,
        ..Default::default()
    };
    let mut buf = [0u8; 1024];
    let len = encode_frame(&login, &mut buf).unwrap();
    assert_eq!(decode_frame::<Login>(&buf[..len]), Ok(login.clone()));
    let min = usize::from(Login::MIN_BLOCK_LENGTH);
    assert_eq!(usize::from(Login::BLOCK_LENGTH) - min, 1 + 8);
    let header = SOFH_LEN + MESSAGE_HEADER_LEN;
    let mut v4 = buf[..header + min].to_vec();
    let total = v4.len();
    write_sofh(&mut v4, total);
    v4[6..8].copy_from_slice(&(min as u16).to_le_bytes());
    v4[12..14].copy_from_slice(&4u16.to_le_bytes());
    let back = decode_frame::<Login>(&v4).unwrap();
    assert_eq!((back.resume, back.last_out_seq), (false, 0));
    assert_eq!(back.key_id, login.key_id);

    let mut result = PaymentResult {
        request_id: 3,
        out_seq: 9,
        retransmission: true,
        ..Default::default()
    };
    result.split.push(SplitLine {
        role: PartyRole::Merchant,
        party_id: 1,
        amount_minor: 100,
    });
    let len = encode_frame(&result, &mut buf).unwrap();
    assert_eq!(
        decode_frame::<PaymentResult>(&buf[..len]),
        Ok(result.clone())
    );
    let (min, full) = (
        usize::from(PaymentResult::MIN_BLOCK_LENGTH),
        usize::from(PaymentResult::BLOCK_LENGTH),
    );
    let mut v4 = buf[..header + min].to_vec();
    v4.extend_from_slice(&buf[header + full..len]);
    let total = v4.len();
    write_sofh(&mut v4, total);
    v4[6..8].copy_from_slice(&(min as u16).to_le_bytes());
    let back = decode_frame::<PaymentResult>(&v4).unwrap();
    assert_eq!((back.out_seq, back.retransmission), (0, false));
    assert_eq!(back.split, result.split);
    assert_eq!(sluice_protocol::read_out_seq(&v4), None);
}
