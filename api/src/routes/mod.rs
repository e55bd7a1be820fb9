//! One module per resource; each registers its handlers, which documents them.

pub mod accounts;
pub mod activities;
pub mod api_keys;
pub mod auth;
pub mod bulk;
pub mod changes;
pub mod contacts;
pub mod conversion;
pub mod custom_fields;
pub mod deals;
pub mod exports;
pub mod forms;
pub mod imports;
pub mod lead_input;
pub mod lead_list;
pub mod lead_potential;
pub mod lead_prediction;
pub mod lead_update;
pub mod leads;
pub mod links;
pub mod merges;
pub mod notes;
pub mod notifications;
pub mod operations;
pub mod organization;
pub mod pipelines;
pub mod public_forms;
pub mod records;
pub mod reports;
pub mod scoring_rules;
pub mod search;
pub mod source_spend;
pub mod submission_body;
pub mod timeline;
pub mod users;

use utoipa_actix_web::service_config::ServiceConfig;

/// Everything under `/api/v1`.
pub fn api(cfg: &mut ServiceConfig) {
    cfg.configure(auth::configure)
        .configure(organization::configure)
        .configure(users::configure)
        .configure(api_keys::configure)
        .configure(pipelines::configure)
        .configure(bulk::configure)
        .configure(deals::configure)
        .configure(accounts::configure)
        .configure(contacts::configure)
        .configure(leads::configure)
        .configure(merges::configure)
        .configure(scoring_rules::configure)
        .configure(custom_fields::configure)
        .configure(forms::configure)
        .configure(activities::configure)
        .configure(notes::configure)
        .configure(timeline::configure)
        .configure(notifications::configure)
        .configure(conversion::configure)
        .configure(exports::configure)
        .configure(imports::configure)
        .configure(search::configure)
        .configure(changes::configure)
        .configure(source_spend::configure)
        .configure(reports::configure);
}
