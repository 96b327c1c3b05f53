//! Catching the trap of a counter read that user access does not allow: SIGSEGV on x86_64
//! (rdpmc without CR4.PCE: #GP, si_code SI_KERNEL), SIGILL on aarch64 (undefined instruction,
//! ILL_ILLOPC). The handler claims only a fault of our own read (see `super::counter`): ip on
//! a counter-read instruction inside `pmuwatch_demo_read_counter`, marker register armed,
//! the expected signal and si_code. It then skips the instruction and reports the signal
//! through the marker. Anything else gets the default action again and is re-raised, so a
//! real crash still crashes.

use std::{io, mem, ptr};

/// The signal a forbidden counter read raises on this architecture.
#[cfg(target_arch = "x86_64")]
pub const TRAP_SIGNAL: libc::c_int = libc::SIGSEGV;
#[cfg(not(target_arch = "x86_64"))]
pub const TRAP_SIGNAL: libc::c_int = libc::SIGILL;

/// si_code of a #GP fault delivered as SIGSEGV (include/uapi/asm-generic/siginfo.h).
#[cfg(target_arch = "x86_64")]
const SI_KERNEL: libc::c_int = 0x80;
/// si_code of an undefined instruction.
#[cfg(target_arch = "aarch64")]
const ILL_ILLOPC: libc::c_int = 1;

/// The handler, installed while the demo runs; dropping it restores the previous action.
pub struct TrapGuard {
    old: libc::sigaction,
}

/// Installs the handler for [`TRAP_SIGNAL`].
pub fn install() -> io::Result<TrapGuard> {
    // SAFETY: a zeroed sigaction is valid (empty mask, no flags); the handler has the
    // SA_SIGINFO signature and is async-signal-safe (register reads and writes only).
    unsafe {
        let mut act: libc::sigaction = mem::zeroed();
        act.sa_sigaction = on_trap as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigemptyset(&mut act.sa_mask);
        let mut old: libc::sigaction = mem::zeroed();
        if libc::sigaction(TRAP_SIGNAL, &act, &mut old) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(TrapGuard { old })
    }
}

impl Drop for TrapGuard {
    fn drop(&mut self) {
        // SAFETY: restores the action saved by `install`.
        unsafe {
            libc::sigaction(TRAP_SIGNAL, &self.old, ptr::null_mut());
        }
    }
}

extern "C" fn on_trap(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo and ucontext to an SA_SIGINFO handler.
    let claimed = unsafe { claim(sig, info, ctx) };
    if !claimed {
        // Not ours: default action, re-raised (pending until we return, since the signal is
        // blocked in its handler); a synchronous fault would also recur at the same ip.
        // SAFETY: sigaction and raise are async-signal-safe.
        unsafe {
            let mut dfl: libc::sigaction = mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &dfl, ptr::null_mut());
            libc::raise(sig);
        }
    }
}

/// x86 breakpoint a uprobe writes over the probed instruction's first byte.
#[cfg(target_arch = "x86_64")]
const UPROBE_INT3: u8 = 0xcc;
/// arm64 `BRK #0x5` a uprobe writes over the probed instruction (arch/arm64 BRK64_OPCODE_UPROBES).
#[cfg(target_arch = "aarch64")]
const UPROBE_BRK: u32 = 0xd420_00a0;

/// Skips our own trapped counter read; false for anything else.
#[cfg(target_arch = "x86_64")]
unsafe fn claim(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) -> bool {
    use super::counter::{ARMED, MARKER_REG, read_function_range};
    if info.is_null() || ctx.is_null() || sig != libc::SIGSEGV {
        return false;
    }
    // SAFETY: checked non-null; the kernel's siginfo/ucontext for this delivery.
    let (code, uc) = unsafe { ((*info).si_code, &mut *(ctx as *mut libc::ucontext_t)) };
    if code != SI_KERNEL {
        return false;
    }
    let gregs = &mut uc.uc_mcontext.gregs;
    let ip = gregs[libc::REG_RIP as usize] as usize;
    if gregs[MARKER_REG as usize] as u64 != ARMED || !read_function_range().contains(&ip) {
        return false;
    }
    // SAFETY: ip lies in our read function's code, which is mapped and readable; rdpmc with
    // prefixes is at most 15 bytes and the function continues after it.
    let bytes = unsafe { std::slice::from_raw_parts(ip as *const u8, 2) };
    // Under a uprobe on the read (pmuwatch's own read-site probes) the first byte is the
    // breakpoint (int3) and the kernel ran a copy of rdpmc elsewhere: still our 2-byte read.
    let len = if bytes[0] == UPROBE_INT3 {
        2
    } else {
        match common::insn::decode_x86(bytes) {
            Some(access) => access.len,
            None => return false,
        }
    };
    gregs[libc::REG_RIP as usize] += i64::from(len);
    gregs[libc::REG_RAX as usize] = 0;
    gregs[libc::REG_RDX as usize] = 0;
    gregs[MARKER_REG as usize] = i64::from(sig);
    true
}

