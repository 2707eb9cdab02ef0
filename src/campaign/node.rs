//! Serde over a parsed YAML node with an error type of the caller's choice, so that what serde
//! knows about a mistake (the unknown field and the names it expected, the missing field)
//! reaches the diagnostics as data, not as English text to be taken apart again.
//!
//! serde_yaml_ng's own `Deserializer for &Value` is fixed to its error type, whose
//! `unknown_field` keeps only the formatted message. [`Node`] walks the same `Value` the same
//! way (every method mirrors serde_yaml_ng 0.10's, so messages stay byte-identical; the tests
//! compare the two), generic over `E: serde::de::Error`. [`DeError`] is the error that keeps
//! the data; its text is serde's own wording.

use serde::de::{
    self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, Unexpected, VariantAccess, Visitor,
};
use serde::forward_to_deserialize_any;
use serde_yaml_ng::{Mapping, Value};
use std::fmt;
use std::marker::PhantomData;

/// What serde reported, with the names involved when it gave them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeProblem {
    /// A key the type does not have; `expected` are the keys it has.
    UnknownField {
        field: String,
        expected: &'static [&'static str],
    },
    /// A variant name (e.g. a message `type:`) the type does not have.
    UnknownVariant {
        variant: String,
        expected: &'static [&'static str],
    },
    /// A required key is absent.
    MissingField { field: &'static str },
    /// Anything else (wrong type, bad value...): its message says it all.
    Other,
}

/// A deserialization error: the problem as data, and serde's message for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeError {
    pub problem: DeProblem,
    message: String,
}

impl DeError {
    /// The message as serde words it (the text every other error type would carry).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

/// serde's own wording, from the default methods of an error type that overrides none.
fn serde_text(e: de::value::Error) -> String {
    e.to_string()
}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            problem: DeProblem::Other,
            message: msg.to_string(),
        }
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        DeError {
            problem: DeProblem::UnknownField {
                field: field.to_string(),
                expected,
            },
            message: serde_text(de::value::Error::unknown_field(field, expected)),
        }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        DeError {
            problem: DeProblem::UnknownVariant {
                variant: variant.to_string(),
                expected,
            },
            message: serde_text(de::value::Error::unknown_variant(variant, expected)),
        }
    }

    fn missing_field(field: &'static str) -> Self {
        DeError {
            problem: DeProblem::MissingField { field },
            message: serde_text(de::value::Error::missing_field(field)),
        }
    }
}

/// A borrowed YAML node as a serde `Deserializer` whose errors are `E`.
pub struct Node<'de, E> {
    value: &'de Value,
    error: PhantomData<E>,
}

impl<'de, E> Node<'de, E> {
    pub fn new(value: &'de Value) -> Self {
        Node {
            value,
            error: PhantomData,
        }
    }
}

impl<E> Clone for Node<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Node<'_, E> {}

/// The node inside any number of YAML tags (`!tag value`).
fn untag(mut v: &Value) -> &Value {
    while let Value::Tagged(t) = v {
        v = &t.value;
    }
    v
}

/// The tag's name without its `!`, as serde_yaml_ng gives it for an enum variant.
fn tag_name(t: &serde_yaml_ng::value::TaggedValue) -> String {
    let shown = t.tag.to_string();
    shown.strip_prefix('!').unwrap_or(&shown).to_string()
}

/// What serde calls the node in "invalid type" messages.
fn unexpected(v: &Value) -> Unexpected<'_> {
    match v {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Unexpected::Unsigned(u),
            (None, Some(i)) => Unexpected::Signed(i),
            _ => Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Sequence(_) => Unexpected::Seq,
        Value::Mapping(_) => Unexpected::Map,
        Value::Tagged(_) => Unexpected::Enum,
    }
}

fn invalid_type<E: de::Error>(v: &Value, exp: &dyn de::Expected) -> E {
    E::invalid_type(unexpected(v), exp)
}

fn visit_number<'de, V: Visitor<'de>, E: de::Error>(
    n: &serde_yaml_ng::Number,
    visitor: V,
) -> Result<V::Value, E> {
    match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => visitor.visit_u64(u),
        (None, Some(i)) => visitor.visit_i64(i),
        _ => visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN)),
    }
}

fn visit_sequence<'de, V: Visitor<'de>, E: de::Error>(
    seq: &'de [Value],
    visitor: V,
) -> Result<V::Value, E> {
    let len = seq.len();
    let mut access = Seq::<E>::new(seq);
    let out = visitor.visit_seq(&mut access)?;
    match access.iter.len() {
        0 => Ok(out),
        _ => Err(E::invalid_length(len, &"fewer elements in sequence")),
    }
}

