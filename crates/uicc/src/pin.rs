//! PINs and PUKs (ETSI TS 102 221 §9.5, §11.1.9-§11.1.13), built from the profile package's
//! PE-PINCodes and PE-PUKCodes (SAIP PE_Definitions 3.3.1).
//!
//! Key references (TS 102 221 §9.5.1, Table 9.3): PIN Appl 1..8 = '01'..'08', ADM1..5 =
//! '0A'..'0E', universal PIN = '11', second PIN Appl 1..8 = '81'..'88', ADM6..10 = '8A'..'8E'.
//! PUKs live in their own reference space (SAIP `PUKKeyReferenceValue`) and are reached through
//! the PIN's `unblockingPINReference`: UNBLOCK PIN names the PIN, not the PUK.
//!
//! One store per profile: a key reference defined in several PE-PINCodes (SAIP allows the same
//! local reference, e.g. '81', in the USIM and in the ISIM) is kept once, the first definition
//! wins; `filePath` (a PIN list shared with another ADF) adds nothing.
//!
//! `pinAttributes` (SAIP, DEFAULT 7) is read as: b1 = the PIN is enabled when the profile is
//! installed, b3 = the PIN may be disabled (DISABLE PIN); other bits are not used. This matches
//! the TS.48 test profiles (PIN1: 6 = disabled but may be enabled/disabled; ADM: 3 = enabled,
//! never disabled).

use apdu::{Command, StatusWord};
use serde::{Deserialize, Serialize};
use tlv::{der, Tag, Tlv};

use crate::auth::SecretHex;

pub const INS_VERIFY: u8 = 0x20;
pub const INS_CHANGE: u8 = 0x24;
pub const INS_DISABLE: u8 = 0x26;
pub const INS_ENABLE: u8 = 0x28;
pub const INS_UNBLOCK: u8 = 0x2C;

/// Key reference of the universal PIN (TS 102 221 §9.5.1).
pub const UNIVERSAL_PIN: u8 = 0x11;
/// DISABLE PIN P1: the universal PIN replaces the disabled PIN (b8 = 1, b5-b1 = '11',
/// TS 102 221 §11.1.11).
pub const P1_REPLACE_WITH_UNIVERSAL: u8 = 0x91;
/// PIN and PUK values are 8 bytes, padded with 'FF' (TS 102 221 §9.5.2).
pub const PIN_LEN: usize = 8;

