//! The billing run's last step: reminding tenants of invoices still unpaid some time after
//! their due date (`billing.overdue_reminder`), once each — an `invoice.overdue` email to the
//! tenant's billing addresses (the PDF attached) and webhook event, written by the store in
//! the transaction that marks the invoice reminded.
//!
//! Off unless configured: Tally learns of payments only from `mark-paid`, so an operator who
//! collects elsewhere and never marks invoices paid would otherwise remind every customer of
//! every invoice.

use chrono::{DateTime, Duration, Utc};

use super::billing_run::{BillingRun, IssuedInvoice, RunReport};

/// How far back a run looks for invoices whose reminder is due: a run that did not happen
/// (the service down, the scheduler off) for up to this long is caught up by the next, but
/// turning reminders on does not mail a customer about every unpaid invoice of past years.
pub const REMINDER_REACH: Duration = Duration::days(7);

/// Invoices reminded per transaction.
const REMINDERS_PER_PAGE: u32 = 500;

/// The due dates a run as of `as_of` reminds of, `[from, until)`, with reminders `delay` after
/// the due date: due more than `delay` ago, but not more than [`REMINDER_REACH`] before that.
pub fn reminder_window(as_of: DateTime<Utc>, delay: Duration) -> (DateTime<Utc>, DateTime<Utc>) {
    let until = as_of - delay;
    (until - REMINDER_REACH, until)
}

impl BillingRun<'_> {
    /// Reminds tenants of their overdue invoices as of `as_of`, a page per transaction, into
    /// `report.invoices_reminded`; a store failure ends the step with a line in
    /// `report.failures` (the next run picks up where it stopped).
    pub(super) async fn remind_overdue(&self, as_of: DateTime<Utc>, report: &mut RunReport) {
        let Some(delay) = self.overdue_reminder else { return };
        let (from, until) = reminder_window(as_of, delay);
        loop {
            match self.store.remind_overdue(from, until, as_of, REMINDERS_PER_PAGE).await {
                Ok(page) => {
                    report.invoices_reminded.extend(page.reminded.into_iter().map(|i| IssuedInvoice::from(i.document)));
                    if !page.full {
                        return;
                    }
                }
                Err(error) => {
                    tracing::error!(error = %error, "overdue reminders failed");
                    report.failures.push(format!("overdue reminders: {error}"));
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_reminder_is_due_once_the_delay_after_the_due_date_has_passed() {
        let (from, until) = reminder_window(at("2026-12-18T00:00:00Z"), Duration::days(3));
        assert_eq!(until, at("2026-12-15T00:00:00Z"), "due on the 15th, reminded from the 18th");
        assert_eq!(from, at("2026-12-08T00:00:00Z"), "a week of missed runs is caught up");
    }

    #[test]
    fn with_no_delay_an_invoice_is_reminded_the_moment_it_falls_due() {
        let as_of = at("2026-12-15T10:00:00Z");
        assert_eq!(reminder_window(as_of, Duration::zero()).1, as_of);
    }
}
