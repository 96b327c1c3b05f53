//! Bytes <-> records, with length checks. Used on ring-buffer items and trace-file records.

use crate::event::*;

/// One decoded record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    SchedSwitch(SchedSwitch),
    Migrate(Migrate),
    Trap(Trap),
    PerfOpen(PerfOpen),
    PerfIoctl(PerfIoctl),
    PerfMmap(PerfMmap),
    Munmap(Munmap),
    PerfRead(PerfRead),
    PerfClose(PerfClose),
    Fork(Fork),
    Exec(Exec),
    Exit(Exit),
    DirectRead(DirectRead),
    ReaderCall(ReaderCall),
    PageSample(PageSample),
    Lost(Lost),
    Comm(Comm),
    Sysctl(Sysctl),
    HookToggle(HookToggle),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than a header, or than the header's kind needs.
    Short { have: usize, need: usize },
    /// A kind id this build does not know (a newer recording, or garbage).
    UnknownKind(u16),
    /// `Header::size` disagrees with the kind's size.
    BadSize { kind: u16, size: u16, expected: u16 },
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::Short { have, need } => {
                write!(f, "record too short: {have} bytes, need {need}")
            }
            DecodeError::UnknownKind(k) => write!(f, "unknown record kind {k}"),
            DecodeError::BadSize {
                kind,
                size,
                expected,
            } => write!(
                f,
                "record kind {kind} says {size} bytes, this build expects {expected}"
            ),
        }
    }
}

/// Copies a plain-old-data record out of `bytes`. Only called with the record types of
/// [`crate::event`] and [`Header`].
fn read<R: Copy>(bytes: &[u8]) -> Result<R, DecodeError> {
    let need = core::mem::size_of::<R>();
    if bytes.len() < need {
        return Err(DecodeError::Short {
            have: bytes.len(),
            need,
        });
    }
    // SAFETY: length checked above; every record is plain-old-data `#[repr(C)]` made of
    // integers and byte arrays, so any bit pattern is a valid value; read_unaligned copes
    // with any alignment of `bytes`.
    Ok(unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast::<R>()) })
}

/// Decodes one record from the start of `bytes`. Trailing bytes beyond `Header::size` are
/// ignored (ring-buffer items are padded to 8 bytes).
pub fn decode(bytes: &[u8]) -> Result<Event, DecodeError> {
    let h: Header = read_header(bytes)?;
    let kind = Kind::from_u16(h.kind).ok_or(DecodeError::UnknownKind(h.kind))?;
    macro_rules! arm {
        ($($k:ident),*) => {
            match kind {
                $(Kind::$k => {
                    let expected = <$k as Record>::SIZE as u16;
                    if h.size != expected {
                        return Err(DecodeError::BadSize { kind: h.kind, size: h.size, expected });
                    }
                    Event::$k(read::<$k>(bytes)?)
                })*
            }
        };
    }
    Ok(arm!(
        SchedSwitch,
        Migrate,
        Trap,
        PerfOpen,
        PerfIoctl,
        PerfMmap,
        Munmap,
        PerfRead,
        PerfClose,
        Fork,
        Exec,
        Exit,
        DirectRead,
        ReaderCall,
        PageSample,
        Lost,
        Comm,
        Sysctl,
        HookToggle
    ))
}

/// Reads just the header at the start of `bytes`.
pub fn read_header(bytes: &[u8]) -> Result<Header, DecodeError> {
    read::<Header>(bytes)
}

/// The raw bytes of a record, as the kernel writes them.
pub fn as_bytes<R: Record>(r: &R) -> &[u8] {
    // SAFETY: records are `#[repr(C)]` with explicit padding fields, so every byte is
    // initialised; the slice borrows `r`.
    unsafe { core::slice::from_raw_parts((r as *const R).cast::<u8>(), R::SIZE) }
}

macro_rules! dispatch {
    ($self:ident, $r:ident => $body:expr) => {
        match $self {
            Event::SchedSwitch($r) => $body,
            Event::Migrate($r) => $body,
            Event::Trap($r) => $body,
            Event::PerfOpen($r) => $body,
            Event::PerfIoctl($r) => $body,
            Event::PerfMmap($r) => $body,
            Event::Munmap($r) => $body,
            Event::PerfRead($r) => $body,
            Event::PerfClose($r) => $body,
            Event::Fork($r) => $body,
            Event::Exec($r) => $body,
            Event::Exit($r) => $body,
            Event::DirectRead($r) => $body,
            Event::ReaderCall($r) => $body,
            Event::PageSample($r) => $body,
            Event::Lost($r) => $body,
            Event::Comm($r) => $body,
            Event::Sysctl($r) => $body,
            Event::HookToggle($r) => $body,
        }
    };
}

impl Event {
    pub fn header(&self) -> &Header {
        dispatch!(self, r => &r.h)
    }

    pub fn header_mut(&mut self) -> &mut Header {
        dispatch!(self, r => &mut r.h)
    }

    pub fn kind(&self) -> Kind {
        dispatch!(self, r => record_kind(r))
    }

    /// The record's bytes, as [`decode`] reads them back.
    pub fn bytes(&self) -> &[u8] {
        dispatch!(self, r => as_bytes(r))
    }
}

fn record_kind<R: Record>(_: &R) -> Kind {
    R::KIND
}

/// Builds an [`Event`] from a record, filling its header kind and size.
pub fn event<R: Record + Into<Event>>(mut r: R) -> Event {
    let h = r.header_mut();
    h.kind = R::KIND as u16;
    h.size = R::SIZE as u16;
    r.into()
}

macro_rules! from {
    ($($t:ident),*) => {$(
        impl From<$t> for Event { fn from(r: $t) -> Event { Event::$t(r) } }
    )*};
}
from!(
    SchedSwitch,
    Migrate,
    Trap,
    PerfOpen,
    PerfIoctl,
    PerfMmap,
    Munmap,
    PerfRead,
    PerfClose,
    Fork,
    Exec,
    Exit,
    DirectRead,
    ReaderCall,
    PageSample,
    Lost,
    Comm,
    Sysctl,
    HookToggle
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_bytes() {
        let mut t = Trap::default();
        t.h.pid = 7;
        t.ip = 0xdead;
        let e = event(t);
        let back = decode(e.bytes()).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.kind(), Kind::Trap);
    }

    #[test]
    fn short_and_unknown_records_are_errors_not_panics() {
        assert!(matches!(decode(&[1, 0]), Err(DecodeError::Short { .. })));
        let mut h = [0u8; 64];
        h[0] = 0xff;
        assert_eq!(decode(&h), Err(DecodeError::UnknownKind(0xff)));
        let e = event(Migrate::default());
        assert!(matches!(
            decode(&e.bytes()[..20]),
            Err(DecodeError::Short { .. })
        ));
    }

    #[test]
    fn sizes_are_multiples_of_eight() {
        for k in Kind::ALL {
            let mut b = [0u8; 256];
            b[0..2].copy_from_slice(&(k as u16).to_ne_bytes());
            // Find the size the decoder expects through its error.
            match decode(&b) {
                Err(DecodeError::BadSize { expected, .. }) => assert_eq!(expected % 8, 0, "{k:?}"),
                other => panic!("{k:?}: {other:?}"),
            }
        }
    }
}
