use super::*;

const MAINNET_ADDRESS: &str = "tos1qsl6sj2u0gp37tr6drrq964rd4d8gnaxnezgytmt0cfltnp2wsgqqak28je";
const DEVNET_ADDRESS: &str = "tst13jfypdzk48ndcewrw7ssfrt5t722prxm0azvhntmgme5qjy8zy6qqupqq54";
const DEVNET_KEY: &str = "8c9240b456a9e6dc65c377a1048d745f94a08cdb7f44cbcd7b46f34048871134";

fn devnet_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    hex::decode_to_slice(DEVNET_KEY, &mut key).expect("the vector is 64 hex characters");
    key
}

/// A bech32 string with an arbitrary payload, for the refusal tests.
fn encoded(prefix: &str, payload: &[u8]) -> String {
    bech32::encode(prefix, payload)
}

#[test]
fn mainnet_vector_gives_its_key() {
    let address = Address::parse(MAINNET_ADDRESS, Network::Mainnet).expect("vector is valid");
    let key = hex::encode(address.public_key());
    assert!(key.starts_with("043fa849"), "key {key}");
    assert!(key.ends_with("2a7410"), "key {key}");
    assert_eq!(address.network(), Network::Mainnet);
    assert_eq!(MAINNET_ADDRESS.len(), 63);
}

#[test]
fn devnet_vector_both_ways() {
    let parsed = Address::parse(DEVNET_ADDRESS, Network::Devnet).expect("vector is valid");
    assert_eq!(parsed.public_key(), devnet_key());
    assert_eq!(
        Address::new(devnet_key(), Network::Devnet).to_string(),
        DEVNET_ADDRESS
    );
}

#[test]
fn display_round_trips_and_lowers_upper_case() {
    for (text, network) in [
        (MAINNET_ADDRESS, Network::Mainnet),
        (DEVNET_ADDRESS, Network::Testnet),
    ] {
        let address = Address::parse(text, network).expect("vector is valid");
        assert_eq!(address.to_string(), text);
        let upper = Address::parse(&text.to_ascii_uppercase(), network).expect("upper is valid");
        assert_eq!(upper, address);
        assert_eq!(upper.to_string(), text);
    }
}

#[test]
fn serializes_as_the_string() {
    let address = Address::parse(MAINNET_ADDRESS, Network::Mainnet).expect("vector is valid");
    let json = serde_json::to_string(&address).expect("an address serializes");
    assert_eq!(json, format!("\"{MAINNET_ADDRESS}\""));
    assert!(format!("{address:?}").contains(MAINNET_ADDRESS));
}

#[test]
fn refuses_empty_and_oversized_text() {
    assert_eq!(
        Address::parse("", Network::Mainnet),
        Err(AddressError::Empty)
    );
    let long = format!("tos1{}", "q".repeat(600));
    assert_eq!(
        Address::parse(&long, Network::Mainnet),
        Err(AddressError::TooLong { length: 604 })
    );
}

#[test]
fn refuses_mixed_case() {
    let mixed = MAINNET_ADDRESS.replacen('q', "Q", 1);
    assert_eq!(
        Address::parse(&mixed, Network::Mainnet),
        Err(AddressError::MixedCase)
    );
}

#[test]
fn refuses_invalid_characters() {
    // 'b' is not in the bech32 alphabet; position counts from 1.
    let with_b = MAINNET_ADDRESS.replacen("qsl", "qsb", 1);
    assert_eq!(
        Address::parse(&with_b, Network::Mainnet),
        Err(AddressError::InvalidCharacter {
            character: 'b',
            position: 7
        })
    );
    let with_space = format!(" {MAINNET_ADDRESS}");
    assert_eq!(
        Address::parse(&with_space, Network::Mainnet),
        Err(AddressError::InvalidCharacter {
            character: ' ',
            position: 1
        })
    );
    assert!(matches!(
        Address::parse("tos1qsl6é", Network::Mainnet),
        Err(AddressError::InvalidCharacter {
            character: 'é', ..
        })
    ));
}

