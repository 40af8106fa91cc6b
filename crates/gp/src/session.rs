//! Secure channel initiation (INITIALIZE UPDATE / EXTERNAL AUTHENTICATE, GP CS v2.3.1 §11.9,
//! §11.11, Annex E.5 and Amd D §7.1) on both sides, and the [`Session`] both sides use to
//! protect APDUs afterwards.

use std::fmt;

use apdu::{Command, Response, StatusWord};
use rand_core::CryptoRng;

use crate::counter::SequenceCounter;
use crate::diversify::Diversification;
use crate::error::{GpError, Result};
use crate::keys::{Dek, KeySet, KeyType};
use crate::level::SecurityLevel;
use crate::scp02::{Scp02Channel, Scp02Params, Scp02SessionKeys};
use crate::scp03::{self, Scp03Channel, Scp03Params, Scp03SessionKeys};

pub const CLA_GP: u8 = 0x80;
/// {iso(1) member-body(2) us(840) globalPlatform(114283)} (GP CS v2.3.1 Annex H).
const GP_OID: [u8; 6] = [0x2A, 0x86, 0x48, 0x86, 0xFC, 0x6B];
pub const INS_INITIALIZE_UPDATE: u8 = 0x50;
pub const INS_EXTERNAL_AUTHENTICATE: u8 = 0x82;

/// The secure channel protocol and its "i" parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scp {
    Scp02(Scp02Params),
    Scp03(Scp03Params),
}

impl Scp {
    /// SCP02 with i = '15' or '55' etc.
    pub fn scp02(i: u8) -> Result<Scp> {
        let p = Scp02Params(i);
        p.validate()?;
        Ok(Scp::Scp02(p))
    }

    /// SCP03 with i = '70', '60', '00', ... (+ '01' for S16).
    pub fn scp03(i: u8) -> Result<Scp> {
        let p = Scp03Params(i);
        p.validate()?;
        Ok(Scp::Scp03(p))
    }

    /// The object identifier of the secure channel protocol in Card Recognition Data /
    /// Security Domain Management Data (tag '64', GP CS v2.3.1 Annex H.2):
    /// {globalPlatform 4 scp i} = 2A864886FC6B 04 scp i.
    pub fn oid(self) -> Vec<u8> {
        let mut v = GP_OID.to_vec();
        v.extend_from_slice(&[0x04, self.id(), self.i()]);
        v
    }

    /// Parses the '64' OID value (see [`Scp::oid`]).
    pub fn from_oid(oid: &[u8]) -> Result<Scp> {
        match oid.strip_prefix(GP_OID.as_slice()) {
            Some([0x04, 0x02, i]) => Scp::scp02(*i),
            Some([0x04, 0x03, i]) => Scp::scp03(*i),
            _ => Err(GpError::Unsupported("secure channel protocol OID")),
        }
    }

    /// The protocol identifier ('02' or '03').
    pub fn id(self) -> u8 {
        match self {
            Scp::Scp02(_) => 0x02,
            Scp::Scp03(_) => 0x03,
        }
    }

    pub fn i(self) -> u8 {
        match self {
            Scp::Scp02(p) => p.0,
            Scp::Scp03(p) => p.0,
        }
    }

    /// Host challenge length (8, or 16 in SCP03 S16 mode).
    pub fn host_challenge_len(self) -> usize {
        match self {
            Scp::Scp02(_) => 8,
            Scp::Scp03(p) => p.block_len(),
        }
    }

    fn key_type(self) -> KeyType {
        match self {
            Scp::Scp02(_) => KeyType::Des,
            Scp::Scp03(_) => KeyType::Aes,
        }
    }

    fn allows(self, level: SecurityLevel) -> bool {
        match self {
            Scp::Scp02(p) => p.allows(level),
            Scp::Scp03(p) => p.allows(level),
        }
    }
}

/// INITIALIZE UPDATE command (GP CS v2.3.1 §11.9.2): P1 key version number ('00' = first
/// available), P2 key identifier, data = host challenge, Le = '00'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitializeUpdate {
    pub kvn: u8,
    pub key_id: u8,
    pub host_challenge: Vec<u8>,
}

