//! The carried words beside each counter, the batch check, and how a 64-bit word reads
//! as a number (module docs, "The carry").

use super::*;

/// The largest batch: keeps `shards × (BATCH − 1)` far from overflowing.
pub(super) const MAX_BATCH: u64 = 1 << 32;

/// `BATCH`, checked at compile time ([`Batch::CHECK`], referenced from every constructor) and
/// as a mask.
pub(super) struct Batch<const BATCH: u64>;

impl<const BATCH: u64> Batch<BATCH> {
    /// Fails to compile unless `BATCH` is a power of two from 2 to 2^32, with a message that
    /// names the nearest valid batches (rustc names the bad one: "evaluation of
    /// `…Batch::<1000>::CHECK` failed"). Only the constructors and the group field's kind
    /// refer to it: a counter cannot exist without them, and one check gives one error, not
    /// one per method that uses the mask.
    pub(super) const CHECK: () = {
        if !(BATCH.is_power_of_two() && BATCH >= 2 && BATCH <= MAX_BATCH) {
            panic!("{}", batch_error(BATCH));
        }
    };

    /// `BATCH − 1`: the bits of a cell below the batch (valid once [`Self::CHECK`] passed).
    pub(super) const MASK: u64 = BATCH.wrapping_sub(1);
}

/// What is wrong with `batch`, which is not a power of two from 2 to 2^32 (a const panic
/// cannot format a number, so the message for each gap between powers of two is written out).
const fn batch_error(batch: u64) -> &'static str {
    if batch < 2 {
        "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the \
         smallest is 2"
    } else if batch > MAX_BATCH {
        "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the \
         largest is 4294967296 (2^32)"
    } else {
        // 2^k < batch < 2^(k+1), k in 1..=31.
        BETWEEN[(63 - batch.leading_zeros()) as usize - 1]
    }
}

/// The message for a batch between 2^k and 2^(k+1), at index k − 1.
const BETWEEN: [&str; 31] = [
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 2 (2^1) and 4 (2^2)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 4 (2^2) and 8 (2^3)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 8 (2^3) and 16 (2^4)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 16 (2^4) and 32 (2^5)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 32 (2^5) and 64 (2^6)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 64 (2^6) and 128 (2^7)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 128 (2^7) and 256 (2^8)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 256 (2^8) and 512 (2^9)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 512 (2^9) and 1024 (2^10)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 1024 (2^10) and 2048 (2^11)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 2048 (2^11) and 4096 (2^12)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 4096 (2^12) and 8192 (2^13)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 8192 (2^13) and 16384 (2^14)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 16384 (2^14) and 32768 (2^15)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 32768 (2^15) and 65536 (2^16)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 65536 (2^16) and 131072 (2^17)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 131072 (2^17) and 262144 (2^18)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 262144 (2^18) and 524288 (2^19)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 524288 (2^19) and 1048576 (2^20)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 1048576 (2^20) and 2097152 (2^21)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 2097152 (2^21) and 4194304 (2^22)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 4194304 (2^22) and 8388608 (2^23)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 8388608 (2^23) and 16777216 (2^24)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 16777216 (2^24) and 33554432 (2^25)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 33554432 (2^25) and 67108864 (2^26)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 67108864 (2^26) and 134217728 (2^27)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 134217728 (2^27) and 268435456 (2^28)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 268435456 (2^28) and 536870912 (2^29)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 536870912 (2^29) and 1073741824 (2^30)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 1073741824 (2^30) and 2147483648 (2^31)",
    "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32; the nearest are 2147483648 (2^31) and 4294967296 (2^32)",
];

/// The two words an approximate counter carries its shards' whole batches into (module
/// docs, "The carry"), on a cache line of their own: adds that carry write them, plain adds
/// never read them.
#[repr(align(128))]
pub struct Carried {
    /// Raised before the cell when the value rises, lowered after it when it falls.
    pub(super) high: AtomicU64,
    /// Raised after the cell when the value rises, lowered before it when it falls.
    pub(super) low: AtomicU64,
    /// The limit (its 64-bit pattern) that limited adds may check on their lock-free paths:
    /// the last one an exclusive limited add used. Written only inside an exclusive section.
    pub(super) upper_limit: AtomicU64,
    /// The same for limited subtracts (the floor).
    pub(super) lower_limit: AtomicU64,
}

