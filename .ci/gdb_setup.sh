# Shared by .ci/gdb_cfi.sh and .ci/gdb_green.sh, which source it with their arguments: the
# architectures to check (`arches`: the arguments, or x86_64 and aarch64), the gdb packages
# they need, cargo's target directory (`target_dir`), and the qemu-aarch64 that runs a program
# for gdb to attach to (`start_qemu`, `stop_qemu`).

arches=("$@")
[ ${#arches[@]} -gt 0 ] || arches=(x86_64 aarch64)

need_apt=()
command -v gdb >/dev/null || need_apt+=(gdb)
for arch in "${arches[@]}"; do
    [ "$arch" != aarch64 ] || command -v gdb-multiarch >/dev/null || need_apt+=(gdb-multiarch)
done
if [ ${#need_apt[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

target_dir=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
# The aarch64 target and the libraries qemu-aarch64 and gdb-multiarch load its programs with.
triple=aarch64-unknown-linux-gnu
sysroot=/usr/aarch64-linux-gnu

qemu=
# start_qemu PROGRAM: runs PROGRAM under qemu-aarch64 waiting for gdb on a free port of
# 127.0.0.1, which `port` names. qemu runs nothing until gdb attaches; gdb retries the
# connection while qemu starts listening.
start_qemu() {
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    qemu-aarch64 -L "$sysroot" -g "$port" "$1" &
    qemu=$!
}
# qemu-aarch64 waiting for gdb ignores SIGTERM.
stop_qemu() {
    [ -z "$qemu" ] || { kill -KILL "$qemu" 2>/dev/null || true; wait "$qemu" 2>/dev/null || true; }
    qemu=
}
