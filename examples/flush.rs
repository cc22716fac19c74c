//! Delta export with `take()`: four worker threads count a VMM's network statistics while
//! the main thread writes one JSON line of deltas per interval — the shape a VMM's metrics
//! flush or a statsd/DogStatsD pusher sends — and checks at exit that the lines sum to the
//! totals the workers counted themselves. Every count is in exactly one line.
//!
//!     cargo run --release --example flush                          # 1 s, a line per 100 ms
//!     cargo run --release --example flush -- --interval-ms 5 --seconds 2
//!
//! It uses no feature: a `stats!` group's `take()` (each worker step in one line, whole), a
//! histogram's `take()` (an interval histogram) and a per-CPU counter's `take()`. A line's
//! three parts are three takes, one after the other, so they need not cover the same
//! instant (a line may hold more latencies than packets); each part is exact on its own,
//! and so is every column's sum over the lines.

use shardstat::{percpu, stats, Counter, Histogram};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

stats! {
    /// A virtio-net queue's statistics, as a VMM keeps them.
    #[snapshot = NetSnapshot]
    #[local = NetLocal]
    pub struct NetStats {
        /// Packets sent.
        pub tx_packets: Counter,
        /// Bytes sent.
        pub tx_bytes: Counter,
        /// Packets dropped (one in 100).
        pub tx_dropped: Counter,
    }
}

static NET: NetStats = NetStats::new();
static TX_LATENCY_NS: Histogram = Histogram::new();
static IRQS: percpu::Counter = percpu::Counter::new();

const USAGE: &str = "usage: cargo run --release --example flush -- [--interval-ms N] [--seconds N]";

/// What a worker counted by itself, to check the lines against.
#[derive(Default, Clone, Copy, PartialEq, Debug)]
struct Totals {
    packets: u64,
    bytes: u64,
    dropped: u64,
    latency_count: u64,
    latency_sum: u128,
    irqs: u64,
}

impl std::ops::AddAssign for Totals {
    fn add_assign(&mut self, o: Totals) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.dropped += o.dropped;
        self.latency_count += o.latency_count;
        self.latency_sum += o.latency_sum;
        self.irqs += o.irqs;
    }
}

fn main() {
    let (interval, seconds) = match parse(std::env::args().skip(1)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("flush: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let stop = AtomicBool::new(false);
    let mut lines = Totals::default();
    let mut counted = Totals::default();
    let start = Instant::now();
    let mut n = 0;
    std::thread::scope(|s| {
        // The workers stop when this is dropped, even if the flusher panics (a closed
        // stdout): the scope waits for them before it lets the panic go on.
        let _stop_workers = StopOnDrop(&stop);
        let workers: Vec<_> = (0..4u64)
            .map(|w| {
                let stop = &stop;
                s.spawn(move || {
                    let mut mine = Totals::default();
                    let net = NET.local();
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let len = 64 + (w * 131 + i * 17) % 1400;
                        let dropped = i % 100 == 0;
                        net.update(|l| {
                            l.tx_packets.inc();
                            l.tx_bytes.add(len);
                            if dropped {
                                l.tx_dropped.inc();
                            }
                        });
                        let latency = 500 + len * 3;
                        TX_LATENCY_NS.record(latency);
                        IRQS.inc();
                        mine += Totals {
                            packets: 1,
                            bytes: len,
                            dropped: u64::from(dropped),
                            latency_count: 1,
                            latency_sum: u128::from(latency),
                            irqs: 1,
                        };
                        i += 1;
                    }
                    mine
                })
            })
            .collect();
        while start.elapsed() < seconds {
            std::thread::sleep(interval);
            n += 1;
            lines += flush(n, start);
        }
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            counted += w.join().expect("a worker panicked");
        }
    });
    n += 1;
    lines += flush(n, start); // what the workers added after the last interval
    if lines != counted {
        eprintln!("flush: the {n} lines sum to {lines:?}, but the workers counted {counted:?}");
        std::process::exit(1);
    }
    eprintln!(
        "flush: {n} lines; their deltas sum to exactly what the workers counted: {} packets, \
         {} bytes, {} dropped, {} latencies, {} interrupts",
        counted.packets, counted.bytes, counted.dropped, counted.latency_count, counted.irqs
    );
}

/// Sets its flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Takes this interval's deltas, writes them as one JSON line, and returns them.
fn flush(n: u64, start: Instant) -> Totals {
    let net = NET.take();
    let latency = TX_LATENCY_NS.take();
    let irqs = IRQS.take();
    let q = |q: f64| latency.quantile(q).unwrap_or(0);
    println!(
        "{{\"interval\": {n}, \"ms\": {}, \"tx_packets\": {}, \"tx_bytes\": {}, \
         \"tx_dropped\": {}, \"irqs\": {irqs}, \"tx_latency_ns\": {{\"count\": {}, \
         \"sum\": {}, \"p50\": {}, \"p99\": {}}}}}",
        start.elapsed().as_millis(),
        net.tx_packets,
        net.tx_bytes,
        net.tx_dropped,
        latency.count(),
        latency.sum(),
        q(0.5),
        q(0.99)
    );
    Totals {
        packets: net.tx_packets,
        bytes: net.tx_bytes,
        dropped: net.tx_dropped,
        latency_count: latency.count(),
        latency_sum: latency.sum(),
        irqs,
    }
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<(Duration, Duration), String> {
    let (mut interval_ms, mut seconds) = (100u64, 1u64);
    while let Some(flag) = args.next() {
        let mut value = || -> Result<u64, String> {
            let v = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            v.parse()
                .map_err(|_| format!("{flag}: {v:?} is not a whole number"))
        };
        match flag.as_str() {
            "--interval-ms" => interval_ms = value()?,
            "--seconds" => seconds = value()?,
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if interval_ms == 0 {
        return Err("--interval-ms must be at least 1".into());
    }
    Ok((
        Duration::from_millis(interval_ms),
        Duration::from_secs(seconds),
    ))
}
