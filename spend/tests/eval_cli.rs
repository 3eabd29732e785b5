//! `spend eval` through the real binary: the normative examples, and bad input.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use spend_testkit::fixtures::SPEC_EXAMPLES as EXAMPLES;

fn example(name: &str) -> String {
    format!("{EXAMPLES}/{name}")
}

fn spend_eval(configs: &[&str], stdin: &[u8]) -> Output {
    spend_eval_with(configs, &[], stdin)
}

fn spend_eval_with(configs: &[&str], args: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spend"));
    cmd.arg("eval");
    for c in configs {
        cmd.arg("--config").arg(c);
    }
    cmd.args(args);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn spend");
    let mut stdin_pipe = child.stdin.take().unwrap();
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        // The child may refuse the input early and close its stdin.
        let _ = stdin_pipe.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait spend");
    writer.join().unwrap();
    out
}

fn assert_no_panic(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "spend panicked: {stderr}");
}

#[test]
fn transactions_csv_gives_expected_csv() {
    let input = std::fs::read(example("transactions.csv")).unwrap();
    let out = spend_eval(
        &[
            &example("reference-config.json"),
            &example("example-campaigns.json"),
        ],
        &input,
    );
    assert_no_panic(&out);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = std::fs::read_to_string(example("expected.csv")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
}

#[test]
fn invalid_csv_gives_expected_invalid_csv() {
    let input = std::fs::read(example("invalid.csv")).unwrap();
    let out = spend_eval(&[&example("reference-config.json")], &input);
    assert_no_panic(&out);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = std::fs::read_to_string(example("expected-invalid.csv")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
}

const HEADER: &str =
    "id,transaction_id,merchant,mcc,currency,amount,transaction_date,card_id,card_pan,card_type\n";
const ROW: &str = "00000000-0000-4000-8000-000000000701,T1,Shop,5999,SGD,10.00,2024-05-02,\
00000000-0000-4000-8000-0000000000a1,4111117777777772,scis_shopping\n";

fn refused(input: &[u8], needle: &str) -> String {
    let out = spend_eval(&[&example("reference-config.json")], input);
    assert_no_panic(&out);
    assert!(!out.status.success(), "expected a refusal for {needle}");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        stderr.to_lowercase().contains(needle),
        "stderr {stderr:?} should mention {needle:?}"
    );
    assert!(
        !stderr.contains("4111117777777772"),
        "an error must never echo a PAN"
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn empty_file_is_refused() {
    refused(b"", "empty");
}

#[test]
fn wrong_header_is_refused() {
    refused(b"id,amount\n1,2\n", "header");
    let missing = HEADER.replace(",card_type", "");
    refused(missing.as_bytes(), "header");
    let extra = HEADER.replace("card_type", "card_type,extra");
    refused(extra.as_bytes(), "header");
}

#[test]
fn wrong_column_count_rejects_the_row_only() {
    let input = format!("{HEADER}{}\n{ROW}", "a,b,c");
    let out = spend_eval(&[&example("reference-config.json")], input.as_bytes());
    assert_no_panic(&out);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[1].starts_with("a,rejected,") && lines[1].ends_with("invalid:row"));
    assert!(lines[2].contains(",rewarded,100.00,points,"));
}

#[test]
fn broken_quoting_is_refused_with_its_line_and_earlier_rows_stand() {
    let input = format!("{HEADER}{ROW}\"unterminated,x\n");
    let stdout = refused(input.as_bytes(), "line 3");
    assert!(
        stdout.contains(",rewarded,"),
        "the row before the break stands: {stdout}"
    );
}

#[test]
fn non_utf8_is_refused_with_its_line() {
    let mut input = format!("{HEADER}{ROW}").into_bytes();
    input.extend_from_slice(b"00000000-0000-4000-8000-000000000702,T\xff\xfe,Shop\n");
    refused(&input, "line 3");
}

#[test]
fn file_cut_off_mid_row_rejects_the_partial_row() {
    let cut = &ROW[..ROW.len() / 2];
    let input = format!("{HEADER}{ROW}{cut}");
    let out = spend_eval(&[&example("reference-config.json")], input.as_bytes());
    assert_no_panic(&out);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
    assert!(stdout.lines().nth(2).unwrap().ends_with("invalid:row"));
}

#[test]
fn bad_configuration_is_refused() {
    let dir = std::env::temp_dir().join(format!("spend-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases: [(&str, &str); 4] = [
        ("not json", "not valid json"),
        (
            r#"{"programs": [{"id": "x", "name": "X", "unit": "stars"}]}"#,
            "unit",
        ),
        (
            r#"{"campaigns": [{"name": "c", "program": "nope", "kind": "base", "priority": 1, "conditions": [], "rate": "1"}]}"#,
            "nope",
        ),
        (r#"{"programz": []}"#, "programz"),
    ];
    for (i, (text, needle)) in cases.iter().enumerate() {
        let path = dir.join(format!("bad{i}.json"));
        std::fs::write(&path, text).unwrap();
        let out = spend_eval(&[path.to_str().unwrap()], ROW.as_bytes());
        assert_no_panic(&out);
        assert!(!out.status.success(), "{text} must be refused");
        let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(
            stderr.contains(needle),
            "stderr {stderr:?} should name {needle:?}"
        );
    }
    let out = spend_eval(&["/nonexistent/config.json"], ROW.as_bytes());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read configuration"));
}

/// The ledger spills to temporary files once `--ledger-memory` ids are in memory, and merges its
/// files past 8 of them. A budget of 37 ids on 20,000 generated rows (re-sends and reversals
/// included) spills 500 times and merges dozens of times: every result must be what the default
/// budget (no spill at this size) gives, and so must the normative examples.
#[test]
fn a_ledger_spilled_to_disk_changes_no_result() {
    let gen = Command::new(env!("CARGO_BIN_EXE_spend"))
        .args(["gen", "--rows", "20000", "--cards", "300", "--seed", "7"])
        .output()
        .expect("spawn spend gen");
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let configs = [
        &example("reference-config.json")[..],
        &example("example-campaigns.json")[..],
    ];
    let whole = spend_eval(&configs, &gen.stdout);
    let spilled = spend_eval_with(&configs, &["--ledger-memory", "37"], &gen.stdout);
    for out in [&whole, &spilled] {
        assert_no_panic(out);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let whole = String::from_utf8(whole.stdout).unwrap();
    // The file exercises what the ledger answers: duplicates, and reversals of earlier purchases.
    assert!(
        whole.matches(",duplicate,").count() > 10,
        "too few duplicates"
    );
    assert!(whole.matches("reversal").count() > 50, "too few reversals");
    assert_eq!(String::from_utf8(spilled.stdout).unwrap(), whole);

    let input = std::fs::read(example("transactions.csv")).unwrap();
    let expected = std::fs::read_to_string(example("expected.csv")).unwrap();
    for budget in ["1", "2", "3"] {
        let out = spend_eval_with(&configs, &["--ledger-memory", budget], &input);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            expected,
            "budget {budget}"
        );
    }
}

#[test]
fn a_ledger_memory_of_zero_is_refused() {
    let out = spend_eval_with(
        &[&example("reference-config.json")],
        &["--ledger-memory", "0"],
        b"",
    );
    assert_no_panic(&out);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--ledger-memory") && stderr.contains("at least 1"),
        "{stderr}"
    );
}
