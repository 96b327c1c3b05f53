//! An arm64 decoder of the counter reads that trap, written apart from the tool's own
//! (common/src/insn.rs) so the lab checks the tool's decoding against an independent one.
//! MRS <Xt>, <sysreg> is 0xd5300000 | op0[0]<<19 | op1<<16 | CRn<<12 | CRm<<8 | op2<<5 | Rt
//! (Arm ARM C6.2.194); the PMU counters are op0=3, op1=3:
//! PMCCNTR_EL0 CRn=9 CRm=13 op2=0; PMXEVCNTR_EL0 CRn=9 CRm=13 op2=2;
//! PMEVCNTR<n>_EL0 CRn=14 CRm=0b10:n[4:3] op2=n[2:0].

/// The register a counter-read instruction reads, or `None` when it is not one.
pub fn counter_read(word: u32) -> Option<String> {
    let no_rt = word & !0x1f;
    match no_rt {
        0xd53b_9d00 => Some("PMCCNTR_EL0".into()),
        0xd53b_9d40 => Some("PMXEVCNTR_EL0".into()),
        w if w & 0xffff_fc00 == 0xd53b_e800 => {
            let n = ((w >> 8) & 3) << 3 | ((w >> 5) & 7);
            (n <= 30).then(|| format!("PMEVCNTR{n}_EL0"))
        }
        _ => None,
    }
}

/// The instruction word from its bytes as the trace holds them (little endian, hex).
pub fn word(hex: &str) -> Option<u32> {
    if hex.len() != 8 {
        return None;
    }
    let b = u32::from_str_radix(hex, 16).ok()?;
    Some(b.swap_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reads_seen_in_the_lab_decode() {
        // From the lab README: a forced mrs traps with these words.
        assert_eq!(counter_read(0xd53b9d00).as_deref(), Some("PMCCNTR_EL0"));
        assert_eq!(counter_read(0xd53be800).as_deref(), Some("PMEVCNTR0_EL0"));
        // Rt does not matter; n = 30 is the last event counter.
        assert_eq!(counter_read(0xd53b9d13).as_deref(), Some("PMCCNTR_EL0"));
        assert_eq!(counter_read(0xd53bebc0).as_deref(), Some("PMEVCNTR30_EL0"));
        assert_eq!(counter_read(0xd53be9a0).as_deref(), Some("PMEVCNTR13_EL0"));
        // Not counter reads: PMCR_EL0 (CRm=12), an msr, a nop.
        assert_eq!(counter_read(0xd53b9c00), None);
        assert_eq!(counter_read(0xd51b9d00), None);
        assert_eq!(counter_read(0xd503201f), None);
    }

    #[test]
    fn trace_bytes_are_little_endian() {
        assert_eq!(word("009d3bd5"), Some(0xd53b9d00));
        assert_eq!(word("009d3b"), None);
    }
}
