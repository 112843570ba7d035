//! The key-by-key rules of the Go pool's service sections: payouts, api,
//! security, notify, log, profiling and newrelic.

use serde_yaml::{Mapping, Value};

use super::MigratedSection;
use super::sections::{Rule, carry, daemon_url, key_text};
use super::values::{go_duration, number, text};

pub(super) fn migrate_payouts(old: &Mapping) -> MigratedSection {
    let mut out = carry("payouts", old, |key| match key {
        "enabled" | "threshold" | "max_addresses_per_tx" | "withdrawal_fee" => Some(Rule::Same),
        "interval" => Some(Rule::Duration("interval")),
        "gas_limit" | "gas_price" => Some(Rule::Drop(
            "TOS transfers have no gas; the wallet sets the transaction fee",
        )),
        "withdrawal_fee_rate" | "wallet_rpc" => Some(Rule::Drop("")),
        _ => None,
    });
    out.changes.retain(|change| {
        !matches!(change, super::Change::Dropped { old_key, .. }
            if old_key == "payouts.withdrawal_fee_rate" || old_key == "payouts.wallet_rpc")
    });
    if let Some(value) = old.get("withdrawal_fee_rate") {
        match number(value) {
            Ok(fraction) if (0.0..=1.0).contains(&fraction) => out.set(
                "withdrawal_fee_rate",
                Value::from(fraction * 100.0),
                format!(
                    "payouts.withdrawal_fee_rate: a fraction in the Go pool ({fraction} = \
                     {} %), a percent here",
                    fraction * 100.0
                ),
            ),
            Ok(other) => out.drop_key(
                "payouts.withdrawal_fee_rate",
                format!("{other} is not a fraction between 0 and 1; set the percent by hand"),
            ),
            Err(why) => out.drop_key("payouts.withdrawal_fee_rate", why),
        }
    }
    let wallet = old.get("wallet_rpc").and_then(text);
    if let Some(wallet) = &wallet {
        out.set(
            "wallet_rpc",
            Value::from(daemon_url(wallet)),
            format!(
                "payouts.wallet_rpc ({wallet}) written as the wallet's JSON-RPC URL (scheme and \
                 /json_rpc path added where missing)"
            ),
        );
    }
    let enabled = old.get("enabled").and_then(Value::as_bool).unwrap_or(false);
    if enabled && wallet.is_none() {
        out.changes
            .retain(|change| !matches!(change, super::Change::Set { key, .. } if key == "enabled"));
        out.set(
            "enabled",
            Value::Bool(false),
            "payouts.enabled was true but no wallet_rpc was set, so nothing could be sent; \
             set payouts.wallet_rpc and enabled: true to pay",
        );
    }
    out
}

pub(super) fn migrate_api(old: &Mapping) -> MigratedSection {
    let admin_enabled = old
        .get("admin_enabled")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut out = carry("api", old, move |key| match key {
        "enabled" | "cors_origins" => Some(Rule::Same),
        "bind" => Some(Rule::Same),
        "stats_cache" => Some(Rule::Duration("stats_cache")),
        "admin_enabled" | "admin_password" => Some(Rule::Drop("")),
        _ => None,
    });
    out.changes.retain(|change| {
        !matches!(change, super::Change::Dropped { old_key, .. }
            if old_key == "api.admin_enabled" || old_key == "api.admin_password")
    });
    let password = old.get("admin_password").and_then(text);
    match (admin_enabled, password) {
        (true, Some(password)) => out.set(
            "admin_password",
            Value::from(password),
            "api.admin_enabled: true and api.admin_password -> api.admin_password: the admin \
             endpoints are on exactly when a password (at least 12 characters) is set. Better \
             set TOS_POOL_API_ADMIN_PASSWORD and delete this line",
        ),
        (true, None) => out.drop_key(
            "api.admin_enabled",
            "true without a password; set TOS_POOL_API_ADMIN_PASSWORD (at least 12 characters) \
             to turn the admin endpoints on",
        ),
        (false, _) if old.contains_key("admin_enabled") || old.contains_key("admin_password") => {
            out.drop_key(
                "api.admin_enabled",
                "false: the admin endpoints stay off (no api.admin_password is written)",
            )
        }
        (false, _) => {}
    }
    out
}

