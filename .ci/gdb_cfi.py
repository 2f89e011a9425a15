# Single-steps every instruction of the assembly context switch in gdb and checks that the
# backtrace at each one walks to the root of its thread. Run by .ci/gdb_cfi.sh as
#
#     gdb -batch -x .ci/gdb_cfi.py --args <program>
#
# on a program that drives every switch routine (examples/switch_probe.rs). A breakpoint sits
# on the first instruction of each routine entered from Rust code; from there the script
# steps instruction by instruction (following jumps from one routine into another) until the
# thread is back in Rust code, and takes a backtrace before each instruction. A backtrace
# fails if gdb stopped it ("Backtrace stopped: ..."), if it does not reach the root of the
# thread (`main` on the main thread; std's thread start routine on the runtime's worker
# threads), or if it holds a frame gdb cannot name (`??`), except in the C library past that
# start routine, where the library's symbols may not be installed.
#
# The run also fails unless every instruction of every routine was stepped (less those never
# executed: the unwinder padding before a continuation, and the trap after a call that never
# returns) and every way from one routine into another was taken (EDGES), so that a routine
# the program stops driving cannot pass unchecked. The exit status is the number of failures
# (capped), 0 when every backtrace was whole.
#
# Environment: GDB_CFI_REMOTE=host:port attaches to a gdb stub (qemu-aarch64 -g port, for the
# aarch64 run) instead of starting the program; GDB_CFI_SHOW=1 prints every backtrace.

import os
import re

import gdb

ROUTINES = [
    "green_resume",
    "green_suspend",
    "green_suspend_fp",
    "green_fp_continue",
    "green_transfer",
    "green_finish",
    "green_finished",
    "green_trampoline",
    "green_trampoline_fp",
]
# Routines entered from Rust code; the others are reached from these.
ENTRIES = ["green_resume", "green_suspend", "green_transfer", "green_finish"]
# (from, to): consecutive instructions in two routines, or from a routine back into Rust code.
EDGES = [
    ("green_resume", "green_trampoline"),
    ("green_resume", "green_trampoline_fp"),
    ("green_resume", "green_fp_continue"),
    ("green_resume", "green_finished"),
    ("green_resume", "rust"),
    ("green_suspend", "green_suspend_fp"),
    ("green_suspend", "rust"),
    ("green_suspend_fp", "rust"),
    ("green_fp_continue", "rust"),
    ("green_transfer", "green_trampoline"),
    ("green_transfer", "rust"),
    ("green_finish", "rust"),
    ("green_finished", "rust"),
    ("green_trampoline", "rust"),
    ("green_trampoline_fp", "rust"),
]
# Where a backtrace ends: gdb stops at the program's main function (C's `main`, or the Rust
# `main` that DWARF marks as the main subprogram) on the main thread. On the runtime's worker
# threads it goes on through std's thread start routine into the C library's.
MAIN_ROOTS = {"main", "switch_probe::main"}
THREAD_START = "thread_start"
NEVER_EXECUTED = re.compile(r"^(nop|ud2|brk)\b")
# A switch routine steps a few dozen instructions; more means it is looping.
MAX_STEPS_PER_STOP = 200

SHOW = os.environ.get("GDB_CFI_SHOW") == "1"
INSN = re.compile(r"^\s*(?:=>\s*)?0x([0-9a-f]+) <\+\d+>:\s*(.*)$")


def run(command):
    return gdb.execute(command, to_string=True)


def disassemble(name):
    """The (address, text) of each instruction of the routine, from its ELF symbol."""
    insns = []
    for line in run("disassemble " + name).splitlines():
        m = INSN.match(line)
        if m:
            insns.append((int(m.group(1), 16), m.group(2).strip()))
    if not insns:
        raise gdb.GdbError("no instructions found for " + name)
    return insns


def routine_of(ranges, pc):
    for name, (lo, hi) in ranges.items():
        if lo <= pc < hi:
            return name
    return "rust"


def frames():
    """The frames of the selected thread, innermost first, as gdb's backtrace walks them."""
    found = []
    frame = gdb.newest_frame()
    while frame is not None:
        found.append(frame)
        frame = frame.older()
    return found


def unnamed(frame):
    return frame.name() is None and frame.type() != gdb.SIGTRAMP_FRAME


