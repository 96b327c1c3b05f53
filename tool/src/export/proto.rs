//! A minimal protobuf encoder: enough wire format for Perfetto's TracePacket (varints,
//! 64-bit fixed, length-delimited). No schema compiler: field numbers live beside their use
//! in `perfetto.rs`, each with the `.proto` field it encodes.

/// Wire types.
const VARINT: u64 = 0;
const I64: u64 = 1;
const LEN: u64 = 2;

/// One message being built.
#[derive(Clone, Debug, Default)]
pub struct Msg {
    buf: Vec<u8>,
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

impl Msg {
    pub fn new() -> Msg {
        Msg::default()
    }

    fn key(&mut self, field: u32, wire: u64) {
        put_varint(&mut self.buf, (u64::from(field) << 3) | wire);
    }

    /// uint32, uint64, bool, enum.
    pub fn uint(&mut self, field: u32, v: u64) -> &mut Msg {
        self.key(field, VARINT);
        put_varint(&mut self.buf, v);
        self
    }

    /// int32, int64 (not zigzag: negative values take ten bytes, as protobuf says).
    pub fn int(&mut self, field: u32, v: i64) -> &mut Msg {
        self.uint(field, v as u64)
    }

    pub fn fixed64(&mut self, field: u32, v: u64) -> &mut Msg {
        self.key(field, I64);
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub fn double(&mut self, field: u32, v: f64) -> &mut Msg {
        self.fixed64(field, v.to_bits())
    }

    pub fn bytes(&mut self, field: u32, v: &[u8]) -> &mut Msg {
        self.key(field, LEN);
        put_varint(&mut self.buf, v.len() as u64);
        self.buf.extend_from_slice(v);
        self
    }

    pub fn string(&mut self, field: u32, v: &str) -> &mut Msg {
        self.bytes(field, v.as_bytes())
    }

    /// An embedded message.
    pub fn msg(&mut self, field: u32, m: &Msg) -> &mut Msg {
        self.bytes(field, &m.buf)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn clear(&mut self) {
        self.buf.clear();
    }
}

/// Writes one length-delimited field (`field`, `bytes`) straight to `out`.
pub fn write_field(out: &mut impl std::io::Write, field: u32, bytes: &[u8]) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(16);
    put_varint(&mut head, (u64::from(field) << 3) | LEN);
    put_varint(&mut head, bytes.len() as u64);
    out.write_all(&head)?;
    out.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_protobuf_spec_examples() {
        // https://protobuf.dev/programming-guides/encoding: field 1 = 150 is 08 96 01.
        assert_eq!(Msg::new().uint(1, 150).as_bytes(), [0x08, 0x96, 0x01]);
        // field 2 = "testing" is 12 07 74 65 73 74 69 6e 67.
        assert_eq!(
            Msg::new().string(2, "testing").as_bytes(),
            [0x12, 0x07, b't', b'e', b's', b't', b'i', b'n', b'g']
        );
        // Embedded: field 3 = {1: 150} is 1a 03 08 96 01.
        let mut inner = Msg::new();
        inner.uint(1, 150);
        assert_eq!(
            Msg::new().msg(3, &inner).as_bytes(),
            [0x1a, 0x03, 0x08, 0x96, 0x01]
        );
        // int32 -1 takes ten bytes.
        assert_eq!(Msg::new().int(1, -1).as_bytes().len(), 11);
        // Large field numbers: field 60 (TracePacket.track_descriptor) key is e2 03.
        assert_eq!(Msg::new().bytes(60, &[]).as_bytes(), [0xe2, 0x03, 0x00]);
        assert_eq!(
            Msg::new().fixed64(47, 1).as_bytes(),
            [0xf9, 0x02, 1, 0, 0, 0, 0, 0, 0, 0]
        );
    }
}
