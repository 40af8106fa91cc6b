//! Cutting PDUs out of a TCP byte stream (SMPP v3.4 §3.2: command_length counts the whole
//! PDU, header included). Sans-I/O: push whatever the socket gave, take complete PDUs out.

use crate::error::SmppError;
use crate::pdu::{Header, Pdu, HEADER_LEN};
use crate::status::CommandStatus;

/// Default upper bound on command_length: a submit_sm/deliver_sm with all mandatory fields
/// at their maximum plus a full 64 KiB message_payload stays below it.
pub const DEFAULT_MAX_COMMAND_LENGTH: u32 = 70_000;

/// The stream cannot be framed any more: command_length below 16 or above the limit. The
/// receiver answers generic_nack ESME_RINVCMDLEN ([`FramingError::reply`]) and closes the
/// connection, since the next PDU boundary is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramingError {
    /// The offending command_length.
    pub command_length: u32,
    /// The sequence_number, if the 16 header octets had arrived.
    pub sequence_number: Option<u32>,
}

impl FramingError {
    /// generic_nack with ESME_RINVCMDLEN (§4.3).
    pub fn reply(&self) -> Pdu {
        Pdu::generic_nack(
            self.sequence_number.unwrap_or(0),
            CommandStatus::ESME_RINVCMDLEN,
        )
    }
}

impl From<FramingError> for SmppError {
    fn from(e: FramingError) -> SmppError {
        SmppError::InvalidCommandLength(e.command_length)
    }
}

/// Streaming frame decoder.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    max_len: u32,
    failed: Option<FramingError>,
}

impl Default for FrameDecoder {
    fn default() -> FrameDecoder {
        FrameDecoder::new(DEFAULT_MAX_COMMAND_LENGTH)
    }
}

impl FrameDecoder {
    /// A decoder refusing command_length above `max_command_length` (at least 16 is used).
    pub fn new(max_command_length: u32) -> FrameDecoder {
        FrameDecoder {
            buf: Vec::new(),
            max_len: max_command_length.max(HEADER_LEN as u32),
            failed: None,
        }
    }

    /// Append received octets.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Octets received but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete PDU's octets, `Ok(None)` while more input is needed. After a
    /// framing error every call returns that error.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let Some(len_bytes) = self.buf.get(..4) else {
            return Ok(None);
        };
        let mut word = [0u8; 4];
        word.copy_from_slice(len_bytes);
        let len = u32::from_be_bytes(word);
        if len < HEADER_LEN as u32 || len > self.max_len {
            // Wait for the header so the generic_nack can echo the sequence_number; a
            // length below 16 cannot be waited for (the next PDU may already be there).
            let seq = Header::peek(&self.buf).map(|h| h.sequence_number);
            if seq.is_none() && len >= HEADER_LEN as u32 {
                return Ok(None);
            }
            let e = FramingError {
                command_length: len,
                sequence_number: seq,
            };
            self.failed = Some(e);
            self.buf.clear();
            return Err(e);
        }
        let n = len as usize;
        if self.buf.len() < n {
            return Ok(None);
        }
        let rest = self.buf.split_off(n);
        Ok(Some(std::mem::replace(&mut self.buf, rest)))
    }
}
