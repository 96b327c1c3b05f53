//! Guest helper for the arm64 lab: a process that opened no perf event reads PMCCNTR_EL0
//! directly and prints the value. Where user access is off on this CPU the `mrs` traps and the
//! process dies of SIGILL (the shell sees status 132); where it was left on by an earlier
//! event, the read succeeds with a stale value. Built by `cargo xtask lab` with plain rustc.

fn main() {
    #[cfg(target_arch = "aarch64")]
    {
        let cycles: u64;
        // SAFETY: reading PMCCNTR_EL0 has no side effect; if EL0 access is disabled the CPU
        // raises an undefined-instruction exception, which is the behaviour under test.
        unsafe { std::arch::asm!("mrs {}, pmccntr_el0", out(reg) cycles) };
        println!("{cycles}");
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        eprintln!("mrs-cycles: arm64 only");
        std::process::exit(2);
    }
}
