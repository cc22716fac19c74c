//! A 64-bit atomic for targets without 64-bit atomic instructions (32-bit PowerPC, MIPS,
//! ARMv6 and older), and for the `--cfg shardstat_split64` test build that uses it on any
//! target (`docs/design.md` §15).
//!
//! The value is two 32-bit halves. A writer that changes both halves does so under a
//! **sequence count**; readers read both halves between two loads of that count and retry if
//! it changed or was odd (Linux's `u64_stats_sync`, QEMU's `Stat64` fallback, and the
//! engine's own group `update` bracket are the same scheme). The counts are a fixed table of
//! 64 stripes; a cell's stripe is chosen by its address, so a cell costs 8 bytes, as
//! everywhere else.
//!
//! - **An owner's store** ([`AtomicU64::store_owned`]: a cell only the calling thread
//!   writes — every shard cell) whose high half does not change is *one 32-bit store of
//!   the low half*, with no lock and no read-modify-write: a reader reads the high half,
//!   which stays put, and the low half, which is one atomic value. Only a store that changes
//!   the high half (a carry across 2^32, once per four billion adds of 1) takes the stripe.
//! - **Every other write** (`store`, `fetch_add`, `compare_exchange_weak`, ...: the
//!   global words — bases, epochs, versions — and `Gauge`) takes the stripe's lock: a
//!   compare-and-swap of the sequence count from even to odd, both halves written, the count
//!   made even again. Writers of the same stripe serialise; readers never write.
//! - **A read** ([`AtomicU64::load`]) never writes: count (Acquire), both halves, an Acquire
//!   fence, count again; equal and even, or retry.
//!
//! Why not `portable-atomic`'s fallback, which is the same striped sequence lock: the owner's
//! lock-free store needs to write one half of a value whose layout the lock's readers know,
//! and that layout is private to that crate; every shard write would then take a lock
//! (docs/dependencies.md).

use super::{fence, wait_step, AtomicU32, Ordering};

/// Where each half lives, so that the 8 bytes hold the value in the target's byte order
/// (nothing reads them as one `u64`, but a debugger does).
const LO: usize = if cfg!(target_endian = "little") { 0 } else { 1 };
const HI: usize = 1 - LO;

/// How many sequence counts. Cells share a stripe only by address; sharing costs a reader a
/// retry when a write to another cell of its stripe overlaps, never a wrong value.
const STRIPES: usize = if super::MODEL { 2 } else { 64 };

/// One sequence count, alone on its cache line so that writers of different stripes do not
/// share a line.
#[repr(align(64))]
struct Stripe(AtomicU32);

super::global! {
    static STRIPE_TABLE: [Stripe; STRIPES] = super::repeat![Stripe(AtomicU32::new(0)); STRIPES];
    fn stripes();
}

/// A 64-bit atomic made of two 32-bit halves: the API of `std`'s `AtomicU64` that shardstat
/// uses (a write that changes both halves, and every read-modify-write, holds the cell's
/// stripe of sequence counts; reads retry instead of locking). No `SeqCst` accesses.
#[repr(C, align(8))]
pub struct AtomicU64 {
    halves: [AtomicU32; 2],
}

/// The write lock of one stripe, released (the count made even again) on drop.
struct Locked<'a> {
    stripe: &'a AtomicU32,
    even: u32,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // Release: the halves written under the lock happen-before a reader or writer that
        // loads this even count (Acquire).
        self.stripe
            .store(self.even.wrapping_add(2), Ordering::Release);
    }
}

impl AtomicU64 {
    super::const_fn! {
        /// An atomic holding `value`.
        pub fn new(value: u64) -> Self {
            let mut halves = [value as u32, (value >> 32) as u32];
            if LO == 1 {
                halves = [halves[1], halves[0]];
            }
            AtomicU64 {
                halves: [AtomicU32::new(halves[0]), AtomicU32::new(halves[1])],
            }
        }
    }

