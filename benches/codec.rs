//! The wire codec: encode and decode of the hot messages, and the framing check the gateway runs on
//! every read. Goal: a PaymentRequest encodes and decodes well under 100 ns.
//!
//! `cargo bench --bench codec`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sluice_protocol::schema::examples;
use sluice_protocol::{
    AckStatus, Chars, FinalStatus, MAX_FRAME_BYTES, MAX_INBOUND_FRAME_BYTES, Message, PartyRole,
    PaymentResult, ReasonCode, SplitLine, decode_frame, encode_frame, frame_length,
};
use std::hint::black_box;

/// A succeeded payment of 100.00 split four ways (platform, promoter, merchant, channel fee).
fn payment_result() -> PaymentResult {
    let lines = [
        (PartyRole::Platform, 0, 600),
        (PartyRole::PromoterLevel1, 501, 800),
        (PartyRole::Merchant, 1001, 8_540),
        (PartyRole::ChannelFee, 0, 60),
    ];
    assert_eq!(lines.iter().map(|l| l.2).sum::<i64>(), 10_000);
    PaymentResult {
        request_id: 42,
        order_id: 1,
        status: FinalStatus::Succeeded,
        reason: ReasonCode::None,
        channel_id: 3,
        attempts: 1,
        amount_minor: 10_000,
        currency: 156,
        fee_minor: 60,
        channel_ref: Chars::new("up-20261126-000001"),
        duplicate: false,
        sequence: 18,
        out_seq: 2,
        retransmission: false,
        split: lines
            .iter()
            .map(|&(role, party_id, amount_minor)| SplitLine {
                role,
                party_id,
                amount_minor,
            })
            .collect(),
    }
}

/// Encode into a reused buffer and decode from a pre-encoded frame, checked once for a round trip.
fn encode_decode<M: Message + PartialEq + std::fmt::Debug>(c: &mut Criterion, name: &str, msg: M) {
    let mut frame = vec![0u8; MAX_FRAME_BYTES];
    let len = encode_frame(&msg, &mut frame).expect("frame fits");
    frame.truncate(len);
    assert_eq!(
        decode_frame::<M>(&frame).as_ref(),
        Ok(&msg),
        "{name} round trip"
    );

    let mut group = c.benchmark_group(format!("codec/{name}"));
    group.throughput(Throughput::Elements(1));
    let mut out = vec![0u8; MAX_FRAME_BYTES];
    group.bench_function(format!("encode ({len} B)"), |b| {
        b.iter(|| encode_frame(black_box(&msg), black_box(&mut out[..])))
    });
    group.bench_function(format!("decode ({len} B)"), |b| {
        b.iter(|| decode_frame::<M>(black_box(&frame[..])))
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    encode_decode(c, "PaymentRequest", examples::payment_request());
    let mut ack = examples::payment_ack();
    ack.status = AckStatus::Accepted;
    encode_decode(c, "PaymentAck", ack);
    encode_decode(c, "PaymentResult_4_splits", payment_result());

    // The gateway's framing check on a read buffer holding a whole PaymentRequest frame.
    let mut buf = vec![0u8; 4096];
    let len = encode_frame(&examples::payment_request(), &mut buf).expect("frame fits");
    assert_eq!(frame_length(&buf, MAX_INBOUND_FRAME_BYTES), Ok(Some(len)));
    let mut group = c.benchmark_group("codec/frame_length");
    group.throughput(Throughput::Elements(1));
    group.bench_function("whole frame in buffer", |b| {
        b.iter(|| frame_length(black_box(&buf[..]), black_box(MAX_INBOUND_FRAME_BYTES)))
    });
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
