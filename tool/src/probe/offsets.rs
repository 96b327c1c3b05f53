//! Kernel struct offsets for the kernel programs, computed at run time from this kernel's BTF
//! (never frozen from one kernel: they differ between 6.1, 6.12 and 6.18 and between arches),
//! plus tracepoint record offsets from tracefs `format` files for the plain-tracepoint fallback.

use std::path::Path;

use common::config::{KernelOffsets, NO_OFFSET};

use crate::btf::{Btf, TypeKind};

/// What [`compute`] found, with the reason for each field it could not find.
#[derive(Debug, Clone)]
pub struct Found {
    pub offsets: KernelOffsets,
    /// `task_struct.perf_event_ctxp` is an array (kernels before 6.2).
    pub ctxp_is_array: bool,
    /// "field: reason" for each offset left at `NO_OFFSET`.
    pub missing: Vec<String>,
}

/// Offsets of the fields the kernel programs read. A field this kernel lacks stays
/// `NO_OFFSET` (e.g. `perf_rdpmc_allowed` on arm64) and the programs skip it.
pub fn compute(btf: &Btf) -> Found {
    let mut missing = Vec::new();
    let mut get = |label: &str, ty: &str, paths: &[&[&str]]| -> u32 {
        let mut last_err = None;
        for path in paths {
            match btf.offset_of(ty, path) {
                Ok(o) => return o,
                Err(e) => last_err = Some(e),
            }
        }
        if let Some(e) = last_err {
            missing.push(format!("{label}: {e}"));
        }
        NO_OFFSET
    };
    let mut o = KernelOffsets::unknown();
    o.task_pid = get("task_struct.pid", "task_struct", &[&["pid"]]);
    o.task_tgid = get("task_struct.tgid", "task_struct", &[&["tgid"]]);
    o.task_mm = get("task_struct.mm", "task_struct", &[&["mm"]]);
    o.task_comm = get("task_struct.comm", "task_struct", &[&["comm"]]);
    o.task_perf_event_ctxp = get(
        "task_struct.perf_event_ctxp",
        "task_struct",
        &[&["perf_event_ctxp"]],
    );
    // 6.1 .. 6.17 keep `cpu` in task_struct; 6.18 x86 moved it back into thread_info.
    o.task_cpu = get(
        "task_struct.cpu",
        "task_struct",
        &[&["cpu"], &["thread_info", "cpu"]],
    );
    o.task_signal = get("task_struct.signal", "task_struct", &[&["signal"]]);
    o.signal_live = get("signal_struct.live", "signal_struct", &[&["live"]]);
    o.ctx_nr_user = get(
        "perf_event_context.nr_user",
        "perf_event_context",
        &[&["nr_user"]],
    );
    o.ctx_nr_events = get(
        "perf_event_context.nr_events",
        "perf_event_context",
        &[&["nr_events"]],
    );
    // x86 only: arm64's mm_context_t has no such field, and that is expected.
    o.mm_perf_rdpmc_allowed = get(
        "mm_struct.context.perf_rdpmc_allowed",
        "mm_struct",
        &[&["context", "perf_rdpmc_allowed"]],
    );
    // Syscall arguments at syscall exit, in the user registers saved at entry: x86-64 passes
    // them in di, si, dx (untouched by the call); arm64 in x0..x2, but x0 is overwritten by
    // the return value and its entry value is kept in orig_x0.
    let at = |path: &[&str]| btf.offset_of("pt_regs", path).ok();
    let x86 = || Some((at(&["di"])?, at(&["dx"])?));
    let arm64 = || Some((at(&["orig_x0"])?, at(&["user_regs", "regs"])? + 2 * 8));
    match x86().or_else(arm64) {
        Some((a0, a2)) => (o.regs_arg0, o.regs_arg2) = (a0, a2),
        None => missing.push(
            "pt_regs syscall arguments: neither di/dx (x86-64) nor orig_x0/user_regs.regs (arm64)"
                .into(),
        ),
    }
    let ctxp_is_array = btf
        .member_type("task_struct", &["perf_event_ctxp"])
        .ok()
        .and_then(|t| btf.kind(t))
        == Some(TypeKind::Array);
    Found {
        offsets: o,
        ctxp_is_array,
        missing,
    }
}

