use green::thread;
use std::time::Duration;

#[test]
fn spawn_and_join_many() {
    let handles: Vec<_> = (0..1000u64).map(|i| thread::spawn(move || i * 2)).collect();
    let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(sum, 999_000);
}

#[test]
fn nested_spawn_join_and_sleep() {
    let h = thread::spawn(|| {
        let inner: Vec<_> = (0..100u64)
            .map(|i| {
                thread::spawn(move || {
                    thread::sleep(Duration::from_millis(5));
                    thread::yield_now();
                    i
                })
            })
            .collect();
        inner.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(h.join().unwrap(), 4950);
}

#[test]
fn panic_is_returned() {
    let h = thread::Builder::new()
        .name("boom".into())
        .spawn(|| panic!("oops"))
        .unwrap();
    let err = h.join().unwrap_err();
    assert_eq!(*err.downcast_ref::<&str>().unwrap(), "oops");
}

#[test]
fn park_unpark_across() {
    let t = thread::spawn(|| {
        thread::park();
        7
    });
    t.thread().unpark();
    assert_eq!(t.join().unwrap(), 7);
}

#[test]
fn scoped() {
    let mut v = vec![1, 2, 3];
    let s = thread::scope(|s| {
        let a = s.spawn(|| v.iter().sum::<i32>());
        a.join().unwrap()
    });
    v.push(4);
    assert_eq!(s, 6);
}
