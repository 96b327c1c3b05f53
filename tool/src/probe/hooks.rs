//! Attaches the PMU driver hooks (`probe-ebpf/src/hooks.rs`) whose functions exist on this
//! kernel: fentry/fexit first, kprobe/kretprobe next. Where none attaches, the `sched_switch`
//! access model stands in, and the coverage report says so.

use std::collections::HashMap;

use aya::Ebpf;

use super::{
    attach::{Kernel, Try, first_of},
    coverage::{Coverage, Method, Status},
};

/// A driver hook: kernel function, the arch it belongs to, its program name stem, and whether
/// it is a return hook (fexit/kretprobe).
struct HookDef {
    func: &'static str,
    /// `None`: generic perf core, on every arch.
    arch: Option<&'static str>,
    stem: &'static str,
    ret: bool,
}

const HOOKS: [HookDef; 6] = [
    HookDef {
        func: "armv8pmu_start",
        arch: Some("aarch64"),
        stem: "hook_armv8pmu_start",
        ret: false,
    },
    HookDef {
        func: "armpmu_add",
        arch: Some("aarch64"),
        stem: "hook_armpmu_add",
        ret: true,
    },
    HookDef {
        func: "cr4_update_pce",
        arch: Some("x86_64"),
        stem: "hook_cr4_update_pce",
        ret: false,
    },
    HookDef {
        func: "perf_clear_dirty_counters",
        arch: Some("x86_64"),
        stem: "hook_perf_clear_dirty_counters",
        ret: false,
    },
    HookDef {
        func: "__perf_event_task_sched_in",
        arch: None,
        stem: "hook_task_sched_in",
        ret: false,
    },
    HookDef {
        func: "__perf_event_task_sched_out",
        arch: None,
        stem: "hook_task_sched_out",
        ret: false,
    },
];

/// Function symbols of the running kernel, by base name (a static function may be listed as
/// `name.isra.0`; kprobes need that full name, fentry the base name from BTF).
pub fn kallsyms(text: &str, wanted: &[&str]) -> HashMap<String, String> {
    let mut found = HashMap::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(_addr), Some(kind), Some(sym)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        if !matches!(kind, "t" | "T") {
            continue;
        }
        let base = sym.split('.').next().unwrap_or(sym);
        if wanted.contains(&base) {
            found
                .entry(base.to_string())
                .or_insert_with(|| sym.to_string());
        }
    }
    found
}

/// Attaches what this kernel allows. Never fails: missing hooks are recorded in `cov`.
pub fn attach(ebpf: &mut Ebpf, k: &Kernel<'_>, cov: &mut Coverage, arch: &str) {
    let mine: Vec<&HookDef> = HOOKS
        .iter()
        .filter(|h| h.arch.is_none_or(|a| a == arch))
        .collect();
    let names: Vec<&str> = mine.iter().map(|h| h.func).collect();
    let syms = std::fs::read_to_string("/proc/kallsyms")
        .map(|t| kallsyms(&t, &names))
        .unwrap_or_default();
    let mut any = false;
    for h in mine {
        let signal = format!("hook {}", h.func);
        let Some(sym) = syms.get(h.func) else {
            cov.push(
                &signal,
                h.func,
                Method::Fentry,
                Status::Unavailable("not in /proc/kallsyms".into()),
            );
            continue;
        };
        let (f, p) = if h.ret {
            (format!("{}_fexit", h.stem), format!("{}_kretprobe", h.stem))
        } else {
            (format!("{}_fentry", h.stem), format!("{}_kprobe", h.stem))
        };
        let tries = if h.ret {
            [
                Try::Fexit {
                    prog: &f,
                    func: h.func,
                },
                Try::Kretprobe {
                    prog: &p,
                    func: sym,
                },
            ]
        } else {
            [
                Try::Fentry {
                    prog: &f,
                    func: h.func,
                },
                Try::Kprobe {
                    prog: &p,
                    func: sym,
                },
            ]
        };
        any |= first_of(ebpf, k, cov, &signal, &tries).is_some();
    }
    if !any {
        cov.push(
            "driver hooks",
            "sched_switch access model",
            Method::Model,
            Status::Active,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kallsyms_finds_functions_by_base_name() {
        let text = "ffff0001 t armpmu_add.isra.0\nffff0002 T armv8pmu_start\n\
                    ffff0003 d armpmu_add_data\nffff0004 T other\nbad line\n";
        let s = kallsyms(text, &["armpmu_add", "armv8pmu_start", "missing"]);
        assert_eq!(s["armpmu_add"], "armpmu_add.isra.0");
        assert_eq!(s["armv8pmu_start"], "armv8pmu_start");
        assert_eq!(s.len(), 2);
    }
}
