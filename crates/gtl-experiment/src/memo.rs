//! Values computed once per process and key (a text corpus read and split, a tokenizer
//! loaded, a task's windows): every stage of a run, on any worker thread, shares one copy.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, OnceLock};

use crate::Result;

/// A process-wide memo from keys to cheaply cloned values (`Arc`s, strings).
pub(crate) struct Memo<K, V>(OnceLock<Mutex<HashMap<K, V>>>);

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    /// An empty memo, for a `static`.
    pub(crate) const fn new() -> Self {
        Memo(OnceLock::new())
    }

    /// The value of `key`, computed by `compute` the first time. Two threads asking for a
    /// new key at once may both compute it; the value is the same either way.
    pub(crate) fn get_or_try(&self, key: K, compute: impl FnOnce() -> Result<V>) -> Result<V> {
        let map = self.0.get_or_init(Default::default);
        if let Some(found) = map.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(found.clone());
        }
        let value = compute()?;
        map.lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, value.clone());
        Ok(value)
    }
}
