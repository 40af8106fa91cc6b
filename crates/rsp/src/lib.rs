//! GSMA SGP.22 v2.2.2 Remote SIM Provisioning messages, hand-written over the [`tlv`] codec.
//!
//! The ASN.1 source is SGP.22 `RSPDefinitions` (`shared/reference/asn1/rsp.asn`), a module with
//! `AUTOMATIC TAGS` and `EXTENSIBILITY IMPLIED`: every SEQUENCE may grow in later versions, so the
//! decoders here accept (and skip) unknown trailing fields, but reject missing mandatory fields,
//! wrong tags and trailing bytes after the outer TLV.
//!
//! Modules, one per interface:
//! * [`es10a`], [`es10b`], [`es10c`]: LPA ↔ eUICC (ISD-R) STORE DATA payloads.
//! * [`es8p`]: SM-DP+ ↔ eUICC, the Bound Profile Package and its parts.
//! * [`notification`]: notification metadata, pending notifications, Profile Installation Result.
//! * [`es9p`]: LPA ↔ SM-DP+ JSON bodies (SGP.22 §6.5).
//! * [`activation`]: activation codes (SGP.22 §4.1).
//! * [`codes`]: ES9+ subject and reason codes (SGP.22 §6.5.1.4 / §6.5.2).
//!
//! Signed parts of messages are kept as received ([`Signed`]): signature checks must use
//! [`Signed::raw`], and re-encoding a decoded message reproduces them byte for byte.
//! Certificates, signatures and public keys are opaque bytes here (see the `pki` and `bsp` crates).
//! Signatures are the SGP.22 "plain" format: r || s, 64 bytes for 256-bit curves (BSI TR-03111).

pub mod activation;
pub mod codes;
pub mod es10a;
pub mod es10b;
pub mod es10c;
pub mod es8p;
pub mod es9p;
pub mod notification;
mod types;

pub use types::*;

pub use tlv::der::BitString;
use tlv::{Reader, Tag, Tlv, Writer};