impl InitializeUpdate {
    pub fn command(&self) -> Command {
        Command::with_data(
            CLA_GP,
            INS_INITIALIZE_UPDATE,
            self.kvn,
            self.key_id,
            self.host_challenge.clone(),
        )
        .le(256)
    }

    /// Parses an INITIALIZE UPDATE (any channel); the host challenge must be 8 or 16 bytes.
    pub fn parse(cmd: &Command) -> Result<InitializeUpdate> {
        if cmd.ins != INS_INITIALIZE_UPDATE {
            return Err(GpError::IncorrectData("not INITIALIZE UPDATE"));
        }
        if !matches!(cmd.data.len(), 8 | 16) {
            return Err(GpError::WrongLength("host challenge must be 8 or 16 bytes"));
        }
        Ok(InitializeUpdate {
            kvn: cmd.p1,
            key_id: cmd.p2,
            host_challenge: cmd.data.clone(),
        })
    }
}

/// The INITIALIZE UPDATE response data (GP CS v2.3.1 Table E-3 for SCP02, Amd D Table 7-2
/// for SCP03).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitUpdateResponse {
    /// Key diversification data (10 bytes).
    pub kdd: [u8; 10],
    /// Key version number of the key set the card used.
    pub kvn: u8,
    pub scp: Scp,
    /// SCP02: always (2 bytes, placed before the challenge); SCP03: only with pseudo-random
    /// challenges (3 bytes, at the end).
    pub sequence_counter: Option<Vec<u8>>,
    /// 6 bytes (SCP02), 8 or 16 bytes (SCP03).
    pub card_challenge: Vec<u8>,
    /// 8 bytes, or 16 in SCP03 S16 mode.
    pub card_cryptogram: Vec<u8>,
}

impl InitUpdateResponse {
    pub fn parse(data: &[u8]) -> Result<InitUpdateResponse> {
        let short = GpError::IncorrectData("INITIALIZE UPDATE response length");
        let kdd: [u8; 10] = data
            .get(..10)
            .and_then(|s| s.try_into().ok())
            .ok_or(short.clone())?;
        let kvn = *data.get(10).ok_or(short.clone())?;
        match data.get(11) {
            Some(0x02) => {
                // SCP02: KDD 10 | KVN | '02' | sequence counter 2 | card challenge 6 | cryptogram 8.
                if data.len() != 28 {
                    return Err(short);
                }
                Ok(InitUpdateResponse {
                    kdd,
                    kvn,
                    // SCP02 responses do not carry "i"; '15' is assumed here (the host may
                    // know better, see `HostHandshake::scp02_i`).
                    scp: Scp::Scp02(Scp02Params(0x15)),
                    sequence_counter: Some(data[12..14].to_vec()),
                    card_challenge: data[14..20].to_vec(),
                    card_cryptogram: data[20..28].to_vec(),
                })
            }
            Some(0x03) => {
                let params = Scp03Params(*data.get(12).ok_or(short.clone())?);
                let n = params.block_len();
                let seq_len = if params.pseudo_random() { 3 } else { 0 };
                if data.len() != 13 + 2 * n + seq_len {
                    return Err(short);
                }
                Ok(InitUpdateResponse {
                    kdd,
                    kvn,
                    scp: Scp::Scp03(params),
                    card_challenge: data[13..13 + n].to_vec(),
                    card_cryptogram: data[13 + n..13 + 2 * n].to_vec(),
                    sequence_counter: params.pseudo_random().then(|| data[13 + 2 * n..].to_vec()),
                })
            }
            _ => Err(GpError::Unsupported(
                "secure channel protocol other than 02/03",
            )),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.kdd.to_vec();
        out.push(self.kvn);
        out.push(self.scp.id());
        match self.scp {
            Scp::Scp02(_) => {
                out.extend_from_slice(self.sequence_counter.as_deref().unwrap_or(&[0, 0]));
                out.extend_from_slice(&self.card_challenge);
                out.extend_from_slice(&self.card_cryptogram);
            }
            Scp::Scp03(p) => {
                out.push(p.0);
                out.extend_from_slice(&self.card_challenge);
                out.extend_from_slice(&self.card_cryptogram);
                if let Some(seq) = &self.sequence_counter {
                    out.extend_from_slice(seq);
                }
            }
        }
        out
    }
}

enum Channel {
    Scp02(Box<Scp02Channel>),
    Scp03(Box<Scp03Channel>),
}

/// An open secure channel session. The host wraps commands and unwraps responses; the card
/// unwraps commands and wraps responses; both with the same state machine.
pub struct Session {
    scp: Scp,
    kvn: u8,
    level: SecurityLevel,
    channel: Channel,
    dek: Dek,
    closed: bool,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("scp", &self.scp)
            .field("kvn", &self.kvn)
            .field("level", &self.level)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub fn scp(&self) -> Scp {
        self.scp
    }

