//! The records of events as the API returns them: the store writes an
//! event in the transaction of its change, with the record rendered here.

use chrono::Utc;
use pipewise_domain::{potential::LookAlikes, prediction::Tables};
use pipewise_storage::{
    events::{Record, Render},
    CustomerYear,
};
use serde_json::Value;

use crate::routes::{
    accounts::AccountView, activities::ActivityView, contacts::ContactView, deals::DealView, lead_input::LeadView,
    notes::NoteView,
};

/// Renders a record with the view of its `GET`. A lead's estimates
/// (`predicted_conversion`, `potential_median`) depend on the whole
/// organization, not on the change: in events they are `null`.
pub struct ApiRender;

impl Render for ApiRender {
    fn render(&self, record: Record<'_>) -> Value {
        let view = match record {
            Record::Lead(l) => {
                let nobody = CustomerYear {
                    look_alikes: LookAlikes::default(),
                    currency: String::new(),
                    unconverted_deals: 0,
                };
                serde_json::to_value(LeadView::new(l.clone(), &Tables::default(), &nobody))
            }
            Record::Contact(c) => serde_json::to_value(ContactView::from(c.clone())),
            Record::Account(a) => serde_json::to_value(AccountView::from(a.clone())),
            Record::Deal(d) => serde_json::to_value(DealView::from(d.clone())),
            Record::Activity(a) => serde_json::to_value(ActivityView::new(a.clone(), Utc::now())),
            Record::Note(n) => serde_json::to_value(NoteView::from(n.clone())),
        };
        view.expect("a view serializes")
    }
}
