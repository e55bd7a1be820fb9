//! Search: every kind of record by any word's prefix, ranked, paged,
//! within the organization and what the caller may read; kept up to date by
//! every write.

use pipewise_tests::{expect_problem, expect_status, on_both_backends, Session, TestApp};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{leads::create_lead, pipelines::sales_pipeline};

on_both_backends!(
    search_finds_every_kind_by_any_words_prefix_best_first,
    search_pages_through_every_hit_once,
    a_word_thousands_of_records_share_pages_in_the_same_order,
    search_sees_only_the_organization_and_what_the_caller_may_read,
    search_follows_renames_trash_and_erasure,
    bad_searches_are_400,
    the_lead_and_contact_list_q_filters_use_the_search_words,
);

async fn created(app: &TestApp, session: &Session, path: &str, body: Value) -> Value {
    expect_status(
        app.post(path, &session.access_token, &body).send().await.unwrap(),
        StatusCode::CREATED,
    )
    .await
}

async fn search(app: &TestApp, token: &str, query: &str) -> Value {
    expect_status(
        app.get(&format!("/api/v1/search?{query}"), token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await
}

/// The (type, title, rank) of each hit.
fn hits(results: &Value) -> Vec<(String, String, i64)> {
    results["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["type"].as_str().unwrap().to_owned(),
                h["title"].as_str().unwrap().to_owned(),
                h["rank"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Every page of a search, following `next_cursor`.
async fn every_page(app: &TestApp, session: &Session, query: &str) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut next = query.to_owned();
    loop {
        let page = search(app, &session.access_token, &next).await;
        let cursor = page["next_cursor"].as_str().map(str::to_owned);
        pages.push(page);
        match cursor {
            Some(cursor) => next = format!("{query}&cursor={cursor}"),
            None => return pages,
        }
    }
}

fn hit(kind: &str, title: &str, rank: i64) -> (String, String, i64) {
    (kind.to_owned(), title.to_owned(), rank)
}

/// A lead, a contact, an account and a deal that share words.
async fn records(app: &TestApp, admin: &Session) -> Value {
    let lead = create_lead(
        app,
        admin,
        json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.example", "company_name": "Acme Ltd",
               "title": "Head of Engineering", "phone": "+44 (20) 7946-0000"}),
    )
    .await;
    created(
        app,
        admin,
        "/api/v1/contacts",
        json!({"first_name": "Ada", "last_name": "King", "email": "ada.king@byron.example"}),
    )
    .await;
    created(
        app,
        admin,
        "/api/v1/accounts",
        json!({"name": "Acme GmbH", "domain": "acme.example"}),
    )
    .await;
    let pipeline = sales_pipeline(app, admin).await;
    created(
        app,
        admin,
        "/api/v1/deals",
        json!({"title": "Acme renewal", "amount": "1000.00", "pipeline_id": pipeline["id"]}),
    )
    .await;
    create_lead(
        app,
        admin,
        json!({"first_name": "Grace", "last_name": "Hopper", "company_name": "Navy"}),
    )
    .await;
    lead
}

async fn search_finds_every_kind_by_any_words_prefix_best_first(app: TestApp) {
    let admin = app.signup("search").await;
    let token = &admin.access_token;
    records(&app, &admin).await;

    assert_eq!(
        hits(&search(&app, token, "q=ada").await),
        vec![hit("lead", "Ada Lovelace", 2), hit("contact", "Ada King", 2)]
    );
    assert_eq!(
        hits(&search(&app, token, "q=ACME").await),
        vec![
            hit("lead", "Ada Lovelace", 2),
            hit("account", "Acme GmbH", 2),
            hit("deal", "Acme renewal", 2)
        ],
        "the lead's company begins with it"
    );
    assert_eq!(
        hits(&search(&app, token, "q=ada%20lovelace").await),
        vec![hit("lead", "Ada Lovelace", 3)]
    );
    assert_eq!(
        hits(&search(&app, token, "q=lov%20ad").await),
        vec![hit("lead", "Ada Lovelace", 1)]
    );
    // Phone groups and digits, the title, the email's parts, the domain.
    for (q, found) in [
        ("7946", 1),
        ("442079", 1),
        ("%2B44%2020", 1),
        ("engin", 1),
        ("ada%40acme", 1),
        ("byron", 1),
        ("acme.ex", 2),
    ] {
        let results = search(&app, token, &format!("q={q}")).await;
        assert_eq!(results["data"].as_array().unwrap().len(), found, "{q}: {results}");
    }
    let lead = &search(&app, token, "q=7946").await["data"][0];
    assert_eq!(lead["type"], "lead");
    assert_eq!(lead["subtitle"], "Acme Ltd");
    assert!(lead["owner_id"].is_string());
    assert!(
        hits(&search(&app, token, "q=velace").await).is_empty(),
        "a prefix, not a substring"
    );
    assert_eq!(
        hits(&search(&app, token, "q=acme&types=accounts,deals").await),
        vec![hit("account", "Acme GmbH", 2), hit("deal", "Acme renewal", 2)]
    );
}

async fn search_pages_through_every_hit_once(app: TestApp) {
    let admin = app.signup("search-pages").await;
    for i in 0..7 {
        create_lead(
            &app,
            &admin,
            json!({"first_name": "Page", "last_name": format!("Lead {i}")}),
        )
        .await;
    }
    create_lead(&app, &admin, json!({"first_name": "Page"})).await;
    created(
        &app,
        &admin,
        "/api/v1/contacts",
        json!({"first_name": "Page", "last_name": "Contact"}),
    )
    .await;
    // Matches of rank 1: another word of the record begins with the query.
    created(
        &app,
        &admin,
        "/api/v1/contacts",
        json!({"first_name": "Zed", "title": "Page designer"}),
    )
    .await;
    created(&app, &admin, "/api/v1/accounts", json!({"name": "Zeta Page"})).await;
    let seen: Vec<_> = every_page(&app, &admin, "q=page&limit=3")
        .await
        .iter()
        .flat_map(hits)
        .collect();
    assert_eq!(seen.len(), 11);
    assert_eq!(seen[0], hit("lead", "Page", 3), "the whole name first");
    assert!(seen[1..8].iter().all(|h| h.0 == "lead" && h.2 == 2));
    assert_eq!(seen[8], hit("contact", "Page Contact", 2));
    assert_eq!(seen[9], hit("contact", "Zed", 1));
    assert_eq!(seen[10], hit("account", "Zeta Page", 1));
    let mut titles: Vec<&str> = seen.iter().map(|h| h.1.as_str()).collect();
    titles.sort();
    titles.dedup();
    assert_eq!(titles.len(), 11, "each once");
}

/// Past 2,000 hits of a kind and rank, search walks the records newest
/// first instead of ranking every hit (names on both backends, other words
/// on PostgreSQL): the pages are the same.
async fn a_word_thousands_of_records_share_pages_in_the_same_order(app: TestApp) {
    let admin = app.signup("search-dense").await;
    let mut csv = String::from("first_name,last_name,title\n");
    for i in 0..2_010 {
        csv.push_str(&format!("Shared,Lead {i},\n"));
    }
    for i in 0..2_050 {
        csv.push_str(&format!("Lead,Number {i},Shared desk\n"));
    }
    csv.push_str("Shared,,\n");
    let report = crate::imports::imported(&app, &admin.access_token, "resource=leads", csv).await;
    assert_eq!(report["created"], 4_061);
    created(
        &app,
        &admin,
        "/api/v1/contacts",
        json!({"first_name": "Zed", "title": "Shared desk"}),
    )
    .await;
    created(
        &app,
        &admin,
        "/api/v1/contacts",
        json!({"first_name": "Shared", "last_name": "Person"}),
    )
    .await;

    let mut seen: Vec<(String, String, i64, String)> = Vec::new();
    for page in every_page(&app, &admin, "q=shared&limit=200").await {
        for h in page["data"].as_array().unwrap() {
            let id = h["id"].as_str().unwrap().to_owned();
            let (kind, title, rank) = hits(&json!({"data": [h]})).remove(0);
            seen.push((kind, title, rank, id));
        }
    }
    assert_eq!(seen.len(), 4_063);
    assert_eq!((seen[0].1.as_str(), seen[0].2), ("Shared", 3));
    let kinds_and_ranks: Vec<(&str, i64)> = seen.iter().map(|h| (h.0.as_str(), h.2)).collect();
    assert!(kinds_and_ranks[1..2_011].iter().all(|h| *h == ("lead", 2)));
    assert_eq!(kinds_and_ranks[2_011], ("contact", 2));
    assert!(kinds_and_ranks[2_012..4_062].iter().all(|h| *h == ("lead", 1)));
    assert_eq!(kinds_and_ranks[4_062], ("contact", 1), "leads before contacts");
    // Within a rank and kind, newest first (ids are time-ordered), each once.
    for run in [&seen[1..2_011], &seen[2_012..4_062]] {
        let ids: Vec<&str> = run.iter().map(|h| h.3.as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        sorted.dedup();
        assert_eq!(ids, sorted, "newest first, each once");
    }
    // A later word narrows the shared one: ranked, not walked.
    let narrow = search(&app, &admin.access_token, "q=shared%20number%20204").await;
    assert_eq!(narrow["data"].as_array().unwrap().len(), 11, "204 and 2040…2049");
    let narrow = hits(&search(&app, &admin.access_token, "q=shared%20lead%20200&limit=50").await);
    assert_eq!(narrow[0], hit("lead", "Shared Lead 200", 3));
    let ranks: Vec<i64> = narrow.iter().map(|h| h.2).collect();
    // Shared Lead 2000…2009, then Lead Number 200 and 2000…2009 (a shared desk).
    assert_eq!(ranks, [vec![3], vec![2; 10], vec![1; 11]].concat());
}

async fn search_sees_only_the_organization_and_what_the_caller_may_read(app: TestApp) {
    let admin = app.signup("search-scope").await;
    records(&app, &admin).await;
    let rep = app.add_user(&admin, "rep").await;
    create_lead(&app, &rep, json!({"first_name": "Ada", "last_name": "Repslead"})).await;
    let pipeline = sales_pipeline(&app, &admin).await;
    created(
        &app,
        &rep,
        "/api/v1/deals",
        json!({"title": "Acme upsell", "amount": "10.00", "pipeline_id": pipeline["id"]}),
    )
    .await;

    // A rep: their own leads and deals, every contact and account.
    assert_eq!(
        hits(&search(&app, &rep.access_token, "q=ada").await),
        vec![hit("lead", "Ada Repslead", 2), hit("contact", "Ada King", 2)]
    );
    assert_eq!(
        hits(&search(&app, &rep.access_token, "q=acme").await),
        vec![hit("account", "Acme GmbH", 2), hit("deal", "Acme upsell", 2)]
    );
    // A manager and an API key: everything.
    let manager = app.add_user(&admin, "manager").await;
    assert_eq!(
        search(&app, &manager.access_token, "q=ada").await["data"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let (_, key) = app.api_key(&admin, &["read"]).await;
    let by_key = app
        .request(reqwest::Method::GET, "/api/v1/search?q=acme")
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_status(by_key, StatusCode::OK).await["data"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    // Another organization: nothing of these.
    let stranger = app.signup("search-stranger").await;
    assert!(hits(&search(&app, &stranger.access_token, "q=ada").await).is_empty());
    assert!(hits(&search(&app, &stranger.access_token, "q=acme").await).is_empty());
}

async fn search_follows_renames_trash_and_erasure(app: TestApp) {
    let admin = app.signup("search-writes").await;
    let token = &admin.access_token;
    let lead = records(&app, &admin).await;
    let path = format!("/api/v1/leads/{}", lead["id"].as_str().unwrap());
    expect_status(
        app.patch(&path, token, &json!({"last_name": "Byron", "company_name": null}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(hits(&search(&app, token, "q=lovelace").await).is_empty());
    assert_eq!(
        hits(&search(&app, token, "q=byron").await).len(),
        2,
        "the lead and Ada King's email"
    );
    expect_status(app.delete(&path, token).send().await.unwrap(), StatusCode::NO_CONTENT).await;
    assert_eq!(
        hits(&search(&app, token, "q=byron").await),
        vec![hit("contact", "Ada King", 1)]
    );
    expect_status(
        app.post(&format!("{path}/restore"), token, &json!({}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(hits(&search(&app, token, "q=byron").await).len(), 2, "restored");
    expect_status(
        app.delete(&format!("{path}?purge=true"), token).send().await.unwrap(),
        StatusCode::NO_CONTENT,
    )
    .await;
    assert_eq!(
        hits(&search(&app, token, "q=byron").await),
        vec![hit("contact", "Ada King", 1)],
        "an erased lead's words are gone"
    );
}

async fn bad_searches_are_400(app: TestApp) {
    let admin = app.signup("search-bad").await;
    let token = &admin.access_token;
    for query in [
        "",
        "q=a",
        "q=--",
        "q=ada&types=people",
        "q=ada&limit=0",
        "q=ada&cursor=nonsense",
        "q=ada&sort=name",
    ] {
        let response = app.get(&format!("/api/v1/search?{query}"), token).send().await.unwrap();
        expect_problem(response, StatusCode::BAD_REQUEST).await;
    }
    let long = format!("q={}", "a".repeat(201));
    expect_problem(
        app.get(&format!("/api/v1/search?{long}"), token).send().await.unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    let unauthenticated = app
        .request(reqwest::Method::GET, "/api/v1/search?q=ada")
        .send()
        .await
        .unwrap();
    expect_problem(unauthenticated, StatusCode::UNAUTHORIZED).await;
}

async fn the_lead_and_contact_list_q_filters_use_the_search_words(app: TestApp) {
    let admin = app.signup("search-lists").await;
    let token = &admin.access_token;
    records(&app, &admin).await;
    let names = |list: Value| -> Vec<String> {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["last_name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let app = &app;
    let list =
        |path: String| async move { expect_status(app.get(&path, token).send().await.unwrap(), StatusCode::OK).await };
    assert_eq!(names(list("/api/v1/leads?q=lov%20ada".into()).await), ["Lovelace"]);
    assert_eq!(names(list("/api/v1/leads?q=7946".into()).await), ["Lovelace"]);
    assert_eq!(names(list("/api/v1/leads?q=navy".into()).await), ["Hopper"]);
    assert_eq!(names(list("/api/v1/contacts?q=byron".into()).await), ["King"]);
    assert_eq!(names(list("/api/v1/contacts?q=king%20ada".into()).await), ["King"]);
    assert!(names(list("/api/v1/contacts?q=--".into()).await).is_empty());
}
