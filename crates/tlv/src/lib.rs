//! BER-TLV codec (ITU-T X.690 §8.1, ISO/IEC 7816-4 §5.2), sans-I/O.
//!
//! * [`Tag`]: identifier octets, single or multi-byte (up to 4 bytes).
//! * [`Tlv`]: one decoded data object, borrowing its value and raw encoding.
//! * [`Reader`]: a cursor over the contents of a constructed value, for hand-written decoders.
//! * [`Writer`]: an encoder that nests constructed values.
//! * [`der`]: value codecs for the universal types SGP.22 and SAIP use (INTEGER, BOOLEAN, ...).
//!
//! Decoding accepts every definite length form (short, and long with 1 to 4 length octets,
//! minimal or not, as BER allows) and rejects the indefinite form. Encoding always writes the
//! minimal (DER) length. No input can make the decoder panic.

pub mod bcd;
pub mod compact;
pub mod der;

use std::fmt;

/// Longest length we accept: 4 length octets (`84 xx xx xx xx`).
const MAX_LENGTH_OCTETS: usize = 4;
/// Longest tag we accept: 4 identifier octets.
const MAX_TAG_OCTETS: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("TLV truncated: {0}")]
    Truncated(&'static str),
    #[error("indefinite length form is not allowed")]
    IndefiniteLength,
    #[error("length field longer than {MAX_LENGTH_OCTETS} octets")]
    LengthTooLong,
    #[error("tag longer than {MAX_TAG_OCTETS} octets or not minimally encoded")]
    BadTag,
    #[error("expected tag {expected}, found {found}")]
    UnexpectedTag { expected: Tag, found: Tag },
    #[error("missing mandatory tag {0}")]
    MissingTag(Tag),
    #[error("unexpected data after the last expected element (tag {0})")]
    TrailingData(Tag),
    #[error("{0} bytes of trailing data")]
    TrailingBytes(usize),
    #[error("invalid value for {0}")]
    InvalidValue(&'static str),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Tag class (X.690 §8.1.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Universal,
    Application,
    Context,
    Private,
}

/// A BER tag: its identifier octets packed big-endian into a `u32`, e.g. `Tag(0xBF2E)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u32);

impl Tag {
    pub const SEQUENCE: Tag = Tag(0x30);
    pub const SET: Tag = Tag(0x31);
    pub const INTEGER: Tag = Tag(0x02);
    pub const BOOLEAN: Tag = Tag(0x01);
    pub const BIT_STRING: Tag = Tag(0x03);
    pub const OCTET_STRING: Tag = Tag(0x04);
    pub const NULL: Tag = Tag(0x05);
    pub const OID: Tag = Tag(0x06);
    pub const ENUMERATED: Tag = Tag(0x0A);
    pub const UTF8_STRING: Tag = Tag(0x0C);

    /// Builds the tag for `class`/`constructed`/`number`, choosing the low or high tag number form.
    pub const fn new(class: Class, constructed: bool, number: u32) -> Tag {
        let class_bits: u32 = match class {
            Class::Universal => 0x00,
            Class::Application => 0x40,
            Class::Context => 0x80,
            Class::Private => 0xC0,
        };
        let first = class_bits | if constructed { 0x20 } else { 0 };
        if number < 31 {
            return Tag(first | number);
        }
        // High tag number form: base-128 digits, continuation bit on all but the last.
        let mut packed = first | 0x1F;
        let mut digits = 0;
        let mut n = number;
        while n > 0 {
            digits += 1;
            n >>= 7;
        }
        let mut i = digits;
        while i > 0 {
            i -= 1;
            let d = (number >> (7 * i)) & 0x7F;
            packed = (packed << 8) | d | if i > 0 { 0x80 } else { 0 };
        }
        Tag(packed)
    }

    /// `[n]` context-specific tag, primitive.
    pub const fn context(number: u32) -> Tag {
        Tag::new(Class::Context, false, number)
    }
    /// `[n]` context-specific tag, constructed.
    pub const fn context_constructed(number: u32) -> Tag {
        Tag::new(Class::Context, true, number)
    }
    /// `[APPLICATION n]`, primitive.
    pub const fn application(number: u32) -> Tag {
        Tag::new(Class::Application, false, number)
    }
    /// `[APPLICATION n]`, constructed.
    pub const fn application_constructed(number: u32) -> Tag {
        Tag::new(Class::Application, true, number)
    }

    /// Number of identifier octets.
    pub const fn len(self) -> usize {
        if self.0 > 0xFF_FFFF {
            4
        } else if self.0 > 0xFFFF {
            3
        } else if self.0 > 0xFF {
            2
        } else {
            1
        }
    }

    fn first_octet(self) -> u8 {
        (self.0 >> (8 * (self.len() - 1))) as u8
    }

    pub fn class(self) -> Class {
        match self.first_octet() >> 6 {
            0 => Class::Universal,
            1 => Class::Application,
            2 => Class::Context,
            _ => Class::Private,
        }
    }

    pub fn is_constructed(self) -> bool {
        self.first_octet() & 0x20 != 0
    }

    /// The tag number within its class.
    pub fn number(self) -> u32 {
        let first = self.first_octet();
        if first & 0x1F != 0x1F {
            return (first & 0x1F) as u32;
        }
        let mut n = 0u32;
        for i in (0..self.len() - 1).rev() {
            n = (n << 7) | ((self.0 >> (8 * i)) & 0x7F);
        }
        n
    }

    pub fn write(self, out: &mut Vec<u8>) {
        for i in (0..self.len()).rev() {
            out.push((self.0 >> (8 * i)) as u8);
        }
    }

    /// Decodes identifier octets at the start of `input`; returns the tag and its length.
    pub fn parse(input: &[u8]) -> Result<(Tag, usize)> {
        let first = *input.first().ok_or(Error::Truncated("tag"))?;
        if first & 0x1F != 0x1F {
            return Ok((Tag(first as u32), 1));
        }
        let mut packed = first as u32;
        let mut i = 1;
        loop {
            let b = *input.get(i).ok_or(Error::Truncated("tag"))?;
            // X.690 §8.1.2.4.2 c: the first subsequent octet may not be 0x80.
            if i == 1 && b == 0x80 {
                return Err(Error::BadTag);
            }
            packed = (packed << 8) | b as u32;
            i += 1;
            if b & 0x80 == 0 {
                return Ok((Tag(packed), i));
            }
            if i >= MAX_TAG_OCTETS {
                return Err(Error::BadTag);
            }
        }
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0width$X}", self.0, width = self.len() * 2)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({self})")
    }
}

