//! Predicted conversion: naive Bayes over a few fields of the lead, learned
//! from the organization's closed leads, as Odoo's predictive lead scoring
//! does it (metrics.md, "Lead potential and predicted conversion").

use std::collections::HashMap;

use crate::{potential::EmployeeBand, scoring::email_domain_kind, Lead};

/// The fields a prediction looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Source,
    Industry,
    EmployeeBand,
    Country,
    EmailDomainKind,
}

impl Field {
    pub const ALL: [Field; 5] = [
        Field::Source,
        Field::Industry,
        Field::EmployeeBand,
        Field::Country,
        Field::EmailDomainKind,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Source => "source",
            Field::Industry => "industry",
            Field::EmployeeBand => "employee_band",
            Field::Country => "country",
            Field::EmailDomainKind => "email_domain_kind",
        }
    }
}

/// A lead's value of each field; `None` (missing) is a value of its own.
/// Values are compared as given: callers normalize them (trimmed, one case).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    values: [Option<String>; 5],
}

impl Features {
    pub fn new(
        source: Option<String>,
        industry: Option<String>,
        employee_band: Option<String>,
        country: Option<String>,
        email_domain_kind: Option<String>,
    ) -> Self {
        Self {
            values: [source, industry, employee_band, country, email_domain_kind],
        }
    }

    pub fn get(&self, field: Field) -> Option<&str> {
        self.values[field as usize].as_deref()
    }

    /// What the prediction reads of a lead: its values as stored, the band
    /// of its head count and the kind of its email domain.
    pub fn of(lead: &Lead) -> Self {
        Self::new(
            lead.source.clone(),
            lead.industry.clone(),
            lead.employee_count
                .and_then(EmployeeBand::of)
                .map(|b| b.as_str().to_owned()),
            lead.country.as_ref().map(|c| c.as_str().to_owned()),
            lead.email.as_deref().and_then(email_domain_kind).map(str::to_owned),
        )
    }
}

/// The part of a prediction that is the same for every lead: the totals and
/// the prior odds. The database sorts and filters leads with the very
/// arithmetic of [`Tables::predict`], in this order, so that both give the
/// same number to the last bit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Model {
    /// S and U.
    pub successes: f64,
    pub failures: f64,
    /// prior_s / prior_u.
    pub prior_odds: f64,
}

impl Model {
    /// `None` before [`MIN_CLOSED_LEADS`] closed leads with at least one of each outcome.
    pub fn new(successes: u64, failures: u64) -> Option<Self> {
        if successes == 0 || failures == 0 || successes + failures < MIN_CLOSED_LEADS {
            return None;
        }
        let (s, u) = (successes as f64, failures as f64);
        let prior = s / (s + u);
        Some(Model {
            successes: s,
            failures: u,
            prior_odds: prior / (1.0 - prior),
        })
    }

    pub fn prior(&self) -> f64 {
        self.successes / (self.successes + self.failures)
    }

    /// One field's likelihood ratio, from the closed leads with its value.
    pub fn likelihood_ratio(&self, successes: u64, failures: u64) -> f64 {
        let s = successes as f64 + SMOOTHING;
        let u = failures as f64 + SMOOTHING;
        (s / self.successes) / (u / self.failures)
    }

    /// The probability from the ratios, multiplied in [`Field::ALL`] order.
    pub fn probability(&self, ratios: impl IntoIterator<Item = f64>) -> f64 {
        let odds = ratios.into_iter().fold(self.prior_odds, |odds, ratio| odds * ratio);
        odds / (1.0 + odds)
    }
}

/// How a closed lead ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Converted,
    Unqualified,
}

/// The frequency tables: how many closed leads converted (S) or were
/// unqualified (U), and of each, how many had each value of each field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tables {
    pub successes: u64,
    pub failures: u64,
    /// (field, value) → (successes, failures) with that value.
    pub counts: HashMap<(Field, Option<String>), (u64, u64)>,
}

/// Added to every count, so that a value never seen with one outcome does
/// not make the other certain (Odoo's smoothing).
pub const SMOOTHING: f64 = 0.1;
/// The fewest closed leads a prediction is made from (with at least one of
/// each outcome).
pub const MIN_CLOSED_LEADS: u64 = 20;

/// One field's part in a prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct Factor {
    pub field: Field,
    pub value: Option<String>,
    /// Converted and unqualified leads with this value.
    pub successes: u64,
    pub failures: u64,
    /// (s(f,v) / S) / (u(f,v) / U): above 1 the value speaks for converting.
    pub likelihood_ratio: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The probability that the lead converts, in [0, 1].
    pub probability: f64,
    /// S / (S + U): the probability before looking at the lead.
    pub prior: f64,
    /// Every field, the most influential (furthest from a ratio of 1) first.
    pub factors: Vec<Factor>,
    /// S + U.
    pub learned_from: u64,
}

