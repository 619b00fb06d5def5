//! The in-flight lists: a channel's payment attempts and refunds awaiting an answer, oldest
//! deadline first, and its attempts and refunds whose outcome it is being asked about, soonest
//! question first, linked through the orders, attempts and refunds themselves (no allocation,
//! O(1) to add and to remove from anywhere). One list type serves them all: `InFlight` holds a
//! list's ends, and a `Table` of members says where each member's `Links` are (a slice of
//! `Member`s, such as orders or refunds, or every order's attempts, `AttemptTable`).
//!
//! Invariants, asserted on every change: a member joins only while unlinked; the head has no
//! predecessor and the tail no successor; each link's target links back. A broken list would lose
//! a timeout (and with it the money reserved for the attempt), so these are `assert!`s.

use rkyv::niche::niching::Zero;
use rkyv::with::NicheInto;
use rkyv::{Archive, Deserialize, Serialize};

use super::slot::Slot;

/// A member's links in its list (both `None` while it is in none).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Links {
    #[rkyv(with = NicheInto<Zero>)]
    pub prev: Option<Slot>,
    #[rkyv(with = NicheInto<Zero>)]
    pub next: Option<Slot>,
}

/// Something that can be in an in-flight list.
pub trait Member {
    fn links(&self) -> &Links;
    fn links_mut(&mut self) -> &mut Links;
}

/// The members of a list, by slot: where each member keeps its links.
pub trait Table {
    fn links_of(&self, slot: Slot) -> &Links;
    fn links_of_mut(&mut self, slot: Slot) -> &mut Links;
}

impl<M: Member> Table for [M] {
    #[inline]
    fn links_of(&self, slot: Slot) -> &Links {
        self[slot.index() as usize].links()
    }
    #[inline]
    fn links_of_mut(&mut self, slot: Slot) -> &mut Links {
        self[slot.index() as usize].links_mut()
    }
}

impl<M: Member> Table for Vec<M> {
    #[inline]
    fn links_of(&self, slot: Slot) -> &Links {
        self.as_slice().links_of(slot)
    }
    #[inline]
    fn links_of_mut(&mut self, slot: Slot) -> &mut Links {
        self.as_mut_slice().links_of_mut(slot)
    }
}

/// The ends of an in-flight list over a table of members.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InFlight {
    #[rkyv(with = NicheInto<Zero>)]
    head: Option<Slot>,
    #[rkyv(with = NicheInto<Zero>)]
    tail: Option<Slot>,
}

impl InFlight {
    /// The first member (the oldest deadline).
    #[inline]
    pub fn front(&self) -> Option<Slot> {
        self.head
    }

    /// The last member (the latest deadline).
    #[inline]
    pub fn back(&self) -> Option<Slot> {
        self.tail
    }

    /// Appends the member in `slot` of `members`.
    #[inline]
    pub fn push_back<T: Table + ?Sized>(&mut self, members: &mut T, slot: Slot) {
        assert!(
            *members.links_of(slot) == Links::default() && self.head != Some(slot),
            "{slot:?} joins an in-flight list while linked"
        );
        match self.tail {
            None => {
                assert_eq!(self.head, None, "a list without a tail is empty");
                self.head = Some(slot);
            }
            Some(tail) => {
                let links = members.links_of_mut(tail);
                assert_eq!(links.next, None, "the tail ends its list");
                links.next = Some(slot);
            }
        }
        members.links_of_mut(slot).prev = self.tail;
        self.tail = Some(slot);
    }

    /// Takes the member in `slot` out of the list (it must be in this one).
    #[inline]
    pub fn remove<T: Table + ?Sized>(&mut self, members: &mut T, slot: Slot) {
        let Links { prev, next } = std::mem::take(members.links_of_mut(slot));
        match prev {
            None => {
                assert_eq!(
                    self.head,
                    Some(slot),
                    "a member without a predecessor heads the list"
                );
                self.head = next;
            }
            Some(prev) => {
                let links = members.links_of_mut(prev);
                assert_eq!(
                    links.next,
                    Some(slot),
                    "the predecessor links to the member"
                );
                links.next = next;
            }
        }
        match next {
            None => {
                assert_eq!(
                    self.tail,
                    Some(slot),
                    "a member without a successor ends the list"
                );
                self.tail = prev;
            }
            Some(next) => {
                let links = members.links_of_mut(next);
                assert_eq!(
                    links.prev,
                    Some(slot),
                    "the successor links back to the member"
                );
                links.prev = prev;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Clone)]
    struct Item(Links);

    impl Member for Item {
        fn links(&self) -> &Links {
            &self.0
        }
        fn links_mut(&mut self) -> &mut Links {
            &mut self.0
        }
    }

    fn order(list: &InFlight, items: &[Item]) -> Vec<u32> {
        let mut out = Vec::new();
        let mut at = list.front();
        while let Some(slot) = at {
            out.push(slot.index());
            at = items[slot.index() as usize].0.next;
        }
        out
    }

    #[test]
    fn members_leave_from_anywhere_and_the_rest_keep_their_order() {
        let mut items = vec![Item::default(); 5];
        let mut list = InFlight::default();
        for i in 0..5 {
            list.push_back(&mut items, Slot::new(i));
        }
        assert_eq!(order(&list, &items), [0, 1, 2, 3, 4]);
        list.remove(&mut items, Slot::new(2));
        list.remove(&mut items, Slot::new(0));
        list.remove(&mut items, Slot::new(4));
        assert_eq!(order(&list, &items), [1, 3]);
        assert_eq!(
            (list.front(), list.back()),
            (Some(Slot::new(1)), Some(Slot::new(3)))
        );
        assert_eq!(*items[2].links(), Links::default());
        list.push_back(&mut items, Slot::new(0));
        list.remove(&mut items, Slot::new(1));
        list.remove(&mut items, Slot::new(3));
        list.remove(&mut items, Slot::new(0));
        assert_eq!(list, InFlight::default());
    }

    #[test]
    #[should_panic(expected = "while linked")]
    fn a_member_joins_once() {
        let mut items = vec![Item::default(); 2];
        let mut list = InFlight::default();
        list.push_back(&mut items, Slot::new(0));
        list.push_back(&mut items, Slot::new(0));
    }

    #[test]
    #[should_panic(expected = "heads the list")]
    fn a_member_of_no_list_cannot_leave_one() {
        let mut items = vec![Item::default(); 2];
        let mut list = InFlight::default();
        list.push_back(&mut items, Slot::new(0));
        list.remove(&mut items, Slot::new(1));
    }
}
