//! A bounded table of per-stream state. Predictors keep one small state per volume or
//! disk; the table holds at most `capacity` of them, pre-sized so that lookups and
//! replacements never allocate, and replaces the least recently used stream when full.

/// Per-stream state of type `T`, at most `capacity` streams.
#[derive(Debug, Clone)]
pub(crate) struct StreamTable<T> {
    slots: Vec<Slot<T>>,
    capacity: usize,
    tick: u64,
    /// Index of the slot used last: consecutive accesses mostly hit the same stream.
    last: usize,
}

#[derive(Debug, Clone)]
struct Slot<T> {
    stream: u64,
    used_tick: u64,
    state: T,
}

impl<T: Default> StreamTable<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            slots: Vec::with_capacity(capacity),
            capacity,
            tick: 0,
            last: 0,
        }
    }

    /// The state of `stream`, created (replacing the least recently used stream when the
    /// table is full) if absent.
    pub(crate) fn get_or_insert(&mut self, stream: u64) -> &mut T {
        self.tick += 1;
        let index = self.find(stream).unwrap_or_else(|| self.insert(stream));
        self.last = index;
        let slot = &mut self.slots[index];
        slot.used_tick = self.tick;
        &mut slot.state
    }

    /// The state of `stream`, if it is in the table.
    pub(crate) fn get(&self, stream: u64) -> Option<&T> {
        self.find(stream).map(|index| &self.slots[index].state)
    }

    /// The state of `stream`, if it is in the table, without refreshing its recency.
    pub(crate) fn get_mut(&mut self, stream: u64) -> Option<&mut T> {
        self.find(stream).map(|index| &mut self.slots[index].state)
    }

    fn find(&self, stream: u64) -> Option<usize> {
        if self
            .slots
            .get(self.last)
            .is_some_and(|slot| slot.stream == stream)
        {
            return Some(self.last);
        }
        self.slots.iter().position(|slot| slot.stream == stream)
    }

    fn insert(&mut self, stream: u64) -> usize {
        let slot = Slot {
            stream,
            used_tick: self.tick,
            state: T::default(),
        };
        if self.slots.len() < self.capacity {
            self.slots.push(slot);
            return self.slots.len() - 1;
        }
        let victim = self
            .slots
            .iter()
            .enumerate()
            .min_by_key(|(_, slot)| slot.used_tick)
            .map_or(0, |(index, _)| index);
        self.slots[victim] = slot;
        victim
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_streams_apart_and_replaces_the_least_recent() {
        let mut table: StreamTable<u32> = StreamTable::new(2);
        *table.get_or_insert(1) = 10;
        *table.get_or_insert(2) = 20;
        assert_eq!(*table.get_or_insert(1), 10);
        *table.get_or_insert(3) = 30; // replaces stream 2
        assert_eq!(table.get(2), None);
        assert_eq!(table.get(1), Some(&10));
        assert_eq!(table.get(3), Some(&30));
        assert_eq!(*table.get_or_insert(2), 0);
    }
}