/// Skips our own trapped counter read; false for anything else.
#[cfg(target_arch = "aarch64")]
unsafe fn claim(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) -> bool {
    use common::event::ReadReg;

    use super::counter::{ARMED, MARKER_REG, read_function_range};
    if info.is_null() || ctx.is_null() || sig != libc::SIGILL {
        return false;
    }
    // SAFETY: checked non-null; the kernel's siginfo/ucontext for this delivery.
    let (code, uc) = unsafe { ((*info).si_code, &mut *(ctx as *mut libc::ucontext_t)) };
    if code != ILL_ILLOPC {
        return false;
    }
    let mc = &mut uc.uc_mcontext;
    let ip = mc.pc as usize;
    if mc.regs[MARKER_REG] != ARMED || !read_function_range().contains(&ip) || ip % 4 != 0 {
        return false;
    }
    // SAFETY: ip lies in our read function's code, 4-byte aligned, mapped and readable.
    let word = unsafe { (ip as *const u32).read() };
    // Under a uprobe on the read the word is the uprobe BRK and the kernel ran a copy of the
    // mrs elsewhere: still one of our 4-byte reads (its target register keeps junk).
    if word != UPROBE_BRK {
        let Some(access) = common::insn::decode_arm64(word) else {
            return false;
        };
        if !matches!(access.reg, ReadReg::Pmccntr | ReadReg::Pmevcntr) {
            return false;
        }
        if let Some(rt) = access.rt.filter(|&rt| rt < 31) {
            mc.regs[usize::from(rt)] = 0;
        }
    }
    mc.pc += 4;
    mc.regs[MARKER_REG] = sig as u64;
    true
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
unsafe fn claim(_sig: libc::c_int, _info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::{counter, page::Trap};

    const READ_OK: i32 = 10;
    const READ_TRAPPED: i32 = 11;
    const SURVIVED: i32 = 12;

    /// Runs `f` in a forked child with the handler installed and no core dumps; returns
    /// `Ok(exit code)` or `Err(terminating signal)`. The child only makes async-signal-safe
    /// calls (the test harness is multi-threaded).
    fn in_child(f: fn() -> i32) -> Result<i32, i32> {
        // SAFETY: fork, then only raw syscalls and `f` in the child, which ends in _exit.
        unsafe {
            let pid = libc::fork();
            assert!(pid >= 0, "fork failed");
            if pid == 0 {
                let no_core = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::setrlimit(libc::RLIMIT_CORE, &no_core);
                let code = match install() {
                    Ok(guard) => {
                        let code = f();
                        mem::forget(guard);
                        code
                    }
                    Err(_) => 99,
                };
                libc::_exit(code);
            }
            let mut status = 0;
            assert_eq!(libc::waitpid(pid, &mut status, 0), pid);
            if libc::WIFSIGNALED(status) {
                Err(libc::WTERMSIG(status))
            } else {
                Ok(libc::WEXITSTATUS(status))
            }
        }
    }

    fn our_read() -> i32 {
        match counter::read(0) {
            Ok(_) => READ_OK,
            Err(Trap { signal }) if signal == TRAP_SIGNAL => READ_TRAPPED,
            Err(_) => 13,
        }
    }

    #[test]
    fn a_trapped_read_of_ours_is_skipped_and_reported_by_signal() {
        let got = in_child(our_read);
        assert!(
            got == Ok(READ_OK) || got == Ok(READ_TRAPPED),
            "child: {got:?}"
        );
        // No hardware PMU (this project's x86 VMs): rdpmc is never allowed, so it traps.
        if cfg!(target_arch = "x86_64")
            && !std::path::Path::new("/sys/bus/event_source/devices/cpu").exists()
        {
            assert_eq!(got, Ok(READ_TRAPPED));
        }
    }

    #[test]
    fn a_fault_elsewhere_still_kills_the_process() {
        let got = in_child(|| {
            let _ = our_read();
            // SAFETY: maps an inaccessible page and writes to it: a real SIGSEGV (SEGV_ACCERR).
            unsafe {
                let p = libc::mmap(
                    ptr::null_mut(),
                    4096,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                if p == libc::MAP_FAILED {
                    return 98;
                }
                (p as *mut u8).write_volatile(1);
            }
            SURVIVED
        });
        assert_eq!(got, Err(libc::SIGSEGV));
    }

    #[test]
    fn a_sent_trap_signal_still_kills_the_process() {
        let got = in_child(|| {
            // SAFETY: raise is always safe to call.
            unsafe { libc::raise(TRAP_SIGNAL) };
            SURVIVED
        });
        assert_eq!(got, Err(TRAP_SIGNAL));
    }

    /// A counter read with the marker armed but outside `pmuwatch_demo_read_counter` is not
    /// ours: it must not be skipped.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn an_armed_counter_read_outside_the_read_function_still_kills() {
        fn foreign_read() -> i32 {
            let traps = our_read() == READ_TRAPPED;
            // SAFETY: as in `counter`: reads a register or traps.
            unsafe {
                #[cfg(target_arch = "x86_64")]
                std::arch::asm!(
                    "rdpmc",
                    in("ecx") 0u32,
                    out("eax") _,
                    out("edx") _,
                    inout("rsi") counter::ARMED => _,
                    options(nostack, nomem),
                );
                #[cfg(target_arch = "aarch64")]
                std::arch::asm!(
                    "mrs {v}, pmevcntr0_el0",
                    v = out(reg) _,
                    inout("x9") counter::ARMED => _,
                    options(nostack, nomem),
                );
            }
            if traps { SURVIVED } else { READ_OK }
        }
        let got = in_child(foreign_read);
        assert!(
            got == Err(TRAP_SIGNAL) || got == Ok(READ_OK),
            "child: {got:?}"
        );
    }
}
