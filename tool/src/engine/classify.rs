//! Read outcomes and their causes: pure functions of the state at the time of the read.

use serde::{Deserialize, Serialize};

use super::{
    facts::{
        Arch, Facts, PERF_TYPE_BREAKPOINT, PERF_TYPE_HARDWARE, PERF_TYPE_HW_CACHE, PERF_TYPE_RAW,
        PERF_TYPE_SOFTWARE, PERF_TYPE_TRACEPOINT,
    },
    state::{Process, UserEvent},
    summary::UserAccess,
};

/// What became of one read of a counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Executed on a CPU of the event's PMU with the event enabled.
    Ok,
    /// Executed, then retried by the seqlock loop (the page changed under it).
    SeqRetry,
    /// `read(2)` on the perf fd: the reader took the slow path (index 0).
    #[serde(rename = "index0-fallback")]
    Index0Fallback,
    /// The counter read trapped (SIGILL on arm64, SIGSEGV on x86).
    Trap,
    /// Executed without a trap, but the value is not the event's.
    SilentWrongPmu,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [
        Outcome::Ok,
        Outcome::SeqRetry,
        Outcome::Index0Fallback,
        Outcome::Trap,
        Outcome::SilentWrongPmu,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::SeqRetry => "seq-retry",
            Outcome::Index0Fallback => "index0-fallback",
            Outcome::Trap => "trap",
            Outcome::SilentWrongPmu => "silent-wrong-pmu",
        }
    }
}

/// Why a reader fell back to `read(2)`, first matching rule wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FallbackCause {
    /// The fd is not a perf event the engine saw being opened.
    UnknownEvent,
    /// A software (or tracepoint) event: no hardware counter, index is always 0.
    NoHardwareCounter,
    /// `kernel.perf_user_access=0` (arm64) or x86 `rdpmc=0`.
    SysctlOff,
    /// arm64: opened without `config1` bit 1 (`rdpmc`).
    NotRequested,
    /// Disabled by attr or ioctl.
    EventDisabled,
    /// The CPU the read ran on is not one of the event's PMU's CPUs.
    CpuOutsidePmu,
    /// The event is not mmapped: the reader only uses `read(2)`.
    NotMapped,
    /// The last page sample showed index 0 (not on a counter: multiplexed, not yet run).
    Unscheduled,
    Unknown,
}

/// Why a counter read trapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrapCause {
    /// The machine has no hardware PMU at all.
    NoHardwarePmu,
    /// `kernel.perf_user_access=0` (arm64) or x86 `rdpmc=0`.
    SysctlOff,
    /// The reader's process holds no user-readable hardware event.
    NoEvent,
    /// The CPU belongs to another PMU than the event's (typically after a migration).
    WrongPmu,
    /// The event read is a software event.
    NoHardwareCounter,
    EventDisabled,
    /// User access was off on that CPU (see its last toggle).
    AccessOff,
    Unknown,
}

/// Why a read that executed without a trap returned no valid value of the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SilentCause {
    /// Another PMU's counter (or a stale one) on a CPU outside the event's PMU.
    WrongPmu,
    /// The reader has no user-readable hardware event: access was left on for the CPU.
    NoEvent,
    /// The event was disabled: the counter holds a stale value.
    EventDisabled,
}

/// The sysctls that gate user access, as last reported.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sysctl {
    pub perf_user_access: Option<i32>,
    pub rdpmc_mode: Option<i32>,
    pub paranoid: Option<i32>,
    /// When user access was last switched off while user-readable events were open.
    pub flipped_off_ts: Option<u64>,
}

impl Sysctl {
    /// User reads are switched off machine-wide.
    pub fn user_access_off(&self, arch: Arch) -> bool {
        let arm = self.perf_user_access == Some(0);
        let x86 = self.rdpmc_mode == Some(0);
        match arch {
            Arch::Aarch64 => arm,
            Arch::X86_64 => x86,
            Arch::Unknown => arm || x86,
        }
    }
}

/// What classification reads.
pub(crate) struct Ctx<'a> {
    pub arch: Arch,
    pub facts: &'a Facts,
    pub sysctl: &'a Sysctl,
}

impl Ctx<'_> {
    /// Whether PMU `pmu` counts on `cpu`; None when the engine cannot tell.
    pub fn covers(&self, pmu: u32, cpu: u32) -> Option<bool> {
        let p = self.facts.pmu(pmu)?;
        if !p.user_read {
            return None;
        }
        Some(p.cpus.is_empty() || p.cpus.contains(&cpu))
    }

    fn wrong_pmu(&self, e: &UserEvent, cpu: u32) -> bool {
        e.pmu.and_then(|p| self.covers(p, cpu)) == Some(false)
    }

    /// The facts were given and list no hardware PMU.
    pub fn no_hardware_pmu(&self) -> bool {
        !self.facts.pmus.is_empty() && !self.facts.has_hardware_pmu()
    }
}

