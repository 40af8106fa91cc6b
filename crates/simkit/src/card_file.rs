//! The virtual card on disk: its identity and persistent state in one sealed, atomically
//! replaced file, and [`PersistentCard`], a card transport that saves after every change.
//!
//! # Files
//!
//! * `<state>`: the card file (mode 0600).
//! * `<state>.key`: the 32-byte file key, 64 hex digits and a newline (mode 0600), created on
//!   first use. Whoever holds it can read SK.EUICC and the profiles' network keys: keep it apart
//!   from copies of the card file. A key file readable by group or others is refused.
//! * `<state>.pairing.key`: the card's pairing-administration key, for its administrator
//!   (written by `simkit card create`, see [`crate::card_cmd`]'s `pairing` module). Opening the
//!   card file does not need it.
//!
//! # Card file, version 1
//!
//! ```text
//! offset  size  field
//! 0       8     magic "SIMKCARD"
//! 8       1     format version (1)
//! 9       8     key id: SHA-256("simkit/card-file/key-id" || file key)[0..8]
//! 17      12    nonce (random per save)
//! 29      n+16  AES-256-GCM(K, nonce, plaintext, aad = bytes 0..29), tag last
//! ```
//!
//! `K = SHA-256("simkit/card-file/aes-256-gcm/v1" || file key)`. The key id tells a wrong key
//! file from a damaged card file; the header is authenticated as associated data. Random 96-bit
//! nonces keep one key safe for 2^32 saves (NIST SP 800-38D §8.3).
//!
//! The plaintext is a JSON document:
//!
//! ```json
//! { "format": "simkit-card", "version": 1,
//!   "identity": { "euiccCertificate": "<hex DER>", "eumCertificate": "<hex DER>",
//!                 "ciCertificates": ["<hex DER>", ...],
//!                 "euiccPrivateKey": "-----BEGIN PRIVATE KEY----- (PKCS#8 PEM) ..." },
//!   "state": { <card::CardState, its own versioned layout> } }
//! ```
//!
//! # Atomic replacement
//!
//! A save writes the whole file to a temporary file in the same directory, fsyncs it, renames
//! it over the card file and fsyncs the directory: a crash leaves either the old or the new
//! file, never a mix (a stray `.<name>.tmp-*` file at worst).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use apdu::{CardTransport, TransportError};
use card::{Card, CardIdentity, CardState, Protocol};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// First bytes of every card file.
pub const MAGIC: &[u8; 8] = b"SIMKCARD";
/// Version of the sealed container.
pub const FORMAT_VERSION: u8 = 1;
/// `format` of the plaintext document.
const DOC_FORMAT: &str = "simkit-card";
/// Version of the plaintext document.
const DOC_VERSION: u32 = 1;

const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = MAGIC.len() + 1 + KEY_ID_LEN + NONCE_LEN;

/// Why a card file could not be read or written. Messages name the file and never show secrets.
#[derive(Debug, thiserror::Error)]
pub enum CardFileError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("card file {} not found (create it with `simkit card create --state {}`)", .0.display(), .0.display())]
    NotFound(PathBuf),
    #[error("key file {} not found: the card file cannot be opened without it", .0.display())]
    KeyNotFound(PathBuf),
    #[error("key file {}: {reason}", path.display())]
    BadKeyFile { path: PathBuf, reason: String },
    #[error("{} is not a simkit card file", .0.display())]
    NotACardFile(PathBuf),
    #[error("{}: unsupported card file version {version}", path.display())]
    UnsupportedVersion { path: PathBuf, version: u8 },
    #[error("key file {} does not belong to card file {}", key.display(), path.display())]
    WrongKey { path: PathBuf, key: PathBuf },
    #[error("card file {} is damaged or was tampered with (authentication failed)", .0.display())]
    Corrupted(PathBuf),
    #[error("card file {}: {reason}", path.display())]
    Document { path: PathBuf, reason: String },
    #[error("{} already exists (use --force to replace it)", .0.display())]
    Exists(PathBuf),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CardFileError + '_ {
    move |source| CardFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `<state>.key`.
