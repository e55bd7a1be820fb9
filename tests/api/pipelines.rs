use pipewise_tests::{expect_problem, expect_status, invalid_fields, on_both_backends, uuid, Session, TestApp};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::deals::{create_deal, deal_events, deal_path, time};

on_both_backends!(
    a_new_organization_starts_with_the_default_sales_pipeline,
    admins_create_pipelines_with_ordered_stages,
    invalid_pipelines_and_stages_are_named,
    only_admins_change_pipelines_and_stages,
    stages_are_added_renamed_reweighted_and_reordered,
    a_reorder_must_name_every_stage_exactly_once,
    a_stage_holding_deals_is_deleted_only_by_moving_its_deals,
    an_empty_stage_is_deleted_and_the_last_stage_is_kept,
    a_pipeline_holding_deals_cannot_be_deleted,
    a_pipeline_is_deleted_once_its_deals_have_moved_away,
    another_organizations_pipelines_and_stages_are_not_found,
    pipelines_list_page_by_page,
);

/// The organization's pipelines, in creation order.
pub async fn pipelines(app: &TestApp, session: &Session) -> Vec<Value> {
    let page = expect_status(
        app.get("/api/v1/pipelines", &session.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    page["data"].as_array().unwrap().clone()
}

/// The default "Sales" pipeline every organization starts with.
pub async fn sales_pipeline(app: &TestApp, session: &Session) -> Value {
    pipelines(app, session).await.remove(0)
}

/// Creates a pipeline as `session` and returns its body.
pub async fn create_pipeline(app: &TestApp, session: &Session, name: &str, stages: &[(&str, i64)]) -> Value {
    let stages: Vec<Value> = stages
        .iter()
        .map(|(name, probability)| json!({"name": name, "probability": probability}))
        .collect();
    let response = app
        .post(
            "/api/v1/pipelines",
            &session.access_token,
            &json!({"name": name, "stages": stages}),
        )
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::CREATED).await
}

/// The id of the stage at `position` of `pipeline`.
pub fn stage_id(pipeline: &Value, position: usize) -> String {
    pipeline["stages"][position]["id"].as_str().unwrap().to_owned()
}

fn stage_names(pipeline: &Value) -> Vec<&str> {
    pipeline["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect()
}

fn positions(pipeline: &Value) -> Vec<i64> {
    pipeline["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["position"].as_i64().unwrap())
        .collect()
}

fn pipeline_path(pipeline: &Value) -> String {
    format!("/api/v1/pipelines/{}", pipeline["id"].as_str().unwrap())
}

fn put(app: &TestApp, path: &str, token: &str, body: &Value) -> RequestBuilder {
    app.request(Method::PUT, path).bearer_auth(token).json(body)
}

async fn get_pipeline(app: &TestApp, session: &Session, pipeline: &Value) -> Value {
    expect_status(
        app.get(&pipeline_path(pipeline), &session.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await
}

async fn a_new_organization_starts_with_the_default_sales_pipeline(app: TestApp) {
    let admin = app.signup("default").await;
    let rep = app.add_user(&admin, "rep").await;

    // Everyone reads the pipelines, reps included.
    let all = pipelines(&app, &rep).await;
    assert_eq!(all.len(), 1);
    let sales = &all[0];
    assert_eq!(sales["name"], "Sales");
    assert_eq!(
        stage_names(sales),
        ["Prospecting", "Qualified", "Meeting", "Proposal", "Negotiation"]
    );
    let probabilities: Vec<i64> = sales["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["probability"].as_i64().unwrap())
        .collect();
    assert_eq!(probabilities, [10, 25, 40, 60, 80]);
    assert_eq!(positions(sales), [0, 1, 2, 3, 4]);
    assert!(sales["stages"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["pipeline_id"] == sales["id"] && s["rotting_days"].is_null()));
    assert_eq!(sales["version"], 1);

    let response = app.get(&pipeline_path(sales), &rep.access_token).send().await.unwrap();
    assert_eq!(response.headers()["etag"], "\"1\"");
    assert_eq!(expect_status(response, StatusCode::OK).await, *sales);

    // Each organization gets its own.
    app.signup("other").await;
    assert_eq!(
        app.scalar("select count(*) from pipelines where name = 'Sales'").await,
        2
    );
    assert_eq!(app.scalar("select count(*) from stages").await, 10);
    assert_eq!(
        app.scalar("select count(*) from stages where name = 'Negotiation' and position = 4 and probability = 80")
            .await,
        2
    );
}

async fn admins_create_pipelines_with_ordered_stages(app: TestApp) {
    let admin = app.signup("create").await;
    let response = app
        .post(
            "/api/v1/pipelines",
            &admin.access_token,
            &json!({
                "name": "  Renewals ",
                "stages": [
                    {"name": "Due", "probability": 50},
                    {"name": "Quoted", "probability": 70, "rotting_days": 14},
                    {"name": "Signed", "probability": 100},
                ],
            }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "\"1\"");
    let created = expect_status(response, StatusCode::CREATED).await;
    assert_eq!(created["name"], "Renewals");
    assert_eq!(stage_names(&created), ["Due", "Quoted", "Signed"]);
    assert_eq!(positions(&created), [0, 1, 2]);
    assert_eq!(created["stages"][1]["probability"], 70);
    assert_eq!(created["stages"][1]["rotting_days"], 14);
    assert!(created["stages"][0]["rotting_days"].is_null());
    assert_eq!(created["version"], 1);

    assert_eq!(get_pipeline(&app, &admin, &created).await, created);
    let all = pipelines(&app, &admin).await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[1], created, "listed after the default pipeline");
    assert_eq!(
        app.scalar("select count(*) from stages where name = 'Quoted' and position = 1 and rotting_days = 14")
            .await,
        1
    );

    // A rename bumps the version.
    let path = pipeline_path(&created);
    let response = app
        .patch(&path, &admin.access_token, &json!({"name": "Upsell"}))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "\"2\"");
    let renamed = expect_status(response, StatusCode::OK).await;
    assert_eq!(renamed["name"], "Upsell");
    assert_eq!(renamed["stages"], created["stages"]);
    let stale = app
        .patch(&path, &admin.access_token, &json!({"name": "Stale"}))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    expect_problem(stale, StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(
        app.scalar("select count(*) from pipelines where name = 'Upsell'").await,
        1
    );
    assert_eq!(
        app.scalar("select count(*) from pipelines where name = 'Stale'").await,
        0
    );
}

async fn invalid_pipelines_and_stages_are_named(app: TestApp) {
    let admin = app.signup("invalid").await;
    let cases = [
        (json!({"name": "P", "stages": []}), vec!["stages"]),
        (
            json!({"name": " ", "stages": [{"name": "A", "probability": 10}]}),
            vec!["name"],
        ),
        (
            json!({"name": "P", "stages": [
                {"name": "A", "probability": 101},
                {"name": "", "probability": 10, "rotting_days": 0},
                {"name": "C", "probability": -1},
            ]}),
            vec![
                "stages[0].probability",
                "stages[1].name",
                "stages[1].rotting_days",
                "stages[2].probability",
            ],
        ),
        (json!({"name": "P"}), vec!["stages"]),
        (
            json!({"name": "P", "stages": [{"name": "A", "probability": 10}], "owner": "me"}),
            vec!["owner"],
        ),
    ];
    for (body, fields) in cases {
        let response = app
            .post("/api/v1/pipelines", &admin.access_token, &body)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        let mut named = invalid_fields(&problem);
        named.sort();
        assert_eq!(named, fields, "body: {body}");
    }
    assert_eq!(app.scalar("select count(*) from pipelines").await, 1);

    let sales = sales_pipeline(&app, &admin).await;
    let response = app
        .post(
            &format!("{}/stages", pipeline_path(&sales)),
            &admin.access_token,
            &json!({"name": "Late", "probability": 200}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["probability"]);
    let stage_path = format!("/api/v1/stages/{}", stage_id(&sales, 0));
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"probability": 101}), "probability"),
        (json!({"rotting_days": 3651}), "rotting_days"),
        (json!({"position": 3}), "position"),
    ] {
        let response = app.patch(&stage_path, &admin.access_token, &body).send().await.unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&problem), [field], "body: {body}");
    }
    assert_eq!(app.scalar("select count(*) from stages").await, 5);
    assert_eq!(get_pipeline(&app, &admin, &sales).await, sales, "nothing changed");
}

async fn only_admins_change_pipelines_and_stages(app: TestApp) {
    let admin = app.signup("admins").await;
    let manager = app.add_user(&admin, "manager").await;
    let rep = app.add_user(&admin, "rep").await;
    let (_, key) = app.api_key(&admin, &["read", "write", "import"]).await;
    let sales = sales_pipeline(&app, &admin).await;
    let path = pipeline_path(&sales);
    let stage_path = format!("/api/v1/stages/{}", stage_id(&sales, 0));
    let order: Vec<String> = (0..5).rev().map(|i| stage_id(&sales, i)).collect();
    let new_pipeline = json!({"name": "Mine", "stages": [{"name": "A", "probability": 10}]});

    let requests = |auth: &dyn Fn(RequestBuilder) -> RequestBuilder| {
        vec![
            auth(app.request(Method::POST, "/api/v1/pipelines").json(&new_pipeline)),
            auth(app.request(Method::PATCH, &path).json(&json!({"name": "Renamed"}))),
            auth(app.request(Method::DELETE, &path)),
            auth(
                app.request(Method::POST, &format!("{path}/stages"))
                    .json(&json!({"name": "Extra", "probability": 5})),
            ),
            auth(
                app.request(Method::PATCH, &stage_path)
                    .json(&json!({"probability": 99})),
            ),
            auth(app.request(Method::DELETE, &stage_path)),
            auth(
                app.request(Method::PUT, &format!("{path}/stage-order"))
                    .json(&json!({"stage_ids": order})),
            ),
        ]
    };
    for session in [&manager, &rep] {
        for request in requests(&|r| r.bearer_auth(&session.access_token)) {
            expect_problem(request.send().await.unwrap(), StatusCode::FORBIDDEN).await;
        }
        // Reading is for everyone.
        assert_eq!(get_pipeline(&app, session, &sales).await, sales);
    }
    for request in requests(&|r| r.header("x-api-key", &key)) {
        expect_problem(request.send().await.unwrap(), StatusCode::FORBIDDEN).await;
    }
    let listed = app
        .request(Method::GET, "/api/v1/pipelines")
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(expect_status(listed, StatusCode::OK).await["data"][0], sales);

    assert_eq!(get_pipeline(&app, &admin, &sales).await, sales, "nothing changed");
    assert_eq!(app.scalar("select count(*) from pipelines").await, 1);
    assert_eq!(app.scalar("select count(*) from stages").await, 5);
}

async fn stages_are_added_renamed_reweighted_and_reordered(app: TestApp) {
    let admin = app.signup("stages").await;
    let sales = sales_pipeline(&app, &admin).await;
    let path = pipeline_path(&sales);

    let response = app
        .post(
            &format!("{path}/stages"),
            &admin.access_token,
            &json!({"name": "Contract", "probability": 90, "rotting_days": 7}),
        )
        .send()
        .await
        .unwrap();
    let added = expect_status(response, StatusCode::CREATED).await;
    assert_eq!(added["name"], "Contract");
    assert_eq!(added["position"], 5, "appended at the end");
    assert_eq!(added["probability"], 90);
    assert_eq!(added["rotting_days"], 7);
    assert_eq!(added["pipeline_id"], sales["id"]);

    let stage_path = format!("/api/v1/stages/{}", stage_id(&sales, 1));
    let response = app
        .patch(
            &stage_path,
            &admin.access_token,
            &json!({"name": "Qualified lead", "probability": 30, "rotting_days": 21}),
        )
        .send()
        .await
        .unwrap();
    let changed = expect_status(response, StatusCode::OK).await;
    assert_eq!(changed["name"], "Qualified lead");
    assert_eq!(changed["probability"], 30);
    assert_eq!(changed["rotting_days"], 21);
    assert_eq!(changed["position"], 1);
    // Absent fields stay; null clears the rotting limit.
    let response = app
        .patch(&stage_path, &admin.access_token, &json!({"rotting_days": null}))
        .send()
        .await
        .unwrap();
    let cleared = expect_status(response, StatusCode::OK).await;
    assert_eq!(
        (&cleared["name"], &cleared["probability"]),
        (&json!("Qualified lead"), &json!(30))
    );
    assert!(cleared["rotting_days"].is_null());
    assert_eq!(
        app.scalar(
            "select count(*) from stages where name = 'Qualified lead' and probability = 30 and rotting_days is null"
        )
        .await,
        1
    );

    // A new probability shows at once in the weighted amount of the stage's deals.
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Weighted", "amount": "1000.00", "pipeline_id": sales["id"], "stage_id": stage_id(&sales, 1)}),
    )
    .await;
    assert_eq!(deal["weighted_amount"], "300.00");

    let current = get_pipeline(&app, &admin, &sales).await;
    assert_eq!(current["version"], 4, "each stage change bumps the pipeline's version");
    let mut order: Vec<String> = (0..6).map(|i| stage_id(&current, i)).collect();
    order.reverse();
    let response = put(
        &app,
        &format!("{path}/stage-order"),
        &admin.access_token,
        &json!({"stage_ids": order}),
    )
    .header("if-match", "\"4\"")
    .send()
    .await
    .unwrap();
    assert_eq!(response.headers()["etag"], "\"5\"");
    let reordered = expect_status(response, StatusCode::OK).await;
    assert_eq!(
        stage_names(&reordered),
        [
            "Contract",
            "Negotiation",
            "Proposal",
            "Meeting",
            "Qualified lead",
            "Prospecting"
        ]
    );
    assert_eq!(positions(&reordered), [0, 1, 2, 3, 4, 5]);
    assert_eq!(get_pipeline(&app, &admin, &sales).await, reordered);
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Defaulted", "amount": "1.00", "pipeline_id": sales["id"]}),
    )
    .await;
    assert_eq!(deal["stage_id"], added["id"], "new deals start in the new first stage");
    assert_eq!(
        app.scalar("select count(*) from stages where name = 'Contract' and position = 0")
            .await,
        1
    );
    assert_eq!(
        app.scalar("select count(*) from stages where name = 'Prospecting' and position = 5")
            .await,
        1
    );

    // A stale If-Match changes nothing.
    let response = put(
        &app,
        &format!("{path}/stage-order"),
        &admin.access_token,
        &json!({"stage_ids": (0..6).map(|i| stage_id(&current, i)).collect::<Vec<_>>()}),
    )
    .header("if-match", "\"4\"")
    .send()
    .await
    .unwrap();
    expect_problem(response, StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(get_pipeline(&app, &admin, &sales).await, reordered);
}