/// Decodes a length field; returns the value length and the number of length octets.
pub fn parse_length(input: &[u8]) -> Result<(usize, usize)> {
    let first = *input.first().ok_or(Error::Truncated("length"))?;
    match first {
        0x00..=0x7F => Ok((first as usize, 1)),
        0x80 => Err(Error::IndefiniteLength),
        _ => {
            let n = (first & 0x7F) as usize;
            if n > MAX_LENGTH_OCTETS {
                return Err(Error::LengthTooLong);
            }
            let octets = input.get(1..1 + n).ok_or(Error::Truncated("length"))?;
            let len = octets
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | b as usize);
            Ok((len, 1 + n))
        }
    }
}

/// Appends the minimal (DER) encoding of `len`.
pub fn write_length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let bytes = (len as u64).to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    out.push(0x80 | (8 - skip) as u8);
    out.extend_from_slice(&bytes[skip..]);
}

/// Size of the encoded header for a value of `len` bytes under `tag`.
pub fn header_len(tag: Tag, len: usize) -> usize {
    let len_octets = if len < 0x80 {
        1
    } else {
        1 + (usize::BITS as usize / 8 - len.leading_zeros() as usize / 8)
    };
    tag.len() + len_octets
}

/// Appends `tag || length || value`.
pub fn write_tlv(tag: Tag, value: &[u8], out: &mut Vec<u8>) {
    tag.write(out);
    write_length(value.len(), out);
    out.extend_from_slice(value);
}

