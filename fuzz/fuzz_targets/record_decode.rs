//! Ring-buffer records as the kernel hands them over, and the instruction words a trap
//! record carries: any bytes decode to an error or to a record that round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = common::decode(data) {
        // A decoded record is the input's prefix of the record's own size.
        assert_eq!(e.bytes(), &data[..e.bytes().len()]);
        assert_eq!(common::decode(e.bytes()), Ok(e.clone()));
    }
    let _ = common::insn::decode_at(true, data);
    let _ = common::insn::decode_at(false, data);
    if data.len() >= 4 {
        let _ =
            common::insn::decode_arm64(u32::from_le_bytes([data[0], data[1], data[2], data[3]]));
    }
});
