//! The symmetric primitives the card protocols share (GlobalPlatform SCP02/SCP03, SGP.22 BSP,
//! ETSI TS 102 225 SCP80, the card's own authenticated commands):
//!
//! * [`BlockCipher`]: AES-128/192/256, DES, two- and three-key 3DES (TDEA keying options 2 and
//!   1, NIST SP 800-67) in ECB and CBC mode with a caller-given ICV (NIST SP 800-38A §6.2);
//! * ISO/IEC 9797-1 padding methods 1 and 2 ([`pad`], [`unpad_method2`]);
//! * ISO/IEC 9797-1 MAC algorithm 1 ([`mac_algorithm1`], the CBC-MAC; with 3DES this is GP's
//!   "full triple DES MAC") and MAC algorithm 3 ([`retail_mac`], ANSI X9.19 retail MAC);
//! * AES-CMAC over several slices ([`aes_cmac`], NIST SP 800-38B / RFC 4493);
//! * constant-time equality ([`ct_eq`]).
//!
//! Bad key, ICV or data lengths are [`Error`]s, never panics. Key schedules are zeroized when
//! dropped (the `zeroize` features of `aes`, `des` and `cmac`).

#![forbid(unsafe_code)]

use aes::cipher::{Block, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use aes::{Aes128, Aes192, Aes256};
use cmac::{Cmac, Mac};
use des::{Des, TdesEde2, TdesEde3};

/// AES block size in octets.
pub const AES_BLOCK: usize = 16;
/// DES / 3DES block size in octets.
pub const DES_BLOCK: usize = 8;

/// Errors of the symmetric primitives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The key length does not fit the algorithm.
    #[error("bad key: {0}")]
    BadKey(&'static str),
    /// The ICV is not exactly one cipher block.
    #[error("the ICV must be one cipher block ({0} octets)")]
    BadIcv(usize),
    /// The data is not a whole number of cipher blocks.
    #[error("data is not a whole number of {0}-octet blocks")]
    NotWholeBlocks(usize),
    /// ISO/IEC 9797-1 padding method 2 is missing or malformed.
    #[error("malformed ISO/IEC 9797-1 method 2 padding")]
    BadPadding,
}

/// Result alias of this crate.
pub type Result<T> = core::result::Result<T, Error>;

/// A block cipher the protocols use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// AES (FIPS 197); the key length (16, 24 or 32) picks AES-128/192/256.
    Aes,
    /// Single DES, 8-octet key.
    Des,
    /// Two-key 3DES EDE (K1 || K2, K3 = K1), 16-octet key.
    Tdes2,
    /// Three-key 3DES EDE (K1 || K2 || K3), 24-octet key.
    Tdes3,
}

impl Algorithm {
    /// Block size in octets.
    pub fn block_size(self) -> usize {
        match self {
            Algorithm::Aes => AES_BLOCK,
            _ => DES_BLOCK,
        }
    }
}

enum Inner {
    Aes128(Box<Aes128>),
    Aes192(Box<Aes192>),
    Aes256(Box<Aes256>),
    Des(Box<Des>),
    Tdes2(Box<TdesEde2>),
    Tdes3(Box<TdesEde3>),
}

/// A keyed block cipher (its key schedule, wiped on drop).
pub struct BlockCipher {
    algorithm: Algorithm,
    inner: Inner,
}

impl core::fmt::Debug for BlockCipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BlockCipher")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

fn keyed<C: KeyInit>(key: &[u8], what: &'static str) -> Result<Box<C>> {
    C::new_from_slice(key)
        .map(Box::new)
        .map_err(|_| Error::BadKey(what))
}

const AES_KEY: &str = "AES key must be 16, 24 or 32 octets";
const DES_KEY: &str = "DES key must be 8 octets";
const TDES2_KEY: &str = "2-key 3DES key must be 16 octets";
const TDES3_KEY: &str = "3-key 3DES key must be 24 octets";

