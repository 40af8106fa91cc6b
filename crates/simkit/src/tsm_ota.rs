//! The TSM's over-the-air bearer: Remote Application Management (ETSI TS 102 226 §8) through
//! simkit's OTA platform (`otasrv` over SMPP, SCP80 secured packets, TS 102 225).
//!
//! Each script becomes one command packet to the card's MSISDN: its C-APDUs in the expanded
//! remote command format (TS 102 226 §5.2: 'AA' { '22' C-APDU ... }), addressed to
//! the security domain's TAR ([`tsm::engine::tar_of`]: '000000' for the ISD, else bytes 13-15
//! of the SD's AID), secured under the card's OTA key set with a fresh counter
//! ([`otasrv::service::OtaService::exchange`]). The PoR carries the R-APDUs ('AB' { '80' n, '23'
//! R-APDU ... }). GP commands need no GP secure channel: the card runs RAM commands as in an
//! authenticated session with the addressed SD.
//!
//! An SP's ProcessScript is one packet (the card runs it in one context, so an INSTALL [for
//! personalization] reaches the STORE DATA after it). The TSM's own flows send one packet per
//! command, which keeps their decisions (eligibility before install, KCVs checked after PUT
//! KEY) exactly as over a direct channel, at one SMS round trip per command.

use std::sync::Arc;
use std::time::Duration;

use apdu::TransportError;
use ota::{PorTransport, Spi};
use otasrv::service::{Exchange, OtaService};
use tsm::engine::{tar_of, RamTransport, SeChannel};

/// The OTA platform as the TSM uses it.
pub struct OtaPlatform {
    service: OtaService,
    runtime: tokio::runtime::Handle,
    /// How long to wait for each PoR.
    pub por_timeout: Duration,
}

impl OtaPlatform {
    /// `runtime` runs `service`; the flows call in from blocking threads.
    pub fn new(
        service: OtaService,
        runtime: tokio::runtime::Handle,
        por_timeout: Duration,
    ) -> Self {
        OtaPlatform {
            service,
            runtime,
            por_timeout,
        }
    }

    /// The RAM channel to the card at `msisdn` whose ISD is `isd_aid`.
    pub fn channel(self: &Arc<Self>, msisdn: &str, isd_aid: &[u8]) -> SeChannel {
        SeChannel::Ram(Box::new(OtaRam {
            platform: self.clone(),
            address: msisdn.to_string(),
            isd_aid: isd_aid.to_vec(),
        }))
    }
}

struct OtaRam {
    platform: Arc<OtaPlatform>,
    address: String,
    isd_aid: Vec<u8>,
}

fn other(e: impl std::fmt::Display) -> TransportError {
    TransportError::Other(e.to_string())
}

/// A short C-APDU with Le: the expanded format returns response data only where the command
/// asks for it (ISO/IEC 7816-4 case 4), and a fresh packet cannot fetch a '61xx' remainder
/// with GET RESPONSE, so a case 3 command gets Le '00'.
fn with_le(apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
    let mut cmd = apdu::Command::parse(apdu).map_err(other)?;
    if cmd.le.is_none() && !cmd.data.is_empty() {
        cmd.le = Some(256);
    }
    cmd.encode().map_err(other)
}

impl RamTransport for OtaRam {
    fn run_script(
        &mut self,
        sd_aid: &[u8],
        c_apdus: &[&[u8]],
    ) -> Result<Vec<Vec<u8>>, TransportError> {
        let tar = tar_of(sd_aid, &self.isd_aid).ok_or_else(|| {
            other(format!(
                "SD {} has no TAR (TS 101 220 §6: bytes 13-15 of its AID)",
                hex::encode_upper(sd_aid)
            ))
        })?;
        let with_le = c_apdus
            .iter()
            .map(|c| with_le(c))
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&[u8]> = with_le.iter().map(Vec::as_slice).collect();
        let data = ota::ts102226::expanded_script(&refs).map_err(other)?;
        let exchange = Exchange {
            address: self.address.clone(),
            tar,
            // CC, ciphered, counter higher; PoR always, CC, ciphered, by SMS-SUBMIT (TS 102 225 §5.1.1).
            spi: Spi::secured(PorTransport::SmsSubmit),
            data,
            timeout: self.platform.por_timeout,
        };
        let por = self
            .platform
            .runtime
            .block_on(self.platform.service.exchange(exchange))
            .map_err(|e| match e {
                otasrv::Error::NoPor { .. } => TransportError::Timeout,
                e => other(e),
            })?;
        if por.status != ota::PorStatus::PorOk {
            return Err(other(format!(
                "the card refused the packet: PoR status {:02X} ({:?}, TS 102 225 §5.1.3)",
                por.status.code(),
                por.status
            )));
        }
        let answer = ota::ts102226::parse_expanded_response(&por.data).map_err(other)?;
        if let Some(t) = answer.bad_format {
            return Err(other(format!(
                "the card could not read the script: bad format {t:02X} (TS 102 226 §5.2.2)"
            )));
        }
        if answer.r_apdus.len() > c_apdus.len() || answer.r_apdus.iter().any(|r| r.len() < 2) {
            return Err(other(format!(
                "PoR with {} R-APDUs for {} commands",
                answer.r_apdus.len(),
                c_apdus.len()
            )));
        }
        Ok(answer.r_apdus)
    }
}