    pub fn kvn(&self) -> u8 {
        self.kvn
    }

    pub fn security_level(&self) -> SecurityLevel {
        self.level
    }

    /// The key for sensitive data (PUT KEY): static Key-DEK (SCP03), session DEK (SCP02).
    pub fn dek(&self) -> &Dek {
        &self.dek
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Terminates the session; every further APDU operation fails with `6982`.
    pub fn close(&mut self) {
        self.closed = true;
    }

    fn check_open(&self) -> Result<()> {
        if self.closed {
            return Err(GpError::SecurityStatus("secure channel closed"));
        }
        Ok(())
    }

    /// Host: applies C-MAC (and C-DECRYPTION) per the security level.
    pub fn wrap_command(&mut self, cmd: &Command) -> Result<Command> {
        self.check_open()?;
        match &mut self.channel {
            Channel::Scp02(c) => c.wrap_command(self.level, cmd),
            Channel::Scp03(c) => c.wrap_command(self.level, cmd),
        }
    }

    /// Host: verifies the R-MAC (and removes R-ENCRYPTION) of the response to the last
    /// wrapped command.
    pub fn unwrap_response(&mut self, rsp: &Response) -> Result<Response> {
        self.check_open()?;
        match &mut self.channel {
            Channel::Scp02(c) => c.unwrap_response(self.level, rsp),
            Channel::Scp03(c) => c.unwrap_response(self.level, rsp),
        }
    }

    /// Card: verifies and decrypts a command. On a secure messaging error
    /// ([`GpError::SecurityStatus`], `6982`) the session is closed, as GP CS v2.3.1 §10.2.3
    /// requires; the caller answers with [`GpError::status_word`].
    pub fn unwrap_command(&mut self, cmd: &Command) -> Result<Command> {
        self.check_open()?;
        let r = match &mut self.channel {
            Channel::Scp02(c) => c.unwrap_command(self.level, cmd),
            Channel::Scp03(c) => c.unwrap_command(self.level, cmd),
        };
        if r.as_ref().is_err_and(GpError::closes_session) {
            self.closed = true;
        }
        r
    }

    /// Card: applies R-ENCRYPTION and R-MAC to the response of the last unwrapped command.
    pub fn wrap_response(&mut self, rsp: &Response) -> Result<Response> {
        self.check_open()?;
        match &mut self.channel {
            Channel::Scp02(c) => c.wrap_response(self.level, rsp),
            Channel::Scp03(c) => c.wrap_response(self.level, rsp),
        }
    }
}

/// Host side of secure channel initiation.
#[derive(Debug, Clone)]
pub struct HostHandshake {
    keys: KeySet,
    diversification: Diversification,
    request: InitializeUpdate,
    cla: u8,
    scp02_i: Scp02Params,
    expected_aid: Option<Vec<u8>>,
}

impl HostHandshake {
    /// Starts with a given host challenge (8 bytes; 16 for SCP03 S16). INITIALIZE UPDATE asks
    /// for the key set's KVN, key id '00'.
    pub fn new(keys: KeySet, host_challenge: &[u8]) -> Result<HostHandshake> {
        if !matches!(host_challenge.len(), 8 | 16)
            || (keys.key_type() == KeyType::Des && host_challenge.len() != 8)
        {
            return Err(GpError::WrongLength("host challenge"));
        }
        Ok(HostHandshake {
            request: InitializeUpdate {
                kvn: keys.kvn(),
                key_id: 0,
                host_challenge: host_challenge.to_vec(),
            },
            keys,
            diversification: Diversification::None,
            cla: CLA_GP,
            scp02_i: Scp02Params(0x15),
            expected_aid: None,
        })
    }

