/*
 * Context switch for AArch64, AAPCS64, ELF.
 *
 * Assembled by src/arch/aarch64.rs with global_asm!; build.rs selects this file.
 *
 * The Rust side enters these routines from inline asm! blocks that declare every caller-saved
 * register (clobber_abi("C"), which also covers v8-v15 and so d8-d15) and x20-x28 as
 * clobbered, so the compiler itself spills only the registers that are live across the switch.
 * What the compiler cannot be told about is saved here: x19 and x29, which LLVM reserves in
 * inline asm, and x30, which holds where to continue.
 *
 * Register use: x0 = top of the coroutine's stack (x1 = top of the other one, for a
 * transfer), x2 = the word handed to the other side (passed through untouched), x9 and x10 =
 * scratch.
 *
 * A suspended context is a stack pointer that points at this frame:
 *
 *     sp + 24   FPCR (only for coroutines that preserve their floating-point control state:
 *               header flag, see src/stack/mod.rs)
 *     sp + 16   saved x19
 *     sp +  8   saved x30: where to continue (an address in the code that switched)
 *     sp +  0   saved x29
 *
 * The frame has the same shape on both sides of a switch, so one set of CFI directives
 * describes every instruction of a routine, before and after the stack pointer moves.
 *
 * Branch prediction: the resumer enters green_resume with bl, and the coroutine leaves with
 * the ret at the end of green_suspend, which returns to that bl: the return stack predicts it.
 * Into the coroutine, green_resume continues with br, and the coroutine enters green_suspend
 * with b after setting x30 to its continuation, so no ret goes where the return stack does not
 * expect it.
 */

    .text

/* Offsets below the top of the stack (src/stack/mod.rs). */
    .set LINK, -8       /* the resumer's stack pointer while the coroutine runs */
    .set SAVED, -16     /* the coroutine's stack pointer while it is suspended */
    .set FLAGS, -40     /* bit 0: preserve FPCR */

/* green_resume(top [x0], value [x2]): called with bl by the resumer; switches into the
   coroutine. */
    .globl  green_resume
    .hidden green_resume
    .type   green_resume,%function
    .p2align 4