/// The PMU an event opened with `attr_type`/`config` belongs to, and whether it has a
/// hardware counter. Generic hardware events land on the only hardware PMU when there is one;
/// with several (big.LITTLE, hybrid) the kernel picks and the engine leaves it unknown unless
/// the extended type (config bits 32-63) names it.
pub(crate) fn resolve_event(facts: &Facts, attr_type: u32, config: u64) -> (Option<u32>, bool) {
    let facts_known = !facts.pmus.is_empty();
    let only_hw = || {
        let mut hw = facts.hardware_pmus();
        let first = hw.next()?;
        hw.next().is_none().then_some(first.type_id)
    };
    match attr_type {
        PERF_TYPE_SOFTWARE | PERF_TYPE_TRACEPOINT | PERF_TYPE_BREAKPOINT => (None, false),
        PERF_TYPE_HARDWARE | PERF_TYPE_HW_CACHE => {
            let ext = (config >> 32) as u32;
            if ext != 0
                && let Some(p) = facts.pmu(ext)
            {
                return (Some(ext), p.user_read);
            }
            (only_hw(), true)
        }
        t => match facts.pmu(t) {
            Some(p) => (Some(t), p.user_read),
            None if t == PERF_TYPE_RAW => (only_hw(), true),
            None => (None, !facts_known),
        },
    }
}

/// Whether an event asks for user reads: arm64 needs `config1` bit 1; on x86 any hardware
/// event can be read once mmapped.
pub(crate) fn wants_rdpmc(arch: Arch, config1: u64) -> bool {
    match arch {
        Arch::Aarch64 => config1 & 2 != 0,
        Arch::X86_64 | Arch::Unknown => true,
    }
}

/// Cause of a `read(2)` fallback on event `e` by a task on `cpu`.
pub(crate) fn fallback_cause(ctx: &Ctx, e: Option<&UserEvent>, cpu: u32) -> FallbackCause {
    let Some(e) = e else {
        return FallbackCause::UnknownEvent;
    };
    if !e.hardware {
        FallbackCause::NoHardwareCounter
    } else if ctx.sysctl.user_access_off(ctx.arch) {
        FallbackCause::SysctlOff
    } else if !e.rdpmc {
        FallbackCause::NotRequested
    } else if !e.enabled {
        FallbackCause::EventDisabled
    } else if ctx.wrong_pmu(e, cpu) {
        FallbackCause::CpuOutsidePmu
    } else if !e.mmapped {
        FallbackCause::NotMapped
    } else if e.last_index == Some(0) {
        FallbackCause::Unscheduled
    } else {
        FallbackCause::Unknown
    }
}

/// Cause of a trap on a read of event `e` (when known) by a task of `proc` on `cpu`.
pub(crate) fn trap_cause(
    ctx: &Ctx,
    proc: Option<&Process>,
    e: Option<&UserEvent>,
    cpu: u32,
    access: UserAccess,
) -> TrapCause {
    let has_user_event = proc.is_some_and(|p| p.has_user_event());
    if ctx.no_hardware_pmu() {
        TrapCause::NoHardwarePmu
    } else if ctx.sysctl.user_access_off(ctx.arch) {
        TrapCause::SysctlOff
    } else if !has_user_event && e.is_none_or(|e| e.hardware) {
        TrapCause::NoEvent
    } else if let Some(e) = e {
        if ctx.wrong_pmu(e, cpu) {
            TrapCause::WrongPmu
        } else if !e.hardware {
            TrapCause::NoHardwareCounter
        } else if !e.enabled {
            TrapCause::EventDisabled
        } else if access == UserAccess::Off {
            TrapCause::AccessOff
        } else {
            TrapCause::Unknown
        }
    } else if access == UserAccess::Off {
        TrapCause::AccessOff
    } else {
        TrapCause::Unknown
    }
}

