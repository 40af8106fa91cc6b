//! SGP.22 §5.7.2 ES10 transport: every ES10x function is a STORE DATA command
//! (GlobalPlatform Card Specification §11.11) to the ISD-R.
//!
//! `CLA` = `80` with the logical channel coded in it, `INS` = `E2`,
//! `P1` = `11` (more blocks) or `91` (last block), `P2` = block number starting at `00`,
//! at most 255 data bytes per block (case 3, short Lc). The response to the last block carries the
//! ES10 response, possibly continued with `61xx` + GET RESPONSE.

use crate::channel::with_channel;
use crate::{Command, Result, StatusWord};

/// ISD-R AID (SGP.02 §2.2.3 / SGP.22 §2.4.4): `A0 00 00 05 59 10 10 FF FF FF FF 89 00 00 01 00`.
pub const ISD_R_AID: [u8; 16] = [
    0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x01, 0x00,
];
/// ECASD AID: `A0 00 00 05 59 10 10 FF FF FF FF 89 00 00 02 00`.
pub const ECASD_AID: [u8; 16] = [
    0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x02, 0x00,
];

pub const INS_STORE_DATA: u8 = 0xE2;
pub const INS_GET_RESPONSE: u8 = 0xC0;
pub const INS_SELECT: u8 = 0xA4;
/// STORE DATA P1: more blocks follow (BER-TLV structure, b5-b4 = 10).
pub const P1_MORE_BLOCKS: u8 = 0x11;
/// STORE DATA P1: last block (b8 set).
pub const P1_LAST_BLOCK: u8 = 0x91;
/// Largest STORE DATA block.
pub const MAX_BLOCK: usize = 255;
/// Largest ES10 request [`StoreDataChain`] accepts by default.
pub const MAX_REQUEST: usize = 64 * 1024;

/// Splits an ES10 request into STORE DATA commands of at most 255 bytes on `channel`.
pub fn store_data_blocks(channel: u8, payload: &[u8]) -> Result<Vec<Command>> {
    store_data_blocks_sized(channel, payload, MAX_BLOCK)
}

/// As [`store_data_blocks`] with a smaller block size (lpac uses 120, some modems need less).
pub fn store_data_blocks_sized(channel: u8, payload: &[u8], block: usize) -> Result<Vec<Command>> {
    let cla = with_channel(0x80, channel)?;
    let block = block.clamp(1, MAX_BLOCK);
    if payload.is_empty() {
        return Ok(vec![Command::new(cla, INS_STORE_DATA, P1_LAST_BLOCK, 0)]);
    }
    let count = payload.len().div_ceil(block);
    Ok(payload
        .chunks(block)
        .enumerate()
        .map(|(i, chunk)| {
            let p1 = if i + 1 == count {
                P1_LAST_BLOCK
            } else {
                P1_MORE_BLOCKS
            };
            // P2 is one octet: the block number wraps after 255 (GP CS §11.11.2.2).
            Command::with_data(cla, INS_STORE_DATA, p1, i as u8, chunk.to_vec())
        })
        .collect())
}

/// Card-side reassembly of one logical channel's STORE DATA chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreDataChain {
    buf: Vec<u8>,
    next_block: u8,
    max: usize,
}

impl Default for StoreDataChain {
    fn default() -> Self {
        StoreDataChain::new()
    }
}

impl StoreDataChain {
    pub fn new() -> Self {
        StoreDataChain {
            buf: Vec::new(),
            next_block: 0,
            max: MAX_REQUEST,
        }
    }

    pub fn with_limit(max: usize) -> Self {
        StoreDataChain {
            buf: Vec::new(),
            next_block: 0,
            max,
        }
    }

    /// True when no chain is in progress.
    pub fn is_idle(&self) -> bool {
        self.next_block == 0 && self.buf.is_empty()
    }

