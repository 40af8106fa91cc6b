//! The host end of a security domain: SELECT (GP CS v2.3.1 §11.9), secure channel initiation
//! (INITIALIZE UPDATE / EXTERNAL AUTHENTICATE: GP CS v2.3.1 Annex E.5 for SCP02, Amd D §7.1 for
//! SCP03) with the options a GlobalPlatformPro user knows, and commands sent through the open
//! session.

use apdu::{CardTransport, Command, Response, StatusWord};
use gp::{
    Diversification, HostHandshake, InitUpdateResponse, KeySet, KeyType, Scp, SecurityLevel,
    Session,
};
use tlv::Tag;

use super::GpCliError;

/// GlobalPlatform test keys 40 41 .. 4F (GP CS v2.3.1 / GlobalPlatformPro's default).
pub const DEFAULT_KEY: [u8; 16] = [
    0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F,
];

/// The ISD AID of GP CS v2.3.1 §F.1 (A000000151000000).
pub const ISD_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00];

/// Everything needed to open a secure channel.
#[derive(Debug, Clone)]
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

/// What the channel turned out to be.
#[derive(Debug, Clone)]
pub struct ChannelInfo {
    pub scp: Scp,
    pub kvn: u8,
    pub level: SecurityLevel,
    pub kdd: [u8; 10],
    pub sequence_counter: Option<Vec<u8>>,
}

/// A card transport plus, once opened, the secure channel session with the selected SD.
pub struct GpLink {
    card: Box<dyn CardTransport>,
    session: Option<Session>,
    pub sd_aid: Vec<u8>,
    /// The FCI of the security domain's SELECT.
    pub fci: Vec<u8>,
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

impl GpLink {
    pub fn new(card: Box<dyn CardTransport>) -> GpLink {
        GpLink {
            card,
            session: None,
            sd_aid: Vec::new(),
            fci: Vec::new(),
        }
    }

    /// Sends a command without secure messaging.
    pub fn send_plain(&mut self, cmd: &Command) -> anyhow::Result<Response> {
        Ok(apdu::transceive(&mut self.card, cmd)?)
    }

    /// SELECT the security domain (ISO/IEC 7816-4 §11.2.2; GP CS v2.3.1 §11.9); a session
    /// with another application ends.
    pub fn select(&mut self, aid: &[u8]) -> anyhow::Result<()> {
        self.session = None;
        let cmd = apdu::select_command(0, aid)?;
        let r = self.send_plain(&cmd)?;
        if r.sw != StatusWord::OK {
            return Err(GpCliError::Card {
                what: format!("SELECT {}", hex::encode_upper(aid)),
                sw: r.sw,
            }
            .into());
        }
        // The FCI names what was selected ('6F' '84', ISO/IEC 7816-4 §5.3.3): a common AID
        // may route elsewhere (e.g. to an eUICC's ISD-R on the contact interface).
        if let Some(name) = find_path(&r.data, &[0x6F, 0x84]) {
            if !name.starts_with(aid) {
                return Err(GpCliError::Usage(format!(
                    "SELECT {} reached {} instead: this interface routes the AID to another \
                     application (with --card, choose the interface with --protocol)",
                    hex::encode_upper(aid),
                    hex::encode_upper(name)
                ))
                .into());
            }
        }
        self.sd_aid = aid.to_vec();
        self.fci = r.data;
        Ok(())
    }

    /// GET DATA without a session (GP CS v2.3.1 §11.3); `None` when the card has no such data
    /// object (`6A88`, `6A82`, `6A86`, `6D00`).
    pub fn get_data(&mut self, tag: u16) -> anyhow::Result<Option<Vec<u8>>> {
        let r = self.send(&gp::commands::get_data_command(tag))?;
        match r.sw {
            StatusWord::OK => Ok(Some(r.data)),
            StatusWord::REFERENCED_DATA_NOT_FOUND
            | StatusWord::FILE_NOT_FOUND
            | StatusWord::INCORRECT_P1_P2
            | StatusWord::WRONG_P1_P2
            | StatusWord::INS_NOT_SUPPORTED
            | StatusWord::CONDITIONS_NOT_SATISFIED
            | StatusWord::SECURITY_STATUS_NOT_SATISFIED => Ok(None),
            sw => Err(GpCliError::Card {
                what: format!("GET DATA {tag:04X}"),
                sw,
            }
            .into()),
        }
    }

