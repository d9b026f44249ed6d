//! A PostgreSQL cluster of the test's own: `initdb` into a temporary directory, started on a
//! free loopback port, restarted and stopped at will with `pg_ctl`. PostgreSQL refuses to run
//! as root, so as root (CI) the commands run as the `postgres` user.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{ensure, Context};

pub struct PrivatePostgres {
    dir: PathBuf,
    /// The server options of every start (port, socket directory, loopback only).
    options: String,
    pub url: String,
}

const BIN: &str = "/usr/lib/postgresql/15/bin";

impl PrivatePostgres {
    /// A fresh cluster, started, with trust authentication for `postgres`.
    pub fn start() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("tally-faults-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir)?;
        if is_root() {
            ensure!(Command::new("chown").args(["postgres:postgres", &dir.to_string_lossy()]).status()?.success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let data = dir.join("data");
        pg(&["initdb", "-D", &data.to_string_lossy(), "-U", "postgres", "--auth=trust", "--no-sync"])?;
        let options = format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", dir.display());
        let cluster = Self { dir, options, url: format!("postgres://postgres@127.0.0.1:{port}/postgres") };
        cluster.resume()?;
        Ok(cluster)
    }

    /// `pg_ctl restart -m fast`: every session is ended, as in a real restart.
    pub fn restart(&self) -> anyhow::Result<()> {
        self.ctl(&["restart", "-m", "fast"])
    }

    pub fn stop(&self) -> anyhow::Result<()> {
        self.ctl(&["stop", "-m", "fast"])
    }

    /// Starts it (again, after [`Self::stop`]).
    pub fn resume(&self) -> anyhow::Result<()> {
        self.ctl(&["start", "-o", &self.options])
    }

    fn ctl(&self, args: &[&str]) -> anyhow::Result<()> {
        let data = self.dir.join("data");
        let log = self.dir.join("server.log");
        let mut all = vec!["pg_ctl", "-D", data.to_str().context("path")?, "-l", log.to_str().context("path")?, "-w"];
        all.extend_from_slice(args);
        pg(&all)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.ctl(&["stop", "-m", "immediate"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// Runs a PostgreSQL program (as `postgres` when root).
fn pg(args: &[&str]) -> anyhow::Result<()> {
    let program = format!("{BIN}/{}", args[0]);
    let output = if is_root() {
        Command::new("runuser").args(["-u", "postgres", "--", &program]).args(&args[1..]).output()?
    } else {
        Command::new(&program).args(&args[1..]).output()?
    };
    ensure!(output.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    Ok(())
}
