use pipewise_tests::{
    expect_problem, expect_status, invalid_fields, on_both_backends, statuses_in_parallel, Session, TestApp,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

on_both_backends!(
    a_lead_is_created_scored_and_read,
    invalid_lead_fields_are_named,
    a_duplicate_email_is_refused_unless_allowed,
    leads_are_listed_with_each_filter,
    leads_are_sorted_by_each_field_with_leads_without_activity_last,
    a_page_walk_sees_every_lead_once_while_leads_are_inserted,
    unknown_list_parameters_sorts_and_cursors_are_400,
    a_rep_lists_and_reaches_only_their_own_leads,
    a_lead_is_patched_and_its_version_bumps,
    a_stale_if_match_is_412,
    each_invalid_patch_field_is_named,
    qualified_at_is_set_once_and_never_moves,
    unqualifying_needs_a_reason,
    a_new_owner_is_notified_and_reps_cannot_give_leads_away,
    a_patched_email_keeps_the_duplicate_guard,
    leads_are_trashed_and_restored,
    a_purged_lead_is_erased_and_gone_everywhere,
    the_score_endpoint_explains_the_score,
    another_organizations_lead_is_404,
    a_patch_that_makes_rules_match_raises_the_score_and_makes_an_mql_once,
    the_mql_threshold_is_the_organizations,
    a_converted_lead_cannot_change,
    twenty_parallel_patches_without_if_match_all_apply,
    sixteen_parallel_creates_with_one_email_make_one_lead,
    a_lead_and_a_contact_created_at_once_with_one_email_leave_one_record,
    a_duplicate_names_the_existing_record_only_to_those_who_may_read_it,
);

/// Creates a lead and returns it; fails the test unless it is 201.
pub async fn create_lead(app: &TestApp, session: &Session, body: Value) -> Value {
    let response = app
        .post("/api/v1/leads", &session.access_token, &body)
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::CREATED).await
}

pub fn lead_path(lead: &Value) -> String {
    format!("/api/v1/leads/{}", lead["id"].as_str().unwrap())
}

async fn a_lead_is_created_scored_and_read(app: TestApp) {
    let admin = app.signup("lead").await;
    let lead = create_lead(
        &app,
        &admin,
        json!({"first_name": "Ada", "last_name": "Lovelace", "email": "Ada@Acme.example", "company_name": "Acme",
               "employee_count": 250, "country": "gb", "source": "referral", "estimated_value": "1200.50",
               "value_period": "month"}),
    )
    .await;
    assert_eq!(lead["email"], "ada@acme.example");
    assert_eq!(lead["country"], "GB");
    assert_eq!(lead["status"], "new");
    assert_eq!(lead["score"], 0);
    assert_eq!(lead["estimated_value"], "1200.50");
    assert_eq!(lead["currency"], "USD");
    assert_eq!(lead["owner_id"], admin.user_id.to_string());
    assert!(lead["mql_at"].is_null() && lead["qualified_at"].is_null());

    let response = app.get(&lead_path(&lead), &admin.access_token).send().await.unwrap();
    assert_eq!(response.headers()["etag"], "\"1\"");
    let read = expect_status(response, StatusCode::OK).await;
    assert_eq!(read, lead);
    assert_eq!(app.scalar("select count(*) from leads").await, 1);
}

