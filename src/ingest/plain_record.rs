//! The usual spelling of a native record, read by hand in one forward pass.
//!
//! Almost every record a runtime posts is a flat object of known keys, each once, with strings
//! that hold no escape and numbers for quantities. For those this reader yields the same
//! [`WireRecord`] the strict serde path does, at a fraction of its cost (that path wraps every
//! visitor to catch repeated keys, and it ran once per record ingested). Anything else — an
//! escape, a repeated or unknown key, a missing field, a nested value, a `null` where a string
//! is required — makes it give up, and the strict path reads the record and words the error.
//! So it needs to be right only about what it accepts, which `tests` check against that path.
//!
//! It reads a whole body the same way (`read_body`): when every record of it is spelled the
//! usual way, the body is never split into raw records first (serde's validating pass over it).
//! It trusts no earlier validation: every token it accepts is checked against the JSON
//! grammar here.

use std::borrow::Cow;

use super::quantity::JsonText;
use super::record::WireRecord;

/// The record, or `None` when it is spelled in a way only the strict path reads.
pub(super) fn read(raw: &str) -> Option<WireRecord<'_>> {
    let mut cursor = Cursor { text: raw.as_bytes(), raw, at: 0 };
    let record = cursor.record()?;
    cursor.at_end().then_some(record)
}

/// A whole `POST /v1/usage` body — one record, or `{"records": [...]}` — when every record in
/// it is spelled the usual way; `None` otherwise, and the body goes through the split and the
/// per-record path. Accepted, the body is valid JSON (every token was checked), so what the
/// split would have refused as a body never gets here.
pub(super) fn read_body(body: &[u8]) -> Option<Vec<WireRecord<'_>>> {
    let raw = std::str::from_utf8(body).ok()?;
    let mut cursor = Cursor { text: body, raw, at: 0 };
    match cursor.records() {
        Some(records) if cursor.at_end() => Some(records),
        _ => read(raw).map(|record| vec![record]),
    }
}

impl<'a> Cursor<'a> {
    /// `{"records": [record, ...]}`, the only key.
    fn records(&mut self) -> Option<Vec<WireRecord<'a>>> {
        self.expect(b'{')?;
        (self.plain_string()? == "records").then_some(())?;
        self.expect(b':')?;
        self.expect(b'[')?;
        let mut records = Vec::new();
        self.skip_whitespace();
        if self.text.get(self.at) == Some(&b']') {
            self.at += 1;
        } else {
            loop {
                records.push(self.record()?);
                match self.next_byte()? {
                    b',' => continue,
                    b']' => break,
                    _ => return None,
                }
            }
        }
        self.expect(b'}')?;
        Some(records)
    }

    /// One record object, from its `{` to its `}`.
    fn record(&mut self) -> Option<WireRecord<'a>> {
        let mut seen = 0u8;
        let mut record = Fields::default();
        self.expect(b'{')?;
        loop {
            let key = self.plain_string()?;
            self.expect(b':')?;
            let field = Field::named(key)?;
            if seen & field.bit() != 0 {
                return None;
            }
            seen |= field.bit();
            match field {
                Field::Id => record.id = Some(self.plain_string()?),
                Field::TenantId => record.tenant_id = Some(self.plain_string()?),
                Field::Timestamp => record.timestamp = Some(self.plain_string()?),
                Field::Function => record.function = self.nullable(Cursor::plain_string)?,
                Field::Region => record.region = self.nullable(Cursor::plain_string)?,
                Field::CpuCycles => record.cpu_cycles = self.nullable(Cursor::quantity)?,
                Field::MemoryGbSeconds => record.memory_gb_seconds = self.nullable(Cursor::quantity)?,
                Field::Invocations => record.invocations = self.nullable(Cursor::quantity)?,
            }
            match self.next_byte()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
        Some(WireRecord {
            id: Cow::Borrowed(record.id?),
            tenant_id: Cow::Borrowed(record.tenant_id?),
            timestamp: Cow::Borrowed(record.timestamp?),
            function: record.function.map(str::to_owned),
            region: record.region.map(str::to_owned),
            cpu_cycles: record.cpu_cycles.map(JsonText),
            memory_gb_seconds: record.memory_gb_seconds.map(JsonText),
            invocations: record.invocations.map(JsonText),
        })
    }

    /// Nothing but whitespace is left.
    fn at_end(&mut self) -> bool {
        self.skip_whitespace();
        self.at == self.text.len()
    }
}

/// What has been read so far, still borrowed from the text.
#[derive(Default)]
struct Fields<'a> {
    id: Option<&'a str>,
    tenant_id: Option<&'a str>,
    timestamp: Option<&'a str>,
    function: Option<&'a str>,
    region: Option<&'a str>,
    cpu_cycles: Option<&'a str>,
    memory_gb_seconds: Option<&'a str>,
    invocations: Option<&'a str>,
}

