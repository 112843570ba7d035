//! Session settings from the config and the master.

use tos_pool_common::config::Config;

use super::*;

#[test]
fn settings_come_from_the_config() {
    let mut config = Config {
        network: Network::Devnet,
        ..Config::default()
    };
    config.mining.job_backlog = 5;
    config.security.blacklist = vec![ADDRESS.into()];
    let session = SessionConfig::from_config(&config).expect("valid");
    assert_eq!(session.job_backlog, 5);
    assert_eq!(session.vardiff.min_difficulty, config.mining.min_difficulty);
    assert_eq!(session.timers.idle_timeout, config.security.idle_timeout);
    assert_eq!(session.timers.job_refresh, config.mining.job_refresh);
    let address =
        tos_pool_common::address::Address::parse(ADDRESS, Network::Devnet).expect("valid");
    assert_eq!(
        session.addresses.check(&address),
        Err(AddressRefused::Blacklisted)
    );
}

#[test]
fn a_bad_list_entry_names_its_key() {
    let mut config = Config {
        network: Network::Devnet,
        ..Config::default()
    };
    config.security.whitelist = vec![ADDRESS.into(), MAINNET_ADDRESS.into()];
    let error = SessionConfig::from_config(&config).expect_err("mainnet address on devnet");
    let message = error.to_string();
    assert!(message.starts_with("security.whitelist[1]"), "{message}");
}

#[test]
fn master_settings_override_what_they_set() {
    let base = config();
    let settings = PoolSettings {
        min_difficulty: Some(500),
        vardiff_retarget: Some(Duration::from_secs(10)),
        job_backlog: Some(4),
        ..Default::default()
    };
    let next = base.with_settings(&settings);
    assert_eq!(next.vardiff.min_difficulty, 500);
    assert_eq!(next.vardiff.retarget, Duration::from_secs(10));
    assert_eq!(next.job_backlog, 4);
    assert_eq!(next.vardiff.max_difficulty, base.vardiff.max_difficulty);
    assert_eq!(next.vardiff.target_time, base.vardiff.target_time);
}
