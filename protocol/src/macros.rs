//! Declarative macros that turn a schema description into structs, codecs and documentation,
//! so the wire layout, the code and the protocol document come from one place.

/// Defines a wire enum: the Rust enum, its `Field` codec (strict: an undefined value is a decode
/// error), names, and the documentation table.
macro_rules! wire_enum {
    (
        $(#[doc = $doc:literal])+
        $name:ident : $repr:ty {
            $first:ident = $first_value:literal => $first_doc:literal,
            $( $variant:ident = $value:literal => $vdoc:literal, )*
        }
    ) => {
        $(#[doc = $doc])+
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr($repr)]
        pub enum $name {
            #[doc = $first_doc]
            $first = $first_value,
            $( #[doc = $vdoc] $variant = $value, )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name::$first
            }
        }

        impl $name {
            /// Every value with its name and meaning, for the protocol document.
            pub const VARIANTS: &'static [(u64, &'static str, &'static str)] = &[
                ($first_value, stringify!($first), $first_doc),
                $( ($value, stringify!($variant), $vdoc), )*
            ];

            /// The value as sent on the wire.
            #[inline]
            pub fn to_wire(self) -> $repr {
                self as $repr
            }

            /// The variant for a wire value, if it is defined.
            #[inline]
            pub fn from_wire(value: $repr) -> Option<Self> {
                match value {
                    $first_value => Some($name::$first),
                    $( $value => Some($name::$variant), )*
                    _ => None,
                }
            }

            /// The variant's name as the document writes it.
            pub fn name(self) -> &'static str {
                match self {
                    $name::$first => stringify!($first),
                    $( $name::$variant => stringify!($variant), )*
                }
            }

            /// The variant whose name is `name` (case-insensitive, `_` ignored).
            pub fn from_name(name: &str) -> Option<Self> {
                let wanted: String = name
                    .chars()
                    .filter(|c| *c != '_' && *c != '-')
                    .map(|c| c.to_ascii_lowercase())
                    .collect();
                Self::VARIANTS.iter().find_map(|(value, n, _)| {
                    if n.to_ascii_lowercase() == wanted {
                        Self::from_wire(*value as $repr)
                    } else {
                        None
                    }
                })
            }

            /// All variants in schema order.
            pub fn all() -> impl Iterator<Item = Self> {
                Self::VARIANTS.iter().filter_map(|(v, _, _)| Self::from_wire(*v as $repr))
            }
        }

        impl $crate::codec::Field for $name {
            const SIZE: usize = std::mem::size_of::<$repr>();
            #[inline]
            fn read(buf: &[u8], field: &'static str) -> Result<Self, $crate::codec::DecodeError> {
                let raw = <$repr as $crate::codec::Field>::read(buf, field)?;
                Self::from_wire(raw).ok_or($crate::codec::DecodeError::BadEnum {
                    field,
                    value: u64::from(raw),
                })
            }
            #[inline]
            fn write(&self, buf: &mut [u8]) {
                <$repr as $crate::codec::Field>::write(&self.to_wire(), buf)
            }
            fn type_name() -> String {
                format!("{} ({})", stringify!($name), stringify!($repr))
            }
            fn parse(text: &str) -> Result<Self, String> {
                Self::from_name(text.trim()).ok_or_else(|| {
                    let names: Vec<&str> = Self::all().map(Self::name).collect();
                    format!("{text:?} is not one of {}", names.join(", "))
                })
            }
        }

        impl $crate::codec::Sample for $name {
            fn sample(e: &mut $crate::codec::Entropy<'_>) -> Self {
                let i = e.below(Self::VARIANTS.len() as u64) as usize;
                Self::from_wire(Self::VARIANTS[i].0 as $repr).unwrap_or_default()
            }
        }

        impl $crate::schema::EnumDoc for $name {
            fn enum_name() -> &'static str {
                stringify!($name)
            }
            fn repr() -> &'static str {
                stringify!($repr)
            }
            fn doc() -> String {
                $crate::codec::join_doc(&[$($doc),+])
            }
            fn variants() -> &'static [(u64, &'static str, &'static str)] {
                Self::VARIANTS
            }
        }
    };
}

