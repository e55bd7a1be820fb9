use std::collections::HashSet;

use pipewise_tests::{
    expect_problem, expect_status, invalid_fields, on_both_backends, statuses_in_parallel, uuid, Session, TestApp,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

on_both_backends!(
    accounts_are_created_read_changed_and_listed,
    invalid_account_fields_are_named,
    a_stale_if_match_changes_no_account,
    reps_read_every_account_but_change_only_their_own,
    api_keys_need_scopes_and_default_the_owner_to_their_creator,
    another_organizations_accounts_are_not_found,
    accounts_filter_by_owner_name_prefix_and_domain,
    unknown_filters_and_sorts_are_refused,
    accounts_list_page_by_page_in_either_order,
    a_trashed_account_is_hidden_until_restored,
    only_admins_purge_accounts_and_links_are_cleared,
    twenty_parallel_patches_without_if_match_all_apply,
    a_delete_without_if_match_racing_patches_always_applies,
);

/// Creates an account as `session` and returns its body.
pub async fn create_account(app: &TestApp, session: &Session, body: Value) -> Value {
    let response = app
        .post("/api/v1/accounts", &session.access_token, &body)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::CREATED).await
}

async fn list(app: &TestApp, session: &Session, query: &str) -> Vec<Value> {
    let response = app
        .get(&format!("/api/v1/accounts{query}"), &session.access_token)
        .send()
        .await
        .unwrap();
    let page = expect_status(response, StatusCode::OK).await;
    page["data"].as_array().unwrap().clone()
}

fn names(rows: &[Value]) -> Vec<&str> {
    rows.iter().map(|r| r["name"].as_str().unwrap()).collect()
}

