//! Decoding of the instructions that read PMU counters from user space, as found at a trap ip
//! or a read site. Pure, `no_std`, shared by the kernel side and user space.

use crate::event::ReadReg;

/// A decoded counter-register access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CounterAccess {
    pub reg: ReadReg,
    /// arm64: n of PMEVCNTR<n>_EL0, 31 for PMCCNTR_EL0; None when the register does not fix
    /// it (x86 rdpmc takes ECX; PMXEVCNTR uses PMSELR).
    pub counter: Option<u32>,
    /// arm64: the general register Rt; x86: None.
    pub rt: Option<u8>,
    /// Instruction length in bytes.
    pub len: u8,
}

/// arm64 system register ids (op0, op1, CRn, CRm, op2) we care about.
const fn sysreg(op0: u32, op1: u32, crn: u32, crm: u32, op2: u32) -> u32 {
    ((op0 - 2) << 19) | (op1 << 16) | (crn << 12) | (crm << 8) | (op2 << 5)
}
const SYSREG_MASK: u32 = 0x000f_ffe0;
const PMCCNTR_EL0: u32 = sysreg(3, 3, 9, 13, 0);
const PMXEVCNTR_EL0: u32 = sysreg(3, 3, 9, 13, 2);
const PMSELR_EL0: u32 = sysreg(3, 3, 9, 12, 5);
/// MRS: 1101 0101 0011 xxxx (L = 1), MSR (register): 1101 0101 0001 xxxx (L = 0).
const MRS_BASE: u32 = 0xd530_0000;
const MSR_BASE: u32 = 0xd510_0000;
const SYSTEM_MASK: u32 = 0xfff0_0000;

/// Decodes one arm64 instruction word (little endian) as a PMU counter access.
pub fn decode_arm64(word: u32) -> Option<CounterAccess> {
    let rt = Some((word & 0x1f) as u8);
    let reg = word & SYSREG_MASK;
    let op = word & SYSTEM_MASK;
    let access = |reg, counter| {
        Some(CounterAccess {
            reg,
            counter,
            rt,
            len: 4,
        })
    };
    if op == MRS_BASE {
        if reg == PMCCNTR_EL0 {
            return access(ReadReg::Pmccntr, Some(31));
        }
        if reg == PMXEVCNTR_EL0 {
            return access(ReadReg::Pmxevcntr, None);
        }
        // PMEVCNTR<n>_EL0: op0 3, op1 3, CRn 14, CRm 0b10nn, op2 nnn; n = 0..30.
        let crn = (word >> 12) & 0xf;
        let crm = (word >> 8) & 0xf;
        let op1 = (word >> 16) & 0x7;
        let op0 = 2 + ((word >> 19) & 1);
        if op0 == 3 && op1 == 3 && crn == 14 && crm & 0b1100 == 0b1000 {
            let n = ((crm & 0b11) << 3) | ((word >> 5) & 0x7);
            if n < 31 {
                return access(ReadReg::Pmevcntr, Some(n));
            }
        }
    } else if op == MSR_BASE && reg == PMSELR_EL0 {
        return access(ReadReg::PmselrWrite, None);
    }
    None
}

/// Decodes x86 bytes at an ip as `rdpmc` (0f 33), allowing legacy prefixes before it.
pub fn decode_x86(bytes: &[u8]) -> Option<CounterAccess> {
    let mut i = 0;
    while i < bytes.len() && i < 14 {
        match bytes[i] {
            // Operand size, address size, segment, lock and rep prefixes.
            0x66 | 0x67 | 0x2e | 0x36 | 0x3e | 0x26 | 0x64 | 0x65 | 0xf0 | 0xf2 | 0xf3 => i += 1,
            // REX prefixes.
            0x40..=0x4f => i += 1,
            _ => break,
        }
    }
    if bytes.get(i) == Some(&0x0f) && bytes.get(i + 1) == Some(&0x33) {
        return Some(CounterAccess {
            reg: ReadReg::X86Rdpmc,
            counter: None,
            rt: None,
            len: (i + 2) as u8,
        });
    }
    None
}

/// Decodes trap bytes for the given arch name ("x86_64" or "aarch64").
pub fn decode_at(arch_is_arm64: bool, bytes: &[u8]) -> Option<CounterAccess> {
    if arch_is_arm64 {
        let w = bytes.get(..4)?;
        decode_arm64(u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
    } else {
        decode_x86(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_words_seen_in_the_arm64_lab() {
        let a = decode_arm64(0xd53b9d00).unwrap();
        assert_eq!(
            (a.reg, a.counter, a.rt),
            (ReadReg::Pmccntr, Some(31), Some(0))
        );
        let b = decode_arm64(0xd53be800).unwrap();
        assert_eq!((b.reg, b.counter), (ReadReg::Pmevcntr, Some(0)));
    }

    #[test]
    fn decodes_every_event_counter_number() {
        for n in 0..31u32 {
            let crm = 0b1000 | (n >> 3);
            let w = 0xd53b_e000 | (crm << 8) | ((n & 7) << 5) | 3;
            let a = decode_arm64(w).unwrap();
            assert_eq!(
                (a.reg, a.counter, a.rt),
                (ReadReg::Pmevcntr, Some(n), Some(3))
            );
        }
    }

    #[test]
    fn pmxevcntr_and_pmselr() {
        assert_eq!(decode_arm64(0xd53b9d40).unwrap().reg, ReadReg::Pmxevcntr);
        // msr pmselr_el0, x1
        assert_eq!(decode_arm64(0xd51b9ca1).unwrap().reg, ReadReg::PmselrWrite);
        // mrs x0, pmselr_el0 is not a counter read.
        assert_eq!(decode_arm64(0xd53b9ca0), None);
        // nop, mrs x0, tpidr_el0
        assert_eq!(decode_arm64(0xd503201f), None);
        assert_eq!(decode_arm64(0xd53bd040), None);
    }

    #[test]
    fn x86_rdpmc_with_and_without_prefixes() {
        assert_eq!(decode_x86(&[0x0f, 0x33]).unwrap().len, 2);
        assert_eq!(decode_x86(&[0x66, 0x0f, 0x33]).unwrap().len, 3);
        assert_eq!(decode_x86(&[0x0f, 0x31]), None); // rdtsc
        assert_eq!(decode_x86(&[]), None);
        assert_eq!(decode_x86(&[0x66; 16]), None);
    }
}
