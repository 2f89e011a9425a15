/*
 * Context switch for x86_64, System V ABI, ELF.
 *
 * Assembled by src/arch/x86_64.rs with global_asm! (AT&T syntax); build.rs selects this file.
 *
 * The Rust side enters these routines from inline asm! blocks that declare every caller-saved
 * register (clobber_abi("C")) and r12-r15 as clobbered (less the ones it passes), so the
 * compiler itself spills only the registers that are live across the switch. What the
 * compiler cannot be told about is saved here: rbx and rbp, which LLVM reserves in inline asm.
 *
 * Every routine finds what it needs in the header words at the top of the coroutine's stack
 * (src/stack/mod.rs), addressed from r13 = top of that stack:
 *
 *     top - 8    LINK        the resumer's stack pointer while the coroutine runs
 *     top - 16   SAVED       the coroutine's stack pointer while it is suspended
 *     top - 40   FLAGS       bit 0: the coroutine preserves its floating-point control state
 *     top - 48   CONT        where the suspended coroutine continues
 *     top - 64   FP_CONT     where a coroutine that preserves its floating-point control
 *                            state continues, after green_fp_continue (its CONT)
 *     top - 72   FP_SELF     that coroutine's MXCSR and x87 control word while it is suspended
 *     top - 80   FP_RESUMER  its resumer's MXCSR and x87 control word while it runs
 *
 * Register use: r13 = top of the coroutine's stack (r14 = top of the other one, for a
 * transfer); r12 = the word handed to the other side, passed through untouched; rcx = the
 * continuation of a coroutine that suspends; rax = scratch. Both r12 and r13 are callee-saved,
 * so the compiler can keep the word and the top there across its own calls. A coroutine is
 * always continued with r13 = its top. When a resume returns, r13 holds the top of the stack
 * of the coroutine that suspended (after transfers, not necessarily the one resumed), or 0 if
 * the coroutine finished.
 *
 * Frames. The resumer's side of a switch, on the resumer's stack while the coroutine runs
 * (LINK points at it):
 *
 *     LINK + 16   return address into the resumer (pushed by its call)
 *     LINK +  8   saved rbp
 *     LINK +  0   saved rbx
 *
 * A suspended coroutine, on its own stack (SAVED points at it; its continuation is in CONT):
 *
 *     SAVED + 8   saved rbp
 *     SAVED + 0   saved rbx
 *
 * Every switch enters the routines with a direct call or jmp: indirect branches into them
 * measured slower. The resumer calls green_resume, and the coroutine leaves with the ret at
 * the end of green_suspend, which returns to that call: the CPU's return stack predicts it.
 * Into the coroutine, green_resume continues with an indirect jmp to CONT, and the coroutine
 * enters green_suspend with a jmp, so no ret ever goes where the return stack does not expect
 * it.
 *
 * Floating-point control state (callee-saved in the ABI, switched only for coroutines that ask
 * for it, because loading it costs several times a plain switch): such a coroutine suspends
 * through green_suspend_fp, which leaves green_fp_continue in CONT; the plain green_resume
 * therefore needs no test. green_suspend tests FLAGS.
 *
 * CFI, exact at every instruction (.ci/gdb_cfi.sh single-steps each one in gdb and checks
 * that the backtrace walks to the root of the thread):
 *
 * - Each routine describes its frame before the stack pointer moves, and after it the frame
 *   found on the other stack (a suspended coroutine's frame, whose return address is CONT, or
 *   the resumer's frame, whose return address is on the stack).
 * - A return address held in a register (rcx, on entry by a jmp) is described there only
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
 *   the CFI at the continuation. The nop is not on any path: green_resume jumps past it.
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
 *   pushed, which continues after its call inside the same function, with the CFI of the
 *   call. gdb names such a frame "<signal handler called>".
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
 * green_resume(top [r13], word [r12]): called by the resumer; switches into the coroutine,
 * which continues at CONT.
 */
    .globl  green_resume
    .hidden green_resume
    .type   green_resume,@function
    .p2align 4
