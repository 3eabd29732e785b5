//! Outcomes in the columns of `expected.csv` (and of `spend eval`'s output) after the id:
//! `status, reward, unit, amount_sgd, base_campaign, promo_campaign, remark` — from a results
//! CSV, from a record read through `GET /v1/transactions/{id}`, and (feature `store`) from a
//! stored outcome.

use std::collections::HashMap;

use serde_json::Value;

/// Whether a results row's status is a stored reward: a record's, or a mission payout's.
pub fn is_reward(status: &str) -> bool {
    matches!(status, "rewarded" | "mission" | "mission_clawback")
}

/// The final outcome of every id of a results CSV (`expected.csv`, or `spend eval`'s output), in
/// the columns after the id: the first reward of an id is final; otherwise its last dead letter
/// stands. Rejected and duplicate rows have no outcome; mission payouts are rows of their own
/// ids. Returns the ids in first-seen order too.
pub fn final_outcomes(results_csv: &str) -> (Vec<String>, HashMap<String, Vec<String>>) {
    let mut order = Vec::new();
    let mut finals: HashMap<String, Vec<String>> = HashMap::new();
    for line in csv::Reader::from_reader(results_csv.as_bytes()).records() {
        let line = line.expect("a results CSV");
        let id = line[0].to_owned();
        let columns: Vec<String> = line.iter().skip(1).map(str::to_owned).collect();
        let settled = finals.get(&id).is_some_and(|c| is_reward(&c[0]));
        if (is_reward(&line[1]) || &line[1] == "dead_letter") && !settled {
            if !finals.contains_key(&id) {
                order.push(id.clone());
            }
            finals.insert(id, columns);
        }
    }
    (order, finals)
}

/// A dead letter's columns: the status and the reason, in `remark`.
fn dead_letter(reason: &str) -> Vec<String> {
    let mut columns = vec![String::new(); 7];
    columns[0] = "dead_letter".into();
    columns[6] = reason.into();
    columns
}

/// The columns of a record read through `GET /v1/transactions/{id}` (its JSON); a mission
/// payout's status is its `type` (`mission`, `mission_clawback`), and it names its mission.
pub fn api_columns(v: &Value) -> Vec<String> {
    let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
    match (v["status"].as_str(), v["type"].as_str()) {
        (Some("rewarded"), Some(kind @ ("mission" | "mission_clawback"))) => {
            assert!(v["mission_id"].is_string(), "{v}");
            let mut columns = vec![String::new(); 7];
            columns[0] = kind.into();
            columns[1] = s("reward");
            columns[2] = s("unit");
            columns[6] = s("remark");
            columns
        }
        (Some("rewarded"), _) => vec![
            "rewarded".into(),
            s("reward"),
            s("unit"),
            s("amount_sgd"),
            s("base_campaign"),
            s("promo_campaign"),
            s("remark"),
        ],
        (Some("dead_letter"), _) => dead_letter(&s("reason")),
        other => panic!("unexpected (status, type) {other:?} in {v}"),
    }
}

/// The columns of a stored outcome; a mission payout's status is its kind (`mission`,
/// `mission_clawback`), as `spend eval` writes it.
#[cfg(feature = "store")]
pub fn stored_columns(o: &spend_store::reward_store::StoredOutcome) -> Vec<String> {
    use spend_domain::money::fmt2;
    match (o.reward(), o.dead_letter_reason()) {
        (Some(r), _) => vec![
            o.payout.map_or("rewarded", |p| p.kind.as_str()).to_owned(),
            fmt2(r.reward),
            r.unit.as_str().into(),
            r.amount_sgd.map(fmt2).unwrap_or_default(),
            r.base_campaign.map(|u| u.to_string()).unwrap_or_default(),
            r.promo_campaign.map(|u| u.to_string()).unwrap_or_default(),
            r.remark.clone(),
        ],
        (None, Some(reason)) => dead_letter(reason.as_str()),
        (None, None) => unreachable!("an outcome is rewarded or a dead letter"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_outcomes_keep_the_first_reward_and_the_last_dead_letter() {
        let (order, finals) = final_outcomes(
            "id,status,reward,unit,amount_sgd,base_campaign,promo_campaign,remark\n\
             a,dead_letter,,,,,,no_fx_rate\n\
             a,rewarded,1.00,points,1.00,,,x\n\
             a,dead_letter,,,,,,original_not_found\n\
             b,dead_letter,,,,,,no_fx_rate\n\
             b,dead_letter,,,,,,unknown_program\n\
             c,rewarded,1.00,points,1.00,,,x\n\
             c,duplicate,,,,,,\n",
        );
        assert_eq!(finals["a"][0], "rewarded");
        assert_eq!(finals["b"][6], "unknown_program");
        assert_eq!(finals["c"][1], "1.00");
        assert_eq!(order, ["a", "b", "c"]);
    }

    #[test]
    fn an_api_record_has_the_columns_of_its_status() {
        let rewarded = serde_json::json!({"status": "rewarded", "reward": "1.00", "unit": "points",
            "amount_sgd": "1.00", "base_campaign": "b", "promo_campaign": null, "remark": "x"});
        assert_eq!(
            api_columns(&rewarded),
            ["rewarded", "1.00", "points", "1.00", "b", "", "x"]
        );
        let payout = serde_json::json!({"status": "rewarded", "type": "mission", "reward": "50.00",
            "unit": "points", "amount_sgd": null, "mission_id": "m", "remark": "Dine"});
        assert_eq!(
            api_columns(&payout),
            ["mission", "50.00", "points", "", "", "", "Dine"]
        );
        let dead = serde_json::json!({"status": "dead_letter", "reason": "no_fx_rate"});
        assert_eq!(
            api_columns(&dead),
            ["dead_letter", "", "", "", "", "", "no_fx_rate"]
        );
    }
}
