//! Known-answer tests for ECKA and ECDSA on both curves.

use pki::{der_to_plain, plain_to_der, Curve, PkiError, PrivateKey, PublicKey};
use rand_core::UnwrapErr;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn rng() -> UnwrapErr<getrandom::SysRng> {
    UnwrapErr(getrandom::SysRng)
}

/// ECDH on P-256: RFC 5903 §8.1 (256-bit Random ECP Group), i / g^r / g^ir x-coordinate.
#[test]
fn ecka_p256_rfc5903() {
    let i = PrivateKey::from_scalar(
        Curve::NistP256,
        &h("C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433"),
    )
    .unwrap();
    let gi = h(
        "04DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180\
                5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3",
    );
    assert_eq!(i.public_key().to_uncompressed(), gi);
    let r = PrivateKey::from_scalar(
        Curve::NistP256,
        &h("C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53"),
    )
    .unwrap();
    let gr = PublicKey::from_sec1(
        Curve::NistP256,
        &h(
            "04D12DFB5289C8D4F81208B70270398C342296970A0BCCB74C736FC7554494BF63\
            56FBF3CA366CC23E8157854C13C58D6AAC23F046ADA30F8353E74F33039872AB",
        ),
    )
    .unwrap();
    let expected = h("D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE");
    assert_eq!(&i.ecka(&gr).unwrap()[..], &expected[..]);
    assert_eq!(&r.ecka(&i.public_key()).unwrap()[..], &expected[..]);
}

/// ECDH on brainpoolP256r1: RFC 7027 Appendix A.1 (dA, dB, x_Z).
#[test]
fn ecka_brainpool_rfc7027() {
    let a = PrivateKey::from_scalar(
        Curve::BrainpoolP256r1,
        &h("81DB1EE100150FF2EA338D708271BE38300CB54241D79950F77B063039804F1D"),
    )
    .unwrap();
    assert_eq!(
        a.public_key().to_uncompressed(),
        h(
            "0444106E913F92BC02A1705D9953A8414DB95E1AAA49E81D9E85F929A8E3100BE5\
           8AB4846F11CACCB73CE49CBDD120F5A900A69FD32C272223F789EF10EB089BDC"
        )
    );
    let q_b = PublicKey::from_sec1(
        Curve::BrainpoolP256r1,
        &h(
            "048D2D688C6CF93E1160AD04CC4429117DC2C41825E1E9FCA0ADDD34E6F1B39F7B\
            990C57520812BE512641E47034832106BC7D3E8DD0E4C7F1136D7006547CEC6A",
        ),
    )
    .unwrap();
    let b = PrivateKey::from_scalar(
        Curve::BrainpoolP256r1,
        &h("55E40BC41E37E3E2AD25C3C6654511FFA8474A91A0032087593852D3E7D76BD3"),
    )
    .unwrap();
    assert_eq!(b.public_key(), q_b);
    let x_z = h("89AFC39D41D3B327814B80940B042590F96556EC91E6AE7939BCE31F3A18BF2B");
    assert_eq!(&a.ecka(&q_b).unwrap()[..], &x_z[..]);
    assert_eq!(&b.ecka(&a.public_key()).unwrap()[..], &x_z[..]);
}

