//! Errors a user can cause: one line with the cause and the fix.

use std::fmt;

/// A failure with a remedy. Printed as `cause; fix: remedy`.
#[derive(Debug)]
pub struct Fix {
    pub cause: String,
    pub fix: String,
}

impl fmt::Display for Fix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; fix: {}", self.cause, self.fix)
    }
}

impl std::error::Error for Fix {}

/// `Err(fix(cause, remedy))?` in any `anyhow` function.
pub fn fix(cause: impl Into<String>, fix: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Fix {
        cause: cause.into(),
        fix: fix.into(),
    })
}

/// Fails unless running as root (effective uid 0).
pub fn require_root(what: &str) -> anyhow::Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(fix(
            format!("{what} needs root (loading eBPF programs)"),
            "run it with sudo, or as root",
        ));
    }
    Ok(())
}