pub fn key_path(state: &Path) -> PathBuf {
    let mut p = state.as_os_str().to_owned();
    p.push(".key");
    PathBuf::from(p)
}

/// The file key. Zeroized on drop, never printed.
pub struct CardKey {
    id: [u8; KEY_ID_LEN],
    cipher: Aes256Gcm,
}

impl fmt::Debug for CardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardKey(id={})", hex::encode(self.id))
    }
}

impl CardKey {
    fn from_bytes(key: &[u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(b"simkit/card-file/key-id");
        h.update(key);
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&h.finalize()[..KEY_ID_LEN]);
        let mut h = Sha256::new();
        h.update(b"simkit/card-file/aes-256-gcm/v1");
        h.update(key);
        let k = Zeroizing::new(<[u8; 32]>::from(h.finalize()));
        let cipher = Aes256Gcm::new(&(*k).into());
        CardKey { id, cipher }
    }

    /// Reads a key file (64 hex digits). On Unix the file must not be accessible by group or
    /// others.
    pub fn load(path: &Path) -> Result<Self, CardFileError> {
        let bad = |reason: &str| CardFileError::BadKeyFile {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        let text = match fs::read_to_string(path) {
            Ok(t) => Zeroizing::new(t),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(CardFileError::KeyNotFound(path.to_path_buf()))
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(bad("not 64 hex digits"))
            }
            Err(e) => return Err(io_err(path)(e)),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(path)
                .map_err(io_err(path))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(bad(&format!(
                    "permissions {:04o} are too open (chmod 600 it)",
                    mode & 0o7777
                )));
            }
        }
        let mut key = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), &mut key[..]).map_err(|_| bad("not 64 hex digits"))?;
        Ok(CardKey::from_bytes(&key))
    }

    /// Loads the key file, or creates it (0600) with a fresh random key if there is none. The
    /// creation never replaces a key file another process created meanwhile.
    pub fn load_or_create(path: &Path, rng: &mut dyn CryptoRng) -> Result<Self, CardFileError> {
        match CardKey::load(path) {
            Err(CardFileError::KeyNotFound(_)) => {}
            other => return other,
        }
        let mut key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut key[..]);
        let mut text = Zeroizing::new(hex::encode(&key[..]));
        text.push('\n');
        let tmp = stage(path, text.as_bytes()).map_err(io_err(path))?;
        // A hard link does not replace an existing file, unlike rename.
        let linked = fs::hard_link(&tmp, path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                sync_parent(path).map_err(io_err(path))?;
                Ok(CardKey::from_bytes(&key))
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => CardKey::load(path),
            Err(e) => Err(io_err(path)(e)),
        }
    }

    /// Seals `plaintext` into a complete card file.
    pub fn seal(&self, plaintext: &[u8], rng: &mut dyn CryptoRng) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(MAGIC);
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&self.id);
        out.extend_from_slice(&nonce);
        let ct = self
            .cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plaintext,
                    aad: &out,
                },
            )
            // AES-GCM encryption fails only beyond 2^36 bytes of plaintext.
            .unwrap_or_default();
        out.extend_from_slice(&ct);
        out
    }

    /// Opens a card file sealed by [`CardKey::seal`]. `path` and `key_path` name the files in
    /// errors.
    pub fn open(
        &self,
        file: &[u8],
        path: &Path,
        key_path: &Path,
    ) -> Result<Zeroizing<Vec<u8>>, CardFileError> {
        let (header, ct) = parse_header(file, path)?;
        if header.key_id != self.id {
            return Err(CardFileError::WrongKey {
                path: path.to_path_buf(),
                key: key_path.to_path_buf(),
            });
        }
        self.cipher
            .decrypt(
                &header.nonce.into(),
                Payload {
                    msg: ct,
                    aad: header.raw,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CardFileError::Corrupted(path.to_path_buf()))
    }
}

