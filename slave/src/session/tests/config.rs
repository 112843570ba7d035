//! Session settings from the config and the master, and jobs from the master.

use tos_pool_common::config::Config;
use tos_pool_proto::v1;

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
    let settings = v1::Settings {
        min_difficulty: 500,
        vardiff_retarget_ms: 10_000,
        job_backlog: 4,
        ..Default::default()
    };
    let next = base.with_settings(&settings);
    assert_eq!(next.vardiff.min_difficulty, 500);
    assert_eq!(next.vardiff.retarget, Duration::from_secs(10));
    assert_eq!(next.job_backlog, 4);
    assert_eq!(next.vardiff.max_difficulty, base.vardiff.max_difficulty);
    assert_eq!(next.vardiff.target_time, base.vardiff.target_time);
}

fn proto_job() -> v1::Job {
    v1::Job {
        job_id: "abc".into(),
        height: 12,
        topoheight: 13,
        miner_work: vec![3; 112],
        network_difficulty: "1000".into(),
        network_target: Vec::new(),
        clean: true,
        created_at_ms: T0,
        algorithm: "tos/v3".into(),
    }
}

#[test]
fn jobs_are_read_from_the_master() {
    let template = JobTemplate::from_proto(&proto_job()).expect("valid");
    assert_eq!(template.job_id, "abc");
    assert_eq!(template.height, 12);
    assert_eq!(template.miner_work.as_bytes(), &[3; 112]);
    assert_eq!(template.network_target, target(1_000));
    let mut with_target = proto_job();
    with_target.network_target = vec![0x11; 32];
    let template = JobTemplate::from_proto(&with_target).expect("valid");
    assert_eq!(template.network_target.0, [0x11; 32]);
}

#[test]
fn broken_jobs_are_refused_with_the_field_at_fault() {
    let mut short = proto_job();
    short.miner_work = vec![0; 111];
    assert!(matches!(
        JobTemplate::from_proto(&short),
        Err(JobError::MinerWork { .. })
    ));
    let mut zero = proto_job();
    zero.network_difficulty = "0".into();
    assert!(matches!(
        JobTemplate::from_proto(&zero),
        Err(JobError::Difficulty { .. })
    ));
    let mut target = proto_job();
    target.network_target = vec![0; 31];
    let error = JobTemplate::from_proto(&target).expect_err("31-byte target");
    assert!(error.to_string().contains("31 bytes"));
    let mut anonymous = proto_job();
    anonymous.job_id.clear();
    assert_eq!(
        JobTemplate::from_proto(&anonymous),
        Err(JobError::MissingId)
    );
}
