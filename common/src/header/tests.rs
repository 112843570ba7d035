use proptest::prelude::*;

use super::*;

/// The daemon's own header test (TOS.md): one tip, no transactions, no VRF.
const EXAMPLE: &str = "00000000000000002d0000018f1cbd697000000000000000000eded85557e887b45989a727b6786e1bd250de65042d9381822fa73d01d2c4ff01d3a0154853dbb01dc28c9102e9d94bea355b8ee0d82c3e078ac80841445e86520000d67ad13934337b85c34985491c437386c95de0d97017131088724cfbedebdc5500";
const EXAMPLE_WORK_HASH: &str = "4b8bafa0959fab6d9bc47e1f00534478a7ee3a161751c3d82c492e391c0641ad";
const EXAMPLE_BLOCK_HASH: &str = "85426f3980c09efbf60000d162154d5fdc496fe6358e2844ccf4d5bf29e995f3";
const EXAMPLE_POW_HASH: &str = "2456a601368843841f249c9d1249a0601c6d2488771cfb7bfed3cff13e55e389";

fn example() -> BlockHeader {
    BlockHeader::from_hex(EXAMPLE).expect("the worked example parses")
}

fn example_bytes() -> Vec<u8> {
    hex::decode(EXAMPLE).expect("the worked example is hex")
}

fn hash_of(byte: u8) -> [u8; 32] {
    [byte; 32]
}

#[test]
fn worked_example_parses_and_reserializes() {
    let header = example();
    assert_eq!(header.version, 0);
    assert_eq!(header.height, 45);
    assert_eq!(header.timestamp, 0x0000_018f_1cbd_6970);
    assert_eq!(header.nonce, 0);
    assert_eq!(header.tips.len(), 1);
    assert!(header.txs_hashes.is_empty());
    assert_eq!(
        hex::encode(header.miner),
        "d67ad13934337b85c34985491c437386c95de0d97017131088724cfbedebdc55"
    );
    assert_eq!(header.vrf, None);
    assert_eq!(header.to_hex(), EXAMPLE);
    assert_eq!(header.to_bytes().len(), 93 + 32);
    let prefixed = BlockHeader::from_hex(&format!("0x{EXAMPLE}")).expect("0x is accepted");
    assert_eq!(prefixed, header);
}

#[test]
fn worked_example_hashes() {
    let header = example();
    assert_eq!(hex::encode(header.work_hash()), EXAMPLE_WORK_HASH);
    assert_eq!(hex::encode(header.block_hash()), EXAMPLE_BLOCK_HASH);
    assert_eq!(
        hex::encode(header.miner_work().block_hash()),
        EXAMPLE_BLOCK_HASH
    );
}

#[test]
fn worked_example_pow_hash() {
    assert_eq!(
        hex::encode(example().miner_work().pow_hash()),
        EXAMPLE_POW_HASH
    );
}

#[test]
fn work_hash_is_over_73_bytes() {
    let header = BlockHeader {
        version: 1,
        height: 0x0102_0304_0506_0708,
        tips: vec![hash_of(1), hash_of(2)],
        txs_hashes: vec![hash_of(3), hash_of(4), hash_of(5)],
        ..example()
    };
    let mut input = vec![1u8, 1, 2, 3, 4, 5, 6, 7, 8];
    input.extend_from_slice(blake3::hash(&[[1u8; 32], [2; 32]].concat()).as_bytes());
    input.extend_from_slice(blake3::hash(&[[3u8; 32], [4; 32], [5; 32]].concat()).as_bytes());
    assert_eq!(input.len(), 73);
    assert_eq!(header.work_hash(), *blake3::hash(&input).as_bytes());
}

#[test]
fn miner_work_layout_follows_the_header() {
    let header = example();
    let work = header.miner_work();
    let bytes = work.as_bytes();
    assert_eq!(hex::encode(&bytes[0..32]), EXAMPLE_WORK_HASH);
    assert_eq!(bytes[32..40], header.timestamp.to_be_bytes());
    assert_eq!(bytes[40..48], header.nonce.to_be_bytes());
    assert_eq!(bytes[48..80], header.extra_nonce);
    assert_eq!(bytes[80..112], header.miner);
    assert_eq!(work.timestamp(), header.timestamp);
    assert_eq!(work.extra_nonce(), header.extra_nonce);
    assert_eq!(work.miner(), header.miner);
}