/// The keys of a native record (`WireRecord`'s fields, which refuse any other).
#[derive(Clone, Copy)]
enum Field {
    Id,
    TenantId,
    Timestamp,
    Function,
    Region,
    CpuCycles,
    MemoryGbSeconds,
    Invocations,
}

impl Field {
    fn named(key: &str) -> Option<Self> {
        Some(match key {
            "id" => Self::Id,
            "tenant_id" => Self::TenantId,
            "timestamp" => Self::Timestamp,
            "function" => Self::Function,
            "region" => Self::Region,
            "cpu_cycles" => Self::CpuCycles,
            "memory_gb_seconds" => Self::MemoryGbSeconds,
            "invocations" => Self::Invocations,
            _ => return None,
        })
    }

    /// Its bit in the set of keys seen.
    fn bit(self) -> u8 {
        1 << self as u8
    }
}

struct Cursor<'a> {
    text: &'a [u8],
    /// The same text as `str`, to hand out slices of it (cut at ASCII bytes only, so always
    /// on character boundaries).
    raw: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn skip_whitespace(&mut self) {
        while matches!(self.text.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// The next byte after whitespace, consumed.
    fn next_byte(&mut self) -> Option<u8> {
        self.skip_whitespace();
        let byte = *self.text.get(self.at)?;
        self.at += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next_byte()? == byte).then_some(())
    }

    /// The content of a string holding no escape and no control character (which JSON
    /// forbids unescaped).
    fn plain_string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.at;
        loop {
            match *self.text.get(self.at)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
        self.at += 1;
        Some(&self.raw[start..self.at - 1])
    }

    /// `None` for JSON `null` (an absent optional field, as serde reads it), else `read`.
    fn nullable(&mut self, read: fn(&mut Self) -> Option<&'a str>) -> Option<Option<&'a str>> {
        self.skip_whitespace();
        if self.text[self.at..].starts_with(b"null") {
            self.at += 4;
            return Some(None);
        }
        read(self).map(Some)
    }

    /// A quantity's JSON text: a number as written, or a plain string with its quotes.
    fn quantity(&mut self) -> Option<&'a str> {
        self.skip_whitespace();
        let start = self.at;
        match *self.text.get(self.at)? {
            b'"' => {
                self.plain_string()?;
            }
            b'-' | b'0'..=b'9' => self.number()?,
            _ => return None,
        }
        Some(&self.raw[start..self.at])
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, JSON's number grammar.
    fn number(&mut self) -> Option<()> {
        if self.text.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        match *self.text.get(self.at)? {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.text.get(self.at) == Some(&b'.') {
            self.at += 1;
            self.at_least_one_digit()?;
        }
        if matches!(self.text.get(self.at), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.text.get(self.at), Some(b'+' | b'-')) {
                self.at += 1;
            }
            self.at_least_one_digit()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while self.text.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
    }

    fn at_least_one_digit(&mut self) -> Option<()> {
        let start = self.at;
        self.digits();
        (self.at > start).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::http::strict_from_str;

    /// What the strict path reads, or `None` where it refuses the record.
    fn strict(raw: &str) -> Option<WireRecord<'_>> {
        strict_from_str(raw).ok()
    }

    /// Accepted means read exactly as the strict path reads it.
    fn agrees(raw: &str) -> bool {
        match read(raw) {
            Some(fast) => strict(raw).is_some_and(|slow| slow == fast),
            None => true,
        }
    }

    const USUAL: &str = r#"{"id":"r-1","tenant_id":"acme","timestamp":"2026-11-27T11:00:00Z","function":"fn-01","region":"eu-west-1","cpu_cycles":1500000,"memory_gb_seconds":"0.125","invocations":1}"#;

    #[test]
    fn the_usual_record_is_read_by_hand_as_the_strict_path_reads_it() {
        let fast = read(USUAL).expect("the usual spelling is read by hand");
        assert_eq!(Some(&fast), strict(USUAL).as_ref());
        assert_eq!(fast.cpu_cycles, Some(JsonText("1500000")));
        assert_eq!(fast.memory_gb_seconds, Some(JsonText("\"0.125\"")));
    }

    #[test]
    fn spacing_nulls_and_every_number_form_are_read_by_hand() {
        let accepted = [
            " {\n \"id\" : \"r\" ,\t\"tenant_id\":\"acme\",\"timestamp\":\"t\",\"invocations\":1 }\r\n",
            r#"{"invocations":-0,"id":"r","tenant_id":"acme","timestamp":"t"}"#,
            r#"{"id":"r","tenant_id":"acme","timestamp":"t","function":null,"region":null,"cpu_cycles":null}"#,
            r#"{"id":"r","tenant_id":"acme","timestamp":"t","cpu_cycles":1.5e+3,"memory_gb_seconds":0.25E-1}"#,
            r#"{"id":"r","tenant_id":"acmé","timestamp":"t","function":"ƒn 🚀","invocations":"12"}"#,
        ];
        for raw in accepted {
            assert!(read(raw).is_some(), "read by hand: {raw}");
            assert!(agrees(raw), "as the strict path reads it: {raw}");
        }
    }

    /// Each of these is left to the strict path, which reads or refuses it and says why.
    #[test]
    fn anything_unusual_is_left_to_the_strict_path() {
        let cases = [
            (r#"{"id":"r\u0031","tenant_id":"acme","timestamp":"t"}"#, "an escape in a string"),
            (r#"{"id":"r","tenant_id":"acme","timestamp":"t","id":"s"}"#, "a repeated key"),
            (r#"{"id":"r","tenant_id":"acme","timestamp":"t","cpu":1}"#, "an unknown key"),
            (r#"{"id":"r","tenant_id":"acme"}"#, "a missing field"),
            (r#"{"id":null,"tenant_id":"acme","timestamp":"t"}"#, "null for a required string"),
            (r#"{"id":"r","tenant_id":"acme","timestamp":"t","invocations":true}"#, "a boolean quantity"),
            (r#"{"id":"r","tenant_id":"acme","timestamp":"t","invocations":[1]}"#, "a nested quantity"),
            (r#"{"id":"r","tenant_id":"acme","timestamp":"t","invocations":01}"#, "a leading zero"),
            (r#"{"id":"r","tenant_id":"acme","timestamp":"t","invocations":1.}"#, "a bare decimal point"),
            (r#"{"id":"r","tenant_id":"acme","timestamp":"t","invocations":1e}"#, "an empty exponent"),
            (r#"{"id":"r","tenant_id":"acme","timestamp":"t","invocations":nul}"#, "a broken null"),
            (r#"{"id":"r","tenant_id":"acme","timestamp":"t",}"#, "a trailing comma"),
            (r#"{"id":"r","tenant_id":"acme","timestamp":"t"} x"#, "text after the object"),
            (r#"{"id":"r","tenant_id":"acme","timestamp":"t""#, "an unclosed object"),
            ("{\"id\":\"r\tr\",\"tenant_id\":\"acme\",\"timestamp\":\"t\"}", "a raw control character"),
            ("{}", "an empty object"),
            ("[1]", "not an object"),
            ("", "nothing"),
        ];
        for (raw, why) in cases {
            assert!(read(raw).is_none(), "{why} must be left to the strict path: {raw}");
        }
    }

    /// Pieces a record may be built of: the usual ones, and spellings near the edge of what
    /// the hand reader takes.
    fn piece() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just("id"),
            Just("tenant_id"),
            Just("timestamp"),
            Just("function"),
            Just("region"),
            Just("cpu_cycles"),
            Just("memory_gb_seconds"),
            Just("invocations"),
            Just("cpu"),
            Just("i\\u0064"),
        ];
        let value = prop_oneof![
            "\"[a-z0-9 é\\\\\"\t-]{0,6}\"",
            "-?[0-9]{0,3}(\\.[0-9]{0,2})?([eE][+-]?[0-9]{0,2})?",
            Just("null".to_owned()),
            Just("nul".to_owned()),
            Just("true".to_owned()),
            Just("[1]".to_owned()),
            Just("{}".to_owned()),
        ];
        (key, "[ \t\n]{0,1}", value).prop_map(|(k, space, v)| format!("\"{k}\"{space}:{space}{v}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// Whatever it is given, what the hand reader accepts is what the strict path reads.
        #[test]
        fn what_is_read_by_hand_is_what_the_strict_path_reads(
            pieces in prop::collection::vec(piece(), 0..10),
            trailer in prop_oneof![Just(""), Just(" "), Just(","), Just("x")],
        ) {
            let raw = format!("{{{}}}{trailer}", pieces.join(","));
            prop_assert!(agrees(&raw), "{}", raw);
        }

        /// Records of the usual keys with random values: many are read by hand, all agree.
        #[test]
        fn usual_records_agree(
            id in "[a-z0-9-]{1,8}",
            cpu in "(0|[1-9][0-9]{0,12})(\\.[0-9]{1,3})?",
            memory in "\"[0-9]{1,3}\\.[0-9]{1,3}\"",
            drop_function in any::<bool>(),
        ) {
            let function = if drop_function { String::new() } else { ",\"function\":\"fn\"".to_owned() };
            let raw = format!(
                "{{\"id\":\"{id}\",\"tenant_id\":\"acme\",\"timestamp\":\"t\"{function},\"cpu_cycles\":{cpu},\"memory_gb_seconds\":{memory}}}"
            );
            prop_assert!(read(&raw).is_some(), "{}", raw);
            prop_assert!(agrees(&raw), "{}", raw);
        }
    }
}