/// One block through `C`, the slice being exactly one block long (the callers iterate with
/// `chunks_exact(block_size)`).
fn enc<C: BlockCipherEncrypt>(c: &C, block: &mut [u8]) {
    let mut b = Block::<C>::default();
    b.iter_mut().zip(block.iter()).for_each(|(d, s)| *d = *s);
    c.encrypt_block(&mut b);
    block.iter_mut().zip(b.iter()).for_each(|(d, s)| *d = *s);
}

fn dec<C: BlockCipherDecrypt>(c: &C, block: &mut [u8]) {
    let mut b = Block::<C>::default();
    b.iter_mut().zip(block.iter()).for_each(|(d, s)| *d = *s);
    c.decrypt_block(&mut b);
    block.iter_mut().zip(b.iter()).for_each(|(d, s)| *d = *s);
}

fn xor_into(dst: &mut [u8], src: &[u8]) {
    dst.iter_mut().zip(src).for_each(|(d, s)| *d ^= s);
}

/// Calls `$f(cipher, $block)` with the concrete cipher behind a [`BlockCipher`].
macro_rules! with_cipher {
    ($self:ident, $f:ident, $block:ident) => {
        match &$self.inner {
            Inner::Aes128(c) => $f(c.as_ref(), $block),
            Inner::Aes192(c) => $f(c.as_ref(), $block),
            Inner::Aes256(c) => $f(c.as_ref(), $block),
            Inner::Des(c) => $f(c.as_ref(), $block),
            Inner::Tdes2(c) => $f(c.as_ref(), $block),
            Inner::Tdes3(c) => $f(c.as_ref(), $block),
        }
    };
}