async fn a_reorder_must_name_every_stage_exactly_once(app: TestApp) {
    let admin = app.signup("reorder").await;
    let sales = sales_pipeline(&app, &admin).await;
    let other = create_pipeline(&app, &admin, "Other", &[("Only", 50)]).await;
    let path = format!("{}/stage-order", pipeline_path(&sales));
    let ids: Vec<String> = (0..5).map(|i| stage_id(&sales, i)).collect();
    let invalid = [
        json!([]),
        json!(ids[..4]),
        json!([&ids[0], &ids[0], &ids[1], &ids[2], &ids[3]]),
        json!([&ids[0], &ids[1], &ids[2], &ids[3], &ids[4], &ids[4]]),
        json!([&ids[0], &ids[1], &ids[2], &ids[3], stage_id(&other, 0)]),
        json!([&ids[0], &ids[1], &ids[2], &ids[3], Uuid::now_v7()]),
    ];
    for stage_ids in invalid {
        let response = put(&app, &path, &admin.access_token, &json!({ "stage_ids": stage_ids }))
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&problem), ["stage_ids"], "stage_ids: {stage_ids}");
    }
    assert_eq!(get_pipeline(&app, &admin, &sales).await, sales, "nothing changed");
    assert_eq!(get_pipeline(&app, &admin, &other).await, other);
}

