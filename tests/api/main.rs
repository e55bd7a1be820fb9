//! Pipewise's HTTP test suite: one binary, every test against a real server.

mod accounts;
mod activities;
mod api_keys;
mod auth;
mod contacts;
mod contract;
mod conversion;
mod deals;
mod demo;
mod errors;
mod forms;
mod input;
mod leads;
mod notes;
mod notifications;
mod operations;
mod organization;
mod pipelines;
mod prediction;
mod reports;
mod scoring;
mod tenancy;
mod timeline;
mod tokens;
mod users;
mod writes;
