//! A lead's look-alike potential: what the organization's customers that
//! resemble the lead spent in a year (metrics.md, "Lead potential and
//! predicted conversion").

use std::{collections::HashMap, fmt};

use rust_decimal::{prelude::ToPrimitive, Decimal};

use crate::lead::{Country, ValuePeriod};

/// The employee-count bands customers and leads are compared by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EmployeeBand {
    UpTo10,
    UpTo50,
    UpTo200,
    UpTo1000,
    UpTo5000,
    Over5000,
}

impl EmployeeBand {
    pub const ALL: [EmployeeBand; 6] = [
        EmployeeBand::UpTo10,
        EmployeeBand::UpTo50,
        EmployeeBand::UpTo200,
        EmployeeBand::UpTo1000,
        EmployeeBand::UpTo5000,
        EmployeeBand::Over5000,
    ];

    /// The band of a head count; none below one employee.
    pub fn of(employees: i64) -> Option<Self> {
        Some(match employees {
            i64::MIN..=0 => return None,
            1..=10 => EmployeeBand::UpTo10,
            11..=50 => EmployeeBand::UpTo50,
            51..=200 => EmployeeBand::UpTo200,
            201..=1000 => EmployeeBand::UpTo1000,
            1001..=5000 => EmployeeBand::UpTo5000,
            _ => EmployeeBand::Over5000,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EmployeeBand::UpTo10 => "1-10",
            EmployeeBand::UpTo50 => "11-50",
            EmployeeBand::UpTo200 => "51-200",
            EmployeeBand::UpTo1000 => "201-1000",
            EmployeeBand::UpTo5000 => "1001-5000",
            EmployeeBand::Over5000 => "5001+",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.as_str() == raw)
    }
}

impl fmt::Display for EmployeeBand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a lead and a customer are compared by. A missing value matches
/// nothing, not even another missing value: a lead without an industry has
/// no customers of "the same industry".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// Compared without regard to case or surrounding blanks.
    pub industry: Option<String>,
    pub band: Option<EmployeeBand>,
    pub country: Option<Country>,
}

impl Profile {
    /// What a lead is compared by.
    pub fn of(lead: &crate::Lead) -> Self {
        Profile {
            industry: lead.industry.clone(),
            band: lead.employee_count.and_then(EmployeeBand::of),
            country: lead.country.clone(),
        }
    }

    /// The industry as compared: trimmed, lower case; `None` when blank.
    fn industry_key(&self) -> Option<String> {
        let industry = self.industry.as_deref()?.trim();
        (!industry.is_empty()).then(|| industry.to_lowercase())
    }
}

/// An account with a deal won in the year before `as_of`, and what it spent
/// in that year in the base currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub profile: Profile,
    pub yearly_spend: Decimal,
}

/// Which customers an estimate compared the lead with, from the closest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchLevel {
    IndustryBandCountry,
    IndustryBand,
    Band,
    Everyone,
}

impl MatchLevel {
    pub const ALL: [MatchLevel; 4] = [
        MatchLevel::IndustryBandCountry,
        MatchLevel::IndustryBand,
        MatchLevel::Band,
        MatchLevel::Everyone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MatchLevel::IndustryBandCountry => "industry_band_country",
            MatchLevel::IndustryBand => "industry_band",
            MatchLevel::Band => "band",
            MatchLevel::Everyone => "all_customers",
        }
    }
}

/// Customers are the accounts with a deal won in this many days before `as_of`.
pub const CUSTOMER_WINDOW_DAYS: i64 = 365;

/// The fewest look-alikes a level needs before the next, wider one is tried.
pub const MIN_LOOK_ALIKES: usize = 5;

/// A year's spend of the customers like a lead: median and quartiles, not
/// rounded (money is rounded once, at output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Potential {
    pub median: Decimal,
    pub p25: Decimal,
    pub p75: Decimal,
    /// How many customers the figures are taken over.
    pub sample: usize,
    pub matched_on: MatchLevel,
}

impl Potential {
    /// The same figures for a `period` instead of a year.
    pub fn per(&self, period: ValuePeriod) -> Potential {
        let parts = Decimal::from(match period {
            ValuePeriod::Month => 12,
            ValuePeriod::Quarter => 4,
            ValuePeriod::Year => 1,
        });
        Potential {
            median: self.median / parts,
            p25: self.p25 / parts,
            p75: self.p75 / parts,
            ..self.clone()
        }
    }
}

/// The look-alike potential of a lead: the levels are tried from the
/// closest until one has at least [`MIN_LOOK_ALIKES`] customers; the widest,
/// every customer, is used whatever its size. `None` without customers.
pub fn look_alike(lead: &Profile, customers: &[Customer]) -> Option<Potential> {
    LookAlikes::new(customers).potential(lead)
}

