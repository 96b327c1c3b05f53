//! The kernel's BTF (`/sys/kernel/btf/vmlinux`, or a trace's copy): any bytes give an error
//! or a type table whose lookups never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tool/tests/parsers_support/mod.rs"]
mod parsers_support;

fuzz_target!(|data: &[u8]| {
    parsers_support::btf(data);
});