    /// Starts with a random host challenge (`s16`: 16 bytes, SCP03 only).
    pub fn random<R: CryptoRng + ?Sized>(keys: KeySet, s16: bool, rng: &mut R) -> Result<Self> {
        let mut ch = vec![0u8; if s16 { 16 } else { 8 }];
        rng.fill_bytes(&mut ch);
        HostHandshake::new(keys, &ch)
    }

    /// Diversifies the master keys with the card's key diversification data.
    pub fn diversification(mut self, d: Diversification) -> Self {
        self.diversification = d;
        self
    }

    /// The SCP02 "i" parameter of the card (from its card recognition data; the INITIALIZE
    /// UPDATE response does not carry it). Default '15'.
    pub fn scp02_i(mut self, i: u8) -> Result<Self> {
        let p = Scp02Params(i);
        p.validate()?;
        self.scp02_i = p;
        Ok(self)
    }

    /// Also checks an SCP03 pseudo-random card challenge against the security domain's AID
    /// and the reported sequence counter (Amd D §6.2.2.1).
    pub fn expect_aid(mut self, aid: &[u8]) -> Self {
        self.expected_aid = Some(aid.to_vec());
        self
    }

    /// Asks for a specific KVN in P1 ('00': the first available key set).
    pub fn kvn(mut self, kvn: u8) -> Self {
        self.request.kvn = kvn;
        self
    }

    /// Uses a logical channel (0..=19) for both commands.
    pub fn channel(mut self, channel: u8) -> Result<Self> {
        self.cla = apdu::with_channel(CLA_GP, channel)?;
        Ok(self)
    }

    pub fn host_challenge(&self) -> &[u8] {
        &self.request.host_challenge
    }

    /// The INITIALIZE UPDATE command to send.
    pub fn initialize_update(&self) -> Command {
        Command {
            cla: self.cla,
            ..self.request.command()
        }
    }

