# Checks the gdb extension gdb/green.py on examples/gdb_demo.rs. Run by .ci/gdb_green.sh, with
# gdb/green.py sourced first:
#
#     gdb -batch -x gdb/green.py -x .ci/gdb_green.py --args <gdb_demo>          # live
#     gdb -batch -x gdb/green.py -x .ci/gdb_green.py <gdb_demo> <core>          # core file
#
# Live (GDB_GREEN_MODE=live): stops the program in `report` (inlined into `stop_here`), where
# five named green threads are blocked in known functions and a sixth, the reporter, runs;
# checks that `green threads`
# lists each with its state, worker and spawn location, and that `green bt ID` (registers)
# and `green bt -u ID` (frame unwinder) both walk each blocked green thread from the switch
# through its blocking call and its own function to the function it started with, and no
# further. Checks that every register of every OS thread is as before, saves a core file
# (GDB_GREEN_CORE) and what it saw (GDB_GREEN_SEEN), and lets the program finish: a
# breakpoint where each blocked green thread continues checks that it resumes with exactly the
# registers `green bt` used (not through a gdb stub, see `live`), and the program releases the
# green threads and exits 0 only if each one carried on as it should.
#
# Core (GDB_GREEN_MODE=core): the same checks of the same commands on a core file; with
# GDB_GREEN_COMPARE=1, for the core file saved by the live run, the listing and the frames
# must also be the ones the live process showed (with the unwinder). GDB_GREEN_RELOCATE=1
# loads the program's symbols where the core file says it ran (qemu-user's core files).
#
# GDB_GREEN_REMOTE=host:port attaches to a gdb stub (qemu-aarch64 -g) instead of starting the
# program. The exit status is the number of failures (capped), 0 when all is well.

import json
import os
import re

import gdb

# name: (state, calls its backtrace must show, innermost first)
BLOCKED = {
    "receiver": (r"channel", ["Receiver<u32>::recv", "gdb_demo::wait_for_message"]),
    "locker": (r"lock", ["Mutex<u32>::lock", "gdb_demo::wait_for_lock"]),
    "reader": (r"io \(fd \d+, readable\)", ["::read", "gdb_demo::wait_for_bytes"]),
    "sleeper": (r"sleeping until 3[56]\d\d\.\d{3} s after it fell asleep",
                ["green::thread::sleep", "gdb_demo::sleep_long"]),
    "parker": (r"park", ["green::thread::park", "gdb_demo::park_until_told"]),
}
RUNNING = "reporter"
# The first frame is the switch; the last one the function every green thread starts in.
FIRST = re.compile(r"^green::arch::\w+::(suspend|transfer)$")
LAST = "green::coroutine::coroutine_entry<"
# Frames of the worker's loop: a walk that went past the green thread's trampoline.
BEYOND = ("main_loop", "thread_start", "run_task")
HEADER = re.compile(r"^green thread (\d+) \"([^\"]*)\" \[([^\]]*)\] on worker (\d+)"
                    r"(?: \(gdb thread \d+\))?:$")
FRAME = re.compile(r"^#(\d+)\s+(?:0x[0-9a-f]+ in )?(.*)$")

failures = []


def check(ok, what, detail=""):
    if not ok:
        failures.append(what)
        print("FAIL: %s\n%s" % (what, detail))


def run(command):
    return gdb.execute(command, to_string=True)


def function_of(text):
    """The function name at the start of a frame line: up to the first ` (` outside <>."""
    depth = 0
    for i, c in enumerate(text):
        if c == "<":
            depth += 1
        elif c == ">":
            depth -= 1
        elif c == "(" and depth == 0 and i > 0 and text[i - 1] == " ":
            return text[: i - 1]
    return text


def frames(bt):
    """(level, function) of each frame line of a backtrace."""
    found = []
    for line in bt.splitlines():
        m = FRAME.match(line)
        if m:
            found.append((int(m.group(1)), function_of(m.group(2))))
    return found


def listing():
    """`green threads` as {name: (id, state, worker)} and its text without gdb's thread
    numbers, which a core file numbers in another order."""
    text = run("green threads")
    threads = {}
    for line in text.splitlines():
        m = HEADER.match(line)
        if m:
            threads[m.group(2)] = (int(m.group(1)), m.group(3), int(m.group(4)))
    return threads, re.sub(r" \(gdb thread \d+\)", "", text)


def check_listing(threads, text):
    check(text.startswith("green threads: 6 in 1 runtime\n"), "the listing's header", text)
    for name, (state, _) in BLOCKED.items():
        got = threads.get(name)
        check(got is not None and re.fullmatch(state, got[1]),
              "%s is listed as [%s]" % (name, state), text)
    check(threads.get(RUNNING, (0, ""))[1] == "running", "the reporter is running", text)
    spawned = re.findall(r"^    spawned at examples/gdb_demo\.rs:\d+:\d+$", text, re.M)
    check(len(spawned) == 6, "each spawn location is in examples/gdb_demo.rs", text)


