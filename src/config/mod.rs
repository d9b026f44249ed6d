//! Typed settings, loaded once (defaults in code, then `tally.toml`, then `TALLY_*`).
//!
//! Stage: startup. Input is the configuration file and the environment; output is plain
//! [`Settings`] data. Imports no other module of the crate: `auth`, `startup` and `cli` read
//! settings, never the other way round.

mod jwt;
mod load;
mod settings;
mod unknown_env;

pub use jwt::{JwtAlgorithm, JwtKeyConfig};
pub use settings::{
    parse_duration, BillingSettings, IngestSettings, IssuerSettings, JwtSettings, LifecycleSettings, NotifySettings,
    QuotaSettings, Settings, SmtpSettings,
};
