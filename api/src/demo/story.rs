//! The demo organization's year, simulated: leads come in and are worked,
//! some convert into deals, deals move through their stages and close, and
//! reps log their calls, emails, meetings and tasks along the way.
//!
//! Everything here is decided by one seeded random generator, consumed in
//! one fixed order, so the same seed and the same `now` tell the same
//! story; only the ids (UUID v7 of each row's own creation time, for an id
//! order that is the creation order) differ between runs. Nothing here
//! reads the clock: the history ends at the `now` it is given.
//!
//! Every deal's history is made by `pipewise_domain::deal::apply`, command by
//! command, and its row is the state the last transition left; every lead's
//! score is what the organization's rules give at each change, as the API
//! computes it, and `mql_at` the first change that reached the threshold.

use std::{
    collections::{hash_map::DefaultHasher, HashSet},
    hash::{Hash, Hasher},
};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc, Weekday};
use pipewise_domain::{
    deal::{self, BuyingRole, Command, DealState, DealStatus, EventKind, ForecastCategory, LostReason, StageRef},
    lead::{mql_at, LeadProgress, LeadStatus},
    scoring::{score, LeadFacts},
    ActivityType, Amount, Country, Currency, DealContact, Email, Lead, Links, MqlThreshold, Probability, Score,
    ScoringRule,
};
use pipewise_storage::{
    AccountFields, ActivityFields, Actor, BulkAccount, BulkActivity, BulkContact, BulkDeal, BulkDealEvent, BulkLead,
    ContactFields, LeadFields,
};
use rand::{rngs::StdRng, Rng, SeedableRng};
use uuid::Uuid;

/// How long one year of history is.
pub const YEAR_DAYS: i64 = 365;
/// Leads per deal over the year.
const LEADS_PER_DEAL: f64 = 1.5;
/// Accounts per deal in the pool of existing companies.
const ACCOUNTS_PER_DEAL: f64 = 0.25;
/// Deals per batch of the simulation: each batch is one slice of the year.
/// Large, because a bulk insert rewrites every index page it touches once
/// per transaction: the more rows a transaction brings to a page, the fewer
/// times the page is written (measured on SQLite, 400,000 deals: 125 s at
/// 10,000 deals a batch, 98 s at 40,000).
const DEALS_PER_BATCH: u64 = 40_000;
/// Accounts per batch while the pool of companies is written.
const ACCOUNTS_PER_BATCH: usize = 10_000;

/// The lost reasons reps pick from.
pub const LOST_REASONS: [&str; 5] = ["price", "competitor", "no budget", "timing", "no decision"];
/// Where leads come from.
pub const LEAD_SOURCES: [&str; 5] = ["web_form", "referral", "partner", "event", "outbound"];
const UNQUALIFIED_REASONS: [&str; 5] = [
    "no budget",
    "no need",
    "wrong contact",
    "student or job seeker",
    "no response",
];

/// A stage as the simulation needs it.
#[derive(Debug, Clone)]
pub struct StageInfo {
    pub id: Uuid,
    pub probability: u8,
    /// Mean days a deal spends here before the next step.
    pub mean_days: f64,
    /// The chance that the step out of this stage is a loss.
    pub lose: f64,
}

#[derive(Debug, Clone)]
pub struct PipelineInfo {
    pub id: Uuid,
    pub stages: Vec<StageInfo>,
}

/// The organization the story happens in, as set up through the store.
#[derive(Debug, Clone)]
pub struct Cast {
    pub organization_id: Uuid,
    pub manager: Uuid,
    pub reps: Vec<Uuid>,
    pub new_business: PipelineInfo,
    pub renewals: PipelineInfo,
    pub rules: Vec<ScoringRule>,
    pub threshold: MqlThreshold,
}

/// Rows to write together, in this order (each references only rows of
/// earlier batches or of earlier fields of its own).
#[derive(Debug, Default)]
pub struct Batch {
    pub accounts: Vec<BulkAccount>,
    pub contacts: Vec<BulkContact>,
    pub deals: Vec<BulkDeal>,
    pub leads: Vec<BulkLead>,
    pub activities: Vec<BulkActivity>,
}

impl Batch {
    pub fn events(&self) -> usize {
        self.deals.iter().map(|d| d.events.len()).sum()
    }
}

/// A company of the pool, as deals need it.
struct Company {
    id: Uuid,
    created_at: DateTime<Utc>,
    name: String,
    contacts: Vec<Uuid>,
    employees: Option<i64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    NewBusiness,
    Renewals,
}

pub struct Story {
    rng: StdRng,
    cast: Cast,
    now: DateTime<Utc>,
    start: DateTime<Utc>,
    /// How many days the history spans.
    history_days: i64,
    deals: u64,
    leads: u64,
    companies: Vec<Company>,
    /// The pool of companies still to be handed out as rows.
    pool: std::vec::IntoIter<(BulkAccount, Vec<BulkContact>)>,
    /// Hashes of every email given out: contacts' emails are unique.
    emails: HashSet<u64>,
    slices: u64,
    slice: u64,
}