    fn stripe(&self) -> &'static AtomicU32 {
        let address = self as *const Self as usize;
        &stripes()[(address >> 3) % STRIPES].0
    }

    /// The halves as loaded (Relaxed).
    #[inline(always)]
    fn halves(&self) -> u64 {
        let lo = self.halves[LO].load(Ordering::Relaxed);
        let hi = self.halves[HI].load(Ordering::Relaxed);
        (u64::from(hi) << 32) | u64::from(lo)
    }

    /// Writes both halves (Relaxed): under the stripe's lock, or by the only writer.
    #[inline(always)]
    fn write_halves(&self, value: u64) {
        self.halves[HI].store((value >> 32) as u32, Ordering::Relaxed);
        self.halves[LO].store(value as u32, Ordering::Relaxed);
    }

    /// Takes the stripe's lock: the count from even to odd.
    fn lock(&self) -> Locked<'static> {
        let stripe = self.stripe();
        let mut step = 0;
        loop {
            // Relaxed: only a hint; the compare-and-swap below decides.
            let even = stripe.load(Ordering::Relaxed);
            // Acquire on success: the previous holder's writes (its Release in `drop`)
            // happen-before ours, so a read-modify-write reads the latest halves.
            if even & 1 == 0
                && stripe
                    .compare_exchange_weak(
                        even,
                        even.wrapping_add(1),
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    )
                    .is_ok()
            {
                // Release fence: a reader whose loads see any half written after this point,
                // and that then runs its Acquire fence, also sees the odd count and retries.
                fence(Ordering::Release);
                return Locked { stripe, even };
            }
            wait_step(&mut step);
        }
    }

    /// Runs `f` on the value under the stripe's lock, stores what it returns (if anything)
    /// and returns the previous value and whether it stored. Every write is at least
    /// Acquire and Release (the lock's); `order` is only checked.
    fn update(&self, order: Ordering, f: impl FnOnce(u64) -> Option<u64>) -> (u64, bool) {
        no_seq_cst(order);
        let _locked = self.lock();
        let old = self.halves();
        match f(old) {
            Some(new) => {
                self.write_halves(new);
                (old, true)
            }
            None => (old, false),
        }
    }

    /// Loads the value: both halves read under the stripe's sequence count, so never half
    /// of one value and half of another. Every load is an Acquire load (`order` is only
    /// checked).
    pub fn load(&self, order: Ordering) -> u64 {
        no_seq_cst(order);
        let stripe = self.stripe();
        let mut step = 0;
        loop {
            // Acquire: pairs with the Release that ended the last write under the lock
            // (`Locked::drop`): its halves are visible to the loads below.
            let before = stripe.load(Ordering::Acquire);
            if before & 1 == 0 {
                let value = self.halves();
                // Acquire fence: if a half loaded above was written after a lock's Release
                // fence, the odd count stored before that fence is visible to the load below.
                // It is also what makes this load an Acquire load of the halves.
                fence(Ordering::Acquire);
                // Relaxed: ordered after the halves by the fence.
                if stripe.load(Ordering::Relaxed) == before {
                    return value;
                }
            }
            wait_step(&mut step);
        }
    }

    /// Stores `value` under the stripe's lock.
    pub fn store(&self, value: u64, order: Ordering) {
        self.update(order, |_| Some(value));
    }

    /// Stores `value` into a cell that only the calling thread writes (and that nothing
    /// else writes concurrently): one 32-bit store of the low half when the high half stays
    /// (Relaxed or Release, as asked), the locked store otherwise.
    #[inline(always)]
    pub fn store_owned(&self, value: u64, order: Ordering) {
        no_seq_cst(order);
        // Relaxed: the calling thread is the only writer; it reads its own last store.
        if self.halves[HI].load(Ordering::Relaxed) == (value >> 32) as u32 {
            self.halves[LO].store(value as u32, order);
        } else {
            self.store_carry(value, order);
        }
    }

    #[cold]
    #[inline(never)]
    fn store_carry(&self, value: u64, order: Ordering) {
        self.store(value, order);
    }

    /// The value of a cell that only the calling thread writes, as that thread last stored
    /// it: both halves, with no sequence check (nothing else changes them).
    #[inline(always)]
    pub fn load_owned(&self) -> u64 {
        self.halves()
    }

    /// Reads the halves *without* the sequence check: what a reader that forgets it sees —
    /// half of one value and half of another while a write crosses 2^32. Only for the
    /// torn-read test's negative control.
    pub fn load_unchecked(&self) -> u64 {
        let hi = self.halves[HI].load(Ordering::Relaxed);
        let lo = self.halves[LO].load(Ordering::Relaxed);
        (u64::from(hi) << 32) | u64::from(lo)
    }

    /// Adds `n` (wrapping) under the stripe's lock; returns the previous value.
    pub fn fetch_add(&self, n: u64, order: Ordering) -> u64 {
        self.update(order, |v| Some(v.wrapping_add(n))).0
    }

    /// Subtracts `n` (wrapping) under the stripe's lock; returns the previous value.
    pub fn fetch_sub(&self, n: u64, order: Ordering) -> u64 {
        self.update(order, |v| Some(v.wrapping_sub(n))).0
    }

    /// Stores the larger of the value and `n` under the stripe's lock; returns the previous
    /// value.
    pub fn fetch_max(&self, n: u64, order: Ordering) -> u64 {
        self.update(order, |v| Some(v.max(n))).0
    }

    /// Stores the smaller of the value and `n` under the stripe's lock; returns the previous
    /// value.
    pub fn fetch_min(&self, n: u64, order: Ordering) -> u64 {
        self.update(order, |v| Some(v.min(n))).0
    }

    /// Ors `n` into the value under the stripe's lock; returns the previous value.
    pub fn fetch_or(&self, n: u64, order: Ordering) -> u64 {
        self.update(order, |v| Some(v | n)).0
    }

    /// Stores `new` if the value is `current`, under the stripe's lock. Never fails
    /// spuriously (the `weak` of `std`'s name is kept so that callers compile unchanged;
    /// the crate uses no other compare-and-swap on a 64-bit word).
    pub fn compare_exchange_weak(
        &self,
        current: u64,
        new: u64,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u64, u64> {
        no_seq_cst(failure);
        stored_or_not(self.update(success, |v| (v == current).then_some(new)))
    }

    /// Stores what `f` returns for the value, if anything, under the stripe's lock (so `f`
    /// runs once).
    pub fn fetch_update(
        &self,
        set_order: Ordering,
        fetch_order: Ordering,
        mut f: impl FnMut(u64) -> Option<u64>,
    ) -> Result<u64, u64> {
        no_seq_cst(fetch_order);
        stored_or_not(self.update(set_order, &mut f))
    }

    /// Swaps in `value` under the stripe's lock; returns the previous value.
    pub fn swap(&self, value: u64, order: Ordering) -> u64 {
        self.update(order, |_| Some(value)).0
    }
}

