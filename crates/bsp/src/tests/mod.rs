//! Known-answer tests from osmocom pySim `tests/unittests/test_esim_bsp.py` (commit
//! 597f1e0398bb81d6832dc92ee4dfdcada59d3d82); `BSP_Test_mode51` was traced from a third-party
//! SM-DP+, so it is an independent check of the construction.

mod vectors;

use super::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn k16(s: &str) -> [u8; 16] {
    h(s).try_into().unwrap()
}

fn mode51_keys() -> SessionKeys {
    SessionKeys {
        s_enc: k16("472f5bfadd97f21d34f3ce9b51b92751"),
        s_mac: k16("9ec07f5b36a13e12a991d66e294e6242"),
        mac_chaining: k16("406d507b448a699e7a36a38494debbde"),
    }
}

#[test]
fn kdf_pysim_bsp_test() {
    // pySim BSP_Test.test_kdf: keyType 88, keyLen 16, hostId 80*8.
    let keys = derive_session_keys(
        &h("8902dca391bbb22570fe60c176076246f568b1941265dff1d729e63039658089"),
        0x88,
        16,
        &[0x80; 8],
        &h("89049032123451234512345678901335"),
    )
    .unwrap();
    assert_eq!(keys.s_enc, k16("d782d575b22a38334556a3d9a1e2ae6b"));
    assert_eq!(keys.s_mac, k16("a35addc192ae8f934e2932116c7e89e7"));
    assert_eq!(keys.mac_chaining, k16("734bc93ddb10c71c5ad13d420dc08b5b"));
}

#[test]
fn kdf_pysim_mode51() {
    // pySim BSP_Test_mode51.test_kdf (third-party SM-DP+ trace), SGP.26 test EID.
    let keys = derive_session_keys(
        &h("c9a993dd4879a8f7161f2085410edd4f9652f1df37be097ba96ba2ca6be528fe"),
        0x88,
        16,
        &[0x80; 8],
        &h("89049032123451234512345678901235"),
    )
    .unwrap();
    assert_eq!(keys, mode51_keys());
}

#[test]
fn kdf_rejects_unsupported_crt() {
    let e = derive_session_keys(&[1; 32], 0x80, 16, &[1], &[0x89; 16]).unwrap_err();
    assert_eq!(e.error_reason(), error_reason::UNSUPPORTED_CRT_VALUES);
    assert!(derive_session_keys(&[1; 32], 0x88, 32, &[1], &[0x89; 16]).is_err());
    assert!(derive_session_keys(&[1; 32], 0x88, 16, &[], &[0x89; 16]).is_err());
    assert!(derive_session_keys(&[1; 32], 0x88, 16, &[0; 17], &[0x89; 16]).is_err());
}

#[test]
fn mode51_sender_vectors() {
    // pySim BSP_Test_mode51.test_ciphering: ConfigureISDP ('87', counter 1), StoreMetadata
    // ('88', MAC only, counter 2), ReplaceSessionKeys ('87', counter 3).
    let mut bsp = Bsp::new(&mode51_keys());
    let out = bsp.encrypt_and_mac(TAG_ENCRYPTED, &h("bf2400")).unwrap();
    assert_eq!(
        out,
        vec![h("8718f6fe031e4b9cfe87c8e1e62f3fde85c49412d7722a6a2d89")]
    );

    let out = bsp
        .mac_only(
            TAG_MAC_ONLY,
            &h("bf252d5a0a98001032547698103214910947534d415f54455354921147534d415f544553545f50524f46494c45950100"),
        )
        .unwrap();
    assert_eq!(
        out,
        vec![h("8838bf252d5a0a98001032547698103214910947534d415f54455354921147534d415f544553545f50524f46494c459501008a62cc9adbb5ccbc")]
    );

    let out = bsp
        .encrypt_and_mac(
            TAG_ENCRYPTED,
            &h("bf26368010000102030405060708090a0b0c0d0e0f8110010102030405060708090a0b0c0d0e0f8210020102030405060708090a0b0c0d0e0f"),
        )
        .unwrap();
    assert_eq!(
        out,
        vec![h("8748a14c800a001992351cd46ad2945654674369701d82b7b46567652bc8fbed234939fc57fba748015525fd6c651e9d3d1330652d42a0cfad950e912122af4ec5362d3c0bc535729c40")]
    );
    assert_eq!(bsp.counter(), 4);

    // After ReplaceSessionKeys: PPK-ENC, PPK-MAC, initial MCV; counter back to 1. Two maximal
    // 1007-byte chunks, each giving a 1020-byte '86' segment.
    bsp.replace_keys(
        &k16("010102030405060708090a0b0c0d0e0f"),
        &k16("020102030405060708090a0b0c0d0e0f"),
        &k16("000102030405060708090a0b0c0d0e0f"),
    );
    assert_eq!(bsp.counter(), 1);
    let mut upp = h(vectors::MODE51_SEGMENT0_PLAIN);
    upp.extend_from_slice(&h(vectors::MODE51_SEGMENT1_PLAIN));
    assert_eq!(upp.len(), 2 * MAX_ENCRYPTED_PLAINTEXT);
    let out = bsp.encrypt_and_mac(TAG_PPP_SEGMENT, &upp).unwrap();
    assert_eq!(
        out,
        vec![
            h(vectors::MODE51_SEGMENT0_86),
            h(vectors::MODE51_SEGMENT1_86)
        ]
    );
    assert!(out.iter().all(|s| s.len() == MAX_SEGMENT_LEN));
}

