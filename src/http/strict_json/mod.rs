//! JSON that refuses an object repeating a key, checked in the same pass that deserializes it.
//!
//! serde_json keeps the last of two equal keys (`{"records":[A],"records":[B]}` reads as
//! `[B]`), and a `BTreeMap` or `Value` target takes the duplicate silently. Usage that a client
//! sent must never disappear that way, so every request body is parsed through
//! [`from_slice`]/[`from_str`]: a wrapper around serde_json's deserializer that sees every
//! object of the document as it is read (nested ones, ignored fields and `Value`s included)
//! and fails on the first key it has already seen in that object. Numbers keep serde_json's
//! `arbitrary_precision` path, and `RawValue`s are passed through untouched (their content is
//! checked when it is parsed in turn).
//!
//! Stage: the HTTP edge. Input: body bytes; output: a typed value or a [`StrictJsonError`].

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde::Deserialize;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StrictJsonError {
    /// An object repeats `key`; the error says where.
    #[error("{error}")]
    DuplicateKey { key: String, error: serde_json::Error },
    /// Anything serde_json itself refuses.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// [`serde_json::from_slice`], refusing repeated keys, with where in the document an error
/// is (`quotas[0].limit`; `.` for the document itself), so a message can name the field.
///
/// # Errors
/// [`StrictJsonError::DuplicateKey`] for the first repeated key, otherwise serde_json's error.
pub fn from_slice<'de, T: Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, (String, StrictJsonError)> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let (duplicate, mut track) = (Cell::new(None), serde_path_to_error::Track::new());
    let strict = Strict { de: &mut de, duplicate: &duplicate };
    let value = T::deserialize(serde_path_to_error::Deserializer::new(strict, &mut track));
    value.and_then(|v| de.end().map(|()| v)).map_err(|error| {
        let error = match duplicate.take() {
            Some(key) => StrictJsonError::DuplicateKey { key, error },
            None => StrictJsonError::Json(error),
        };
        (track.path().to_string(), error)
    })
}

/// [`serde_json::from_str`], refusing repeated keys.
///
/// # Errors
/// As [`from_slice`].
pub fn from_str<'de, T: Deserialize<'de>>(text: &'de str) -> Result<T, StrictJsonError> {
    read(serde_json::Deserializer::from_str(text))
}

fn read<'de, R: serde_json::de::Read<'de>, T: Deserialize<'de>>(
    mut de: serde_json::Deserializer<R>,
) -> Result<T, StrictJsonError> {
    let duplicate = Cell::new(None);
    let value = T::deserialize(Strict { de: &mut de, duplicate: &duplicate }).and_then(|v| de.end().map(|()| v));
    value.map_err(|error| match duplicate.take() {
        Some(key) => StrictJsonError::DuplicateKey { key, error },
        None => StrictJsonError::Json(error),
    })
}

/// Forwards every `deserialize_*` method to the inner deserializer with a wrapped visitor.
macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Self::Error> {
                let (de, visitor) = self.split(visitor);
                de.$method($($arg,)* visitor)
            }
        )*
    };
}

macro_rules! all_deserialize_methods {
    ($m:ident) => {
        $m! {
            deserialize_any(); deserialize_bool(); deserialize_i8(); deserialize_i16(); deserialize_i32();
            deserialize_i64(); deserialize_i128(); deserialize_u8(); deserialize_u16(); deserialize_u32();
            deserialize_u64(); deserialize_u128(); deserialize_f32(); deserialize_f64(); deserialize_char();
            deserialize_str(); deserialize_string(); deserialize_bytes(); deserialize_byte_buf();
            deserialize_option(); deserialize_unit(); deserialize_unit_struct(name: &'static str);
            deserialize_newtype_struct(name: &'static str); deserialize_seq(); deserialize_tuple(len: usize);
            deserialize_tuple_struct(name: &'static str, len: usize); deserialize_map();
            deserialize_enum(name: &'static str, variants: &'static [&'static str]); deserialize_identifier();
        }
    };
}

mod key;

use key::{KeySeed, Keys};

/// The deserializer wrapper: every visitor it hands out checks the objects it visits.
struct Strict<'a, D> {
    de: D,
    duplicate: &'a Cell<Option<String>>,
}

impl<'a, D> Strict<'a, D> {
    fn split<V>(self, visitor: V) -> (D, Checked<'a, V>) {
        (self.de, Checked { inner: visitor, duplicate: self.duplicate })
    }
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<'_, D> {
    type Error = D::Error;

    all_deserialize_methods!(forward_deserialize);

    /// A struct is read from an object only: serde_json also binds a JSON array to a struct's
    /// fields by position, so `["id", "acme", …]` would be read as a record.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let (de, visitor) = self.split(visitor);
        de.deserialize_map(visitor)
    }

    /// Values of ignored fields are walked too (serde_json would skip them unseen), so a
    /// repeated key inside an unknown extension attribute is still refused.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        let (de, visitor) = self.split(visitor);
        de.deserialize_any(visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.de.is_human_readable()
    }
}

/// A visitor whose maps, sequences, options and enums stay checked.
struct Checked<'a, V> {
    inner: V,
    duplicate: &'a Cell<Option<String>>,
}

/// Forwards the scalar `visit_*` methods unchanged.
macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
                self.inner.$method(v)
            }
        )*
    };
}

