//! The UICC file system of an enabled profile (ETSI TS 102 221 §8, 3GPP TS 31.102), built
//! from the profile package's file-system elements: the SAIP templates
//! ([`saip::template`]) with the PE's overrides, then PE-GenericFileManagement commands
//! (SAIP §8.3).
//!
//! * [`UiccFs`]: the persistent tree (an arena of [`Node`]s, node 0 is the MF), serde
//!   serializable with byte strings as hex.
//! * [`Selection`]: the volatile per-logical-channel current DF/ADF/EF and record pointer.
//! * [`commands`]: SELECT, STATUS, READ/UPDATE BINARY, READ/UPDATE RECORD, SEARCH RECORD,
//!   INCREASE (TS 102 221 §11.1) with their status words.
//! * [`access`]: access conditions from EF.ARR (TS 102 221 §9.2.7, §9.5; ISO/IEC 7816-4 §9.3).

pub mod access;
pub mod build;
pub mod commands;
pub mod fcp;

use serde::{Deserialize, Serialize};

pub use build::FsError;
pub use commands::Reply;

/// Index of a node in [`UiccFs`].
pub type NodeId = usize;

/// The MF's node.
pub const MF: NodeId = 0;

/// File structure and content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Body {
    Mf,
    Df,
    /// An application DF; `aid` is its DF name (TS 102 221 §8.3).
    Adf {
        #[serde(with = "hex_bytes")]
        aid: Vec<u8>,
    },
    Transparent {
        #[serde(with = "hex_bytes")]
        data: Vec<u8>,
    },
    LinearFixed {
        record_len: usize,
        #[serde(with = "hex_records")]
        records: Vec<Vec<u8>>,
    },
    /// Records in logical order: `records[0]` is record 1, the most recently written
    /// (TS 102 221 §8.2.2.3).
    Cyclic {
        record_len: usize,
        #[serde(with = "hex_records")]
        records: Vec<Vec<u8>>,
    },
    BerTlv {
        max_size: usize,
        #[serde(with = "hex_bytes")]
        data: Vec<u8>,
    },
    /// A link file (SAIP `linkPath`): structure and content are those of `target`.
    Link {
        target: NodeId,
    },
}

impl Body {
    pub fn is_df(&self) -> bool {
        matches!(self, Body::Mf | Body::Df | Body::Adf { .. })
    }
}

/// One file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    /// File ID; for an ADF the temporary FID of the profile package.
    pub fid: u16,
    /// Parent DF; the MF has none; an ADF's parent is the MF.
    pub parent: Option<NodeId>,
    /// Children (not ADFs: they are reached by AID, TS 102 221 §8.4.1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<NodeId>,
    pub body: Body,
    /// Short file identifier (EFs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sfi: Option<u8>,
    /// Life cycle status integer (TS 102 221 §11.1.1.4.9), `05` = operational, activated.
    pub lcsi: u8,
    pub shareable: bool,
    /// Security attributes in referenced format ('8B' value: EF.ARR FID + record number,
    /// TS 102 221 §11.1.1.4.7.3).
    #[serde(with = "hex_bytes")]
    pub security: Vec<u8>,
    /// Key references of the PIN status template DO 'C6' (DFs, TS 102 221 §9.5.2).
    #[serde(default, with = "hex_bytes", skip_serializing_if = "Vec::is_empty")]
    pub pin_refs: Vec<u8>,
    /// ASN.1 component name of the template file, e.g. `ef-imsi` (informative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The file tree of one profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UiccFs {
    nodes: Vec<Node>,
}

/// The volatile selection state of one logical channel (TS 102 221 §8.4): current DF (or
/// ADF), current EF, current application and record pointer. `Default` = MF selected.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    df: NodeId,
    ef: Option<NodeId>,
    adf: Option<NodeId>,
    record: Option<usize>,
}

impl Selection {
    /// The MF selected, no application (state after reset, TS 102 221 §8.4.1).
    pub fn new() -> Selection {
        Selection::default()
    }
    /// Current DF or ADF.
    pub fn current_df(&self) -> NodeId {
        self.df
    }
    /// Current EF, if any.
    pub fn current_ef(&self) -> Option<NodeId> {
        self.ef
    }
    /// Current ADF (the application selected on this channel), if any.
    pub fn current_adf(&self) -> Option<NodeId> {
        self.adf
    }
}

