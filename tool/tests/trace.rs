//! Trace files: round trips, and what the reader does with cut, damaged and foreign files.

use std::{io::Cursor, os::unix::fs::PermissionsExt};

use common::{Event, Kind};
use pmuwatch::trace::{Meta, Target, TraceError, TraceReader, TraceWriter, Trailer, format, synth};

fn meta() -> Meta {
    let mut m = Meta::now(
        vec!["pmuwatch".into(), "record".into()],
        Target {
            pid: Some(4242),
            ..Target::default()
        },
    );
    m.facts = serde_json::json!({"kernel": {"release": "6.18"}, "pmus": []});
    m.coverage = serde_json::json!({"sched_switch": "tp_btf"});
    m.sites = serde_json::json!([{"id": 0, "ip": 4198400, "symbol": "read_counter"}]);
    m
}

/// A small file of several blocks: a block every `per_block` events.
fn small_file(events: &[Event], per_block: usize) -> Vec<u8> {
    let mut w = TraceWriter::new(Vec::new(), &meta()).unwrap();
    for (i, e) in events.iter().enumerate() {
        w.push(e).unwrap();
        if (i + 1) % per_block == 0 {
            w.flush_block().unwrap();
        }
    }
    let (bytes, stats) = w
        .finish(&Trailer {
            stop_reason: "test".into(),
            ..Trailer::default()
        })
        .unwrap();
    assert_eq!(stats.events, events.len() as u64);
    assert_eq!(stats.file_bytes, bytes.len() as u64);
    bytes
}

fn read_all(bytes: &[u8]) -> Result<(Vec<Event>, pmuwatch::trace::Damage), TraceError> {
    let mut r = TraceReader::new(Cursor::new(bytes))?;
    let evs: Vec<Event> = r.by_ref().collect();
    Ok((evs, r.damage().clone()))
}

#[test]
fn events_meta_and_trailer_round_trip_with_lost_records() {
    let events = synth::events(5000, 7);
    let lost: u64 = events
        .iter()
        .filter_map(|e| match e {
            Event::Lost(l) => Some(l.count),
            _ => None,
        })
        .sum();
    assert!(lost > 0, "the synthetic stream has drops");
    let bytes = small_file(&events, 1000);
    let mut r = TraceReader::new(Cursor::new(&bytes)).unwrap();
    assert_eq!(r.meta().facts["kernel"]["release"], "6.18");
    assert_eq!(r.meta().target.pid, Some(4242));
    assert_eq!(r.meta().abi_version, common::ABI_VERSION);
    let back: Vec<Event> = r.by_ref().collect();
    assert_eq!(back, events);
    assert!(back.iter().any(|e| e.kind() == Kind::Lost));
    let d = r.damage();
    assert!(d.clean_end && !d.any(), "{}", d.describe());
    assert_eq!(d.describe(), "complete");
    let t = r.trailer().unwrap();
    assert_eq!(t.stop_reason, "test");
    assert_eq!(t.events, 5000);
    assert_eq!(t.blocks, 5);
    assert_eq!(t.lost, lost);
    assert_eq!(r.info().blocks, 5);
    assert_eq!(r.info().events, 5000);
    assert_eq!(r.info().file_bytes, bytes.len() as u64);
}

#[test]
fn large_streams_split_into_bounded_blocks_on_their_own() {
    let events = synth::events(40_000, 3);
    let mut w = TraceWriter::new(Vec::new(), &meta()).unwrap();
    for e in &events {
        w.push(e).unwrap();
    }
    let (bytes, stats) = w.finish(&Trailer::default()).unwrap();
    assert!(stats.blocks > 3, "{stats:?}");
    let (back, d) = read_all(&bytes).unwrap();
    assert_eq!(back.len(), events.len());
    assert!(back == events);
    assert!(!d.any());
}

#[test]
fn files_are_created_0600_even_over_an_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.pmw");
    std::fs::write(&p, b"old").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    let w = TraceWriter::create(&p, &meta()).unwrap();
    w.finish(&Trailer::default()).unwrap();
    let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let mut r = pmuwatch::trace::open(&p).unwrap();
    assert_eq!(r.by_ref().count(), 0);
    assert!(r.damage().clean_end);
}

#[test]
fn a_cut_at_every_byte_reads_back_to_the_last_complete_block() {
    let events = synth::events(120, 11);
    let per_block = 25;
    let bytes = small_file(&events, per_block);
    // Where the events end: the header + meta, then each block.
    let first_block = bytes
        .windows(4)
        .position(|w| w == format::SYNC)
        .expect("a block");
    for cut in 0..bytes.len() {
        let res = read_all(&bytes[..cut]);
        if cut < first_block {
            assert!(res.is_err(), "cut {cut} inside the header must be an error");
            continue;
        }
        let (back, d) = res.unwrap_or_else(|e| panic!("cut {cut}: {e}"));
        assert!(
            back.len() % per_block == 0 || back.len() == events.len(),
            "only whole blocks, cut {cut}"
        );
        assert_eq!(back[..], events[..back.len()], "cut {cut}");
        assert!(!d.clean_end && d.any(), "cut {cut} must be reported");
        assert_eq!(
            d.bad_blocks + d.skipped_bytes + d.bad_records,
            0,
            "cut {cut}: {d:?}"
        );
    }
    // The whole file, and one cut exactly between blocks.
    let (back, d) = read_all(&bytes).unwrap();
    assert_eq!(back, events);
    assert!(!d.any());
}