macro_rules! scalar_visits {
    ($m:ident) => {
        $m! {
            visit_bool(bool); visit_i8(i8); visit_i16(i16); visit_i32(i32); visit_i64(i64); visit_i128(i128);
            visit_u8(u8); visit_u16(u16); visit_u32(u32); visit_u64(u64); visit_u128(u128); visit_f32(f32);
            visit_f64(f64); visit_char(char); visit_str(&str); visit_borrowed_str(&'de str);
            visit_string(String); visit_bytes(&[u8]); visit_borrowed_bytes(&'de [u8]); visit_byte_buf(Vec<u8>);
        }
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Checked<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    scalar_visits!(forward_visit);

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_some(Strict { de, duplicate: self.duplicate })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_newtype_struct(Strict { de, duplicate: self.duplicate })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_seq(CheckedSeq { seq, duplicate: self.duplicate })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_map(CheckedMap { map, duplicate: self.duplicate, seen: Keys::default() })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_enum(CheckedEnum { data, duplicate: self.duplicate })
    }
}

/// A seed whose value is read through [`Strict`].
struct CheckedSeed<'a, S> {
    seed: S,
    duplicate: &'a Cell<Option<String>>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for CheckedSeed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        self.seed.deserialize(Strict { de, duplicate: self.duplicate })
    }
}

struct CheckedSeq<'a, A> {
    seq: A,
    duplicate: &'a Cell<Option<String>>,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for CheckedSeq<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
        self.seq.next_element_seed(CheckedSeed { seed, duplicate: self.duplicate })
    }

    fn size_hint(&self) -> Option<usize> {
        self.seq.size_hint()
    }
}

struct CheckedMap<'a, 'de, A> {
    map: A,
    duplicate: &'a Cell<Option<String>>,
    seen: Keys<'de>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for CheckedMap<'_, 'de, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        let mut key = None;
        let value = self.map.next_key_seed(KeySeed { seed, key: &mut key })?;
        if let Some(key) = key {
            if !self.seen.insert(key.clone()) {
                let error = de::Error::custom(format_args!("duplicate key {:?} in a JSON object", key.as_ref()));
                self.duplicate.set(Some(key.into_owned()));
                return Err(error);
            }
        }
        Ok(value)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.map.next_value_seed(CheckedSeed { seed, duplicate: self.duplicate })
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

struct CheckedEnum<'a, A> {
    data: A,
    duplicate: &'a Cell<Option<String>>,
}

impl<'a, 'de, A: EnumAccess<'de>> EnumAccess<'de> for CheckedEnum<'a, A> {
    type Error = A::Error;
    type Variant = CheckedVariant<'a, A::Variant>;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self::Variant), A::Error> {
        let (value, variant) = self.data.variant_seed(seed)?;
        Ok((value, CheckedVariant { variant, duplicate: self.duplicate }))
    }
}

