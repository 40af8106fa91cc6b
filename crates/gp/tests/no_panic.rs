//! Decoders and the card-side unwrapping never panic on arbitrary input.

mod common;

use apdu::Command;
use common::{h, CountingRng};
use gp::commands::*;
use gp::*;
use proptest::prelude::*;

fn card_session(level: SecurityLevel, i: u8) -> Session {
    let keys = KeySet::aes(0x30, &[1; 16], &[2; 16], &[3; 16]).unwrap();
    let mut rng = CountingRng(1);
    let config = CardConfig {
        aid: h("A000000151000000"),
        kdd: [0; 10],
        scp: Scp::scp03(i).unwrap(),
    };
    let mut counter = SequenceCounter::scp03(0).unwrap();
    let hs = HostHandshake::random(keys.clone(), i & 1 != 0, &mut rng).unwrap();
    let req = InitializeUpdate::parse(&hs.initialize_update()).unwrap();
    let (card, iu) =
        CardHandshake::initialize_update(&req, &keys, &mut counter, &config, &mut rng).unwrap();
    let (_, ext, _) = hs.authenticate(&iu, level).unwrap();
    card.external_authenticate(&ext, &mut counter).unwrap().0
}

proptest! {
    #[test]
    fn decoders_do_not_panic(data in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = InitUpdateResponse::parse(&data);
        let _ = PutKeyData::parse(&data);
        let _ = InstallParameters::parse(&data);
        let _ = parse_status_tlv(&data);
        let _ = parse_status_legacy(StatusSubset::Applications, &data);
        let _ = parse_status_legacy(StatusSubset::LoadFilesAndModules, &data);
        let _ = parse_key_information(&data);
        if let Ok(cmd) = Command::parse(&data) {
            let _ = Install::parse(&cmd);
            let _ = Delete::parse(&cmd);
            let _ = GetStatus::parse(&cmd);
            let _ = SetStatus::parse(&cmd);
            let _ = InitializeUpdate::parse(&cmd);
            let _ = LoadAssembler::new().push(&cmd);
        }
    }

    #[test]
    fn card_unwrap_does_not_panic(cla in any::<u8>(), data in proptest::collection::vec(any::<u8>(), 0..64)) {
        for (level, i) in [
            (SecurityLevel::C_DEC_R_ENC_C_MAC_R_MAC, 0x70),
            (SecurityLevel::C_DEC_C_MAC, 0x71),
        ] {
            let mut s = card_session(level, i);
            let cmd = Command::with_data(cla | 0x04, 0xE2, 0x91, 0x00, data.clone());
            prop_assert!(s.unwrap_command(&cmd).is_err());
            prop_assert!(s.is_closed());
        }
    }
}
