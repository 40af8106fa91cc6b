//! Logical channels in CLA (ISO/IEC 7816-4 §5.4.1) and MANAGE CHANNEL (§11.1.2).
//!
//! | CLA        | class                          | channel          | other bits              |
//! |------------|--------------------------------|------------------|-------------------------|
//! | `00`–`1F`  | first interindustry            | b2-b1: 0–3       | b5 chaining, b4-b3 SM   |
//! | `40`–`7F`  | further interindustry          | b4-b1 + 4: 4–19  | b6 SM, b5 chaining      |
//! | `80`–`9F`  | proprietary, first-IIC coding (GlobalPlatform `80`–`83`, SM `84`–`87`) | 0–3 | as `0X` |
//! | `C0`–`FE`  | proprietary, further-IIC coding (GlobalPlatform `C0`–`CF`, SM `E0`–`EF`) | 4–19 | as `4X` |
//!
//! `20`–`3F` are RFU, `A0`–`BF` is the legacy GSM class and `FF` is invalid (PPS).

use crate::{ApduError, Command, Result};

pub const INS_MANAGE_CHANNEL: u8 = 0x70;
/// Highest logical channel number ISO/IEC 7816-4 can code.
pub const MAX_CHANNEL: u8 = 19;

/// Channel number coded in `cla`, or `None` for classes without ISO channel coding.
pub fn channel_of(cla: u8) -> Option<u8> {
    match cla {
        0x00..=0x1F | 0x80..=0x9F => Some(cla & 0x03),
        0x40..=0x7F | 0xC0..=0xFE => Some(4 + (cla & 0x0F)),
        _ => None,
    }
}

/// True for the interindustry classes (`0X`/`1X`, `4X`–`7X`).
pub fn is_interindustry(cla: u8) -> bool {
    matches!(cla, 0x00..=0x1F | 0x40..=0x7F)
}

/// True when CLA b5 announces command chaining (ISO/IEC 7816-4 §5.3.3).
pub fn is_chained(cla: u8) -> bool {
    channel_of(cla).is_some() && cla & 0x10 != 0
}

/// True when CLA indicates secure messaging.
pub fn has_secure_messaging(cla: u8) -> bool {
    match cla {
        0x00..=0x1F | 0x80..=0x9F => cla & 0x0C != 0,
        0x40..=0x7F | 0xC0..=0xFE => cla & 0x20 != 0,
        _ => false,
    }
}

/// Recodes `cla` for logical channel `channel`, keeping its class (interindustry or proprietary),
/// the chaining bit and the secure messaging indication.
pub fn with_channel(cla: u8, channel: u8) -> Result<u8> {
    if channel > MAX_CHANNEL {
        return Err(ApduError::BadChannel(channel));
    }
    if channel_of(cla).is_none() {
        return Err(ApduError::ClaNotSupported(cla));
    }
    let proprietary = cla & 0x80;
    let chaining = cla & 0x10;
    let sm = has_secure_messaging(cla);
    Ok(if channel < 4 {
        // First-interindustry coding; SM moved to b4-b3 = 01 (as GlobalPlatform `84`).
        let sm_bits = match cla {
            0x00..=0x1F | 0x80..=0x9F => cla & 0x0C,
            _ if sm => 0x04,
            _ => 0,
        };
        proprietary | chaining | sm_bits | channel
    } else {
        proprietary | 0x40 | if sm { 0x20 } else { 0 } | chaining | (channel - 4)
    })
}

/// MANAGE CHANNEL open, the card assigns the number (`00 70 00 00 01`), issued on the basic channel.
pub fn open_channel_command() -> Command {
    Command::new(0x00, INS_MANAGE_CHANNEL, 0x00, 0x00).le(1)
}

/// MANAGE CHANNEL close of `channel` (`0X 70 80 XX`), issued on that channel.
pub fn close_channel_command(channel: u8) -> Result<Command> {
    if channel == 0 || channel > MAX_CHANNEL {
        return Err(ApduError::BadChannel(channel));
    }
    Ok(Command::new(
        with_channel(0x00, channel)?,
        INS_MANAGE_CHANNEL,
        0x80,
        channel,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cla_table() {
        // ISO/IEC 7816-4 §5.4.1 tables 2 and 3.
        for (cla, ch) in [
            (0x00, 0),
            (0x01, 1),
            (0x03, 3),
            (0x0C, 0),
            (0x13, 3),
            (0x40, 4),
            (0x4F, 19),
            (0x60, 4),
            (0x7F, 19),
            (0x80, 0),
            (0x81, 1),
            (0x83, 3),
            (0x84, 0),
            (0xC0, 4),
            (0xCF, 19),
            (0xE1, 5),
        ] {
            assert_eq!(channel_of(cla), Some(ch), "CLA {cla:02X}");
        }
        for cla in [0x20, 0x3F, 0xA0, 0xBF, 0xFF] {
            assert_eq!(channel_of(cla), None, "CLA {cla:02X}");
        }
        for ch in 0..=19 {
            let ii = with_channel(0x00, ch).unwrap();
            let gp = with_channel(0x80, ch).unwrap();
            assert_eq!(channel_of(ii), Some(ch));
            assert_eq!(channel_of(gp), Some(ch));
            assert!(is_interindustry(ii) && !is_interindustry(gp));
        }
        assert_eq!(with_channel(0x80, 1).unwrap(), 0x81);
        assert_eq!(with_channel(0x80, 4).unwrap(), 0xC0);
        assert_eq!(with_channel(0x80, 19).unwrap(), 0xCF);
        assert_eq!(with_channel(0x00, 5).unwrap(), 0x41);
        assert_eq!(with_channel(0xC5, 2).unwrap(), 0x82);
        // SM kept: GP 84 (ch 0) -> E0 (ch 4) -> 84 (ch 0).
        assert_eq!(with_channel(0x84, 4).unwrap(), 0xE0);
        assert_eq!(with_channel(0xE0, 0).unwrap(), 0x84);
        // Chaining kept.
        assert_eq!(with_channel(0x10, 6).unwrap(), 0x52);
        assert!(is_chained(0x52) && !is_chained(0x42));
        assert_eq!(with_channel(0x00, 20), Err(ApduError::BadChannel(20)));
        assert_eq!(with_channel(0xA0, 1), Err(ApduError::ClaNotSupported(0xA0)));
    }

    #[test]
    fn manage_channel() {
        assert_eq!(
            open_channel_command().encode().unwrap(),
            [0x00, 0x70, 0x00, 0x00, 0x01]
        );
        assert_eq!(
            close_channel_command(1).unwrap().encode().unwrap(),
            [0x01, 0x70, 0x80, 0x01]
        );
        assert_eq!(
            close_channel_command(7).unwrap().encode().unwrap(),
            [0x43, 0x70, 0x80, 0x07]
        );
        assert!(close_channel_command(0).is_err());
    }
}
