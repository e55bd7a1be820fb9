//! Lead scoring: an organization's rules each give or take points when their
//! condition holds for a lead; the sum, clamped to 0–100, is the lead's score.
//! Rules are data (admins write them), so a condition is checked once when it
//! is built and matching itself never fails.

use std::fmt;

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::custom_field::{CustomValue, CustomValues, FieldKey};
use crate::lead::Lead;

/// A lead score, 0–100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Score(u8);

impl Score {
    pub const MAX: Score = Score(100);

    /// A sum of points, cut to 0–100.
    pub fn clamped(total: i64) -> Score {
        Score(u8::try_from(total.clamp(0, 100)).expect("clamped to 0..=100"))
    }

    pub fn new(value: i64) -> Option<Score> {
        u8::try_from(value).ok().filter(|v| *v <= 100).map(Score)
    }

    pub fn value(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Points of a rule, -100..=100: one rule alone can settle a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Points(i8);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be between -100 and 100")]
pub struct PointsError;

impl Points {
    pub fn new(value: i64) -> Result<Points, PointsError> {
        i8::try_from(value)
            .ok()
            .filter(|v| (-100..=100).contains(v))
            .map(Points)
            .ok_or(PointsError)
    }

    pub fn value(self) -> i64 {
        i64::from(self.0)
    }
}

/// What a condition can look at: lead fields, plus two derived facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScoringField {
    FirstName,
    LastName,
    Email,
    Phone,
    CompanyName,
    Title,
    Industry,
    EmployeeCount,
    Country,
    Source,
    EstimatedValue,
    ValuePeriod,
    Status,
    UnqualifiedReason,
    OwnerId,
    /// "business" or "free", from the email's domain.
    EmailDomainKind,
    /// How many of the lead's activities are done.
    ActivitiesDone,
    /// The lead's look-alike potential (the median yearly spend of the
    /// customers like it, in the base currency) when it was scored.
    Potential,
}

/// What a condition looks at: a lead field (or derived fact), or one of the
/// organization's custom fields of leads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    Field(ScoringField),
    /// A custom field by key, read as numbers (number and decimal fields) or
    /// as text (the others: a boolean as `true` or `false`, a date as
    /// YYYY-MM-DD, each option of a multi_select).
    Custom {
        key: FieldKey,
        kind: FieldKind,
    },
}

impl From<ScoringField> for Subject {
    fn from(field: ScoringField) -> Self {
        Subject::Field(field)
    }
}

impl Subject {
    pub fn kind(&self) -> FieldKind {
        match self {
            Subject::Field(field) => field.kind(),
            Subject::Custom { kind, .. } => *kind,
        }
    }

    /// How messages name it: the field, or `cf.<key>`.
    pub fn name(&self) -> String {
        match self {
            Subject::Field(field) => field.as_str().to_owned(),
            Subject::Custom { key, .. } => format!("cf.{}", key.as_str()),
        }
    }

    /// As it is stored: the field's name, or `cf.<key>:<text|number>`.
    pub fn stored(&self) -> String {
        match self {
            Subject::Field(field) => field.as_str().to_owned(),
            Subject::Custom { key, kind } => {
                let kind = match kind {
                    FieldKind::Text => "text",
                    FieldKind::Number => "number",
                };
                format!("cf.{}:{kind}", key.as_str())
            }
        }
    }

    /// What [`Subject::stored`] wrote.
    pub fn parse_stored(raw: &str) -> Option<Self> {
        let Some(custom) = raw.strip_prefix("cf.") else {
            return ScoringField::parse(raw).map(Subject::Field);
        };
        let (key, kind) = custom.rsplit_once(':')?;
        let kind = match kind {
            "text" => FieldKind::Text,
            "number" => FieldKind::Number,
            _ => return None,
        };
        Some(Subject::Custom {
            key: FieldKey::parse(key).ok()?,
            kind,
        })
    }
}

/// Whether a field holds text or numbers, which decides its operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    Text,
    Number,
}

impl ScoringField {
    /// In declaration order: `LeadFacts` relies on it.
    pub const ALL: &'static [ScoringField] = &[
        ScoringField::FirstName,
        ScoringField::LastName,
        ScoringField::Email,
        ScoringField::Phone,
        ScoringField::CompanyName,
        ScoringField::Title,
        ScoringField::Industry,
        ScoringField::EmployeeCount,
        ScoringField::Country,
        ScoringField::Source,
        ScoringField::EstimatedValue,
        ScoringField::ValuePeriod,
        ScoringField::Status,
        ScoringField::UnqualifiedReason,
        ScoringField::OwnerId,
        ScoringField::EmailDomainKind,
        ScoringField::ActivitiesDone,
        ScoringField::Potential,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ScoringField::FirstName => "first_name",
            ScoringField::LastName => "last_name",
            ScoringField::Email => "email",
            ScoringField::Phone => "phone",
            ScoringField::CompanyName => "company_name",
            ScoringField::Title => "title",
            ScoringField::Industry => "industry",
            ScoringField::EmployeeCount => "employee_count",
            ScoringField::Country => "country",
            ScoringField::Source => "source",
            ScoringField::EstimatedValue => "estimated_value",
            ScoringField::ValuePeriod => "value_period",
            ScoringField::Status => "status",
            ScoringField::UnqualifiedReason => "unqualified_reason",
            ScoringField::OwnerId => "owner_id",
            ScoringField::EmailDomainKind => "email_domain_kind",
            ScoringField::ActivitiesDone => "activities_done",
            ScoringField::Potential => "potential",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|f| f.as_str() == raw)
    }

    pub fn kind(self) -> FieldKind {
        match self {
            ScoringField::EmployeeCount
            | ScoringField::EstimatedValue
            | ScoringField::ActivitiesDone
            | ScoringField::Potential => FieldKind::Number,
            _ => FieldKind::Text,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    Equals,
    NotEquals,
    Contains,
    In,
    Gt,
    Gte,
    Lt,
    Lte,
    Exists,
}

impl Operator {
    pub const ALL: &'static [Operator] = &[
        Operator::Equals,
        Operator::NotEquals,
        Operator::Contains,
        Operator::In,
        Operator::Gt,
        Operator::Gte,
        Operator::Lt,
        Operator::Lte,
        Operator::Exists,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "equals",
            Operator::NotEquals => "not_equals",
            Operator::Contains => "contains",
            Operator::In => "in",
            Operator::Gt => "gt",
            Operator::Gte => "gte",
            Operator::Lt => "lt",
            Operator::Lte => "lte",
            Operator::Exists => "exists",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|o| o.as_str() == raw)
    }

    /// Whether the operator makes sense on a field of `kind`.
    pub fn applies_to(self, kind: FieldKind) -> bool {
        match self {
            Operator::Contains => kind == FieldKind::Text,
            Operator::Gt | Operator::Gte | Operator::Lt | Operator::Lte => kind == FieldKind::Number,
            Operator::Equals | Operator::NotEquals | Operator::In | Operator::Exists => true,
        }
    }
}

