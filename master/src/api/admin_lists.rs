//! `/api/admin/blacklist` and `/api/admin/whitelist`: the operator's
//! runtime lists (miner addresses refused at login; IPs and CIDRs never
//! banned). Each change is written to Redis, audited, and sent to every
//! connected slave at once through the gateway.

use std::net::IpAddr;

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use tos_pool_common::address::Address;

use super::audit::{self, AdminCaller, AuditEntry};
use super::{ApiError, ApiState};
use crate::ledger::AccessList;

/// A list as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListView {
    /// `blacklist` or `whitelist`.
    pub list: &'static str,
    /// Its entries, sorted.
    pub entries: Vec<String>,
}

/// The body of a blacklist change.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressBody {
    /// A miner address of the pool's network.
    pub address: String,
}

/// The body of a whitelist change.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpBody {
    /// An IP or a CIDR (`10.0.0.0/8`, `2001:db8::/32`).
    pub ip: String,
}

/// The answer to a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListChange {
    /// `blacklist` or `whitelist`.
    pub list: &'static str,
    /// The entry, in its canonical form.
    pub entry: String,
    /// Whether the list changed (false: it was already so).
    pub changed: bool,
    /// The list after the change.
    pub entries: Vec<String>,
}

/// `GET /api/admin/blacklist`.
pub async fn blacklist(State(state): State<ApiState>) -> Result<Json<ListView>, ApiError> {
    list(&state, AccessList::Blacklist).await
}

/// `GET /api/admin/whitelist`.
pub async fn whitelist(State(state): State<ApiState>) -> Result<Json<ListView>, ApiError> {
    list(&state, AccessList::Whitelist).await
}

/// `POST /api/admin/blacklist` `{"address": …}` (audited).
pub async fn blacklist_add(
    State(state): State<ApiState>,
    Extension(caller): Extension<AdminCaller>,
    body: Result<Json<AddressBody>, JsonRejection>,
) -> Result<Json<ListChange>, ApiError> {
    let entry = address_of(&state, body)?;
    change(&state, caller, AccessList::Blacklist, entry, true).await
}

/// `DELETE /api/admin/blacklist` `{"address": …}` (audited).
pub async fn blacklist_remove(
    State(state): State<ApiState>,
    Extension(caller): Extension<AdminCaller>,
    body: Result<Json<AddressBody>, JsonRejection>,
) -> Result<Json<ListChange>, ApiError> {
    let entry = address_of(&state, body)?;
    change(&state, caller, AccessList::Blacklist, entry, false).await
}

/// `POST /api/admin/whitelist` `{"ip": …}` (audited); lifts the bans in
/// force on the IPs it covers.
pub async fn whitelist_add(
    State(state): State<ApiState>,
    Extension(caller): Extension<AdminCaller>,
    body: Result<Json<IpBody>, JsonRejection>,
) -> Result<Json<ListChange>, ApiError> {
    let entry = ip_entry(body)?;
    change(&state, caller, AccessList::Whitelist, entry, true).await
}

/// `DELETE /api/admin/whitelist` `{"ip": …}` (audited).
pub async fn whitelist_remove(
    State(state): State<ApiState>,
    Extension(caller): Extension<AdminCaller>,
    body: Result<Json<IpBody>, JsonRejection>,
) -> Result<Json<ListChange>, ApiError> {
    let entry = ip_entry(body)?;
    change(&state, caller, AccessList::Whitelist, entry, false).await
}

async fn list(state: &ApiState, which: AccessList) -> Result<Json<ListView>, ApiError> {
    let entries = state.parts().ledger.access_list(which).await?;
    Ok(Json(ListView {
        list: which.name(),
        entries,
    }))
}

/// Adds or removes `entry`, then sends both lists to every slave.
async fn change(
    state: &ApiState,
    caller: AdminCaller,
    which: AccessList,
    entry: String,
    add: bool,
) -> Result<Json<ListChange>, ApiError> {
    let ledger = &state.parts().ledger;
    let (action, result) = if add {
        (
            format!("{}_add", which.name()),
            ledger.add_to_access_list(which, &entry).await,
        )
    } else {
        (
            format!("{}_remove", which.name()),
            ledger.remove_from_access_list(which, &entry).await,
        )
    };
    let changed = match result {
        Ok(changed) => changed,
        Err(error) => {
            audit::record(
                state,
                AuditEntry::new(caller, &action, &entry, "failed", error.to_string()),
            )
            .await;
            return Err(error.into());
        }
    };
    let blacklist = ledger.access_list(AccessList::Blacklist).await?;
    let whitelist = ledger.access_list(AccessList::Whitelist).await?;
    let entries = match which {
        AccessList::Blacklist => blacklist.clone(),
        AccessList::Whitelist => whitelist.clone(),
    };
    state.parts().gateway.set_access_lists(blacklist, whitelist);
    let detail = if changed {
        "sent to every slave"
    } else {
        "no change"
    };
    audit::record(
        state,
        AuditEntry::new(caller, &action, &entry, "ok", detail),
    )
    .await;
    Ok(Json(ListChange {
        list: which.name(),
        entry,
        changed,
        entries,
    }))
}

fn address_of(
    state: &ApiState,
    body: Result<Json<AddressBody>, JsonRejection>,
) -> Result<String, ApiError> {
    let Json(body) = body.map_err(|rejection| {
        ApiError::BadRequest(format!(
            "the body must be JSON {{\"address\": \"tos1…\"}}: {rejection}"
        ))
    })?;
    let network = state.inner.network;
    Address::parse(body.address.trim(), network)
        .map(|address| address.to_string())
        .map_err(|error| {
            ApiError::BadRequest(format!(
                "{:?} is not a {network} address: {error}",
                body.address
            ))
        })
}

fn ip_entry(body: Result<Json<IpBody>, JsonRejection>) -> Result<String, ApiError> {
    let Json(body) = body.map_err(|rejection| {
        ApiError::BadRequest(format!(
            "the body must be JSON {{\"ip\": \"203.0.113.7\"}} or {{\"ip\": \"10.0.0.0/8\"}}: {rejection}"
        ))
    })?;
    canonical_ip_entry(&body.ip).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "{:?} is not an IP or a CIDR: give for example 203.0.113.7, 10.0.0.0/8 or 2001:db8::/32",
            body.ip
        ))
    })
}

/// An IP or CIDR in canonical form (`10.0.0.0/8`, `2001:db8::1`), or
/// `None` when it is neither.
pub fn canonical_ip_entry(text: &str) -> Option<String> {
    let text = text.trim();
    match text.split_once('/') {
        None => text.parse::<IpAddr>().ok().map(|ip| ip.to_string()),
        Some((ip, bits)) => {
            let ip: IpAddr = ip.parse().ok()?;
            let bits: u8 = bits.parse().ok()?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            (bits <= max).then(|| format!("{ip}/{bits}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_entries_are_checked_and_canonical() {
        assert_eq!(canonical_ip_entry(" 10.0.0.1 "), Some("10.0.0.1".into()));
        assert_eq!(canonical_ip_entry("10.0.0.0/8"), Some("10.0.0.0/8".into()));
        assert_eq!(
            canonical_ip_entry("2001:DB8::/32"),
            Some("2001:db8::/32".into())
        );
        assert_eq!(canonical_ip_entry("10.0.0.0/33"), None);
        assert_eq!(canonical_ip_entry("host"), None);
        assert_eq!(canonical_ip_entry("10.0.0.0/x"), None);
    }
}