green_resume:
    .cfi_startproc
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbp, 0
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    movq    %rsp, LINK(%r13)
    movq    SAVED(%r13), %rsp
    /* The coroutine's frame: CFA = rsp + 16, return address in CONT. */
    .cfi_def_cfa_offset 16
    .cfi_offset %rbx, -16
    .cfi_offset %rbp, -8
    /* DW_CFA_expression: rip at DW_OP_breg13 (r13) -48 */
    .cfi_escape 0x10, 0x10, 0x02, 0x7d, 0x50
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    jmpq    *CONT(%r13)
    .cfi_endproc
    .size   green_resume, .-green_resume

/*
 * green_suspend(top [r13], word [r12], continuation [rcx]): entered with a jmp by the running
 * coroutine; records its continuation and switches back to the resumer.
 */
    .globl  green_suspend
    .hidden green_suspend
    .type   green_suspend,@function
    .p2align 4
green_suspend:
    .cfi_startproc
    /* Entered by a jump: the caller's stack pointer is rsp and its continuation is in rcx. */
    .cfi_def_cfa %rsp, 0
    .cfi_register %rip, %rcx
    testb   $1, FLAGS(%r13)
    jnz     green_suspend_fp
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbp, 0
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    movq    %rcx, CONT(%r13)
    movq    %rsp, SAVED(%r13)
    movq    LINK(%r13), %rsp
    /* The resumer's frame: CFA = rsp + 24. */
    .cfi_def_cfa_offset 24
    .cfi_offset %rip, -8
    .cfi_offset %rbp, -16
    .cfi_offset %rbx, -24
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    ret
    .cfi_endproc
    .size   green_suspend, .-green_suspend

/*
 * green_suspend_fp: green_suspend for a coroutine that preserves its floating-point control
 * state. Keeps the coroutine's state in FP_SELF and its continuation in FP_CONT, leaves
 * green_fp_continue in CONT, and gives the resumer back its own state.
 */
    .type   green_suspend_fp,@function
    .p2align 4
green_suspend_fp:
    .cfi_startproc
    .cfi_def_cfa %rsp, 0
    .cfi_register %rip, %rcx
    stmxcsr FP_SELF(%r13)
    fnstcw  FP_SELF+4(%r13)
    ldmxcsr FP_RESUMER(%r13)
    fldcw   FP_RESUMER+4(%r13)
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbp, 0
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    movq    %rcx, FP_CONT(%r13)
    /* rcx is reused: DW_CFA_expression: rip at DW_OP_breg13 (r13) -64 (FP_CONT) */
    .cfi_escape 0x10, 0x10, 0x02, 0x7d, 0x40
    leaq    green_fp_continue_cont(%rip), %rcx
    movq    %rcx, CONT(%r13)
    movq    %rsp, SAVED(%r13)
    movq    LINK(%r13), %rsp
    /* The resumer's frame: CFA = rsp + 24. */
    .cfi_def_cfa_offset 24
    .cfi_offset %rip, -8
    .cfi_offset %rbp, -16
    .cfi_offset %rbx, -24
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
 * green_fp_continue: CONT of a suspended coroutine that preserves its floating-point control
 * state (entered at green_fp_continue_cont), reached from green_resume on the coroutine's
 * stack. Keeps the resumer's state in FP_RESUMER, loads the coroutine's own, and continues at
 * FP_CONT.
 */
    .type   green_fp_continue,@function
    .p2align 4
green_fp_continue:
    .cfi_startproc
    .cfi_def_cfa %rsp, 0
    /* DW_CFA_expression: rip at DW_OP_breg13 (r13) -64 */
    .cfi_escape 0x10, 0x10, 0x02, 0x7d, 0x40
    nop                             /* unwinder pad, never executed (see CFI above) */
