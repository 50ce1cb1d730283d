//! A bounded buffer of tailed records. Each item gets a sequence number that never
//! changes, so a paused view can keep pointing at "its" record while old ones are dropped
//! off the front.

use std::collections::VecDeque;

#[derive(Debug, Clone)]
pub struct Bounded<T> {
    items: VecDeque<T>,
    /// The sequence number of `items[0]`.
    first_seq: u64,
    capacity: usize,
    /// How many items were dropped to stay within `capacity`.
    dropped: u64,
}

impl<T> Bounded<T> {
    /// A buffer of at most `capacity` items (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            items: VecDeque::new(),
            first_seq: 0,
            capacity: capacity.max(1),
            dropped: 0,
        }
    }

    /// Append `item`, dropping the oldest when full; the item's sequence number.
    pub fn push(&mut self, item: T) -> u64 {
        if self.items.len() == self.capacity {
            self.items.pop_front();
            self.first_seq += 1;
            self.dropped += 1;
        }
        self.items.push_back(item);
        self.end_seq() - 1
    }

    pub fn get(&self, seq: u64) -> Option<&T> {
        let index = seq.checked_sub(self.first_seq)?;
        self.items.get(usize::try_from(index).ok()?)
    }

    /// The oldest sequence number still held (equal to `end_seq` when empty).
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// One past the newest sequence number.
    pub fn end_seq(&self) -> u64 {
        self.first_seq + self.items.len() as u64
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Items with their sequence numbers, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (u64, &T)> {
        let first = self.first_seq;
        self.items
            .iter()
            .enumerate()
            .map(move |(i, item)| (first + i as u64, item))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.items.iter_mut()
    }

    /// Forget everything, keeping the numbering going (so stale positions stay stale).
    pub fn clear(&mut self) {
        self.first_seq = self.end_seq();
        self.items.clear();
        self.dropped = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_and_counts_what_it_dropped() {
        let mut buffer = Bounded::new(3);
        for n in 0..5 {
            assert_eq!(buffer.push(n * 10), n as u64);
        }
        assert_eq!(buffer.len(), 3);
        assert_eq!(buffer.dropped(), 2);
        assert_eq!(buffer.first_seq(), 2);
        assert_eq!(buffer.end_seq(), 5);
        assert_eq!(buffer.get(1), None, "dropped");
        assert_eq!(buffer.get(2), Some(&20));
        assert_eq!(buffer.get(4), Some(&40));
        assert_eq!(buffer.get(5), None, "not yet written");
        let seqs: Vec<u64> = buffer.iter().map(|(seq, _)| seq).collect();
        assert_eq!(seqs, vec![2, 3, 4]);
    }

    #[test]
    fn clear_keeps_numbering() {
        let mut buffer = Bounded::new(2);
        buffer.push('a');
        buffer.push('b');
        buffer.push('c');
        buffer.clear();
        assert!(buffer.is_empty());
        assert_eq!(buffer.dropped(), 0);
        assert_eq!(buffer.push('d'), 3);
        assert_eq!(buffer.get(3), Some(&'d'));
    }

    #[test]
    fn capacity_is_at_least_one() {
        let mut buffer = Bounded::new(0);
        buffer.push(1);
        buffer.push(2);
        assert_eq!(buffer.len(), 1);
        assert_eq!(buffer.get(1), Some(&2));
    }
}
