//! The invoice state machine: `draft → finalized → paid | void`, and `paid → void`.
//! "Sent" is an outbox fact, not a state.

use crate::domain::InvoiceStatus;

/// Something done to an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceAction {
    Finalize,
    MarkPaid,
    Void,
}

/// A transition the state machine does not allow.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("an invoice that is {from} cannot be {action}")]
pub struct InvalidTransition {
    pub from: &'static str,
    pub action: &'static str,
}

/// The status after `action`, if allowed from `from`.
///
/// # Errors
/// [`InvalidTransition`] naming both.
pub fn transition(from: InvoiceStatus, action: InvoiceAction) -> Result<InvoiceStatus, InvalidTransition> {
    use InvoiceStatus::{Draft, Finalized, Paid};
    match (from, action) {
        (Draft, InvoiceAction::Finalize) => Ok(Finalized),
        (Finalized, InvoiceAction::MarkPaid) => Ok(Paid),
        (Finalized | Paid, InvoiceAction::Void) => Ok(InvoiceStatus::Void),
        (from, action) => Err(InvalidTransition {
            from: from.as_str(),
            action: match action {
                InvoiceAction::Finalize => "finalized",
                InvoiceAction::MarkPaid => "marked paid",
                InvoiceAction::Void => "voided",
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use InvoiceAction::{Finalize, MarkPaid};
    use InvoiceStatus::{Draft, Finalized, Paid};

    #[test]
    fn only_the_documented_transitions_are_allowed() {
        let allowed = [
            (Draft, Finalize, Finalized),
            (Finalized, MarkPaid, Paid),
            (Finalized, InvoiceAction::Void, InvoiceStatus::Void),
            (Paid, InvoiceAction::Void, InvoiceStatus::Void),
        ];
        for status in [Draft, Finalized, Paid, InvoiceStatus::Void] {
            for action in [Finalize, MarkPaid, InvoiceAction::Void] {
                let expected = allowed.iter().find(|(f, a, _)| *f == status && *a == action).map(|(_, _, to)| *to);
                assert_eq!(transition(status, action).ok(), expected, "{status:?} + {action:?}");
            }
        }
        assert_eq!(
            transition(InvoiceStatus::Void, MarkPaid).unwrap_err().to_string(),
            "an invoice that is void cannot be marked paid"
        );
    }
}
