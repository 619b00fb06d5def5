//! The server's logs (docs/OPERATIONS.md, "Logs") from the real binary: with `--log-json` every
//! line on stderr is one JSON object, the admin's changes leave an audit line carrying the journal
//! sequence the admin was answered with, credential changes and the stop line carry theirs, the
//! level comes from `SLUICE_LOG`, and a bad `SLUICE_LOG` stops the binary with a clear error.

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

/// The audit line of the admin input at `seq`.
fn audit_line(server: &ServerProcess, seq: u64) -> Json {
    let line = server.wait_for_line(WAIT, |l| {
        says(l, "admin input at sequence ") && seq_of(l) == Some(seq)
    });
    json(&line)
}

#[test]
fn json_logs_are_one_object_per_line_and_every_admin_change_is_audited_with_its_sequence() {
    let dir = TestDir::new("logs-json");
    let config = write_config(&dir.path, &Settings::default());
    let env = [("SLUICE_LOG", "debug")];
    let mut server = ServerProcess::start_with(&config, &dir.join("data"), &["--log-json"], &env);
    let addr = server.addr;

    // Accepted: the sequence the admin was answered with is the audit line's `seq`.
    let disabled = admin_ok(addr, &["disable", "channel", "3"]);
    let seq = disabled[0]["sequence"].as_u64().expect("a sequence");
    let audit = audit_line(&server, seq);
    assert_eq!(audit["level"], "INFO", "{audit}");
    let fields = &audit["fields"];
    assert_eq!(fields["ref_template"], "ConfigChannel", "{audit}");
    assert_eq!(fields["object_id"], 3, "{audit}");
    assert_eq!(fields["status"], "Accepted", "{audit}");
    assert_eq!(fields["reason"], "None", "{audit}");
    // Who: the admin's session, which its login line ties to the key and the peer.
    // Session ids pass 2^53: text, so that JSON tools reading doubles keep them exact.
    let session = fields["session"].as_str().expect("a session id as text");
    let login = server.wait_for_line(WAIT, |l| {
        says(l, &format!("session {session} logged in from "))
    });
    let login = json(&login);
    assert_eq!(login["fields"]["key_id"], "admin", "{login}");
    assert!(login["fields"]["peer"].is_string(), "{login}");

    // A listing queries positions in batches until they find nothing: queries change nothing,
    // and are not in the trail (checked at the end).
    admin_ok(addr, &["list", "channel"]);

    // Refused: audited too, with the reason, at a later sequence.
    let (ok, lines) = admin(addr, &["set", "merchant", "1001", "max_amount_minor=-5"]);
    assert!(!ok && lines[0]["reason"] == "InvalidConfig", "{lines:?}");
    let refused = server.wait_for_line(WAIT, |l| {
        says(l, "admin input at sequence ") && l.contains("\"Rejected\"")
    });
    let refused = json(&refused);
    let fields = &refused["fields"];
    assert_eq!(fields["ref_template"], "ConfigMerchant", "{refused}");
    assert_eq!(fields["object_id"], 1001, "{refused}");
    assert_eq!(fields["reason"], "InvalidConfig", "{refused}");
    assert!(fields["seq"].as_u64() > Some(seq), "{refused}");

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
    let query_ended = lines
        .iter()
        .find(|l| says(l, "admin query at sequence "))
        .expect("the listing's last query, at debug");
    assert_eq!(json(query_ended)["level"], "DEBUG", "{query_ended}");
    let audited: Vec<&String> = lines
        .iter()
        .filter(|l| says(l, "admin input at sequence "))
        .collect();
    assert_eq!(
        audited.len(),
        3,
        "channel, merchant, credential: {audited:#?}"
    );
    assert!(
        audited
            .iter()
            .all(|l| json(l)["fields"]["ref_template"] != "ConfigQuery"),
        "{audited:#?}"
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
