//! A target's executable files, as read from disk: the read-site scan, symbols and DWARF
//! line tables never panic on any bytes.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pmuwatch::sites::{lines::Lines, scan, symbols::Symbols};

fuzz_target!(|data: &[u8]| {
    let found = scan::scan(data);
    let Ok(file) = object::File::parse(data) else {
        return;
    };
    let syms = Symbols::read(&file);
    let lines = Lines::load(Path::new("/nonexistent/pmuwatch-fuzz"), &file);
    for f in found.unwrap_or_default() {
        let _ = scan::describe(&f.access);
        let _ = syms.lookup(f.vaddr);
        let _ = lines.as_ref().and_then(|l| l.lookup(f.vaddr));
    }
});
