//! CSV imports of deals: pipeline and stage by name, a history written into
//! the event log as if it had happened, matching by external id, and the
//! round trip from an export.

use pipewise_tests::{expect_problem, expect_status, on_both_backends, Session, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{
    imports::{admin_email, counts, errors, export_of, import, imported},
    pipelines::{create_pipeline, sales_pipeline},
};

on_both_backends!(
    deals_import_into_their_pipeline_and_stage_with_their_history,
    bad_deal_rows_are_reported_and_change_nothing,
    deals_match_by_external_id_and_keep_their_history,
    a_deal_export_imports_back_as_the_same_deals,
);

/// The organization's deals, oldest first, by external id.
async fn deals(app: &TestApp, session: &Session) -> Vec<Value> {
    let response = app
        .get("/api/v1/deals?limit=100", &session.access_token)
        .send()
        .await
        .unwrap();
    let mut deals = expect_status(response, StatusCode::OK).await["data"]
        .as_array()
        .unwrap()
        .clone();
    deals.sort_by_key(|d| d["external_id"].as_str().unwrap_or_default().to_owned());
    deals
}

async fn events(app: &TestApp, session: &Session, deal: &Value) -> Vec<(String, String)> {
    let path = format!("/api/v1/deals/{}/events", deal["id"].as_str().unwrap());
    let response = app.get(&path, &session.access_token).send().await.unwrap();
    expect_status(response, StatusCode::OK).await["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_owned(),
                e["at"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn stage_named(pipeline: &Value, position: usize) -> String {
    pipeline["stages"][position]["name"].as_str().unwrap().to_owned()
}

async fn deals_import_into_their_pipeline_and_stage_with_their_history(app: TestApp) {
    let admin = app.signup("dealimport").await;
    let token = &admin.access_token;
    let sales = sales_pipeline(&app, &admin).await;
    let renewals = create_pipeline(&app, &admin, "Renewals", &[("Quote", 30), ("Signed", 90)]).await;
    let email = admin_email(&app, &admin).await;
    let second = stage_named(&sales, 1).to_uppercase();
    let file = format!(
        "Title,Amount,Currency,Pipeline,Stage,Owner Email,Status,Won At,Lost At,Lost Reason,Created At,External Id,Tags\n\
         Acme renewal,1200.50,EUR,renewals,signed,{email},,,,,2025-01-10,d-1,vip; renewal\n\
         Globex,300,,Sales,{second},,won,2025-02-01T10:00:00Z,,,2025-01-05,d-2,\n\
         Initech,50,,sales,,,,,2025-03-01,Too expensive,2025-01-20,d-3,\n"
    );
    let import = imported(&app, token, "resource=deals", file).await;
    assert_eq!(counts(&import), [3, 3, 0, 0, 0], "{import}");
    assert_eq!(import["resource"], "deals");

    let deals = deals(&app, &admin).await;
    let (acme, globex, initech) = (&deals[0], &deals[1], &deals[2]);
    assert_eq!(acme["title"], "Acme renewal");
    assert_eq!(
        (acme["amount"].as_str(), acme["currency"].as_str()),
        (Some("1200.50"), Some("EUR"))
    );
    assert_eq!(acme["pipeline_id"], renewals["id"]);
    assert_eq!(acme["stage_id"], renewals["stages"][1]["id"]);
    assert_eq!(acme["status"], "open");
    assert_eq!(acme["tags"], json!(["renewal", "vip"]));
    assert_eq!(acme["created_at"], "2025-01-10T00:00:00Z");
    assert_eq!(
        events(&app, &admin, acme).await,
        [("created".to_owned(), "2025-01-10T00:00:00Z".to_owned())]
    );

    assert_eq!(globex["stage_id"], sales["stages"][1]["id"]);
    assert_eq!(globex["status"], "won");
    assert_eq!(globex["closed_at"], "2025-02-01T10:00:00Z");
    assert_eq!(
        events(&app, &admin, globex).await,
        [
            ("created".to_owned(), "2025-01-05T00:00:00Z".to_owned()),
            ("won".to_owned(), "2025-02-01T10:00:00Z".to_owned()),
        ]
    );

    // Without a stage, the pipeline's first; lost with its reason.
    assert_eq!(initech["stage_id"], sales["stages"][0]["id"]);
    assert_eq!(initech["status"], "lost");
    assert_eq!(initech["lost_reason"], "Too expensive");
    assert_eq!(initech["closed_at"], "2025-03-01T00:00:00Z");
    let path = format!("/api/v1/deals/{}/events", initech["id"].as_str().unwrap());
    let log = expect_status(app.get(&path, token).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(log["data"][1]["kind"], "lost");
    assert_eq!(log["data"][1]["lost_reason"], "Too expensive");

    // The stints are linked as a live history's are: reports read them.
    assert_eq!(
        app.scalar("select count(*) from deal_events where kind = 'created' and ends_at is not null")
            .await,
        2
    );
    assert_eq!(
        app.scalar("select count(*) from deal_events where created_at > at")
            .await,
        5,
        "every event is backdated, and says when it was written"
    );
    // A closed deal can be reopened as if it had been closed live.
    let path = format!("/api/v1/deals/{}/reopen", globex["id"].as_str().unwrap());
    let reopened = expect_status(app.post(&path, token, &json!({})).send().await.unwrap(), StatusCode::OK).await;
    assert_eq!(reopened["status"], "open");
}

async fn bad_deal_rows_are_reported_and_change_nothing(app: TestApp) {
    let admin = app.signup("dealimportbad").await;
    let token = &admin.access_token;
    create_pipeline(&app, &admin, "Renewals", &[("Quote", 30)]).await;
    let file = "title,amount,pipeline,stage,status,won_at,lost_at,lost_reason,created_at,account_id\n\
                Unknown pipeline,1,Nope,,,,,,,\n\
                Unknown stage,1,Renewals,Nope,,,,,,\n\
                Both,1,Renewals,,,2025-02-01,2025-02-01,x,2025-01-01,\n\
                No reason,1,Renewals,,lost,,2025-02-01,,2025-01-01,\n\
                Reason open,1,Renewals,,open,,,Price,,\n\
                Too early,1,Renewals,,,2024-12-01,,,2025-01-01,\n\
                Future,1,Renewals,,,2999-01-01,,,,\n\
                Odd status,1,Renewals,,maybe,,,,,\n\
                Bad amount,abc,Renewals,,,,,,,\n\
                No pipeline,1,,,,,,,,\n\
                No account,1,Renewals,,,,,,,00000000-0000-7000-8000-000000000000\n\
                Fine,1,Renewals,,,,,,,\n";
    let report = imported(&app, token, "resource=deals", file).await;
    assert_eq!(report["status"], "rolled_back");
    assert_eq!(counts(&report), [12, 1, 0, 0, 11]);
    let columns: Vec<(i64, String)> = errors(&report)
        .into_iter()
        .map(|(line, column, _)| (line, column))
        .collect();
    assert_eq!(
        columns,
        [
            (2, "pipeline"),
            (3, "stage"),
            (4, "lost_at"),
            (5, "lost_reason"),
            (6, "lost_reason"),
            (7, "won_at"),
            (8, "won_at"),
            (9, "status"),
            (10, "amount"),
            (11, "pipeline"),
            (12, "account_id"),
        ]
        .map(|(line, column)| (line, column.to_owned()))
    );
    assert_eq!(app.scalar("select count(*) from deals").await, 0);
    assert_eq!(app.scalar("select count(*) from deal_events").await, 0);

    // Backdating a deal's close takes an admin or an import key.
    let rep = app.add_user(&admin, "rep").await;
    for column in ["won_at", "lost_at", "closed_at", "created_at"] {
        let file = format!("title,amount,pipeline,{column}\nX,1,Renewals,2025-01-01\n");
        let response = import(&app, &rep.access_token, "resource=deals", file).await;
        expect_problem(response, StatusCode::FORBIDDEN).await;
    }
    // A rep may close a deal now.
    let file = "title,amount,pipeline,status,lost_reason\nX,1,Renewals,lost,Budget\n";
    let report = imported(&app, &rep.access_token, "resource=deals&mode=partial", file).await;
    assert_eq!(counts(&report), [1, 1, 0, 0, 0], "{report}");
    assert_eq!(
        app.scalar("select count(*) from deal_events where kind = 'lost'").await,
        1
    );
}

async fn deals_match_by_external_id_and_keep_their_history(app: TestApp) {
    let admin = app.signup("dealimportmatch").await;
    let token = &admin.access_token;
    let sales = sales_pipeline(&app, &admin).await;
    let first = stage_named(&sales, 0);
    let file = format!("title,amount,stage,status,lost_reason,external_id\nAcme,100,{first},lost,Price,d-1\n");
    imported(&app, token, "resource=deals", file.clone()).await;

    // Without dedupe a matching row fails; with skip it is skipped.
    let again = imported(&app, token, "resource=deals&mode=partial", file.clone()).await;
    assert_eq!(counts(&again), [1, 0, 0, 0, 1]);
    assert!(
        errors(&again)[0].2.starts_with("a deal has this external_id"),
        "{again}"
    );
    let again = imported(&app, token, "resource=deals&dedupe=skip", file.clone()).await;
    assert_eq!(counts(&again), [1, 0, 0, 1, 0]);
    let again = imported(&app, token, "resource=deals&dedupe=update", file).await;
    assert_eq!(counts(&again), [1, 0, 0, 1, 0], "nothing changes");

    // An update writes the row's fields as a PATCH, and leaves the history.
    let file = "title,amount,lost_at,lost_reason,created_at,external_id,tags\nAcme Corp,150,2025-02-01,Price,2025-01-01,d-1,big\n";
    let again = imported(&app, token, "resource=deals&dedupe=update", file).await;
    assert_eq!(counts(&again), [1, 0, 1, 0, 0], "{again}");
    let deal = &deals(&app, &admin).await[0];
    assert_eq!(
        (deal["title"].as_str(), deal["amount"].as_str()),
        (Some("Acme Corp"), Some("150.00"))
    );
    assert_eq!(deal["tags"], json!(["big"]));
    assert_eq!(
        (deal["status"].as_str(), deal["version"].as_i64()),
        (Some("lost"), Some(2))
    );
    assert_eq!(app.scalar("select count(*) from deal_events").await, 2);

    // Its status and stage change through its commands, not an import.
    let second = stage_named(&sales, 1);
    // (Each row is a whole deal: a row that matches is read as a new deal first.)
    let rows = [
        ("Acme,1,won,,,,2024-01-01,d-1".to_owned(), "status"),
        ("Acme,1,,2025-01-01,,,2024-01-01,d-1".to_owned(), "won_at"),
        (format!("Acme,1,lost,,{second},Price,2024-01-01,d-1"), "stage"),
    ];
    for (row, column) in rows {
        let file = format!("title,amount,status,won_at,stage,lost_reason,created_at,external_id\n{row}\n");
        let refused = imported(&app, token, "resource=deals&dedupe=update", file).await;
        assert_eq!(counts(&refused), [1, 0, 0, 0, 1], "{refused}");
        assert_eq!(errors(&refused)[0].1, column, "{refused}");
    }
    assert_eq!(deals(&app, &admin).await[0]["version"], 2);
}

async fn a_deal_export_imports_back_as_the_same_deals(app: TestApp) {
    let source = app.signup("dealroundtrip").await;
    let token = &source.access_token;
    let file = "title,amount,currency,status,won_at,lost_at,lost_reason,created_at,external_id,tags,source,probability,expected_close_date,forecast_category\n\
                =Formula deal,10,USD,,,,,2025-01-01T08:00:00Z,d-1,a,web,40,2025-06-30,commit\n\
                Won deal,20,EUR,won,2025-02-01T09:30:00Z,,,2025-01-02T08:00:00Z,d-2,,,,,\n\
                Lost deal,30,EUR,lost,,2025-03-01T10:00:00Z,\"Price, mostly\",2025-01-03T08:00:00Z,d-3,b; c,,,,\n";
    imported(&app, token, "resource=deals", file).await;
    let export = export_of(&app, token, "deals").await;
    assert!(export.contains("'=Formula deal"), "{export}");

    // In the same organization every row finds its deal and changes nothing.
    let again = imported(&app, token, "resource=deals&dedupe=update", export.clone()).await;
    assert_eq!(counts(&again), [3, 0, 0, 3, 0], "{again}");

    // Elsewhere the same deals come back, in that organization's pipeline.
    let target = app.signup("dealroundtriptarget").await;
    let mapping = "resource=deals&mapping=pipeline_id:ignore,stage_id:ignore,owner_id:ignore,account_id:ignore";
    let copy = imported(&app, &target.access_token, mapping, export).await;
    assert_eq!(counts(&copy), [3, 3, 0, 0, 0], "{copy}");
    let keys = [
        "title",
        "amount",
        "currency",
        "status",
        "lost_reason",
        "closed_at",
        "created_at",
        "external_id",
        "tags",
        "source",
        "probability",
        "expected_close_date",
        "forecast_category",
    ];
    let pick = |deals: Vec<Value>| -> Vec<Value> {
        deals
            .iter()
            .map(|d| Value::Object(keys.iter().map(|k| (k.to_string(), d[*k].clone())).collect()))
            .collect()
    };
    let original = pick(deals(&app, &source).await);
    assert_eq!(original[0]["title"], "=Formula deal");
    assert_eq!(original[2]["lost_reason"], "Price, mostly");
    assert_eq!(pick(deals(&app, &target).await), original);
}
