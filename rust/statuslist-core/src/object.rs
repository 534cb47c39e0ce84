//! The `status_list` object in its JSON (spec §4.2) and CBOR (spec §4.3) forms, and base64url
//! without padding (spec §3, RFC 7515 §2).
//!
//! Unknown members are ignored when parsing (spec §4.2 no longer requires "at least" these
//! members); duplicate members, wrong types and a `bits` outside {1, 2, 4, 8} are errors.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use minicbor::data::Type;

use crate::error::{Error, Result};
use crate::list::{check_bits, StatusList};

/// A `status_list` object: `bits`, the compressed byte array and an optional aggregation URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusListObject {
    pub bits: u8,
    /// The zlib-compressed byte array (raw bytes, not base64).
    pub lst: Vec<u8>,
    pub aggregation_uri: Option<String>,
}

/// base64url without padding.
#[must_use]
pub fn b64url_encode(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Strict base64url decoding: no padding, no standard-alphabet characters, no stray bits.
pub fn b64url_decode(text: &str) -> Result<Vec<u8>> {
    if text.contains('=') {
        return Err(Error::MalformedBase64(
            "padding '=' is not allowed (base64url without padding)".into(),
        ));
    }
    if let Some(bad) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(Error::MalformedBase64(format!(
            "character {bad:?} is not in the base64url alphabet"
        )));
    }
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| Error::MalformedBase64(e.to_string()))
}

/// The members of a JSON object in document order, duplicates kept (a `serde_json` map would
/// silently keep only the last).
pub(crate) struct Members<V = serde_json::Value>(Vec<(String, V)>);

impl<V> Members<V> {
    pub(crate) fn duplicate(&self) -> Option<&str> {
        let mut seen = std::collections::HashSet::new();
        self.0
            .iter()
            .map(|(k, _)| k.as_str())
            .find(|k| !seen.insert(*k))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&V> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

impl<'de, V: serde::Deserialize<'de>> serde::Deserialize<'de> for Members<V> {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> std::result::Result<Self, D::Error> {
        struct Entries<V>(std::marker::PhantomData<V>);
        impl<'de, V: serde::Deserialize<'de>> serde::de::Visitor<'de> for Entries<V> {
            type Value = Members<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Members<V>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, V>()? {
                    entries.push(entry);
                }
                Ok(Members(entries))
            }
        }
        de.deserialize_map(Entries(std::marker::PhantomData))
    }
}

fn malformed(msg: impl Into<String>) -> Error {
    Error::MalformedObject(msg.into())
}

impl StatusListObject {
    /// Compresses `list` into an object.
    pub fn from_list(list: &mut StatusList, aggregation_uri: Option<String>) -> Self {
        Self {
            bits: list.bits(),
            lst: list.encode(),
            aggregation_uri,
        }
    }

    /// Inflates `lst` (at most `max_bytes` bytes) into a list.
    pub fn to_list(&self, max_bytes: usize) -> Result<StatusList> {
        StatusList::decode(&self.lst, u64::from(self.bits), max_bytes)
    }

    /// The JSON object of spec §4.2, members in the order `bits`, `lst`, `aggregation_uri`.
    #[must_use]
    pub fn to_json(&self) -> String {
        let lst = b64url_encode(&self.lst);
        let mut out = String::with_capacity(lst.len() + 64);
        out.push_str("{\"bits\":");
        out.push_str(&self.bits.to_string());
        out.push_str(",\"lst\":\"");
        out.push_str(&lst);
        out.push('"');
        if let Some(uri) = &self.aggregation_uri {
            out.push_str(",\"aggregation_uri\":");
            out.push_str(&serde_json::Value::String(uri.clone()).to_string());
        }
        out.push('}');
        out
    }

