//! Found blocks and the balances they credit. The master is the only writer;
//! every change of a block's state and the balance changes it makes are one
//! script call.

use serde::Serialize;

use super::keys::state_name;
use super::{Ledger, LedgerError};
use crate::lifecycle::{BlockRecord, BlockState, LedgerOp, Transition};

/// What the ledger holds for one address, in atomic units. Signed, so that
/// an inconsistency shows as a negative number instead of a read error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Balances {
    /// Credited by immature blocks; moves to `confirmed` at maturity.
    pub immature: i64,
    /// Matured and payable.
    pub confirmed: i64,
    /// In payouts sent but not yet confirmed (written by payouts).
    pub pending: i64,
    /// Paid in total (written by payouts).
    pub paid: i64,
}

impl Ledger {
    /// Stores a block being submitted, found (a candidate) or refused at
    /// submission, once: returns `false`, changing nothing, when the hash is
    /// already stored.
    pub async fn insert_candidate(&self, record: &BlockRecord) -> Result<bool, LedgerError> {
        let json = encode_in_state(
            record,
            &[
                BlockState::Submitting,
                BlockState::Candidate,
                BlockState::Refused,
            ],
        )?;
        let mut connection = self.connection();
        let inserted: u8 = self
            .scripts
            .insert_candidate
            .key(self.keys.blocks())
            .key(self.keys.blocks_in_state(record.state))
            .key(self.keys.blocks_by_height())
            .arg(&record.hash)
            .arg(json)
            .arg(record.height)
            .invoke_async(&mut connection)
            .await
            .map_err(LedgerError::redis("storing a block candidate"))?;
        if inserted == 1 {
            tracing::info!(
                hash = %record.hash,
                height = record.height,
                state = state_name(record.state),
                finder = %record.finder,
                "block stored"
            );
            self.close_round_at(record).await;
        }
        Ok(inserted == 1)
    }

    /// The stored record of a block, if any.
    pub async fn block(&self, hash: &str) -> Result<Option<BlockRecord>, LedgerError> {
        let mut connection = self.connection();
        let json: Option<String> = redis::cmd("HGET")
            .arg(self.keys.blocks())
            .arg(hash)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading a block"))?;
        json.map(|json| parse_record(hash, &json)).transpose()
    }

