//! Pipewise's domain: value types that can only hold valid values, and the
//! rules that act on them. Nothing here performs IO or reads the clock.

/// Declares a closed set of names with `as_str`, `parse` and `ALL`.
macro_rules! names {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            pub fn parse(raw: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == raw)
            }
        }
    };
}

pub mod activity;
pub mod api_key;
pub mod currency;
pub mod custom_field;
pub mod customers;
pub mod deal;
pub mod email;
pub mod import;
pub mod lead;
pub mod money;
pub mod name;
pub mod organization;
pub mod password;
pub mod pipeline;
pub mod potential;
pub mod prediction;
pub mod records;
pub mod report;
pub mod role;
pub mod scoring;
pub mod tag;
pub mod text;
pub mod user;

pub use activity::{
    Activity, ActivityStatus, ActivityType, AttachError, Links, Note, NoteBody, NoteBodyError, Notification,
    NotificationKind, RecordKind, RecordRef,
};
pub use api_key::{ApiKey, ApiKeyFormatError, ApiKeySecret};
pub use currency::{Currency, CurrencyError};
pub use custom_field::{CustomField, CustomValue, CustomValues, FieldKey, FieldType};
pub use email::{Email, EmailError};
pub use lead::{Country, CountryError, Lead, LeadProgress, LeadStatus, LeadStatusError, ValuePeriod};
pub use money::{Amount, AmountError};
pub use name::{Name, NameError};
pub use organization::{
    ExchangeRate, ExchangeRateError, MqlThreshold, MqlThresholdError, Organization, OrganizationChanges, TimeZone,
    TimeZoneError,
};
pub use password::{Password, PasswordError};
pub use pipeline::{NewStage, Pipeline, Probability, ProbabilityError, RottingDays, Stage, StageChanges};
pub use records::{Account, Contact, Deal, DealContact, DealEvent};
pub use role::{Role, RoleError, Scope, ScopeError};
pub use scoring::{Condition, ConditionError, Points, PointsError, Score, ScoringRule};
pub use tag::{Tag, TagError, Tags, TagsError};
pub use user::{Credentials, NewUser, User, UserChanges};
