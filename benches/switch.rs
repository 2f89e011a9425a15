//! Context-switch and creation costs of `green` against `corosensei`, in the same run.
//!
//! ```text
//! cargo bench --bench switch                 # everything
//! cargo bench --bench switch -- --quick      # short run
//! cargo bench --bench switch -- create       # only the sections whose name contains "create"
//! ```
//!
//! Sections: `roundtrip` (one resume + suspend), `create` (create a coroutine, run it to
//! completion, drop it) and `instructions` (instructions per operation counted by callgrind,
//! which is free of timing noise). Wall-clock numbers are medians of samples in which the
//! implementations take turns, so that the noise of a shared machine hits them alike.
//!
//! For the instruction counts the benchmark runs itself again under
//! `valgrind --tool=callgrind`, with [`MODE_VAR`] naming one `#[inline(never)]` function to
//! run; collection is on only inside that function (`--toggle-collect`), so setting the
//! coroutine up is not counted.

use corosensei::stack::DefaultStack;
use green::coroutine::Coroutine;
use green::stack::{Stack, DEFAULT_STACK_SIZE};
use std::env;
use std::fs;
use std::hint::black_box;
use std::path::Path;
use std::process::{self, Command};
use std::time::Instant;

/// Usable stack size for every coroutine of the benchmark, ours and corosensei's.
const STACK_SIZE: usize = DEFAULT_STACK_SIZE;
/// Set in the environment of the child run under callgrind: `<function>:<iterations>`.
const MODE_VAR: &str = "GREEN_SWITCH_BENCH_MODE";
/// Round trips (or creations) counted under callgrind.
const CALLGRIND_ITERS: usize = 100_000;

type Ours = Coroutine<usize, usize, ()>;
type Theirs = corosensei::Coroutine<usize, usize, (), DefaultStack>;
type OursOnce = Coroutine<usize, (), usize>;
type TheirsOnce = corosensei::Coroutine<usize, (), usize, DefaultStack>;

// ---------------------------------------------------------------------------------------------
// The measured functions. Each is `#[inline(never)]` so that callgrind can toggle collection on
// its entry and exit; their names must not be substrings of one another.
// ---------------------------------------------------------------------------------------------

fn new_ours() -> Ours {
    Coroutine::new(|yielder, mut x: usize| loop {
        x = yielder.suspend(x + 1);
    })
}

fn new_theirs() -> Theirs {
    let stack = DefaultStack::new(STACK_SIZE).expect("failed to map a corosensei stack");
    corosensei::Coroutine::with_stack(stack, |yielder, mut x: usize| loop {
        x = yielder.suspend(x + 1);
    })
}

#[inline(never)]
fn ours_roundtrips(co: &mut Ours, n: usize) -> usize {
    let mut x = 0;
    for _ in 0..n {
        x = co
            .resume(black_box(x))
            .as_yield()
            .expect("the coroutine never returns");
    }
    x
}

#[inline(never)]
fn theirs_roundtrips(co: &mut Theirs, n: usize) -> usize {
    let mut x = 0;
    for _ in 0..n {
        x = co
            .resume(black_box(x))
            .as_yield()
            .expect("the coroutine never returns");
    }
    x
}

// Named functions rather than closures, so that no closure's symbol contains the name of the
// function it is created in (callgrind's toggle pattern would match it too).
fn ours_body(_: &green::coroutine::Yielder<usize, ()>, x: usize) -> usize {
    x + 1
}

fn theirs_body(_: &corosensei::Yielder<usize, ()>, x: usize) -> usize {
    x + 1
}

/// Ours on a pooled stack: `Coroutine::new` takes the stack from the thread's pool and dropping
/// the coroutine gives it back.
#[inline(never)]
fn ours_create_pooled(n: usize) -> usize {
    let mut acc = 0usize;
    for i in 0..n {
        let mut co: OursOnce = Coroutine::new(ours_body);
        acc = acc.wrapping_add(
            co.resume(black_box(i))
                .as_return()
                .expect("returns at once"),
        );
    }
    acc
}

/// Ours on a freshly mapped stack each time. Dropping the coroutine offers the stack to the
/// pool, which is full after the first few hundred iterations, so the stack is unmapped.
#[inline(never)]
fn ours_create_fresh(n: usize) -> usize {
    let mut acc = 0usize;
    for i in 0..n {
        let stack = Stack::new(STACK_SIZE).expect("failed to map a green stack");
        let mut co: OursOnce = Coroutine::with_stack(stack, ours_body);
        acc = acc.wrapping_add(
            co.resume(black_box(i))
                .as_return()
                .expect("returns at once"),
        );
    }
    acc
}

