//! The async bridge both ways, against a local HTTP server that answers each request after a
//! delay (green threads over `green::net`, see `green_compare::http`):
//!
//! 1. green threads call an async HTTP client (reqwest, driven by a tokio runtime on its own
//!    threads) with `green::block_on_with`: each green thread waits for its response alone,
//!    so hundreds of requests on ONE green worker are all in flight at once;
//! 2. a tokio program awaits green threads that do blocking work (a request with a plain
//!    blocking `green::net::TcpStream`, a sleep): `JoinHandle` is `IntoFuture`, and the tokio
//!    thread keeps running its other tasks meanwhile (a ticker counts them).
//!
//! Run with: cargo run --release -p green-compare --example async_bridge [-- REQUESTS DELAY_MS]
//! (defaults: 200 requests, 100 ms).

use green_compare::http::{body_for, Server};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let requests: usize = args.next().map_or(Ok(200), |a| a.parse())?;
    let delay = Duration::from_millis(args.next().map_or(Ok(100), |a| a.parse())?);

    let server_rt = green::runtime::Builder::new().workers(1).build()?;
    let addr = Server {
        delay,
        ..Server::default()
    }
    .start(&server_rt)?;
    println!("local server on {addr}, answering each request after {delay:?}\n");

    green_threads_call_reqwest(addr, requests)?;
    tokio_awaits_green_threads(addr, requests)?;
    Ok(())
}

/// Part 1: `requests` green threads on one worker, each a reqwest GET.
fn green_threads_call_reqwest(
    addr: SocketAddr,
    requests: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    // tokio drives reqwest's sockets and timers on threads of its own; green threads enter
    // its context only while they poll (never hold `rt.enter()` across a green wait).
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let client = reqwest::Client::new();
    let green_rt = green::runtime::Builder::new().workers(1).build()?;

    let start = Instant::now();
    let handles: Vec<_> = (0..requests)
        .map(|i| {
            let (client, handle) = (client.clone(), tokio.handle().clone());
            green_rt.spawn(move || {
                let url = format!("http://{addr}/reqwest/{i}");
                // Plain blocking code in the green thread; only this green thread waits.
                green::block_on_with(|| handle.enter(), async {
                    client.get(&url).send().await?.text().await
                })
            })
        })
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let body = h.join().expect("a client green thread")?;
        assert_eq!(body, body_for(&format!("/reqwest/{i}")));
    }
    println!(
        "1. {requests} reqwest GETs from green threads on 1 green worker: {:.2} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// A GET with plain blocking code, as in a green thread one would write it for std.
fn blocking_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = green::net::TcpStream::connect(addr)?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    Ok(body.to_owned())
}

/// Part 2: a tokio program that hands blocking work to green threads and awaits them.
fn tokio_awaits_green_threads(
    addr: SocketAddr,
    requests: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let green_rt = green::runtime::Builder::new().workers(1).build()?;
    // One OS thread for everything tokio does.
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let start = Instant::now();
    let ticks = Arc::new(AtomicU32::new(0));
    let bodies = tokio.block_on(async {
        // Another task of the same thread: it runs only while the awaits below block nothing.
        let counted = ticks.clone();
        let ticker = tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(10));
            loop {
                interval.tick().await;
                counted.fetch_add(1, Ordering::Relaxed);
            }
        });
        let mut set = tokio::task::JoinSet::new();
        for i in 0..requests {
            let worker = green_rt.spawn(move || {
                green::thread::sleep(Duration::from_millis(1));
                blocking_get(addr, &format!("/blocking/{i}"))
            });
            // The green thread's end, awaited without blocking tokio's thread.
            set.spawn(async move { (i, worker.await) });
        }
        let mut bodies = vec![String::new(); requests];
        while let Some(joined) = set.join_next().await {
            let (i, result) = joined.expect("the awaiting task");
            bodies[i] = result.expect("the green thread").expect("the request");
        }
        ticker.abort();
        bodies
    });
    for (i, body) in bodies.iter().enumerate() {
        assert_eq!(*body, body_for(&format!("/blocking/{i}")));
    }
    println!(
        "2. a tokio program awaited {requests} green threads doing blocking GETs: {:.2} s; \
         its ticker task ran {} times meanwhile on the same OS thread",
        start.elapsed().as_secs_f64(),
        ticks.load(Ordering::Relaxed)
    );
    Ok(())
}