def check_backtrace(name, bt, first_level):
    walk = frames(bt)
    names = [f for _, f in walk]
    where = "green bt of %s" % name
    check(bool(walk) and walk[0][0] == first_level,
          "%s: frames are numbered from %d" % (where, first_level), bt)
    check(bool(walk) and FIRST.match(names[0]), "%s: the first frame is the switch" % where, bt)
    check(bool(walk) and names[-1].startswith(LAST),
          "%s: the last frame is %s" % (where, LAST), bt)
    check(not any(b in f for f in names for b in BEYOND),
          "%s: the walk stops at the green thread's start" % where, bt)
    calls = BLOCKED[name][1]
    at = [next((i for i, f in enumerate(names) if f.endswith(c) or c in f), -1)
          for c in calls]
    check(all(i >= 0 for i in at) and at == sorted(at),
          "%s: shows %s, innermost first" % (where, ", ".join(calls)), bt)
    return names


def first_green_level():
    """The level of the first green frame with the unwinder: past the selected OS thread's
    innermost frame and the calls inlined into it, which share its registers."""
    frame = gdb.newest_frame()
    here = (frame.pc(), int(frame.read_register("sp")))
    level = 0
    while frame is not None and (frame.pc(), int(frame.read_register("sp"))) == here:
        frame, level = frame.older(), level + 1
    return level


def registers():
    """Every register of every OS thread, as text; through a gdb stub, only the general
    registers of the thread that stopped: qemu-user's stub leaves the others running."""
    if os.environ.get("GDB_GREEN_REMOTE"):
        return run("info registers general")
    return run("thread apply all -q info all-registers")


def check_errors(threads):
    for argument, message in [("999999999", "no green thread"),
                              ("x", "is not a green thread id"),
                              ("", "usage")]:
        try:
            run("green bt " + argument)
            check(False, "green bt %r fails" % argument)
        except gdb.error as error:
            check(message in str(error), "green bt %r says %r" % (argument, message),
                  str(error))
    out = run("green bt %d" % threads[RUNNING][0])
    check("is running on worker %d" % threads[RUNNING][2] in out,
          "green bt of the running reporter names its worker", out)


def live():
    exited = []
    gdb.events.exited.connect(lambda event: exited.append(getattr(event, "exit_code", None)))
    remote = os.environ.get("GDB_GREEN_REMOTE")
    # In the call of `report` inlined into `stop_here`: the innermost frame is an inline
    # frame, whose registers are those of the real frame below it.
    run("break gdb_demo::report")
    if remote:
        run("target remote " + remote)
        run("continue")
    else:
        run("run")
    check(gdb.selected_frame().name() == "gdb_demo::report"
          and gdb.selected_frame().type() == gdb.INLINE_FRAME,
          "stopped in the inlined call of report", run("bt 3"))
    before = registers()
    threads, text = listing()
    print(text)
    check_listing(threads, text)
    seen = {"listing": text, "frames": {}}
    for name in BLOCKED:
        if name not in threads:
            continue
        by_registers = run("green bt -r %d" % threads[name][0])
        by_unwinder = run("green bt -u %d" % threads[name][0])
        if name == "receiver":
            print(by_registers)
            # Without a flag: registers in a native process, the unwinder through a stub.
            default = run("green bt %d" % threads[name][0])
            check(default == (by_unwinder if os.environ.get("GDB_GREEN_REMOTE")
                              else by_registers),
                  "green bt takes the default way", default)
        names = check_backtrace(name, by_registers, 0)
        check(names == check_backtrace(name, by_unwinder, first_green_level()),
              "green bt and green bt -u agree for %s" % name, by_registers + by_unwinder)
        seen["frames"][name] = names
    check_errors(threads)
    # The user's selected frame and language stay as they were.
    if "receiver" in threads:
        run("frame 1")
        for flag in ("-r", "-u"):
            run("green bt %s %d" % (flag, threads["receiver"][0]))
            check(gdb.selected_frame().level() == 1 and gdb.parameter("language") == "auto",
                  "green bt %s leaves the selected frame and the language as they were" % flag)
        run("frame 0")
    # From another OS thread, stopped in a system call: the main thread, in its join (not
    # through qemu-user's stub, which leaves it running).
    here = gdb.selected_thread()
    main_thread = next(t for t in gdb.selected_inferior().threads() if t.num == 1)
    if main_thread is not here and "receiver" in threads and not os.environ.get(
            "GDB_GREEN_REMOTE"):
        main_thread.switch()
        for flag, first in [("", 0), ("-u ", first_green_level())]:
            bt = run("green bt %s%d" % (flag, threads["receiver"][0]))
            check(check_backtrace("receiver", bt, first) == seen["frames"].get("receiver"),
                  "green bt %sfrom the main thread" % flag, bt)
        here.switch()
    after = registers()
    check(before == after, "every register of every thread is as before",
          "before:\n%s\nafter:\n%s" % (before, after))
    core = os.environ.get("GDB_GREEN_CORE")
    if core:
        run("gcore " + core)
    with open(os.environ["GDB_GREEN_SEEN"], "w") as f:
        json.dump(seen, f)
    run("delete")
    if os.environ.get("GDB_GREEN_REMOTE"):
        # qemu-user's stub (7.2) leaves the threads that did not stop running, and loses
        # breakpoint hits or trips gdb's internal checks when several threads hit them.
        run("continue")
    else:
        check_resumes(threads, exited)
    check(exited == [0], "the program carried on and exited with 0 (exit: %s)" % exited)


