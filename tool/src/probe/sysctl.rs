//! The settings that gate direct counter reads, polled while tracing: each change becomes a
//! `Sysctl` record and is handed to the kernel programs' access model (`RUNTIME` map).

use common::event::{Header, Sysctl};

use crate::sys::Root;

/// One reading of the gating settings (-1 where the file does not exist).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gates {
    /// arm64 `kernel.perf_user_access`.
    pub perf_user_access: i32,
    /// x86 core PMU `rdpmc` file (0 off, 1 while an event is mmapped, 2 always).
    pub rdpmc_mode: i32,
    pub paranoid: i32,
}

impl Gates {
    pub fn read(root: &Root) -> Gates {
        let int = |p: &str| root.read(p).and_then(|s| s.parse().ok());
        Gates {
            perf_user_access: int("/proc/sys/kernel/perf_user_access").unwrap_or(-1),
            // Hybrid Intel has one file per core PMU; they are set together in practice.
            rdpmc_mode: ["cpu", "cpu_core", "cpu_atom"]
                .iter()
                .find_map(|p| int(&format!("/sys/bus/event_source/devices/{p}/rdpmc")))
                .unwrap_or(-1),
            paranoid: int("/proc/sys/kernel/perf_event_paranoid").unwrap_or(-1),
        }
    }

    pub fn record(&self, h: Header) -> Sysctl {
        Sysctl {
            h,
            perf_user_access: self.perf_user_access,
            rdpmc_mode: self.rdpmc_mode,
            paranoid: self.paranoid,
            _pad: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_read_as_minus_one() {
        let dir = std::env::temp_dir().join(format!("pmuwatch-gates-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("proc/sys/kernel")).unwrap();
        std::fs::write(dir.join("proc/sys/kernel/perf_user_access"), "1\n").unwrap();
        let g = Gates::read(&Root::new(&dir));
        assert_eq!(
            g,
            Gates {
                perf_user_access: 1,
                rdpmc_mode: -1,
                paranoid: -1
            }
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
