//! The local SMTP server the bench delivers to: `tests/smtp/server.py` (aiosmtpd over TCP,
//! one `.eml` + `.rcpt` file per accepted message), started as a child process; what it
//! received, checked; and its CPU time and peak memory from `/proc`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{ensure, Context};

/// A running aiosmtpd server storing messages under `dir`.
pub struct Sink {
    pub dir: PathBuf,
    pub port: u16,
    child: Child,
}

impl Sink {
    /// Starts the server on a free port with an empty directory of its own.
    pub fn start() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("tally-outbox-bench-{}", uuid::Uuid::new_v4().simple()));
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smtp/server.py");
        let mut child = Command::new("python3")
            .args([script, "--port", "0", "--dir"])
            .arg(&dir)
            .stdout(Stdio::piped())
            .spawn()
            .context("Failed to start tests/smtp/server.py (python3 with aiosmtpd)")?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("no stdout")?).read_line(&mut line)?;
        let port = line.trim().strip_prefix("PORT ").and_then(|p| p.parse().ok()).context("the server's port")?;
        Ok(Self { dir, port, child })
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// CPU-seconds (user + system) the server has used so far.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        (ticks(11) + ticks(12)) as f64 / 100.0
    }

    /// The server's peak resident memory, in MB.
    pub fn peak_rss_mb(&self) -> f64 {
        peak_rss_mb(format!("/proc/{}/status", self.child.id()))
    }

    /// Deletes what it received so far (between measured steps).
    pub fn clear(&self) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(&self.dir)? {
            std::fs::remove_file(entry?.path())?;
        }
        Ok(())
    }

    /// Checks that exactly one message reached each of `expected` recipients and that each
    /// carries a PDF that starts like one; returns the messages' total size in bytes.
    pub fn check(&self, expected: &[String]) -> anyhow::Result<u64> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut bytes = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if path.extension().is_none_or(|x| x != "eml") {
                continue;
            }
            let raw = std::fs::read(&path)?;
            bytes += raw.len() as u64;
            let message = mail_parser::MessageParser::default().parse(&raw).context("a message parses")?;
            let pdfs = message.attachments().filter(|a| a.contents().starts_with(b"%PDF-")).count();
            ensure!(pdfs == 1, "{} carries {pdfs} PDFs", path.display());
            for rcpt in std::fs::read_to_string(path.with_extension("rcpt"))?.lines() {
                *seen.entry(rcpt.to_owned()).or_default() += 1;
            }
        }
        ensure!(seen.len() == expected.len(), "{} recipients reached, {} expected", seen.len(), expected.len());
        for address in expected {
            ensure!(seen.get(address) == Some(&1), "{address} got {:?} messages", seen.get(address));
        }
        Ok(bytes)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `VmHWM` of a `/proc/<pid>/status` file, in MB.
pub fn peak_rss_mb(status: impl AsRef<Path>) -> f64 {
    let text = std::fs::read_to_string(status).unwrap_or_default();
    let kb = text
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok());
    kb.unwrap_or(0.0) / 1024.0
}
