//! The host end of a security domain over any [`CardTransport`]: SELECT (GP CS v2.3.1 §11.9),
//! secure channel initiation (INITIALIZE UPDATE / EXTERNAL AUTHENTICATE: GP CS v2.3.1 Annex
//! E.5 for SCP02, Amd D §7.1 for SCP03) with [`HostHandshake`], and commands sent through the
//! open [`Session`] (`61xx` / `6Cxx` handled by [`apdu::transceive`], R-MAC and R-ENCRYPTION
//! removed from the responses).
//!
//! [`SdLink`] is generic over the transport: `Box<dyn CardTransport>`, `&mut dyn
//! CardTransport`, or any concrete transport (e.g. a recording one). Errors are
//! [`HostError`].

use std::fmt;

use apdu::{ApduError, CardTransport, Command, Response, StatusWord};
use rand_core::CryptoRng;
use tlv::Tag;
use zeroize::Zeroize;

use crate::commands::{self, parse_status_legacy, parse_status_tlv, GetStatus, RegistryEntry};
use crate::diversify::Diversification;
use crate::error::GpError;
use crate::keys::{KeySet, KeyType};
use crate::level::SecurityLevel;
use crate::session::{HostHandshake, InitUpdateResponse, Scp, Session};

/// Why a secure channel could not be opened, or a response's protection did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// INITIALIZE UPDATE answered `6A88`: no key set with this KVN (GP CS §11.9.2.1).
    #[error("no key set with KVN {kvn:02X} (6A88)")]
    NoKeySet { kvn: u8 },
    /// INITIALIZE UPDATE answered `6983` (ISO/IEC 7816-4 §5.6: authentication method blocked).
    #[error("the key set is blocked (6983)")]
    Blocked,
    /// INITIALIZE UPDATE answered another error status.
    #[error("INITIALIZE UPDATE answered {0}")]
    InitializeUpdate(StatusWord),
    /// The INITIALIZE UPDATE response could not be parsed.
    #[error("INITIALIZE UPDATE response: {0}")]
    BadInitUpdateResponse(GpError),
    /// The card answered with another protocol than the one asked for.
    #[error("the card answered with SCP{got:02X}, not SCP{want:02X}")]
    WrongProtocol { want: u8, got: u8 },
    /// The card cryptogram did not verify.
    #[error("the card cryptogram does not verify: wrong keys or diversification")]
    CardCryptogram,
    /// A pseudo-random card challenge did not verify (Amd D §6.2.2.1).
    #[error("the card challenge does not verify: wrong keys or diversification")]
    CardChallenge,
    /// Another handshake failure (security level not allowed by "i", key type, lengths).
    #[error("{0}")]
    Handshake(GpError),
    /// EXTERNAL AUTHENTICATE answered an error status (`6300`: host cryptogram refused).
    #[error("EXTERNAL AUTHENTICATE answered {0}")]
    ExternalAuthenticate(StatusWord),
    /// A response's R-MAC (or R-ENCRYPTION) did not verify.
    #[error("response protection: {0}")]
    ResponseProtection(GpError),
}

