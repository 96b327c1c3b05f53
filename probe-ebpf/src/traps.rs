//! Traps on counter reads: the synchronous signal a forbidden user counter read raises in the
//! reading task (arm64: `mrs PMEVCNTR<n>_EL0` with PMUSERENR_EL0 clear -> undefined instruction
//! -> SIGILL; x86: `rdpmc` with CR4.PCE clear -> #GP -> SIGSEGV, si_code SI_KERNEL), with the
//! user instruction pointer and the instruction bytes there, so user space can tell a counter
//! read from any other crash ([`common::insn`]).
#![allow(
    unexpected_cfgs,
    reason = "aya-build passes --cfg bpf_target_arch; this crate has no build.rs to declare it"
)]

use aya_ebpf::{
    cty::c_void,
    helpers::{bpf_get_current_task, bpf_get_current_task_btf, bpf_probe_read_kernel, generated},
    macros::{btf_tracepoint, tracepoint},
    programs::{BtfTracePointContext, TracePointContext},
};
use common::event::Trap;

use crate::maps::{current_ids, emit, header, is_target};

/// The signal a counter read raises on this arch.
#[cfg(bpf_target_arch = "aarch64")]
const TRAP_SIGNAL: i32 = 4; // SIGILL
#[cfg(not(bpf_target_arch = "aarch64"))]
const TRAP_SIGNAL: i32 = 11; // SIGSEGV

/// Offset of the user pc in the kernel's `struct pt_regs` (arch ABI, fixed per arch).
#[cfg(bpf_target_arch = "aarch64")]
pub(crate) const PT_REGS_IP: usize = core::mem::offset_of!(aya_ebpf::bindings::user_pt_regs, pc);
#[cfg(bpf_target_arch = "x86_64")]
pub(crate) const PT_REGS_IP: usize = core::mem::offset_of!(aya_ebpf::bindings::pt_regs, rip);

/// Instruction bytes worth reading: arm64 words are 4 bytes, x86 instructions at most 15.
#[cfg(bpf_target_arch = "aarch64")]
const INSN_MAX: u64 = 4;
#[cfg(not(bpf_target_arch = "aarch64"))]
const INSN_MAX: u64 = 15;

/// `TRACE_SIGNAL_DELIVERED` (include/trace/events/signal.h): the signal was queued.
const TRACE_SIGNAL_DELIVERED: i32 = 0;

/// `SEND_SIG_NOINFO` / `SEND_SIG_PRIV`: pseudo siginfo pointers (include/linux/sched/signal.h).
const SEND_SIG_PRIV: u64 = 1;
const SI_USER: i32 = 0;
const SI_KERNEL: i32 = 0x80;

/// Offset of `si_code` in `struct kernel_siginfo`: `int si_signo, si_errno, si_code` on every
/// arch but MIPS (include/uapi/asm-generic/siginfo.h `__SIGINFO`).
const SI_CODE: usize = 8;

/// `TP_PROTO(int sig, struct kernel_siginfo *info, struct task_struct *task, int group,
/// int result)` (include/trace/events/signal.h). A synchronous fault is generated in the
/// faulting task's own context, so `task == current` tells a trap from a signal sent by
/// someone else, and the task's saved user registers hold the faulting ip.
#[btf_tracepoint(function = "signal_generate")]
pub fn trap_signal_generate(ctx: BtfTracePointContext) -> i32 {
    let sig: i32 = ctx.arg(0);
    if sig != TRAP_SIGNAL {
        return 0;
    }
    let task: *const c_void = ctx.arg(2);
    // SAFETY: helper without preconditions.
    if task as u64 != unsafe { bpf_get_current_task() } {
        return 0;
    }
    let (tgid, tid) = current_ids();
    if !is_target(tgid) {
        return 0;
    }
    let info: *const u8 = ctx.arg(1);
    let result: i32 = ctx.arg(4);
    let si_code = if info as u64 == 0 {
        SI_USER
    } else if info as u64 == SEND_SIG_PRIV {
        SI_KERNEL
    } else {
        // SAFETY: a kernel pointer from the tracepoint; the helper handles bad addresses.
        unsafe { bpf_probe_read_kernel(info.add(SI_CODE) as *const i32) }.unwrap_or(SI_USER)
    };
    let mut t = Trap {
        h: header::<Trap>(tgid, tid),
        signo: sig as u32,
        si_code,
        result: (result == TRACE_SIGNAL_DELIVERED) as u32,
        ..Trap::default()
    };
    // SAFETY: the BTF task of current is what bpf_task_pt_regs expects; its result points at
    // the user registers saved on kernel entry, read through the checking helper.
    unsafe {
        let regs = generated::bpf_task_pt_regs(bpf_get_current_task_btf()) as *const u8;
        if regs as u64 != 0 {
            t.ip = bpf_probe_read_kernel(regs.add(PT_REGS_IP) as *const u64).unwrap_or(0);
        }
    }
    if t.ip != 0 {
        t.insn_len = read_insn(t.ip, &mut t.insn);
    }
    emit(&t);
    0
}

/// Reads the instruction bytes at user address `ip`; returns how many were read. The bytes
/// after the instruction may lie on an unmapped page: then read only up to the page end.
#[inline(always)]
fn read_insn(ip: u64, out: &mut [u8; 16]) -> u32 {
    let dst = out.as_mut_ptr() as *mut c_void;
    // SAFETY: `out` holds 16 >= INSN_MAX bytes; the helper checks the user address.
    if unsafe { generated::bpf_probe_read_user(dst, INSN_MAX as u32, ip as *const c_void) } == 0 {
        return INSN_MAX as u32;
    }
    let to_page_end = 4096 - (ip & 4095);
    if to_page_end >= INSN_MAX {
        return 0;
    }
    // Bounded for the verifier: 1..INSN_MAX - 1.
    let len = (to_page_end & 15) as u32;
    if len == 0 {
        return 0;
    }
    // SAFETY: as above, len < 16.
    if unsafe { generated::bpf_probe_read_user(dst, len, ip as *const c_void) } == 0 {
        return len;
    }
    0
}

/// Fallback where `tp_btf` is refused: the plain tracepoint gives signal, code and pids but no
/// task pointer, so no ip. Layout (stable since 3.x, checked against the `format` file by user
/// space before attaching): sig @8, errno @12, code @16, comm[16] @20, pid @36, group @40,
/// result @44.
#[tracepoint(category = "signal", name = "signal_generate")]
pub fn trap_signal_generate_tp(ctx: TracePointContext) -> u32 {
    // SAFETY: reads inside the tracepoint record.
    let field = |off: usize| unsafe { ctx.read_at::<i32>(off) }.unwrap_or(-1);
    if field(8) != TRAP_SIGNAL {
        return 0;
    }
    let (tgid, tid) = current_ids();
    // `pid` is the receiving task's pid (a thread id): equal to current for a synchronous fault.
    if field(36) as u32 != tid || !is_target(tgid) {
        return 0;
    }
    emit(&Trap {
        h: header::<Trap>(tgid, tid),
        signo: TRAP_SIGNAL as u32,
        si_code: field(16),
        result: (field(44) == TRACE_SIGNAL_DELIVERED) as u32,
        ..Trap::default()
    });
    0
}
