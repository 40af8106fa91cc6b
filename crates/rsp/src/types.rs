//! Basic types of RSPDefinitions: identifiers, versions, signed parts, named INTEGERs.

use std::fmt;
use std::str::FromStr;

use tlv::{Tag, Tlv, Writer};

use crate::{Error, Fields, Implicit, Result};

/// `Octet16 ::= OCTET STRING (SIZE(16))`: eUICC and server challenges.
pub type Octet16 = [u8; 16];
/// `Octet32 ::= OCTET STRING (SIZE(32))`: e.g. hashCc.
pub type Octet32 = [u8; 32];
/// A DER `Certificate` (X.509), kept as its whole `30 ..` encoding.
pub type Certificate = Vec<u8>;
/// `SubjectKeyIdentifier` (RFC 5280): the contents of the OCTET STRING (usually 20 bytes).
pub type SubjectKeyIdentifier = Vec<u8>;

/// `TransactionId ::= OCTET STRING (SIZE(1..16))`. In ES9+ JSON it is a hex string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(Vec<u8>);

impl TransactionId {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self> {
        let b = bytes.into();
        if b.is_empty() || b.len() > 16 {
            return Err(Error::InvalidValue("TransactionId (1..16 bytes)"));
        }
        Ok(TransactionId(b))
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    /// Upper-case hex, as used in ES9+ JSON.
    pub fn to_hex(&self) -> String {
        hex::encode_upper(&self.0)
    }
    pub fn from_hex(s: &str) -> Result<Self> {
        let b = hex::decode(s).map_err(|_| Error::InvalidValue("TransactionId hex string"))?;
        Self::new(b)
    }
    pub(crate) fn from_field(v: &[u8], ty: &'static str) -> Result<Self> {
        Self::new(v).map_err(|_| Error::InvalidField {
            ty,
            field: "transactionId",
        })
    }
}

impl fmt::Debug for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransactionId({})", self.to_hex())
    }
}

impl fmt::Display for TransactionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl AsRef<[u8]> for TransactionId {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// `Iccid ::= [APPLICATION 26] OCTET STRING (SIZE(10))`, coded as in EF.ICCID (ETSI TS 102 221
/// §13.2): BCD with swapped nibbles, padded with 'F' (19-digit ICCIDs).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Iccid(pub [u8; 10]);

impl Iccid {
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        b.try_into()
            .map(Iccid)
            .map_err(|_| Error::InvalidValue("ICCID (10 bytes)"))
    }
    pub fn as_bytes(&self) -> &[u8; 10] {
        &self.0
    }
}

impl FromStr for Iccid {
    type Err = Error;
    /// 18 to 20 decimal digits (shorter ones are padded with 'F').
    fn from_str(s: &str) -> Result<Self> {
        if !(18..=20).contains(&s.len()) || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(Error::InvalidValue("ICCID (18..20 digits)"));
        }
        let mut nibbles: Vec<u8> = s.bytes().map(|c| c - b'0').collect();
        nibbles.resize(20, 0xF);
        let mut out = [0u8; 10];
        for (i, pair) in nibbles.chunks(2).enumerate() {
            out[i] = (pair[1] << 4) | pair[0];
        }
        Ok(Iccid(out))
    }
}

impl fmt::Display for Iccid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            for n in [b & 0x0F, b >> 4] {
                match n {
                    0..=9 => write!(f, "{n}")?,
                    0xF => {}
                    _ => write!(f, "{n:X}")?,
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Iccid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Iccid({self})")
    }
}

/// EID: 16 bytes, 32 decimal digits in plain (unswapped) BCD (GSMA SGP.29), e.g.
/// `89049032123451234512345678901235`. Carried as `eidValue [APPLICATION 26] Octet16`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Eid(pub [u8; 16]);

impl Eid {
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        b.try_into()
            .map(Eid)
            .map_err(|_| Error::InvalidValue("EID (16 bytes)"))
    }
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl FromStr for Eid {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        if s.len() != 32 || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(Error::InvalidValue("EID (32 digits)"));
        }
        let b = hex::decode(s).map_err(|_| Error::InvalidValue("EID (32 digits)"))?;
        Eid::from_bytes(&b)
    }
}

impl fmt::Display for Eid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(self.0))
    }
}

impl fmt::Debug for Eid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Eid({self})")
    }
}

/// `VersionType ::= OCTET STRING(SIZE(3))`: major, minor, revision, e.g. `02 02 02` = v2.2.2.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Version(pub [u8; 3]);

