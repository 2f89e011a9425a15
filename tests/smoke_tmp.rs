use green::coroutine::{Coroutine, CoroutineResult};

#[test]
fn smoke() {
    let mut co = Coroutine::new(|y, a: u64| {
        let mut s = a;
        for _ in 0..1000 {
            s += y.suspend(s);
        }
        s
    });
    let mut last = 0;
    for i in 0..1001 {
        match co.resume(i) {
            CoroutineResult::Yield(v) => last = v,
            CoroutineResult::Return(v) => { last = v; break; }
        }
    }
    assert_eq!(last, (0..1001u64).sum::<u64>());
    let bt = std::backtrace::Backtrace::force_capture();
    let mut co2: Coroutine<(), (), String> = Coroutine::new(|_, ()| format!("{}", std::backtrace::Backtrace::force_capture()));
    let s = co2.resume(()).as_return().unwrap();
    println!("{s}");
    drop(bt);
    assert!(s.contains("smoke"));
}
