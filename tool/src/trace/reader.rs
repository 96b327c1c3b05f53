//! Reading trace files as a stream of events, one block in memory at a time.
//!
//! Nothing in a file is trusted: every length is bounded before use, every block is checked
//! against its checksums, and whatever cannot be read is skipped and counted in [`Damage`]
//! rather than failing the whole file. Only a file that is not a trace at all (or one this
//! build cannot understand) is an error.

use std::{
    fs::File,
    io::{self, BufReader, Read},
    path::Path,
};

use common::Event;
use serde::Serialize;

use super::{
    TraceError,
    format::{
        BLOCK_HEADER_LEN, BlockHeader, BlockKind, Codec, FORMAT_VERSION, MAGIC, MAX_META_LEN,
        MAX_RAW_BLOCK, MAX_STORED_BLOCK, MAX_TOOL_VERSION_LEN, PREAMBLE_LEN, Preamble, SYNC,
    },
    meta::{Meta, Trailer},
};

/// What a reader could not use. All zero with `clean_end` = the file read back whole.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Damage {
    /// The `End` block was read: the recorder finished the file.
    pub clean_end: bool,
    /// Bytes at the end of the file that do not make a whole block (the recorder was killed,
    /// the disk filled, or the file was cut).
    pub truncated_tail_bytes: u64,
    /// Blocks whose payload failed its checksum or would not decompress: skipped.
    pub bad_blocks: u64,
    /// Event records those blocks claimed to hold (their headers said so; not verified).
    pub bad_block_records: u64,
    /// Bytes skipped while looking for the next block after a damaged block header.
    pub skipped_bytes: u64,
    /// Blocks of a kind or codec this build does not know: skipped.
    pub unknown_blocks: u64,
    /// Records inside good blocks that did not decode (unknown kind, wrong size): skipped.
    pub bad_records: u64,
    /// An I/O error that ended reading early.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub io_error: Option<String>,
}

impl Damage {
    /// True when something was cut or skipped, or the recording did not finish.
    pub fn any(&self) -> bool {
        !self.clean_end || self.is_damaged()
    }

    /// True when bytes were cut or skipped (a missing `End` block alone is not damage).
    pub fn is_damaged(&self) -> bool {
        self.truncated_tail_bytes > 0
            || self.bad_blocks > 0
            || self.skipped_bytes > 0
            || self.unknown_blocks > 0
            || self.bad_records > 0
            || self.io_error.is_some()
    }

    /// One line for people: what was cut, or "complete".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.truncated_tail_bytes > 0 {
            parts.push(format!(
                "{} bytes cut at the end (incomplete last block)",
                self.truncated_tail_bytes
            ));
        }
        if self.bad_blocks > 0 {
            parts.push(format!(
                "{} damaged block(s) skipped (about {} events, checksum failed)",
                self.bad_blocks, self.bad_block_records
            ));
        }
        if self.skipped_bytes > 0 {
            parts.push(format!("{} unreadable bytes skipped", self.skipped_bytes));
        }
        if self.unknown_blocks > 0 {
            parts.push(format!(
                "{} block(s) of an unknown kind skipped",
                self.unknown_blocks
            ));
        }
        if self.bad_records > 0 {
            parts.push(format!(
                "{} undecodable record(s) skipped",
                self.bad_records
            ));
        }
        if let Some(e) = &self.io_error {
            parts.push(format!("read error: {e}"));
        }
        if !self.clean_end {
            parts.push("no end marker: the recording did not finish cleanly".to_string());
        }
        if parts.is_empty() {
            "complete".to_string()
        } else {
            parts.join("; ")
        }
    }
}

/// A bounded window over the input.
struct Input<R> {
    src: R,
    buf: Vec<u8>,
    /// Valid bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    eof: bool,
    io_error: Option<io::Error>,
    /// File offset of `buf[start]`.
    offset: u64,
}

impl<R: Read> Input<R> {
    fn new(src: R) -> Input<R> {
        Input {
            src,
            buf: Vec::new(),
            start: 0,
            end: 0,
            eof: false,
            io_error: None,
            offset: 0,
        }
    }

