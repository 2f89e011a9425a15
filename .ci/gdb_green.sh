#!/usr/bin/env bash
# Checks the gdb extension gdb/green.py: builds examples/gdb_demo.rs, whose named green threads
# block in known functions before it calls `stop_here`, and runs it under gdb with
# .ci/gdb_green.py, which stops it there, checks what `green threads` and `green bt` print,
# saves a core file and lets the program finish (it exits 0 only if every green thread carried
# on as it should); then checks the same commands on the core file.
#
#     .ci/gdb_green.sh            # x86_64 natively, then aarch64 under qemu-aarch64 -g
#     .ci/gdb_green.sh x86_64     # one of them
#     .ci/gdb_green.sh aarch64
#
# On aarch64 the live process runs under qemu-user's gdb stub. gdb cannot save a usable core
# file through it (the stub does not say which memory is mapped), so the core file checked
# there is the one qemu writes for a second run that aborts in `stop_here` (GDB_DEMO_ABORT=1).
#
# Needs gdb (and gdb-multiarch plus qemu-user for aarch64); installs the gdb packages if they
# are missing. Takes well under a minute once the example is built.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=.ci/gdb_setup.sh
. .ci/gdb_setup.sh "$@"

work=$(mktemp -d)
cleanup() {
    stop_qemu
    rm -rf "$work"
}
trap cleanup EXIT

# check MODE GDB [GDB ARGUMENTS]: runs gdb/green.py and the checking script in gdb, at most
# five minutes; prints the listing and a backtrace it shows and its verdict, or the whole log
# if the script did not get as far as a verdict.
check() {
    local mode=$1 gdb=$2 status=0
    shift 2
    GDB_GREEN_MODE=$mode GDB_GREEN_SEEN="$work/seen.json" timeout 300 \
        "$gdb" -nx -batch -iex "set auto-load no" -x gdb/green.py -x .ci/gdb_green.py "$@" \
        >"$work/log" 2>&1 || status=$?
    if grep -q '^gdb_green: .* failures$' "$work/log"; then
        sed -n '/^green threads: /,$p' "$work/log" |
            grep -v '^\[\(New \|Thread \|Inferior \)\|^Breakpoint [0-9]* at '
    else
        cat "$work/log"
    fi
    return "$status"
}

failed=()
for arch in "${arches[@]}"; do
    echo "gdb_green: $arch"
    rm -rf "${work:?}"/*
    case "$arch" in
    x86_64)
        cargo build -q --example gdb_demo
        program="$target_dir/debug/examples/gdb_demo"
        GDB_GREEN_CORE="$work/core" check live gdb --args "$program" &&
            GDB_GREEN_COMPARE=1 check core gdb "$program" "$work/core" || failed+=("$arch")
        ;;
    aarch64)
        cargo build -q --target "$triple" --example gdb_demo
        program="$target_dir/$triple/debug/examples/gdb_demo"
        start_qemu "$program"
        GDB_GREEN_REMOTE="127.0.0.1:$port" check live gdb-multiarch \
            -iex "set sysroot $sysroot" --args "$program" || failed+=("$arch")
        stop_qemu
        # qemu writes the program's core file (qemu_gdb_demo_<time>_<pid>.core) in its
        # working directory, and the kernel may write one of qemu itself there.
        mkdir "$work/qemu"
        (
            cd "$work/qemu"
            ulimit -c "$(ulimit -H -c)"
            GDB_DEMO_ABORT=1 qemu-aarch64 -L "$sysroot" "$program" || true
        ) >/dev/null 2>&1
        core=$(find "$work/qemu" -name 'qemu_gdb_demo_*.core' | head -n 1)
        if [ -z "$core" ]; then
            echo "gdb_green: qemu-aarch64 wrote no core file (ulimit -H -c: $(ulimit -H -c))"
            failed+=("$arch core")
        else
            GDB_GREEN_RELOCATE=1 check core gdb-multiarch -iex "set sysroot $sysroot" \
                "$program" "$core" || failed+=("$arch core")
        fi
        ;;
    *)
        echo "unknown architecture: $arch (x86_64 or aarch64)" >&2
        exit 2
        ;;
    esac
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "gdb_green: FAILED on ${failed[*]}"
    exit 1
fi
