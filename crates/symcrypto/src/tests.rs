use super::*;
use proptest::prelude::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// NIST SP 800-38A Appendix F.2 plaintext (all AES CBC examples).
const SP800_38A_PLAIN: &str = "6bc1bee22e409f96e93d7e117393172a ae2d8a571e03ac9c9eb76fac45af8e51 \
                               30c81c46a35ce411e5fbc1191a0a52ef f69f2445df4f9b17ad2b417be66c3710";
const SP800_38A_IV: &str = "000102030405060708090a0b0c0d0e0f";

fn cbc_kat(alg: Algorithm, key: &str, iv: &str, plain: &str, cipher: &str) {
    let (key, iv, plain, cipher) = (h(key), h(iv), h(plain), h(cipher));
    let mut data = plain.clone();
    cbc_encrypt(alg, &key, &iv, &mut data).unwrap();
    assert_eq!(hex::encode(&data), hex::encode(&cipher));
    cbc_decrypt(alg, &key, &iv, &mut data).unwrap();
    assert_eq!(data, plain);
}

#[test]
fn aes_cbc_sp800_38a() {
    // NIST SP 800-38A F.2.1 CBC-AES128.Encrypt and F.2.2 CBC-AES128.Decrypt.
    cbc_kat(
        Algorithm::Aes,
        "2b7e151628aed2a6abf7158809cf4f3c",
        SP800_38A_IV,
        SP800_38A_PLAIN,
        "7649abac8119b246cee98e9b12e9197d 5086cb9b507219ee95db113a917678b2 \
         73bed6b8e3c1743b7116e69e22229516 3ff1caa1681fac09120eca307586e1a7",
    );
    // F.2.3 / F.2.4 CBC-AES192.
    cbc_kat(
        Algorithm::Aes,
        "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
        SP800_38A_IV,
        SP800_38A_PLAIN,
        "4f021db243bc633d7178183a9fa071e8 b4d9ada9ad7dedf4e5e738763f69145a \
         571b242012fb7ae07fa9baac3df102e0 08b0e27988598881d920a9e64f5615cd",
    );
    // F.2.5 / F.2.6 CBC-AES256.
    cbc_kat(
        Algorithm::Aes,
        "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        SP800_38A_IV,
        SP800_38A_PLAIN,
        "f58c4c04d6e5f1ba779eabfb5f7bfbd6 9cfc4e967edb808d679f777bc6702c7d \
         39f23369a9d9bacfa530e26304231461 b2eb05e2c39be9fcda6c19078c6a9d1b",
    );
}

/// NIST CSRC "Examples with Intermediate Values", TDES_CBC.pdf (TDEA CBC, SP 800-67 keying
/// options 1 and 2): key bundle, IV and the SP 800-38A plaintext's first 32 octets.
const TDES_KEY3: &str = "0123456789abcdef 23456789abcdef01 456789abcdef0123";
const TDES_KEY2: &str = "0123456789abcdef 23456789abcdef01";
const TDES_IV: &str = "f69f2445df4f9b17";
const TDES_PLAIN: &str = "6bc1bee22e409f96 e93d7e117393172a ae2d8a571e03ac9c 9eb76fac45af8e51";
const TDES3_CIPHER: &str = "2079c3d53aa763e1 93b79e2569ab5262 516570481f25b50f 73c0bda85c8e0da7";
const TDES2_CIPHER: &str = "7401ce1eab6d003c aff84bf47b36cc21 54f0238f9ffecd8f 6acf118392b45581";

#[test]
fn tdes_cbc_nist_examples() {
    cbc_kat(
        Algorithm::Tdes3,
        TDES_KEY3,
        TDES_IV,
        TDES_PLAIN,
        TDES3_CIPHER,
    );
    cbc_kat(
        Algorithm::Tdes2,
        TDES_KEY2,
        TDES_IV,
        TDES_PLAIN,
        TDES2_CIPHER,
    );
}

#[test]
fn des_cbc_fips81() {
    // FIPS PUB 81 Appendix C, Table C1 (CBC mode): "Now is the time for all ".
    cbc_kat(
        Algorithm::Des,
        "0123456789abcdef",
        "1234567890abcdef",
        "4e6f772069732074 68652074696d6520 666f7220616c6c20",
        "e5c7cdde872bf27c 43e934008c389c0f 683788499a7c05f6",
    );
}

#[test]
fn ecb_is_cbc_with_zero_icv_per_block() {
    // SP 800-38A F.1.1 ECB-AES128.Encrypt, block #1.
    let c = BlockCipher::new(Algorithm::Aes, &h("2b7e151628aed2a6abf7158809cf4f3c")).unwrap();
    let mut b = h("6bc1bee22e409f96e93d7e117393172a");
    c.ecb_encrypt(&mut b).unwrap();
    assert_eq!(hex::encode(&b), "3ad77bb40d7a3660a89ecaf32466ef97");
    c.ecb_decrypt(&mut b).unwrap();
    assert_eq!(hex::encode(&b), "6bc1bee22e409f96e93d7e117393172a");
}