    /// Checks the card's INITIALIZE UPDATE response (card cryptogram) and builds EXTERNAL
    /// AUTHENTICATE for `level`. Returns the open session (to use once the card answers
    /// '9000'), the command, and the parsed response.
    pub fn authenticate(
        self,
        response: &Response,
        level: SecurityLevel,
    ) -> Result<(Session, Command, InitUpdateResponse)> {
        if response.sw != StatusWord::OK {
            return Err(GpError::Status(response.sw));
        }
        let mut iu = InitUpdateResponse::parse(&response.data)?;
        if let Scp::Scp02(_) = iu.scp {
            iu.scp = Scp::Scp02(self.scp02_i);
        }
        if iu.scp.key_type() != self.keys.key_type() {
            return Err(GpError::Unsupported(
                "card protocol does not match the key type",
            ));
        }
        if !iu.scp.allows(level) {
            return Err(GpError::IncorrectP1P2("security level not allowed by i"));
        }
        let keys = self.diversification.apply(&self.keys, &iu.kdd)?;
        let host_ch = self.request.host_challenge.as_slice();
        let ext_auth = |data: Vec<u8>| {
            Command::with_data(self.cla, INS_EXTERNAL_AUTHENTICATE, level.p1(), 0x00, data)
        };
        let (channel, dek, command) = match iu.scp {
            Scp::Scp03(params) => {
                let n = params.block_len();
                if host_ch.len() != n {
                    return Err(GpError::WrongLength("host challenge length vs S8/S16 mode"));
                }
                if let (Some(aid), Some(seq)) = (&self.expected_aid, &iu.sequence_counter) {
                    let seq: [u8; 3] = seq
                        .as_slice()
                        .try_into()
                        .map_err(|_| GpError::IncorrectData("sequence counter"))?;
                    let expected = scp03::pseudo_random_challenge(&keys, &seq, aid, n)?;
                    if !symcrypto::ct_eq(&expected, &iu.card_challenge) {
                        return Err(GpError::CardChallenge);
                    }
                }
                let sk = Scp03SessionKeys::derive(&keys, host_ch, &iu.card_challenge)?;
                let expected = sk.card_cryptogram(host_ch, &iu.card_challenge, n)?;
                if !symcrypto::ct_eq(&expected, &iu.card_cryptogram) {
                    return Err(GpError::CardCryptogram);
                }
                let host_cryptogram = sk.host_cryptogram(host_ch, &iu.card_challenge, n)?;
                let mut ch = Scp03Channel::new(sk, params);
                let cmd = ch.mac_only(&ext_auth(host_cryptogram))?;
                (
                    Channel::Scp03(Box::new(ch)),
                    Dek::aes(keys.dek().expose())?,
                    cmd,
                )
            }
            Scp::Scp02(params) => {
                let seq = seq2(iu.sequence_counter.as_deref())?;
                let sk = Scp02SessionKeys::derive(&keys, seq)?;
                let expected = sk.card_cryptogram(host_ch, seq, &iu.card_challenge)?;
                if !symcrypto::ct_eq(&expected, &iu.card_cryptogram) {
                    return Err(GpError::CardCryptogram);
                }
                let host_cryptogram = sk.host_cryptogram(host_ch, seq, &iu.card_challenge)?;
                let dek = sk.dek()?;
                let mut ch = Scp02Channel::new(sk, params);
                let cmd = ch.mac_only(&ext_auth(host_cryptogram.to_vec()))?;
                (Channel::Scp02(Box::new(ch)), dek, cmd)
            }
        };
        let session = Session {
            scp: iu.scp,
            kvn: iu.kvn,
            level,
            channel,
            dek,
            closed: false,
        };
        Ok((session, command, iu))
    }
}

fn seq2(seq: Option<&[u8]>) -> Result<[u8; 2]> {
    seq.and_then(|s| s.try_into().ok())
        .ok_or(GpError::IncorrectData("SCP02 sequence counter"))
}

/// What a security domain tells about itself during initiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardConfig {
    /// AID of the security domain (context of pseudo-random challenges).
    pub aid: Vec<u8>,
    /// Key diversification data returned in INITIALIZE UPDATE.
    pub kdd: [u8; 10],
    /// Protocol and "i" parameter.
    pub scp: Scp,
}

/// Card side of secure channel initiation: state between INITIALIZE UPDATE and EXTERNAL
/// AUTHENTICATE.
pub struct CardHandshake {
    scp: Scp,
    kvn: u8,
    host_cryptogram: Vec<u8>,
    channel: Channel,
    dek: Dek,
}

impl fmt::Debug for CardHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardHandshake")
            .field("scp", &self.scp)
            .field("kvn", &self.kvn)
            .finish_non_exhaustive()
    }
}