impl Tables {
    /// Counts one closed lead.
    pub fn add(&mut self, features: &Features, outcome: Outcome) {
        self.apply(features, outcome, |n| *n += 1);
    }

    /// Takes back a closed lead that is open again (or was corrected).
    pub fn remove(&mut self, features: &Features, outcome: Outcome) {
        self.apply(features, outcome, |n| *n = n.saturating_sub(1));
    }

    fn apply(&mut self, features: &Features, outcome: Outcome, step: impl Fn(&mut u64)) {
        match outcome {
            Outcome::Converted => step(&mut self.successes),
            Outcome::Unqualified => step(&mut self.failures),
        }
        for field in Field::ALL {
            let entry = self
                .counts
                .entry((field, features.get(field).map(str::to_owned)))
                .or_default();
            match outcome {
                Outcome::Converted => step(&mut entry.0),
                Outcome::Unqualified => step(&mut entry.1),
            }
        }
    }

    pub fn model(&self) -> Option<Model> {
        Model::new(self.successes, self.failures)
    }

    /// The prediction for a lead with `features`; `None` before
    /// [`MIN_CLOSED_LEADS`] closed leads with at least one of each outcome.
    pub fn predict(&self, features: &Features) -> Option<Prediction> {
        self.predict_with(features, |_, _| 0, (0, 0))
    }

    /// The prediction for a closed lead as if it were still open: learned
    /// from every other closed lead (leave-one-out), so that its own outcome
    /// does not flatter the score when predictions are checked.
    pub fn predict_left_out(&self, features: &Features, outcome: Outcome) -> Option<Prediction> {
        let own = match outcome {
            Outcome::Converted => (1, 0),
            Outcome::Unqualified => (0, 1),
        };
        self.predict_with(features, |_, _| 1, own)
    }

