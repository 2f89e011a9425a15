//! The async bridge with tokio: futures that need tokio's reactor (reqwest's client, tokio's
//! sockets and timers) awaited from green threads through a tokio runtime on its own threads,
//! and green threads awaited from tokio tasks without blocking the runtime.

use green::runtime::Builder;
use green_compare::http::{body_for, Server};
use std::future::IntoFuture;
use std::sync::mpsc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Runs `scenario` on an OS thread of its own and returns what it returns; fails the test if
/// it has not ended after a minute (a lost wake-up would otherwise hang it forever).
fn within_a_minute<T: Send + 'static>(scenario: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let runner = std::thread::spawn(move || {
        let _ = tx.send(scenario());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(value) => {
            runner.join().expect("the scenario's thread ends");
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match runner.join() {
            Err(payload) => std::panic::resume_unwind(payload),
            Ok(()) => unreachable!("the scenario either sends its result or panics"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("the scenario did not end within 60 s"),
    }
}

/// A multi-thread tokio runtime: its own worker threads drive its reactor and timers.
fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn reqwest_from_green_threads_all_in_flight_at_once_on_one_worker() {
    // The server answers nobody before all N requests are in: N green threads of ONE worker
    // must each be parked inside green::block_on_with at the same time.
    const N: usize = 100;
    within_a_minute(|| {
        let tokio = tokio_runtime();
        let server_rt = Builder::new().workers(1).build().unwrap();
        let addr = Server {
            all_at_once: Some(N),
            ..Server::default()
        }
        .start(&server_rt)
        .unwrap();
        let clients = Builder::new().workers(1).build().unwrap();
        let client = reqwest::Client::new();
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let (client, handle) = (client.clone(), tokio.handle().clone());
                clients.spawn(move || {
                    let url = format!("http://{addr}/page/{i}");
                    green::block_on_with(|| handle.enter(), async {
                        client.get(&url).send().await?.text().await
                    })
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            let body = h.join().unwrap().expect("the request succeeds");
            assert_eq!(body, body_for(&format!("/page/{i}")));
        }
    });
}

#[test]
fn futures_spawned_onto_tokio_and_awaited_from_green_threads() {
    within_a_minute(|| {
        let tokio = tokio_runtime();
        // A tokio echo server.
        let listener = tokio
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        tokio.spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0; 64];
                    while let Ok(n @ 1..) = stream.read(&mut buf).await {
                        stream.write_all(&buf[..n]).await.unwrap();
                    }
                });
            }
        });
        let rt = Builder::new().workers(2).build().unwrap();
        let handles: Vec<_> = (0..20u8)
            .map(|i| {
                let handle = tokio.handle().clone();
                rt.spawn(move || {
                    // 'static futures: spawned onto tokio, their JoinHandle awaited (it needs
                    // only a waker).
                    let echoed = green::block_on(handle.spawn(async move {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        let mut stream = tokio::net::TcpStream::connect(addr).await?;
                        stream.write_all(&[i; 16]).await?;
                        let mut back = [0; 16];
                        stream.read_exact(&mut back).await?;
                        Ok::<_, std::io::Error>(back)
                    }))
                    .unwrap()
                    .unwrap();
                    assert_eq!(echoed, [i; 16]);
                    // Borrowing futures: polled here, inside the runtime's context.
                    let mut back = [0; 16];
                    green::block_on_with(|| handle.enter(), async {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        let mut stream = tokio::net::TcpStream::connect(addr).await?;
                        stream.write_all(&[i + 100; 16]).await?;
                        stream.read_exact(&mut back).await
                    })
                    .unwrap();
                    assert_eq!(back, [i + 100; 16]);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
}

#[test]
fn a_tokio_task_awaits_green_threads_without_blocking_its_runtime() {
    // A current-thread runtime: one OS thread runs both tasks. The green thread finishes only
    // after the second task has sent it a value; an await that blocked the runtime's thread
    // would never let that task run.
    within_a_minute(|| {
        let rt = Builder::new().workers(1).build().unwrap();
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let green_thread = rt.spawn(move || {
            // Blocking work, then a tokio channel (runtime-agnostic) awaited with block_on.
            green::thread::sleep(Duration::from_millis(5));
            green::block_on(rx).unwrap() * 2
        });
        let panicking = rt.spawn(|| -> u32 { panic!("green panic") });
        let (doubled, panicked) = tokio.block_on(async move {
            let sender = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                tx.send(21).unwrap();
            });
            let doubled = green_thread.await.unwrap();
            sender.await.unwrap();
            (doubled, panicking.await)
        });
        assert_eq!(doubled, 42);
        let payload = panicked.unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"green panic"));
    });
}

#[test]
fn a_killed_green_thread_reaches_its_tokio_awaiter_as_killed() {
    within_a_minute(|| {
        let rt = Builder::new().workers(1).build().unwrap();
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let stuck = rt
            .spawn(|| green::block_on(std::future::pending::<()>()))
            .into_future();
        let result = tokio.block_on(async move {
            stuck.kill();
            stuck.await
        });
        let payload = result.unwrap_err();
        assert!(payload.downcast_ref::<green::thread::Killed>().is_some());
    });
}

#[test]
fn holding_tokios_enter_guard_across_a_green_wait_is_an_error_tokio_reports() {
    // The pitfall block_on_with avoids: green thread A enters the runtime and parks with the
    // guard held; B, on the same worker (the same OS thread), enters on top of it; when A
    // drops its guard, tokio finds the guards out of order and panics.
    within_a_minute(|| {
        let tokio = tokio_runtime();
        let rt = Builder::new().workers(1).build().unwrap();
        let (a_entered_tx, a_entered_rx) = green::sync::mpsc::channel::<()>();
        let (b_entered_tx, b_entered_rx) = green::sync::mpsc::channel::<()>();
        let (a_done_tx, a_done_rx) = green::sync::mpsc::channel::<()>();
        let handle = tokio.handle().clone();
        let a = rt.spawn(move || {
            let _keep_b_waiting = a_done_tx;
            let guard = handle.enter();
            a_entered_tx.send(()).unwrap();
            b_entered_rx.recv().unwrap();
            drop(guard);
        });
        let handle = tokio.handle().clone();
        let b = rt.spawn(move || {
            a_entered_rx.recv().unwrap();
            let guard = handle.enter();
            b_entered_tx.send(()).unwrap();
            // A's end (its panic) disconnects this channel.
            let _ = a_done_rx.recv();
            drop(guard);
        });
        let payload = a.join().unwrap_err();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        assert!(message.contains("out of order"), "{message}");
        let _ = b.join();
    });
}