pub(super) fn migrate_security(old: &Mapping) -> MigratedSection {
    let mut out = MigratedSection::new("security");
    for (key, value) in old {
        let key = key_text(key);
        let old_key = format!("security.{key}");
        match key.as_str() {
            "max_connections_per_ip" => {
                out.set(
                    "max_connections_per_ip",
                    value.clone(),
                    "security.max_connections_per_ip: kept; the Go pool counted each IPv6 \
                     address alone, ours counts a whole /64 as one unless ipv6_prefix says \
                     otherwise, so ipv6_prefix: 128 below keeps the Go pool's counting",
                );
                out.set(
                    "ipv6_prefix",
                    Value::from(128),
                    "security.ipv6_prefix: new key, 128 = per IPv6 address as the Go pool \
                     counted; 64 (our default) is safer against one host with many addresses",
                );
            }
            "ban_duration" => match go_duration(value) {
                Ok(duration) => out.set(
                    "ban_duration",
                    Value::from(duration),
                    "security.ban_duration: Go duration written in our form",
                ),
                Err(why) => out.drop_key(old_key, why),
            },
            "ban_threshold" => out.set(
                "ban_invalid_percent",
                Value::from(number(value).unwrap_or(30.0)),
                "security.ban_threshold -> security.ban_invalid_percent: percent of invalid \
                 shares that bans an IP, judged over ban_check_window shares",
            ),
            "rate_limit_shares" => out.set(
                "max_shares_per_second",
                value.clone(),
                "security.rate_limit_shares -> security.max_shares_per_second: counted per \
                 connection here",
            ),
            "max_workers_per_address" => out.drop_key(
                old_key,
                "no such limit here; max_connections_per_ip bounds what one miner opens",
            ),
            "blacklist" => out.set(
                "blacklist",
                value.clone(),
                "security.blacklist: miner addresses refused at login, unchanged. Runtime \
                 additions go through POST /api/admin/blacklist",
            ),
            "whitelist" => {
                let ips = match value {
                    Value::Sequence(items) => items.iter().filter_map(text).collect::<Vec<_>>(),
                    _ => Vec::new(),
                };
                out.drop_key(
                    old_key,
                    format!(
                        "the Go pool's whitelist held IPs never banned; ours (security.whitelist) \
                         holds the only miner ADDRESSES allowed, a different thing. Add these \
                         IPs at runtime with POST /api/admin/whitelist: [{}]",
                        ips.join(", ")
                    ),
                );
            }
            _ => out.drop_key(
                old_key,
                "not a key of the Go pool's config nor of ours; check what it was for",
            ),
        }
    }
    out
}

pub(super) fn notify_rule(key: &str) -> Option<Rule> {
    match key {
        "discord_url" => Some(Rule::Rename("discord_webhook")),
        "telegram_bot" => Some(Rule::Rename("telegram_bot_token")),
        "telegram_chat" => Some(Rule::Rename("telegram_chat_id")),
        "enabled" => Some(Rule::Drop(
            "notifications are on when a webhook or bot is set; on_block_found, \
             on_block_orphaned and on_payment choose the events",
        )),
        "pool_url" => Some(Rule::Drop("messages carry no link to the pool's page")),
        _ => None,
    }
}

pub(super) fn log_rule(key: &str) -> Option<Rule> {
    match key {
        "level" | "format" | "file" => Some(Rule::Same),
        _ => None,
    }
}

pub(super) fn profiling_rule(key: &str) -> Option<Rule> {
    match key {
        "enabled" | "bind" => Some(Rule::Same),
        _ => None,
    }
}

pub(super) fn newrelic_rule(key: &str) -> Option<Rule> {
    match key {
        "enabled" | "app_name" => Some(Rule::Same),
        "license_key" => Some(Rule::Same),
        _ => None,
    }
}