green_fp_continue_cont:
    stmxcsr FP_RESUMER(%r13)
    fnstcw  FP_RESUMER+4(%r13)
    ldmxcsr FP_SELF(%r13)
    fldcw   FP_SELF+4(%r13)
    jmpq    *FP_CONT(%r13)
    .cfi_endproc
    .size   green_fp_continue, .-green_fp_continue

/*
 * green_transfer(from [r13], to [r14], continuation [rcx]): entered with a jmp by the running
 * coroutine `from`; suspends it and continues the suspended (or new) coroutine `to` in its
 * place, as if `from`'s resumer had resumed `to`: `to` inherits the link to that resumer, and
 * its next suspend returns there. For coroutines that do not preserve their floating-point
 * control state. No word is handed over.
 */
    .globl  green_transfer
    .hidden green_transfer
    .type   green_transfer,@function
    .p2align 4
green_transfer:
    .cfi_startproc
    .cfi_def_cfa %rsp, 0
    .cfi_register %rip, %rcx
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbp, 0
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    movq    %rcx, CONT(%r13)
    /* rcx is reused: DW_CFA_expression: rip at DW_OP_breg13 (r13) -48 (CONT) */
    .cfi_escape 0x10, 0x10, 0x02, 0x7d, 0x50
    movq    %rsp, SAVED(%r13)
    movq    LINK(%r13), %rcx
    movq    %rcx, LINK(%r14)
    movq    SAVED(%r14), %rsp
    /* `to`'s frame: CFA = rsp + 16, return address in its CONT. */
    .cfi_def_cfa_offset 16
    .cfi_offset %rbx, -16
    .cfi_offset %rbp, -8
    /* DW_CFA_expression: rip at DW_OP_breg14 (r14) -48 */
    .cfi_escape 0x10, 0x10, 0x02, 0x7e, 0x50
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    movq    %r14, %r13
    jmpq    *CONT(%r13)
    .cfi_endproc
    .size   green_transfer, .-green_transfer

/*
 * green_finish(top [r13], word [r12]): the last switch of a coroutine whose entry function has
 * finished, entered with a jmp and never continued. Leaves green_finished as its continuation,
 * so that a later resume comes straight back, gives the resumer back its floating-point
 * control state if the coroutine switched it, and returns to the resumer with r13 = 0, as
 * green_finished does. SAVED keeps pointing at the frame of the coroutine's last suspend (or
 * its initial frame): a later resume pops that frame, whose values green_finished then
 * discards.
 *
 * Its caller is the resumer, found through LINK: CFA = [r13 - 8] + 24, return address at
 * CFA-8, rbp at CFA-16, rbx at CFA-24. It does not continue into green_finished, whose frame
 * is a signal frame: it returns through a copy of green_finished's last instructions.
 */
    .globl  green_finish
    .hidden green_finish
    .type   green_finish,@function
    .p2align 4
green_finish:
    .cfi_startproc
    /* DW_CFA_def_cfa_expression: DW_OP_breg13 (r13) -8; DW_OP_deref; DW_OP_plus_uconst 24 */
    .cfi_escape 0x0f, 0x05, 0x7d, 0x78, 0x06, 0x23, 0x18
    .cfi_offset %rip, -8
    .cfi_offset %rbp, -16
    .cfi_offset %rbx, -24
    leaq    green_finished_cont(%rip), %rax
    movq    %rax, CONT(%r13)
    testb   $1, FLAGS(%r13)
    jz      1f
    ldmxcsr FP_RESUMER(%r13)
    fldcw   FP_RESUMER+4(%r13)
1:
    movq    LINK(%r13), %rsp
    .cfi_def_cfa %rsp, 24
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    xorl    %r13d, %r13d
    ret
    .cfi_endproc
    .size   green_finish, .-green_finish

