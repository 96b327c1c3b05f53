//! The trace reader on arbitrary bytes: it must never panic or allocate beyond its bounds,
//! and whatever it yields must be records that decode. From the repository root:
//!
//! ```text
//! cargo install cargo-fuzz
//! cd fuzz && cargo +nightly fuzz run trace_reader corpus/trace_reader seeds/trace_reader \
//!     -- -max_total_time=60 -rss_limit_mb=512
//! ```
//!
//! `seeds/` holds small real traces (checked by tool/tests/trace.rs to stay readable).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pmuwatch::trace::TraceReader;

fuzz_target!(|data: &[u8]| {
    let Ok(mut r) = TraceReader::new(data) else {
        return;
    };
    let mut n = 0u64;
    for e in r.by_ref() {
        // Every yielded record round-trips through the ABI.
        assert_eq!(common::decode(e.bytes()), Ok(e));
        n += 1;
    }
    let info = r.info();
    assert_eq!(info.events, n);
    let _ = r.damage().describe();
    assert!(info.file_bytes <= data.len() as u64);
});