    /// Every block in `state`, lowest height first.
    pub async fn blocks_in_state(
        &self,
        state: BlockState,
    ) -> Result<Vec<BlockRecord>, LedgerError> {
        let mut connection = self.connection();
        let hashes: Vec<String> = redis::cmd("ZRANGE")
            .arg(self.keys.blocks_in_state(state))
            .arg(0)
            .arg(-1)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("listing blocks by state"))?;
        self.records(hashes).await
    }

    /// Up to `limit` blocks, highest first, skipping the `offset` highest.
    pub async fn recent_blocks(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<Vec<BlockRecord>, LedgerError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut connection = self.connection();
        let hashes: Vec<String> = redis::cmd("ZREVRANGE")
            .arg(self.keys.blocks_by_height())
            .arg(offset)
            .arg(offset.saturating_add(limit - 1))
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("listing recent blocks"))?;
        self.records(hashes).await
    }

    /// Applies a lifecycle transition of block `hash` and its ledger ops in
    /// one atomic script call, if the block is still in `expected_old_state`.
    ///
    /// Returns `true` when applied, `false` when the block had already left
    /// that state (the same transition applied before, e.g. by a run that
    /// crashed before it learnt the result): calling it again is safe.
    pub async fn apply_transition(
        &self,
        hash: &str,
        expected_old_state: BlockState,
        transition: &Transition,
    ) -> Result<bool, LedgerError> {
        if transition.new_state == expected_old_state {
            return Err(LedgerError::SameState {
                hash: hash.to_owned(),
                state: expected_old_state,
            });
        }
        let mut record = self
            .block(hash)
            .await?
            .ok_or_else(|| LedgerError::UnknownBlock {
                hash: hash.to_owned(),
            })?;
        if record.state != expected_old_state {
            return Ok(false);
        }
        record.apply(transition);
        let json = encode_record(&record)?;
        let mut invocation = self.scripts.apply_transition.prepare_invoke();
        invocation
            .key(self.keys.blocks())
            .key(self.keys.blocks_in_state(expected_old_state))
            .key(self.keys.blocks_in_state(transition.new_state))
            .key(self.keys.balance_immature())
            .key(self.keys.balance_confirmed())
            .arg(hash)
            .arg(json)
            .arg(record.height)
            .arg(transition.ledger_ops.len());
        for op in &transition.ledger_ops {
            let (balance, address, amount) = op_args(op)?;
            invocation.arg(balance).arg(address).arg(amount);
        }
        let mut connection = self.connection();
        let applied: u8 = invocation
            .invoke_async(&mut connection)
            .await
            .map_err(LedgerError::redis("applying a block transition"))?;
        if applied == 1 {
            tracing::info!(
                hash,
                height = record.height,
                from = state_name(expected_old_state),
                to = state_name(transition.new_state),
                ops = transition.ledger_ops.len(),
                "block moved"
            );
        }
        Ok(applied == 1)
    }

    /// Settles a block written ahead of its submission: replaces the stored
    /// `Submitting` record with `record` (state `Candidate` or `Refused`,
    /// with the snapshot taken once the daemon answered), in one atomic
    /// step. Returns `false`, changing nothing, when the stored block is no
    /// longer `Submitting` (settled before, or already stepped by the
    /// unlocker): calling it again is safe.
    pub async fn settle_submission(&self, record: &BlockRecord) -> Result<bool, LedgerError> {
        let json = encode_in_state(record, &[BlockState::Candidate, BlockState::Refused])?;
        let mut connection = self.connection();
        let settled: u8 = self
            .scripts
            .apply_transition
            .key(self.keys.blocks())
            .key(self.keys.blocks_in_state(BlockState::Submitting))
            .key(self.keys.blocks_in_state(record.state))
            .key(self.keys.balance_immature())
            .key(self.keys.balance_confirmed())
            .arg(&record.hash)
            .arg(json)
            .arg(record.height)
            .arg(0)
            .invoke_async(&mut connection)
            .await
            .map_err(LedgerError::redis("settling a submitted block"))?;
        if settled == 1 {
            self.close_round_at(record).await;
            tracing::info!(
                hash = %record.hash,
                height = record.height,
                state = state_name(record.state),
                "block submission settled"
            );
        }
        Ok(settled == 1)
    }

    /// Notes a block the daemon says the pool mined but that has no record
    /// (`detail` is its JSON); returns `true` the first time.
    pub async fn note_unrecorded_block(
        &self,
        hash: &str,
        detail: &str,
    ) -> Result<bool, LedgerError> {
        let mut connection = self.connection();
        let added: u8 = redis::cmd("HSETNX")
            .arg(self.keys.blocks_unrecorded())
            .arg(hash)
            .arg(detail)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("noting an unrecorded block"))?;
        Ok(added == 1)
    }

    /// The next height the unlocker's scan for unrecorded pool blocks
    /// reads, as the last run stored it.
    pub async fn scan_height(&self) -> Result<Option<u64>, LedgerError> {
        let mut connection = self.connection();
        redis::cmd("GET")
            .arg(self.keys.blocks_scanned())
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading the block scan height"))
    }

    /// Stores the next height the scan for unrecorded pool blocks reads.
    pub async fn set_scan_height(&self, height: u64) -> Result<(), LedgerError> {
        let mut connection = self.connection();
        let () = redis::cmd("SET")
            .arg(self.keys.blocks_scanned())
            .arg(height)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("storing the block scan height"))?;
        Ok(())
    }

    /// Every noted unrecorded block: hash → its JSON.
    pub async fn unrecorded_blocks(&self) -> Result<Vec<(String, String)>, LedgerError> {
        let mut connection = self.connection();
        redis::cmd("HGETALL")
            .arg(self.keys.blocks_unrecorded())
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("listing unrecorded blocks"))
    }

    /// Drops `hash` from the unrecorded blocks (it has a record now).
    pub async fn forget_unrecorded_block(&self, hash: &str) -> Result<(), LedgerError> {
        let mut connection = self.connection();
        let _: u8 = redis::cmd("HDEL")
            .arg(self.keys.blocks_unrecorded())
            .arg(hash)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("forgetting an unrecorded block"))?;
        Ok(())
    }

    /// The balances of `address` (0 where nothing was ever credited).
    pub async fn balances(&self, address: &str) -> Result<Balances, LedgerError> {
        let mut connection = self.connection();
        let (immature, confirmed, pending, paid): (
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
        ) = redis::pipe()
            .hget(self.keys.balance_immature(), address)
            .hget(self.keys.balance_confirmed(), address)
            .hget(self.keys.balance_pending(), address)
            .hget(self.keys.balance_paid(), address)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading balances"))?;
        Ok(Balances {
            immature: immature.unwrap_or(0),
            confirmed: confirmed.unwrap_or(0),
            pending: pending.unwrap_or(0),
            paid: paid.unwrap_or(0),
        })
    }

    /// The records of `hashes`, in that order, skipping any that vanished.
    async fn records(&self, hashes: Vec<String>) -> Result<Vec<BlockRecord>, LedgerError> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let mut connection = self.connection();
        let jsons: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.keys.blocks())
            .arg(&hashes)
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading blocks"))?;
        hashes
            .iter()
            .zip(jsons)
            .filter_map(|(hash, json)| json.map(|json| parse_record(hash, &json)))
            .collect()
    }
}