    /// `own` (successes, failures) taken off the totals and, where
    /// `take(field, value)` is 1, off that value's counts.
    fn predict_with(
        &self,
        features: &Features,
        take: impl Fn(Field, Option<&str>) -> u64,
        own: (u64, u64),
    ) -> Option<Prediction> {
        let model = Model::new(
            self.successes.saturating_sub(own.0),
            self.failures.saturating_sub(own.1),
        )?;
        let mut factors: Vec<Factor> = Field::ALL
            .into_iter()
            .map(|field| {
                let value = features.get(field).map(str::to_owned);
                let (successes, failures) = self.counts.get(&(field, value.clone())).copied().unwrap_or((0, 0));
                let times = take(field, value.as_deref());
                let successes = successes.saturating_sub(own.0 * times);
                let failures = failures.saturating_sub(own.1 * times);
                Factor {
                    field,
                    value,
                    successes,
                    failures,
                    likelihood_ratio: model.likelihood_ratio(successes, failures),
                }
            })
            .collect();
        // P = prior_s Π s/S ÷ (prior_s Π s/S + prior_u Π u/U), computed as
        // odds so that five small products cannot underflow.
        let probability = model.probability(factors.iter().map(|f| f.likelihood_ratio));
        factors.sort_by(|a, b| {
            b.likelihood_ratio
                .ln()
                .abs()
                .total_cmp(&a.likelihood_ratio.ln().abs())
                .then(a.field.cmp(&b.field))
        });
        Some(Prediction {
            probability,
            prior: model.prior(),
            factors,
            learned_from: (model.successes + model.failures) as u64,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lead(source: &str, industry: Option<&str>, kind: &str) -> Features {
        Features::new(
            Some(source.to_owned()),
            industry.map(str::to_owned),
            Some("11-50".to_owned()),
            Some("DE".to_owned()),
            Some(kind.to_owned()),
        )
    }

    /// 8 converted and 12 unqualified leads: the web form brought 6 of the
    /// converted and 2 of the unqualified; every converted lead wrote from
    /// a business address, 6 of the unqualified from a free one.
    fn history() -> Tables {
        let mut tables = Tables::default();
        for i in 0..8 {
            let source = if i < 6 { "web_form" } else { "event" };
            tables.add(&lead(source, Some("Software"), "business"), Outcome::Converted);
        }
        for i in 0..12 {
            let source = if i < 2 { "web_form" } else { "event" };
            let kind = if i < 6 { "free" } else { "business" };
            tables.add(&lead(source, None, kind), Outcome::Unqualified);
        }
        tables
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    #[test]
    fn the_probability_is_the_written_out_naive_bayes() {
        let tables = history();
        let p = tables.predict(&lead("web_form", Some("Software"), "business")).unwrap();
        // S = 8, U = 12, prior 0.4.
        close(p.prior, 0.4);
        assert_eq!(p.learned_from, 20);
        // source web_form: s = 6.1, u = 2.1 → (6.1/8) / (2.1/12) = 4.357142857…
        // industry Software: s = 8.1, u = 0.1 → (8.1/8) / (0.1/12) = 121.5
        // band 11-50 and country DE: s = 8.1, u = 12.1 → (8.1/8) / (12.1/12) = 1.004132…
        // kind business: s = 8.1, u = 6.1 → (8.1/8) / (6.1/12) = 1.991803…
        let ratio = |field| p.factors.iter().find(|f| f.field == field).unwrap().likelihood_ratio;
        close(ratio(Field::Source), (6.1 / 8.0) / (2.1 / 12.0));
        close(ratio(Field::Industry), 121.5);
        close(ratio(Field::Country), (8.1 / 8.0) / (12.1 / 12.0));
        close(ratio(Field::EmailDomainKind), (8.1 / 8.0) / (6.1 / 12.0));
        // P = 0.4 Π s/S ÷ (0.4 Π s/S + 0.6 Π u/U)
        let s = 0.4 * (6.1 / 8.0) * (8.1 / 8.0) * (8.1 / 8.0) * (8.1 / 8.0) * (8.1 / 8.0);
        let u = 0.6 * (2.1 / 12.0) * (0.1 / 12.0) * (12.1 / 12.0) * (12.1 / 12.0) * (6.1 / 12.0);
        close(p.probability, s / (s + u));
        // Industry weighs most, then the source; band and country least.
        let order: Vec<Field> = p.factors.iter().map(|f| f.field).collect();
        assert_eq!(order[..3], [Field::Industry, Field::Source, Field::EmailDomainKind]);
        assert_eq!((p.factors[0].successes, p.factors[0].failures), (8, 0));
    }

    #[test]
    fn a_value_never_seen_counts_only_its_smoothing() {
        let tables = history();
        let p = tables.predict(&lead("partner", Some("Software"), "business")).unwrap();
        let source = p.factors.iter().find(|f| f.field == Field::Source).unwrap();
        // s = u = 0.1: (0.1/8) / (0.1/12) = 1.5, the inverse of the prior odds.
        assert_eq!((source.successes, source.failures), (0, 0));
        close(source.likelihood_ratio, 1.5);
    }

    #[test]
    fn a_missing_value_is_a_value_of_its_own() {
        let tables = history();
        let p = tables.predict(&lead("event", None, "free")).unwrap();
        let industry = p.factors.iter().find(|f| f.field == Field::Industry).unwrap();
        // All 12 unqualified leads had no industry, no converted one: (0.1/8) / (12.1/12).
        assert_eq!((industry.value.as_deref(), industry.failures), (None, 12));
        close(industry.likelihood_ratio, (0.1 / 8.0) / (12.1 / 12.0));
        assert!(p.probability < 0.01, "{}", p.probability);
    }

    #[test]
    fn no_prediction_below_twenty_closed_leads_or_without_both_outcomes() {
        assert_eq!(Tables::default().predict(&Features::default()), None);
        let mut tables = history();
        tables.remove(&lead("web_form", None, "free"), Outcome::Unqualified);
        assert_eq!(tables.failures, 11);
        assert_eq!(tables.predict(&Features::default()), None, "19 closed leads");
        let mut one_sided = Tables::default();
        for _ in 0..25 {
            one_sided.add(&Features::default(), Outcome::Converted);
        }
        assert_eq!(one_sided.predict(&Features::default()), None);
    }

    #[test]
    fn a_closed_lead_is_predicted_from_the_others_alone() {
        let mut tables = history();
        tables.add(&lead("partner", None, "free"), Outcome::Unqualified);
        let web = lead("web_form", Some("Software"), "business");
        let left_out = tables.predict_left_out(&web, Outcome::Converted).unwrap();
        // Without it: S = 7, U = 13; web_form s = 5.1, u = 2.1; Software s = 7.1, u = 0.1;
        // band and country s = 7.1, u = 13.1; business s = 7.1, u = 6.1.
        assert_eq!(left_out.learned_from, 20);
        close(left_out.prior, 7.0 / 20.0);
        let s = (7.0 / 20.0) * (5.1 / 7.0) * (7.1 / 7.0) * (7.1 / 7.0) * (7.1 / 7.0) * (7.1 / 7.0);
        let u = (13.0 / 20.0) * (2.1 / 13.0) * (0.1 / 13.0) * (13.1 / 13.0) * (13.1 / 13.0) * (6.1 / 13.0);
        close(left_out.probability, s / (s + u));
        let mut without = tables.clone();
        without.remove(&web, Outcome::Converted);
        assert_eq!(without.predict(&web).unwrap().probability, left_out.probability);
        // Twenty closed leads in all: leaving one out leaves too few.
        assert_eq!(history().predict_left_out(&web, Outcome::Converted), None);
    }
}
