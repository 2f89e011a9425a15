/*
 * Context switch for x86_64, System V ABI, ELF.
 *
 * Assembled by src/arch/x86_64.rs with global_asm! (AT&T syntax); build.rs selects this file.
 *
 * The Rust side calls green_switch from an inline asm! block that declares every caller-saved
 * register (clobber_abi("C")) and r12-r15 as clobbered, so the compiler itself spills only the
 * registers that are live across the switch. What the compiler cannot be told about is saved
 * here: rbx and rbp (reserved by LLVM in inline asm), and the control bits of MXCSR and the x87
 * control word, which the ABI makes callee-saved.
 *
 * A suspended context is a stack pointer that points at this frame:
 *
 *     sp + 24   return address (into the code that called green_switch)
 *     sp + 16   saved rbp
 *     sp +  8   saved rbx
 *     sp +  4   x87 control word (16 bits)
 *     sp +  0   MXCSR (32 bits)
 *
 * The frame has the same shape on both sides of the switch, so one set of CFI directives
 * describes every instruction of green_switch, before and after the stack pointer moves.
 */

    .text

/*
 * green_switch(save: *mut *mut u8 [rdi], load: *const *mut u8 [rsi], value [rdx])
 *
 * Pushes the frame above, stores the stack pointer to *save, loads the stack pointer from
 * *load, pops the frame found there and returns into the other context. rdx passes through
 * untouched: it carries the value handed from one context to the other.
 */
    .globl  green_switch
    .hidden green_switch
    .type   green_switch,@function
    .p2align 4
green_switch:
    .cfi_startproc
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbp, 0
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    subq    $8, %rsp
    .cfi_adjust_cfa_offset 8
    stmxcsr (%rsp)
    fnstcw  4(%rsp)

    movq    %rsp, (%rdi)
    movq    (%rsi), %rsp

    /*
     * Restore the floating-point control state only when it differs from the current one:
     * ldmxcsr and fldcw are slow, and coroutines almost never change rounding modes.
     * Scratch space lies in the red zone below the incoming frame.
     */
    stmxcsr -8(%rsp)
    movl    -8(%rsp), %eax
    xorl    (%rsp), %eax
    testl   $0xffc0, %eax           /* MXCSR bits 6-15 are control, bits 0-5 are status */
    jnz     2f
1:
    fnstcw  -8(%rsp)
    movzwl  -8(%rsp), %eax
    cmpw    4(%rsp), %ax
    jne     3f
4:
    .cfi_remember_state
    addq    $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    ret
    .cfi_restore_state
2:
    ldmxcsr (%rsp)
    jmp     1b
3:
    fldcw   4(%rsp)
    jmp     4b
    .cfi_endproc
    .size   green_switch, .-green_switch

/*
 * green_trampoline: where a new context starts.
 *
 * The first green_switch into a new stack pops the initial frame built by src/arch/x86_64.rs:
 * rbx = top of the stack, rbp = the Rust entry function, return address = green_trampoline.
 * The value passed to that first switch is in rdx. The entry function is called as
 * entry(value, top) and never returns.
 *
 * Unwinding: the word at top-8 always holds the stack pointer of the context that resumed this
 * one, which points at a green_switch frame (see above). The CFI below makes the caller of this
 * frame the resumer's frame: CFA = [rbx - 8] + 32, return address at CFA-8, rbp at CFA-16, rbx
 * at CFA-24. rbx is callee-saved, so an unwinder recovers it here from the entry function's CFI.
 * Backtraces taken inside a coroutine therefore continue into the code that resumed it.
 */
    .globl  green_trampoline
    .hidden green_trampoline
    .type   green_trampoline,@function
    .p2align 4
green_trampoline:
    .cfi_startproc
    /* DW_CFA_def_cfa_expression: DW_OP_breg3 (rbx) -8; DW_OP_deref; DW_OP_plus_uconst 32 */
    .cfi_escape 0x0f, 0x05, 0x73, 0x78, 0x06, 0x23, 0x20
    .cfi_offset %rip, -8
    .cfi_offset %rbp, -16
    .cfi_offset %rbx, -24
    movq    %rdx, %rdi
    movq    %rbx, %rsi
    movq    %rbp, %rax
    xorl    %ebp, %ebp              /* ends frame-pointer chains here */
    call    *%rax
    ud2
    .cfi_endproc
    .size   green_trampoline, .-green_trampoline

    .section .note.GNU-stack,"",@progbits
