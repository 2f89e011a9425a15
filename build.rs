//! Selects the context-switch implementation for the target being built.
//!
//! The table below maps a target (architecture, operating system family) to the assembly file
//! under `asm/` that implements the switch for that ABI. Targets with no entry, and builds with
//! the `force-fallback` feature, use the portable implementation built on `corosensei`.
//!
//! The chosen file is handed to `src/arch/` through the `GREEN_ASM_FILE` environment variable and
//! assembled there with `global_asm!`; the `green_asm` cfg names the flavour that was chosen.

use std::env;
use std::path::PathBuf;

/// (target_arch, target_os, cfg value, file under `asm/`).
const ASM_TABLE: &[(&str, &str, &str, &str)] = &[
    ("x86_64", "linux", "x86_64_sysv", "x86_64_sysv_elf.s"),
    ("x86_64", "android", "x86_64_sysv", "x86_64_sysv_elf.s"),
    ("x86_64", "freebsd", "x86_64_sysv", "x86_64_sysv_elf.s"),
    ("aarch64", "linux", "aarch64_aapcs", "aarch64_aapcs_elf.s"),
    ("aarch64", "android", "aarch64_aapcs", "aarch64_aapcs_elf.s"),
    ("aarch64", "freebsd", "aarch64_aapcs", "aarch64_aapcs_elf.s"),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-check-cfg=cfg(green_asm, values(\"x86_64_sysv\", \"aarch64_aapcs\"))");
    println!("cargo:rustc-check-cfg=cfg(green_fallback)");

    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let forced = env::var_os("CARGO_FEATURE_FORCE_FALLBACK").is_some();

    let entry = ASM_TABLE.iter().find(|(a, o, _, _)| *a == arch && *o == os);
    match entry {
        Some((_, _, flavour, file)) if !forced => {
            let dir = PathBuf::from(
                env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
            );
            let path = dir.join("asm").join(file);
            println!("cargo:rerun-if-changed={}", path.display());
            println!("cargo:rustc-env=GREEN_ASM_FILE={}", path.display());
            println!("cargo:rustc-cfg=green_asm=\"{flavour}\"");
        }
        _ => println!("cargo:rustc-cfg=green_fallback"),
    }
}
