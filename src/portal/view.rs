//! What every portal page shows around its content (title, navigation, who is signed in, the
//! sign-out form's CSRF token) and the meter quantities the pages share. Pure.

use crate::domain::Quantities;
use crate::invoice::display_format as format;

/// The signed-in account, for the header.
pub(crate) struct Account {
    pub tenant_name: String,
    pub email: String,
    /// The session's CSRF token, for the sign-out form in the header.
    pub csrf: String,
}

/// The frame of a page (`templates/layout.html`).
pub(crate) struct Chrome {
    pub title: String,
    /// Which navigation entry is the current page (`dashboard`, `usage`, `invoices`, `plans`,
    /// `budgets`), or "".
    pub active: &'static str,
    pub account: Option<Account>,
    /// The stylesheet's versioned address (long-cached, so its name changes with its content).
    pub css: &'static str,
}

impl Chrome {
    /// The frame of a page seen without a session (sign-in, errors).
    pub(crate) fn anonymous(title: &str) -> Self {
        Self { title: title.to_owned(), active: "", account: None, css: super::assets::css_url() }
    }

    /// The frame of a page of a signed-in account.
    pub(crate) fn signed_in(title: &str, active: &'static str, account: Account) -> Self {
        Self { title: title.to_owned(), active, account: Some(account), css: super::assets::css_url() }
    }
}

/// One meter's quantity as a row: display name, the API's exact string, a readable form.
pub(crate) struct MeterQuantity {
    pub name: &'static str,
    /// As `usage/current` sends it (`"3000000"`), for machines and tests.
    pub exact: String,
    /// With thousands separators (`"3,000,000"`).
    pub shown: String,
}

/// Every meter of `q`, in display order.
pub(crate) fn meter_quantities(q: &Quantities) -> Vec<MeterQuantity> {
    crate::domain::Meter::ALL
        .into_iter()
        .map(|meter| MeterQuantity {
            name: meter.display_name(),
            exact: q.get(meter).normalize().to_string(),
            shown: format::quantity(q.get(meter)),
        })
        .collect()
}