#[test]
fn refuses_missing_separator_prefix_and_short_data() {
    assert_eq!(
        Address::parse("qsl6sj2u0gp37", Network::Mainnet),
        Err(AddressError::MissingSeparator)
    );
    assert_eq!(
        Address::parse("1qsl6sj2u0gp37", Network::Mainnet),
        Err(AddressError::MissingPrefix)
    );
    assert_eq!(
        Address::parse("tos1qsl6", Network::Mainnet),
        Err(AddressError::TooShort { length: 8 })
    );
}

#[test]
fn refuses_a_bad_checksum() {
    let mut typo = MAINNET_ADDRESS.to_string();
    typo.replace_range(20..21, if &typo[20..21] == "q" { "p" } else { "q" });
    let error = Address::parse(&typo, Network::Mainnet).expect_err("one changed character");
    assert_eq!(error, AddressError::BadChecksum);
    assert!(error.to_string().contains("bad bech32 checksum"));
    let cut = &MAINNET_ADDRESS[..62];
    assert_eq!(
        Address::parse(cut, Network::Mainnet),
        Err(AddressError::BadChecksum)
    );
}

#[test]
fn refuses_bad_padding() {
    // 33 bytes need 53 values with one padding bit; set that bit.
    let mut values = vec![0u8; 53];
    values[52] = 1;
    let text = bech32::encode_values("tos", &values);
    assert_eq!(
        Address::parse(&text, Network::Mainnet),
        Err(AddressError::InvalidPadding)
    );
}

#[test]
fn refuses_the_wrong_network_and_says_which() {
    let error = Address::parse(MAINNET_ADDRESS, Network::Devnet).expect_err("mainnet address");
    assert_eq!(
        error.to_string(),
        "address is for mainnet (prefix tos) but the pool runs on devnet (prefix tst)"
    );
    let error = Address::parse(DEVNET_ADDRESS, Network::Mainnet).expect_err("devnet address");
    assert_eq!(
        error,
        AddressError::WrongNetwork {
            found_prefix: "tst".to_string(),
            expected: Network::Mainnet
        }
    );
    assert!(error.to_string().contains("test network"), "{error}");
}

#[test]
fn refuses_foreign_prefixes() {
    let mut payload = devnet_key().to_vec();
    payload.push(0);
    let foreign = encoded("xel", &payload);
    let error = Address::parse(&foreign, Network::Mainnet).expect_err("not a TOS prefix");
    assert_eq!(
        error,
        AddressError::UnknownPrefix {
            found_prefix: "xel".to_string(),
            expected: Network::Mainnet
        }
    );
    assert!(error.to_string().contains("tos1"), "{error}");
}

#[test]
fn refuses_integrated_addresses() {
    let mut payload = devnet_key().to_vec();
    payload.extend_from_slice(&[1, 0, 4, 1, 2, 3, 4]);
    let integrated = encoded("tos", &payload);
    let error = Address::parse(&integrated, Network::Mainnet).expect_err("integrated");
    assert_eq!(error, AddressError::IntegratedNotAccepted);
    assert!(error.to_string().contains("normal address"), "{error}");
}

#[test]
fn refuses_unknown_types_and_wrong_lengths() {
    let mut payload = devnet_key().to_vec();
    payload.push(7);
    assert_eq!(
        Address::parse(&encoded("tos", &payload), Network::Mainnet),
        Err(AddressError::UnknownType(7))
    );
    payload[32] = 0;
    payload.push(0);
    assert_eq!(
        Address::parse(&encoded("tos", &payload), Network::Mainnet),
        Err(AddressError::WrongPayloadLength { length: 34 })
    );
    assert_eq!(
        Address::parse(&encoded("tos", &payload[..20]), Network::Mainnet),
        Err(AddressError::WrongPayloadLength { length: 20 })
    );
    assert_eq!(
        Address::parse(&encoded("tos", &payload[..32]), Network::Mainnet),
        Err(AddressError::WrongPayloadLength { length: 32 })
    );
}