/// The right-hand side of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    None,
    Text(String),
    Number(Decimal),
    TextList(Vec<String>),
    NumberList(Vec<Decimal>),
}

/// The longest text value, and the most values of an `in` list.
pub const MAX_TEXT_CHARS: usize = 200;
pub const MAX_LIST_ITEMS: usize = 100;

/// The values of the email_domain_kind fact.
pub const DOMAIN_KIND_BUSINESS: &str = "business";
pub const DOMAIN_KIND_FREE: &str = "free";

/// A check of one fact of a lead; only [`Condition::new`] builds one, so
/// operator and operand always suit the field.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    field: Subject,
    operator: Operator,
    operand: Operand,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    #[error("the operator {} does not apply to {}", .operator.as_str(), .field)]
    OperatorNotForField { operator: Operator, field: String },
    #[error("needs a value for this operator")]
    ValueRequired,
    #[error("must be absent: exists takes no value")]
    ValueNotAllowed,
    #[error("must be text for a text field")]
    ExpectedText,
    #[error("must be a number for a number field (employee_count, estimated_value, activities_done, potential)")]
    ExpectedNumber,
    #[error("must be a list of values for the operator in")]
    ExpectedList,
    #[error("must list at least one value")]
    EmptyList,
    #[error("must be at most 200 characters per value and at most 100 values")]
    TooLong,
    #[error("must be \"business\" or \"free\" for email_domain_kind")]
    InvalidDomainKind,
}

fn check_text(field: &Subject, operator: Operator, value: &str) -> Result<(), ConditionError> {
    if value.trim().is_empty() {
        return Err(ConditionError::ValueRequired);
    }
    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(ConditionError::TooLong);
    }
    let is_kind = [DOMAIN_KIND_BUSINESS, DOMAIN_KIND_FREE].contains(&value.to_lowercase().as_str());
    if *field == Subject::Field(ScoringField::EmailDomainKind) && operator != Operator::Contains && !is_kind {
        return Err(ConditionError::InvalidDomainKind);
    }
    Ok(())
}

fn check_list_len(len: usize) -> Result<(), ConditionError> {
    match len {
        0 => Err(ConditionError::EmptyList),
        n if n > MAX_LIST_ITEMS => Err(ConditionError::TooLong),
        _ => Ok(()),
    }
}

impl Condition {
    pub fn new(field: impl Into<Subject>, operator: Operator, operand: Operand) -> Result<Condition, ConditionError> {
        let field = field.into();
        let kind = field.kind();
        if !operator.applies_to(kind) {
            return Err(ConditionError::OperatorNotForField {
                operator,
                field: field.name(),
            });
        }
        let wrong_kind = match kind {
            FieldKind::Text => ConditionError::ExpectedText,
            FieldKind::Number => ConditionError::ExpectedNumber,
        };
        match (operator, &operand, kind) {
            (Operator::Exists, Operand::None, _) => {}
            (Operator::Exists, _, _) => return Err(ConditionError::ValueNotAllowed),
            (_, Operand::None, _) => return Err(ConditionError::ValueRequired),
            (Operator::In, Operand::TextList(values), FieldKind::Text) => {
                check_list_len(values.len())?;
                for value in values {
                    check_text(&field, operator, value)?;
                }
            }
            (Operator::In, Operand::NumberList(values), FieldKind::Number) => check_list_len(values.len())?,
            (Operator::In, Operand::Text(_) | Operand::Number(_), _) => return Err(ConditionError::ExpectedList),
            (Operator::In, _, _) => return Err(wrong_kind),
            (_, Operand::Text(value), FieldKind::Text) => check_text(&field, operator, value)?,
            (_, Operand::Number(_), FieldKind::Number) => {}
            _ => return Err(wrong_kind),
        }
        Ok(Condition {
            field,
            operator,
            operand,
        })
    }

    pub fn field(&self) -> &Subject {
        &self.field
    }

    pub fn operator(&self) -> Operator {
        self.operator
    }

    pub fn operand(&self) -> &Operand {
        &self.operand
    }

    /// Whether the lead's facts satisfy the condition. A missing fact
    /// satisfies only `not_equals`. Text compares case-insensitively.
    pub fn matches(&self, facts: &LeadFacts) -> bool {
        let Some(fact) = facts.fact_of(&self.field) else {
            return self.operator == Operator::NotEquals;
        };
        let fact = fact.as_ref();
        // A multi_select matches when one of its options does.
        if let Fact::Texts(options) = fact {
            let one = |o: &String| self.matches_one(&Fact::Text(o.clone()));
            return match self.operator {
                Operator::NotEquals => !options.iter().any(|o| equals(&Fact::Text(o.clone()), &self.operand)),
                _ => options.iter().any(one),
            };
        }
        self.matches_one(fact)
    }

