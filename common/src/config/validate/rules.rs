//! The rules, section by section.

use std::collections::BTreeSet;
use std::time::Duration;

use super::{Problems, has_scheme, is_ip_or_cidr};
use crate::config::duration::format_duration;
use crate::config::schema::Config;

/// Shortest accepted `master.secret`.
pub(crate) const MIN_SECRET_LEN: usize = 16;
/// Shortest accepted `api.admin_password`.
pub(crate) const MIN_ADMIN_PASSWORD_LEN: usize = 12;
/// Most transfers the chain accepts in one transaction (TOS.md).
pub(crate) const MAX_TRANSFERS_PER_TX: u32 = 500;
/// Largest `slave.share_batch_size`: `tos_pool_proto::MAX_SHARES_PER_BATCH`,
/// what one frame of the master link is sized for.
pub(crate) const MAX_SHARE_BATCH_SIZE: u32 = 10_000;
/// Longest `slave.journal_fsync_interval`: accepted answers wait for it.
const MAX_JOURNAL_FSYNC_INTERVAL: Duration = Duration::from_secs(1);
/// Smallest `security.max_request_size`: a Stratum submit must fit.
pub(crate) const MIN_REQUEST_SIZE: usize = 512;

pub(super) fn pool_and_node(config: &Config, p: &mut Problems) {
    let pool = &config.pool;
    if pool.fee_address.trim().is_empty() {
        p.add(
            "pool.fee_address",
            format!(
                "missing: set it to the pool wallet's {} address (starts with {}1)",
                config.network,
                config.network.address_prefix()
            ),
        );
    } else {
        p.address("pool.fee_address", &pool.fee_address, config);
    }
    if let Some(key) = &pool.miner_key
        && !(key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        p.add(
            "pool.miner_key",
            "must be 64 hex characters (a 32-byte public key); remove it to use fee_address's key",
        );
    }
    p.in_range("pool.fee_percent", pool.fee_percent, 0.0, 100.0);

    let node = &config.node;
    p.http_url("node.url", &node.url);
    let mut names = BTreeSet::new();
    for (i, upstream) in node.upstreams.iter().enumerate() {
        let key = format!("node.upstreams[{i}]");
        if upstream.name.trim().is_empty() {
            p.add(format!("{key}.name"), "is empty; give each upstream a name");
        } else if !names.insert(upstream.name.as_str()) {
            p.add(
                format!("{key}.name"),
                format!("{:?} is used twice; names must differ", upstream.name),
            );
        }
        p.http_url(&format!("{key}.url"), &upstream.url);
        if upstream.weight == 0 {
            p.add(
                format!("{key}.weight"),
                "must be at least 1; remove the upstream to stop using it",
            );
        }
        p.positive(&format!("{key}.timeout"), upstream.timeout);
    }
    p.positive("node.health_check_interval", node.health_check_interval);
    p.positive("node.request_timeout", node.request_timeout);
    if node.max_failures == 0 {
        p.add("node.max_failures", "must be at least 1");
    }
    if node.recovery_threshold == 0 {
        p.add("node.recovery_threshold", "must be at least 1");
    }

    let redis = &config.redis;
    if !has_scheme(
        &redis.url,
        &["redis://", "rediss://", "redis+unix://", "unix://"],
    ) {
        p.add(
            "redis.url",
            format!("{:?} is not a redis:// or rediss:// URL", redis.url),
        );
    }
    if redis.key_prefix.is_empty() {
        p.add("redis.key_prefix", "is empty; use for example tospool");
    }
    if redis.pool_size == 0 {
        p.add("redis.pool_size", "must be at least 1");
    }
    p.positive("redis.connect_timeout", redis.connect_timeout);
    for (index, sentinel) in redis.sentinels.iter().enumerate() {
        let port = sentinel
            .rsplit_once(':')
            .and_then(|(host, port)| (!host.is_empty()).then_some(port))
            .and_then(|port| port.parse::<u16>().ok());
        if port.is_none() {
            p.add(
                format!("redis.sentinels[{index}]"),
                format!("{sentinel:?} is not host:port"),
            );
        }
    }
    if !redis.sentinels.is_empty() && redis.sentinel_master.trim().is_empty() {
        p.add(
            "redis.sentinel_master",
            "is empty; give the name the sentinels monitor the master under",
        );
    }
    let unix_socket = redis.url.starts_with("unix:") || redis.url.starts_with("redis+unix:");
    if !redis.sentinels.is_empty() && unix_socket {
        p.add(
            "redis.sentinels",
            "cannot be used with a unix socket redis.url: the sentinels name a TCP address",
        );
    }
}

