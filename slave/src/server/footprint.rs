//! What one idle connection task holds inline: the sizes of the futures
//! spawned per miner and of the state they carry across awaits. Printed
//! (`cargo test -p tos-pool-slave --lib footprint -- --nocapture`) and
//! bounded, so a change that makes every idle session heavier fails here.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpStream;

use crate::policy::ConnectionPermit;
use crate::session::Session;

use super::ServerContext;
use super::connection::serve;
use super::driver::SessionDriver;
use super::line::LineFraming;
use super::listener::tls_handshake;
use super::push::{Seat, SharedTcp};
use super::stratum::StratumLines;
use super::xatum::XatumLines;
use super::{line, websocket};

/// The most a line door's task may hold inline (debug build, the larger).
const MAX_IDLE_TASK: usize = 3 * 1024;

/// The size of the future `f` returns, without calling it.
fn future_size<A, B, C, D, E, Fut, F>(_: F) -> usize
where
    F: Fn(A, B, C, D, E) -> Fut,
    Fut: Future,
{
    std::mem::size_of::<Fut>()
}

/// Same for a four-argument `f`.
fn future_size4<A, B, C, D, Fut, F>(_: F) -> usize
where
    F: Fn(A, B, C, D) -> Fut,
    Fut: Future,
{
    std::mem::size_of::<Fut>()
}

/// The spawned Stratum task: what each plain Stratum session's task holds.
fn stratum_task_size() -> usize {
    future_size(line::serve_pushed)
}

/// The Stratum connection loop alone.
fn stratum_loop_size() -> usize {
    future_size4(
        serve::<LineFraming<SharedTcp, StratumLines>>
            as fn(_, Arc<Seat>, Arc<ServerContext>, ConnectionPermit) -> _,
    )
}

#[test]
fn an_idle_connection_task_stays_small() {
    let sizes = [
        ("stratum task", stratum_task_size()),
        ("stratum connection loop", stratum_loop_size()),
        (
            "xatum task",
            future_size(line::serve::<TcpStream, XatumLines>),
        ),
        (
            "websocket task (upgrade + loop)",
            future_size4(websocket::serve::<TcpStream>),
        ),
        ("tls handshake task", future_size(tls_handshake)),
        ("SessionDriver", std::mem::size_of::<SessionDriver>()),
        ("Seat", std::mem::size_of::<super::push::Seat>()),
        ("Session", std::mem::size_of::<Session>()),
    ];
    for (what, size) in sizes {
        println!("{what}: {size} bytes");
    }
    assert!(stratum_loop_size() <= stratum_task_size());
    // Was 13,888 bytes (debug) while every door shared one task future.
    assert!(
        stratum_task_size() <= MAX_IDLE_TASK,
        "a Stratum task is {} bytes: box what only a request needs",
        stratum_task_size()
    );
}