/// corosensei on a fresh `DefaultStack` each time: what `corosensei::Coroutine::new` does,
/// with our stack size instead of its 1 MiB default.
#[inline(never)]
fn theirs_create_fresh(n: usize) -> usize {
    let mut acc = 0usize;
    for i in 0..n {
        let stack = DefaultStack::new(STACK_SIZE).expect("failed to map a corosensei stack");
        let mut co: TheirsOnce = corosensei::Coroutine::with_stack(stack, theirs_body);
        acc = acc.wrapping_add(
            co.resume(black_box(i))
                .as_return()
                .expect("returns at once"),
        );
    }
    acc
}

/// corosensei reusing one stack: `with_stack` + `into_stack`.
#[inline(never)]
fn theirs_create_reused(stack: &mut Option<DefaultStack>, n: usize) -> usize {
    let mut acc = 0usize;
    for i in 0..n {
        let s = stack
            .take()
            .expect("the stack is put back after every iteration");
        let mut co: TheirsOnce = corosensei::Coroutine::with_stack(s, theirs_body);
        acc = acc.wrapping_add(
            co.resume(black_box(i))
                .as_return()
                .expect("returns at once"),
        );
        *stack = Some(co.into_stack());
    }
    acc
}

// ---------------------------------------------------------------------------------------------
// Sampling.
// ---------------------------------------------------------------------------------------------

/// Nanoseconds per iteration of `f(iters)`.
fn time_per_iter(iters: usize, f: &mut dyn FnMut(usize) -> usize) -> f64 {
    let start = Instant::now();
    black_box(f(black_box(iters)));
    start.elapsed().as_nanos() as f64 / iters as f64
}

