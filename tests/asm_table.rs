//! The target table of `build.rs` gives our assembly only to targets whose ABI and object
//! format it was written for, matching architecture, operating system, pointer width and byte
//! order exactly: x32, ILP32, big-endian and pointer-authentication variants of x86_64 and
//! aarch64, and systems with no row, get the fallback.
//!
//! The targets are checked twice: by hand-written cfg values, and by the values rustc itself
//! reports for each target triple (`rustc --print cfg --target ...` needs no standard library
//! for the target, so it covers the tier 3 targets this machine cannot build).

mod table {
    #![allow(dead_code)]
    include!("../build/asm_table.rs");
}

use std::process::Command;
use table::{select, Target};

fn file_for(arch: &str, os: &str, pointer_width: &str, endian: &str) -> Option<&'static str> {
    select(Target {
        triple_arch: arch,
        arch,
        os,
        pointer_width,
        endian,
    })
    .map(|row| row.file)
}

/// The file the table selects for `triple`, from the cfg values rustc reports for it.
fn file_for_triple(triple: &str) -> Option<&'static str> {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let out = Command::new(&rustc)
        .args(["--print", "cfg", "--target", triple])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {rustc}: {e}"));
    assert!(
        out.status.success(),
        "{rustc} --print cfg --target {triple} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cfg = String::from_utf8(out.stdout).expect("rustc prints UTF-8");
    let value = |key: &str| -> String {
        cfg.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix("=\""))
            .and_then(|rest| rest.strip_suffix('"'))
            .unwrap_or_else(|| panic!("rustc printed no {key} for {triple}"))
            .to_owned()
    };
    let (arch, os) = (value("target_arch"), value("target_os"));
    let (pointer_width, endian) = (value("target_pointer_width"), value("target_endian"));
    select(Target::new(triple, &arch, &os, &pointer_width, &endian)).map(|row| row.file)
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
    assert_eq!(
        file_for("x86_64", "macos", "64", "little"),
        Some("x86_64_sysv_macho.s")
    );
    assert_eq!(
        file_for("aarch64", "macos", "64", "little"),
        Some("aarch64_aapcs_macho.s")
    );
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
    assert_eq!(file_for("aarch64", "ios", "64", "little"), None);
    assert_eq!(file_for("riscv64", "linux", "64", "little"), None);
    assert_eq!(file_for("x86", "linux", "32", "little"), None);
}

#[test]
fn a_triple_architecture_that_differs_from_the_cfg_gets_the_fallback() {
    // arm64e-apple-darwin reports exactly the cfg values of aarch64-apple-darwin.
    let arm64e = Target::new("arm64e-apple-darwin", "aarch64", "macos", "64", "little");
    assert!(select(arm64e).is_none());
    let aarch64 = Target::new("aarch64-apple-darwin", "aarch64", "macos", "64", "little");
    assert_eq!(
        select(aarch64).map(|row| row.file),
        Some("aarch64_aapcs_macho.s")
    );
}

#[test]
fn real_target_triples_select_as_their_rustc_cfg_says() {
    let expected = [
        ("x86_64-unknown-linux-gnu", Some("x86_64_sysv_elf.s")),
        ("x86_64-unknown-linux-musl", Some("x86_64_sysv_elf.s")),
        ("x86_64-linux-android", Some("x86_64_sysv_elf.s")),
        ("x86_64-unknown-freebsd", Some("x86_64_sysv_elf.s")),
        ("aarch64-unknown-linux-gnu", Some("aarch64_aapcs_elf.s")),
        ("aarch64-unknown-linux-musl", Some("aarch64_aapcs_elf.s")),
        ("aarch64-linux-android", Some("aarch64_aapcs_elf.s")),
        ("aarch64-unknown-freebsd", Some("aarch64_aapcs_elf.s")),
        ("x86_64-apple-darwin", Some("x86_64_sysv_macho.s")),
        ("aarch64-apple-darwin", Some("aarch64_aapcs_macho.s")),
        // The three variants whose pointers or byte order differ from the files'.
        ("x86_64-unknown-linux-gnux32", None),
        ("aarch64-unknown-linux-gnu_ilp32", None),
        ("aarch64_be-unknown-linux-gnu", None),
        // Same cfg as a row, different ABI: pointer authentication, Haswell-only x86_64.
        ("arm64e-apple-darwin", None),
        ("x86_64h-apple-darwin", None),
        // Apple systems other than macOS, other systems and other architectures.
        ("aarch64-apple-ios", None),
        ("arm64_32-apple-watchos", None),
        ("x86_64-pc-windows-msvc", None),
        ("aarch64-pc-windows-msvc", None),
        ("x86_64-unknown-netbsd", None),
        ("riscv64gc-unknown-linux-gnu", None),
        ("i686-unknown-linux-gnu", None),
    ];
    for (triple, file) in expected {
        assert_eq!(file_for_triple(triple), file, "{triple}");
    }
}

#[test]
fn every_file_in_the_table_exists() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("asm");
    for row in table::ASM_TABLE {
        assert!(dir.join(row.file).is_file(), "asm/{} is missing", row.file);
    }
}