const RFC4493_KEY: &str = "2b7e151628aed2a6abf7158809cf4f3c";

#[test]
fn aes_cmac_rfc4493() {
    // RFC 4493 §4 (= NIST SP 800-38B Appendix D.1), examples 1-4.
    let key = h(RFC4493_KEY);
    let m = h(SP800_38A_PLAIN);
    let cases: [(&[u8], &str); 4] = [
        (&[], "bb1d6929e95937287fa37d129b756746"),
        (&m[..16], "070a16b46b4d4144f79bdd9dd04a287c"),
        (&m[..40], "dfa66747de9ae63030ca32611497c827"),
        (&m[..], "51f0bebf7e3b9d92fc49741779363cfe"),
    ];
    for (msg, tag) in cases {
        assert_eq!(hex::encode(aes_cmac(&key, &[msg]).unwrap()), tag);
        let k16: [u8; 16] = key.clone().try_into().unwrap();
        assert_eq!(hex::encode(aes128_cmac(&k16, &[msg])), tag);
    }
    // The same 40-octet message split into several slices.
    let parts: [&[u8]; 4] = [&m[..3], &[], &m[3..21], &m[21..40]];
    assert_eq!(
        hex::encode(aes_cmac(&key, &parts).unwrap()),
        "dfa66747de9ae63030ca32611497c827"
    );
}

#[test]
fn aes_cmac_sp800_38b_192_256() {
    // NIST SP 800-38B Appendix D.2 (AES-192) and D.3 (AES-256), empty and 64-octet messages.
    let m = h(SP800_38A_PLAIN);
    let k192 = h("8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b");
    let k256 = h("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4");
    assert_eq!(
        hex::encode(aes_cmac(&k192, &[]).unwrap()),
        "d17ddf46adaacde531cac483de7a9367"
    );
    assert_eq!(
        hex::encode(aes_cmac(&k192, &[&m]).unwrap()),
        "a1d5df0eed790f794d77589659f39a11"
    );
    assert_eq!(
        hex::encode(aes_cmac(&k256, &[]).unwrap()),
        "028962f61b7bf89efc6b551f4667d983"
    );
    assert_eq!(
        hex::encode(aes_cmac(&k256, &[&m]).unwrap()),
        "e1992190549f6ed5696a2c056c315410"
    );
}

const NOW_ALL: &[u8] = b"Now is the time for all ";
const NOW_IT: &[u8] = b"Now is the time for it";

#[test]
fn mac_algorithm1_published() {
    // ISO/IEC 9797-1 Annex B / ANSI X9.9: DES, K = 0123456789ABCDEF, padding method 1.
    let mac = mac_algorithm1(
        Algorithm::Des,
        &h("0123456789abcdef"),
        &[0; 8],
        NOW_ALL,
        Padding::Method1,
    )
    .unwrap();
    assert_eq!(hex::encode(mac), "70a30640cc76dd8b");
    // 3DES CBC-MAC = last block of the NIST TDES_CBC.pdf ciphertexts (ICV = the example IV;
    // the 32 octets need no method-1 padding).
    for (alg, key, cipher) in [
        (Algorithm::Tdes2, TDES_KEY2, TDES2_CIPHER),
        (Algorithm::Tdes3, TDES_KEY3, TDES3_CIPHER),
    ] {
        let mac =
            mac_algorithm1(alg, &h(key), &h(TDES_IV), &h(TDES_PLAIN), Padding::Method1).unwrap();
        assert_eq!(hex::encode(mac), cipher.replace(' ', "")[48..]);
    }
}

#[test]
fn retail_mac_iso9797_b4() {
    // ISO/IEC 9797-1:2011 Annex B.4 (MAC algorithm 3, padding method 1):
    // K = 0123456789ABCDEF, K' = FEDCBA9876543210.
    let key = h("0123456789abcdef fedcba9876543210");
    let mac = retail_mac(&key, &[0; 8], NOW_ALL, Padding::Method1).unwrap();
    assert_eq!(hex::encode(mac), "a1c72e74ea3fa9b6");
    let mac = retail_mac(&key, &[0; 8], NOW_IT, Padding::Method1).unwrap();
    assert_eq!(hex::encode(mac), "2e2b1428cc78254f");
    // Method 2 is method 1 over the explicitly '80'-padded string.
    let mut padded = NOW_IT.to_vec();
    padded.extend_from_slice(&[0x80, 0]);
    assert_eq!(
        retail_mac(&key, &[0; 8], NOW_IT, Padding::Method2).unwrap(),
        retail_mac(&key, &[0; 8], &padded, Padding::Method1).unwrap()
    );
}