impl Version {
    pub const fn new(major: u8, minor: u8, revision: u8) -> Self {
        Version([major, minor, revision])
    }
    pub fn major(self) -> u8 {
        self.0[0]
    }
    pub fn minor(self) -> u8 {
        self.0[1]
    }
    pub fn revision(self) -> u8 {
        self.0[2]
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0[0], self.0[1], self.0[2])
    }
}

impl fmt::Debug for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Version({self})")
    }
}

/// A signed part of a message (e.g. `ServerSigned1`, `EUICCSigned1`), holding both the decoded
/// value and the exact bytes the signature covers. Built with [`Signed::new`] (which encodes the
/// value) or by decoding (which keeps the received bytes, unknown extensions included). The value
/// is read-only so the two can never disagree.
#[derive(Clone, PartialEq, Eq)]
pub struct Signed<T> {
    value: T,
    raw: Vec<u8>,
}

impl<T: SignedEncoding> Signed<T> {
    /// Encodes `value` (DER) to produce the bytes to sign.
    pub fn new(value: T) -> Self {
        let raw = value.signed_encoding();
        Signed { value, raw }
    }
}

impl<T> Signed<T> {
    pub(crate) fn from_parts(value: T, raw: Vec<u8>) -> Self {
        Signed { value, raw }
    }
    /// The exact encoding the signature covers (as received when decoded).
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }
    pub fn value(&self) -> &T {
        &self.value
    }
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T: Fields> Signed<T> {
    /// Decodes one TLV with `T`'s tag, keeping its raw encoding.
    pub fn decode(der: &[u8]) -> Result<Self> {
        let tlv = tlv::Tlv::parse_single(der).map_err(|source| Error::Tlv {
            ty: T::NAME,
            source,
        })?;
        Self::read(&tlv)
    }
    pub(crate) fn read(tlv: &tlv::Tlv<'_>) -> Result<Self> {
        let value = T::read(tlv)?;
        Ok(Signed {
            value,
            raw: tlv.raw.to_vec(),
        })
    }
}

impl<T: Fields> crate::Asn1 for Signed<T> {
    fn encode(&self) -> Vec<u8> {
        self.raw.clone()
    }
    fn decode(der: &[u8]) -> Result<Self> {
        Signed::decode(der)
    }
}

impl<T> std::ops::Deref for Signed<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: fmt::Debug> fmt::Debug for Signed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signed")
            .field("value", &self.value)
            .field("raw_len", &self.raw.len())
            .finish()
    }
}

/// How a signed part is encoded for signing.
pub trait SignedEncoding {
    fn signed_encoding(&self) -> Vec<u8>;
}

/// Declares a named-INTEGER type (`INTEGER {ok(0), ...}`) as a newtype with constants, so values
/// that later versions add still decode. Constants can be used in `match` patterns.
macro_rules! named_int {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $konst:ident = $val:literal => $asn:literal),* $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);
        impl $name {
            $( $(#[$vm])* pub const $konst: $name = $name($val); )*
            /// The ASN.1 identifier of this value, if it is a named one.
            pub fn name(self) -> Option<&'static str> {
                match self.0 { $( $val => Some($asn), )* _ => None }
            }
        }
        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                match self.name() {
                    Some(n) => write!(f, "{}({})", n, self.0),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }
        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Debug::fmt(self, f)
            }
        }
        impl From<i64> for $name { fn from(v: i64) -> Self { $name(v) } }
        impl $crate::Implicit for $name {
            fn put_implicit(&self, tag: ::tlv::Tag, w: &mut ::tlv::Writer) {
                self.0.put_implicit(tag, w)
            }
            fn get_implicit(
                t: &::tlv::Tlv<'_>,
                ty: &'static str,
                field: &'static str,
            ) -> $crate::Result<Self> {
                <i64 as $crate::Implicit>::get_implicit(t, ty, field).map($name)
            }
        }
    };
}
pub(crate) use named_int;

