//! Pairing data: which container answers the common AIDs on each protocol, its tear-safe
//! storage, and the authenticated administrative commands that read and change it.
//!
//! # Pairing table
//!
//! A map protocol → container: exactly one container per protocol (a protocol may be absent:
//! it is *unmapped* and common AIDs do not route on it); a container may serve several
//! protocols. Coding (BER-TLV, proprietary):
//!
//! ```text
//! 'A0' L { '80' 02 <protocol> <container> }*      entries in any order, at most one per protocol
//!   protocol:  01 T=0, 02 T=1, 03 SWP type A, 04 SWP type B, 05 HCI APDU gate, 06 SPI,
//!              07 proprietary
//!   container: 01 telecom, 02 GlobalPlatform
//! ```
//!
//! A table naming an unknown protocol or container, listing a protocol twice, or with any other
//! data object is invalid. The factory table maps T=0 and T=1 (ISO/IEC 7816-3) to the telecom
//! container and every other protocol to the GlobalPlatform container.
//!
//! # Commands
//!
//! Proprietary class (CLA `80`–`83` or `C0`–`CF`: any logical channel, any interface, whatever
//! is selected). INS `3A` is not used by ISO/IEC 7816-4, GlobalPlatform Card Specification
//! v2.3.1 or ETSI TS 102 221/102 222/102 223.
//!
//! **READ PAIRING DATA** `80 3A 00 00 Le` (case 2). Response: `table || counter` (counter: the
//! last accepted administration counter, 4 bytes big-endian), `9000`. `6581` when no stored copy
//! passes its integrity check.
//!
//! **SET PAIRING DATA** `80 3A 01 00 Lc data` (case 3; an Le is ignored), with
//!
//! ```text
//! data = table || counter (4 bytes, big-endian) || MAC (16 bytes)
//! MAC  = AES-CMAC(K_PA, '80 3A 01 00' || table || counter)        (NIST SP 800-38B)
//! ```
//!
//! The MAC always covers the header as coded on the basic channel (`80 3A 01 00`), so the same
//! command is valid on any channel. `K_PA` is the pairing-administration key, AES-128 or
//! AES-256 (16 or 32 bytes), set at card creation ([`PairingStore::set_admin_key`]) and never
//! readable. `counter` must be greater than the last accepted one. Checks, in order:
//!
//! | condition                                   | SW     |
//! |---------------------------------------------|--------|
//! | CLA interindustry                           | `6E00` |
//! | P1 not `00`/`01`, P2 not `00`               | `6A86` |
//! | READ with data; SET data shorter than 21    | `6700` |
//! | no key provisioned, or MAC does not verify  | `6982` |
//! | counter not greater than the last accepted  | `6985` |
//! | table malformed or invalid                  | `6A80` |
//!
//! Every refusal leaves the persistent state as it was.
//!
//! # Tear-safe storage
//!
//! The table lives in two NVM slots, each holding a record
//!
//! ```text
//! '50 44' || seq (4, BE) || len (2, BE) || table (len) || SHA-256('50 44' .. table) (32)
//! ```
//!
//! A slot is valid when its record parses and its digest matches; the valid slot with the
//! highest sequence number is current. An update (1) writes the new counter (one atomic word
//! write), (2) programs the record with `seq + 1` into the other slot, byte by byte, then
//! (3) erases the superseded slot. Power lost anywhere leaves the old table (the new record does
//! not verify yet) or the new one (it does and its sequence number is higher), never a mix.
//! After step 3 exactly one valid copy exists, so corrupting it fails closed rather than
//! reviving an older table. [`Card::inject_power_loss`](crate::Card::inject_power_loss) cuts
//! the writes at any byte for tests.

use std::collections::BTreeMap;
use std::fmt;

use apdu::channel::is_interindustry;
use apdu::{Command, StatusWord};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tlv::{Tag, Tlv, Writer};

use crate::interface::Protocol;
use crate::routing::ContainerId;
use crate::CardError;

