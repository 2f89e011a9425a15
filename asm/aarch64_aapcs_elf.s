/*
 * Context switch for AArch64, AAPCS64, ELF.
 *
 * Assembled by src/arch/aarch64.rs with global_asm!; build.rs selects this file.
 *
 * The Rust side calls green_switch from an inline asm! block that declares every caller-saved
 * register (clobber_abi("C"), which also covers v8-v15 and so d8-d15) and x20-x28 as clobbered,
 * so the compiler itself spills only the registers that are live across the switch. What the
 * compiler cannot be told about is saved here: x19 and x29 (reserved by LLVM in inline asm), x30
 * (the return address) and FPCR, whose mode bits the ABI makes callee-saved.
 *
 * A suspended context is a stack pointer that points at this frame:
 *
 *     sp + 24   FPCR
 *     sp + 16   saved x19
 *     sp +  8   saved x30 (return address into the code that called green_switch)
 *     sp +  0   saved x29
 *
 * The frame has the same shape on both sides of the switch, so one set of CFI directives
 * describes every instruction of green_switch, before and after the stack pointer moves.
 */

    .text

/*
 * green_switch(save: *mut *mut u8 [x0], load: *const *mut u8 [x1], value [x2])
 *
 * Pushes the frame above, stores sp to *save, loads sp from *load, pops the frame found there
 * and returns into the other context. x2 passes through untouched: it carries the value handed
 * from one context to the other.
 */
    .globl  green_switch
    .hidden green_switch
    .type   green_switch,%function
    .p2align 4
green_switch:
    .cfi_startproc
    stp     x29, x30, [sp, #-32]!
    .cfi_def_cfa_offset 32
    .cfi_offset x29, -32
    .cfi_offset x30, -24
    mrs     x9, fpcr
    stp     x19, x9, [sp, #16]
    .cfi_offset x19, -16

    mov     x9, sp
    str     x9, [x0]
    ldr     x9, [x1]
    mov     sp, x9

    /* Writing FPCR is slow: only do it when the incoming context's modes differ. */
    ldp     x19, x10, [sp, #16]
    mrs     x11, fpcr
    cmp     x10, x11
    b.ne    2f
1:
    .cfi_remember_state
    ldp     x29, x30, [sp], #32
    .cfi_def_cfa_offset 0
    .cfi_restore x29
    .cfi_restore x30
    .cfi_restore x19
    ret
    .cfi_restore_state
2:
    msr     fpcr, x10
    b       1b
    .cfi_endproc
    .size   green_switch, .-green_switch

/*
 * green_trampoline: where a new context starts.
 *
 * The first green_switch into a new stack pops the initial frame built by src/arch/aarch64.rs:
 * x29 = the Rust entry function, x30 = green_trampoline (so the switch's ret lands here),
 * x19 = top of the stack. The value passed to that first switch is in x2. The entry function is
 * called as entry(value, top) and never returns.
 *
 * Unwinding: the word at top-8 always holds the stack pointer of the context that resumed this
 * one, which points at a green_switch frame (see above). The CFI below makes the caller of this
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
