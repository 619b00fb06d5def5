//! Shows what an engine_input fuzz input does: the message sequence it decodes into, every output,
//! and the panic if it fails.
//!
//! `cargo run -p sluice-fuzz-targets --example explain -- FILE` prints one input's trace;
//! `... -- --census DIR` counts, over every file of a corpus, the outputs by kind and outcome (which
//! money paths the corpus reaches).

use std::collections::BTreeMap;
use std::path::Path;

use sluice_fuzz_targets::explain_engine_input;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag, dir] if flag == "--census" => census(Path::new(dir)),
        [file] => {
            let data = std::fs::read(file).unwrap_or_else(|e| panic!("{file}: {e}"));
            for line in explain_engine_input(&data) {
                println!("{line}");
            }
        }
        _ => eprintln!("usage: explain FILE | explain --census DIR"),
    }
}

/// The output's kind, with its status and reason when it has them.
fn label(line: &str) -> Option<String> {
    let msg = line.split("}: ").nth(1)?;
    let kind = msg.split('(').next()?;
    let field = |name: &str| {
        msg.split(&format!("{name}: "))
            .nth(1)
            .and_then(|s| s.split([',', ' ']).next())
            .map(str::to_string)
    };
    let status = field("status").unwrap_or_default();
    let reason = field("reason").unwrap_or_default();
    Some(format!("{kind} {status} {reason}").trim().to_string())
}

fn census(dir: &Path) {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut files = 0u64;
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        files += 1;
        for line in explain_engine_input(&data) {
            let key = if line.starts_with("PANIC") {
                Some(format!("PANIC in {}", path.display()))
            } else if line.starts_with("    -> ") {
                label(&line)
            } else {
                None
            };
            if let Some(key) = key {
                *counts.entry(key).or_default() += 1;
            }
        }
    }
    println!("{files} inputs");
    for (key, n) in counts {
        println!("{n:>9}  {key}");
    }
}
