/*
 * Context switch for AArch64, AAPCS64, ELF.
 *
 * Assembled by src/arch/aarch64.rs with global_asm!; build.rs selects this file.
 *
 * The Rust side enters these routines from inline asm! blocks that declare every caller-saved
 * register (clobber_abi("C"), which also covers v8-v15 and so d8-d15) and x20-x28 as
 * clobbered (less the ones it passes), so the compiler itself spills only the registers that
 * are live across the switch. What the compiler cannot be told about is saved here: x19 and
 * x29, which LLVM reserves in inline asm, and x30, the resumer's return address.
 *
 * Every routine finds what it needs in the header words at the top of the coroutine's stack
 * (src/stack/mod.rs), addressed from x21 = top of that stack:
 *
 *     top - 8    LINK        the resumer's stack pointer while the coroutine runs
 *     top - 16   SAVED       the coroutine's stack pointer while it is suspended
 *     top - 40   FLAGS       bit 0: the coroutine preserves its floating-point control state
 *     top - 48   CONT        where the suspended coroutine continues
 *     top - 64   FP_CONT     where a coroutine that preserves its floating-point control
 *                            state continues, after green_fp_continue (its CONT)
 *     top - 72   FP_SELF     that coroutine's FPCR while it is suspended
 *     top - 80   FP_RESUMER  its resumer's FPCR while it runs
 *
 * Register use: x21 = top of the coroutine's stack (x22 = top of the other one, for a
 * transfer); x20 = the word handed to the other side, passed through untouched; x9 = the
 * continuation of a coroutine that suspends; x10 = scratch. Both x20 and x21 are callee-saved,
 * so the compiler can keep the word and the top there across its own calls. A coroutine is
 * always continued with x21 = its top. When a resume returns, x21 holds the top of the stack
 * of the coroutine that suspended (after transfers, not necessarily the one resumed), or 0 if
 * the coroutine finished.
 *
 * Frames. The resumer's side of a switch, on the resumer's stack while the coroutine runs
 * (LINK points at it; 32 bytes):
 *
 *     LINK + 16   saved x19
 *     LINK +  8   saved x30: the return address into the resumer
 *     LINK +  0   saved x29
 *
 * A suspended coroutine, on its own stack (SAVED points at it; its continuation is in CONT):
 *
 *     SAVED + 8   saved x19
 *     SAVED + 0   saved x29
 *
 * Every switch enters the routines with a direct bl or b. The resumer enters green_resume
 * with bl, and the coroutine leaves with the ret at the end of green_suspend, which returns
 * to that bl: the return stack predicts it. Into the coroutine, green_resume continues with br
 * to CONT, and the coroutine enters green_suspend with b, so no ret goes where the return
 * stack does not expect it.
 *
 * Floating-point control state (FPCR's mode bits are callee-saved in the ABI; switched only
 * for coroutines that ask for it, because writing FPCR is slow): such a coroutine suspends
 * through green_suspend_fp, which leaves green_fp_continue in CONT; the plain green_resume
 * therefore needs no test. green_suspend tests FLAGS.
 *
 * CFI, exact at every instruction (.ci/gdb_cfi.sh single-steps each one in gdb and checks
 * that the backtrace walks to the root of the thread):
 *
 * - Each routine describes its frame before the stack pointer moves, and after it the frame
 *   found on the other stack (a suspended coroutine's frame, whose return address is CONT, or
 *   the resumer's frame, whose return address is on the stack).
 * - A return address held in a register (x9, on entry by a branch) is described there only
 *   until the register is reused; from the store that keeps it in a header word on, the rule
 *   names that word.
 * - A routine whose caller is the resumer but which runs before the switch to the resumer's
 *   stack (green_finish, green_finished) finds the resumer's frame through LINK, as the
 *   trampolines do.
 * - Continuations that start a routine (green_trampoline, green_trampoline_fp,
 *   green_fp_continue, green_finished) are entered at a label after a nop that is never
 *   executed (green_trampoline_cont, ...). While green_resume or green_transfer switches,
 *   the continuation is the return address of its frame, and unwinders look a return address
 *   up one byte before it (after a call that never returns, the address itself may belong to
 *   the next function): at a routine's first byte that byte would belong to the routine
 *   before. The nop puts it inside the continuation's own symbol and FDE, whose CFI there is
 *   the CFI at the continuation. The nop is not on any path: green_resume branches past it.
 *   The continuation labels are local, not symbols: Rust finds each one a nop past the
 *   start of its routine (`PAD` in src/arch/). In the Mach-O file a symbol inside a routine
 *   would split the routine's unwind information, and both files do the same.
 * - The frames where a backtrace leaves a coroutine's stack for its resumer's, the
 *   trampolines and green_finished, are marked .cfi_signal_frame. gdb stops a backtrace whose
 *   next frame lies at a lower address ("previous frame inner to this frame") unless the frame
 *   is a signal frame, and a coroutine's stack may lie above its resumer's, in particular a
 *   stack reused from the pool. The flag also tells unwinders that the caller's return address
 *   is the exact address of its next instruction, to be looked up as it is and not one byte
 *   before: true here, since the caller is always the resumer's frame that green_resume
 *   pushed, which continues after its bl inside the same function, with the CFI of the bl.
 *   gdb names such a frame "<signal handler called>".
 */

    .text

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
    .globl  green_resume
    .hidden green_resume
    .type   green_resume,%function
    .p2align 4
green_resume:
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
    .size   green_resume, .-green_resume

/*
 * green_suspend(top [x21], word [x20], continuation [x9]): entered with b by the running
 * coroutine; records its continuation and switches back to the resumer.
 */
    .globl  green_suspend
    .hidden green_suspend
    .type   green_suspend,%function
    .p2align 4