/// INS of READ/SET PAIRING DATA.
pub const INS_PAIRING_DATA: u8 = 0x3A;
/// P1 of READ PAIRING DATA.
pub const P1_READ: u8 = 0x00;
/// P1 of SET PAIRING DATA.
pub const P1_SET: u8 = 0x01;
/// Tag of the pairing table.
pub const TAG_TABLE: Tag = Tag(0xA0);
/// Tag of one table entry.
pub const TAG_ENTRY: Tag = Tag(0x80);
/// Length of the SET PAIRING DATA MAC.
pub const MAC_LEN: usize = 16;
/// Length of the administration counter.
pub const COUNTER_LEN: usize = 4;
/// Header the MAC covers.
pub const MAC_HEADER: [u8; 4] = [0x80, INS_PAIRING_DATA, P1_SET, 0x00];

const RECORD_MAGIC: [u8; 2] = [0x50, 0x44];
const DIGEST_LEN: usize = 32;
const RECORD_HEADER: usize = 2 + 4 + 2;

/// Why a pairing table was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairingError {
    #[error("pairing table is not one well-formed 'A0' data object")]
    Malformed,
    #[error("pairing table names unknown protocol {0:02X}")]
    UnknownProtocol(u8),
    #[error("pairing table names unknown container {0:02X}")]
    UnknownContainer(u8),
    #[error("pairing table lists protocol {0} twice")]
    DuplicateProtocol(Protocol),
    #[error("no stored pairing data passes its integrity check")]
    Integrity,
}

/// A validated pairing table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingTable {
    map: BTreeMap<Protocol, ContainerId>,
}

impl Default for PairingTable {
    /// Every ISO/IEC 7816-3 protocol → telecom, every other protocol → GlobalPlatform.
    fn default() -> Self {
        let map = Protocol::ALL
            .into_iter()
            .map(|p| {
                let c = if p.is_iso7816_3() {
                    ContainerId::Telecom
                } else {
                    ContainerId::GlobalPlatform
                };
                (p, c)
            })
            .collect();
        PairingTable { map }
    }
}

impl PairingTable {
    /// A table from `(protocol, container)` entries; a protocol listed twice is rejected.
    pub fn new(
        entries: impl IntoIterator<Item = (Protocol, ContainerId)>,
    ) -> Result<Self, PairingError> {
        let mut map = BTreeMap::new();
        for (p, c) in entries {
            if map.insert(p, c).is_some() {
                return Err(PairingError::DuplicateProtocol(p));
            }
        }
        Ok(PairingTable { map })
    }

    /// The container serving `protocol`, `None` when unmapped.
    pub fn container_for(&self, protocol: Protocol) -> Option<ContainerId> {
        self.map.get(&protocol).copied()
    }

    pub fn entries(&self) -> impl Iterator<Item = (Protocol, ContainerId)> + '_ {
        self.map.iter().map(|(p, c)| (*p, *c))
    }

    /// The `'A0'` coding, entries in protocol-code order.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.nested(TAG_TABLE, |w| {
            for (p, c) in self.entries() {
                w.put(TAG_ENTRY, &[p.code(), c.code()]);
            }
        });
        w.into_vec()
    }

    /// Decodes and validates a table (exactly one `'A0'` data object).
    pub fn decode(bytes: &[u8]) -> Result<Self, PairingError> {
        let outer = Tlv::parse_expecting(bytes, TAG_TABLE).map_err(|_| PairingError::Malformed)?;
        let mut reader = outer.reader();
        let mut entries = Vec::new();
        while let Some(e) = reader.next().map_err(|_| PairingError::Malformed)? {
            let [p, c] = *e.value else {
                return Err(PairingError::Malformed);
            };
            if e.tag != TAG_ENTRY {
                return Err(PairingError::Malformed);
            }
            let p = Protocol::from_code(p).ok_or(PairingError::UnknownProtocol(p))?;
            let c = ContainerId::from_code(c).ok_or(PairingError::UnknownContainer(c))?;
            entries.push((p, c));
        }
        PairingTable::new(entries)
    }
}

/// The pairing data in (modelled) NVM: two record slots, the administration counter and key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingStore {
    #[serde(with = "hex_slots")]
    slots: [Vec<u8>; 2],
    #[serde(default)]
    admin_counter: u32,
    #[serde(with = "hex_key", default)]
    admin_key: Option<Vec<u8>>,
}

impl Default for PairingStore {
    /// Factory state: the default table in slot 0 (sequence 1), no administration key.
    fn default() -> Self {
        PairingStore {
            slots: [record(1, &PairingTable::default().encode()), Vec::new()],
            admin_counter: 0,
            admin_key: None,
        }
    }
}

