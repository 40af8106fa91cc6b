//! `PE-AKAParameter` (SAIP §8.4.1): NAA authentication algorithm and its secrets.

use tlv::{der, Reader, Tag, Tlv, Writer};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::header::PeHeader;
use crate::{rebuild, Result, SaipError};

/// `algorithmID` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlgorithmId {
    Milenage,
    Tuak,
    /// 3GPP TS 34.108 §8.1.2 XOR test algorithm.
    UsimTestAlgorithm,
    Other(i64),
}

impl AlgorithmId {
    fn from_int(v: i64) -> AlgorithmId {
        match v {
            1 => AlgorithmId::Milenage,
            2 => AlgorithmId::Tuak,
            3 => AlgorithmId::UsimTestAlgorithm,
            n => AlgorithmId::Other(n),
        }
    }
}

/// `AlgoParameter` (tags `[0]`..`[7]`). Optional fields with a DEFAULT are `None` when absent;
/// the `*_or_default` accessors give the effective value.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct AlgoParameter {
    #[zeroize(skip)]
    pub algorithm: AlgorithmId,
    pub algorithm_options: u8,
    /// K.
    pub key: Vec<u8>,
    /// OPc (Milenage) or TOPc (TUAK).
    pub opc: Vec<u8>,
    pub rotation_constants: Option<Vec<u8>>,
    pub xoring_constants: Option<Vec<u8>>,
    pub auth_counter_max: Option<Vec<u8>>,
    pub number_of_keccak: Option<u8>,
}

impl std::fmt::Debug for AlgoParameter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlgoParameter")
            .field("algorithm", &self.algorithm)
            .field("algorithm_options", &self.algorithm_options)
            .field("key", &"<redacted>")
            .field("opc", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Milenage defaults (3GPP TS 35.206 §4.1): r1..r5 = 64, 0, 32, 64, 96 bits, stored in bytes.
pub const DEFAULT_ROTATION_CONSTANTS: [u8; 5] = [0x40, 0x00, 0x20, 0x40, 0x60];

/// Milenage defaults: c1 = 0, c2 = 1, c3 = 2, c4 = 4, c5 = 8 (each 128 bits).
pub fn default_xoring_constants() -> [u8; 80] {
    let mut c = [0u8; 80];
    c[31] = 1;
    c[47] = 2;
    c[63] = 4;
    c[79] = 8;
    c
}

impl AlgoParameter {
    pub fn rotation_constants_or_default(&self) -> Vec<u8> {
        self.rotation_constants
            .clone()
            .unwrap_or_else(|| DEFAULT_ROTATION_CONSTANTS.to_vec())
    }
    pub fn xoring_constants_or_default(&self) -> Vec<u8> {
        self.xoring_constants
            .clone()
            .unwrap_or_else(|| default_xoring_constants().to_vec())
    }
    pub fn number_of_keccak_or_default(&self) -> u8 {
        self.number_of_keccak.unwrap_or(1)
    }

    fn decode(tlv: &Tlv<'_>) -> Result<AlgoParameter> {
        let mut r = tlv.reader();
        let algorithm = AlgorithmId::from_int(der::decode_int(r.expect(Tag::context(0))?.value)?);
        let algorithm_options = one_byte(r.expect(Tag::context(1))?.value, "algorithmOptions")?;
        let key = r.expect(Tag::context(2))?.value.to_vec();
        let opc = r.expect(Tag::context(3))?.value.to_vec();
        let rotation_constants = r.optional(Tag::context(4))?.map(|t| t.value.to_vec());
        let xoring_constants = r.optional(Tag::context(5))?.map(|t| t.value.to_vec());
        let auth_counter_max = r.optional(Tag::context(6))?.map(|t| t.value.to_vec());
        let number_of_keccak = match r.optional(Tag::context(7))? {
            Some(t) => Some(
                u8::try_from(der::decode_uint(t.value)?)
                    .map_err(|_| SaipError::Invalid("numberOfKeccak"))?,
            ),
            None => None,
        };
        r.finish_lenient()?;
        Ok(AlgoParameter {
            algorithm,
            algorithm_options,
            key,
            opc,
            rotation_constants,
            xoring_constants,
            auth_counter_max,
            number_of_keccak,
        })
    }
}

/// `algoConfiguration CHOICE { mappingParameter [0], algoParameter [1] }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlgoConfiguration {
    /// Reuse the parameters of another NAA (`mappingOptions`, `mappingSource` AID).
    Mapping {
        options: u8,
        source: Vec<u8>,
    },
    Algo(AlgoParameter),
}