struct Header<'a> {
    raw: &'a [u8],
    key_id: [u8; KEY_ID_LEN],
    nonce: [u8; NONCE_LEN],
}

fn parse_header<'a>(file: &'a [u8], path: &Path) -> Result<(Header<'a>, &'a [u8]), CardFileError> {
    if !file.starts_with(MAGIC) {
        return Err(CardFileError::NotACardFile(path.to_path_buf()));
    }
    match file.get(MAGIC.len()) {
        Some(&FORMAT_VERSION) => {}
        Some(&version) => {
            return Err(CardFileError::UnsupportedVersion {
                path: path.to_path_buf(),
                version,
            })
        }
        None => return Err(CardFileError::Corrupted(path.to_path_buf())),
    }
    if file.len() < HEADER_LEN + TAG_LEN {
        return Err(CardFileError::Corrupted(path.to_path_buf()));
    }
    let (raw, ct) = file.split_at(HEADER_LEN);
    let mut key_id = [0u8; KEY_ID_LEN];
    key_id.copy_from_slice(&raw[MAGIC.len() + 1..MAGIC.len() + 1 + KEY_ID_LEN]);
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&raw[MAGIC.len() + 1 + KEY_ID_LEN..]);
    Ok((Header { raw, key_id, nonce }, ct))
}

// ---------------------------------------------------------------------------------------------
// The plaintext document

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdentityDoc {
    euicc_certificate: String,
    eum_certificate: String,
    ci_certificates: Vec<String>,
    euicc_private_key: String,
}

impl Drop for IdentityDoc {
    fn drop(&mut self) {
        self.euicc_private_key.zeroize();
    }
}

#[derive(Serialize)]
struct DocOut<'a> {
    format: &'static str,
    version: u32,
    identity: IdentityDoc,
    state: &'a CardState,
}

#[derive(Deserialize)]
struct DocProbe {
    format: String,
    version: u32,
    state: StateProbe,
}

#[derive(Deserialize)]
struct StateProbe {
    version: u32,
}

#[derive(Deserialize)]
struct DocIn {
    identity: IdentityDoc,
    state: CardState,
}

/// The plaintext document for `identity` and `state` (holds secrets: zeroized on drop).
pub fn encode_document(identity: &CardIdentity, state: &CardState) -> Zeroizing<Vec<u8>> {
    let doc = DocOut {
        format: DOC_FORMAT,
        version: DOC_VERSION,
        identity: IdentityDoc {
            euicc_certificate: hex::encode_upper(&identity.euicc_cert_der),
            eum_certificate: hex::encode_upper(&identity.eum_cert_der),
            ci_certificates: identity
                .trusted_cis
                .iter()
                .map(|c| hex::encode_upper(c.der()))
                .collect(),
            euicc_private_key: identity.euicc_private_key.to_pkcs8_pem().to_string(),
        },
        state,
    };
    let mut out = Zeroizing::new(Vec::new());
    // Plain data with string keys: serialisation cannot fail.
    let _ = serde_json::to_writer(&mut *out, &doc);
    out
}