/*
 * green_finished: CONT of a finished coroutine (green_finished_cont), reached from
 * green_resume on its stack. Returns to the resumer at once with r13 = 0, so that resuming a
 * finished coroutine needs no test before the switch.
 *
 * Its caller is the resumer, found through LINK as in green_finish; a backtrace leaves the
 * finished coroutine's stack here, so the frame is a signal frame (see CFI above).
 */
    .globl  green_finished
    .hidden green_finished
    .type   green_finished,@function
    .p2align 4
green_finished:
    .cfi_startproc
    .cfi_signal_frame
    /* DW_CFA_def_cfa_expression: DW_OP_breg13 (r13) -8; DW_OP_deref; DW_OP_plus_uconst 24 */
    .cfi_escape 0x0f, 0x05, 0x7d, 0x78, 0x06, 0x23, 0x18
    .cfi_offset %rip, -8
    .cfi_offset %rbp, -16
    .cfi_offset %rbx, -24
    nop                             /* unwinder pad, never executed (see CFI above) */
green_finished_cont:
    movq    LINK(%r13), %rsp
    .cfi_def_cfa %rsp, 24
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    xorl    %r13d, %r13d
    ret
    .cfi_endproc
    .size   green_finished, .-green_finished

/*
 * green_trampoline, green_trampoline_fp: where a new context starts (its first CONT,
 * green_trampoline_cont or green_trampoline_fp_cont).
 *
 * The first resume into a new stack pops the initial frame built by src/arch/x86_64.rs:
 * rbx = top of the stack, rbp = the Rust entry function. The word passed to that first resume
 * is in r12. The entry function is called as entry(word, top) and never returns. The _fp
 * variant first keeps the resumer's floating-point control state in FP_RESUMER and loads the
 * one in FP_SELF, written when the context was created.
 *
 * Unwinding: LINK always holds the stack pointer of the context that resumed this one, which
 * points at a resumer's frame (see above). The CFI below makes the caller of this frame the
 * resumer's frame: CFA = [rbx - 8] + 24, return address at CFA-8, rbp at CFA-16, rbx at
 * CFA-24. rbx is callee-saved, so an unwinder recovers it here from the entry function's CFI.
 * Backtraces taken inside a coroutine therefore continue into the code that resumed it. They
 * leave the coroutine's stack here: a signal frame (see CFI above).
 */
    .globl  green_trampoline
    .hidden green_trampoline
    .type   green_trampoline,@function
    .p2align 4
green_trampoline:
    .cfi_startproc
    .cfi_signal_frame
    /* DW_CFA_def_cfa_expression: DW_OP_breg3 (rbx) -8; DW_OP_deref; DW_OP_plus_uconst 24 */
    .cfi_escape 0x0f, 0x05, 0x73, 0x78, 0x06, 0x23, 0x18
    .cfi_offset %rip, -8
    .cfi_offset %rbp, -16
    .cfi_offset %rbx, -24
    nop                             /* unwinder pad, never executed (see CFI above) */
green_trampoline_cont:
    movq    %r12, %rdi
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
    .cfi_signal_frame
    /* DW_CFA_def_cfa_expression: DW_OP_breg3 (rbx) -8; DW_OP_deref; DW_OP_plus_uconst 24 */
    .cfi_escape 0x0f, 0x05, 0x73, 0x78, 0x06, 0x23, 0x18
    .cfi_offset %rip, -8
    .cfi_offset %rbp, -16
    .cfi_offset %rbx, -24
    nop                             /* unwinder pad, never executed (see CFI above) */
green_trampoline_fp_cont:
    stmxcsr FP_RESUMER(%rbx)
    fnstcw  FP_RESUMER+4(%rbx)
    ldmxcsr FP_SELF(%rbx)
    fldcw   FP_SELF+4(%rbx)
    movq    %r12, %rdi
    movq    %rbx, %rsi
    movq    %rbp, %rax
    xorl    %ebp, %ebp              /* ends frame-pointer chains here */
    call    *%rax
    ud2
    .cfi_endproc
    .size   green_trampoline_fp, .-green_trampoline_fp

    .section .note.GNU-stack,"",@progbits