/// Judges a direct read that executed without a trap: None when the value is the event's.
pub(crate) fn executed(
    ctx: &Ctx,
    proc: Option<&Process>,
    e: Option<&UserEvent>,
    cpu: u32,
) -> Option<SilentCause> {
    let has_user_event = proc.is_some_and(|p| p.has_user_event());
    match e {
        None if has_user_event => None,
        None => Some(SilentCause::NoEvent),
        Some(e) if !e.hardware => Some(SilentCause::NoEvent),
        Some(e) if ctx.wrong_pmu(e, cpu) => Some(SilentCause::WrongPmu),
        Some(e) if !e.enabled => Some(SilentCause::EventDisabled),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::facts::examples;

    fn event(pmu: Option<u32>, hardware: bool) -> UserEvent {
        UserEvent {
            fd: Some(3),
            attr_type: pmu.unwrap_or(1),
            config: 0x11,
            config1: 2,
            pmu,
            hardware,
            rdpmc: true,
            enabled: true,
            mmapped: true,
            map_addr: 0,
            map_len: 0,
            counter: None,
            owner_tid: Some(1),
            inherit: false,
            cloexec: false,
            group_fd: -1,
            last_lock: None,
            last_index: None,
            dup: false,
        }
    }

    #[test]
    fn generic_hardware_events_resolve_only_when_one_pmu_exists() {
        let hom = examples::arm64_homogeneous();
        let het = examples::arm64_hetero();
        assert_eq!(resolve_event(&hom, 0, 0), (Some(8), true));
        assert_eq!(resolve_event(&het, 0, 0), (None, true));
        assert_eq!(resolve_event(&het, 0, 11 << 32), (Some(11), true));
        assert_eq!(resolve_event(&het, 10, 0x11), (Some(10), true));
        assert_eq!(resolve_event(&het, 1, 0), (None, false));
        assert_eq!(resolve_event(&examples::x86_no_pmu(), 42, 0), (None, false));
        assert_eq!(resolve_event(&Facts::default(), 42, 0), (None, true));
    }

    #[test]
    fn fallback_causes_follow_the_documented_order() {
        let facts = examples::arm64_hetero();
        let mut sysctl = Sysctl {
            perf_user_access: Some(1),
            ..Sysctl::default()
        };
        let e = event(Some(10), true);
        let ctx = Ctx {
            arch: Arch::Aarch64,
            facts: &facts,
            sysctl: &sysctl,
        };
        assert_eq!(
            fallback_cause(&ctx, Some(&e), 2),
            FallbackCause::CpuOutsidePmu
        );
        assert_eq!(fallback_cause(&ctx, Some(&e), 1), FallbackCause::Unknown);
        assert_eq!(fallback_cause(&ctx, None, 1), FallbackCause::UnknownEvent);
        let sw = event(None, false);
        assert_eq!(
            fallback_cause(&ctx, Some(&sw), 1),
            FallbackCause::NoHardwareCounter
        );
        let mut off = e.clone();
        off.enabled = false;
        assert_eq!(
            fallback_cause(&ctx, Some(&off), 2),
            FallbackCause::EventDisabled
        );
        sysctl.perf_user_access = Some(0);
        let ctx = Ctx {
            arch: Arch::Aarch64,
            facts: &facts,
            sysctl: &sysctl,
        };
        assert_eq!(fallback_cause(&ctx, Some(&e), 2), FallbackCause::SysctlOff);
    }

    #[test]
    fn executed_reads_on_a_foreign_cpu_are_silent_wrong_pmu() {
        let facts = examples::arm64_hetero();
        let sysctl = Sysctl::default();
        let ctx = Ctx {
            arch: Arch::Aarch64,
            facts: &facts,
            sysctl: &sysctl,
        };
        let p = Process {
            events: vec![event(Some(10), true)],
            mapped_hw: 0,
        };
        assert_eq!(executed(&ctx, Some(&p), p.events.first(), 0), None);
        assert_eq!(
            executed(&ctx, Some(&p), p.events.first(), 3),
            Some(SilentCause::WrongPmu)
        );
        assert_eq!(executed(&ctx, None, None, 3), Some(SilentCause::NoEvent));
        assert_eq!(
            trap_cause(&ctx, Some(&p), p.events.first(), 2, UserAccess::Unknown),
            TrapCause::WrongPmu
        );
        assert_eq!(
            trap_cause(&ctx, None, None, 2, UserAccess::Off),
            TrapCause::NoEvent
        );
    }

    #[test]
    fn no_hardware_pmu_explains_every_trap() {
        let facts = examples::x86_no_pmu();
        let sysctl = Sysctl::default();
        let ctx = Ctx {
            arch: Arch::X86_64,
            facts: &facts,
            sysctl: &sysctl,
        };
        assert_eq!(
            trap_cause(&ctx, None, None, 0, UserAccess::Unknown),
            TrapCause::NoHardwarePmu
        );
    }
}