/// `pinAttributes` b1: enabled at installation (see the module documentation).
pub const ATTR_ENABLED: u8 = 0x01;
/// `pinAttributes` b3: DISABLE PIN allowed.
pub const ATTR_DISABLE_ALLOWED: u8 = 0x04;
/// SAIP defaults: pinAttributes 7; maxNumOfAttemps-retryNumLeft 51 (PIN, 3/3) and 170 (PUK, 10/10).
const DEFAULT_PIN_ATTRIBUTES: u8 = 7;
const DEFAULT_PIN_TRIES: u8 = 0x33;
const DEFAULT_PUK_TRIES: u8 = 0xAA;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    #[error("TLV error: {0}")]
    Tlv(#[from] tlv::Error),
    #[error("invalid {0}")]
    Invalid(&'static str),
    #[error("PIN {pin:#04x} names PUK {puk:#04x}, which no PE-PUKCodes defines")]
    MissingPuk { pin: u8, puk: u8 },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Pin {
    key_ref: u8,
    value: SecretHex,
    max_tries: u8,
    tries_left: u8,
    enabled: bool,
    /// Disabled with the universal PIN as replacement (DISABLE PIN P1 = '91').
    #[serde(default)]
    replaced_by_universal: bool,
    disable_allowed: bool,
    /// `unblockingPINReference`.
    puk: Option<u8>,
}

impl Pin {
    fn blocked(&self) -> bool {
        self.tries_left == 0
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Puk {
    key_ref: u8,
    value: SecretHex,
    max_tries: u8,
    tries_left: u8,
}

/// The persistent PIN/PUK state of a profile: values, retry counters, enabled flags.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinStore {
    pins: Vec<Pin>,
    puks: Vec<Puk>,
}

/// The volatile security status of a card session: the key references verified since reset.
/// TS 102 221 §11.1.9: the status is valid on every logical channel.
#[derive(Clone, Debug, Default)]
pub struct VerifiedPins {
    verified: Vec<u8>,
}

impl VerifiedPins {
    /// True when `key_ref`'s condition is met: verified this session, or the PIN is disabled
    /// (if the universal PIN replaces it, the universal PIN's condition instead). A key
    /// reference the profile does not define is never satisfied.
    pub fn satisfied(&self, store: &PinStore, key_ref: u8) -> bool {
        match store.pin(key_ref) {
            None => false,
            Some(p) if p.enabled => self.is_verified(key_ref),
            Some(p) if p.replaced_by_universal => match store.pin(UNIVERSAL_PIN) {
                Some(u) if u.enabled => self.is_verified(UNIVERSAL_PIN),
                Some(_) => true,
                None => false,
            },
            Some(_) => true,
        }
    }

    /// Whether `key_ref` was verified in this session.
    pub fn is_verified(&self, key_ref: u8) -> bool {
        self.verified.contains(&key_ref)
    }

    /// Forgets every verification (card reset).
    pub fn clear(&mut self) {
        self.verified.clear();
    }

    fn set(&mut self, key_ref: u8) {
        if !self.verified.contains(&key_ref) {
            self.verified.push(key_ref);
        }
    }

    fn unset(&mut self, key_ref: u8) {
        self.verified.retain(|&k| k != key_ref);
    }
}

/// Splits `maxNumOfAttemps-retryNumLeft`: max in the high nibble, retries left in the low one.
fn tries(packed: u8) -> (u8, u8) {
    let max = packed >> 4;
    (max, (packed & 0x0F).min(max))
}

fn uint8(t: &Tlv<'_>, what: &'static str) -> Result<u8, PinError> {
    u8::try_from(der::decode_uint(t.value)?).map_err(|_| PinError::Invalid(what))
}

fn value8(t: &Tlv<'_>, what: &'static str) -> Result<SecretHex, PinError> {
    if t.value.len() != PIN_LEN {
        return Err(PinError::Invalid(what));
    }
    Ok(SecretHex(t.value.to_vec()))
}

/// ADM key references ('0A'..'0E', '8A'..'8E') hold operator keys of any 8 bytes; the other
/// PINs are 4 to 8 digits (ASCII '0'-'9') padded with 'FF' (TS 102 221 §9.5.2).
fn new_value_ok(key_ref: u8, v: &[u8]) -> bool {
    if matches!(key_ref & 0x7F, 0x0A..=0x0E) {
        return true;
    }
    let digits = v.iter().take_while(|b| b.is_ascii_digit()).count();
    digits >= 4 && v.iter().skip(digits).all(|&b| b == 0xFF)
}

impl PinStore {
    /// From every PE-PUKCodes and PE-PINCodes of the package. Every `unblockingPINReference`
    /// must name a defined PUK.
    pub fn from_package(pkg: &saip::ProfilePackage) -> Result<PinStore, PinError> {
        let mut store = PinStore::default();
        for e in pkg.elements() {
            match e.pe_type() {
                saip::PeType::PukCodes => store.add_puk_codes(e.raw())?,
                saip::PeType::PinCodes => store.add_pin_codes(e.raw())?,
                _ => {}
            }
        }
        store.check_links()?;
        Ok(store)
    }

    /// Adds the PUKs of one PE-PUKCodes element (its complete encoding, tag 'A3'):
    /// `{ [0] puk-Header, [1] pukCodes SEQUENCE OF PUKConfiguration }`.
    fn add_puk_codes(&mut self, raw: &[u8]) -> Result<(), PinError> {
        let pe = Tlv::parse_single(raw)?;
        let mut r = pe.reader();
        r.expect(Tag::context_constructed(0))?;
        let list = r.expect(Tag::context_constructed(1))?;
        for item in tlv::iter(list.value) {
            let item = item?;
            item.expect_tag(Tag::SEQUENCE)?;
            let mut f = item.reader();
            let key_ref = uint8(&f.expect(Tag::context(0))?, "PUK keyReference")?;
            let value = value8(&f.expect(Tag::context(1))?, "pukValue")?;
            let packed = match f.optional(Tag::context(2))? {
                Some(t) => uint8(&t, "PUK maxNumOfAttemps-retryNumLeft")?,
                None => DEFAULT_PUK_TRIES,
            };
            f.finish_lenient()?;
            let (max_tries, tries_left) = tries(packed);
            if self.puk(key_ref).is_none() {
                self.puks.push(Puk {
                    key_ref,
                    value,
                    max_tries,
                    tries_left,
                });
            }
        }
        r.finish_lenient()?;
        Ok(())
    }

    /// Adds the PINs of one PE-PINCodes element (tag 'A2'): `{ [0] pin-Header, [1] CHOICE {
    /// pinconfig [0] SEQUENCE OF PINConfiguration, filePath [1] OCTET STRING } }`.
    fn add_pin_codes(&mut self, raw: &[u8]) -> Result<(), PinError> {
        let pe = Tlv::parse_single(raw)?;
        let mut r = pe.reader();
        r.expect(Tag::context_constructed(0))?;
        // A CHOICE under AUTOMATIC TAGS is explicitly tagged.
        let choice = r.expect(Tag::context_constructed(1))?;
        r.finish_lenient()?;
        let alt = Tlv::parse_single(choice.value)?;
        if alt.tag == Tag::context(1) {
            // filePath: the PINs of another DF/ADF, already in this store.
            return Ok(());
        }
        alt.expect_tag(Tag::context_constructed(0))?;
        for item in tlv::iter(alt.value) {
            let item = item?;
            item.expect_tag(Tag::SEQUENCE)?;
            let mut f = item.reader();
            let key_ref = uint8(&f.expect(Tag::context(0))?, "PIN keyReference")?;
            let value = value8(&f.expect(Tag::context(1))?, "pinValue")?;
            let puk = f
                .optional(Tag::context(2))?
                .map(|t| uint8(&t, "unblockingPINReference"))
                .transpose()?;
            let attributes = match f.optional(Tag::context(3))? {
                Some(t) => uint8(&t, "pinAttributes")?,
                None => DEFAULT_PIN_ATTRIBUTES,
            };
            let packed = match f.optional(Tag::context(4))? {
                Some(t) => uint8(&t, "PIN maxNumOfAttemps-retryNumLeft")?,
                None => DEFAULT_PIN_TRIES,
            };
            f.finish_lenient()?;
            if key_ref & 0x60 != 0 || key_ref & 0x1F == 0 {
                return Err(PinError::Invalid("PIN keyReference"));
            }
            let (max_tries, tries_left) = tries(packed);
            if self.pin(key_ref).is_none() {
                self.pins.push(Pin {
                    key_ref,
                    value,
                    max_tries,
                    tries_left,
                    enabled: attributes & ATTR_ENABLED != 0,
                    replaced_by_universal: false,
                    disable_allowed: attributes & ATTR_DISABLE_ALLOWED != 0,
                    puk,
                });
            }
        }
        Ok(())
    }

    fn check_links(&self) -> Result<(), PinError> {
        for p in &self.pins {
            if let Some(puk) = p.puk {
                if self.puk(puk).is_none() {
                    return Err(PinError::MissingPuk {
                        pin: p.key_ref,
                        puk,
                    });
                }
            }
        }
        Ok(())
    }

    fn pin(&self, key_ref: u8) -> Option<&Pin> {
        self.pins.iter().find(|p| p.key_ref == key_ref)
    }

    fn pin_mut(&mut self, key_ref: u8) -> Option<&mut Pin> {
        self.pins.iter_mut().find(|p| p.key_ref == key_ref)
    }

    fn puk(&self, key_ref: u8) -> Option<&Puk> {
        self.puks.iter().find(|p| p.key_ref == key_ref)
    }

    /// The key references of the defined PINs, in package order.
    pub fn key_refs(&self) -> Vec<u8> {
        self.pins.iter().map(|p| p.key_ref).collect()
    }

    /// Whether a PIN is defined and enabled.
    pub fn is_enabled(&self, key_ref: u8) -> bool {
        self.pin(key_ref).is_some_and(|p| p.enabled)
    }

    /// Retries left of a PIN (`None`: not defined).
    pub fn tries_left(&self, key_ref: u8) -> Option<u8> {
        self.pin(key_ref).map(|p| p.tries_left)
    }

    /// Retries left of the PUK that unblocks a PIN (`None`: no PUK).
    pub fn puk_tries_left(&self, pin_ref: u8) -> Option<u8> {
        let puk = self.pin(pin_ref)?.puk?;
        self.puk(puk).map(|p| p.tries_left)
    }

    /// PS_DO for an FCP's 'C6' PIN status template: for each key reference, whether the PIN is
    /// enabled. A reference the profile does not define is reported disabled.
    pub fn pin_status(&self, key_refs: &[u8]) -> Vec<(u8, bool)> {
        key_refs.iter().map(|&k| (k, self.is_enabled(k))).collect()
    }

    /// VERIFY (20), CHANGE (24), DISABLE (26), ENABLE (28), UNBLOCK (2C) PIN. Success gives
    /// empty response data (SW 9000).
    pub fn process(
        &mut self,
        verified: &mut VerifiedPins,
        cmd: &Command,
    ) -> Result<Vec<u8>, StatusWord> {
        match cmd.ins {
            INS_VERIFY => self.verify(verified, cmd),
            INS_CHANGE => self.change(verified, cmd),
            INS_DISABLE => self.disable(verified, cmd),
            INS_ENABLE => self.enable(verified, cmd),
            INS_UNBLOCK => self.unblock(verified, cmd),
            _ => Err(StatusWord::INS_NOT_SUPPORTED),
        }
        .map(|()| Vec::new())
    }

    /// P1 must be '00' (except DISABLE, checked there); P2 is a key reference (TS 102 221
    /// Table 11.15: b7-b6 = '00', a non-zero reference number); the PIN must be defined.
    fn target(&self, cmd: &Command, lens: &[usize]) -> Result<u8, StatusWord> {
        if cmd.ins != INS_DISABLE && cmd.p1 != 0x00 {
            return Err(StatusWord::INCORRECT_P1_P2);
        }
        let key_ref = cmd.p2;
        if key_ref & 0x60 != 0 || key_ref & 0x1F == 0 {
            return Err(StatusWord::INCORRECT_P1_P2);
        }
        if !lens.contains(&cmd.data.len()) {
            return Err(StatusWord::WRONG_LENGTH);
        }
        if self.pin(key_ref).is_none() {
            return Err(StatusWord::REFERENCED_DATA_NOT_FOUND);
        }
        Ok(key_ref)
    }

    /// Compares `presented` with the PIN. Success resets the counter and sets the security
    /// status; failure decrements the counter, clears the status and gives 63CX (63C0 when the
    /// PIN becomes blocked).
    fn check(
        pin: &mut Pin,
        verified: &mut VerifiedPins,
        presented: &[u8],
    ) -> Result<(), StatusWord> {
        if symcrypto::ct_eq(&pin.value.0, presented) {
            pin.tries_left = pin.max_tries;
            verified.set(pin.key_ref);
            Ok(())
        } else {
            pin.tries_left = pin.tries_left.saturating_sub(1);
            verified.unset(pin.key_ref);
            Err(StatusWord::retries_left(pin.tries_left))
        }
    }

    /// §11.1.9. Empty data: status request (6983 blocked; 9000 when no verification is needed,
    /// the PIN being verified or disabled; 63CX otherwise).
    fn verify(&mut self, verified: &mut VerifiedPins, cmd: &Command) -> Result<(), StatusWord> {
        let key_ref = self.target(cmd, &[0, PIN_LEN])?;
        let pin = self
            .pin_mut(key_ref)
            .ok_or(StatusWord::REFERENCED_DATA_NOT_FOUND)?;
        if pin.blocked() {
            return Err(StatusWord::AUTH_METHOD_BLOCKED);
        }
        if cmd.data.is_empty() {
            return if !pin.enabled || verified.is_verified(key_ref) {
                Ok(())
            } else {
                Err(StatusWord::retries_left(pin.tries_left))
            };
        }
        if !pin.enabled {
            return Err(StatusWord::REFERENCE_DATA_NOT_USABLE);
        }
        Self::check(pin, verified, &cmd.data)
    }

    /// §11.1.10: old PIN || new PIN. The PIN must be enabled and not blocked.
    fn change(&mut self, verified: &mut VerifiedPins, cmd: &Command) -> Result<(), StatusWord> {
        let key_ref = self.target(cmd, &[2 * PIN_LEN])?;
        let pin = self
            .pin_mut(key_ref)
            .ok_or(StatusWord::REFERENCED_DATA_NOT_FOUND)?;
        if pin.blocked() {
            return Err(StatusWord::AUTH_METHOD_BLOCKED);
        }
        if !pin.enabled {
            return Err(StatusWord::REFERENCE_DATA_NOT_USABLE);
        }
        let (old, new) = cmd.data.split_at(PIN_LEN);
        if !new_value_ok(key_ref, new) {
            return Err(StatusWord::INCORRECT_DATA);
        }
        Self::check(pin, verified, old)?;
        pin.value = SecretHex(new.to_vec());
        Ok(())
    }

    /// §11.1.11: P1 '00', or '91' to have the universal PIN replace the disabled PIN.
    fn disable(&mut self, verified: &mut VerifiedPins, cmd: &Command) -> Result<(), StatusWord> {
        let replace = match cmd.p1 {
            0x00 => false,
            P1_REPLACE_WITH_UNIVERSAL if cmd.p2 != UNIVERSAL_PIN => true,
            _ => return Err(StatusWord::INCORRECT_P1_P2),
        };
        let key_ref = self.target(cmd, &[PIN_LEN])?;
        if replace {
            match self.pin(UNIVERSAL_PIN) {
                None => return Err(StatusWord::REFERENCED_DATA_NOT_FOUND),
                // The replacement must itself be usable.
                Some(u) if !u.enabled || u.blocked() => {
                    return Err(StatusWord::CONDITIONS_NOT_SATISFIED)
                }
                Some(_) => {}
            }
        }
        // The universal PIN cannot be disabled while it replaces another PIN.
        if key_ref == UNIVERSAL_PIN && self.pins.iter().any(|p| p.replaced_by_universal) {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        let pin = self
            .pin_mut(key_ref)
            .ok_or(StatusWord::REFERENCED_DATA_NOT_FOUND)?;
        if pin.blocked() {
            return Err(StatusWord::AUTH_METHOD_BLOCKED);
        }
        if !pin.enabled {
            return Err(StatusWord::REFERENCE_DATA_NOT_USABLE);
        }
        // pinAttributes forbids disabling (e.g. ADM keys, PIN2): checked before the PIN so
        // that no try is spent.
        if !pin.disable_allowed {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        Self::check(pin, verified, &cmd.data)?;
        pin.enabled = false;
        pin.replaced_by_universal = replace;
        Ok(())
    }

    /// §11.1.12: the PIN must be disabled and not blocked.
    fn enable(&mut self, verified: &mut VerifiedPins, cmd: &Command) -> Result<(), StatusWord> {
        let key_ref = self.target(cmd, &[PIN_LEN])?;
        let pin = self
            .pin_mut(key_ref)
            .ok_or(StatusWord::REFERENCED_DATA_NOT_FOUND)?;
        if pin.blocked() {
            return Err(StatusWord::AUTH_METHOD_BLOCKED);
        }
        if pin.enabled {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        Self::check(pin, verified, &cmd.data)?;
        pin.enabled = true;
        pin.replaced_by_universal = false;
        Ok(())
    }

    /// §11.1.13: UNBLOCK PIN || new PIN, or empty data for the UNBLOCK PIN retry counter
    /// (63CX, or 6983 when blocked). Success sets the new PIN, resets both counters, enables
    /// the PIN and sets its security status.
    fn unblock(&mut self, verified: &mut VerifiedPins, cmd: &Command) -> Result<(), StatusWord> {
        let key_ref = self.target(cmd, &[0, 2 * PIN_LEN])?;
        let puk_ref = self
            .pin(key_ref)
            .and_then(|p| p.puk)
            .ok_or(StatusWord::REFERENCED_DATA_NOT_FOUND)?;
        let puk = self
            .puks
            .iter_mut()
            .find(|p| p.key_ref == puk_ref)
            .ok_or(StatusWord::REFERENCED_DATA_NOT_FOUND)?;
        if puk.tries_left == 0 {
            return Err(StatusWord::AUTH_METHOD_BLOCKED);
        }
        if cmd.data.is_empty() {
            return Err(StatusWord::retries_left(puk.tries_left));
        }
        let (presented, new) = cmd.data.split_at(PIN_LEN);
        if !new_value_ok(key_ref, new) {
            return Err(StatusWord::INCORRECT_DATA);
        }
        if !symcrypto::ct_eq(&puk.value.0, presented) {
            puk.tries_left = puk.tries_left.saturating_sub(1);
            return Err(StatusWord::retries_left(puk.tries_left));
        }
        puk.tries_left = puk.max_tries;
        let pin = self
            .pin_mut(key_ref)
            .ok_or(StatusWord::REFERENCED_DATA_NOT_FOUND)?;
        pin.value = SecretHex(new.to_vec());
        pin.tries_left = pin.max_tries;
        pin.enabled = true;
        pin.replaced_by_universal = false;
        verified.set(key_ref);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tlv::Writer;

    const PIN1: &[u8; 8] = b"1234\xff\xff\xff\xff";
    const PUK1: &[u8; 8] = b"12345678";
    const ADM1: &[u8; 8] = b"\x3f\x00\x11\x22\x33\x44\x55\x66";
    const UPIN: &[u8; 8] = b"0000\xff\xff\xff\xff";

    fn header(w: &mut Writer) {
        w.nested(Tag::context_constructed(0), |h| {
            h.put(Tag::context(0), &[]);
            h.put(Tag::context(1), &[2]);
        });
    }

    /// (keyReference, value, unblockingPINReference, pinAttributes, tries)
    type PinDef<'a> = (u8, &'a [u8], Option<u8>, Option<u8>, Option<u8>);

    fn pin_pe(pins: &[PinDef<'_>]) -> Vec<u8> {
        let mut w = Writer::new();
        w.nested(Tag::context_constructed(2), |pe| {
            header(pe);
            pe.nested(Tag::context_constructed(1), |c| {
                c.nested(Tag::context_constructed(0), |l| {
                    for (k, v, puk, attr, tries) in pins {
                        l.nested(Tag::SEQUENCE, |s| {
                            s.put(Tag::context(0), &der::encode_uint(u64::from(*k)));
                            s.put(Tag::context(1), v);
                            if let Some(p) = puk {
                                s.put(Tag::context(2), &der::encode_uint(u64::from(*p)));
                            }
                            if let Some(a) = attr {
                                s.put(Tag::context(3), &der::encode_uint(u64::from(*a)));
                            }
                            if let Some(t) = tries {
                                s.put(Tag::context(4), &der::encode_uint(u64::from(*t)));
                            }
                        });
                    }
                });
            });
        });
        w.into_vec()
    }

    fn puk_pe(puks: &[(u8, &[u8], Option<u8>)]) -> Vec<u8> {
        let mut w = Writer::new();
        w.nested(Tag::context_constructed(3), |pe| {
            header(pe);
            pe.nested(Tag::context_constructed(1), |l| {
                for (k, v, tries) in puks {
                    l.nested(Tag::SEQUENCE, |s| {
                        s.put(Tag::context(0), &der::encode_uint(u64::from(*k)));
                        s.put(Tag::context(1), v);
                        if let Some(t) = tries {
                            s.put(Tag::context(2), &der::encode_uint(u64::from(*t)));
                        }
                    });
                }
            });
        });
        w.into_vec()
    }

    /// PIN1 enabled (3 tries, PUK 1 with 10 tries), PIN2 '81' enabled and not disablable
    /// (PUK 0x81, 2 tries left of 10), ADM1 '0A' enabled, universal PIN '11' enabled.
    fn store() -> PinStore {
        let mut s = PinStore::default();
        s.add_puk_codes(&puk_pe(&[
            (0x01, PUK1, None),
            (0x81, b"87654321", Some(0xA2)),
        ]))
        .unwrap();
        s.add_pin_codes(&pin_pe(&[
            (0x01, PIN1, Some(0x01), Some(0x07), None),
            (0x0A, ADM1, None, Some(0x03), Some(0xAA)),
            (0x11, UPIN, None, Some(0x07), None),
        ]))
        .unwrap();
        s.add_pin_codes(&pin_pe(&[(
            0x81,
            b"5678\xff\xff\xff\xff",
            Some(0x81),
            Some(0x03),
            None,
        )]))
        .unwrap();
        // A second definition of '81' (e.g. in the ISIM) is ignored.
        s.add_pin_codes(&pin_pe(&[(
            0x81,
            b"0000\xff\xff\xff\xff",
            None,
            None,
            None,
        )]))
        .unwrap();
        s.check_links().unwrap();
        s
    }

    fn apdu(ins: u8, p1: u8, p2: u8, data: &[u8]) -> Command {
        Command::with_data(0x00, ins, p1, p2, data.to_vec())
    }

    fn two(a: &[u8], b: &[u8]) -> Vec<u8> {
        [a, b].concat()
    }

    #[test]
    fn parses_defaults_and_nibbles() {
        let s = store();
        assert_eq!(s.key_refs(), vec![0x01, 0x0A, 0x11, 0x81]);
        assert_eq!(s.tries_left(0x01), Some(3));
        assert_eq!(s.tries_left(0x0A), Some(10));
        assert_eq!(s.puk_tries_left(0x01), Some(10));
        assert_eq!(s.puk_tries_left(0x81), Some(2));
        assert_eq!(s.puk_tries_left(0x0A), None);
        assert_eq!(
            s.pin_status(&[0x01, 0x81, 0x0A, 0x02]),
            vec![(0x01, true), (0x81, true), (0x0A, true), (0x02, false)]
        );
    }

    #[test]
    fn missing_puk_is_an_error() {
        let mut s = PinStore::default();
        s.add_pin_codes(&pin_pe(&[(0x01, PIN1, Some(0x02), None, None)]))
            .unwrap();
        assert_eq!(
            s.check_links(),
            Err(PinError::MissingPuk { pin: 1, puk: 2 })
        );
        let mut s = PinStore::default();
        assert!(s
            .add_pin_codes(&pin_pe(&[(0x01, b"1234", None, None, None)]))
            .is_err());
        assert!(s.add_pin_codes(&[0xA2, 0x01]).is_err());
        assert!(s
            .add_pin_codes(&pin_pe(&[(0x41, PIN1, None, None, None)]))
            .is_err());
    }

    #[test]
    fn verify_paths() {
        let mut s = store();
        let mut v = VerifiedPins::default();
        // Status query: not verified yet → 63C3.
        assert_eq!(
            s.process(&mut v, &apdu(0x20, 0, 0x01, &[])),
            Err(StatusWord(0x63C3))
        );
        assert!(!v.satisfied(&s, 0x01));
        // Wrong PIN → 63C2; correct → 9000 and the counter is back to 3.
        assert_eq!(
            s.process(&mut v, &apdu(0x20, 0, 0x01, b"9999\xff\xff\xff\xff")),
            Err(StatusWord(0x63C2))
        );
        assert_eq!(s.process(&mut v, &apdu(0x20, 0, 0x01, PIN1)), Ok(vec![]));
        assert_eq!(s.tries_left(0x01), Some(3));
        assert!(v.satisfied(&s, 0x01));
        assert_eq!(s.process(&mut v, &apdu(0x20, 0, 0x01, &[])), Ok(vec![]));
        // Bad lengths, P1/P2 and references.
        assert_eq!(
            s.process(&mut v, &apdu(0x20, 0, 0x01, &PIN1[..4])),
            Err(StatusWord::WRONG_LENGTH)
        );
        assert_eq!(
            s.process(&mut v, &apdu(0x20, 1, 0x01, PIN1)),
            Err(StatusWord::INCORRECT_P1_P2)
        );
        for p2 in [0x00, 0x80, 0x21, 0x41] {
            assert_eq!(
                s.process(&mut v, &apdu(0x20, 0, p2, PIN1)),
                Err(StatusWord::INCORRECT_P1_P2),
                "P2 {p2:02x}"
            );
        }
        assert_eq!(
            s.process(&mut v, &apdu(0x20, 0, 0x02, PIN1)),
            Err(StatusWord::REFERENCED_DATA_NOT_FOUND)
        );
        assert_eq!(
            s.process(&mut v, &apdu(0x22, 0, 0x01, PIN1)),
            Err(StatusWord::INS_NOT_SUPPORTED)
        );
        // Undefined references are never satisfied.
        assert!(!v.satisfied(&s, 0x02));
        v.clear();
        assert!(!v.satisfied(&s, 0x01));
    }

    #[test]
    fn block_and_unblock_with_puk() {
        let mut s = store();
        let mut v = VerifiedPins::default();
        let wrong = b"0000\xff\xff\xff\xff";
        for left in [2u8, 1, 0] {
            assert_eq!(
                s.process(&mut v, &apdu(0x20, 0, 0x01, wrong)),
                Err(StatusWord::retries_left(left))
            );
        }
        // Blocked: every PIN command answers 6983, even with the right PIN.
        assert_eq!(
            s.process(&mut v, &apdu(0x20, 0, 0x01, PIN1)),
            Err(StatusWord::AUTH_METHOD_BLOCKED)
        );
        assert_eq!(
            s.process(&mut v, &apdu(0x20, 0, 0x01, &[])),
            Err(StatusWord::AUTH_METHOD_BLOCKED)
        );
        assert_eq!(
            s.process(&mut v, &apdu(0x24, 0, 0x01, &two(PIN1, PIN1))),
            Err(StatusWord::AUTH_METHOD_BLOCKED)
        );
        assert_eq!(
            s.process(&mut v, &apdu(0x26, 0, 0x01, PIN1)),
            Err(StatusWord::AUTH_METHOD_BLOCKED)
        );
        assert!(!v.satisfied(&s, 0x01));
        // UNBLOCK status query: 10 PUK tries.
        assert_eq!(
            s.process(&mut v, &apdu(0x2C, 0, 0x01, &[])),
            Err(StatusWord(0x63CA))
        );
        // Wrong PUK → 63C9; a malformed new PIN → 6A80 without spending a try.
        let new_pin = b"4321\xff\xff\xff\xff";
        assert_eq!(
            s.process(&mut v, &apdu(0x2C, 0, 0x01, &two(b"00000000", new_pin))),
            Err(StatusWord(0x63C9))
        );
        assert_eq!(
            s.process(
                &mut v,
                &apdu(0x2C, 0, 0x01, &two(PUK1, b"12\xff\xff\xff\xff\xff\xff"))
            ),
            Err(StatusWord::INCORRECT_DATA)
        );
        assert_eq!(
            s.process(
                &mut v,
                &apdu(0x2C, 0, 0x01, &two(PUK1, b"12a4\xff\xff\xff\xff"))
            ),
            Err(StatusWord::INCORRECT_DATA)
        );
        assert_eq!(s.puk_tries_left(0x01), Some(9));
        assert_eq!(
            s.process(&mut v, &apdu(0x2C, 0, 0x01, &PIN1[..])),
            Err(StatusWord::WRONG_LENGTH)
        );
        // Right PUK: new PIN, both counters reset, PIN verified.
        assert_eq!(
            s.process(&mut v, &apdu(0x2C, 0, 0x01, &two(PUK1, new_pin))),
            Ok(vec![])
        );
        assert_eq!(s.tries_left(0x01), Some(3));
        assert_eq!(s.puk_tries_left(0x01), Some(10));
        assert!(v.satisfied(&s, 0x01));
        v.clear();
        assert_eq!(
            s.process(&mut v, &apdu(0x20, 0, 0x01, PIN1)),
            Err(StatusWord(0x63C2))
        );
        assert_eq!(s.process(&mut v, &apdu(0x20, 0, 0x01, new_pin)), Ok(vec![]));
        // No PUK for ADM1.
        assert_eq!(
            s.process(&mut v, &apdu(0x2C, 0, 0x0A, &[])),
            Err(StatusWord::REFERENCED_DATA_NOT_FOUND)
        );
    }

    #[test]
    fn puk_runs_out() {
        let mut s = store();
        let mut v = VerifiedPins::default();
        // PUK '81' has 2 tries left.
        let new_pin = b"1111\xff\xff\xff\xff";
        assert_eq!(
            s.process(&mut v, &apdu(0x2C, 0, 0x81, &two(b"00000000", new_pin))),
            Err(StatusWord(0x63C1))
        );
        assert_eq!(
            s.process(&mut v, &apdu(0x2C, 0, 0x81, &two(b"00000000", new_pin))),
            Err(StatusWord(0x63C0))
        );
        assert_eq!(
            s.process(&mut v, &apdu(0x2C, 0, 0x81, &two(b"87654321", new_pin))),
            Err(StatusWord::AUTH_METHOD_BLOCKED)
        );
        assert_eq!(
            s.process(&mut v, &apdu(0x2C, 0, 0x81, &[])),
            Err(StatusWord::AUTH_METHOD_BLOCKED)
        );
    }

    #[test]
    fn change_pin() {
        let mut s = store();
        let mut v = VerifiedPins::default();
        let new_pin = b"24680\xff\xff\xff";
        assert_eq!(
            s.process(
                &mut v,
                &apdu(0x24, 0, 0x01, &two(b"1111\xff\xff\xff\xff", new_pin))
            ),
            Err(StatusWord(0x63C2))
        );
        assert_eq!(
            s.process(&mut v, &apdu(0x24, 0, 0x01, PIN1)),
            Err(StatusWord::WRONG_LENGTH)
        );
        assert_eq!(
            s.process(&mut v, &apdu(0x24, 0, 0x01, &two(PIN1, new_pin))),
            Ok(vec![])
        );
        assert_eq!(s.tries_left(0x01), Some(3));
        assert!(v.satisfied(&s, 0x01));
        v.clear();
        assert_eq!(s.process(&mut v, &apdu(0x20, 0, 0x01, new_pin)), Ok(vec![]));
        // ADM keys take any 8 bytes.
        let new_adm = [0xA5u8; 8];
        assert_eq!(
            s.process(&mut v, &apdu(0x24, 0, 0x0A, &two(ADM1, &new_adm))),
            Ok(vec![])
        );
        assert_eq!(
            s.process(&mut v, &apdu(0x20, 0, 0x0A, &new_adm)),
            Ok(vec![])
        );
    }

    #[test]
    fn disable_enable_pin() {
        let mut s = store();
        let mut v = VerifiedPins::default();
        // ENABLE of an enabled PIN: 6985.
        assert_eq!(
            s.process(&mut v, &apdu(0x28, 0, 0x01, PIN1)),
            Err(StatusWord::CONDITIONS_NOT_SATISFIED)
        );
        // DISABLE with a wrong PIN spends a try.
        assert_eq!(
            s.process(&mut v, &apdu(0x26, 0, 0x01, b"7777\xff\xff\xff\xff")),
            Err(StatusWord(0x63C2))
        );
        assert_eq!(s.process(&mut v, &apdu(0x26, 0, 0x01, PIN1)), Ok(vec![]));
        assert!(!s.is_enabled(0x01));
        assert_eq!(s.pin_status(&[0x01]), vec![(0x01, false)]);
        let fresh = VerifiedPins::default();
        assert!(
            fresh.satisfied(&s, 0x01),
            "a disabled PIN is always satisfied"
        );
        // On a disabled PIN: VERIFY/CHANGE/DISABLE → 6984; VERIFY status → 9000.
        assert_eq!(
            s.process(&mut v, &apdu(0x20, 0, 0x01, PIN1)),
            Err(StatusWord::REFERENCE_DATA_NOT_USABLE)
        );
        assert_eq!(s.process(&mut v, &apdu(0x20, 0, 0x01, &[])), Ok(vec![]));
        assert_eq!(
            s.process(&mut v, &apdu(0x24, 0, 0x01, &two(PIN1, PIN1))),
            Err(StatusWord::REFERENCE_DATA_NOT_USABLE)
        );
        assert_eq!(
            s.process(&mut v, &apdu(0x26, 0, 0x01, PIN1)),
            Err(StatusWord::REFERENCE_DATA_NOT_USABLE)
        );
        // ENABLE: wrong PIN → 63C2, right → 9000 and verified.
        assert_eq!(
            s.process(&mut v, &apdu(0x28, 0, 0x01, b"7777\xff\xff\xff\xff")),
            Err(StatusWord(0x63C2))
        );
        assert_eq!(s.process(&mut v, &apdu(0x28, 0, 0x01, PIN1)), Ok(vec![]));
        assert!(s.is_enabled(0x01));
        assert!(v.satisfied(&s, 0x01));
        // ADM and PIN2 may not be disabled (pinAttributes b3 = 0): 6985, no try spent.
        assert_eq!(
            s.process(&mut v, &apdu(0x26, 0, 0x0A, ADM1)),
            Err(StatusWord::CONDITIONS_NOT_SATISFIED)
        );
        assert_eq!(s.tries_left(0x0A), Some(10));
        // Bad P1, lengths.
        assert_eq!(
            s.process(&mut v, &apdu(0x26, 0x01, 0x01, PIN1)),
            Err(StatusWord::INCORRECT_P1_P2)
        );
        assert_eq!(
            s.process(&mut v, &apdu(0x28, 0x91, 0x01, PIN1)),
            Err(StatusWord::INCORRECT_P1_P2)
        );
        assert_eq!(
            s.process(&mut v, &apdu(0x26, 0, 0x01, &[])),
            Err(StatusWord::WRONG_LENGTH)
        );
        assert_eq!(
            s.process(&mut v, &apdu(0x28, 0, 0x01, &two(PIN1, PIN1))),
            Err(StatusWord::WRONG_LENGTH)
        );
    }

    #[test]
    fn universal_pin_replacement() {
        let mut s = store();
        let mut v = VerifiedPins::default();
        // '91' on the universal PIN itself is meaningless.
        assert_eq!(
            s.process(&mut v, &apdu(0x26, 0x91, 0x11, UPIN)),
            Err(StatusWord::INCORRECT_P1_P2)
        );
        assert_eq!(s.process(&mut v, &apdu(0x26, 0x91, 0x01, PIN1)), Ok(vec![]));
        let mut fresh = VerifiedPins::default();
        assert!(
            !fresh.satisfied(&s, 0x01),
            "the universal PIN now guards PIN1's files"
        );
        assert_eq!(
            s.process(&mut fresh, &apdu(0x20, 0, 0x11, UPIN)),
            Ok(vec![])
        );
        assert!(fresh.satisfied(&s, 0x01));
        // The universal PIN cannot be disabled while it replaces PIN1.
        assert_eq!(
            s.process(&mut fresh, &apdu(0x26, 0, 0x11, UPIN)),
            Err(StatusWord::CONDITIONS_NOT_SATISFIED)
        );
        // Re-enabling PIN1 ends the replacement.
        assert_eq!(s.process(&mut v, &apdu(0x28, 0, 0x01, PIN1)), Ok(vec![]));
        assert_eq!(s.process(&mut v, &apdu(0x26, 0, 0x11, UPIN)), Ok(vec![]));
        // No universal PIN defined → 6A88.
        let mut t = PinStore::default();
        t.add_pin_codes(&pin_pe(&[(0x01, PIN1, None, None, None)]))
            .unwrap();
        assert_eq!(
            t.process(&mut v, &apdu(0x26, 0x91, 0x01, PIN1)),
            Err(StatusWord::REFERENCED_DATA_NOT_FOUND)
        );
    }

    #[test]
    fn no_panic_on_any_command() {
        let mut s = store();
        let mut v = VerifiedPins::default();
        for ins in [0x20, 0x24, 0x26, 0x28, 0x2C] {
            for p1 in [0x00, 0x91, 0xFF] {
                for p2 in [0x00, 0x01, 0x0A, 0x11, 0x81, 0x9F, 0xFF] {
                    for len in [0usize, 1, 7, 8, 9, 15, 16, 17, 255] {
                        let _ = s.process(&mut v, &apdu(ins, p1, p2, &vec![0x31; len]));
                    }
                }
            }
        }
    }

    #[test]
    fn debug_does_not_print_values() {
        let s = format!("{:?}", store());
        assert!(s.contains("redacted"));
        assert!(!s.contains("49, 50, 51, 52"));
    }
}
