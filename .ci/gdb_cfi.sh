#!/usr/bin/env bash
# Checks the unwind information (CFI) of the assembly context switch at every instruction:
# builds examples/switch_probe.rs, which drives every switch routine (plain and
# floating-point-preserving switches, transfers, first entries, finishing), and runs it under
# gdb with .ci/gdb_cfi.py, which single-steps each routine and fails if a backtrace taken at
# any instruction does not walk to the root of its thread.
#
#     .ci/gdb_cfi.sh            # x86_64 natively, then aarch64 under qemu-aarch64 -g
#     .ci/gdb_cfi.sh x86_64     # one of them
#     .ci/gdb_cfi.sh aarch64
#
# Needs gdb (and gdb-multiarch plus qemu-user for aarch64); installs the gdb packages if they
# are missing. Takes well under a minute once the example is built.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=.ci/gdb_setup.sh
. .ci/gdb_setup.sh "$@"

log=$(mktemp)
cleanup() {
    stop_qemu
    rm -f "$log"
}
trap cleanup EXIT

# check GDB PROGRAM [GDB OPTIONS]: runs the checking script in gdb on the program; prints its
# verdict (the failures and the summary line), or the whole log if the script did not get as
# far as a verdict.
check() {
    local gdb=$1 program=$2 status=0
    shift 2
    "$gdb" -nx -batch -iex "set auto-load no" "$@" -x .ci/gdb_cfi.py --args "$program" \
        >"$log" 2>&1 || status=$?
    if grep -q '^gdb_cfi: .* failures$' "$log"; then
        sed -n '/^FAIL: \|^gdb_cfi: /,$p' "$log"
    else
        cat "$log"
    fi
    return "$status"
}

failed=()
for arch in "${arches[@]}"; do
    echo "gdb_cfi: $arch"
    case "$arch" in
    x86_64)
        cargo build -q --example switch_probe
        check gdb "$target_dir/debug/examples/switch_probe" || failed+=("$arch")
        ;;
    aarch64)
        cargo build -q --target "$triple" --example switch_probe
        program="$target_dir/$triple/debug/examples/switch_probe"
        start_qemu "$program"
        GDB_CFI_REMOTE="127.0.0.1:$port" check gdb-multiarch "$program" \
            -iex "set sysroot $sysroot" || failed+=("$arch")
        stop_qemu
        ;;
    *)
        echo "unknown architecture: $arch (x86_64 or aarch64)" >&2
        exit 2
        ;;
    esac
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "gdb_cfi: FAILED on ${failed[*]}"
    exit 1
fi
