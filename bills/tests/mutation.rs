//! Thousands of seeded random mutations of valid bills: the parsers never panic, and whatever
//! still parses writes back and reads as the same bill (`sample::assert_stable`).

use sluice_bills::sample::{Rng, assert_stable, random_bill};
use sluice_bills::{Format, file_name, write};

const MUTATIONS_PER_FORMAT: u64 = 3_000;

/// Bytes a mutation likes to write: the layouts' separators and signs, digits, GBK and UTF-8 lead
/// bytes.
const INTERESTING: [u8; 16] = [
    b',', b'`', b'"', b'\n', b'\r', b'0', b'9', b'-', b'.', b' ', b'#', b'C', b'D', 0x81, 0xe4,
    0xff,
];

fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        if bytes.is_empty() {
            bytes.push(INTERESTING[rng.below(16) as usize]);
            continue;
        }
        let at = rng.below(bytes.len() as u64) as usize;
        match rng.below(7) {
            0 => bytes[at] = INTERESTING[rng.below(16) as usize],
            1 => bytes[at] = rng.next_u64() as u8,
            2 => bytes.insert(at, INTERESTING[rng.below(16) as usize]),
            3 => {
                bytes.remove(at);
            }
            4 => bytes.truncate(at),
            5 => bytes[at] = bytes[at].wrapping_add(1),
            _ => {
                // Duplicate a run (a repeated row, a repeated footer).
                let end = (at + 1 + rng.below(300) as usize).min(bytes.len());
                let run = bytes[at..end].to_vec();
                bytes.splice(at..at, run);
            }
        }
    }
}

#[test]
fn mutated_bills_never_panic_and_stay_stable() {
    for format in Format::ALL {
        let mut rng = Rng::new(0x5eed ^ format as u64);
        let mut parsed = 0;
        for i in 0..MUTATIONS_PER_FORMAT {
            let bill = random_bill(format, i % 17, 1 + (i % 7) as usize);
            let name = file_name(format, &bill.account, bill.day);
            let mut bytes = write(&bill);
            mutate(&mut rng, &mut bytes);
            if assert_stable(format, &name, &bytes) {
                parsed += 1;
            }
            // Detection must not panic either.
            let _ = sluice_bills::detect(&bytes);
        }
        // Some mutations keep a bill valid (a digit of an amount and its totals are not both hit,
        // but a byte of a name or a padding is): the test exercises both paths.
        assert!(
            parsed > 0 && parsed < MUTATIONS_PER_FORMAT,
            "{}: {parsed} parsed",
            format.name()
        );
    }
}
