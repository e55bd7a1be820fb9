//! Pipewise's HTTP API: actix-web handlers, extractors, the OpenAPI
//! document, and the server they make up.

pub mod config;
pub mod contract;
pub mod demo;
pub mod edge;
pub mod error;
pub mod extract;
pub mod fields;
pub mod housekeeping;
pub mod metrics;
pub mod nullable;
pub mod openapi;
pub mod patterns;
pub mod problem;
pub mod render;
pub mod request_id;
pub mod routes;
pub mod security;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod throttle;

pub use config::Config;
pub use startup::{openapi_document, openapi_yaml, Application};