async fn accounts_are_created_read_changed_and_listed(app: TestApp) {
    let admin = app.signup("acct").await;
    let response = app
        .post(
            "/api/v1/accounts",
            &admin.access_token,
            &json!({"name": "  Acme GmbH ", "domain": "Acme.Example", "industry": "Manufacturing", "employee_count": 250,
                    "country": "de"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "\"1\"");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let account = expect_status(response, StatusCode::CREATED).await;
    let id = uuid(&account["id"]);
    assert_eq!(location, format!("/api/v1/accounts/{id}"));
    assert_eq!(account["name"], "Acme GmbH");
    assert_eq!(account["domain"], "acme.example");
    assert_eq!(account["industry"], "Manufacturing");
    assert_eq!(account["employee_count"], 250);
    assert_eq!(account["country"], "DE");
    assert_eq!(uuid(&account["owner_id"]), admin.user_id);
    assert_eq!(uuid(&account["organization_id"]), admin.organization_id);
    assert_eq!(account["version"], 1);
    assert!(account["deleted_at"].is_null());
    assert_eq!(
        app.scalar(
            "select count(*) from accounts
             where name = 'Acme GmbH' and name_key = 'acme gmbh' and domain = 'acme.example'
               and employee_count = 250 and country = 'DE' and version = 1 and deleted_at is null"
        )
        .await,
        1
    );

    let fetched = expect_status(
        app.get(&location, &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(fetched, account);

    let manager = app.add_user(&admin, "manager").await;
    let response = app
        .patch(
            &location,
            &admin.access_token,
            &json!({"name": "Acme Group", "industry": null, "employee_count": 300, "country": "at",
                    "owner_id": manager.user_id}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "\"2\"");
    let changed = expect_status(response, StatusCode::OK).await;
    assert_eq!(changed["name"], "Acme Group");
    assert!(changed["industry"].is_null());
    assert_eq!(changed["domain"], "acme.example", "absent fields stay");
    assert_eq!(changed["employee_count"], 300);
    assert_eq!(changed["country"], "AT");
    assert_eq!(uuid(&changed["owner_id"]), manager.user_id);
    assert_eq!(changed["version"], 2);
    assert_eq!(
        app.scalar(
            "select count(*) from accounts
             where name_key = 'acme group' and industry is null and employee_count = 300 and version = 2"
        )
        .await,
        1
    );

    let rows = list(&app, &admin, "").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0], changed);
}

async fn invalid_account_fields_are_named(app: TestApp) {
    let admin = app.signup("invalid").await;
    let gone = app.add_user(&admin, "rep").await;
    expect_status(
        app.delete(&format!("/api/v1/users/{}", gone.user_id), &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    let cases = [
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"domain": "acme.example"}), "name"),
        (
            json!({"name": "A", "domain": format!("{}.com", "a".repeat(250))}),
            "domain",
        ),
        (json!({"name": "A", "domain": "acme example.com"}), "domain"),
        (json!({"name": "A", "industry": "x".repeat(101)}), "industry"),
        (json!({"name": "A", "employee_count": -1}), "employee_count"),
        (json!({"name": "A", "employee_count": 10_000_001}), "employee_count"),
        (json!({"name": "A", "employee_count": "many"}), "employee_count"),
        (json!({"name": "A", "country": "Germany"}), "country"),
        (json!({"name": "A", "country": "D1"}), "country"),
        (json!({"name": "A", "owner_id": Uuid::now_v7()}), "owner_id"),
        (json!({"name": "A", "owner_id": gone.user_id}), "owner_id"),
        (json!({"name": "A", "version": 3}), "version"),
    ];
    for (body, field) in cases {
        let response = app
            .post("/api/v1/accounts", &admin.access_token, &body)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&problem), [field], "{body}");
    }
    // Every invalid field at once, in one 422.
    let response = app
        .post(
            "/api/v1/accounts",
            &admin.access_token,
            &json!({"name": "", "industry": "x".repeat(101), "employee_count": -5}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let fields: HashSet<_> = invalid_fields(&problem).into_iter().collect();
    assert_eq!(fields, ["name", "industry", "employee_count"].map(String::from).into());
    // The boundaries themselves are valid.
    let edge = create_account(
        &app,
        &admin,
        json!({"name": "x".repeat(200), "industry": "y".repeat(100), "employee_count": 10_000_000}),
    )
    .await;
    create_account(&app, &admin, json!({"name": "Zero", "employee_count": 0})).await;

    let path = format!("/api/v1/accounts/{}", edge["id"].as_str().unwrap());
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"employee_count": 10_000_001}), "employee_count"),
        (json!({"country": "XYZ"}), "country"),
        (json!({"owner_id": gone.user_id}), "owner_id"),
        (json!({"version": 9}), "version"),
        (json!({"created_at": "2020-01-01T00:00:00Z"}), "created_at"),
        (json!({"deleted_at": null}), "deleted_at"),
    ] {
        let response = app.patch(&path, &admin.access_token, &body).send().await.unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(invalid_fields(&problem), [field], "{body}");
    }
    assert_eq!(app.scalar("select count(*) from accounts").await, 2);
    assert_eq!(app.scalar("select count(*) from accounts where version = 1").await, 2);
}

async fn a_stale_if_match_changes_no_account(app: TestApp) {
    let admin = app.signup("etag").await;
    let account = create_account(&app, &admin, json!({"name": "Initech"})).await;
    let path = format!("/api/v1/accounts/{}", account["id"].as_str().unwrap());
    let first = app
        .patch(&path, &admin.access_token, &json!({"industry": "Software"}))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    expect_status(first, StatusCode::OK).await;
    let stale = app
        .patch(&path, &admin.access_token, &json!({"industry": "Banking"}))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    expect_problem(stale, StatusCode::PRECONDITION_FAILED).await;
    let stale = app
        .delete(&path, &admin.access_token)
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    expect_problem(stale, StatusCode::PRECONDITION_FAILED).await;
    let stale = app
        .delete(&format!("{path}?purge=true"), &admin.access_token)
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    expect_problem(stale, StatusCode::PRECONDITION_FAILED).await;
    assert_eq!(
        app.scalar("select count(*) from accounts where industry = 'Software' and version = 2 and deleted_at is null")
            .await,
        1
    );
    let current = app
        .delete(&path, &admin.access_token)
        .header("if-match", "\"2\"")
        .send()
        .await
        .unwrap();
    expect_status(current, StatusCode::NO_CONTENT).await;
}