/// Customers grouped by what leads are compared on, each group's spends
/// sorted, so that many leads are estimated at the cost of a few lookups.
#[derive(Debug, Clone, Default)]
pub struct LookAlikes {
    by_all: HashMap<(String, EmployeeBand, Country), Vec<Decimal>>,
    by_industry_band: HashMap<(String, EmployeeBand), Vec<Decimal>>,
    by_band: HashMap<EmployeeBand, Vec<Decimal>>,
    everyone: Vec<Decimal>,
}

impl LookAlikes {
    pub fn new(customers: &[Customer]) -> Self {
        let mut groups = LookAlikes::default();
        for c in customers {
            let spend = c.yearly_spend;
            groups.everyone.push(spend);
            let Some(band) = c.profile.band else { continue };
            groups.by_band.entry(band).or_default().push(spend);
            let Some(industry) = c.profile.industry_key() else {
                continue;
            };
            if let Some(country) = &c.profile.country {
                groups
                    .by_all
                    .entry((industry.clone(), band, country.clone()))
                    .or_default()
                    .push(spend);
            }
            groups.by_industry_band.entry((industry, band)).or_default().push(spend);
        }
        let sort = |v: &mut Vec<Decimal>| v.sort();
        groups.by_all.values_mut().for_each(sort);
        groups.by_industry_band.values_mut().for_each(sort);
        groups.by_band.values_mut().for_each(sort);
        sort(&mut groups.everyone);
        groups
    }

    /// How many customers there are.
    pub fn customers(&self) -> usize {
        self.everyone.len()
    }

    /// The estimate for `lead`; `None` without customers.
    pub fn potential(&self, lead: &Profile) -> Option<Potential> {
        if self.everyone.is_empty() {
            return None;
        }
        let industry = lead.industry_key();
        let candidates = [
            (
                MatchLevel::IndustryBandCountry,
                industry
                    .clone()
                    .zip(lead.band)
                    .zip(lead.country.clone())
                    .and_then(|((i, b), c)| self.by_all.get(&(i, b, c))),
            ),
            (
                MatchLevel::IndustryBand,
                industry.zip(lead.band).and_then(|key| self.by_industry_band.get(&key)),
            ),
            (MatchLevel::Band, lead.band.and_then(|b| self.by_band.get(&b))),
        ];
        let (level, sorted) = candidates
            .into_iter()
            .find_map(|(level, spends)| spends.filter(|s| s.len() >= MIN_LOOK_ALIKES).map(|s| (level, s)))
            .unwrap_or((MatchLevel::Everyone, &self.everyone));
        Some(Potential {
            median: percentile(sorted, Decimal::new(50, 2)),
            p25: percentile(sorted, Decimal::new(25, 2)),
            p75: percentile(sorted, Decimal::new(75, 2)),
            sample: sorted.len(),
            matched_on: level,
        })
    }
}

