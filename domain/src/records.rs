//! The records of the pipeline core as stored and returned.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::{
    deal::{BuyingRole, DealStatus, EventKind, ForecastCategory},
    Amount, Country, Currency, CustomValues, Probability, Tags,
};

#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub domain: Option<String>,
    pub industry: Option<String>,
    pub employee_count: Option<i64>,
    /// Where the company is, to compare customers with leads.
    pub country: Option<Country>,
    pub owner_id: Uuid,
    /// The id a partner's system knows the account by; unique in the organization.
    pub external_id: Option<String>,
    pub tags: Tags,
    /// Values of the organization's custom fields for this kind of record.
    pub custom_fields: CustomValues,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// The latest creation or completion time of a linked activity.
    pub last_activity_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub title: Option<String>,
    pub account_id: Option<Uuid>,
    pub buying_role: Option<BuyingRole>,
    pub owner_id: Uuid,
    /// The id a partner's system knows the contact by; unique in the organization.
    pub external_id: Option<String>,
    pub tags: Tags,
    /// Values of the organization's custom fields for this kind of record.
    pub custom_fields: CustomValues,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub erased_at: Option<DateTime<Utc>>,
    /// The latest creation or completion time of a linked activity.
    pub last_activity_at: Option<DateTime<Utc>>,
}

/// A contact's part in one deal.
#[derive(Debug, Clone, PartialEq)]
pub struct DealContact {
    pub contact_id: Uuid,
    pub buying_role: Option<BuyingRole>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Deal {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub pipeline_id: Uuid,
    pub stage_id: Uuid,
    pub title: String,
    pub amount: Amount,
    pub currency: Currency,
    pub status: DealStatus,
    pub owner_id: Uuid,
    pub account_id: Option<Uuid>,
    pub contacts: Vec<DealContact>,
    pub source: Option<String>,
    pub probability: Option<Probability>,
    /// The stage's probability: the deal's own `probability` overrides it.
    pub stage_probability: Probability,
    pub expected_close_date: Option<NaiveDate>,
    pub forecast_category: ForecastCategory,
    pub lost_reason: Option<String>,
    /// The id a partner's system knows the deal by; unique in the organization.
    pub external_id: Option<String>,
    pub tags: Tags,
    /// Values of the organization's custom fields for this kind of record.
    pub custom_fields: CustomValues,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub stage_entered_at: DateTime<Utc>,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Deal {
    /// amount × probability / 100, with the deal's own probability if set.
    pub fn weighted_amount(&self) -> rust_decimal::Decimal {
        let probability = self.probability.unwrap_or(self.stage_probability);
        (self.amount.to_decimal() * rust_decimal::Decimal::from(probability.value())
            / rust_decimal::Decimal::ONE_HUNDRED)
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointNearestEven)
    }

    pub fn decision_maker_identified(&self) -> bool {
        self.contacts
            .iter()
            .any(|c| c.buying_role == Some(BuyingRole::DecisionMaker))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DealEvent {
    pub id: Uuid,
    pub deal_id: Uuid,
    pub kind: EventKind,
    pub at: DateTime<Utc>,
    pub pipeline_id: Uuid,
    pub stage_id: Uuid,
    pub from_stage_id: Option<Uuid>,
    pub lost_reason: Option<String>,
    pub actor_user_id: Option<Uuid>,
    pub actor_api_key_id: Option<Uuid>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_amount_prefers_the_deals_own_probability() {
        let mut deal = Deal {
            id: Uuid::nil(),
            organization_id: Uuid::nil(),
            pipeline_id: Uuid::nil(),
            stage_id: Uuid::nil(),
            title: "t".into(),
            amount: Amount::parse("1000.05").unwrap(),
            currency: Currency::parse("EUR").unwrap(),
            status: DealStatus::Open,
            owner_id: Uuid::nil(),
            account_id: None,
            contacts: vec![],
            source: None,
            probability: None,
            stage_probability: Probability::new(25).unwrap(),
            expected_close_date: None,
            forecast_category: ForecastCategory::Pipeline,
            lost_reason: None,
            external_id: None,
            tags: Tags::default(),
            custom_fields: CustomValues::default(),
            version: 1,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
            closed_at: None,
            stage_entered_at: DateTime::UNIX_EPOCH,
            last_activity_at: None,
            deleted_at: None,
        };
        assert_eq!(deal.weighted_amount().to_string(), "250.01");
        deal.probability = Some(Probability::new(50).unwrap());
        assert_eq!(deal.weighted_amount().to_string(), "500.02");
        assert!(!deal.decision_maker_identified());
        deal.contacts.push(DealContact {
            contact_id: Uuid::nil(),
            buying_role: Some(BuyingRole::DecisionMaker),
        });
        assert!(deal.decision_maker_identified());
    }
}