async fn reps_read_every_account_but_change_only_their_own(app: TestApp) {
    let admin = app.signup("reps").await;
    let rep = app.add_user(&admin, "rep").await;
    let other_rep = app.add_user(&admin, "rep").await;
    let manager = app.add_user(&admin, "manager").await;
    let theirs = create_account(&app, &admin, json!({"name": "Admin's"})).await;
    let theirs_path = format!("/api/v1/accounts/{}", theirs["id"].as_str().unwrap());

    // Everyone reads every account.
    expect_status(
        app.get(&theirs_path, &rep.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(list(&app, &rep, "").await.len(), 1);

    // Reps change, trash and restore only what they own.
    let response = app
        .patch(&theirs_path, &rep.access_token, &json!({"name": "Mine now"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
    expect_problem(
        app.delete(&theirs_path, &rep.access_token).send().await.unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;

    // Reps create for themselves only, and cannot give their accounts away.
    let response = app
        .post(
            "/api/v1/accounts",
            &rep.access_token,
            &json!({"name": "For the admin", "owner_id": admin.user_id}),
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
    let own = create_account(&app, &rep, json!({"name": "Rep's"})).await;
    assert_eq!(uuid(&own["owner_id"]), rep.user_id);
    let own_path = format!("/api/v1/accounts/{}", own["id"].as_str().unwrap());
    let response = app
        .patch(&own_path, &rep.access_token, &json!({"owner_id": other_rep.user_id}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
    let response = app
        .patch(&own_path, &rep.access_token, &json!({"industry": "Retail"}))
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;

    // Another rep cannot touch it; a manager can.
    let response = app
        .patch(&own_path, &other_rep.access_token, &json!({"industry": "Oil"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
    let response = app
        .patch(&own_path, &manager.access_token, &json!({"employee_count": 12}))
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;

    // Trash: reps restore only their own; purging is for admins.
    expect_status(
        app.delete(&theirs_path, &admin.access_token).send().await.unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    let response = app
        .post(&format!("{theirs_path}/restore"), &rep.access_token, &json!({}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
    expect_problem(
        app.delete(&format!("{own_path}?purge=true"), &rep.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    expect_status(
        app.delete(&own_path, &rep.access_token).send().await.unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    let restored = expect_status(
        app.post(&format!("{own_path}/restore"), &rep.access_token, &json!({}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(restored["industry"], "Retail");
    assert_eq!(restored["employee_count"], 12);
    assert_eq!(
        app.scalar("select count(*) from accounts where name = 'Admin''s' and deleted_at is not null")
            .await,
        1
    );
}

async fn api_keys_need_scopes_and_default_the_owner_to_their_creator(app: TestApp) {
    let admin = app.signup("keys").await;
    let (_, read_key) = app.api_key(&admin, &["read"]).await;
    let (_, write_key) = app.api_key(&admin, &["write"]).await;
    let post = |key: &str, body: Value| {
        app.request(reqwest::Method::POST, "/api/v1/accounts")
            .header("x-api-key", key)
            .json(&body)
    };
    expect_problem(
        post(&read_key, json!({"name": "A", "owner_id": admin.user_id}))
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    // Without an owner, the key's creator owns what it creates.
    let defaulted = expect_status(
        post(&write_key, json!({"name": "A"})).send().await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(defaulted["owner_id"], json!(admin.user_id));
    let created = expect_status(
        post(&write_key, json!({"name": "A", "owner_id": admin.user_id}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let response = app
        .request(reqwest::Method::GET, "/api/v1/accounts")
        .header("x-api-key", &read_key)
        .send()
        .await
        .unwrap();
    let page = expect_status(response, StatusCode::OK).await;
    assert_eq!(page["data"][0]["id"], defaulted["id"]);
    assert_eq!(page["data"][1]["id"], created["id"]);
}

async fn another_organizations_accounts_are_not_found(app: TestApp) {
    let a = app.signup("alpha").await;
    let b = app.signup("beta").await;
    let account = create_account(&app, &a, json!({"name": "Alpha's", "domain": "alpha.example"})).await;
    let path = format!("/api/v1/accounts/{}", account["id"].as_str().unwrap());
    let absent = format!("/api/v1/accounts/{}", Uuid::now_v7());

    for path in [&path, &absent] {
        expect_problem(
            app.get(path, &b.access_token).send().await.unwrap(),
            StatusCode::NOT_FOUND,
        )
        .await;
        expect_problem(
            app.patch(path, &b.access_token, &json!({"name": "Mine"}))
                .send()
                .await
                .unwrap(),
            StatusCode::NOT_FOUND,
        )
        .await;
        expect_problem(
            app.delete(path, &b.access_token).send().await.unwrap(),
            StatusCode::NOT_FOUND,
        )
        .await;
        expect_problem(
            app.delete(&format!("{path}?purge=true"), &b.access_token)
                .send()
                .await
                .unwrap(),
            StatusCode::NOT_FOUND,
        )
        .await;
        expect_problem(
            app.post(&format!("{path}/restore"), &b.access_token, &json!({}))
                .send()
                .await
                .unwrap(),
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    // Trashed in A, still not B's to restore or purge.
    expect_status(
        app.delete(&path, &a.access_token).send().await.unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_problem(
        app.post(&format!("{path}/restore"), &b.access_token, &json!({}))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_status(
        app.post(&format!("{path}/restore"), &a.access_token, &json!({}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;

    assert!(list(&app, &b, "").await.is_empty());
    assert!(list(&app, &b, "?domain=alpha.example").await.is_empty());
    assert!(list(&app, &b, &format!("?owner_id={}", a.user_id)).await.is_empty());
    // B cannot make A's user own B's account.
    let response = app
        .post(
            "/api/v1/accounts",
            &b.access_token,
            &json!({"name": "B's", "owner_id": a.user_id}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["owner_id"]);
    assert_eq!(
        app.scalar("select count(*) from accounts where name = 'Alpha''s' and version = 3 and deleted_at is null")
            .await,
        1
    );
}

async fn accounts_filter_by_owner_name_prefix_and_domain(app: TestApp) {
    let admin = app.signup("filters").await;
    let rep = app.add_user(&admin, "rep").await;
    create_account(&app, &admin, json!({"name": "Acme GmbH", "domain": "acme.example"})).await;
    create_account(&app, &rep, json!({"name": "ACME corp", "domain": "acme.example"})).await;
    create_account(&app, &admin, json!({"name": "Acorn Ltd", "domain": "acorn.example"})).await;
    create_account(&app, &rep, json!({"name": "Ácaro SA"})).await;
    create_account(&app, &admin, json!({"name": "Beta_Labs"})).await;

    assert_eq!(names(&list(&app, &admin, "?q=acm").await), ["Acme GmbH", "ACME corp"]);
    assert_eq!(names(&list(&app, &admin, "?q=ACME%20C").await), ["ACME corp"]);
    assert_eq!(
        names(&list(&app, &admin, "?q=%20ac%20").await),
        ["Acme GmbH", "ACME corp", "Acorn Ltd"]
    );
    assert_eq!(names(&list(&app, &admin, "?q=%C3%A1c").await), ["Ácaro SA"]);
    assert_eq!(names(&list(&app, &admin, "?q=beta_").await), ["Beta_Labs"]);
    assert!(
        list(&app, &admin, "?q=gmbh").await.is_empty(),
        "a prefix, not a substring"
    );
    assert!(list(&app, &admin, "?q=a%25").await.is_empty(), "no wildcards");
    assert_eq!(list(&app, &admin, "?q=").await.len(), 5, "a blank q filters nothing");

    assert_eq!(
        names(&list(&app, &admin, "?domain=ACME.example").await),
        ["Acme GmbH", "ACME corp"]
    );
    assert_eq!(
        names(&list(&app, &admin, &format!("?owner_id={}", rep.user_id)).await),
        ["ACME corp", "Ácaro SA"]
    );
    assert_eq!(
        names(
            &list(
                &app,
                &admin,
                &format!("?owner_id={}&q=acm&domain=acme.example", rep.user_id)
            )
            .await
        ),
        ["ACME corp"]
    );
    assert_eq!(
        names(&list(&app, &rep, "?sort=-created_at&q=ac").await),
        ["Acorn Ltd", "ACME corp", "Acme GmbH"]
    );
    assert_eq!(
        names(&list(&app, &rep, "?sort=created_at&q=acm").await),
        ["Acme GmbH", "ACME corp"]
    );
}

async fn unknown_filters_and_sorts_are_refused(app: TestApp) {
    let admin = app.signup("refused").await;
    for query in [
        "?sort=name",
        "?sort=updated_at",
        "?color=red",
        "?owner=me",
        "?limit=0",
        "?limit=201",
        "?cursor=garbage",
        "?owner_id=not-a-uuid",
        &format!("?q={}", "a".repeat(201)),
    ] {
        let response = app
            .get(&format!("/api/v1/accounts{query}"), &admin.access_token)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::BAD_REQUEST).await;
    }
    let account = create_account(&app, &admin, json!({"name": "Kept"})).await;
    let path = format!("/api/v1/accounts/{}", account["id"].as_str().unwrap());
    for query in ["?purge=yes", "?hard=true"] {
        let response = app
            .delete(&format!("{path}{query}"), &admin.access_token)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(
        app.scalar("select count(*) from accounts where deleted_at is null")
            .await,
        1
    );
}

async fn accounts_list_page_by_page_in_either_order(app: TestApp) {
    let admin = app.signup("pages").await;
    let mut created = Vec::new();
    for i in 0..5 {
        let account = create_account(&app, &admin, json!({"name": format!("Account {i}")})).await;
        created.push(uuid(&account["id"]));
    }
    for (sort, expected) in [
        ("created_at", created.clone()),
        ("-created_at", created.iter().rev().copied().collect()),
    ] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/accounts?limit=2&sort={sort}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = expect_status(
                app.get(&path, &admin.access_token).send().await.unwrap(),
                StatusCode::OK,
            )
            .await;
            let rows = page["data"].as_array().unwrap();
            assert!(rows.len() <= 2);
            seen.extend(rows.iter().map(|r| uuid(&r["id"])));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, expected, "sort={sort}");
    }
    // Trashed accounts leave the walk.
    expect_status(
        app.delete(&format!("/api/v1/accounts/{}", created[1]), &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    let ids: Vec<_> = list(&app, &admin, "?limit=200")
        .await
        .iter()
        .map(|r| uuid(&r["id"]))
        .collect();
    assert_eq!(ids, [created[0], created[2], created[3], created[4]]);
}

async fn a_trashed_account_is_hidden_until_restored(app: TestApp) {
    let admin = app.signup("trash").await;
    let account = create_account(&app, &admin, json!({"name": "Trashy", "domain": "trashy.example"})).await;
    let path = format!("/api/v1/accounts/{}", account["id"].as_str().unwrap());
    expect_status(
        app.delete(&path, &admin.access_token).send().await.unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(
        app.scalar("select count(*) from accounts where deleted_at is not null and name = 'Trashy'")
            .await,
        1
    );
    expect_problem(
        app.get(&path, &admin.access_token).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.patch(&path, &admin.access_token, &json!({"name": "Back"}))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.delete(&path, &admin.access_token).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(list(&app, &admin, "").await.is_empty());
    assert!(list(&app, &admin, "?q=tra").await.is_empty());

    let response = app
        .post(&format!("{path}/restore"), &admin.access_token, &json!({}))
        .send()
        .await
        .unwrap();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let restored = expect_status(response, StatusCode::OK).await;
    assert!(restored["deleted_at"].is_null());
    assert_eq!(restored["domain"], "trashy.example");
    assert_eq!(etag, format!("\"{}\"", restored["version"]));
    assert_eq!(restored["version"], 3);
    // Restoring what is not in the trash changes nothing.
    let again = expect_status(
        app.post(&format!("{path}/restore"), &admin.access_token, &json!({}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(again, restored);
    assert_eq!(list(&app, &admin, "").await, [restored]);
    assert_eq!(
        app.scalar("select count(*) from audit_log where action in ('account.deleted', 'account.restored')")
            .await,
        2
    );
}

async fn only_admins_purge_accounts_and_links_are_cleared(app: TestApp) {
    let admin = app.signup("purge").await;
    let manager = app.add_user(&admin, "manager").await;
    let account = create_account(&app, &admin, json!({"name": "Doomed"})).await;
    let id = account["id"].as_str().unwrap();
    let path = format!("/api/v1/accounts/{id}");
    let contact = expect_status(
        app.post(
            "/api/v1/contacts",
            &admin.access_token,
            &json!({"first_name": "Linked", "account_id": id}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let pipelines = expect_status(
        app.get("/api/v1/pipelines", &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let deal = expect_status(
        app.post(
            "/api/v1/deals",
            &admin.access_token,
            &json!({
                "title": "Doomed deal",
                "amount": "100.00",
                "pipeline_id": pipelines["data"][0]["id"],
                "account_id": id,
            }),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(deal["account_id"], id);

    expect_problem(
        app.delete(&format!("{path}?purge=true"), &manager.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    // purge=false is an ordinary trash; an admin purges from the trash too.
    expect_status(
        app.delete(&format!("{path}?purge=false"), &manager.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_status(
        app.delete(&format!("{path}?purge=true"), &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(app.scalar("select count(*) from accounts").await, 0);
    assert_eq!(
        app.scalar("select count(*) from contacts where account_id is not null")
            .await,
        0
    );
    assert_eq!(
        app.scalar("select count(*) from deals where account_id is not null")
            .await,
        0
    );
    assert_eq!(
        app.scalar("select count(*) from audit_log where action = 'account.purged' and target_id is not null")
            .await,
        1
    );
    let contact = expect_status(
        app.get(
            &format!("/api/v1/contacts/{}", contact["id"].as_str().unwrap()),
            &admin.access_token,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(contact["account_id"].is_null());
    assert_eq!(contact["version"], 2);
    let deal = expect_status(
        app.get(
            &format!("/api/v1/deals/{}", deal["id"].as_str().unwrap()),
            &admin.access_token,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(deal["account_id"].is_null());

    for response in [
        app.get(&path, &admin.access_token).send().await.unwrap(),
        app.post(&format!("{path}/restore"), &admin.access_token, &json!({}))
            .send()
            .await
            .unwrap(),
        app.delete(&format!("{path}?purge=true"), &admin.access_token)
            .send()
            .await
            .unwrap(),
    ] {
        expect_problem(response, StatusCode::NOT_FOUND).await;
    }
}

async fn twenty_parallel_patches_without_if_match_all_apply(app: TestApp) {
    // Arrange
    let admin = app.signup("parallel-account-patches").await;
    let account = create_account(&app, &admin, json!({"name": "Busy Ltd"})).await;
    let path = format!("/api/v1/accounts/{}", account["id"].as_str().unwrap());

    // Act
    let requests = (0..20)
        .map(|i| {
            app.patch(
                &path,
                &admin.access_token,
                &json!({"industry": format!("Industry {i}")}),
            )
        })
        .collect();
    let statuses = statuses_in_parallel(requests).await;

    // Assert: each write applies after the one before it; none is refused.
    assert_eq!(statuses, vec![StatusCode::OK; 20]);
    let stored = expect_status(
        app.get(&path, &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(stored["version"], 21);
}

async fn a_delete_without_if_match_racing_patches_always_applies(app: TestApp) {
    // Arrange
    let admin = app.signup("parallel-account-delete").await;
    let account = create_account(&app, &admin, json!({"name": "Doomed Ltd"})).await;
    let path = format!("/api/v1/accounts/{}", account["id"].as_str().unwrap());
    let patches = (0..15).map(|i| {
        app.patch(
            &path,
            &admin.access_token,
            &json!({"industry": format!("Industry {i}")}),
        )
    });

    // Act: the delete is sent in the middle of 15 PATCHes, all at once.
    let (patches, delete) = tokio::join!(
        statuses_in_parallel(patches.collect()),
        app.delete(&path, &admin.access_token).send()
    );

    // Assert: the delete applies; a PATCH that comes after it finds no account.
    assert_eq!(delete.unwrap().status(), StatusCode::NO_CONTENT);
    assert!(
        patches
            .iter()
            .all(|s| [StatusCode::OK, StatusCode::NOT_FOUND].contains(s)),
        "{patches:?}"
    );
    let trashed = app
        .scalar("select count(*) from accounts where deleted_at is not null")
        .await;
    assert_eq!(trashed, 1);
}