#[test]
fn miner_work_hex_round_trip() {
    let work = example().miner_work();
    let text = work.to_hex();
    assert_eq!(text.len(), 224);
    assert_eq!(text, text.to_ascii_lowercase());
    assert_eq!(MinerWork::from_hex(&text), Ok(work));
    assert_eq!(MinerWork::from_hex(&format!("0x{text}")), Ok(work));
    assert_eq!(MinerWork::from_hex(&text.to_ascii_uppercase()), Ok(work));
    assert_eq!(MinerWork::from_bytes(work.as_bytes()), Ok(work));
    assert_eq!(MinerWork::from(*work.as_bytes()), work);
}

#[test]
fn miner_work_setters_touch_only_their_field() {
    let original = example().miner_work();
    let mut work = original;
    work.set_timestamp(0x1122_3344_5566_7788);
    work.set_nonce(u64::MAX - 1);
    work.set_extra_nonce(&hash_of(0xee));
    work.set_miner(&hash_of(0x77));
    assert_eq!(work.timestamp(), 0x1122_3344_5566_7788);
    assert_eq!(work.nonce(), u64::MAX - 1);
    assert_eq!(work.extra_nonce(), hash_of(0xee));
    assert_eq!(work.miner(), hash_of(0x77));
    assert_eq!(work.work_hash(), original.work_hash());
    assert_eq!(work.as_bytes()[40..48], (u64::MAX - 1).to_be_bytes());
    let rebuilt = MinerWork::new(
        &original.work_hash(),
        0x1122_3344_5566_7788,
        u64::MAX - 1,
        &hash_of(0xee),
        &hash_of(0x77),
    );
    assert_eq!(rebuilt, work);
}

#[test]
fn apply_miner_work_is_what_the_daemon_does() {
    let mut header = example();
    let mut work = header.miner_work();
    work.set_nonce(42);
    work.set_timestamp(header.timestamp + 1);
    work.set_extra_nonce(&hash_of(9));
    work.set_miner(&hash_of(8));
    assert_ne!(header.block_hash(), work.block_hash());
    header.apply_miner_work(&work);
    assert_eq!(header.nonce, 42);
    assert_eq!(header.miner, hash_of(8));
    assert_eq!(header.miner_work(), work);
    assert_eq!(header.block_hash(), work.block_hash());
    assert_eq!(header.tips, example().tips);
}

#[test]
fn miner_work_refuses_bad_input() {
    let bytes = *example().miner_work().as_bytes();
    assert_eq!(
        MinerWork::from_bytes(&bytes[..111]),
        Err(MinerWorkError::WrongLength { length: 111 })
    );
    assert_eq!(
        MinerWork::from_bytes(&[0; 113]),
        Err(MinerWorkError::WrongLength { length: 113 })
    );
    assert_eq!(
        MinerWork::from_hex("0xabcd"),
        Err(MinerWorkError::WrongHexLength { length: 4 })
    );
    let bad = format!("{}zz", "0".repeat(222));
    assert!(matches!(
        MinerWork::from_hex(&bad),
        Err(MinerWorkError::InvalidHex(_))
    ));
    let non_ascii = format!("{}é", "0".repeat(222));
    assert!(MinerWork::from_hex(&non_ascii).is_err());
}

#[test]
fn every_truncation_of_the_example_is_an_error() {
    let bytes = example_bytes();
    for length in 0..bytes.len() {
        match BlockHeader::from_bytes(&bytes[..length]) {
            Err(HeaderError::Truncated { .. }) => {}
            other => panic!("prefix of {length} bytes gave {other:?}"),
        }
    }
    for length in (0..EXAMPLE.len()).step_by(2) {
        assert!(BlockHeader::from_hex(&EXAMPLE[..length]).is_err());
    }
}

#[test]
fn truncation_error_names_the_field() {
    let bytes = example_bytes();
    assert_eq!(
        BlockHeader::from_bytes(&bytes[..60]),
        Err(HeaderError::Truncated {
            field: "tips",
            offset: 58,
            needed: 32,
            available: 2
        })
    );
}

#[test]
fn refuses_too_many_tips() {
    let mut bytes = example_bytes();
    bytes[57] = 4;
    assert_eq!(
        BlockHeader::from_bytes(&bytes),
        Err(HeaderError::TooManyTips { count: 4 })
    );
}

