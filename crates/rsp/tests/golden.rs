//! Golden tests on real encoded SGP.22 structures from public sources (each cited).

use base64::Engine;
use rsp::es10c::*;
use rsp::es8p::*;
use rsp::{Asn1, Iccid, ProfileClass};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

/// A fully bound and protected BPP produced by a third-party SM-DP+, from osmocom pySim
/// `tests/unittests/test_esim_bsp.py` (TestBSPdecode.bpp_b64).
fn pysim_bpp() -> Vec<u8> {
    let b64 = include_str!("data/pysim_bpp.b64");
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .unwrap()
}

#[test]
fn pysim_bpp_decodes_and_reencodes_identically() {
    let der = pysim_bpp();
    let bpp = BoundProfilePackage::decode(&der).unwrap();
    let isc = &bpp.initialise_secure_channel_request;
    assert_eq!(isc.signed.remote_op_id, REMOTE_OP_INSTALL_BPP);
    assert_eq!(isc.signed.control_ref_template.key_type, KEY_TYPE_AES);
    assert_eq!(isc.signed.control_ref_template.key_len, 16);
    assert_eq!(isc.signed.transaction_id.as_bytes().len(), 16);
    assert_eq!(isc.signed.smdp_otpk.len(), 65);
    assert_eq!(isc.signed.smdp_otpk[0], 0x04);
    assert_eq!(isc.smdp_sign.len(), 64);
    // The signed part is exactly the contents of 'BF23' up to the end of '5F49'.
    let signed = isc.signed.raw();
    assert_eq!(signed[0], 0x82);
    assert!(der.windows(signed.len()).any(|w| w == signed));
    assert_eq!(&signed[signed.len() - 65..], &isc.signed.smdp_otpk[..]);
    // One ConfigureISDP, one StoreMetadata, no ReplaceSessionKeys, protected profile elements.
    assert_eq!(bpp.first_sequence_of_87.len(), 1);
    assert_eq!(bpp.sequence_of_88.len(), 1);
    assert!(bpp.second_sequence_of_87.is_none());
    assert!(!bpp.sequence_of_86.is_empty());
    assert_eq!(bpp.encode(), der);

    // Segmentation (SGP.22 §2.5.5): the segments concatenate back to the BPP minus the
    // headers already included, and start with 'BF36' .. 'BF23'.
    let segs = bpp.segments();
    assert_eq!(segs, segment(&der).unwrap());
    assert_eq!(&segs[0][..2], &[0xBF, 0x36]);
    let isc_raw = isc.encode();
    assert!(segs[0].ends_with(&isc_raw));
    assert_eq!(segs[1][0], 0xA0);
    assert_eq!(segs[2][0], 0xA1);
    assert_eq!(segs[3][0], 0x88);
    assert_eq!(segs[4][0], 0xA3);
    assert!(segs[5..].iter().all(|s| s[0] == 0x86));
    assert_eq!(segs.len(), 5 + bpp.sequence_of_86.len());
    let total: usize = segs.iter().map(Vec::len).sum();
    // Only the outer BF36 header is shared: every byte appears in exactly one segment.
    assert_eq!(total, der.len());

    // Trailing bytes and truncation are rejected.
    let mut extra = der.clone();
    extra.push(0);
    assert!(BoundProfilePackage::decode(&extra).is_err());
    assert!(BoundProfilePackage::decode(&der[..der.len() - 1]).is_err());
}

#[test]
fn pysim_bsp_plaintexts() {
    // Plaintexts of BPP TLVs from osmocom pySim tests/unittests/test_esim_bsp.py
    // (BSP_Test_mode51.test_ciphering and TestBSPdecode).
    let cfg = h("bf2400");
    let c = ConfigureIsdpRequest::decode(&cfg).unwrap();
    assert_eq!(c, ConfigureIsdpRequest::default());
    assert_eq!(c.encode(), cfg);

    let smd = h("bf252d5a0a98001032547698103214910947534d415f54455354921147534d415f544553545f50524f46494c45950100");
    let m = StoreMetadataRequest::decode(&smd).unwrap();
    assert_eq!(m.iccid, "89000123456789012341".parse::<Iccid>().unwrap());
    assert_eq!(m.service_provider_name, "GSMA_TEST");
    assert_eq!(m.profile_name, "GSMA_TEST_PROFILE");
    assert_eq!(m.profile_class, Some(ProfileClass::TEST));
    assert_eq!(m.encode(), smd);

    let smd2 = h(
        "bf25285a0a89000123456789012341910a4f736d6f636f6d53504e920e4f736d6f636f6d50726f66696c65",
    );
    let m2 = StoreMetadataRequest::decode(&smd2).unwrap();
    assert_eq!(m2.service_provider_name, "OsmocomSPN");
    assert_eq!(m2.profile_name, "OsmocomProfile");
    assert_eq!(m2.profile_class, None);
    assert_eq!(m2.encode(), smd2);

    let rsk = h("bf26368010000102030405060708090a0b0c0d0e0f8110010102030405060708090a0b0c0d0e0f8210020102030405060708090a0b0c0d0e0f");
    let r = ReplaceSessionKeysRequest::decode(&rsk).unwrap();
    assert_eq!(
        r.initial_mac_chaining_value,
        h("000102030405060708090a0b0c0d0e0f")
    );
    assert_eq!(r.ppk_enc, h("0101 02030405060708090a0b0c0d0e0f"));
    assert_eq!(r.ppk_cmac, h("0201 02030405060708090a0b0c0d0e0f"));
    assert_eq!(r.encode(), rsk);
    assert!(!format!("{r:?}").contains("0102"));
}

#[test]
fn pysim_get_eid() {
    // ES10c.GetEID command data and response of a sysmoEUICC, from osmocom pySim
    // tests/unittests/test_globalplatform.py (SCP03_Test.get_eid_cmd_plain / get_eid_rsp_plain).
    let req = h("BF3E035C015A");
    assert_eq!(
        GetEuiccDataRequest::decode(&req).unwrap(),
        GetEuiccDataRequest::default()
    );
    assert_eq!(GetEuiccDataRequest::default().encode(), req);
    let rsp = h("bf3e125a1089882119900000000000000000000005");
    let r = GetEuiccDataResponse::decode(&rsp).unwrap();
    assert_eq!(r.eid.to_string(), "89882119900000000000000000000005");
    assert_eq!(r.encode(), rsp);
}
