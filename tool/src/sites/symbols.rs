//! Address -> `function+0xoff` from an ELF file's symbol tables.

use object::{Object, ObjectSymbol, SymbolKind};

/// Function symbols of one file, sorted by address.
pub struct Symbols {
    funcs: Vec<(u64, u64, String)>,
}

impl Symbols {
    pub fn read(file: &object::File<'_>) -> Symbols {
        // Raw (mangled) names: a big Rust binary has 100k+ symbols, and demangling them all
        // up front costs more than the scan; only the names looked up are demangled.
        let mut funcs: Vec<(u64, u64, String)> = file
            .symbols()
            .chain(file.dynamic_symbols())
            .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0)
            .filter_map(|s| Some((s.address(), s.size(), s.name().ok()?.to_string())))
            .collect();
        funcs.sort();
        funcs.dedup_by_key(|f| f.0);
        Symbols { funcs }
    }

    /// The function covering `vaddr`, as `name+0xoff`.
    pub fn lookup(&self, vaddr: u64) -> Option<String> {
        let i = self
            .funcs
            .partition_point(|f| f.0 <= vaddr)
            .checked_sub(1)?;
        let (start, size, name) = &self.funcs[i];
        // Size 0 symbols (hand-written asm) cover up to the next symbol.
        let end = if *size > 0 {
            start + size
        } else {
            self.funcs.get(i + 1).map_or(u64::MAX, |n| n.0)
        };
        (vaddr < end).then(|| format!("{}+{:#x}", demangled(name), vaddr - start))
    }

    /// Address of a function by exact (demangled, hash-stripped) name or by last path part.
    pub fn find(&self, name: &str) -> Option<u64> {
        self.funcs
            .iter()
            // A mangled name holds the plain identifier: demangle only those that do.
            .filter(|f| f.2.contains(name))
            .find(|f| {
                let d = demangled(&f.2);
                d == name || d.rsplit("::").next() == Some(name)
            })
            .map(|f| f.0)
    }
}

/// Demangled (Rust or plain C) name without the Rust hash suffix.
fn demangled(raw: &str) -> String {
    strip_hash(&rustc_demangle::demangle(raw).to_string()).to_string()
}

/// `a::b::h0123456789abcdef` -> `a::b`.
fn strip_hash(name: &str) -> &str {
    match name.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head
        }
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_names_the_covering_function() {
        let s = Symbols {
            funcs: vec![
                (0x1000, 0x10, "a".into()),
                (0x1010, 0, "asm_blob".into()),
                (0x1100, 0x20, "c::d::h0123456789abcdef".into()),
            ],
        };
        assert_eq!(s.lookup(0x1004).as_deref(), Some("a+0x4"));
        assert_eq!(s.lookup(0x10ff).as_deref(), Some("asm_blob+0xef"));
        assert_eq!(s.lookup(0x1105).as_deref(), Some("c::d+0x5"));
        assert_eq!(s.lookup(0x1120), None);
        assert_eq!(s.lookup(0x10), None);
        assert_eq!(s.find("d"), Some(0x1100));
    }
}