/// The offsets of the running kernel (all unknown without BTF), for loaders that attach only
/// some domains (tests, benches); [`super::loader::load`] also keeps what was missing.
pub fn running_kernel() -> KernelOffsets {
    Btf::from_sys_fs()
        .map(|b| compute(&b).offsets)
        .unwrap_or_default()
}

/// Byte offset of `field` in a tracefs event `format` file's text.
pub fn format_field(format: &str, field: &str) -> Option<u32> {
    format.lines().find_map(|line| {
        let decl = line.trim().strip_prefix("field:")?;
        let (decl, rest) = decl.split_once(';')?;
        // The name is the last word of the declaration, minus any array suffix.
        let name = decl.split_whitespace().last()?;
        let name = name.split('[').next()?;
        if name != field {
            return None;
        }
        rest.split(';')
            .find_map(|kv| kv.trim().strip_prefix("offset:"))?
            .trim()
            .parse()
            .ok()
    })
}

/// Fills the plain `sched_switch` tracepoint offsets from its tracefs format file.
pub fn add_tracepoint_offsets(o: &mut KernelOffsets, tracefs: &Path) {
    let path = tracefs.join("events/sched/sched_switch/format");
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let f = |name| format_field(&text, name).unwrap_or(NO_OFFSET);
    o.tp_switch_prev_pid = f("prev_pid");
    o.tp_switch_prev_state = f("prev_state");
    o.tp_switch_next_pid = f("next_pid");
    o.tp_switch_next_comm = f("next_comm");
}

#[cfg(test)]
mod tests {
    use super::*;

    const SWITCH: &str = "name: sched_switch
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:char prev_comm[16];\toffset:8;\tsize:16;\tsigned:0;
\tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;
\tfield:long prev_state;\toffset:32;\tsize:8;\tsigned:1;
\tfield:__data_loc char[] comm;\toffset:12;\tsize:4;\tsigned:0;
";

    #[test]
    fn format_fields_are_found_by_name() {
        assert_eq!(format_field(SWITCH, "prev_pid"), Some(24));
        assert_eq!(format_field(SWITCH, "prev_comm"), Some(8));
        assert_eq!(format_field(SWITCH, "prev_state"), Some(32));
        assert_eq!(format_field(SWITCH, "comm"), Some(12));
        assert_eq!(format_field(SWITCH, "next_pid"), None);
    }

    #[test]
    fn this_kernels_offsets_are_found() {
        let Ok(btf) = Btf::from_sys_fs() else {
            eprintln!("skipped: no BTF");
            return;
        };
        let f = compute(&btf);
        let o = f.offsets;
        for (name, v) in [
            ("pid", o.task_pid),
            ("tgid", o.task_tgid),
            ("mm", o.task_mm),
            ("comm", o.task_comm),
            ("perf_event_ctxp", o.task_perf_event_ctxp),
            ("cpu", o.task_cpu),
            ("signal", o.task_signal),
            ("live", o.signal_live),
            ("nr_user", o.ctx_nr_user),
            ("nr_events", o.ctx_nr_events),
            ("pt_regs arg0", o.regs_arg0),
            ("pt_regs arg2", o.regs_arg2),
        ] {
            assert_ne!(v, NO_OFFSET, "{name}: {:?}", f.missing);
        }
        assert_eq!(o.task_tgid, o.task_pid + 4);
        if cfg!(target_arch = "x86_64") {
            // The kernel's x86-64 pt_regs: r15 .. ax, cx, dx, si, di, orig_ax, ...
            assert_eq!((o.regs_arg0, o.regs_arg2), (14 * 8, 12 * 8));
            assert_ne!(o.mm_perf_rdpmc_allowed, NO_OFFSET, "{:?}", f.missing);
            assert!(f.missing.is_empty(), "{:?}", f.missing);
        }
    }
}
