//! Intrusive doubly-linked lists over one arena of nodes indexed by `u32`.
//!
//! LRU, ARC and 2Q keep their queues here: moving an entry between positions or lists is a
//! few index writes, with no allocation once the arena has grown to the policy's bound.

/// Marks "no node" in `prev`/`next` links and empty lists.
const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Node {
    id: u64,
    prev: u32,
    next: u32,
    /// Which list of the owning policy holds this node (meaning is the policy's).
    tag: u8,
}

/// One list inside an [`Arena`]: head is the most recently inserted end (MRU), tail the
/// oldest end (LRU / FIFO exit).
#[derive(Debug, Clone, Copy)]
pub(crate) struct List {
    head: u32,
    tail: u32,
    len: usize,
}

impl Default for List {
    fn default() -> Self {
        Self {
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }
}

impl List {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The oldest node, the next one to leave.
    pub(crate) fn tail(&self) -> Option<u32> {
        (self.tail != NIL).then_some(self.tail)
    }
}

/// Node storage shared by every list of one policy; freed slots are reused.
#[derive(Debug, Default)]
pub(crate) struct Arena {
    nodes: Vec<Node>,
    free: Vec<u32>,
}

impl Arena {
    pub(crate) fn with_capacity(nodes: usize) -> Self {
        Self {
            nodes: Vec::with_capacity(nodes),
            free: Vec::new(),
        }
    }

    /// Stores `id` in a fresh node that belongs to no list yet.
    pub(crate) fn alloc(&mut self, id: u64, tag: u8) -> u32 {
        let node = Node {
            id,
            prev: NIL,
            next: NIL,
            tag,
        };
        if let Some(idx) = self.free.pop() {
            self.nodes[idx as usize] = node;
            idx
        } else {
            let idx = u32::try_from(self.nodes.len())
                .ok()
                .filter(|&i| i != NIL)
                .unwrap_or_else(|| panic!("cache arena exceeds {} nodes", NIL));
            self.nodes.push(node);
            idx
        }
    }

    /// Returns an unlinked node's slot for reuse.
    pub(crate) fn release(&mut self, idx: u32) {
        self.free.push(idx);
    }

    pub(crate) fn id(&self, idx: u32) -> u64 {
        self.nodes[idx as usize].id
    }

    pub(crate) fn tag(&self, idx: u32) -> u8 {
        self.nodes[idx as usize].tag
    }

    /// Reuses a node for another id (LRU evicts and inserts in one step).
    pub(crate) fn set_id(&mut self, idx: u32, id: u64) {
        self.nodes[idx as usize].id = id;
    }

    /// Links an unlinked node at the head of `list` and records the list's tag.
    pub(crate) fn push_front(&mut self, list: &mut List, idx: u32, tag: u8) {
        let old_head = list.head;
        {
            let node = &mut self.nodes[idx as usize];
            node.prev = NIL;
            node.next = old_head;
            node.tag = tag;
        }
        if old_head == NIL {
            list.tail = idx;
        } else {
            self.nodes[old_head as usize].prev = idx;
        }
        list.head = idx;
        list.len += 1;
    }

    /// Removes a node from `list` (the caller knows it is there, e.g. from its tag).
    pub(crate) fn unlink(&mut self, list: &mut List, idx: u32) {
        let Node { prev, next, .. } = self.nodes[idx as usize];
        if prev == NIL {
            list.head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            list.tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
        list.len -= 1;
    }

    /// Moves a node of `list` to its head; a no-op when it is already there.
    pub(crate) fn move_to_front(&mut self, list: &mut List, idx: u32) {
        if list.head != idx {
            let tag = self.tag(idx);
            self.unlink(list, idx);
            self.push_front(list, idx, tag);
        }
    }

    /// Unlinks and returns the oldest node of `list`, still allocated.
    pub(crate) fn pop_back(&mut self, list: &mut List) -> Option<u32> {
        let idx = list.tail()?;
        self.unlink(list, idx);
        Some(idx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(arena: &Arena, list: &List) -> Vec<u64> {
        let mut out = Vec::new();
        let mut cur = list.head;
        while cur != NIL {
            out.push(arena.id(cur));
            cur = arena.nodes[cur as usize].next;
        }
        out
    }

    #[test]
    fn push_move_pop_keep_order_and_length() {
        let mut arena = Arena::with_capacity(4);
        let mut list = List::default();
        let a = arena.alloc(1, 0);
        let b = arena.alloc(2, 0);
        let c = arena.alloc(3, 0);
        for idx in [a, b, c] {
            arena.push_front(&mut list, idx, 0);
        }
        assert_eq!(ids(&arena, &list), [3, 2, 1]);
        arena.move_to_front(&mut list, a);
        assert_eq!(ids(&arena, &list), [1, 3, 2]);
        assert_eq!(arena.pop_back(&mut list).map(|i| arena.id(i)), Some(2));
        assert_eq!(list.len(), 2);
        arena.unlink(&mut list, a);
        assert_eq!(ids(&arena, &list), [3]);
        assert_eq!(list.tail().map(|i| arena.id(i)), Some(3));
    }

    #[test]
    fn released_slots_are_reused() {
        let mut arena = Arena::with_capacity(1);
        let a = arena.alloc(7, 0);
        arena.release(a);
        assert_eq!(arena.alloc(8, 1), a);
        assert_eq!((arena.id(a), arena.tag(a)), (8, 1));
    }
}
