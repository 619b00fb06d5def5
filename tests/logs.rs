//! The server's logs (docs/OPERATIONS.md, "Logs") from the real binary: with `--log-json` every
//! line on stderr is one JSON object, credential changes and the stop line carry their journal
//! sequence, the level comes from `SLUICE_LOG`, and a bad `SLUICE_LOG` stops the binary with a
//! clear error.

mod common;
use common::*;
use serde_json::Value as Json;
use std::process::Command;

/// A JSON log line, parsed; panics on anything else.
fn json(line: &str) -> Json {
    let value: Json = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    assert!(value.is_object(), "not one JSON object: {line:?}");
    value
}

/// The `fields.seq` of a JSON line, if it has one.
fn seq_of(line: &str) -> Option<u64> {
    serde_json::from_str::<Json>(line).ok()?["fields"]["seq"].as_u64()
}

#[test]
fn json_logs_are_one_object_per_line_and_input_lines_carry_their_sequence() {
    let dir = TestDir::new("logs-json");
    let config = write_config(&dir.path, &Settings::default());
    let env = [("SLUICE_LOG", "debug")];
    let mut server = ServerProcess::start_with(&config, &dir.join("data"), &["--log-json"], &env);
    let addr = server.addr;

    // A credential change carries the sequence of the input that made it.
    let secret = dir.join("secret");
    let added = admin_ok(
        addr,
        &[
            "credential",
            "add",
            "acq-logs",
            "--role",
            "acquirer",
            "--principal",
            "2",
            "--secret-out",
            secret.to_str().expect("utf-8 path"),
        ],
    );
    let added_seq = added[0]["sequence"].as_u64().expect("a sequence");
    let credential = server.wait_for_line(WAIT, |l| says(l, "credential \"acq-logs\" added"));
    assert_eq!(seq_of(&credential), Some(added_seq), "{credential}");

    // The stop line: the last sequence and the state hash, as fields and in the sentence.
    assert!(server.terminate().success());
    let stopped = server.stopped_hash();
    let stop_line = server.wait_for_line(WAIT, |l| says(l, "stopped"));
    let stop = json(&stop_line);
    assert_eq!(stop["fields"]["seq"].as_u64(), Some(stopped.seq), "{stop}");
    assert_eq!(
        stop["fields"]["state_hash"],
        stopped.hash.as_str(),
        "{stop}"
    );
    assert_eq!(stop["target"], "sluice", "{stop}");

    // Every line is one JSON object with a timestamp, a level, a target and a message; the
    // recovery line carries the sequence reached; SLUICE_LOG=debug let the debug lines through.
    let lines = server.log_lines();
    let levels = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"];
    for line in &lines {
        let value = json(line);
        assert!(value["timestamp"].is_string(), "{line}");
        assert!(
            levels.contains(&value["level"].as_str().unwrap_or("")),
            "{line}"
        );
        assert!(value["target"].is_string(), "{line}");
        assert!(value["fields"]["message"].is_string(), "{line}");
    }
    let fresh = lines
        .iter()
        .find(|l| says(l, "fresh start: "))
        .expect("a fresh start line");
    assert_eq!(
        seq_of(fresh),
        Some(parse_recovery_line(&log_message(fresh)).seq)
    );
    assert!(
        lines.iter().any(|l| json(l)["level"] == "DEBUG"),
        "no debug line at SLUICE_LOG=debug"
    );
}

#[test]
fn a_bad_sluice_log_stops_the_binary_with_the_variable_and_the_value() {
    let dir = TestDir::new("logs-level");
    let data = dir.join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["--log-json", "serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .env("SLUICE_LOG", "bogus")
        .output()
        .expect("run sluice serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "started with SLUICE_LOG=bogus: {stderr}"
    );
    assert!(
        stderr.contains("SLUICE_LOG=\"bogus\" is not a log level"),
        "{stderr}"
    );
    // Refused before anything started: no data directory was created.
    assert!(!data.exists(), "the server started: {stderr}");
}
