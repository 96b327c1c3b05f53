//! On-disk layout of a trace file, version 1. All file-level integers are little endian; the
//! event records inside blocks are the raw `common` ABI bytes (native order of the recording
//! machine, flagged in the preamble).
//!
//! ```text
//! preamble   magic "PMUWATCH" | format u32 | flags u32 | abi u32 | tool_len u32 | meta_len u32
//!            | crc32 u32 (of the 28 bytes before it, the tool version and the meta)
//!            | tool version (UTF-8, tool_len bytes) | meta (JSON, meta_len bytes)
//! block*     sync "PWBK" | kind u16 | codec u16 | stored_len u32 | raw_len u32 | records u32
//!            | payload crc32 u32 | first_ts u64 | last_ts u64 | 0 u32 | header crc32 u32
//!            | payload (stored_len bytes)
//! ```
//!
//! Every block stands alone: a reader that meets a damaged one skips it (its length is covered
//! by the header checksum; a damaged header makes the reader scan for the next sync word), and
//! a file cut anywhere reads back up to the last complete block. An `End` block marks a
//! recording that finished cleanly.
//!
//! The first 12 bytes (magic, format) and the tool version position stay where they are in
//! every future format, so an old reader can say which newer pmuwatch wrote a file.

/// First bytes of every trace file.
pub const MAGIC: [u8; 8] = *b"PMUWATCH";
/// The format this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
/// Fixed part of the preamble, before the tool version and the meta.
pub const PREAMBLE_LEN: usize = 32;
/// Start of every block header.
pub const SYNC: [u8; 4] = *b"PWBK";
pub const BLOCK_HEADER_LEN: usize = 48;

/// Preamble flag: event records are little endian.
pub const FLAG_LITTLE_ENDIAN: u32 = 1;

/// Bounds that keep a reader's memory small whatever a file claims.
pub const MAX_TOOL_VERSION_LEN: usize = 256;
pub const MAX_META_LEN: usize = 64 << 20;
/// Largest decompressed block; writers stay far below (see `writer::BLOCK_TARGET`).
pub const MAX_RAW_BLOCK: usize = 8 << 20;
/// Largest stored (compressed) payload: zstd's worst case for `MAX_RAW_BLOCK` is a little
/// above it.
pub const MAX_STORED_BLOCK: usize = MAX_RAW_BLOCK + (MAX_RAW_BLOCK >> 7) + 1024;

/// What a block holds.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// Concatenated event records.
    Events = 1,
    /// The trailer (JSON): the recording finished cleanly.
    End = 2,
}

impl BlockKind {
    pub fn from_u16(v: u16) -> Option<BlockKind> {
        match v {
            1 => Some(BlockKind::Events),
            2 => Some(BlockKind::End),
            _ => None,
        }
    }
}

/// How a block payload is stored.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    Raw = 0,
    Zstd = 1,
}

impl Codec {
    pub fn from_u16(v: u16) -> Option<Codec> {
        match v {
            0 => Some(Codec::Raw),
            1 => Some(Codec::Zstd),
            _ => None,
        }
    }
}

/// A block header as stored; `kind` and `codec` are kept raw so that a reader can skip blocks
/// of kinds it does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    pub kind: u16,
    pub codec: u16,
    pub stored_len: u32,
    pub raw_len: u32,
    pub records: u32,
    pub payload_crc: u32,
    pub first_ts: u64,
    pub last_ts: u64,
}

impl BlockHeader {
    pub fn encode(&self) -> [u8; BLOCK_HEADER_LEN] {
        let mut b = [0u8; BLOCK_HEADER_LEN];
        b[0..4].copy_from_slice(&SYNC);
        b[4..6].copy_from_slice(&self.kind.to_le_bytes());
        b[6..8].copy_from_slice(&self.codec.to_le_bytes());
        b[8..12].copy_from_slice(&self.stored_len.to_le_bytes());
        b[12..16].copy_from_slice(&self.raw_len.to_le_bytes());
        b[16..20].copy_from_slice(&self.records.to_le_bytes());
        b[20..24].copy_from_slice(&self.payload_crc.to_le_bytes());
        b[24..32].copy_from_slice(&self.first_ts.to_le_bytes());
        b[32..40].copy_from_slice(&self.last_ts.to_le_bytes());
        // b[40..44] reserved, zero, covered by the checksum like every other header byte.
        let crc = crc32fast::hash(&b[..44]);
        b[44..48].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// `None` unless `b` starts with the sync word and its header checksum holds.
    pub fn decode(b: &[u8]) -> Option<BlockHeader> {
        let b: &[u8; BLOCK_HEADER_LEN] = b.get(..BLOCK_HEADER_LEN)?.try_into().ok()?;
        if b[0..4] != SYNC || crc32fast::hash(&b[..44]) != le32(b, 44) {
            return None;
        }
        Some(BlockHeader {
            kind: le16(b, 4),
            codec: le16(b, 6),
            stored_len: le32(b, 8),
            raw_len: le32(b, 12),
            records: le32(b, 16),
            payload_crc: le32(b, 20),
            first_ts: le64(b, 24),
            last_ts: le64(b, 32),
        })
    }
}

/// The fixed part of the preamble.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preamble {
    pub format: u32,
    pub flags: u32,
    pub abi: u32,
    pub tool_len: u32,
    pub meta_len: u32,
    pub crc: u32,
}

impl Preamble {
    pub fn encode(&self) -> [u8; PREAMBLE_LEN] {
        let mut b = [0u8; PREAMBLE_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&self.format.to_le_bytes());
        b[12..16].copy_from_slice(&self.flags.to_le_bytes());
        b[16..20].copy_from_slice(&self.abi.to_le_bytes());
        b[20..24].copy_from_slice(&self.tool_len.to_le_bytes());
        b[24..28].copy_from_slice(&self.meta_len.to_le_bytes());
        b[28..32].copy_from_slice(&self.crc.to_le_bytes());
        b
    }

    /// Fields of a full preamble; the caller has checked the magic.
    pub fn decode(b: &[u8; PREAMBLE_LEN]) -> Preamble {
        Preamble {
            format: le32(b, 8),
            flags: le32(b, 12),
            abi: le32(b, 16),
            tool_len: le32(b, 20),
            meta_len: le32(b, 24),
            crc: le32(b, 28),
        }
    }

    /// The checksum over the fixed fields, the tool version and the meta.
    pub fn checksum(fixed: &[u8; PREAMBLE_LEN], tool: &[u8], meta: &[u8]) -> u32 {
        let mut h = crc32fast::Hasher::new();
        h.update(&fixed[..28]);
        h.update(tool);
        h.update(meta);
        h.finalize()
    }
}

/// Flags for records written by this machine.
pub fn native_flags() -> u32 {
    if cfg!(target_endian = "little") {
        FLAG_LITTLE_ENDIAN
    } else {
        0
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_header_round_trips_and_rejects_any_flipped_bit() {
        let h = BlockHeader {
            kind: 1,
            codec: 1,
            stored_len: 1234,
            raw_len: 5678,
            records: 99,
            payload_crc: 0xdead_beef,
            first_ts: 10,
            last_ts: 20,
        };
        let b = h.encode();
        assert_eq!(BlockHeader::decode(&b), Some(h));
        for bit in 0..BLOCK_HEADER_LEN * 8 {
            let mut c = b;
            c[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(BlockHeader::decode(&c), None, "bit {bit}");
        }
        assert_eq!(BlockHeader::decode(&b[..47]), None);
    }
}