/// `PE-AKAParameter` (tags: `[0]` header, `[1]` algoConfiguration, `[2]` sqnOptions,
/// `[3]` sqnDelta, `[4]` sqnAgeLimit, `[5]` sqnInit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AkaParameter {
    pub pe_header: PeHeader,
    pub config: AlgoConfiguration,
    pub sqn_options: Option<u8>,
    pub sqn_delta: Option<Vec<u8>>,
    pub sqn_age_limit: Option<Vec<u8>>,
    /// `sqnInit`: 32 six-byte values when present.
    pub sqn_init: Option<Vec<Vec<u8>>>,
}

const TAG_ALGO_CONFIGURATION: Tag = Tag::context_constructed(1);
const TAG_ALGO_PARAMETER: Tag = Tag::context_constructed(1);
const TAG_KEY: Tag = Tag::context(2);
const TAG_OPC: Tag = Tag::context(3);

impl AkaParameter {
    pub fn algo(&self) -> Option<&AlgoParameter> {
        match &self.config {
            AlgoConfiguration::Algo(a) => Some(a),
            AlgoConfiguration::Mapping { .. } => None,
        }
    }

    pub fn sqn_options_or_default(&self) -> u8 {
        self.sqn_options.unwrap_or(0x02)
    }

    /// Decodes the contents of the `[4]` (A4) element.
    pub(crate) fn decode(contents: &[u8]) -> Result<AkaParameter> {
        let mut r = Reader::new(contents);
        let pe_header = PeHeader::decode(&r.expect(Tag::context_constructed(0))?)?;
        // A CHOICE under AUTOMATIC TAGS is explicitly tagged: [1] { [0] | [1] }.
        let choice = r.expect(TAG_ALGO_CONFIGURATION)?;
        let alt = Tlv::parse_single(choice.value)?;
        let config = match alt.tag {
            t if t == Tag::context_constructed(0) => {
                let mut m = alt.reader();
                let options = one_byte(m.expect(Tag::context(0))?.value, "mappingOptions")?;
                let source = m.expect(Tag::context(1))?.value.to_vec();
                m.finish_lenient()?;
                AlgoConfiguration::Mapping { options, source }
            }
            t if t == TAG_ALGO_PARAMETER => AlgoConfiguration::Algo(AlgoParameter::decode(&alt)?),
            _ => return Err(SaipError::Invalid("unknown algoConfiguration alternative")),
        };
        let sqn_options = r
            .optional(Tag::context(2))?
            .map(|t| one_byte(t.value, "sqnOptions"))
            .transpose()?;
        let sqn_delta = r.optional(Tag::context(3))?.map(|t| t.value.to_vec());
        let sqn_age_limit = r.optional(Tag::context(4))?.map(|t| t.value.to_vec());
        let sqn_init = match r.optional(Tag::context_constructed(5))? {
            Some(list) => Some(
                tlv::iter(list.value)
                    .map(|v| {
                        let v = v?;
                        v.expect_tag(Tag::OCTET_STRING)?;
                        Ok(v.value.to_vec())
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            None => None,
        };
        r.finish_lenient()?;
        Ok(AkaParameter {
            pe_header,
            config,
            sqn_options,
            sqn_delta,
            sqn_age_limit,
            sqn_init,
        })
    }
}

/// Re-encodes a whole A4 element with K and/or OPc replaced, every other byte kept as it was.
/// Returns `None` for a mapping-parameter element (it has no K/OPc of its own).
pub(crate) fn replace_keys(
    raw: &[u8],
    k: Option<&[u8]>,
    opc: Option<&[u8]>,
) -> Result<Option<Vec<u8>>> {
    let elem = Tlv::parse_single(raw)?;
    let mut found = false;
    let out = rebuild(&elem, |child| {
        if child.tag != TAG_ALGO_CONFIGURATION {
            return Ok(None);
        }
        let alt = Tlv::parse_single(child.value)?;
        if alt.tag != TAG_ALGO_PARAMETER {
            return Ok(None);
        }
        found = true;
        let new_alt = rebuild(&alt, |field| {
            Ok(match (field.tag, k, opc) {
                (t, Some(k), _) if t == TAG_KEY => Some(tlv::encode_tlv(TAG_KEY, k)),
                (t, _, Some(o)) if t == TAG_OPC => Some(tlv::encode_tlv(TAG_OPC, o)),
                _ => None,
            })
        })?;
        let mut w = Writer::new();
        w.put(TAG_ALGO_CONFIGURATION, &new_alt);
        Ok(Some(w.into_vec()))
    })?;
    Ok(found.then_some(out))
}

fn one_byte(v: &[u8], what: &'static str) -> Result<u8> {
    match v {
        [b] => Ok(*b),
        _ => Err(SaipError::Invalid(what)),
    }
}
