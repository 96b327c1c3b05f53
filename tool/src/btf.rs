//! A small reader of kernel BTF (`/sys/kernel/btf/vmlinux`), enough to find struct member
//! offsets by name at run time. Rust eBPF programs get no CO-RE relocations, so the kernel
//! programs read fields at offsets computed here and handed to them at load time.
//!
//! Format: the kernel's `Documentation/bpf/btf.rst`. A header (magic 0xeB9F), then a type
//! section of variable-length records (type ids start at 1; 0 is `void`) and a string section.
//! Every access is bounds-checked: any byte string gives a value or an error, never a panic.

use std::{fmt, path::Path};

const MAGIC: u16 = 0xeb9f;
/// Nesting limit when following typedef chains and anonymous members (a cycle in corrupt data
/// must end in an error, not a stack overflow).
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BtfError {
    /// Not BTF at all, or a header/section out of bounds.
    Malformed(String),
    /// A type kind this reader does not know: its length is unknown, so parsing cannot go on.
    UnknownKind {
        id: u32,
        kind: u32,
    },
    NoStruct(String),
    NoMember {
        ty: String,
        member: String,
    },
    /// The member is a bitfield or not byte aligned where a byte offset was asked for.
    NotByteAligned {
        member: String,
        bit_offset: u32,
    },
}

impl fmt::Display for BtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BtfError::Malformed(m) => write!(f, "malformed BTF: {m}"),
            BtfError::UnknownKind { id, kind } => {
                write!(f, "BTF type {id} has unknown kind {kind}")
            }
            BtfError::NoStruct(s) => write!(f, "no struct or union `{s}` in BTF"),
            BtfError::NoMember { ty, member } => write!(f, "`{ty}` has no member `{member}`"),
            BtfError::NotByteAligned { member, bit_offset } => {
                write!(f, "`{member}` is at bit {bit_offset}, not a byte boundary")
            }
        }
    }
}

impl std::error::Error for BtfError {}

/// BTF type kinds (`BTF_KIND_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeKind {
    Int,
    Ptr,
    Array,
    Struct,
    Union,
    Enum,
    Fwd,
    Typedef,
    Volatile,
    Const,
    Restrict,
    Func,
    FuncProto,
    Var,
    Datasec,
    Float,
    DeclTag,
    TypeTag,
    Enum64,
}

impl TypeKind {
    fn from_u32(k: u32) -> Option<TypeKind> {
        use TypeKind::*;
        Some(match k {
            1 => Int,
            2 => Ptr,
            3 => Array,
            4 => Struct,
            5 => Union,
            6 => Enum,
            7 => Fwd,
            8 => Typedef,
            9 => Volatile,
            10 => Const,
            11 => Restrict,
            12 => Func,
            13 => FuncProto,
            14 => Var,
            15 => Datasec,
            16 => Float,
            17 => DeclTag,
            18 => TypeTag,
            19 => Enum64,
            _ => return None,
        })
    }

    /// Bytes that follow the 12-byte `btf_type` for a type with `vlen` entries.
    fn extra_len(self, vlen: u32) -> u64 {
        use TypeKind::*;
        let vlen = u64::from(vlen);
        match self {
            Int | Var | DeclTag => 4,
            Array => 12,
            Struct | Union | Datasec | Enum64 => 12 * vlen,
            Enum | FuncProto => 8 * vlen,
            Ptr | Fwd | Typedef | Volatile | Const | Restrict | Func | Float | TypeTag => 0,
        }
    }
}

/// One `btf_type` record (its trailing data stays in the raw bytes).
#[derive(Clone, Copy, Debug)]
struct TypeRec {
    name_off: u32,
    kind: TypeKind,
    vlen: u32,
    kind_flag: bool,
    /// `size` or `type`, depending on the kind.
    size_or_type: u32,
    /// Offset of the trailing data in `Btf::types`.
    extra: usize,
}

