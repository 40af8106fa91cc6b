//! Host side: a card transport (PC/SC reader, modem AT+CGLA, in-process virtual card) and the
//! exchanges an LPA performs over it.

use crate::channel::{close_channel_command, open_channel_command, with_channel, MAX_CHANNEL};
use crate::es10::{store_data_blocks, INS_GET_RESPONSE, INS_SELECT};
use crate::{ApduError, Command, Response, Result, StatusWord};

/// Failure of the link to the card (not a status word).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("no card present")]
    NoCard,
    #[error("card removed or reset")]
    CardReset,
    #[error("transport timed out")]
    Timeout,
    #[error("transport error: {0}")]
    Other(String),
}

/// Sends one command APDU and returns the whole response APDU (`data || SW1 SW2`).
/// Implementations do no GET RESPONSE handling of their own.
pub trait CardTransport {
    fn transmit(&mut self, apdu: &[u8]) -> std::result::Result<Vec<u8>, TransportError>;
}

impl<T: CardTransport + ?Sized> CardTransport for &mut T {
    fn transmit(&mut self, apdu: &[u8]) -> std::result::Result<Vec<u8>, TransportError> {
        (**self).transmit(apdu)
    }
}

impl<T: CardTransport + ?Sized> CardTransport for Box<T> {
    fn transmit(&mut self, apdu: &[u8]) -> std::result::Result<Vec<u8>, TransportError> {
        (**self).transmit(apdu)
    }
}

/// Upper bound on a response assembled from GET RESPONSE rounds (protects against a card
/// that answers 61xx forever).
pub const MAX_RESPONSE: usize = 1 << 20;

fn send_once<T: CardTransport + ?Sized>(t: &mut T, cmd: &Command) -> Result<Response> {
    let raw = t.transmit(&cmd.encode()?)?;
    Response::parse(&raw)
        .map_err(|_| ApduError::UnexpectedResponse("response shorter than SW1-SW2"))
}

/// Sends `cmd`; on `6Cxx` re-issues it once with Le = xx (ISO/IEC 7816-3 §12.2.1 / 7816-4 §5.3.4).
fn send_fix_le<T: CardTransport + ?Sized>(t: &mut T, cmd: &Command) -> Result<Response> {
    let resp = send_once(t, cmd)?;
    match resp.sw.correct_le() {
        Some(ne) => {
            let mut again = cmd.clone();
            again.le = Some(ne);
            send_once(t, &again)
        }
        None => Ok(resp),
    }
}

/// Sends `cmd` and returns the complete response: `61xx` is followed by GET RESPONSE
/// (`0X C0 00 00 xx`, interindustry class on the command's channel) until the card stops
/// announcing more data, and `6Cxx` re-issues the command with the right Le. The returned
/// status is the final one; it is not checked here.
pub fn transceive<T: CardTransport + ?Sized>(t: &mut T, cmd: &Command) -> Result<Response> {
    let mut resp = send_fix_le(t, cmd)?;
    let mut data = std::mem::take(&mut resp.data);
    // GET RESPONSE stays on the command's channel; a class without ISO channel coding keeps its CLA.
    let gr_cla = match crate::channel::channel_of(cmd.cla) {
        Some(ch) => with_channel(0x00, ch)?,
        None => cmd.cla,
    };
    while let Some(ne) = resp.sw.more_data() {
        let gr = Command::new(gr_cla, INS_GET_RESPONSE, 0x00, 0x00).le(ne);
        resp = send_fix_le(t, &gr)?;
        data.extend_from_slice(&resp.data);
        if data.len() > MAX_RESPONSE {
            return Err(ApduError::UnexpectedResponse("response exceeds 1 MiB"));
        }
    }
    Ok(Response { data, sw: resp.sw })
}

/// [`transceive`], then requires `9000` and returns the data.
pub fn transceive_ok<T: CardTransport + ?Sized>(t: &mut T, cmd: &Command) -> Result<Vec<u8>> {
    transceive(t, cmd)?.into_ok()
}

/// MANAGE CHANNEL open on the basic channel; returns the channel number the card assigned.
pub fn open_channel<T: CardTransport + ?Sized>(t: &mut T) -> Result<u8> {
    let data = transceive_ok(t, &open_channel_command())?;
    match data.as_slice() {
        [ch] if (1..=MAX_CHANNEL).contains(ch) => Ok(*ch),
        _ => Err(ApduError::UnexpectedResponse(
            "MANAGE CHANNEL open returned no valid channel",
        )),
    }
}

/// MANAGE CHANNEL close of `channel`.
pub fn close_channel<T: CardTransport + ?Sized>(t: &mut T, channel: u8) -> Result<()> {
    transceive_ok(t, &close_channel_command(channel)?).map(|_| ())
}

/// The SELECT by DF name command (`0X A4 04 00 Lc AID 00`), returning the FCI.
pub fn select_command(channel: u8, aid: &[u8]) -> Result<Command> {
    Ok(Command::with_data(
        with_channel(0x00, channel)?,
        INS_SELECT,
        0x04,
        0x00,
        aid.to_vec(),
    )
    .le(256))
}

