/*
 * Context switch for AArch64, AAPCS64 as Apple uses it, Mach-O (macOS).
 *
 * Assembled by src/arch/aarch64.rs with global_asm!; build.rs selects this file for
 * aarch64-apple-darwin. The routines, registers, stack header words, frames and CFI are those
 * of asm/aarch64_aapcs_elf.s, whose comments explain them; tests/asm_sources.rs checks that
 * the two files differ only as described here. Apple's variant of the ABI has the same
 * callee-saved registers and reserves x18, which neither file uses. This file is assembled in
 * CI but has not run: no macOS machine tests it.
 *
 * What Mach-O needs instead of ELF:
 *
 * - C symbols carry a leading underscore: Rust's `green_resume` is `_green_resume` here.
 * - `.private_extern` instead of `.hidden`; no `.type`, `.size` or GNU-stack note; the code
 *   goes in `__TEXT,__text`.
 * - Objects are built with subsections via symbols: the linker treats the code from one
 *   symbol to the next as a unit (an atom), which it may move, or drop when nothing refers to
 *   it. Each routine therefore starts its own atom and reaches the others only through
 *   relocations. The continuations inside routines (the `_cont` labels, behind their
 *   unwinder pads) are assembler-local `L` labels, which make no symbol: a symbol there, even
 *   an `.alt_entry` one, splits the routine's unwind information (lld gives such a symbol an
 *   unwind entry of its own, an empty one). Rust finds them one pad past the start of their
 *   routine (`PAD` in src/arch/), on ELF too.
 * - Mach-O has relocations for b, bl, adrp and the low 12 bits of an address, but none for
 *   adr or the short conditional branches. The address of a continuation in another routine
 *   is therefore formed with adrp and add, and green_suspend reaches green_suspend_fp through
 *   a b placed after its ret (with the CFI of the entry again), so that its usual path is the
 *   same tbnz not taken as on ELF.
 * - The assembler describes each routine for the platform's unwinder: a routine whose CFI the
 *   compact unwind format cannot express (DWARF expressions, a return address in another
 *   register, a signal frame; every routine here has one of them) gets a compact unwind entry
 *   that points the unwinder to its DWARF FDE in __eh_frame, interpreted as on Linux.
 *   .ci/macho_unwind.sh links the routines with lld and checks those entries.
 */

    .section __TEXT,__text,regular,pure_instructions

/* Header words: offsets below the top of the stack (src/stack/mod.rs). */
    .set LINK, -8
    .set SAVED, -16
    .set FLAGS, -40
    .set CONT, -48
    .set FP_CONT, -64
    .set FP_SELF, -72
    .set FP_RESUMER, -80

/*
 * green_resume(top [x21], word [x20]): called with bl by the resumer; switches into the
 * coroutine, which continues at CONT.
 */
    .globl  _green_resume
    .private_extern _green_resume
    .p2align 4
