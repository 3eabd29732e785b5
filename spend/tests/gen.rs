//! `spend gen` through the real binary: reproducible, and every row it writes passes the real
//! validation of `spend eval` and reaches each outcome the generator aims at.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Output, Stdio};

use spend_testkit::fixtures::REFERENCE_CONFIG;

fn spend(args: &[&str], stdin: Option<Vec<u8>>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_spend"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn spend");
    let writer = stdin.map(|input| {
        let mut pipe = child.stdin.take().expect("a stdin pipe");
        std::thread::spawn(move || {
            // The child may stop reading early; its own status tells.
            let _ = pipe.write_all(&input);
        })
    });
    let out = child.wait_with_output().expect("wait for spend");
    if let Some(w) = writer {
        w.join().expect("stdin writer");
    }
    out
}

fn spend_gen(args: &[&str]) -> Vec<u8> {
    let out = spend(&[&["gen"], args].concat(), None);
    assert!(
        out.status.success(),
        "spend gen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn the_same_arguments_write_the_same_file() {
    let a = spend_gen(&["--rows", "5000", "--seed", "9"]);
    assert_eq!(a, spend_gen(&["--rows", "5000", "--seed", "9"]));
    assert_ne!(a, spend_gen(&["--rows", "5000", "--seed", "10"]));
    assert_eq!(a.iter().filter(|&&b| b == b'\n').count(), 5001);
    // The defaults are --cards 3000 --seed 42.
    assert_eq!(
        spend_gen(&["--rows", "100"]),
        spend_gen(&["--rows", "100", "--cards", "3000", "--seed", "42"])
    );
}

#[test]
fn zero_cards_is_refused() {
    let out = spend(&["gen", "--rows", "10", "--cards", "0"], None);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
}

#[test]
fn every_generated_row_is_accepted_by_eval_and_every_outcome_occurs() {
    let file = spend_gen(&["--rows", "40000", "--seed", "42"]);
    let out = spend(&["eval", "--config", REFERENCE_CONFIG], Some(file));
    assert!(
        out.status.success(),
        "spend eval failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reader = csv::Reader::from_reader(&out.stdout[..]);
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    let mut rows = 0;
    for rec in reader.records() {
        let rec = rec.expect("eval writes well-formed CSV");
        rows += 1;
        let (status, remark) = (&rec[1], &rec[7]);
        assert_ne!(
            status, "rejected",
            "spend gen wrote an invalid row: {rec:?}"
        );
        let outcome = match status {
            "dead_letter" => remark.to_owned(),
            "rewarded" if remark.starts_with("excluded") => "excluded".to_owned(),
            "rewarded" if remark == "reversal" => "reversal".to_owned(),
            other => other.to_owned(),
        };
        *outcomes.entry(outcome).or_default() += 1;
    }
    assert_eq!(rows, 40_000);
    for outcome in [
        "rewarded",
        "excluded",
        "reversal",
        "duplicate",
        "unknown_program",
        "no_fx_rate",
        "original_not_found",
        "currency_mismatch",
    ] {
        assert!(
            outcomes.contains_key(outcome),
            "no {outcome} in {outcomes:?}"
        );
    }
    assert!(outcomes["rewarded"] > rows * 9 / 10, "{outcomes:?}");
}
