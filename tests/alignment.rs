//! The stack inside a coroutine is aligned as the ABI requires (16 bytes at every call), from
//! the first frame, at every depth and after every switch. Code generated for the ABI relies on
//! it: aligned SIMD spills, C library functions, float formatting.

#![deny(clippy::undocumented_unsafe_blocks)]

use green::coroutine::{Coroutine, Yielder};
use std::hint::black_box;
use std::ptr;

#[repr(C, align(16))]
struct Aligned16([u8; 16]);

/// The address of a fresh 16-byte aligned local in this frame, modulo 16. The compiler does
/// not realign the stack for 16-byte alignment: it relies on the incoming alignment.
#[inline(never)]
fn local_misalignment() -> usize {
    let local = Aligned16([0; 16]);
    black_box(ptr::addr_of!(local) as usize) % 16
}

/// Like `local_misalignment` with a frame of `N` extra bytes, so that the checks run at many
/// different stack depths.
#[inline(never)]
fn local_misalignment_with_frame<const N: usize>() -> usize {
    let padding = black_box([0u8; N]);
    let local = Aligned16([padding.len() as u8; 16]);
    let m = black_box(ptr::addr_of!(local) as usize) % 16;
    black_box(&padding);
    m + local_misalignment()
}

#[test]
fn locals_are_aligned_from_the_first_frame_and_after_switches() {
    let mut co: Coroutine<(), usize, usize> = Coroutine::new(|y, ()| {
        let first = Aligned16([1; 16]);
        y.suspend(ptr::addr_of!(first) as usize % 16 + local_misalignment());
        for _ in 0..10 {
            y.suspend(local_misalignment());
        }
        local_misalignment()
    });
    for _ in 0..11 {
        assert_eq!(co.resume(()).as_yield(), Some(0));
    }
    assert_eq!(co.resume(()).as_return(), Some(0));
}

/// Descends `depth` frames of varying sizes, checking alignment in each, and suspends with
/// the total misalignment found at every fourth level.
fn descend(y: &Yielder<(), usize>, depth: usize) -> usize {
    let here = match depth % 4 {
        0 => local_misalignment_with_frame::<1>(),
        1 => local_misalignment_with_frame::<24>(),
        2 => local_misalignment_with_frame::<40>(),
        _ => local_misalignment_with_frame::<1000>(),
    };
    if depth % 4 == 0 {
        y.suspend(here);
    }
    let below = if depth == 0 {
        0
    } else {
        // A frame of odd size between levels.
        let odd = black_box([depth as u8; 8 + 1]);
        let r = descend(y, depth - 1);
        black_box(odd);
        r
    };
    here + below + local_misalignment()
}

#[test]
fn locals_are_aligned_at_every_depth() {
    let mut co: Coroutine<(), usize, usize> = Coroutine::new(|y, ()| descend(y, 64));
    let mut yields = 0;
    loop {
        match co.resume(()) {
            green::coroutine::CoroutineResult::Yield(m) => {
                assert_eq!(m, 0, "misaligned at yield {yields}");
                yields += 1;
            }
            green::coroutine::CoroutineResult::Return(m) => {
                assert_eq!(m, 0);
                break;
            }
        }
    }
    assert_eq!(yields, 17);
}

#[test]
fn float_formatting_works() {
    let mut co: Coroutine<f64, String, String> = Coroutine::new(|y, x| {
        let a = format!("{:.3}", black_box(x));
        let b = format!("{:e}", black_box(x) * 1e10);
        let next = y.suspend(a);
        format!("{b} {:.3} {}", next, black_box(0.1f64 + 0.2))
    });
    assert_eq!(co.resume(2.0 / 3.0).as_yield().as_deref(), Some("0.667"));
    assert_eq!(
        co.resume(-1.0 / 7.0).as_return().as_deref(),
        Some(format!(
            "{:e} -0.143 0.30000000000000004",
            black_box(2.0 / 3.0) * 1e10
        ))
        .as_deref()
    );
}

