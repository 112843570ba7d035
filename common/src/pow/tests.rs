//! TOS.md's vectors through every implementation, and the fast stages checked
//! against the reference ones.

use proptest::prelude::*;

use super::{Hasher, SCRATCHPAD_WORDS, hash, hasher, reference};

/// TOS.md's worked example: a BlockHeader template and what it yields.
const HEADER_HEX: &str = "00000000000000002d0000018f1cbd697000000000000000000eded85557e887b45989a727b6786e1bd250de65042d9381822fa73d01d2c4ff01d3a0154853dbb01dc28c9102e9d94bea355b8ee0d82c3e078ac80841445e86520000d67ad13934337b85c34985491c437386c95de0d97017131088724cfbedebdc5500";
const WORK_HASH_HEX: &str = "4b8bafa0959fab6d9bc47e1f00534478a7ee3a161751c3d82c492e391c0641ad";
const BLOCK_HASH_HEX: &str = "85426f3980c09efbf60000d162154d5fdc496fe6358e2844ccf4d5bf29e995f3";

/// The four test vectors of TOS.md: input and expected hash.
fn vectors() -> Vec<(Vec<u8>, &'static str)> {
    let mut byte0_one = vec![0u8; 112];
    byte0_one[0] = 1;
    vec![
        (
            vec![0u8; 112],
            "b9685f2eaa611ecf95862c8b2fd9376db7891f01d62dff24bc3fdb60d6906c02",
        ),
        (
            byte0_one,
            "9df8dd8b862ee5d7bd92afcc9f71efd859a1fa885181c1d61c177d124fbf7936",
        ),
        (
            b"test input for tos hash v3".to_vec(),
            "3657e1aed85be845d7924e9ad88041a9d821c1425450374406e89f84ea5d24c3",
        ),
        (
            worked_example_miner_work().to_vec(),
            "2456a601368843841f249c9d1249a0601c6d2488771cfb7bfed3cff13e55e389",
        ),
    ]
}

/// Takes `len` bytes off the front of `rest`.
fn take<'a>(rest: &mut &'a [u8], len: usize) -> &'a [u8] {
    let (head, tail) = rest.split_at(len);
    *rest = tail;
    head
}

/// Builds the 112-byte MinerWork of the worked example from its header bytes,
/// laid out as TOS.md's BlockHeader and MinerWork tables say.
fn worked_example_miner_work() -> [u8; 112] {
    let header = hex::decode(HEADER_HEX).expect("the example header is hex");
    let mut rest = header.as_slice();
    let version = take(&mut rest, 1);
    let height = take(&mut rest, 8);
    let timestamp = take(&mut rest, 8);
    let nonce = take(&mut rest, 8);
    let extra_nonce = take(&mut rest, 32);
    let tips_count = usize::from(take(&mut rest, 1)[0]);
    let tips = take(&mut rest, 32 * tips_count);
    let txs_count = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
    take(&mut rest, 2);
    let txs = take(&mut rest, 32 * txs_count);
    let miner = take(&mut rest, 32);
    assert_eq!(rest, [0u8], "only the VRF flag (0) is left");

    let mut work_input = Vec::new();
    work_input.extend_from_slice(version);
    work_input.extend_from_slice(height);
    work_input.extend_from_slice(blake3::hash(tips).as_bytes());
    work_input.extend_from_slice(blake3::hash(txs).as_bytes());
    assert_eq!(work_input.len(), 73);
    let work_hash = blake3::hash(&work_input);
    assert_eq!(hex::encode(work_hash.as_bytes()), WORK_HASH_HEX);

    let mut work = Vec::with_capacity(112);
    for field in [
        work_hash.as_bytes().as_slice(),
        timestamp,
        nonce,
        extra_nonce,
        miner,
    ] {
        work.extend_from_slice(field);
    }
    work.try_into()
        .expect("the MinerWork fields add up to 112 bytes")
}

#[test]
fn worked_example_miner_work_has_the_block_hash() {
    let work = worked_example_miner_work();
    assert_eq!(hex::encode(blake3::hash(&work).as_bytes()), BLOCK_HASH_HEX);
}

#[test]
fn reference_matches_the_vectors() {
    for (input, expected) in vectors() {
        assert_eq!(
            hex::encode(reference::hash(&input)),
            expected,
            "input {input:02x?}"
        );
    }
}

#[test]
fn hash_matches_the_vectors() {
    for (input, expected) in vectors() {
        assert_eq!(hex::encode(hash(&input)), expected, "input {input:02x?}");
    }
}

#[test]
fn one_hasher_reused_matches_the_vectors() {
    let mut hasher = Hasher::new();
    for _ in 0..2 {
        for (input, expected) in vectors() {
            assert_eq!(
                hex::encode(hasher.hash(&input)),
                expected,
                "input {input:02x?}"
            );
        }
    }
}

/// The pad after the reference's stage 1 for `input`.
fn reference_seeded(input: &[u8]) -> Vec<u64> {
    let mut pad = vec![0u64; SCRATCHPAD_WORDS];
    reference::seed(input, &mut pad);
    pad
}

fn as_array(pad: Vec<u64>) -> Box<[u64; SCRATCHPAD_WORDS]> {
    pad.into_boxed_slice()
        .try_into()
        .expect("the pad has SCRATCHPAD_WORDS words")
}

/// The claim the fast stage 2 rests on: `prev ^ carry` is always 0, so the
/// four passes are one element-wise map.
#[test]
fn stage2_passes_are_an_element_wise_map() {
    for (input, _) in vectors() {
        let mut sequential = reference_seeded(&input);
        reference::passes(&mut sequential);
        let mapped: Vec<u64> = reference_seeded(&input)
            .into_iter()
            .map(hasher::passes_word)
            .collect();
        assert_eq!(sequential, mapped, "input {input:02x?}");
    }
}

#[test]
fn fused_stages_1_and_2_match_the_reference() {
    for (input, _) in vectors() {
        let mut expected = reference_seeded(&input);
        reference::passes(&mut expected);
        let mut fast = as_array(vec![u64::MAX; SCRATCHPAD_WORDS]);
        hasher::seed_and_pass(&input, &mut fast);
        assert_eq!(expected.as_slice(), fast.as_slice(), "input {input:02x?}");
    }
}

#[test]
fn split_stage3_rounds_match_the_reference() {
    for (input, _) in vectors() {
        let mut expected = reference_seeded(&input);
        let mut fast = as_array(expected.clone());
        reference::rounds(&mut expected);
        hasher::rounds(&mut fast);
        assert_eq!(expected.as_slice(), fast.as_slice(), "input {input:02x?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn fast_hash_equals_reference(input in proptest::collection::vec(any::<u8>(), 0..300)) {
        prop_assert_eq!(hash(&input), reference::hash(&input));
    }
}
