//! Fault tests (issue 11): PostgreSQL restarted under sustained ingest, idle instances after a
//! restart, a full outage, and the server killed with SIGKILL under load — against the real
//! `tally serve` binary and a private PostgreSQL cluster of their own, which they restart and
//! stop without disturbing the shared server the rest of the suite uses.
//!
//! Not part of the default `cargo test` (`test = false` in Cargo.toml: they restart a database
//! server and take half a minute); `.ci/run` runs them as their own stage:
//! `cargo test --test faults -- --test-threads=1`.

#[path = "../../benches/ingest/server.rs"]
#[allow(dead_code)] // shared with the benchmarks; these tests use part of it
mod server;

mod load;
mod private_postgres;

mod kill;
mod outage;
mod restart;

/// A temporary data directory for one `tally serve`, removed afterwards.
pub struct ScratchDir(std::path::PathBuf);

impl Default for ScratchDir {
    fn default() -> Self {
        Self::new()
    }
}

impl ScratchDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("tally-faults-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        Self(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