#[test]
fn every_error_message_is_distinct_and_speaks_of_the_address() {
    let errors = [
        AddressError::Empty,
        AddressError::TooLong { length: 600 },
        AddressError::MixedCase,
        AddressError::InvalidCharacter {
            character: 'b',
            position: 3,
        },
        AddressError::MissingSeparator,
        AddressError::MissingPrefix,
        AddressError::TooShort { length: 5 },
        AddressError::BadChecksum,
        AddressError::InvalidPadding,
        AddressError::WrongNetwork {
            found_prefix: "tos".to_string(),
            expected: Network::Testnet,
        },
        AddressError::UnknownPrefix {
            found_prefix: "bc".to_string(),
            expected: Network::Testnet,
        },
        AddressError::IntegratedNotAccepted,
        AddressError::UnknownType(9),
        AddressError::WrongPayloadLength { length: 40 },
    ];
    let messages: std::collections::HashSet<String> =
        errors.iter().map(ToString::to_string).collect();
    assert_eq!(messages.len(), errors.len());
    for message in &messages {
        assert!(message.contains("address") || message.contains("checksum"));
    }
}

mod login {
    use super::*;

    #[test]
    fn address_alone_gets_the_default_worker() {
        let login = MinerLogin::parse(DEVNET_ADDRESS, Network::Devnet).expect("valid login");
        assert_eq!(login.address.public_key(), devnet_key());
        assert_eq!(login.worker(), DEFAULT_WORKER);
        let dotted = MinerLogin::parse(&format!("{DEVNET_ADDRESS}."), Network::Devnet)
            .expect("empty worker is the default");
        assert_eq!(dotted.worker, "default");
    }

    #[test]
    fn address_dot_worker() {
        let login = MinerLogin::parse(&format!(" {MAINNET_ADDRESS}.rig_01-A "), Network::Mainnet)
            .expect("valid login");
        assert_eq!(login.worker, "rig_01-A");
        assert_eq!(login.address().to_string(), MAINNET_ADDRESS);
    }

    #[test]
    fn worker_limits() {
        let longest = "w".repeat(MAX_WORKER_LENGTH);
        let login = MinerLogin::parse(&format!("{MAINNET_ADDRESS}.{longest}"), Network::Mainnet)
            .expect("32 characters are allowed");
        assert_eq!(login.worker, longest);
        let too_long = "w".repeat(MAX_WORKER_LENGTH + 1);
        assert_eq!(
            MinerLogin::parse(&format!("{MAINNET_ADDRESS}.{too_long}"), Network::Mainnet),
            Err(LoginError::WorkerTooLong { length: 33 })
        );
        for (worker, character) in [("rig.1", '.'), ("rig 1", ' '), ("rigé", 'é')] {
            let error = MinerLogin::parse(&format!("{MAINNET_ADDRESS}.{worker}"), Network::Mainnet)
                .expect_err("bad worker");
            assert_eq!(error, LoginError::WorkerInvalidCharacter { character });
            assert!(error.to_string().contains("worker name"), "{error}");
        }
    }

    #[test]
    fn address_errors_pass_through() {
        let error = MinerLogin::parse(&format!("{MAINNET_ADDRESS}.rig"), Network::Devnet)
            .expect_err("wrong network");
        assert!(matches!(
            error,
            LoginError::Address(AddressError::WrongNetwork { .. })
        ));
        assert!(error.to_string().starts_with("address is for mainnet"));
        assert_eq!(
            MinerLogin::parse("", Network::Devnet),
            Err(LoginError::Address(AddressError::Empty))
        );
    }

    #[test]
    fn from_parts() {
        let login = MinerLogin::from_parts(DEVNET_ADDRESS, Some("rig7"), Network::Devnet)
            .expect("valid parts");
        assert_eq!(login.worker, "rig7");
        let login = MinerLogin::from_parts(DEVNET_ADDRESS, None, Network::Devnet)
            .expect("worker is optional");
        assert_eq!(login.worker, DEFAULT_WORKER);
        let login =
            MinerLogin::from_parts(&format!("{DEVNET_ADDRESS}.rig8"), Some(""), Network::Devnet)
                .expect("a dotted address without a worker field");
        assert_eq!(login.worker, "rig8");
        assert!(matches!(
            MinerLogin::from_parts(DEVNET_ADDRESS, Some("bad/name"), Network::Devnet),
            Err(LoginError::WorkerInvalidCharacter { character: '/' })
        ));
        assert!(matches!(
            MinerLogin::from_parts(&format!("{DEVNET_ADDRESS}.a"), Some("b"), Network::Devnet),
            Err(LoginError::Address(AddressError::InvalidCharacter {
                character: '.',
                ..
            }))
        ));
    }
}