#[test]
fn c_library_formatting_works() {
    // glibc's printf family saves vector registers with aligned stores: a misaligned stack
    // crashes it.
    let mut co: Coroutine<f64, (), String> = Coroutine::new(|_, x: f64| {
        let mut buf = [0u8; 64];
        // SAFETY: the buffer is writable for its whole length, the format is a NUL-terminated
        // string whose one conversion takes a double, and a double is passed.
        let n = unsafe {
            libc::snprintf(
                buf.as_mut_ptr().cast(),
                buf.len(),
                c"%.3f|%g".as_ptr(),
                black_box(x),
                black_box(x * 100.0),
            )
        };
        let n = usize::try_from(n).expect("snprintf succeeds");
        String::from_utf8(buf[..n].to_vec()).expect("ASCII output")
    });
    assert_eq!(
        co.resume(2.0 / 3.0).as_return().as_deref(),
        Some("0.667|66.6667")
    );
}

#[test]
fn wide_integer_and_vector_values_work() {
    let mut co: Coroutine<u128, u128, [f64; 4]> = Coroutine::new(|y, x: u128| {
        let doubled = y.suspend(black_box(x).wrapping_mul(3) ^ (x << 64));
        let v = black_box([doubled as f64, 1.5, -2.25, (doubled >> 100) as f64]);
        simd_double(v)
    });
    let x = 0x0123_4567_89ab_cdef_0011_2233_4455_6677u128;
    assert_eq!(co.resume(x).as_yield(), Some(x.wrapping_mul(3) ^ (x << 64)));
    let r = co.resume(1 << 101).as_return().expect("returns");
    assert_eq!(r, [2.0 * 2f64.powi(101), 3.0, -4.5, 4.0]);
}

/// Doubles four values with aligned SIMD loads and stores where the target has them.
#[inline(never)]
fn simd_double(v: [f64; 4]) -> [f64; 4] {
    #[repr(C, align(16))]
    struct Lanes([f64; 4]);
    let mut lanes = Lanes(v);
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_add_pd, _mm_load_pd, _mm_store_pd};
        let p = lanes.0.as_mut_ptr();
        // SAFETY: SSE2 is part of the x86_64 baseline. `lanes` is 16-byte aligned (the
        // aligned load and store fault otherwise) and holds four doubles: two pairs.
        unsafe {
            let a = _mm_load_pd(p);
            let b = _mm_load_pd(p.add(2));
            _mm_store_pd(p, _mm_add_pd(a, a));
            _mm_store_pd(p.add(2), _mm_add_pd(b, b));
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    for x in &mut lanes.0 {
        *x += *x;
    }
    black_box(lanes.0)
}

#[test]
fn nested_coroutines_are_aligned() {
    let mut outer: Coroutine<(), usize, usize> = Coroutine::new(|y, ()| {
        let mut total = local_misalignment();
        for depth in 0..8 {
            let mut inner: Coroutine<(), usize, usize> =
                Coroutine::new(move |iy, ()| descend(iy, depth));
            while let Some(m) = inner.resume(()).as_yield() {
                total += m + local_misalignment();
                y.suspend(total);
            }
        }
        total
    });
    while let Some(m) = outer.resume(()).as_yield() {
        assert_eq!(m, 0);
    }
}

#[test]
fn overaligned_locals_work() {
    #[repr(C, align(64))]
    struct Aligned64([u8; 64]);
    #[repr(C, align(4096))]
    struct AlignedPage([u8; 4096]);
    let mut co: Coroutine<(), (), (usize, usize)> = Coroutine::new(|y, ()| {
        let a = Aligned64([1; 64]);
        y.suspend(());
        let p = AlignedPage([2; 4096]);
        (
            black_box(ptr::addr_of!(a) as usize) % 64,
            black_box(ptr::addr_of!(p) as usize) % 4096,
        )
    });
    co.resume(());
    assert_eq!(co.resume(()).as_return(), Some((0, 0)));
}