/// Parses a plaintext document; `path` names the file in errors.
pub fn decode_document(
    bytes: &[u8],
    path: &Path,
) -> Result<(CardIdentity, CardState), CardFileError> {
    let bad = |reason: String| CardFileError::Document {
        path: path.to_path_buf(),
        reason,
    };
    let probe: DocProbe = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    if probe.format != DOC_FORMAT || probe.version != DOC_VERSION {
        return Err(bad(format!(
            "unsupported document {:?} version {}",
            probe.format, probe.version
        )));
    }
    if probe.state.version != card::state::STATE_VERSION {
        return Err(bad(format!(
            "unsupported card state version {}",
            probe.state.version
        )));
    }
    let doc: DocIn = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    let der = |h: &str, what: &str| hex::decode(h).map_err(|_| bad(format!("{what} is not hex")));
    let euicc = der(&doc.identity.euicc_certificate, "euiccCertificate")?;
    let eum = der(&doc.identity.eum_certificate, "eumCertificate")?;
    let cis = doc
        .identity
        .ci_certificates
        .iter()
        .map(|c| der(c, "ciCertificates"))
        .collect::<Result<Vec<_>, _>>()?;
    let key = pki::PrivateKey::from_pem(&doc.identity.euicc_private_key)
        .map_err(|e| bad(format!("euiccPrivateKey: {e}")))?;
    let ci_refs: Vec<&[u8]> = cis.iter().map(Vec::as_slice).collect();
    let identity =
        CardIdentity::new(&euicc, &eum, key, &ci_refs).map_err(|e| bad(e.to_string()))?;
    Ok((identity, doc.state))
}

// ---------------------------------------------------------------------------------------------
// Atomic file replacement

/// Writes `bytes` to a new temporary file (0600) next to `target` and fsyncs it. Returns its
/// path. The first half of [`write_atomic`].
pub(crate) fn stage(target: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file path"))?;
    let tmp = parent_dir(target).join(format!(
        ".{}.tmp-{}-{}",
        name.to_string_lossy(),
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let result = opts.open(&tmp).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Renames a staged file over `target` and fsyncs the directory. The second half of
/// [`write_atomic`].
pub(crate) fn commit(tmp: &Path, target: &Path) -> io::Result<()> {
    if let Err(e) = fs::rename(tmp, target) {
        let _ = fs::remove_file(tmp);
        return Err(e);
    }
    sync_parent(target)
}

/// Replaces `target` with `bytes` atomically and durably: temporary file in the same
/// directory, fsync, rename, fsync of the directory.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = stage(target, bytes)?;
    commit(&tmp, target)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes a rename or link in `path`'s directory durable.
pub(crate) fn sync_parent(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(parent_dir(path))?.sync_all()?;
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Load / save

/// Reads and opens the card file at `path` with the key in `<path>.key`.
fn load(path: &Path) -> Result<(CardKey, CardIdentity, CardState), CardFileError> {
    let kp = key_path(path);
    let file = read_card_file(path)?;
    let key = CardKey::load(&kp)?;
    let plaintext = key.open(&file, path, &kp)?;
    let (identity, state) = decode_document(&plaintext, path)?;
    Ok((key, identity, state))
}

fn read_card_file(path: &Path) -> Result<Vec<u8>, CardFileError> {
    fs::read(path).map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            CardFileError::NotFound(path.to_path_buf())
        } else {
            io_err(path)(e)
        }
    })
}

/// Seals and atomically writes the card file.
pub fn save(
    path: &Path,
    key: &CardKey,
    identity: &CardIdentity,
    state: &CardState,
    rng: &mut dyn CryptoRng,
) -> Result<(), CardFileError> {
    let plaintext = encode_document(identity, state);
    let sealed = key.seal(&plaintext, rng);
    write_atomic(path, &sealed).map_err(io_err(path))
}

/// A [`Card`] bound to its file: every APDU after which the card's persistent state changed
/// ([`Card::state_revision`]) is followed by an atomic save, before the response is returned.
/// If the save fails, the transport reports an error (the host never sees a response the card
/// could lose) and the next APDU retries the save.
pub struct PersistentCard {
    card: Card,
    path: PathBuf,
    key: CardKey,
    saved_revision: u64,
}

impl fmt::Debug for PersistentCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersistentCard")
            .field("path", &self.path)
            .field("card", &self.card)
            .finish_non_exhaustive()
    }
}