#[test]
fn mode51_receiver_vectors() {
    // The eUICC side of the same trace.
    let mut euicc = Bsp::new(&mode51_keys());
    assert_eq!(
        euicc
            .open(&h("8718f6fe031e4b9cfe87c8e1e62f3fde85c49412d7722a6a2d89"))
            .unwrap(),
        h("bf2400")
    );
    assert_eq!(
        euicc.open(&h("8838bf252d5a0a98001032547698103214910947534d415f54455354921147534d415f544553545f50524f46494c459501008a62cc9adbb5ccbc")).unwrap(),
        h("bf252d5a0a98001032547698103214910947534d415f54455354921147534d415f544553545f50524f46494c45950100")
    );
    let rsk = euicc
        .open(&h("8748a14c800a001992351cd46ad2945654674369701d82b7b46567652bc8fbed234939fc57fba748015525fd6c651e9d3d1330652d42a0cfad950e912122af4ec5362d3c0bc535729c40"))
        .unwrap();
    // ReplaceSessionKeysRequest BF26: initialMacChainingValue, ppkEnc, ppkCmac (80/81/82).
    assert_eq!(&rsk[..2], &[0xBF, 0x26]);
    euicc.replace_keys(
        rsk[23..39].try_into().unwrap(),
        rsk[41..57].try_into().unwrap(),
        rsk[5..21].try_into().unwrap(),
    );
    let plain = euicc
        .open_all(
            [
                h(vectors::MODE51_SEGMENT0_86),
                h(vectors::MODE51_SEGMENT1_86),
            ]
            .iter()
            .map(|v| &v[..]),
        )
        .unwrap();
    let mut expected = h(vectors::MODE51_SEGMENT0_PLAIN);
    expected.extend_from_slice(&h(vectors::MODE51_SEGMENT1_PLAIN));
    assert_eq!(plain, expected);
}

#[test]
fn pysim_decode_vectors() {
    // pySim TestBSPdecode.test_decrypt_and_mac_verify: inner segment TLVs of its sample BPP.
    let mut euicc = Bsp::new(&SessionKeys {
        s_enc: k16("f11b921c302efb1df6bf218bf2de0dd8"),
        s_mac: k16("8cd4d3a761eeac108641d5f4531a137e"),
        mac_chaining: k16("ee3140eafd692b68eff40119b363bc6c"),
    });
    assert_eq!(
        euicc
            .open(&h("871850e770f3e03c33f0f2f662ebdd46b909d2b0402e4f8a44b6"))
            .unwrap(),
        h("bf2400")
    );
    assert_eq!(
        euicc
            .open(&h("8833bf25285a0a89000123456789012341910a4f736d6f636f6d53504e920e4f736d6f636f6d50726f66696c65d4df77c0bb135eb9"))
            .unwrap(),
        h("bf25285a0a89000123456789012341910a4f736d6f636f6d53504e920e4f736d6f636f6d50726f66696c65")
    );
    // The PPP was protected with PPK keys 00.., 11.., 22.. (fresh counter).
    let mut ppk = Bsp::new(&SessionKeys {
        s_enc: [0; 16],
        s_mac: [0x11; 16],
        mac_chaining: [0x22; 16],
    });
    // This SM-DP+ put 1008 plaintext bytes (1032-byte value) in a segment: accepted on receipt.
    let plain = ppk.open(&h(vectors::DECODE_FIRST_86)).unwrap();
    assert_eq!(plain.len(), 1008);
    assert!(plain.starts_with(&h(vectors::DECODE_FIRST_86_PLAIN_PREFIX)));
    assert_eq!(
        hex::encode(Sha256::digest(&plain)),
        vectors::DECODE_FIRST_86_PLAIN_SHA256
    );
}