/// Encodes a record about to be stored, refusing one whose state is not
/// among `storable`: the insert and the settle step accept different states
/// but check and encode the same way.
fn encode_in_state(record: &BlockRecord, storable: &[BlockState]) -> Result<String, LedgerError> {
    if !storable.contains(&record.state) {
        return Err(LedgerError::NotInsertable {
            hash: record.hash.clone(),
            state: record.state,
        });
    }
    encode_record(record)
}

/// Encodes a record for the blocks hash.
fn encode_record(record: &BlockRecord) -> Result<String, LedgerError> {
    serde_json::to_string(record).map_err(|source| LedgerError::CorruptBlock {
        hash: record.hash.clone(),
        source,
    })
}

fn parse_record(hash: &str, json: &str) -> Result<BlockRecord, LedgerError> {
    serde_json::from_str(json).map_err(|source| LedgerError::CorruptBlock {
        hash: hash.to_owned(),
        source,
    })
}

/// The script arguments of one ledger op: balance (`i` or `c`), address and
/// signed amount.
fn op_args(op: &LedgerOp) -> Result<(&'static str, &str, i64), LedgerError> {
    let (balance, address, amount, sign) = match op {
        LedgerOp::CreditImmature { address, amount } => ("i", address, *amount, 1),
        LedgerOp::DebitImmature { address, amount } => ("i", address, *amount, -1),
        LedgerOp::CreditBalance { address, amount } => ("c", address, *amount, 1),
    };
    let signed = i64::try_from(amount).map_err(|_| LedgerError::AmountOutOfRange {
        address: address.clone(),
        amount,
    })?;
    Ok((balance, address, sign * signed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_become_signed_balance_changes() {
        let credit = LedgerOp::CreditImmature {
            address: "a".into(),
            amount: 5,
        };
        assert_eq!(op_args(&credit).expect("in range"), ("i", "a", 5));
        let debit = LedgerOp::DebitImmature {
            address: "a".into(),
            amount: 5,
        };
        assert_eq!(op_args(&debit).expect("in range"), ("i", "a", -5));
        let balance = LedgerOp::CreditBalance {
            address: "b".into(),
            amount: i64::MAX as u64,
        };
        assert_eq!(op_args(&balance).expect("in range"), ("c", "b", i64::MAX));
        let huge = LedgerOp::CreditBalance {
            address: "b".into(),
            amount: u64::MAX,
        };
        assert!(matches!(
            op_args(&huge),
            Err(LedgerError::AmountOutOfRange { .. })
        ));
    }
}