/// Defines a repeating-group entry: a fixed block of fields.
macro_rules! composite {
    (
        $(#[doc = $doc:literal])+
        $name:ident {
            $( $(#[doc = $fdoc:literal])+ $field:ident : $fty:ty, )+
        }
    ) => {
        $(#[doc = $doc])+
        #[derive(Debug, Clone, Copy, PartialEq, Default)]
        pub struct $name {
            $( $(#[doc = $fdoc])+ pub $field: $fty, )+
        }

        impl $crate::codec::Block for $name {
            const SIZE: usize = 0 $( + <$fty as $crate::codec::Field>::SIZE )+;
            const NAME: &'static str = stringify!($name);

            #[inline]
            fn read(buf: &[u8]) -> Result<Self, $crate::codec::DecodeError> {
                $crate::codec::need(buf, Self::SIZE)?;
                let mut at = 0usize;
                $(
                    let $field = <$fty as $crate::codec::Field>::read(&buf[at..], stringify!($field))?;
                    at += <$fty as $crate::codec::Field>::SIZE;
                )+
                let _ = at;
                Ok($name { $($field),+ })
            }

            #[inline]
            fn write(&self, buf: &mut [u8]) {
                let mut at = 0usize;
                $(
                    $crate::codec::Field::write(&self.$field, &mut buf[at..]);
                    at += <$fty as $crate::codec::Field>::SIZE;
                )+
                let _ = at;
            }

            fn fields() -> Vec<$crate::codec::FieldDoc> {
                let mut out = Vec::new();
                let mut at = 0usize;
                $(
                    out.push($crate::codec::FieldDoc {
                        name: stringify!($field),
                        offset: at,
                        size: <$fty as $crate::codec::Field>::SIZE,
                        type_name: <$fty as $crate::codec::Field>::type_name(),
                        doc: $crate::codec::join_doc(&[$($fdoc),+]),
                        render: <$fty as $crate::codec::Field>::render,
                        parse: <$fty as $crate::codec::Field>::write_parsed,
                    });
                    at += <$fty as $crate::codec::Field>::SIZE;
                )+
                let _ = at;
                out
            }
        }

        impl $crate::codec::Sample for $name {
            fn sample(e: &mut $crate::codec::Entropy<'_>) -> Self {
                $name { $( $field: <$fty as $crate::codec::Sample>::sample(e), )+ }
            }
        }
    };
}

/// Defines a message: struct, root block codec (with offsets), repeating groups, variable-length
/// texts, who may send it, and its documentation.
macro_rules! message {
    (
        $(#[doc = $doc:literal])+
        $name:ident = $template:literal, sent_by $sender:ident {
            $( $(#[doc = $fdoc:literal])+ $field:ident : $fty:ty, )*
        }
        $( since $since:literal {
            $( $(#[doc = $sdoc:literal])+ $sfield:ident : $sty:ty = $sdefault:expr, )*
        } )*
        groups { $( $(#[doc = $gdoc:literal])+ $gname:ident : [$gty:ty; $gmax:literal], )* }
        texts { $( $(#[doc = $tdoc:literal])+ $tname:ident : $tmax:literal, )* }
    ) => {
        $(#[doc = $doc])+
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name {
            $( $(#[doc = $fdoc])+ pub $field: $fty, )*
            $($( $(#[doc = $sdoc])+ pub $sfield: $sty, )*)*
            $( $(#[doc = $gdoc])+ pub $gname: arrayvec::ArrayVec<$gty, $gmax>, )*
            $( $(#[doc = $tdoc])+ pub $tname: $crate::codec::Text<$tmax>, )*
        }

        impl $crate::Message for $name {
            const TEMPLATE_ID: u16 = $template;
            const NAME: &'static str = stringify!($name);
            const BLOCK_LENGTH: u16 = (0 $( + <$fty as $crate::codec::Field>::SIZE )*
                $($( + <$sty as $crate::codec::Field>::SIZE )*)*) as u16;
            const MIN_BLOCK_LENGTH: u16 = (0 $( + <$fty as $crate::codec::Field>::SIZE )*) as u16;
            const SENT_BY: $crate::SentBy = $crate::SentBy::$sender;
            const MAX_BODY_LEN: usize = Self::BLOCK_LENGTH as usize
                $( + $crate::codec::GROUP_HEADER_LEN + $gmax * <$gty as $crate::codec::Block>::SIZE )*
                $( + $crate::codec::TEXT_HEADER_LEN + $tmax )*;

            #[inline]
            fn body_len(&self) -> usize {
                Self::BLOCK_LENGTH as usize
                    $( + $crate::codec::GROUP_HEADER_LEN
                        + self.$gname.len() * <$gty as $crate::codec::Block>::SIZE )*
                    $( + $crate::codec::TEXT_HEADER_LEN + self.$tname.len() )*
            }

            #[inline]
            fn write_body(&self, buf: &mut [u8]) {
                let mut at = 0usize;
                $(
                    $crate::codec::Field::write(&self.$field, &mut buf[at..]);
                    at += <$fty as $crate::codec::Field>::SIZE;
                )*
                $($(
                    $crate::codec::Field::write(&self.$sfield, &mut buf[at..]);
                    at += <$sty as $crate::codec::Field>::SIZE;
                )*)*
                $( at += $crate::codec::write_group(&self.$gname, &mut buf[at..]); )*
                $( at += $crate::codec::write_text(&self.$tname, &mut buf[at..]); )*
                let _ = at;
            }

            #[inline]
            fn read_body(block_length: u16, body: &[u8]) -> Result<Self, $crate::codec::DecodeError> {
                if block_length < Self::MIN_BLOCK_LENGTH {
                    return Err($crate::codec::DecodeError::BlockLengthTooShort {
                        template_id: $template,
                        block_length,
                        expected: Self::MIN_BLOCK_LENGTH,
                    });
                }
                $crate::codec::need(body, usize::from(block_length))?;
                let mut root_at = 0usize;
                $(
                    let $field = <$fty as $crate::codec::Field>::read(&body[root_at..], stringify!($field))?;
                    root_at += <$fty as $crate::codec::Field>::SIZE;
                )*
                // Fields a later version appended: read when the block holds them, else their
                // documented default (a peer or a journal record of an earlier version).
                $($(
                    let size = <$sty as $crate::codec::Field>::SIZE;
                    let $sfield: $sty = if root_at + size <= usize::from(block_length) {
                        <$sty as $crate::codec::Field>::read(&body[root_at..], stringify!($sfield))?
                    } else {
                        $sdefault
                    };
                    root_at += size;
                )*)*
                let _ = root_at;
                // Unknown trailing root fields (a newer version) are skipped by block_length.
                #[allow(unused_mut)]
                let mut at = usize::from(block_length);
                $(
                    let ($gname, used) = $crate::codec::read_group::<$gty, $gmax>(&body[at..], stringify!($gname))?;
                    at += used;
                )*
                $(
                    let ($tname, used) = $crate::codec::read_text::<$tmax>(&body[at..], stringify!($tname))?;
                    at += used;
                )*
                let _ = at;
                Ok($name { $($field,)* $($($sfield,)*)* $($gname,)* $($tname,)* })
            }

            fn schema() -> $crate::schema::MessageDoc {
                let mut fields = Vec::new();
                let mut at = 0usize;
                $(
                    fields.push($crate::codec::FieldDoc {
                        name: stringify!($field),
                        offset: at,
                        size: <$fty as $crate::codec::Field>::SIZE,
                        type_name: <$fty as $crate::codec::Field>::type_name(),
                        doc: $crate::codec::join_doc(&[$($fdoc),+]),
                        render: <$fty as $crate::codec::Field>::render,
                        parse: <$fty as $crate::codec::Field>::write_parsed,
                    });
                    at += <$fty as $crate::codec::Field>::SIZE;
                )*
                $($(
                    fields.push($crate::codec::FieldDoc {
                        name: stringify!($sfield),
                        offset: at,
                        size: <$sty as $crate::codec::Field>::SIZE,
                        type_name: <$sty as $crate::codec::Field>::type_name(),
                        doc: format!(
                            "{} Since version {}; absent from an earlier version's shorter block, it reads as {}.",
                            $crate::codec::join_doc(&[$($sdoc),+]),
                            $since,
                            stringify!($sdefault)
                        ),
                        render: <$sty as $crate::codec::Field>::render,
                        parse: <$sty as $crate::codec::Field>::write_parsed,
                    });
                    at += <$sty as $crate::codec::Field>::SIZE;
                )*)*
                let _ = at;
                $crate::schema::MessageDoc {
                    name: stringify!($name),
                    template_id: $template,
                    sent_by: $crate::SentBy::$sender,
                    doc: $crate::codec::join_doc(&[$($doc),+]),
                    block_length: Self::BLOCK_LENGTH,
                    fields,
                    groups: vec![$(
                        $crate::schema::GroupDoc {
                            name: stringify!($gname),
                            entry: <$gty as $crate::codec::Block>::NAME,
                            max: $gmax,
                            doc: $crate::codec::join_doc(&[$($gdoc),+]),
                            entry_size: <$gty as $crate::codec::Block>::SIZE,
                            fields: <$gty as $crate::codec::Block>::fields(),
                        },
                    )*],
                    texts: vec![$(
                        $crate::schema::TextDoc {
                            name: stringify!($tname),
                            max: $tmax,
                            doc: $crate::codec::join_doc(&[$($tdoc),+]),
                        },
                    )*],
                }
            }
        }

        impl $crate::codec::Sample for $name {
            fn sample(e: &mut $crate::codec::Entropy<'_>) -> Self {
                $name {
                    $( $field: <$fty as $crate::codec::Sample>::sample(e), )*
                    $($( $sfield: <$sty as $crate::codec::Sample>::sample(e), )*)*
                    $( $gname: $crate::codec::sample_group::<$gty, $gmax>(e), )*
                    $( $tname: $crate::codec::sample_text::<$tmax>(e), )*
                }
            }
        }
    };
}
