//! The counters at work: sender threads count bytes and packets while a reader samples
//! them every 100 ms, resets a window counter under full load, and checks at the end that
//! not one add was lost.
//!
//! ```text
//! cargo run --release --example counters            # 2 seconds, one sender per core
//! cargo run --release --example counters -- 5 8     # 5 seconds, 8 senders
//! ```

use shardstat::{Counter, Max, UpDownCounter};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static BYTES: Counter = Counter::new();
static PACKETS: Counter = Counter::new();
static WINDOW_PACKETS: Counter = Counter::new();
static LARGEST_PACKET: Max = Max::new();
static IN_FLIGHT: UpDownCounter = UpDownCounter::new();

fn usage(problem: &str) -> ! {
    eprintln!("counters: {problem}");
    eprintln!("usage: cargo run --release --example counters -- [SECONDS] [SENDERS]");
    std::process::exit(2);
}

fn arg(position: usize, default: u64, what: &str) -> u64 {
    match std::env::args().nth(position) {
        None => default,
        Some(text) => match text.parse::<u64>() {
            Ok(0) => usage(&format!("{what} must be at least 1")),
            Ok(n) => n,
            Err(_) => usage(&format!("{what} must be a whole number, not {text:?}")),
        },
    }
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u64);
    let seconds = arg(1, 2, "SECONDS");
    let senders = arg(2, cores, "SENDERS");
    if senders > 1024 {
        usage("SENDERS must be at most 1024");
    }
    println!("{senders} sender threads for {seconds} s; sampling every 100 ms");

    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let (sent_bytes, sent_packets) = std::thread::scope(|s| {
        let senders: Vec<_> = (0..senders)
            .map(|id| {
                let stop = &stop;
                s.spawn(move || {
                    // Each sender keeps its own plain tally to check the counters against.
                    let (mut my_bytes, mut my_packets) = (0u64, 0u64);
                    let bytes = BYTES.local();
                    let packets = PACKETS.local();
                    while !stop.load(Ordering::Relaxed) {
                        for i in 0..1024u64 {
                            let len = 4096 + (id * 7 + i) % 64;
                            IN_FLIGHT.inc();
                            bytes.add(len);
                            packets.inc();
                            WINDOW_PACKETS.inc();
                            LARGEST_PACKET.record(len);
                            IN_FLIGHT.dec();
                            my_bytes += len;
                            my_packets += 1;
                        }
                    }
                    (my_bytes, my_packets)
                })
            })
            .collect();

        let mut last = (0, Instant::now());
        let deadline = Duration::from_secs(seconds);
        while start.elapsed() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            let now = (BYTES.get(), Instant::now());
            let rate = (now.0 - last.0) as f64 / now.1.duration_since(last.1).as_secs_f64();
            // Reset the window under full load: exact, no add lost or counted twice.
            let window = WINDOW_PACKETS.get();
            WINDOW_PACKETS.reset();
            println!(
                "{:5.1} s  {:>10.1} MB/s  {:>12} packets  window {:>10}  largest {} B  in flight {}",
                start.elapsed().as_secs_f64(),
                rate / 1e6,
                PACKETS.get(),
                window,
                LARGEST_PACKET.get(),
                IN_FLIGHT.get(),
            );
            last = now;
        }
        stop.store(true, Ordering::Relaxed);
        senders
            .into_iter()
            .map(|h| h.join().expect("sender panicked"))
            .fold((0, 0), |(b, p), (mb, mp)| (b + mb, p + mp))
    });

    let elapsed = start.elapsed().as_secs_f64();
    println!();
    println!(
        "sent {sent_packets} packets, {sent_bytes} bytes: {:.0} M adds/s over all counters",
        5.0 * sent_packets as f64 / elapsed / 1e6
    );
    let exact = BYTES.get() == sent_bytes && PACKETS.get() == sent_packets;
    println!(
        "counters: {} bytes, {} packets, largest {} B, in flight {} — exact: {}",
        BYTES.get(),
        PACKETS.get(),
        LARGEST_PACKET.get(),
        IN_FLIGHT.get(),
        if exact { "yes" } else { "NO" }
    );
    if !exact || IN_FLIGHT.get() != 0 {
        std::process::exit(1);
    }
}
