//! Finds counter-read instructions in an ELF file's executable sections.

use common::{
    event::ReadReg,
    insn::{CounterAccess, decode_arm64},
};
use iced_x86::{Decoder, DecoderOptions, Mnemonic};
use object::{Architecture, Object, ObjectSection, SectionKind};

/// A read instruction found in a file (not yet numbered or symbolised).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Found {
    pub vaddr: u64,
    pub file_offset: u64,
    pub access: CounterAccess,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("not an ELF file this build understands: {0}")]
    Parse(#[from] object::Error),
    #[error("architecture {0:?} has no user counter reads pmuwatch knows")]
    Arch(Architecture),
}

/// Every counter read in the executable sections of `elf`.
pub fn scan(elf: &[u8]) -> Result<Vec<Found>, ScanError> {
    let file = object::File::parse(elf)?;
    let arch = file.architecture();
    if !matches!(arch, Architecture::X86_64 | Architecture::Aarch64) {
        return Err(ScanError::Arch(arch));
    }
    let mut found = Vec::new();
    for section in file.sections() {
        if section.kind() != SectionKind::Text {
            continue;
        }
        let (Some((file_start, _)), Ok(data)) = (section.file_range(), section.data()) else {
            continue;
        };
        let base = section.address();
        let mut push = |vaddr: u64, access: CounterAccess| {
            found.push(Found {
                vaddr,
                file_offset: file_start + (vaddr - base),
                access,
            })
        };
        match arch {
            Architecture::X86_64 => scan_x86(data, base, &mut push),
            _ => scan_arm64(data, base, &mut push),
        }
    }
    Ok(found)
}

/// Linear sweep with a real decoder: `0f 33` inside another instruction's immediate or
/// displacement is not a read.
fn scan_x86(data: &[u8], base: u64, push: &mut impl FnMut(u64, CounterAccess)) {
    let mut decoder = Decoder::with_ip(64, data, base, DecoderOptions::NONE);
    while decoder.can_decode() {
        let insn = decoder.decode();
        if insn.mnemonic() == Mnemonic::Rdpmc {
            push(
                insn.ip(),
                CounterAccess {
                    reg: ReadReg::X86Rdpmc,
                    counter: None,
                    rt: None,
                    len: insn.len() as u8,
                },
            );
        }
    }
}

fn scan_arm64(data: &[u8], base: u64, push: &mut impl FnMut(u64, CounterAccess)) {
    for (i, w) in data.chunks_exact(4).enumerate() {
        let word = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        if let Some(a) = decode_arm64(word) {
            push(base + 4 * i as u64, a);
        }
    }
}

/// How a site's instruction reads, e.g. "mrs PMEVCNTR3_EL0".
pub fn describe(a: &CounterAccess) -> String {
    match (a.reg, a.counter) {
        (ReadReg::X86Rdpmc, _) => "rdpmc".into(),
        (ReadReg::Pmccntr, _) => "mrs PMCCNTR_EL0".into(),
        (ReadReg::Pmevcntr, Some(n)) => format!("mrs PMEVCNTR{n}_EL0"),
        (ReadReg::Pmevcntr, None) => "mrs PMEVCNTR<n>_EL0".into(),
        (ReadReg::Pmxevcntr, _) => "mrs PMXEVCNTR_EL0".into(),
        (ReadReg::PmselrWrite, _) => "msr PMSELR_EL0".into(),
        (ReadReg::Unknown, _) => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_decoder_finds_rdpmc_but_not_0f33_inside_an_immediate() {
        // mov eax, 0x00330f00 (b8 00 0f 33 00) ; rdpmc (0f 33) ; ret
        let code = [0xb8, 0x00, 0x0f, 0x33, 0x00, 0x0f, 0x33, 0xc3];
        let mut hits = Vec::new();
        scan_x86(&code, 0x1000, &mut |va, a| hits.push((va, a.len)));
        assert_eq!(hits, vec![(0x1005, 2)]);
    }

    #[test]
    fn arm64_words_decode_to_registers() {
        let mut code = Vec::new();
        for w in [0xd503201fu32, 0xd53b9d00, 0xd53be800, 0xd51b9ca1] {
            code.extend_from_slice(&w.to_le_bytes());
        }
        let mut hits = Vec::new();
        scan_arm64(&code, 0x400000, &mut |va, a| hits.push((va, describe(&a))));
        assert_eq!(
            hits,
            vec![
                (0x400004, "mrs PMCCNTR_EL0".to_string()),
                (0x400008, "mrs PMEVCNTR0_EL0".to_string()),
                (0x40000c, "msr PMSELR_EL0".to_string()),
            ]
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(scan(b"not an elf").is_err());
        assert!(scan(&[]).is_err());
    }

    #[test]
    fn finds_the_demo_read_site_in_our_own_binary() {
        // The test binary links the demo's reader, which holds a real rdpmc (x86) or mrs
        // (arm64) instruction.
        let exe = std::fs::read("/proc/self/exe").unwrap();
        let found = scan(&exe).unwrap();
        assert!(!found.is_empty(), "no counter read found in our own binary");
    }
}