/// Errors of [`SdLink`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// The transport failed, or the card's answer was not an APDU response.
    #[error(transparent)]
    Apdu(#[from] ApduError),
    /// The card answered a command with an error status word.
    #[error("{what}: the card answered {sw}")]
    Card { what: String, sw: StatusWord },
    /// SELECT of `requested` reached another application (its FCI names `reached`): the
    /// interface routes the AID elsewhere (e.g. to an eUICC's ISD-R).
    #[error("SELECT {} reached {} instead", hex::encode_upper(.requested), hex::encode_upper(.reached))]
    Routed {
        requested: Vec<u8>,
        reached: Vec<u8>,
    },
    /// The secure channel could not be opened, or a response's protection did not verify.
    #[error("secure channel: {0}")]
    Auth(#[from] AuthError),
    /// The channel parameters' keys are unusable (length, type).
    #[error("keys: {0}")]
    Keys(GpError),
    /// A command could not be protected or a response parsed (e.g. data too long).
    #[error(transparent)]
    Gp(#[from] GpError),
    /// The card keeps answering GET STATUS with `6310`.
    #[error("GET STATUS: the card keeps answering 6310")]
    EndlessStatus,
}

impl From<apdu::TransportError> for HostError {
    fn from(e: apdu::TransportError) -> HostError {
        HostError::Apdu(ApduError::Transport(e))
    }
}

impl HostError {
    /// The status word of a card refusal.
    pub fn sw(&self) -> Option<StatusWord> {
        match self {
            HostError::Card { sw, .. } => Some(*sw),
            _ => None,
        }
    }

    /// True when the link to the card itself failed (no card, reset, timeout).
    pub fn is_transport(&self) -> bool {
        matches!(self, HostError::Apdu(ApduError::Transport(_)))
    }
}

pub type Result<T, E = HostError> = std::result::Result<T, E>;

/// Everything needed to open a secure channel. Key bytes are zeroized on drop and never shown
/// by `Debug`.
#[derive(Clone)]
pub struct ChannelParams {
    pub enc: Vec<u8>,
    pub mac: Vec<u8>,
    pub dek: Vec<u8>,
    /// KVN asked for in INITIALIZE UPDATE ('00': the card's default).
    pub kvn: u8,
    /// Forced protocol ('02'/'03'); otherwise the card's recognition data or its INITIALIZE
    /// UPDATE response decides.
    pub scp: Option<u8>,
    /// Forced "i" parameter.
    pub scp_i: Option<u8>,
    pub level: SecurityLevel,
    pub diversification: Diversification,
}

impl ChannelParams {
    /// The parameters for a key set: its KVN, its protocol (SCP02 for DES, SCP03 for AES),
    /// the "i" parameter as the card announces it.
    pub fn for_key_set(keys: &KeySet, level: SecurityLevel) -> ChannelParams {
        ChannelParams {
            enc: keys.enc().expose().to_vec(),
            mac: keys.mac().expose().to_vec(),
            dek: keys.dek().expose().to_vec(),
            kvn: keys.kvn(),
            scp: Some(match keys.key_type() {
                KeyType::Des => 0x02,
                KeyType::Aes => 0x03,
            }),
            scp_i: None,
            level,
            diversification: Diversification::None,
        }
    }
}

impl fmt::Debug for ChannelParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelParams")
            .field("kvn", &self.kvn)
            .field("scp", &self.scp)
            .field("scp_i", &self.scp_i)
            .field("level", &self.level)
            .field("diversification", &self.diversification)
            .finish_non_exhaustive()
    }
}

impl Drop for ChannelParams {
    fn drop(&mut self) {
        self.enc.zeroize();
        self.mac.zeroize();
        self.dek.zeroize();
    }
}

/// What the channel turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    pub scp: Scp,
    pub kvn: u8,
    pub level: SecurityLevel,
    pub kdd: [u8; 10],
    pub sequence_counter: Option<Vec<u8>>,
}

/// Finds `path` of nested constructed tags in BER-TLV data.
pub fn find_path<'a>(mut data: &'a [u8], path: &[u32]) -> Option<&'a [u8]> {
    for t in path {
        data = tlv::find(data, Tag(*t)).ok().flatten()?.value;
    }
    Some(data)
}

/// The secure channel protocol a security domain announces: '64' in the Security Domain
/// Management Data '73' of its FCI, or in Card Data ('66' '73' '64'), GP CS v2.3.1 Annex H.2.
pub fn scp_from_recognition_data(data: &[u8]) -> Option<Scp> {
    let oid = find_path(data, &[0x6F, 0xA5, 0x73, 0x64, 0x06])
        .or_else(|| find_path(data, &[0x66, 0x73, 0x64, 0x06]))
        .or_else(|| find_path(data, &[0x73, 0x64, 0x06]))?;
    Scp::from_oid(oid).ok()
}

