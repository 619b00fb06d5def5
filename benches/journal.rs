//! The journal's append path: `append` of a 128-byte payload, `commit` once per batch (group
//! commit), for batches of 1, 16 and 256 records, under `Durability::None` (the page cache; what a
//! process crash keeps) on a temporary directory. Throughput is records per second; segment rolls
//! are included (64 MiB segments, prepared in the background as in production).
//!
//! `cargo bench --bench journal`. `sluice bench journal` adds fsync, MB/s and recovery figures.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sluice_journal::{Durability, JournalConfig, JournalWriter, prune_segments};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const PAYLOAD_BYTES: usize = 128;
const BATCHES: [u64; 3] = [1, 16, 256];

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("sluice-bench-journal-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn journal(c: &mut Criterion) {
    let payload = [0xA5u8; PAYLOAD_BYTES];
    let mut group = c.benchmark_group("journal_append_commit");
    group.measurement_time(Duration::from_secs(4));
    for batch in BATCHES {
        let dir = TempDir::new(&batch.to_string());
        let config = JournalConfig {
            segment_size_bytes: JournalConfig::DEFAULT_SEGMENT_SIZE_BYTES,
            durability: Durability::None,
        };
        let (mut writer, _) = JournalWriter::open(&dir.0, config).expect("open journal");
        group.throughput(Throughput::Elements(batch));
        group.bench_with_input(BenchmarkId::new("none", batch), &batch, |b, &n| {
            b.iter_custom(|iters| {
                let started = Instant::now();
                for _ in 0..iters {
                    for _ in 0..n {
                        let seq = writer.next_seq();
                        writer
                            .append(seq, seq * 1_000, 10, black_box(&payload))
                            .expect("append");
                    }
                    black_box(writer.commit().expect("commit"));
                }
                let elapsed = started.elapsed();
                // Keep the disk use bounded: every record is "covered", so old segments may go.
                let _ = prune_segments(&dir.0, writer.next_seq() - 1);
                elapsed
            })
        });
        drop(writer);
    }
    group.finish();
}

criterion_group!(benches, journal);
criterion_main!(benches);
