//! Missions through the configuration API (docs/missions.md): the same validation, ETags,
//! If-Match / 412 and error shape as campaigns, on every store backend (embedded always, etcd
//! when `SPEND_TEST_ETCD` names one).

use crate::common::{Answer, Server};
use serde_json::{json, Value};
use spend_store::config_store::ConfigStore;

on_every_store!(
    missions_crud,
    invalid_missions_name_each_field,
    a_program_named_by_a_mission_cannot_be_deleted,
    missions_travel_in_the_whole_configuration,
);

async fn clean(store: &dyn ConfigStore) {
    store.replace_all(Vec::new()).await.unwrap();
}

fn assert_status(a: &Answer, status: u16) {
    assert_eq!(a.status, status, "{a:?}");
}

const ID: &str = "00000000-0000-4000-9000-00000000d001";

fn mission(program: &str) -> Value {
    json!({
        "id": ID, "name": "Dine SGD 100 in 7 days", "program": program,
        "start_date": "2024-05-01", "end_date": null, "window_days": 7,
        "target": {"amount_sgd": "100.00"},
        "conditions": [{"field": "mcc", "op": "in", "value": [[5811, 5814]]}],
        "reward": "50",
    })
}

async fn program(s: &Server, id: &str) {
    let p = json!({"id": id, "name": format!("Program {id}"), "unit": "points"});
    assert_status(&s.post("/v1/programs", &p).await, 201);
}

async fn missions_crud(s: &Server) {
    program(s, "p1").await;
    let path = format!("/v1/missions/{ID}");
    let created = s.post("/v1/missions", &mission("p1")).await;
    assert_status(&created, 201);
    assert_eq!(created.body, mission("p1"));
    assert_eq!(created.headers["location"], path.as_str());
    let etag1 = created.etag();
    assert_status(&s.post("/v1/missions", &mission("p1")).await, 409);

    let got = s
        .get(&path.to_uppercase().replace("/V1/MISSIONS", "/v1/missions"))
        .await;
    assert_status(&got, 200);
    assert_eq!(
        (got.body.clone(), got.etag()),
        (mission("p1"), etag1.clone())
    );
    assert_eq!(
        s.get("/v1/missions").await.body,
        json!({"items": [mission("p1")]})
    );

    let mut changed = mission("p1");
    changed["target"] = json!({"count": 3});
    changed["window_days"] = json!(366);
    let replaced = s.put(&path, &changed, &[("if-match", &etag1)]).await;
    assert_status(&replaced, 200);
    assert_eq!(replaced.body, changed);
    let stale = s.put(&path, &mission("p1"), &[("if-match", &etag1)]).await;
    assert_status(&stale, 412);
    assert_eq!(s.get(&path).await.body, changed, "a 412 wrote nothing");
    let stale_delete = s.delete(&path, &[("if-match", &etag1)]).await;
    assert_status(&stale_delete, 412);
    let deleted = s.delete(&path, &[("if-match", &replaced.etag())]).await;
    assert_status(&deleted, 204);
    assert_status(&s.get(&path).await, 404);

    // Without an id the server assigns a v4 UUID.
    let mut body = mission("p1");
    body.as_object_mut().unwrap().remove("id");
    let created = s.post("/v1/missions", &body).await;
    assert_status(&created, 201);
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 4);
}

async fn invalid_missions_name_each_field(s: &Server) {
    program(s, "p1").await;
    let mut bad = mission("p1");
    bad["window_days"] = json!(0);
    bad["target"] = json!({"amount_sgd": "-5"});
    bad["reward"] = json!("12.3.4");
    bad["conditions"] = json!([{"field": "colour", "op": "eq", "value": "red"}]);
    bad["bonus"] = json!(true);
    let refused = s.post("/v1/missions", &bad).await;
    assert_status(&refused, 422);
    assert_eq!(refused.error(), "invalid mission");
    assert_eq!(
        refused.fields(),
        [
            "bonus",
            "window_days",
            "target.amount_sgd",
            "conditions[0].field",
            "reward"
        ]
    );
    let unknown = s.post("/v1/missions", &mission("ghost")).await;
    assert_status(&unknown, 422);
    assert_eq!(unknown.fields(), ["program"]);
    let mut count = mission("p1");
    count["target"] = json!({"count": 0});
    assert_eq!(
        s.post("/v1/missions", &count).await.fields(),
        ["target.count"]
    );
    assert_eq!(s.get("/v1/missions").await.body, json!({"items": []}));
}

async fn a_program_named_by_a_mission_cannot_be_deleted(s: &Server) {
    program(s, "p1").await;
    assert_status(&s.post("/v1/missions", &mission("p1")).await, 201);
    let in_use = s.delete("/v1/programs/p1", &[]).await;
    assert_status(&in_use, 409);
    assert!(
        in_use.error().contains("still named by 1 mission"),
        "{in_use:?}"
    );
    assert_status(&s.delete(&format!("/v1/missions/{ID}"), &[]).await, 204);
    assert_status(&s.delete("/v1/programs/p1", &[]).await, 204);
}

async fn missions_travel_in_the_whole_configuration(s: &Server) {
    let mut doc = crate::common::reference_config();
    doc["missions"] = json!([mission("scis_shopping")]);
    let put = s.put("/v1/config", &doc, &[]).await;
    assert_status(&put, 200);
    let got = s.get("/v1/config").await;
    assert_eq!(got.body["missions"], json!([mission("scis_shopping")]));
    assert_eq!(
        s.get(&format!("/v1/missions/{ID}")).await.body,
        mission("scis_shopping")
    );
    doc["missions"][0]["window_days"] = json!(400);
    let refused = s.put("/v1/config", &doc, &[]).await;
    assert_status(&refused, 422);
    assert_eq!(refused.fields(), ["missions[0].window_days"]);
}
