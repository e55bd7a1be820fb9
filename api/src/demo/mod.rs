//! `pipewise demo`: a new organization with a year of believable history,
//! so that every report has something to show the moment one logs in.
//!
//! The small set-up (organization, users, pipelines, exchange rates,
//! scoring rules) goes through the same store methods as the API; the
//! year itself ([`story`]) is simulated in memory and written with the bulk
//! inserts, while the next slice is being simulated.

pub mod story;

use std::{sync::Arc, time::Instant};

use chrono::{DateTime, Duration, Utc};
use pipewise_domain::{
    pipeline::RottingDays,
    scoring::{Condition, Operand, Operator, ScoringField},
    Currency, Email, ExchangeRate, MqlThreshold, Name, NewStage, NewUser, Organization, Password, Points, Probability,
    Role, TimeZone,
};
use pipewise_storage::{Actor, Backend, Page, RuleFields, Store, StoreError};
use rand::{distributions::Alphanumeric, Rng};
use rust_decimal::Decimal;
use uuid::Uuid;

use self::story::{Batch, Cast, PipelineInfo, StageInfo, Story};
use crate::security::password::Hasher;

/// What to generate.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// How many deals the history has.
    pub deals: u64,
    /// How many years the history spans (the deals spread evenly over them).
    pub years: u32,
    /// The same seed (and the same `now`) gives the same data, apart from ids.
    pub seed: u64,
    /// Report progress on standard error.
    pub progress: bool,
}

/// Someone who can log in to the demo organization.
#[derive(Debug, Clone)]
pub struct DemoUser {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub role: Role,
}

/// How many rows of each kind the demo wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DemoCounts {
    pub accounts: u64,
    pub contacts: u64,
    pub leads: u64,
    pub deals: u64,
    pub deal_events: u64,
    pub activities: u64,
}

impl DemoCounts {
    pub fn rows(&self) -> u64 {
        self.accounts + self.contacts + self.leads + self.deals + self.deal_events + self.activities
    }
}

/// What `pipewise demo` made, and how to get in.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    pub organization_id: Uuid,
    pub organization_name: String,
    /// Admin first, then the manager and the reps.
    pub users: Vec<DemoUser>,
    /// One password for every demo user, made up for this run.
    pub password: String,
    pub seed: u64,
    pub counts: DemoCounts,
    pub seconds: f64,
}

impl DemoSummary {
    pub fn admin(&self) -> &DemoUser {
        &self.users[0]
    }

