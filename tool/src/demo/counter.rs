//! The direct counter read: a real `rdpmc` (x86_64) or `mrs PMEVCNTR<n>_EL0` / `mrs PMCCNTR_EL0`
//! (aarch64), in one named function so read-site discovery (which scans the binary for these
//! instruction bytes) and symbolisation find it.
//!
//! While the instruction runs, a marker register holds [`ARMED`]. The trap handler
//! (`super::trap`) only handles a fault at a counter-read instruction inside this function with
//! the marker set: it skips the instruction and writes the signal number into the marker, which
//! is how the read learns that it trapped. No shared state, so it is signal- and thread-safe.

use super::page::Trap;

/// "pmuwatch" in ASCII: the marker register's value while a read is in flight.
pub const ARMED: u64 = 0x706d_7577_6174_6368;
/// Marker value when the counter number has no instruction (aarch64: n > 31; other arches).
pub const NOT_EXECUTED: u64 = u64::MAX;

/// What [`pmuwatch_demo_read_counter`] returns: the raw value and the marker after the read
/// (`ARMED` = no trap, a signal number = trapped, [`NOT_EXECUTED`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterRead {
    pub value: u64,
    pub marker: u64,
}

/// Reads hardware counter number `counter` (= page `index - 1`) with the user-space counter
/// read instruction. x86_64: `rdpmc` with ECX = counter. aarch64: 31 = PMCCNTR_EL0, else
/// PMEVCNTR<counter>_EL0 (the register is encoded in the instruction, hence one `mrs` each).
/// Alone in its own code section, whose bounds the linker names ([`read_function_range`]).
#[inline(never)]
#[unsafe(no_mangle)]
#[unsafe(link_section = "pmuwatch_demo_read")]
pub extern "C" fn pmuwatch_demo_read_counter(counter: u32) -> CounterRead {
    arch::read(counter)
}

/// [`pmuwatch_demo_read_counter`] as a `Result`. `Trap { signal: 0 }` means no instruction
/// exists for that counter number (the caller counts it apart from traps).
pub fn read(counter: u32) -> Result<u64, Trap> {
    let r = pmuwatch_demo_read_counter(counter);
    match r.marker {
        ARMED => Ok(r.value),
        NOT_EXECUTED => Err(Trap { signal: 0 }),
        signal => Err(Trap {
            signal: i32::try_from(signal).unwrap_or(-1),
        }),
    }
}

// The linker defines `__start_`/`__stop_` for a section whose name is a C identifier.
unsafe extern "C" {
    static __start_pmuwatch_demo_read: u8;
    static __stop_pmuwatch_demo_read: u8;
}

/// Address range the trap handler accepts a fault ip in: exactly the read function's section
/// (a fixed window after its start took in whatever code the linker put next).
pub fn read_function_range() -> std::ops::Range<usize> {
    // Only the addresses of the linker's symbols are taken (safe), never read through.
    (&raw const __start_pmuwatch_demo_read) as usize
        ..(&raw const __stop_pmuwatch_demo_read) as usize
}

#[cfg(target_arch = "x86_64")]
mod arch {
    use std::arch::asm;

    use super::{ARMED, CounterRead};

    /// The trap handler's view: the marker lives in RSI; rdpmc is `0f 33`.
    pub const MARKER_REG: libc::c_int = libc::REG_RSI;

    #[inline(always)]
    pub fn read(counter: u32) -> CounterRead {
        let lo: u32;
        let hi: u32;
        let mut marker = ARMED;
        // SAFETY: rdpmc reads registers only. If user access is off it faults (#GP -> SIGSEGV),
        // which the demo's handler turns into a skipped instruction with the marker set; a
        // fault without the handler kills the process, it cannot corrupt memory.
        unsafe {
            asm!(
                "rdpmc",
                in("ecx") counter,
                out("eax") lo,
                out("edx") hi,
                inout("rsi") marker,
                options(nostack, nomem, preserves_flags),
            );
        }
        CounterRead {
            value: (u64::from(hi) << 32) | u64::from(lo),
            marker,
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod arch {
    use std::arch::asm;

    use super::{ARMED, CounterRead, NOT_EXECUTED};

    /// The trap handler's view: the marker lives in x9.
    pub const MARKER_REG: usize = 9;

    /// One `mrs` of the named counter register with the marker in x9.
    macro_rules! mrs {
        ($reg:expr) => {{
            let value: u64;
            let mut marker = ARMED;
            // SAFETY: reads a PMU register into a general register. Without user access it
            // traps (undefined instruction -> SIGILL), which the demo's handler turns into a
            // skipped instruction with the marker set.
            unsafe {
                asm!(
                    concat!("mrs {v}, ", $reg),
                    v = out(reg) value,
                    inout("x9") marker,
                    options(nostack, nomem, preserves_flags),
                );
            }
            CounterRead { value, marker }
        }};
    }

    /// `match counter { 0 => mrs PMEVCNTR0_EL0, .., 30 => mrs PMEVCNTR30_EL0, 31 => PMCCNTR }`.
    macro_rules! by_counter {
        ($counter:expr; $($n:literal)*) => {
            match $counter {
                $( $n => mrs!(concat!("pmevcntr", stringify!($n), "_el0")), )*
                31 => mrs!("pmccntr_el0"),
                _ => CounterRead { value: 0, marker: NOT_EXECUTED },
            }
        };
    }

    #[inline(always)]
    pub fn read(counter: u32) -> CounterRead {
        by_counter!(counter; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25
            26 27 28 29 30)
    }
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
mod arch {
    use super::{CounterRead, NOT_EXECUTED};

    pub fn read(_counter: u32) -> CounterRead {
        CounterRead {
            value: 0,
            marker: NOT_EXECUTED,
        }
    }
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(super) use arch::MARKER_REG;

#[cfg(test)]
mod tests {
    use super::*;

    /// End of the /proc/self/maps mapping holding `addr`, so a scan stays in mapped memory.
    fn mapping_end(addr: usize) -> usize {
        let maps = std::fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
        maps.lines()
            .filter_map(|l| {
                let (lo, hi) = l.split_whitespace().next()?.split_once('-')?;
                let lo = usize::from_str_radix(lo, 16).ok()?;
                let hi = usize::from_str_radix(hi, 16).ok()?;
                (lo..hi).contains(&addr).then_some(hi)
            })
            .next()
            .expect("read function is mapped")
    }

    /// Read-site discovery scans code for the instructions: they must really be in the
    /// function (aarch64: one `mrs` per counter, 31 PMEVCNTR + PMCCNTR).
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    #[test]
    fn the_read_function_holds_real_counter_read_instructions() {
        let range = read_function_range();
        let end = range.end.min(mapping_end(range.start));
        // SAFETY: reads our own code, within its mapping.
        let code =
            unsafe { std::slice::from_raw_parts(range.start as *const u8, end - range.start) };
        let found = if cfg!(target_arch = "x86_64") {
            code.windows(2)
                .filter(|w| common::insn::decode_x86(w).is_some())
                .count()
        } else {
            code.chunks_exact(4)
                .filter_map(|w| common::insn::decode_at(true, w))
                .map(|a| a.counter)
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        };
        let want = if cfg!(target_arch = "x86_64") { 1 } else { 32 };
        assert!(
            found >= want,
            "{found} counter reads in pmuwatch_demo_read_counter"
        );
    }
}
