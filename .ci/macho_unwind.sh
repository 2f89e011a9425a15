#!/usr/bin/env bash
# Links the Mach-O context switch (asm/*_macho.s) into a macOS dylib with lld, as a macOS
# linker would link it into a program (dead stripping on), and checks the unwind information
# the unwinder will read there: every routine survives, has exactly one entry of its own in
# __unwind_info, which sends the unwinder to the DWARF FDE in __eh_frame that covers the whole
# routine, and no symbol inside a routine splits it. No macOS SDK is needed: the routines use
# no library.
#
#     .ci/macho_unwind.sh
#
# Needs the x86_64-apple-darwin and aarch64-apple-darwin targets (rustup target add) and
# llvm-objdump, llvm-nm and llvm-dwarfdump (Debian: llvm).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

host=$(rustc -vV | sed -n 's/^host: //p')
lld="$(rustc --print sysroot)/lib/rustlib/$host/bin/rust-lld"
[ -x "$lld" ] || { echo "macho_unwind: no rust-lld at $lld"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

routines=(green_resume green_suspend green_suspend_fp green_fp_continue green_transfer
    green_finish green_finished green_trampoline green_trampoline_fp)

# A crate with nothing but the assembly, and a function that refers to every routine Rust
# refers to, so that dead stripping keeps exactly what a program keeps.
cat >"$work/probe.rs" <<'EOF'
#![no_std]
use core::arch::global_asm;
#[cfg(target_arch = "x86_64")]
global_asm!(include_str!(env!("GREEN_ASM")), options(att_syntax));
#[cfg(target_arch = "aarch64")]
global_asm!(include_str!(env!("GREEN_ASM")));
extern "C" {
    fn green_resume();
    fn green_suspend();
    fn green_transfer();
    fn green_finish();
    fn green_finished();
    fn green_trampoline();
    fn green_trampoline_fp();
}
#[no_mangle]
pub extern "C" fn probe(i: usize) -> usize {
    let routines: [unsafe extern "C" fn(); 7] = [
        green_resume, green_suspend, green_transfer, green_finish, green_finished,
        green_trampoline, green_trampoline_fp,
    ];
    routines[i % routines.len()] as usize
}
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
EOF

check() {
    local target=$1 arch=$2 file=$3 dwarf_mode=$4
    local obj="$work/$arch.o" dylib="$work/$arch.dylib"
    GREEN_ASM="$repo/asm/$file" rustc --edition 2021 --crate-type lib --emit obj -C panic=abort \
        -O --target "$target" "$work/probe.rs" -o "$obj"
    "$lld" -flavor darwin -arch "$arch" -platform_version macos 11.0 11.0 -dylib -dead_strip \
        -exported_symbol _probe -o "$dylib" "$obj"
    llvm-nm -m "$dylib" >"$work/$arch.nm"
    llvm-objdump --macho --unwind-info "$dylib" >"$work/$arch.unwind"
    llvm-dwarfdump --eh-frame "$dylib" >"$work/$arch.eh"
    python3 - "$work/$arch" "$dwarf_mode" "$file" "${routines[@]}" <<'EOF'
import re, sys

base, dwarf_mode, file, routines = sys.argv[1], int(sys.argv[2], 16), sys.argv[3], sys.argv[4:]
failures = []

symbols = {}
for line in open(base + ".nm"):
    m = re.match(r"([0-9a-f]+) \(__TEXT,__text\) .* _(\w+)$", line.strip())
    if m:
        symbols[int(m.group(1), 16)] = m.group(2)
starts = {name: addr for addr, name in symbols.items()}
missing = [r for r in routines if r not in starts]
if missing:
    failures.append("routines missing after linking: " + ", ".join(missing))
ours = sorted((starts[r], r) for r in routines if r in starts)

# __unwind_info second-level entries: function offset -> encoding.
entries = {}
for line in open(base + ".unwind"):
    m = re.search(r"function offset=0x([0-9a-f]+), encoding\[\d+\]=0x([0-9a-f]+)", line)
    if m:
        entries[int(m.group(1), 16)] = int(m.group(2), 16)
# __eh_frame FDEs: offset -> (start, end).
fdes = {}
for line in open(base + ".eh"):
    m = re.match(r"([0-9a-f]+) [0-9a-f]+ [0-9a-f]+ FDE cie=[0-9a-f]+ pc=([0-9a-f]+)\.\.\.([0-9a-f]+)", line)
    if m:
        fdes[int(m.group(1), 16)] = (int(m.group(2), 16), int(m.group(3), 16))

if ours:
    # From the first routine to the end of the last one's FDE.
    lo = ours[0][0]
    hi = max([end for start, end in fdes.values() if start == ours[-1][0]], default=lo + 1)
    inside = sorted(a for a in entries if lo <= a < hi)
    extra = [a for a in inside if a not in symbols or symbols[a] not in routines]
    if extra:
        failures.append("unwind entries inside the routines: " + ", ".join(hex(a) for a in extra))
    for i, (start, name) in enumerate(ours):
        end = ours[i + 1][0] if i + 1 < len(ours) else hi
        encoding = entries.get(start)
        if encoding is None:
            failures.append(f"{name}: no __unwind_info entry")
            continue
        if encoding >> 24 != dwarf_mode:
            failures.append(f"{name}: encoding {encoding:#010x} is not DWARF mode")
            continue
        fde = fdes.get(encoding & 0xFFFFFF)
        if fde is None:
            failures.append(f"{name}: no FDE at __eh_frame offset {encoding & 0xFFFFFF:#x}")
        elif fde[0] != start or not (start < fde[1] <= end):
            failures.append(f"{name} [{start:#x}, {end:#x}): FDE covers [{fde[0]:#x}, {fde[1]:#x})")

for f in failures:
    print(f"FAIL {file}: {f}")
print(f"macho_unwind: {file}: {len(ours)} routines, {len(failures)} failures")
sys.exit(1 if failures else 0)
EOF
}

check x86_64-apple-darwin x86_64 x86_64_sysv_macho.s 04
check aarch64-apple-darwin arm64 aarch64_aapcs_macho.s 03