impl CardHandshake {
    /// Processes INITIALIZE UPDATE with the key set the caller found for `request.kvn`
    /// (a missing set is [`GpError::KeyNotFound`], `6A88`) and that set's sequence counter.
    /// SCP03 with pseudo-random challenges increments the counter first (`6985` when it is
    /// exhausted, Amd D §6.2.2.1); SCP02 uses the current value and increments on successful
    /// EXTERNAL AUTHENTICATE.
    pub fn initialize_update<R: CryptoRng + ?Sized>(
        request: &InitializeUpdate,
        keys: &KeySet,
        counter: &mut SequenceCounter,
        config: &CardConfig,
        rng: &mut R,
    ) -> Result<(CardHandshake, Response)> {
        if keys.key_type() != config.scp.key_type() {
            return Err(GpError::KeyNotFound(request.kvn));
        }
        let host_ch = request.host_challenge.as_slice();
        if host_ch.len() != config.scp.host_challenge_len() {
            return Err(GpError::WrongLength("host challenge"));
        }
        let (iu, host_cryptogram, channel, dek) = match config.scp {
            Scp::Scp03(params) => {
                let n = params.block_len();
                let (card_ch, seq) = if params.pseudo_random() {
                    counter.increment()?;
                    let seq: [u8; 3] = counter
                        .to_bytes()
                        .try_into()
                        .map_err(|_| GpError::IncorrectData("SCP03 counter must be 3 bytes"))?;
                    let ch = scp03::pseudo_random_challenge(keys, &seq, &config.aid, n)?;
                    (ch, Some(seq.to_vec()))
                } else {
                    let mut ch = vec![0u8; n];
                    rng.fill_bytes(&mut ch);
                    (ch, None)
                };
                let sk = Scp03SessionKeys::derive(keys, host_ch, &card_ch)?;
                let card_cryptogram = sk.card_cryptogram(host_ch, &card_ch, n)?;
                let host_cryptogram = sk.host_cryptogram(host_ch, &card_ch, n)?;
                let iu = InitUpdateResponse {
                    kdd: config.kdd,
                    kvn: keys.kvn(),
                    scp: config.scp,
                    sequence_counter: seq,
                    card_challenge: card_ch,
                    card_cryptogram,
                };
                let ch = Channel::Scp03(Box::new(Scp03Channel::new(sk, params)));
                (iu, host_cryptogram, ch, Dek::aes(keys.dek().expose())?)
            }
            Scp::Scp02(params) => {
                if counter.is_exhausted() {
                    return Err(GpError::ConditionsNotSatisfied(
                        "sequence counter exhausted",
                    ));
                }
                let seq = seq2(Some(&counter.to_bytes()))?;
                let sk = Scp02SessionKeys::derive(keys, seq)?;
                let card_ch = if params.pseudo_random() {
                    sk.pseudo_random_challenge(&config.aid)?.to_vec()
                } else {
                    let mut ch = vec![0u8; 6];
                    rng.fill_bytes(&mut ch);
                    ch
                };
                let card_cryptogram = sk.card_cryptogram(host_ch, seq, &card_ch)?.to_vec();
                let host_cryptogram = sk.host_cryptogram(host_ch, seq, &card_ch)?.to_vec();
                let iu = InitUpdateResponse {
                    kdd: config.kdd,
                    kvn: keys.kvn(),
                    scp: config.scp,
                    sequence_counter: Some(seq.to_vec()),
                    card_challenge: card_ch,
                    card_cryptogram,
                };
                let dek = sk.dek()?;
                let ch = Channel::Scp02(Box::new(Scp02Channel::new(sk, params)));
                (iu, host_cryptogram, ch, dek)
            }
        };
        let handshake = CardHandshake {
            scp: config.scp,
            kvn: keys.kvn(),
            host_cryptogram,
            channel,
            dek,
        };
        Ok((handshake, Response::ok(iu.encode())))
    }

    /// Processes EXTERNAL AUTHENTICATE: P1 security level (`6A86` when not allowed), C-MAC
    /// (`6982`), host cryptogram (`6300`). On success returns the open session and '9000'.
    pub fn external_authenticate(
        self,
        cmd: &Command,
        counter: &mut SequenceCounter,
    ) -> Result<(Session, Response)> {
        if cmd.ins != INS_EXTERNAL_AUTHENTICATE {
            return Err(GpError::ConditionsNotSatisfied(
                "EXTERNAL AUTHENTICATE expected",
            ));
        }
        if cmd.p2 != 0x00 {
            return Err(GpError::IncorrectP1P2("P2 must be '00'"));
        }
        let level = SecurityLevel::from_p1(cmd.p1)?;
        if !self.scp.allows(level) {
            return Err(GpError::IncorrectP1P2("security level not supported by i"));
        }
        if cmd.data.len() != 2 * self.host_cryptogram.len()
            && !(matches!(self.scp, Scp::Scp02(_)) && cmd.data.len() == 16)
        {
            return Err(GpError::WrongLength("EXTERNAL AUTHENTICATE data"));
        }
        if !crate::level::has_sm(cmd.cla) {
            return Err(GpError::SecurityStatus(
                "EXTERNAL AUTHENTICATE without C-MAC",
            ));
        }
        let CardHandshake {
            scp,
            kvn,
            host_cryptogram,
            mut channel,
            dek,
        } = self;
        // The host cryptogram first ('6300'), then the C-MAC ('6982').
        let received = cmd.data.get(..host_cryptogram.len()).unwrap_or_default();
        if !symcrypto::ct_eq(received, &host_cryptogram) {
            return Err(GpError::HostCryptogram);
        }
        match &mut channel {
            Channel::Scp02(c) => c.verify_mac_only(cmd)?,
            Channel::Scp03(c) => c.verify_mac_only(cmd)?,
        };
        if matches!(scp, Scp::Scp02(_)) {
            counter.increment()?;
        }
        let session = Session {
            scp,
            kvn,
            level,
            channel,
            dek,
            closed: false,
        };
        Ok((session, Response::status(StatusWord::OK)))
    }
}
