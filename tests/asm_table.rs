//! The target table of `build.rs` gives our assembly only to targets whose ABI it was written
//! for, matching architecture, operating system, pointer width and byte order exactly: x32,
//! ILP32 and big-endian variants of x86_64 and aarch64 get the fallback.

mod table {
    #![allow(dead_code)]
    include!("../build/asm_table.rs");
}

use table::{select, Target};

fn file_for(arch: &str, os: &str, pointer_width: &str, endian: &str) -> Option<&'static str> {
    select(Target {
        arch,
        os,
        pointer_width,
        endian,
    })
    .map(|row| row.file)
}

#[test]
fn the_64_bit_little_endian_targets_get_their_assembly() {
    for os in ["linux", "android", "freebsd"] {
        assert_eq!(
            file_for("x86_64", os, "64", "little"),
            Some("x86_64_sysv_elf.s")
        );
        assert_eq!(
            file_for("aarch64", os, "64", "little"),
            Some("aarch64_aapcs_elf.s")
        );
    }
}

#[test]
fn x32_ilp32_and_big_endian_targets_get_the_fallback() {
    // x86_64-unknown-linux-gnux32: 32-bit pointers on x86_64.
    assert_eq!(file_for("x86_64", "linux", "32", "little"), None);
    // aarch64-unknown-linux-gnu_ilp32: 32-bit pointers on aarch64.
    assert_eq!(file_for("aarch64", "linux", "32", "little"), None);
    // aarch64_be-unknown-linux-gnu: big-endian aarch64.
    assert_eq!(file_for("aarch64", "linux", "64", "big"), None);
}

#[test]
fn unknown_systems_and_architectures_get_the_fallback() {
    assert_eq!(file_for("x86_64", "windows", "64", "little"), None);
    assert_eq!(file_for("riscv64", "linux", "64", "little"), None);
    assert_eq!(file_for("x86", "linux", "32", "little"), None);
}