named_int! {
    /// `ProfileClass ::= INTEGER {test(0), provisioning(1), operational(2)}`.
    ProfileClass { TEST = 0 => "test", PROVISIONING = 1 => "provisioning", OPERATIONAL = 2 => "operational" }
}
named_int! {
    /// `IconType ::= INTEGER {jpg(0), png(1)}`.
    IconType { JPG = 0 => "jpg", PNG = 1 => "png" }
}
named_int! {
    /// `ProfileState ::= INTEGER {disabled(0), enabled(1)}`.
    ProfileState { DISABLED = 0 => "disabled", ENABLED = 1 => "enabled" }
}
named_int! {
    /// `CancelSessionReason ::= INTEGER {endUserRejection(0), postponed(1), timeout(2), pprNotAllowed(3)}`.
    CancelSessionReason {
        END_USER_REJECTION = 0 => "endUserRejection",
        POSTPONED = 1 => "postponed",
        TIMEOUT = 2 => "timeout",
        PPR_NOT_ALLOWED = 3 => "pprNotAllowed",
        // SGP.22 v2.2.2 §5.7.14 adds these (the v2.2 ASN.1 module predates them).
        METADATA_MISMATCH = 4 => "metadataMismatch",
        LOAD_BPP_EXECUTION_ERROR = 5 => "loadBppExecutionError",
        UNDEFINED_REASON = 127 => "undefinedReason",
    }
}

/// An OBJECT IDENTIFIER, kept as its contents octets (X.690 §8.19); shown dotted.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Oid(Vec<u8>);

impl Oid {
    /// Validates contents octets (minimal arcs, no truncated arc).
    pub fn from_contents(contents: &[u8]) -> Result<Self> {
        oid::decode(contents)?;
        Ok(Oid(contents.to_vec()))
    }
    pub fn contents(&self) -> &[u8] {
        &self.0
    }
}

impl FromStr for Oid {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        oid::encode(s).map(Oid)
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match oid::decode(&self.0) {
            Ok(s) => f.write_str(&s),
            Err(_) => write!(f, "<invalid OID {}>", hex::encode(&self.0)),
        }
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Oid({self})")
    }
}

/// Implements [`Implicit`] for a newtype over `[u8; N]` (OCTET STRING (SIZE(N))).
macro_rules! fixed_implicit {
    ($($t:ident),*) => {$(
        impl Implicit for $t {
            fn put_implicit(&self, tag: Tag, w: &mut Writer) {
                self.0.put_implicit(tag, w)
            }
            fn get_implicit(t: &Tlv<'_>, ty: &'static str, field: &'static str) -> Result<Self> {
                Implicit::get_implicit(t, ty, field).map($t)
            }
        }
    )*};
}
fixed_implicit!(Version, Iccid, Eid);

/// OBJECT IDENTIFIER contents.
impl Implicit for Oid {
    fn put_implicit(&self, tag: Tag, w: &mut Writer) {
        w.put(tag, &self.0);
    }
    fn get_implicit(t: &Tlv<'_>, ty: &'static str, field: &'static str) -> Result<Self> {
        Oid::from_contents(t.value).map_err(|_| Error::InvalidField { ty, field })
    }
}

/// `PprIds` bits (Profile Policy Rules).
pub mod ppr {
    pub const PPR_UPDATE_CONTROL: usize = 0;
    /// PPR1: disabling of this Profile is not allowed.
    pub const PPR1: usize = 1;
    /// PPR2: deletion of this Profile is not allowed.
    pub const PPR2: usize = 2;
    /// PPR3: deletion is required upon successful disabling (v2.2.2 only).
    pub const PPR3: usize = 3;
}

/// OBJECT IDENTIFIER contents (X.690 §8.19) ↔ dotted string.
pub mod oid {
    use crate::{Error, Result};

    /// Encodes "1.3.6.1.4.1.31746" into OBJECT IDENTIFIER contents octets.
    pub fn encode(dotted: &str) -> Result<Vec<u8>> {
        let bad = || Error::InvalidValue("OBJECT IDENTIFIER");
        let arcs: Vec<u64> = dotted
            .split('.')
            .map(|a| {
                if a.is_empty() || !a.bytes().all(|c| c.is_ascii_digit()) {
                    Err(bad())
                } else {
                    a.parse::<u64>().map_err(|_| bad())
                }
            })
            .collect::<Result<_>>()?;
        let (&a0, rest) = arcs.split_first().ok_or_else(bad)?;
        let (&a1, rest) = rest.split_first().ok_or_else(bad)?;
        if a0 > 2 || (a0 < 2 && a1 > 39) {
            return Err(bad());
        }
        let first = a0
            .checked_mul(40)
            .and_then(|v| v.checked_add(a1))
            .ok_or_else(bad)?;
        let mut out = Vec::new();
        for arc in std::iter::once(first).chain(rest.iter().copied()) {
            let mut digits = vec![(arc & 0x7F) as u8];
            let mut v = arc >> 7;
            while v > 0 {
                digits.push(0x80 | (v & 0x7F) as u8);
                v >>= 7;
            }
            out.extend(digits.iter().rev());
        }
        Ok(out)
    }

