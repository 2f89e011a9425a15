//! The Mach-O assembly files hold the same code and CFI as the ELF files, which run and are
//! checked instruction by instruction on Linux (`.ci/gdb_cfi.sh`): the Mach-O files are only
//! assembled here. Each pair is compared line by line after removing comments and rewriting
//! the differences that the object format requires, each listed below; anything else that
//! differs fails.

use std::path::Path;

fn read(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("asm").join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The code lines of an assembly file: comments, blank lines and trailing blanks removed.
fn code_lines(text: &str) -> Vec<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("*/").expect("unterminated comment");
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out.lines()
        .map(|line| line.trim_end().to_owned())
        .filter(|line| !line.is_empty())
        .collect()
}

/// ELF-only directives: symbol types and sizes, the GNU-stack note; `.text` names the section.
fn normalize_elf(text: &str) -> Vec<String> {
    code_lines(text)
        .into_iter()
        .filter(|line| {
            let directive = line.trim_start();
            !directive.starts_with(".type ")
                && !directive.starts_with(".size ")
                && !directive.starts_with(".section .note.GNU-stack")
        })
        .map(|line| match line.trim() {
            ".text" => "<text section>".to_owned(),
            _ => line,
        })
        .collect()
}

/// Mach-O's spellings turned into ELF's, plus the rewrites in `blocks` (Mach-O lines, then the
/// ELF lines they stand for), each of which must occur exactly once.
fn normalize_macho(text: &str, blocks: &[(&[&str], &[&str])]) -> Vec<String> {
    let mut lines: Vec<String> = code_lines(text)
        .into_iter()
        .map(|line| match line.trim() {
            ".section __TEXT,__text,regular,pure_instructions" => "<text section>".to_owned(),
            _ => line
                .replace(".private_extern ", ".hidden ")
                .replace("_green_", "green_")
                .replace("Lgreen_", "green_"),
        })
        .collect();
    for (macho, elf) in blocks {
        let macho: Vec<String> = macho
            .iter()
            .map(|l| l.replace("_green_", "green_").replace("Lgreen_", "green_"))
            .collect();
        let found: Vec<usize> = (0..lines.len())
            .filter(|&i| lines[i..].starts_with(&macho))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected once in the Mach-O file: {macho:#?}"
        );
        let at = found[0];
        lines.splice(at..at + macho.len(), elf.iter().map(|l| l.to_string()));
    }
    lines
}

fn assert_same(elf_file: &str, macho_file: &str, blocks: &[(&[&str], &[&str])]) {
    let elf = normalize_elf(&read(elf_file));
    let macho = normalize_macho(&read(macho_file), blocks);
    for (i, (e, m)) in elf.iter().zip(&macho).enumerate() {
        assert_eq!(
            e,
            m,
            "code line {} differs between asm/{elf_file} and asm/{macho_file}",
            i + 1
        );
    }
    assert_eq!(
        elf.len(),
        macho.len(),
        "{elf_file} and {macho_file} differ in length"
    );
    // Every unwinder pad is directly followed by its continuation (src/arch: PAD).
    for (i, line) in elf.iter().enumerate() {
        if line.trim() == "nop" {
            let next = elf.get(i + 1).map(|l| l.trim()).unwrap_or("");
            assert!(
                next.starts_with("green_") && next.ends_with("_cont:"),
                "asm/{elf_file}: a nop not followed by a continuation label: {next}"
            );
        }
    }
}

#[test]
fn x86_64_mach_o_matches_elf() {
    assert_same("x86_64_sysv_elf.s", "x86_64_sysv_macho.s", &[]);
}

#[test]
fn aarch64_mach_o_matches_elf() {
    assert_same(
        "aarch64_aapcs_elf.s",
        "aarch64_aapcs_macho.s",
        &[
            // No relocation for adr: adrp and add.
            (
                &[
                    "    adrp    x9, Lgreen_fp_continue_cont@PAGE",
                    "    add     x9, x9, Lgreen_fp_continue_cont@PAGEOFF",
                ],
                &["    adr     x9, green_fp_continue_cont"],
            ),
            (
                &[
                    "    adrp    x10, Lgreen_finished_cont@PAGE",
                    "    add     x10, x10, Lgreen_finished_cont@PAGEOFF",
                ],
                &["    adr     x10, green_finished_cont"],
            ),
            // No relocation for tbnz: a b after green_suspend's ret, with the entry's CFI.
            (
                &[
                    "    .cfi_register x30, x9",
                    "    .cfi_remember_state",
                    "    ldurb   w10, [x21, #FLAGS]",
                    "    tbnz    w10, #0, Lgreen_suspend_to_fp",
                ],
                &[
                    "    .cfi_register x30, x9",
                    "    ldurb   w10, [x21, #FLAGS]",
                    "    tbnz    w10, #0, green_suspend_fp",
                ],
            ),
            (
                &[
                    "    ret",
                    "    .cfi_restore_state",
                    "Lgreen_suspend_to_fp:",
                    "    b       _green_suspend_fp",
                ],
                &["    ret"],
            ),
        ],
    );
}

#[test]
fn no_aarch64_file_touches_x18() {
    // x18 is the platform register on Apple (and on Android with shadow call stacks).
    for file in ["aarch64_aapcs_elf.s", "aarch64_aapcs_macho.s"] {
        for line in code_lines(&read(file)) {
            let uses = line
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|word| word == "x18" || word == "w18");
            assert!(!uses, "asm/{file} uses x18: {line}");
        }
    }
}

#[test]
fn mach_o_files_have_no_elf_directives() {
    for file in ["x86_64_sysv_macho.s", "aarch64_aapcs_macho.s"] {
        for line in code_lines(&read(file)) {
            let directive = line.trim_start();
            let first = directive.split_whitespace().next().unwrap_or("");
            assert!(
                ![".type", ".size", ".hidden", ".text"].contains(&first)
                    && !directive.contains(".note.GNU-stack"),
                "asm/{file}: ELF directive: {line}"
            );
            // Global symbols on Mach-O carry the C underscore.
            if let Some(name) = directive.strip_prefix(".globl") {
                assert!(name.trim().starts_with('_'), "asm/{file}: {line}");
            }
        }
    }
}
