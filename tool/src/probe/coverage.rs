//! Which signal comes from which attach method: shown in the TUI header, `report` and stored
//! in trace files, so a user always knows whether a value is exact or modelled.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How a program is attached (or that a user-space model stands in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    TpBtf,
    Tracepoint,
    RawTp,
    Kprobe,
    Kretprobe,
    Fentry,
    Fexit,
    Uprobe,
    Uretprobe,
    /// No program: derived in user space (e.g. the access model stands in for driver hooks).
    Model,
    /// Sampled from user space (e.g. perf mmap pages through `process_vm_readv`).
    Sampling,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Method::TpBtf => "tp_btf",
            Method::Tracepoint => "tracepoint",
            Method::RawTp => "raw_tp",
            Method::Kprobe => "kprobe",
            Method::Kretprobe => "kretprobe",
            Method::Fentry => "fentry",
            Method::Fexit => "fexit",
            Method::Uprobe => "uprobe",
            Method::Uretprobe => "uretprobe",
            Method::Model => "model",
            Method::Sampling => "sampling",
        };
        f.write_str(s)
    }
}

/// Outcome of one attach attempt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "reason")]
pub enum Status {
    Active,
    /// The kernel refused it (the reason names the errno, e.g. "fentry: EPERM").
    Refused(String),
    /// Not tried: the kernel lacks it (e.g. "kprobes not built in") or nothing to attach.
    Unavailable(String),
}

/// One attach attempt for one signal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The signal it provides, e.g. "sched_switch", "traps", "perf_event_open", "driver hooks".
    pub signal: String,
    /// The hook, e.g. "sched/sched_switch", "armv8pmu_start".
    pub hook: String,
    pub method: Method,
    #[serde(flatten)]
    pub status: Status,
}

/// Every attempt, in the order made: for each signal, the first `Active` one is in use and the
/// earlier ones are the better sources this kernel refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    pub attachments: Vec<Attachment>,
}

impl Coverage {
    pub fn push(
        &mut self,
        signal: &str,
        hook: &str,
        method: Method,
        status: Status,
    ) -> &Attachment {
        self.attachments.push(Attachment {
            signal: signal.into(),
            hook: hook.into(),
            method,
            status,
        });
        self.attachments.last().expect("just pushed")
    }

    /// The attachment in use for a signal, if any.
    pub fn in_use(&self, signal: &str) -> Option<&Attachment> {
        self.attachments
            .iter()
            .find(|a| a.signal == signal && a.status == Status::Active)
    }

    /// One line per signal: "sched_switch: tp_btf (sched_switch); refused: ...".
    pub fn summary_lines(&self) -> Vec<String> {
        let mut signals: Vec<&str> = Vec::new();
        for a in &self.attachments {
            if !signals.contains(&a.signal.as_str()) {
                signals.push(&a.signal);
            }
        }
        signals
            .into_iter()
            .map(|s| {
                let used = self
                    .in_use(s)
                    .map(|a| format!("{} ({})", a.method, a.hook))
                    .unwrap_or_else(|| "none".into());
                let refused: Vec<String> = self
                    .attachments
                    .iter()
                    .filter(|a| a.signal == s && a.status != Status::Active)
                    .map(|a| match &a.status {
                        Status::Refused(r) | Status::Unavailable(r) => {
                            format!("{} {}: {}", a.method, a.hook, r)
                        }
                        Status::Active => unreachable!("filtered"),
                    })
                    .collect();
                if refused.is_empty() {
                    format!("{s}: {used}")
                } else {
                    format!("{s}: {used}; not used: {}", refused.join(", "))
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_active_attempt_is_in_use_and_refusals_are_shown() {
        let mut c = Coverage::default();
        c.push(
            "driver hooks",
            "armv8pmu_start",
            Method::Fentry,
            Status::Refused("EPERM".into()),
        );
        c.push("driver hooks", "-", Method::Model, Status::Active);
        c.push(
            "sched_switch",
            "sched_switch",
            Method::TpBtf,
            Status::Active,
        );
        assert_eq!(c.in_use("driver hooks").unwrap().method, Method::Model);
        let lines = c.summary_lines();
        assert_eq!(
            lines[0],
            "driver hooks: model (-); not used: fentry armv8pmu_start: EPERM"
        );
        assert_eq!(lines[1], "sched_switch: tp_btf (sched_switch)");
        assert!(c.in_use("traps").is_none());
    }
}
