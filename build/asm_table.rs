// The table from target to context-switch assembly, shared by `build.rs` (which selects the
// file) and `tests/asm_table.rs` (which checks the selection for targets this machine cannot
// build). Plain Rust with no dependencies, included with `include!`.

/// A target as the table sees it: the values of cargo's `CARGO_CFG_TARGET_*` variables.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub arch: &'a str,
    pub os: &'a str,
    pub pointer_width: &'a str,
    pub endian: &'a str,
}

/// One row: the target it matches exactly, the `green_asm` cfg value and the file under `asm/`.
pub struct Row {
    pub arch: &'static str,
    pub os: &'static [&'static str],
    pub pointer_width: &'static str,
    pub endian: &'static str,
    pub flavour: &'static str,
    pub file: &'static str,
}

/// Every target with an assembly file of its own. A target must match a row in every column:
/// the files assume 64-bit pointers (8-byte stack words) and little-endian byte order (the
/// control bytes of the stack header), so x32, ILP32 and big-endian variants of these
/// architectures get the portable fallback.
pub const ASM_TABLE: &[Row] = &[
    Row {
        arch: "x86_64",
        os: &["linux", "android", "freebsd"],
        pointer_width: "64",
        endian: "little",
        flavour: "x86_64_sysv",
        file: "x86_64_sysv_elf.s",
    },
    Row {
        arch: "aarch64",
        os: &["linux", "android", "freebsd"],
        pointer_width: "64",
        endian: "little",
        flavour: "aarch64_aapcs",
        file: "aarch64_aapcs_elf.s",
    },
];

/// The row for `target`, if it has an assembly file; `None` means the fallback.
pub fn select(target: Target<'_>) -> Option<&'static Row> {
    ASM_TABLE.iter().find(|row| {
        row.arch == target.arch
            && row.os.contains(&target.os)
            && row.pointer_width == target.pointer_width
            && row.endian == target.endian
    })
}