/// A struct/union member found by [`Btf::member`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// Offset from the start of the outer struct, in bits (anonymous levels added up).
    pub bit_offset: u32,
    /// Bitfield width in bits, 0 for a plain member.
    pub bitfield_size: u32,
    /// The member's type id.
    pub type_id: u32,
}

impl Member {
    pub fn byte_offset(&self, name: &str) -> Result<u32, BtfError> {
        if self.bitfield_size != 0 || !self.bit_offset.is_multiple_of(8) {
            return Err(BtfError::NotByteAligned {
                member: name.into(),
                bit_offset: self.bit_offset,
            });
        }
        Ok(self.bit_offset / 8)
    }
}

/// Parsed BTF: the type table and string section.
pub struct Btf {
    big_endian: bool,
    types: Vec<u8>,
    strings: Vec<u8>,
    /// `recs[id - 1]` is type `id`.
    recs: Vec<TypeRec>,
}

impl fmt::Debug for Btf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Btf")
            .field("types", &self.recs.len())
            .field("big_endian", &self.big_endian)
            .finish()
    }
}

/// The default location of the running kernel's BTF.
pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

impl Btf {
    /// Reads the running kernel's BTF, with a user-facing error when it is missing.
    pub fn from_sys_fs() -> anyhow::Result<Btf> {
        Self::from_file(Path::new(VMLINUX))
    }

