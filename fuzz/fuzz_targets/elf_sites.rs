//! A target's executable files, as read from disk: the read-site scan, symbols and DWARF
//! line tables never panic on any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tool/tests/parsers_support/mod.rs"]
mod parsers_support;

fuzz_target!(|data: &[u8]| {
    parsers_support::elf(data);
});