#[test]
fn refuses_a_bad_vrf_flag_and_trailing_bytes() {
    let mut bytes = example_bytes();
    let last = bytes.len() - 1;
    bytes[last] = 2;
    assert_eq!(
        BlockHeader::from_bytes(&bytes),
        Err(HeaderError::InvalidVrfFlag(2))
    );
    let mut longer = example_bytes();
    longer.extend_from_slice(&[0, 0, 0]);
    assert_eq!(
        BlockHeader::from_bytes(&longer),
        Err(HeaderError::TrailingBytes { count: 3 })
    );
}

#[test]
fn refuses_bad_hex() {
    assert!(matches!(
        BlockHeader::from_hex(&EXAMPLE[..EXAMPLE.len() - 1]),
        Err(HeaderError::InvalidHex(_))
    ));
    let bad = EXAMPLE.replacen('0', "g", 1);
    assert!(matches!(
        BlockHeader::from_hex(&bad),
        Err(HeaderError::InvalidHex(_))
    ));
}

#[test]
fn header_with_vrf_round_trips() {
    let mut vrf = Box::new([0u8; VRF_LENGTH]);
    vrf.iter_mut()
        .enumerate()
        .for_each(|(index, byte)| *byte = index as u8);
    let header = BlockHeader {
        vrf: Some(vrf),
        ..example()
    };
    let bytes = header.to_bytes();
    assert_eq!(bytes.len(), 125 + VRF_LENGTH);
    assert_eq!(bytes[124], 1, "the vrf flag follows the miner key");
    assert_eq!(BlockHeader::from_bytes(&bytes), Ok(header.clone()));
    assert_eq!(header.block_hash(), example().block_hash());
    assert!(matches!(
        BlockHeader::from_bytes(&bytes[..bytes.len() - 1]),
        Err(HeaderError::Truncated {
            field: "vrf data",
            ..
        })
    ));
}

#[test]
fn hand_built_header_past_the_limits_is_capped() {
    let header = BlockHeader {
        tips: vec![hash_of(1), hash_of(2), hash_of(3), hash_of(4)],
        ..example()
    };
    let read = BlockHeader::from_bytes(&header.to_bytes()).expect("capped header is valid");
    assert_eq!(read.tips, header.tips[..MAX_TIPS]);
}

fn arbitrary_header() -> impl Strategy<Value = BlockHeader> {
    (
        any::<(u8, u64, u64, u64, [u8; 32], [u8; 32])>(),
        proptest::collection::vec(any::<[u8; 32]>(), 0..=MAX_TIPS),
        proptest::collection::vec(any::<[u8; 32]>(), 0..20),
        proptest::option::of(any::<u8>()),
    )
        .prop_map(
            |((version, height, timestamp, nonce, extra_nonce, miner), tips, txs, vrf)| {
                BlockHeader {
                    version,
                    height,
                    timestamp,
                    nonce,
                    extra_nonce,
                    tips,
                    txs_hashes: txs,
                    miner,
                    vrf: vrf.map(|byte| Box::new([byte; VRF_LENGTH])),
                }
            },
        )
}

proptest! {
    #[test]
    fn any_header_round_trips(header in arbitrary_header()) {
        let bytes = header.to_bytes();
        prop_assert_eq!(
            bytes.len(),
            93 + 32 * (header.tips.len() + header.txs_hashes.len())
                + header.vrf.as_ref().map_or(0, |_| VRF_LENGTH)
        );
        prop_assert_eq!(BlockHeader::from_hex(&header.to_hex()), Ok(header.clone()));
        let work = header.miner_work();
        let mut applied = BlockHeader { nonce: 0, timestamp: 0, ..header.clone() };
        applied.apply_miner_work(&work);
        prop_assert_eq!(applied, header);
    }

    #[test]
    fn any_bytes_give_a_header_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(header) = BlockHeader::from_bytes(&bytes) {
            prop_assert_eq!(header.to_bytes(), bytes);
        }
    }

    #[test]
    fn any_text_gives_miner_work_or_an_error(text in "(0x)?[0-9a-fA-Fg-z]{0,230}") {
        if let Ok(work) = MinerWork::from_hex(&text) {
            prop_assert_eq!(work.to_hex(), text.trim_start_matches("0x").to_ascii_lowercase());
        }
    }
}