impl UiccFs {
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id)
    }

    pub(crate) fn node_mut(&mut self, id: NodeId) -> Option<&mut Node> {
        self.nodes.get_mut(id)
    }

    /// Follows link files to the node holding structure and content.
    pub fn resolve(&self, id: NodeId) -> NodeId {
        let mut cur = id;
        for _ in 0..8 {
            match self.nodes.get(cur).map(|n| &n.body) {
                Some(Body::Link { target }) => cur = *target,
                _ => return cur,
            }
        }
        cur
    }

    /// The ADFs, in creation order.
    pub fn adfs(&self) -> impl Iterator<Item = (NodeId, &[u8])> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| match &n.body {
                Body::Adf { aid } => Some((i, aid.as_slice())),
                _ => None,
            })
    }

    /// The ADF whose AID is `aid` or starts with it (partial DF name, ISO/IEC 7816-4
    /// §11.1.1); `after` skips ADFs up to and including that one ("next occurrence").
    pub fn adf_by_aid(&self, aid: &[u8], after: Option<NodeId>) -> Option<NodeId> {
        if aid.is_empty() {
            return None;
        }
        self.adfs()
            .filter(|(id, _)| after.is_none_or(|a| *id > a))
            .find(|(_, a)| a.starts_with(aid))
            .map(|(id, _)| id)
    }

    /// The child of DF `df` (through a DF link) with this FID.
    pub fn child(&self, df: NodeId, fid: u16) -> Option<NodeId> {
        let df = self.resolve(df);
        self.nodes
            .get(df)?
            .children
            .iter()
            .copied()
            .find(|c| self.nodes.get(*c).is_some_and(|n| n.fid == fid))
    }

    /// The EF with this SFI directly in DF `df`.
    pub fn child_by_sfi(&self, df: NodeId, sfi: u8) -> Option<NodeId> {
        let df = self.resolve(df);
        self.nodes.get(df)?.children.iter().copied().find(|c| {
            self.nodes
                .get(*c)
                .is_some_and(|n| n.sfi == Some(sfi) && !n.body.is_df())
        })
    }

    /// A file by path of FIDs from the MF (the MF's own '3F00' may lead); at the first level
    /// ADFs are found by their temporary FID, as in SAIP `filePath` and `linkPath`.
    pub fn find_path(&self, path: &[u16]) -> Option<NodeId> {
        let path = match path.first() {
            Some(0x3F00) => &path[1..],
            _ => path,
        };
        let mut cur = MF;
        for (i, fid) in path.iter().enumerate() {
            cur = match self.child(cur, *fid) {
                Some(c) => c,
                None if i == 0 => self.adfs().find(|(a, _)| self.nodes[*a].fid == *fid)?.0,
                None => return None,
            };
        }
        self.nodes.get(cur).map(|_| cur)
    }

    /// The whole content of an EF (records concatenated), through links; `None` for DFs.
    pub fn content(&self, id: NodeId) -> Option<Vec<u8>> {
        match &self.nodes.get(self.resolve(id))?.body {
            Body::Transparent { data } | Body::BerTlv { data, .. } => Some(data.clone()),
            Body::LinearFixed { records, .. } | Body::Cyclic { records, .. } => {
                Some(records.concat())
            }
            _ => None,
        }
    }

    /// The records of a record EF, through links.
    pub fn records(&self, id: NodeId) -> Option<&[Vec<u8>]> {
        match &self.nodes.get(self.resolve(id))?.body {
            Body::LinearFixed { records, .. } | Body::Cyclic { records, .. } => Some(records),
            _ => None,
        }
    }

    /// The path of FIDs from the MF (exclusive) to `id`; an ADF appears as its temporary FID.
    pub fn path_of(&self, id: NodeId) -> Vec<u16> {
        let mut out = Vec::new();
        let mut cur = id;
        while let Some(n) = self.nodes.get(cur) {
            match n.parent {
                Some(p) if p != cur => {
                    out.push(n.fid);
                    cur = p;
                }
                _ => break,
            }
            if out.len() > 16 {
                break;
            }
        }
        out.reverse();
        out
    }
}

/// serde: byte strings as lowercase hex.
pub(crate) mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

/// serde: a list of records, each as hex.
pub(crate) mod hex_records {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(hex::encode))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<String>::deserialize(d)?
            .into_iter()
            .map(|s| hex::decode(s).map_err(serde::de::Error::custom))
            .collect()
    }
}
