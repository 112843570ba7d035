//! The master of a TOS Pool cluster: the one place that owns the chain view
//! and the money. It takes templates from the daemons (`rpc`, `upstream`),
//! turns them into jobs (`jobs`) streamed to the slaves over gRPC (`gateway`),
//! keeps the exactly-once share ledger and balances in Redis (`ledger`),
//! submits blocks (`blocks`), splits rewards by PPLNS (`pplns`) and moves
//! blocks through their lifecycle (`lifecycle`, driven by `unlocker`) and
//! pays matured balances through the wallet (`payouts`, `wallet`). It serves
//! the REST API and web page (`api`), sends block and payment notifications
//! (`notify`), `history` samples the charts' history, and `monitor` keeps
//! the gauges for New Relic and `/metrics`; `app` wires it all together.
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod blocks;
pub mod gateway;
pub mod history;
pub mod import;
pub mod jobs;
pub mod ledger;
pub mod lifecycle;
pub mod monitor;
pub mod notify;
pub mod payouts;
pub mod pplns;
pub mod rpc;
pub mod unlocker;
pub mod upstream;
pub mod wallet;