    pub fn rep(&self) -> &DemoUser {
        self.users
            .iter()
            .find(|u| u.role == Role::Rep)
            .expect("the demo has reps")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the demo generator stopped: {0}")]
    Generator(String),
}

const ORGANIZATION: &str = "Nordwind Analytics (demo)";
const PEOPLE: [(&str, Role); 6] = [
    ("Hanna Berger", Role::Admin),
    ("Jonas Keller", Role::Manager),
    ("Mia Wagner", Role::Rep),
    ("Luca Rossi", Role::Rep),
    ("Emma Clarke", Role::Rep),
    ("Noah Fischer", Role::Rep),
];

fn name(raw: &str) -> Name {
    Name::parse(raw).expect("a valid name")
}

fn stage(name_: &str, probability: i64, rotting_days: Option<i64>) -> NewStage {
    NewStage {
        name: name(name_),
        probability: Probability::new(probability).expect("0–100"),
        rotting_days: rotting_days.map(|d| RottingDays::new(d).expect("1–3650")),
    }
}

/// (name, probability, rotting days, mean days in the stage, chance that the step out is a loss)
type StagePlan = (&'static str, i64, Option<i64>, f64, f64);

const NEW_BUSINESS: [StagePlan; 4] = [
    ("Qualification", 10, Some(14), 6.0, 0.22),
    ("Discovery", 25, Some(21), 9.0, 0.20),
    ("Proposal", 50, Some(30), 12.0, 0.22),
    ("Negotiation", 75, None, 10.0, 0.25),
];
const RENEWALS: [StagePlan; 3] = [
    ("Renewal due", 60, None, 14.0, 0.08),
    ("Quote sent", 80, Some(14), 8.0, 0.10),
    ("Signature", 90, Some(10), 5.0, 0.06),
];

fn rule(name_: &str, field: ScoringField, operator: Operator, operand: Operand, points: i64) -> RuleFields {
    RuleFields {
        name: name_.to_owned(),
        condition: Condition::new(field, operator, operand).expect("a valid condition"),
        points: Points::new(points).expect("-100–100"),
        active: true,
    }
}

fn scoring_rules() -> Vec<RuleFields> {
    let texts = |items: &[&str]| Operand::TextList(items.iter().map(|s| (*s).to_owned()).collect());
    vec![
        rule(
            "Business email",
            ScoringField::EmailDomainKind,
            Operator::Equals,
            Operand::Text("business".to_owned()),
            15,
        ),
        rule(
            "Free mail address",
            ScoringField::EmailDomainKind,
            Operator::Equals,
            Operand::Text("free".to_owned()),
            -10,
        ),
        rule(
            "Company of 50 or more",
            ScoringField::EmployeeCount,
            Operator::Gte,
            Operand::Number(Decimal::from(50)),
            15,
        ),
        rule(
            "Referred or partner lead",
            ScoringField::Source,
            Operator::In,
            texts(&["referral", "partner"]),
            20,
        ),
        rule(
            "Target industry",
            ScoringField::Industry,
            Operator::In,
            texts(&["Software", "Manufacturing", "Financial services"]),
            10,
        ),
        rule(
            "Decision maker",
            ScoringField::Title,
            Operator::In,
            texts(&["CEO", "CTO", "Head of Sales", "IT Director", "Head of Finance"]),
            10,
        ),
        rule(
            "Engaged: two activities done",
            ScoringField::ActivitiesDone,
            Operator::Gte,
            Operand::Number(Decimal::from(2)),
            15,
        ),
        rule(
            "Engaged: four activities done",
            ScoringField::ActivitiesDone,
            Operator::Gte,
            Operand::Number(Decimal::from(4)),
            10,
        ),
    ]
}

/// A password nobody can guess from the seed: the demo may sit in a real database.
fn demo_password() -> String {
    let part = || -> String {
        rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(5)
            .map(char::from)
            .collect()
    };
    format!("demo-{}-{}-{}", part(), part(), part())
}

/// Creates the organization, its people, pipelines, rates and rules, as of
/// `founded` (before the year starts), through the API's own store methods.
async fn set_up(store: &dyn Store, founded: DateTime<Utc>, password: &str) -> Result<(Cast, DemoSummary), DemoError> {
    let org_id = Uuid::now_v7();
    // Emails are unique across organizations: each demo gets a domain of its own.
    let domain = format!("demo-{}.example", &org_id.simple().to_string()[24..]);
    let email = |person: &str| {
        let local = person.to_lowercase().replace(' ', ".");
        Email::parse(&format!("{local}@{domain}")).expect("a valid email")
    };
    let hasher = Hasher::new(1, std::time::Duration::from_secs(60));
    let hash = hasher
        .hash(Password::parse(password).expect("a long enough password"))
        .await
        .map_err(|e| DemoError::Generator(e.to_string()))?;

    let organization = Organization {
        id: org_id,
        name: name(ORGANIZATION),
        base_currency: Currency::parse("EUR").expect("EUR"),
        timezone: TimeZone::parse("Europe/Berlin").expect("a time zone"),
        mql_threshold: MqlThreshold::DEFAULT,
        version: 1,
        created_at: founded,
        updated_at: founded,
    };
    let new_user = |(person, role): (&str, Role)| NewUser {
        email: email(person),
        name: name(person),
        role,
        password_hash: hash.clone(),
    };
    let admin = store
        .create_organization(&organization, &new_user(PEOPLE[0]), founded)
        .await?;
    let mut users = vec![admin];
    for person in &PEOPLE[1..] {
        let user = store
            .create_user(org_id, &new_user(*person), Actor::User(users[0].id), founded)
            .await?;
        users.push(user);
    }

    // The default pipeline gives way to the demo's two.
    let default_pipelines = store.pipelines(org_id, Page { after: None, limit: 10 }).await?;
    let new_business = create_pipeline(store, org_id, "New business", &NEW_BUSINESS, founded).await?;
    let renewals = create_pipeline(store, org_id, "Renewals", &RENEWALS, founded).await?;
    for pipeline in default_pipelines {
        store.delete_pipeline(org_id, pipeline.id, None).await?;
    }

    for (currency, rate) in [("USD", "0.9200"), ("GBP", "1.1700")] {
        store
            .put_exchange_rate(
                org_id,
                Currency::parse(currency).expect("a currency"),
                ExchangeRate::parse(rate).expect("a rate"),
                founded,
            )
            .await?;
    }
    let mut rules = Vec::new();
    for fields in scoring_rules() {
        rules.push(store.create_scoring_rule(org_id, &fields, founded).await?.rule);
    }

    let cast = Cast {
        organization_id: org_id,
        manager: users[1].id,
        reps: users[2..].iter().map(|u| u.id).collect(),
        new_business,
        renewals,
        rules,
        threshold: organization.mql_threshold,
    };
    let summary = DemoSummary {
        organization_id: org_id,
        organization_name: ORGANIZATION.to_owned(),
        users: users
            .iter()
            .map(|u| DemoUser {
                id: u.id,
                name: u.name.as_str().to_owned(),
                email: u.email.as_str().to_owned(),
                role: u.role,
            })
            .collect(),
        password: password.to_owned(),
        seed: 0,
        counts: DemoCounts::default(),
        seconds: 0.0,
    };
    Ok((cast, summary))
}

async fn create_pipeline(
    store: &dyn Store,
    org: Uuid,
    pipeline_name: &str,
    plan: &[StagePlan],
    now: DateTime<Utc>,
) -> Result<PipelineInfo, DemoError> {
    let stages: Vec<NewStage> = plan.iter().map(|(n, p, r, _, _)| stage(n, *p, *r)).collect();
    let pipeline = store.create_pipeline(org, &name(pipeline_name), &stages, now).await?;
    Ok(PipelineInfo {
        id: pipeline.id,
        stages: pipeline
            .stages
            .iter()
            .zip(plan)
            .map(|(s, (_, _, _, mean_days, lose))| StageInfo {
                id: s.id,
                probability: s.probability.value(),
                mean_days: *mean_days,
                lose: *lose,
            })
            .collect(),
    })
}

/// The rows of a batch that others refer to: accounts, contacts, deals.
async fn write_records(store: &dyn Store, org: Uuid, batch: &Batch) -> Result<(), StoreError> {
    store.insert_accounts(org, &batch.accounts).await?;
    store.insert_contacts(org, &batch.contacts).await?;
    store.insert_deals(org, &batch.deals).await?;
    Ok(())
}

/// The rest of a batch, once its records are written: leads (which name the
/// deals they became) and activities.
async fn write_follow_ups(store: &dyn Store, org: Uuid, batch: &Batch) -> Result<(), StoreError> {
    store.insert_leads(org, &batch.leads).await?;
    store.insert_activities(org, &batch.activities).await?;
    Ok(())
}

/// Creates a demo organization in the database at `database_url` with the
/// year up to `now`, and tells how to log in.
pub async fn run(database_url: &str, options: &DemoOptions, now: DateTime<Utc>) -> Result<DemoSummary, DemoError> {
    let began = Instant::now();
    let store = pipewise_storage::connect(database_url, std::sync::Arc::new(crate::render::ApiRender)).await?;
    let founded = now - Duration::days(story::YEAR_DAYS * i64::from(options.years)) - Duration::days(1);
    let (cast, mut summary) = set_up(&*store, founded, &demo_password()).await?;
    summary.seed = options.seed;
    let org = cast.organization_id;

    // The simulation runs on a thread of its own, a batch or two ahead of the writes.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<(Batch, u64, u64)>(2);
    let (deals, seed, years) = (options.deals, options.seed, options.years);
    let generator = tokio::task::spawn_blocking(move || {
        let mut story = Story::new(cast, seed, deals, years, now);
        while let Some(batch) = story.next_batch() {
            if sender
                .blocking_send((batch, story.deals_told(), story.deals()))
                .is_err()
            {
                break;
            }
        }
    });

    // On PostgreSQL, a batch's leads and activities are written on a second
    // connection while the next batch's records are written: the server's
    // work per row (index entries, foreign key checks) then runs on two
    // cores. SQLite has one writer at a time, so there it all runs in turn.
    let overlap = store.backend() == Backend::Postgres;
    let mut follow_ups: Option<tokio::task::JoinHandle<Result<(), StoreError>>> = None;
    let mut counts = DemoCounts::default();
    let mut reported = 0;
    while let Some((batch, told, total)) = receiver.recv().await {
        write_records(&*store, org, &batch).await?;
        if let Some(previous) = follow_ups.take() {
            previous.await.map_err(|e| DemoError::Generator(e.to_string()))??;
        }
        counts.accounts += batch.accounts.len() as u64;
        counts.contacts += batch.contacts.len() as u64;
        counts.leads += batch.leads.len() as u64;
        counts.deals += batch.deals.len() as u64;
        counts.deal_events += batch.events() as u64;
        counts.activities += batch.activities.len() as u64;
        if overlap {
            let store = Arc::clone(&store);
            follow_ups = Some(tokio::spawn(
                async move { write_follow_ups(&*store, org, &batch).await },
            ));
        } else {
            write_follow_ups(&*store, org, &batch).await?;
        }
        let percent = told * 100 / total.max(1);
        if options.progress && percent >= reported + 5 {
            reported = percent - percent % 5;
            eprintln!(
                "demo: {told} of {total} deals ({percent} %), {} rows, {:.0} s",
                counts.rows(),
                began.elapsed().as_secs_f64()
            );
        }
    }
    if let Some(last) = follow_ups {
        last.await.map_err(|e| DemoError::Generator(e.to_string()))??;
    }
    generator.await.map_err(|e| DemoError::Generator(e.to_string()))?;
    store.analyze().await?;
    summary.counts = counts;
    summary.seconds = began.elapsed().as_secs_f64();
    Ok(summary)
}

/// The summary as `pipewise demo` prints it.
pub fn describe(summary: &DemoSummary) -> String {
    let c = &summary.counts;
    let mut text = format!(
        "Demo organization: {} ({})\n\
         Password of every demo user: {}\n\
         Log in as the admin: {}\n\
         Log in as a rep:     {}\n",
        summary.organization_name,
        summary.organization_id,
        summary.password,
        summary.admin().email,
        summary.rep().email,
    );
    text.push_str("Users:\n");
    for user in &summary.users {
        text.push_str(&format!(
            "  {:<8} {:<14} {}\n",
            user.role.as_str(),
            user.name,
            user.email
        ));
    }
    text.push_str(&format!(
        "Wrote {} deals ({} events), {} leads, {} activities, {} accounts, {} contacts: {} rows in {:.1} s (seed {}).\n",
        c.deals,
        c.deal_events,
        c.leads,
        c.activities,
        c.accounts,
        c.contacts,
        c.rows(),
        summary.seconds,
        summary.seed
    ));
    text
}
