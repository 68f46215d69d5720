//! Delivery of one-time login codes. Production plugs an SMS gateway in behind [`CodeSender`].
//!
//! The default [`OutboxCodeSender`] is for development: it appends each code to an outbox file
//! in the data folder (`code_outbox.log`, owner-only permissions) and logs only that a code was
//! sent to the masked phone. Codes are credentials, so they never go to the server log itself.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use super::policy::PhoneNumber;

pub trait CodeSender: Send + Sync + 'static {
    fn send(&self, phone: &PhoneNumber, code: &str) -> anyhow::Result<()>;
}

pub struct OutboxCodeSender {
    path: PathBuf,
}

impl OutboxCodeSender {
    pub fn new(data_dir: &std::path::Path) -> Self {
        Self {
            path: data_dir.join("code_outbox.log"),
        }
    }
}

impl CodeSender for OutboxCodeSender {
    fn send(&self, phone: &PhoneNumber, code: &str) -> anyhow::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&self.path)
            .with_context(|| format!("open code outbox {}", self.path.display()))?;
        writeln!(file, "{} {code}", phone.expose()).context("write code outbox")?;
        tracing::info!(phone = %phone, outbox = %self.path.display(), "login code sent (development outbox)");
        Ok(())
    }
}
