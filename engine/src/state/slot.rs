//! `Slot`: a position in one of the state's tables, where the state also needs "no position" (a
//! list's end, a merchant without a parent, a platform split line). `Option<Slot>` is 4 bytes in
//! memory and in a snapshot, like the `u32::MAX` sentinel it replaces: a slot holds its index + 1
//! in a `NonZeroU32`, so `None` is the zero that no slot can be, and rkyv stores an
//! `Option<Slot>` field marked `#[rkyv(with = NicheInto<Zero>)]` as that one number.
//! `Slot16` is the same over a `u16` (a channel's slot in a 16-byte routing candidate).

use rkyv::rancor::Fallible;
use rkyv::{Archive, Deserialize, Place, Serialize};
use std::num::{NonZeroU16, NonZeroU32};

macro_rules! slot_type {
    ($(#[doc = $doc:literal])+ $name:ident($nonzero:ident, $int:ident, $archived:ident)) => {
        $(#[doc = $doc])+
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name($nonzero);

        impl $name {
            /// The slot at `index` (which must be below the type's maximum).
            #[inline]
            pub fn new(index: $int) -> $name {
                match index.checked_add(1).and_then($nonzero::new) {
                    Some(v) => $name(v),
                    None => panic!("slot index {index} out of range"),
                }
            }

            /// The slot's index in its table.
            #[inline]
            pub fn index(self) -> $int {
                self.0.get() - 1
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.index())
            }
        }

        // Archived as the `NonZero` it holds (index + 1), so `NicheInto<Zero>` niches an
        // `Option` of it into the same four (or two) bytes.
        impl Archive for $name {
            type Archived = rkyv::primitive::$archived;
            type Resolver = ();

            #[inline]
            fn resolve(&self, resolver: (), out: Place<Self::Archived>) {
                self.0.resolve(resolver, out);
            }
        }

        impl<S: Fallible + ?Sized> Serialize<S> for $name {
            fn serialize(&self, _: &mut S) -> Result<(), S::Error> {
                Ok(())
            }
        }

        impl<D: Fallible + ?Sized> Deserialize<$name, D> for rkyv::primitive::$archived {
            fn deserialize(&self, _: &mut D) -> Result<$name, D::Error> {
                Ok($name(self.to_native()))
            }
        }
    };
}

slot_type! {
    /// A position in a table of the state (orders, refunds, parties, merchants, ...).
    Slot(NonZeroU32, u32, ArchivedNonZeroU32)
}

slot_type! {
    /// A position in a small table (a channel, in a routing candidate).
    Slot16(NonZeroU16, u16, ArchivedNonZeroU16)
}

// `Option<Slot>` costs nothing over the sentinel it replaces.
const _: () = assert!(size_of::<Option<Slot>>() == 4);
const _: () = assert!(size_of::<Option<Slot16>>() == 2);

#[cfg(test)]
mod tests {
    use super::*;
    use rkyv::niche::niching::Zero;
    use rkyv::with::NicheInto;

    #[derive(Archive, Serialize, Deserialize, Debug, PartialEq)]
    struct Holder {
        #[rkyv(with = NicheInto<Zero>)]
        a: Option<Slot>,
        #[rkyv(with = NicheInto<Zero>)]
        b: Option<Slot>,
        #[rkyv(with = NicheInto<Zero>)]
        c: Option<Slot16>,
    }

    #[test]
    fn slots_round_trip_and_none_is_zero() {
        assert_eq!(Slot::new(0).index(), 0);
        assert_eq!(Slot::new(u32::MAX - 1).index(), u32::MAX - 1);
        let h = Holder {
            a: Some(Slot::new(7)),
            b: None,
            c: Some(Slot16::new(3)),
        };
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&h).unwrap();
        assert_eq!(
            &bytes[..8],
            &[8, 0, 0, 0, 0, 0, 0, 0],
            "index + 1, then none as 0"
        );
        let back = rkyv::from_bytes::<Holder, rkyv::rancor::Error>(&bytes).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn the_largest_index_has_no_slot() {
        let _ = Slot::new(u32::MAX);
    }
}
