//! CSV imports: files as spreadsheets write them, the three modes, dedupe,
//! backdating, limits, ownership, the round trip from an export, and
//! parallel imports of one file.

use pipewise_tests::{expect_problem, expect_status, on_both_backends, Session, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::leads::create_lead;

on_both_backends!(
    a_spreadsheet_file_imports_with_its_bom_semicolons_quotes_and_mapping,
    validate_writes_nothing_and_atomic_keeps_all_rows_or_none,
    a_matching_row_fails_is_skipped_or_updates_as_dedupe_says,
    a_malformed_file_is_refused_and_changes_nothing,
    a_file_over_fifty_mebibytes_is_413,
    backdating_needs_an_admin_or_an_import_key,
    reps_import_only_their_own_leads_and_see_only_their_imports,
    an_export_imports_back_as_the_same_leads,
    parallel_imports_of_one_file_create_each_lead_once,
    an_import_and_single_creates_racing_for_emails_leave_each_email_once,
    external_ids_are_unique_within_an_organization,
    accounts_import_deduplicated_by_domain,
    contacts_import_with_their_accounts_and_the_email_guard,
    contact_and_account_exports_import_back_as_they_were,
);

/// Posts `body` as a CSV import with the query `query`.
pub async fn import(app: &TestApp, token: &str, query: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    app.request(Method::POST, &format!("/api/v1/imports?{query}"))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap()
}

pub async fn imported(app: &TestApp, token: &str, query: &str, body: impl Into<reqwest::Body>) -> Value {
    expect_status(import(app, token, query, body).await, StatusCode::CREATED).await
}

pub fn counts(import: &Value) -> [i64; 5] {
    ["rows", "created", "updated", "skipped", "failed"].map(|k| import[k].as_i64().unwrap())
}

/// The (line, column, message) of each error.
pub fn errors(import: &Value) -> Vec<(i64, String, String)> {
    import["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["line"].as_i64().unwrap(),
                e["column"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn leads(app: &TestApp) -> i64 {
    app.scalar("select count(*) from leads").await
}

async fn a_spreadsheet_file_imports_with_its_bom_semicolons_quotes_and_mapping(app: TestApp) {
    let admin = app.signup("import").await;
    let file = "\u{feff}First Name;Last Name;E-mail;Company;Employee Count;Status;Unqualified Reason;Notes\r\n\
                Ada;Lovelace;Ada@Acme.example;Acme;250;new;;call back\r\n\
                Grace;Hopper;grace@navy.example;\"Navy; US\";ten;qualified;;\r\n\
                Alan;Turing;alan@x.example;X;3;unqualified;\"No budget; ask again\";\"call him\nin spring\"\r\n\
                ;;;;;;;\r\n\
                Dup;Row;ada@acme.example;Acme;1;new;;\r\n";
    let report = imported(
        &app,
        &admin.access_token,
        "resource=leads&mode=partial&mapping=E-mail:email,Company:company_name,Notes:ignore",
        file,
    )
    .await;
    assert_eq!(report["status"], "completed");
    assert_eq!(counts(&report), [4, 2, 0, 0, 2], "the row of empty cells is no row");
    assert_eq!(
        errors(&report),
        vec![
            (3, "Employee Count".to_owned(), "must be a whole number".to_owned()),
            // Alan's reason spans lines 4 and 5.
            (7, "E-mail".to_owned(), "repeats line 2".to_owned()),
        ]
    );
    assert_eq!(leads(&app).await, 2);
    let alan = app
        .scalar(
            "select count(*) from leads where unqualified_reason = 'No budget; ask again' and status = 'unqualified'",
        )
        .await;
    assert_eq!(alan, 1, "a quoted cell keeps its semicolon, and one may span lines");
    assert_eq!(
        app.scalar("select count(*) from leads where email = 'ada@acme.example' and company_name = 'Acme' and employee_count = 250")
            .await,
        1
    );

    // The import is kept, as it was answered.
    let id = report["id"].as_str().unwrap();
    let again = expect_status(
        app.get(&format!("/api/v1/imports/{id}"), &admin.access_token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(again, report);
    assert_eq!(
        app.scalar("select count(*) from audit_log where action = 'import.leads'")
            .await,
        1
    );
}

/// Ten thousand rows, the nine-thousandth with a wrong type.
fn ten_thousand_rows() -> String {
    let mut file = String::from("first_name,last_name,email,employee_count\n");
    for i in 1..=10_000 {
        let count = if i == 9_000 {
            "many".to_owned()
        } else {
            (i % 500).to_string()
        };
        file.push_str(&format!("Lead,Number {i},lead{i}@bulk.example,{count}\n"));
    }
    file
}

async fn validate_writes_nothing_and_atomic_keeps_all_rows_or_none(app: TestApp) {
    let admin = app.signup("modes").await;
    let token = &admin.access_token;
    let file = ten_thousand_rows();
    let expected = vec![(9_001, "employee_count".to_owned(), "must be a whole number".to_owned())];

    let dry = imported(&app, token, "resource=leads&mode=validate", file.clone()).await;
    assert_eq!(dry["status"], "validated");
    assert_eq!(counts(&dry), [10_000, 9_999, 0, 0, 1]);
    assert_eq!(errors(&dry), expected);
    assert_eq!(leads(&app).await, 0, "a dry run writes nothing");

    let atomic = imported(&app, token, "resource=leads", file.clone()).await;
    assert_eq!(atomic["mode"], "atomic", "the default");
    assert_eq!(atomic["status"], "rolled_back");
    assert_eq!(errors(&atomic), expected);
    assert_eq!(leads(&app).await, 0, "one bad row keeps every row out");

    let fixed = file.replace(",many\n", ",12\n");
    let atomic = imported(&app, token, "resource=leads&mode=atomic", fixed).await;
    assert_eq!(atomic["status"], "completed");
    assert_eq!(counts(&atomic), [10_000, 10_000, 0, 0, 0]);
    assert_eq!(leads(&app).await, 10_000);
    assert_eq!(
        app.scalar("select count(distinct owner_id) from leads").await,
        1,
        "the caller owns rows that name no owner"
    );

    let other = app.signup("partial").await;
    let partial = imported(&app, &other.access_token, "resource=leads&mode=partial", file).await;
    assert_eq!(partial["status"], "completed");
    assert_eq!(counts(&partial), [10_000, 9_999, 0, 0, 1]);
    assert_eq!(errors(&partial), expected);
    assert_eq!(leads(&app).await, 19_999);
}

async fn a_matching_row_fails_is_skipped_or_updates_as_dedupe_says(app: TestApp) {
    let admin = app.signup("dedupe").await;
    let token = &admin.access_token;
    let ada = create_lead(
        &app,
        &admin,
        json!({"first_name": "Ada", "email": "ada@acme.example", "phone": "+44 1", "title": "CTO"}),
    )
    .await;
    let ext = create_lead(&app, &admin, json!({"last_name": "Known", "external_id": "crm-7"})).await;
    let contact = expect_status(
        app.post(
            "/api/v1/contacts",
            token,
            &json!({"first_name": "Carl", "email": "carl@acme.example"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let file = "email,first_name,phone,external_id,status\n\
                ADA@acme.example,Augusta,,,qualified\n\
                ,Renamed,,crm-7,\n\
                carl@acme.example,Carl,,,\n\
                new@acme.example,New,,crm-8,\n";

    let strict = imported(&app, token, "resource=leads&mode=partial", file).await;
    assert_eq!(counts(&strict), [4, 1, 0, 0, 3]);
    let ada_id = ada["id"].as_str().unwrap();
    let ext_id = ext["id"].as_str().unwrap();
    let carl_id = contact["id"].as_str().unwrap();
    assert_eq!(
        errors(&strict),
        vec![
            (2, "email".to_owned(), format!("a lead has this email ({ada_id})")),
            (
                3,
                "external_id".to_owned(),
                format!("a lead has this external_id ({ext_id})")
            ),
            (4, "email".to_owned(), format!("a contact has this email ({carl_id})")),
        ]
    );

    let skip = imported(&app, token, "resource=leads&dedupe=skip", file).await;
    assert_eq!(skip["status"], "completed");
    assert_eq!(counts(&skip), [4, 0, 0, 4, 0], "crm-8 was created by the first import");

    let update = imported(&app, token, "resource=leads&dedupe=update", file).await;
    assert_eq!(
        counts(&update),
        [4, 0, 2, 2, 0],
        "the contact is left alone; crm-8 is unchanged"
    );
    let ada = expect_status(
        app.get(&format!("/api/v1/leads/{ada_id}"), token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(ada["first_name"], "Augusta");
    assert_eq!(ada["status"], "qualified");
    assert!(ada["qualified_at"].is_string());
    assert_eq!(ada["phone"], "+44 1", "a blank cell leaves the field alone");
    assert_eq!(ada["title"], "CTO", "so does a missing column");
    assert_eq!(ada["version"], 2);
    let ext = expect_status(
        app.get(&format!("/api/v1/leads/{ext_id}"), token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(ext["first_name"], "Renamed");
    assert_eq!(ext["last_name"], "Known");
    assert_eq!(leads(&app).await, 3);
}

async fn a_malformed_file_is_refused_and_changes_nothing(app: TestApp) {
    let admin = app.signup("malformed").await;
    let token = &admin.access_token;
    let bad_request = |body: &'static [u8], query: &'static str| {
        let app = &app;
        async move { expect_problem(import(app, token, query, body).await, StatusCode::BAD_REQUEST).await }
    };
    let empty = bad_request(b"", "resource=leads").await;
    assert!(empty["detail"].as_str().unwrap().contains("no header row"), "{empty}");
    let unknown = bad_request(b"first_name,Shoe Size,Notes\nAda,5,x\n", "resource=leads").await;
    let detail = unknown["detail"].as_str().unwrap();
    assert!(detail.contains("`Shoe Size`, `Notes`"), "{detail}");
    let latin1 = bad_request(b"first_name,Stra\xdfe\nAda,x\n", "resource=leads").await;
    assert!(latin1["detail"].as_str().unwrap().contains("UTF-8"), "{latin1}");
    bad_request(b"first_name,first name\nAda,Ada\n", "resource=leads").await;
    bad_request(b"first_name\nAda\n", "resource=deals").await;
    bad_request(b"first_name\nAda\n", "resource=leads&mode=sometimes").await;

    let mapping = expect_problem(
        import(
            &app,
            token,
            "resource=leads&mapping=first_name:shoe_size",
            "first_name\nAda\n",
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(mapping["errors"][0]["field"], "mapping");
    let not_csv = app
        .request(Method::POST, "/api/v1/imports?resource=leads")
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_problem(not_csv, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;

    // Rows that are not whole CSV records fail one by one.
    let report = imported(
        &app,
        token,
        "resource=leads&mode=partial",
        &b"first_name,last_name\nAda,Lovelace,extra\nGr\xe2ce,Hopper\nAlan,\"Turing\nBob,Smith\n"[..],
    )
    .await;
    assert_eq!(counts(&report), [3, 0, 0, 0, 3]);
    let report_errors = errors(&report);
    assert_eq!(
        report_errors[0],
        (
            2,
            String::new(),
            "has 3 cells where the header has 2 columns".to_owned()
        )
    );
    assert_eq!(report_errors[1], (3, String::new(), "is not UTF-8 text".to_owned()));
    assert_eq!(
        report_errors[2],
        (
            4,
            "last_name".to_owned(),
            "must not contain control characters".to_owned()
        ),
        "an unterminated quote swallows the rest of the file"
    );
    assert_eq!(leads(&app).await, 0);
    assert_eq!(
        app.scalar("select count(*) from imports").await,
        1,
        "only the import that ran is kept"
    );
}

async fn a_file_over_fifty_mebibytes_is_413(app: TestApp) {
    let admin = app.signup("huge").await;
    let mut file = String::from("first_name,email\n");
    let row = format!("{},someone@example.com\n", "x".repeat(100));
    while file.len() <= 60 * 1024 * 1024 {
        file.push_str(&row);
    }
    let file = bytes_of(file);
    // Announced by its length…
    let response = import(&app, &admin.access_token, "resource=leads", file.clone()).await;
    expect_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    // …or found out while it streams in.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = file.chunks(1024 * 1024).map(|c| Ok(c.to_vec())).collect();
    let streamed = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let response = import(&app, &admin.access_token, "resource=leads", streamed).await;
    expect_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(leads(&app).await, 0);
    assert_eq!(app.scalar("select count(*) from imports").await, 0);
}

fn bytes_of(file: String) -> Vec<u8> {
    file.into_bytes()
}

async fn backdating_needs_an_admin_or_an_import_key(app: TestApp) {
    let admin = app.signup("backdate").await;
    let manager = app.add_user(&admin, "manager").await;
    let file = "first_name,created_at\nOld,2024-05-01\nOlder,2023-01-02T03:04:05Z\n";

    let refused = expect_problem(
        import(&app, &manager.access_token, "resource=leads", file).await,
        StatusCode::FORBIDDEN,
    )
    .await;
    assert!(refused["detail"].as_str().unwrap().contains("backdate"), "{refused}");
    imported(
        &app,
        &manager.access_token,
        "resource=leads&mapping=created_at:ignore",
        file,
    )
    .await;

    let (_, write_key) = app.api_key(&admin, &["write"]).await;
    let (_, import_key) = app.api_key(&admin, &["import"]).await;
    let (_, read_key) = app.api_key(&admin, &["read"]).await;
    let with_key = |key: &str, body: &'static str| {
        app.request(Method::POST, "/api/v1/imports?resource=leads")
            .header("x-api-key", key.to_owned())
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };
    expect_problem(with_key(&read_key, file).await.unwrap(), StatusCode::FORBIDDEN).await;
    expect_problem(with_key(&write_key, file).await.unwrap(), StatusCode::FORBIDDEN).await;
    expect_status(
        with_key(&write_key, "first_name\nNow\n").await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let report = expect_status(with_key(&import_key, file).await.unwrap(), StatusCode::CREATED).await;
    assert_eq!(counts(&report), [2, 2, 0, 0, 0]);
    let old = app
        .scalar("select count(*) from leads where created_at < '2024-06-01' and first_name in ('Old', 'Older')")
        .await;
    assert_eq!(old, 2, "created when the file says");

    let future = imported(
        &app,
        &admin.access_token,
        "resource=leads&mode=partial",
        "first_name,created_at\nLater,2999-01-01\n",
    )
    .await;
    assert_eq!(
        errors(&future),
        vec![(2, "created_at".to_owned(), "must not be in the future".to_owned())]
    );
}

async fn reps_import_only_their_own_leads_and_see_only_their_imports(app: TestApp) {
    let admin = app.signup("owners").await;
    let rep = app.add_user(&admin, "rep").await;
    let file = format!(
        "first_name,owner_email\nMine,{}\nTheirs,{}\nNobody,nobody@nowhere.example\nDefault,\n",
        rep.email.to_uppercase(),
        admin_email(&app, &admin).await
    );
    let report = imported(&app, &rep.access_token, "resource=leads&mode=partial", file).await;
    assert_eq!(counts(&report), [4, 2, 0, 0, 2]);
    assert_eq!(
        errors(&report),
        vec![
            (
                3,
                "owner_email".to_owned(),
                "reps import only records they own".to_owned()
            ),
            (
                4,
                "owner_email".to_owned(),
                "is not the email of an active user of the organization".to_owned()
            ),
        ]
    );
    let rep_id = rep.user_id;
    assert_eq!(
        app.scalar(&format!(
            "select count(*) from leads where owner_id = {}",
            app.sql_uuid(rep_id)
        ))
        .await,
        2
    );
    let forbidden = import(
        &app,
        &rep.access_token,
        &format!("resource=leads&owner_id={}", admin.user_id),
        "first_name\nX\n",
    )
    .await;
    expect_problem(forbidden, StatusCode::FORBIDDEN).await;

    // A rep reads their own imports; not an admin's, nor another organization's.
    let rep_import = report["id"].as_str().unwrap();
    let admin_import = imported(&app, &admin.access_token, "resource=leads", "first_name\nBoss\n").await;
    let read = |token: &str, id: &str| app.get(&format!("/api/v1/imports/{id}"), token).send();
    expect_status(read(&rep.access_token, rep_import).await.unwrap(), StatusCode::OK).await;
    expect_status(read(&admin.access_token, rep_import).await.unwrap(), StatusCode::OK).await;
    let admin_import = admin_import["id"].as_str().unwrap();
    expect_problem(
        read(&rep.access_token, admin_import).await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
    let stranger = app.signup("stranger").await;
    expect_problem(
        read(&stranger.access_token, rep_import).await.unwrap(),
        StatusCode::NOT_FOUND,
    )
    .await;
}

pub async fn admin_email(app: &TestApp, admin: &Session) -> String {
    let me = expect_status(
        app.get("/api/v1/me", &admin.access_token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    me["email"].as_str().unwrap().to_owned()
}

/// The fields a client sets, as the API shows them.
fn fields(lead: &Value) -> Value {
    let keys = [
        "first_name",
        "last_name",
        "email",
        "phone",
        "company_name",
        "title",
        "industry",
        "employee_count",
        "country",
        "source",
        "estimated_value",
        "currency",
        "value_period",
        "status",
        "unqualified_reason",
        "external_id",
        "created_at",
    ];
    Value::Object(keys.iter().map(|k| (k.to_string(), lead[*k].clone())).collect())
}

async fn all_leads(app: &TestApp, token: &str) -> Vec<Value> {
    let list = expect_status(
        app.get("/api/v1/leads?limit=200", token).send().await.unwrap(),
        StatusCode::OK,
    )
    .await;
    let mut leads: Vec<Value> = list["data"].as_array().unwrap().iter().map(fields).collect();
    leads.sort_by_key(|l| l["external_id"].as_str().unwrap_or_default().to_owned());
    leads
}

async fn an_export_imports_back_as_the_same_leads(app: TestApp) {
    let source = app.signup("source").await;
    let bodies = [
        json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.example", "phone": "+44 20 7946 0000",
               "company_name": "Acme, \"The\" Ltd", "title": "=CTO", "industry": "Software", "employee_count": 250,
               "country": "GB", "source": "referral", "estimated_value": "1200.50", "currency": "USD",
               "value_period": "month", "external_id": "crm-1", "created_at": "2025-04-01T09:30:00.123456Z"}),
        json!({"company_name": "Solo GmbH", "status": "unqualified", "unqualified_reason": "No budget, next year",
               "external_id": "crm-2"}),
        json!({"last_name": "Minimal", "status": "qualified", "external_id": "crm-3"}),
    ];
    for body in bodies {
        create_lead(&app, &source, body).await;
    }
    let export = app
        .get("/api/v1/exports/leads", &source.access_token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    let target = app.signup("target").await;
    let report = imported(
        &app,
        &target.access_token,
        "resource=leads&mapping=owner_id:ignore",
        export.clone(),
    )
    .await;
    assert_eq!(counts(&report), [3, 3, 0, 0, 0], "{report}");
    let before = all_leads(&app, &source.access_token).await;
    let after = all_leads(&app, &target.access_token).await;
    assert_eq!(after, before);
    assert_eq!(after[0]["title"], "=CTO", "the export's formula guard is undone");

    // The same file again updates nothing: every lead is found by its external id.
    let again = imported(
        &app,
        &target.access_token,
        "resource=leads&dedupe=update&mapping=owner_id:ignore",
        export,
    )
    .await;
    assert_eq!(counts(&again), [3, 0, 0, 3, 0]);
}

async fn parallel_imports_of_one_file_create_each_lead_once(app: TestApp) {
    let admin = app.signup("parallel").await;
    let mut file = String::from("first_name,email,external_id\n");
    for i in 0..200 {
        file.push_str(&format!(
            "P{i},p{i}@parallel.example,{}\n",
            if i % 2 == 0 { format!("ext-{i}") } else { String::new() }
        ));
    }
    let requests = (0..6).map(|_| import(&app, &admin.access_token, "resource=leads&dedupe=skip", file.clone()));
    let reports = futures_util::future::join_all(requests).await;
    let mut created = 0;
    for response in reports {
        let report = expect_status(response, StatusCode::CREATED).await;
        assert_eq!(report["failed"], 0, "{report}");
        created += report["created"].as_i64().unwrap();
    }
    assert_eq!(created, 200, "one import created them, the others skipped them");
    assert_eq!(leads(&app).await, 200);
    assert_eq!(app.scalar("select count(distinct email) from leads").await, 200);
}

async fn an_import_and_single_creates_racing_for_emails_leave_each_email_once(app: TestApp) {
    let admin = app.signup("race").await;
    let mut file = String::from("first_name,email\n");
    for i in 0..3000 {
        file.push_str(&format!("Row {i},race{i}@race.example\n"));
    }
    let import = import(&app, &admin.access_token, "resource=leads&mode=partial", file);
    let creates = (0..20).map(|i| {
        app.post(
            "/api/v1/leads",
            &admin.access_token,
            &json!({"first_name": "Single", "email": format!("race{}@race.example", i * 150)}),
        )
        .send()
    });
    let (report, statuses) = tokio::join!(import, futures_util::future::join_all(creates));
    let report = expect_status(report, StatusCode::CREATED).await;
    let won_singly = statuses
        .into_iter()
        .map(|r| r.unwrap().status())
        .filter(|s| *s == StatusCode::CREATED)
        .count() as i64;
    assert_eq!(
        report["failed"].as_i64().unwrap(),
        won_singly,
        "each email the API wrote first is a failed row: {report}"
    );
    assert_eq!(leads(&app).await, 3000);
    assert_eq!(app.scalar("select count(distinct email) from leads").await, 3000);
}

async fn external_ids_are_unique_within_an_organization(app: TestApp) {
    let admin = app.signup("external").await;
    let token = &admin.access_token;
    let lead = create_lead(&app, &admin, json!({"last_name": "One", "external_id": "x-1"})).await;
    assert_eq!(lead["external_id"], "x-1");
    let clash = app
        .post(
            "/api/v1/leads",
            token,
            &json!({"last_name": "Two", "external_id": "x-1"}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(clash, StatusCode::CONFLICT).await;
    assert!(problem["detail"].as_str().unwrap().contains("external_id"), "{problem}");
    let two = create_lead(&app, &admin, json!({"last_name": "Two", "external_id": "x-2"})).await;
    let path = format!("/api/v1/leads/{}", two["id"].as_str().unwrap());
    expect_problem(
        app.patch(&path, token, &json!({"external_id": "x-1"}))
            .send()
            .await
            .unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    let cleared = expect_status(
        app.patch(&path, token, &json!({"external_id": null}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert!(cleared["external_id"].is_null());

    // Contacts and accounts keep theirs the same way; another organization may reuse any.
    for (path, body) in [
        ("/api/v1/contacts", json!({"first_name": "C", "external_id": "x-1"})),
        ("/api/v1/accounts", json!({"name": "A", "external_id": "x-1"})),
    ] {
        let created = expect_status(app.post(path, token, &body).send().await.unwrap(), StatusCode::CREATED).await;
        assert_eq!(created["external_id"], "x-1");
        expect_problem(app.post(path, token, &body).send().await.unwrap(), StatusCode::CONFLICT).await;
    }
    let pipeline = crate::pipelines::sales_pipeline(&app, &admin).await;
    let deal = json!({"title": "D", "amount": "1.00", "pipeline_id": pipeline["id"], "external_id": "x-1"});
    let created = expect_status(
        app.post("/api/v1/deals", token, &deal).send().await.unwrap(),
        StatusCode::CREATED,
    )
    .await;
    assert_eq!(created["external_id"], "x-1");
    expect_problem(
        app.post("/api/v1/deals", token, &deal).send().await.unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    let other_deal = expect_status(
        app.post(
            "/api/v1/deals",
            token,
            &json!({"title": "E", "amount": "1.00", "pipeline_id": pipeline["id"]}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let deal_path = format!("/api/v1/deals/{}", other_deal["id"].as_str().unwrap());
    expect_problem(
        app.patch(&deal_path, token, &json!({"external_id": "x-1"}))
            .send()
            .await
            .unwrap(),
        StatusCode::CONFLICT,
    )
    .await;
    let renamed = expect_status(
        app.patch(&deal_path, token, &json!({"external_id": "x-2"}))
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(renamed["external_id"], "x-2");
    let other = app.signup("external-other").await;
    create_lead(&app, &other, json!({"last_name": "Same", "external_id": "x-1"})).await;
    let long = app
        .post(
            "/api/v1/leads",
            token,
            &json!({"last_name": "Long", "external_id": "x".repeat(201)}),
        )
        .send()
        .await
        .unwrap();
    let problem = expect_problem(long, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(problem["errors"][0]["field"], "external_id");
}

async fn accounts_import_deduplicated_by_domain(app: TestApp) {
    let admin = app.signup("accounts-import").await;
    let token = &admin.access_token;
    let acme = expect_status(
        app.post(
            "/api/v1/accounts",
            token,
            &json!({"name": "Acme", "domain": "acme.example", "industry": "Tools"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let file = "name,domain,industry,employee_count,country,external_id\n\
                Acme Group,ACME.example,,1200,de,\n\
                Globex,globex.example,Energy,50,US,gx-1\n\
                Globex Again,globex.example,,,,\n\
                ,nameless.example,,,,\n\
                Bad Country,bad.example,,,XX,\n";
    let strict = imported(&app, token, "resource=accounts&mode=partial", file).await;
    assert_eq!(counts(&strict), [5, 1, 0, 0, 4]);
    let acme_id = acme["id"].as_str().unwrap();
    let strict_errors = errors(&strict);
    assert_eq!(
        strict_errors[0],
        (
            2,
            "domain".to_owned(),
            format!("an account has this domain ({acme_id})")
        )
    );
    assert_eq!(strict_errors[1], (4, "domain".to_owned(), "repeats line 3".to_owned()));
    assert_eq!((strict_errors[2].0, strict_errors[2].1.as_str()), (5, "name"));
    assert_eq!((strict_errors[3].0, strict_errors[3].1.as_str()), (6, "country"));

    let update = imported(&app, token, "resource=accounts&mode=partial&dedupe=update", file).await;
    assert_eq!(counts(&update), [5, 0, 1, 1, 3], "Globex is unchanged");
    assert_eq!(
        errors(&update)[0],
        (4, "domain".to_owned(), "repeats line 3".to_owned()),
        "a second row for one account"
    );
    let acme = expect_status(
        app.get(&format!("/api/v1/accounts/{acme_id}"), token)
            .send()
            .await
            .unwrap(),
        StatusCode::OK,
    )
    .await;
    assert_eq!(acme["name"], "Acme Group");
    assert_eq!(acme["employee_count"], 1200);
    assert_eq!(acme["country"], "DE");
    assert_eq!(acme["industry"], "Tools", "a blank cell leaves the field alone");
    assert_eq!(app.scalar("select count(*) from accounts").await, 2);
}

async fn contacts_import_with_their_accounts_and_the_email_guard(app: TestApp) {
    let admin = app.signup("contacts-import").await;
    let token = &admin.access_token;
    let account = expect_status(
        app.post("/api/v1/accounts", token, &json!({"name": "Acme"}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let account_id = account["id"].as_str().unwrap();
    let stranger = app.signup("contacts-stranger").await;
    let foreign = expect_status(
        app.post("/api/v1/accounts", &stranger.access_token, &json!({"name": "Theirs"}))
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let lead = create_lead(&app, &admin, json!({"first_name": "Lea", "email": "lea@acme.example"})).await;
    let file = format!(
        "first_name,last_name,email,account_id,buying_role\n\
         Ada,Lovelace,ada@acme.example,{account_id},decision_maker\n\
         Bob,Foreign,bob@acme.example,{},\n\
         Lea,Lead,lea@acme.example,,\n\
         Cy,Role,cy@acme.example,,boss\n",
        foreign["id"].as_str().unwrap()
    );
    let report = imported(&app, token, "resource=contacts&mode=partial", file.clone()).await;
    assert_eq!(counts(&report), [4, 1, 0, 0, 3]);
    let report_errors = errors(&report);
    assert_eq!(
        report_errors[0],
        (
            3,
            "account_id".to_owned(),
            "must be an account of the organization that is not in the trash".to_owned()
        ),
        "another organization's account is no account"
    );
    assert_eq!(
        report_errors[1],
        (
            4,
            "email".to_owned(),
            format!("a lead has this email ({})", lead["id"].as_str().unwrap())
        )
    );
    assert_eq!((report_errors[2].0, report_errors[2].1.as_str()), (5, "buying_role"));
    assert_eq!(
        app.scalar(&format!(
            "select count(*) from contacts where email = 'ada@acme.example' and buying_role = 'decision_maker' and account_id = {}",
            app.sql_uuid(account_id.parse().unwrap())
        ))
        .await,
        1
    );
    let skipped = imported(&app, token, "resource=contacts&mode=partial&dedupe=skip", file).await;
    assert_eq!(counts(&skipped), [4, 0, 0, 2, 2], "Ada is there; Lea is a lead");
}

pub async fn export_of(app: &TestApp, token: &str, resource: &str) -> String {
    let response = app
        .get(&format!("/api/v1/exports/{resource}"), token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    let disposition = response.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert!(
        disposition.starts_with(&format!("attachment; filename=\"pipewise-{resource}-")),
        "{disposition}"
    );
    response.text().await.unwrap()
}

async fn contact_and_account_exports_import_back_as_they_were(app: TestApp) {
    let source = app.signup("records-source").await;
    let token = &source.access_token;
    let account = expect_status(
        app.post(
            "/api/v1/accounts",
            token,
            &json!({"name": "=Acme, Inc.", "domain": "acme.example", "industry": "Tools", "employee_count": 40,
                    "country": "FR", "external_id": "acc-1"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    expect_status(
        app.post(
            "/api/v1/contacts",
            token,
            &json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.example", "phone": "+33 1",
                    "title": "CTO", "account_id": account["id"], "buying_role": "champion", "external_id": "ct-1"}),
        )
        .send()
        .await
        .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let accounts = export_of(&app, token, "accounts").await;
    let contacts = export_of(&app, token, "contacts").await;
    assert!(accounts.contains("'=Acme, Inc."), "{accounts}");

    // In the same organization, every row finds its record and changes nothing.
    let again = imported(&app, token, "resource=accounts&dedupe=update", accounts.clone()).await;
    assert_eq!(counts(&again), [1, 0, 0, 1, 0]);
    let again = imported(&app, token, "resource=contacts&dedupe=update", contacts.clone()).await;
    assert_eq!(counts(&again), [1, 0, 0, 1, 0]);

    // Elsewhere, the same records come back.
    let target = app.signup("records-target").await;
    imported(
        &app,
        &target.access_token,
        "resource=accounts&mapping=owner_id:ignore",
        accounts,
    )
    .await;
    imported(
        &app,
        &target.access_token,
        "resource=contacts&mapping=owner_id:ignore,account_id:ignore",
        contacts,
    )
    .await;
    let keys = |v: &Value, keys: &[&str]| -> Value {
        Value::Object(keys.iter().map(|k| (k.to_string(), v[*k].clone())).collect())
    };
    let account_keys = [
        "name",
        "domain",
        "industry",
        "employee_count",
        "country",
        "external_id",
        "created_at",
    ];
    let contact_keys = [
        "first_name",
        "last_name",
        "email",
        "phone",
        "title",
        "buying_role",
        "external_id",
        "created_at",
    ];
    for (path, fields) in [
        ("/api/v1/accounts", &account_keys[..]),
        ("/api/v1/contacts", &contact_keys[..]),
    ] {
        let list = |token: String| {
            let app = &app;
            async move {
                let body = expect_status(app.get(path, &token).send().await.unwrap(), StatusCode::OK).await;
                body["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| keys(r, fields))
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            list(target.access_token.clone()).await,
            list(source.access_token.clone()).await
        );
    }
}