impl fmt::Debug for PairingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PairingStore")
            .field("table", &self.table())
            .field("admin_counter", &self.admin_counter)
            .field("admin_key", &self.admin_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Drop for PairingStore {
    fn drop(&mut self) {
        if let Some(k) = self.admin_key.as_mut() {
            zeroize::Zeroize::zeroize(k);
        }
    }
}

/// The write was cut by a (simulated) power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PowerLoss;

/// A budget of NVM programming operations before power is lost (`None`: unlimited).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PowerCut(pub Option<usize>);

impl PowerCut {
    /// Spends one programming operation; `Err` when power is gone.
    fn spend(&mut self) -> Result<(), PowerLoss> {
        match &mut self.0 {
            None => Ok(()),
            Some(0) => Err(PowerLoss),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
        }
    }
}

impl PairingStore {
    /// Sets the pairing-administration key (AES-128 or AES-256), at card creation.
    pub fn set_admin_key(&mut self, key: &[u8]) -> Result<(), CardError> {
        if key.len() != 16 && key.len() != 32 {
            return Err(CardError::State(format!(
                "pairing-administration key must be 16 or 32 bytes, not {}",
                key.len()
            )));
        }
        self.admin_key = Some(key.to_vec());
        Ok(())
    }

    pub fn has_admin_key(&self) -> bool {
        self.admin_key.is_some()
    }

    /// The last accepted administration counter.
    pub fn admin_counter(&self) -> u32 {
        self.admin_counter
    }

    /// The current table: the valid slot with the highest sequence number.
    pub fn table(&self) -> Result<PairingTable, PairingError> {
        self.current()
            .and_then(|(_, _, t)| PairingTable::decode(t).ok())
            .ok_or(PairingError::Integrity)
    }

    /// Raw NVM slots, for fault injection and forensics.
    pub fn nvm_slots(&self) -> &[Vec<u8>; 2] {
        &self.slots
    }

    /// Raw NVM slots, mutable: tests corrupt them to prove the card fails closed.
    pub fn nvm_slots_mut(&mut self) -> &mut [Vec<u8>; 2] {
        &mut self.slots
    }

    /// `(slot index, sequence number, table bytes)` of the current record.
    fn current(&self) -> Option<(usize, u32, &[u8])> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| parse_record(s).map(|(seq, t)| (i, seq, t)))
            .max_by_key(|(_, seq, _)| *seq)
    }

    /// Stores `table` with administration counter `counter` (see the module doc for the
    /// order of writes). `cut` models power loss.
    pub(crate) fn write(
        &mut self,
        table: &PairingTable,
        counter: u32,
        cut: &mut PowerCut,
    ) -> Result<(), PowerLoss> {
        // (1) The counter first: a torn update can then never be replayed.
        cut.spend()?;
        self.admin_counter = counter;
        // (2) The new record into the slot that is not current.
        let (target, seq) = match self.current() {
            Some((i, seq, _)) => (1 - i, seq.wrapping_add(1)),
            None => (0, 1),
        };
        let new = record(seq, &table.encode());
        let slot = &mut self.slots[target];
        for (i, b) in new.iter().enumerate() {
            cut.spend()?;
            match slot.get_mut(i) {
                Some(old) => *old = *b,
                None => slot.push(*b),
            }
        }
        // (3) Erase the superseded copy.
        cut.spend()?;
        self.slots[1 - target].clear();
        Ok(())
    }
}

fn record(seq: u32, table: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(RECORD_HEADER + table.len() + DIGEST_LEN);
    r.extend_from_slice(&RECORD_MAGIC);
    r.extend_from_slice(&seq.to_be_bytes());
    // Tables are a few dozen bytes; a longer one cannot be built from the 7 protocols.
    r.extend_from_slice(&(table.len().min(u16::MAX as usize) as u16).to_be_bytes());
    r.extend_from_slice(table);
    let digest = Sha256::digest(&r);
    r.extend_from_slice(&digest);
    r
}

/// `(seq, table bytes)` of a slot whose record verifies; bytes after the record are ignored
/// (left over from a longer earlier record).
fn parse_record(slot: &[u8]) -> Option<(u32, &[u8])> {
    let (header, rest) = slot.split_first_chunk::<RECORD_HEADER>()?;
    if header[..2] != RECORD_MAGIC {
        return None;
    }
    let seq = u32::from_be_bytes([header[2], header[3], header[4], header[5]]);
    let len = u16::from_be_bytes([header[6], header[7]]) as usize;
    let table = rest.get(..len)?;
    let digest = rest.get(len..len + DIGEST_LEN)?;
    let mut h = Sha256::new();
    h.update(header);
    h.update(table);
    (h.finalize().as_slice() == digest).then_some((seq, table))
}