impl BlockCipher {
    /// Keys `algorithm` with `key`, whose length must fit it.
    pub fn new(algorithm: Algorithm, key: &[u8]) -> Result<BlockCipher> {
        let inner = match (algorithm, key.len()) {
            (Algorithm::Aes, 16) => Inner::Aes128(keyed(key, AES_KEY)?),
            (Algorithm::Aes, 24) => Inner::Aes192(keyed(key, AES_KEY)?),
            (Algorithm::Aes, 32) => Inner::Aes256(keyed(key, AES_KEY)?),
            (Algorithm::Aes, _) => return Err(Error::BadKey(AES_KEY)),
            (Algorithm::Des, _) => Inner::Des(keyed(key, DES_KEY)?),
            (Algorithm::Tdes2, _) => Inner::Tdes2(keyed(key, TDES2_KEY)?),
            (Algorithm::Tdes3, _) => Inner::Tdes3(keyed(key, TDES3_KEY)?),
        };
        Ok(BlockCipher { algorithm, inner })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Block size in octets.
    pub fn block_size(&self) -> usize {
        self.algorithm.block_size()
    }

    fn encrypt_one(&self, block: &mut [u8]) {
        with_cipher!(self, enc, block)
    }

    fn decrypt_one(&self, block: &mut [u8]) {
        with_cipher!(self, dec, block)
    }

    fn check_blocks(&self, data: &[u8]) -> Result<usize> {
        let bs = self.block_size();
        if data.len().is_multiple_of(bs) {
            Ok(bs)
        } else {
            Err(Error::NotWholeBlocks(bs))
        }
    }

    fn check_icv(&self, icv: &[u8]) -> Result<()> {
        let bs = self.block_size();
        if icv.len() == bs {
            Ok(())
        } else {
            Err(Error::BadIcv(bs))
        }
    }

    /// ECB encryption in place; `data` must be whole blocks (one block: the raw cipher).
    pub fn ecb_encrypt(&self, data: &mut [u8]) -> Result<()> {
        let bs = self.check_blocks(data)?;
        data.chunks_exact_mut(bs)
            .for_each(|chunk| self.encrypt_one(chunk));
        Ok(())
    }

    /// ECB decryption in place; `data` must be whole blocks.
    pub fn ecb_decrypt(&self, data: &mut [u8]) -> Result<()> {
        let bs = self.check_blocks(data)?;
        data.chunks_exact_mut(bs)
            .for_each(|chunk| self.decrypt_one(chunk));
        Ok(())
    }

    /// CBC encryption in place (SP 800-38A §6.2: C1 = E(P1 ⊕ ICV), Cj = E(Pj ⊕ Cj-1));
    /// `icv` is one block, `data` whole blocks.
    pub fn cbc_encrypt(&self, icv: &[u8], data: &mut [u8]) -> Result<()> {
        self.check_icv(icv)?;
        let bs = self.check_blocks(data)?;
        let mut prev = [0u8; AES_BLOCK];
        xor_into(&mut prev, icv);
        for chunk in data.chunks_exact_mut(bs) {
            xor_into(chunk, &prev);
            self.encrypt_one(chunk);
            prev.iter_mut().zip(chunk.iter()).for_each(|(p, c)| *p = *c);
        }
        Ok(())
    }

    /// CBC decryption in place (Pj = D(Cj) ⊕ Cj-1, C0 = ICV); `icv` is one block, `data`
    /// whole blocks.
    pub fn cbc_decrypt(&self, icv: &[u8], data: &mut [u8]) -> Result<()> {
        self.check_icv(icv)?;
        let bs = self.check_blocks(data)?;
        let mut prev = [0u8; AES_BLOCK];
        xor_into(&mut prev, icv);
        for chunk in data.chunks_exact_mut(bs) {
            let mut current = [0u8; AES_BLOCK];
            xor_into(&mut current, chunk);
            self.decrypt_one(chunk);
            xor_into(chunk, &prev);
            prev = current;
        }
        Ok(())
    }

    /// The last block of the CBC encryption of `data` (whole blocks, at least one) under
    /// `icv`: the CBC-MAC core of ISO/IEC 9797-1 MAC algorithms 1 and 3.
    fn cbc_last_block(&self, icv: &[u8], data: &[u8]) -> Result<Vec<u8>> {
        self.check_icv(icv)?;
        let bs = self.check_blocks(data)?;
        let mut h = icv.to_vec();
        for chunk in data.chunks_exact(bs) {
            xor_into(&mut h, chunk);
            self.encrypt_one(&mut h);
        }
        Ok(h)
    }
}

/// CBC-encrypts `data` (whole blocks) in place under `key` with initial chaining value `icv`.
pub fn cbc_encrypt(algorithm: Algorithm, key: &[u8], icv: &[u8], data: &mut [u8]) -> Result<()> {
    BlockCipher::new(algorithm, key)?.cbc_encrypt(icv, data)
}

/// CBC-decrypts `data` (whole blocks) in place under `key` with initial chaining value `icv`.
pub fn cbc_decrypt(algorithm: Algorithm, key: &[u8], icv: &[u8], data: &mut [u8]) -> Result<()> {
    BlockCipher::new(algorithm, key)?.cbc_decrypt(icv, data)
}

/// ISO/IEC 9797-1 padding methods (§6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Padding {
    /// Method 1: '00' octets up to a multiple of the block size, none if already one; the empty
    /// string becomes one block of zeros. Not removable; used where the length is known
    /// (ETSI TS 102 225 §5.1.3.1 CC).
    Method1,
    /// Method 2: '80' then '00' octets up to a multiple of the block size; always adds at least
    /// one octet (GP CS v2.3.1 §B.2.3, ISO/IEC 7816-4 padding indicator '80').
    Method2,
}

/// `data` padded with `padding` to a multiple of `block` octets (`block` 0 counts as 1).
pub fn pad(data: &[u8], block: usize, padding: Padding) -> Vec<u8> {
    let block = block.max(1);
    let mut out = data.to_vec();
    match padding {
        Padding::Method1 => {
            let total = data.len().div_ceil(block).max(1) * block;
            out.resize(total, 0);
        }
        Padding::Method2 => {
            out.push(0x80);
            let total = out.len().div_ceil(block) * block;
            out.resize(total, 0);
        }
    }
    out
}

/// Removes ISO/IEC 9797-1 padding method 2: the data before the last '80', which must be
/// followed only by '00' and lie in the last `block` octets (a sender pads by less than one
/// block, so a longer run of zeros is not padding).
pub fn unpad_method2(data: &[u8], block: usize) -> Result<&[u8]> {
    let end = data
        .iter()
        .rposition(|&b| b != 0)
        .ok_or(Error::BadPadding)?;
    let in_last_block = data.len() - end <= block.max(1);
    match (data.get(end), data.get(..end)) {
        (Some(0x80), Some(head)) if in_last_block => Ok(head),
        _ => Err(Error::BadPadding),
    }
}

