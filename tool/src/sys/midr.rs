//! arm64 Main ID Register (MIDR_EL1) decoding: which core design a CPU is.
//! Layout: implementer [31:24], variant [23:20], architecture [19:16], part [15:4],
//! revision [3:0] (Arm ARM D23.2). Part numbers from the kernel's `arch/arm64/include/asm/cputype.h`.

/// Builds a MIDR from the fields `/proc/cpuinfo` prints.
pub fn from_fields(implementer: u64, variant: u64, arch: u64, part: u64, revision: u64) -> u64 {
    (implementer & 0xff) << 24
        | (variant & 0xf) << 20
        | (arch & 0xf) << 16
        | (part & 0xfff) << 4
        | (revision & 0xf)
}

/// The core's name (`cortex-a53`), or `impl 0x41 part 0xd03` when unknown.
pub fn part_name(midr: u64) -> String {
    let implementer = (midr >> 24) & 0xff;
    let part = (midr >> 4) & 0xfff;
    let name = match (implementer, part) {
        (0x41, 0xd01) => "cortex-a32",
        (0x41, 0xd02) => "cortex-a34",
        (0x41, 0xd03) => "cortex-a53",
        (0x41, 0xd04) => "cortex-a35",
        (0x41, 0xd05) => "cortex-a55",
        (0x41, 0xd06) => "cortex-a65",
        (0x41, 0xd07) => "cortex-a57",
        (0x41, 0xd08) => "cortex-a72",
        (0x41, 0xd09) => "cortex-a73",
        (0x41, 0xd0a) => "cortex-a75",
        (0x41, 0xd0b) => "cortex-a76",
        (0x41, 0xd0c) => "neoverse-n1",
        (0x41, 0xd0d) => "cortex-a77",
        (0x41, 0xd0e) => "cortex-a76ae",
        (0x41, 0xd40) => "neoverse-v1",
        (0x41, 0xd41) => "cortex-a78",
        (0x41, 0xd42) => "cortex-a78ae",
        (0x41, 0xd43) => "cortex-a65ae",
        (0x41, 0xd44) => "cortex-x1",
        (0x41, 0xd46) => "cortex-a510",
        (0x41, 0xd47) => "cortex-a710",
        (0x41, 0xd48) => "cortex-x2",
        (0x41, 0xd49) => "neoverse-n2",
        (0x41, 0xd4a) => "neoverse-e1",
        (0x41, 0xd4b) => "cortex-a78c",
        (0x41, 0xd4c) => "cortex-x1c",
        (0x41, 0xd4d) => "cortex-a715",
        (0x41, 0xd4e) => "cortex-x3",
        (0x41, 0xd4f) => "neoverse-v2",
        (0x41, 0xd80) => "cortex-a520",
        (0x41, 0xd81) => "cortex-a720",
        (0x41, 0xd82) => "cortex-x4",
        (0x41, 0xd84) => "neoverse-v3",
        (0x41, 0xd85) => "cortex-x925",
        (0x41, 0xd87) => "cortex-a725",
        (0x41, 0xd8e) => "neoverse-n3",
        (0x51, 0x800) => "kryo-2xx-gold",
        (0x51, 0x801) => "kryo-2xx-silver",
        (0x51, 0x803) => "kryo-3xx-silver",
        (0x51, 0x804) => "kryo-4xx-gold",
        (0x51, 0x805) => "kryo-4xx-silver",
        (0x61, 0x022) => "apple-m1-icestorm",
        (0x61, 0x023) => "apple-m1-firestorm",
        (0x61, 0x032) => "apple-m2-blizzard",
        (0x61, 0x033) => "apple-m2-avalanche",
        _ => return format!("impl {implementer:#04x} part {part:#05x}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_lab_cores() {
        assert_eq!(part_name(0x410f_d034), "cortex-a53");
        assert_eq!(part_name(0x410f_d083), "cortex-a72");
        assert_eq!(from_fields(0x41, 0, 0xf, 0xd03, 4), 0x410f_d034);
        assert_eq!(part_name(0x000f_0510), "impl 0x00 part 0x051");
    }
}