green_resume:
    .cfi_startproc
    ldurb   w9, [x0, #FLAGS]
    cbnz    w9, green_resume_fp
    stp     x29, x30, [sp, #-32]!
    .cfi_def_cfa_offset 32
    .cfi_offset x29, -32
    .cfi_offset x30, -24
    str     x19, [sp, #16]
    .cfi_offset x19, -16
    mov     x9, sp
    stur    x9, [x0, #LINK]
    ldur    x9, [x0, #SAVED]
    mov     sp, x9
    ldr     x19, [sp, #16]
    ldp     x29, x30, [sp], #32
    .cfi_def_cfa_offset 0
    .cfi_restore x19
    .cfi_restore x29
    .cfi_restore x30
    br      x30
    .cfi_endproc
    .size   green_resume, .-green_resume

/* green_suspend(top [x0], value [x2]): entered with b by the coroutine, with x30 holding its
   continuation; switches back to the resumer. */
    .globl  green_suspend
    .hidden green_suspend
    .type   green_suspend,%function
    .p2align 4
green_suspend:
    .cfi_startproc
    ldurb   w9, [x0, #FLAGS]
    cbnz    w9, green_suspend_fp
    stp     x29, x30, [sp, #-32]!
    .cfi_def_cfa_offset 32
    .cfi_offset x29, -32
    .cfi_offset x30, -24
    str     x19, [sp, #16]
    .cfi_offset x19, -16
    mov     x9, sp
    stur    x9, [x0, #SAVED]
    ldur    x9, [x0, #LINK]
    mov     sp, x9
    ldr     x19, [sp, #16]
    ldp     x29, x30, [sp], #32
    .cfi_def_cfa_offset 0
    .cfi_restore x19
    .cfi_restore x29
    .cfi_restore x30
    ret
    .cfi_endproc
    .size   green_suspend, .-green_suspend

/* green_transfer(from [x0], to [x1], value [x2]): entered with b by the running coroutine
   `from`, with x30 holding its continuation; suspends it and continues the suspended (or new)
   coroutine `to` in its place, as if `from`'s resumer had resumed `to`: `to` inherits the link
   to that resumer, and its next suspend returns there. For coroutines that do not preserve
   their floating-point control state. */
    .globl  green_transfer
    .hidden green_transfer
    .type   green_transfer,%function
    .p2align 4
green_transfer:
    .cfi_startproc
    stp     x29, x30, [sp, #-32]!
    .cfi_def_cfa_offset 32
    .cfi_offset x29, -32
    .cfi_offset x30, -24
    str     x19, [sp, #16]
    .cfi_offset x19, -16
    mov     x9, sp
    stur    x9, [x0, #SAVED]
    ldur    x9, [x0, #LINK]
    stur    x9, [x1, #LINK]
    ldur    x9, [x1, #SAVED]
    mov     sp, x9
    ldr     x19, [sp, #16]
    ldp     x29, x30, [sp], #32
    .cfi_def_cfa_offset 0
    .cfi_restore x19
    .cfi_restore x29
    .cfi_restore x30
    br      x30
    .cfi_endproc
    .size   green_transfer, .-green_transfer

/*
 * The same two switches for coroutines that keep their own floating-point control state
 * (the ABI makes FPCR's mode bits callee-saved). Writing FPCR is slow, which is why it is a
 * per-coroutine choice.
 */
    .type   green_resume_fp,%function
    .p2align 4
green_resume_fp:
    .cfi_startproc
    stp     x29, x30, [sp, #-32]!
    .cfi_def_cfa_offset 32
    .cfi_offset x29, -32
    .cfi_offset x30, -24
    str     x19, [sp, #16]
    .cfi_offset x19, -16
    mrs     x10, fpcr
    str     x10, [sp, #24]
    mov     x9, sp
    stur    x9, [x0, #LINK]
    ldur    x9, [x0, #SAVED]
    mov     sp, x9
    ldr     x10, [sp, #24]
    msr     fpcr, x10
    ldr     x19, [sp, #16]
    ldp     x29, x30, [sp], #32
    .cfi_def_cfa_offset 0
    .cfi_restore x19
    .cfi_restore x29
    .cfi_restore x30
    br      x30
    .cfi_endproc
    .size   green_resume_fp, .-green_resume_fp

    .type   green_suspend_fp,%function
    .p2align 4
green_suspend_fp:
    .cfi_startproc
    stp     x29, x30, [sp, #-32]!
    .cfi_def_cfa_offset 32
    .cfi_offset x29, -32
    .cfi_offset x30, -24
    str     x19, [sp, #16]
    .cfi_offset x19, -16
    mrs     x10, fpcr
    str     x10, [sp, #24]
    mov     x9, sp
    stur    x9, [x0, #SAVED]
    ldur    x9, [x0, #LINK]
    mov     sp, x9
    ldr     x10, [sp, #24]
    msr     fpcr, x10
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
 * green_trampoline: where a new context starts.
 *
 * The first green_resume into a new stack pops the initial frame built by src/arch/aarch64.rs:
 * x29 = the Rust entry function, x30 = green_trampoline (where the resume continues),
 * x19 = top of the stack. The value passed to that first resume is in x2. The entry function
 * is called as entry(value, top) and never returns.
 *
 * Unwinding: the word at top-8 always holds the stack pointer of the context that resumed this
 * one, which points at a green_resume frame (see above). The CFI below makes the caller of this
 * frame the resumer's frame: CFA = [x19 - 8] + 32, x29 at CFA-32, x30 (return address) at
 * CFA-24, x19 at CFA-16. x19 is callee-saved, so an unwinder recovers it here from the entry
 * function's CFI. Backtraces taken inside a coroutine therefore continue into the resumer.
 */
    .globl  green_trampoline
    .hidden green_trampoline
    .type   green_trampoline,%function
    .p2align 4
green_trampoline:
    .cfi_startproc
    /* DW_CFA_def_cfa_expression: DW_OP_breg19 (x19) -8; DW_OP_deref; DW_OP_plus_uconst 32 */
    .cfi_escape 0x0f, 0x05, 0x83, 0x78, 0x06, 0x23, 0x20
    .cfi_offset x29, -32
    .cfi_offset x30, -24
    .cfi_offset x19, -16
    mov     x0, x2
    mov     x1, x19
    mov     x9, x29
    mov     x29, xzr                /* ends frame-pointer chains here */
    blr     x9
    brk     #1
    .cfi_endproc
    .size   green_trampoline, .-green_trampoline

    .section .note.GNU-stack,"",%progbits
