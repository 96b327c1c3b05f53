//! Address -> `file:line` from DWARF line tables, read from the file itself or from its
//! separate debug file, looked up the way gdb does: by build-id under
//! `/usr/lib/debug/.build-id/`, then by `.gnu_debuglink` (next to the file, in its `.debug/`,
//! under `/usr/lib/debug/`), checked against the build-id or the link's CRC. A stripped file
//! without a debug file gives no lines; its symbols still name the sites.

use std::{
    borrow::Cow,
    path::{Path, PathBuf},
    sync::Arc,
};

use gimli::{EndianArcSlice, RunTimeEndian};
use object::{Object, ObjectSection};

type Reader = EndianArcSlice<RunTimeEndian>;

/// Where distributions install separate debug files.
pub const DEBUG_ROOT: &str = "/usr/lib/debug";

/// Line tables of one file.
pub struct Lines {
    ctx: addr2line::Context<Reader>,
    /// The file the tables came from (the binary itself or its debug file).
    pub source: PathBuf,
}

impl Lines {
    /// Line tables for `file`, read from `path`; None when neither it nor a debug file has any.
    pub fn load(path: &Path, file: &object::File<'_>) -> Option<Lines> {
        if has_lines(file) {
            return Lines::from_object(file, path.to_path_buf());
        }
        Lines::from_debug_file(path, file, Path::new(DEBUG_ROOT))
    }

    /// Line tables from `file`'s separate debug file under `root` (or next to `path`).
    pub fn from_debug_file(path: &Path, file: &object::File<'_>, root: &Path) -> Option<Lines> {
        let build_id = file.build_id().ok().flatten();
        let mut candidates: Vec<(PathBuf, Check)> = Vec::new();
        if let Some(id) = build_id.filter(|id| id.len() >= 2) {
            let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
            candidates.push((
                root.join(".build-id")
                    .join(&hex[..2])
                    .join(format!("{}.debug", &hex[2..])),
                Check::BuildId(id),
            ));
        }
        if let Ok(Some((name, crc))) = file.gnu_debuglink() {
            let name = String::from_utf8_lossy(name).into_owned();
            let dir = path
                .canonicalize()
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
                .unwrap_or_default();
            let under_root = root.join(dir.strip_prefix("/").unwrap_or(&dir));
            for d in [dir.clone(), dir.join(".debug"), under_root] {
                candidates.push((d.join(&name), Check::Crc(crc)));
            }
        }
        candidates.into_iter().find_map(|(cand, check)| {
            if cand.as_path() == path {
                return None;
            }
            let data = std::fs::read(&cand).ok()?;
            let ok = match check {
                Check::Crc(crc) => crc32fast::hash(&data) == crc,
                Check::BuildId(id) => object::File::parse(&*data)
                    .ok()
                    .and_then(|d| d.build_id().ok().flatten().map(|b| b == id))
                    .unwrap_or(false),
            };
            if !ok {
                return None;
            }
            let dbg = object::File::parse(&*data).ok()?;
            has_lines(&dbg).then(|| Lines::from_object(&dbg, cand))?
        })
    }

    fn from_object(file: &object::File<'_>, source: PathBuf) -> Option<Lines> {
        let endian = if file.is_little_endian() {
            RunTimeEndian::Little
        } else {
            RunTimeEndian::Big
        };
        let load = |id: gimli::SectionId| -> Result<Reader, gimli::Error> {
            let data: Cow<'_, [u8]> = file
                .section_by_name(id.name())
                .and_then(|s| s.uncompressed_data().ok())
                .unwrap_or_default();
            Ok(Reader::new(Arc::from(&*data), endian))
        };
        let dwarf = gimli::Dwarf::load(load).ok()?;
        let ctx = addr2line::Context::from_dwarf(dwarf).ok()?;
        Some(Lines { ctx, source })
    }

    /// `file:line` of the instruction at link-time address `vaddr`.
    pub fn lookup(&self, vaddr: u64) -> Option<String> {
        let loc = self.ctx.find_location(vaddr).ok()??;
        let file = loc.file?;
        Some(match loc.line {
            Some(line) => format!("{file}:{line}"),
            None => file.to_string(),
        })
    }
}

/// How a debug-file candidate is proven to belong to the binary.
enum Check<'a> {
    BuildId(&'a [u8]),
    Crc(u32),
}

fn has_lines(file: &object::File<'_>) -> bool {
    file.section_by_name(".debug_line")
        .is_some_and(|s| s.size() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sites::symbols::Symbols;

    /// A function whose address the tests look up in this test binary.
    #[inline(never)]
    #[unsafe(no_mangle)]
    pub extern "C" fn pmuwatch_lines_test_marker() -> u32 {
        std::hint::black_box(7)
    }

    fn this_binary() -> (PathBuf, Vec<u8>) {
        let exe = std::env::current_exe().expect("current exe");
        let data = std::fs::read(&exe).expect("read current exe");
        (exe, data)
    }

    #[test]
    fn names_the_source_line_of_a_function_in_this_binary() {
        std::hint::black_box(pmuwatch_lines_test_marker());
        let (exe, data) = this_binary();
        let file = object::File::parse(&*data).unwrap();
        let at = Symbols::read(&file)
            .find("pmuwatch_lines_test_marker")
            .expect("marker symbol");
        let lines = Lines::load(&exe, &file).expect("test binaries carry debug info");
        let got = lines.lookup(at).expect("a line for the marker");
        assert!(got.contains("sites/lines.rs:"), "{got}");
    }

    #[test]
    fn finds_a_separate_debug_file_by_build_id_and_rejects_a_foreign_one() {
        let (exe, data) = this_binary();
        let file = object::File::parse(&*data).unwrap();
        let Some(id) = file.build_id().unwrap() else {
            panic!("the linker gave this test binary no build-id");
        };
        let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(".build-id").join(&hex[..2]);
        std::fs::create_dir_all(&dir).unwrap();
        let debug = dir.join(format!("{}.debug", &hex[2..]));
        assert!(Lines::from_debug_file(&exe, &file, root.path()).is_none());

        std::fs::write(&debug, &data).unwrap();
        let lines = Lines::from_debug_file(&exe, &file, root.path()).expect("found by build-id");
        assert_eq!(lines.source, debug);
        let at = Symbols::read(&file)
            .find("pmuwatch_lines_test_marker")
            .unwrap();
        assert!(lines.lookup(at).unwrap().contains("sites/lines.rs:"));

        // Same path, other contents: the build-id check refuses it.
        let mut other = data.clone();
        let pos = other
            .windows(id.len())
            .position(|w| w == id)
            .expect("build-id bytes in the file");
        other[pos] ^= 0xff;
        std::fs::write(&debug, &other).unwrap();
        assert!(Lines::from_debug_file(&exe, &file, root.path()).is_none());
    }
}
