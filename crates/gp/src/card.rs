//! Card side: the secure channel state of one security domain on one logical channel
//! (GP CS v2.3.1 §10.2 and §11.9/§11.11), so a card container only routes APDUs and looks up
//! key sets.

use apdu::{Command, Response, StatusWord};
use rand_core::CryptoRng;

use crate::counter::SequenceCounter;
use crate::error::{GpError, Result};
use crate::keys::KeySet;
use crate::level::has_sm;
use crate::session::{CardConfig, CardHandshake, InitializeUpdate, Session};

#[derive(Debug, Default)]
enum State {
    #[default]
    Idle,
    Initiating(Box<CardHandshake>),
    Open(Box<Session>),
}

/// The secure channel state machine of a security domain on one logical channel.
#[derive(Debug, Default)]
pub struct CardSecureChannel {
    state: State,
}

impl CardSecureChannel {
    pub fn new() -> CardSecureChannel {
        CardSecureChannel::default()
    }

    /// The open session, if any.
    pub fn session(&self) -> Option<&Session> {
        match &self.state {
            State::Open(s) => Some(s),
            _ => None,
        }
    }

    /// Terminates any session (reset, SELECT of another application, channel closed).
    pub fn reset(&mut self) {
        self.state = State::Idle;
    }

    /// INITIALIZE UPDATE: any current session ends; `lookup` gives the key set and its sequence
    /// counter for the requested KVN ('00': the default set), `None` answers `6A88`.
    pub fn initialize_update<R: CryptoRng + ?Sized>(
        &mut self,
        cmd: &Command,
        lookup: impl FnOnce(u8) -> Option<(KeySet, SequenceCounter)>,
        config: &CardConfig,
        rng: &mut R,
    ) -> Result<(Response, SequenceCounter)> {
        self.state = State::Idle;
        let req = InitializeUpdate::parse(cmd)?;
        let (keys, mut counter) = lookup(req.kvn).ok_or(GpError::KeyNotFound(req.kvn))?;
        let (hs, rsp) = CardHandshake::initialize_update(&req, &keys, &mut counter, config, rng)?;
        self.state = State::Initiating(Box::new(hs));
        Ok((rsp, counter))
    }

    /// EXTERNAL AUTHENTICATE after INITIALIZE UPDATE (`6985` otherwise). Any failure ends the
    /// initiation. `counter` is the key set's sequence counter (SCP02 increments it).
    pub fn external_authenticate(
        &mut self,
        cmd: &Command,
        counter: &mut SequenceCounter,
    ) -> Result<Response> {
        let State::Initiating(hs) = std::mem::take(&mut self.state) else {
            return Err(GpError::ConditionsNotSatisfied(
                "no INITIALIZE UPDATE before",
            ));
        };
        let (session, rsp) = hs.external_authenticate(cmd, counter)?;
        self.state = State::Open(Box::new(session));
        Ok(rsp)
    }

    /// Unwraps a command for processing. Without an open session, a command with secure
    /// messaging is refused (`6982`) and any initiation in progress ends. A secure messaging
    /// error in a session ends it (`6982`).
    pub fn unwrap_command(&mut self, cmd: &Command) -> Result<Command> {
        match &mut self.state {
            State::Open(s) => {
                let r = s.unwrap_command(cmd);
                if s.is_closed() {
                    self.state = State::Idle;
                }
                r
            }
            _ if has_sm(cmd.cla) => {
                self.state = State::Idle;
                Err(GpError::SecurityStatus("no secure channel session"))
            }
            State::Initiating(_) => {
                // Any other command between INITIALIZE UPDATE and EXTERNAL AUTHENTICATE
                // aborts the initiation.
                self.state = State::Idle;
                Ok(cmd.clone())
            }
            State::Idle => Ok(cmd.clone()),
        }
    }

    /// Protects a response per the session's security level (unchanged without a session).
    pub fn wrap_response(&mut self, rsp: &Response) -> Result<Response> {
        match &mut self.state {
            State::Open(s) => s.wrap_response(rsp),
            _ => Ok(rsp.clone()),
        }
    }

    /// Convenience for a card's dispatcher: the response for an error.
    pub fn error_response(e: &GpError) -> Response {
        let sw = e.status_word();
        Response::status(if sw == StatusWord::OK {
            StatusWord::NO_PRECISE_DIAGNOSIS
        } else {
            sw
        })
    }
}
