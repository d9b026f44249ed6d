//! The plan catalog at startup: validate `pricing/*.toml` (an invalid plan stops startup),
//! record each changed plan as a new version, and load every version from the database,
//! which is authoritative (a plan file that disappears keeps pricing its subscribers).
//!
//! [`SharedCatalog`] holds the parsed catalog for the whole process (routes and billing): it
//! is parsed once at startup and again only when the stored versions change — here after
//! [`sync_plans`], or when another process (a second node, the CLI) recorded a version.
//!
//! Stage: startup, plus the catalog read path. Inputs: the plan directory and the store;
//! output: [`PlanCatalog`]s. Must not import `invoice`, `api`, `http` or `startup`.

use std::path::Path;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::rate::{load_dir, PlanCatalog, PlanVersion, PricingPlan};
use crate::store::{NewPlanVersion, Store, StoredPlanVersion};

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
    parse_catalog(read_versions(store).await?)
}

async fn read_versions(store: &Store) -> anyhow::Result<Vec<StoredPlanVersion>> {
    store.plan_versions().await.context("Failed to read plan versions")
}

fn parse_catalog(stored: Vec<StoredPlanVersion>) -> anyhow::Result<PlanCatalog> {
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

/// The process-wide plan catalog: parsed once, shared by every route and billing run, and
/// swapped for a newly parsed one only when the stored versions differ from it.
#[derive(Clone, Default)]
pub struct SharedCatalog {
    parsed: Arc<RwLock<Arc<PlanCatalog>>>,
}

impl SharedCatalog {
    /// A handle holding `catalog` (the one [`sync_plans`] returned at startup).
    pub fn new(catalog: PlanCatalog) -> Self {
        Self { parsed: Arc::new(RwLock::new(Arc::new(catalog))) }
    }

    /// The catalog as last parsed, without asking the store.
    pub fn cached(&self) -> Arc<PlanCatalog> {
        self.parsed.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The catalog in force. Versions are immutable and numbered, so one read of the stored
    /// version list tells whether anything changed (another node or the CLI may have recorded
    /// a version); only then are the definitions parsed again.
    ///
    /// # Errors
    /// A database failure, or a new stored definition that does not parse.
    pub async fn current(&self, store: &Store) -> anyhow::Result<Arc<PlanCatalog>> {
        let stored = read_versions(store).await?;
        let cached = self.cached();
        if same_versions(&cached, &stored) {
            return Ok(cached);
        }
        Ok(self.replace(parse_catalog(stored)?))
    }

    fn replace(&self, catalog: PlanCatalog) -> Arc<PlanCatalog> {
        let catalog = Arc::new(catalog);
        *self.parsed.write().unwrap_or_else(|p| p.into_inner()) = catalog.clone();
        catalog
    }
}

/// Whether `catalog` holds exactly the versions `stored` lists.
fn same_versions(catalog: &PlanCatalog, stored: &[StoredPlanVersion]) -> bool {
    let held: usize = catalog.ids().map(|id| catalog.versions(id).len()).sum();
    held == stored.len() && stored.iter().all(|v| catalog.version(&v.plan_id, v.version).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(plan_id: &str, version: i32) -> StoredPlanVersion {
        let definition = format!("id = \"{plan_id}\"\nname = \"P\"\ncurrency = \"USD\"\nbase_fee = \"{version}\"\n");
        StoredPlanVersion {
            plan_id: plan_id.to_owned(),
            version,
            content_hash: String::new(),
            definition,
            created_at: DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc(),
        }
    }

    #[test]
    fn the_catalog_is_parsed_again_only_when_the_stored_versions_differ() {
        let catalog = parse_catalog(vec![stored("p", 1)]).unwrap();
        assert!(same_versions(&catalog, &[stored("p", 1)]), "nothing changed");
        assert!(!same_versions(&catalog, &[stored("p", 1), stored("p", 2)]), "a new version of a plan");
        assert!(!same_versions(&catalog, &[stored("p", 1), stored("q", 1)]), "a new plan");
        assert!(!same_versions(&catalog, &[stored("q", 1)]), "another plan with the same count");
    }
}
