//! The bill targets' seed corpora hold bills that parse under the targets' file names (so the
//! fuzzer starts from inputs that reach the row parsers), and the malformed seeds do not parse.

use std::path::Path;

use sluice_bills::Format;
use sluice_fuzz_targets::bill_parses;

#[test]
fn valid_seeds_parse_and_malformed_ones_do_not() {
    for format in Format::ALL {
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../corpus/bill_{}", format.name()));
        let mut seen = (0, 0);
        for entry in std::fs::read_dir(&dir).expect("the corpus directory") {
            let path = entry.expect("an entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_string();
            let data = std::fs::read(&path).expect("a seed");
            if name.starts_with("valid-") {
                assert!(
                    bill_parses(format, &data),
                    "{} does not parse",
                    path.display()
                );
                seen.0 += 1;
            } else if name.starts_with("totals-") || name.starts_with("cut-") {
                assert!(!bill_parses(format, &data), "{} parses", path.display());
                seen.1 += 1;
            }
        }
        assert!(seen.0 >= 3 && seen.1 >= 3, "{}: {seen:?}", format.name());
    }
}