fn pair() -> (Bsp, Bsp) {
    let keys = derive_session_keys(&[7; 32], 0x88, 16, b"host", &[0x89; 16]).unwrap();
    (Bsp::new(&keys), Bsp::new(&keys))
}

#[test]
fn round_trip_all_tags_and_sizes() {
    let (mut dp, mut euicc) = pair();
    for len in [0usize, 1, 15, 16, 17, 1006, 1007, 1008, 1009, 2014, 5000] {
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let segs = dp.encrypt_and_mac(TAG_PPP_SEGMENT, &data).unwrap();
        assert_eq!(segs.len(), len.div_ceil(MAX_ENCRYPTED_PLAINTEXT).max(1));
        assert!(segs
            .iter()
            .all(|s| s.len() <= MAX_SEGMENT_LEN && s[0] == 0x86));
        assert_eq!(euicc.open_all(segs.iter().map(|s| &s[..])).unwrap(), data);

        let segs = dp.mac_only(TAG_MAC_ONLY, &data).unwrap();
        assert_eq!(segs.len(), len.div_ceil(MAX_MAC_ONLY_PAYLOAD).max(1));
        assert!(segs
            .iter()
            .all(|s| s.len() <= MAX_SEGMENT_LEN && s[0] == 0x88));
        assert_eq!(euicc.open_all(segs.iter().map(|s| &s[..])).unwrap(), data);
    }
    assert_eq!(dp.counter(), euicc.counter());
}

#[test]
fn tampering_is_detected_and_state_kept() {
    let (mut dp, mut euicc) = pair();
    let segs = dp.encrypt_and_mac(TAG_ENCRYPTED, b"ConfigureISDP").unwrap();
    for i in 0..segs[0].len() {
        let mut bad = segs[0].clone();
        bad[i] ^= 0x01;
        let err = euicc.open(&bad).unwrap_err();
        assert!(matches!(
            err,
            BspError::MacVerification | BspError::Malformed(_) | BspError::UnexpectedTag(_)
        ));
        assert!(err.error_reason() == 7 || err.error_reason() == 8);
    }
    // A failed segment leaves the receiver state untouched: the genuine one still opens.
    assert_eq!(euicc.open(&segs[0]).unwrap(), b"ConfigureISDP");
    // Changing the tag byte (87 -> 86) changes the MAC input.
    let (mut dp2, mut euicc2) = pair();
    let s = dp2.encrypt_and_mac(TAG_ENCRYPTED, b"x").unwrap();
    let mut r = s[0].clone();
    r[0] = 0x86;
    assert_eq!(euicc2.open(&r), Err(BspError::MacVerification));
}

#[test]
fn replay_and_reordering_fail() {
    let (mut dp, mut euicc) = pair();
    let data = vec![0x42; 3000];
    let segs = dp.encrypt_and_mac(TAG_PPP_SEGMENT, &data).unwrap();
    assert_eq!(segs.len(), 3);
    // Out of order.
    assert_eq!(euicc.open(&segs[1]), Err(BspError::MacVerification));
    euicc.open(&segs[0]).unwrap();
    // Replay.
    assert_eq!(euicc.open(&segs[0]), Err(BspError::MacVerification));
    euicc.open(&segs[1]).unwrap();
    euicc.open(&segs[2]).unwrap();
}

