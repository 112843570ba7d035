//! Exactly-once share batches: each batch's new shares and the boot's
//! high-water mark are written by one script call.

mod plan;

pub use plan::{Counted, MAX_SHARE_DIFFICULTY, counted};

use redis::aio::ConnectionManager;
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
            let mut connection = self.connection();
            let (status, mark) = self
                .run_record_script(&mut connection, &call.command(self.record_batch_hash()))
                .await?;
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

    /// Writes several batches of one `(slave_id, boot_id)`, in order, as
    /// [`record_batch`](Self::record_batch) would one after the other, but
    /// with their script calls sent together: one round trip on one
    /// connection, which Redis runs in the order sent. Each call still checks
    /// the mark, so a batch whose predecessor was not stored is refused as a
    /// gap and nothing is counted twice.
    ///
    /// Returns one result per batch, in order, up to and including the first
    /// error: the batches after it were not written (or were, and will be
    /// acked as replays). Batches the pipelined calls did not settle (an
    /// overlap, a gap, an error of the call) are written again one by one.
    pub async fn record_batches(
        &self,
        slave_id: &str,
        boot_id: &str,
        batches: &[ShareBatch],
        now_ms: u64,
    ) -> Vec<Result<BatchOutcome, LedgerError>> {
        let mut results = Vec::with_capacity(batches.len());
        let checked = batches
            .iter()
            .take_while(|batch| plan::check(slave_id, batch).is_ok())
            .count();
        if checked > 1 {
            match self
                .pipeline_batches(slave_id, boot_id, &batches[..checked], now_ms)
                .await
            {
                Ok(stored) => results.extend(stored.into_iter().map(Ok)),
                Err(error) => {
                    results.push(Err(error));
                    return results;
                }
            }
        }
        for batch in &batches[results.len()..] {
            let result = self.record_batch(slave_id, boot_id, batch, now_ms).await;
            let failed = result.is_err();
            results.push(result);
            if failed {
                break;
            }
        }
        results
    }

    /// Sends the script calls of `batches` (checked, in seq order) in one
    /// pipeline; the outcomes of the leading batches stored or replayed,
    /// once their replicas confirm. Stops at the first other reply.
    async fn pipeline_batches(
        &self,
        slave_id: &str,
        boot_id: &str,
        batches: &[ShareBatch],
        now_ms: u64,
    ) -> Result<Vec<BatchOutcome>, LedgerError> {
        let high_water = self.keys.high_water(slave_id, boot_id);
        let hash = self.record_batch_hash();
        let mut pipeline = redis::pipe();
        for batch in batches {
            let summary = plan::summarize(&batch.shares, &self.settings, now_ms);
            let call = plan::script_call(
                &self.keys,
                &self.settings,
                high_water.clone(),
                batch.first_seq,
                batch.last_seq,
                &summary,
                now_ms,
            );
            pipeline.add_command(call.command(hash));
        }
        let mut connection = self.connection();
        let replies: Vec<(String, u64)> = match pipeline.query_async(&mut connection).await {
            Ok(replies) => replies,
            Err(error) => {
                // Settled one by one by the caller; a script Redis lost
                // (restart, failover, SCRIPT FLUSH) is loaded again there.
                tracing::debug!(slave = slave_id, boot = boot_id, %error, "pipelined share batches not settled");
                return Ok(Vec::new());
            }
        };
        let mut stored = Vec::with_capacity(batches.len());
        for (batch, (status, mark)) in batches.iter().zip(replies) {
            let total = batch.shares.len() as u64;
            let new_shares = match status.as_str() {
                "ok" => total,
                "duplicate" => 0,
                _ => break,
            };
            stored.push(BatchOutcome {
                acked_seq: mark,
                new_shares,
                skipped_duplicates: total - new_shares,
            });
        }
        if !stored.is_empty() {
            self.await_replicas(&mut connection).await?;
            tracing::debug!(
                slave = slave_id,
                boot = boot_id,
                batches = stored.len(),
                acked_seq = stored.last().map_or(0, |outcome| outcome.acked_seq),
                "pipelined share batches stored"
            );
        }
        Ok(stored)
    }

    /// The SHA1 `EVALSHA` names `record_batch.lua` by.
    fn record_batch_hash(&self) -> &str {
        self.scripts.record_batch.get_hash()
    }

    /// Runs one `record_batch.lua` call; loads the script first when Redis
    /// does not hold it (a new or restarted server, a failover).
    async fn run_record_script(
        &self,
        connection: &mut ConnectionManager,
        command: &redis::Cmd,
    ) -> Result<(String, u64), LedgerError> {
        let action = "recording a share batch";
        match command.query_async(connection).await {
            Ok(reply) => Ok(reply),
            Err(error)
                if error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) =>
            {
                self.scripts
                    .record_batch
                    .load_async(connection)
                    .await
                    .map_err(LedgerError::redis(action))?;
                command
                    .query_async(connection)
                    .await
                    .map_err(LedgerError::redis(action))
            }
            Err(error) => Err(LedgerError::redis(action)(error)),
        }
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