def as_hex(regs):
    return ", ".join("%s=0x%x" % (name, value) for name, value in sorted(regs.items()))


def check_resumes(threads, exited):
    """Lets the program go on, and checks that each blocked green thread continues with the
    registers `green bt` gave it: a breakpoint at each continuation, with the green thread's
    stack pointer as its condition, stops it as it resumes."""
    # gdb/green.py's functions, sourced into the same interpreter.
    layout = switch_layout()
    expected = {}
    with Language("rust"):
        for name in BLOCKED:
            if name in threads:
                regs = suspended_registers(find_thread(str(threads[name][0])))
                expected[regs[layout["sp"]]] = (name, regs)
    for pc in {regs[layout["pc"]] for _, regs in expected.values()}:
        stack_pointers = [sp for sp, (_, regs) in expected.items() if regs[layout["pc"]] == pc]
        stop = gdb.Breakpoint("*0x%x" % pc)
        stop.silent = True
        stop.condition = " || ".join("$%s == 0x%x" % (layout["sp"], sp) for sp in stack_pointers)
    while expected and not exited:
        run("continue")
        if exited:
            break
        frame = gdb.newest_frame()
        sp = int(frame.read_register(layout["sp"]))
        if sp not in expected:
            continue
        name, regs = expected.pop(sp)
        got = {r: int(frame.read_register(r)) for r in regs}
        check(got == regs, "%s resumed with the registers green bt used" % name,
              "expected %s\ngot      %s" % (as_hex(regs), as_hex(got)))
    check(not expected, "every blocked green thread resumed where green bt said: %s left"
          % sorted(n for n, _ in expected.values()))
    run("delete")
    if not exited:
        run("continue")


def relocate():
    """Loads the program's symbols where the core file's auxiliary vector says it ran: gdb
    does not find that out by itself for the core files qemu-user writes, which leave out the
    program's code."""
    entry = re.search(r"^\d+\s+AT_ENTRY\s.*\s(0x[0-9a-f]+)$", run("info auxv"), re.M)
    linked = re.search(r"Entry point: (0x[0-9a-f]+)", run("info files"))
    offset = int(entry.group(1), 16) - int(linked.group(1), 16)
    if offset:
        run("symbol-file -o 0x%x %s" % (offset, gdb.current_progspace().filename))


def core():
    if os.environ.get("GDB_GREEN_RELOCATE"):
        relocate()
    seen = None
    if os.environ.get("GDB_GREEN_COMPARE"):
        with open(os.environ["GDB_GREEN_SEEN"]) as f:
            seen = json.load(f)
    threads, text = listing()
    print(text)
    check_listing(threads, text)
    if seen is not None:
        check(text == seen["listing"], "the core file lists what the live process did",
              "live:\n%s\ncore:\n%s" % (seen["listing"], text))
    for name in BLOCKED:
        if name not in threads:
            continue
        bt = run("green bt %d" % threads[name][0])
        if name == "receiver":
            print(bt)
        names = check_backtrace(name, bt, first_green_level())
        if seen is not None:
            check(names == seen["frames"].get(name),
                  "the core file's frames of %s are the live process's" % name, bt)
    check_errors(threads)


def main():
    run("set pagination off")
    run("set confirm off")
    run("set print frame-arguments none")
    mode = os.environ.get("GDB_GREEN_MODE", "live")
    if mode == "live":
        live()
    else:
        core()
    print("gdb_green: %s, %d failures" % (mode, len(failures)))
    gdb.execute("quit %d" % min(len(failures), 100))


try:
    main()
except Exception as error:  # noqa: BLE001 - any error of the script fails the check
    print("FAIL: gdb_green.py: %s: %s" % (type(error).__name__, error))
    gdb.execute("quit 101")