async fn a_stage_holding_deals_is_deleted_only_by_moving_its_deals(app: TestApp) {
    let admin = app.signup("delstage").await;
    let sales = sales_pipeline(&app, &admin).await;
    let other = create_pipeline(&app, &admin, "Other", &[("Elsewhere", 50)]).await;
    let (doomed, target) = (stage_id(&sales, 1), stage_id(&sales, 3));
    let deal =
        |title: &str| json!({"title": title, "amount": "100.00", "pipeline_id": sales["id"], "stage_id": doomed});
    let open = create_deal(&app, &admin, deal("Open")).await;
    let won = create_deal(&app, &admin, deal("Won")).await;
    expect_status(
        app.post(&format!("{}/win", deal_path(&won)), &admin.access_token, &json!({}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    let trashed = create_deal(&app, &admin, deal("Trashed")).await;
    expect_status(
        app.delete(&deal_path(&trashed), &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    let stage_path = format!("/api/v1/stages/{doomed}");

    // Open, closed and trashed deals all hold the stage.
    let response = app.delete(&stage_path, &admin.access_token).send().await.unwrap();
    expect_problem(response, StatusCode::CONFLICT).await;
    for bad_target in [doomed.clone(), stage_id(&other, 0), Uuid::now_v7().to_string()] {
        let response = app
            .delete(&format!("{stage_path}?move_deals_to={bad_target}"), &admin.access_token)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&problem), ["move_deals_to"]);
    }
    assert_eq!(get_pipeline(&app, &admin, &sales).await, sales, "nothing changed");
    assert_eq!(
        app.scalar("select count(*) from deal_events where kind = 'moved'")
            .await,
        0
    );

    let response = app
        .delete(&format!("{stage_path}?move_deals_to={target}"), &admin.access_token)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::NO_CONTENT).await;

    let after = get_pipeline(&app, &admin, &sales).await;
    assert_eq!(
        stage_names(&after),
        ["Prospecting", "Meeting", "Proposal", "Negotiation"]
    );
    assert_eq!(positions(&after), [0, 1, 2, 3], "no gap left");
    assert!(after["version"].as_i64().unwrap() > sales["version"].as_i64().unwrap());

    for (deal, status) in [(&open, "open"), (&won, "won")] {
        let current = expect_status(
            app.get(&deal_path(deal), &admin.access_token).send().await.unwrap(),
            StatusCode::OK,
        )
        .await;
        assert_eq!(current["stage_id"], target.as_str());
        assert_eq!(current["status"], status, "a move keeps the status");
        assert_eq!(
            current["version"],
            deal["version"].as_i64().unwrap() + 1 + i64::from(status == "won")
        );
        assert_eq!(current["weighted_amount"], "60.00", "weighted with the new stage");
        let events = deal_events(&app, &admin, deal).await;
        let moved = events.last().unwrap();
        assert_eq!(moved["kind"], "moved");
        assert_eq!(moved["from_stage_id"], doomed.as_str());
        assert_eq!(moved["stage_id"], target.as_str());
        assert_eq!(moved["pipeline_id"], sales["id"]);
        assert_eq!(uuid(&moved["actor_user_id"]), admin.user_id);
    }
    let won_now = expect_status(
        app.get(&deal_path(&won), &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(!won_now["closed_at"].is_null(), "still closed");
    assert_eq!(
        won_now["stage_entered_at"], won["stage_entered_at"],
        "a closed deal's time in stage stops"
    );
    let open_now = expect_status(
        app.get(&deal_path(&open), &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(time(&open_now["stage_entered_at"]) > time(&open["stage_entered_at"]));
    // The trashed deal moved too, and comes back in the new stage.
    let restored = expect_status(
        app.post(
            &format!("{}/restore", deal_path(&trashed)),
            &admin.access_token,
            &json!({}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(restored["stage_id"], target.as_str());
    assert_eq!(
        app.scalar("select count(*) from deal_events where kind = 'moved'")
            .await,
        3
    );
    assert_eq!(app.scalar("select count(*) from deals").await, 3);
    assert_eq!(app.scalar("select count(*) from stages").await, 5);
}

async fn an_empty_stage_is_deleted_and_the_last_stage_is_kept(app: TestApp) {
    let admin = app.signup("empty").await;
    let sales = sales_pipeline(&app, &admin).await;
    // A stage its deals have left can go, though their history names it.
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Passing through", "amount": "10.00", "pipeline_id": sales["id"]}),
    )
    .await;
    expect_status(
        app.post(
            &format!("{}/move", deal_path(&deal)),
            &admin.access_token,
            &json!({"stage_id": stage_id(&sales, 2)}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    let response = app
        .delete(&format!("/api/v1/stages/{}", stage_id(&sales, 0)), &admin.access_token)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::NO_CONTENT).await;
    let after = get_pipeline(&app, &admin, &sales).await;
    assert_eq!(stage_names(&after), ["Qualified", "Meeting", "Proposal", "Negotiation"]);
    assert_eq!(positions(&after), [0, 1, 2, 3]);
    let events = deal_events(&app, &admin, &deal).await;
    assert_eq!(events.len(), 2, "the deal's history is kept");
    assert_eq!(events[0]["stage_id"], stage_id(&sales, 0).as_str());
    let response = app
        .delete(&format!("/api/v1/stages/{}", stage_id(&sales, 0)), &admin.access_token)
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::NOT_FOUND).await;

    let single = create_pipeline(&app, &admin, "Single", &[("Only", 50)]).await;
    let response = app
        .delete(&format!("/api/v1/stages/{}", stage_id(&single, 0)), &admin.access_token)
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(get_pipeline(&app, &admin, &single).await, single);
    assert_eq!(app.scalar("select count(*) from stages").await, 5);
}

async fn a_pipeline_holding_deals_cannot_be_deleted(app: TestApp) {
    let admin = app.signup("delpipe").await;
    let pipeline = create_pipeline(&app, &admin, "Doomed", &[("A", 10), ("B", 20)]).await;
    let path = pipeline_path(&pipeline);
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Holds it", "amount": "5.00", "pipeline_id": pipeline["id"]}),
    )
    .await;
    expect_problem(
        app.delete(&path, &admin.access_token).send().await.unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    // A trashed deal still holds it: it could come back.
    expect_status(
        app.delete(&deal_path(&deal), &admin.access_token).send().await.unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_problem(
        app.delete(&path, &admin.access_token).send().await.unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        app.scalar("select count(*) from pipelines where name = 'Doomed'").await,
        1
    );

    expect_status(
        app.delete(&format!("{}?purge=true", deal_path(&deal)), &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_problem(
        app.delete(&path, &admin.access_token)
            .header("if-match", "\"7\"")
            .send()
            .await
            .unwrap(),
        StatusCode::PRECONDITION_FAILED,
    )
    .await;
    expect_status(
        app.delete(&path, &admin.access_token)
            .header("if-match", "\"1\"")
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_problem(
        app.get(&path, &admin.access_token).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(pipelines(&app, &admin).await.len(), 1);
    assert_eq!(app.scalar("select count(*) from pipelines").await, 1);
    assert_eq!(app.scalar("select count(*) from stages").await, 5);
}

async fn a_pipeline_is_deleted_once_its_deals_have_moved_away(app: TestApp) {
    let admin = app.signup("moveaway").await;
    let sales = sales_pipeline(&app, &admin).await;
    let old = create_pipeline(&app, &admin, "Old", &[("A", 10), ("B", 20)]).await;
    let deal = create_deal(
        &app,
        &admin,
        json!({"title": "Migrating", "amount": "5.00", "pipeline_id": old["id"]}),
    )
    .await;
    expect_status(
        app.post(
            &format!("{}/move", deal_path(&deal)),
            &admin.access_token,
            &json!({"stage_id": stage_id(&sales, 0)}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    expect_status(
        app.delete(&pipeline_path(&old), &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(app.scalar("select count(*) from pipelines where name = 'Old'").await, 0);
    assert_eq!(app.scalar("select count(*) from stages").await, 5);
    // The deal's history still tells where it came from.
    let events = deal_events(&app, &admin, &deal).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["created", "moved"]);
    assert_eq!(events[0]["pipeline_id"], old["id"]);
    assert_eq!(events[1]["from_stage_id"], stage_id(&old, 0).as_str());
}

async fn another_organizations_pipelines_and_stages_are_not_found(app: TestApp) {
    let a = app.signup("alpha").await;
    let b = app.signup("beta").await;
    let theirs = sales_pipeline(&app, &a).await;
    let path = pipeline_path(&theirs);
    let stage_path = format!("/api/v1/stages/{}", stage_id(&theirs, 0));
    let order: Vec<String> = (0..5).rev().map(|i| stage_id(&theirs, i)).collect();
    let requests = [
        app.get(&path, &b.access_token),
        app.patch(&path, &b.access_token, &json!({"name": "Mine"})),
        app.delete(&path, &b.access_token),
        app.post(
            &format!("{path}/stages"),
            &b.access_token,
            &json!({"name": "Mine", "probability": 1}),
        ),
        put(
            &app,
            &format!("{path}/stage-order"),
            &b.access_token,
            &json!({"stage_ids": order}),
        ),
        app.patch(&stage_path, &b.access_token, &json!({"name": "Mine"})),
        app.delete(&stage_path, &b.access_token),
    ];
    for request in requests {
        expect_problem(request.send().await.unwrap(), StatusCode::NOT_FOUND).await;
    }
    // Nor may B move its stage's deals into A's stage.
    let mine = sales_pipeline(&app, &b).await;
    create_deal(
        &app,
        &b,
        json!({"title": "B's", "amount": "1.00", "pipeline_id": mine["id"]}),
    )
    .await;
    let response = app
        .delete(
            &format!(
                "/api/v1/stages/{}?move_deals_to={}",
                stage_id(&mine, 0),
                stage_id(&theirs, 1)
            ),
            &b.access_token,
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;

    assert_eq!(pipelines(&app, &b).await, [mine]);
    assert_eq!(get_pipeline(&app, &a, &theirs).await, theirs, "nothing changed");
    assert_eq!(app.scalar("select count(*) from stages").await, 10);
}

async fn pipelines_list_page_by_page(app: TestApp) {
    let admin = app.signup("pipepages").await;
    let mut expected = vec![sales_pipeline(&app, &admin).await["id"].clone()];
    for name in ["Two", "Three", "Four"] {
        expected.push(create_pipeline(&app, &admin, name, &[("Only", 50)]).await["id"].clone());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/pipelines?limit=3&cursor={c}"),
            None => "/api/v1/pipelines?limit=3".to_owned(),
        };
        let page = expect_status(
            app.get(&path, &admin.access_token).send().await.unwrap(),
            StatusCode::OK,
        )
        .await;
        let rows = page["data"].as_array().unwrap();
        assert!(rows.len() <= 3);
        assert!(rows.iter().all(|p| !p["stages"].as_array().unwrap().is_empty()));
        seen.extend(rows.iter().map(|p| p["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, expected, "oldest first, each once");
    for query in ["cursor=garbage", "limit=0", "sort=name"] {
        let response = app
            .get(&format!("/api/v1/pipelines?{query}"), &admin.access_token)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::BAD_REQUEST).await;
    }
}