    /// Parses the JSON object of spec §4.2.
    pub fn from_json(text: &str) -> Result<Self> {
        let members: Members = serde_json::from_str(text).map_err(|e| {
            if e.is_data() {
                malformed("status_list must be a JSON object")
            } else {
                malformed(format!("not valid JSON: {e}"))
            }
        })?;
        // serde_json maps keep the last of duplicate members; the spec's object has none, and a
        // second "bits" or "lst" could make two parsers read different lists, so refuse them.
        if let Some(dup) = members.duplicate() {
            return Err(malformed(format!("duplicate member {dup:?}")));
        }
        let bits = match members.get("bits") {
            None => return Err(malformed("missing required member \"bits\"")),
            Some(v) => v
                .as_i64()
                .ok_or_else(|| malformed("\"bits\" must be an integer"))?,
        };
        let bits = check_bits(bits)?;
        let lst = match members.get("lst") {
            None => return Err(malformed("missing required member \"lst\"")),
            Some(v) => v
                .as_str()
                .ok_or_else(|| malformed("\"lst\" must be a string"))?,
        };
        let aggregation_uri = match members.get("aggregation_uri") {
            None => None,
            Some(v) => Some(
                v.as_str()
                    .ok_or_else(|| malformed("\"aggregation_uri\" must be a string"))?
                    .to_owned(),
            ),
        };
        Ok(Self {
            bits,
            lst: b64url_decode(lst)?,
            aggregation_uri,
        })
    }