    /// Opens a secure channel with the selected security domain.
    pub fn open(
        &mut self,
        p: &ChannelParams,
        rng: &mut dyn rand_core::CryptoRng,
    ) -> anyhow::Result<ChannelInfo> {
        self.session = None;
        let auth = |m: String| anyhow::Error::from(GpCliError::Auth(m));
        // What the card says about itself: its FCI, else Card Data.
        let mut announced = scp_from_recognition_data(&self.fci);
        if announced.is_none() && p.scp.is_none() {
            if let Some(cd) = self.get_data(gp::commands::tags::CARD_DATA)? {
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
        let make = |kt: KeyType| -> anyhow::Result<KeySet> {
            KeySet::new(kt, p.kvn, &p.enc, &p.mac, &p.dek)
                .map_err(|e| GpCliError::Usage(format!("keys: {e}")).into())
        };
        let mut challenge = vec![0u8; if s16 { 16 } else { 8 }];
        rng.fill_bytes(&mut challenge);
        let sd_aid = self.sd_aid.clone();
        let build = |kt: KeyType| -> anyhow::Result<HostHandshake> {
            let mut hs = HostHandshake::new(make(kt)?, &challenge)?
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
            let why = match iu.sw {
                StatusWord::REFERENCED_DATA_NOT_FOUND => {
                    format!("no key set with KVN {:02X} (6A88)", p.kvn)
                }
                StatusWord::AUTH_METHOD_BLOCKED => "the key set is blocked (6983)".to_string(),
                sw => format!("INITIALIZE UPDATE answered {sw}"),
            };
            return Err(auth(why));
        }
        let parsed = InitUpdateResponse::parse(&iu.data)
            .map_err(|e| auth(format!("INITIALIZE UPDATE response: {e}")))?;
        if let Some(want) = p.scp {
            if parsed.scp.id() != want {
                return Err(auth(format!(
                    "the card answered with SCP{:02X}, not SCP{want:02X}",
                    parsed.scp.id()
                )));
            }
        }
        if key_type(Some(parsed.scp.id())) != key_type(scp_id) {
            // The card's answer settles the protocol: same challenge, other key type.
            hs = build(key_type(Some(parsed.scp.id())))?;
        }
        let (session, ext_auth, iu) = hs.authenticate(&iu, p.level).map_err(|e| match e {
            gp::GpError::CardCryptogram => {
                auth("the card cryptogram does not verify: wrong keys or diversification".into())
            }
            // Pseudo-random challenges (Amd D §6.2.2.1) are checked first, with the same keys.
            gp::GpError::CardChallenge => {
                auth("the card challenge does not verify: wrong keys or diversification".into())
            }
            e => auth(format!("{e}")),
        })?;
        let r = self.send_plain(&ext_auth)?;
        if r.sw != StatusWord::OK {
            return Err(auth(format!("EXTERNAL AUTHENTICATE answered {}", r.sw)));
        }
        let info = ChannelInfo {
            scp: session.scp(),
            kvn: iu.kvn,
            level: p.level,
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
    pub fn send(&mut self, cmd: &Command) -> anyhow::Result<Response> {
        match self.session.as_mut() {
            None => self.send_plain(cmd),
            Some(s) => {
                let wrapped = s.wrap_command(cmd)?;
                let r = apdu::transceive(&mut self.card, &wrapped)?;
                Ok(s.unwrap_response(&r)
                    .map_err(|e| GpCliError::Auth(format!("response protection: {e}")))?)
            }
        }
    }

    /// [`GpLink::send`], then requires `9000`.
    pub fn send_ok(&mut self, cmd: &Command, what: &str) -> anyhow::Result<Vec<u8>> {
        let r = self.send(cmd)?;
        if r.sw != StatusWord::OK {
            return Err(GpCliError::Card {
                what: what.to_string(),
                sw: r.sw,
            }
            .into());
        }
        Ok(r.data)
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

    pub fn close(&mut self) {
        self.session = None;
    }
}

/// Parses a security level: GlobalPlatformPro-style names joined by '-' (`mac`, `enc`,
/// `rmac`, `renc`, e.g. `mac-enc-rmac`) or the EXTERNAL AUTHENTICATE P1 byte in hex
/// (GP CS v2.3.1 Table E-11, Amd D Table 7-3).
pub fn parse_level(s: &str) -> Result<SecurityLevel, String> {
    let s = s.trim().to_ascii_lowercase();
    if s.len() == 2 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        let p1 = u8::from_str_radix(&s, 16).map_err(|e| e.to_string())?;
        return SecurityLevel::from_p1(p1).map_err(|e| e.to_string());
    }
    let mut p1 = 0u8;
    for part in s.split(['-', '+', ',']) {
        p1 |= match part {
            "mac" | "cmac" | "c-mac" => 0x01,
            "enc" | "cenc" | "cdec" => 0x03,
            "rmac" => 0x11,
            // R-ENCRYPTION needs C-DECRYPTION and R-MAC (Amd D Table 7-3).
            "renc" => 0x33,
            "clr" | "none" | "" => 0x00,
            other => return Err(format!("unknown security level part {other:?}")),
        };
    }
    if p1 == 0 {
        return Err("card content management needs at least C-MAC".into());
    }
    SecurityLevel::from_p1(p1).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(parse_level("mac").unwrap(), SecurityLevel::C_MAC);
        assert_eq!(parse_level("enc").unwrap(), SecurityLevel::C_DEC_C_MAC);
        assert_eq!(parse_level("mac-enc").unwrap(), SecurityLevel::C_DEC_C_MAC);
        assert_eq!(parse_level("mac-rmac").unwrap(), SecurityLevel::C_MAC_R_MAC);
        assert_eq!(
            parse_level("mac-enc-rmac").unwrap(),
            SecurityLevel::C_DEC_C_MAC_R_MAC
        );
        assert_eq!(
            parse_level("mac-renc").unwrap(),
            SecurityLevel::C_DEC_R_ENC_C_MAC_R_MAC
        );
        assert_eq!(
            parse_level("33").unwrap(),
            SecurityLevel::C_DEC_R_ENC_C_MAC_R_MAC
        );
        assert!(parse_level("clr").is_err());
        assert!(parse_level("02").is_err());
        assert!(parse_level("mac-foo").is_err());
    }

    #[test]
    fn recognition_data() {
        // The ISD FCI of GP CS v2.3.1 Annex H layout: '64' {06 gp 4 3 70} (SCP03 i=70).
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
}
