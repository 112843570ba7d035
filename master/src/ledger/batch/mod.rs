//! Exactly-once share batches: each batch's new shares and the boot's
//! high-water mark are written by one script call.

mod plan;

pub use plan::{Counted, MAX_SHARE_DIFFICULTY, counted};

use tos_pool_proto::v1::ShareBatch;

use super::{Ledger, LedgerError};

/// Calls allowed when other streams of the same boot keep moving the mark.
const MAX_ATTEMPTS: usize = 8;

/// What [`Ledger::record_batch`] did with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Every share of the boot up to this seq is stored: ack it.
    pub acked_seq: u64,
    /// Shares of this batch written now.
    pub new_shares: u64,
    /// Shares of this batch already stored before (a replay), not counted.
    pub skipped_duplicates: u64,
}

impl Ledger {
    /// Writes the shares of `batch` that the ledger does not hold yet for
    /// `(slave_id, boot_id)`, and advances the boot's high-water mark, in one
    /// atomic script call.
    ///
    /// A replayed batch counts nothing; a batch overlapping the mark counts
    /// only the shares after it (one more call, after cutting the batch). A
    /// batch that starts beyond mark + 1 is refused with
    /// [`LedgerError::Gap`] and nothing is written; the slave must resume
    /// from [`acked_seq`](Self::acked_seq) + 1. `now_ms` is the master's
    /// clock: shares are booked at their own time but never later.
    pub async fn record_batch(
        &self,
        slave_id: &str,
        boot_id: &str,
        batch: &ShareBatch,
        now_ms: u64,
    ) -> Result<BatchOutcome, LedgerError> {
        plan::check(slave_id, batch)?;
        let high_water = self.keys.high_water(slave_id, boot_id);
        let total = batch.shares.len() as u64;
        let mut first_seq = batch.first_seq;
        for _ in 0..MAX_ATTEMPTS {
            // check() proved the shares are numbered first_seq.. in order.
            let skip = usize::try_from(first_seq - batch.first_seq).unwrap_or(usize::MAX);
            let shares = batch.shares.get(skip..).unwrap_or_default();
            let summary = plan::summarize(shares, &self.settings, now_ms);
            let call = plan::script_call(
                &self.keys,
                &self.settings,
                high_water.clone(),
                first_seq,
                batch.last_seq,
                &summary,
                now_ms,
            );
            let mut invocation = self.scripts.record_batch.prepare_invoke();
            for key in &call.keys {
                invocation.key(key);
            }
            for arg in &call.args {
                invocation.arg(arg);
            }
            let mut connection = self.connection();
            let (status, mark): (String, u64) = invocation
                .invoke_async(&mut connection)
                .await
                .map_err(LedgerError::redis("recording a share batch"))?;
            let outcome = |new_shares: u64| BatchOutcome {
                acked_seq: mark,
                new_shares,
                skipped_duplicates: total - new_shares,
            };
            match status.as_str() {
                "ok" => {
                    self.await_replicas(&mut connection).await?;
                    let written = batch.last_seq - first_seq + 1;
                    tracing::debug!(
                        slave = slave_id,
                        boot = boot_id,
                        acked_seq = mark,
                        new_shares = written,
                        "share batch stored"
                    );
                    return Ok(outcome(written));
                }
                "duplicate" => {
                    // Stored before, perhaps by a call whose replicas did not
                    // confirm in time: wait for them now.
                    self.await_replicas(&mut connection).await?;
                    tracing::debug!(
                        slave = slave_id,
                        boot = boot_id,
                        acked_seq = mark,
                        "replayed share batch skipped"
                    );
                    return Ok(outcome(0));
                }
                "overlap" if mark >= first_seq && mark < batch.last_seq => {
                    first_seq = mark + 1;
                }
                "gap" => {
                    return Err(LedgerError::Gap {
                        slave_id: slave_id.to_owned(),
                        boot_id: boot_id.to_owned(),
                        first_seq: batch.first_seq,
                        acked_seq: mark,
                    });
                }
                _ => {
                    return Err(LedgerError::unexpected(
                        "recording a share batch",
                        (status, mark),
                    ));
                }
            }
        }
        Err(LedgerError::Contended {
            slave_id: slave_id.to_owned(),
            boot_id: boot_id.to_owned(),
        })
    }

    /// The highest share seq stored for `(slave_id, boot_id)`; 0 when none
    /// (a new boot, or one idle past the high-water expiry). Sent in Welcome.
    pub async fn acked_seq(&self, slave_id: &str, boot_id: &str) -> Result<u64, LedgerError> {
        let mut connection = self.connection();
        let mark: Option<u64> = redis::cmd("GET")
            .arg(self.keys.high_water(slave_id, boot_id))
            .query_async(&mut connection)
            .await
            .map_err(LedgerError::redis("reading a high-water mark"))?;
        Ok(mark.unwrap_or(0))
    }
}