    /// Drops a chain in progress.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.next_block = 0;
    }

    /// Adds one STORE DATA block. Returns the whole request after the last block, `None` while
    /// more blocks are expected, or the status word to answer with (the chain is then reset):
    /// `6A86` for a P1 other than `11`/`91` or a block out of sequence, `6700` for an empty
    /// block, `6A84` when the request exceeds the limit.
    pub fn push(
        &mut self,
        p1: u8,
        p2: u8,
        data: &[u8],
    ) -> std::result::Result<Option<Vec<u8>>, StatusWord> {
        let last = match p1 {
            P1_LAST_BLOCK => true,
            P1_MORE_BLOCKS => false,
            _ => {
                self.reset();
                return Err(StatusWord::INCORRECT_P1_P2);
            }
        };
        if p2 != self.next_block {
            self.reset();
            return Err(StatusWord::INCORRECT_P1_P2);
        }
        if data.is_empty() {
            self.reset();
            return Err(StatusWord::WRONG_LENGTH);
        }
        if self.buf.len() + data.len() > self.max {
            self.reset();
            return Err(StatusWord::NOT_ENOUGH_MEMORY);
        }
        self.buf.extend_from_slice(data);
        if last {
            self.next_block = 0;
            Ok(Some(std::mem::take(&mut self.buf)))
        } else {
            self.next_block = self.next_block.wrapping_add(1);
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_block() {
        // SGP.22 §5.7.7 GetEuiccChallengeRequest ::= [46] SEQUENCE {} = BF2E 00 on channel 1.
        let cmds = store_data_blocks(1, &[0xBF, 0x2E, 0x00]).unwrap();
        assert_eq!(cmds.len(), 1);
        assert_eq!(
            cmds[0].encode().unwrap(),
            [0x81, 0xE2, 0x91, 0x00, 0x03, 0xBF, 0x2E, 0x00]
        );
    }

    #[test]
    fn split_and_reassemble() {
        for len in [1usize, 254, 255, 256, 510, 511, 1000, 65 * 255 + 3] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let cmds = store_data_blocks(5, &payload).unwrap();
            assert_eq!(cmds.len(), len.div_ceil(255));
            let mut chain = StoreDataChain::new();
            let mut out = None;
            for (i, c) in cmds.iter().enumerate() {
                assert_eq!(c.cla, 0xC1);
                assert_eq!(c.ins, 0xE2);
                assert_eq!(c.p2, i as u8);
                assert!(c.data.len() <= 255 && c.le.is_none());
                let last = i + 1 == cmds.len();
                assert_eq!(c.p1, if last { 0x91 } else { 0x11 });
                let r = chain.push(c.p1, c.p2, &c.data).unwrap();
                assert_eq!(r.is_some(), last);
                out = r.or(out);
            }
            assert_eq!(out.unwrap(), payload);
            assert!(chain.is_idle());
        }
        // lpac's 120-byte blocks.
        let cmds = store_data_blocks_sized(0, &[0u8; 241], 120).unwrap();
        assert_eq!(
            cmds.iter().map(|c| c.data.len()).collect::<Vec<_>>(),
            [120, 120, 1]
        );
    }

    #[test]
    fn chain_errors() {
        let mut chain = StoreDataChain::default();
        assert_eq!(chain, StoreDataChain::new());
        assert_eq!(chain.push(0x11, 1, &[1]), Err(StatusWord::INCORRECT_P1_P2));
        assert_eq!(chain.push(0x11, 0, &[1]), Ok(None));
        assert_eq!(chain.push(0x11, 2, &[1]), Err(StatusWord::INCORRECT_P1_P2));
        assert!(chain.is_idle(), "an error drops the chain");
        assert_eq!(chain.push(0x90, 0, &[1]), Err(StatusWord::INCORRECT_P1_P2));
        assert_eq!(chain.push(0x91, 0, &[]), Err(StatusWord::WRONG_LENGTH));
        let mut small = StoreDataChain::with_limit(4);
        assert_eq!(small.push(0x11, 0, &[1, 2, 3]), Ok(None));
        assert_eq!(
            small.push(0x91, 1, &[4, 5]),
            Err(StatusWord::NOT_ENOUGH_MEMORY)
        );
        assert!(store_data_blocks(20, &[1]).is_err());
    }
}