impl PersistentCard {
    /// Writes a new card file for `identity` and `state` (creating the key file if needed)
    /// and powers the card up. Refuses to replace an existing card file unless `replace`.
    pub fn create(
        path: &Path,
        identity: CardIdentity,
        state: CardState,
        replace: bool,
    ) -> Result<Self, CardFileError> {
        if !replace && path.exists() {
            return Err(CardFileError::Exists(path.to_path_buf()));
        }
        let mut rng = crate::os_rng();
        let key = CardKey::load_or_create(&key_path(path), &mut rng)?;
        save(path, &key, &identity, &state, &mut rng)?;
        Ok(Self::with(path, key, identity, state))
    }

    /// Opens an existing card file and powers the card up (a cold reset).
    pub fn open(path: &Path) -> Result<Self, CardFileError> {
        let (key, identity, state) = load(path)?;
        Ok(Self::with(path, key, identity, state))
    }

    fn with(path: &Path, key: CardKey, identity: CardIdentity, state: CardState) -> Self {
        let card = Card::new(identity, state, Box::new(crate::os_rng()));
        let saved_revision = card.state_revision();
        PersistentCard {
            card,
            path: path.to_path_buf(),
            key,
            saved_revision,
        }
    }

    pub fn card(&self) -> &Card {
        &self.card
    }

    /// The card itself, e.g. to replace its state with [`Card::load_state`]; follow a change
    /// with [`PersistentCard::save_if_changed`].
    pub fn card_mut(&mut self) -> &mut Card {
        &mut self.card
    }

    /// Sends one command APDU as if it arrived over `protocol` ([`Card::process_on`]) and
    /// saves before returning the response, like [`CardTransport::transmit`] (which is T=0).
    pub fn transmit_on(
        &mut self,
        protocol: Protocol,
        apdu: &[u8],
    ) -> Result<Vec<u8>, TransportError> {
        let response = self.card.process_on(protocol, apdu);
        self.save_if_changed()
            .map_err(|e| TransportError::Other(format!("saving the card state: {e}")))?;
        Ok(response)
    }

    /// Saves if the card's state changed since the last save.
    pub fn save_if_changed(&mut self) -> Result<(), CardFileError> {
        let rev = self.card.state_revision();
        if rev != self.saved_revision {
            save(
                &self.path,
                &self.key,
                self.card.identity(),
                self.card.state(),
                &mut crate::os_rng(),
            )?;
            self.saved_revision = rev;
        }
        Ok(())
    }
}

impl CardTransport for PersistentCard {
    /// On the contact interface, T=0 ([`Card::process`]).
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.transmit_on(Protocol::T0, apdu)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/reference");

    fn read(rel: &str) -> Vec<u8> {
        fs::read(format!("{REF}/{rel}")).unwrap()
    }

    /// The SGP.26 test eUICC 89049032123451234512345678901235 (NIST) trusting both test CIs.
    fn sgp26_identity() -> CardIdentity {
        let sk = pki::PrivateKey::from_pem(
            &String::from_utf8(read("sgp26/eUICC/SK_EUICC_ECDSA_NIST.pem")).unwrap(),
        )
        .unwrap();
        let ci_nist = read("sgp26/CertificateIssuer/CERT_CI_ECDSA_NIST.der");
        let ci_brp = read("sgp26/CertificateIssuer/CERT_CI_ECDSA_BRP.der");
        CardIdentity::new(
            &read("sgp26/eUICC/CERT_EUICC_ECDSA_NIST.der"),
            &read("sgp26/EUM/CERT_EUM_ECDSA_NIST.der"),
            sk,
            &[&ci_nist, &ci_brp],
        )
        .unwrap()
    }

    fn es10(card: &mut PersistentCard, ch: u8, hex_req: &str) -> Vec<u8> {
        apdu::es10_exchange(card, ch, &hex::decode(hex_req).unwrap()).unwrap()
    }

    fn open_isdr(card: &mut PersistentCard) -> u8 {
        let ch = apdu::open_channel(card).unwrap();
        apdu::select_aid(card, ch, &apdu::ISD_R_AID).unwrap();
        ch
    }

