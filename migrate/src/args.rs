//! The command line: flags, sizes, the usage text.

use super::*;

#[derive(Clone, Debug)]
pub(super) struct Config {
    pub(super) ram: u64,
    pub(super) channels: usize,
    pub(super) dirty_rate: u64,
    pub(super) max_bandwidth: u64,
    pub(super) json: bool,
    pub(super) compare: bool,
    /// `--stats-interval`: write the statistics' deltas as a JSON line this often.
    pub(super) stats_interval: Option<std::time::Duration>,
}

pub(super) const USAGE: &str = "usage: cargo run --release -p migrate -- [OPTIONS]

  --ram SIZE             guest RAM, e.g. 256M, 1G (default 256M; at least 1M)
  --channels N           multifd sender threads (default: available cores; 1..=256)
  --dirty-rate PAGES     pages the guest dirties per second (default 3000; 0 = idle guest)
  --max-bandwidth BYTES  bytes per second, e.g. 32M (default 20M; 0 = unlimited)
  --json                 print the final report as JSON on stdout
  --stats-interval MS    also print, every MS milliseconds, one JSON line on stdout with
                         the statistics' deltas over the interval (they sum exactly to the
                         final report's values; checked at exit)
  --compare              also run with one shared AtomicU64 per field (QEMU) and compare
  -h, --help             this text";

pub(super) fn parse_size(flag: &str, text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let shift = match unit {
        "" | "B" => 0,
        "K" | "k" | "KiB" => 10,
        "M" | "m" | "MiB" => 20,
        "G" | "g" | "GiB" => 30,
        _ => {
            return Err(format!(
                "{flag}: {text:?} is not a size (a whole number with an optional K, M or G)"
            ))
        }
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{flag}: {text:?} is not a size (a whole number, e.g. 256M)"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{flag}: {text} is too large"))
}

pub(super) fn parse_args(args: &[String]) -> Result<Config, String> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut config = Config {
        ram: 256 << 20,
        channels: cores,
        dirty_rate: 3000,
        max_bandwidth: 20 << 20,
        json: false,
        compare: false,
        stats_interval: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value"))
                .cloned()
        };
        match flag.as_str() {
            "--ram" => config.ram = parse_size(flag, &value()?)?,
            "--channels" => {
                let v = value()?;
                config.channels = v
                    .parse()
                    .map_err(|_| format!("--channels: {v:?} is not a whole number"))?;
            }
            "--dirty-rate" => {
                let v = value()?;
                config.dirty_rate = v
                    .parse()
                    .map_err(|_| format!("--dirty-rate: {v:?} is not a whole number"))?;
            }
            "--max-bandwidth" => config.max_bandwidth = parse_size(flag, &value()?)?,
            "--json" => config.json = true,
            "--stats-interval" => {
                let v = value()?;
                let ms: u64 = v.parse().ok().filter(|&ms| ms > 0).ok_or_else(|| {
                    format!("--stats-interval: {v:?} is not a number of milliseconds from 1")
                })?;
                config.stats_interval = Some(std::time::Duration::from_millis(ms));
            }
            "--compare" => config.compare = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if config.ram < 1 << 20 {
        return Err(format!(
            "--ram must be at least 1M, not {} bytes",
            config.ram
        ));
    }
    if config.ram % PAGE_SIZE != 0 {
        return Err(format!(
            "--ram must be a multiple of the page size ({PAGE_SIZE})"
        ));
    }
    if config.ram / PAGE_SIZE > u32::MAX as u64 {
        return Err("--ram is too large for this simulation (at most 16T)".into());
    }
    if !(1..=256).contains(&config.channels) {
        return Err(format!(
            "--channels must be between 1 and 256, not {}",
            config.channels
        ));
    }
    Ok(config)
}
