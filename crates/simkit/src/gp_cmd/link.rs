//! The host end of a security domain for `simkit gp`: [`gp::host::SdLink`] (SELECT, secure
//! channel initiation with the options a GlobalPlatformPro user knows, commands through the
//! open session) with its errors mapped to `simkit gp`'s exit codes, and the security level
//! syntax of `--sec-level`.

use apdu::{CardTransport, Command, Response};
use gp::host::{HostError, SdLink};
use gp::Session;

pub use gp::host::{find_path, scp_from_recognition_data, ChannelInfo, ChannelParams};
use gp::SecurityLevel;

use super::GpCliError;

/// GlobalPlatform test keys 40 41 .. 4F (GP CS v2.3.1 / GlobalPlatformPro's default).
pub const DEFAULT_KEY: [u8; 16] = [
    0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F,
];

/// The ISD AID of GP CS v2.3.1 §F.1 (A000000151000000).
pub const ISD_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00];

/// [`gp::host::SdLink`] over the command's card, with its errors as `simkit gp` reports them
/// ([`GpCliError`]: exit codes and messages).
pub struct GpLink {
    link: SdLink<Box<dyn CardTransport>>,
}

/// A [`HostError`] as `simkit gp` reports it: card refusals exit 3, secure channel failures
/// exit 4, unusable keys and misrouted SELECTs are usage errors (2), the rest exit 1.
pub fn cli_error(e: HostError) -> anyhow::Error {
    match e {
        HostError::Card { what, sw } => GpCliError::Card { what, sw }.into(),
        HostError::Routed { requested, reached } => GpCliError::Usage(format!(
            "SELECT {} reached {} instead: this interface routes the AID to another \
             application (with --card, choose the interface with --protocol)",
            hex::encode_upper(requested),
            hex::encode_upper(reached)
        ))
        .into(),
        HostError::Auth(a) => GpCliError::Auth(a.to_string()).into(),
        HostError::Keys(k) => GpCliError::Usage(format!("keys: {k}")).into(),
        HostError::Apdu(e) => e.into(),
        HostError::Gp(e) => e.into(),
        e @ HostError::EndlessStatus => anyhow::anyhow!("{e}"),
    }
}

impl GpLink {
    pub fn new(card: Box<dyn CardTransport>) -> GpLink {
        GpLink {
            link: SdLink::new(card),
        }
    }

    /// The selected security domain.
    pub fn sd_aid(&self) -> &[u8] {
        &self.link.sd_aid
    }

    /// The FCI of the security domain's SELECT.
    pub fn fci(&self) -> &[u8] {
        &self.link.fci
    }

    /// The link itself (for the shared GP host code).
    pub fn inner(&mut self) -> &mut SdLink<Box<dyn CardTransport>> {
        &mut self.link
    }

    /// Sends a command without secure messaging.
    pub fn send_plain(&mut self, cmd: &Command) -> anyhow::Result<Response> {
        self.link.send_plain(cmd).map_err(cli_error)
    }

    /// SELECT the security domain; a session with another application ends.
    pub fn select(&mut self, aid: &[u8]) -> anyhow::Result<()> {
        self.link.select(aid).map_err(cli_error)
    }

    /// GET DATA; `None` when the card has no such data object.
    pub fn get_data(&mut self, tag: u16) -> anyhow::Result<Option<Vec<u8>>> {
        self.link.get_data(tag).map_err(cli_error)
    }

    /// Opens a secure channel with the selected security domain.
    pub fn open(
        &mut self,
        p: &ChannelParams,
        rng: &mut dyn rand_core::CryptoRng,
    ) -> anyhow::Result<ChannelInfo> {
        self.link.open(p, rng).map_err(cli_error)
    }

    pub fn session(&self) -> Option<&Session> {
        self.link.session()
    }

    /// Sends a command through the session (plain without one); R-MAC/R-ENC are removed
    /// from the response.
    pub fn send(&mut self, cmd: &Command) -> anyhow::Result<Response> {
        self.link.send(cmd).map_err(cli_error)
    }

    /// [`GpLink::send`], then requires `9000`.
    pub fn send_ok(&mut self, cmd: &Command, what: &str) -> anyhow::Result<Vec<u8>> {
        self.link.send_ok(cmd, what).map_err(cli_error)
    }

    /// Most command data one APDU can carry through this session.
    pub fn max_data(&self) -> usize {
        self.link.max_data()
    }

    pub fn close(&mut self) {
        self.link.close();
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
}