/// Encodes one TLV into a fresh vector.
pub fn encode_tlv(tag: Tag, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header_len(tag, value.len()) + value.len());
    write_tlv(tag, value, &mut out);
    out
}

/// One decoded data object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    pub tag: Tag,
    /// The contents octets.
    pub value: &'a [u8],
    /// The whole encoding: tag, length and value, exactly as received.
    pub raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    /// Decodes the first data object of `input`; returns it and the remaining bytes.
    pub fn parse(input: &'a [u8]) -> Result<(Tlv<'a>, &'a [u8])> {
        let (tag, tag_len) = Tag::parse(input)?;
        let (len, len_len) = parse_length(&input[tag_len..])?;
        let start = tag_len + len_len;
        let end = start.checked_add(len).ok_or(Error::Truncated("value"))?;
        if end > input.len() {
            return Err(Error::Truncated("value"));
        }
        let tlv = Tlv {
            tag,
            value: &input[start..end],
            raw: &input[..end],
        };
        Ok((tlv, &input[end..]))
    }

    /// Decodes `input` as exactly one data object.
    pub fn parse_single(input: &'a [u8]) -> Result<Tlv<'a>> {
        let (tlv, rest) = Tlv::parse(input)?;
        if !rest.is_empty() {
            return Err(Error::TrailingBytes(rest.len()));
        }
        Ok(tlv)
    }

    /// Decodes `input` as exactly one data object with tag `tag`.
    pub fn parse_expecting(input: &'a [u8], tag: Tag) -> Result<Tlv<'a>> {
        let tlv = Tlv::parse_single(input)?;
        tlv.expect_tag(tag)?;
        Ok(tlv)
    }

    pub fn expect_tag(&self, tag: Tag) -> Result<()> {
        if self.tag != tag {
            return Err(Error::UnexpectedTag {
                expected: tag,
                found: self.tag,
            });
        }
        Ok(())
    }

    /// A reader over the contents of this (constructed) object.
    pub fn reader(&self) -> Reader<'a> {
        Reader::new(self.value)
    }
}

/// Iterates over consecutive data objects in `input`.
pub fn iter(input: &[u8]) -> Iter<'_> {
    Iter { rest: input }
}

pub struct Iter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Iter<'a> {
    type Item = Result<Tlv<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match Tlv::parse(self.rest) {
            Ok((tlv, rest)) => {
                self.rest = rest;
                Some(Ok(tlv))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Depth-first search for the first object with `tag` among `input`'s objects and, recursively,
/// inside their constructed values.
pub fn find(input: &[u8], tag: Tag) -> Result<Option<Tlv<'_>>> {
    for tlv in iter(input) {
        let tlv = tlv?;
        if tlv.tag == tag {
            return Ok(Some(tlv));
        }
        if tlv.tag.is_constructed() {
            if let Some(found) = find(tlv.value, tag)? {
                return Ok(Some(found));
            }
        }
    }
    Ok(None)
}

/// A cursor over the contents of a constructed value, for decoding a SEQUENCE in order.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(contents: &'a [u8]) -> Self {
        Reader { rest: contents }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The bytes not yet consumed.
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    /// The tag of the next object, if any.
    pub fn peek_tag(&self) -> Result<Option<Tag>> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        Tag::parse(self.rest).map(|(t, _)| Some(t))
    }

    /// The next object, whatever its tag.
    pub fn next(&mut self) -> Result<Option<Tlv<'a>>> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let (tlv, rest) = Tlv::parse(self.rest)?;
        self.rest = rest;
        Ok(Some(tlv))
    }

    /// The next object, which must carry `tag`.
    pub fn expect(&mut self, tag: Tag) -> Result<Tlv<'a>> {
        match self.optional(tag)? {
            Some(tlv) => Ok(tlv),
            None => match self.peek_tag()? {
                Some(found) => Err(Error::UnexpectedTag {
                    expected: tag,
                    found,
                }),
                None => Err(Error::MissingTag(tag)),
            },
        }
    }

    /// The next object if it carries `tag`; otherwise nothing is consumed.
    pub fn optional(&mut self, tag: Tag) -> Result<Option<Tlv<'a>>> {
        if self.peek_tag()? == Some(tag) {
            self.next()
        } else {
            Ok(None)
        }
    }

    /// Skips objects until the next one with `tag` (used to step over unknown extension
    /// fields that later versions of a specification add).
    pub fn skip_to(&mut self, tag: Tag) -> Result<Option<Tlv<'a>>> {
        while let Some(t) = self.peek_tag()? {
            if t == tag {
                return self.next();
            }
            self.next()?;
        }
        Ok(None)
    }

    /// Fails unless every byte has been consumed.
    pub fn finish(self) -> Result<()> {
        match self.peek_tag()? {
            None => Ok(()),
            Some(tag) => Err(Error::TrailingData(tag)),
        }
    }

    /// Consumes whatever is left (extension fields after the ones this version knows).
    pub fn finish_lenient(self) -> Result<()> {
        for tlv in iter(self.rest) {
            tlv?;
        }
        Ok(())
    }
}

