//! The Python client in `clients/python/` was written from `docs/PROTOCOL.md` alone. This test runs
//! its example against the real server binary: it checks the document's worked hex example, pays,
//! queries, refunds and resends over TCP. It uses no protocol code: it only runs processes.
//!
//! Needs `python3` on the PATH (3.11 or newer; standard library only).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The server process: stopped with SIGTERM (and reaped) even when the test fails.
struct Server {
    child: Child,
    data: PathBuf,
}

impl Server {
    fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.terminate();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

#[test]
fn python_client_example_runs_against_the_server() {
    let python = Command::new("python3").arg("--version").output();
    assert!(
        matches!(&python, Ok(out) if out.status.success()),
        "python3 is required by this test (clients/python/example.py) but could not be run: {python:?}"
    );

    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let data = std::env::temp_dir().join(format!("sluice-pyclient-{}-{nanos}", std::process::id()));
    let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args([
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start target sluice binary");
    let mut server = Server { child, data };

    // Read stderr on a thread until the end (so the server never blocks on a full pipe); hand the
    // address of the "... INFO sluice: listening on ADDR ..." line to the test.
    let stderr = server.child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[server] {line}");
            // The message inside the log line, whatever its timestamp, level and target.
            if let Some((_, rest)) = line.split_once(" sluice: listening on ") {
                let addr = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the server did not log `sluice: listening on ADDR` within 20 s");

    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients/python/example.py");
    let mut python = Command::new("python3")
        .arg(&example)
        .arg(&addr)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python3");
    let deadline = Instant::now() + Duration::from_secs(30);
    while python.try_wait().expect("wait for python3").is_none() {
        if Instant::now() > deadline {
            let _ = python.kill();
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
    let out = python.wait_with_output().expect("python3 output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");

    let stopped = server.terminate();
    assert!(
        stopped.is_some(),
        "the server did not stop within 10 s of SIGTERM"
    );

    assert!(
        out.status.success(),
        "example.py failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert_eq!(
        stdout.lines().last(),
        Some("OK"),
        "example.py did not end with OK:\n{stdout}"
    );
}
