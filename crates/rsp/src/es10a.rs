//! ES10a: LPA ↔ eUICC configured addresses (SGP.22 §5.7.1–5.7.3).

use tlv::{Tag, Tlv, Writer};

use crate::es10b::empty_request;
use crate::{asn1_via_fields, named_int, one_field_sequence, Fields, Rd, Result, WriterExt};

empty_request!(
    /// `EuiccConfiguredAddressesRequest ::= [60] SEQUENCE {}`, 'BF3C' (ES10a.GetEuiccConfiguredAddresses).
    EuiccConfiguredAddressesRequest,
    0xBF3C
);

/// `EuiccConfiguredAddressesResponse ::= [60] SEQUENCE`, 'BF3C' { '80' defaultDpAddress?, '81' rootDsAddress }.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EuiccConfiguredAddressesResponse {
    /// Default SM-DP+ address (FQDN).
    pub default_dp_address: Option<String>,
    /// Root SM-DS address (FQDN).
    pub root_ds_address: String,
}

impl Fields for EuiccConfiguredAddressesResponse {
    const TAG: Tag = Tag(0xBF3C);
    const NAME: &'static str = "EuiccConfiguredAddressesResponse";
    fn put_fields(&self, w: &mut Writer) {
        w.opt_implicit(Tag(0x80), self.default_dp_address.as_ref())
            .utf8(Tag(0x81), &self.root_ds_address);
    }
    fn get_fields(tlv: &Tlv<'_>) -> Result<Self> {
        let mut rd = Rd::new(tlv, Self::NAME);
        let default_dp_address = rd.opt_utf8(Tag(0x80), "defaultDpAddress")?;
        let root_ds_address = rd.utf8(Tag(0x81), "rootDsAddress")?;
        rd.end()?;
        Ok(Self {
            default_dp_address,
            root_ds_address,
        })
    }
}

one_field_sequence! {
    /// `SetDefaultDpAddressRequest ::= [63] SEQUENCE { defaultDpAddress UTF8String }`, 'BF3F' { '80' }.
    /// An empty address removes the default SM-DP+ address.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SetDefaultDpAddressRequest = 0xBF3F {
        pub default_dp_address: String = 0x80 "defaultDpAddress"
    }
}

named_int! {
    /// `setDefaultDpAddressResult INTEGER { ok(0), undefinedError(127) }`.
    SetDefaultDpAddressResult { OK = 0 => "ok", UNDEFINED_ERROR = 127 => "undefinedError" }
}

one_field_sequence! {
    /// `SetDefaultDpAddressResponse ::= [63] SEQUENCE { setDefaultDpAddressResult }`, 'BF3F' { '80' }.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct SetDefaultDpAddressResponse = 0xBF3F {
        pub result: SetDefaultDpAddressResult = 0x80 "setDefaultDpAddressResult"
    }
}

asn1_via_fields!(EuiccConfiguredAddressesResponse);
