//! Verdicts: what the facts mean for direct counter reads, each a line a person can act on.
//! Pure: the same facts give the same verdicts (tested on fixture trees).

use serde::{Deserialize, Serialize};

use crate::sys::{
    Facts, Pmu, UserRead,
    attach::{AttachCheck, Method, Status},
    format_cpu_list,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Works as needed.
    Ok,
    /// Worth knowing; nothing to fix.
    Note,
    /// Works, with a catch.
    Warn,
    /// Direct reads (or tracing them) cannot work until fixed.
    Bad,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Note => "note",
            Level::Warn => "warn",
            Level::Bad => "bad",
        }
    }
}

/// One conclusion. `code` is stable (docs/doctor-json.md); `text` is for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub level: Level,
    pub code: String,
    pub text: String,
}

fn v(level: Level, code: &str, text: impl Into<String>) -> Verdict {
    Verdict {
        level,
        code: code.to_string(),
        text: text.into(),
    }
}

fn is_x86(f: &Facts) -> bool {
    matches!(f.arch.as_str(), "x86_64" | "i386" | "i686" | "x86")
}

fn describe(p: &Pmu) -> String {
    format!(
        "CPUs {} ({}, type {})",
        format_cpu_list(&p.cpus),
        p.name,
        p.type_id
    )
}

fn number(n: usize) -> String {
    match n {
        2 => "two".into(),
        3 => "three".into(),
        4 => "four".into(),
        n => n.to_string(),
    }
}

/// Every verdict for these facts and attach results, worst first.
pub fn verdicts(f: &Facts) -> Vec<Verdict> {
    let mut out = Vec::new();
    pmu_verdicts(f, &mut out);
    access_verdicts(f, &mut out);
    tracing_verdicts(f, &mut out);
    // Stable sort: worst first, the order of discovery within a level.
    out.sort_by_key(|v| std::cmp::Reverse(v.level));
    out
}

fn pmu_verdicts(f: &Facts, out: &mut Vec<Verdict>) {
    let core: Vec<&Pmu> = f.core_pmus().collect();
    let trap = if is_x86(f) {
        "rdpmc raises SIGSEGV"
    } else {
        "mrs PMCCNTR_EL0/PMEVCNTR<n>_EL0 raises SIGILL"
    };
    match core.len() {
        0 => out.push(v(
            Level::Bad,
            "no_hw_pmu",
            format!(
                "no hardware PMU: direct reads impossible, every read would trap ({trap}); \
                 hardware events fail to open and software events show index 0 \
                 (a VM without a virtual PMU: enable it in the hypervisor, or use bare metal)"
            ),
        )),
        1 => out.push(v(
            Level::Ok,
            "one_pmu_type",
            format!(
                "one PMU type on {}: events open and read the same on every CPU",
                describe(core[0])
            ),
        )),
        n => {
            let groups: Vec<String> = core.iter().map(|p| describe(p)).collect();
            let cpus: Vec<String> = core.iter().map(|p| format_cpu_list(&p.cpus)).collect();
            // x86: CR4.PCE follows the mm, so a stray rdpmc does not trap.
            let stray = if is_x86(f) {
                "a forced rdpmc silently reads whatever that CPU's counter holds"
            } else {
                "a forced read traps (SIGILL) or returns another PMU's stale value"
            };
            out.push(v(
                Level::Warn,
                "several_pmu_types",
                format!(
                    "{} PMU types: {}; a task reading counters must be pinned to CPUs {} and \
                     open its events by PMU type (perf_event_attr.type), not \
                     PERF_TYPE_HARDWARE; elsewhere index reads 0 and {stray}",
                    number(n),
                    groups.join(", "),
                    cpus.join(" or ")
                ),
            ));
        }
    }
    if !core.is_empty() {
        let bare: Vec<u32> = f
            .cpus
            .iter()
            .filter(|c| c.online && c.pmu.is_none())
            .map(|c| c.id)
            .collect();
        if !bare.is_empty() {
            out.push(v(
                Level::Warn,
                "cpus_without_pmu",
                format!(
                    "CPUs {} have no core PMU: a task reading counters there reads index 0 \
                     or traps; keep it off them (taskset)",
                    format_cpu_list(&bare)
                ),
            ));
        }
    }
}

