//! The carried words beside each counter, the batch check, and how a 64-bit word reads
//! as a number (module docs, "The carry").

use super::*;

/// The largest batch: keeps `shards × (BATCH − 1)` far from overflowing.
pub(super) const MAX_BATCH: u64 = 1 << 32;

/// Checks `BATCH` at compile time (referenced from every constructor).
pub(super) struct Batch<const BATCH: u64>;

impl<const BATCH: u64> Batch<BATCH> {
    pub(super) const MASK: u64 = {
        assert!(
            BATCH.is_power_of_two() && BATCH >= 2 && BATCH <= MAX_BATCH,
            "shardstat: an approximate counter's BATCH must be a power of two from 2 to 2^32"
        );
        BATCH - 1
    };
}

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
