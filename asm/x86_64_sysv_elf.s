/*
 * Context switch for x86_64, System V ABI, ELF.
 *
 * Assembled by src/arch/x86_64.rs with global_asm! (AT&T syntax); build.rs selects this file.
 *
 * The Rust side enters these routines from inline asm! blocks that declare every caller-saved
 * register (clobber_abi("C")) and r12-r15 as clobbered, so the compiler itself spills only the
 * registers that are live across the switch. What the compiler cannot be told about is saved
 * here: rbx and rbp, which LLVM reserves in inline asm.
 *
 * Register use: rdi = top of the coroutine's stack (rsi = top of the other one, for a
 * transfer), rdx = the word handed to the other side (passed through untouched), rcx = scratch.
 *
 * A suspended context is a stack pointer that points at this frame:
 *
 *     sp + 16   where to continue (a return address into the code that switched)
 *     sp +  8   saved rbp
 *     sp +  0   saved rbx
 *
 * Coroutines that preserve their floating-point control state (a flag in the stack header,
 * see src/stack/mod.rs) switch through the _fp routines, whose frame has one more word below:
 *
 *     sp + 24   where to continue
 *     sp + 16   saved rbp
 *     sp +  8   saved rbx
 *     sp +  4   x87 control word
 *     sp +  0   MXCSR
 *
 * The frame has the same shape on both sides of a switch, so one set of CFI directives
 * describes every instruction of a routine, before and after the stack pointer moves.
 *
 * Branch prediction: the resumer enters green_resume with a call, and the coroutine leaves
 * with the ret at the end of green_suspend, which returns to that call: the CPU's return
 * stack predicts it. Into the coroutine, green_resume continues with an indirect jmp, and the
 * coroutine enters green_suspend with a jmp after pushing its continuation, so no ret ever
 * goes where the return stack does not expect it.
 */

    .text

/* Offsets below the top of the stack (src/stack/mod.rs). */
    .set LINK, -8       /* the resumer's stack pointer while the coroutine runs */
    .set SAVED, -16     /* the coroutine's stack pointer while it is suspended */
    .set FLAGS, -40     /* bit 0: preserve MXCSR and the x87 control word */

/* green_resume(top [rdi], value [rdx]): called by the resumer; switches into the coroutine. */
    .globl  green_resume
    .hidden green_resume
    .type   green_resume,@function
    .p2align 4
green_resume:
    .cfi_startproc
    testb   $1, FLAGS(%rdi)
    jnz     green_resume_fp
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbp, 0
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    movq    %rsp, LINK(%rdi)
    movq    SAVED(%rdi), %rsp
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    popq    %rcx
    .cfi_adjust_cfa_offset -8
    .cfi_register %rip, %rcx
    jmpq    *%rcx
    .cfi_endproc
    .size   green_resume, .-green_resume

/* green_suspend(top [rdi], value [rdx]): entered with a jmp by the coroutine, with its
   continuation pushed like a return address; switches back to the resumer. */
    .globl  green_suspend
    .hidden green_suspend
    .type   green_suspend,@function
    .p2align 4
green_suspend:
    .cfi_startproc
    testb   $1, FLAGS(%rdi)
    jnz     green_suspend_fp
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbp, 0
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    movq    %rsp, SAVED(%rdi)
    movq    LINK(%rdi), %rsp
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    ret
    .cfi_endproc
    .size   green_suspend, .-green_suspend

/* green_transfer(from [rdi], to [rsi], value [rdx]): entered with a jmp by the running
   coroutine `from`, with its continuation pushed like a return address; suspends it and
   continues the suspended (or new) coroutine `to` in its place, as if `from`'s resumer had
   resumed `to`: `to` inherits the link to that resumer, and its next suspend returns there.
   For coroutines that do not preserve their floating-point control state. */
    .globl  green_transfer
    .hidden green_transfer
    .type   green_transfer,@function
    .p2align 4
green_transfer:
    .cfi_startproc
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbp, 0
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    movq    %rsp, SAVED(%rdi)
    movq    LINK(%rdi), %rcx
    movq    %rcx, LINK(%rsi)
    movq    SAVED(%rsi), %rsp
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    popq    %rcx
    .cfi_adjust_cfa_offset -8
    .cfi_register %rip, %rcx
    jmpq    *%rcx
    .cfi_endproc
    .size   green_transfer, .-green_transfer

/*
 * The same two switches for coroutines that keep their own floating-point control state:
 * the ABI makes the control bits of MXCSR and the x87 control word callee-saved. Saving and
 * loading them costs several times a plain switch, which is why it is a per-coroutine choice.
 */
    .type   green_resume_fp,@function
    .p2align 4
green_resume_fp:
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
    movq    %rsp, LINK(%rdi)
    movq    SAVED(%rdi), %rsp
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    popq    %rcx
    .cfi_adjust_cfa_offset -8
    .cfi_register %rip, %rcx
    jmpq    *%rcx
    .cfi_endproc
    .size   green_resume_fp, .-green_resume_fp

    .type   green_suspend_fp,@function
    .p2align 4
green_suspend_fp:
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
    movq    %rsp, SAVED(%rdi)
    movq    LINK(%rdi), %rsp
    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    ret
    .cfi_endproc
    .size   green_suspend_fp, .-green_suspend_fp

/*
 * green_trampoline, green_trampoline_fp: where a new context starts.
 *
 * The first green_resume into a new stack pops the initial frame built by src/arch/x86_64.rs:
 * rbx = top of the stack, rbp = the Rust entry function, continuation = the trampoline. The
 * value passed to that first resume is in rdx. The entry function is called as
 * entry(value, top) and never returns.
 *
 * Unwinding: the word at top-8 always holds the stack pointer of the context that resumed this
 * one, which points at a green_resume frame (see above). The CFI below makes the caller of this
 * frame the resumer's frame: CFA = [rbx - 8] + 24 (+ 8 for the _fp frame), return address at
 * CFA-8, rbp at CFA-16, rbx at CFA-24. rbx is callee-saved, so an unwinder recovers it here from
 * the entry function's CFI. Backtraces taken inside a coroutine therefore continue into the
 * code that resumed it.
 */
    .globl  green_trampoline
    .hidden green_trampoline
    .type   green_trampoline,@function
    .p2align 4
green_trampoline:
    .cfi_startproc
    /* DW_CFA_def_cfa_expression: DW_OP_breg3 (rbx) -8; DW_OP_deref; DW_OP_plus_uconst 24 */
    .cfi_escape 0x0f, 0x05, 0x73, 0x78, 0x06, 0x23, 0x18
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

    .globl  green_trampoline_fp
    .hidden green_trampoline_fp
    .type   green_trampoline_fp,@function
    .p2align 4
green_trampoline_fp:
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
    .size   green_trampoline_fp, .-green_trampoline_fp

    .section .note.GNU-stack,"",@progbits