/// The `p` percentile of non-empty `sorted` values by linear interpolation
/// between the closest ranks (numpy's default), exact in decimals.
fn percentile(sorted: &[Decimal], p: Decimal) -> Decimal {
    let position = p * Decimal::from(sorted.len() - 1);
    let lower = position.floor();
    let index = lower.to_usize().unwrap_or(0);
    let fraction = position - lower;
    match sorted.get(index + 1) {
        Some(next) if !fraction.is_zero() => sorted[index] + (*next - sorted[index]) * fraction,
        _ => sorted[index],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(units: i64) -> Decimal {
        Decimal::from(units)
    }

    fn profile(industry: Option<&str>, employees: Option<i64>, country: Option<&str>) -> Profile {
        Profile {
            industry: industry.map(str::to_owned),
            band: employees.and_then(EmployeeBand::of),
            country: country.map(|c| Country::parse(c).unwrap()),
        }
    }

    fn customer(industry: &str, employees: i64, country: &str, spend: i64) -> Customer {
        Customer {
            profile: profile(Some(industry), Some(employees), Some(country)),
            yearly_spend: money(spend),
        }
    }

    #[test]
    fn bands_follow_the_head_count_and_a_missing_count_has_none() {
        let cases = [
            (1, "1-10"),
            (10, "1-10"),
            (11, "11-50"),
            (50, "11-50"),
            (51, "51-200"),
            (200, "51-200"),
            (201, "201-1000"),
            (1000, "201-1000"),
            (1001, "1001-5000"),
            (5000, "1001-5000"),
            (5001, "5001+"),
        ];
        for (count, band) in cases {
            assert_eq!(EmployeeBand::of(count).map(EmployeeBand::as_str), Some(band), "{count}");
            assert_eq!(EmployeeBand::parse(band).map(EmployeeBand::as_str), Some(band));
        }
        assert_eq!(EmployeeBand::of(0), None);
        assert_eq!(EmployeeBand::of(-3), None);
        // Without a count a lead has no band: five customers without one are no match.
        let uncounted = Customer {
            profile: profile(Some("Software"), None, Some("DE")),
            yearly_spend: money(1),
        };
        let lead = profile(Some("Software"), None, Some("DE"));
        let estimate = look_alike(&lead, &vec![uncounted; 5]).unwrap();
        assert_eq!(estimate.matched_on, MatchLevel::Everyone);
    }

    #[test]
    fn percentiles_interpolate_between_the_closest_ranks() {
        // 10, 20, 30, 40: p25 at position 0.75 → 10 + 0.75 × 10 = 17.5;
        // the median at 1.5 → 25; p75 at 2.25 → 30 + 0.25 × 10 = 32.5.
        let values: Vec<Decimal> = [10, 20, 30, 40].into_iter().map(money).collect();
        assert_eq!(percentile(&values, Decimal::new(25, 2)), Decimal::new(175, 1));
        assert_eq!(percentile(&values, Decimal::new(50, 2)), money(25));
        assert_eq!(percentile(&values, Decimal::new(75, 2)), Decimal::new(325, 1));
        assert_eq!(percentile(&[money(7)], Decimal::new(75, 2)), money(7));
    }

    #[test]
    fn no_customers_give_no_estimate() {
        assert_eq!(look_alike(&profile(Some("Software"), Some(30), Some("DE")), &[]), None);
    }

    #[test]
    fn five_customers_of_the_same_industry_band_and_country_are_enough() {
        let mut customers: Vec<Customer> = [100, 200, 300, 400, 500]
            .into_iter()
            .map(|s| customer("Software", 30, "DE", s))
            .collect();
        // Same industry and band elsewhere: not used while the closest level has five.
        customers.push(customer("software ", 20, "FR", 10_000));
        let lead = profile(Some("Software"), Some(45), Some("DE"));
        let potential = look_alike(&lead, &customers).unwrap();
        assert_eq!(potential.matched_on, MatchLevel::IndustryBandCountry);
        assert_eq!(potential.sample, 5);
        // 100..500: median 300, p25 at position 1 → 200, p75 at 3 → 400.
        assert_eq!(
            (potential.median, potential.p25, potential.p75),
            (money(300), money(200), money(400))
        );
        // A month is a twelfth of the year: 300 / 12 = 25.
        assert_eq!(potential.per(ValuePeriod::Month).median, money(25));
        assert_eq!(potential.per(ValuePeriod::Quarter).p75, money(100));
    }

    #[test]
    fn fewer_than_five_widen_to_industry_and_band_then_band_then_everyone() {
        let customers = vec![
            customer("Software", 30, "DE", 100),
            customer("Software", 30, "FR", 200),
            customer("Software", 12, "US", 300),
            customer("Retail", 40, "DE", 400),
            customer("Retail", 20, "DE", 500),
            customer("Software", 3000, "DE", 600),
        ];
        // Industry, band and country: 1; industry and band: 3; band 11-50: 5.
        let lead = profile(Some("Software"), Some(25), Some("DE"));
        let band = look_alike(&lead, &customers).unwrap();
        assert_eq!((band.matched_on, band.sample), (MatchLevel::Band, 5));
        // 100, 200, 300, 400, 500: median 300.
        assert_eq!(band.median, money(300));

        // Without a head count no band matches: every customer, all six.
        let unbanded = profile(Some("Software"), None, Some("DE"));
        let everyone = look_alike(&unbanded, &customers).unwrap();
        assert_eq!((everyone.matched_on, everyone.sample), (MatchLevel::Everyone, 6));
        // 100..600: median at position 2.5 → 350; p25 at 1.25 → 225; p75 at 3.75 → 475.
        assert_eq!(
            (everyone.median, everyone.p25, everyone.p75),
            (money(350), money(225), money(475))
        );

        // Five with the same industry and band, fewer in the same country.
        let mut more = customers.clone();
        more.push(customer("SOFTWARE", 49, "GB", 700));
        more.push(customer("Software", 11, "GB", 800));
        let industry = look_alike(&lead, &more).unwrap();
        assert_eq!((industry.matched_on, industry.sample), (MatchLevel::IndustryBand, 5));
    }

    #[test]
    fn a_lone_customer_still_gives_an_estimate_over_everyone() {
        let customers = vec![customer("Retail", 5000, "US", 1234)];
        let potential = look_alike(&profile(None, None, None), &customers).unwrap();
        assert_eq!(potential.matched_on, MatchLevel::Everyone);
        assert_eq!(
            (potential.sample, potential.median, potential.p25),
            (1, money(1234), money(1234))
        );
    }
}