fn cmac_parts<C>(mut mac: Cmac<C>, parts: &[&[u8]]) -> [u8; AES_BLOCK]
where
    Cmac<C>: Mac,
    C: cmac::block_api::CmacCipher,
{
    for part in parts {
        mac.update(part);
    }
    let tag = mac.finalize().into_bytes();
    let mut out = [0u8; AES_BLOCK];
    out.iter_mut().zip(tag.iter()).for_each(|(d, s)| *d = *s);
    out
}

/// AES-CMAC (NIST SP 800-38B, RFC 4493) under a 16-, 24- or 32-octet key over the
/// concatenation of `parts`; the full 16-octet tag.
pub fn aes_cmac(key: &[u8], parts: &[&[u8]]) -> Result<[u8; AES_BLOCK]> {
    let bad = |_| Error::BadKey(AES_KEY);
    Ok(match key.len() {
        16 => cmac_parts(Cmac::<Aes128>::new_from_slice(key).map_err(bad)?, parts),
        24 => cmac_parts(Cmac::<Aes192>::new_from_slice(key).map_err(bad)?, parts),
        32 => cmac_parts(Cmac::<Aes256>::new_from_slice(key).map_err(bad)?, parts),
        _ => return Err(Error::BadKey(AES_KEY)),
    })
}

/// [`aes_cmac`] with an AES-128 key whose type fixes its length, so it cannot fail.
pub fn aes128_cmac(key: &[u8; 16], parts: &[&[u8]]) -> [u8; AES_BLOCK] {
    cmac_parts(Cmac::<Aes128>::new(&(*key).into()), parts)
}

/// ISO/IEC 9797-1 MAC algorithm 1 (§7.2: initial transformation 1, output transformation 1,
/// no truncation): `data` padded with `padding`, CBC-encrypted from `icv`; the MAC is the last
/// block. With [`Algorithm::Tdes2`], method 2 and a zero ICV this is GP's full triple DES MAC
/// (GP CS v2.3.1 §B.1.2.1); with DES/3DES and method 1 the TS 102 225 §5.1.3.1 CC.
pub fn mac_algorithm1(
    algorithm: Algorithm,
    key: &[u8],
    icv: &[u8],
    data: &[u8],
    padding: Padding,
) -> Result<Vec<u8>> {
    let cipher = BlockCipher::new(algorithm, key)?;
    cipher.cbc_last_block(icv, &pad(data, cipher.block_size(), padding))
}

/// ISO/IEC 9797-1 MAC algorithm 3, the retail MAC (ANSI X9.19; GP CS v2.3.1 §B.1.2.2 "single
/// DES plus final triple DES"): `key` is K || K' (16 octets); DES-CBC under K from `icv` over
/// the padded data, then output transformation 3: E_K(D_K'(Hq)).
pub fn retail_mac(key: &[u8], icv: &[u8], data: &[u8], padding: Padding) -> Result<[u8; 8]> {
    const RETAIL_KEY: &str = "retail MAC key must be 16 octets (K || K')";
    if key.len() != 2 * DES_BLOCK {
        return Err(Error::BadKey(RETAIL_KEY));
    }
    let (k, k_prime) = key.split_at(DES_BLOCK);
    let k = BlockCipher::new(Algorithm::Des, k)?;
    let k_prime = BlockCipher::new(Algorithm::Des, k_prime)?;
    let mut h = k.cbc_last_block(icv, &pad(data, DES_BLOCK, padding))?;
    k_prime.decrypt_one(&mut h);
    k.encrypt_one(&mut h);
    let mut out = [0u8; DES_BLOCK];
    out.iter_mut().zip(h.iter()).for_each(|(d, s)| *d = *s);
    Ok(out)
}

/// Constant-time equality of two byte strings (for MACs and cryptograms). Strings of different
/// lengths are unequal; the length itself is not secret.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    core::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests;