_green_resume:
    .cfi_startproc
    stp     x29, x30, [sp, #-32]!
    .cfi_def_cfa_offset 32
    .cfi_offset x29, -32
    .cfi_offset x30, -24
    str     x19, [sp, #16]
    .cfi_offset x19, -16
    mov     x9, sp
    stur    x9, [x21, #LINK]
    ldur    x9, [x21, #SAVED]
    mov     sp, x9
    /* The coroutine's frame: CFA = sp + 16, return address in CONT. */
    .cfi_def_cfa_offset 16
    .cfi_offset x29, -16
    .cfi_offset x19, -8
    /* DW_CFA_expression: x30 at DW_OP_breg21 (x21) -48 */
    .cfi_escape 0x10, 0x1e, 0x02, 0x85, 0x50
    ldp     x29, x19, [sp], #16
    .cfi_def_cfa_offset 0
    .cfi_restore x29
    .cfi_restore x19
    ldur    x9, [x21, #CONT]
    br      x9
    .cfi_endproc

/*
 * green_suspend(top [x21], word [x20], continuation [x9]): entered with b by the running
 * coroutine; records its continuation and switches back to the resumer.
 */
    .globl  _green_suspend
    .private_extern _green_suspend
    .p2align 4
_green_suspend:
    .cfi_startproc
    /* Entered by a branch: the caller's stack pointer is sp, its continuation is in x9. */
    .cfi_register x30, x9
    .cfi_remember_state
    ldurb   w10, [x21, #FLAGS]
    tbnz    w10, #0, Lgreen_suspend_to_fp
    stp     x29, x19, [sp, #-16]!
    .cfi_def_cfa_offset 16
    .cfi_offset x29, -16
    .cfi_offset x19, -8
    stur    x9, [x21, #CONT]
    mov     x10, sp
    stur    x10, [x21, #SAVED]
    ldur    x10, [x21, #LINK]
    mov     sp, x10
    /* The resumer's frame: CFA = sp + 32. */
    .cfi_def_cfa_offset 32
    .cfi_offset x29, -32
    .cfi_offset x30, -24
    .cfi_offset x19, -16
    ldr     x19, [sp, #16]
    ldp     x29, x30, [sp], #32
    .cfi_def_cfa_offset 0
    .cfi_restore x19
    .cfi_restore x29
    .cfi_restore x30
    ret
    /* The way to green_suspend_fp (see the header comment), with the CFI of the entry. */
    .cfi_restore_state
Lgreen_suspend_to_fp:
    b       _green_suspend_fp
    .cfi_endproc

/*
 * green_suspend_fp: green_suspend for a coroutine that preserves its floating-point control
 * state. Keeps the coroutine's FPCR in FP_SELF and its continuation in FP_CONT, leaves
 * green_fp_continue in CONT, and gives the resumer back its own FPCR.
 */
    .p2align 4
_green_suspend_fp:
    .cfi_startproc
    .cfi_register x30, x9
    mrs     x10, fpcr
    stur    x10, [x21, #FP_SELF]
    ldur    x10, [x21, #FP_RESUMER]
    msr     fpcr, x10
    stp     x29, x19, [sp, #-16]!
    .cfi_def_cfa_offset 16
    .cfi_offset x29, -16
    .cfi_offset x19, -8
    stur    x9, [x21, #FP_CONT]
    /* x9 is reused: DW_CFA_expression: x30 at DW_OP_breg21 (x21) -64 (FP_CONT) */
    .cfi_escape 0x10, 0x1e, 0x02, 0x85, 0x40
    adrp    x9, Lgreen_fp_continue_cont@PAGE
    add     x9, x9, Lgreen_fp_continue_cont@PAGEOFF
    stur    x9, [x21, #CONT]
    mov     x10, sp
    stur    x10, [x21, #SAVED]
    ldur    x10, [x21, #LINK]
    mov     sp, x10
    /* The resumer's frame: CFA = sp + 32. */
    .cfi_def_cfa_offset 32
    .cfi_offset x29, -32
    .cfi_offset x30, -24
    .cfi_offset x19, -16
    ldr     x19, [sp, #16]
    ldp     x29, x30, [sp], #32
    .cfi_def_cfa_offset 0
    .cfi_restore x19
    .cfi_restore x29
    .cfi_restore x30
    ret
    .cfi_endproc

/*
 * green_fp_continue: CONT of a suspended coroutine that preserves its floating-point control
 * state (entered at green_fp_continue_cont), reached from green_resume on the coroutine's
 * stack. Keeps the resumer's FPCR in FP_RESUMER, loads the coroutine's own, and continues at
 * FP_CONT.
 */
    .p2align 4
_green_fp_continue:
    .cfi_startproc
    /* DW_CFA_expression: x30 at DW_OP_breg21 (x21) -64 */
    .cfi_escape 0x10, 0x1e, 0x02, 0x85, 0x40
    nop                             /* unwinder pad, never executed (see CFI above) */
Lgreen_fp_continue_cont:
    mrs     x10, fpcr
    stur    x10, [x21, #FP_RESUMER]
    ldur    x10, [x21, #FP_SELF]
    msr     fpcr, x10
    ldur    x9, [x21, #FP_CONT]
    br      x9
    .cfi_endproc

/*
 * green_transfer(from [x21], to [x22], continuation [x9]): entered with b by the running
 * coroutine `from`; suspends it and continues the suspended (or new) coroutine `to` in its
 * place, as if `from`'s resumer had resumed `to`: `to` inherits the link to that resumer, and
 * its next suspend returns there. For coroutines that do not preserve their floating-point
 * control state. No word is handed over.
 */
    .globl  _green_transfer
    .private_extern _green_transfer
    .p2align 4
_green_transfer:
    .cfi_startproc
    .cfi_register x30, x9
    stp     x29, x19, [sp, #-16]!
    .cfi_def_cfa_offset 16
    .cfi_offset x29, -16
    .cfi_offset x19, -8
    stur    x9, [x21, #CONT]
    mov     x10, sp
    stur    x10, [x21, #SAVED]
    ldur    x10, [x21, #LINK]
    stur    x10, [x22, #LINK]
    ldur    x10, [x22, #SAVED]
    mov     sp, x10
    /* `to`'s frame: CFA = sp + 16, return address in its CONT. */
    .cfi_def_cfa_offset 16
    .cfi_offset x29, -16
    .cfi_offset x19, -8
    /* DW_CFA_expression: x30 at DW_OP_breg22 (x22) -48 */
    .cfi_escape 0x10, 0x1e, 0x02, 0x86, 0x50
    ldp     x29, x19, [sp], #16
    .cfi_def_cfa_offset 0
    .cfi_restore x29
    .cfi_restore x19
    mov     x21, x22
    ldur    x9, [x21, #CONT]
    br      x9
    .cfi_endproc

/*
 * green_finish(top [x21], word [x20]): the last switch of a coroutine whose entry function has
 * finished, entered with b and never continued. Leaves green_finished as its continuation, so
 * that a later resume comes straight back, gives the resumer back its FPCR if the coroutine
 * switched it, and returns to the resumer with x21 = 0, as green_finished does. SAVED keeps
 * pointing at the frame of the coroutine's last suspend (or its initial frame): a later resume
 * pops that frame, whose values green_finished then discards.
 *
 * Its caller is the resumer, found through LINK: CFA = [x21 - 8] + 32, x29 at CFA-32, x30
 * (return address) at CFA-24, x19 at CFA-16. It does not continue into green_finished, whose
 * frame is a signal frame: it returns through a copy of green_finished's last instructions.
 */
    .globl  _green_finish
    .private_extern _green_finish
    .p2align 4
_green_finish:
    .cfi_startproc
    /* DW_CFA_def_cfa_expression: DW_OP_breg21 (x21) -8; DW_OP_deref; DW_OP_plus_uconst 32 */
    .cfi_escape 0x0f, 0x05, 0x85, 0x78, 0x06, 0x23, 0x20
    .cfi_offset x29, -32
    .cfi_offset x30, -24
    .cfi_offset x19, -16
    adrp    x10, Lgreen_finished_cont@PAGE
    add     x10, x10, Lgreen_finished_cont@PAGEOFF
    stur    x10, [x21, #CONT]
    ldurb   w10, [x21, #FLAGS]
    tbz     w10, #0, 1f
    ldur    x10, [x21, #FP_RESUMER]
    msr     fpcr, x10
1:
    ldur    x10, [x21, #LINK]
    mov     sp, x10
    .cfi_def_cfa sp, 32
    ldr     x19, [sp, #16]
    ldp     x29, x30, [sp], #32
    .cfi_def_cfa_offset 0
    .cfi_restore x19
    .cfi_restore x29
    .cfi_restore x30
    mov     x21, xzr
    ret
    .cfi_endproc

/*
 * green_finished: CONT of a finished coroutine (green_finished_cont), reached from
 * green_resume on its stack. Returns to the resumer at once with x21 = 0, so that resuming a
 * finished coroutine needs no test before the switch.
 *
 * Its caller is the resumer, found through LINK as in green_finish; a backtrace leaves the
 * finished coroutine's stack here, so the frame is a signal frame (see CFI above).
 */
    .globl  _green_finished
    .private_extern _green_finished
    .p2align 4
_green_finished:
    .cfi_startproc
    .cfi_signal_frame
    /* DW_CFA_def_cfa_expression: DW_OP_breg21 (x21) -8; DW_OP_deref; DW_OP_plus_uconst 32 */
    .cfi_escape 0x0f, 0x05, 0x85, 0x78, 0x06, 0x23, 0x20
    .cfi_offset x29, -32
    .cfi_offset x30, -24
    .cfi_offset x19, -16
    nop                             /* unwinder pad, never executed (see CFI above) */
Lgreen_finished_cont:
    ldur    x10, [x21, #LINK]
    mov     sp, x10
    .cfi_def_cfa sp, 32
    ldr     x19, [sp, #16]
    ldp     x29, x30, [sp], #32
    .cfi_def_cfa_offset 0
    .cfi_restore x19
    .cfi_restore x29
    .cfi_restore x30
    mov     x21, xzr
    ret
    .cfi_endproc

/*
 * green_trampoline, green_trampoline_fp: where a new context starts (its first CONT,
 * green_trampoline_cont or green_trampoline_fp_cont).
 *
 * The first resume into a new stack pops the initial frame built by src/arch/aarch64.rs:
 * x29 = the Rust entry function, x19 = top of the stack. The word passed to that first resume
 * is in x20. The entry function is called as entry(word, top) and never returns. The _fp
 * variant first keeps the resumer's FPCR in FP_RESUMER and loads the one in FP_SELF, written
 * when the context was created.
 *
 * Unwinding: LINK always holds the stack pointer of the context that resumed this one, which
 * points at a resumer's frame (see above). The CFI below makes the caller of this frame the
 * resumer's frame: CFA = [x19 - 8] + 32, x29 at CFA-32, x30 (return address) at CFA-24, x19
 * at CFA-16. x19 is callee-saved, so an unwinder recovers it here from the entry function's
 * CFI. Backtraces taken inside a coroutine therefore continue into the resumer. They leave
 * the coroutine's stack here: a signal frame (see CFI above).
 */
    .globl  _green_trampoline
    .private_extern _green_trampoline
    .p2align 4
_green_trampoline:
    .cfi_startproc
    .cfi_signal_frame
    /* DW_CFA_def_cfa_expression: DW_OP_breg19 (x19) -8; DW_OP_deref; DW_OP_plus_uconst 32 */
    .cfi_escape 0x0f, 0x05, 0x83, 0x78, 0x06, 0x23, 0x20
    .cfi_offset x29, -32
    .cfi_offset x30, -24
    .cfi_offset x19, -16
    nop                             /* unwinder pad, never executed (see CFI above) */
Lgreen_trampoline_cont:
    mov     x0, x20
    mov     x1, x19
    mov     x9, x29
    mov     x29, xzr                /* ends frame-pointer chains here */
    blr     x9
    brk     #1
    .cfi_endproc

    .globl  _green_trampoline_fp
    .private_extern _green_trampoline_fp
    .p2align 4
_green_trampoline_fp:
    .cfi_startproc
    .cfi_signal_frame
    /* DW_CFA_def_cfa_expression: DW_OP_breg19 (x19) -8; DW_OP_deref; DW_OP_plus_uconst 32 */
    .cfi_escape 0x0f, 0x05, 0x83, 0x78, 0x06, 0x23, 0x20
    .cfi_offset x29, -32
    .cfi_offset x30, -24
    .cfi_offset x19, -16
    nop                             /* unwinder pad, never executed (see CFI above) */
Lgreen_trampoline_fp_cont:
    mrs     x10, fpcr
    stur    x10, [x19, #FP_RESUMER]
    ldur    x10, [x19, #FP_SELF]
    msr     fpcr, x10
    mov     x0, x20
    mov     x1, x19
    mov     x9, x29
    mov     x29, xzr                /* ends frame-pointer chains here */
    blr     x9
    brk     #1
    .cfi_endproc