/// AES-CMAC (NIST SP 800-38B) under a 16- or 32-byte key, the lengths an administration or
/// DAP key may have here.
pub(crate) fn cmac(key: &[u8], parts: &[&[u8]]) -> Option<[u8; MAC_LEN]> {
    if !matches!(key.len(), 16 | 32) {
        return None;
    }
    symcrypto::aes_cmac(key, parts).ok()
}

/// The data field of SET PAIRING DATA: `table || counter || MAC` under `key` (the
/// administrator's side, for tools and tests).
pub fn set_command_data(key: &[u8], table: &[u8], counter: u32) -> Result<Vec<u8>, CardError> {
    let ctr = counter.to_be_bytes();
    let mac = cmac(key, &[&MAC_HEADER, table, &ctr]).ok_or_else(|| {
        CardError::State("pairing-administration key must be 16 or 32 bytes".into())
    })?;
    let mut data = table.to_vec();
    data.extend_from_slice(&ctr);
    data.extend_from_slice(&mac);
    Ok(data)
}

/// Outcome of a pairing command that did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AdminFailure {
    Sw(StatusWord),
    PowerLoss,
}

impl From<StatusWord> for AdminFailure {
    fn from(sw: StatusWord) -> Self {
        AdminFailure::Sw(sw)
    }
}

/// READ/SET PAIRING DATA on `store`. On `Err(Sw)` the store is unchanged.
pub(crate) fn handle(
    store: &mut PairingStore,
    cmd: &Command,
    cut: &mut PowerCut,
) -> Result<Vec<u8>, AdminFailure> {
    if is_interindustry(cmd.cla) {
        return Err(StatusWord::CLA_NOT_SUPPORTED.into());
    }
    if cmd.p2 != 0 {
        return Err(StatusWord::INCORRECT_P1_P2.into());
    }
    match cmd.p1 {
        P1_READ => {
            if !cmd.data.is_empty() {
                return Err(StatusWord::WRONG_LENGTH.into());
            }
            let table = store.table().map_err(|_| StatusWord::MEMORY_FAILURE)?;
            let mut out = table.encode();
            out.extend_from_slice(&store.admin_counter.to_be_bytes());
            Ok(out)
        }
        P1_SET => {
            let data = cmd.data.as_slice();
            let Some(body_len) = data.len().checked_sub(MAC_LEN + COUNTER_LEN) else {
                return Err(StatusWord::WRONG_LENGTH.into());
            };
            if body_len == 0 {
                return Err(StatusWord::WRONG_LENGTH.into());
            }
            let (covered, mac) = data.split_at(body_len + COUNTER_LEN);
            let (table_bytes, ctr) = covered.split_at(body_len);
            let key = store
                .admin_key
                .as_deref()
                .ok_or(StatusWord::SECURITY_STATUS_NOT_SATISFIED)?;
            let verified =
                cmac(key, &[&MAC_HEADER, covered]).is_some_and(|m| symcrypto::ct_eq(&m, mac));
            if !verified {
                return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED.into());
            }
            let counter = u32::from_be_bytes([ctr[0], ctr[1], ctr[2], ctr[3]]);
            if counter <= store.admin_counter {
                return Err(StatusWord::CONDITIONS_NOT_SATISFIED.into());
            }
            let table =
                PairingTable::decode(table_bytes).map_err(|_| StatusWord::INCORRECT_DATA)?;
            store
                .write(&table, counter, cut)
                .map_err(|PowerLoss| AdminFailure::PowerLoss)?;
            Ok(Vec::new())
        }
        _ => Err(StatusWord::INCORRECT_P1_P2.into()),
    }
}

mod hex_slots {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[Vec<u8>; 2], s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(2))?;
        for slot in v {
            seq.serialize_element(&hex::encode_upper(slot))?;
        }
        seq.end()
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[Vec<u8>; 2], D::Error> {
        let [a, b] = <[String; 2]>::deserialize(d)?;
        let a = hex::decode(a).map_err(serde::de::Error::custom)?;
        let b = hex::decode(b).map_err(serde::de::Error::custom)?;
        Ok([a, b])
    }
}

