//! Predicted conversion: naive Bayes over a few fields of the lead, learned
//! from the organization's closed leads, as Odoo's predictive lead scoring
//! does it (metrics.md, "Lead potential and predicted conversion").

use std::collections::HashMap;

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

    /// The prediction for a lead with `features`; `None` before
    /// [`MIN_CLOSED_LEADS`] closed leads with at least one of each outcome.
    pub fn predict(&self, features: &Features) -> Option<Prediction> {
        let (s_total, u_total) = (self.successes, self.failures);
        if s_total == 0 || u_total == 0 || s_total + u_total < MIN_CLOSED_LEADS {
            return None;
        }
        let (s_total, u_total) = (s_total as f64, u_total as f64);
        let prior = s_total / (s_total + u_total);
        let mut factors: Vec<Factor> = Field::ALL
            .into_iter()
            .map(|field| {
                let value = features.get(field).map(str::to_owned);
                let (successes, failures) = self.counts.get(&(field, value.clone())).copied().unwrap_or((0, 0));
                let s = successes as f64 + SMOOTHING;
                let u = failures as f64 + SMOOTHING;
                Factor {
                    field,
                    value,
                    successes,
                    failures,
                    likelihood_ratio: (s / s_total) / (u / u_total),
                }
            })
            .collect();
        // P = prior_s Π s/S ÷ (prior_s Π s/S + prior_u Π u/U), computed as
        // odds so that five small products cannot underflow.
        let odds = factors
            .iter()
            .fold(prior / (1.0 - prior), |odds, f| odds * f.likelihood_ratio);
        let probability = odds / (1.0 + odds);
        factors.sort_by(|a, b| {
            b.likelihood_ratio
                .ln()
                .abs()
                .total_cmp(&a.likelihood_ratio.ln().abs())
                .then(a.field.cmp(&b.field))
        });
        Some(Prediction {
            probability,
            prior,
            factors,
            learned_from: self.successes + self.failures,
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
}