fn median(samples: &[f64]) -> f64 {
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs every benchmark `samples` times, the benchmarks taking turns within each round (in an
/// order that rotates from round to round), and returns the median of each. `iters[i]` is the
/// number of iterations of benchmark `i` per sample. One unrecorded round warms up first.
fn interleaved(
    samples: usize,
    iters: &[usize],
    benches: &mut [&mut dyn FnMut(usize) -> usize],
) -> Vec<f64> {
    let k = benches.len();
    let mut results = vec![Vec::with_capacity(samples); k];
    for round in 0..=samples {
        for j in 0..k {
            let i = (round + j) % k;
            let ns = time_per_iter(iters[i], &mut *benches[i]);
            if round > 0 {
                results[i].push(ns);
            }
        }
    }
    results.iter().map(|r| median(r)).collect()
}

/// Iterations for one sample of about `target_ms`, from a short pilot run.
fn calibrate(target_ms: f64, f: &mut dyn FnMut(usize) -> usize) -> usize {
    let mut n = 64;
    loop {
        let start = Instant::now();
        black_box(f(black_box(n)));
        let ms = start.elapsed().as_secs_f64() * 1e3;
        if ms > 2.0 || n >= 1 << 26 {
            return ((n as f64 * target_ms / ms.max(1e-6)) as usize).max(16);
        }
        n *= 4;
    }
}

// ---------------------------------------------------------------------------------------------
// Output.
// ---------------------------------------------------------------------------------------------

struct Table {
    rows: Vec<[String; 4]>,
}

impl Table {
    fn new() -> Table {
        Table {
            rows: vec![[
                "benchmark".to_owned(),
                "green".to_owned(),
                "corosensei".to_owned(),
                "ratio".to_owned(),
            ]],
        }
    }

    fn row(&mut self, name: &str, ours: f64, theirs: f64) {
        self.rows.push([
            name.to_owned(),
            fmt_num(ours),
            fmt_num(theirs),
            fmt_ratio(ours / theirs),
        ]);
    }

    fn note(&mut self, name: &str, text: &str) {
        self.rows.push([
            name.to_owned(),
            text.to_owned(),
            String::new(),
            String::new(),
        ]);
    }

    fn print(&self) {
        let mut widths = [0usize; 4];
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        for row in &self.rows {
            let line = format!(
                "{:<w0$}   {:<w1$}   {:<w2$}   {}",
                row[0],
                row[1],
                row[2],
                row[3],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
            );
            println!("{}", line.trim_end());
        }
    }
}

/// Two decimals, or three significant digits for ratios far below 1.
fn fmt_ratio(r: f64) -> String {
    if r >= 0.1 {
        format!("{r:.2}")
    } else {
        let decimals = (2.0 - r.log10().floor()).clamp(2.0, 9.0) as usize;
        format!("{r:.decimals$}")
    }
}

fn fmt_num(x: f64) -> String {
    if x >= 1000.0 {
        format!("{x:.0}")
    } else if x >= 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// The context switch build.rs chose for this build, from what it tells the crate's targets.
fn switch_flavour() -> String {
    match option_env!("GREEN_ASM_FILE") {
        _ if cfg!(feature = "force-fallback") => {
            "corosensei-based fallback (feature force-fallback): both columns switch with corosensei"
                .to_string()
        }
        Some(path) if cfg!(not(green_fallback)) => {
            let file = path.rsplit(['/', '\\']).next().unwrap_or(path);
            format!("hand-written assembly, asm/{file}")
        }
        _ => "corosensei-based fallback (no assembly file for this target)".to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Sections.
// ---------------------------------------------------------------------------------------------

struct Options {
    quick: bool,
    filters: Vec<String>,
}

impl Options {
    fn parse() -> Options {
        let mut quick = false;
        let mut filters = Vec::new();
        for arg in env::args().skip(1) {
            if arg == "--quick" {
                quick = true;
            } else if !arg.starts_with('-') {
                filters.push(arg);
            }
            // Anything else (`--bench`, which cargo passes, or libtest flags) is ignored.
        }
        Options { quick, filters }
    }

    fn wants(&self, section: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| section.contains(f.as_str()))
    }
}

fn roundtrip(opts: &Options, table: &mut Table) -> f64 {
    let (samples, iters) = if opts.quick {
        (5, 500_000)
    } else {
        (15, 3_000_000)
    };
    let mut ours = new_ours();
    let mut theirs = new_theirs();
    // Start both, so that every measured resume is a plain round trip.
    ours.resume(0);
    theirs.resume(0);
    let medians = interleaved(
        samples,
        &[iters, iters],
        &mut [&mut |n| ours_roundtrips(&mut ours, n), &mut |n| {
            theirs_roundtrips(&mut theirs, n)
        }],
    );
    println!("round trip: medians of {samples} samples of {iters} round trips each");
    table.row("round trip: resume+suspend (ns)", medians[0], medians[1]);
    medians[0] / medians[1]
}

fn create(opts: &Options, table: &mut Table) -> f64 {
    let (samples, target_ms) = if opts.quick { (5, 10.0) } else { (15, 40.0) };
    let mut reused = Some(DefaultStack::new(STACK_SIZE).expect("failed to map a corosensei stack"));
    // Fill the pool first, so that every fresh stack of ours is unmapped when dropped, as
    // corosensei's are.
    black_box(ours_create_fresh(512));
    let mut pooled = |n| ours_create_pooled(n);
    let mut fresh = |n| ours_create_fresh(n);
    let mut theirs_fresh = |n| theirs_create_fresh(n);
    let mut theirs_reused = |n| theirs_create_reused(&mut reused, n);
    let iters = [
        calibrate(target_ms, &mut pooled),
        calibrate(target_ms, &mut fresh),
        calibrate(target_ms, &mut theirs_fresh),
        calibrate(target_ms, &mut theirs_reused),
    ];
    let m = interleaved(
        samples,
        &iters,
        &mut [
            &mut pooled,
            &mut fresh,
            &mut theirs_fresh,
            &mut theirs_reused,
        ],
    );
    println!(
        "create+run+drop: medians of {samples} samples of ~{target_ms} ms each \
         (iterations per sample: green pooled {}, green fresh {}, corosensei fresh {}, \
         corosensei reused {})",
        iters[0], iters[1], iters[2], iters[3]
    );
    table.row(
        "create+run+drop (ns): green pooled / coro fresh",
        m[0],
        m[2],
    );
    table.row("create+run+drop (ns): green fresh / coro fresh", m[1], m[2]);
    table.row(
        "create+run+drop (ns): green pooled / coro reused",
        m[0],
        m[3],
    );
    m[0] / m[2]
}

/// Runs `function` under callgrind in a child process; instructions per iteration.
fn callgrind(function: &str) -> Result<f64, String> {
    let exe = env::current_exe().map_err(|e| format!("cannot find the benchmark binary: {e}"))?;
    let out = env::temp_dir().join(format!(
        "green-switch-{}-{function}.callgrind",
        process::id()
    ));
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg("--collect-atstart=no")
        .arg(format!("--toggle-collect=*{function}*"))
        .arg(&exe)
        .env(MODE_VAR, format!("{function}:{CALLGRIND_ITERS}"))
        .output()
        .map_err(|e| format!("cannot run valgrind: {e}"))?;
    let total = read_total(&out);
    let _ = fs::remove_file(&out);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "callgrind run of {function} failed ({}):\n{}",
            output.status,
            tail.join("\n")
        ));
    }
    let total = total.ok_or_else(|| format!("no totals in callgrind's output for {function}"))?;
    if total == 0 {
        return Err(format!(
            "callgrind counted nothing in {function}: is the symbol visible?"
        ));
    }
    Ok(total as f64 / CALLGRIND_ITERS as f64)
}

/// The event total of a callgrind output file (`totals:` or `summary:` line; first event: Ir).
fn read_total(path: &Path) -> Option<u64> {
    let text = fs::read_to_string(path).ok()?;
    let line = text
        .lines()
        .find(|l| l.starts_with("totals:"))
        .or_else(|| text.lines().find(|l| l.starts_with("summary:")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn instructions(table: &mut Table) -> Option<f64> {
    let found = Command::new("valgrind").arg("--version").output();
    if !matches!(&found, Ok(o) if o.status.success()) {
        println!("valgrind not found: instruction counts skipped");
        return None;
    }
    println!("instructions: callgrind, {CALLGRIND_ITERS} iterations inside one collected function");
    let pairs = [
        (
            "instructions: round trip",
            "ours_roundtrips",
            "theirs_roundtrips",
        ),
        (
            "instructions: create+run+drop, pooled / reused",
            "ours_create_pooled",
            "theirs_create_reused",
        ),
    ];
    let mut roundtrip_ratio = None;
    for (name, ours, theirs) in pairs {
        match (callgrind(ours), callgrind(theirs)) {
            (Ok(a), Ok(b)) => {
                table.row(name, a, b);
                roundtrip_ratio.get_or_insert(a / b);
            }
            (a, b) => {
                for e in [a.err(), b.err()].into_iter().flatten() {
                    eprintln!("{e}");
                }
                table.note(name, "failed (see above)");
            }
        }
    }
    roundtrip_ratio
}

/// The child side of [`callgrind`]: run one function and exit.
fn child(mode: &str) {
    let (function, n) = mode.split_once(':').unwrap_or((mode, "100000"));
    let n: usize = n.parse().expect("iteration count");
    let result = match function {
        "ours_roundtrips" => {
            let mut co = new_ours();
            co.resume(0);
            ours_roundtrips(&mut co, n)
        }
        "theirs_roundtrips" => {
            let mut co = new_theirs();
            co.resume(0);
            theirs_roundtrips(&mut co, n)
        }
        "ours_create_pooled" => {
            // Put a stack in the pool, so that only pooled creations are counted.
            drop(Coroutine::<usize, (), usize>::new(ours_body));
            ours_create_pooled(n)
        }
        "ours_create_fresh" => ours_create_fresh(n),
        "theirs_create_fresh" => theirs_create_fresh(n),
        "theirs_create_reused" => {
            let mut stack = Some(DefaultStack::new(STACK_SIZE).expect("failed to map a stack"));
            theirs_create_reused(&mut stack, n)
        }
        other => panic!("unknown {MODE_VAR} function {other:?}"),
    };
    black_box(result);
}

fn main() {
    if let Ok(mode) = env::var(MODE_VAR) {
        child(&mode);
        return;
    }
    let opts = Options::parse();
    println!(
        "green vs corosensei 0.3.4, stack size {} KiB",
        STACK_SIZE / 1024
    );
    println!("green context switch: {}", switch_flavour());
    println!("ratio = green / corosensei (below 1: green is faster)");
    let mut table = Table::new();
    let mut verdicts = Vec::new();
    if opts.wants("roundtrip") {
        let r = roundtrip(&opts, &mut table);
        verdicts.push(format!(
            "round trip ratio <= 1.00: {} ({r:.2})",
            if r <= 1.0 { "met" } else { "MISSED" }
        ));
    }
    if opts.wants("create") {
        let r = create(&opts, &mut table);
        verdicts.push(format!(
            "pooled creation >= 2x faster than corosensei fresh: {} ({:.1}x)",
            if r <= 0.5 { "met" } else { "MISSED" },
            1.0 / r
        ));
    }
    if opts.wants("instructions") {
        instructions(&mut table);
    }
    if table.rows.len() == 1 {
        println!("no benchmark ran; sections: roundtrip, create, instructions");
        return;
    }
    println!();
    table.print();
    if table.rows.iter().any(|row| row[0].contains("pooled")) {
        println!();
        println!(
            "pooled: green Coroutine::new (thread-local stack pool); fresh: a newly mapped {} KiB \
             stack each time (green Stack::new + Coroutine::with_stack, corosensei \
             DefaultStack::new); reused: corosensei with_stack + into_stack on one stack",
            STACK_SIZE / 1024
        );
    }
    if !verdicts.is_empty() {
        println!();
        for v in verdicts {
            println!("target: {v}");
        }
    }
}
