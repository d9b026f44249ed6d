//! What the command line accepts: the commands, their arguments and their help (clap). Running
//! them is `mod.rs` and its siblings.

use clap::{Parser, Subcommand};

/// Tally: usage metering and billing for serverless platforms.
#[derive(Debug, Parser)]
#[command(name = "tally", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A `tally` command; none means `serve`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage API keys for runtimes and automation.
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Issue JWTs.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Maintain usage rollups.
    #[command(subcommand)]
    Rollups(RollupsCommand),
    /// Run billing.
    #[command(subcommand)]
    Billing(BillingCommand),
    /// Raw usage retention (TALLY_RAW_RETENTION).
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Work with pricing plans.
    #[command(subcommand)]
    Plans(PlansCommand),
    /// Print a single-use portal sign-in link for a tenant (valid 15 minutes; the link is the
    /// last word of the output).
    PortalLink {
        #[arg(long)]
        tenant: String,
        /// Whom the session is for (default: the tenant's first billing email).
        #[arg(long)]
        email: Option<String>,
    },
    /// Price hypothetical usage for a whole period on a plan.
    Quote {
        #[arg(long)]
        plan: String,
        /// Quantities as meter=value pairs, e.g. invocations=3000000,memory_gb_seconds=540000
        #[arg(long, value_delimiter = ',')]
        usage: Vec<String>,
    },
    /// Create demo tenants, send them a month of usage, close it, email the invoices.
    Demo,
    /// Move the whole store to another database.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Write a consistent copy of the embedded SQLite database to FILE, while the service runs.
    Backup { file: std::path::PathBuf },
}

/// `tally store …`
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy every table into the database at --to (empty, or an interrupted copy: run again to
    /// resume). The target serves nothing until a `--verify` finds no difference.
    Copy {
        /// The target database URL (postgres://… or sqlite:…).
        #[arg(long)]
        to: String,
        /// Then compare both sides (counts, rollup sums, invoices) and release the target.
        #[arg(long)]
        verify: bool,
        /// Rows per batch (one target transaction each).
        #[arg(long, default_value_t = 2000)]
        batch_rows: usize,
    },
}

/// `tally billing …`
#[derive(Debug, Subcommand)]
pub enum BillingCommand {
    /// Close every period due by now (or by --as-of) into invoices.
    Run {
        /// Run as if the clock read this RFC 3339 instant (future only with TALLY_ALLOW_TIME_TRAVEL=1).
        #[arg(long)]
        as_of: Option<String>,
    },
}

/// `tally retention …`
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Create the raw usage partitions ahead, then remove every month of raw records that
    /// retention allows (final invoices, late window over); prints what it did as JSON.
    Run {
        /// Run as if the clock read this RFC 3339 instant (future only with TALLY_ALLOW_TIME_TRAVEL=1).
        #[arg(long)]
        as_of: Option<String>,
    },
}

/// `tally plans …`
#[derive(Debug, Subcommand)]
pub enum PlansCommand {
    /// Validate the plan files of a directory (default: the configured pricing directory).
    Check { dir: Option<std::path::PathBuf> },
}

/// `tally api-key …`
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key and print it once (only its hash is stored).
    Create {
        #[arg(long)]
        role: String,
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List keys by id (the secret is never shown again).
    List,
    /// Revoke a key by id or by the full key.
    Revoke { key: String },
}

/// `tally token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a signed JWT.
    Issue {
        #[arg(long)]
        role: String,
        #[arg(long)]
        tenant: Option<String>,
        /// Lifetime such as 15m, 1h, 7d.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// Subject claim (who the token is for).
        #[arg(long, default_value = "cli")]
        subject: String,
    },
}

/// `tally rollups …`
#[derive(Debug, Subcommand)]
pub enum RollupsCommand {
    /// Recompute every rollup from raw records.
    Rebuild,
}
