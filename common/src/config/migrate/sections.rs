//! The key-by-key rules, one function per section of the Go pool's config:
//! the chain and cluster sections here, the service sections (payouts, api,
//! security, notify, log, profiling, newrelic) in `service`.

use serde_yaml::{Mapping, Value};

use super::service::{
    log_rule, migrate_api, migrate_payouts, migrate_security, newrelic_rule, notify_rule,
    profiling_rule,
};
use super::values::{go_duration, has_scheme, host_of, is_loopback, seconds, text};
use super::{MigratedSection, Migration};

/// Converts the whole document.
pub(super) fn migrate(doc: &Mapping) -> Migration {
    let mut top = MigratedSection::new("");
    let section = |name: &str| -> Mapping {
        match doc.get(name) {
            Some(Value::Mapping(keys)) => keys.clone(),
            _ => Mapping::new(),
        }
    };
    let pool = section("pool");
    network(&mut top, &pool, doc);
    let master = section("master");
    let slave = section("slave");
    let mut sections = vec![
        migrate_pool(&pool),
        migrate_node(&section("node")),
        migrate_redis(&section("redis")),
        migrate_master(&master),
        migrate_slave(&slave, &master),
        carry("mining", &section("mining"), mining_rule),
        carry("validation", &section("validation"), validation_rule),
        carry("unlocker", &section("unlocker"), unlocker_rule),
        carry("pplns", &section("pplns"), pplns_rule),
        migrate_payouts(&section("payouts")),
        migrate_api(&section("api")),
        migrate_security(&section("security")),
        carry("notify", &section("notify"), notify_rule),
        carry("log", &section("log"), log_rule),
        carry("profiling", &section("profiling"), profiling_rule),
        carry("newrelic", &section("newrelic"), newrelic_rule),
    ];
    for (key, _) in doc {
        let name = key_text(key);
        let known = name == "network" || sections.iter().any(|s| s.name == name);
        if !known {
            top.drop_key(
                name,
                "not a section of the Go pool's config nor of ours; check what it was for",
            );
        }
    }
    sections.retain(|s| !s.changes.is_empty());
    sections.insert(0, top);
    Migration { sections }
}

pub(super) fn key_text(key: &Value) -> String {
    match key {
        Value::String(text) => text.clone(),
        other => format!("{other:?}"),
    }
}

/// `network`: the Go pool had none; read it from the fee address's prefix.
fn network(top: &mut MigratedSection, pool: &Mapping, doc: &Mapping) {
    if let Some(value) = doc.get("network") {
        top.set("network", value.clone(), "network: kept as written");
        return;
    }
    let address = pool.get("fee_address").and_then(text).unwrap_or_default();
    let (network, why) = if address.starts_with("tst1") {
        (
            "testnet",
            "pool.fee_address starts with tst1 (testnet, stagenet and devnet share it): \
             change to stagenet or devnet if the pool mines one of those",
        )
    } else {
        (
            "mainnet",
            "pool.fee_address starts with tos1 (or is missing), so mainnet",
        )
    };
    top.set(
        "network",
        Value::from(network),
        format!("network: new key (the Go pool had none); {why}"),
    );
}