    #[test]
    fn save_reload_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("card.simkit");
        let mut pc =
            PersistentCard::create(&path, sgp26_identity(), CardState::new(), false).unwrap();
        let first = fs::read(&path).unwrap();
        let ch = open_isdr(&mut pc);
        // Read-only functions do not rewrite the file.
        es10(&mut pc, ch, "BF3E035C015A");
        assert_eq!(fs::read(&path).unwrap(), first);
        // ES10a.SetDefaultDpAddress 'BF3F' { '80' "smdp.example.com" } changes the state.
        let req = format!("BF3F12{}{}", "8010", hex::encode("smdp.example.com"));
        assert_eq!(
            es10(&mut pc, ch, &req),
            hex::decode("BF3F03800100").unwrap()
        );
        assert_ne!(fs::read(&path).unwrap(), first);
        let expected = pc.card().state().clone();
        let eid = pc.card().identity().eid;
        drop(pc);

        let reopened = PersistentCard::open(&path).unwrap();
        assert_eq!(reopened.card().state(), &expected);
        assert_eq!(
            reopened.card().state().default_dp_address.as_deref(),
            Some("smdp.example.com")
        );
        assert_eq!(reopened.card().identity().eid, eid);
        assert_eq!(
            reopened.card().identity().euicc_private_key.to_scalar()[..],
            sgp26_identity().euicc_private_key.to_scalar()[..]
        );
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn files_hold_no_secret_in_clear_and_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("card");
        let identity = sgp26_identity();
        PersistentCard::create(&path, identity.clone(), CardState::new(), false).unwrap();
        let file = fs::read(&path).unwrap();
        assert!(file.starts_with(MAGIC));
        let scalar = identity.euicc_private_key.to_scalar();
        assert!(!file.windows(32).any(|w| w == &scalar[..]));
        assert!(!file.windows(5).any(|w| w == b"BEGIN"));
        // The eUICC certificate (hex in the document) is not readable either: all is sealed.
        let cert_hex = hex::encode_upper(&identity.euicc_cert_der[..16]);
        assert!(!file.windows(32).any(|w| w == cert_hex.as_bytes()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for p in [&path, &key_path(&path)] {
                assert_eq!(fs::metadata(p).unwrap().permissions().mode() & 0o777, 0o600);
            }
        }
        // create refuses to replace a card unless asked to.
        assert!(matches!(
            PersistentCard::create(&path, identity.clone(), CardState::new(), false),
            Err(CardFileError::Exists(_))
        ));
        PersistentCard::create(&path, identity, CardState::new(), true).unwrap();
    }

    #[test]
    fn crash_before_rename_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("card");
        let identity = sgp26_identity();
        PersistentCard::create(&path, identity.clone(), CardState::new(), false).unwrap();
        let before = fs::read(&path).unwrap();

        // A save that dies between writing the temporary file and the rename.
        let key = CardKey::load(&key_path(&path)).unwrap();
        let mut changed = CardState::new();
        changed.default_dp_address = Some("new.example.com".into());
        let sealed = key.seal(&encode_document(&identity, &changed), &mut crate::os_rng());
        let tmp = stage(&path, &sealed).unwrap();
        assert!(tmp.exists());
        assert_eq!(tmp.parent(), path.parent());