mod hex_key {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(b) => s.serialize_some(&hex::encode_upper(b)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) => {
                let k = hex::decode(s).map_err(serde::de::Error::custom)?;
                if k.len() != 16 && k.len() != 32 {
                    return Err(serde::de::Error::custom("admin key must be 16 or 32 bytes"));
                }
                Ok(Some(k))
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    /// AES-CMAC known answers: RFC 4493 §4 examples 1 and 2 (AES-128) and NIST SP 800-38B
    /// Appendix D.3 examples 9 and 10 (AES-256).
    #[test]
    fn cmac_known_answers() {
        let k128 = h("2b7e151628aed2a6abf7158809cf4f3c");
        assert_eq!(
            cmac(&k128, &[]).unwrap().to_vec(),
            h("bb1d6929e95937287fa37d129b756746")
        );
        let m = h("6bc1bee22e409f96e93d7e117393172a");
        assert_eq!(
            cmac(&k128, &[&m[..7], &m[7..]]).unwrap().to_vec(),
            h("070a16b46b4d4144f79bdd9dd04a287c")
        );
        let k256 = h("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
        assert_eq!(
            cmac(&k256, &[]).unwrap().to_vec(),
            h("028962f61b7bf89efc6b551f4667d983")
        );
        assert_eq!(
            cmac(&k256, &[&m]).unwrap().to_vec(),
            h("28a7023f452e8f82bd4bf28d8c37c35c")
        );
        assert!(cmac(&k128[..15], &[]).is_none());
    }

    #[test]
    fn table_coding() {
        let t = PairingTable::default();
        assert_eq!(
            t.encode(),
            h("A01C 80020101 80020201 80020302 80020402 80020502 80020602 80020702")
        );
        assert_eq!(PairingTable::decode(&t.encode()).unwrap(), t);
        // Order does not matter; an empty table is valid (everything unmapped).
        let t2 = PairingTable::decode(&h("A008 80020602 80020101")).unwrap();
        assert_eq!(t2.container_for(Protocol::T0), Some(ContainerId::Telecom));
        assert_eq!(t2.container_for(Protocol::T1), None);
        assert!(PairingTable::decode(&h("A000"))
            .unwrap()
            .entries()
            .next()
            .is_none());
        for (bad, err) in [
            (
                "A008 80020101 80020102",
                PairingError::DuplicateProtocol(Protocol::T0),
            ),
            ("A004 80020103", PairingError::UnknownContainer(3)),
            ("A004 80020801", PairingError::UnknownProtocol(8)),
            ("A004 80020001", PairingError::UnknownProtocol(0)),
            ("A003 800101", PairingError::Malformed),
            ("A004 81020101", PairingError::Malformed),
            ("A104 80020101", PairingError::Malformed),
            ("A004 80020101 00", PairingError::Malformed),
            ("A005 80020101", PairingError::Malformed),
            ("", PairingError::Malformed),
        ] {
            assert_eq!(PairingTable::decode(&h(bad)), Err(err), "{bad}");
        }
    }

    #[test]
    fn store_survives_every_cut() {
        let old = PairingTable::default();
        let new = PairingTable::new([(Protocol::Spi, ContainerId::Telecom)]).unwrap();
        let mut full = PairingStore::default();
        full.write(&new, 1, &mut PowerCut(None)).unwrap();
        assert_eq!(full.table().unwrap(), new);
        // Two updates in a row alternate the slots; both leave one valid copy.
        full.write(&old, 2, &mut PowerCut(None)).unwrap();
        assert_eq!(full.table().unwrap(), old);
        assert_eq!(
            full.slots
                .iter()
                .filter(|s| parse_record(s).is_some())
                .count(),
            1
        );
        let ops = 1 + record(2, &new.encode()).len() + 1;
        for cut in 0..=ops {
            let mut s = PairingStore::default();
            let r = s.write(&new, 1, &mut PowerCut(Some(cut)));
            assert_eq!(r.is_ok(), cut == ops, "cut {cut}");
            let t = s.table().unwrap();
            if cut > ops - 2 {
                assert_eq!(t, new, "cut {cut}");
            } else {
                assert_eq!(t, old, "cut {cut}");
            }
        }
    }
}
