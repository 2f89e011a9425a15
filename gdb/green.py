# gdb commands for programs built on the `green` crate: list the green threads and print the
# backtrace of a suspended one, in a live process (native or through a gdb stub) and in a core
# file.
#
#     (gdb) source gdb/green.py
#     (gdb) green threads
#     (gdb) green bt 1026
#
# Both commands read the program's memory through its debug information: build with debug
# information (debug builds have it; for release builds set `debug = true` in the profile).
# Supported: x86_64 and aarch64 with the crate's assembly context switch (Linux). `green
# threads` also works with the corosensei fallback (feature `force-fallback`); `green bt` does
# not, as that switch saves its registers in another layout.
#
# Where the data comes from (see src/stack/overflow.rs, src/runtime/registry.rs and
# src/runtime/task.rs): the stack registry `green::stack::overflow::CHUNKS` holds a slot for
# every live stack (guard page, top of the stack) and one for every green thread, whose owner
# word points at its `Task`, which holds its id, name, park state, home worker, spawn location,
# what it waits for and the top of its stack once it has one (it gets it when it starts: the
# stack is the registered one with that top). A suspended green thread's registers are on its
# own stack:
# the header word at `top - 16` is its saved stack pointer, where the switch pushed the two
# registers that the compiler cannot be told about (rbx and rbp on x86_64, x29 and x19 on
# aarch64), and `top - 48` is where it continues (see asm/*.s). Every other callee-saved
# register was saved by the function that contains the switch, whose unwind information says
# where, so these are all a debugger needs to walk the green thread's stack.
#
# `green bt` has two ways to show those frames, and both print gdb's own backtrace
# (arguments, `-full`, a count), ending at the function the green thread was started with:
#
# - registers (`-r`; the default for a live native process): the selected OS thread holds the
#   green thread's registers for the time of one `backtrace`; then every register gdb saves
#   around an inferior call (`orig_rax` included on x86_64 Linux, which decides whether the
#   kernel restarts an interrupted system call) is written back if it differs.
# - a frame unwinder (`-u`; the default for core files, whose registers gdb cannot write, and
#   for gdb stubs such as qemu-user's, which stops only the thread that reported: writing the
#   registers of one that runs would corrupt it): the caller of the selected OS thread's
#   innermost frame gets the green thread's registers, and a frame filter hides that frame
#   and the calls inlined into it, so frame numbers start past them (at 1 when there are
#   none). Nothing is written.

import gdb
import gdb.unwinder

# Park states and markers of src/runtime/task.rs and src/runtime/join.rs (constants, which
# the debug information does not carry).
PARKED = 1
SLEEPING = 4
JOIN_DONE = 2  # a bit: DONE | WAKING is finished too
# Header words, as offsets below the top of a stack (src/stack/mod.rs).
SAVED_SP = 16
FLAGS = 40
CONT = 48
FP_CONT = 64
# A wait record's kind is in the top byte of its word (src/runtime/registry.rs).
WAIT_ARG_BITS = 56
# The kinds of `registry::Wait`, in order, for when the debug information lacks the enum;
# and the names a dump gives them where they differ from the variant's name in lower case.
WAIT_KINDS = ["Park", "Sleep", "Io", "Join", "Lock", "Condvar", "Channel", "Once", "Barrier",
              "Semaphore", "Event", "Group", "AsyncResult", "Unblock", "Scope", "Futex", "Poll",
              "Future"]
WAIT_NAMES = {"Sleep": "park", "Group": "wait group", "AsyncResult": "async result",
              "Unblock": "unblock pool"}

# Per architecture (gdb's name): the registers the switch leaves on the stack, from the saved
# stack pointer up; the stack pointer, program counter and the register that holds the top of
# the stack when the green thread continues; and where a green thread's routines are entered
# (one unwinder pad past their start, see src/arch/).
ARCHES = {
    "i386:x86-64": {"pushed": ["rbx", "rbp"], "sp": "rsp", "pc": "rip", "top": "r13",
                    "pad": 1},
    "aarch64": {"pushed": ["x29", "x19"], "sp": "sp", "pc": "pc", "top": "x21", "pad": 4},
}
# Where a green thread starts: its backtrace ends at the function these called.
TRAMPOLINES = ("green_trampoline", "green_trampoline_fp")


