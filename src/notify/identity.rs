//! Stable identities: a delivery's id is derived from its unique key (event, channel,
//! recipient), and an email's `Message-ID` from the delivery id — so every attempt of one
//! delivery, including a resend after a crash between the SMTP server's 250 and marking the
//! row, carries the same Message-ID and a mail client shows it once. Pure.

use sha2::{Digest, Sha256};

use crate::domain::TenantId;

/// `<tenant>.<32 hex>`: the tenant first (the id finds its shard, as invoice ids do), then a
/// hash of (event message id, channel, recipient).
pub fn delivery_id(tenant: &TenantId, event_message_id: &str, channel: &str, recipient: &str) -> String {
    let mut hash = Sha256::new();
    for part in [event_message_id, channel, recipient] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let digest = hex::encode(hash.finalize());
    format!("{}.{}", tenant.as_str(), &digest[..32])
}

/// The `Message-ID` of a delivery's email: `<delivery id@sender's domain>` (RFC 5322
/// msg-id; a tenant slug and hex are dot-atom text).
pub fn message_id_header(delivery_id: &str, sender_domain: &str) -> String {
    format!("<{delivery_id}@{sender_domain}>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_key_gives_the_same_id_and_another_recipient_another() {
        let tenant = TenantId::parse("acme").unwrap();
        let a = delivery_id(&tenant, "invoice.finalized:1", "email", "a@x.test");
        assert_eq!(a, delivery_id(&tenant, "invoice.finalized:1", "email", "a@x.test"));
        assert_ne!(a, delivery_id(&tenant, "invoice.finalized:1", "email", "b@x.test"));
        assert!(a.starts_with("acme.") && a.len() == "acme.".len() + 32, "{a}");
        assert_eq!(message_id_header(&a, "tally.test"), format!("<{a}@tally.test>"));
    }
}
