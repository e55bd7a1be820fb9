use std::collections::HashSet;

use pipewise_tests::{
    expect_problem, expect_status, invalid_fields, on_both_backends, statuses_in_parallel, uuid, Session, TestApp,
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::accounts::create_account;

on_both_backends!(
    contacts_are_created_read_changed_and_listed,
    invalid_contact_fields_are_named,
    a_duplicate_email_is_a_conflict_naming_the_existing_contact,
    a_stale_if_match_changes_no_contact,
    reps_read_every_contact_but_change_only_their_own,
    another_organizations_contacts_are_not_found,
    contacts_filter_by_account_role_owner_and_q,
    unknown_contact_filters_and_sorts_are_refused,
    contacts_list_page_by_page_in_either_order,
    a_trashed_contact_is_hidden_until_restored,
    purging_a_contact_erases_it_but_keeps_deal_history,
    twenty_parallel_patches_without_if_match_all_apply,
);

pub async fn create_contact(app: &TestApp, session: &Session, body: Value) -> Value {
    let response = app
        .post("/api/v1/contacts", &session.access_token, &body)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::CREATED).await
}

async fn list(app: &TestApp, session: &Session, query: &str) -> Vec<Value> {
    let response = app
        .get(&format!("/api/v1/contacts{query}"), &session.access_token)
        .send()
        .await
        .unwrap();
    let page = expect_status(response, StatusCode::OK).await;
    page["data"].as_array().unwrap().clone()
}

/// Each listed contact as its first name, else its email.
fn labels(rows: &[Value]) -> Vec<&str> {
    rows.iter()
        .map(|r| r["first_name"].as_str().or(r["email"].as_str()).unwrap())
        .collect()
}

fn path(contact: &Value) -> String {
    format!("/api/v1/contacts/{}", contact["id"].as_str().unwrap())
}