#[test]
fn rejects_invalid_points() {
    // RFC 7027 Q_B with the last byte changed: off the curve.
    let mut p = h(
        "048D2D688C6CF93E1160AD04CC4429117DC2C41825E1E9FCA0ADDD34E6F1B39F7B\
                   990C57520812BE512641E47034832106BC7D3E8DD0E4C7F1136D7006547CEC6B",
    );
    assert_eq!(
        PublicKey::from_sec1(Curve::BrainpoolP256r1, &p),
        Err(PkiError::InvalidPoint)
    );
    // A valid brainpool point is (almost surely) not on P-256.
    p[64] = 0x6A;
    assert!(PublicKey::from_sec1(Curve::BrainpoolP256r1, &p).is_ok());
    assert_eq!(
        PublicKey::from_sec1(Curve::NistP256, &p),
        Err(PkiError::InvalidPoint)
    );
    // Compressed, truncated, empty, all-zero.
    assert!(PublicKey::from_sec1(Curve::NistP256, &p[..33]).is_err());
    assert!(PublicKey::from_sec1(Curve::NistP256, &p[..64]).is_err());
    assert!(PublicKey::from_sec1(Curve::NistP256, &[]).is_err());
    assert!(PublicKey::from_sec1(Curve::NistP256, &[0u8; 65]).is_err());
    let mut zero = [0u8; 65];
    zero[0] = 4;
    assert!(PublicKey::from_sec1(Curve::NistP256, &zero).is_err());
    // Scalars: zero and >= n are invalid.
    assert_eq!(
        PrivateKey::from_scalar(Curve::NistP256, &[0u8; 32]).err(),
        Some(PkiError::InvalidKey)
    );
    assert_eq!(
        PrivateKey::from_scalar(Curve::BrainpoolP256r1, &[0xFF; 32]).err(),
        Some(PkiError::InvalidKey)
    );
    assert!(PrivateKey::from_scalar(Curve::NistP256, &[1u8; 31]).is_err());
}

#[test]
fn sign_verify_round_trip_both_curves() {
    for curve in Curve::ALL {
        let k = PrivateKey::generate(curve, &mut rng());
        let pk = k.public_key();
        assert_eq!(pk.curve(), curve);
        assert_eq!(pk.to_uncompressed().len(), 65);
        let msg = b"serverSigned1";
        let sig = k.sign(msg);
        pk.verify(msg, &sig).unwrap();
        // RFC 6979: deterministic.
        assert_eq!(k.sign(msg), sig);
        assert_eq!(
            pk.verify(b"serverSigned2", &sig),
            Err(PkiError::BadSignature)
        );
        let mut bad = sig;
        bad[5] ^= 1;
        assert_eq!(pk.verify(msg, &bad), Err(PkiError::BadSignature));
        assert!(pk.verify(msg, &sig[..63]).is_err());
        assert!(pk.verify(msg, &[0u8; 64]).is_err());
        // DER form and conversions.
        let der = k.sign_der(msg);
        pk.verify_der(msg, &der).unwrap();
        assert_eq!(der_to_plain(&der).unwrap(), sig);
        assert_eq!(plain_to_der(&sig).unwrap(), der);
        // Another key does not verify.
        let other = PrivateKey::generate(curve, &mut rng()).public_key();
        assert!(other.verify(msg, &sig).is_err());
        // SPKI round trip.
        assert_eq!(PublicKey::from_spki_der(&pk.to_spki_der()).unwrap(), pk);
        // ECKA agreement between two generated keys.
        let k2 = PrivateKey::generate(curve, &mut rng());
        assert_eq!(*k.ecka(&k2.public_key()).unwrap(), *k2.ecka(&pk).unwrap());
    }
}

/// RFC 6979 §A.2.5 (P-256, SHA-256, message "sample"): the deterministic signature is fixed.
#[test]
fn ecdsa_p256_rfc6979_known_answer() {
    let k = PrivateKey::from_scalar(
        Curve::NistP256,
        &h("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721"),
    )
    .unwrap();
    let expected = h(
        "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716\
                      F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8",
    );
    assert_eq!(k.sign(b"sample").to_vec(), expected);
    // Ux / Uy from the same annex.
    assert_eq!(
        k.public_key().to_uncompressed(),
        h(
            "0460FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6\
           7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299"
        )
    );
}

#[test]
fn debug_does_not_leak_scalar() {
    let k = PrivateKey::from_scalar(
        Curve::NistP256,
        &h("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721"),
    )
    .unwrap();
    let s = format!("{k:?}");
    assert!(!s.to_lowercase().contains("c9afa9d8"));
}
