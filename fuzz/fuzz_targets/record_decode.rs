//! Ring-buffer records as the kernel hands them over, and the instruction words a trap
//! record carries: any bytes decode to an error or to a record that round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tool/tests/parsers_support/mod.rs"]
mod parsers_support;

fuzz_target!(|data: &[u8]| {
    parsers_support::record(data);
});