    /// The CBOR map of spec §4.3 (text keys, `lst` a byte string), shortest-form encoding.
    #[must_use]
    pub fn to_cbor(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.lst.len() + 64);
        let mut e = minicbor::Encoder::new(&mut out);
        let entries = if self.aggregation_uri.is_some() { 3 } else { 2 };
        // Writing into a Vec cannot fail.
        let _ = e
            .map(entries)
            .and_then(|e| e.str("bits"))
            .and_then(|e| e.u8(self.bits));
        let _ = e.str("lst").and_then(|e| e.bytes(&self.lst));
        if let Some(uri) = &self.aggregation_uri {
            let _ = e.str("aggregation_uri").and_then(|e| e.str(uri));
        }
        out
    }

    /// Parses the CBOR map of spec §4.3.
    pub fn from_cbor(data: &[u8]) -> Result<Self> {
        let cbor = |e: minicbor::decode::Error| malformed(format!("invalid CBOR: {e}"));
        let mut d = minicbor::Decoder::new(data);
        if !matches!(d.datatype().map_err(cbor)?, Type::Map | Type::MapIndef) {
            return Err(malformed("status_list must be a CBOR map"));
        }
        let entries = d.map().map_err(cbor)?;
        let (mut bits, mut lst, mut uri) = (None, None, None);
        let mut seen = 0u64;
        loop {
            match entries {
                Some(n) if seen == n => break,
                None if d.datatype().map_err(cbor)? == Type::Break => {
                    d.skip().map_err(cbor)?;
                    break;
                }
                _ => {}
            }
            seen += 1;
            if d.datatype().map_err(cbor)? != Type::String {
                return Err(malformed("map keys must be text strings (spec §4.3)"));
            }
            let key = d.str().map_err(cbor)?;
            let duplicate = || malformed(format!("duplicate member {key:?}"));
            match key {
                "bits" => {
                    if !matches!(
                        d.datatype().map_err(cbor)?,
                        Type::U8
                            | Type::U16
                            | Type::U32
                            | Type::U64
                            | Type::I8
                            | Type::I16
                            | Type::I32
                            | Type::I64
                            | Type::Int
                    ) {
                        return Err(malformed("\"bits\" must be an integer"));
                    }
                    let b = check_bits(i128::from(d.int().map_err(cbor)?))?;
                    if bits.replace(b).is_some() {
                        return Err(duplicate());
                    }
                }
                "lst" => {
                    let value = match d.datatype().map_err(cbor)? {
                        Type::Bytes => d.bytes().map_err(cbor)?.to_vec(),
                        Type::BytesIndef => {
                            let mut joined = Vec::new();
                            for chunk in d.bytes_iter().map_err(cbor)? {
                                joined.extend_from_slice(chunk.map_err(cbor)?);
                            }
                            joined
                        }
                        Type::String | Type::StringIndef => {
                            return Err(malformed(
                                "\"lst\" must be a byte string (spec §4.3), not base64 text",
                            ))
                        }
                        other => {
                            return Err(malformed(format!(
                                "\"lst\" must be a byte string (spec §4.3), got {other}"
                            )))
                        }
                    };
                    if lst.replace(value).is_some() {
                        return Err(duplicate());
                    }
                }
                "aggregation_uri" => {
                    if d.datatype().map_err(cbor)? != Type::String {
                        return Err(malformed("\"aggregation_uri\" must be a text string"));
                    }
                    if uri.replace(d.str().map_err(cbor)?.to_owned()).is_some() {
                        return Err(duplicate());
                    }
                }
                _ => d.skip().map_err(cbor)?,
            }
        }
        if d.position() != data.len() {
            return Err(malformed(format!(
                "{} trailing bytes after the CBOR map",
                data.len() - d.position()
            )));
        }
        Ok(Self {
            bits: bits.ok_or_else(|| malformed("missing required member \"bits\""))?,
            lst: lst.ok_or_else(|| malformed("missing required member \"lst\""))?,
            aggregation_uri: uri,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn spec_example_round_trips() {
        let cbor = hex("a2646269747301636c73744a78dadbb918000217015d");
        let obj = StatusListObject::from_cbor(&cbor).unwrap();
        assert_eq!(obj.to_cbor(), cbor);
        assert_eq!(obj.to_json(), r#"{"bits":1,"lst":"eNrbuRgAAhcBXQ"}"#);
        assert_eq!(StatusListObject::from_json(&obj.to_json()).unwrap(), obj);
        assert_eq!(obj.to_list(1024).unwrap().as_bytes(), &[0xb9, 0xa3]);
    }

    #[test]
    fn base64_is_strict() {
        assert!(b64url_decode("eNrbuRgAAhcBXQ==").is_err());
        assert!(b64url_decode("eNrb+RgA").is_err());
        assert!(b64url_decode("eNrb/RgA").is_err());
        assert_eq!(b64url_decode("-_8").unwrap(), vec![0xfb, 0xff]);
    }

    #[test]
    fn cbor_shape_errors() {
        // lst as text
        let text_lst = hex("a2646269747301636c737463616263");
        assert!(StatusListObject::from_cbor(&text_lst)
            .unwrap_err()
            .to_string()
            .contains("byte string"));
        // integer keys
        assert!(StatusListObject::from_cbor(&hex("a201010243616263")).is_err());
        // not a map
        assert!(StatusListObject::from_cbor(&hex("80")).is_err());
        // truncated
        assert!(StatusListObject::from_cbor(&hex("a26462697473")).is_err());
    }
}

/// Mutated inputs never panic: every decoder returns a value or an error.
#[cfg(test)]
mod robustness {
    use super::StatusListObject;
    use crate::{zlib::inflate, StatusList};

    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    #[test]
    fn mutated_streams_and_objects_never_panic() {
        let mut list = StatusList::new(200_000, 2).unwrap();
        for i in (0..200_000).step_by(97) {
            list.set(i, i % 4).unwrap();
        }
        let object = StatusListObject::from_list(&mut list, Some("https://a.example/agg".into()));
        let seeds = [
            list.encode(),
            object.to_cbor(),
            object.to_json().into_bytes(),
        ];
        let mut rng = 0x9e37_79b9_7f4a_7c15_u64;
        for round in 0..3000 {
            let mut data = seeds[round % 3].clone();
            for _ in 0..=xorshift(&mut rng) % 4 {
                let pos = (xorshift(&mut rng) as usize) % data.len();
                match xorshift(&mut rng) % 3 {
                    0 => data[pos] ^= 1 << (xorshift(&mut rng) % 8),
                    1 => data.truncate(pos.max(1)),
                    _ => data.insert(pos, xorshift(&mut rng) as u8),
                }
            }
            let _ = inflate(&data, 1 << 20);
            let _ = StatusListObject::from_cbor(&data).and_then(|o| o.to_list(1 << 20));
            if let Ok(text) = std::str::from_utf8(&data) {
                let _ = StatusListObject::from_json(text).and_then(|o| o.to_list(1 << 20));
            }
        }
    }
}
