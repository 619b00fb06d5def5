//! Bounded disk: a server with `[journal] covered_segments = "archive"` moves the segments its
//! snapshots cover into `DATA/archive`, and `sluice replay check` still replays from Genesis
//! through them; a server whose snapshots are all gone recovers through the archive too.

mod common;

use common::*;
use sluice_protocol::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn files_ending(dir: &Path, suffix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(suffix))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn replay_check(data: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["replay", "check", "--data", data.to_str().unwrap()])
        .args(extra)
        .output()
        .expect("run sluice replay check")
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn archived_segments_are_replayed_from_genesis_and_recovered_through() {
    let settings = Settings {
        simulator: true,
        segment_size_mb: 1,
        snapshot_every_inputs: 2_000,
        set: vec![
            ("covered_segments", "\"archive\"".into()),
            ("snapshots_keep", "2".into()),
        ],
        ..Settings::default()
    };
    let (dir, mut server) = start_server("bounded-disk", &settings);
    let mut acquirer = login(server.addr, "acq-a");
    for i in 0..8_000u64 {
        acquirer
            .send(&payment(10_000 + i, 1001, 500, PaymentMethod::Wallet))
            .unwrap();
        if i % 200 == 199 {
            // Keep the pipeline from queueing everything at once.
            wait_for(&mut acquirer, "an answer", |m| {
                matches!(m, AnyMessage::PaymentAck(a) if a.request_id == 10_000 + i).then_some(())
            });
        }
    }
    server.wait_for_line(Duration::from_secs(60), |l| {
        l.contains("journal segment(s) covered by snapshot") && l.contains("archived into")
    });
    assert_eq!(server.terminate().code(), Some(0));
    let stopped = server.stopped_hash();
    let data = dir.join("data");
    let archived = files_ending(&data.join("archive"), ".seg.zst");
    let live = files_ending(&data.join("journal"), ".seg");
    assert!(!archived.is_empty() && !live.is_empty());
    assert_eq!(archived[0], sluice_journal::archive_file_name(1));
    assert!(
        archived
            .iter()
            .all(|a| !live.contains(&a.replace(".zst", ""))),
        "an archived segment is no longer live"
    );

    // From Genesis, through the archive, to the end: the same state the server stopped with.
    let checked = replay_check(&data, &[]);
    let out = text(&checked);
    assert!(checked.status.success(), "{out}");
    assert!(out.contains("replay from genesis (seq 1)"), "{out}");
    assert!(out.contains(&stopped.hash), "{out}");

    // verify checks the live journal and the snapshots, which cover its start.
    let verified = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["replay", "verify", "--data", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(verified.status.success(), "{}", text(&verified));

    // Archive elsewhere: not found at the default place, found with --archive.
    let elsewhere = dir.join("archive-elsewhere");
    std::fs::rename(data.join("archive"), &elsewhere).unwrap();
    let moved = replay_check(&data, &["--archive", elsewhere.to_str().unwrap()]);
    assert!(moved.status.success(), "{}", text(&moved));
    assert!(text(&moved).contains("replay from genesis (seq 1)"));
    std::fs::rename(&elsewhere, data.join("archive")).unwrap();

    // No snapshot left: the server recovers from Genesis through the archive.
    for snapshot in files_ending(&data.join("snapshots"), ".snap") {
        std::fs::remove_file(data.join("snapshots").join(snapshot)).unwrap();
    }
    let config = dir.join("sluice.toml");
    let mut restarted = ServerProcess::start(&config, &data);
    let recovered = restarted.recovered_hash();
    assert_eq!(
        (recovered.seq, &recovered.hash),
        (stopped.seq, &stopped.hash)
    );
    let mut acquirer = login(restarted.addr, "acq-a");
    assert_eq!(
        query_order(&mut acquirer, 10_000).state,
        OrderState::Succeeded
    );
    assert_eq!(restarted.terminate().code(), Some(0));

    // Without the archive and without a snapshot covering the live journal's start, the server
    // refuses to start and says what is missing.
    for snapshot in files_ending(&data.join("snapshots"), ".snap") {
        std::fs::remove_file(data.join("snapshots").join(snapshot)).unwrap();
    }
    std::fs::rename(data.join("archive"), &elsewhere).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .args(["--data", data.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started without its archive and snapshots");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let refused = child.wait_with_output().unwrap();
    let out = text(&refused);
    assert!(!refused.status.success(), "{out}");
    assert!(out.contains("missing journal segment"), "{out}");
    assert!(
        out.contains(&data.join("archive").display().to_string()),
        "{out}"
    );
}
