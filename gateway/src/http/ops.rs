//! The read endpoints: models (public), health and readiness (both listeners), and the
//! operator's: the usage feed, a user's books, metrics.

use std::sync::Arc;

use axum::{
	extract::{Path, Query, State},
	http::header,
	response::{IntoResponse, Response},
	Json,
};
use serde::Deserialize;
use serde_json::{json, Value};
use sp_core::crypto::Ss58Codec;
use sp_runtime::AccountId32;

use super::{error::ApiError, App};

/// `GET /v1/models`: the provider's active models, with their prices and gates on chain.
pub async fn models(State(app): State<Arc<App>>) -> Response {
	let view = match app.fresh_view() {
		Ok(view) => view,
		Err(error) => return error.into_response(),
	};
	let owner = app.provider.to_ss58check();
	let data: Vec<Value> = view
		.models
		.iter()
		.map(|m| {
			json!({
				"id": m.name,
				"object": "model",
				"created": 0,
				"owned_by": owner,
				"tokenmeter": {
					"id": m.id,
					"pricePer1kInput": m.prices.0.to_string(),
					"pricePer1kOutput": m.prices.1.to_string(),
					"pendingPrice": m.pending.map(|(i, o, from)| json!({
						"pricePer1kInput": i.to_string(), "pricePer1kOutput": o.to_string(), "effectiveFrom": from,
					})),
					"access": crate::chain::access_json(m.access),
					// Congestion pricing: the prices above are the listed ones times the
					// multiplier; the next epoch's prices are within these bounds.
					"dynamic": m.dynamic.as_ref().map(|d| json!({
						"multiplier": d.multiplier,
						"utilisation": d.utilisation,
						"listedPricePer1kInput": d.listed.0.to_string(),
						"listedPricePer1kOutput": d.listed.1.to_string(),
						"nextEpochFrom": d.next_epoch_from,
						"nextMinPricePer1kInput": d.next_min.0.to_string(),
						"nextMinPricePer1kOutput": d.next_min.1.to_string(),
						"nextMaxPricePer1kInput": d.next_max.0.to_string(),
						"nextMaxPricePer1kOutput": d.next_max.1.to_string(),
					})),
				},
			})
		})
		.collect();
	Json(json!({ "object": "list", "data": data })).into_response()
}

/// `GET /admin/users/<SS58>` (operator): what a user was served, charged, and paid on chain.
pub async fn admin_user(State(app): State<Arc<App>>, Path(user): Path<String>) -> Response {
	let Ok(account) = AccountId32::from_ss58check(&user) else {
		return ApiError::invalid("bad_account", "not an SS58 address").into_response();
	};
	let last_seq = app.cache.view().map(|v| v.finalized_last_seq).unwrap_or(0);
	let totals = match app.store.user_totals(&account, last_seq).await {
		Ok(totals) => totals,
		Err(e) => return ApiError::storage(e).into_response(),
	};
	let on_chain = match app.cache.view() {
		Some(view) => app.node.ledger(&account, &app.provider, view.hash).await.ok(),
		None => None,
	};
	let chain = match app.store.chain_totals(&account).await {
		Ok(chain) => chain,
		Err(e) => return ApiError::storage(e).into_response(),
	};
	let book = match app.store.book(&account).await {
		Ok(book) => book,
		Err(e) => return ApiError::storage(e).into_response(),
	};
	Json(json!({
		"user": user,
		"served": { "requests": totals.requests, "inputTokens": totals.input_tokens, "outputTokens": totals.output_tokens },
		"charged": totals.charged.to_string(),
		"attested": totals.attested.to_string(),
		"unsettled": book.unsettled.to_string(),
		"reserved": book.reserved.to_string(),
		"settledOnChain": on_chain.map(|l| l.settled.to_string()),
		"capOnChain": on_chain.map(|l| l.cap.to_string()),
		// What the chain did not pay of what was attested (above cap, shortfall, rejected),
		// when the ledger started with this gateway.
		"notPaid": on_chain.map(|l| totals.attested.saturating_sub(l.settled).to_string()),
		// From the chain's settlement events for this provider since the gateway started.
		"chain": {
			"settled": chain.settled.to_string(),
			"fees": chain.fees.to_string(),
			"aboveCap": chain.above_cap.to_string(),
			"shortfall": chain.shortfall.to_string(),
			"rejectedEntries": chain.rejected,
		},
	}))
	.into_response()
}