class Language:
    """Reads and evaluates in Rust (or C, for register writes) whatever frame is selected, and
    gives the user's language setting back afterwards."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.saved = gdb.parameter("language")
        gdb.execute("set language " + self.name, to_string=True)

    def __exit__(self, *exc):
        gdb.execute("set language " + self.saved, to_string=True)


def fields(value):
    return [f for f in value.type.strip_typedefs().fields() if f.name is not None]


def scalar(value):
    """The number inside a Rust wrapper (atomics, cells, NonZero, newtypes, pointers)."""
    while True:
        code = value.type.strip_typedefs().code
        if code in (gdb.TYPE_CODE_INT, gdb.TYPE_CODE_PTR, gdb.TYPE_CODE_BOOL,
                    gdb.TYPE_CODE_CHAR, gdb.TYPE_CODE_ENUM):
            return int(value)
        inner = [f for f in fields(value) if f.type.sizeof == value.type.sizeof]
        if code not in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION) or len(inner) != 1:
            raise gdb.GdbError("green: no number in a value of type %s" % value.type)
        value = value[inner[0]]


def first_pointer(value):
    """The first pointer found depth-first in a value (a Vec's or a Box's data pointer)."""
    code = value.type.strip_typedefs().code
    if code == gdb.TYPE_CODE_PTR:
        return value
    if code == gdb.TYPE_CODE_STRUCT:
        for f in fields(value):
            found = first_pointer(value[f])
            if found is not None:
                return found
    return None


def fat_pointer(value):
    """(data pointer, length) of a Rust slice or str pointer, wherever it sits in a wrapper."""
    names = {f.name for f in fields(value)}
    if {"data_ptr", "length"} <= names:
        return value["data_ptr"], int(value["length"])
    for f in fields(value):
        if f.type.strip_typedefs().code == gdb.TYPE_CODE_STRUCT:
            found = fat_pointer(value[f])
            if found is not None:
                return found
    return None


def read_text(address, length):
    if length == 0:
        return ""
    data = gdb.selected_inferior().read_memory(address, length).tobytes()
    return data.decode("utf-8", "replace")


def read_string(value):
    """A Rust `String`."""
    vec = value["vec"]
    return read_text(int(first_pointer(vec)), scalar(vec["len"]))


def option_variant(value):
    """The variant name of a Rust enum value ("Some", "None"), from gdb's own printing."""
    text = value.format_string(raw=True)
    head = text.split("(", 1)[0].split(" {", 1)[0]
    return head.rsplit("::", 1)[-1]


def location(value):
    """`file:line:column` of a `core::panic::Location`."""
    names = {f.name for f in fields(value)}
    file_field = "filename" if "filename" in names else "file"
    data, length = fat_pointer(value[file_field])
    return "%s:%d:%d" % (read_text(int(data), length), scalar(value["line"]),
                         scalar(value["col"]))


def lookup_static(name):
    symbol = gdb.lookup_static_symbol(name) or gdb.lookup_global_symbol(name)
    if symbol is None:
        raise gdb.GdbError(
            "green: no symbol %s: is this a program built on `green`, with debug "
            "information?" % name)
    return symbol.value()


def symbol_address(name):
    """The address of an ELF symbol (the assembly routines have no debug information)."""
    try:
        text = gdb.execute("info address " + name, to_string=True)
    except gdb.error:
        return None
    for word in text.replace(".", " ").split():
        if word.startswith("0x"):
            return int(word, 16)
    return None


def read_word(address):
    size = gdb.lookup_type("usize").sizeof
    data = gdb.selected_inferior().read_memory(address, size).tobytes()
    return int.from_bytes(data, byteorder())


def byteorder():
    return "big" if "big endian" in gdb.execute("show endian", to_string=True) else "little"


class Stack:
    """One registered stack: the address of its guard page (just below its lowest usable
    address), its top and its slot's owner word (0 for a stack; kept for older versions of the
    crate, whose green threads were listed through their stacks' slots)."""

    def __init__(self, guard, top, owner):
        self.guard, self.top, self.owner = guard, top, owner

    def contains(self, address):
        return self.guard < address < self.top