async fn invalid_lead_fields_are_named(app: TestApp) {
    let admin = app.signup("lead-invalid").await;
    let response = app
        .post(
            "/api/v1/leads",
            &admin.access_token,
            &json!({"email": "nope", "country": "XX", "estimated_value": "-1", "employee_count": -3,
                    "status": "unqualified"}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let mut fields = invalid_fields(&problem);
    fields.sort();
    assert_eq!(
        fields,
        [
            "country",
            "email",
            "employee_count",
            "estimated_value",
            "unqualified_reason"
        ]
    );

    let response = app
        .post(
            "/api/v1/leads",
            &admin.access_token,
            &json!({"status": "converted", "first_name": "X"}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem), ["status"]);

    let response = app
        .post("/api/v1/leads", &admin.access_token, &json!({"phone": "123"}))
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(invalid_fields(&problem).len(), 4);
    assert_eq!(app.scalar("select count(*) from leads").await, 0);
}

async fn a_duplicate_email_is_refused_unless_allowed(app: TestApp) {
    let admin = app.signup("lead-dup").await;
    let first = create_lead(&app, &admin, json!({"email": "grace@navy.example"})).await;
    let response = app
        .post(
            "/api/v1/leads",
            &admin.access_token,
            &json!({"email": "GRACE@navy.example"}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(problem["existing_id"], first["id"]);

    let contact = app
        .post(
            "/api/v1/contacts",
            &admin.access_token,
            &json!({"email": "alan@bletchley.example"}),
        )
        .send()
        .await
        .unwrap();
    let contact = expect_status(contact, StatusCode::CREATED).await;
    let response = app
        .post(
            "/api/v1/leads",
            &admin.access_token,
            &json!({"email": "alan@bletchley.example"}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(response, StatusCode::CONFLICT).await;
    assert_eq!(problem["existing_id"], contact["id"]);
    assert_eq!(app.scalar("select count(*) from leads").await, 1);

    let response = app
        .post(
            "/api/v1/leads?allow_duplicate=true",
            &admin.access_token,
            &json!({"email": "grace@navy.example"}),
        )
        .send()
        .await
        .unwrap();
    expect_status(response, StatusCode::CREATED).await;
    assert_eq!(app.scalar("select count(*) from leads").await, 2);
}

/// Sends a request and asserts its status, returning the body.
async fn call(request: reqwest::RequestBuilder, status: StatusCode) -> Value {
    expect_status(request.send().await.unwrap(), status).await
}

/// The ids of a list page, in order.
fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect()
}

fn id(lead: &Value) -> String {
    lead["id"].as_str().unwrap().to_owned()
}

/// One list page as `session` sees it.
async fn list(app: &TestApp, session: &Session, query: &str) -> Value {
    call(
        app.get(&format!("/api/v1/leads?{query}"), &session.access_token),
        StatusCode::OK,
    )
    .await
}

/// Runs an UPDATE on the test database (both dialects); it must touch a row.
async fn update(app: &TestApp, sql: &str) {
    app.scalar(&format!("{sql} returning cast(1 as bigint)")).await;
}

async fn patch_lead(app: &TestApp, session: &Session, lead: &Value, body: Value, status: StatusCode) -> Value {
    call(app.patch(&lead_path(lead), &session.access_token, &body), status).await
}

async fn leads_are_listed_with_each_filter(app: TestApp) {
    let admin = app.signup("lead-filter").await;
    let rep = app.add_user(&admin, "rep").await;
    let ada = create_lead(
        &app,
        &admin,
        json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@engines.example",
               "company_name": "Analytical Engines", "source": "referral", "status": "qualified",
               "created_at": "2026-01-10T09:00:00+01:00"}),
    )
    .await;
    let grace = create_lead(
        &app,
        &admin,
        json!({"first_name": "Grace", "last_name": "Hopper", "email": "grace@navy.example",
               "company_name": "Navy", "source": "web_form", "owner_id": rep.user_id,
               "created_at": "2026-02-01T00:00:00Z"}),
    )
    .await;
    let alan = create_lead(
        &app,
        &admin,
        json!({"first_name": "Alan", "last_name": "Turing", "email": "turing@bletchley.example",
               "company_name": "Bletchley Park", "source": "referral_partner", "status": "contacted",
               "created_at": "2026-03-01T00:00:00Z"}),
    )
    .await;
    update(&app, "update leads set score = 80 where email = 'ada@engines.example'").await;
    update(&app, "update leads set score = 40 where email = 'grace@navy.example'").await;

    let all = [id(&ada), id(&grace), id(&alan)];
    assert_eq!(ids(&list(&app, &admin, "").await), all);
    let cases: &[(&str, &[&String])] = &[
        ("status=qualified", &[&all[0]]),
        ("status=contacted", &[&all[2]]),
        ("status=unqualified", &[]),
        (&format!("owner_id={}", rep.user_id), &[&all[1]]),
        (&format!("owner_id={}", admin.user_id), &[&all[0], &all[2]]),
        ("source=referral", &[&all[0]]),
        ("source=Referral", &[]),
        ("score_min=40", &[&all[0], &all[1]]),
        ("score_min=41", &[&all[0]]),
        ("score_max=40", &[&all[1], &all[2]]),
        ("score_min=0&score_max=0", &[&all[2]]),
        ("score_min=100", &[]),
        ("created_from=2026-02-01T00:00:00Z", &[&all[1], &all[2]]),
        ("created_to=2026-02-01T00:00:00Z", &[&all[0]]),
        // 09:00+01:00 is 08:00Z: from is inclusive, to exclusive.
        (
            "created_from=2026-01-10T08:00:00Z&created_to=2026-01-10T08:00:01Z",
            &[&all[0]],
        ),
        ("created_to=2026-01-10T08:00:00Z", &[]),
        ("q=ada", &[&all[0]]),
        ("q=LOVE", &[&all[0]]),
        ("q=grace%20hop", &[&all[1]]),
        ("q=hopper", &[&all[1]]),
        ("q=bletchley", &[&all[2]]),
        ("q=park", &[&all[2]]),
        ("q=turing%40", &[&all[2]]),
        ("q=analytical%20eng", &[&all[0]]),
        ("q=a", &[&all[0], &all[2]]),
        ("q=%25", &[]),
        ("q=_", &[]),
        ("q=%20", &[&all[0], &all[1], &all[2]]),
        ("status=qualified&source=referral&score_min=50&q=ada", &[&all[0]]),
        ("status=qualified&source=web_form", &[]),
    ];
    for (query, expected) in cases {
        let expected: Vec<String> = expected.iter().map(|s| (*s).clone()).collect();
        assert_eq!(ids(&list(&app, &admin, query).await), expected, "{query}");
    }
}

async fn leads_are_sorted_by_each_field_with_leads_without_activity_last(app: TestApp) {
    let admin = app.signup("lead-sort").await;
    let mut leads = Vec::new();
    for (n, score, activity) in [
        (0, 30, Some("2026-01-03T00:00:00+00:00")),
        (1, 10, None),
        (2, 30, Some("2026-01-01T00:00:00+00:00")),
        (3, 90, None),
        (4, 50, Some("2026-01-02T00:00:00+00:00")),
    ] {
        let email = format!("sort{n}@example.com");
        leads.push(id(&create_lead(&app, &admin, json!({"email": email})).await));
        update(
            &app,
            &format!("update leads set score = {score} where email = '{email}'"),
        )
        .await;
        if let Some(at) = activity {
            update(
                &app,
                &format!("update leads set last_activity_at = '{at}' where email = '{email}'"),
            )
            .await;
        }
    }
    let order = |idx: &[usize]| idx.iter().map(|i| leads[*i].clone()).collect::<Vec<_>>();
    let cases = [
        ("created_at", order(&[0, 1, 2, 3, 4])),
        ("-created_at", order(&[4, 3, 2, 1, 0])),
        ("score", order(&[1, 0, 2, 4, 3])),
        ("-score", order(&[3, 4, 2, 0, 1])),
        ("last_activity_at", order(&[2, 4, 0, 1, 3])),
        ("-last_activity_at", order(&[0, 4, 2, 3, 1])),
    ];
    for (sort, expected) in cases {
        assert_eq!(
            ids(&list(&app, &admin, &format!("sort={sort}")).await),
            expected,
            "{sort}"
        );
        // The same order a page of two at a time: the cursor carries ties and nulls.
        let mut walked = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query = match &cursor {
                Some(c) => format!("sort={sort}&limit=2&cursor={c}"),
                None => format!("sort={sort}&limit=2"),
            };
            let page = list(&app, &admin, &query).await;
            walked.extend(ids(&page));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(walked, expected, "walk {sort}");
    }
}

async fn a_page_walk_sees_every_lead_once_while_leads_are_inserted(app: TestApp) {
    let admin = app.signup("lead-walk").await;
    let mut before = Vec::new();
    for n in 0..7 {
        before.push(id(&create_lead(
            &app,
            &admin,
            json!({"first_name": format!("Lead {n}")}),
        )
        .await));
    }
    for sort in [
        "created_at",
        "-created_at",
        "score",
        "-score",
        "last_activity_at",
        "-last_activity_at",
    ] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query = match &cursor {
                Some(c) => format!("sort={sort}&limit=3&cursor={c}"),
                None => format!("sort={sort}&limit=3"),
            };
            let page = list(&app, &admin, &query).await;
            assert!(page["data"].as_array().unwrap().len() <= 3);
            seen.extend(ids(&page));
            // A lead arrives between two pages.
            create_lead(&app, &admin, json!({"first_name": format!("During {sort}")})).await;
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "no lead twice ({sort})");
        assert!(before.iter().all(|l| seen.contains(l)), "every earlier lead ({sort})");
    }
}

async fn unknown_list_parameters_sorts_and_cursors_are_400(app: TestApp) {
    let admin = app.signup("lead-400").await;
    for n in 0..3 {
        create_lead(&app, &admin, json!({"first_name": format!("L{n}")})).await;
    }
    let page = list(&app, &admin, "limit=1&sort=score").await;
    let score_cursor = page["next_cursor"].as_str().unwrap().to_owned();
    for query in [
        "colour=red",
        "sort=name",
        "sort=-",
        "sort=updated_at",
        "status=converting",
        "owner_id=nope",
        "score_min=101",
        "score_max=-1",
        "score_min=abc",
        "created_from=yesterday",
        "created_to=2026-01-01",
        "limit=0",
        "limit=201",
        "cursor=garbage!",
        &format!("cursor={score_cursor}"),
        &format!("sort=-score&cursor={score_cursor}"),
        &format!("q={}", "a".repeat(201)),
    ] {
        let response = app
            .get(&format!("/api/v1/leads?{query}"), &admin.access_token)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::BAD_REQUEST).await;
    }
    assert_eq!(
        ids(&list(&app, &admin, &format!("sort=score&limit=1&cursor={score_cursor}")).await).len(),
        1
    );
}

