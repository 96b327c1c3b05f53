//! What `doctor` reads from /proc and /sys: the input is cut at 0xff bytes into the contents
//! of the files in `parsers_support::FILES`, written into a private tree, read as facts.
#![no_main]

use std::{path::PathBuf, sync::OnceLock};

use libfuzzer_sys::fuzz_target;

#[path = "../../tool/tests/parsers_support/mod.rs"]
mod parsers_support;

fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        std::env::temp_dir().join(format!("pmuwatch-fuzz-sysfs-{}", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let parts: Vec<&[u8]> = data.split(|b| *b == 0xff).collect();
    parsers_support::sysfs(root(), &parts);
});
