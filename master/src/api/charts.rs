//! The charts' history: `GET /api/chart/hashrate?hours=` and
//! `/api/chart/workers?hours=` (the pool, up to 7 days) and
//! `/api/miners/{address}/chart?hours=` (a miner, up to 24 hours). Each
//! answer is `{"hours", "interval_ms", "points": [[time_ms, value…], …]}`,
//! oldest first, averaged down to at most `MAX_CHART_POINTS` points.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tos_pool_common::clock::unix_ms;

use super::{ApiError, ApiState};
use crate::history::series::{self, MAX_CHART_POINTS, Sample};

/// The longest pool chart, in hours (the pool history's 7 days).
const POOL_MAX_HOURS: u32 = 7 * 24;

/// The longest miner chart, in hours (a miner history's 24 hours).
const MINER_MAX_HOURS: u32 = 24;

/// The query of a chart.
#[derive(Debug, Default, Deserialize)]
pub struct ChartQuery {
    /// Hours back from now (default 24, whole hours).
    hours: Option<String>,
}

/// The answer of a chart endpoint.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChartView {
    /// Hours covered.
    pub hours: u32,
    /// Time between samples, ms: `web.sample_interval` for the pool, at
    /// least 5 minutes for a miner.
    pub interval_ms: u64,
    /// `[time_ms, value…]`, oldest first.
    pub points: Vec<Value>,
}

/// `/api/chart/hashrate`: `[time_ms, pool hashrate, network hashrate]`.
pub async fn pool_hashrate(
    State(state): State<ApiState>,
    Query(query): Query<ChartQuery>,
) -> Result<Json<ChartView>, ApiError> {
    pool_chart(&state, &query, &[0, 3]).await
}

/// `/api/chart/workers`: `[time_ms, workers, miners]`.
pub async fn pool_workers(
    State(state): State<ApiState>,
    Query(query): Query<ChartQuery>,
) -> Result<Json<ChartView>, ApiError> {
    pool_chart(&state, &query, &[1, 2]).await
}

/// `/api/miners/{address}/chart`: `[time_ms, hashrate]`.
pub async fn miner_hashrate(
    State(state): State<ApiState>,
    path: Result<Path<String>, PathRejection>,
    Query(query): Query<ChartQuery>,
) -> Result<Json<ChartView>, ApiError> {
    let address = state.miner_address(path)?;
    let hours = series::hours(query.hours.as_deref(), MINER_MAX_HOURS, MINER_MAX_HOURS)
        .map_err(ApiError::BadRequest)?;
    let interval_ms = duration_ms(series::miner_interval(state.inner.sample_interval));
    let stored = state
        .parts()
        .ledger
        .miner_samples(&address, samples_in(hours, interval_ms))
        .await?;
    Ok(Json(chart(stored, hours, interval_ms, &[0])))
}

async fn pool_chart(
    state: &ApiState,
    query: &ChartQuery,
    columns: &[usize],
) -> Result<Json<ChartView>, ApiError> {
    let hours =
        series::hours(query.hours.as_deref(), 24, POOL_MAX_HOURS).map_err(ApiError::BadRequest)?;
    let interval_ms = duration_ms(state.inner.sample_interval);
    let stored = state
        .parts()
        .ledger
        .pool_samples(samples_in(hours, interval_ms))
        .await?;
    Ok(Json(chart(stored, hours, interval_ms, columns)))
}

fn duration_ms(interval: Duration) -> u64 {
    u64::try_from(interval.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Samples to read for a chart of `hours` (one more for the edge).
fn samples_in(hours: u32, interval_ms: u64) -> u64 {
    (u64::from(hours) * 3_600_000).div_ceil(interval_ms) + 1
}

/// The chart of the last `hours` of `stored` (newest first), with the value
/// `columns` of each sample.
fn chart(stored: Vec<Sample>, hours: u32, interval_ms: u64, columns: &[usize]) -> ChartView {
    let samples = series::thin(series::window(stored, hours, unix_ms()), MAX_CHART_POINTS);
    ChartView {
        hours,
        interval_ms,
        points: samples
            .iter()
            .map(|sample| {
                let mut point = vec![Value::from(sample.at_ms)];
                point.extend(
                    columns.iter().map(|&column| {
                        Value::from(sample.values.get(column).copied().unwrap_or(0.0))
                    }),
                );
                Value::Array(point)
            })
            .collect(),
    }
}