    fn avail(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Tries to have `n` bytes available; fewer only at the end of the input (or on an error).
    /// `n` is bounded by the callers (`MAX_STORED_BLOCK + BLOCK_HEADER_LEN` at most).
    fn fill(&mut self, n: usize) -> usize {
        if self.end - self.start >= n || self.eof {
            return self.end - self.start;
        }
        // Compact, then grow to `n` (plus room for bigger reads), then read.
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        let want = n.max(64 << 10);
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        while self.end < n {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.io_error = Some(e);
                    self.eof = true;
                    break;
                }
            }
        }
        self.end - self.start
    }

    fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.offset += n as u64;
    }
}

/// File-level facts, for `report --json` and the views.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FileInfo {
    pub format_version: u32,
    pub abi_version: u32,
    pub tool_version: String,
    pub file_bytes: u64,
    pub blocks: u64,
    pub events: u64,
    pub damage: Damage,
}

/// Streams the events of a trace. Iterate it for events; check [`TraceReader::damage`] after.
pub struct TraceReader<R> {
    input: Input<R>,
    format: u32,
    abi: u32,
    tool_version: String,
    meta: Meta,
    trailer: Option<Trailer>,
    damage: Damage,
    /// Decompressed records of the current block and the read position in it.
    raw: Vec<u8>,
    pos: usize,
    zstd: Option<zstd::bulk::Decompressor<'static>>,
    blocks: u64,
    events: u64,
    done: bool,
}

impl TraceReader<BufReader<File>> {
    /// Opens `path` and reads its preamble and meta.
    pub fn open(path: &Path) -> Result<TraceReader<BufReader<File>>, TraceError> {
        let file = File::open(path).map_err(|e| TraceError::Open {
            path: path.display().to_string(),
            source: e,
        })?;
        TraceReader::new(BufReader::with_capacity(256 << 10, file))
    }
}