green_suspend:
    .cfi_startproc
    /* Entered by a branch: the caller's stack pointer is sp, its continuation is in x9. */
    .cfi_register x30, x9
    ldurb   w10, [x21, #FLAGS]
    tbnz    w10, #0, green_suspend_fp
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
    .cfi_endproc
    .size   green_suspend, .-green_suspend

/*
 * green_suspend_fp: green_suspend for a coroutine that preserves its floating-point control
 * state. Keeps the coroutine's FPCR in FP_SELF and its continuation in FP_CONT, leaves
 * green_fp_continue in CONT, and gives the resumer back its own FPCR.
 */
    .type   green_suspend_fp,%function
    .p2align 4
green_suspend_fp:
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
    adr     x9, green_fp_continue_cont
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
    .size   green_suspend_fp, .-green_suspend_fp

/*
 * green_fp_continue: CONT of a suspended coroutine that preserves its floating-point control
 * state (entered at green_fp_continue_cont), reached from green_resume on the coroutine's
 * stack. Keeps the resumer's FPCR in FP_RESUMER, loads the coroutine's own, and continues at
 * FP_CONT.
 */
    .type   green_fp_continue,%function
    .p2align 4
green_fp_continue:
    .cfi_startproc
    /* DW_CFA_expression: x30 at DW_OP_breg21 (x21) -64 */
    .cfi_escape 0x10, 0x1e, 0x02, 0x85, 0x40
    nop                             /* unwinder pad, never executed (see CFI above) */
green_fp_continue_cont:
    mrs     x10, fpcr
    stur    x10, [x21, #FP_RESUMER]
    ldur    x10, [x21, #FP_SELF]
    msr     fpcr, x10
    ldur    x9, [x21, #FP_CONT]
    br      x9
    .cfi_endproc
    .size   green_fp_continue, .-green_fp_continue

/*
 * green_transfer(from [x21], to [x22], continuation [x9]): entered with b by the running
 * coroutine `from`; suspends it and continues the suspended (or new) coroutine `to` in its
 * place, as if `from`'s resumer had resumed `to`: `to` inherits the link to that resumer, and
 * its next suspend returns there. For coroutines that do not preserve their floating-point
 * control state. No word is handed over.
 */
    .globl  green_transfer
    .hidden green_transfer
    .type   green_transfer,%function
    .p2align 4
green_transfer:
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
    .size   green_transfer, .-green_transfer

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
    .globl  green_finish
    .hidden green_finish
    .type   green_finish,%function
    .p2align 4
green_finish:
    .cfi_startproc
    /* DW_CFA_def_cfa_expression: DW_OP_breg21 (x21) -8; DW_OP_deref; DW_OP_plus_uconst 32 */
    .cfi_escape 0x0f, 0x05, 0x85, 0x78, 0x06, 0x23, 0x20
    .cfi_offset x29, -32
    .cfi_offset x30, -24
    .cfi_offset x19, -16
    adr     x10, green_finished_cont
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
    .size   green_finish, .-green_finish

/*
 * green_finished: CONT of a finished coroutine (green_finished_cont), reached from
 * green_resume on its stack. Returns to the resumer at once with x21 = 0, so that resuming a
 * finished coroutine needs no test before the switch.
 *
 * Its caller is the resumer, found through LINK as in green_finish; a backtrace leaves the
 * finished coroutine's stack here, so the frame is a signal frame (see CFI above).
 */
    .globl  green_finished
    .hidden green_finished
    .type   green_finished,%function
    .p2align 4
green_finished:
    .cfi_startproc
    .cfi_signal_frame
    /* DW_CFA_def_cfa_expression: DW_OP_breg21 (x21) -8; DW_OP_deref; DW_OP_plus_uconst 32 */
    .cfi_escape 0x0f, 0x05, 0x85, 0x78, 0x06, 0x23, 0x20
    .cfi_offset x29, -32
    .cfi_offset x30, -24
    .cfi_offset x19, -16
    nop                             /* unwinder pad, never executed (see CFI above) */
green_finished_cont:
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
    .size   green_finished, .-green_finished

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
    .globl  green_trampoline
    .hidden green_trampoline
    .type   green_trampoline,%function
    .p2align 4
green_trampoline:
    .cfi_startproc
    .cfi_signal_frame
    /* DW_CFA_def_cfa_expression: DW_OP_breg19 (x19) -8; DW_OP_deref; DW_OP_plus_uconst 32 */
    .cfi_escape 0x0f, 0x05, 0x83, 0x78, 0x06, 0x23, 0x20
    .cfi_offset x29, -32
    .cfi_offset x30, -24
    .cfi_offset x19, -16
    nop                             /* unwinder pad, never executed (see CFI above) */
green_trampoline_cont:
    mov     x0, x20
    mov     x1, x19
    mov     x9, x29
    mov     x29, xzr                /* ends frame-pointer chains here */
    blr     x9
    brk     #1
    .cfi_endproc
    .size   green_trampoline, .-green_trampoline

    .globl  green_trampoline_fp
    .hidden green_trampoline_fp
    .type   green_trampoline_fp,%function
    .p2align 4
green_trampoline_fp:
    .cfi_startproc
    .cfi_signal_frame
    /* DW_CFA_def_cfa_expression: DW_OP_breg19 (x19) -8; DW_OP_deref; DW_OP_plus_uconst 32 */
    .cfi_escape 0x0f, 0x05, 0x83, 0x78, 0x06, 0x23, 0x20
    .cfi_offset x29, -32
    .cfi_offset x30, -24
    .cfi_offset x19, -16
    nop                             /* unwinder pad, never executed (see CFI above) */
green_trampoline_fp_cont:
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
    .size   green_trampoline_fp, .-green_trampoline_fp

    .section .note.GNU-stack,"",%progbits
