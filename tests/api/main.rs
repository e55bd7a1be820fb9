//! Pipewise's HTTP test suite: one binary, every test against a real server.

mod accounts;
mod api_keys;
mod auth;
mod contacts;
mod contract;
mod deals;
mod errors;
mod leads;
mod operations;
mod organization;
mod pipelines;
mod scoring;
mod tenancy;
mod tokens;
mod users;