    pub fn from_file(path: &Path) -> anyhow::Result<Btf> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(crate::error::fix(
                    format!(
                        "no BTF: {} is missing (kernel built without CONFIG_DEBUG_INFO_BTF)",
                        path.display()
                    ),
                    "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distribution kernels \
                     are), or mount sysfs on /sys",
                ));
            }
            Err(e) => {
                return Err(crate::error::fix(
                    format!("cannot read BTF {}: {e}", path.display()),
                    "run as root",
                ));
            }
        };
        Btf::parse(&bytes).map_err(|e| {
            crate::error::fix(
                format!("cannot parse BTF {}: {e}", path.display()),
                "report this with `uname -r`; the kernel's BTF may use a newer format",
            )
        })
    }

    /// Parses raw BTF bytes. Never panics.
    pub fn parse(bytes: &[u8]) -> Result<Btf, BtfError> {
        let magic_le =
            u16::from_le_bytes([*bytes.first().unwrap_or(&0), *bytes.get(1).unwrap_or(&0)]);
        let big_endian = match magic_le {
            MAGIC => false,
            m if m.swap_bytes() == MAGIC => true,
            m => return Err(BtfError::Malformed(format!("bad magic {m:#06x}"))),
        };
        let rd = |off: usize| read_u32(bytes, off, big_endian);
        let hdr_len = rd(4)? as usize;
        if hdr_len < 24 {
            return Err(BtfError::Malformed(format!("header length {hdr_len}")));
        }
        let section = |off: u32, len: u32, what: &str| -> Result<Vec<u8>, BtfError> {
            let start = hdr_len
                .checked_add(off as usize)
                .ok_or_else(|| BtfError::Malformed(format!("{what} offset overflows")))?;
            let end = start
                .checked_add(len as usize)
                .ok_or_else(|| BtfError::Malformed(format!("{what} length overflows")))?;
            bytes
                .get(start..end)
                .map(<[u8]>::to_vec)
                .ok_or_else(|| BtfError::Malformed(format!("{what} section out of bounds")))
        };
        let types = section(rd(8)?, rd(12)?, "type")?;
        let strings = section(rd(16)?, rd(20)?, "string")?;
        let mut btf = Btf {
            big_endian,
            types,
            strings,
            recs: Vec::new(),
        };
        btf.index()?;
        Ok(btf)
    }

    fn u32_at(&self, off: usize) -> Result<u32, BtfError> {
        read_u32(&self.types, off, self.big_endian)
    }

    /// Walks the type section once, recording where each type starts.
    fn index(&mut self) -> Result<(), BtfError> {
        let mut off = 0usize;
        let mut recs = Vec::new();
        while off < self.types.len() {
            let id = recs.len() as u32 + 1;
            let name_off = self.u32_at(off)?;
            let info = self.u32_at(off + 4)?;
            let size_or_type = self.u32_at(off + 8)?;
            let kind_raw = (info >> 24) & 0x1f;
            let kind =
                TypeKind::from_u32(kind_raw).ok_or(BtfError::UnknownKind { id, kind: kind_raw })?;
            let vlen = info & 0xffff;
            let extra = off + 12;
            let next = (extra as u64) + kind.extra_len(vlen);
            if next > self.types.len() as u64 {
                return Err(BtfError::Malformed(format!("type {id} runs past the end")));
            }
            recs.push(TypeRec {
                name_off,
                kind,
                vlen,
                kind_flag: info >> 31 != 0,
                size_or_type,
                extra,
            });
            off = next as usize;
        }
        self.recs = recs;
        Ok(())
    }

    /// Number of types (ids 1..=len).
    pub fn len(&self) -> usize {
        self.recs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    fn rec(&self, id: u32) -> Option<&TypeRec> {
        self.recs.get((id as usize).checked_sub(1)?)
    }

    /// A NUL-terminated string from the string section ("" when out of bounds or not UTF-8).
    fn str_at(&self, off: u32) -> &str {
        let Some(rest) = self.strings.get(off as usize..) else {
            return "";
        };
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        std::str::from_utf8(&rest[..end]).unwrap_or("")
    }

    /// Name of type `id` ("" for anonymous or unknown types).
    pub fn name(&self, id: u32) -> &str {
        self.rec(id).map_or("", |r| self.str_at(r.name_off))
    }

    pub fn kind(&self, id: u32) -> Option<TypeKind> {
        self.rec(id).map(|r| r.kind)
    }

    /// The first type named `name` of one of `kinds`.
    pub fn find(&self, name: &str, kinds: &[TypeKind]) -> Option<u32> {
        self.recs
            .iter()
            .enumerate()
            .find(|(_, r)| kinds.contains(&r.kind) && self.str_at(r.name_off) == name)
            .map(|(i, _)| i as u32 + 1)
    }

    /// Follows typedef/const/volatile/restrict/type-tag links to the underlying type.
    pub fn resolve(&self, mut id: u32) -> Result<u32, BtfError> {
        use TypeKind::*;
        for _ in 0..MAX_DEPTH {
            match self.rec(id) {
                Some(r) if matches!(r.kind, Typedef | Volatile | Const | Restrict | TypeTag) => {
                    id = r.size_or_type;
                }
                _ => return Ok(id),
            }
        }
        Err(BtfError::Malformed(format!("type chain too deep at {id}")))
    }

    /// Member `name` of struct/union `id`, looking through anonymous struct/union members
    /// (where the kernel hides fields behind `union { ... }` or `struct { ... } __randomize`).
    pub fn member(&self, id: u32, name: &str) -> Result<Member, BtfError> {
        self.member_in(id, name, 0)?
            .ok_or_else(|| BtfError::NoMember {
                ty: self.name(id).to_string(),
                member: name.into(),
            })
    }

    fn member_in(&self, id: u32, name: &str, depth: usize) -> Result<Option<Member>, BtfError> {
        if depth > MAX_DEPTH {
            return Err(BtfError::Malformed(
                "anonymous members nest too deep".into(),
            ));
        }
        let id = self.resolve(id)?;
        let Some(r) = self.rec(id) else {
            return Ok(None);
        };
        if !matches!(r.kind, TypeKind::Struct | TypeKind::Union) {
            return Ok(None);
        }
        let r = *r;
        for i in 0..r.vlen as usize {
            let at = r.extra + i * 12;
            let m_name = self.u32_at(at)?;
            let m_type = self.u32_at(at + 4)?;
            let m_off = self.u32_at(at + 8)?;
            // With kind_flag, `offset` packs the bitfield size in the top 8 bits.
            let (bit_offset, bitfield_size) = if r.kind_flag {
                (m_off & 0xff_ffff, m_off >> 24)
            } else {
                (m_off, 0)
            };
            if m_name == 0 {
                if let Some(inner) = self.member_in(m_type, name, depth + 1)? {
                    return Ok(Some(Member {
                        bit_offset: inner.bit_offset.saturating_add(bit_offset),
                        ..inner
                    }));
                }
            } else if self.str_at(m_name) == name {
                return Ok(Some(Member {
                    bit_offset,
                    bitfield_size,
                    type_id: m_type,
                }));
            }
        }
        Ok(None)
    }

    /// Byte offset of `path` (members walked in turn, e.g. `["context", "perf_rdpmc_allowed"]`)
    /// from the start of struct `ty`; the last member must be byte aligned.
    pub fn offset_of(&self, ty: &str, path: &[&str]) -> Result<u32, BtfError> {
        let mut id = self
            .find(ty, &[TypeKind::Struct, TypeKind::Union])
            .ok_or_else(|| BtfError::NoStruct(ty.into()))?;
        let mut bits: u32 = 0;
        let mut last = Member {
            bit_offset: 0,
            bitfield_size: 0,
            type_id: id,
        };
        for name in path {
            let m = self.member(id, name)?;
            bits = bits.saturating_add(m.bit_offset);
            last = m;
            id = m.type_id;
        }
        Member {
            bit_offset: bits,
            ..last
        }
        .byte_offset(path.last().copied().unwrap_or(ty))
    }

    /// The type id of member `path` of struct `ty` (resolved through typedefs).
    pub fn member_type(&self, ty: &str, path: &[&str]) -> Result<u32, BtfError> {
        let mut id = self
            .find(ty, &[TypeKind::Struct, TypeKind::Union])
            .ok_or_else(|| BtfError::NoStruct(ty.into()))?;
        for name in path {
            id = self.member(id, name)?.type_id;
        }
        self.resolve(id)
    }

    /// Parameter names of the function prototype behind a `btf_trace_<tp>` typedef (the
    /// arguments a `tp_btf` program receives, after the leading `void *`), if present.
    pub fn tracepoint_params(&self, tp: &str) -> Option<Vec<String>> {
        let td = self.find(&format!("btf_trace_{tp}"), &[TypeKind::Typedef])?;
        let ptr = self.resolve(td).ok()?;
        let proto = self.resolve(self.rec(ptr)?.size_or_type).ok()?;
        let r = self.rec(proto)?;
        if r.kind != TypeKind::FuncProto {
            return None;
        }
        let mut names = Vec::new();
        for i in 1..r.vlen as usize {
            let name_off = self.u32_at(r.extra + i * 8).ok()?;
            names.push(self.str_at(name_off).to_string());
        }
        Some(names)
    }
}

