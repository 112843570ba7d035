//! What the master's frames do to the slave's shared state: jobs into the
//! watch, bans into the ban list, settings and Welcome published,
//! block results routed to their submitter. Acks are applied by the task.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tos_pool_proto::v1::{AccessLists, Ban, BlockResult, Drain, Job, Settings, Unban, Welcome};

use super::bans::BanEntry;
use super::handle::{LinkStatus, Shared, WelcomeInfo, lock};
use super::jobs::decode_job;
use super::outbox::Welcomed;

/// A frame from the master that changes shared state.
pub(super) enum Inbound {
    Welcome(Welcome),
    Job(Job),
    BlockResult(BlockResult),
    Ban(Ban),
    Unban(Unban),
    Drain(Drain),
    Settings(Settings),
    AccessLists(AccessLists),
}

/// Applies a frame; for a Welcome, what it decided for the held shares
/// (the link must say Hello again after [`Welcomed::NewBoot`]).
pub(super) fn apply(shared: &Shared, message: Inbound) -> Option<Welcomed> {
    match message {
        Inbound::Welcome(welcome) => return Some(on_welcome(shared, welcome)),
        Inbound::Job(job) => on_job(shared, job),
        Inbound::BlockResult(result) => on_block_result(shared, result),
        Inbound::Ban(ban) => match ban.ip.parse::<IpAddr>() {
            Ok(ip) => {
                // Debug, not info: a reconnect brings every ban in force
                // (up to the master's 100,000), and the master logs each one
                // once when it is set.
                tracing::debug!(%ip, reason = %ban.reason, until_ms = ban.until_ms, "ban from the master");
                shared.bans.ban(
                    ip,
                    BanEntry {
                        reason: ban.reason,
                        until_ms: ban.until_ms,
                    },
                );
            }
            Err(_) => tracing::warn!(ip = %ban.ip, "master sent a ban for a malformed IP; ignored"),
        },
        Inbound::Unban(unban) => match unban.ip.parse::<IpAddr>() {
            Ok(ip) => {
                shared.bans.lift(ip);
            }
            Err(_) => {
                tracing::warn!(ip = %unban.ip, "master sent an unban for a malformed IP; ignored");
            }
        },
        Inbound::Drain(drain) => {
            tracing::warn!(reason = %drain.reason, "master asks this slave to drain");
            shared.drain.send_replace(Some(drain.reason));
        }
        Inbound::Settings(settings) => on_settings(shared, settings),
        Inbound::AccessLists(lists) => shared.bans.set_access(&lists.blacklist, &lists.whitelist),
    }
    None
}

fn on_welcome(shared: &Shared, welcome: Welcome) -> Welcomed {
    let (welcomed, acked) = {
        let mut outbox = lock(&shared.outbox);
        let welcomed = outbox.on_welcome(welcome.acked_seq, super::new_boot_id);
        // The journal follows under the same lock, so it replays to this.
        match (&shared.journal, &welcomed) {
            (Some(journal), Welcomed::NewBoot { .. }) => journal.new_boot(outbox.boot_id()),
            _ => shared.journal_acked(outbox.acked()),
        }
        (welcomed, outbox.acked())
    };
    shared.acked.send_replace(acked);
    match &welcomed {
        Welcomed::NewBoot {
            master,
            acked,
            lost,
            renumbered,
            old_boot_id,
        } => {
            shared.boot_renewals.fetch_add(1, Ordering::Relaxed);
            shared
                .shares_lost_by_master
                .fetch_add(*lost, Ordering::Relaxed);
            tracing::error!(
                master_mark = master,
                acked,
                lost,
                renumbered,
                old_boot = %old_boot_id,
                new_boot = %lock(&shared.outbox).boot_id(),
                "the master lost shares it had acked (its Redis went back): those are gone; \
                 the shares still held are sent once under a new boot"
            );
        }
        Welcomed::Jumped { master, assigned } => tracing::warn!(
            master_mark = master,
            assigned,
            "the master holds seqs this slave never assigned (a journal behind the master, \
             or another process with this boot id); numbering goes on after its mark"
        ),
        Welcomed::Resume { .. } => {}
    }
    if matches!(welcomed, Welcomed::NewBoot { .. }) {
        // Not connected: the link says Hello again with the new boot.
        return welcomed;
    }
    let info = WelcomeInfo {
        slave_index: welcome.slave_index,
        acked_seq: welcome.acked_seq,
        master_version: welcome.master_version,
        network: welcome.network,
    };
    tracing::info!(
        slave_index = info.slave_index,
        acked_seq = info.acked_seq,
        master_version = %info.master_version,
        network = %info.network,
        "welcomed by the master"
    );
    if let Some(settings) = welcome.settings {
        on_settings(shared, settings);
    }
    // Welcome first: whoever wakes on `Connected` finds the slave index.
    let slave_index = info.slave_index;
    shared.welcome.send_replace(Some(Arc::new(info)));
    shared
        .status
        .send_replace(LinkStatus::Connected { slave_index });
    welcomed
}

fn on_settings(shared: &Shared, settings: Settings) {
    let local = shared.batch_max_config;
    let batch_max = match settings.share_batch_max {
        0 => local,
        master => local.min(u64::from(master)),
    };
    shared.batch_max.store(batch_max.max(1), Ordering::Relaxed);
    shared
        .pool_settings
        .send_replace(Some(Arc::new(super::wire::pool_settings(&settings))));
    shared.settings.send_replace(Some(Arc::new(settings)));
}

fn on_job(shared: &Shared, job: Job) {
    match decode_job(job) {
        Ok(job) => {
            tracing::debug!(job = %job.job_id, height = job.height, clean = job.clean, "new job");
            let job = Arc::new(job);
            shared.jobs.send_replace(Some(job));
        }
        Err(error) => {
            tracing::error!(%error, "job from the master refused; miners keep the previous job")
        }
    }
}

fn on_block_result(shared: &Shared, result: BlockResult) {
    tracing::info!(
        request_id = result.request_id,
        accepted = result.accepted,
        height = result.height,
        block_hash = %result.block_hash,
        reason = %result.reason,
        "block result from the master"
    );
    if !lock(&shared.blocks).on_result(result) {
        tracing::warn!("block result for an unknown or already answered request");
    }
}
