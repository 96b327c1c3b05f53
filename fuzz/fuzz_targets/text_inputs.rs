//! Text the tool reads from the system or the user: /proc/PID/maps, tracefs `format` files,
//! /proc/kallsyms, and engine scripts. None of them may panic on any text.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tool/tests/parsers_support/mod.rs"]
mod parsers_support;

fuzz_target!(|data: &[u8]| {
    parsers_support::text(&String::from_utf8_lossy(data));
});
