//! Tiny programs of each attach kind, loaded by `pmuwatch doctor` (tool `sys::attach`) to
//! find out which attach methods this kernel really allows. They do nothing; the kernel
//! targets are chosen by user space at load/attach time (sections only name defaults).

use aya_ebpf::{
    macros::{btf_tracepoint, fentry, fexit, kprobe, raw_tracepoint, tracepoint, uprobe},
    programs::{
        BtfTracePointContext, FEntryContext, FExitContext, ProbeContext, RawTracePointContext,
        TracePointContext,
    },
};

/// tracepoint/sched/sched_switch (perf event on a tracefs tracepoint id).
#[tracepoint]
pub fn canary_tracepoint(_ctx: TracePointContext) -> u32 {
    0
}

/// raw_tp/sched_switch (BPF_RAW_TRACEPOINT_OPEN, no BTF needed).
#[raw_tracepoint(tracepoint = "sched_switch")]
pub fn canary_raw_tp(_ctx: RawTracePointContext) -> i32 {
    0
}

/// tp_btf/sched_switch: typed arguments through BTF (the preferred context-switch source).
#[btf_tracepoint(function = "sched_switch")]
pub fn canary_tp_btf(_ctx: BtfTracePointContext) -> i32 {
    0
}

/// kprobe on a kernel function (attached by name from user space).
#[kprobe]
pub fn canary_kprobe(_ctx: ProbeContext) -> u32 {
    0
}

/// fentry on a kernel function (BPF trampoline).
#[fentry(function = "perf_event_update_userpage")]
pub fn canary_fentry(_ctx: FEntryContext) -> u32 {
    0
}

/// fexit on a kernel function (BPF trampoline).
#[fexit(function = "perf_event_update_userpage")]
pub fn canary_fexit(_ctx: FExitContext) -> u32 {
    0
}

/// uprobe on a user-space function (attached by symbol from user space).
#[uprobe]
pub fn canary_uprobe(_ctx: ProbeContext) -> u32 {
    0
}
