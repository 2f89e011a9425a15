// The table from target to context-switch assembly, shared by `build.rs` (which selects the
// file) and `tests/asm_table.rs` (which checks the selection, for this machine's targets and
// for the targets it cannot build). Plain Rust with no dependencies, included with `include!`.

/// A target as the table sees it: the architecture as the target triple spells it, and the
/// values of cargo's `CARGO_CFG_TARGET_*` variables.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    /// The first component of the target triple (`TARGET`): it tells apart variants that
    /// share every cfg value, such as `arm64e-apple-darwin` (pointer authentication) and
    /// `aarch64-apple-darwin`.
    pub triple_arch: &'a str,
    pub arch: &'a str,
    pub os: &'a str,
    pub pointer_width: &'a str,
    pub endian: &'a str,
}

impl<'a> Target<'a> {
    /// The target named by `triple` with the given `CARGO_CFG_TARGET_*` values.
    pub fn new(
        triple: &'a str,
        arch: &'a str,
        os: &'a str,
        pointer_width: &'a str,
        endian: &'a str,
    ) -> Target<'a> {
        Target {
            triple_arch: triple.split('-').next().unwrap_or(""),
            arch,
            os,
            pointer_width,
            endian,
        }
    }
}

/// One row: the target it matches exactly, the `green_asm` cfg value and the file under `asm/`.
pub struct Row {
    /// The triple's first component and `target_arch`, which must both be this.
    pub arch: &'static str,
    /// The operating systems (`target_os`) whose ABI and object format the file is written for.
    pub os: &'static [&'static str],
    pub pointer_width: &'static str,
    pub endian: &'static str,
    /// The instruction set and calling convention: selects the Rust half in `src/arch/`.
    pub flavour: &'static str,
    pub file: &'static str,
}

/// Every target with an assembly file of its own. A target must match a row in every column:
/// the files assume 64-bit pointers (8-byte stack words) and little-endian byte order (the
/// control bytes of the stack header), so x32, ILP32 and big-endian variants of these
/// architectures get the portable fallback; the object format (ELF or Mach-O) follows the
/// operating system, so an operating system missing here gets it too.
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
    Row {
        arch: "x86_64",
        os: &["macos"],
        pointer_width: "64",
        endian: "little",
        flavour: "x86_64_sysv",
        file: "x86_64_sysv_macho.s",
    },
    Row {
        arch: "aarch64",
        os: &["macos"],
        pointer_width: "64",
        endian: "little",
        flavour: "aarch64_aapcs",
        file: "aarch64_aapcs_macho.s",
    },
];

/// The row for `target`, if it has an assembly file; `None` means the fallback.
pub fn select(target: Target<'_>) -> Option<&'static Row> {
    ASM_TABLE.iter().find(|row| {
        row.arch == target.triple_arch
            && row.arch == target.arch
            && row.os.contains(&target.os)
            && row.pointer_width == target.pointer_width
            && row.endian == target.endian
    })
}
