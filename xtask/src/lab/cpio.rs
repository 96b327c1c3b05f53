//! A minimal writer of the `newc` cpio format the kernel unpacks as an initramfs
//! (Documentation/driver-api/early-userspace/buffer-format.rst). Uncompressed on purpose: under
//! TCG the guest would spend longer inflating gzip than reading the extra bytes.

/// One archive being built in memory.
#[derive(Default)]
pub struct Archive {
    bytes: Vec<u8>,
    next_ino: u32,
}

const S_IFDIR: u32 = 0o040_000;
const S_IFREG: u32 = 0o100_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFCHR: u32 = 0o020_000;

impl Archive {
    pub fn dir(&mut self, path: &str) {
        self.entry(path, S_IFDIR | 0o755, (0, 0), &[]);
    }

    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) {
        self.entry(path, S_IFREG | (mode & 0o7777), (0, 0), data);
    }

    pub fn symlink(&mut self, path: &str, target: &str) {
        self.entry(path, S_IFLNK | 0o777, (0, 0), target.as_bytes());
    }

    /// A character device node, e.g. `/dev/console` (5, 1), so PID 1 has a console before it
    /// mounts devtmpfs.
    pub fn char_dev(&mut self, path: &str, mode: u32, major: u32, minor: u32) {
        self.entry(path, S_IFCHR | (mode & 0o7777), (major, minor), &[]);
    }

    /// Closes the archive with the `TRAILER!!!` entry and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.next_ino = 0;
        self.header("TRAILER!!!", 0, (0, 0), 0);
        self.pad();
        self.bytes
    }

    fn entry(&mut self, path: &str, mode: u32, rdev: (u32, u32), data: &[u8]) {
        let name = path.trim_start_matches('/');
        let size = u32::try_from(data.len()).expect("initramfs members are far below 4 GiB");
        self.header(name, mode, rdev, size);
        self.bytes.extend_from_slice(data);
        self.pad();
    }

    fn header(&mut self, name: &str, mode: u32, rdev: (u32, u32), size: u32) {
        self.next_ino += 1;
        let nlink = if mode & S_IFDIR != 0 { 2 } else { 1 };
        let namesize = name.len() as u32 + 1;
        let fields = [
            self.next_ino,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime: fixed, so the same inputs give the same archive
            size,
            0, // devmajor
            0, // devminor
            rdev.0,
            rdev.1,
            namesize,
            0, // check
        ];
        self.bytes.extend_from_slice(b"070701");
        for f in fields {
            self.bytes.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, mode, rdev, data)
    type Entry = (String, u32, (u32, u32), Vec<u8>);

    /// Reads the members back with the format's own rules.
    fn entries(bytes: &[u8]) -> Vec<Entry> {
        let hex = |b: &[u8]| u32::from_str_radix(std::str::from_utf8(b).unwrap(), 16).unwrap();
        let align = |n: usize| n.div_ceil(4) * 4;
        let mut out = Vec::new();
        let mut at = 0;
        loop {
            let h = &bytes[at..at + 110];
            assert_eq!(&h[..6], b"070701");
            let field = |i: usize| hex(&h[6 + i * 8..14 + i * 8]);
            let (mode, size, namesize) = (field(1), field(6) as usize, field(11) as usize);
            let name = std::str::from_utf8(&bytes[at + 110..at + 110 + namesize - 1]).unwrap();
            let data_at = align(at + 110 + namesize);
            let data = bytes[data_at..data_at + size].to_vec();
            at = align(data_at + size);
            if name == "TRAILER!!!" {
                assert_eq!(at, bytes.len());
                return out;
            }
            out.push((name.to_string(), mode, (field(9), field(10)), data));
        }
    }

    #[test]
    fn members_read_back_with_their_kind_data_and_alignment() {
        let mut a = Archive::default();
        a.dir("/bin");
        a.file("/bin/busybox", 0o755, b"12345");
        a.symlink("/bin/sh", "busybox");
        a.char_dev("/dev/console", 0o600, 5, 1);
        let bytes = a.finish();
        assert_eq!(bytes.len() % 4, 0);
        let e = entries(&bytes);
        assert_eq!(e.len(), 4);
        assert_eq!((e[0].0.as_str(), e[0].1), ("bin", 0o040_755));
        assert_eq!(
            (e[1].0.as_str(), e[1].1, &e[1].3[..]),
            ("bin/busybox", 0o100_755, &b"12345"[..])
        );
        assert_eq!(
            (e[2].0.as_str(), e[2].1, &e[2].3[..]),
            ("bin/sh", 0o120_777, &b"busybox"[..])
        );
        assert_eq!(
            (e[3].0.as_str(), e[3].1, e[3].2),
            ("dev/console", 0o020_600, (5, 1))
        );
    }
}
