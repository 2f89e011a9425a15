/*
 * Context switch for x86_64, System V ABI, Mach-O (macOS).
 *
 * Assembled by src/arch/x86_64.rs with global_asm! (AT&T syntax); build.rs selects this file
 * for x86_64-apple-darwin. The routines, registers, stack header words, frames and CFI are
 * those of asm/x86_64_sysv_elf.s, whose comments explain them; tests/asm_sources.rs checks
 * that the two files differ only as described here. This file is assembled in CI but has
 * not run: no macOS machine tests it.
 *
 * What Mach-O needs instead of ELF:
 *
 * - C symbols carry a leading underscore: Rust's `green_resume` is `_green_resume` here.
 * - `.private_extern` instead of `.hidden`; no `.type`, `.size` or GNU-stack note; the code
 *   goes in `__TEXT,__text`.
 * - Objects are built with subsections via symbols: the linker treats the code from one
 *   symbol to the next as a unit (an atom), which it may move, or drop when nothing refers to
 *   it. Each routine therefore starts its own atom and reaches the others only through
 *   relocations (jmp, jcc, lea). The continuations inside routines (the `_cont` labels,
 *   behind their unwinder pads) are assembler-local `L` labels, which make no symbol: a
 *   symbol there, even an `.alt_entry` one, splits the routine's unwind information (lld
 *   gives such a symbol an unwind entry of its own, an empty one). Rust finds them one pad
 *   past the start of their routine (`PAD` in src/arch/), on ELF too.
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
 * green_resume(top [r13], word [r12]): called by the resumer; switches into the coroutine,
 * which continues at CONT.
 */
    .globl  _green_resume
    .private_extern _green_resume
    .p2align 4
_green_resume:
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

/*
 * green_suspend(top [r13], word [r12], continuation [rcx]): entered with a jmp by the running
 * coroutine; records its continuation and switches back to the resumer.
 */
    .globl  _green_suspend
    .private_extern _green_suspend
    .p2align 4
_green_suspend:
    .cfi_startproc
    /* Entered by a jump: the caller's stack pointer is rsp and its continuation is in rcx. */
    .cfi_def_cfa %rsp, 0
    .cfi_register %rip, %rcx
    testb   $1, FLAGS(%r13)
    jnz     _green_suspend_fp
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

/*
 * green_suspend_fp: green_suspend for a coroutine that preserves its floating-point control
 * state. Keeps the coroutine's state in FP_SELF and its continuation in FP_CONT, leaves
 * green_fp_continue in CONT, and gives the resumer back its own state.
 */
    .p2align 4
_green_suspend_fp:
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
    leaq    Lgreen_fp_continue_cont(%rip), %rcx
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

/*
 * green_fp_continue: CONT of a suspended coroutine that preserves its floating-point control
 * state (entered at green_fp_continue_cont), reached from green_resume on the coroutine's
 * stack. Keeps the resumer's state in FP_RESUMER, loads the coroutine's own, and continues at
 * FP_CONT.
 */
    .p2align 4
_green_fp_continue:
    .cfi_startproc
    .cfi_def_cfa %rsp, 0
    /* DW_CFA_expression: rip at DW_OP_breg13 (r13) -64 */
    .cfi_escape 0x10, 0x10, 0x02, 0x7d, 0x40
    nop                             /* unwinder pad, never executed (see CFI above) */
Lgreen_fp_continue_cont:
    stmxcsr FP_RESUMER(%r13)
    fnstcw  FP_RESUMER+4(%r13)
    ldmxcsr FP_SELF(%r13)
    fldcw   FP_SELF+4(%r13)
    jmpq    *FP_CONT(%r13)
    .cfi_endproc

/*
 * green_transfer(from [r13], to [r14], continuation [rcx]): entered with a jmp by the running
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
    .globl  _green_finish
    .private_extern _green_finish
    .p2align 4
_green_finish:
    .cfi_startproc
    /* DW_CFA_def_cfa_expression: DW_OP_breg13 (r13) -8; DW_OP_deref; DW_OP_plus_uconst 24 */
    .cfi_escape 0x0f, 0x05, 0x7d, 0x78, 0x06, 0x23, 0x18
    .cfi_offset %rip, -8
    .cfi_offset %rbp, -16
    .cfi_offset %rbx, -24
    leaq    Lgreen_finished_cont(%rip), %rax
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

/*
 * green_finished: CONT of a finished coroutine (green_finished_cont), reached from
 * green_resume on its stack. Returns to the resumer at once with r13 = 0, so that resuming a
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
    /* DW_CFA_def_cfa_expression: DW_OP_breg13 (r13) -8; DW_OP_deref; DW_OP_plus_uconst 24 */
    .cfi_escape 0x0f, 0x05, 0x7d, 0x78, 0x06, 0x23, 0x18
    .cfi_offset %rip, -8
    .cfi_offset %rbp, -16
    .cfi_offset %rbx, -24
    nop                             /* unwinder pad, never executed (see CFI above) */
Lgreen_finished_cont:
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
    .globl  _green_trampoline
    .private_extern _green_trampoline
    .p2align 4
_green_trampoline:
    .cfi_startproc
    .cfi_signal_frame
    /* DW_CFA_def_cfa_expression: DW_OP_breg3 (rbx) -8; DW_OP_deref; DW_OP_plus_uconst 24 */
    .cfi_escape 0x0f, 0x05, 0x73, 0x78, 0x06, 0x23, 0x18
    .cfi_offset %rip, -8
    .cfi_offset %rbp, -16
    .cfi_offset %rbx, -24
    nop                             /* unwinder pad, never executed (see CFI above) */
Lgreen_trampoline_cont:
    movq    %r12, %rdi
    movq    %rbx, %rsi
    movq    %rbp, %rax
    xorl    %ebp, %ebp              /* ends frame-pointer chains here */
    call    *%rax
    ud2
    .cfi_endproc

    .globl  _green_trampoline_fp
    .private_extern _green_trampoline_fp
    .p2align 4
_green_trampoline_fp:
    .cfi_startproc
    .cfi_signal_frame
    /* DW_CFA_def_cfa_expression: DW_OP_breg3 (rbx) -8; DW_OP_deref; DW_OP_plus_uconst 24 */
    .cfi_escape 0x0f, 0x05, 0x73, 0x78, 0x06, 0x23, 0x18
    .cfi_offset %rip, -8
    .cfi_offset %rbp, -16
    .cfi_offset %rbx, -24
    nop                             /* unwinder pad, never executed (see CFI above) */
Lgreen_trampoline_fp_cont:
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