fn read_u32(bytes: &[u8], off: usize, big_endian: bool) -> Result<u32, BtfError> {
    let b: [u8; 4] = off
        .checked_add(4)
        .and_then(|end| bytes.get(off..end))
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| BtfError::Malformed(format!("read past the end at {off}")))?;
    Ok(if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Builds a little BTF blob: types as (name, info, size_or_type, extra u32s).
    pub(crate) fn blob(strings: &[&str], types: &[(u32, u32, u32, Vec<u32>)]) -> Vec<u8> {
        let mut strs = vec![0u8];
        for s in strings {
            strs.extend_from_slice(s.as_bytes());
            strs.push(0);
        }
        let mut ty = Vec::new();
        for (n, info, s, extra) in types {
            for v in [*n, *info, *s].iter().chain(extra) {
                ty.extend_from_slice(&v.to_le_bytes());
            }
        }
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        for v in [
            24u32,
            0,
            ty.len() as u32,
            ty.len() as u32,
            strs.len() as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&ty);
        out.extend_from_slice(&strs);
        out
    }

    fn info(kind: u32, vlen: u32, kflag: bool) -> u32 {
        (kind << 24) | vlen | if kflag { 1 << 31 } else { 0 }
    }

    /// Strings: 1 "int", 5 "outer", 11 "a", 13 "b", 15 "bits"
    fn sample() -> Vec<u8> {
        blob(
            &["int", "outer", "a", "b", "bits"],
            &[
                // 1: int
                (1, info(1, 0, false), 4, vec![32]),
                // 2: anonymous union { int b; } at bit 0
                (0, info(5, 1, false), 4, vec![13, 1, 0]),
                // 3: struct outer { int a; union {..} @ 64; int bits:3 @ 100 } (kind_flag)
                (
                    5,
                    info(4, 3, true),
                    16,
                    vec![11, 1, 0, 0, 2, 64, 15, 1, (3 << 24) | 100],
                ),
            ],
        )
    }

    #[test]
    fn finds_members_through_anonymous_unions_and_bitfields() {
        let b = Btf::parse(&sample()).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(b.offset_of("outer", &["a"]).unwrap(), 0);
        assert_eq!(b.offset_of("outer", &["b"]).unwrap(), 8);
        let bits = b.member(3, "bits").unwrap();
        assert_eq!((bits.bit_offset, bits.bitfield_size), (100, 3));
        assert!(matches!(
            b.offset_of("outer", &["bits"]),
            Err(BtfError::NotByteAligned { .. })
        ));
        assert!(matches!(
            b.offset_of("outer", &["zz"]),
            Err(BtfError::NoMember { .. })
        ));
        assert!(matches!(
            b.offset_of("nope", &["a"]),
            Err(BtfError::NoStruct(_))
        ));
    }

    #[test]
    fn a_typedef_cycle_is_an_error_not_a_hang() {
        let bytes = blob(&["t"], &[(1, info(8, 0, false), 1, vec![])]);
        let b = Btf::parse(&bytes).unwrap();
        assert!(b.resolve(1).is_err());
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(Btf::parse(&[]).is_err());
        assert!(Btf::parse(b"hello world, not btf at all").is_err());
        let mut s = sample();
        s.truncate(s.len() - 20);
        assert!(Btf::parse(&s).is_err());
    }

    /// Asks every query a caller might make; none may panic.
    fn exercise(b: &Btf) {
        for id in 0..=b.len() as u32 + 1 {
            let _ = b.name(id);
            let _ = b.resolve(id);
            let _ = b.member(id, "a");
            let _ = b.member(id, "b");
        }
        let _ = b.offset_of("outer", &["b", "a"]);
        let _ = b.tracepoint_params("x");
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(b) = Btf::parse(&bytes) { exercise(&b); }
        }

        #[test]
        fn truncated_or_mutated_btf_never_panics(
            cut in 0usize..200,
            flips in proptest::collection::vec((0usize..200, any::<u8>()), 0..8),
        ) {
            let mut s = sample();
            for (at, v) in flips {
                if let Some(b) = s.get_mut(at) { *b = v; }
            }
            s.truncate(cut.min(s.len()));
            if let Ok(b) = Btf::parse(&s) { exercise(&b); }
        }
    }

    #[test]
    fn reads_this_kernels_vmlinux() {
        let Ok(bytes) = std::fs::read(VMLINUX) else {
            eprintln!("skipped: no {VMLINUX}");
            return;
        };
        let b = Btf::parse(&bytes).unwrap();
        assert!(b.len() > 1000);
        let pid = b.offset_of("task_struct", &["pid"]).unwrap();
        let tgid = b.offset_of("task_struct", &["tgid"]).unwrap();
        assert_eq!(tgid, pid + 4, "pid_t pid; pid_t tgid; are adjacent");
        if cfg!(target_arch = "x86_64") {
            assert!(
                b.offset_of("mm_struct", &["context", "perf_rdpmc_allowed"])
                    .is_ok()
            );
        }
    }
}
