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

/// Implements [`SignedEncoding`] as the DER encoding of the value (the usual case: the signature
/// covers the whole TLV).
macro_rules! signed_as_der {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::SignedEncoding for $t {
            fn signed_encoding(&self) -> Vec<u8> { $crate::Fields::to_der(self) }
        }
    )*};
}
pub(crate) use signed_as_der;

/// Declares an enum coding a tagged CHOICE whose alternatives each hold one [`Implicit`] value
/// (e.g. `[56] CHOICE { ok [0] .., error [1] .. }`), and its [`Fields`] codec. Each variant names
/// its alternative's tag and ASN.1 identifier; `in "Message"` names the enclosing message in
/// errors when the CHOICE is only a part of it. Decoding takes exactly one alternative; an
/// unknown one is [`Error::UnknownChoice`]. The derives are the caller's.
macro_rules! tagged_choice {
    (
        $(#[$m:meta])*
        pub enum $name:ident = $tag:literal $(in $ty:literal)? {
            $($(#[$vm:meta])* $alt:ident($t:ty) = $alt_tag:literal $field:literal),+ $(,)?
        }
    ) => {
        $(#[$m])*
        pub enum $name {
            $($(#[$vm])* $alt($t),)+
        }
        impl $crate::Fields for $name {
            const TAG: ::tlv::Tag = ::tlv::Tag($tag);
            // The `in` name if given, else the type's.
            const NAME: &'static str = {
                let names = [stringify!($name) $(, $ty)?];
                names[names.len() - 1]
            };
            fn put_fields(&self, w: &mut ::tlv::Writer) {
                match self {
                    $(Self::$alt(v) => $crate::Implicit::put_implicit(v, ::tlv::Tag($alt_tag), w),)+
                }
            }
            fn get_fields(tlv: &::tlv::Tlv<'_>) -> $crate::Result<Self> {
                let alt = $crate::Rd::alternative(tlv, Self::NAME)?;
                match alt.tag {
                    $(::tlv::Tag($alt_tag) => {
                        $crate::Implicit::get_implicit(&alt, Self::NAME, $field).map(Self::$alt)
                    })+
                    tag => Err($crate::Error::UnknownChoice { ty: Self::NAME, tag }),
                }
            }
        }
    };
}
pub(crate) use tagged_choice;

/// Declares a message `[n] SEQUENCE { field [k] T }` with one mandatory [`Implicit`] field, and
/// its [`Fields`] and [`Asn1`] codecs (unknown extension fields are skipped). The derives are the
/// caller's.
macro_rules! one_field_sequence {
    (
        $(#[$m:meta])*
        pub struct $name:ident = $tag:literal {
            $(#[$fm:meta])* pub $f:ident: $t:ty = $ftag:literal $asn:literal $(,)?
        }
    ) => {
        $(#[$m])*
        pub struct $name {
            $(#[$fm])*
            pub $f: $t,
        }
        impl $crate::Fields for $name {
            const TAG: ::tlv::Tag = ::tlv::Tag($tag);
            const NAME: &'static str = stringify!($name);
            fn put_fields(&self, w: &mut ::tlv::Writer) {
                $crate::WriterExt::implicit(w, ::tlv::Tag($ftag), &self.$f);
            }
            fn get_fields(tlv: &::tlv::Tlv<'_>) -> $crate::Result<Self> {
                let mut rd = $crate::Rd::new(tlv, Self::NAME);
                let $f = rd.implicit(::tlv::Tag($ftag), $asn)?;
                rd.end()?;
                Ok(Self { $f })
            }
        }
        $crate::asn1_via_fields!($name);
    };
}
pub(crate) use one_field_sequence;

/// The codec of a value carried under a tag given by its context. RSPDefinitions has `AUTOMATIC
/// TAGS`, so SEQUENCE fields and CHOICE alternatives are IMPLICIT `[n]`: the same INTEGER, string
/// or SEQUENCE travels under whatever tag the enclosing type assigns.
pub(crate) trait Implicit: Sized {
    fn put_implicit(&self, tag: Tag, w: &mut Writer);
    /// Decodes the contents of `t` (the caller has matched its tag); errors name the enclosing
    /// type `ty` and its `field`.
    fn get_implicit(t: &Tlv<'_>, ty: &'static str, field: &'static str) -> Result<Self>;
}

/// Maps a value decoder's failure to [`Error::InvalidField`].
fn invalid<T, E>(r: std::result::Result<T, E>, ty: &'static str, field: &'static str) -> Result<T> {
    r.map_err(|_| Error::InvalidField { ty, field })
}

impl Implicit for i64 {
    fn put_implicit(&self, tag: Tag, w: &mut Writer) {
        w.int(tag, *self);
    }
    fn get_implicit(t: &Tlv<'_>, ty: &'static str, field: &'static str) -> Result<Self> {
        invalid(tlv::der::decode_int(t.value), ty, field)
    }
}

impl Implicit for bool {
    fn put_implicit(&self, tag: Tag, w: &mut Writer) {
        w.boolean(tag, *self);
    }
    fn get_implicit(t: &Tlv<'_>, ty: &'static str, field: &'static str) -> Result<Self> {
        invalid(tlv::der::decode_bool(t.value), ty, field)
    }
}

/// UTF8String.
impl Implicit for String {
    fn put_implicit(&self, tag: Tag, w: &mut Writer) {
        w.utf8(tag, self);
    }
    fn get_implicit(t: &Tlv<'_>, ty: &'static str, field: &'static str) -> Result<Self> {
        invalid(String::from_utf8(t.value.to_vec()), ty, field)
    }
}

impl Implicit for BitString {
    fn put_implicit(&self, tag: Tag, w: &mut Writer) {
        w.bits(tag, self);
    }
    fn get_implicit(t: &Tlv<'_>, ty: &'static str, field: &'static str) -> Result<Self> {
        invalid(BitString::decode(t.value), ty, field)
    }
}

/// OCTET STRING (SIZE(N)).
impl<const N: usize> Implicit for [u8; N] {
    fn put_implicit(&self, tag: Tag, w: &mut Writer) {
        w.put(tag, self);
    }
    fn get_implicit(t: &Tlv<'_>, ty: &'static str, field: &'static str) -> Result<Self> {
        invalid(t.value.try_into(), ty, field)
    }
}

/// A [`Fields`] type under an IMPLICIT tag (or its own).
impl<T: Fields> Implicit for T {
    fn put_implicit(&self, tag: Tag, w: &mut Writer) {
        self.write_as(tag, w);
    }
    fn get_implicit(t: &Tlv<'_>, _: &'static str, _: &'static str) -> Result<Self> {
        T::get_fields(t)
    }
}

/// `SEQUENCE OF T`.
impl<T: Element> Implicit for Vec<T> {
    fn put_implicit(&self, tag: Tag, w: &mut Writer) {
        w.nested(tag, |w| {
            for e in self {
                e.put_element(w);
            }
        });
    }
    fn get_implicit(t: &Tlv<'_>, ty: &'static str, _: &'static str) -> Result<Self> {
        Rd::items(t, ty, T::get_element)
    }
}

/// An element of a `SEQUENCE OF`: a value that carries its own tag.
pub(crate) trait Element: Sized {
    fn put_element(&self, w: &mut Writer);
    fn get_element(t: &Tlv<'_>) -> Result<Self>;
}

impl<T: Fields> Element for T {
    fn put_element(&self, w: &mut Writer) {
        self.write(w);
    }
    fn get_element(t: &Tlv<'_>) -> Result<Self> {
        T::read(t)
    }
}

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
    /// A field with an [`Implicit`] codec under `tag`.
    pub(crate) fn implicit<T: Implicit>(&mut self, tag: Tag, field: &'static str) -> Result<T> {
        let t = self.expect(tag)?;
        T::get_implicit(&t, self.ty, field)
    }
    pub(crate) fn opt_implicit<T: Implicit>(
        &mut self,
        tag: Tag,
        field: &'static str,
    ) -> Result<Option<T>> {
        match self.opt(tag)? {
            Some(t) => T::get_implicit(&t, self.ty, field).map(Some),
            None => Ok(None),
        }
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
        self.implicit(tag, field)
    }
    pub(crate) fn opt_fixed<const N: usize>(
        &mut self,
        tag: Tag,
        field: &'static str,
    ) -> Result<Option<[u8; N]>> {
        self.opt_implicit(tag, field)
    }
    pub(crate) fn utf8(&mut self, tag: Tag, field: &'static str) -> Result<String> {
        self.implicit(tag, field)
    }
    pub(crate) fn opt_utf8(&mut self, tag: Tag, field: &'static str) -> Result<Option<String>> {
        self.opt_implicit(tag, field)
    }
    pub(crate) fn int(&mut self, tag: Tag, field: &'static str) -> Result<i64> {
        self.implicit(tag, field)
    }
    pub(crate) fn boolean(&mut self, tag: Tag, field: &'static str) -> Result<bool> {
        self.implicit(tag, field)
    }
    pub(crate) fn bits(&mut self, tag: Tag, field: &'static str) -> Result<BitString> {
        self.implicit(tag, field)
    }
    pub(crate) fn opt_bits(&mut self, tag: Tag, field: &'static str) -> Result<Option<BitString>> {
        self.opt_implicit(tag, field)
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
    /// The single alternative of a CHOICE carried as the contents of `t` (an explicitly tagged
    /// CHOICE, or a tagged CHOICE message): missing or followed by anything is an error.
    pub(crate) fn alternative(t: &Tlv<'a>, ty: &'static str) -> Result<Tlv<'a>> {
        let mut rd = Rd::new(t, ty);
        let alt = rd.expect_any()?;
        rd.finish()?;
        Ok(alt)
    }
    /// The elements of a `SEQUENCE OF` held in the contents of `t`, each decoded by `f`.
    pub(crate) fn items<T>(
        t: &Tlv<'a>,
        ty: &'static str,
        mut f: impl FnMut(&Tlv<'a>) -> Result<T>,
    ) -> Result<Vec<T>> {
        tlv::iter(t.value).map(|item| f(&item.ctx(ty)?)).collect()
    }
    /// A `SEQUENCE OF` under `tag`, each element decoded by `f`.
    pub(crate) fn seq_of<T>(
        &mut self,
        tag: Tag,
        f: impl FnMut(&Tlv<'a>) -> Result<T>,
    ) -> Result<Vec<T>> {
        let t = self.expect(tag)?;
        Rd::items(&t, self.ty, f)
    }
    /// A `SEQUENCE OF` primitive values all tagged `inner` (e.g. OCTET STRINGs) under `tag`,
    /// as their contents.
    pub(crate) fn values(&mut self, tag: Tag, inner: Tag) -> Result<Vec<Vec<u8>>> {
        let t = self.expect(tag)?;
        Rd::inner_values(&t, self.ty, inner)
    }
    pub(crate) fn opt_values(&mut self, tag: Tag, inner: Tag) -> Result<Option<Vec<Vec<u8>>>> {
        match self.opt(tag)? {
            Some(t) => Rd::inner_values(&t, self.ty, inner).map(Some),
            None => Ok(None),
        }
    }
    fn inner_values(t: &Tlv<'a>, ty: &'static str, inner: Tag) -> Result<Vec<Vec<u8>>> {
        Rd::items(t, ty, |v| {
            v.expect_tag(inner).ctx(ty)?;
            Ok(v.value.to_vec())
        })
    }
    pub(crate) fn txid(&mut self, tag: Tag) -> Result<TransactionId> {
        let v = self.expect(tag)?.value;
        TransactionId::from_field(v, self.ty)
    }
    pub(crate) fn oid(&mut self, tag: Tag, field: &'static str) -> Result<Oid> {
        self.implicit(tag, field)
    }
    pub(crate) fn opt_oid(&mut self, tag: Tag, field: &'static str) -> Result<Option<Oid>> {
        self.opt_implicit(tag, field)
    }
    pub(crate) fn version(&mut self, tag: Tag, field: &'static str) -> Result<Version> {
        self.implicit(tag, field)
    }
    pub(crate) fn opt_version(&mut self, tag: Tag, field: &'static str) -> Result<Option<Version>> {
        self.opt_implicit(tag, field)
    }
    pub(crate) fn iccid(&mut self) -> Result<Iccid> {
        self.implicit(tags::ICCID, "iccid")
    }
    pub(crate) fn opt_iccid(&mut self) -> Result<Option<Iccid>> {
        self.opt_implicit(tags::ICCID, "iccid")
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
    /// A field with an [`Implicit`] codec under `tag`.
    fn implicit<T: Implicit>(&mut self, tag: Tag, v: &T) -> &mut Self;
    /// An OPTIONAL field with an [`Implicit`] codec: nothing when absent.
    fn opt_implicit<T: Implicit>(&mut self, tag: Tag, v: Option<&T>) -> &mut Self;
    /// A `SEQUENCE OF` primitive values all tagged `inner`, from their contents.
    fn values(&mut self, tag: Tag, inner: Tag, values: &[Vec<u8>]) -> &mut Self;
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
    fn implicit<T: Implicit>(&mut self, tag: Tag, v: &T) -> &mut Self {
        v.put_implicit(tag, self);
        self
    }
    fn opt_implicit<T: Implicit>(&mut self, tag: Tag, v: Option<&T>) -> &mut Self {
        if let Some(v) = v {
            v.put_implicit(tag, self);
        }
        self
    }
    fn values(&mut self, tag: Tag, inner: Tag, values: &[Vec<u8>]) -> &mut Self {
        self.seq_of(tag, values, |v, w| {
            w.put(inner, v);
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