/// `update`'s answer as `std`'s conditional writes give it: `Ok(previous)` if it stored,
/// `Err(current)` if not.
fn stored_or_not((old, stored): (u64, bool)) -> Result<u64, u64> {
    if stored {
        Ok(old)
    } else {
        Err(old)
    }
}

/// `SeqCst` accesses are not offered: shardstat makes none on a 64-bit word (its
/// store-buffering arguments use `SeqCst` *fences*, which work with these halves as with any
/// atomic), and an emulation would be untested code.
#[inline(always)]
fn no_seq_cst(order: Ordering) {
    // `O::SeqCst`, not `Ordering::SeqCst`: a comparison, which the ordering-mutation check
    // (it weakens every `Ordering::` token) must not take for an access.
    use Ordering as O;
    debug_assert!(
        order != O::SeqCst,
        "shardstat's split AtomicU64 offers no SeqCst access; use a SeqCst fence"
    );
}

impl Default for AtomicU64 {
    fn default() -> Self {
        Self::new(0)
    }
}

impl std::fmt::Debug for AtomicU64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.load(Ordering::Relaxed), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_halves_hold_the_value_in_the_targets_byte_order() {
        let cell = AtomicU64::new(0x0123_4567_89ab_cdef);
        // SAFETY: `AtomicU64` is 8 bytes of two `AtomicU32`s, with no padding; nothing else
        // touches `cell` while its bytes are read.
        let bytes: [u8; 8] = unsafe { std::mem::transmute_copy(&cell) };
        assert_eq!(u64::from_ne_bytes(bytes), 0x0123_4567_89ab_cdef);
        assert_eq!(std::mem::size_of::<AtomicU64>(), 8);
    }

    #[test]
    fn every_operation_acts_on_the_whole_64_bit_value() {
        let cell = AtomicU64::new(u32::MAX.into());
        assert_eq!(cell.fetch_add(1, Ordering::Relaxed), u64::from(u32::MAX));
        assert_eq!(cell.load(Ordering::Relaxed), 1 << 32);
        assert_eq!(cell.fetch_sub(1, Ordering::Relaxed), 1 << 32);
        assert_eq!(cell.load(Ordering::Acquire), u64::from(u32::MAX));
        cell.store_owned(1 << 40, Ordering::Release);
        assert_eq!(cell.load_owned(), 1 << 40);
        cell.store_owned((1 << 40) + 7, Ordering::Relaxed);
        assert_eq!(cell.load(Ordering::Relaxed), (1 << 40) + 7);
        assert_eq!(cell.fetch_max(1 << 41, Ordering::Relaxed), (1 << 40) + 7);
        assert_eq!(cell.fetch_min(5, Ordering::Relaxed), 1 << 41);
        assert_eq!(cell.fetch_or(1 << 33, Ordering::Relaxed), 5);
        assert_eq!(
            cell.compare_exchange_weak(1, 2, Ordering::AcqRel, Ordering::Relaxed),
            Err((1 << 33) | 5)
        );
        assert_eq!(
            cell.compare_exchange_weak(
                (1 << 33) | 5,
                u64::MAX,
                Ordering::AcqRel,
                Ordering::Acquire
            ),
            Ok((1 << 33) | 5)
        );
        assert_eq!(
            cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| Some(
                v.wrapping_add(2)
            )),
            Ok(u64::MAX)
        );
        assert_eq!(cell.swap(3, Ordering::Relaxed), 1);
        assert_eq!(cell.load_owned(), 3);
        assert_eq!(format!("{cell:?}"), "3");
        assert_eq!(AtomicU64::default().load(Ordering::Relaxed), 0);
    }
}