struct CheckedVariant<'a, A> {
    variant: A,
    duplicate: &'a Cell<Option<String>>,
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for CheckedVariant<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.variant.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.variant.newtype_variant_seed(CheckedSeed { seed, duplicate: self.duplicate })
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.variant.tuple_variant(len, Checked { inner: visitor, duplicate: self.duplicate })
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.variant.struct_variant(fields, Checked { inner: visitor, duplicate: self.duplicate })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rust_decimal::Decimal;
    use serde_json::value::RawValue;
    use serde_json::Value;

    use super::*;

    fn duplicate_of<T: for<'de> Deserialize<'de> + fmt::Debug>(text: &str) -> Option<String> {
        match from_str::<T>(text) {
            Err(StrictJsonError::DuplicateKey { key, .. }) => Some(key),
            other => {
                assert!(!matches!(other, Err(StrictJsonError::DuplicateKey { .. })));
                None
            }
        }
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Typed {
        a: Option<Value>,
        b: Option<BTreeMap<String, Value>>,
        #[serde(default)]
        list: Vec<Value>,
    }

    #[test]
    fn a_repeated_key_is_refused_at_any_depth_and_in_any_target() {
        type Check = fn(&str) -> Option<String>;
        let cases: [(&str, Check, &str); 8] = [
            (r#"{"records":[1],"records":[2]}"#, duplicate_of::<BTreeMap<String, Value>>, "records"),
            (r#"{"a":{"x":1,"x":2}}"#, duplicate_of::<Value>, "x"),
            (r#"[{"k":1},{"k":1,"k":1}]"#, duplicate_of::<Vec<Value>>, "k"),
            (r#"{"a":1,"a":1}"#, duplicate_of::<Typed>, "a"),
            (r#"{"b":{"z":{"q":1,"q":2}}}"#, duplicate_of::<Typed>, "q"),
            (r#"{"list":[{"y":1,"y":2}]}"#, duplicate_of::<Typed>, "y"),
            (r#"{"ext":{"u":1,"u":2}}"#, duplicate_of::<Typed>, "u"),
            (r#"{"\u0061":1,"a":2}"#, duplicate_of::<Value>, "a"),
        ];
        for (text, check, key) in cases {
            assert_eq!(check(text).as_deref(), Some(key), "{text}");
        }
    }

    #[test]
    fn distinct_keys_and_equal_keys_in_different_objects_are_fine() {
        let value: Value = from_str(r#"{"a":{"k":1},"b":{"k":2},"c":[{"k":3},{"k":4}]}"#).expect("no key repeats");
        assert_eq!(value["c"][1]["k"], 4);
        let wide: String = format!("{{{}}}", (0..100).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>().join(","));
        assert!(from_str::<Value>(&wide).is_ok(), "a wide object with distinct keys");
        let repeated = format!("{},\"k7\":0}}", &wide[..wide.len() - 1]);
        assert_eq!(duplicate_of::<Value>(&repeated).as_deref(), Some("k7"), "past the short list");
    }

    #[test]
    fn numbers_stay_exact_and_raw_values_stay_raw() {
        let value: Value = from_str(r#"{"n":0.1000000000000000000000000001}"#).expect("parses");
        assert_eq!(value["n"].to_string(), "0.1000000000000000000000000001");
        let decimal: Decimal = from_str(r#""12.50""#).expect("parses");
        assert_eq!(decimal.to_string(), "12.50");
        let raw: BTreeMap<String, &RawValue> = from_str(r#"{"r": {"x":1,"x":2}}"#).expect("raw content is not read");
        assert_eq!(raw["r"].get(), r#"{"x":1,"x":2}"#);
    }

    #[test]
    fn a_struct_is_read_from_an_object_never_from_an_array_by_position() {
        let typed: Typed = from_str(r#"{"a": 1}"#).expect("an object");
        assert_eq!(typed.a, Some(Value::from(1)));
        assert!(matches!(from_str::<Typed>(r#"[1, {}, []]"#), Err(StrictJsonError::Json(_))));
        assert!(from_str::<Typed>(r#"{"a": [1, {}]}"#).is_ok(), "arrays inside fields are values");
    }

    #[test]
    fn other_errors_are_serde_json_errors() {
        assert!(matches!(from_str::<Value>("{"), Err(StrictJsonError::Json(_))));
        assert!(matches!(from_str::<Value>("{} x"), Err(StrictJsonError::Json(_))));
        let Err(StrictJsonError::DuplicateKey { error, .. }) = from_str::<Value>(r#"{"a":1,"a":2}"#) else {
            panic!("a duplicate");
        };
        assert_eq!(error.to_string(), "duplicate key \"a\" in a JSON object at line 1 column 10");
    }
}
