//! Request extractors: where input is parsed into types the handlers trust.

pub mod body;
pub mod caller;
pub mod custom_filters;
pub mod if_match;
pub mod json;
pub mod page;

pub use caller::{
    Admin, Caller, Import, ManagerRead, ManagerReports, ManagerWrite, Principal, Read, RecordScope, Reports, UserOnly,
    Write,
};
pub use custom_filters::{CustomFilterParams, FilteredQuery};
pub use if_match::IfMatch;
pub use json::Json;
pub use page::{Cursor, ListOf, PageQuery};
