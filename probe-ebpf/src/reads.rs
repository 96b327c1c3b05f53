//! The target's own direct counter reads: a uprobe on every read site user space found in the
//! target's executable mappings (`rdpmc` on x86, `mrs PMCCNTR_EL0 / PMEVCNTR<n>_EL0 /
//! PMXEVCNTR_EL0` on arm64). The probe fires before the instruction runs; whether it then
//! trapped is the engine's job (a `Trap` at the same ip follows).
#![allow(
    unexpected_cfgs,
    reason = "aya-build passes --cfg bpf_target_arch; this crate has no build.rs to declare it"
)]

use aya_ebpf::{
    EbpfContext,
    helpers::generated::bpf_get_attach_cookie,
    macros::{uprobe, uretprobe},
    programs::{ProbeContext, RetProbeContext},
};
use common::event::{DirectRead, ReaderCall};

use crate::{
    maps::{current_ids, emit, header, is_target},
    traps::PT_REGS_IP,
};

/// Cookie layout set by user space (tool/src/sites/attach.rs): bits 0-31 site id, 32-39 the
/// register kind ([`ReadReg`]), 40-47 the counter number fixed by the encoding (0xff: none).
const COUNTER_NONE: u64 = 0xff;

/// x86 `rdpmc` takes the counter number in ECX.
#[cfg(bpf_target_arch = "x86_64")]
const PT_REGS_CX: usize = core::mem::offset_of!(aya_ebpf::bindings::pt_regs, rcx);

/// A saved user register, read straight from the context: a uprobe program's context is the
/// task's `pt_regs`, which the verifier lets it load from at a constant, aligned offset (no
/// helper call: issue 8, this runs on every direct read).
#[inline(always)]
fn reg_at(ctx: &ProbeContext, off: usize) -> u64 {
    // SAFETY: `off` is a constant, 8-byte aligned field offset inside the pt_regs this context
    // points at; the verifier rejects anything else at load.
    unsafe { core::ptr::read((ctx.as_ptr() as *const u8).add(off) as *const u64) }
}

/// `uprobe` at a read site.
#[uprobe]
pub fn read_site(ctx: ProbeContext) -> u32 {
    let (tgid, tid) = current_ids();
    if !is_target(tgid) {
        return 0;
    }
    // SAFETY: a uprobe context is what the helper takes.
    let cookie = unsafe { bpf_get_attach_cookie(ctx.as_ptr()) };
    let reg = ((cookie >> 32) & 0xff) as u32;
    let fixed = (cookie >> 40) & 0xff;
    let counter = if fixed != COUNTER_NONE {
        fixed as u32
    } else {
        counter_from_regs(&ctx, reg)
    };
    let r = DirectRead {
        h: header::<DirectRead>(tgid, tid),
        ip: reg_at(&ctx, PT_REGS_IP),
        site: cookie as u32,
        reg,
        counter,
        _pad: 0,
    };
    emit(&r);
    0
}

#[cfg(bpf_target_arch = "x86_64")]
fn counter_from_regs(ctx: &ProbeContext, reg: u32) -> u32 {
    if reg == common::event::ReadReg::X86Rdpmc as u32 {
        reg_at(ctx, PT_REGS_CX) as u32
    } else {
        u32::MAX
    }
}

#[cfg(not(bpf_target_arch = "x86_64"))]
fn counter_from_regs(_ctx: &ProbeContext, _reg: u32) -> u32 {
    // arm64 read sites fix the counter in the encoding; PMXEVCNTR depends on PMSELR, which
    // the probe cannot read.
    u32::MAX
}

/// `uretprobe` on a known reader function (libperf `perf_evsel__read`,
/// `perf_mmap__read_self`; PAPI): its return value. Cookie = reader function id.
#[uretprobe]
pub fn reader_return(ctx: RetProbeContext) -> u32 {
    let (tgid, tid) = current_ids();
    if !is_target(tgid) {
        return 0;
    }
    // SAFETY: a uretprobe context is what the helper takes.
    let cookie = unsafe { bpf_get_attach_cookie(ctx.as_ptr()) };
    let ret: i64 = ctx.ret::<i64>();
    let r = ReaderCall {
        h: header::<ReaderCall>(tgid, tid),
        func: cookie as u32,
        _pad: 0,
        ret,
    };
    emit(&r);
    0
}
