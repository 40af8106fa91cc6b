//! Network and USIM sides against each other (TS 33.102 §6.3): vector → USIM → RES/CK/IK,
//! replay → AUTS → resynchronisation → next SEQ accepted; MAC failures; bad lengths.

use aka::usim::{authenticate, SqnArray, SqnPolicy, UsimOutcome};
use aka::{
    generate_vector, next_seq, resynchronise, sqn_from_parts, AkaAlgorithm, AkaError, Milenage,
    MilenageConstants, TestAlgorithm,
};

const K: [u8; 16] = [
    0x46, 0x5b, 0x5c, 0xe8, 0xb1, 0x99, 0xb4, 0x9f, 0xaa, 0x5f, 0x0a, 0x2e, 0xe2, 0x38, 0xa6, 0xbc,
];
const OPC: [u8; 16] = [
    0xcd, 0x63, 0xcb, 0x71, 0x95, 0x4a, 0x9f, 0x4e, 0x48, 0xa5, 0x99, 0x4e, 0x37, 0xa0, 0x2b, 0xaf,
];
const AMF: [u8; 2] = [0x80, 0x00];

fn run_flow(alg: &dyn AkaAlgorithm) {
    let policy = SqnPolicy::default();
    let mut usim = SqnArray::new();
    let rand1 = [0x11u8; 16];
    let sqn1 = sqn_from_parts(1, 0).unwrap();
    let v = generate_vector(alg, &rand1, sqn1, &AMF).unwrap();
    let UsimOutcome::Success(keys) =
        authenticate(alg, &mut usim, &policy, &rand1, &v.autn).unwrap()
    else {
        panic!("first authentication must succeed")
    };
    assert_eq!(keys.res, v.xres);
    assert_eq!((keys.ck, keys.ik), (v.ck, v.ik));
    assert_eq!(keys.kc(), v.kc());

    // Replay: same SQN again → synchronisation failure with AUTS.
    let before = usim.clone();
    let UsimOutcome::SyncFailure { auts } =
        authenticate(alg, &mut usim, &policy, &rand1, &v.autn).unwrap()
    else {
        panic!("replay must fail SQN check")
    };
    assert_eq!(usim, before, "a rejected SQN leaves the array alone");
    let sqn_ms = resynchronise(alg, &rand1, &auts).unwrap();
    assert_eq!(sqn_ms, sqn1);

    // The HE continues with the next SEQ after SQN_MS.
    let rand2 = [0x22u8; 16];
    let v2 = generate_vector(alg, &rand2, next_seq(sqn_ms).unwrap(), &AMF).unwrap();
    assert!(matches!(
        authenticate(alg, &mut usim, &policy, &rand2, &v2.autn).unwrap(),
        UsimOutcome::Success(_)
    ));

    // Corrupted MAC → MAC failure, array untouched.
    let mut bad = v2.autn;
    bad[15] ^= 1;
    let before = usim.clone();
    assert_eq!(
        authenticate(alg, &mut usim, &policy, &rand2, &bad).unwrap(),
        UsimOutcome::MacFailure
    );
    assert_eq!(usim, before);

    // A tampered AUTS does not resynchronise.
    let mut bad_auts = auts;
    bad_auts[13] ^= 0x80;
    assert_eq!(resynchronise(alg, &rand1, &bad_auts), Err(AkaError::MacS));
}

#[test]
fn milenage_flow() {
    run_flow(&Milenage::new(&K, &OPC));
}

#[test]
fn test_algorithm_flow() {
    run_flow(&TestAlgorithm::new(&K));
}

#[test]
fn custom_constants_change_outputs_and_still_agree() {
    let mut c = MilenageConstants {
        r: [8, 16, 24, 40, 56],
        ..Default::default()
    };
    c.c[0][0] = 0x5a;
    let m = Milenage::new(&K, &OPC).with_constants(c);
    let d = Milenage::new(&K, &OPC);
    let rand = [7u8; 16];
    assert_ne!(m.f2345(&rand).res, d.f2345(&rand).res);
    assert_ne!(m.f1(&rand, &[0; 6], &AMF), d.f1(&rand, &[0; 6], &AMF));
    run_flow(&m);
}

#[test]
fn sqn_far_ahead_is_rejected_by_delta() {
    let alg = Milenage::new(&K, &OPC);
    let policy = SqnPolicy::default(); // Δ = 2^28
    let mut usim = SqnArray::new();
    let rand = [3u8; 16];
    let far = sqn_from_parts((1 << 28) + 1, 0).unwrap();
    let v = generate_vector(&alg, &rand, far, &AMF).unwrap();
    let UsimOutcome::SyncFailure { auts } =
        authenticate(&alg, &mut usim, &policy, &rand, &v.autn).unwrap()
    else {
        panic!("SEQ beyond Δ must be rejected")
    };
    assert_eq!(resynchronise(&alg, &rand, &auts), Ok(0));
    let ok = sqn_from_parts(1 << 28, 0).unwrap();
    let v = generate_vector(&alg, &rand, ok, &AMF).unwrap();
    assert!(matches!(
        authenticate(&alg, &mut usim, &policy, &rand, &v.autn).unwrap(),
        UsimOutcome::Success(_)
    ));
}

#[test]
fn bad_lengths_are_errors() {
    let alg = Milenage::new(&K, &OPC);
    let mut usim = SqnArray::new();
    assert!(matches!(
        authenticate(&alg, &mut usim, &SqnPolicy::default(), &[0; 16], &[0; 15]),
        Err(AkaError::Length { .. })
    ));
    assert!(matches!(
        resynchronise(&alg, &[0; 16], &[0; 13]),
        Err(AkaError::Length { .. })
    ));
    assert!(generate_vector(&alg, &[0; 16], 1 << 48, &AMF).is_err());
    assert!(Milenage::from_slices(&[0; 15], &[0; 16]).is_err());
    assert!(Milenage::from_slices(&[0; 16], &[0; 17]).is_err());
    assert!(TestAlgorithm::from_slice(&[0; 32]).is_err());
}

#[test]
fn debug_never_prints_keys() {
    let alg = Milenage::new(&K, &OPC);
    let v = generate_vector(&alg, &[1; 16], 33, &AMF).unwrap();
    let s = format!("{alg:?} {v:?} {:?}", alg.f2345(&[1; 16]));
    for secret in [&v.ck[..], &v.ik[..], &v.xres[..], &K[..], &OPC[..]] {
        assert!(!s.contains(&format!("{secret:?}")), "{s}");
    }
    assert!(s.contains("<redacted>"));
}
