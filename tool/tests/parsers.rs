//! Every parser of outside bytes, on random and damaged input: an error or a value, never a
//! panic. The same drivers (parsers_support) are cargo-fuzz targets in fuzz/ for long runs;
//! these cases keep the property checked in CI.

mod parsers_support;

use parsers_support as parse;
use proptest::prelude::*;

/// A small real ELF file to damage.
fn small_elf() -> Vec<u8> {
    std::fs::read("/bin/true").expect("/bin/true")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ring_buffer_records_decode_or_fail(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        parse::record(&bytes);
    }

    #[test]
    fn elf_files_with_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        parse::elf(&bytes);
    }

    #[test]
    fn text_inputs_never_panic(text in "(?s).{0,400}") {
        parse::text(&text);
    }

    #[test]
    fn text_inputs_with_plausible_lines(
        lines in proptest::collection::vec(
            "([0-9a-f]{1,12}-[0-9a-f]{1,12} r-xp [0-9a-f]{1,8} 00:00 [0-9]{1,5} +/[a-z/]{0,12}|\tfield:[a-z ]{0,12} [a-z_]{1,9};\toffset:[0-9]{1,3};\tsize:[0-9]{1,2};|[0-9a-f]{16} [tT] [a-z_]{1,14}( \\[[a-z]+\\])?|[0-9]{1,4}(ms|us|ns)? [0-9]{1,3} [0-9]{1,5} [0-9]{1,5} [a-z_]{2,12}( [a-z_]{1,8}=[0-9a-z]{0,6})*)",
            0..12,
        )
    ) {
        parse::text(&lines.join("\n"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn damaged_real_elf_file(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..24)) {
        let mut data = small_elf();
        for (at, b) in flips {
            let i = at.index(data.len());
            data[i] = b;
        }
        parse::elf(&data);
    }

    #[test]
    fn kernel_btf_random_and_truncated(bytes in proptest::collection::vec(any::<u8>(), 0..2048), cut in any::<prop::sample::Index>()) {
        parse::btf(&bytes);
        // A real BTF header (magic, version 1, header length 24) with a random body.
        let mut real = vec![0x9f, 0xeb, 0x01, 0x00, 24, 0, 0, 0];
        real.extend_from_slice(&bytes);
        parse::btf(&real[..cut.index(real.len() + 1)]);
    }

    #[test]
    fn sysfs_and_procfs_contents(contents in proptest::collection::vec("(?s).{0,64}", parse::FILES.len())) {
        let root = tempfile::tempdir().unwrap();
        let bytes: Vec<&[u8]> = contents.iter().map(|c| c.as_bytes()).collect();
        parse::sysfs(root.path(), &bytes);
    }
}