/// Errors of this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The BER-TLV structure of `ty` is malformed (wrong tag, missing field, truncation...).
    #[error("decoding {ty}: {source}")]
    Tlv {
        ty: &'static str,
        #[source]
        source: tlv::Error,
    },
    /// A field of `ty` has a value outside its ASN.1 constraints.
    #[error("decoding {ty}: invalid {field}")]
    InvalidField {
        ty: &'static str,
        field: &'static str,
    },
    /// A CHOICE carried an alternative this version does not know.
    #[error("decoding {ty}: unknown CHOICE alternative {tag}")]
    UnknownChoice { ty: &'static str, tag: Tag },
    /// A value given to a constructor is outside its constraints.
    #[error("invalid {0}")]
    InvalidValue(&'static str),
    /// An activation code does not follow SGP.22 §4.1.
    #[error("activation code: {0}")]
    ActivationCode(#[from] activation::ActivationCodeError),
    /// A JSON body does not follow SGP.22 §6.5.
    #[error("JSON: {0}")]
    Json(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A message with a fixed outer tag, DER-encoded.
pub trait Asn1: Sized {
    /// The DER encoding (signed parts are reproduced exactly as they were received).
    fn encode(&self) -> Vec<u8>;
    /// Decodes exactly one TLV carrying this type's outer tag; trailing bytes are an error.
    fn decode(der: &[u8]) -> Result<Self>;
}

/// Codec plumbing behind [`Asn1`]: a type with a natural outer tag whose contents are written and
/// read here (an enclosing type may apply another, IMPLICIT, tag). Prefer [`Asn1`].
#[doc(hidden)]
pub trait Fields: Sized {
    const TAG: Tag;
    const NAME: &'static str;
    fn put_fields(&self, w: &mut Writer);
    /// `tlv` has already had its tag checked by the caller.
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self>;

    fn write(&self, w: &mut Writer) {
        self.write_as(Self::TAG, w)
    }
    fn write_as(&self, tag: Tag, w: &mut Writer) {
        w.nested(tag, |w| self.put_fields(w));
    }
    fn to_der(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.write(&mut w);
        w.into_vec()
    }
    fn read(tlv: &Tlv<'_>) -> Result<Self> {
        tlv.expect_tag(Self::TAG).ctx(Self::NAME)?;
        Self::get_fields(tlv)
    }
    fn from_der(der: &[u8]) -> Result<Self> {
        let tlv = Tlv::parse_single(der).ctx(Self::NAME)?;
        Self::read(&tlv)
    }
}

/// Implements [`Asn1`] via [`Fields`].
macro_rules! asn1_via_fields {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::Asn1 for $t {
            fn encode(&self) -> Vec<u8> { $crate::Fields::to_der(self) }
            fn decode(der: &[u8]) -> $crate::Result<Self> { <$t as $crate::Fields>::from_der(der) }
        }
    )*};
}
pub(crate) use asn1_via_fields;

/// Maps `tlv` errors into [`Error::Tlv`] for the type being decoded.
pub(crate) trait Ctx<T> {
    fn ctx(self, ty: &'static str) -> Result<T>;
}

impl<T> Ctx<T> for tlv::Result<T> {
    fn ctx(self, ty: &'static str) -> Result<T> {
        self.map_err(|source| Error::Tlv { ty, source })
    }
}

/// A [`Reader`] that names the type being decoded in its errors, with typed field getters.
pub(crate) struct Rd<'a> {
    r: Reader<'a>,
    ty: &'static str,
    start: &'a [u8],
}

impl<'a> Rd<'a> {
    pub(crate) fn new(tlv: &Tlv<'a>, ty: &'static str) -> Self {
        Rd {
            r: tlv.reader(),
            ty,
            start: tlv.value,
        }
    }
    pub(crate) fn err(&self, field: &'static str) -> Error {
        Error::InvalidField { ty: self.ty, field }
    }
    /// The contents consumed so far, exactly as received.
    pub(crate) fn consumed(&self) -> &'a [u8] {
        let n = self.start.len() - self.r.remaining().len();
        self.start.get(..n).unwrap_or_default()
    }
    pub(crate) fn next(&mut self) -> Result<Option<Tlv<'a>>> {
        self.r.next().ctx(self.ty)
    }
    pub(crate) fn ty_name(&self) -> &'static str {
        self.ty
    }
    /// The next object whatever its tag; missing is an error.
    pub(crate) fn expect_any(&mut self) -> Result<Tlv<'a>> {
        let ty = self.ty;
        self.next()?.ok_or(Error::Tlv {
            ty,
            source: tlv::Error::Truncated("missing CHOICE alternative"),
        })
    }
    pub(crate) fn expect(&mut self, tag: Tag) -> Result<Tlv<'a>> {
        self.r.expect(tag).ctx(self.ty)
    }
    pub(crate) fn opt(&mut self, tag: Tag) -> Result<Option<Tlv<'a>>> {
        self.r.optional(tag).ctx(self.ty)
    }
    pub(crate) fn bytes(&mut self, tag: Tag) -> Result<Vec<u8>> {
        Ok(self.expect(tag)?.value.to_vec())
    }
    pub(crate) fn opt_bytes(&mut self, tag: Tag) -> Result<Option<Vec<u8>>> {
        Ok(self.opt(tag)?.map(|t| t.value.to_vec()))
    }
    pub(crate) fn fixed<const N: usize>(
        &mut self,
        tag: Tag,
        field: &'static str,
    ) -> Result<[u8; N]> {
        let v = self.expect(tag)?.value;
        v.try_into().map_err(|_| self.err(field))
    }
    pub(crate) fn opt_fixed<const N: usize>(
        &mut self,
        tag: Tag,
        field: &'static str,
    ) -> Result<Option<[u8; N]>> {
        match self.opt(tag)? {
            Some(t) => t.value.try_into().map(Some).map_err(|_| self.err(field)),
            None => Ok(None),
        }
    }
    pub(crate) fn utf8(&mut self, tag: Tag, field: &'static str) -> Result<String> {
        let v = self.expect(tag)?.value;
        String::from_utf8(v.to_vec()).map_err(|_| self.err(field))
    }
    pub(crate) fn opt_utf8(&mut self, tag: Tag, field: &'static str) -> Result<Option<String>> {
        match self.opt(tag)? {
            Some(t) => String::from_utf8(t.value.to_vec())
                .map(Some)
                .map_err(|_| self.err(field)),
            None => Ok(None),
        }
    }
    pub(crate) fn int(&mut self, tag: Tag, field: &'static str) -> Result<i64> {
        let v = self.expect(tag)?.value;
        tlv::der::decode_int(v).map_err(|_| self.err(field))
    }
    pub(crate) fn opt_int(&mut self, tag: Tag, field: &'static str) -> Result<Option<i64>> {
        match self.opt(tag)? {
            Some(t) => tlv::der::decode_int(t.value)
                .map(Some)
                .map_err(|_| self.err(field)),
            None => Ok(None),
        }
    }
    pub(crate) fn boolean(&mut self, tag: Tag, field: &'static str) -> Result<bool> {
        let v = self.expect(tag)?.value;
        tlv::der::decode_bool(v).map_err(|_| self.err(field))
    }
    pub(crate) fn bits(&mut self, tag: Tag, field: &'static str) -> Result<BitString> {
        let v = self.expect(tag)?.value;
        BitString::decode(v).map_err(|_| self.err(field))
    }
    pub(crate) fn opt_bits(&mut self, tag: Tag, field: &'static str) -> Result<Option<BitString>> {
        match self.opt(tag)? {
            Some(t) => BitString::decode(t.value)
                .map(Some)
                .map_err(|_| self.err(field)),
            None => Ok(None),
        }
    }
    /// A field of a type with a [`Fields`] codec, under tag `tag` (its own or an implicit one).
    pub(crate) fn field<T: Fields>(&mut self, tag: Tag) -> Result<T> {
        let t = self.expect(tag)?;
        T::get_fields(&t)
    }
    pub(crate) fn opt_field<T: Fields>(&mut self, tag: Tag) -> Result<Option<T>> {
        match self.opt(tag)? {
            Some(t) => T::get_fields(&t).map(Some),
            None => Ok(None),
        }
    }
    /// A `SEQUENCE OF` under `tag`, each element decoded by `f`.
    pub(crate) fn seq_of<T>(
        &mut self,
        tag: Tag,
        mut f: impl FnMut(&Tlv<'a>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let t = self.expect(tag)?;
        let mut out = Vec::new();
        for item in tlv::iter(t.value) {
            out.push(f(&item.ctx(self.ty)?)?);
        }
        Ok(out)
    }
    pub(crate) fn txid(&mut self, tag: Tag) -> Result<TransactionId> {
        let v = self.expect(tag)?.value;
        TransactionId::from_field(v, self.ty)
    }
    pub(crate) fn oid(&mut self, tag: Tag, field: &'static str) -> Result<Oid> {
        let v = self.expect(tag)?.value;
        Oid::from_contents(v).map_err(|_| self.err(field))
    }
    pub(crate) fn opt_oid(&mut self, tag: Tag, field: &'static str) -> Result<Option<Oid>> {
        match self.opt(tag)? {
            Some(t) => Oid::from_contents(t.value)
                .map(Some)
                .map_err(|_| self.err(field)),
            None => Ok(None),
        }
    }
    pub(crate) fn version(&mut self, tag: Tag, field: &'static str) -> Result<Version> {
        self.fixed::<3>(tag, field).map(Version)
    }
    pub(crate) fn opt_version(&mut self, tag: Tag, field: &'static str) -> Result<Option<Version>> {
        Ok(self.opt_fixed::<3>(tag, field)?.map(Version))
    }
    pub(crate) fn iccid(&mut self) -> Result<Iccid> {
        self.fixed::<10>(tags::ICCID, "iccid").map(Iccid)
    }
    pub(crate) fn opt_iccid(&mut self) -> Result<Option<Iccid>> {
        Ok(self.opt_fixed::<10>(tags::ICCID, "iccid")?.map(Iccid))
    }
    /// A raw X.509 `Certificate` (or other universal SEQUENCE), kept as its full encoding.
    pub(crate) fn certificate(&mut self) -> Result<Vec<u8>> {
        Ok(self.expect(Tag::SEQUENCE)?.raw.to_vec())
    }
    /// Strict end: nothing may follow.
    pub(crate) fn finish(self) -> Result<()> {
        self.r.finish().ctx(self.ty)
    }
    /// Lenient end: well-formed extension fields of later versions are skipped.
    pub(crate) fn end(self) -> Result<()> {
        self.r.finish_lenient().ctx(self.ty)
    }
}