    /// Decodes OBJECT IDENTIFIER contents octets into the dotted form.
    pub fn decode(contents: &[u8]) -> Result<String> {
        let bad = || Error::InvalidValue("OBJECT IDENTIFIER");
        if contents.is_empty() || contents.last().is_some_and(|b| b & 0x80 != 0) {
            return Err(bad());
        }
        let mut arcs: Vec<u64> = Vec::new();
        let mut v: u64 = 0;
        let mut fresh = true;
        for &b in contents {
            if fresh && b == 0x80 {
                return Err(bad()); // non-minimal arc (X.690 §8.19.2)
            }
            if v > (u64::MAX >> 7) {
                return Err(bad());
            }
            v = (v << 7) | (b & 0x7F) as u64;
            fresh = b & 0x80 == 0;
            if fresh {
                arcs.push(v);
                v = 0;
            }
        }
        let first = arcs.first().copied().ok_or_else(bad)?;
        let (a0, a1) = match first {
            0..=39 => (0, first),
            40..=79 => (1, first - 40),
            _ => (2, first - 80),
        };
        let mut s = format!("{a0}.{a1}");
        for a in arcs.iter().skip(1) {
            s.push('.');
            s.push_str(&a.to_string());
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iccid_bcd_swapped() {
        // TS.48 test profile ICCID 89 49 44 99 99 ... (ETSI TS 102 221 §13.2 coding).
        let i: Iccid = "8949449999999990023".parse().unwrap();
        assert_eq!(hex::encode_upper(i.0), "989444999999990920F3");
        assert_eq!(i.to_string(), "8949449999999990023");
        let i20: Iccid = "89000123456789012341".parse().unwrap();
        assert_eq!(hex::encode_upper(i20.0), "98001032547698103214");
        assert_eq!(i20.to_string(), "89000123456789012341");
        assert!("89A".parse::<Iccid>().is_err());
        assert!("123".parse::<Iccid>().is_err());
    }

    #[test]
    fn eid_digits() {
        // SGP.26 test eUICC EID.
        let e: Eid = "89049032123451234512345678901235".parse().unwrap();
        assert_eq!(e.0[0], 0x89);
        assert_eq!(e.to_string(), "89049032123451234512345678901235");
        assert!("8904".parse::<Eid>().is_err());
    }

    #[test]
    fn transaction_id_limits() {
        assert!(TransactionId::new(vec![]).is_err());
        assert!(TransactionId::new(vec![0; 17]).is_err());
        let t = TransactionId::from_hex("0123456789abcdef").unwrap();
        assert_eq!(t.to_hex(), "0123456789ABCDEF");
    }

    #[test]
    fn oids() {
        // X.690 §8.19 example arc coding; 1.3.6.1.4.1.31746 is the SGP.26 test SM-DP+ OID arc.
        let enc = oid::encode("1.3.6.1.4.1.31746").unwrap();
        assert_eq!(enc, vec![0x2B, 0x06, 0x01, 0x04, 0x01, 0x81, 0xF8, 0x02]);
        assert_eq!(oid::decode(&enc).unwrap(), "1.3.6.1.4.1.31746");
        assert_eq!(
            oid::decode(&oid::encode("2.999.3").unwrap()).unwrap(),
            "2.999.3"
        );
        assert!(oid::encode("1").is_err());
        assert!(oid::encode("1.40").is_err());
        assert!(oid::decode(&[0x2B, 0x81]).is_err());
    }

    #[test]
    fn named_ints() {
        assert_eq!(ProfileClass::OPERATIONAL.name(), Some("operational"));
        // SGP.22 v2.2.2 §5.7.14 CancelSessionReason, including the values added after v2.2.
        assert_eq!(
            CancelSessionReason::LOAD_BPP_EXECUTION_ERROR.name(),
            Some("loadBppExecutionError")
        );
        assert_eq!(CancelSessionReason(127).name(), Some("undefinedReason"));
        assert_eq!(CancelSessionReason(6).name(), None);
        assert_eq!(format!("{:?}", ProfileClass(9)), "ProfileClass(9)");
        assert!(matches!(IconType(1), IconType::PNG));
    }
}