/// What one rule decided for one key of a section.
pub(super) enum Rule {
    /// Same key, same meaning.
    Same,
    /// Same meaning under a new name.
    Rename(&'static str),
    /// A Go duration converted to ours under `name`.
    Duration(&'static str),
    /// Float seconds converted to a duration under `name`.
    Seconds(&'static str),
    /// No place in our config; the text says why.
    Drop(&'static str),
}

/// Converts a section whose keys each follow one [`Rule`].
pub(super) fn carry(name: &str, old: &Mapping, rule: fn(&str) -> Option<Rule>) -> MigratedSection {
    let mut out = MigratedSection::new(name);
    for (key, value) in old {
        let key = key_text(key);
        let old_key = format!("{name}.{key}");
        match rule(&key) {
            Some(Rule::Same) => set_unless_empty(&mut out, &key, value, &old_key, "unchanged"),
            Some(Rule::Rename(new)) => set_unless_empty(
                &mut out,
                new,
                value,
                &old_key,
                &format!("renamed to {name}.{new}, same meaning"),
            ),
            Some(Rule::Duration(new)) => match go_duration(value) {
                Ok(duration) => out.set(
                    new,
                    Value::from(duration),
                    rename_note(&old_key, name, new, "Go duration written in our form"),
                ),
                Err(why) => out.drop_key(old_key, format!("{why}; set {name}.{new} by hand")),
            },
            Some(Rule::Seconds(new)) => match seconds(value) {
                Ok(duration) => out.set(
                    new,
                    Value::from(duration),
                    format!("{old_key}: seconds as a number in the Go pool, a duration here"),
                ),
                Err(why) => out.drop_key(old_key, format!("{why}; set {name}.{new} by hand")),
            },
            Some(Rule::Drop(why)) => out.drop_key(old_key, why),
            None => out.drop_key(
                old_key,
                "not a key of the Go pool's config nor of ours; check what it was for",
            ),
        }
    }
    out
}

fn rename_note(old_key: &str, section: &str, new: &str, what: &str) -> String {
    let new_key = format!("{section}.{new}");
    if old_key == new_key {
        format!("{old_key}: {what}")
    } else {
        format!("{old_key} -> {new_key}: {what}")
    }
}

/// Writes `value` unless it is the Go pool's "not set" (`""` or null), in
/// which case the key is left to our default.
fn set_unless_empty(
    out: &mut MigratedSection,
    key: &str,
    value: &Value,
    old_key: &str,
    what: &str,
) {
    let empty = value.is_null() || matches!(value, Value::String(s) if s.trim().is_empty());
    if empty {
        out.drop_key(old_key, "empty in the old config; our default applies");
    } else {
        out.set(key, value.clone(), format!("{old_key}: {what}"));
    }
}

fn migrate_pool(old: &Mapping) -> MigratedSection {
    carry("pool", old, |key| match key {
        "name" | "fee_address" => Some(Rule::Same),
        "fee" => Some(Rule::Rename("fee_percent")),
        _ => None,
    })
}

fn migrate_node(old: &Mapping) -> MigratedSection {
    let mut out = carry("node", old, |key| match key {
        "url" | "health_check_interval" | "max_failures" | "recovery_threshold" => None,
        "timeout" => Some(Rule::Duration("request_timeout")),
        "health_check_timeout" => Some(Rule::Drop(
            "health checks use each upstream's own timeout (node.upstreams[].timeout)",
        )),
        _ => None,
    });
    // The keys the rule table leaves to this function.
    out.changes.retain(|change| {
        !matches!(change, super::Change::Dropped { old_key, .. }
            if ["node.url", "node.health_check_interval", "node.max_failures",
                "node.recovery_threshold", "node.upstreams"].contains(&old_key.as_str()))
    });
    if let Some(url) = old.get("url").and_then(text) {
        out.set(
            "url",
            Value::from(daemon_url(&url)),
            format!(
                "node.url: {url} written as the daemon's JSON-RPC URL (scheme and /json_rpc \
                 path added where missing)"
            ),
        );
    }
    if let Some(value) = old.get("health_check_interval") {
        match go_duration(value) {
            Ok(duration) => out.set(
                "health_check_interval",
                Value::from(duration),
                "node.health_check_interval: Go duration written in our form",
            ),
            Err(why) => out.drop_key("node.health_check_interval", why),
        }
    }
    for key in ["max_failures", "recovery_threshold"] {
        if let Some(value) = old.get(key) {
            out.set(key, value.clone(), format!("node.{key}: unchanged"));
        }
    }
    if let Some(Value::Sequence(upstreams)) = old.get("upstreams") {
        let converted: Vec<Value> = upstreams.iter().map(upstream).collect();
        out.set(
            "upstreams",
            Value::Sequence(converted),
            "node.upstreams: name, url, weight kept; each url made a JSON-RPC URL, each timeout \
             written in our form",
        );
    }
    out
}

fn upstream(old: &Value) -> Value {
    let Value::Mapping(old) = old else {
        return old.clone();
    };
    let mut new = Mapping::new();
    for (key, value) in old {
        let converted = match key_text(key).as_str() {
            "url" => text(value).map(|url| Value::from(daemon_url(&url))),
            "timeout" => go_duration(value).ok().map(Value::from),
            _ => Some(value.clone()),
        };
        if let Some(converted) = converted {
            new.insert(key.clone(), converted);
        }
    }
    Value::Mapping(new)
}

/// The Go pool took `host:port` or a bare URL; ours wants the JSON-RPC URL.
pub(super) fn daemon_url(url: &str) -> String {
    let with_scheme = if has_scheme(url) {
        url.to_string()
    } else {
        format!("http://{url}")
    };
    let after_scheme = with_scheme.split_once("://").map_or("", |(_, rest)| rest);
    if after_scheme.contains('/') {
        with_scheme
    } else {
        format!("{with_scheme}/json_rpc")
    }
}

fn migrate_redis(old: &Mapping) -> MigratedSection {
    let mut out = MigratedSection::new("redis");
    let address = old
        .get("url")
        .and_then(text)
        .unwrap_or_else(|| "127.0.0.1:6379".to_string());
    let db = old.get("db").and_then(|v| v.as_u64()).unwrap_or(0);
    if has_scheme(&address) {
        out.set(
            "url",
            Value::from(address.clone()),
            "redis.url: already a URL, kept (redis.db is ignored when the URL names one)",
        );
    } else {
        out.set(
            "url",
            Value::from(format!("redis://{address}/{db}")),
            format!(
                "redis.url ({address}) and redis.db ({db}) -> redis.url: ours is one \
                 redis:// URL with the database number as its path"
            ),
        );
    }
    if let Some(password) = old.get("password").and_then(text) {
        out.set(
            "password",
            Value::from(password),
            "redis.password: unchanged; better set TOS_POOL_REDIS_PASSWORD and delete this line",
        );
    }
    out.set(
        "key_prefix",
        Value::from("tospool"),
        "redis.key_prefix: new key. The Go pool's keys start with `tos:`; ours are laid out \
         differently, so copy balances, blocks, payments and lists with \
         `tos-pool-master import-seed --from redis://...` (docs/MIGRATION.md)",
    );
    for (key, _) in old {
        let key = key_text(key);
        if !["url", "db", "password"].contains(&key.as_str()) {
            out.drop_key(
                format!("redis.{key}"),
                "not a key of the Go pool's config nor of ours; check what it was for",
            );
        }
    }
    out
}

fn migrate_master(old: &Mapping) -> MigratedSection {
    let mut out = MigratedSection::new("master");
    if old.contains_key("enabled") {
        out.drop_key(
            "master.enabled",
            "the binary decides the role: tos-pool-master, tos-pool-slave, or tos-pool for \
             both in one process (the Go pool's combined mode)",
        );
    }
    let bind = old
        .get("bind")
        .and_then(text)
        .unwrap_or_else(|| "0.0.0.0:3221".to_string());
    if is_loopback(host_of(&bind)) {
        out.set(
            "bind",
            Value::from(bind.clone()),
            "master.bind: unchanged (loopback)",
        );
    } else {
        out.set(
            "bind",
            Value::from(format!("127.0.0.1:{}", port_of(&bind).unwrap_or(3221))),
            format!(
                "master.bind was {bind}. The Go pool's master link was plaintext TCP; ours is \
                 gRPC over TLS, plaintext only on loopback. To let slaves on other hosts in, \
                 set bind back to {bind}, set master.tls_cert and master.tls_key, and delete \
                 allow_plaintext"
            ),
        );
    }
    out.set(
        "allow_plaintext",
        Value::Bool(true),
        "master.allow_plaintext: new key; plaintext gRPC on the loopback bind above",
    );
    match old.get("secret").and_then(text) {
        Some(secret) => out.set(
            "secret",
            Value::from(secret),
            "master.secret: unchanged; at least 16 characters, the same on every slave. Better \
             set TOS_POOL_MASTER_SECRET and delete this line",
        ),
        None => out.drop_key(
            "master.secret",
            "empty; set TOS_POOL_MASTER_SECRET to a random token of at least 16 characters",
        ),
    }
    for (key, _) in old {
        let key = key_text(key);
        if !["enabled", "bind", "secret"].contains(&key.as_str()) {
            out.drop_key(
                format!("master.{key}"),
                "not a key of the Go pool's config nor of ours; check what it was for",
            );
        }
    }
    out
}

fn port_of(address: &str) -> Option<u16> {
    address
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
}

fn migrate_slave(old: &Mapping, master: &Mapping) -> MigratedSection {
    let has_tls =
        old.get("tls_cert").and_then(text).is_some() && old.get("tls_key").and_then(text).is_some();
    let mut out = MigratedSection::new("slave");
    for (key, value) in old {
        let key = key_text(key);
        let old_key = format!("slave.{key}");
        match key.as_str() {
            "enabled" => out.drop_key(
                old_key,
                "the binary decides the role: tos-pool-slave, or tos-pool for master and slave \
                 in one process",
            ),
            "master_url" => {}
            "stratum_bind" | "websocket_enabled" | "websocket_bind" | "xatum_enabled"
            | "xatum_bind" | "tls_cert" | "tls_key" => {
                set_unless_empty(&mut out, &key, value, &old_key, "unchanged")
            }
            "stratum_tls_bind" if !has_tls => out.drop_key(
                old_key,
                "no tls_cert and tls_key were set, so the Go pool served no TLS port; set them \
                 and stratum_tls_bind to serve Stratum over TLS",
            ),
            "stratum_tls_bind" => set_unless_empty(&mut out, &key, value, &old_key, "unchanged"),
            "getwork_enabled" | "getwork_bind" => out.drop_key(
                old_key,
                "HTTP GetWork is not served; miners use Stratum, WebSocket GetWork \
                 (slave.websocket_bind) or Xatum",
            ),
            _ => out.drop_key(
                old_key,
                "not a key of the Go pool's config nor of ours; check what it was for",
            ),
        }
    }
    if !has_tls {
        let asked = old.get("xatum_enabled").and_then(Value::as_bool);
        out.changes.retain(|change| {
            !matches!(change, super::Change::Set { key, .. } if key == "xatum_enabled" || key == "xatum_bind")
        });
        let why = match asked {
            Some(true) => "slave.xatum_enabled was true, but",
            Some(false) => "slave.xatum_enabled: unchanged;",
            None => {
                "slave.xatum_enabled: new key (the Go example had none, and ours defaults to true);"
            }
        };
        out.set(
            "xatum_enabled",
            Value::Bool(false),
            format!(
                "{why} Xatum runs over TLS and no tls_cert and tls_key were set; set them and \
                 xatum_enabled: true to serve it"
            ),
        );
    }
    let given = old.get("master_url").and_then(text);
    let target = given.clone().unwrap_or_else(|| {
        let bind = master
            .get("bind")
            .and_then(text)
            .unwrap_or_else(|| "0.0.0.0:3221".to_string());
        format!("127.0.0.1:{}", port_of(&bind).unwrap_or(3221))
    });
    let url = if has_scheme(&target) {
        target.clone()
    } else if is_loopback(host_of(&target)) {
        format!("http://{target}")
    } else {
        format!("https://{target}")
    };
    let origin = match given {
        Some(_) => format!("slave.master_url ({target})"),
        None => "slave.master_url was empty (combined mode); the master's port".to_string(),
    };
    out.set(
        "master_url",
        Value::from(url),
        format!(
            "{origin} written as a URL: http:// to loopback, https:// elsewhere (our gateway \
             is gRPC over TLS off loopback; set slave.master_ca if its certificate is private)"
        ),
    );
    out
}

fn mining_rule(key: &str) -> Option<Rule> {
    match key {
        "initial_difficulty" | "min_difficulty" | "max_difficulty" | "vardiff_variance"
        | "vardiff_enabled" | "job_backlog" => Some(Rule::Same),
        "vardiff_target_time" => Some(Rule::Seconds("vardiff_target_time")),
        "vardiff_retarget" => Some(Rule::Seconds("vardiff_retarget")),
        "job_refresh_interval" => Some(Rule::Duration("job_refresh_interval")),
        _ => None,
    }
}

fn validation_rule(key: &str) -> Option<Rule> {
    match key {
        "trust_threshold" | "trust_check_percent" => Some(Rule::Same),
        "hashrate_window" => Some(Rule::Duration("hashrate_window")),
        "hashrate_large_window" => Some(Rule::Duration("hashrate_large_window")),
        _ => None,
    }
}

fn unlocker_rule(key: &str) -> Option<Rule> {
    match key {
        "enabled" | "immature_depth" | "mature_depth" => Some(Rule::Same),
        "interval" => Some(Rule::Duration("interval")),
        _ => None,
    }
}

fn pplns_rule(key: &str) -> Option<Rule> {
    match key {
        "window" | "dynamic_window" | "min_window" | "max_window" => Some(Rule::Same),
        _ => None,
    }
}
