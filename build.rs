//! Selects the context-switch implementation for the target being built.
//!
//! The table in `build/asm_table.rs` maps a target (architecture, operating system, pointer
//! width, byte order) to the assembly file under `asm/` that implements the switch for that
//! ABI and object format (ELF, Mach-O). A target that matches no row exactly, and builds with
//! the `force-fallback` feature, use the portable implementation built on `corosensei`.
//!
//! The chosen file is handed to `src/arch/` through the `GREEN_ASM_FILE` environment variable and
//! assembled there with `global_asm!`; the `green_asm` cfg names the flavour that was chosen.

use std::env;
use std::path::PathBuf;

mod table {
    #![allow(dead_code)]
    include!("build/asm_table.rs");
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-check-cfg=cfg(green_asm, values(\"x86_64_sysv\", \"aarch64_aapcs\"))");
    println!("cargo:rustc-check-cfg=cfg(green_fallback)");

    println!("cargo:rerun-if-changed=build/asm_table.rs");
    let var = |name: &str| env::var(name).unwrap_or_default();
    let (arch, os) = (var("CARGO_CFG_TARGET_ARCH"), var("CARGO_CFG_TARGET_OS"));
    let (pointer_width, endian) = (
        var("CARGO_CFG_TARGET_POINTER_WIDTH"),
        var("CARGO_CFG_TARGET_ENDIAN"),
    );
    let forced = env::var_os("CARGO_FEATURE_FORCE_FALLBACK").is_some();

    let triple = var("TARGET");
    let entry = table::select(table::Target::new(
        &triple,
        &arch,
        &os,
        &pointer_width,
        &endian,
    ));
    match entry {
        Some(table::Row { flavour, file, .. }) if !forced => {
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
