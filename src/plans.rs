//! The plan catalog at startup: validate `pricing/*.toml` (an invalid plan stops startup),
//! record each changed plan as a new version, and load every version from the database,
//! which is authoritative (a plan file that disappears keeps pricing its subscribers).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::rate::{load_dir, PlanCatalog, PlanVersion, PricingPlan};
use crate::store::{NewPlanVersion, Store};

/// Validates the plan directory, records changed plans, and returns the stored catalog.
///
/// # Errors
/// Every invalid plan, one per line naming file and field; or a database failure.
pub async fn sync_plans(store: &Store, dir: &Path, now: DateTime<Utc>) -> anyhow::Result<PlanCatalog> {
    for plan in check_plans(dir)? {
        let version = NewPlanVersion {
            plan_id: plan.id(),
            content_hash: plan.content_hash(),
            definition: &plan.canonical_toml(),
            currency: plan.currency().code(),
        };
        let (number, created) = store
            .record_plan_version(&version, now)
            .await
            .with_context(|| format!("Failed to record plan {}", plan.id()))?;
        if created {
            tracing::info!(plan_id = plan.id(), version = number, "recorded a new plan version");
        }
    }
    load_catalog(store).await
}

/// Validates every plan of `dir`. A missing directory is an empty catalog.
///
/// # Errors
/// All problems found, one per line.
pub fn check_plans(dir: &Path) -> anyhow::Result<Vec<PricingPlan>> {
    if !dir.exists() {
        tracing::warn!(dir = %dir.display(), "the pricing directory does not exist; no plans are loaded from files");
        return Ok(Vec::new());
    }
    load_dir(dir).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("invalid pricing plans:\n  {}", lines.join("\n  "))
    })
}

/// Every stored plan version, parsed.
///
/// # Errors
/// A database failure, or a stored definition that no longer parses.
pub async fn load_catalog(store: &Store) -> anyhow::Result<PlanCatalog> {
    let stored = store.plan_versions().await.context("Failed to read plan versions")?;
    let mut versions = Vec::with_capacity(stored.len());
    for v in stored {
        let name = format!("{}.toml", v.plan_id);
        let plan = PricingPlan::from_toml(&name, &v.definition).map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("stored plan {} v{} does not parse: {}", v.plan_id, v.version, lines.join("; "))
        })?;
        versions.push(PlanVersion { plan: Arc::new(plan), version: v.version, created_at: v.created_at });
    }
    Ok(PlanCatalog::new(versions))
}