/// `GET /usage` parameters.
#[derive(Debug, Deserialize)]
pub struct UsageQuery {
	after: Option<u64>,
	limit: Option<u32>,
}

/// `GET /usage` (operator): the feed records after `after`, at most `limit` (default 256, at
/// most 10,000). It only reads: charges become records on a timer (`--seal-every-ms`).
pub async fn usage(State(app): State<Arc<App>>, Query(query): Query<UsageQuery>) -> Response {
	let limit = query.limit.unwrap_or(256).clamp(1, 10_000);
	match app.store.feed_after(query.after.unwrap_or(0), limit).await {
		Ok(records) => {
			Json(Value::Array(records.iter().map(|r| r.to_json()).collect())).into_response()
		}
		Err(e) => ApiError::storage(e).into_response(),
	}
}

/// `GET /metrics` (operator): Prometheus text.
pub async fn metrics(State(app): State<Arc<App>>) -> Response {
	match app.store.totals().await {
		Ok((reserved, unsettled)) => {
			app.metrics.reserved.set(reserved as f64);
			app.metrics.unsettled.set(unsettled as f64);
		}
		Err(error) => tracing::warn!(%error, "cannot read the books"),
	}
	app.metrics
		.access_log_dropped
		.set(crate::access::DROPPED.load(std::sync::atomic::Ordering::Relaxed) as f64);
	let (in_flight, queued) = app.scheduler.load();
	app.metrics.in_flight.set(in_flight as f64);
	app.metrics.queued.set(queued as f64);
	for pool in app.upstreams.pools() {
		for replica in pool.replicas() {
			let labels = [replica.base.as_str()];
			app.metrics
				.upstream_up
				.with_label_values(&labels)
				.set(f64::from(u8::from(replica.is_healthy())));
		}
	}
	([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render()).into_response()
}

/// `GET /health`: the gateway runs and its chain view is fresh.
pub async fn health(State(app): State<Arc<App>>) -> Response {
	match app.fresh_view() {
		Ok(view) => Json(json!({ "status": "ok", "block": view.number })).into_response(),
		Err(error) => error.into_response(),
	}
}

/// `GET /ready`: the chain view is fresh and every model server has a healthy replica (what
/// a load balancer should route by); `503` with the reasons otherwise.
pub async fn ready(State(app): State<Arc<App>>) -> Response {
	let mut reasons = Vec::new();
	let block = match app.fresh_view() {
		Ok(view) => Some(view.number),
		Err(error) => {
			reasons.push(error.message);
			None
		}
	};
	let upstreams: Vec<Value> = app
		.upstreams
		.pools()
		.flat_map(|p| p.replicas().iter())
		.map(|r| json!({ "url": r.base, "healthy": r.is_healthy(), "inFlight": r.in_flight() }))
		.collect();
	for pool in app.upstreams.pools() {
		if !pool.any_healthy() {
			let urls: Vec<&str> = pool.replicas().iter().map(|r| r.base.as_str()).collect();
			reasons.push(format!("no healthy model server among {}", urls.join(", ")));
		}
	}
	let body = json!({
		"status": if reasons.is_empty() { "ready" } else { "not_ready" },
		"block": block,
		"upstreams": upstreams,
		"reasons": reasons,
	});
	let status = if reasons.is_empty() {
		axum::http::StatusCode::OK
	} else {
		axum::http::StatusCode::SERVICE_UNAVAILABLE
	};
	(status, Json(body)).into_response()
}
