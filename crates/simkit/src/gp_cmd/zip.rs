//! The subset of the ZIP format a CAP file uses (Java Card VM Specification §6.1: a CAP file
//! is a JAR, i.e. a ZIP archive): the central directory (PKWARE APPNOTE §4.3.12, §4.3.16),
//! local file headers (§4.3.7), entries stored (method 0) or deflated (method 8, RFC 1951),
//! each checked against its CRC-32. No encryption, no ZIP64, no multi-disk archives.
//!
//! Written here rather than pulled in as a dependency: no ZIP or DEFLATE crate is in the
//! workspace, and CAP files are small (tens of kilobytes).

use thiserror::Error;

/// Largest entry this reader inflates (a CAP component is at most 64 KiB; the margin covers
/// the manifest and export files of a JAR-style CAP).
pub const MAX_ENTRY: usize = 4 << 20;

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ZipError {
    #[error("not a ZIP archive: {0}")]
    Format(&'static str),
    #[error("ZIP entry {name}: {what}")]
    Entry { name: String, what: &'static str },
    #[error("ZIP entry {0}: compression method {1} not supported (stored and deflate only)")]
    Method(String, u16),
    #[error("deflate stream: {0}")]
    Inflate(&'static str),
}

/// One file of the archive, decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZipEntry {
    pub name: String,
    pub data: Vec<u8>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Reads every file entry (directories skipped) of a ZIP archive.
pub fn read_archive(zip: &[u8]) -> Result<Vec<ZipEntry>, ZipError> {
    // End of central directory record (APPNOTE §4.3.16): 22 bytes plus a comment of up to
    // 65535 bytes, found by its signature from the end.
    const EOCD: [u8; 4] = [0x50, 0x4B, 0x05, 0x06];
    let min_start = zip.len().saturating_sub(22 + 0xFFFF);
    let eocd = (min_start..=zip.len().saturating_sub(22))
        .rev()
        .find(|&i| zip.get(i..i + 4) == Some(&EOCD[..]))
        .ok_or(ZipError::Format("no end of central directory record"))?;
    let count = u16_at(zip, eocd + 10).ok_or(ZipError::Format("truncated"))?;
    let cd_offset = u32_at(zip, eocd + 16).ok_or(ZipError::Format("truncated"))? as usize;
    let mut at = cd_offset;
    let mut out = Vec::new();
    for _ in 0..count {
        let trunc = ZipError::Format("central directory truncated");
        if u32_at(zip, at) != Some(0x0201_4B50) {
            return Err(ZipError::Format("bad central directory entry signature"));
        }
        let flags = u16_at(zip, at + 8).ok_or(trunc.clone())?;
        let method = u16_at(zip, at + 10).ok_or(trunc.clone())?;
        let crc = u32_at(zip, at + 16).ok_or(trunc.clone())?;
        let csize = u32_at(zip, at + 20).ok_or(trunc.clone())? as usize;
        let usize_ = u32_at(zip, at + 24).ok_or(trunc.clone())? as usize;
        let name_len = usize::from(u16_at(zip, at + 28).ok_or(trunc.clone())?);
        let extra_len = usize::from(u16_at(zip, at + 30).ok_or(trunc.clone())?);
        let comment_len = usize::from(u16_at(zip, at + 32).ok_or(trunc.clone())?);
        let local = u32_at(zip, at + 42).ok_or(trunc.clone())? as usize;
        let name_bytes = zip.get(at + 46..at + 46 + name_len).ok_or(trunc)?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        at += 46 + name_len + extra_len + comment_len;
        if name.ends_with('/') {
            continue;
        }
        let bad = |what| ZipError::Entry {
            name: name.clone(),
            what,
        };
        if flags & 0x0001 != 0 {
            return Err(bad("encrypted"));
        }
        if usize_ > MAX_ENTRY {
            return Err(bad("too large"));
        }
        // Local file header (APPNOTE §4.3.7): its own name and extra field lengths.
        if u32_at(zip, local) != Some(0x0403_4B50) {
            return Err(bad("bad local header signature"));
        }
        let lname = usize::from(u16_at(zip, local + 26).ok_or(bad("truncated"))?);
        let lextra = usize::from(u16_at(zip, local + 28).ok_or(bad("truncated"))?);
        let start = local + 30 + lname + lextra;
        let raw = zip.get(start..start + csize).ok_or(bad("data truncated"))?;
        let data = match method {
            0 => raw.to_vec(),
            8 => inflate(raw, usize_)?,
            m => return Err(ZipError::Method(name, m)),
        };
        if data.len() != usize_ {
            return Err(bad("size does not match the central directory"));
        }
        if crc32(&data) != crc {
            return Err(bad("CRC-32 mismatch"));
        }
        out.push(ZipEntry { name, data });
    }
    Ok(out)
}

/// CRC-32 of ISO 3309 / ITU-T V.42 as ZIP uses it (reflected polynomial EDB88320).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

// ---------------------------------------------------------------------------------------------
// DEFLATE (RFC 1951)

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u32,
    count: u32,
}

impl Bits<'_> {
    /// `n` (≤ 16) bits, least significant first (RFC 1951 §3.1.1).
    fn take(&mut self, n: u32) -> Result<u32, ZipError> {
        while self.count < n {
            let b = *self
                .data
                .get(self.pos)
                .ok_or(ZipError::Inflate("unexpected end of data"))?;
            self.pos += 1;
            self.buf |= u32::from(b) << self.count;
            self.count += 8;
        }
        let v = self.buf & ((1u32 << n) - 1);
        self.buf >>= n;
        self.count -= n;
        Ok(v)
    }
}

/// A canonical Huffman code (RFC 1951 §3.2.2): code counts per length and the symbols in
/// code order.
struct Huffman {
    counts: [u16; 16],
    symbols: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Result<Huffman, ZipError> {
        let mut counts = [0u16; 16];
        for &l in lengths {
            *counts
                .get_mut(usize::from(l))
                .ok_or(ZipError::Inflate("code length over 15"))? += 1;
        }
        counts[0] = 0;
        let mut left: i32 = 1;
        for &c in &counts[1..] {
            left = (left << 1) - i32::from(c);
            if left < 0 {
                return Err(ZipError::Inflate("over-subscribed code"));
            }
        }
        let mut offsets = [0u16; 16];
        for len in 1..15 {
            offsets[len + 1] = offsets[len] + counts[len];
        }
        let mut symbols = vec![0u16; lengths.len()];
        for (sym, &l) in lengths.iter().enumerate() {
            if l != 0 {
                let o = &mut offsets[usize::from(l)];
                if let Some(slot) = symbols.get_mut(usize::from(*o)) {
                    *slot = sym as u16;
                }
                *o += 1;
            }
        }
        Ok(Huffman { counts, symbols })
    }

    fn decode(&self, bits: &mut Bits) -> Result<u16, ZipError> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= bits.take(1)? as i32;
            let count = i32::from(self.counts[len]);
            if code - first < count {
                return self
                    .symbols
                    .get((index + code - first) as usize)
                    .copied()
                    .ok_or(ZipError::Inflate("bad code"));
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err(ZipError::Inflate("invalid Huffman code"))
    }
}

const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// Order of the code length code lengths (RFC 1951 §3.2.7).
const CL_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// Decompresses a raw DEFLATE stream of at most `limit` output bytes.
pub fn inflate(data: &[u8], limit: usize) -> Result<Vec<u8>, ZipError> {
    let mut bits = Bits {
        data,
        pos: 0,
        buf: 0,
        count: 0,
    };
    let mut out = Vec::with_capacity(limit.min(MAX_ENTRY));
    loop {
        let last = bits.take(1)? == 1;
        match bits.take(2)? {
            0 => {
                // Stored block (§3.2.4): byte aligned LEN, NLEN.
                bits.buf = 0;
                bits.count = 0;
                let hdr = data
                    .get(bits.pos..bits.pos + 4)
                    .ok_or(ZipError::Inflate("stored block truncated"))?;
                let len = usize::from(u16::from_le_bytes([hdr[0], hdr[1]]));
                let nlen = u16::from_le_bytes([hdr[2], hdr[3]]);
                if nlen != !(len as u16) {
                    return Err(ZipError::Inflate("stored block LEN/NLEN mismatch"));
                }
                bits.pos += 4;
                let block = data
                    .get(bits.pos..bits.pos + len)
                    .ok_or(ZipError::Inflate("stored block truncated"))?;
                bits.pos += len;
                if out.len() + len > limit {
                    return Err(ZipError::Inflate("output larger than announced"));
                }
                out.extend_from_slice(block);
            }
            1 => {
                // Fixed Huffman codes (§3.2.6).
                let mut lit = [0u8; 288];
                lit[..144].fill(8);
                lit[144..256].fill(9);
                lit[256..280].fill(7);
                lit[280..].fill(8);
                let lit = Huffman::new(&lit)?;
                let dist = Huffman::new(&[5u8; 30])?;
                codes(&mut bits, &mut out, &lit, &dist, limit)?;
            }
            2 => {
                // Dynamic Huffman codes (§3.2.7).
                let hlit = bits.take(5)? as usize + 257;
                let hdist = bits.take(5)? as usize + 1;
                let hclen = bits.take(4)? as usize + 4;
                let mut cl = [0u8; 19];
                for &i in CL_ORDER.iter().take(hclen) {
                    cl[i] = bits.take(3)? as u8;
                }
                let cl = Huffman::new(&cl)?;
                let mut lengths = Vec::with_capacity(hlit + hdist);
                while lengths.len() < hlit + hdist {
                    let sym = cl.decode(&mut bits)?;
                    let (value, repeat) = match sym {
                        0..=15 => (sym as u8, 1),
                        16 => (
                            *lengths
                                .last()
                                .ok_or(ZipError::Inflate("repeat without a length"))?,
                            3 + bits.take(2)? as usize,
                        ),
                        17 => (0, 3 + bits.take(3)? as usize),
                        _ => (0, 11 + bits.take(7)? as usize),
                    };
                    if lengths.len() + repeat > hlit + hdist {
                        return Err(ZipError::Inflate("too many code lengths"));
                    }
                    lengths.extend(std::iter::repeat_n(value, repeat));
                }
                if lengths.get(256) == Some(&0) {
                    return Err(ZipError::Inflate("no end-of-block code"));
                }
                let lit = Huffman::new(&lengths[..hlit])?;
                let dist = Huffman::new(&lengths[hlit..])?;
                codes(&mut bits, &mut out, &lit, &dist, limit)?;
            }
            _ => return Err(ZipError::Inflate("reserved block type")),
        }
        if last {
            return Ok(out);
        }
    }
}

fn codes(
    bits: &mut Bits,
    out: &mut Vec<u8>,
    lit: &Huffman,
    dist: &Huffman,
    limit: usize,
) -> Result<(), ZipError> {
    loop {
        let sym = lit.decode(bits)?;
        match sym {
            0..=255 => {
                if out.len() >= limit {
                    return Err(ZipError::Inflate("output larger than announced"));
                }
                out.push(sym as u8);
            }
            256 => return Ok(()),
            _ => {
                let i = usize::from(sym - 257);
                let (&base, &extra) = LEN_BASE
                    .get(i)
                    .zip(LEN_EXTRA.get(i))
                    .ok_or(ZipError::Inflate("bad length symbol"))?;
                let len = usize::from(base) + bits.take(u32::from(extra))? as usize;
                let d = usize::from(dist.decode(bits)?);
                let (&base, &extra) = DIST_BASE
                    .get(d)
                    .zip(DIST_EXTRA.get(d))
                    .ok_or(ZipError::Inflate("bad distance symbol"))?;
                let distance = usize::from(base) + bits.take(u32::from(extra))? as usize;
                if distance > out.len() {
                    return Err(ZipError::Inflate("distance beyond the output"));
                }
                if out.len() + len > limit {
                    return Err(ZipError::Inflate("output larger than announced"));
                }
                let from = out.len() - distance;
                for k in 0..len {
                    let b = out[from + k];
                    out.push(b);
                }
            }
        }
    }
}

/// Builds a ZIP archive of stored entries (what `simkit` writes, and what the tests use to
/// make CAP files without fixtures).
pub fn write_stored(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let header = |sig: u32, central: bool| {
            let mut h = sig.to_le_bytes().to_vec();
            if central {
                h.extend_from_slice(&20u16.to_le_bytes()); // version made by
            }
            h.extend_from_slice(&10u16.to_le_bytes()); // version needed
            h.extend_from_slice(&0u16.to_le_bytes()); // flags
            h.extend_from_slice(&0u16.to_le_bytes()); // method: stored
            h.extend_from_slice(&0u32.to_le_bytes()); // time, date
            h.extend_from_slice(&crc.to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(data.len() as u32).to_le_bytes());
            h.extend_from_slice(&(name.len() as u16).to_le_bytes());
            h.extend_from_slice(&0u16.to_le_bytes()); // extra
            if central {
                h.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
                h.extend_from_slice(&0u32.to_le_bytes()); // external attributes
                h.extend_from_slice(&offset.to_le_bytes());
            }
            h.extend_from_slice(name.as_bytes());
            h
        };
        out.extend(header(0x0403_4B50, false));
        out.extend_from_slice(data);
        central.extend(header(0x0201_4B50, true));
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4B50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// CRC-32 check value of "123456789" (the catalogue value for CRC-32/ISO-HDLC).
    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    /// Streams made locally with Python's zlib (`zlib.compressobj(9, zlib.DEFLATED, -15)`):
    /// a fixed-Huffman block with back references, and a dynamic-Huffman block.
    #[test]
    fn inflate_fixed_and_dynamic() {
        let text = b"Header Directory Import Applet Class Method Header Directory Import";
        let fixed = hex::decode(FIXED_HEX).unwrap();
        assert_eq!(inflate(&fixed, 1000).unwrap(), text);
        let dynamic = hex::decode(DYNAMIC_HEX).unwrap();
        let expect: Vec<u8> = (0..2000u32)
            .map(|i| (i * i % 251) as u8 % 7 + b'a')
            .collect();
        assert_eq!(inflate(&dynamic, 4000).unwrap(), expect);
        // Output limit, truncation and garbage are errors, not panics.
        assert!(inflate(&dynamic, 100).is_err());
        assert!(inflate(&dynamic[..dynamic.len() / 2], 4000).is_err());
        assert!(inflate(&[0xFF; 8], 4000).is_err());
        assert!(inflate(&[], 4000).is_err());
    }

    #[test]
    fn stored_block_and_archive_round_trip() {
        // Stored block: BFINAL=1 BTYPE=00, LEN=3, NLEN=~3.
        assert_eq!(
            inflate(&[0x01, 0x03, 0x00, 0xFC, 0xFF, b'a', b'b', b'c'], 10).unwrap(),
            b"abc"
        );
        let zip = write_stored(&[("a/Header.cap", b"\x01\x00\x01\x00"), ("b.txt", b"hi")]);
        let entries = read_archive(&zip).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].name, "a/Header.cap");
        assert_eq!(entries[1].data, b"hi");
        // A flipped data byte fails the CRC; a cut archive has no directory.
        let mut bad = zip.clone();
        bad[30 + "a/Header.cap".len()] ^= 1;
        assert!(matches!(
            read_archive(&bad),
            Err(ZipError::Entry {
                what: "CRC-32 mismatch",
                ..
            })
        ));
        assert!(read_archive(&zip[..zip.len() - 5]).is_err());
        assert!(read_archive(b"PK").is_err());
    }

    const FIXED_HEX: &str = "f3484d4c492d5270c92c4a4d2ec92faa54f0cc2dc82f2a51702c28c8492d5170ce492c2e56f04d2dc9c84f51f0c0ae1600";
    const DYNAMIC_HEX: &str = concat!(
        "ed8fcb11435108426b4540fbef20dc97cfcb2215645c39a3801c944917dea3a56671ec918c9e6a0f514224b9",
        "893acbe951d12c4d777543646ec68051b6634dc259aaaff4240c5460ac91fc1a2fc9dd831a37ec242476605e",
        "4b5c2fef02a74e0aa49c627d3e8927cb343e2401faf4f8865df4455ff4455ff445ff13f407"
    );
}
