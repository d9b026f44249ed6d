//! Map keys, read as usual but with their text recorded, so the object being read can tell a
//! repeated key.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, Visitor};

/// The keys of one object so far: a short list scanned in place (records have a handful of
/// keys), a hash set once the object is large (so a hostile 100 000-key object stays linear).
#[derive(Default)]
pub(super) struct Keys<'de> {
    few: Vec<Cow<'de, str>>,
    many: HashSet<Cow<'de, str>>,
}

impl<'de> Keys<'de> {
    const FEW: usize = 16;

    /// Adds `key`; false when it was already there.
    pub(super) fn insert(&mut self, key: Cow<'de, str>) -> bool {
        if !self.many.is_empty() {
            return self.many.insert(key);
        }
        if self.few.contains(&key) {
            return false;
        }
        self.few.push(key);
        if self.few.len() > Self::FEW {
            self.many.extend(self.few.drain(..));
        }
        true
    }
}

/// A map key's seed that also records the key's text.
pub(super) struct KeySeed<'k, 'de, S> {
    pub(super) seed: S,
    pub(super) key: &'k mut Option<Cow<'de, str>>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, 'de, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        self.seed.deserialize(KeyReader { de, key: self.key })
    }
}

/// The key's deserializer: hands out [`KeyVisitor`]s.
struct KeyReader<'k, 'de, D> {
    de: D,
    key: &'k mut Option<Cow<'de, str>>,
}

impl<'k, 'de, D> KeyReader<'k, 'de, D> {
    fn split<V>(self, visitor: V) -> (D, KeyVisitor<'k, 'de, V>) {
        (self.de, KeyVisitor { inner: visitor, key: self.key })
    }
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for KeyReader<'_, 'de, D> {
    type Error = D::Error;

    all_deserialize_methods!(forward_deserialize);

    forward_deserialize! { deserialize_struct(name: &'static str, fields: &'static [&'static str]); }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let (de, visitor) = self.split(visitor);
        de.deserialize_ignored_any(visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

/// Records a key's text (JSON keys are strings; numeric map keys arrive as numbers), then
/// hands it on unchanged.
struct KeyVisitor<'k, 'de, V> {
    inner: V,
    key: &'k mut Option<Cow<'de, str>>,
}

/// Records the key as text, then forwards.
macro_rules! record_visit {
    ($($method:ident($ty:ty) => $text:expr;)*) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
                *self.key = Some($text(&v));
                self.inner.$method(v)
            }
        )*
    };
}

/// Forwards unchanged (no key text to record).
macro_rules! pass_visit {
    ($($method:ident($ty:ty);)*) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
                self.inner.$method(v)
            }
        )*
    };
}

fn owned(text: &str) -> Cow<'static, str> {
    Cow::Owned(text.to_owned())
}

fn number(n: &impl ToString) -> Cow<'static, str> {
    Cow::Owned(n.to_string())
}

impl<'de, V: Visitor<'de>> Visitor<'de> for KeyVisitor<'_, 'de, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    record_visit! {
        visit_borrowed_str(&'de str) => |v: &&'de str| Cow::Borrowed(*v);
        visit_str(&str) => |v: &&str| owned(v);
        visit_string(String) => |v: &String| owned(v);
        visit_i64(i64) => number;
        visit_u64(u64) => number;
        visit_i128(i128) => number;
        visit_u128(u128) => number;
    }

    pass_visit! {
        visit_bool(bool); visit_i8(i8); visit_i16(i16); visit_i32(i32); visit_u8(u8); visit_u16(u16);
        visit_u32(u32); visit_f32(f32); visit_f64(f64); visit_char(char); visit_bytes(&[u8]);
        visit_borrowed_bytes(&'de [u8]); visit_byte_buf(Vec<u8>);
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_some(de)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_newtype_struct(de)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_seq(seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_map(map)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_enum(data)
    }
}