fn visit_mapping<'de, V: Visitor<'de>, E: de::Error>(
    map: &'de Mapping,
    visitor: V,
) -> Result<V::Value, E> {
    let len = map.len();
    let mut access = Map::<E>::new(Some(map));
    let out = visitor.visit_map(&mut access)?;
    match access.iter.map_or(0, |i| i.len()) {
        0 => Ok(out),
        _ => Err(E::invalid_length(len, &"fewer elements in map")),
    }
}

impl<'de, E: de::Error> Node<'de, E> {
    fn number<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match untag(self.value) {
            Value::Number(n) => visit_number(n, visitor),
            other => Err(invalid_type(other, &visitor)),
        }
    }
}

impl<'de, E: de::Error> de::Deserializer<'de> for Node<'de, E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => visit_number(n, visitor),
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Sequence(s) => visit_sequence(s, visitor),
            Value::Mapping(m) => visit_mapping(m, visitor),
            Value::Tagged(t) => visitor.visit_enum(Enum::<E> {
                tag: tag_name(t),
                value: Some(&t.value),
                error: PhantomData,
            }),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match untag(self.value) {
            Value::Bool(b) => visitor.visit_bool(*b),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }
    fn deserialize_i128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }
    fn deserialize_u128<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }
    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.number(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match untag(self.value) {
            Value::String(s) => visitor.visit_borrowed_str(s),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match untag(self.value) {
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Sequence(s) => visit_sequence(s, visitor),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, E> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, E> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match untag(self.value) {
            Value::Sequence(s) => visit_sequence(s, visitor),
            Value::Null => visit_sequence(&[], visitor),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, E> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, E> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        match untag(self.value) {
            Value::Mapping(m) => visit_mapping(m, visitor),
            Value::Null => visitor.visit_map(&mut Map::<E>::new(None)),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, E> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, E> {
        let access = match self.value {
            Value::Tagged(t) => Enum {
                tag: tag_name(t),
                value: Some(&t.value),
                error: PhantomData,
            },
            Value::String(s) => Enum {
                tag: s.clone(),
                value: None,
                error: PhantomData,
            },
            other => return Err(E::invalid_type(unexpected(other), &"a Value::Tagged enum")),
        };
        visitor.visit_enum(access)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_unit()
    }
}

/// The items of a YAML sequence.
struct Seq<'de, E> {
    iter: std::slice::Iter<'de, Value>,
    error: PhantomData<E>,
}

impl<'de, E> Seq<'de, E> {
    fn new(items: &'de [Value]) -> Self {
        Seq {
            iter: items.iter(),
            error: PhantomData,
        }
    }
}

impl<'de, E: de::Error> SeqAccess<'de> for Seq<'de, E> {
    type Error = E;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, E> {
        self.iter
            .next()
            .map(|v| seed.deserialize(Node::new(v)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        match self.iter.size_hint() {
            (lower, Some(upper)) if lower == upper => Some(upper),
            _ => None,
        }
    }
}

impl<'de, E: de::Error> de::Deserializer<'de> for Seq<'de, E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, E> {
        let len = self.iter.len();
        if len == 0 {
            return visitor.visit_unit();
        }
        let out = visitor.visit_seq(&mut self)?;
        match self.iter.len() {
            0 => Ok(out),
            _ => Err(E::invalid_length(len, &"fewer elements in sequence")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct
        map struct enum identifier
    }
}

/// The entries of a YAML mapping (none for a `null` read as a mapping).
struct Map<'de, E> {
    iter: Option<serde_yaml_ng::mapping::Iter<'de>>,
    value: Option<&'de Value>,
    error: PhantomData<E>,
}

impl<'de, E> Map<'de, E> {
    fn new(map: Option<&'de Mapping>) -> Self {
        Map {
            iter: map.map(Mapping::iter),
            value: None,
            error: PhantomData,
        }
    }
}

impl<'de, E: de::Error> MapAccess<'de> for Map<'de, E> {
    type Error = E;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, E> {
        match self.iter.as_mut().and_then(Iterator::next) {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(Node::new(key)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, E> {
        // serde calls this only after a key; a misuse reads as a `null` rather than panicking.
        match self.value.take() {
            Some(value) => seed.deserialize(Node::new(value)),
            None => seed.deserialize(Node::new(&Value::Null)),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        match self.iter.as_ref()?.size_hint() {
            (lower, Some(upper)) if lower == upper => Some(upper),
            _ => None,
        }
    }
}

impl<'de, E: de::Error> de::Deserializer<'de> for Map<'de, E> {
    type Error = E;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_map(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, E> {
        visitor.visit_unit()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct
        map struct enum identifier
    }
}

/// An enum written as a bare variant name, or as a YAML tag on its content (`!variant ...`).
struct Enum<'de, E> {
    tag: String,
    value: Option<&'de Value>,
    error: PhantomData<E>,
}

impl<'de, E: de::Error> EnumAccess<'de> for Enum<'de, E> {
    type Error = E;
    type Variant = Variant<'de, E>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), E> {
        let variant = seed.deserialize(de::value::StringDeserializer::<E>::new(self.tag))?;
        Ok((
            variant,
            Variant {
                value: self.value,
                error: PhantomData,
            },
        ))
    }
}

struct Variant<'de, E> {
    value: Option<&'de Value>,
    error: PhantomData<E>,
}

impl<'de, E: de::Error> VariantAccess<'de> for Variant<'de, E> {
    type Error = E;

    fn unit_variant(self) -> Result<(), E> {
        match self.value {
            Some(v) => de::Deserialize::deserialize(Node::<E>::new(v)),
            None => Ok(()),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, E> {
        match self.value {
            Some(v) => seed.deserialize(Node::new(v)),
            None => Err(E::invalid_type(Unexpected::UnitVariant, &"newtype variant")),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, E> {
        match self.value {
            Some(Value::Sequence(s)) => {
                de::Deserializer::deserialize_any(Seq::<E>::new(s), visitor)
            }
            Some(other) => Err(E::invalid_type(unexpected(other), &"tuple variant")),
            None => Err(E::invalid_type(Unexpected::UnitVariant, &"tuple variant")),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, E> {
        match self.value {
            Some(Value::Mapping(m)) => {
                de::Deserializer::deserialize_any(Map::<E>::new(Some(m)), visitor)
            }
            Some(other) => Err(E::invalid_type(unexpected(other), &"struct variant")),
            None => Err(E::invalid_type(Unexpected::UnitVariant, &"struct variant")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::spec::{
        CampaignFile, InlineRecipient, MessageSpec, RecipientsSpec, WindowSpec,
    };
    use crate::provider::ProviderSpec;
    use proptest::prelude::*;
    use serde::de::DeserializeOwned;
    use serde::Deserialize;
    use std::collections::BTreeMap;
    use std::fmt::Debug;

    /// What a deserializer made of a node: the value, or the error's path and message.
    fn outcome<T: Debug, E: fmt::Display>(
        r: Result<T, serde_path_to_error::Error<E>>,
    ) -> Result<String, (String, String)> {
        r.map(|v| format!("{v:?}"))
            .map_err(|e| (e.path().to_string(), e.into_inner().to_string()))
    }

    /// `Node` reads `v` as `T` exactly as serde_yaml_ng's own deserializer does (the one loading
    /// used before): the same value, or the same message at the same path.
    fn same_as_serde_yaml<T: DeserializeOwned + Debug>(v: &Value) {
        let theirs = outcome(serde_path_to_error::deserialize::<_, T>(v.clone()));
        let ours = outcome(serde_path_to_error::deserialize::<_, T>(
            Node::<DeError>::new(v),
        ));
        assert_eq!(ours, theirs, "{}", serde_yaml_ng::to_string(v).unwrap());
    }

    fn yaml(s: &str) -> Value {
        serde_yaml_ng::from_str(s).expect("test YAML")
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    enum External {
        Unit,
        Newtype(u32),
        Tuple(u8, u8),
        Struct { a: String },
    }

    fn every_type(v: &Value) {
        same_as_serde_yaml::<CampaignFile>(v);
        same_as_serde_yaml::<MessageSpec>(v);
        same_as_serde_yaml::<ProviderSpec>(v);
        same_as_serde_yaml::<InlineRecipient>(v);
        same_as_serde_yaml::<WindowSpec>(v);
        same_as_serde_yaml::<RecipientsSpec>(v);
        same_as_serde_yaml::<BTreeMap<String, serde_json::Value>>(v);
        same_as_serde_yaml::<Vec<Option<String>>>(v);
        same_as_serde_yaml::<(u8, bool)>(v);
        same_as_serde_yaml::<Vec<External>>(v);
        same_as_serde_yaml::<External>(v);
        same_as_serde_yaml::<u32>(v);
        same_as_serde_yaml::<f64>(v);
        same_as_serde_yaml::<char>(v);
        same_as_serde_yaml::<()>(v);
    }

    #[test]
    fn reads_like_serde_yaml_on_hand_picked_nodes() {
        for s in [
            "null",
            "~",
            "true",
            "7",
            "-7",
            "1.5",
            "4294967296",
            "x",
            "[]",
            "[1, 2, 3]",
            "{}",
            "[Unit, {Newtype: 3}, !Newtype 4, !Tuple [1, 2], !Struct {a: b}, !Struct {b: c}, !Unit ~, Tuple, !Nope 1]",
            "!Tuple [1, 2, 3]",
            "{type: text, body: hi}",
            "{type: text, body: hi, captoin: x}",
            "{type: txet, body: hi}",
            "{body: hi}",
            "{type: image, link: 'https://x/y.png', caption: 3}",
            "{type: interactive, interactive: {type: button, body: {text: hi}, action: {buttons: [{type: reply, reply: {id: a, title: A, extra: 1}}]}}}",
            "{type: location, latitude: '1.5', longitude: 2}",
            "{when: 1, type: text, body: hi}",
            "{kind: messangi, from: '+15551234567', base_url: 'https://x', token_env: T}",
            "{kind: cloud_api, phone_number_id: '1', token_env: T, base_url: 'https://x', api_versoin: v1}",
            "{kind: whatsapp}",
            "{to: '+1555', last_inbound_at: 1764300000, vars: {a: [1, {b: ~}]}}",
            "{to: '+1555', last_inbound_at: [1]}",
            "{length: 24h, margin: 10m, extra: 1}",
            "{file: r.csv, duplicates: first}",
            "{1: a, true: b, ~: c}",
            "{version: 1, name: n, provider: {kind: messangi}, rate: 1/1s, recipients: [], messages: [{type: text}]}",
        ] {
            every_type(&yaml(s));
        }
    }

    #[test]
    fn keeps_what_serde_knows_as_data() {
        let err = |s: &str| {
            serde_path_to_error::deserialize::<_, MessageSpec>(Node::<DeError>::new(&yaml(s)))
                .expect_err(s)
                .into_inner()
        };
        let e = err("{type: text, body: hi, captoin: x}");
        assert!(
            matches!(&e.problem, DeProblem::UnknownField { field, expected }
                if field == "captoin" && expected.contains(&"body")),
            "{e:?}"
        );
        let e = err("{type: txet, body: hi}");
        assert!(
            matches!(&e.problem, DeProblem::UnknownVariant { variant, expected }
                if variant == "txet" && expected.contains(&"text")),
            "{e:?}"
        );
        assert_eq!(
            err("{body: hi}").problem,
            DeProblem::MissingField { field: "type" }
        );
        assert_eq!(err("{type: text, body: [1]}").problem, DeProblem::Other);
    }

    /// Every key and enum value the campaign schema names, so random nodes reach deep fields.
    fn schema_words() -> Vec<String> {
        fn walk(v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
            match v {
                serde_json::Value::Object(o) => {
                    if let Some(serde_json::Value::Object(props)) = o.get("properties") {
                        out.extend(props.keys().cloned());
                    }
                    if let Some(serde_json::Value::Array(e)) = o.get("enum") {
                        out.extend(e.iter().filter_map(|s| s.as_str().map(str::to_string)));
                    }
                    o.values().for_each(|v| walk(v, out));
                }
                serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        let schema = serde_json::to_value(schemars::schema_for!(CampaignFile)).unwrap();
        let mut out = std::collections::BTreeSet::new();
        walk(&schema, &mut out);
        out.extend(["Unit", "Newtype", "Tuple", "Struct", "a", "nope"].map(String::from));
        out.into_iter().collect()
    }

    fn node() -> impl Strategy<Value = Value> {
        let words = schema_words();
        let word = proptest::sample::select(words);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-3i64..300).prop_map(|n| Value::Number(n.into())),
            Just(Value::Number(1.5.into())),
            Just(Value::Number(u64::MAX.into())),
            word.clone().prop_map(Value::String),
            Just(Value::String("+15551234567".into())),
        ];
        leaf.prop_recursive(4, 40, 5, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Sequence),
                proptest::collection::vec((word.clone(), inner.clone()), 0..5).prop_map(|kv| {
                    Value::Mapping(kv.into_iter().map(|(k, v)| (Value::String(k), v)).collect())
                }),
                (word.clone(), inner).prop_map(|(tag, v)| {
                    Value::Tagged(Box::new(serde_yaml_ng::value::TaggedValue {
                        tag: serde_yaml_ng::value::Tag::new(tag),
                        value: v,
                    }))
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn reads_like_serde_yaml_on_random_nodes(v in node()) {
            every_type(&v);
        }
    }
}