/// Writer helpers for the universal value codecs.
pub(crate) trait WriterExt {
    fn int(&mut self, tag: Tag, v: i64) -> &mut Self;
    fn boolean(&mut self, tag: Tag, v: bool) -> &mut Self;
    fn bits(&mut self, tag: Tag, v: &BitString) -> &mut Self;
    fn utf8(&mut self, tag: Tag, v: &str) -> &mut Self;
    fn seq_of<T>(&mut self, tag: Tag, items: &[T], f: impl Fn(&T, &mut Writer)) -> &mut Self;
}

impl WriterExt for Writer {
    fn int(&mut self, tag: Tag, v: i64) -> &mut Self {
        self.put(tag, &tlv::der::encode_int(v))
    }
    fn boolean(&mut self, tag: Tag, v: bool) -> &mut Self {
        self.put(tag, &tlv::der::encode_bool(v))
    }
    fn bits(&mut self, tag: Tag, v: &BitString) -> &mut Self {
        self.put(tag, &v.encode())
    }
    fn utf8(&mut self, tag: Tag, v: &str) -> &mut Self {
        self.put(tag, v.as_bytes())
    }
    fn seq_of<T>(&mut self, tag: Tag, items: &[T], f: impl Fn(&T, &mut Writer)) -> &mut Self {
        self.nested(tag, |w| {
            for i in items {
                f(i, w);
            }
        })
    }
}

/// Tags that recur across the module.
pub mod tags {
    use tlv::Tag;
    /// `[APPLICATION 55]` signature, '5F37'.
    pub const SIGNATURE: Tag = Tag(0x5F37);
    /// `[APPLICATION 73]` one-time public key, '5F49'.
    pub const OTPK: Tag = Tag(0x5F49);
    /// `Iccid ::= [APPLICATION 26]`, '5A'.
    pub const ICCID: Tag = Tag(0x5A);
    /// `[APPLICATION 15]` ISD-P AID, '4F'.
    pub const AID: Tag = Tag(0x4F);
    /// `[APPLICATION 28]` tag list, '5C'.
    pub const TAG_LIST: Tag = Tag(0x5C);
}