def registry():
    """Every registered stack, and the owner words of the green threads' slots, from the
    registry's chunks (published in order, never freed)."""
    chunks = lookup_static("green::stack::overflow::CHUNKS")
    order = byteorder()
    found, owners = [], []
    for i in range(chunks.type.strip_typedefs().range()[1] + 1):
        chunk = first_pointer(chunks[i])
        if chunk is None or int(chunk) == 0:
            break
        slots_type = chunk.dereference()["slots"].type.strip_typedefs()
        slot_type = slots_type.target()
        offsets = {f.name: f.bitpos // 8 for f in slot_type.fields()}
        width = gdb.lookup_type("usize").sizeof
        raw = gdb.selected_inferior().read_memory(int(chunk), slots_type.sizeof).tobytes()

        def word(slot, name):
            at = slot * slot_type.sizeof + offsets[name]
            return int.from_bytes(raw[at:at + width], order)

        for slot in range(slots_type.range()[1] + 1):
            guard, owner = word(slot, "guard"), word(slot, "owner")
            if guard != 0:
                found.append(Stack(guard, word(slot, "top"), owner))
            if owner != 0:
                owners.append(owner)
    return found, owners


def wait_kinds():
    """Variant names of `registry::Wait` by value, from the debug information if it has them."""
    try:
        enum = gdb.lookup_type("green::runtime::registry::Wait").strip_typedefs()
        kinds = {int(f.enumval): f.name.rsplit("::", 1)[-1] for f in enum.fields()}
        if kinds:
            return kinds
    except (gdb.error, AttributeError, RuntimeError):
        pass
    return dict(enumerate(WAIT_KINDS))


class GreenThread:
    """What a dump says of one green thread, read from its `Task`."""

    def __init__(self, stack, task, kinds, runtimes):
        self.stack = stack
        self.id = scalar(task["id"])
        try:
            name = task["name"]
            self.name = read_string(name["Some"]["__0"]) if option_variant(name) == "Some" \
                else None
        except (gdb.error, gdb.MemoryError, KeyError):
            self.name = None
        self.spawned_at = location(task["spawned_at"].dereference())
        shared = int(first_pointer(task["shared"]))
        if shared not in runtimes:
            runtimes.append(shared)
        self.runtime = runtimes.index(shared)
        home = scalar(task["home"])
        self.worker = None if home == (1 << (8 * task["home"].type.sizeof)) - 1 else home
        self.pthread = None
        running = False
        if self.worker is not None:
            workers = fat_pointer(first_pointer(task["shared"]).dereference()["data"]["workers"])
            if workers is not None and self.worker < workers[1]:
                handle = workers[0][self.worker]
                running = scalar(handle["running"]) == self.id
                try:
                    self.pthread = scalar(handle["pthread"])
                except gdb.error:
                    pass  # a version of the crate that does not record it
        self.state = self.classify(task, kinds, running)

    def classify(self, task, kinds, running):
        if scalar(task["join"]["state"]) & JOIN_DONE:
            return "finished"
        if self.worker is None:
            return "unstarted"
        park = scalar(task["park_state"])
        what = scalar(task["wait"]["what"])
        since = scalar(task["wait"]["since"])
        kind = kinds.get(what >> WAIT_ARG_BITS, "Park")
        arg = what & ((1 << WAIT_ARG_BITS) - 1)
        if park & SLEEPING:
            # The deadline and the moment it fell asleep, both on its worker's coarse clock.
            return "sleeping until %.3f s after it fell asleep" % (max(arg - since, 0) / 1000.0)
        if park != PARKED:
            # A worker leaves its running id in place while its loop works between two green
            # threads: a parked or sleeping green thread may still be named there.
            return "running" if running else "ready"
        if kind == "Io":
            fd = arg >> 2
            how = {1: "readable", 2: "writable", 3: "readable or writable"}.get(arg & 3,
                                                                                 "readable")
            return "io (fd %d, %s)" % (fd, how)
        if kind == "Join" and arg != 0:
            return "join (thread %d)" % arg
        return WAIT_NAMES.get(kind, kind.lower())

    def describe(self, threads_by_pthread):
        text = "green thread %d" % self.id
        if self.name is not None:
            text += ' "%s"' % self.name.replace("\\", "\\\\").replace('"', '\\"')
        text += " [%s]" % self.state
        if self.worker is not None:
            text += " on worker %d" % self.worker
            gdb_thread = threads_by_pthread.get(self.pthread)
            if gdb_thread is not None:
                text += " (gdb thread %d)" % gdb_thread.num
        return text + ":\n    spawned at %s\n" % self.spawned_at


def green_threads():
    """Every green thread of every runtime, by runtime and id; the number of runtimes; and
    the addresses of the tasks that could not be read, with why."""
    threads, runtimes, unreadable = [], [], []
    with Language("rust"):
        try:
            task_type = gdb.lookup_type("green::runtime::task::Task").pointer()
        except gdb.error:
            raise gdb.GdbError("green: no type green::runtime::task::Task: is this a program "
                               "built on `green`, with debug information?") from None
        kinds = wait_kinds()
        stacks, owners = registry()
        by_top = {stack.top: stack for stack in stacks}
        for owner in owners:
            task = gdb.Value(owner).cast(task_type).dereference()
            try:
                top = scalar(task["top"]) if "top" in {f.name for f in fields(task)} else 0
                stack = by_top.get(top) or next((s for s in stacks if s.owner == owner), None)
                threads.append(GreenThread(stack, task, kinds, runtimes))
            except (gdb.error, gdb.MemoryError) as error:
                unreadable.append((owner, str(error)))
    threads.sort(key=lambda t: (t.runtime, t.id))
    return threads, len(runtimes), unreadable


def os_threads_by_pthread():
    """gdb's threads of the selected inferior by pthread_t, where gdb knows them."""
    found = {}
    for thread in gdb.selected_inferior().threads():
        try:
            handle = thread.handle()
        except (gdb.error, RuntimeError):
            continue
        if handle:
            found[int.from_bytes(handle, byteorder())] = thread
    return found


class GreenPrefix(gdb.Command):
    """Commands for green threads (the `green` crate).

green threads                            -- every green thread, as green::runtime::dump()
green bt [-r|-u] ID [BACKTRACE OPTIONS]  -- backtrace of a suspended green thread

They read the program's memory through its debug information: debug builds have it; release
builds need `debug = true` in their Cargo profile. They work on a live process (stopped, in
gdb's default all-stop mode) and on a core file; `green bt` needs the crate's assembly context
switch (x86_64 or aarch64 Linux)."""

    def __init__(self):
        super().__init__("green", gdb.COMMAND_STACK, gdb.COMPLETE_NONE, True)


class GreenThreads(gdb.Command):
    """List every green thread: id, name, state, home worker and spawn location.

Usage: green threads

The text reads like green::runtime::dump()'s, from memory alone: a state is running, ready,
unstarted, finished, sleeping (until how long after it fell asleep), or what a blocked green
thread waits for (channel, lock, io (fd N, readable), join (thread N), park, ...). A worker's
gdb thread is named when gdb knows the threads' pthread_t (native processes and core files).
Needs the program's debug information (debug builds, or release builds with `debug = true`)."""

    def __init__(self):
        super().__init__("green threads", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, argument, from_tty):
        if argument.strip():
            raise gdb.GdbError("usage: green threads")
        threads, runtimes, unreadable = green_threads()
        by_pthread = os_threads_by_pthread()
        out = ["green threads: %d in %d runtime%s\n"
               % (len(threads), runtimes, "" if runtimes == 1 else "s")]
        for thread in threads:
            out.append("\n" + thread.describe(by_pthread))
        for address, error in unreadable:
            out.append("\ngreen thread with its task at 0x%x: unreadable (%s)\n"
                       % (address, error))
        gdb.write("".join(out))


def find_thread(argument):
    """The green thread whose id the argument names."""
    try:
        wanted = int(argument, 0)
    except ValueError:
        raise gdb.GdbError("green: %r is not a green thread id (see `green threads`)"
                           % argument) from None
    threads, _, _ = green_threads()
    for thread in threads:
        if thread.id == wanted:
            return thread
    raise gdb.GdbError("green: no green thread %d (see `green threads`)" % wanted)


def switch_layout():
    arch = ARCHES.get(gdb.selected_inferior().architecture().name())
    if arch is None:
        raise gdb.GdbError("green bt: unsupported architecture %s (x86_64 and aarch64 only)"
                           % gdb.selected_inferior().architecture().name())
    if symbol_address("green_resume") is None:
        raise gdb.GdbError("green bt: the program uses the corosensei fallback context "
                           "switch (no green_resume), whose saved registers it cannot read")
    return arch


def suspended_registers(thread):
    """The registers of a suspended green thread where it continues, by name."""
    arch = switch_layout()
    if thread.stack is None:
        raise gdb.GdbError("green bt: green thread %d has not started: no stack yet"
                           % thread.id)
    top, width = thread.stack.top, gdb.lookup_type("usize").sizeof
    cont = read_word(top - CONT)
    continuation = {}
    for name in TRAMPOLINES + ("green_finished", "green_fp_continue"):
        address = symbol_address(name)
        if address is not None:
            continuation[address + arch["pad"]] = name
    what = continuation.get(cont)
    if what in TRAMPOLINES:
        raise gdb.GdbError("green bt: green thread %d has not started: no frames yet"
                           % thread.id)
    if what == "green_finished":
        raise gdb.GdbError("green bt: green thread %d has finished" % thread.id)
    if what == "green_fp_continue" and read_word(top - FLAGS) & 1:
        cont = read_word(top - FP_CONT)
    saved = read_word(top - SAVED_SP)
    if not thread.stack.contains(saved):
        raise gdb.GdbError("green bt: green thread %d's saved stack pointer 0x%x lies outside "
                           "its stack: is it being switched?" % (thread.id, saved))
    regs = {arch["pc"]: cont, arch["sp"]: saved + width * len(arch["pushed"]),
            arch["top"]: top}
    for i, name in enumerate(arch["pushed"]):
        regs[name] = read_word(saved + i * width)
    return regs


class FrameId:
    """The id the unwinder gives the frame it takes over (gdb 13 has no gdb.unwinder.FrameId)."""

    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class GreenUnwinder(gdb.unwinder.Unwinder):
    """While `target` is set, (ptid, stack pointer, program counter, registers): the frame of
    the OS thread with that ptid whose stack pointer and program counter are the given ones,
    its innermost real frame (below any calls inlined into it), has the green thread's
    registers as its caller's. Its own id is made of the green thread's stack pointer, so that
    the green frames above it count as outer frames."""

    def __init__(self):
        super().__init__("green")
        self.target = None

    def __call__(self, pending):
        if self.target is None:
            return None
        ptid, sp, pc, regs = self.target
        thread = gdb.selected_thread()
        if thread is None or thread.ptid != ptid:
            return None
        layout = ARCHES[pending.architecture().name()]
        here = pending.read_register(layout["pc"])
        if int(pending.read_register(layout["sp"])) != sp or int(here) != pc:
            return None
        info = pending.create_unwind_info(FrameId(gdb.Value(regs[layout["sp"]]), here))
        for name, value in regs.items():
            info.add_saved_register(name, gdb.Value(value).cast(
                pending.read_register(name).type))
        return info


class GreenFrameFilter:
    """While `active` is set, shows a green thread's frames only: from where it switched away
    to the function it started with (the frame before its trampoline). With the unwinder,
    `skip` holds the stack pointer and program counter of the OS thread's innermost frame,
    which is left out with the calls inlined into it."""

    def __init__(self):
        self.name = "green"
        self.priority = 100
        self.enabled = True
        self.active = False
        self.skip = None
        gdb.frame_filters[self.name] = self

    def filter(self, frames):
        if not self.active:
            return frames
        return self.green_frames(frames, self.skip)

    @staticmethod
    def green_frames(frames, skip):
        for decorator in frames:
            frame = decorator.inferior_frame()
            if skip is not None and (int(frame.read_register("sp")), frame.pc()) == skip:
                continue
            if frame.name() in TRAMPOLINES:
                return
            yield decorator


UNWINDER = GreenUnwinder()
gdb.unwinder.register_unwinder(None, UNWINDER, replace=True)
FILTER = GreenFrameFilter()


def integer_registers(frame, names):
    values = {}
    for name in names:
        value = frame.read_register(name)
        if value.type.strip_typedefs().code in (gdb.TYPE_CODE_INT, gdb.TYPE_CODE_PTR,
                                                gdb.TYPE_CODE_FLAGS):
            try:
                values[name] = int(value)
            except gdb.error:
                pass  # wider than a machine word: not one the switch or gdb's pc write touch
    return values


def set_register(name, value):
    gdb.execute("set $%s = %d" % (name, value), to_string=True)


def select_level(level):
    frame = gdb.newest_frame()
    while level > 0 and frame.older() is not None:
        frame, level = frame.older(), level - 1
    frame.select()


def backtrace_with_registers(regs, command):
    """Runs `command` with the green thread's registers in the selected OS thread's, then
    writes back every register that changed, the ones written and any that writing them
    changed (x86_64 Linux resets orig_rax with the program counter)."""
    level = gdb.selected_frame().level()
    gdb.newest_frame().select()
    names = [r.name for r in gdb.newest_frame().architecture().registers("save")]
    names += [n for n in regs if n not in names]
    before = integer_registers(gdb.newest_frame(), names)
    written = []
    try:
        with Language("c"):
            for name, value in regs.items():
                written.append(name)
                set_register(name, value)
        FILTER.active, FILTER.skip = True, None
        gdb.execute(command)
    finally:
        FILTER.active = False
        with Language("c"):
            gdb.newest_frame().select()
            for name in reversed(written):
                set_register(name, before[name])
            after = integer_registers(gdb.newest_frame(), names)
            for name, value in before.items():
                if after.get(name) != value:
                    set_register(name, value)
        select_level(level)


def backtrace_with_unwinder(regs, command):
    """Runs `command` with the green thread's frames unwound from the selected OS thread's
    innermost frame, which the frame filter leaves out."""
    level = gdb.selected_frame().level()
    arch = switch_layout()
    innermost = gdb.newest_frame()
    sp, pc = int(innermost.read_register(arch["sp"])), innermost.pc()
    UNWINDER.target = (gdb.selected_thread().ptid, sp, pc, regs)
    FILTER.active, FILTER.skip = True, (sp, pc)
    gdb.invalidate_cached_frames()
    try:
        gdb.execute(command)
    finally:
        UNWINDER.target = None
        FILTER.active = False
        gdb.invalidate_cached_frames()
        select_level(level)


class GreenBacktrace(gdb.Command):
    """Backtrace of a suspended green thread.

Usage: green bt [-r|-u] ID [BACKTRACE OPTIONS]

ID is a green thread id as `green threads` lists them. The backtrace runs from where the
green thread switched away (a blocking call, a yield) to the function it was started with;
BACKTRACE OPTIONS go to gdb's `backtrace` (`-full`, a frame count, ...).

-r (the default for a live native process): the selected OS thread holds the green thread's
registers for the time of the backtrace; every register is written back afterwards, so the
program continues exactly as before. Only for an OS thread that is stopped.
-u (the default for core files, whose registers cannot be written, and through gdb stubs such
as qemu-user's, which leaves the threads that did not report running): a frame unwinder
continues the selected OS thread's innermost frame with the green thread's frames and leaves
that frame out, with the calls inlined into it; frame numbers start past them (at 1 when
there are none). Nothing is written.
A running green thread has no saved registers: its frames are those of its worker's OS
thread, which the command names.

Needs the program's debug information (debug builds, or release builds with `debug = true`)
and the crate's assembly context switch (x86_64 or aarch64), not the corosensei fallback."""

    def __init__(self):
        super().__init__("green bt", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, argument, from_tty):
        how = None
        words = argument.split(None, 1)
        if words and words[0] in ("-r", "-u"):
            how = words[0]
            words = words[1].split(None, 1) if len(words) > 1 else []
        if not words:
            raise gdb.GdbError("usage: green bt [-r|-u] ID [BACKTRACE OPTIONS]")
        if gdb.selected_thread() is None:
            raise gdb.GdbError("green bt: no thread selected (is the program running?)")
        thread = find_thread(words[0])
        if thread.state == "running":
            os_thread = os_threads_by_pthread().get(thread.pthread)
            number = "%d" % os_thread.num if os_thread is not None else "N"
            gdb.write("green thread %d is running on worker %d: its frames are those of the "
                      "worker's OS thread (`thread %s`, then `bt`).\n"
                      % (thread.id, thread.worker, number))
            return
        with Language("rust"):
            regs = suspended_registers(thread)
        command = "backtrace " + (words[1] if len(words) > 1 else "")
        if how is None:
            connection = gdb.selected_inferior().connection
            native = connection is not None and connection.type == "native"
            how = "-r" if native else "-u"
        if how == "-r":
            backtrace_with_registers(regs, command)
        else:
            backtrace_with_unwinder(regs, command)


GreenPrefix()
GreenThreads()
GreenBacktrace()