pub(super) fn cluster(config: &Config, p: &mut Problems) {
    let master = &config.master;
    let secret_len = master.secret.chars().count();
    if master.secret.trim().is_empty() {
        p.add(
            "master.secret",
            format!(
                "missing: set a random token of at least {MIN_SECRET_LEN} characters \
                 (best through TOS_POOL_MASTER_SECRET), the same on the master and every slave"
            ),
        );
    } else if secret_len < MIN_SECRET_LEN {
        p.add(
            "master.secret",
            format!("is {secret_len} characters; use a random token of at least {MIN_SECRET_LEN}"),
        );
    }
    if master.allow_plaintext && !master.bind.ip().is_loopback() {
        p.add(
            "master.allow_plaintext",
            format!(
                "{} is not loopback; plaintext gRPC is only allowed on loopback: \
                 serve TLS with master.tls_cert and master.tls_key",
                master.bind
            ),
        );
    }
    p.pair(
        "master.tls_cert",
        &master.tls_cert,
        "master.tls_key",
        &master.tls_key,
    );
    p.positive("master.slave_timeout", master.slave_timeout);
    p.positive("master.handshake_timeout", master.handshake_timeout);
    p.positive("master.keepalive_interval", master.keepalive_interval);
    if master.idle_timeout <= master.keepalive_interval {
        p.add(
            "master.idle_timeout",
            format!(
                "must be longer than master.keepalive_interval ({}): a quiet slave answers \
                 the pings, and is cut if it waits longer than that for one; use for example 60s",
                format_duration(master.keepalive_interval)
            ),
        );
    }
    if master.max_connections == 0 {
        p.add(
            "master.max_connections",
            "must be at least 1: every slave holds one connection",
        );
    }

    let slave = &config.slave;
    p.http_url("slave.master_url", &slave.master_url);
    p.pair(
        "slave.tls_cert",
        &slave.tls_cert,
        "slave.tls_key",
        &slave.tls_key,
    );
    if slave.share_batch_size == 0 {
        p.add("slave.share_batch_size", "must be at least 1");
    }
    if slave.share_batch_size > MAX_SHARE_BATCH_SIZE {
        p.add(
            "slave.share_batch_size",
            format!(
                "must be at most {MAX_SHARE_BATCH_SIZE}, so a batch fits one frame of the master link"
            ),
        );
    }
    if slave.max_unacked_shares < u64::from(slave.share_batch_size) {
        p.add(
            "slave.max_unacked_shares",
            format!(
                "must hold at least one batch (slave.share_batch_size = {})",
                slave.share_batch_size
            ),
        );
    }
    p.positive("slave.share_flush_interval", slave.share_flush_interval);
    if slave.journal_fsync_interval > MAX_JOURNAL_FSYNC_INTERVAL {
        p.add(
            "slave.journal_fsync_interval",
            format!(
                "must be at most {}: every accepted answer waits for \
                 the next sync (a few ms is plenty)",
                format_duration(MAX_JOURNAL_FSYNC_INTERVAL)
            ),
        );
    }
    for (i, proxy) in slave.trusted_proxies.iter().enumerate() {
        if !is_ip_or_cidr(proxy) {
            p.add(
                format!("slave.trusted_proxies[{i}]"),
                format!("{proxy:?} is not an IP address or CIDR block such as 10.0.0.0/8"),
            );
        }
    }
    if slave.proxy_protocol && slave.trusted_proxies.is_empty() {
        p.add(
            "slave.trusted_proxies",
            "is empty while slave.proxy_protocol is true; list the load balancers' IPs or CIDRs",
        );
    }
}

pub(super) fn mining(config: &Config, p: &mut Problems) {
    let m = &config.mining;
    if m.min_difficulty == 0 {
        p.add("mining.min_difficulty", "must be at least 1");
    }
    if m.initial_difficulty < m.min_difficulty {
        p.add(
            "mining.initial_difficulty",
            format!(
                "{} is below mining.min_difficulty ({})",
                m.initial_difficulty, m.min_difficulty
            ),
        );
    }
    if m.initial_difficulty > m.max_difficulty {
        p.add(
            "mining.initial_difficulty",
            format!(
                "{} is above mining.max_difficulty ({})",
                m.initial_difficulty, m.max_difficulty
            ),
        );
    }
    if !(m.vardiff_variance.is_finite() && m.vardiff_variance > 0.0 && m.vardiff_variance < 100.0) {
        p.add(
            "mining.vardiff_variance",
            format!(
                "{} is out of range; use a percent above 0 and below 100, such as 30",
                m.vardiff_variance
            ),
        );
    }
    p.positive("mining.vardiff_target_time", m.vardiff_target_time);
    p.positive("mining.vardiff_retarget", m.vardiff_retarget);
    p.positive("mining.job_refresh_interval", m.job_refresh_interval);
    p.positive("mining.job_refresh", m.job_refresh);
    if m.job_backlog == 0 {
        p.add("mining.job_backlog", "must be at least 1 (the current job)");
    }

    let v = &config.validation;
    p.positive("validation.hashrate_window", v.hashrate_window);
    if v.hashrate_large_window < v.hashrate_window {
        p.add(
            "validation.hashrate_large_window",
            "is shorter than validation.hashrate_window; make it at least as long",
        );
    }
    p.in_range(
        "validation.trust_check_percent",
        v.trust_check_percent,
        0.0,
        100.0,
    );
}

