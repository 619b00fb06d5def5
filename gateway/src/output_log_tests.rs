use super::*;
use sluice_protocol::{PaymentResult, encode_frame, read_out_seq};
use std::sync::atomic::{AtomicU32, Ordering};

fn temp_root(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("sluice-outlog-{name}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn frame(out_seq: u64) -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let msg = PaymentResult {
        request_id: out_seq * 10,
        out_seq,
        ..Default::default()
    };
    let n = encode_frame(&msg, &mut buf).expect("fits");
    buf.truncate(n);
    buf
}

const DAY_NS: u64 = 86_400_000_000_000;

fn limits(max_bytes: u64) -> LogLimits {
    LogLimits {
        window_ns: DAY_NS,
        max_bytes_per_acquirer: max_bytes,
    }
}

/// Every out_seq read back from `from` to the end, in order.
fn read_all(root: &Path, acquirer: u32, mut from: u64) -> Vec<u64> {
    let mut seen = Vec::new();
    loop {
        let mut buf = Vec::new();
        match read_from(root, acquirer, from, 7, 1 << 20, &mut buf) {
            ReadOutcome::Frames(n) => {
                let mut at = 0;
                for _ in 0..n {
                    let len = u32::from_be_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
                    seen.push(read_out_seq(&buf[at..at + len]).expect("a recoverable frame"));
                    at += len;
                }
                from += n as u64;
            }
            ReadOutcome::NotYet => return seen,
            ReadOutcome::Gone(why) => panic!("gone: {why}"),
        }
    }
}

#[test]
fn appends_read_back_in_order_from_any_point_and_repeats_are_skipped() {
    let root = temp_root("append");
    let bounds = Arc::new(LogBounds::default());
    let mut log = OutputLog::open(&root, limits(1 << 30), bounds.clone()).unwrap();
    for n in 1..=50 {
        assert!(log.append(3, n, n, &frame(n)).unwrap());
    }
    // A follower repeating records after a crash: skipped.
    for n in 40..=50 {
        assert!(!log.append(3, n, n, &frame(n)).unwrap());
    }
    log.sync(50).unwrap();
    assert_eq!(bounds.get(3), Some((1, 50)));
    assert_eq!(read_all(&root, 3, 1), (1..=50).collect::<Vec<_>>());
    assert_eq!(read_all(&root, 3, 37), (37..=50).collect::<Vec<_>>());
    assert_eq!(read_all(&root, 3, 51), Vec::<u64>::new(), "not yet written");
    assert_eq!(read_all(&root, 4, 1), Vec::<u64>::new(), "another acquirer");
    // Reopened, it goes on where it was.
    drop(log);
    let mut log = OutputLog::open(&root, limits(1 << 30), bounds.clone()).unwrap();
    assert!(!log.append(3, 50, 50, &frame(50)).unwrap());
    assert!(log.append(3, 51, 51, &frame(51)).unwrap());
    assert_eq!(read_all(&root, 3, 49), vec![49, 50, 51]);
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn a_torn_tail_is_cut_at_open_and_the_index_rebuilt() {
    let root = temp_root("torn");
    let bounds = Arc::new(LogBounds::default());
    let mut log = OutputLog::open(&root, limits(1 << 30), bounds.clone()).unwrap();
    for n in 1..=10 {
        log.append(9, n, n, &frame(n)).unwrap();
    }
    log.sync(10).unwrap();
    drop(log);
    let dir = acquirer_dir(&root, 9);
    let log_path = dir.join(segment_name(1, "log"));
    let len = fs::metadata(&log_path).unwrap().len();
    // Half of the last record is lost, and the index lists it still.
    let f = OpenOptions::new().write(true).open(&log_path).unwrap();
    f.set_len(len - 20).unwrap();
    drop(f);
    let mut log = OutputLog::open(&root, limits(1 << 30), bounds.clone()).unwrap();
    assert_eq!(log.bounds(9), Some((1, 9)));
    assert_eq!(read_all(&root, 9, 1), (1..=9).collect::<Vec<_>>());
    assert!(log.append(9, 10, 10, &frame(10)).unwrap(), "written again");
    assert_eq!(read_all(&root, 9, 8), vec![8, 9, 10]);
    // A flipped byte in the middle of the last segment cuts from there.
    drop(log);
    let mut bytes = fs::read(&log_path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xFF;
    fs::write(&log_path, &bytes).unwrap();
    let log = OutputLog::open(&root, limits(1 << 30), bounds).unwrap();
    let (_, newest) = log.bounds(9).unwrap();
    assert!((1..10).contains(&newest), "cut in the middle: {newest}");
    assert_eq!(read_all(&root, 9, 1), (1..=newest).collect::<Vec<_>>());
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn whole_old_segments_are_pruned_by_bytes_and_by_window_and_a_read_before_them_is_gone() {
    let root = temp_root("prune");
    let bounds = Arc::new(LogBounds::default());
    // 4 KiB per acquirer: segments of 1 KiB, about 7 records each.
    let mut log = OutputLog::open(&root, limits(4096), bounds.clone()).unwrap();
    for n in 1..=200 {
        log.append(1, n, n, &frame(n)).unwrap();
    }
    log.sync(200).unwrap();
    let (oldest, newest) = bounds.get(1).unwrap();
    assert_eq!(newest, 200);
    assert!(oldest > 150, "pruned to about 4 KiB: oldest {oldest}");
    let mut buf = Vec::new();
    assert!(matches!(
        read_from(&root, 1, 1, 10, 1 << 20, &mut buf),
        ReadOutcome::Gone(_)
    ));
    assert_eq!(
        read_all(&root, 1, oldest),
        (oldest..=200).collect::<Vec<_>>()
    );
    // By the window: a day later everything but the segment being written goes.
    log.sync(200 + DAY_NS + 1).unwrap();
    let (oldest_after, _) = bounds.get(1).unwrap();
    assert!(oldest_after > oldest);
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn a_number_past_the_next_starts_the_log_over() {
    let root = temp_root("gap");
    let bounds = Arc::new(LogBounds::default());
    let mut log = OutputLog::open(&root, limits(1 << 30), bounds.clone()).unwrap();
    for n in 1..=5 {
        log.append(2, n, n, &frame(n)).unwrap();
    }
    log.append(2, 9, 9, &frame(9)).unwrap();
    assert_eq!(bounds.get(2), Some((9, 9)));
    assert_eq!(read_all(&root, 2, 9), vec![9]);
    let _ = fs::remove_dir_all(&root);
}

#[test]
fn a_segment_seen_before_its_index_is_not_yet_written_not_gone() {
    let root = temp_root("no-index");
    let dir = acquirer_dir(&root, 1);
    fs::create_dir_all(&dir).unwrap();
    // The instant a writer starts a segment: its `.log` listed, no `.idx` yet.
    File::create(dir.join(segment_name(1, "log"))).unwrap();
    let mut buf = Vec::new();
    assert_eq!(
        read_from(&root, 1, 1, 7, 1 << 20, &mut buf),
        ReadOutcome::NotYet
    );
    // A writer creates the index first: a started segment lists nothing until its first record.
    let bounds = Arc::new(LogBounds::default());
    let mut log = OutputLog::open(&root, limits(1 << 30), bounds).unwrap();
    log.append(2, 1, 1, &frame(1)).unwrap();
    assert_eq!(read_all(&root, 2, 1), vec![1]);
    let _ = fs::remove_dir_all(&root);
}
