//! Folded state kept in memory between pages, so that an order whose events
//! span several pages is read back from SQLite only when it fell out of
//! memory. A projection's rows stay the truth: the cache only saves reads.
//!
//! Two rules keep it from ever disagreeing with the rows:
//! - it belongs to one generation of one projection, and is trusted only at
//!   the checkpoint it was committed at. A page that starts at another
//!   checkpoint (another process wrote the generation, or the last
//!   transaction failed after the cache had moved on) empties it first;
//! - it is bounded: two halves, the older dropped whole when the newer is
//!   full. An order touched again moves to the newer half, so the orders
//!   still in flight stay and the settled ones age out.
//!
//! [`Generations`] holds one projection's caches, one per generation it
//! writes; each `Projector` keeps one and hands its bookkeeping to it.

use std::collections::HashMap;

/// One projection's fold caches, one per generation it writes (the serving
/// one, and one being rebuilt).
#[derive(Debug)]
pub(crate) struct Generations<T> {
    caches: HashMap<u64, FoldCache<T>>,
    /// Entries per half of each cache.
    half: usize,
}

impl<T> Generations<T> {
    /// Caches of at most `2 * half` entries each.
    pub(crate) fn new(half: usize) -> Generations<T> {
        Generations {
            caches: HashMap::new(),
            half,
        }
    }

    /// Generation `generation`'s cache, for a page applied to rows at
    /// `checkpoint` (see [`FoldCache::begin`]).
    pub(crate) fn begin(&mut self, generation: u64, checkpoint: u64) -> &mut FoldCache<T> {
        let half = self.half;
        let cache = self
            .caches
            .entry(generation)
            .or_insert_with(|| FoldCache::new(half));
        cache.begin(checkpoint);
        cache
    }

    /// The page's transaction on `generation` committed at `checkpoint`.
    pub(crate) fn committed(&mut self, generation: u64, checkpoint: u64) {
        if let Some(cache) = self.caches.get_mut(&generation) {
            cache.committed(checkpoint);
        }
    }

    /// Drops what is kept of `generation`.
    pub(crate) fn forget(&mut self, generation: u64) {
        self.caches.remove(&generation);
    }

    /// Drops what is kept of the generations before `serving`.
    pub(crate) fn forget_before(&mut self, serving: u64) {
        self.caches.retain(|g, _| *g >= serving);
    }
}

#[derive(Debug)]
pub(crate) struct FoldCache<T> {
    /// The checkpoint the contents were committed at; `None` while a page is
    /// being applied, or after a failure.
    valid_at: Option<u64>,
    newer: HashMap<String, T>,
    older: HashMap<String, T>,
    /// Entries per half.
    half: usize,
}

impl<T> FoldCache<T> {
    /// A cache of at most `2 * half` entries.
    pub(crate) fn new(half: usize) -> FoldCache<T> {
        FoldCache {
            valid_at: None,
            newer: HashMap::new(),
            older: HashMap::new(),
            half: half.max(1),
        }
    }

    /// Starts applying a page to rows at `checkpoint`: what the cache holds
    /// is kept only if it was committed at that same checkpoint.
    pub(crate) fn begin(&mut self, checkpoint: u64) {
        if self.valid_at != Some(checkpoint) {
            self.newer.clear();
            self.older.clear();
        }
        self.valid_at = None;
    }

    /// The page's transaction committed at `checkpoint`: the contents are true there.
    pub(crate) fn committed(&mut self, checkpoint: u64) {
        self.valid_at = Some(checkpoint);
    }

    /// Takes a stream's state out (the page puts it back when it is done).
    pub(crate) fn take(&mut self, stream: &str) -> Option<T> {
        self.newer
            .remove(stream)
            .or_else(|| self.older.remove(stream))
    }

    pub(crate) fn put(&mut self, stream: String, state: T) {
        if self.newer.len() >= self.half {
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.insert(stream, state);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.newer.len() + self.older.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_survive_only_at_the_checkpoint_they_were_committed_at() {
        let mut cache = FoldCache::new(8);
        cache.begin(0);
        cache.put("a".into(), 1);
        cache.committed(10);

        cache.begin(10);
        assert_eq!(
            cache.take("a"),
            Some(1),
            "kept: the page starts where the last ended"
        );
        cache.put("a".into(), 2);
        // This page's transaction fails: nothing marks it committed.

        cache.begin(10);
        assert_eq!(cache.take("a"), None, "a failed page empties the cache");
        cache.put("b".into(), 3);
        cache.committed(20);

        cache.begin(25);
        assert_eq!(cache.take("b"), None, "someone else moved the rows on");
    }

    #[test]
    fn it_holds_at_most_two_halves_and_keeps_what_was_touched_again() {
        let mut cache = FoldCache::new(2);
        cache.begin(0);
        cache.put("a".into(), 1);
        cache.put("b".into(), 2);
        cache.put("c".into(), 3); // a and b become the older half
        let a = cache.take("a").expect("still held");
        cache.put("a".into(), a); // touched again: newer half (c, a)
        cache.put("d".into(), 4); // (c, a) become older; b is dropped
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.take("b"), None);
        assert_eq!(cache.take("a"), Some(1));
        assert_eq!(cache.take("c"), Some(3));
        assert_eq!(cache.take("d"), Some(4));
    }

    #[test]
    fn each_generation_has_its_own_cache_until_it_is_forgotten() {
        let mut generations = Generations::new(8);
        for g in [1, 2, 3] {
            generations.begin(g, 0).put("a".into(), g);
            generations.committed(g, 10);
        }
        generations.forget(3);
        generations.forget_before(2);
        assert_eq!(
            generations.begin(1, 10).take("a"),
            None,
            "older than serving"
        );
        assert_eq!(generations.begin(2, 10).take("a"), Some(2), "kept");
        assert_eq!(generations.begin(3, 10).take("a"), None, "tables dropped");
    }
}