fn access_verdicts(f: &Facts, out: &mut Vec<Verdict>) {
    // arm64: one sysctl rules every PMU offering `format/rdpmc`, so one verdict for all.
    let arm: Vec<(&str, &str)> = f
        .core_pmus()
        .filter_map(|p| match &p.user_read {
            Some(UserRead::FormatRdpmc { field }) => Some((p.name.as_str(), field.as_str())),
            _ => None,
        })
        .collect();
    if let Some(&(_, field)) = arm.first() {
        let names = arm.iter().map(|a| a.0).collect::<Vec<_>>().join(", ");
        out.push(match f.perf_user_access {
            Some(0) => v(
                Level::Bad,
                "user_access_off",
                format!(
                    "kernel.perf_user_access=0: {names} events open with cap_user_rdpmc=1 but \
                     index 0, and a direct read traps (SIGILL); enable it with: \
                     sysctl -w kernel.perf_user_access=1"
                ),
            ),
            Some(_) => v(
                Level::Ok,
                "user_access_on",
                format!(
                    "kernel.perf_user_access=1: tasks that open {names} events with {field} \
                     (rdpmc) set can read their counters directly"
                ),
            ),
            None => v(
                Level::Warn,
                "user_access_unknown",
                format!("{names} offer rdpmc ({field}) but kernel.perf_user_access is missing"),
            ),
        });
    }
    for p in f.core_pmus() {
        match &p.user_read {
            Some(UserRead::FormatRdpmc { .. }) => {}
            Some(UserRead::RdpmcFile { value: 0 }) => out.push(v(
                Level::Bad,
                "rdpmc_off",
                format!(
                    "{0} rdpmc=0: user reads switched off, rdpmc raises SIGSEGV; enable with: \
                     echo 1 > /sys/bus/event_source/devices/{0}/rdpmc",
                    p.name
                ),
            )),
            Some(UserRead::RdpmcFile { value: 2 }) => out.push(v(
                Level::Warn,
                "rdpmc_any_task",
                format!(
                    "{0} rdpmc=2: every task may rdpmc at any time and reads counters left by \
                     others; prefer 1: echo 1 > /sys/bus/event_source/devices/{0}/rdpmc",
                    p.name
                ),
            )),
            Some(UserRead::RdpmcFile { value }) => out.push(v(
                Level::Ok,
                "rdpmc_on",
                format!(
                    "{} rdpmc={value}: a task may rdpmc while it has one of its events mmapped",
                    p.name
                ),
            )),
            None if is_x86(f) => out.push(v(
                Level::Ok,
                "rdpmc_default",
                format!(
                    "{}: no rdpmc file; rdpmc follows the event mmap (the old default)",
                    p.name
                ),
            )),
            None => out.push(v(
                Level::Bad,
                "no_user_access",
                format!(
                    "{} has no format/rdpmc: this kernel (before 5.17) gives user space no \
                     counter access on arm64; every direct read traps (SIGILL)",
                    p.name
                ),
            )),
        }
    }
    match f.perf_event_paranoid {
        Some(p) if p > 2 => out.push(v(
            Level::Warn,
            "paranoid_blocks_users",
            format!(
                "kernel.perf_event_paranoid={p}: unprivileged tasks cannot open perf events \
                 at all; allow user-space counting with: sysctl -w kernel.perf_event_paranoid=2"
            ),
        )),
        Some(p) => out.push(v(
            Level::Ok,
            "paranoid",
            format!(
                "kernel.perf_event_paranoid={p}: unprivileged tasks may open events on \
                 themselves{}",
                if p == 2 { " (user space only)" } else { "" }
            ),
        )),
        None => {}
    }
}

fn tracing_verdicts(f: &Facts, out: &mut Vec<Verdict>) {
    if !f.btf {
        out.push(v(
            Level::Warn,
            "no_btf",
            "no kernel BTF (/sys/kernel/btf/vmlinux): tp_btf, fentry and struct offsets are \
             unavailable, pmuwatch falls back to tracepoints and its sched model; fix: a \
             kernel with CONFIG_DEBUG_INFO_BTF=y",
        ));
    }
    if f.tracefs.is_none() {
        out.push(v(
            Level::Warn,
            "no_tracefs",
            "tracefs not mounted: tracepoint probes cannot attach; fix: \
             mount -t tracefs tracefs /sys/kernel/tracing (pmuwatch does it when run as root)",
        ));
    }
    if f.bpffs.is_none() {
        out.push(v(
            Level::Note,
            "no_bpffs",
            "bpffs not mounted (mount -t bpf bpf /sys/fs/bpf; pmuwatch does it as root)",
        ));
    }
    if !f.kprobes {
        out.push(v(
            Level::Note,
            "no_kprobes",
            "kprobes not built in: PMU driver hooks are unavailable; pmuwatch models access \
             toggles from sched_switch instead",
        ));
    }
    let checked: Vec<&AttachCheck> = f
        .attach
        .iter()
        .filter(|a| a.status != Status::NotChecked)
        .collect();
    if checked.is_empty() {
        return;
    }
    let works = |m: Method| checked.iter().any(|a| a.method == m && a.works());
    let works_list: Vec<&str> = checked
        .iter()
        .filter(|a| a.works())
        .map(|a| a.method.as_str())
        .collect();
    let refused: Vec<String> = checked
        .iter()
        .filter(|a| !a.works())
        .map(|a| {
            let short = a
                .reason
                .as_deref()
                .map(|r| r.split(':').next().unwrap_or(r).trim().to_string())
                .unwrap_or_default();
            format!("{} ({short})", a.method)
        })
        .collect();
    out.push(v(
        Level::Note,
        "attach_summary",
        format!(
            "attach methods: {} work{}",
            if works_list.is_empty() {
                "none".to_string()
            } else {
                works_list.join(", ")
            },
            if refused.is_empty() {
                String::new()
            } else {
                format!("; refused: {}", refused.join(", "))
            }
        ),
    ));
    let switch_source = if works(Method::TpBtf) {
        Some("tp_btf/sched_switch with kernel state (preferred)")
    } else if works(Method::RawTp) {
        Some("raw_tp/sched_switch")
    } else if works(Method::Tracepoint) {
        Some("tracepoint sched/sched_switch and the user-space access model (fallback)")
    } else {
        None
    };
    match switch_source {
        Some(s) => out.push(v(
            Level::Ok,
            "switch_source",
            format!("context switches traced with {s}"),
        )),
        None => out.push(v(
            Level::Bad,
            "no_switch_source",
            "no way to trace context switches (tp_btf, raw_tp and tracepoint all refused): \
             pmuwatch cannot watch this kernel",
        )),
    }
    if !works(Method::Fentry) && !works(Method::Kprobe) {
        out.push(v(
            Level::Note,
            "no_function_hooks",
            "neither fentry nor kprobe attaches: perf sched_task and PMU driver hooks are \
             unavailable; toggles come from the sched_switch model",
        ));
    }
    if !works(Method::Uprobe) {
        out.push(v(
            Level::Warn,
            "no_uprobes",
            "uprobes refused: the target's own counter reads cannot be probed; pmuwatch \
             samples its perf pages instead",
        ));
    }
}