pub(super) fn money(config: &Config, p: &mut Problems) {
    let u = &config.unlocker;
    if u.immature_depth >= u.mature_depth {
        p.add(
            "unlocker.immature_depth",
            format!(
                "{} must be below unlocker.mature_depth ({})",
                u.immature_depth, u.mature_depth
            ),
        );
    }
    p.positive("unlocker.interval", u.interval);

    let w = &config.pplns;
    if !(w.window.is_finite() && w.window > 0.0) {
        p.add("pplns.window", "must be a number above 0, such as 2.0");
    }
    if w.dynamic_window {
        if !(w.min_window.is_finite() && w.min_window > 0.0) {
            p.add("pplns.min_window", "must be a number above 0");
        }
        if !(w.min_window <= w.window && w.window <= w.max_window) {
            p.add(
                "pplns.window",
                "must lie between pplns.min_window and pplns.max_window when dynamic_window is on",
            );
        }
    }

    let pay = &config.payouts;
    if !(1..=MAX_TRANSFERS_PER_TX).contains(&pay.max_addresses_per_tx) {
        p.add(
            "payouts.max_addresses_per_tx",
            format!(
                "{} is out of range; use 1 to {MAX_TRANSFERS_PER_TX} (the chain's limit)",
                pay.max_addresses_per_tx
            ),
        );
    }
    p.in_range(
        "payouts.withdrawal_fee_rate",
        pay.withdrawal_fee_rate,
        0.0,
        100.0,
    );
    if pay.threshold <= pay.withdrawal_fee {
        p.add(
            "payouts.threshold",
            format!(
                "must exceed payouts.withdrawal_fee ({}) or every payout is eaten by the fee",
                pay.withdrawal_fee
            ),
        );
    }
    match &pay.wallet_rpc {
        Some(url) => p.http_url("payouts.wallet_rpc", url),
        None if pay.enabled => p.add(
            "payouts.wallet_rpc",
            "missing: payouts.enabled needs the wallet's JSON-RPC URL (or set enabled: false)",
        ),
        None => {}
    }
    p.pair(
        "payouts.wallet_user",
        &pay.wallet_user,
        "payouts.wallet_password",
        &pay.wallet_password,
    );
    p.positive("payouts.interval", pay.interval);
    p.positive("payouts.lock_ttl", pay.lock_ttl);
}

