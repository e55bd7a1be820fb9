//! One module per resource; each registers its handlers, which documents them.

pub mod accounts;
pub mod api_keys;
pub mod auth;
pub mod contacts;
pub mod deals;
pub mod lead_input;
pub mod lead_list;
pub mod lead_update;
pub mod leads;
pub mod operations;
pub mod organization;
pub mod pipelines;
pub mod records;
pub mod scoring_rules;
pub mod users;

use utoipa_actix_web::service_config::ServiceConfig;

/// Everything under `/api/v1`.
pub fn api(cfg: &mut ServiceConfig) {
    cfg.configure(auth::configure)
        .configure(organization::configure)
        .configure(users::configure)
        .configure(api_keys::configure)
        .configure(pipelines::configure)
        .configure(deals::configure)
        .configure(accounts::configure)
        .configure(contacts::configure)
        .configure(leads::configure)
        .configure(scoring_rules::configure);
}
