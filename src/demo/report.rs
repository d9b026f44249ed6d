//! What `tally demo` did, for the command to print.

use std::path::PathBuf;

/// What the demo did, for the command to print.
#[derive(Debug)]
pub struct DemoReport {
    pub records_sent: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub tenants: Vec<TenantSummary>,
    /// Where the `.eml` files are (no SMTP configured), and how many there are.
    pub outbox_dir: PathBuf,
    pub emails: usize,
    pub public_url: String,
}

/// One demo tenant after the run.
#[derive(Debug)]
pub struct TenantSummary {
    pub id: String,
    pub plan: String,
    /// Last month's invoice: number and total, when the month is closed.
    pub invoice: Option<(String, String)>,
    /// This month so far, as `usage/current` says.
    pub so_far: String,
}
