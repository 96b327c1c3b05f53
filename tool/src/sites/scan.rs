//! Finds counter-read instructions in an ELF file's executable sections.

use common::{
    event::ReadReg,
    insn::{CounterAccess, decode_arm64},
};
use iced_x86::{Decoder, DecoderOptions, Mnemonic};
use object::{Architecture, Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};

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
    let functions = if arch == Architecture::X86_64 {
        function_starts(&file)
    } else {
        Vec::new()
    };
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
            Architecture::X86_64 => scan_x86(data, base, &functions, &mut push),
            _ => scan_arm64(data, base, &mut push),
        }
    }
    Ok(found)
}

/// Sorted function start addresses: symbols (`.symtab`, `.dynsym`) and the `.eh_frame_hdr`
/// search table, which nearly every x86-64 binary and library has, stripped ones included
/// (unwinding needs it), and which lists the static functions `.dynsym` does not.
fn function_starts(file: &object::File<'_>) -> Vec<u64> {
    let mut v: Vec<u64> = file
        .symbols()
        .chain(file.dynamic_symbols())
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
        .map(|s| s.address())
        .collect();
    if let Some(sec) = file.section_by_name(".eh_frame_hdr")
        && let Ok(data) = sec.data()
    {
        let bases = gimli::BaseAddresses::default().set_eh_frame_hdr(sec.address());
        let hdr = gimli::EhFrameHdr::new(data, gimli::LittleEndian);
        if let Ok(parsed) = hdr.parse(&bases, 8)
            && let Some(table) = parsed.table()
        {
            let mut it = table.iter(&bases);
            // Each entry takes bytes of the section: a damaged count ends at its end.
            while let Ok(Some((from, _))) = it.next() {
                if let gimli::Pointer::Direct(a) = from {
                    v.push(a);
                }
            }
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// The function around `vaddr` as `[start, end)`: from the last start at or before it to the
/// next start (or `limit`); `None` without a start at or after `floor`.
fn enclosing(starts: &[u64], vaddr: u64, floor: u64, limit: u64) -> Option<(u64, u64)> {
    let i = starts.partition_point(|&s| s <= vaddr);
    let start = *starts[..i].last()?;
    if start < floor {
        return None;
    }
    let end = starts.get(i).copied().unwrap_or(limit).min(limit);
    Some((start, end))
}

/// Decoding with a real decoder: `0f 33` inside another instruction's immediate or
/// displacement is not a read. Only where those two bytes occur: system-wide, every exec's
/// files are scanned, and a linear sweep runs at ~300 MB/s where the byte search runs at GB/s
/// (most files have no candidate at all). Each candidate's function is decoded from its start
/// ([`function_starts`]); a candidate before every known start in its section sends the whole
/// section through the sweep.
fn scan_x86(data: &[u8], base: u64, functions: &[u64], push: &mut impl FnMut(u64, CounterAccess)) {
    let end = base + data.len() as u64;
    let mut ranges: Vec<(u64, u64)> = Vec::new();
    for off in memchr::memmem::find_iter(data, &[0x0f, 0x33]) {
        let vaddr = base + off as u64;
        if ranges.last().is_some_and(|r| vaddr < r.1) {
            continue; // inside the function just taken
        }
        match enclosing(functions, vaddr, base, end) {
            Some(r) => ranges.push(r),
            _ => {
                ranges = vec![(base, end)];
                break;
            }
        }
    }
    for (s, e) in ranges {
        let code = &data[(s - base) as usize..(e - base) as usize];
        sweep_x86(code, s, push);
    }
}

/// Linear sweep of `code` (at `ip`) for `rdpmc`.
fn sweep_x86(code: &[u8], ip: u64, push: &mut impl FnMut(u64, CounterAccess)) {
    let mut decoder = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
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
        scan_x86(&code, 0x1000, &[], &mut |va, a| hits.push((va, a.len)));
        assert_eq!(hits, vec![(0x1005, 2)]);
        // The same with symbols: the function holding the candidates is decoded alone.
        hits.clear();
        scan_x86(&code, 0x1000, &[0x1000], &mut |va, a| {
            hits.push((va, a.len))
        });
        assert_eq!(hits, vec![(0x1005, 2)]);
    }

    #[test]
    fn x86_sections_without_candidates_are_not_decoded_and_functions_bound_the_sweep() {
        // nop; rdpmc in function 2 only; an undecodable tail outside any function.
        let code = [0x90, 0xc3, 0x0f, 0x33, 0xc3, 0x0f];
        let mut hits = Vec::new();
        scan_x86(&code[..2], 0x2000, &[], &mut |va, _| hits.push(va));
        assert!(hits.is_empty());
        let f = [0x2000, 0x2002, 0x2005];
        scan_x86(&code, 0x2000, &f, &mut |va, _| hits.push(va));
        assert_eq!(hits, vec![0x2002]);
        assert_eq!(
            enclosing(&f, 0x2003, 0x2000, 0x2006),
            Some((0x2002, 0x2005))
        );
        assert_eq!(
            enclosing(&f, 0x2005, 0x2000, 0x2006),
            Some((0x2005, 0x2006))
        );
        assert_eq!(enclosing(&f, 0x1fff, 0x1000, 0x2006), None);
        assert_eq!(enclosing(&f, 0x2003, 0x2003, 0x2006), None);
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

    /// Every text section swept whole, as the scan did before it decoded only around
    /// candidates.
    fn full_sweep(elf: &[u8]) -> Vec<u64> {
        let file = object::File::parse(elf).unwrap();
        let mut v = Vec::new();
        for sec in file.sections().filter(|s| s.kind() == SectionKind::Text) {
            sweep_x86(sec.data().unwrap(), sec.address(), &mut |va, _| v.push(va));
        }
        v
    }

    /// Asserts that the scan finds what a full sweep finds in each ELF file of `files`;
    /// returns how many were compared.
    fn compare_with_full_sweep(files: &[String]) -> usize {
        let mut compared = 0;
        for f in files {
            let Ok(data) = std::fs::read(f) else { continue };
            let Ok(found) = scan(&data) else { continue };
            let got: Vec<u64> = found.iter().map(|f| f.vaddr).collect();
            assert_eq!(got, full_sweep(&data), "{f}");
            compared += 1;
        }
        compared
    }

    #[test]
    fn decoding_around_candidates_finds_what_a_full_sweep_finds() {
        if !cfg!(target_arch = "x86_64") {
            return;
        }
        // Our own binary: built here, holds a real rdpmc.
        assert_eq!(compare_with_full_sweep(&["/proc/self/exe".to_string()]), 1);
    }

    /// The same over the system's binaries and libraries (which differ between machines, so
    /// not in CI): `cargo test --release -p tool --lib sites::scan -- --ignored`. On the dev VM,
    /// 2026-11-26: all 1,953 ELF files of /usr/bin and /usr/lib/x86_64-linux-gnu identical.
    #[test]
    #[ignore = "reads the whole system's binaries; run by hand"]
    fn decoding_around_candidates_matches_a_full_sweep_on_system_files() {
        let mut files = Vec::new();
        for dir in [
            "/usr/bin",
            "/usr/lib/x86_64-linux-gnu",
            "/usr/lib/aarch64-linux-gnu",
        ] {
            let Ok(rd) = std::fs::read_dir(dir) else {
                continue;
            };
            files.extend(rd.flatten().map(|e| e.path().display().to_string()));
        }
        let compared = compare_with_full_sweep(&files);
        eprintln!("{compared} ELF files compared");
        assert!(compared > 0, "no ELF files compared");
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