#[test]
fn wrong_keys_after_replace_fail() {
    let (mut dp, mut euicc) = pair();
    dp.replace_keys(&[1; 16], &[2; 16], &[3; 16]);
    let segs = dp.encrypt_and_mac(TAG_PPP_SEGMENT, b"upp").unwrap();
    assert_eq!(euicc.open(&segs[0]), Err(BspError::MacVerification));
    euicc.replace_keys(&[1; 16], &[2; 16], &[3; 16]);
    assert_eq!(euicc.open(&segs[0]).unwrap(), b"upp");
}

#[test]
fn bad_padding_with_valid_mac_is_security_error() {
    // Build a segment whose ciphertext decrypts to a block without 80 padding, MACed correctly.
    let keys = SessionKeys {
        s_enc: [1; 16],
        s_mac: [2; 16],
        mac_chaining: [3; 16],
    };
    let mut forged = Bsp::new(&keys);
    let mut data = [0x55u8; 16];
    symcrypto::cbc_encrypt(Algorithm::Aes, &keys.s_enc, &icv(&keys.s_enc, 1), &mut data).unwrap();
    let seg = forged.seal(TAG_PPP_SEGMENT, &data);
    let mut euicc = Bsp::new(&keys);
    let err = euicc.open(&seg).unwrap_err();
    assert_eq!(err, BspError::BadPadding);
    assert_eq!(err.error_reason(), error_reason::SCP03T_SECURITY_ERROR);
    assert_eq!(euicc.counter(), 1);
}

#[test]
fn structure_errors() {
    let (_, mut euicc) = pair();
    for bad in [
        &[][..],
        &[0x86],
        &[0x86, 0x05, 1, 2],                      // truncated
        &[0x86, 0x02, 1, 2],                      // shorter than a MAC
        &[0x86, 0x09, 0, 0, 0, 0, 0, 0, 0, 0, 0], // ciphertext of 1 byte
        &[0x88, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0], // trailing byte
        &[0x86, 0x80],                            // indefinite length
        &[0x86, 0x82, 0x00],                      // truncated length
    ] {
        let e = euicc.open(bad).unwrap_err();
        assert_eq!(
            e.error_reason(),
            error_reason::SCP03T_STRUCTURE_ERROR,
            "{bad:02x?}"
        );
    }
    assert_eq!(
        euicc.open(&[0x85, 0x08, 0, 0, 0, 0, 0, 0, 0, 0]),
        Err(BspError::UnexpectedTag(0x85))
    );
    let (mut dp, _) = pair();
    assert_eq!(
        dp.encrypt_and_mac(0x88, b"x"),
        Err(BspError::UnexpectedTag(0x88))
    );
    assert_eq!(dp.mac_only(0x86, b"x"), Err(BspError::UnexpectedTag(0x86)));
}

#[test]
fn unpad_rules() {
    assert_eq!(unpad_len(&[0x80; 16]), Some(15));
    let mut b = [0u8; 32];
    b[16] = 0x80;
    assert_eq!(unpad_len(&b), Some(16));
    b[16] = 0;
    b[15] = 0x80; // padding longer than one block
    assert_eq!(unpad_len(&b), None);
    assert_eq!(unpad_len(&[0u8; 16]), None);
    assert_eq!(unpad_len(&[0x81; 16]), None);
}

#[test]
fn secrets_not_in_debug() {
    let keys = mode51_keys();
    assert_eq!(format!("{keys:?}"), "SessionKeys { .. }");
    assert!(!format!("{:?}", Bsp::new(&keys)).contains("472f"));
}

proptest::proptest! {
    #[test]
    fn open_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)) {
        let (_, mut euicc) = pair();
        let _ = euicc.open(&bytes);
    }

    #[test]
    fn round_trip_any(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2100),
                      mac_only: bool) {
        let (mut dp, mut euicc) = pair();
        let segs = if mac_only { dp.mac_only(0x88, &data) } else { dp.encrypt_and_mac(0x87, &data) }.unwrap();
        proptest::prop_assert_eq!(euicc.open_all(segs.iter().map(|s| &s[..])).unwrap(), data);
    }
}
