//! A small process-wide memo for costly TLS objects (contexts, decoded
//! certificates): the few most recently added entries, found by equality.
//! A handful of entries is all a mail program needs (one per account and
//! option set); a linear search over them costs nothing next to what they
//! save.

use std::borrow::Borrow;
use std::sync::{Mutex, MutexGuard};

pub(crate) struct Memo<K, V> {
    entries: Mutex<Vec<(K, V)>>,
    /// Entries kept; the oldest is dropped past this.
    capacity: usize,
}

impl<K, V: Clone> Memo<K, V> {
    pub const fn new(capacity: usize) -> Memo<K, V> {
        Memo { entries: Mutex::new(Vec::new()), capacity }
    }

    pub fn get<Q: PartialEq + ?Sized>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.lock().iter().find(|(k, _)| k.borrow() == key).map(|(_, v)| v.clone())
    }

    /// Remember `value` under `key`, unless an entry for it exists already
    /// (another thread may have built the same meanwhile).
    pub fn insert(&self, key: K, value: V)
    where
        K: PartialEq,
    {
        let mut entries = self.lock();
        if entries.iter().any(|(k, _)| *k == key) {
            return;
        }
        if entries.len() == self.capacity {
            entries.remove(0);
        }
        entries.push((key, value));
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<(K, V)>> {
        // Entries are complete values; a panic elsewhere cannot leave one half-made.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_entries_and_the_first_of_equal_keys() {
        let memo: Memo<Vec<u8>, u32> = Memo::new(2);
        memo.insert(b"a".to_vec(), 1);
        memo.insert(b"a".to_vec(), 9);
        assert_eq!(memo.get(&b"a"[..]), Some(1));
        memo.insert(b"b".to_vec(), 2);
        memo.insert(b"c".to_vec(), 3);
        assert_eq!((memo.get(&b"a"[..]), memo.get(&b"b"[..]), memo.get(&b"c"[..])), (None, Some(2), Some(3)));
        assert_eq!(memo.len(), 2);
    }
}