#[test]
fn padding_methods() {
    assert_eq!(pad(&[], 8, Padding::Method2), [0x80, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(pad(&[1; 8], 8, Padding::Method2).len(), 16);
    assert_eq!(pad(&[1; 15], 16, Padding::Method2).len(), 16);
    assert_eq!(pad(&[], 8, Padding::Method1), [0; 8]);
    assert_eq!(pad(&[1; 8], 8, Padding::Method1), [1; 8]);
    assert_eq!(pad(&[1; 9], 8, Padding::Method1).len(), 16);
    assert_eq!(pad(&[1], 0, Padding::Method2), [1, 0x80]);
    assert_eq!(
        unpad_method2(&pad(&[1, 2, 3], 16, Padding::Method2), 16),
        Ok(&[1u8, 2, 3][..])
    );
    assert_eq!(unpad_method2(&[1, 2, 0, 0], 8), Err(Error::BadPadding));
    assert_eq!(unpad_method2(&[0; 16], 16), Err(Error::BadPadding));
    assert_eq!(unpad_method2(&[], 16), Err(Error::BadPadding));
    // The '80' must sit in the last block.
    let mut long = vec![0x80];
    long.resize(9, 0);
    assert_eq!(unpad_method2(&long, 8), Err(Error::BadPadding));
    assert_eq!(unpad_method2(&long, 16), Ok(&[][..]));
}

#[test]
fn bad_lengths_are_errors() {
    assert_eq!(aes_cmac(&[0; 15], &[]), Err(Error::BadKey(AES_KEY)));
    assert!(BlockCipher::new(Algorithm::Aes, &[0; 8]).is_err());
    assert!(BlockCipher::new(Algorithm::Des, &[0; 16]).is_err());
    assert!(BlockCipher::new(Algorithm::Tdes2, &[0; 24]).is_err());
    assert!(BlockCipher::new(Algorithm::Tdes3, &[0; 16]).is_err());
    assert_eq!(
        cbc_encrypt(Algorithm::Aes, &[0; 16], &[0; 16], &mut [0; 15]),
        Err(Error::NotWholeBlocks(16))
    );
    assert_eq!(
        cbc_decrypt(Algorithm::Tdes2, &[0; 16], &[0; 16], &mut [0; 8]),
        Err(Error::BadIcv(8))
    );
    let c = BlockCipher::new(Algorithm::Des, &[0; 8]).unwrap();
    assert_eq!(c.ecb_encrypt(&mut [0; 7]), Err(Error::NotWholeBlocks(8)));
    assert!(retail_mac(&[0; 8], &[0; 8], &[], Padding::Method2).is_err());
    assert!(retail_mac(&[0; 16], &[0; 16], &[], Padding::Method2).is_err());
    assert!(mac_algorithm1(Algorithm::Tdes2, &[0; 16], &[0; 7], &[], Padding::Method1).is_err());
    assert!(!format!("{c:?}").contains('0'));
}

#[test]
fn constant_time_equality() {
    assert!(ct_eq(&[], &[]));
    assert!(ct_eq(&[1, 2, 3], &[1, 2, 3]));
    assert!(!ct_eq(&[1, 2, 3], &[1, 2, 4]));
    assert!(!ct_eq(&[1, 2], &[1, 2, 3]));
}

fn algorithms() -> impl Strategy<Value = (Algorithm, Vec<u8>)> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 16).prop_map(|k| (Algorithm::Aes, k)),
        proptest::collection::vec(any::<u8>(), 24).prop_map(|k| (Algorithm::Aes, k)),
        proptest::collection::vec(any::<u8>(), 32).prop_map(|k| (Algorithm::Aes, k)),
        proptest::collection::vec(any::<u8>(), 8).prop_map(|k| (Algorithm::Des, k)),
        proptest::collection::vec(any::<u8>(), 16).prop_map(|k| (Algorithm::Tdes2, k)),
        proptest::collection::vec(any::<u8>(), 24).prop_map(|k| (Algorithm::Tdes3, k)),
    ]
}

proptest! {
    #[test]
    fn cbc_round_trip((alg, key) in algorithms(), icv_seed in any::<u8>(), data in proptest::collection::vec(any::<u8>(), 0..80)) {
        let bs = alg.block_size();
        let icv = vec![icv_seed; bs];
        let padded = pad(&data, bs, Padding::Method2);
        let mut buf = padded.clone();
        cbc_encrypt(alg, &key, &icv, &mut buf).unwrap();
        cbc_decrypt(alg, &key, &icv, &mut buf).unwrap();
        prop_assert_eq!(&buf, &padded);
        prop_assert_eq!(unpad_method2(&buf, bs).unwrap(), &data[..]);
    }

    #[test]
    fn no_panics_on_any_lengths(key in proptest::collection::vec(any::<u8>(), 0..40), icv in proptest::collection::vec(any::<u8>(), 0..20), mut data in proptest::collection::vec(any::<u8>(), 0..40)) {
        for alg in [Algorithm::Aes, Algorithm::Des, Algorithm::Tdes2, Algorithm::Tdes3] {
            let _ = cbc_encrypt(alg, &key, &icv, &mut data);
            let _ = cbc_decrypt(alg, &key, &icv, &mut data);
            let _ = mac_algorithm1(alg, &key, &icv, &data, Padding::Method1);
        }
        let _ = retail_mac(&key, &icv, &data, Padding::Method2);
        let _ = aes_cmac(&key, &[&data]);
        let _ = unpad_method2(&data, 8);
    }
}