impl<R: Read> TraceReader<R> {
    /// Reads the preamble and meta from `src`.
    pub fn new(src: R) -> Result<TraceReader<R>, TraceError> {
        let mut input = Input::new(src);
        let have = input.fill(PREAMBLE_LEN);
        if let Some(e) = input.io_error.take() {
            return Err(TraceError::Io(e));
        }
        if have == 0 {
            return Err(TraceError::Empty);
        }
        let head = input.avail();
        if head.len() < MAGIC.len() || head[..MAGIC.len()] != MAGIC {
            return Err(TraceError::NotATrace);
        }
        let Ok(fixed) = <[u8; PREAMBLE_LEN]>::try_from(head.get(..PREAMBLE_LEN).unwrap_or(&[]))
        else {
            return Err(TraceError::ShortHeader);
        };
        let pre = Preamble::decode(&fixed);
        if pre.format > FORMAT_VERSION {
            // Tool version sits at the same place in every format: name it if it reads.
            let tool = if (pre.tool_len as usize) <= MAX_TOOL_VERSION_LEN {
                let n = PREAMBLE_LEN + pre.tool_len as usize;
                let got = input.fill(n);
                input
                    .avail()
                    .get(PREAMBLE_LEN..n.min(got))
                    .and_then(|b| std::str::from_utf8(b).ok())
                    .map(str::to_string)
            } else {
                None
            };
            return Err(TraceError::FutureFormat {
                format: pre.format,
                tool,
            });
        }
        if pre.format == 0 {
            return Err(TraceError::BadHeader("format version 0".into()));
        }
        let tool_len = pre.tool_len as usize;
        let meta_len = pre.meta_len as usize;
        if tool_len > MAX_TOOL_VERSION_LEN || meta_len > MAX_META_LEN {
            return Err(TraceError::BadHeader("header lengths out of range".into()));
        }
        let need = PREAMBLE_LEN + tool_len + meta_len;
        if input.fill(need) < need {
            if let Some(e) = input.io_error.take() {
                return Err(TraceError::Io(e));
            }
            return Err(TraceError::ShortHeader);
        }
        let all = input.avail();
        let tool = &all[PREAMBLE_LEN..PREAMBLE_LEN + tool_len];
        let meta_bytes = &all[PREAMBLE_LEN + tool_len..need];
        if Preamble::checksum(&fixed, tool, meta_bytes) != pre.crc {
            return Err(TraceError::BadHeader("header checksum mismatch".into()));
        }
        let tool_version = String::from_utf8_lossy(tool).into_owned();
        if pre.abi > common::ABI_VERSION {
            return Err(TraceError::FutureAbi {
                abi: pre.abi,
                tool: tool_version,
            });
        }
        let native = super::format::native_flags() & super::format::FLAG_LITTLE_ENDIAN;
        if pre.flags & super::format::FLAG_LITTLE_ENDIAN != native {
            return Err(TraceError::ForeignEndian);
        }
        let meta: Meta = serde_json::from_slice(meta_bytes)
            .map_err(|e| TraceError::BadHeader(format!("meta is not valid JSON: {e}")))?;
        input.consume(need);
        Ok(TraceReader {
            input,
            format: pre.format,
            abi: pre.abi,
            tool_version,
            meta,
            trailer: None,
            damage: Damage::default(),
            raw: Vec::new(),
            pos: 0,
            zstd: None,
            blocks: 0,
            events: 0,
            done: false,
        })
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The trailer, once the `End` block has been read (after iteration).
    pub fn trailer(&self) -> Option<&Trailer> {
        self.trailer.as_ref()
    }

    /// What was cut or skipped so far; final once the iterator returned `None`.
    pub fn damage(&self) -> &Damage {
        &self.damage
    }

    /// File facts so far; final once the iterator returned `None`.
    pub fn info(&self) -> FileInfo {
        FileInfo {
            format_version: self.format,
            abi_version: self.abi,
            tool_version: self.tool_version.clone(),
            file_bytes: self.input.offset + (self.input.end - self.input.start) as u64,
            blocks: self.blocks,
            events: self.events,
            damage: self.damage.clone(),
        }
    }

    /// Loads the next good events block into `self.raw`; false at the end of the file.
    fn next_block(&mut self) -> bool {
        loop {
            let have = self.input.fill(BLOCK_HEADER_LEN);
            if have == 0 {
                return self.finish_input();
            }
            let Some(h) = BlockHeader::decode(self.input.avail()) else {
                if have < BLOCK_HEADER_LEN {
                    self.damage.truncated_tail_bytes += have as u64;
                    self.input.consume(have);
                    return self.finish_input();
                }
                self.resync();
                continue;
            };
            let stored = h.stored_len as usize;
            let raw_len = h.raw_len as usize;
            let (Some(kind), Some(codec)) = (BlockKind::from_u16(h.kind), Codec::from_u16(h.codec))
            else {
                // A checksummed header of a kind we do not know: skip it whole if it is sane.
                self.damage.unknown_blocks += 1;
                self.skip_block(stored);
                continue;
            };
            if stored > MAX_STORED_BLOCK || raw_len > MAX_RAW_BLOCK {
                // A header that checks out but claims more than any writer produces.
                self.damage.unknown_blocks += 1;
                self.skip_block(stored);
                continue;
            }
            let total = BLOCK_HEADER_LEN + stored;
            let have = self.input.fill(total);
            if have < total {
                self.damage.truncated_tail_bytes += have as u64;
                self.input.consume(have);
                return self.finish_input();
            }
            let payload = &self.input.avail()[BLOCK_HEADER_LEN..total];
            let ok = crc32fast::hash(payload) == h.payload_crc
                && unpack(codec, payload, raw_len, &mut self.raw, &mut self.zstd);
            self.input.consume(total);
            if !ok {
                self.damage.bad_blocks += 1;
                self.damage.bad_block_records += u64::from(h.records);
                continue;
            }
            match kind {
                BlockKind::Events => {
                    self.blocks += 1;
                    self.pos = 0;
                    return true;
                }
                BlockKind::End => {
                    match serde_json::from_slice::<Trailer>(&self.raw) {
                        Ok(t) => {
                            self.trailer = Some(t);
                            self.damage.clean_end = true;
                        }
                        Err(_) => self.damage.bad_blocks += 1,
                    }
                    self.raw.clear();
                }
            }
        }
    }

    /// Skips a block whose header is good but whose payload cannot be used.
    fn skip_block(&mut self, stored: usize) {
        let total = BLOCK_HEADER_LEN.saturating_add(stored.min(MAX_STORED_BLOCK));
        let have = self.input.fill(total);
        if have < total {
            self.damage.truncated_tail_bytes += have as u64;
        }
        self.input.consume(have.min(total));
    }

    /// After a bad block header: drop bytes up to the next sync word that starts a good
    /// header (or the end of the file), counting them.
    fn resync(&mut self) {
        // The byte at the current position is known bad: start looking one further.
        self.input.consume(1);
        self.damage.skipped_bytes += 1;
        loop {
            let have = self.input.fill(BLOCK_HEADER_LEN);
            if have == 0 {
                return;
            }
            let window = self.input.avail();
            match window.windows(SYNC.len()).position(|w| w == SYNC) {
                Some(at) => {
                    self.input.consume(at);
                    self.damage.skipped_bytes += at as u64;
                    let have = self.input.fill(BLOCK_HEADER_LEN);
                    if have < BLOCK_HEADER_LEN || BlockHeader::decode(self.input.avail()).is_some()
                    {
                        // A good header, or too little left to tell: let the caller decide.
                        return;
                    }
                    self.input.consume(1);
                    self.damage.skipped_bytes += 1;
                }
                None => {
                    // Keep the last bytes: a sync word may straddle the window's edge.
                    let drop = window.len().saturating_sub(SYNC.len() - 1).max(1);
                    let drop = if self.input.eof { window.len() } else { drop };
                    self.input.consume(drop);
                    self.damage.skipped_bytes += drop as u64;
                }
            }
        }
    }

    fn finish_input(&mut self) -> bool {
        if let Some(e) = self.input.io_error.take() {
            self.damage.io_error = Some(e.to_string());
        }
        self.done = true;
        false
    }
}

/// Decompresses (or copies) a payload into `out`; false unless it yields exactly `raw_len`.
fn unpack(
    codec: Codec,
    payload: &[u8],
    raw_len: usize,
    out: &mut Vec<u8>,
    zstd: &mut Option<zstd::bulk::Decompressor<'static>>,
) -> bool {
    out.clear();
    match codec {
        Codec::Raw => {
            out.extend_from_slice(payload);
            out.len() == raw_len
        }
        Codec::Zstd => {
            if zstd.is_none() {
                *zstd = zstd::bulk::Decompressor::new().ok();
            }
            let Some(d) = zstd.as_mut() else { return false };
            out.reserve(raw_len);
            // Capacity bounds the output: a payload claiming more is an error, not a bomb.
            match d.decompress_to_buffer(payload, out) {
                Ok(n) => n == raw_len,
                Err(_) => false,
            }
        }
    }
}

impl<R: Read> Iterator for TraceReader<R> {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        loop {
            if self.pos >= self.raw.len() {
                if self.done || !self.next_block() {
                    self.raw.clear();
                    return None;
                }
                continue;
            }
            let rest = &self.raw[self.pos..];
            let size = match common::decode::read_header(rest) {
                Ok(h) => h.size as usize,
                Err(_) => 0,
            };
            if size < std::mem::size_of::<common::Header>() || size > rest.len() {
                // No way to find the next record boundary: drop the rest of the block.
                self.damage.bad_records += 1;
                self.pos = self.raw.len();
                continue;
            }
            self.pos += size;
            match common::decode(&rest[..size]) {
                Ok(e) => {
                    self.events += 1;
                    return Some(e);
                }
                Err(_) => self.damage.bad_records += 1,
            }
        }
    }
}