/// An encoder. Constructed values are written by [`Writer::nested`].
#[derive(Debug, Default, Clone)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Writer::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        Writer {
            buf: Vec::with_capacity(n),
        }
    }

    /// Appends a primitive (or pre-encoded constructed) object.
    pub fn put(&mut self, tag: Tag, value: &[u8]) -> &mut Self {
        write_tlv(tag, value, &mut self.buf);
        self
    }

    /// Appends an object if `value` is present.
    pub fn put_opt(&mut self, tag: Tag, value: Option<&[u8]>) -> &mut Self {
        if let Some(v) = value {
            self.put(tag, v);
        }
        self
    }

    /// Appends bytes that are already a complete encoding (e.g. a signed structure kept raw).
    pub fn raw(&mut self, encoded: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(encoded);
        self
    }

    /// Appends a constructed object whose contents `f` writes.
    pub fn nested(&mut self, tag: Tag, f: impl FnOnce(&mut Writer)) -> &mut Self {
        let mut inner = Writer::new();
        f(&mut inner);
        self.put(tag, &inner.buf)
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_forms() {
        // SGP.22 GetEuiccChallengeRequest: [46] constructed, context class, high tag number form.
        let t = Tag::new(Class::Context, true, 46);
        assert_eq!(t, Tag(0xBF2E));
        assert_eq!(t.number(), 46);
        assert!(t.is_constructed());
        assert_eq!(t.class(), Class::Context);
        // SGP.22 eumCertificate? no: [APPLICATION 55] primitive = 5F37 (euiccSignature1).
        assert_eq!(Tag::application(55), Tag(0x5F37));
        assert_eq!(Tag::application_constructed(33), Tag(0x7F21));
        assert_eq!(Tag::context(0), Tag(0x80));
        assert_eq!(Tag::context_constructed(0), Tag(0xA0));
        // Three-octet tag: number 200 = 0x01 0x48 -> 1F 81 48.
        assert_eq!(Tag::new(Class::Universal, false, 200), Tag(0x1F8148));
        assert_eq!(Tag(0x1F8148).number(), 200);
        assert_eq!(
            Tag::parse(&[0x1F, 0x81, 0x48, 0x00]).unwrap(),
            (Tag(0x1F8148), 3)
        );
        assert_eq!(format!("{}", Tag(0xBF2E)), "BF2E");
    }

    #[test]
    fn bad_tags() {
        assert_eq!(Tag::parse(&[]), Err(Error::Truncated("tag")));
        assert_eq!(Tag::parse(&[0xBF]), Err(Error::Truncated("tag")));
        assert_eq!(Tag::parse(&[0x1F, 0x80, 0x01]), Err(Error::BadTag));
        assert_eq!(
            Tag::parse(&[0x1F, 0x81, 0x81, 0x81, 0x01]),
            Err(Error::BadTag)
        );
    }

    #[test]
    fn length_forms() {
        for (len, enc) in [
            (0usize, vec![0x00]),
            (0x7F, vec![0x7F]),
            (0x80, vec![0x81, 0x80]),
            (0xFF, vec![0x81, 0xFF]),
            (0x100, vec![0x82, 0x01, 0x00]),
            (0x1_0000, vec![0x83, 0x01, 0x00, 0x00]),
            (0x100_0000, vec![0x84, 0x01, 0x00, 0x00, 0x00]),
        ] {
            let mut out = vec![];
            write_length(len, &mut out);
            assert_eq!(out, enc, "len {len}");
            assert_eq!(parse_length(&enc).unwrap(), (len, enc.len()));
            assert_eq!(header_len(Tag(0x30), len), 1 + enc.len());
        }
        // Non-minimal long forms are valid BER.
        assert_eq!(parse_length(&[0x82, 0x00, 0x05]).unwrap(), (5, 3));
        assert_eq!(parse_length(&[0x80]), Err(Error::IndefiniteLength));
        assert_eq!(
            parse_length(&[0x85, 1, 1, 1, 1, 1]),
            Err(Error::LengthTooLong)
        );
        assert_eq!(parse_length(&[0x82, 0x01]), Err(Error::Truncated("length")));
    }

    #[test]
    fn nested_roundtrip_keeps_raw() {
        let mut w = Writer::new();
        w.nested(Tag(0xBF2E), |w| {
            w.put(Tag(0x80), &[1, 2, 3]);
            w.nested(Tag(0xA1), |w| {
                w.put(Tag(0x5A), &[0x89; 10]);
            });
        });
        let bytes = w.into_vec();
        let outer = Tlv::parse_expecting(&bytes, Tag(0xBF2E)).unwrap();
        assert_eq!(outer.raw, &bytes[..]);
        let mut r = outer.reader();
        assert_eq!(r.expect(Tag(0x80)).unwrap().value, &[1, 2, 3]);
        assert_eq!(r.optional(Tag(0x81)).unwrap(), None);
        let inner = r.expect(Tag(0xA1)).unwrap();
        r.finish().unwrap();
        assert_eq!(inner.reader().expect(Tag(0x5A)).unwrap().value, &[0x89; 10]);
        assert_eq!(find(&bytes, Tag(0x5A)).unwrap().unwrap().value.len(), 10);
    }

    #[test]
    fn reader_errors() {
        let bytes = encode_tlv(Tag(0x30), &[0x80, 0x01, 0x00, 0x81, 0x00]);
        let seq = Tlv::parse_single(&bytes).unwrap();
        let mut r = seq.reader();
        assert_eq!(
            r.expect(Tag(0x82)),
            Err(Error::UnexpectedTag {
                expected: Tag(0x82),
                found: Tag(0x80)
            })
        );
        r.expect(Tag(0x80)).unwrap();
        assert_eq!(r.clone().finish(), Err(Error::TrailingData(Tag(0x81))));
        r.expect(Tag(0x81)).unwrap();
        assert_eq!(r.expect(Tag(0x82)), Err(Error::MissingTag(Tag(0x82))));
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(Tlv::parse_single(&extra), Err(Error::TrailingBytes(1)));
    }

    #[test]
    fn truncated_values() {
        assert_eq!(
            Tlv::parse(&[0x80, 0x02, 0x00]),
            Err(Error::Truncated("value"))
        );
        assert_eq!(
            Tlv::parse(&[0x80, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]),
            Err(Error::Truncated("value"))
        );
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let _ = find(&bytes, Tag(0x5A));
            for tlv in iter(&bytes) { let _ = tlv; }
        }

        #[test]
        fn encode_decode_roundtrip(number in 0u32..0x1F_FFFF, constructed: bool,
                                   value in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let tag = Tag::new(Class::Private, constructed, number);
            proptest::prop_assert_eq!(tag.number(), number);
            let enc = encode_tlv(tag, &value);
            let tlv = Tlv::parse_single(&enc).unwrap();
            proptest::prop_assert_eq!(tlv.tag, tag);
            proptest::prop_assert_eq!(tlv.value, &value[..]);
        }
    }
}
