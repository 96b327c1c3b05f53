#!/bin/bash
# Prepare the arm64 lab for PMU user-access tests under qemu-system-aarch64 (TCG) on an x86_64
# host; `cargo xtask lab` runs it when its cache is incomplete.
# Produces in $LAB (default ./target/arm64-lab): k6.12/boot/vmlinuz-*, k6.1/boot/vmlinuz-*,
# busybox (static arm64), virt.dtb, hetero_spi.dtb (a53 PMU on CPUs 0-1, a72 PMU on CPUs 2-3),
# virt_gicv3.dtb, hetero_ppi.dtb. Needs root (apt) when something is missing. About 150 MB
# downloaded, 75 MB kept.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LAB=${LAB:-$PWD/target/arm64-lab}
mkdir -p "$LAB" && cd "$LAB"
export DEBIAN_FRONTEND=noninteractive
if ! command -v qemu-system-aarch64 >/dev/null || ! command -v dtc >/dev/null || ! command -v python3 >/dev/null; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends qemu-system-arm device-tree-compiler python3 >/dev/null
fi
if ! ls k6.12/boot/vmlinuz-* k6.1/boot/vmlinuz-* bb/usr/bin/busybox >/dev/null 2>&1; then
  mkdir -p debs
  KR=/usr/share/keyrings/debian-archive-keyring.gpg
  # a temporary arm64 source list, removed right after the download
  cat > /etc/apt/sources.list.d/arm64-lab.list <<EOL
deb [arch=arm64 signed-by=$KR] http://deb.debian.org/debian stable main
deb [arch=arm64 signed-by=$KR] http://deb.debian.org/debian bookworm main
EOL
  (
    set +e
    apt-get update -qq 2>/dev/null
    KPKGS=$(apt-cache show linux-image-arm64:arm64 2>/dev/null | awk '/^Depends:/{print $2 "-unsigned"}' | sort -u)
    cd debs && apt-get download -q $(for p in $KPKGS; do echo "$p:arm64"; done) busybox-static:arm64 2>&1 | grep -v '^W:'
  )
  rm -f /etc/apt/sources.list.d/arm64-lab.list
  apt-get update -qq
  for d in debs/linux-image-*-arm64-unsigned_*.deb; do
    v=$(dpkg-deb -f "$d" Version); o=k${v%%.*}.$(echo "$v" | cut -d. -f2)
    mkdir -p "$o" && dpkg-deb --fsys-tarfile "$d" | tar -x -C "$o" --wildcards './boot/*'
  done
  mkdir -p bb && dpkg-deb -x debs/busybox-static_*_arm64.deb bb
  rm -rf debs
fi
Q="-cpu max,pauth-impdef=on -smp 4 -m 1G -nographic -nic none"
[ -f hetero_spi.dtb ] || {
  qemu-system-aarch64 -M virt,dumpdtb=virt.dtb $Q >/dev/null 2>&1
  qemu-system-aarch64 -M virt,gic-version=3,dumpdtb=virt_gicv3.dtb $Q >/dev/null 2>&1
  dtc -q -I dtb -O dts -o virt.dts virt.dtb
  dtc -q -I dtb -O dts -o virt_gicv3.dts virt_gicv3.dtb
  python3 "$HERE/mkhetero.py" virt.dts hetero_spi.dts spi && dtc -q -I dts -O dtb -o hetero_spi.dtb hetero_spi.dts
  python3 "$HERE/mkhetero.py" virt_gicv3.dts hetero_ppi.dts ppi && dtc -q -I dts -O dtb -o hetero_ppi.dtb hetero_ppi.dts
}
ls k*/boot/vmlinuz-* bb/usr/bin/busybox *.dtb