async fn contacts_are_created_read_changed_and_listed(app: TestApp) {
    let admin = app.signup("contact").await;
    let account = create_account(&app, &admin, json!({"name": "Analytical Engines"})).await;
    let response = app
        .post(
            "/api/v1/contacts",
            &admin.access_token,
            &json!({
                "first_name": " Ada ",
                "last_name": "Lovelace",
                "email": " Ada@Engines.Example ",
                "phone": "+44 20 7946 0000",
                "title": "Analyst",
                "account_id": account["id"],
                "buying_role": "champion",
            }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "\"1\"");
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let contact = expect_status(response, StatusCode::CREATED).await;
    assert_eq!(location, path(&contact));
    assert_eq!(contact["first_name"], "Ada");
    assert_eq!(contact["last_name"], "Lovelace");
    assert_eq!(contact["email"], "ada@engines.example");
    assert_eq!(contact["phone"], "+44 20 7946 0000");
    assert_eq!(contact["title"], "Analyst");
    assert_eq!(contact["account_id"], account["id"]);
    assert_eq!(contact["buying_role"], "champion");
    assert_eq!(uuid(&contact["owner_id"]), admin.user_id);
    assert_eq!(contact["version"], 1);
    assert!(contact["deleted_at"].is_null());
    assert!(contact.get("erased_at").is_none());
    assert_eq!(
        app.scalar(
            "select count(*) from contacts
             where name_key = 'ada lovelace' and email = 'ada@engines.example' and buying_role = 'champion'
               and account_id is not null and erased_at is null and deleted_at is null"
        )
        .await,
        1
    );
    let fetched = expect_status(
        app.get(&location, &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(fetched, contact);

    let response = app
        .patch(
            &location,
            &admin.access_token,
            &json!({"last_name": "King", "title": null, "account_id": null, "buying_role": "decision_maker"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "\"2\"");
    let changed = expect_status(response, StatusCode::OK).await;
    assert_eq!(changed["first_name"], "Ada");
    assert_eq!(changed["last_name"], "King");
    assert!(changed["title"].is_null());
    assert!(changed["account_id"].is_null());
    assert_eq!(changed["buying_role"], "decision_maker");
    assert_eq!(changed["email"], "ada@engines.example");
    assert_eq!(
        app.scalar(
            "select count(*) from contacts
             where name_key = 'ada king' and title is null and account_id is null and version = 2"
        )
        .await,
        1
    );
    // A contact with a last name only, or an email only, is a contact too.
    create_contact(&app, &admin, json!({"last_name": "Babbage"})).await;
    create_contact(&app, &admin, json!({"email": "someone@engines.example"})).await;
    let rows = list(&app, &admin, "").await;
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0], changed);
    assert_eq!(
        app.scalar("select count(*) from contacts where name_key = 'babbage'")
            .await,
        1
    );
}

async fn invalid_contact_fields_are_named(app: TestApp) {
    let admin = app.signup("invalid").await;
    let other = app.signup("other").await;
    let gone = app.add_user(&admin, "rep").await;
    expect_status(
        app.delete(&format!("/api/v1/users/{}", gone.user_id), &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    let trashed = create_account(&app, &admin, json!({"name": "Trashed"})).await;
    expect_status(
        app.delete(
            &format!("/api/v1/accounts/{}", trashed["id"].as_str().unwrap()),
            &admin.access_token,
        )
        .send()
        .await
        .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    let foreign = create_account(&app, &other, json!({"name": "Foreign"})).await;

    let cases = [
        (json!({"first_name": "A", "email": "not-an-email"}), vec!["email"]),
        (json!({"first_name": "x".repeat(101)}), vec!["first_name"]),
        (
            json!({"first_name": "A", "last_name": "x".repeat(101)}),
            vec!["last_name"],
        ),
        (json!({"first_name": "A", "phone": "1".repeat(51)}), vec!["phone"]),
        (json!({"first_name": "A", "title": "x".repeat(201)}), vec!["title"]),
        (json!({"first_name": "A", "buying_role": "boss"}), vec!["buying_role"]),
        (
            json!({"first_name": "A", "account_id": Uuid::now_v7()}),
            vec!["account_id"],
        ),
        (
            json!({"first_name": "A", "account_id": trashed["id"]}),
            vec!["account_id"],
        ),
        (
            json!({"first_name": "A", "account_id": foreign["id"]}),
            vec!["account_id"],
        ),
        (json!({"first_name": "A", "owner_id": gone.user_id}), vec!["owner_id"]),
        (json!({"first_name": "A", "owner_id": other.user_id}), vec!["owner_id"]),
        (json!({"first_name": "A", "erased_at": null}), vec!["erased_at"]),
        // Something to call the contact by: a first name, a last name or an email.
        (json!({}), vec!["email", "first_name", "last_name"]),
        (
            json!({"first_name": "  ", "last_name": "", "email": " ", "phone": "123"}),
            vec!["email", "first_name", "last_name"],
        ),
    ];
    for (body, fields) in cases {
        let response = app
            .post("/api/v1/contacts", &admin.access_token, &body)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        let mut got = invalid_fields(&problem);
        got.sort();
        assert_eq!(got, fields, "{body}");
    }
    let contact = create_contact(
        &app,
        &admin,
        json!({"email": "only@example.com", "first_name": "x".repeat(100), "phone": "1".repeat(50), "title": "t".repeat(200)}),
    )
    .await;
    for (body, fields) in [
        (
            json!({"email": null, "first_name": null}),
            vec!["email", "first_name", "last_name"],
        ),
        (json!({"email": "nope"}), vec!["email"]),
        (json!({"account_id": trashed["id"]}), vec!["account_id"]),
        (json!({"owner_id": gone.user_id}), vec!["owner_id"]),
        (json!({"buying_role": "chief"}), vec!["buying_role"]),
        (json!({"version": 5}), vec!["version"]),
        (json!({"id": Uuid::now_v7()}), vec!["id"]),
    ] {
        let response = app
            .patch(&path(&contact), &admin.access_token, &body)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        let mut got = invalid_fields(&problem);
        got.sort();
        assert_eq!(got, fields, "{body}");
    }
    assert_eq!(app.scalar("select count(*) from contacts").await, 1);
    assert_eq!(app.scalar("select count(*) from contacts where version = 1").await, 1);
}

async fn a_duplicate_email_is_a_conflict_naming_the_existing_contact(app: TestApp) {
    let admin = app.signup("dupe").await;
    let other = app.signup("other").await;
    let first = create_contact(&app, &admin, json!({"first_name": "Ada", "email": "ada@example.com"})).await;
    let response = app
        .post(
            "/api/v1/contacts",
            &admin.access_token,
            &json!({"first_name": "Again", "email": "  ADA@Example.com"}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(problem["existing_id"], first["id"]);
    assert_eq!(problem["type"], "https://pipewise.dev/problems/duplicate");
    assert_eq!(app.scalar("select count(*) from contacts").await, 1);

    let second = create_contact(
        &app,
        &admin,
        json!({"first_name": "Grace", "email": "grace@example.com"}),
    )
    .await;
    let response = app
        .patch(
            &path(&second),
            &admin.access_token,
            &json!({"email": "Ada@example.com"}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(problem["existing_id"], first["id"]);
    // Setting a contact's own email again is no conflict.
    let response = app
        .patch(&path(&first), &admin.access_token, &json!({"email": "ADA@example.com"}))
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;

    // A trashed contact keeps its email: the 409 names it, to restore it.
    expect_status(
        app.delete(&path(&first), &admin.access_token).send().await.unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    let response = app
        .post(
            "/api/v1/contacts",
            &admin.access_token,
            &json!({"email": "ada@example.com"}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(problem["existing_id"], first["id"]);

    // Another organization may have the same address.
    create_contact(&app, &other, json!({"email": "ada@example.com"})).await;
    // Purging frees the address.
    expect_status(
        app.delete(&format!("{}?purge=true", path(&first)), &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    create_contact(&app, &admin, json!({"email": "ada@example.com"})).await;
    assert_eq!(
        app.scalar("select count(*) from contacts where email = 'ada@example.com'")
            .await,
        2
    );
}

async fn a_stale_if_match_changes_no_contact(app: TestApp) {
    let admin = app.signup("etag").await;
    let contact = create_contact(&app, &admin, json!({"first_name": "Ada"})).await;
    let path = path(&contact);
    let first = app
        .patch(&path, &admin.access_token, &json!({"title": "CEO"}))
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    expect_status(first, StatusCode::OK).await;
    let stale = app
        .patch(&path, &admin.access_token, &json!({"title": "CFO"}))
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
    let malformed = app
        .patch(&path, &admin.access_token, &json!({"title": "CFO"}))
        .header("if-match", "W/\"2\"")
        .send()
        .await
        .unwrap();
    expect_problem(malformed, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        app.scalar("select count(*) from contacts where title = 'CEO' and version = 2 and deleted_at is null")
            .await,
        1
    );
    let current = app
        .patch(&path, &admin.access_token, &json!({"title": "CFO"}))
        .header("if-match", "\"2\"")
        .send()
        .await
        .unwrap();
    expect_status(current, StatusCode::OK).await;
}

async fn reps_read_every_contact_but_change_only_their_own(app: TestApp) {
    let admin = app.signup("reps").await;
    let rep = app.add_user(&admin, "rep").await;
    let manager = app.add_user(&admin, "manager").await;
    let theirs = create_contact(&app, &admin, json!({"first_name": "Admin's"})).await;

    expect_status(
        app.get(&path(&theirs), &rep.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(labels(&list(&app, &rep, "").await), ["Admin's"]);
    let response = app
        .patch(&path(&theirs), &rep.access_token, &json!({"title": "Mine"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
    expect_problem(
        app.delete(&path(&theirs), &rep.access_token).send().await.unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    let response = app
        .post(
            "/api/v1/contacts",
            &rep.access_token,
            &json!({"first_name": "For the manager", "owner_id": manager.user_id}),
        )
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;

    let own = create_contact(&app, &rep, json!({"first_name": "Rep's", "owner_id": rep.user_id})).await;
    assert_eq!(uuid(&own["owner_id"]), rep.user_id);
    let response = app
        .patch(&path(&own), &rep.access_token, &json!({"title": "Buyer"}))
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::OK).await;
    let response = app
        .patch(&path(&own), &rep.access_token, &json!({"owner_id": admin.user_id}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
    // A manager changes anyone's contacts, and may reassign them.
    let response = app
        .patch(
            &path(&own),
            &manager.access_token,
            &json!({"owner_id": manager.user_id}),
        )
        .send()
        .await
        .unwrap();
    let reassigned = expect_status(response, StatusCode::OK).await;
    assert_eq!(uuid(&reassigned["owner_id"]), manager.user_id);
    let response = app
        .patch(&path(&own), &rep.access_token, &json!({"title": "Still mine?"}))
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::FORBIDDEN).await;
    expect_problem(
        app.delete(&format!("{}?purge=true", path(&own)), &manager.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert_eq!(
        app.scalar("select count(*) from contacts where title = 'Buyer' and version = 3 and deleted_at is null")
            .await,
        1
    );
}

async fn another_organizations_contacts_are_not_found(app: TestApp) {
    let a = app.signup("alpha").await;
    let b = app.signup("beta").await;
    let account = create_account(&app, &a, json!({"name": "Alpha Corp"})).await;
    let contact = create_contact(
        &app,
        &a,
        json!({"first_name": "Alice", "email": "alice@alpha.example", "account_id": account["id"]}),
    )
    .await;
    let absent = format!("/api/v1/contacts/{}", Uuid::now_v7());
    for path in [&path(&contact), &absent] {
        let problem = expect_problem(
            app.get(path, &b.access_token).send().await.unwrap(),
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(problem["detail"], "No such resource.");
        expect_problem(
            app.patch(path, &b.access_token, &json!({"first_name": "Eve"}))
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
    assert!(list(&app, &b, "").await.is_empty());
    assert!(list(&app, &b, "?q=alice").await.is_empty());
    assert!(
        list(&app, &b, &format!("?account_id={}", account["id"].as_str().unwrap()))
            .await
            .is_empty()
    );
    // B's contacts may use the same email; A's contact is untouched.
    create_contact(&app, &b, json!({"email": "alice@alpha.example"})).await;
    assert_eq!(
        app.scalar("select count(*) from contacts where first_name = 'Alice' and version = 1 and deleted_at is null")
            .await,
        1
    );
}

async fn contacts_filter_by_account_role_owner_and_q(app: TestApp) {
    let admin = app.signup("filters").await;
    let rep = app.add_user(&admin, "rep").await;
    let account = create_account(&app, &admin, json!({"name": "Engines"})).await;
    let other_account = create_account(&app, &admin, json!({"name": "Navy"})).await;
    create_contact(
        &app,
        &admin,
        json!({"first_name": "Ada", "last_name": "Lovelace", "email": "countess@engines.example",
               "account_id": account["id"], "buying_role": "champion"}),
    )
    .await;
    create_contact(
        &app,
        &rep,
        json!({"first_name": "Grace", "last_name": "Hopper", "email": "grace@navy.example",
               "account_id": other_account["id"], "buying_role": "decision_maker"}),
    )
    .await;
    create_contact(
        &app,
        &admin,
        json!({"first_name": "Alan", "last_name": "Turing", "email": "turing@bletchley.example",
               "account_id": account["id"], "buying_role": "decision_maker"}),
    )
    .await;
    create_contact(&app, &rep, json!({"first_name": "Adam"})).await;
    create_contact(&app, &admin, json!({"email": "x_y@example.com"})).await;
    create_contact(&app, &admin, json!({"email": "xay@example.com"})).await;

    // Words that begin words of the name or the email, case-insensitive.
    assert_eq!(labels(&list(&app, &admin, "?q=ad").await), ["Ada", "Adam"]);
    assert_eq!(labels(&list(&app, &admin, "?q=LOVE").await), ["Ada"]);
    assert_eq!(labels(&list(&app, &admin, "?q=ada%20lov").await), ["Ada"]);
    assert_eq!(labels(&list(&app, &admin, "?q=countess").await), ["Ada"]);
    assert_eq!(labels(&list(&app, &admin, "?q=Grace%40navy").await), ["Grace"]);
    assert_eq!(
        labels(&list(&app, &admin, "?q=turing").await),
        ["Alan"],
        "name and email match once"
    );
    assert_eq!(
        labels(&list(&app, &admin, "?q=x_").await),
        ["x_y@example.com", "xay@example.com"],
        "punctuation separates words; no wildcards"
    );
    assert_eq!(labels(&list(&app, &admin, "?q=x%20y").await), ["x_y@example.com"]);
    assert!(list(&app, &admin, "?q=%25").await.is_empty(), "no wildcards");
    assert!(
        list(&app, &admin, "?q=ovelace").await.is_empty(),
        "a prefix, not a substring"
    );
    assert_eq!(
        labels(&list(&app, &admin, "?q=lovelace%20ada").await),
        ["Ada"],
        "in any order"
    );

    let account_id = account["id"].as_str().unwrap();
    assert_eq!(
        labels(&list(&app, &admin, &format!("?account_id={account_id}")).await),
        ["Ada", "Alan"]
    );
    assert_eq!(
        labels(&list(&app, &admin, "?buying_role=decision_maker").await),
        ["Grace", "Alan"]
    );
    assert_eq!(
        labels(
            &list(
                &app,
                &admin,
                &format!("?buying_role=decision_maker&account_id={account_id}")
            )
            .await
        ),
        ["Alan"]
    );
    assert_eq!(
        labels(&list(&app, &admin, &format!("?owner_id={}", rep.user_id)).await),
        ["Grace", "Adam"]
    );
    assert_eq!(
        labels(&list(&app, &admin, &format!("?owner_id={}&q=a", rep.user_id)).await),
        ["Adam"]
    );
    assert_eq!(
        labels(&list(&app, &rep, "?sort=-created_at&q=a").await),
        ["Adam", "Alan", "Ada"]
    );
    assert!(list(&app, &admin, "?buying_role=influencer").await.is_empty());
}

async fn unknown_contact_filters_and_sorts_are_refused(app: TestApp) {
    let admin = app.signup("refused").await;
    for query in [
        "?sort=last_name",
        "?sort=-updated_at",
        "?buying_role=boss",
        "?domain=acme.example",
        "?email=ada@example.com",
        "?limit=0",
        "?cursor=nope",
        "?account_id=nope",
    ] {
        let response = app
            .get(&format!("/api/v1/contacts{query}"), &admin.access_token)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::BAD_REQUEST).await;
    }
    let contact = create_contact(&app, &admin, json!({"first_name": "Kept"})).await;
    let response = app
        .delete(&format!("{}?force=true", path(&contact)), &admin.access_token)
        .send()
        .await
        .unwrap();
    expect_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        app.scalar("select count(*) from contacts where deleted_at is null")
            .await,
        1
    );
}

async fn contacts_list_page_by_page_in_either_order(app: TestApp) {
    let admin = app.signup("pages").await;
    let mut created = Vec::new();
    for i in 0..5 {
        let contact = create_contact(&app, &admin, json!({"first_name": format!("Person {i}")})).await;
        created.push(uuid(&contact["id"]));
    }
    for (sort, expected) in [
        ("created_at", created.clone()),
        ("-created_at", created.iter().rev().copied().collect()),
    ] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/api/v1/contacts?q=person&limit=2&sort={sort}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page = expect_status(
                app.get(&path, &admin.access_token).send().await.unwrap(),
                StatusCode::OK,
            )
            .await;
            pages += 1;
            seen.extend(page["data"].as_array().unwrap().iter().map(|r| uuid(&r["id"])));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, expected, "sort={sort}");
    }
    let all: HashSet<_> = list(&app, &admin, "?limit=5")
        .await
        .iter()
        .map(|r| uuid(&r["id"]))
        .collect();
    assert_eq!(all, created.into_iter().collect());
}

async fn a_trashed_contact_is_hidden_until_restored(app: TestApp) {
    let admin = app.signup("trash").await;
    let contact = create_contact(&app, &admin, json!({"first_name": "Tim", "email": "tim@example.com"})).await;
    let path = path(&contact);
    expect_status(
        app.delete(&path, &admin.access_token).send().await.unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(
        app.scalar("select count(*) from contacts where deleted_at is not null and email = 'tim@example.com'")
            .await,
        1
    );
    expect_problem(
        app.get(&path, &admin.access_token).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.patch(&path, &admin.access_token, &json!({"title": "Back"}))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(list(&app, &admin, "").await.is_empty());
    assert!(list(&app, &admin, "?q=tim").await.is_empty());

    let response = app
        .post(&format!("{path}/restore"), &admin.access_token, &json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "\"3\"");
    let restored = expect_status(response, StatusCode::OK).await;
    assert!(restored["deleted_at"].is_null());
    assert_eq!(restored["email"], "tim@example.com");
    assert_eq!(labels(&list(&app, &admin, "?q=tim").await), ["Tim"]);
    expect_status(
        app.get(&path, &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
}

async fn purging_a_contact_erases_it_but_keeps_deal_history(app: TestApp) {
    let admin = app.signup("purge").await;
    let manager = app.add_user(&admin, "manager").await;
    let account = create_account(&app, &admin, json!({"name": "Keeps"})).await;
    let contact = create_contact(
        &app,
        &admin,
        json!({"first_name": "Erin", "last_name": "Erased", "email": "erin@example.com", "phone": "555",
               "title": "CTO", "account_id": account["id"], "buying_role": "decision_maker"}),
    )
    .await;
    let kept = create_contact(&app, &admin, json!({"first_name": "Kim", "email": "kim@example.com"})).await;
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
                "title": "With Erin",
                "amount": "100.00",
                "pipeline_id": pipelines["data"][0]["id"],
                "contacts": [{"contact_id": contact["id"], "buying_role": "decision_maker"}],
            }),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let path = path(&contact);

    expect_problem(
        app.delete(&format!("{path}?purge=true"), &manager.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
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

    // The personal fields are gone from the database, the row stays.
    assert_eq!(
        app.scalar(
            "select count(*) from contacts where email = 'erin@example.com' or first_name = 'Erin'
                or last_name = 'Erased' or phone = '555' or title = 'CTO' or name_key like '%erin%'"
        )
        .await,
        0
    );
    assert_eq!(
        app.scalar(
            "select count(*) from contacts
             where first_name is null and last_name is null and email is null and phone is null and title is null
               and name_key = '' and erased_at is not null and deleted_at is not null
               and buying_role = 'decision_maker' and account_id is not null"
        )
        .await,
        1
    );
    assert_eq!(app.scalar("select count(*) from deal_contacts").await, 1);
    assert_eq!(
        app.scalar("select count(*) from audit_log where action = 'contact.purged' and target_id is not null")
            .await,
        1
    );
    assert_eq!(
        app.scalar("select count(*) from contacts where email = 'kim@example.com'")
            .await,
        1
    );

    // Gone for good: not found, not listed, not restorable, not purged twice.
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
        app.delete(&path, &admin.access_token).send().await.unwrap(),
    ] {
        expect_problem(response, StatusCode::NOT_FOUND).await;
    }
    assert_eq!(labels(&list(&app, &admin, "").await), ["Kim"]);
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
    assert_eq!(deal["contacts"][0]["contact_id"], contact["id"]);

    // A contact in the trash is purged just the same.
    let kept_path = format!("/api/v1/contacts/{}", kept["id"].as_str().unwrap());
    expect_status(
        app.delete(&kept_path, &admin.access_token).send().await.unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_status(
        app.delete(&format!("{kept_path}?purge=true"), &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(
        app.scalar("select count(*) from contacts where erased_at is not null")
            .await,
        2
    );
}

async fn twenty_parallel_patches_without_if_match_all_apply(app: TestApp) {
    // Arrange
    let admin = app.signup("parallel-contact-patches").await;
    let contact = create_contact(&app, &admin, json!({"first_name": "Busy"})).await;
    let path = format!("/api/v1/contacts/{}", contact["id"].as_str().unwrap());

    // Act
    let requests = (0..20)
        .map(|i| app.patch(&path, &admin.access_token, &json!({"title": format!("Title {i}")})))
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