async fn a_rep_lists_and_reaches_only_their_own_leads(app: TestApp) {
    let admin = app.signup("lead-rep").await;
    let rep = app.add_user(&admin, "rep").await;
    let other_rep = app.add_user(&admin, "rep").await;
    let manager = app.add_user(&admin, "manager").await;
    let mine = create_lead(&app, &rep, json!({"first_name": "Mine"})).await;
    let theirs = create_lead(&app, &other_rep, json!({"first_name": "Theirs"})).await;
    let admins = create_lead(&app, &admin, json!({"first_name": "Admin's"})).await;

    assert_eq!(ids(&list(&app, &rep, "").await), [id(&mine)]);
    assert_eq!(
        ids(&list(&app, &rep, &format!("owner_id={}", other_rep.user_id)).await),
        Vec::<String>::new()
    );
    assert_eq!(ids(&list(&app, &manager, "").await).len(), 3);
    for lead in [&theirs, &admins] {
        let path = lead_path(lead);
        expect_problem(
            app.get(&path, &rep.access_token).send().await.unwrap(),
            StatusCode::NOT_FOUND,
        )
        .await;
        expect_problem(
            app.get(&format!("{path}/score"), &rep.access_token)
                .send()
                .await
                .unwrap(),
            StatusCode::NOT_FOUND,
        )
        .await;
        expect_problem(
            app.patch(&path, &rep.access_token, &json!({"first_name": "Mine now"}))
                .send()
                .await
                .unwrap(),
            StatusCode::NOT_FOUND,
        )
        .await;
        expect_problem(
            app.delete(&path, &rep.access_token).send().await.unwrap(),
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    // A manager changes anyone's lead.
    let changed = patch_lead(&app, &manager, &theirs, json!({"title": "CTO"}), StatusCode::OK).await;
    assert_eq!(changed["title"], "CTO");
    // Reps cannot purge, not even their own leads.
    expect_problem(
        app.delete(&format!("{}?purge=true", lead_path(&mine)), &rep.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    // A rep's trashed lead is theirs to restore; another rep's is 404.
    call(
        app.delete(&lead_path(&theirs), &other_rep.access_token),
        StatusCode::NO_CONTENT,
    )
    .await;
    expect_problem(
        app.post(
            &format!("{}/restore", lead_path(&theirs)),
            &rep.access_token,
            &json!({}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    call(
        app.post(
            &format!("{}/restore", lead_path(&theirs)),
            &other_rep.access_token,
            &json!({}),
        ),
        StatusCode::OK,
    )
    .await;
}

async fn a_lead_is_patched_and_its_version_bumps(app: TestApp) {
    let admin = app.signup("lead-patch").await;
    let lead = create_lead(
        &app,
        &admin,
        json!({"first_name": "Ada", "last_name": "Lovelace", "phone": "123", "country": "GB",
               "estimated_value": "100.00", "value_period": "month", "employee_count": 5}),
    )
    .await;
    let response = app
        .patch(
            &lead_path(&lead),
            &admin.access_token,
            &json!({"last_name": null, "phone": null, "company_name": "Engines Ltd", "email": "ADA@Engines.example",
                    "country": "de", "estimated_value": "2500.5", "currency": "EUR", "value_period": null,
                    "employee_count": null, "industry": "Software", "title": "CTO", "source": "event",
                    "status": "contacted"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["etag"], "\"2\"");
    let changed = expect_status(response, StatusCode::OK).await;
    assert_eq!(changed["first_name"], "Ada");
    assert!(changed["last_name"].is_null() && changed["phone"].is_null());
    assert!(changed["value_period"].is_null() && changed["employee_count"].is_null());
    assert_eq!(changed["company_name"], "Engines Ltd");
    assert_eq!(changed["email"], "ada@engines.example");
    assert_eq!(changed["country"], "DE");
    assert_eq!(changed["estimated_value"], "2500.50");
    assert_eq!(changed["currency"], "EUR");
    assert_eq!(changed["status"], "contacted");
    assert_eq!(changed["version"], 2);
    assert_eq!(changed["created_at"], lead["created_at"]);
    assert_eq!(
        call(app.get(&lead_path(&lead), &admin.access_token), StatusCode::OK).await,
        changed
    );
    // The search keys follow the names.
    assert_eq!(ids(&list(&app, &admin, "q=lovelace").await), Vec::<String>::new());
    assert_eq!(ids(&list(&app, &admin, "q=engines").await), [id(&lead)]);

    // A write that changes nothing changes nothing.
    let same = patch_lead(&app, &admin, &lead, json!({}), StatusCode::OK).await;
    assert_eq!(same["version"], 2);
    assert_eq!(app.scalar("select version from leads").await, 2);
}

async fn a_stale_if_match_is_412(app: TestApp) {
    let admin = app.signup("lead-412").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada"})).await;
    let path = lead_path(&lead);
    let changed = call(
        app.patch(&path, &admin.access_token, &json!({"title": "CTO"}))
            .header("if-match", "\"1\""),
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed["version"], 2);
    let stale = app
        .patch(&path, &admin.access_token, &json!({"title": "CEO"}))
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
    let bad = app
        .patch(&path, &admin.access_token, &json!({}))
        .header("if-match", "soon")
        .send()
        .await
        .unwrap();
    expect_problem(bad, StatusCode::BAD_REQUEST).await;
    assert_eq!(
        app.scalar("select count(*) from leads where title = 'CTO' and deleted_at is null")
            .await,
        1
    );
    call(
        app.delete(&path, &admin.access_token).header("if-match", "\"2\""),
        StatusCode::NO_CONTENT,
    )
    .await;
}

async fn each_invalid_patch_field_is_named(app: TestApp) {
    let admin = app.signup("lead-422").await;
    let gone = app.add_user(&admin, "rep").await;
    call(
        app.delete(&format!("/api/v1/users/{}", gone.user_id), &admin.access_token),
        StatusCode::NO_CONTENT,
    )
    .await;
    let other = app.signup("lead-422-other").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada", "email": "ada@example.com"})).await;
    let long = "x".repeat(101);
    let cases = [
        (json!({"first_name": long}), vec!["first_name"]),
        (json!({"last_name": "y".repeat(101)}), vec!["last_name"]),
        (json!({"email": "nope"}), vec!["email"]),
        (json!({"phone": "1".repeat(51)}), vec!["phone"]),
        (json!({"company_name": "c".repeat(201)}), vec!["company_name"]),
        (json!({"title": "t".repeat(201)}), vec!["title"]),
        (json!({"industry": "i".repeat(201)}), vec!["industry"]),
        (json!({"source": "s".repeat(201)}), vec!["source"]),
        (json!({"employee_count": -1}), vec!["employee_count"]),
        (json!({"employee_count": "many"}), vec!["employee_count"]),
        (json!({"country": "XX"}), vec!["country"]),
        (json!({"estimated_value": "1.234"}), vec!["estimated_value"]),
        (json!({"currency": "EURO"}), vec!["currency"]),
        (json!({"value_period": "week"}), vec!["value_period"]),
        (json!({"status": "converted"}), vec!["status"]),
        (json!({"status": "archived"}), vec!["status"]),
        (json!({"status": "unqualified"}), vec!["unqualified_reason"]),
        (
            json!({"status": "unqualified", "unqualified_reason": " "}),
            vec!["unqualified_reason"],
        ),
        (
            json!({"status": "unqualified", "unqualified_reason": "r".repeat(501)}),
            vec!["unqualified_reason"],
        ),
        (json!({"owner_id": gone.user_id}), vec!["owner_id"]),
        (json!({"owner_id": other.user_id}), vec!["owner_id"]),
        (json!({"owner_id": "not-a-uuid"}), vec!["owner_id"]),
        (
            json!({"first_name": null, "email": null}),
            vec!["company_name", "email", "first_name", "last_name"],
        ),
        (
            json!({"first_name": "", "email": "  "}),
            vec!["company_name", "email", "first_name", "last_name"],
        ),
        (json!({"created_at": "2026-01-01T00:00:00Z"}), vec!["created_at"]),
        (json!({"colour": "red"}), vec!["colour"]),
        (
            json!({"email": "bad", "country": "XX", "status": "converted"}),
            vec!["country", "email", "status"],
        ),
    ];
    for (body, expected) in cases {
        let response = app
            .patch(&lead_path(&lead), &admin.access_token, &body)
            .send()
            .await
            .unwrap();
        let problem = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        let mut fields = invalid_fields(&problem);
        fields.sort();
        fields.dedup();
        assert_eq!(fields, expected, "{body}");
    }
    let bad_json = app
        .request(reqwest::Method::PATCH, &lead_path(&lead))
        .bearer_auth(&admin.access_token)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    expect_problem(bad_json, StatusCode::BAD_REQUEST).await;
    let text = app
        .request(reqwest::Method::PATCH, &lead_path(&lead))
        .bearer_auth(&admin.access_token)
        .body("first_name=x")
        .send()
        .await
        .unwrap();
    expect_problem(text, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert_eq!(app.scalar("select version from leads").await, 1);
}

async fn qualified_at_is_set_once_and_never_moves(app: TestApp) {
    let admin = app.signup("lead-qualified").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada"})).await;
    assert!(lead["qualified_at"].is_null());
    let qualified = patch_lead(&app, &admin, &lead, json!({"status": "qualified"}), StatusCode::OK).await;
    let first = qualified["qualified_at"].as_str().unwrap().to_owned();
    let contacted = patch_lead(&app, &admin, &lead, json!({"status": "contacted"}), StatusCode::OK).await;
    assert_eq!(contacted["status"], "contacted");
    assert_eq!(contacted["qualified_at"], first.as_str());
    let unqualified = patch_lead(
        &app,
        &admin,
        &lead,
        json!({"status": "unqualified", "unqualified_reason": "Gone quiet"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(unqualified["qualified_at"], first.as_str());
    let again = patch_lead(&app, &admin, &lead, json!({"status": "qualified"}), StatusCode::OK).await;
    assert_eq!(again["status"], "qualified");
    assert_eq!(again["qualified_at"], first.as_str());
    assert!(again["unqualified_reason"].is_null());
    let renamed = patch_lead(&app, &admin, &lead, json!({"first_name": "Ada L."}), StatusCode::OK).await;
    assert_eq!(renamed["qualified_at"], first.as_str());
}

async fn unqualifying_needs_a_reason(app: TestApp) {
    let admin = app.signup("lead-unqualified").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada"})).await;
    let problem = expect_problem(
        app.patch(
            &lead_path(&lead),
            &admin.access_token,
            &json!({"status": "unqualified"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(invalid_fields(&problem), ["unqualified_reason"]);
    let unq = patch_lead(
        &app,
        &admin,
        &lead,
        json!({"status": "unqualified", "unqualified_reason": "  No budget  "}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(unq["unqualified_reason"], "No budget");
    // It keeps its reason through other changes, and a new reason replaces it.
    let kept = patch_lead(
        &app,
        &admin,
        &lead,
        json!({"status": "unqualified", "title": "CFO"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(kept["unqualified_reason"], "No budget");
    let replaced = patch_lead(
        &app,
        &admin,
        &lead,
        json!({"unqualified_reason": "Too small"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(replaced["unqualified_reason"], "Too small");
    // Clearing the reason of an unqualified lead is refused.
    let problem = expect_problem(
        app.patch(
            &lead_path(&lead),
            &admin.access_token,
            &json!({"unqualified_reason": null}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(invalid_fields(&problem), ["unqualified_reason"]);
    // Leaving unqualified drops the reason.
    let back = patch_lead(&app, &admin, &lead, json!({"status": "new"}), StatusCode::OK).await;
    assert!(back["unqualified_reason"].is_null());
    assert_eq!(
        app.scalar("select count(*) from leads where unqualified_reason is null")
            .await,
        1
    );
}

async fn a_new_owner_is_notified_and_reps_cannot_give_leads_away(app: TestApp) {
    let admin = app.signup("lead-owner").await;
    let rep = app.add_user(&admin, "rep").await;
    let other_rep = app.add_user(&admin, "rep").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada"})).await;
    let assigned = "select count(*) from notifications where kind = 'assigned' and record_kind = 'lead'";
    assert_eq!(app.scalar(assigned).await, 0);

    let moved = patch_lead(&app, &admin, &lead, json!({"owner_id": rep.user_id}), StatusCode::OK).await;
    assert_eq!(moved["owner_id"], rep.user_id.to_string());
    assert_eq!(app.scalar(assigned).await, 1);
    // Naming the current owner again notifies nobody.
    patch_lead(&app, &admin, &lead, json!({"owner_id": rep.user_id}), StatusCode::OK).await;
    assert_eq!(app.scalar(assigned).await, 1);

    // The rep sees it now, changes it, but cannot give it away.
    patch_lead(
        &app,
        &rep,
        &lead,
        json!({"title": "CTO", "owner_id": rep.user_id}),
        StatusCode::OK,
    )
    .await;
    let problem = expect_problem(
        app.patch(
            &lead_path(&lead),
            &rep.access_token,
            &json!({"owner_id": other_rep.user_id}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(problem["detail"].is_string());
    let owner = call(app.get(&lead_path(&lead), &admin.access_token), StatusCode::OK).await;
    assert_eq!(owner["owner_id"], rep.user_id.to_string());
    assert_eq!(app.scalar(assigned).await, 1);

    // An admin taking a lead for themselves notifies nobody.
    patch_lead(&app, &admin, &lead, json!({"owner_id": admin.user_id}), StatusCode::OK).await;
    assert_eq!(app.scalar(assigned).await, 1);
    expect_problem(
        app.get(&lead_path(&lead), &rep.access_token).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn a_patched_email_keeps_the_duplicate_guard(app: TestApp) {
    let admin = app.signup("lead-patch-dup").await;
    let ada = create_lead(&app, &admin, json!({"email": "ada@example.com"})).await;
    let grace = create_lead(&app, &admin, json!({"email": "grace@example.com"})).await;
    let contact = call(
        app.post(
            "/api/v1/contacts",
            &admin.access_token,
            &json!({"email": "alan@example.com"}),
        ),
        StatusCode::CREATED,
    )
    .await;

    let problem = expect_problem(
        app.patch(
            &lead_path(&grace),
            &admin.access_token,
            &json!({"email": "ADA@example.com"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(problem["existing_id"], ada["id"]);
    let problem = expect_problem(
        app.patch(
            &lead_path(&grace),
            &admin.access_token,
            &json!({"email": "alan@example.com"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(problem["existing_id"], contact["id"]);
    assert_eq!(
        app.scalar("select count(*) from leads where email = 'grace@example.com'")
            .await,
        1
    );

    // A lead is not its own duplicate.
    patch_lead(
        &app,
        &admin,
        &ada,
        json!({"email": "Ada@Example.com", "title": "CEO"}),
        StatusCode::OK,
    )
    .await;
    let changed = call(
        app.patch(
            &format!("{}?allow_duplicate=true", lead_path(&grace)),
            &admin.access_token,
            &json!({"email": "ada@example.com"}),
        ),
        StatusCode::OK,
    )
    .await;
    assert_eq!(changed["email"], "ada@example.com");
    // Both now share it: other changes to either are not refused.
    patch_lead(&app, &admin, &grace, json!({"title": "CTO"}), StatusCode::OK).await;
    patch_lead(
        &app,
        &admin,
        &grace,
        json!({"email": "new@example.com"}),
        StatusCode::OK,
    )
    .await;
    let bad = app
        .patch(
            &format!("{}?allow=1", lead_path(&grace)),
            &admin.access_token,
            &json!({}),
        )
        .send()
        .await
        .unwrap();
    expect_problem(bad, StatusCode::BAD_REQUEST).await;
}

async fn leads_are_trashed_and_restored(app: TestApp) {
    let admin = app.signup("lead-trash").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada", "email": "ada@example.com"})).await;
    let path = lead_path(&lead);
    call(app.delete(&path, &admin.access_token), StatusCode::NO_CONTENT).await;
    expect_problem(
        app.get(&path, &admin.access_token).send().await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.get(&format!("{path}/score"), &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.patch(&path, &admin.access_token, &json!({"title": "x"}))
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
    assert_eq!(ids(&list(&app, &admin, "").await), Vec::<String>::new());
    // A trashed lead still holds its email for the duplicate guard.
    let dup = app
        .post(
            "/api/v1/leads",
            &admin.access_token,
            &json!({"email": "ada@example.com"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        expect_problem(dup, StatusCode::CONFLICT).await["existing_id"],
        lead["id"]
    );
    assert_eq!(
        app.scalar("select count(*) from audit_log where action = 'lead.deleted'")
            .await,
        1
    );

    let restored = call(
        app.post(&format!("{path}/restore"), &admin.access_token, &json!({})),
        StatusCode::OK,
    )
    .await;
    assert!(restored["deleted_at"].is_null());
    assert_eq!(restored["version"], 3);
    assert_eq!(restored["first_name"], "Ada");
    assert_eq!(ids(&list(&app, &admin, "").await), [id(&lead)]);
    assert_eq!(
        app.scalar("select count(*) from audit_log where action = 'lead.restored'")
            .await,
        1
    );
    // Restoring a live lead changes nothing.
    let again = call(
        app.post(&format!("{path}/restore"), &admin.access_token, &json!({})),
        StatusCode::OK,
    )
    .await;
    assert_eq!(again["version"], 3);
    let missing = format!("/api/v1/leads/{}/restore", uuid::Uuid::now_v7());
    expect_problem(
        app.post(&missing, &admin.access_token, &json!({}))
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    expect_problem(
        app.delete(&format!("/api/v1/leads/{}", uuid::Uuid::now_v7()), &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
}

async fn a_purged_lead_is_erased_and_gone_everywhere(app: TestApp) {
    let admin = app.signup("lead-purge").await;
    let manager = app.add_user(&admin, "manager").await;
    let rep = app.add_user(&admin, "rep").await;
    let lead = create_lead(
        &app,
        &admin,
        json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "phone": "123",
               "title": "CTO", "company_name": "Engines", "industry": "Software", "source": "referral",
               "owner_id": rep.user_id}),
    )
    .await;
    let trashed = create_lead(&app, &admin, json!({"first_name": "Grace"})).await;
    call(
        app.delete(&lead_path(&trashed), &admin.access_token),
        StatusCode::NO_CONTENT,
    )
    .await;
    let path = lead_path(&lead);
    for session in [&manager, &rep] {
        expect_problem(
            app.delete(&format!("{path}?purge=true"), &session.access_token)
                .send()
                .await
                .unwrap(),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    assert_eq!(
        app.scalar("select count(*) from notifications where message like '%Ada%'")
            .await,
        1
    );
    call(
        app.delete(&format!("{path}?purge=true"), &admin.access_token),
        StatusCode::NO_CONTENT,
    )
    .await;
    call(
        app.delete(&format!("{}?purge=true", lead_path(&trashed)), &admin.access_token),
        StatusCode::NO_CONTENT,
    )
    .await;

    for session in [&admin, &rep] {
        expect_problem(
            app.get(&path, &session.access_token).send().await.unwrap(),
            StatusCode::NOT_FOUND,
        )
        .await;
        assert_eq!(ids(&list(&app, session, "").await), Vec::<String>::new());
    }
    for lead in [&lead, &trashed] {
        expect_problem(
            app.post(&format!("{}/restore", lead_path(lead)), &admin.access_token, &json!({}))
                .send()
                .await
                .unwrap(),
            StatusCode::NOT_FOUND,
        )
        .await;
        expect_problem(
            app.delete(&format!("{}?purge=true", lead_path(lead)), &admin.access_token)
                .send()
                .await
                .unwrap(),
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    assert_eq!(
        app.scalar(
            "select count(*) from leads where first_name is null and last_name is null and email is null
             and phone is null and title is null and company_name is null and name_key = '' and company_key = ''
             and erased_at is not null and deleted_at is not null"
        )
        .await,
        2
    );
    // What reports count stays.
    assert_eq!(
        app.scalar("select count(*) from leads where source = 'referral' and industry = 'Software'")
            .await,
        1
    );
    assert_eq!(
        app.scalar("select count(*) from notifications where message like '%Ada%'")
            .await,
        0
    );
    assert_eq!(
        app.scalar("select count(*) from audit_log where action = 'lead.purged'")
            .await,
        2
    );
    // The email is free again.
    create_lead(&app, &admin, json!({"email": "ada@example.com"})).await;
}

async fn the_score_endpoint_explains_the_score(app: TestApp) {
    let admin = app.signup("lead-score").await;
    let rep = app.add_user(&admin, "rep").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada"})).await;
    let score = call(
        app.get(&format!("{}/score", lead_path(&lead)), &admin.access_token),
        StatusCode::OK,
    )
    .await;
    assert_eq!(
        score,
        json!({"score": 0, "total": 0, "threshold": 50, "mql_at": null, "matched": []})
    );
    expect_problem(
        app.get(&format!("{}/score", lead_path(&lead)), &rep.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    let own = create_lead(&app, &rep, json!({"first_name": "Rep's"})).await;
    call(
        app.get(&format!("{}/score", lead_path(&own)), &rep.access_token),
        StatusCode::OK,
    )
    .await;
    expect_problem(
        app.request(reqwest::Method::GET, &format!("{}/score", lead_path(&lead)))
            .send()
            .await
            .unwrap(),
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

async fn another_organizations_lead_is_404(app: TestApp) {
    let admin = app.signup("lead-tenant").await;
    let other = app.signup("lead-tenant-other").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada"})).await;
    let path = lead_path(&lead);
    let requests = [
        app.get(&path, &other.access_token),
        app.get(&format!("{path}/score"), &other.access_token),
        app.patch(&path, &other.access_token, &json!({"title": "x"})),
        app.delete(&path, &other.access_token),
        app.delete(&format!("{path}?purge=true"), &other.access_token),
        app.post(&format!("{path}/restore"), &other.access_token, &json!({})),
    ];
    for request in requests {
        expect_problem(request.send().await.unwrap(), StatusCode::NOT_FOUND).await;
    }
    assert_eq!(ids(&list(&app, &other, "").await), Vec::<String>::new());
    assert_eq!(app.scalar("select version from leads").await, 1);
}

async fn create_rule(app: &TestApp, admin: &Session, body: Value) -> Value {
    call(
        app.post("/api/v1/scoring-rules", &admin.access_token, &body),
        StatusCode::CREATED,
    )
    .await
}

async fn score_of(app: &TestApp, session: &Session, lead: &Value) -> Value {
    call(
        app.get(&format!("{}/score", lead_path(lead)), &session.access_token),
        StatusCode::OK,
    )
    .await
}

const MQL_NOTES: &str = "select count(*) from notifications where kind = 'lead_mql'";

async fn a_patch_that_makes_rules_match_raises_the_score_and_makes_an_mql_once(app: TestApp) {
    let admin = app.signup("lead-mql").await;
    let rep = app.add_user(&admin, "rep").await;
    let software = create_rule(
        &app,
        &admin,
        json!({"name": "Software", "field": "industry", "operator": "equals", "value": "Software", "points": 40}),
    )
    .await;
    let big = create_rule(
        &app,
        &admin,
        json!({"name": "Big", "field": "employee_count", "operator": "gte", "value": 100, "points": 30}),
    )
    .await;
    create_rule(
        &app,
        &admin,
        json!({"name": "Inactive", "field": "industry", "operator": "exists", "points": 50, "active": false}),
    )
    .await;
    let lead = create_lead(&app, &rep, json!({"first_name": "Ada"})).await;
    assert_eq!(lead["score"], 0);

    let lead = patch_lead(&app, &rep, &lead, json!({"industry": "Software"}), StatusCode::OK).await;
    assert_eq!(lead["score"], 40);
    assert!(lead["mql_at"].is_null());
    assert_eq!(app.scalar(MQL_NOTES).await, 0);

    let lead = patch_lead(&app, &rep, &lead, json!({"employee_count": 500}), StatusCode::OK).await;
    assert_eq!(lead["score"], 70);
    let mql_at = lead["mql_at"].as_str().expect("an MQL now").to_owned();
    assert_eq!(lead["mql_at"], lead["updated_at"]);
    assert_eq!(app.scalar(MQL_NOTES).await, 1);
    assert_eq!(app.scalar("select score from leads").await, 70);

    let explained = score_of(&app, &rep, &lead).await;
    assert_eq!(
        explained,
        json!({"score": 70, "total": 70, "threshold": 50, "mql_at": mql_at,
               "matched": [{"rule_id": software["id"], "name": "Software", "points": 40},
                           {"rule_id": big["id"], "name": "Big", "points": 30}]})
    );

    // Dropping below and rising again moves nothing and notifies nobody.
    let lead = patch_lead(&app, &rep, &lead, json!({"employee_count": null}), StatusCode::OK).await;
    assert_eq!(lead["score"], 40);
    assert_eq!(lead["mql_at"], mql_at.as_str());
    let explained = score_of(&app, &rep, &lead).await;
    assert_eq!(
        (
            explained["score"].clone(),
            explained["matched"].as_array().unwrap().len()
        ),
        (json!(40), 1)
    );
    let lead = patch_lead(&app, &rep, &lead, json!({"employee_count": 250}), StatusCode::OK).await;
    assert_eq!(lead["score"], 70);
    assert_eq!(lead["mql_at"], mql_at.as_str());
    assert_eq!(app.scalar(MQL_NOTES).await, 1);
    assert_eq!(score_of(&app, &rep, &lead).await["score"], lead["score"]);
}

async fn the_mql_threshold_is_the_organizations(app: TestApp) {
    let admin = app.signup("lead-threshold").await;
    call(
        app.patch(
            "/api/v1/organization",
            &admin.access_token,
            &json!({"mql_threshold": 80}),
        )
        .header("if-match", "\"1\""),
        StatusCode::OK,
    )
    .await;
    create_rule(
        &app,
        &admin,
        json!({"name": "Referral", "field": "source", "operator": "equals", "value": "referral", "points": 70}),
    )
    .await;
    create_rule(
        &app,
        &admin,
        json!({"name": "Business mail", "field": "email_domain_kind", "operator": "equals", "value": "business",
               "points": 20}),
    )
    .await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada", "source": "referral"})).await;
    assert_eq!(lead["score"], 70);
    assert!(lead["mql_at"].is_null());
    assert_eq!(score_of(&app, &admin, &lead).await["threshold"], 80);
    let lead = patch_lead(
        &app,
        &admin,
        &lead,
        json!({"email": "ada@engines.example"}),
        StatusCode::OK,
    )
    .await;
    assert_eq!(lead["score"], 90);
    assert!(lead["mql_at"].is_string());
    assert_eq!(app.scalar(MQL_NOTES).await, 1);
    // Filters and sorts see the stored score.
    assert_eq!(ids(&list(&app, &admin, "score_min=90").await), [id(&lead)]);
}

async fn a_converted_lead_cannot_change(app: TestApp) {
    let admin = app.signup("lead-converted").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Ada", "company_name": "Engines"})).await;
    let converted = call(
        app.post(
            &format!("{}/convert", lead_path(&lead)),
            &admin.access_token,
            &json!({}),
        ),
        StatusCode::OK,
    )
    .await;
    assert_eq!(converted["lead"]["status"], "converted");
    for body in [
        json!({"title": "CTO"}),
        json!({"status": "qualified"}),
        json!({}),
        json!({"status": "converted"}),
    ] {
        let response = app
            .patch(&lead_path(&lead), &admin.access_token, &body)
            .send()
            .await
            .unwrap();
        expect_problem(response, StatusCode::CONFLICT).await;
    }
    expect_problem(
        app.delete(&lead_path(&lead), &admin.access_token).send().await.unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(
        app.scalar("select count(*) from leads where status = 'converted' and deleted_at is null")
            .await,
        1
    );
}

async fn twenty_parallel_patches_without_if_match_all_apply(app: TestApp) {
    // Arrange
    let admin = app.signup("parallel-lead-patches").await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Busy"})).await;

    // Act
    let requests = (0..20)
        .map(|i| {
            app.patch(
                &lead_path(&lead),
                &admin.access_token,
                &json!({"title": format!("Title {i}")}),
            )
        })
        .collect();
    let statuses = statuses_in_parallel(requests).await;

    // Assert: each write applies after the one before it; none is refused.
    assert_eq!(statuses, vec![StatusCode::OK; 20]);
    let stored = expect_status(
        app.get(&lead_path(&lead), &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(stored["version"], 21);
}

async fn sixteen_parallel_creates_with_one_email_make_one_lead(app: TestApp) {
    // Arrange
    let admin = app.signup("parallel-lead-creates").await;

    // Act
    let requests = (0..16)
        .map(|i| {
            app.post(
                "/api/v1/leads",
                &admin.access_token,
                &json!({"first_name": format!("Twin {i}"), "email": "twin@race.example"}),
            )
        })
        .collect();
    let statuses = statuses_in_parallel(requests).await;

    // Assert
    let mut expected = vec![StatusCode::CREATED];
    expected.extend([StatusCode::CONFLICT; 15]);
    assert_eq!(statuses, expected);
    assert_eq!(app.scalar("select count(*) from leads").await, 1);
}

async fn a_lead_and_a_contact_created_at_once_with_one_email_leave_one_record(app: TestApp) {
    // Arrange: eight emails, each sent as a lead and as a contact at the same time.
    let admin = app.signup("parallel-lead-contact").await;
    let emails: Vec<String> = (0..8).map(|i| format!("person{i}@race.example")).collect();

    // Act
    let requests = emails
        .iter()
        .flat_map(|email| {
            [
                app.post("/api/v1/leads", &admin.access_token, &json!({"email": email})),
                app.post("/api/v1/contacts", &admin.access_token, &json!({"email": email})),
            ]
        })
        .collect();
    let statuses = statuses_in_parallel(requests).await;

    // Assert: for each email one of the two wins, the other is a duplicate.
    let mut expected = vec![StatusCode::CREATED; 8];
    expected.extend([StatusCode::CONFLICT; 8]);
    assert_eq!(statuses, expected);
    let records = app.scalar("select count(*) from leads").await + app.scalar("select count(*) from contacts").await;
    assert_eq!(records, 8);
}

async fn a_duplicate_names_the_existing_record_only_to_those_who_may_read_it(app: TestApp) {
    // Arrange: a lead of one rep, and a contact (which every rep reads).
    let admin = app.signup("dup-visibility").await;
    let (owner, other) = (app.add_user(&admin, "rep").await, app.add_user(&admin, "rep").await);
    let lead = create_lead(&app, &owner, json!({"email": "secret@rival.example"})).await;
    let contact = expect_status(
        app.post(
            "/api/v1/contacts",
            &admin.access_token,
            &json!({"email": "open@rival.example"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let mine = create_lead(&app, &other, json!({"email": "mine@rival.example"})).await;
    let create =
        |session: &Session, email: &str| app.post("/api/v1/leads", &session.access_token, &json!({"email": email}));

    // Act
    let hidden = create(&other, "secret@rival.example").send().await.unwrap();
    let hidden_by_patch = app
        .patch(
            &lead_path(&mine),
            &other.access_token,
            &json!({"email": "secret@rival.example"}),
        )
        .send()
        .await
        .unwrap();
    let own = create(&owner, "secret@rival.example").send().await.unwrap();
    let seen_by_manager = create(&app.add_user(&admin, "manager").await, "secret@rival.example")
        .send()
        .await
        .unwrap();
    let public = create(&other, "open@rival.example").send().await.unwrap();

    // Assert: a rep never learns the id of another rep's lead, but sees their own and every contact.
    for response in [hidden, hidden_by_patch] {
        let problem = expect_problem(response, StatusCode::CONFLICT).await;
        assert!(problem.get("existing_id").is_none_or(Value::is_null), "{problem}");
        assert_eq!(problem["type"], "https://pipewise.dev/problems/duplicate");
    }
    for response in [own, seen_by_manager] {
        assert_eq!(
            expect_problem(response, StatusCode::CONFLICT).await["existing_id"],
            lead["id"]
        );
    }
    assert_eq!(
        expect_problem(public, StatusCode::CONFLICT).await["existing_id"],
        contact["id"]
    );
}
