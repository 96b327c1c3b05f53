//! Tiny programs of each attach kind, loaded by `pmuwatch doctor` to find out which attach
//! methods this kernel really allows. They do nothing.

use aya_ebpf::{
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};

#[tracepoint]
pub fn canary_tracepoint(_ctx: TracePointContext) -> u32 {
    0
}

#[raw_tracepoint(tracepoint = "sched_switch")]
pub fn canary_raw_tp(_ctx: RawTracePointContext) -> i32 {
    0
}
