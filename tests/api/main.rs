//! Pipewise's HTTP test suite: one binary, every test against a real server.

mod api_keys;
mod auth;
mod contract;
mod errors;
mod operations;
mod organization;
mod tenancy;
mod tokens;
mod users;