/// A timestamp's id: UUID v7 of that instant. Its random bits come from the
/// thread's generator, not the story's (ids may differ between runs), and
/// not from the system for each id: a million deals make some fifteen
/// million ids.
fn id_at(at: DateTime<Utc>) -> Uuid {
    let random: [u8; 10] = rand::thread_rng().gen();
    uuid::Builder::from_unix_timestamp_millis(at.timestamp_millis().max(0) as u64, &random).into_uuid()
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

/// A company's country, drawn by the weights of [`COUNTRIES`] from its name
/// rather than from the generator, so that the rest of the story stays as
/// the same seed has always told it.
fn country_of(name: &str) -> Country {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let total: f64 = COUNTRIES.iter().map(|(_, w)| w).sum();
    let mut x = (hash % 10_000) as f64 / 10_000.0 * total;
    for (code, weight) in COUNTRIES {
        if x < weight {
            return Country::parse(code).expect("a listed country");
        }
        x -= weight;
    }
    Country::parse(COUNTRIES[0].0).expect("a listed country")
}

/// An index drawn with the given weights.
fn weighted(rng: &mut StdRng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut x = rng.gen::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

/// Days drawn from an exponential distribution with mean `mean`, plus `min`.
fn days(rng: &mut StdRng, min: f64, mean: f64) -> f64 {
    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
    min + mean * -u.ln()
}

fn secs(days: f64) -> Duration {
    Duration::seconds((days * 86_400.0) as i64)
}

const FIRST_NAMES: [&str; 40] = [
    "Anna",
    "Ben",
    "Clara",
    "David",
    "Elena",
    "Felix",
    "Greta",
    "Hugo",
    "Ida",
    "Jan",
    "Katrin",
    "Lukas",
    "Marie",
    "Nils",
    "Olivia",
    "Paul",
    "Quentin",
    "Rosa",
    "Simon",
    "Tara",
    "Ulrich",
    "Vera",
    "Walter",
    "Yara",
    "Zoe",
    "Amelie",
    "Bastian",
    "Chloe",
    "Dominik",
    "Emily",
    "Florian",
    "Hannah",
    "Isabel",
    "Jonas",
    "Leonie",
    "Maximilian",
    "Nora",
    "Oscar",
    "Sophie",
    "Thomas",
];
const LAST_NAMES: [&str; 40] = [
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Hofmann",
    "Hartmann",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Wilson",
    "Evans",
    "Martin",
    "Bernard",
    "Dubois",
    "Laurent",
    "Rossi",
    "Bianchi",
    "Jansen",
    "de Vries",
    "Bakker",
    "Novak",
    "Horvat",
    "Keller",
    "Frei",
    "Baumann",
];
const COMPANY_STEMS: [&str; 40] = [
    "Nordlicht",
    "Alpenblick",
    "Rheinwerk",
    "Sonnenfeld",
    "Bergmann",
    "Eichenhof",
    "Falkenstein",
    "Greenfield",
    "Harbor",
    "Ironbridge",
    "Juniper",
    "Kestrel",
    "Lindenbaum",
    "Meridian",
    "Northgate",
    "Oakridge",
    "Polaris",
    "Quantum",
    "Riverside",
    "Silverline",
    "Tannenberg",
    "Uhlmann",
    "Vantage",
    "Westwind",
    "Zenith",
    "Atlas",
    "Blauwasser",
    "Cobalt",
    "Delta",
    "Elbtal",
    "Fjord",
    "Granit",
    "Helix",
    "Isar",
    "Kronos",
    "Lumen",
    "Nova",
    "Orbit",
    "Pioneer",
    "Sterling",
];
const COMPANY_TRADES: [&str; 16] = [
    "Logistics",
    "Systems",
    "Maschinenbau",
    "Software",
    "Consulting",
    "Foods",
    "Energy",
    "Medical",
    "Textil",
    "Automotive",
    "Finance",
    "Retail",
    "Labs",
    "Bau",
    "Media",
    "Pharma",
];
const LEGAL_FORMS: [&str; 6] = ["GmbH", "AG", "Ltd", "SE", "BV", "SARL"];
const INDUSTRIES: [&str; 8] = [
    "Software",
    "Manufacturing",
    "Financial services",
    "Healthcare",
    "Retail",
    "Logistics",
    "Energy",
    "Education",
];
const TITLES: [&str; 12] = [
    "CEO",
    "CTO",
    "Head of Sales",
    "Head of Operations",
    "IT Director",
    "Procurement Manager",
    "Project Manager",
    "Marketing Manager",
    "Head of Finance",
    "Team Lead",
    "Analyst",
    "Office Manager",
];
const PRODUCTS: [&str; 8] = [
    "Analytics platform",
    "Fleet tracking",
    "Support plan",
    "Data integration",
    "Team licences",
    "Onboarding package",
    "Reporting suite",
    "API access",
];
const FREE_MAIL: [&str; 4] = ["gmail.com", "outlook.com", "web.de", "gmx.de"];
const COUNTRIES: [(&str, f64); 7] = [
    ("DE", 40.0),
    ("AT", 10.0),
    ("CH", 8.0),
    ("GB", 12.0),
    ("US", 12.0),
    ("FR", 8.0),
    ("NL", 10.0),
];

/// The words of a company: its name and its mail domain.
fn company_name(rng: &mut StdRng) -> (String, String) {
    let stem = *pick(rng, &COMPANY_STEMS);
    let trade = *pick(rng, &COMPANY_TRADES);
    let form = *pick(rng, &LEGAL_FORMS);
    let slug = |s: &str| {
        s.to_lowercase()
            .replace('ü', "ue")
            .replace('ö', "oe")
            .replace('ä', "ae")
            .replace(' ', "-")
    };
    (
        format!("{stem} {trade} {form}"),
        format!("{}-{}.example", slug(stem), slug(trade)),
    )
}

fn ascii_local(first: &str, last: &str) -> String {
    format!("{first}.{last}")
        .to_lowercase()
        .replace('ü', "ue")
        .replace('ö', "oe")
        .replace('ä', "ae")
        .replace(' ', "")
}

impl Story {
    /// `deals` spread evenly over `years` years up to `now`.
    pub fn new(cast: Cast, seed: u64, deals: u64, years: u32, now: DateTime<Utc>) -> Self {
        let history_days = YEAR_DAYS * i64::from(years);
        let start = now - Duration::days(history_days);
        let mut story = Story {
            rng: StdRng::seed_from_u64(seed),
            cast,
            now,
            start,
            history_days,
            deals,
            leads: (deals as f64 * LEADS_PER_DEAL).round() as u64,
            companies: Vec::new(),
            pool: Vec::new().into_iter(),
            emails: HashSet::new(),
            slices: deals.div_ceil(DEALS_PER_BATCH).max(1),
            slice: 0,
        };
        let pool = story.company_pool();
        story.pool = pool.into_iter();
        story
    }

    /// The next rows to write, or `None` when the year is told.
    pub fn next_batch(&mut self) -> Option<Batch> {
        let mut batch = Batch::default();
        for (account, contacts) in self.pool.by_ref().take(ACCOUNTS_PER_BATCH) {
            batch.accounts.push(account);
            batch.contacts.extend(contacts);
        }
        if !batch.accounts.is_empty() {
            return Some(batch);
        }
        if self.slice == self.slices {
            return None;
        }
        self.tell_slice(&mut batch);
        self.slice += 1;
        Some(batch)
    }

    /// How many deals the story will have told when it ends.
    pub fn deals(&self) -> u64 {
        self.deals
    }

    /// How many of the deals the slices so far have told.
    pub fn deals_told(&self) -> u64 {
        self.share(self.deals, self.slice)
    }

    /// Slice `k`'s cumulative share of `total`.
    fn share(&self, total: u64, k: u64) -> u64 {
        (total as u128 * k as u128 / self.slices as u128) as u64
    }

    /// A working-hours instant (07:00–17:00 UTC, Monday to Friday) on the
    /// day of `at`, or the next working day.
    fn office(&mut self, at: DateTime<Utc>) -> DateTime<Utc> {
        let mut date = at.date_naive();
        match date.weekday() {
            Weekday::Sat => date += Duration::days(2),
            Weekday::Sun => date += Duration::days(1),
            _ => {}
        }
        let minute = self.rng.gen_range(7 * 60..17 * 60);
        let time = date
            .and_hms_opt(minute / 60, minute % 60, self.rng.gen_range(0..60))
            .expect("a valid time");
        Utc.from_utc_datetime(&time)
    }

    /// A working-hours instant about `delay` days after `after`, never at or before it.
    fn later(&mut self, after: DateTime<Utc>, delay: f64) -> DateTime<Utc> {
        let candidate = self.office(after + secs(delay));
        if candidate > after {
            candidate
        } else {
            after + Duration::minutes(self.rng.gen_range(10..240))
        }
    }

    fn user(&mut self) -> (usize, Uuid) {
        // Reps carry different loads; the manager keeps a few deals of their own.
        let i = weighted(&mut self.rng, &[0.31, 0.26, 0.22, 0.16, 0.05]);
        (i, self.cast.reps.get(i).copied().unwrap_or(self.cast.manager))
    }

    /// A contact email nobody in the organization has yet.
    fn unique_email(&mut self, local: &str, domain: &str) -> Email {
        let mut candidate = format!("{local}@{domain}");
        let mut n = 1;
        loop {
            let mut hasher = DefaultHasher::new();
            candidate.hash(&mut hasher);
            if self.emails.insert(hasher.finish()) {
                break;
            }
            n += 1;
            candidate = format!("{local}{n}@{domain}");
        }
        Email::parse(&candidate).expect("a generated email is valid")
    }

    fn person(&mut self) -> (&'static str, &'static str) {
        (*pick(&mut self.rng, &FIRST_NAMES), *pick(&mut self.rng, &LAST_NAMES))
    }

    fn phone(&mut self) -> Option<String> {
        self.rng.gen_bool(0.6).then(|| {
            format!(
                "+49 {} {}",
                self.rng.gen_range(30..990),
                self.rng.gen_range(100_000..9_999_999)
            )
        })
    }

    fn employees(&mut self) -> Option<i64> {
        self.rng
            .gen_bool(0.85)
            .then(|| (5.0 * days(&mut self.rng, 0.0, 1.0).exp().powf(1.6)).min(20_000.0) as i64 + 2)
    }

    /// The companies the organization already knows: a third was in the CRM
    /// when the year began, the rest arrive over the year. Sorted by creation.
    fn company_pool(&mut self) -> Vec<(BulkAccount, Vec<BulkContact>)> {
        let count = ((self.deals as f64 * ACCOUNTS_PER_DEAL).round() as usize).max(20);
        let mut times: Vec<DateTime<Utc>> = (0..count)
            .map(|_| {
                let day = if self.rng.gen_bool(0.35) {
                    self.rng.gen_range(0.0..2.0)
                } else {
                    self.rng.gen_range(0.0..self.history_days as f64)
                };
                self.start + secs(day)
            })
            .collect();
        times.sort();
        let mut rows = Vec::with_capacity(count);
        for created in times {
            let created = self.office(created).min(self.now);
            let (name, domain) = company_name(&mut self.rng);
            let (_, owner) = self.user();
            let id = id_at(created);
            let fields = AccountFields {
                external_id: None,
                tags: Default::default(),
                custom_fields: Default::default(),
                name: name.clone(),
                domain: Some(domain.clone()),
                industry: Some((*pick(&mut self.rng, &INDUSTRIES)).to_owned()),
                employee_count: self.employees(),
                country: Some(country_of(&name)),
                owner_id: owner,
            };
            let contacts: Vec<BulkContact> = (0..self.rng.gen_range(1..=3))
                .map(|_| {
                    let (first, last) = self.person();
                    let email = self.unique_email(&ascii_local(first, last), &domain);
                    let at = (created + Duration::minutes(self.rng.gen_range(1..120))).min(self.now);
                    BulkContact {
                        id: id_at(at),
                        fields: ContactFields {
                            external_id: None,
                            tags: Default::default(),
                            custom_fields: Default::default(),
                            first_name: Some(first.to_owned()),
                            last_name: Some(last.to_owned()),
                            email: Some(email),
                            phone: self.phone(),
                            title: Some((*pick(&mut self.rng, &TITLES)).to_owned()),
                            account_id: Some(id),
                            buying_role: Some(*pick(
                                &mut self.rng,
                                &[
                                    BuyingRole::DecisionMaker,
                                    BuyingRole::Influencer,
                                    BuyingRole::Champion,
                                    BuyingRole::User,
                                ],
                            )),
                            owner_id: owner,
                        },
                        created_at: at,
                        updated_at: at,
                        last_activity_at: None,
                    }
                })
                .collect();
            self.companies.push(Company {
                id,
                created_at: created,
                name: name.clone(),
                contacts: contacts.iter().map(|c| c.id).collect(),
                employees: fields.employee_count,
            });
            rows.push((
                BulkAccount {
                    id,
                    fields,
                    created_at: created,
                    updated_at: created,
                    last_activity_at: None,
                },
                contacts,
            ));
        }
        rows
    }

    /// One slice of the year: the leads that came in during it (and what
    /// became of them), and the deals opened in it.
    fn tell_slice(&mut self, batch: &mut Batch) {
        let k = self.slice;
        let span = self.history_days as f64 / self.slices as f64;
        let from = k as f64 * span;
        let deal_target = self.share(self.deals, k + 1) - self.share(self.deals, k);
        let lead_count = self.share(self.leads, k + 1) - self.share(self.leads, k);

        let mut lead_times: Vec<f64> = (0..lead_count).map(|_| from + self.rng.gen_range(0.0..span)).collect();
        lead_times.sort_by(f64::total_cmp);
        let mut converted = 0;
        for day in lead_times {
            let mut created = self.office(self.start + secs(day));
            if created > self.now {
                // The year ends on a weekend: the lead came in just now.
                created = self.now - Duration::minutes(self.rng.gen_range(5..60));
            }
            self.tell_lead(created, converted < deal_target, batch, &mut converted);
        }

        let mut deal_times: Vec<f64> = (0..deal_target - converted)
            .map(|_| from + self.rng.gen_range(0.0..span))
            .collect();
        deal_times.sort_by(f64::total_cmp);
        for day in deal_times {
            let created = self.office(self.start + secs(day)).min(self.now - Duration::minutes(1));
            self.tell_direct_deal(created, batch);
        }
    }

    fn lead_score(&self, lead: &Lead, done: i64) -> Score {
        score(&self.cast.rules, &LeadFacts::of(lead, done)).score
    }

    /// A lead from its first touch to where it stands now; when it converts
    /// (and `may_convert`), its contact, account and deal too.
    fn tell_lead(&mut self, created: DateTime<Utc>, may_convert: bool, batch: &mut Batch, converted: &mut u64) {
        let now = self.now;
        let source = LEAD_SOURCES[weighted(&mut self.rng, &[35.0, 15.0, 12.0, 18.0, 20.0])];
        let (first, last) = self.person();
        let has_company = self.rng.gen_bool(0.9);
        let (company, domain) = company_name(&mut self.rng);
        let free_mail = !has_company || self.rng.gen_bool(0.2);
        let mail_domain = if free_mail {
            (*pick(&mut self.rng, &FREE_MAIL)).to_owned()
        } else {
            domain.clone()
        };
        let email = self.unique_email(&ascii_local(first, last), &mail_domain);
        let (owner_index, owner) = self.user();
        let country = COUNTRIES[weighted(&mut self.rng, &COUNTRIES.map(|(_, w)| w))].0;
        let fields = LeadFields {
            external_id: None,
            tags: Default::default(),
            custom_fields: Default::default(),
            first_name: Some(first.to_owned()),
            last_name: Some(last.to_owned()),
            email: Some(email),
            phone: self.phone(),
            company_name: has_company.then(|| company.clone()),
            title: self
                .rng
                .gen_bool(0.8)
                .then(|| (*pick(&mut self.rng, &TITLES)).to_owned()),
            industry: self
                .rng
                .gen_bool(0.75)
                .then(|| (*pick(&mut self.rng, &INDUSTRIES)).to_owned()),
            employee_count: if has_company { self.employees() } else { None },
            country: Some(Country::parse(country).expect("a listed country")),
            source: Some(source.to_owned()),
            estimated_value: self
                .rng
                .gen_bool(0.5)
                .then(|| Amount::from_minor(self.rng.gen_range(10..1_000) * 10_000).expect("a positive amount")),
            currency: Currency::parse("EUR").expect("EUR"),
            value_period: None,
            owner_id: owner,
        };
        let id = id_at(created);
        let mut lead = Lead {
            external_id: None,
            tags: Default::default(),
            custom_fields: Default::default(),
            id,
            organization_id: self.cast.organization_id,
            first_name: fields.first_name.clone(),
            last_name: fields.last_name.clone(),
            email: fields.email.as_ref().map(|e| e.as_str().to_owned()),
            phone: fields.phone.clone(),
            company_name: fields.company_name.clone(),
            title: fields.title.clone(),
            industry: fields.industry.clone(),
            employee_count: fields.employee_count,
            country: fields.country.clone(),
            source: fields.source.clone(),
            estimated_value: fields.estimated_value,
            currency: fields.currency,
            value_period: fields.value_period,
            progress: LeadProgress::new(LeadStatus::New, None, created).expect("a new lead"),
            owner_id: owner,
            score: Score::default(),
            mql_at: None,
            last_activity_at: None,
            converted_contact_id: None,
            converted_account_id: None,
            converted_deal_id: None,
            form_id: None,
            version: 1,
            created_at: created,
            updated_at: created,
            deleted_at: None,
        };
        let fit = self.lead_score(&lead, 0);
        let mut mql = mql_at(None, fit, self.cast.threshold, created);
        let mut current = fit;

        // The lead is worked: a first response, then a few more touches.
        let mut touches: Vec<DateTime<Utc>> = Vec::new();
        if !self.rng.gen_bool(0.08) {
            let mut t = created + Duration::minutes((days(&mut self.rng, 0.02, 0.6) * 1440.0) as i64);
            for _ in 0..self.rng.gen_range(1..=4) {
                if t > now {
                    break;
                }
                touches.push(t);
                let gap = days(&mut self.rng, 0.5, 3.0);
                t = self.later(t, gap);
            }
        }
        let decided = (created + secs(days(&mut self.rng, 3.0, 10.0))).max(touches.first().copied().unwrap_or(created));
        // Fit decides: the best-fitting leads qualify seven times as often as the worst.
        let p_qualify = 0.08 + 0.8 * f64::from(fit.value()) / 100.0;
        let roll: f64 = self.rng.gen();
        let outcome = if touches.is_empty() || decided > now {
            None
        } else if roll < p_qualify {
            Some(LeadStatus::Qualified)
        } else if roll < p_qualify + 0.4 {
            Some(LeadStatus::Unqualified)
        } else {
            None
        };
        let gap = days(&mut self.rng, 1.0, 8.0);
        let convert_at = self.later(decided, gap);
        let converts =
            outcome == Some(LeadStatus::Qualified) && convert_at <= now && may_convert && self.rng.gen_bool(0.75);
        let reason = *pick(&mut self.rng, &UNQUALIFIED_REASONS);
        // Nobody works a lead after it is settled.
        let settled = if converts {
            Some(convert_at)
        } else if outcome == Some(LeadStatus::Unqualified) {
            Some(decided)
        } else {
            None
        };
        if let (Some(end), Some(first)) = (settled, touches.first().copied()) {
            touches.retain(|t| *t <= end.max(first));
        }

        // Replays the lead's changes in time order, scoring after each one.
        let mut changes: Vec<(DateTime<Utc>, Option<LeadStatus>)> = touches.iter().map(|t| (*t, None)).collect();
        if let Some(status) = outcome {
            changes.push((decided, Some(status)));
        }
        if converts {
            changes.push((convert_at, Some(LeadStatus::Converted)));
        }
        // Stable: a touch at the instant of a decision comes first.
        changes.sort_by_key(|(t, _)| *t);
        let mut done = 0;
        let mut activities = Vec::new();
        for (i, (at, status)) in changes.iter().enumerate() {
            match status {
                None => {
                    done += 1;
                    if lead.progress.status == LeadStatus::New {
                        lead.progress = lead
                            .progress
                            .set_status(LeadStatus::Contacted, None, *at)
                            .expect("contacted");
                        lead.updated_at = *at;
                    }
                    let kind = if i == 0 {
                        *pick(&mut self.rng, &[ActivityType::Call, ActivityType::Email])
                    } else {
                        *pick(
                            &mut self.rng,
                            &[ActivityType::Call, ActivityType::Email, ActivityType::Meeting],
                        )
                    };
                    let subject = match (i, kind) {
                        (0, _) => "First response",
                        (_, ActivityType::Meeting) => "Needs assessment",
                        (_, ActivityType::Email) => "Sent product overview",
                        _ => "Follow-up call",
                    };
                    let links = Links {
                        lead_id: Some(id),
                        ..Links::default()
                    };
                    activities.push(self.done_activity(kind, subject, owner, links, created, *at));
                }
                Some(LeadStatus::Converted) => {
                    lead.progress = lead.progress.convert(*at).expect("an unconverted lead");
                    lead.updated_at = *at;
                }
                Some(LeadStatus::Unqualified) => {
                    lead.progress = lead
                        .progress
                        .set_status(LeadStatus::Unqualified, Some(reason.to_owned()), *at)
                        .expect("a reason");
                    lead.updated_at = *at;
                }
                Some(other) => {
                    lead.progress = lead.progress.set_status(*other, None, *at).expect("a status");
                    lead.updated_at = *at;
                }
            }
            current = self.lead_score(&lead, done);
            mql = mql_at(mql, current, self.cast.threshold, *at);
        }

        // A lead still being worked has its next step planned.
        let open = matches!(
            lead.progress.status,
            LeadStatus::New | LeadStatus::Contacted | LeadStatus::Qualified
        );
        let last_touch = touches.last().copied().unwrap_or(created);
        if open && now - last_touch < Duration::days(30) && self.rng.gen_bool(0.8) {
            let links = Links {
                lead_id: Some(id),
                ..Links::default()
            };
            activities.push(self.next_step("Follow up on enquiry", owner, links, last_touch));
        }

        lead.score = current;
        lead.mql_at = mql;
        lead.last_activity_at = activities.iter().map(activity_instant).max();

        if converts {
            let at = lead.progress.converted_at.expect("converted");
            let contact_id = id_at(at);
            let account_id = has_company.then(|| id_at(at));
            if let Some(account_id) = account_id {
                batch.accounts.push(BulkAccount {
                    id: account_id,
                    fields: AccountFields {
                        external_id: None,
                        tags: Default::default(),
                        custom_fields: Default::default(),
                        name: company.clone(),
                        domain: (!free_mail).then(|| domain.clone()),
                        industry: fields.industry.clone(),
                        employee_count: fields.employee_count,
                        country: fields.country.clone(),
                        owner_id: owner,
                    },
                    created_at: at,
                    updated_at: at,
                    last_activity_at: None,
                });
            }
            let role = *pick(
                &mut self.rng,
                &[BuyingRole::DecisionMaker, BuyingRole::Champion, BuyingRole::Influencer],
            );
            batch.contacts.push(BulkContact {
                id: contact_id,
                fields: ContactFields {
                    external_id: None,
                    tags: Default::default(),
                    custom_fields: Default::default(),
                    first_name: fields.first_name.clone(),
                    last_name: fields.last_name.clone(),
                    email: fields.email.clone(),
                    phone: fields.phone.clone(),
                    title: fields.title.clone(),
                    account_id,
                    buying_role: Some(role),
                    owner_id: owner,
                },
                created_at: at,
                updated_at: at,
                last_activity_at: None,
            });
            let label = if has_company {
                company.clone()
            } else {
                format!("{first} {last}")
            };
            let deal_id = self.tell_deal(
                DealStart {
                    created: at,
                    which: Which::NewBusiness,
                    owner_index,
                    owner,
                    account_id,
                    employees: fields.employee_count,
                    contacts: vec![DealContact {
                        contact_id,
                        buying_role: Some(role),
                    }],
                    source: source.to_owned(),
                    label,
                },
                batch,
            );
            lead.converted_contact_id = Some(contact_id);
            lead.converted_account_id = account_id;
            lead.converted_deal_id = Some(deal_id);
            *converted += 1;
        }

        let first_activity_at = activities.iter().map(|a| a.created_at).min();
        batch.activities.extend(activities);
        batch.leads.push(BulkLead {
            id,
            fields,
            progress: lead.progress,
            score: lead.score,
            mql_at: lead.mql_at,
            last_activity_at: lead.last_activity_at,
            first_activity_at,
            converted_contact_id: lead.converted_contact_id,
            converted_account_id: lead.converted_account_id,
            converted_deal_id: lead.converted_deal_id,
            form_id: None,
            created_at: created,
            updated_at: lead.updated_at,
        });
    }

    /// A deal a rep opened with a company the organization already knew.
    fn tell_direct_deal(&mut self, created: DateTime<Utc>, batch: &mut Batch) {
        let known = self.companies.partition_point(|c| c.created_at <= created).max(1);
        let company = self.rng.gen_range(0..known);
        let (owner_index, owner) = self.user();
        let renewal = self.rng.gen_bool(0.18);
        let which = if renewal { Which::Renewals } else { Which::NewBusiness };
        let source = if renewal {
            "existing customer"
        } else {
            ["outbound", "referral", "partner", "event"][weighted(&mut self.rng, &[50.0, 20.0, 15.0, 15.0])]
        };
        let c = &self.companies[company];
        let (account_id, label) = (c.id, c.name.clone());
        let mut contacts: Vec<DealContact> = Vec::new();
        for contact in c.contacts.clone() {
            if contacts.is_empty() || self.rng.gen_bool(0.4) {
                let role = *pick(
                    &mut self.rng,
                    &[BuyingRole::DecisionMaker, BuyingRole::Champion, BuyingRole::User],
                );
                contacts.push(DealContact {
                    contact_id: contact,
                    buying_role: Some(role),
                });
            }
        }
        self.tell_deal(
            DealStart {
                created: created.max(self.companies[company].created_at),
                which,
                owner_index,
                owner,
                account_id: Some(account_id),
                employees: self.companies[company].employees,
                contacts,
                source: source.to_owned(),
                label,
            },
            batch,
        );
    }

    fn pipeline(&self, which: Which) -> &PipelineInfo {
        match which {
            Which::NewBusiness => &self.cast.new_business,
            Which::Renewals => &self.cast.renewals,
        }
    }

    /// A deal's life from its creation to now, command by command through
    /// the domain's state machine; returns its id.
    fn tell_deal(&mut self, start: DealStart, batch: &mut Batch) -> Uuid {
        let now = self.now;
        let created = start.created;
        let id = id_at(created);
        let actor = Actor::User(start.owner);
        // Some reps close more of what they open.
        let skill = [0.8, 1.0, 1.05, 1.25, 0.9][start.owner_index.min(4)];
        let currency = ["EUR", "USD", "GBP", "CHF"][weighted(&mut self.rng, &[70.0, 15.0, 13.0, 2.0])];
        let base = match start.which {
            Which::NewBusiness => 12_000.0,
            Which::Renewals => 6_000.0,
        };
        // A company of 50 buys the base amount; ten times the size, about
        // twice as much (so look-alike potential has something to find).
        let size = start
            .employees
            .map_or(1.0, |n| (n as f64 / 50.0).powf(0.3).clamp(0.4, 4.0));
        // Whole hundreds, in minor units.
        let amount = ((base * size * days(&mut self.rng, 0.1, 1.0)).min(400_000.0) / 100.0)
            .round()
            .max(5.0) as i64
            * 10_000;
        let product = *pick(&mut self.rng, &PRODUCTS);
        let title = match start.which {
            Which::NewBusiness => format!("{} – {product}", start.label),
            Which::Renewals => format!("{} – Renewal", start.label),
        };

        let first = self.pipeline(start.which).stages[0].id;
        let mut state = DealState {
            status: DealStatus::Open,
            stage: StageRef {
                pipeline_id: self.pipeline(start.which).id,
                stage_id: first,
            },
            last_event_at: created,
        };
        let mut events = vec![BulkDealEvent {
            id: id_at(created),
            kind: EventKind::Created,
            at: created,
            pipeline_id: state.stage.pipeline_id,
            stage_id: state.stage.stage_id,
            from_stage_id: None,
            lost_reason: None,
            actor,
            created_at: created,
        }];
        let mut which = start.which;
        let mut index = 0;
        let mut stage_entered = created;
        let mut closed_at = None;
        let mut lost_reason: Option<LostReason> = None;
        let mut activities = Vec::new();
        let mut reopens = 0;
        let mut stalled = false;
        let links = Links {
            deal_id: Some(id),
            ..Links::default()
        };

        loop {
            let t = state.last_event_at;
            let command = if state.status == DealStatus::Open {
                let stage = self.pipeline(which).stages[index].clone();
                let dwell = days(&mut self.rng, 0.5, stage.mean_days);
                let next = self.later(t, dwell);
                // Work in the stage: a call, an email or a meeting while the deal sits there.
                if self.rng.gen_bool(0.8) {
                    let at = t + (next.min(now) - t) / 2 + Duration::minutes(self.rng.gen_range(0..90));
                    if at <= now && at < next {
                        let kind = *pick(
                            &mut self.rng,
                            &[ActivityType::Call, ActivityType::Email, ActivityType::Meeting],
                        );
                        let subject = match kind {
                            ActivityType::Call => "Call with the buying team",
                            ActivityType::Email => "Sent follow-up material",
                            _ => "Meeting with stakeholders",
                        };
                        activities.push(self.done_activity(kind, subject, start.owner, links, t, at));
                    }
                }
                if next > now {
                    break;
                }
                // A deal nobody pushes any more: it sits in its stage until someone notices.
                if self.rng.gen_bool(0.06) {
                    stalled = true;
                    break;
                }
                let last = index + 1 == self.pipeline(which).stages.len();
                let roll: f64 = self.rng.gen();
                let lose = stage.lose * skill;
                let command = if roll < lose {
                    let weights: [f64; 5] = if index == 0 {
                        [10.0, 15.0, 35.0, 20.0, 20.0]
                    } else if last {
                        [35.0, 30.0, 5.0, 10.0, 20.0]
                    } else {
                        [25.0, 25.0, 15.0, 15.0, 20.0]
                    };
                    let reason = LOST_REASONS[weighted(&mut self.rng, &weights)];
                    Command::Lose {
                        reason: LostReason::parse(reason).expect("a listed reason"),
                    }
                } else if index > 0 && roll < lose + 0.06 {
                    index -= 1;
                    Command::Move {
                        to: self.stage_ref(which, index),
                    }
                } else if (lose + 0.06..lose + 0.075).contains(&roll) {
                    // A renewal that turns into new business, or new business with an existing
                    // customer that belongs with the renewals: the deal changes pipelines.
                    which = match which {
                        Which::NewBusiness => Which::Renewals,
                        Which::Renewals => Which::NewBusiness,
                    };
                    index = index.min(self.pipeline(which).stages.len() - 1).min(1);
                    Command::Move {
                        to: self.stage_ref(which, index),
                    }
                } else if last {
                    Command::Win
                } else {
                    index += 1;
                    Command::Move {
                        to: self.stage_ref(which, index),
                    }
                };
                (command, next)
            } else {
                // Closed deals come back now and then: a lost deal whose timing was
                // wrong, a won deal whose contract fell through.
                let p = if state.status == DealStatus::Lost { 0.09 } else { 0.03 };
                if reopens >= 2 || !self.rng.gen_bool(p) {
                    break;
                }
                let gap = days(&mut self.rng, 5.0, 25.0);
                let next = self.later(t, gap);
                if next > now {
                    break;
                }
                reopens += 1;
                (Command::Reopen { to: None }, next)
            };
            let (command, at) = command;
            let transition = deal::apply(&state, command, at).expect("the story follows the state machine");
            match transition.kind {
                EventKind::Moved | EventKind::Reopened => stage_entered = transition.at,
                _ => {}
            }
            closed_at = match transition.status {
                DealStatus::Open => None,
                _ => Some(transition.at),
            };
            lost_reason = transition.lost_reason.clone();
            events.push(BulkDealEvent {
                id: id_at(transition.at),
                kind: transition.kind,
                at: transition.at,
                pipeline_id: transition.stage.pipeline_id,
                stage_id: transition.stage.stage_id,
                from_stage_id: transition.from_stage,
                lost_reason: transition.lost_reason.as_ref().map(|r| r.as_str().to_owned()),
                actor,
                created_at: transition.at,
            });
            state = DealState {
                status: transition.status,
                stage: transition.stage,
                last_event_at: transition.at,
            };
        }

        if state.status == DealStatus::Open && !stalled && self.rng.gen_bool(0.85) {
            activities.push(self.next_step("Next step with the customer", start.owner, links, state.last_event_at));
        }

        let stage_count = self.pipeline(which).stages.len();
        let stage_probability = i64::from(self.pipeline(which).stages[index].probability);
        let position = index as f64 / (stage_count - 1).max(1) as f64;
        let planned = created.date_naive() + Duration::days((20.0 + days(&mut self.rng, 0.0, 50.0)) as i64);
        let expected_close_date: Option<NaiveDate> = (!self.rng.gen_bool(0.08)).then_some(planned);
        let forecast_category = if self.rng.gen_bool(0.04) {
            ForecastCategory::Omitted
        } else if position >= 0.99 && self.rng.gen_bool(0.6) {
            ForecastCategory::Commit
        } else if position >= 0.5 {
            ForecastCategory::BestCase
        } else {
            ForecastCategory::Pipeline
        };
        let probability = self
            .rng
            .gen_bool(0.15)
            .then(|| Probability::new((stage_probability + self.rng.gen_range(-15..=15)).clamp(1, 99)).expect("0–100"));

        let last_activity_at = activities.iter().map(activity_instant).max();
        batch.activities.extend(activities);
        batch.deals.push(BulkDeal {
            id,
            pipeline_id: state.stage.pipeline_id,
            stage_id: state.stage.stage_id,
            title,
            amount: Amount::from_minor(amount).expect("a positive amount"),
            currency: Currency::parse(currency).expect("a listed currency"),
            status: state.status,
            owner_id: start.owner,
            account_id: start.account_id,
            contacts: start.contacts,
            source: Some(start.source),
            probability,
            expected_close_date,
            forecast_category,
            lost_reason: lost_reason.map(|r| r.as_str().to_owned()),
            created_at: created,
            updated_at: state.last_event_at,
            closed_at,
            stage_entered_at: stage_entered,
            last_activity_at,
            external_id: None,
            tags: Default::default(),
            custom_fields: Default::default(),
            events,
        });
        id
    }

    fn stage_ref(&self, which: Which, index: usize) -> StageRef {
        let pipeline = self.pipeline(which);
        StageRef {
            pipeline_id: pipeline.id,
            stage_id: pipeline.stages[index].id,
        }
    }

    /// An activity done at `at`: logged as it happened, or planned a few days
    /// before and ticked off then.
    /// Planned no earlier than `not_before`, when the work it belongs to began.
    fn done_activity(
        &mut self,
        kind: ActivityType,
        subject: &str,
        owner: Uuid,
        links: Links,
        not_before: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> BulkActivity {
        let (created, due) = if self.rng.gen_bool(0.4) {
            let planned = at - Duration::minutes(self.rng.gen_range(60..4 * 1440));
            (planned.max(not_before).min(at), Some(at))
        } else {
            (at, None)
        };
        BulkActivity {
            id: id_at(created),
            fields: ActivityFields {
                activity_type: kind,
                subject: subject.to_owned(),
                note: None,
                due_at: due,
                done_at: Some(at),
                owner_id: owner,
                links,
            },
            created_at: created,
            updated_at: at,
        }
    }

    /// The open task that follows the last step (no earlier than `after`):
    /// due in the coming days, today, or already overdue.
    fn next_step(&mut self, subject: &str, owner: Uuid, links: Links, after: DateTime<Utc>) -> BulkActivity {
        let now = self.now;
        let created = after + (now - after) / 2;
        let roll: f64 = self.rng.gen();
        let due = if roll < 0.25 {
            // Overdue: due between the task's creation and now.
            created + (now - created) / 3
        } else if roll < 0.37 {
            // Due today: later today if the day has time left, else earlier today.
            let later = now + Duration::minutes(self.rng.gen_range(10..120));
            if later.date_naive() == now.date_naive() && later.hour() < 23 {
                later
            } else {
                now - Duration::minutes(self.rng.gen_range(10..60))
            }
        } else {
            let ahead = Duration::days(self.rng.gen_range(1..21));
            self.office(now + ahead)
        };
        let kind = *pick(
            &mut self.rng,
            &[ActivityType::Task, ActivityType::Call, ActivityType::Meeting],
        );
        BulkActivity {
            id: id_at(created),
            fields: ActivityFields {
                activity_type: kind,
                subject: subject.to_owned(),
                note: None,
                due_at: Some(due.max(created)),
                done_at: None,
                owner_id: owner,
                links,
            },
            created_at: created,
            updated_at: created,
        }
    }
}

/// What a deal starts from.
struct DealStart {
    created: DateTime<Utc>,
    which: Which,
    owner_index: usize,
    owner: Uuid,
    account_id: Option<Uuid>,
    /// The buyer's head count: larger companies buy more.
    employees: Option<i64>,
    contacts: Vec<DealContact>,
    source: String,
    label: String,
}

/// When the records an activity links to last saw activity because of it:
/// the later of its creation and its completion, as the API keeps it.
fn activity_instant(activity: &BulkActivity) -> DateTime<Utc> {
    activity
        .fields
        .done_at
        .map_or(activity.created_at, |done| done.max(activity.created_at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_pick_only_weighted_items() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..1000 {
            assert_ne!(weighted(&mut rng, &[1.0, 0.0, 2.0]), 1);
        }
    }

    #[test]
    fn ids_follow_the_instant_they_are_made_for() {
        let early = Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap();
        let late = early + Duration::milliseconds(2);
        assert!(id_at(early) < id_at(late));
        assert_eq!(id_at(early).get_version_num(), 7);
    }

    #[test]
    fn generated_names_make_valid_emails() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..200 {
            let (_, domain) = company_name(&mut rng);
            let (first, last) = (*pick(&mut rng, &FIRST_NAMES), *pick(&mut rng, &LAST_NAMES));
            assert!(Email::parse(&format!("{}@{domain}", ascii_local(first, last))).is_ok());
        }
    }
}