def root_problem(walk):
    """Why the walk does not reach the root of its thread, or None if it does."""
    outward = []
    if gdb.selected_thread().num != 1:
        starts = [i for i, f in enumerate(walk) if (f.name() or "").endswith(THREAD_START)]
        if starts:
            # Past the thread's start routine, only the C library's code that started the
            # thread may go without names, where its symbols are not installed.
            walk, outward = walk[: starts[0] + 1], walk[starts[0] + 1 :]
    if any(unnamed(f) for f in walk) or any(
        unnamed(f) and gdb.solib_name(f.pc()) is None for f in outward
    ):
        return "a frame without a name"
    if gdb.selected_thread().num == 1:
        if walk[-1].name() not in MAIN_ROOTS:
            return "the outermost frame is %s, not main" % walk[-1].name()
    elif not (walk[-1].name() or "").endswith(THREAD_START):
        return "the walk ends at %s, before %s" % (walk[-1].name(), THREAD_START)
    return None


class Checker:
    def __init__(self):
        self.code = {name: disassemble(name) for name in ROUTINES}
        self.text = {a: t for insns in self.code.values() for a, t in insns}
        self.ranges = {}
        for name, insns in self.code.items():
            last = insns[-1][0]
            size = gdb.selected_inferior().architecture().disassemble(last)[0]["length"]
            self.ranges[name] = (insns[0][0], last + size)
        self.stepped = set()
        self.edges = set()
        self.steps = 0
        self.failures = []

    def check_here(self, pc):
        self.steps += 1
        self.stepped.add(pc)
        bt = run("bt")
        if SHOW:
            print("--- %s\n%s" % (self.text.get(pc, "?"), bt))
        if "Backtrace stopped" in bt or "More stack frames follow" in bt:
            problem = "the unwinder stopped"
        else:
            problem = root_problem(frames())
        if problem:
            where = routine_of(self.ranges, pc)
            offset = pc - self.ranges[where][0]
            self.failures.append(
                ("%s+%d (%s): %s" % (where, offset, self.text.get(pc, "?"), problem), bt)
            )

    def follow(self):
        """Steps from a breakpoint until the thread is back in Rust code."""
        pc = int(gdb.selected_frame().pc())
        here = routine_of(self.ranges, pc)
        for _ in range(MAX_STEPS_PER_STOP):
            self.check_here(pc)
            run("stepi")
            pc = int(gdb.selected_frame().pc())
            there = routine_of(self.ranges, pc)
            if there != here:
                self.edges.add((here, there))
            if there == "rust":
                return
            here = there
        self.failures.append(("more than %d steps from one breakpoint" % MAX_STEPS_PER_STOP, ""))

    def report(self):
        missed = [
            "%s+%d (%s)" % (name, a - insns[0][0], t)
            for name, insns in self.code.items()
            for a, t in insns
            if a not in self.stepped and not NEVER_EXECUTED.match(t)
        ]
        if missed:
            self.failures.append(("instructions never stepped: " + ", ".join(missed), ""))
        absent = ["%s -> %s" % e for e in EDGES if e not in self.edges]
        if absent:
            self.failures.append(("transitions never taken: " + ", ".join(absent), ""))
        # Every failing instruction once, with the backtrace of its first failure.
        shown = set()
        for what, bt in self.failures:
            if what not in shown:
                shown.add(what)
                print("FAIL: %s\n%s" % (what, bt))
        print(
            "gdb_cfi: %d instructions stepped (%d distinct) in %d routines, %d failures"
            % (self.steps, len(self.stepped), len(ROUTINES), len(self.failures))
        )
        return min(len(self.failures), 100)


def main():
    run("set pagination off")
    run("set confirm off")
    run("set language c")
    run("set print frame-arguments none")
    run("set backtrace limit 100")
    exited = []
    gdb.events.exited.connect(lambda event: exited.append(getattr(event, "exit_code", None)))
    # Stop at the first instruction, once the program is mapped where it runs.
    remote = os.environ.get("GDB_CFI_REMOTE")
    if remote:
        run("target remote " + remote)
    else:
        run("starti")
    checker = Checker()
    for name in ENTRIES:
        run("break *0x%x" % checker.code[name][0][0])
    run("continue")
    # Other threads stay stopped while one is stepped through a routine.
    run("set scheduler-locking step")
    while not exited:
        pc = int(gdb.selected_frame().pc())
        if routine_of(checker.ranges, pc) == "rust":
            checker.failures.append(("stopped outside the switch at 0x%x" % pc, run("bt")))
            break
        checker.follow()
        run("continue")
    if exited and exited[0] != 0:
        checker.failures.append(("the program exited with status %s" % exited[0], ""))
    status = checker.report()
    if not exited:
        run("kill")
    gdb.execute("quit %d" % status)


try:
    main()
except Exception as error:  # noqa: BLE001 - any error of the script fails the check
    print("FAIL: gdb_cfi.py: %s: %s" % (type(error).__name__, error))
    gdb.execute("quit 101")