/// SELECT by AID on `channel`; returns the FCI (ISO/IEC 7816-4 §7.1.1).
pub fn select_aid<T: CardTransport + ?Sized>(
    t: &mut T,
    channel: u8,
    aid: &[u8],
) -> Result<Vec<u8>> {
    transceive_ok(t, &select_command(channel, aid)?)
}

/// One ES10 function call (SGP.22 §5.7.2): sends `request_der` as STORE DATA blocks on
/// `channel` (where the ISD-R is selected) and returns the complete DER response.
/// Every block must answer `9000` (or `61xx`, consumed with GET RESPONSE).
pub fn es10_exchange<T: CardTransport + ?Sized>(
    t: &mut T,
    channel: u8,
    request_der: &[u8],
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for block in store_data_blocks(channel, request_der)? {
        let resp = transceive(t, &block)?;
        if resp.sw != StatusWord::OK {
            return Err(ApduError::Status(resp.sw));
        }
        out.extend_from_slice(&resp.data);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scripted card: expects exact command bytes and replays responses.
    struct Script(Vec<(Vec<u8>, Vec<u8>)>);

    impl CardTransport for Script {
        fn transmit(&mut self, apdu: &[u8]) -> std::result::Result<Vec<u8>, TransportError> {
            if self.0.is_empty() {
                return Err(TransportError::Other("script exhausted".into()));
            }
            let (want, resp) = self.0.remove(0);
            assert_eq!(apdu, &want[..], "unexpected command");
            Ok(resp)
        }
    }

    #[test]
    fn get_response_and_wrong_le() {
        let mut s = Script(vec![
            (
                vec![0x81, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2E, 0x00],
                vec![0x61, 0x05],
            ),
            (vec![0x01, 0xC0, 0x00, 0x00, 0x05], vec![0x6C, 0x03]),
            (
                vec![0x01, 0xC0, 0x00, 0x00, 0x03],
                vec![0xBF, 0x2E, 0x12, 0x61, 0x02],
            ),
            (
                vec![0x01, 0xC0, 0x00, 0x00, 0x02],
                vec![0xAA, 0xBB, 0x90, 0x00],
            ),
        ]);
        let dyn_t: &mut dyn CardTransport = &mut s;
        let out = es10_exchange(dyn_t, 1, &[0xBF, 0x2E, 0x00]).unwrap();
        assert_eq!(out, [0xBF, 0x2E, 0x12, 0xAA, 0xBB]);
        assert!(s.0.is_empty());
    }

    #[test]
    fn channels_and_select() {
        let mut sel = vec![0x02, 0xA4, 0x04, 0x00, 0x10];
        sel.extend_from_slice(&crate::ISD_R_AID);
        sel.push(0x00);
        let mut s = Script(vec![
            (vec![0x00, 0x70, 0x00, 0x00, 0x01], vec![0x02, 0x90, 0x00]),
            (sel, vec![0x6F, 0x00, 0x90, 0x00]),
            (vec![0x02, 0x70, 0x80, 0x02], vec![0x90, 0x00]),
            (vec![0x00, 0x70, 0x00, 0x00, 0x01], vec![0x6A, 0x81]),
        ]);
        let ch = open_channel(&mut s).unwrap();
        assert_eq!(ch, 2);
        assert_eq!(
            select_aid(&mut s, ch, &crate::ISD_R_AID).unwrap(),
            [0x6F, 0x00]
        );
        close_channel(&mut s, ch).unwrap();
        assert_eq!(
            open_channel(&mut s),
            Err(ApduError::Status(StatusWord::FUNCTION_NOT_SUPPORTED))
        );
    }

    #[test]
    fn es10_error_status() {
        let mut s = Script(vec![(
            vec![0x80, 0xE2, 0x91, 0x00, 0x02, 0xBF, 0x3E],
            vec![0x6A, 0x80],
        )]);
        assert_eq!(
            es10_exchange(&mut s, 0, &[0xBF, 0x3E]),
            Err(ApduError::Status(StatusWord::INCORRECT_DATA))
        );
        let mut bad = Script(vec![(vec![0x80, 0xE2, 0x91, 0x00, 0x01, 0x00], vec![0x90])]);
        assert!(matches!(
            es10_exchange(&mut bad, 0, &[0]),
            Err(ApduError::UnexpectedResponse(_))
        ));
    }

    #[test]
    fn endless_61xx_is_bounded() {
        struct Endless;
        impl CardTransport for Endless {
            fn transmit(&mut self, _: &[u8]) -> std::result::Result<Vec<u8>, TransportError> {
                let mut v = vec![0u8; 256];
                v.extend_from_slice(&[0x61, 0x00]);
                Ok(v)
            }
        }
        assert!(transceive(&mut Endless, &Command::new(0, 0xCA, 0, 0).le(256)).is_err());
    }
}