#[test]
fn every_single_bit_flip_is_an_error_or_a_reported_skip() {
    let events = synth::events(60, 5);
    let bytes = small_file(&events, 20);
    for bit in 0..bytes.len() * 8 {
        let mut b = bytes.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        match read_all(&b) {
            Err(_) => {}
            Ok((back, d)) => {
                assert!(d.any(), "bit {bit} flipped without a report");
                // Whatever was read is original data, in order: damaged blocks are dropped.
                let mut it = events.iter();
                for e in &back {
                    assert!(
                        it.any(|o| o == e),
                        "bit {bit}: an event not in the original"
                    );
                }
                assert!(
                    back.len() == 60 || back.len() == 40,
                    "bit {bit}: {}",
                    back.len()
                );
            }
        }
    }
}

#[test]
fn a_damaged_block_in_the_middle_is_skipped_and_counted() {
    let events = synth::events(300, 9);
    let bytes = small_file(&events, 100);
    let syncs: Vec<usize> = bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == format::SYNC)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(syncs.len(), 4, "3 event blocks and the end block");
    // Payload damage in block 2: its header still gives the length, so block 3 reads.
    let mut b = bytes.clone();
    b[syncs[1] + format::BLOCK_HEADER_LEN + 5] ^= 0x40;
    let (back, d) = read_all(&b).unwrap();
    assert_eq!(back.len(), 200);
    assert_eq!(back[..100], events[..100]);
    assert_eq!(back[100..], events[200..]);
    assert_eq!((d.bad_blocks, d.bad_block_records), (1, 100));
    assert!(d.clean_end);
    assert!(
        d.describe().contains("1 damaged block(s) skipped"),
        "{}",
        d.describe()
    );
    // Header damage in block 2 (its length field): the reader finds block 3 by its sync word.
    let mut b = bytes.clone();
    b[syncs[1] + 9] ^= 0xff;
    let (back, d) = read_all(&b).unwrap();
    assert_eq!(back.len(), 200);
    assert_eq!(back[100..], events[200..]);
    assert_eq!(d.skipped_bytes as usize, syncs[2] - syncs[1]);
    assert!(d.clean_end);
}

#[test]
fn a_future_format_is_a_clear_error_naming_the_writer() {
    let mut b = small_file(&synth::events(10, 1), 10);
    b[8..12].copy_from_slice(&(format::FORMAT_VERSION + 1).to_le_bytes());
    let e = read_all(&b).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, TraceError::FutureFormat { .. }), "{msg}");
    assert!(msg.contains("newer pmuwatch"), "{msg}");
    assert!(msg.contains(env!("CARGO_PKG_VERSION")), "{msg}");
    assert!(!msg.contains('\n'));
}

#[test]
fn empty_short_and_foreign_files_are_clear_errors() {
    assert!(matches!(read_all(b""), Err(TraceError::Empty)));
    assert!(matches!(read_all(b"PMUW"), Err(TraceError::NotATrace)));
    assert!(matches!(
        read_all(b"{\"kind\":\"not a trace\"}\n"),
        Err(TraceError::NotATrace)
    ));
    assert!(matches!(
        read_all(b"PMUWATCH\x01\0\0\0"),
        Err(TraceError::ShortHeader)
    ));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("empty");
    std::fs::write(&p, b"").unwrap();
    let err = pmuwatch::trace::open(&p).err().unwrap().to_string();
    assert!(err.contains("empty") && err.contains("fix:"), "{err}");
    let err = pmuwatch::trace::open(&dir.path().join("missing"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("cannot open") && err.contains("fix:"), "{err}");
}

#[test]
fn garbage_appended_after_a_clean_end_is_reported() {
    let mut b = small_file(&synth::events(10, 1), 10);
    b.extend_from_slice(&[0xabu8; 100]);
    let (back, d) = read_all(&b).unwrap();
    assert_eq!(back.len(), 10);
    assert!(
        d.clean_end && d.skipped_bytes + d.truncated_tail_bytes == 100,
        "{d:?}"
    );
}

#[test]
fn the_fuzz_seeds_are_complete_traces() {
    let seeds = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/trace_reader");
    let mut n = 0;
    for f in std::fs::read_dir(&seeds).unwrap().flatten() {
        let mut r = TraceReader::open(&f.path()).unwrap();
        let events = r.by_ref().count();
        assert!(events > 0, "{}", f.path().display());
        assert!(
            !r.damage().any(),
            "{}: {}",
            f.path().display(),
            r.damage().describe()
        );
        n += 1;
    }
    assert!(n >= 2);
}