    fn matches_one(&self, fact: &Fact) -> bool {
        match (self.operator, fact, &self.operand) {
            (Operator::Exists, _, _) => true,
            (Operator::Equals, _, operand) => equals(fact, operand),
            (Operator::NotEquals, _, operand) => !equals(fact, operand),
            (Operator::Contains, Fact::Text(f), Operand::Text(v)) => f.to_lowercase().contains(&v.to_lowercase()),
            (Operator::In, Fact::Text(f), Operand::TextList(values)) => {
                let f = f.to_lowercase();
                values.iter().any(|v| v.to_lowercase() == f)
            }
            (Operator::In, Fact::Number(f), Operand::NumberList(values)) => values.contains(f),
            (Operator::Gt, Fact::Number(f), Operand::Number(v)) => f > v,
            (Operator::Gte, Fact::Number(f), Operand::Number(v)) => f >= v,
            (Operator::Lt, Fact::Number(f), Operand::Number(v)) => f < v,
            (Operator::Lte, Fact::Number(f), Operand::Number(v)) => f <= v,
            _ => false,
        }
    }
}

fn equals(fact: &Fact, operand: &Operand) -> bool {
    match (fact, operand) {
        (Fact::Text(f), Operand::Text(v)) => f.to_lowercase() == v.to_lowercase(),
        (Fact::Number(f), Operand::Number(v)) => f == v,
        _ => false,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScoringRule {
    pub id: Uuid,
    pub name: String,
    pub condition: Condition,
    pub points: Points,
    pub active: bool,
}

/// Whether any of `rules` tests the potential, which takes the
/// organization's customers to compute.
pub fn reads_potential(rules: &[ScoringRule]) -> bool {
    rules
        .iter()
        .any(|r| *r.condition.field() == Subject::Field(ScoringField::Potential))
}

/// What a lead offers to the rules: a value (or nothing) per field.
#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    Text(String),
    Number(Decimal),
    /// The options of a multi_select custom field.
    Texts(Vec<String>),
}

const FIELD_COUNT: usize = ScoringField::ALL.len();

/// A lead's facts, one slot per [`ScoringField`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LeadFacts {
    values: [Option<Fact>; FIELD_COUNT],
    custom: CustomValues,
}

impl LeadFacts {
    pub fn of(lead: &Lead, activities_done: i64) -> LeadFacts {
        let text = |value: &Option<String>| {
            value
                .as_ref()
                .filter(|v| !v.trim().is_empty())
                .map(|v| Fact::Text(v.clone()))
        };
        let name = |value: &'static str| Some(Fact::Text(value.to_owned()));
        let progress = &lead.progress;
        LeadFacts::default()
            .with_custom(lead.custom_fields.clone())
            .with_opt(ScoringField::FirstName, text(&lead.first_name))
            .with_opt(ScoringField::LastName, text(&lead.last_name))
            .with_opt(ScoringField::Email, text(&lead.email))
            .with_opt(ScoringField::Phone, text(&lead.phone))
            .with_opt(ScoringField::CompanyName, text(&lead.company_name))
            .with_opt(ScoringField::Title, text(&lead.title))
            .with_opt(ScoringField::Industry, text(&lead.industry))
            .with_opt(
                ScoringField::EmployeeCount,
                lead.employee_count.map(|n| Fact::Number(Decimal::from(n))),
            )
            .with_opt(
                ScoringField::Country,
                lead.country.as_ref().map(|c| Fact::Text(c.as_str().to_owned())),
            )
            .with_opt(ScoringField::Source, text(&lead.source))
            .with_opt(
                ScoringField::EstimatedValue,
                lead.estimated_value.map(|a| Fact::Number(a.to_decimal())),
            )
            .with_opt(
                ScoringField::ValuePeriod,
                lead.value_period.and_then(|p| name(p.as_str())),
            )
            .with_opt(ScoringField::Status, name(progress.status.as_str()))
            .with_opt(ScoringField::UnqualifiedReason, text(&progress.unqualified_reason))
            .with_opt(
                ScoringField::OwnerId,
                Some(Fact::Text(lead.owner_id.hyphenated().to_string())),
            )
            .with_opt(
                ScoringField::EmailDomainKind,
                lead.email.as_deref().and_then(email_domain_kind).and_then(name),
            )
            .with_opt(
                ScoringField::ActivitiesDone,
                Some(Fact::Number(Decimal::from(activities_done))),
            )
    }

    /// With the lead's look-alike potential (`None`: no customers to compare with).
    pub fn with_potential(self, potential: Option<Decimal>) -> LeadFacts {
        self.with_opt(ScoringField::Potential, potential.map(Fact::Number))
    }

    /// With the lead's custom values.
    pub fn with_custom(mut self, values: CustomValues) -> LeadFacts {
        self.custom = values;
        self
    }

