//! Which confirmed balances may be planned: not quarantined, and of an
//! address the wallet (or the daemon) has said is valid ([`super::validate`]).

use std::collections::{BTreeMap, BTreeSet};

use tos_pool_common::clock::unix_ms;

use super::validate::{CheckFailure, Checker, Validity, verdict};
use super::{PayoutError, Payouts};
use crate::ledger::{QuarantineCause, QuarantineEntry};

impl Payouts {
    /// The balances that may be planned this run. Unvalidated addresses at
    /// the threshold are validated now: valid ones are cached, invalid ones
    /// quarantined (unless `dry_run`: then only left out), and those nobody
    /// could check wait for a later run with their balance untouched.
    pub(super) async fn payable_balances(
        &self,
        mut balances: BTreeMap<String, i64>,
        dry_run: bool,
    ) -> Result<BTreeMap<String, i64>, PayoutError> {
        let ledger = &self.inner.ledger;
        let quarantined: BTreeSet<String> = ledger
            .quarantined()
            .await?
            .into_iter()
            .map(|entry| entry.address)
            .collect();
        balances.retain(|address, _| !quarantined.contains(address));
        let threshold = self.inner.settings.rules.threshold;
        let candidates: Vec<String> = balances
            .iter()
            .filter(|(_, balance)| u64::try_from(**balance).is_ok_and(|b| b > 0 && b >= threshold))
            .map(|(address, _)| address.clone())
            .collect();
        let validated = ledger.validated_addresses(&candidates).await?;
        for address in candidates.iter().filter(|a| !validated.contains(*a)) {
            match self.check_address(address).await {
                Validity::Valid => {
                    if !dry_run {
                        ledger.mark_address_valid(address, unix_ms()).await?;
                    }
                    tracing::info!(%address, "address validated: payable from now on");
                }
                Validity::Invalid { reason } => {
                    balances.remove(address);
                    if dry_run {
                        tracing::warn!(%address, %reason, "dry run: invalid address, would be quarantined");
                        continue;
                    }
                    let entry = QuarantineEntry {
                        address: address.clone(),
                        cause: QuarantineCause::InvalidAddress,
                        reason,
                        payment_id: None,
                        since_ms: unix_ms(),
                    };
                    ledger.quarantine(&entry).await?;
                }
                Validity::Unknown { reason } => {
                    balances.remove(address);
                    tracing::warn!(%address, %reason, "address not validated: its balance waits for a later run");
                }
                Validity::AskDaemon => {
                    // check_address never returns it: not payable this run.
                    balances.remove(address);
                }
            }
        }
        Ok(balances)
    }

    /// Asks the wallet's `validate_address`, and the daemon's when the
    /// wallet has no such method.
    async fn check_address(&self, address: &str) -> Validity {
        let inner = &self.inner;
        let wallet = inner
            .wallet
            .validate_address(address)
            .await
            .map_err(|error| CheckFailure {
                code: error.rpc_code(),
                message: error.to_string(),
            });
        match verdict(Checker::Wallet, wallet) {
            Validity::AskDaemon => {
                verdict(Checker::Daemon, inner.chain.validate_address(address).await)
            }
            other => other,
        }
    }
}
