use super::*;
use sluice_protocol::{PaymentResult, decode_frame, encode_frame};

fn frame(out_seq: u64) -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let msg = PaymentResult {
        request_id: out_seq,
        out_seq,
        ..Default::default()
    };
    let n = encode_frame(&msg, &mut buf).expect("fits");
    buf.truncate(n);
    buf
}

fn batch(seqs: std::ops::RangeInclusive<u64>) -> Vec<u8> {
    seqs.flat_map(frame).collect()
}

#[test]
fn the_decision_refuses_claims_ahead_and_too_old_and_resumes_the_rest() {
    use ReasonCode::{ResumeAhead, ResumeTooOld, ResumeUnavailable};
    assert_eq!(
        decide(None, 10, Some((1, 10)), true),
        Decision::NotRequested
    );
    assert_eq!(
        decide(Some(3), 10, None, false),
        Decision::Refused(ResumeUnavailable)
    );
    assert_eq!(
        decide(Some(11), 10, Some((1, 10)), true),
        Decision::Refused(ResumeAhead)
    );
    assert_eq!(
        decide(Some(3), 10, Some((5, 10)), true),
        Decision::Refused(ResumeTooOld)
    );
    assert_eq!(
        decide(Some(4), 10, Some((5, 10)), true),
        Decision::Resume { from: 5, to: 10 }
    );
    assert_eq!(
        decide(Some(10), 10, Some((5, 10)), true),
        Decision::Resume { from: 11, to: 10 }
    );
    // Nothing written yet (the follower lags): the worker waits for it.
    assert_eq!(
        decide(Some(0), 4, None, true),
        Decision::Resume { from: 1, to: 4 }
    );
    assert_eq!(
        decide(Some(0), 0, None, true),
        Decision::Resume { from: 1, to: 0 }
    );
}

#[test]
fn retransmits_in_order_then_the_held_live_outputs_none_twice() {
    let deadline = Instant::now();
    let mut r = Resuming::new(2, 77, (4, 9), 1 << 20, deadline);
    // Live outputs arrive while the log is read.
    for n in 10..=12 {
        r.handle_live(n, &frame(n));
    }
    assert_eq!(r.poll(), Next::Read(4, 9));
    r.reading = true;
    assert_eq!(r.poll(), Next::Wait);
    let mut sent = Vec::new();
    // A batch that overlaps what was sent and runs past `to`: only 4..=9, once each.
    let mut b = batch(4..=6);
    r.handle_batch(&mut b, |f| {
        sent.push(decode_frame::<PaymentResult>(f).unwrap())
    });
    let mut b = batch(5..=11);
    r.handle_batch(&mut b, |f| {
        sent.push(decode_frame::<PaymentResult>(f).unwrap())
    });
    assert_eq!(r.poll(), Next::Finish);
    assert!(sent.iter().all(|m| m.retransmission));
    let seqs: Vec<u64> = sent.iter().map(|m| m.out_seq).collect();
    assert_eq!(seqs, (4..=9).collect::<Vec<_>>());
    let (held, last, retransmitted) = r.finish();
    assert_eq!(
        held.iter().map(|h| h.0).collect::<Vec<_>>(),
        vec![10, 11, 12]
    );
    assert_eq!((last, retransmitted), (12, 6));
    let live: PaymentResult = decode_frame(&held[0].1).unwrap();
    assert!(!live.retransmission);
}

#[test]
fn an_overflowing_hold_is_dropped_and_the_retransmission_reaches_further() {
    let one = frame(1).len();
    let mut r = Resuming::new(2, 77, (1, 3), 2 * one, Instant::now());
    r.handle_live(4, &frame(4));
    r.handle_live(5, &frame(5));
    r.handle_live(6, &frame(6)); // over the bound: 4..=6 dropped, read from the log instead
    assert_eq!(r.to, 6);
    r.handle_live(7, &frame(7));
    let mut sent = Vec::new();
    let mut b = batch(1..=6);
    r.handle_batch(&mut b, |f| sent.push(read_out_seq(f).unwrap()));
    assert_eq!(r.poll(), Next::Finish);
    let (held, last, _) = r.finish();
    assert_eq!(sent, (1..=6).collect::<Vec<_>>());
    assert_eq!(held.iter().map(|h| h.0).collect::<Vec<_>>(), vec![7]);
    assert_eq!(last, 7);
}

#[test]
fn nothing_missed_finishes_at_once() {
    let r = Resuming::new(2, 77, (11, 10), 1024, Instant::now());
    assert_eq!(r.poll(), Next::Finish);
    let (held, last, n) = r.finish();
    assert!(held.is_empty());
    assert_eq!((last, n), (10, 0));
}