    /// What the lead offers to a condition on `subject`.
    fn fact_of(&self, subject: &Subject) -> Option<std::borrow::Cow<'_, Fact>> {
        use std::borrow::Cow;
        let (key, kind) = match subject {
            Subject::Field(field) => return self.fact(*field).map(Cow::Borrowed),
            Subject::Custom { key, kind } => (key, *kind),
        };
        let fact = match (self.custom.get(key.as_str())?, kind) {
            (CustomValue::Integer(n), FieldKind::Number) => Fact::Number(Decimal::from(*n)),
            (CustomValue::Text(t), FieldKind::Number) => Fact::Number(t.parse().ok()?),
            (CustomValue::Integer(n), FieldKind::Text) => Fact::Text(n.to_string()),
            (CustomValue::Text(t), FieldKind::Text) => Fact::Text(t.clone()),
            (CustomValue::Boolean(b), FieldKind::Text) => Fact::Text(b.to_string()),
            (CustomValue::List(items), FieldKind::Text) => Fact::Texts(items.clone()),
            (CustomValue::Boolean(_) | CustomValue::List(_), FieldKind::Number) => return None,
        };
        Some(Cow::Owned(fact))
    }

    /// With `field` set to `fact`: for tests and previews.
    pub fn with(self, field: ScoringField, fact: Fact) -> LeadFacts {
        self.with_opt(field, Some(fact))
    }

    /// With `field` set to `fact`, or cleared when `None`.
    pub fn with_opt(mut self, field: ScoringField, fact: Option<Fact>) -> LeadFacts {
        self.values[field.index()] = fact;
        self
    }

    pub fn get(&self, field: ScoringField) -> Option<Fact> {
        self.fact(field).cloned()
    }

    fn fact(&self, field: ScoringField) -> Option<&Fact> {
        self.values[field.index()].as_ref()
    }
}

/// `"free"` for an address at a well known free mail provider, else
/// `"business"`; `None` for text without a domain.
pub fn email_domain_kind(email: &str) -> Option<&'static str> {
    let (_, domain) = email.trim().rsplit_once('@')?;
    let domain = domain.trim_end_matches('.').to_lowercase();
    if domain.is_empty() {
        return None;
    }
    Some(if FREE_MAIL_DOMAINS.binary_search(&domain.as_str()).is_ok() {
        DOMAIN_KIND_FREE
    } else {
        DOMAIN_KIND_BUSINESS
    })
}

/// Free webmail and ISP mail domains: a lead writing from one of them tells
/// little about their company. Sorted and lower case, for `binary_search`.
pub const FREE_MAIL_DOMAINS: &[&str] = &[
    "126.com",
    "139.com",
    "163.com",
    "abv.bg",
    "aim.com",
    "alice.it",
    "aliyun.com",
    "aol.co.uk",
    "aol.com",
    "aol.de",
    "aol.fr",
    "arcor.de",
    "att.net",
    "bellsouth.net",
    "bigpond.com",
    "bk.ru",
    "bol.com.br",
    "btinternet.com",
    "centrum.cz",
    "charter.net",
    "comcast.net",
    "cox.net",
    "daum.net",
    "earthlink.net",
    "email.com",
    "fastmail.com",
    "fastmail.fm",
    "foxmail.com",
    "free.fr",
    "freenet.de",
    "gmail.com",
    "gmx.at",
    "gmx.ch",
    "gmx.co.uk",
    "gmx.com",
    "gmx.de",
    "gmx.fr",
    "gmx.net",
    "gmx.us",
    "googlemail.com",
    "guerrillamail.com",
    "hanmail.net",
    "hey.com",
    "hotmail.be",
    "hotmail.ca",
    "hotmail.co.jp",
    "hotmail.co.uk",
    "hotmail.com",
    "hotmail.com.ar",
    "hotmail.com.au",
    "hotmail.com.br",
    "hotmail.de",
    "hotmail.dk",
    "hotmail.es",
    "hotmail.fi",
    "hotmail.fr",
    "hotmail.gr",
    "hotmail.it",
    "hotmail.nl",
    "hotmail.no",
    "hotmail.se",
    "hushmail.com",
    "i.ua",
    "icloud.com",
    "inbox.ru",
    "interia.pl",
    "internet.ru",
    "kakao.com",
    "laposte.net",
    "libero.it",
    "list.ru",
    "live.at",
    "live.be",
    "live.ca",
    "live.co.uk",
    "live.com",
    "live.com.au",
    "live.com.mx",
    "live.de",
    "live.dk",
    "live.fr",
    "live.ie",
    "live.it",
    "live.jp",
    "live.nl",
    "live.no",
    "live.se",
    "mac.com",
    "mail.com",
    "mail.ru",
    "mailbox.org",
    "mailinator.com",
    "me.com",
    "msn.com",
    "nate.com",
    "naver.com",
    "neuf.fr",
    "ntlworld.com",
    "o2.pl",
    "onet.pl",
    "optusnet.com.au",
    "orange.fr",
    "outlook.at",
    "outlook.be",
    "outlook.co.uk",
    "outlook.com",
    "outlook.com.au",
    "outlook.com.br",
    "outlook.de",
    "outlook.dk",
    "outlook.es",
    "outlook.fr",
    "outlook.ie",
    "outlook.it",
    "outlook.jp",
    "outlook.sa",
    "passport.com",
    "pm.me",
    "posteo.de",
    "posteo.net",
    "proton.me",
    "protonmail.ch",
    "protonmail.com",
    "qq.com",
    "rambler.ru",
    "rediffmail.com",
    "rocketmail.com",
    "rogers.com",
    "sbcglobal.net",
    "seznam.cz",
    "sfr.fr",
    "shaw.ca",
    "sina.cn",
    "sina.com",
    "sky.com",
    "sohu.com",
    "sympatico.ca",
    "t-online.de",
    "talktalk.net",
    "terra.com.br",
    "tiscali.it",
    "tuta.io",
    "tutamail.com",
    "tutanota.com",
    "tutanota.de",
    "ukr.net",
    "uol.com.br",
    "usa.com",
    "verizon.net",
    "virgilio.it",
    "virginmedia.com",
    "wanadoo.fr",
    "web.de",
    "windowslive.com",
    "wp.pl",
    "xtra.co.nz",
    "ya.ru",
    "yahoo.at",
    "yahoo.be",
    "yahoo.ca",
    "yahoo.co.id",
    "yahoo.co.in",
    "yahoo.co.jp",
    "yahoo.co.uk",
    "yahoo.com",
    "yahoo.com.ar",
    "yahoo.com.au",
    "yahoo.com.br",
    "yahoo.com.mx",
    "yahoo.com.ph",
    "yahoo.com.sg",
    "yahoo.de",
    "yahoo.dk",
    "yahoo.es",
    "yahoo.fi",
    "yahoo.fr",
    "yahoo.gr",
    "yahoo.ie",
    "yahoo.in",
    "yahoo.it",
    "yahoo.nl",
    "yahoo.no",
    "yahoo.pl",
    "yahoo.se",
    "yandex.by",
    "yandex.com",
    "yandex.kz",
    "yandex.ru",
    "yandex.ua",
    "yeah.net",
    "ymail.com",
    "yopmail.com",
    "zoho.com",
    "zohomail.com",
];

