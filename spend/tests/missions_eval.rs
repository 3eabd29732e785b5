//! `spend eval` with missions, through the real binary: the mission examples
//! (`examples/missions/`) give `expected.csv` byte for byte and, with `--missions-out`, the final
//! state of every card in every mission (`expected-missions.csv`). Without missions nothing of the
//! output changes (`eval_cli.rs` keeps the normative examples byte for byte).

use std::io::Write;
use std::process::{Command, Stdio};

use spend_testkit::fixtures::MISSION_EXAMPLES as MISSIONS;
use spend_testkit::fixtures::SPEC_EXAMPLES as SPEC;

fn eval(input: &[u8], missions_out: Option<&std::path::Path>) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spend"));
    cmd.arg("eval")
        .arg("--config")
        .arg(format!("{SPEC}/reference-config.json"))
        .arg("--config")
        .arg(format!("{MISSIONS}/missions.json"));
    if let Some(path) = missions_out {
        cmd.arg("--missions-out").arg(path);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn spend");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().expect("wait spend");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{MISSIONS}/{name}")).unwrap()
}

#[test]
fn the_mission_examples_give_expected_csv_and_states() {
    let dir = tempfile::tempdir().unwrap();
    let states = dir.path().join("missions.csv");
    let out = eval(read("transactions.csv").as_bytes(), Some(&states));
    assert_eq!(out, read("expected.csv"));
    assert_eq!(
        std::fs::read_to_string(&states).unwrap(),
        read("expected-missions.csv")
    );
}

#[test]
fn the_issue_flow_pays_once_and_claws_back() {
    // 40, 40, 30 on 2–4 May; the third again; one on 9 May; a reversal of the third.
    let card = "00000000-0000-4000-9000-00000000ce01";
    let pan = "4111111111111111";
    let row = |id: &str, amount: &str, date: &str, rev: &str| {
        let kind = if rev.is_empty() { "" } else { "reversal" };
        format!("00000000-0000-4000-9000-00000000f0{id},T{id},Din Tai Fung,5812,SGD,{amount},{date},{card},{pan},scis_shopping,{kind},{rev}\n")
    };
    let mut csv = String::from(
        "id,transaction_id,merchant,mcc,currency,amount,transaction_date,card_id,card_pan,card_type,type,original_id\n",
    );
    csv += &row("01", "40.00", "2024-05-02", "");
    csv += &row("02", "40.00", "2024-05-03", "");
    csv += &row("03", "30.00", "2024-05-04", "");
    csv += &row("03", "30.00", "2024-05-04", "");
    csv += &row("04", "25.00", "2024-05-09", "");
    csv += &row(
        "05",
        "30.00",
        "2024-05-10",
        "00000000-0000-4000-9000-00000000f003",
    );
    let dir = tempfile::tempdir().unwrap();
    let states = dir.path().join("missions.csv");
    let out = eval(csv.as_bytes(), Some(&states));
    let statuses: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "rewarded",
            "rewarded",
            "rewarded",
            "mission",
            "duplicate",
            "rewarded",
            "rewarded",
            "mission_clawback"
        ],
        "{out}"
    );
    let mission_rows: Vec<&str> = out.lines().filter(|l| l.contains(",mission")).collect();
    assert!(mission_rows[0].contains(",mission,50.00,points,"));
    assert!(mission_rows[1].contains(",mission_clawback,-50.00,points,"));
    let state = std::fs::read_to_string(&states).unwrap();
    let dine: Vec<&str> = state
        .lines()
        .find(|l| l.contains("00000000d001"))
        .unwrap()
        .split(',')
        .collect();
    // status, progress, count, window.
    assert_eq!(
        dine[2..7],
        ["in_progress", "80.00", "2", "2024-05-02", "2024-05-08"]
    );
}