/// Does the protocol's "i" parameter allow `level` (R-MAC / R-ENCRYPTION support)?
pub fn scp_allows(scp: Scp, level: SecurityLevel) -> bool {
    match scp {
        Scp::Scp02(p) => p.allows(level),
        Scp::Scp03(p) => p.allows(level),
    }
}

/// A card transport plus, once opened, the secure channel session with the selected SD.
pub struct SdLink<T: CardTransport> {
    card: T,
    session: Option<Session>,
    /// The selected security domain.
    pub sd_aid: Vec<u8>,
    /// The FCI of the security domain's SELECT.
    pub fci: Vec<u8>,
}

impl<T: CardTransport> SdLink<T> {
    pub fn new(card: T) -> SdLink<T> {
        SdLink {
            card,
            session: None,
            sd_aid: Vec::new(),
            fci: Vec::new(),
        }
    }

    /// The transport (e.g. to change what a recording transport notes).
    pub fn transport(&self) -> &T {
        &self.card
    }

    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.card
    }

    pub fn into_transport(self) -> T {
        self.card
    }

    /// Sends a command without secure messaging (GET RESPONSE / Le correction included).
    pub fn send_plain(&mut self, cmd: &Command) -> Result<Response> {
        Ok(apdu::transceive(&mut self.card, cmd)?)
    }

    /// SELECT the security domain (ISO/IEC 7816-4 §11.2.2; GP CS v2.3.1 §11.9); a session
    /// with another application ends.
    pub fn select(&mut self, aid: &[u8]) -> Result<()> {
        self.session = None;
        let cmd = apdu::select_command(0, aid)?;
        let r = self.send_plain(&cmd)?;
        if r.sw != StatusWord::OK {
            return Err(HostError::Card {
                what: format!("SELECT {}", hex::encode_upper(aid)),
                sw: r.sw,
            });
        }
        // The FCI names what was selected ('6F' '84', ISO/IEC 7816-4 §5.3.3): a common AID
        // may route elsewhere (e.g. to an eUICC's ISD-R on the contact interface).
        if let Some(name) = find_path(&r.data, &[0x6F, 0x84]) {
            if !name.starts_with(aid) {
                return Err(HostError::Routed {
                    requested: aid.to_vec(),
                    reached: name.to_vec(),
                });
            }
        }
        self.sd_aid = aid.to_vec();
        self.fci = r.data;
        Ok(())
    }

    /// GET DATA (GP CS v2.3.1 §11.3), through the session if one is open; `None` when the
    /// card has no such data object (`6A88`, `6A82`, `6A86`, `6B00`, `6D00`, `6985`, `6982`).
    pub fn get_data(&mut self, tag: u16) -> Result<Option<Vec<u8>>> {
        let r = self.send(&commands::get_data_command(tag))?;
        match r.sw {
            StatusWord::OK => Ok(Some(r.data)),
            StatusWord::REFERENCED_DATA_NOT_FOUND
            | StatusWord::FILE_NOT_FOUND
            | StatusWord::INCORRECT_P1_P2
            | StatusWord::WRONG_P1_P2
            | StatusWord::INS_NOT_SUPPORTED
            | StatusWord::CONDITIONS_NOT_SATISFIED
            | StatusWord::SECURITY_STATUS_NOT_SATISFIED => Ok(None),
            sw => Err(HostError::Card {
                what: format!("GET DATA {tag:04X}"),
                sw,
            }),
        }
    }

    /// Opens a secure channel with the selected security domain at `p.level`.
    pub fn open<R: CryptoRng + ?Sized>(
        &mut self,
        p: &ChannelParams,
        rng: &mut R,
    ) -> Result<ChannelInfo> {
        self.open_preferring(p, &[], rng)
    }

    /// Opens a secure channel at the first of `preferred` the card's protocol ("i") allows,
    /// else at `p.level` (e.g. `[C_DEC_C_MAC_R_MAC]` with `p.level` C_DEC_C_MAC: R-MAC where
    /// the card supports it, as SCP03 i = '70' does and SCP02 i = '15' does not).
    pub fn open_preferring<R: CryptoRng + ?Sized>(
        &mut self,
        p: &ChannelParams,
        preferred: &[SecurityLevel],
        rng: &mut R,
    ) -> Result<ChannelInfo> {
        self.session = None;
        // What the card says about itself: its FCI, else Card Data.
        let mut announced = scp_from_recognition_data(&self.fci);
        if announced.is_none() && p.scp.is_none() {
            if let Some(cd) = self.get_data(commands::tags::CARD_DATA)? {
                announced = scp_from_recognition_data(&cd);
            }
        }
        let scp_id = p.scp.or(announced.map(|s| s.id()));
        let s16 = scp_id == Some(0x03)
            && p.scp_i
                .or(announced.filter(|s| s.id() == 3).map(|s| s.i()))
                .is_some_and(|i| i & 0x01 != 0);
        let key_type = |id: Option<u8>| {
            if id == Some(0x02) {
                KeyType::Des
            } else {
                KeyType::Aes
            }
        };
        let mut challenge = vec![0u8; if s16 { 16 } else { 8 }];
        rng.fill_bytes(&mut challenge);
        let sd_aid = self.sd_aid.clone();
        let build = |kt: KeyType| -> Result<HostHandshake> {
            let keys = KeySet::new(kt, p.kvn, &p.enc, &p.mac, &p.dek).map_err(HostError::Keys)?;
            let mut hs = HostHandshake::new(keys, &challenge)?
                .kvn(p.kvn)
                .diversification(p.diversification)
                .expect_aid(&sd_aid);
            let i02 = p
                .scp_i
                .filter(|_| scp_id == Some(0x02))
                .or(announced.filter(|s| s.id() == 2).map(|s| s.i()));
            if let Some(i) = i02 {
                hs = hs.scp02_i(i)?;
            }
            Ok(hs)
        };
        let mut hs = build(key_type(scp_id))?;
        let iu = self.send_plain(&hs.initialize_update())?;
        if iu.sw != StatusWord::OK {
            return Err(match iu.sw {
                StatusWord::REFERENCED_DATA_NOT_FOUND => AuthError::NoKeySet { kvn: p.kvn },
                StatusWord::AUTH_METHOD_BLOCKED => AuthError::Blocked,
                sw => AuthError::InitializeUpdate(sw),
            }
            .into());
        }
        let parsed =
            InitUpdateResponse::parse(&iu.data).map_err(AuthError::BadInitUpdateResponse)?;
        if let Some(want) = p.scp {
            if parsed.scp.id() != want {
                return Err(AuthError::WrongProtocol {
                    want,
                    got: parsed.scp.id(),
                }
                .into());
            }
        }
        if key_type(Some(parsed.scp.id())) != key_type(scp_id) {
            // The card's answer settles the protocol: same challenge, other key type.
            hs = build(key_type(Some(parsed.scp.id())))?;
        }
        // The SCP02 "i" is not in the response: the announced (or forced) one, else '15'.
        let scp_i = match parsed.scp {
            Scp::Scp02(_) => p
                .scp_i
                .filter(|_| p.scp == Some(0x02))
                .or(announced.filter(|s| s.id() == 2).map(|s| s.i()))
                .and_then(|i| Scp::scp02(i).ok())
                .unwrap_or(parsed.scp),
            s => s,
        };
        let level = preferred
            .iter()
            .copied()
            .find(|l| scp_allows(scp_i, *l))
            .unwrap_or(p.level);
        let (session, ext_auth, iu) = hs.authenticate(&iu, level).map_err(|e| match e {
            GpError::CardCryptogram => AuthError::CardCryptogram,
            // Pseudo-random challenges (Amd D §6.2.2.1) are checked first, with the same keys.
            GpError::CardChallenge => AuthError::CardChallenge,
            e => AuthError::Handshake(e),
        })?;
        let r = self.send_plain(&ext_auth)?;
        if r.sw != StatusWord::OK {
            return Err(AuthError::ExternalAuthenticate(r.sw).into());
        }
        let info = ChannelInfo {
            scp: session.scp(),
            kvn: iu.kvn,
            level,
            kdd: iu.kdd,
            sequence_counter: iu.sequence_counter.clone(),
        };
        self.session = Some(session);
        Ok(info)
    }

    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// Sends a command through the session (plain without one); R-MAC/R-ENC are removed
    /// from the response.
    pub fn send(&mut self, cmd: &Command) -> Result<Response> {
        match self.session.as_mut() {
            None => self.send_plain(cmd),
            Some(s) => {
                let wrapped = s.wrap_command(cmd)?;
                let r = apdu::transceive(&mut self.card, &wrapped)?;
                Ok(s.unwrap_response(&r)
                    .map_err(AuthError::ResponseProtection)?)
            }
        }
    }

    /// [`SdLink::send`], then requires `9000`; returns the data. `what` names the command
    /// in the error.
    pub fn send_ok(&mut self, cmd: &Command, what: &str) -> Result<Vec<u8>> {
        let r = self.send(cmd)?;
        if r.sw != StatusWord::OK {
            return Err(HostError::Card {
                what: what.to_string(),
                sw: r.sw,
            });
        }
        Ok(r.data)
    }

    /// Entries of one GET STATUS subset whose AID starts with `aid` (empty: all), GP CS
    /// v2.3.1 §11.4: the 'E3' format first, the legacy format when the card refuses it
    /// (`6A86`), `6310` continued with P2 b1 "next", `6A88` as no entries.
    pub fn get_status(
        &mut self,
        subset: commands::StatusSubset,
        aid: &[u8],
    ) -> Result<Vec<RegistryEntry>> {
        let mut req = GetStatus::all(subset);
        req.aid = aid.to_vec();
        let mut out = Vec::new();
        for _ in 0..256 {
            let r = self.send(&req.command())?;
            match r.sw {
                StatusWord::REFERENCED_DATA_NOT_FOUND if !req.next => return Ok(out),
                StatusWord::INCORRECT_P1_P2 | StatusWord::WRONG_P1_P2
                    if req.tlv_format && !req.next =>
                {
                    req.tlv_format = false;
                    continue;
                }
                StatusWord::OK | StatusWord(0x6310) => {}
                sw => {
                    return Err(HostError::Card {
                        what: format!("GET STATUS {:02X}", subset.p1()),
                        sw,
                    })
                }
            }
            let entries = if req.tlv_format {
                parse_status_tlv(&r.data)
            } else {
                parse_status_legacy(subset, &r.data)
            }?;
            out.extend(entries);
            if r.sw == StatusWord::OK {
                return Ok(out);
            }
            req.next = true;
        }
        Err(HostError::EndlessStatus)
    }

    /// Most command data one APDU can carry through this session: 255 minus the C-MAC, and
    /// with C-DECRYPTION minus the padding to the cipher block (GP CS v2.3.1 §E.4.3, Amd D
    /// §6.2.6: at least one padding byte).
    pub fn max_data(&self) -> usize {
        let Some(s) = &self.session else { return 255 };
        let (mac, block) = match s.scp() {
            Scp::Scp02(_) => (8, 8),
            Scp::Scp03(p) => (p.block_len(), 16),
        };
        if s.security_level().c_decryption() {
            (255 - mac) / block * block - 1
        } else {
            255 - mac
        }
    }

    /// Forgets the session (the card's ends with the next SELECT).
    pub fn close(&mut self) {
        self.session = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognition_data() {
        // The ISD FCI laid out as GP CS v2.3.1 Annex H: '64' {06 gp 4 3 70} (SCP03 i=70).
        let fci = hex::decode(concat!(
            "6F418408A000000151000000A535",
            "732F06072A864886FC6B01",
            "600C060A2A864886FC6B02020301",
            "630906072A864886FC6B03",
            "640B06092A864886FC6B040370",
            "9F6501FF"
        ))
        .unwrap();
        assert_eq!(
            scp_from_recognition_data(&fci),
            Some(Scp::scp03(0x70).unwrap())
        );
        assert_eq!(scp_from_recognition_data(&[0x6F, 0x00]), None);
        assert_eq!(scp_from_recognition_data(&[0xFF]), None);
    }

    #[test]
    fn r_mac_support_by_i() {
        // Amd D Table 5-1: i = '70' has R-MAC and R-ENC; GP CS Table E-1: SCP02 i = '15' has
        // no R-MAC (b6 clear), '55' neither, '35' has it.
        let s03 = Scp::scp03(0x70).unwrap();
        assert!(scp_allows(s03, SecurityLevel::C_DEC_C_MAC_R_MAC));
        let s02 = Scp::scp02(0x15).unwrap();
        assert!(!scp_allows(s02, SecurityLevel::C_DEC_C_MAC_R_MAC));
        assert!(scp_allows(s02, SecurityLevel::C_DEC_C_MAC));
        assert!(scp_allows(
            Scp::scp02(0x35).unwrap(),
            SecurityLevel::C_DEC_C_MAC_R_MAC
        ));
    }

    /// A transport that answers everything with a fixed status word.
    struct Fixed(Vec<u8>);

    impl CardTransport for Fixed {
        fn transmit(&mut self, _: &[u8]) -> std::result::Result<Vec<u8>, apdu::TransportError> {
            Ok(self.0.clone())
        }
    }

    #[test]
    fn typed_errors() {
        let mut l = SdLink::new(Fixed(vec![0x6A, 0x82]));
        let e = l.select(&[0xA0, 0, 0, 1, 0x51]).unwrap_err();
        assert_eq!(e.sw(), Some(StatusWord::FILE_NOT_FOUND));
        // A '6F' '84' naming another AID: routed elsewhere.
        let mut l = SdLink::new(Fixed(hex::decode("6F07840511223344559000").unwrap()));
        let e = l.select(&[0xA0, 0, 0, 1, 0x51]).unwrap_err();
        assert!(matches!(e, HostError::Routed { .. }), "{e}");
        // INITIALIZE UPDATE '6A88' → no key set.
        let mut l = SdLink::new(Fixed(vec![0x6A, 0x88]));
        let p = ChannelParams::for_key_set(
            &KeySet::aes(0x30, &[0x40; 16], &[0x40; 16], &[0x40; 16]).unwrap(),
            SecurityLevel::C_MAC,
        );
        let mut rng = Counter(0);
        let e = l.open(&p, &mut rng).unwrap_err();
        assert_eq!(e, HostError::Auth(AuthError::NoKeySet { kvn: 0x30 }));
        assert!(e.to_string().contains("6A88"));
        // No card.
        struct Gone;
        impl CardTransport for Gone {
            fn transmit(&mut self, _: &[u8]) -> std::result::Result<Vec<u8>, apdu::TransportError> {
                Err(apdu::TransportError::NoCard)
            }
        }
        let e = SdLink::new(Gone)
            .select(&[0xA0, 0, 0, 1, 0x51])
            .unwrap_err();
        assert!(e.is_transport());
    }

    /// Deterministic bytes for the host challenge.
    struct Counter(u8);

    impl rand_core::TryRng for Counter {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> std::result::Result<u32, Self::Error> {
            self.0 = self.0.wrapping_add(1);
            Ok(u32::from(self.0))
        }
        fn try_next_u64(&mut self) -> std::result::Result<u64, Self::Error> {
            self.0 = self.0.wrapping_add(1);
            Ok(u64::from(self.0))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> std::result::Result<(), Self::Error> {
            for b in dst {
                self.0 = self.0.wrapping_add(1);
                *b = self.0;
            }
            Ok(())
        }
    }

    impl rand_core::TryCryptoRng for Counter {}
}