/// A rule that matched, as shown to users explaining a score.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchedRule {
    pub rule_id: Uuid,
    pub name: String,
    pub points: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScoreBreakdown {
    pub score: Score,
    /// The unclamped sum of the matched points.
    pub total: i64,
    pub matched: Vec<MatchedRule>,
}

/// Sum of the points of the matching active rules, clamped to 0–100;
/// matched in the order of `rules`.
pub fn score(rules: &[ScoringRule], facts: &LeadFacts) -> ScoreBreakdown {
    let matched: Vec<MatchedRule> = rules
        .iter()
        .filter(|r| r.active && r.condition.matches(facts))
        .map(|r| MatchedRule {
            rule_id: r.id,
            name: r.name.clone(),
            points: r.points.value(),
        })
        .collect();
    let total = matched.iter().map(|m| m.points).sum();
    ScoreBreakdown {
        score: Score::clamped(total),
        total,
        matched,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    use crate::lead::{Country, LeadProgress, LeadStatus, ValuePeriod};
    use crate::{Amount, Currency};

    fn dec(v: i64) -> Decimal {
        Decimal::from(v)
    }

    fn text(v: &str) -> Operand {
        Operand::Text(v.to_owned())
    }

    fn cond(field: ScoringField, operator: Operator, operand: Operand) -> Condition {
        Condition::new(field, operator, operand).unwrap()
    }

    fn facts() -> LeadFacts {
        LeadFacts::default()
            .with(ScoringField::Industry, Fact::Text("Software & SaaS".to_owned()))
            .with(ScoringField::EmployeeCount, Fact::Number(dec(250)))
    }

    #[test]
    fn scores_and_points_have_their_ranges() {
        assert_eq!(Score::clamped(-20), Score::default());
        assert_eq!(Score::clamped(130), Score::MAX);
        assert_eq!(Score::clamped(42).value(), 42);
        assert_eq!(Score::new(100).map(Score::value), Some(100));
        assert_eq!(Score::new(101), None);
        assert_eq!(Score::new(-1), None);
        assert_eq!(Points::new(-100).unwrap().value(), -100);
        assert_eq!(Points::new(100).unwrap().value(), 100);
        assert_eq!(Points::new(101), Err(PointsError));
        assert_eq!(Points::new(-101), Err(PointsError));
        assert_eq!(Points::new(i64::MAX), Err(PointsError));
    }

    #[test]
    fn names_round_trip_and_fields_index_in_order() {
        for (i, f) in ScoringField::ALL.iter().enumerate() {
            assert_eq!(ScoringField::parse(f.as_str()), Some(*f));
            assert_eq!(f.index(), i);
        }
        for o in Operator::ALL {
            assert_eq!(Operator::parse(o.as_str()), Some(*o));
        }
        assert_eq!(ScoringField::parse("Email"), None);
        assert_eq!(Operator::parse("=="), None);
        let numbers: Vec<_> = ScoringField::ALL
            .iter()
            .filter(|f| f.kind() == FieldKind::Number)
            .map(|f| f.as_str())
            .collect();
        assert_eq!(
            numbers,
            ["employee_count", "estimated_value", "activities_done", "potential"]
        );
    }

    #[test]
    fn a_potential_rule_matches_only_a_lead_with_an_estimate_above_it() {
        let condition = Condition::new(
            ScoringField::Potential,
            Operator::Gte,
            Operand::Number(Decimal::from(50_000)),
        )
        .unwrap();
        let rule = ScoringRule {
            id: Uuid::from_u128(1),
            name: "Big potential".into(),
            condition,
            points: Points::new(20).unwrap(),
            active: true,
        };
        assert!(reads_potential(std::slice::from_ref(&rule)));
        let rules = [rule];
        let big = LeadFacts::default().with_potential(Some(Decimal::from(60_000)));
        let small = LeadFacts::default().with_potential(Some(Decimal::from(49_999)));
        let unknown = LeadFacts::default().with_potential(None);
        assert_eq!(score(&rules, &big).score.value(), 20);
        assert_eq!(score(&rules, &small).score.value(), 0);
        assert_eq!(score(&rules, &unknown).score.value(), 0);
        assert!(!reads_potential(&[]));
    }

    #[test]
    fn custom_fields_are_facts_as_their_kind_reads_them() {
        use std::collections::BTreeMap;
        let key = |k: &str| FieldKey::parse(k).unwrap();
        let values = CustomValues::new(BTreeMap::from([
            ("budget".to_owned(), CustomValue::Text("1200.5".into())),
            ("vip".to_owned(), CustomValue::Boolean(true)),
            (
                "channels".to_owned(),
                CustomValue::List(vec!["Email".into(), "Chat".into()]),
            ),
        ]));
        let facts = LeadFacts::default().with_custom(values);
        let number = |k: &str| Subject::Custom {
            key: key(k),
            kind: FieldKind::Number,
        };
        let text = |k: &str| Subject::Custom {
            key: key(k),
            kind: FieldKind::Text,
        };
        let holds =
            |subject: Subject, operator, operand| Condition::new(subject, operator, operand).unwrap().matches(&facts);
        assert!(holds(number("budget"), Operator::Gte, Operand::Number(dec(1000))));
        assert!(!holds(number("budget"), Operator::Lt, Operand::Number(dec(1000))));
        assert!(holds(text("vip"), Operator::Equals, Operand::Text("TRUE".into())));
        assert!(holds(text("channels"), Operator::Equals, Operand::Text("chat".into())));
        assert!(!holds(
            text("channels"),
            Operator::NotEquals,
            Operand::Text("chat".into())
        ));
        assert!(holds(
            text("channels"),
            Operator::NotEquals,
            Operand::Text("Fax".into())
        ));
        assert!(holds(
            text("channels"),
            Operator::In,
            Operand::TextList(vec!["fax".into(), "email".into()])
        ));
        // A field the lead has no value of matches only not_equals.
        assert!(!holds(text("tier"), Operator::Exists, Operand::None));
        assert!(holds(text("tier"), Operator::NotEquals, Operand::Text("Gold".into())));
        assert_eq!(
            Condition::new(text("tier"), Operator::Gt, Operand::Number(dec(1))),
            Err(ConditionError::OperatorNotForField {
                operator: Operator::Gt,
                field: "cf.tier".into()
            })
        );
        for subject in [number("budget"), text("vip"), Subject::Field(ScoringField::Email)] {
            assert_eq!(Subject::parse_stored(&subject.stored()), Some(subject));
        }
    }

    #[test]
    fn operators_must_suit_the_field() {
        use ConditionError::*;
        use Operator::*;
        use ScoringField::*;
        assert_eq!(
            Condition::new(EmployeeCount, Contains, text("1")),
            Err(OperatorNotForField {
                operator: Contains,
                field: "employee_count".into()
            })
        );
        assert_eq!(
            Condition::new(Industry, Gt, Operand::Number(dec(1)))
                .unwrap_err()
                .to_string(),
            "the operator gt does not apply to industry"
        );
        assert_eq!(Condition::new(Industry, Exists, text("x")), Err(ValueNotAllowed));
        assert_eq!(Condition::new(Industry, Equals, Operand::None), Err(ValueRequired));
        assert_eq!(Condition::new(Industry, Equals, text("  ")), Err(ValueRequired));
        assert_eq!(
            Condition::new(Industry, Equals, Operand::Number(dec(1))),
            Err(ExpectedText)
        );
        assert_eq!(Condition::new(EmployeeCount, Equals, text("1")), Err(ExpectedNumber));
        assert_eq!(Condition::new(EmployeeCount, Gte, text("1")), Err(ExpectedNumber));
        assert_eq!(Condition::new(Industry, In, text("x")), Err(ExpectedList));
        assert_eq!(
            Condition::new(Industry, Equals, Operand::TextList(vec!["x".into()])),
            Err(ExpectedText)
        );
        assert_eq!(
            Condition::new(Industry, In, Operand::NumberList(vec![dec(1)])),
            Err(ExpectedText)
        );
        assert_eq!(
            Condition::new(EmployeeCount, In, Operand::TextList(vec!["1".into()])),
            Err(ExpectedNumber)
        );
        assert_eq!(Condition::new(Industry, In, Operand::TextList(vec![])), Err(EmptyList));
        assert_eq!(
            Condition::new(EmployeeCount, In, Operand::NumberList(vec![])),
            Err(EmptyList)
        );
        assert_eq!(Condition::new(Industry, Contains, text(&"x".repeat(201))), Err(TooLong));
        assert!(Condition::new(Industry, Contains, text(&"x".repeat(200))).is_ok());
        assert_eq!(
            Condition::new(EmployeeCount, In, Operand::NumberList(vec![dec(1); 101])),
            Err(TooLong)
        );
        assert!(Condition::new(EmployeeCount, In, Operand::NumberList(vec![dec(1); 100])).is_ok());
        assert_eq!(
            Condition::new(Industry, In, Operand::TextList(vec!["a".into(), "".into()])),
            Err(ValueRequired)
        );
        let c = cond(EmployeeCount, Exists, Operand::None);
        assert_eq!(
            (c.field(), c.operator(), c.operand()),
            (&Subject::Field(EmployeeCount), Exists, &Operand::None)
        );
    }

    #[test]
    fn email_domain_kind_values_are_business_or_free() {
        use Operator::*;
        use ScoringField::EmailDomainKind;
        assert_eq!(
            Condition::new(EmailDomainKind, Equals, text("corporate")),
            Err(ConditionError::InvalidDomainKind)
        );
        assert_eq!(
            Condition::new(
                EmailDomainKind,
                In,
                Operand::TextList(vec!["free".into(), "paid".into()])
            ),
            Err(ConditionError::InvalidDomainKind)
        );
        assert!(Condition::new(EmailDomainKind, NotEquals, text("Free")).is_ok());
        assert!(Condition::new(EmailDomainKind, In, Operand::TextList(vec!["business".into()])).is_ok());
    }

    #[test]
    fn text_operators_ignore_case() {
        use Operator::*;
        use ScoringField::Industry;
        let f = facts();
        assert!(cond(Industry, Equals, text("software & saas")).matches(&f));
        assert!(!cond(Industry, Equals, text("software")).matches(&f));
        assert!(cond(Industry, NotEquals, text("software")).matches(&f));
        assert!(!cond(Industry, NotEquals, text("SOFTWARE & SAAS")).matches(&f));
        assert!(cond(Industry, Contains, text("SAAS")).matches(&f));
        assert!(!cond(Industry, Contains, text("retail")).matches(&f));
        let list = |v: &[&str]| Operand::TextList(v.iter().map(|s| s.to_string()).collect());
        assert!(cond(Industry, In, list(&["retail", "SOFTWARE & saas"])).matches(&f));
        assert!(!cond(Industry, In, list(&["retail", "software"])).matches(&f));
        assert!(cond(Industry, Exists, Operand::None).matches(&f));
    }

    #[test]
    fn number_operators_compare_decimals() {
        use Operator::*;
        use ScoringField::EmployeeCount;
        let f = facts();
        let n = |v| Operand::Number(dec(v));
        assert!(cond(EmployeeCount, Equals, Operand::Number(Decimal::new(25000, 2))).matches(&f));
        assert!(cond(EmployeeCount, NotEquals, n(251)).matches(&f));
        assert!(cond(EmployeeCount, Gt, n(249)).matches(&f) && !cond(EmployeeCount, Gt, n(250)).matches(&f));
        assert!(cond(EmployeeCount, Gte, n(250)).matches(&f) && !cond(EmployeeCount, Gte, n(251)).matches(&f));
        assert!(cond(EmployeeCount, Lt, n(251)).matches(&f) && !cond(EmployeeCount, Lt, n(250)).matches(&f));
        assert!(cond(EmployeeCount, Lte, n(250)).matches(&f) && !cond(EmployeeCount, Lte, n(249)).matches(&f));
        assert!(cond(EmployeeCount, In, Operand::NumberList(vec![dec(1), dec(250)])).matches(&f));
        assert!(!cond(EmployeeCount, In, Operand::NumberList(vec![dec(1)])).matches(&f));
        assert!(cond(EmployeeCount, Exists, Operand::None).matches(&f));
    }

    #[test]
    fn a_missing_fact_matches_only_not_equals() {
        use Operator::*;
        let none = LeadFacts::default();
        let field = ScoringField::ActivitiesDone;
        for (operator, operand) in [
            (Equals, Operand::Number(dec(0))),
            (In, Operand::NumberList(vec![dec(0)])),
            (Gt, Operand::Number(dec(-1))),
            (Gte, Operand::Number(dec(0))),
            (Lt, Operand::Number(dec(1))),
            (Lte, Operand::Number(dec(0))),
            (Exists, Operand::None),
        ] {
            assert!(!cond(field, operator, operand).matches(&none), "{operator:?}");
        }
        assert!(cond(field, NotEquals, Operand::Number(dec(0))).matches(&none));
        assert!(!cond(ScoringField::Title, Contains, text("a")).matches(&none));
        assert!(cond(ScoringField::Title, NotEquals, text("a")).matches(&none));
    }

    #[test]
    fn free_mail_domains_are_sorted_lower_case_and_found() {
        assert!(FREE_MAIL_DOMAINS.windows(2).all(|w| w[0] < w[1]));
        assert!(FREE_MAIL_DOMAINS
            .iter()
            .all(|d| *d == d.to_lowercase() && d.contains('.')));
        assert!(FREE_MAIL_DOMAINS.len() >= 150);
        assert_eq!(email_domain_kind("ada@gmail.com"), Some("free"));
        assert_eq!(email_domain_kind("Ada@GMX.DE"), Some("free"));
        assert_eq!(email_domain_kind("ada@web.de"), Some("free"));
        assert_eq!(email_domain_kind("ada@acme.com"), Some("business"));
        assert_eq!(email_domain_kind("ada@mail.gmail.com.evil.io"), Some("business"));
        assert_eq!(email_domain_kind("ada"), None);
        assert_eq!(email_domain_kind("ada@"), None);
    }

    fn lead() -> Lead {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        Lead {
            id: Uuid::from_u128(1),
            organization_id: Uuid::from_u128(2),
            first_name: Some("Ada".to_owned()),
            last_name: None,
            email: Some("ada@Hotmail.com".to_owned()),
            phone: None,
            company_name: Some("Analytical Engines".to_owned()),
            title: Some("  ".to_owned()),
            industry: None,
            employee_count: Some(12),
            country: Some(Country::parse("gb").unwrap()),
            source: Some("webinar".to_owned()),
            estimated_value: Some(Amount::parse("1250.50").unwrap()),
            currency: Currency::parse("EUR").unwrap(),
            value_period: Some(ValuePeriod::Year),
            progress: LeadProgress::new(LeadStatus::Unqualified, Some("no budget".to_owned()), now).unwrap(),
            owner_id: Uuid::from_u128(0xABCD),
            score: Score::default(),
            mql_at: None,
            last_activity_at: None,
            converted_contact_id: None,
            converted_account_id: None,
            converted_deal_id: None,
            form_id: None,
            external_id: None,
            tags: crate::Tags::default(),
            custom_fields: crate::CustomValues::default(),
            version: 1,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }

    #[test]
    fn facts_of_a_lead() {
        use ScoringField::*;
        let f = LeadFacts::of(&lead(), 3);
        let t = |v: &str| Some(Fact::Text(v.to_owned()));
        assert_eq!(f.get(FirstName), t("Ada"));
        assert_eq!(f.get(LastName), None);
        assert_eq!(f.get(Email), t("ada@Hotmail.com"));
        assert_eq!(f.get(Title), None);
        assert_eq!(f.get(Industry), None);
        assert_eq!(f.get(EmployeeCount), Some(Fact::Number(dec(12))));
        assert_eq!(f.get(Country), t("GB"));
        assert_eq!(f.get(EstimatedValue), Some(Fact::Number(Decimal::new(125050, 2))));
        assert_eq!(f.get(ValuePeriod), t("year"));
        assert_eq!(f.get(Status), t("unqualified"));
        assert_eq!(f.get(UnqualifiedReason), t("no budget"));
        assert_eq!(f.get(OwnerId), t("00000000-0000-0000-0000-00000000abcd"));
        assert_eq!(f.get(EmailDomainKind), t("free"));
        assert_eq!(f.get(ActivitiesDone), Some(Fact::Number(dec(3))));
    }

    #[test]
    fn score_sums_matching_active_rules_in_order() {
        let rule = |n: u128, condition, points, active| ScoringRule {
            id: Uuid::from_u128(n),
            name: format!("rule {n}"),
            condition,
            points: Points::new(points).unwrap(),
            active,
        };
        let big = cond(ScoringField::EmployeeCount, Operator::Gte, Operand::Number(dec(100)));
        let saas = cond(ScoringField::Industry, Operator::Contains, text("saas"));
        let retail = cond(ScoringField::Industry, Operator::Contains, text("retail"));
        let rules = [
            rule(1, saas.clone(), 40, true),
            rule(2, retail, 30, true),
            rule(3, big.clone(), 30, false),
            rule(4, big, 80, true),
            rule(5, saas, -5, true),
        ];
        let b = score(&rules, &facts());
        assert_eq!(b.total, 115);
        assert_eq!(b.score, Score::MAX);
        let ids: Vec<_> = b.matched.iter().map(|m| m.rule_id.as_u128()).collect();
        assert_eq!(ids, [1, 4, 5]);
        assert_eq!(b.matched[2].points, -5);
        assert_eq!(score(&[], &facts()).score, Score::default());
    }

    const FIELDS: [ScoringField; 6] = [
        ScoringField::Industry,
        ScoringField::Country,
        ScoringField::EmailDomainKind,
        ScoringField::Status,
        ScoringField::EmployeeCount,
        ScoringField::ActivitiesDone,
    ];

    fn word() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["saas", "SaaS", "retail", "de", "DE", "new", "free", "business"])
            .prop_map(String::from)
    }

    fn number() -> impl Strategy<Value = Decimal> {
        (-3i64..30).prop_map(Decimal::from)
    }

    fn condition() -> impl Strategy<Value = Condition> {
        (
            prop::sample::select(FIELDS.to_vec()),
            any::<prop::sample::Index>(),
            word(),
            prop::collection::vec(word(), 1..4),
            number(),
            prop::collection::vec(number(), 1..4),
        )
            .prop_map(|(field, i, w, ws, n, ns)| {
                let operators: Vec<Operator> = Operator::ALL
                    .iter()
                    .copied()
                    .filter(|o| o.applies_to(field.kind()))
                    .collect();
                let operator = *i.get(&operators);
                let kind_word = |w: String| {
                    if field != ScoringField::EmailDomainKind {
                        w
                    } else if w.len() < 5 {
                        DOMAIN_KIND_FREE.to_owned()
                    } else {
                        DOMAIN_KIND_BUSINESS.to_owned()
                    }
                };
                let operand = match (operator, field.kind()) {
                    (Operator::Exists, _) => Operand::None,
                    (Operator::In, FieldKind::Text) => Operand::TextList(ws.into_iter().map(kind_word).collect()),
                    (Operator::In, FieldKind::Number) => Operand::NumberList(ns),
                    (_, FieldKind::Text) => Operand::Text(kind_word(w)),
                    (_, FieldKind::Number) => Operand::Number(n),
                };
                Condition::new(field, operator, operand).expect("valid by construction")
            })
    }

    fn lead_facts() -> impl Strategy<Value = LeadFacts> {
        (
            prop::collection::vec(prop::option::of(word()), FIELDS.len()),
            prop::collection::vec(prop::option::of(number()), FIELDS.len()),
        )
            .prop_map(|(words, numbers)| {
                let mut facts = LeadFacts::default();
                for ((field, w), n) in FIELDS.into_iter().zip(words).zip(numbers) {
                    let fact = match field.kind() {
                        FieldKind::Text => w.map(Fact::Text),
                        FieldKind::Number => n.map(Fact::Number),
                    };
                    facts = facts.with_opt(field, fact);
                }
                facts
            })
    }

    fn rules() -> impl Strategy<Value = Vec<ScoringRule>> {
        prop::collection::vec((condition(), -100i64..=100, any::<bool>()), 0..24).prop_map(|rules| {
            rules
                .into_iter()
                .enumerate()
                .map(|(i, (condition, points, active))| ScoringRule {
                    id: Uuid::from_u128(i as u128),
                    name: format!("rule {i}"),
                    condition,
                    points: Points::new(points).unwrap(),
                    active,
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn scores_stay_in_range_and_add_up(rules in rules(), facts in lead_facts()) {
            let b = score(&rules, &facts);
            prop_assert!(b.score.value() <= 100);
            prop_assert_eq!(b.total, b.matched.iter().map(|m| m.points).sum::<i64>());
            prop_assert_eq!(i64::from(b.score.value()), b.total.clamp(0, 100));
            prop_assert_eq!(b.score, Score::clamped(b.total));
            for m in &b.matched {
                let rule = rules.iter().find(|r| r.id == m.rule_id).unwrap();
                prop_assert!(rule.active);
            }
            let expected: Vec<Uuid> =
                rules.iter().filter(|r| r.active && r.condition.matches(&facts)).map(|r| r.id).collect();
            prop_assert_eq!(b.matched.iter().map(|m| m.rule_id).collect::<Vec<_>>(), expected);
        }

        #[test]
        fn not_equals_is_the_opposite_of_equals(c in condition(), facts in lead_facts()) {
            if c.operator() == Operator::Equals {
                let opposite = Condition::new(c.field().clone(), Operator::NotEquals, c.operand().clone()).unwrap();
                prop_assert_ne!(c.matches(&facts), opposite.matches(&facts));
            }
        }
    }
}