impl Carried {
    sync::const_fn! {
        /// Nothing carried.
        pub fn new() -> Self {
            Carried {
                high: AtomicU64::new(0),
                low: AtomicU64::new(0),
                upper_limit: AtomicU64::new(0),
                lower_limit: AtomicU64::new(0),
            }
        }
    }
}

impl Default for Carried {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Carried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Carried")
            .field("high", &self.high.load(Ordering::Relaxed))
            .field("low", &self.low.load(Ordering::Relaxed))
            .field("upper_limit", &self.upper_limit.load(Ordering::Relaxed))
            .field("lower_limit", &self.lower_limit.load(Ordering::Relaxed))
            .finish()
    }
}

/// How a counter's wrapping 64-bit word reads as a number.
///
/// An approximate word (`global + low`, `global + high`) is the exact value minus the
/// uncarried remainders (up to the bound) and give or take the carries in flight, so it may
/// lie a little below the smallest exact value — after `set`, or near `i64::MIN` — and the
/// 64-bit word then wraps to the top. Each domain reads its top `WINDOW` as such a wrapped
/// word, below its smallest value; exact values in that top window are therefore outside
/// the range of the approximate reads (`approx`, `approx_range`, `compare`'s shortcut).
/// Limited adds and subtracts stay exact everywhere: their lock-free paths compute in
/// `i128` from words read inside the range, and a limit in the top window takes the exact
/// path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Domain {
    /// `ApproxCounter`: exact values are `u64`; approximate reads cover `0 ..= TOP` with
    /// `TOP = 2^64 − 2^58 − 1`.
    Unsigned,
    /// `ApproxUpDownCounter`: exact values are `i64`; approximate reads cover
    /// `i64::MIN ..= i64::MAX − 2^58`.
    Signed,
}

/// The top window of each domain (above): wider than any bound (`BATCH ≤ 2^32`, fewer than
/// 2^26 shards), so a word below the smallest value by a bound never reaches past it.
pub(super) const WINDOW: u64 = 1 << 58;

impl Domain {
    /// An exact value (what `get` returns) as a number.
    #[inline]
    pub(super) fn exact(self, raw: u64) -> i128 {
        match self {
            Domain::Unsigned => i128::from(raw),
            Domain::Signed => i128::from(raw as i64),
        }
    }

    /// An approximate word (`global + carried`) as a number: words in the domain's top
    /// window are read as wrapped, below its smallest value.
    #[inline]
    pub(super) fn word(self, raw: u64) -> i128 {
        match self {
            Domain::Unsigned if raw > u64::MAX - WINDOW => i128::from(raw as i64),
            Domain::Unsigned => i128::from(raw),
            Domain::Signed if raw as i64 > i64::MAX - WINDOW as i64 => {
                i128::from(raw as i64) - (1i128 << 64)
            }
            Domain::Signed => i128::from(raw as i64),
        }
    }

    /// The largest value approximate reads cover (the type's largest, less the window).
    #[inline]
    pub(super) const fn top(self) -> i128 {
        match self {
            Domain::Unsigned => u64::MAX as i128 - WINDOW as i128,
            Domain::Signed => i64::MAX as i128 - WINDOW as i128,
        }
    }
}

#[cfg(test)]
mod batch_tests {
    use super::*;

    /// Every refused batch gets a message naming the powers of two around it (or the end of
    /// the range it is past), and every valid one passes.
    #[test]
    fn a_refused_batch_is_told_the_nearest_valid_ones() {
        let mut batches = vec![0, 1, 3, 1000, 1025, MAX_BATCH - 1, MAX_BATCH + 1, u64::MAX];
        batches.extend((2..32).flat_map(|k| [(1u64 << k) - 1, (1 << k) + 1]));
        for batch in batches {
            let message = batch_error(batch);
            if batch < 2 {
                assert!(message.ends_with("the smallest is 2"), "{batch}: {message}");
            } else if batch > MAX_BATCH {
                assert!(
                    message.ends_with("the largest is 4294967296 (2^32)"),
                    "{batch}"
                );
            } else {
                let below = 1u64 << (63 - batch.leading_zeros());
                let expected = format!(
                    "the nearest are {below} (2^{}) and {} (2^{})",
                    below.trailing_zeros(),
                    below * 2,
                    below.trailing_zeros() + 1
                );
                assert!(
                    message.ends_with(&expected),
                    "{batch}: {message}, not {expected}"
                );
            }
        }
    }
}
