//! The money steps of a scenario, drawn after each usage step at the same instant from the
//! player's own `money` generator: usage corrections, credit grants (some expiring) and
//! revocations, and invoices voided or marked paid. Their effects are read back by the laws
//! (`money_laws.rs`); corrections are also kept on their records, so the usage laws bill the
//! corrected set.

use chrono::{Duration, SecondsFormat};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::scenario::{random_quantities, Player, LATEST_LATENESS_DAYS, METERS};
use crate::billing::admin_post;

impl Player<'_> {
    /// One money step about one tenant, three steps in ten.
    pub(super) async fn money_step(&mut self) {
        if !self.money.chance(30) {
            return;
        }
        let t = self.money.below(self.tenants.len() as u64) as usize;
        match self.money.below(100) {
            0..=39 => self.correct(t).await,
            40..=59 => self.grant_credit(t).await,
            60..=69 => self.revoke_credit(t).await,
            _ => self.settle_invoice(t).await,
        }
    }

    /// Voids or replaces one of the tenant's records still inside the allowed lateness.
    async fn correct(&mut self, t: usize) {
        if !self.tenants[t].active {
            return;
        }
        let (tenant, oldest) = (self.tenants[t].id.clone(), self.now - Duration::days(LATEST_LATENESS_DAYS));
        let candidates: Vec<usize> = (0..self.played.records.len())
            .filter(|&i| {
                let r = &self.played.records[i];
                r.tenant == tenant && r.at >= oldest && r.current().is_some()
            })
            .collect();
        if candidates.is_empty() {
            return;
        }
        let i = *self.money.pick(&candidates);
        let id = self.played.records[i].body["id"].clone();
        let replacement = self.money.chance(60).then(|| random_quantities(&mut self.money));
        let mut body = json!({"tenant_id": tenant, "id": id, "reason": "runtime miscounted"});
        match replacement {
            Some(q) => {
                let mut usage = json!({});
                for (meter, quantity) in METERS.iter().zip(q).filter(|(_, q)| !q.is_zero()) {
                    usage[*meter] = if *meter == "memory_gb_seconds" {
                        json!(quantity.to_string())
                    } else {
                        json!(quantity.mantissa() as u64)
                    };
                }
                body["action"] = json!("replace");
                body["replacement"] = usage;
            }
            None => body["action"] = json!("void"),
        }
        self.note(format!("correct {tenant} {id} at {}: {replacement:?}", self.played.records[i].at));
        let response = admin_post(self.app, "/v1/usage/corrections", &body).await;
        if self.answered(response, StatusCode::OK, format!("correcting {tenant} {id}")).await {
            let runs = self.played.runs.len();
            self.played.records[i].corrections.push((runs, replacement));
        }
    }

    /// Grants 1.00–150.00 in its billing currency to a tenant with one, two in five expiring within
    /// 1–60 days.
    async fn grant_credit(&mut self, t: usize) {
        if !self.tenants[t].priced {
            return;
        }
        let amount = Decimal::new(self.money.between(100, 15_000), 2);
        let currency = self.tenants[t].currency().unwrap_or("USD");
        let mut body = json!({"amount": amount.to_string(), "currency": currency, "reason": "goodwill"});
        if self.money.chance(40) {
            let expires = self.now + Duration::seconds(self.money.between(86_400, 60 * 86_400));
            body["expires_at"] = json!(expires.to_rfc3339_opts(SecondsFormat::Secs, true));
        }
        let id = self.tenants[t].id.clone();
        self.note(format!("grant {id} {body}"));
        let response = admin_post(self.app, &format!("/v1/tenants/{id}/credits"), &body).await;
        self.answered(response, StatusCode::CREATED, format!("granting {id} {body}")).await;
    }

    /// Revokes part or all of what is left of one grant.
    async fn revoke_credit(&mut self, t: usize) {
        let id = self.tenants[t].id.clone();
        let ledger = self.app.get_json(&format!("/v1/tenants/{id}/credits")).await;
        let left: Vec<(String, Decimal)> = ledger["grants"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["grant_id"].as_str().unwrap().to_owned(), super::laws::dec(&g["remaining"])))
            .filter(|(_, remaining)| *remaining > Decimal::ZERO)
            .collect();
        if left.is_empty() {
            return;
        }
        let (grant, remaining) = self.money.pick(&left).clone();
        let mut body = json!({"reason": "granted by mistake"});
        let part = (remaining * Decimal::from(self.money.between(1, 100)) / Decimal::from(100)).trunc_with_scale(2);
        if self.money.chance(50) && part > Decimal::ZERO {
            body["amount"] = json!(part.to_string());
        }
        self.note(format!("revoke {id} {grant} ({remaining} left): {body}"));
        let response = admin_post(self.app, &format!("/v1/tenants/{id}/credits/{grant}/revoke"), &body).await;
        self.answered(response, StatusCode::CREATED, format!("revoking {body} of {id}'s {grant}")).await;
    }

    /// Voids one of the tenant's invoices (finalized or paid) or marks a finalized one paid;
    /// a void one is voided again, which must be refused.
    async fn settle_invoice(&mut self, t: usize) {
        let id = self.tenants[t].id.clone();
        let list = self.app.get_json(&format!("/v1/tenants/{id}/invoices?limit=200")).await;
        let invoices: Vec<Value> = list["data"].as_array().unwrap().clone();
        if invoices.is_empty() {
            return;
        }
        let invoice = self.money.pick(&invoices).clone();
        let status = invoice["status"].as_str().unwrap_or_default().to_owned();
        let pay = status == "finalized" && self.money.chance(50);
        let action = if pay { "mark-paid" } else { "void" };
        let number = invoice["number"].clone();
        self.note(format!("{action} {id}'s {status} invoice {number}"));
        let response =
            admin_post(self.app, &format!("/v1/invoices/{}/{action}", invoice["id"].as_str().unwrap()), &json!({}))
                .await;
        let code = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        let expected = match (status.as_str(), code) {
            ("void", StatusCode::CONFLICT) => answer["error"]["code"] == "invalid_invoice_transition",
            // Voiding an invoice whose negative remainder paid a later one waits for that one.
            (_, StatusCode::CONFLICT) => !pay && answer["error"]["code"] == "granted_credit_spent",
            ("void", _) => false,
            (_, StatusCode::OK) => answer["status"] == if pay { "paid" } else { "void" },
            _ => false,
        };
        if !expected {
            self.unexpected(format!("{action} of {id}'s {status} invoice {number}: {code} {answer}"));
        }
    }
}