pub(super) fn service(config: &Config, p: &mut Problems) {
    let api = &config.api;
    if let Some(password) = &api.admin_password
        && password.chars().count() < MIN_ADMIN_PASSWORD_LEN
    {
        p.add(
            "api.admin_password",
            format!("is too short; use at least {MIN_ADMIN_PASSWORD_LEN} characters, or remove it to disable admin endpoints"),
        );
    }
    if api.admin_max_failures == 0 {
        p.add(
            "api.admin_max_failures",
            "must be at least 1: failed admin logins from one address before it is refused; use for example 5",
        );
    }
    p.positive("api.admin_lockout", api.admin_lockout);
    if api.page_size == 0 || api.page_size > api.max_page_size {
        p.add(
            "api.page_size",
            format!(
                "must be from 1 to api.max_page_size ({})",
                api.max_page_size
            ),
        );
    }

    let s = &config.security;
    p.in_range(
        "security.ban_invalid_percent",
        s.ban_invalid_percent,
        0.0,
        100.0,
    );
    if s.max_request_size < MIN_REQUEST_SIZE {
        p.add(
            "security.max_request_size",
            format!(
                "{} bytes is too small for a share submit; use at least {MIN_REQUEST_SIZE}",
                s.max_request_size
            ),
        );
    }
    for (list, addresses) in [("blacklist", &s.blacklist), ("whitelist", &s.whitelist)] {
        for (i, address) in addresses.iter().enumerate() {
            p.address(&format!("security.{list}[{i}]"), address, config);
        }
    }
    if !(1..=128).contains(&s.ipv6_prefix) {
        p.add(
            "security.ipv6_prefix",
            format!(
                "{} is no IPv6 prefix length; use 1 to 128 (64 counts each site's network as one)",
                s.ipv6_prefix
            ),
        );
    }
    p.positive("security.ban_duration", s.ban_duration);
    p.positive("security.first_message_timeout", s.first_message_timeout);
    p.positive("security.idle_timeout", s.idle_timeout);

    let h = &config.http;
    p.positive("http.header_timeout", h.header_timeout);
    p.positive("http.request_timeout", h.request_timeout);
    if h.max_connections == 0 {
        p.add(
            "http.max_connections",
            "must be at least 1; use for example 512",
        );
    }

    let n = &config.notify;
    p.pair(
        "notify.telegram_bot_token",
        &n.telegram_bot_token,
        "notify.telegram_chat_id",
        &n.telegram_chat_id,
    );
    if let Some(url) = &n.discord_webhook
        && !has_scheme(url, &["https://"])
    {
        p.add(
            "notify.discord_webhook",
            format!("{url:?} is not an https:// URL"),
        );
    }

    if let Err(error) = tracing_subscriber::EnvFilter::try_new(&config.log.level) {
        p.add("log.level", format!("{:?} is not a log filter ({error}); use for example info or info,tos_pool_slave=debug", config.log.level));
    }

    let prof = &config.profiling;
    if !prof.allow_remote && !prof.bind.ip().is_loopback() {
        p.add(
            "profiling.bind",
            format!(
                "{} is not loopback; set profiling.allow_remote: true to expose it",
                prof.bind
            ),
        );
    }

    let nr = &config.newrelic;
    if nr.enabled {
        if nr
            .license_key
            .as_deref()
            .is_none_or(|k| k.trim().is_empty())
        {
            p.add(
                "newrelic.license_key",
                "missing: newrelic.enabled needs the ingest license key (TOS_POOL_NEWRELIC_LICENSE_KEY)",
            );
        }
        if nr.app_name.trim().is_empty() {
            p.add(
                "newrelic.app_name",
                "is empty: newrelic.enabled needs a service name",
            );
        }
    }
    if let Some(endpoint) = &nr.endpoint {
        p.http_url("newrelic.endpoint", endpoint);
    }
    p.in_range(
        "newrelic.share_event_sample_rate",
        nr.share_event_sample_rate,
        0.0,
        1.0,
    );
    p.positive("newrelic.export_interval", nr.export_interval);
}

pub(super) fn master_role(config: &Config, p: &mut Problems) {
    let master = &config.master;
    if !master.allow_plaintext && master.tls_cert.is_none() && master.tls_key.is_none() {
        p.add(
            "master.tls_cert",
            "missing: the slave gateway serves TLS; set master.tls_cert and master.tls_key \
             (or master.allow_plaintext: true on a loopback bind)",
        );
    }
}

pub(super) fn slave_role(config: &Config, p: &mut Problems) {
    let slave = &config.slave;
    if let Some(rest) = slave.master_url.strip_prefix("http://") {
        let host = url_host(rest);
        if !is_loopback_host(host) {
            p.add(
                "slave.master_url",
                format!(
                    "http:// sends the gateway token and every share in the clear to {host:?}, \
                     which is not loopback; use https:// (plaintext is only allowed to 127.0.0.1, \
                     ::1 or localhost)"
                ),
            );
        } else if !config.master.allow_plaintext {
            p.add(
                "slave.master_url",
                "http:// is plaintext; use https:// (or master.allow_plaintext: true when the master is on loopback)",
            );
        }
    }
    if slave.needs_tls() && slave.tls_cert.is_none() && slave.tls_key.is_none() {
        p.add(
            "slave.tls_cert",
            "missing: Xatum, stratum_tls_bind and websocket_tls_bind serve TLS; set slave.tls_cert \
             and slave.tls_key, or turn those listeners off",
        );
    }
}

/// The host of a URL after its scheme: what lies before the path, without
/// user info and port (`[::1]:50051` gives `::1`).
fn url_host(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if let Some(bracketed) = host_port.strip_prefix('[') {
        return bracketed.split(']').next().unwrap_or_default();
    }
    host_port.split(':').next().unwrap_or_default()
}

/// Whether `host` names this machine: a loopback IP (IPv6 with or without
/// its brackets) or `localhost`.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts_are_read_without_port_path_or_user() {
        assert_eq!(url_host("127.0.0.1:50051"), "127.0.0.1");
        assert_eq!(url_host("[::1]:50051/x"), "::1");
        assert_eq!(url_host("user:pw@localhost:1"), "localhost");
        assert_eq!(url_host("master.example?x=1"), "master.example");
        assert_eq!(url_host("127.0.0.1@10.0.0.1:50051"), "10.0.0.1");
    }

    #[test]
    fn only_loopback_hosts_are_loopback() {
        for host in ["127.0.0.1", "127.1.2.3", "::1", "localhost", "LOCALHOST"] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "10.0.0.1",
            "::",
            "0.0.0.0",
            "localhost.evil.example",
            "",
            "master",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }
}