        assert_eq!(fs::read(&path).unwrap(), before);
        let (_, _, state) = load(&path).unwrap();
        assert_eq!(state, CardState::new());
        // The next save goes through and the stray file does not disturb it.
        let mut pc = PersistentCard::open(&path).unwrap();
        let ch = open_isdr(&mut pc);
        es10(
            &mut pc,
            ch,
            &format!("BF3F0F800D{}", hex::encode("smdp.test.net")),
        );
        drop(pc);
        let (_, _, state) = load(&path).unwrap();
        assert_eq!(state.default_dp_address.as_deref(), Some("smdp.test.net"));
        // Completing the interrupted one is the other possible outcome: the new state.
        commit(&tmp, &path).unwrap();
        assert_eq!(load(&path).unwrap().2, changed);
    }

    #[test]
    fn wrong_key_and_damaged_files_give_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("card");
        PersistentCard::create(&path, sgp26_identity(), CardState::new(), false).unwrap();
        let good = fs::read(&path).unwrap();
        let kp = key_path(&path);
        let good_key = fs::read(&kp).unwrap();
        let err = |p: &Path| PersistentCard::open(p).unwrap_err();

        // Another card's key.
        let other = dir.path().join("other");
        PersistentCard::create(&other, sgp26_identity(), CardState::new(), false).unwrap();
        fs::copy(key_path(&other), &kp).unwrap();
        let e = err(&path);
        assert!(matches!(e, CardFileError::WrongKey { .. }), "{e}");
        assert!(e.to_string().contains("does not belong"), "{e}");
        fs::write(&kp, &good_key).unwrap();

        // No key file; a key file that is not a key; one readable by others.
        fs::remove_file(&kp).unwrap();
        assert!(matches!(err(&path), CardFileError::KeyNotFound(_)));
        write_atomic(&kp, b"not a key\n").unwrap();
        assert!(matches!(err(&path), CardFileError::BadKeyFile { .. }));
        write_atomic(&kp, &good_key).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&kp, fs::Permissions::from_mode(0o644)).unwrap();
            let e = err(&path);
            assert!(e.to_string().contains("too open"), "{e}");
            fs::set_permissions(&kp, fs::Permissions::from_mode(0o600)).unwrap();
        }
        PersistentCard::open(&path).unwrap();

        // One flipped bit anywhere in the sealed part, or after the header.
        for pos in [HEADER_LEN - 1, HEADER_LEN + 10, good.len() - 1] {
            let mut bad = good.clone();
            bad[pos] ^= 0x01;
            fs::write(&path, &bad).unwrap();
            assert!(
                matches!(err(&path), CardFileError::Corrupted(_)),
                "byte {pos}"
            );
        }
        // Truncations, foreign files, future versions, a missing file.
        for (bytes, what) in [
            (&good[..HEADER_LEN + 3], "truncated"),
            (&good[..5], "short"),
            (&b"{\"json\": true}"[..], "foreign"),
            (&b""[..], "empty"),
        ] {
            fs::write(&path, bytes).unwrap();
            let e = err(&path);
            assert!(
                matches!(
                    e,
                    CardFileError::Corrupted(_) | CardFileError::NotACardFile(_)
                ),
                "{what}: {e}"
            );
        }
        let mut future = good.clone();
        future[MAGIC.len()] = 2;
        fs::write(&path, &future).unwrap();
        assert!(matches!(
            err(&path),
            CardFileError::UnsupportedVersion { version: 2, .. }
        ));
        assert!(matches!(
            err(&dir.path().join("missing")),
            CardFileError::NotFound(_)
        ));
    }

    #[test]
    fn document_errors_are_reported() {
        let p = Path::new("x");
        let identity = sgp26_identity();
        let doc = encode_document(&identity, &CardState::new());
        let (id2, st2) = decode_document(&doc, p).unwrap();
        assert_eq!(id2.eid, identity.eid);
        assert_eq!(st2, CardState::new());
        let text = String::from_utf8(doc.to_vec()).unwrap();
        for (from, to) in [
            ("\"version\":1,\"identity\"", "\"version\":7,\"identity\""),
            ("\"format\":\"simkit-card\"", "\"format\":\"other\""),
            ("\"euiccCertificate\":\"30", "\"euiccCertificate\":\"ZZ"),
        ] {
            assert!(text.contains(from), "{from}");
            let bad = text.replacen(from, to, 1);
            assert!(matches!(
                decode_document(bad.as_bytes(), p),
                Err(CardFileError::Document { .. })
            ));
        }
        assert!(decode_document(b"[]", p).is_err());
    }
}
