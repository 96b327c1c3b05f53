//! Writing trace files: preamble + meta, then one compressed, checksummed block at a time.
//!
//! Each finished block goes to the file with one `write_all`, with no user-space buffer
//! behind it, so whatever stops the recorder (Ctrl-C, SIGKILL, a full disk) leaves every
//! earlier block readable. The recorder calls [`TraceWriter::flush_block`] on a timer as well,
//! so a quiet stream still reaches the disk within about a second.

use std::{
    fs::File,
    io::{self, Write},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::Path,
};

use common::Event;

use super::{
    format::{BLOCK_HEADER_LEN, BlockHeader, BlockKind, Codec, FORMAT_VERSION, Preamble},
    meta::{Meta, Trailer},
};

/// Raw bytes gathered before a block is compressed and written.
pub const BLOCK_TARGET: usize = 256 << 10;
/// zstd level: 1 keeps up with the ring buffer at a few percent of one CPU and already packs
/// the records (mostly zero padding and repeated headers) about 10x.
const ZSTD_LEVEL: i32 = 1;

/// Counters of what was written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub events: u64,
    pub blocks: u64,
    pub raw_bytes: u64,
    /// Bytes in the file so far (preamble, meta, block headers, payloads).
    pub file_bytes: u64,
    /// Sum of `Lost::count` over the records written.
    pub lost: u64,
}

pub struct TraceWriter<W: Write> {
    out: W,
    raw: Vec<u8>,
    records: u32,
    first_ts: u64,
    last_ts: u64,
    zstd: zstd::bulk::Compressor<'static>,
    stored: Vec<u8>,
    stats: WriteStats,
}

/// Creates (or truncates) `path` with mode 0600: a trace can hold command lines, task names
/// and addresses of the traced program.
pub fn create_file(path: &Path) -> io::Result<File> {
    let file = File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // `mode` only applies to a new file; an old one keeps its bits unless set here.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

impl TraceWriter<File> {
    /// [`create_file`], then the preamble.
    pub fn create(path: &Path, meta: &Meta) -> io::Result<TraceWriter<File>> {
        TraceWriter::new(create_file(path)?, meta)
    }
}

impl<W: Write> TraceWriter<W> {
    /// Writes the preamble and meta to `out`.
    pub fn new(mut out: W, meta: &Meta) -> io::Result<TraceWriter<W>> {
        let tool = env!("CARGO_PKG_VERSION").as_bytes();
        let meta_json = serde_json::to_vec(meta).map_err(io::Error::other)?;
        let too_big = |_| io::Error::other("trace meta too large");
        let mut pre = Preamble {
            format: FORMAT_VERSION,
            flags: super::format::native_flags(),
            abi: common::ABI_VERSION,
            tool_len: u32::try_from(tool.len()).map_err(too_big)?,
            meta_len: u32::try_from(meta_json.len()).map_err(too_big)?,
            crc: 0,
        };
        if meta_json.len() > super::format::MAX_META_LEN {
            return Err(io::Error::other("trace meta too large"));
        }
        pre.crc = Preamble::checksum(&pre.encode(), tool, &meta_json);
        let mut head = Vec::with_capacity(pre.encode().len() + tool.len() + meta_json.len());
        head.extend_from_slice(&pre.encode());
        head.extend_from_slice(tool);
        head.extend_from_slice(&meta_json);
        out.write_all(&head)?;
        out.flush()?;
        Ok(TraceWriter {
            out,
            raw: Vec::with_capacity(BLOCK_TARGET + 512),
            records: 0,
            first_ts: 0,
            last_ts: 0,
            zstd: zstd::bulk::Compressor::new(ZSTD_LEVEL)?,
            stored: Vec::new(),
            stats: WriteStats {
                file_bytes: head.len() as u64,
                ..WriteStats::default()
            },
        })
    }

    /// Appends one event; writes a block when enough have gathered.
    pub fn push(&mut self, e: &Event) -> io::Result<()> {
        let ts = e.header().ts_ns;
        if self.records == 0 {
            self.first_ts = ts;
            self.last_ts = ts;
        }
        self.first_ts = self.first_ts.min(ts);
        self.last_ts = self.last_ts.max(ts);
        self.raw.extend_from_slice(e.bytes());
        self.records += 1;
        self.stats.events += 1;
        if let Event::Lost(l) = e {
            self.stats.lost = self.stats.lost.saturating_add(l.count);
        }
        if self.raw.len() >= BLOCK_TARGET {
            self.flush_block()?;
        }
        Ok(())
    }

    /// Writes the events gathered so far as one block (nothing when there are none).
    pub fn flush_block(&mut self) -> io::Result<()> {
        if self.records == 0 {
            return Ok(());
        }
        let raw = std::mem::take(&mut self.raw);
        let res = self.write_block(BlockKind::Events, &raw, self.records);
        self.raw = raw;
        self.raw.clear();
        self.records = 0;
        self.stats.blocks += 1;
        res
    }

    /// Flushes the last events and writes the `End` block; the file is then complete.
    pub fn finish(mut self, trailer: &Trailer) -> io::Result<(W, WriteStats)> {
        self.flush_block()?;
        let mut t = trailer.clone();
        t.events = self.stats.events;
        t.blocks = self.stats.blocks;
        t.lost = self.stats.lost;
        let json = serde_json::to_vec(&t).map_err(io::Error::other)?;
        self.first_ts = 0;
        self.last_ts = 0;
        self.write_block(BlockKind::End, &json, 0)?;
        self.out.flush()?;
        Ok((self.out, self.stats))
    }

    pub fn stats(&self) -> WriteStats {
        self.stats
    }

    pub fn get_ref(&self) -> &W {
        &self.out
    }

    fn write_block(&mut self, kind: BlockKind, raw: &[u8], records: u32) -> io::Result<()> {
        let codec = if kind == BlockKind::Events {
            Codec::Zstd
        } else {
            Codec::Raw
        };
        self.stored.clear();
        self.stored.resize(BLOCK_HEADER_LEN, 0);
        match codec {
            Codec::Zstd => {
                let bound = zstd::zstd_safe::compress_bound(raw.len());
                self.stored.reserve(bound);
                let start = self.stored.len();
                self.stored.resize(start + bound, 0);
                let n = self
                    .zstd
                    .compress_to_buffer(raw, &mut self.stored[start..])?;
                self.stored.truncate(start + n);
            }
            Codec::Raw => self.stored.extend_from_slice(raw),
        }
        let payload = &self.stored[BLOCK_HEADER_LEN..];
        let too_big = |_| io::Error::other("trace block too large");
        let header = BlockHeader {
            kind: kind as u16,
            codec: codec as u16,
            stored_len: u32::try_from(payload.len()).map_err(too_big)?,
            raw_len: u32::try_from(raw.len()).map_err(too_big)?,
            records,
            payload_crc: crc32fast::hash(payload),
            first_ts: self.first_ts,
            last_ts: self.last_ts,
        };
        self.stored[..BLOCK_HEADER_LEN].copy_from_slice(&header.encode());
        self.stats.raw_bytes += raw.len() as u64;
        // One write of header + payload: a block is on disk whole or reads as a cut tail.
        self.out.write_all(&self.stored)?;
        self.stats.file_bytes += self.stored.len() as u64;
        Ok(())
    }
}
