//! The HTTP service: the OpenAI-compatible API in front of the upstream, payment and
//! admission, the usage feed, reconciliation and metrics.

// Handlers return the ready error answer as `Err(Response)`, as axum handlers do; boxing it
// would only add an allocation on the error path.
#![allow(clippy::result_large_err)]

use std::{
	sync::{Arc, Mutex},
	time::Instant,
};

use axum::{
	body::{Body, Bytes},
	extract::{Path, Query, State},
	http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode},
	response::{IntoResponse, Response},
	routing::{get, post},
	Json, Router,
};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use sp_core::{crypto::Ss58Codec, H256};
use sp_runtime::AccountId32;
use tokio_stream::wrappers::ReceiverStream;

use crate::{
	chain::{Cache, ChainView, ModelInfo, Node},
	config::Settings,
	ledger::{Book, Refusal},
	limits::{Limit, Quota, RateLimiter},
	metrics::Metrics,
	payment::{self, PaymentError, Requirement},
	schedule::Scheduler,
	store::{Admission, Charge, Store},
};

/// `PAYMENT-REQUIRED`.
pub const PAYMENT_REQUIRED: HeaderName = HeaderName::from_static("payment-required");
/// `PAYMENT-SIGNATURE`.
pub const PAYMENT_SIGNATURE: HeaderName = HeaderName::from_static("payment-signature");
/// `PAYMENT-RESPONSE`.
pub const PAYMENT_RESPONSE: HeaderName = HeaderName::from_static("payment-response");

/// The running gateway.
pub struct App {
	/// Settings in effect.
	pub settings: Settings,
	/// The provider served.
	pub provider: AccountId32,
	/// The chain's genesis hash.
	pub genesis: H256,
	/// The chain's network id ([`payment::network_id`]).
	pub network: String,
	/// The node.
	pub node: Node,
	/// Chain state per block.
	pub cache: Arc<Cache>,
	/// Durable records and the books (reservations, unsettled charges).
	pub store: Store,
	/// The upstream's client.
	pub http: reqwest::Client,
	/// The upstream's `…/chat/completions`.
	pub upstream_chat: reqwest::Url,
	/// The upstream's `…/completions`.
	pub upstream_completions: reqwest::Url,
	/// Metrics.
	pub metrics: Metrics,
	/// The queue in front of the upstream, by priority weight.
	pub scheduler: Arc<Scheduler>,
	/// Requests and tokens per minute per user.
	pub limiter: Mutex<RateLimiter<AccountId32>>,
	/// Vouchers whose signature was checked.
	pub verified: payment::Verified,
}

/// An OpenAI-style error answer.
fn error(status: StatusCode, kind: &str, code: &str, message: impl Into<String>) -> Response {
	let body = json!({ "error": { "message": message.into(), "type": kind, "param": null, "code": code } });
	(status, Json(body)).into_response()
}

fn header_value(s: &str) -> HeaderValue {
	HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The routes.
pub fn router(app: Arc<App>) -> Router {
	Router::new()
		.route("/v1/chat/completions", post(chat_completions))
		.route("/v1/completions", post(completions))
		.route("/v1/models", get(models))
		.route("/usage", get(usage))
		.route("/admin/users/{user}", get(admin_user))
		.route("/metrics", get(metrics))
		.route("/health", get(health))
		.with_state(app)
}

impl App {
	/// Counts a finished request by its status.
	fn count(&self, status: StatusCode) {
		let outcome = if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
			"5xx".to_string()
		} else {
			status.as_u16().to_string()
		};
		self.metrics.requests.with_label_values(&[outcome.as_str()]).inc();
	}

	/// The chain view, unless it is older than the settings allow.
	fn fresh_view(&self) -> Result<Arc<ChainView>, Response> {
		match self.cache.view() {
			Some(view) if view.fetched.elapsed() <= self.settings.stale_after => Ok(view),
			Some(_) => Err(error(
				StatusCode::SERVICE_UNAVAILABLE,
				"service_unavailable",
				"chain_unavailable",
				"the gateway has not heard from its node for too long; try again later",
			)),
			None => Err(error(
				StatusCode::SERVICE_UNAVAILABLE,
				"service_unavailable",
				"chain_unavailable",
				"the gateway has not read the chain yet; try again shortly",
			)),
		}
	}

	/// Gives back a request counted against `user`'s rate limit that was not served.
	fn give_back(&self, user: &AccountId32) {
		if let Ok(mut limiter) = self.limiter.lock() {
			limiter.give_back(user);
		}
	}

	/// Updates the value gauges from the books.
	async fn update_gauges(&self) {
		match self.store.totals().await {
			Ok((reserved, unsettled)) => {
				self.metrics.reserved.set(reserved as f64);
				self.metrics.unsettled.set(unsettled as f64);
			}
			Err(error) => tracing::warn!(%error, "cannot read the books"),
		}
	}

	/// A new block: what the chain attested (finalised) leaves the books and the feed.
	pub fn on_view(self: &Arc<Self>, view: &ChainView) {
		let app = self.clone();
		let last = view.finalized_last_seq;
		tokio::spawn(async move {
			if let Err(error) = app.store.attested(last).await {
				tracing::warn!(%error, "cannot take attested feed records off the books");
			}
		});
	}
}

async fn chat_completions(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
	let response = serve(&app, "/chat/completions", &headers, body).await;
	app.count(response.status());
	response
}

async fn completions(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
	let response = serve(&app, "/completions", &headers, body).await;
	app.count(response.status());
	response
}

/// The payment token of a request: `PAYMENT-SIGNATURE`, else the Bearer token.
fn payment_token(headers: &HeaderMap) -> Option<String> {
	if let Some(value) = headers.get(&PAYMENT_SIGNATURE).and_then(|v| v.to_str().ok()) {
		return Some(value.to_string());
	}
	let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
	let token = auth.strip_prefix("Bearer ").or_else(|| auth.strip_prefix("bearer "))?.trim();
	(!token.is_empty()).then(|| token.to_string())
}

/// A 402 with what the next request needs.
fn payment_required(app: &App, requirement: Requirement) -> Response {
	let message = format!(
		"{}: sign a voucher of cap at least {} for provider {} (see the PAYMENT-REQUIRED header)",
		requirement.error,
		requirement.cap_needed,
		app.provider.to_ss58check()
	);
	let mut response =
		error(StatusCode::PAYMENT_REQUIRED, "payment_required", "payment_required", message);
	response
		.headers_mut()
		.insert(PAYMENT_REQUIRED, header_value(&payment::payment_required(&requirement)));
	response
}

/// The worst-case tokens of a request: its body's length bounds the prompt's tokens (a token
/// is at least one byte), `max_tokens` (or the default) the answer's.
fn worst_case_tokens(request: &Value, body_len: usize, default_max_tokens: u32) -> (u32, u32) {
	let max_tokens = ["max_completion_tokens", "max_tokens"]
		.iter()
		.find_map(|k| request.get(*k).and_then(Value::as_u64))
		.map(|n| n.min(u64::from(u32::MAX)) as u32)
		.unwrap_or(default_max_tokens);
	(u32::try_from(body_len).unwrap_or(u32::MAX), max_tokens)
}

/// The prompt and completion tokens of an OpenAI `usage` object.
fn usage_of(value: &Value) -> Option<(u32, u32)> {
	let usage = value.get("usage").filter(|u| !u.is_null())?;
	tokens_of(usage.get("prompt_tokens"), usage.get("completion_tokens"))
}

fn tokens_of(prompt: Option<&Value>, completion: Option<&Value>) -> Option<(u32, u32)> {
	let count = |v: Option<&Value>| v?.as_u64().map(|n| n.min(u64::from(u32::MAX)) as u32);
	Some((count(prompt)?, count(completion).unwrap_or(0)))
}

/// [`usage_of`] a whole answer's JSON, reading only its `usage` (the rest is skipped, not
/// built).
fn usage_in(answer: &[u8]) -> Option<(u32, u32)> {
	#[derive(serde::Deserialize)]
	struct Answer {
		#[serde(default)]
		usage: Option<Usage>,
	}
	#[derive(serde::Deserialize)]
	struct Usage {
		#[serde(default)]
		prompt_tokens: Option<Value>,
		#[serde(default)]
		completion_tokens: Option<Value>,
	}
	let usage = serde_json::from_slice::<Answer>(answer).ok()?.usage?;
	tokens_of(usage.prompt_tokens.as_ref(), usage.completion_tokens.as_ref())
}

/// A reservation in the books, released when dropped unless charged: a request whose client
/// left (its handler dropped) or that failed on the way gives its reservation back.
struct Held {
	store: Store,
	id: i64,
	open: bool,
}

impl Held {
	/// Releases the reservation now.
	async fn release(mut self) {
		self.open = false;
		if let Err(error) = self.store.release(self.id).await {
			tracing::warn!(%error, "cannot release a reservation (it lapses by itself)");
		}
	}
}

impl Drop for Held {
	fn drop(&mut self) {
		if self.open {
			let (store, id) = (self.store.clone(), self.id);
			if let Ok(runtime) = tokio::runtime::Handle::try_current() {
				runtime.spawn(async move { store.release(id).await });
			}
		}
	}
}

struct Admitted {
	payment: Arc<payment::Payment>,
	model: ModelInfo,
	settled: u128,
	reservation: Held,
	/// The user's rate-limit quota after this request.
	quota: Quota,
	/// The user's priority weight.
	priority_weight: u32,
	/// The block the request is served at (the view's), priced as of then on chain.
	served_at: u32,
}

/// The `RateLimit-*` headers of a quota.
fn rate_limit_headers(response: &mut Response, quota: &Quota) {
	let headers = response.headers_mut();
	headers.insert("ratelimit-limit", HeaderValue::from(quota.limit));
	headers.insert("ratelimit-remaining", HeaderValue::from(quota.remaining));
	headers.insert("ratelimit-reset", HeaderValue::from(quota.reset_secs));
}

/// `429`: over the tier's rate limit; nothing forwarded, nothing charged.
fn rate_limited(quota: &Quota) -> Response {
	let mut response = error(
		StatusCode::TOO_MANY_REQUESTS,
		"rate_limit_exceeded",
		"rate_limit_exceeded",
		format!(
			"over your tier's limit of {} requests per minute (or its tokens); try again in {} s, \
			 or stake for a higher tier",
			quota.limit, quota.reset_secs
		),
	);
	rate_limit_headers(&mut response, quota);
	response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(quota.reset_secs));
	response
}

/// Everything before the upstream: the request, the model, the payment, the gate, the
/// reservation.
async fn admit(
	app: &App,
	path: &str,
	headers: &HeaderMap,
	body: Body,
) -> Result<(Admitted, Value, usize), Response> {
	let bytes = axum::body::to_bytes(body, app.settings.max_body_bytes).await.map_err(|_| {
		error(
			StatusCode::PAYLOAD_TOO_LARGE,
			"invalid_request_error",
			"request_too_large",
			format!("the request body is over {} bytes", app.settings.max_body_bytes),
		)
	})?;
	let request: Value = serde_json::from_slice(&bytes).map_err(|e| {
		error(
			StatusCode::BAD_REQUEST,
			"invalid_request_error",
			"invalid_json",
			format!("the body is not JSON: {e}"),
		)
	})?;
	if !request.is_object() {
		return Err(error(
			StatusCode::BAD_REQUEST,
			"invalid_request_error",
			"invalid_json",
			"the body is not a JSON object",
		));
	}
	let name = request.get("model").and_then(Value::as_str).ok_or_else(|| {
		error(
			StatusCode::BAD_REQUEST,
			"invalid_request_error",
			"missing_model",
			"the request names no model",
		)
	})?;
	let view = app.fresh_view()?;
	let model = view.model(name).cloned().ok_or_else(|| {
		error(
			StatusCode::NOT_FOUND,
			"invalid_request_error",
			"model_not_found",
			format!(
				"the model `{name}` is not served by this provider (GET /v1/models lists them)"
			),
		)
	})?;
	let (input, output) = worst_case_tokens(&request, bytes.len(), app.settings.default_max_tokens);
	let worst = tokenmeter_primitives::usage_cost(model.prices.0, model.prices.1, input, output);
	let resource = format!("{}{}", "/v1", path);
	let min_expiry = view.number.saturating_add(app.settings.min_voucher_blocks);
	let requirement = |error: String, cap_needed: u128, settled: u128, book: Book| Requirement {
		genesis: app.genesis,
		provider: app.provider.clone(),
		cap_needed,
		settled,
		unsettled: book.unsettled,
		reserved: book.reserved,
		prices: model.prices,
		min_expiry,
		resource: resource.clone(),
		error,
	};

	let Some(token) = payment_token(headers) else {
		return Err(payment_required(
			app,
			requirement("a signed voucher is required".into(), worst, 0, Default::default()),
		));
	};
	let payment = app.verified.decode(&token).map_err(|e| {
		refuse_payment(app, e, &requirement(String::new(), worst, 0, Default::default()))
	})?;
	let voucher = &payment.voucher.voucher;
	let check = if voucher.genesis_hash != app.genesis {
		Err(PaymentError::WrongChain)
	} else if voucher.provider != app.provider {
		Err(PaymentError::WrongProvider)
	} else if voucher.expiry < min_expiry {
		Err(PaymentError::Expired { expiry: voucher.expiry, needed: min_expiry })
	} else {
		Ok(())
	};
	check.map_err(|e| {
		refuse_payment(app, e, &requirement(String::new(), worst, 0, Default::default()))
	})?;
	// The signature before anything costs a node call: a forged token is refused here, and
	// never reaches the chain or the per-block cache. The signer is the one the token names
	// (the user itself, or an agent's controller); the chain must agree below.
	if !app.verified.check(&payment, &payment.signer) {
		return Err(refuse_payment(
			app,
			PaymentError::BadSignature,
			&requirement(String::new(), worst, 0, Default::default()),
		));
	}

	let user = voucher.user.clone();
	let state =
		app.cache.user_state(&app.node, &app.provider, &view, &user, model.id).await.map_err(
			|e| {
				error(
					StatusCode::SERVICE_UNAVAILABLE,
					"service_unavailable",
					"chain_unavailable",
					e.to_string(),
				)
			},
		)?;
	// Signed (checked above) by whom the chain says signs for the user now.
	let signed = match &state.signer {
		None => Err(PaymentError::SignerNotAllowed),
		Some(signer) if *signer == payment.signer => Ok(()),
		Some(_) => Err(PaymentError::BadSignature),
	};
	if let Err(e) = signed {
		let book = app.store.book(&user).await.unwrap_or_default();
		return Err(refuse_payment(
			app,
			e,
			&requirement(String::new(), worst, state.ledger.settled, book),
		));
	}
	if voucher.payer != user {
		// Spending a delegated allowance: the chain checks the delegation when it settles;
		// the gateway serves only the user's own credits.
		return Err(error(
			StatusCode::FORBIDDEN,
			"permission_error",
			"delegated_payment_unsupported",
			"this gateway accepts vouchers paid from the user's own credits only",
		));
	}
	if let Some((reason, required, actual)) = &state.denied {
		return Err(error(
			StatusCode::FORBIDDEN,
			"permission_error",
			reason,
			format!(
				"access to `{}` denied: {reason} (required {}, found {})",
				model.name,
				required.as_deref().unwrap_or("-"),
				actual.as_deref().unwrap_or("-")
			),
		));
	}

	let limit = if app.settings.no_rate_limits {
		Limit { requests_per_minute: u32::MAX, tokens_per_minute: u64::MAX }
	} else {
		Limit {
			requests_per_minute: state.rate_limit,
			tokens_per_minute: u64::from(state.rate_limit)
				.saturating_mul(app.settings.tokens_per_request),
		}
	};
	let quota = app
		.limiter
		.lock()
		.map_err(|_| {
			error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "internal", "limiter poisoned")
		})?
		.admit(&user, limit, Instant::now())
		.map_err(|quota| {
			app.metrics.rate_limited.inc();
			rate_limited(&quota)
		})?;
	// A request refused below does not count against the rate limit.
	let give_back = || app.give_back(&user);

	// Checked and reserved in one transaction holding the user's row; the voucher is kept
	// (durably) for the feed before anything is served against it.
	let admission = Admission {
		user: &user,
		payer: &voucher.payer,
		cap: voucher.cap,
		expiry: voucher.expiry,
		signature: &payment.signature_hex,
		session: &payment.session_hex,
		worst,
		settled: state.ledger.settled,
		available: state.available_credit.saturating_add(state.free_allowance),
	};
	let (book, admitted) = match app.store.admit(&admission).await {
		Ok(result) => result,
		Err(e) => {
			give_back();
			return Err(storage_error(format!("cannot reserve: {e}")));
		}
	};
	if admitted.is_err() {
		give_back();
	}
	let reservation = match admitted {
		Ok(id) => Held { store: app.store.clone(), id, open: true },
		Err(Refusal::CapTooLow { cap_needed }) => {
			return Err(payment_required(
				app,
				requirement(
					format!("the voucher's cap ({}) does not cover this request", voucher.cap),
					cap_needed,
					state.ledger.settled,
					book,
				),
			));
		}
		Err(Refusal::NotEnoughCredit { needed, available }) => {
			let mut response = payment_required(
				app,
				requirement(
					format!("not enough credits: {needed} needed, {available} available; deposit credits first"),
					state.ledger.settled.saturating_add(needed),
					state.ledger.settled,
					book,
				),
			);
			*response.body_mut() = Body::from(
				json!({ "error": { "message": format!("not enough credits: {needed} needed, {available} available (deposit credits with inferenceCredits.depositCredits)"), "type": "payment_required", "param": null, "code": "insufficient_credits" } }).to_string(),
			);
			return Err(response);
		}
	};
	Ok((
		Admitted {
			payment,
			model,
			settled: state.ledger.settled,
			reservation,
			quota,
			priority_weight: state.priority_weight,
			served_at: view.number,
		},
		request,
		bytes.len(),
	))
}

fn refuse_payment(app: &App, e: PaymentError, base: &Requirement) -> Response {
	let mut r = base.clone();
	r.error = e.to_string();
	let mut response = payment_required(app, r);
	*response.body_mut() = Body::from(
		json!({ "error": { "message": e.to_string(), "type": "payment_required", "param": null, "code": e.code() } })
			.to_string(),
	);
	response
}

/// What the answer is charged: its cost at the model's prices, at most what the voucher still
/// allows, recorded durably in place of its reservation. Returns (charged, cumulative
/// unsettled, headroom left).
async fn charge(
	app: &App,
	admitted: Admitted,
	usage: Option<(u32, u32)>,
) -> Result<(u128, u128, u128), String> {
	let Admitted { payment, model, settled, mut reservation, served_at, .. } = admitted;
	let voucher = &payment.voucher.voucher;
	let Some((input, output)) = usage else {
		app.metrics.usage_missing.inc();
		reservation.release().await;
		let book = app.store.book(&voucher.user).await.unwrap_or_default();
		return Ok((0, book.unsettled, book.headroom(voucher.cap, settled)));
	};
	let cost = tokenmeter_primitives::usage_cost(model.prices.0, model.prices.1, input, output);
	let record = Charge {
		user: voucher.user.clone(),
		payer: voucher.payer.clone(),
		model: model.id,
		input_tokens: input,
		output_tokens: output,
		cost,
		served_at,
	};
	// Not recorded, not charged: the answer is not delivered either (the reservation is
	// released when `reservation` drops).
	let (charged, book) = app
		.store
		.charge(reservation.id, &record, voucher.cap, settled)
		.await
		.map_err(|e| format!("cannot record the usage: {e}"))?;
	reservation.open = false;
	if let Ok(mut limiter) = app.limiter.lock() {
		limiter.add_tokens(
			&voucher.user,
			u64::from(input).saturating_add(u64::from(output)),
			Instant::now(),
		);
	}
	app.metrics.tokens.with_label_values(&["input"]).inc_by(u64::from(input));
	app.metrics.tokens.with_label_values(&["output"]).inc_by(u64::from(output));
	app.metrics.charged.add(charged as f64);
	Ok((charged, book.unsettled, book.headroom(voucher.cap, settled)))
}

async fn serve(app: &Arc<App>, path: &str, headers: &HeaderMap, body: Body) -> Response {
	let (admitted, mut request, _) = match admit(app, path, headers, body).await {
		Ok(admitted) => admitted,
		Err(response) => return response,
	};
	let upstream_model = app
		.settings
		.models
		.get(&admitted.model.id)
		.cloned()
		.unwrap_or_else(|| admitted.model.name.clone());
	request["model"] = Value::String(upstream_model);
	if app.settings.upstream_priority {
		// vLLM serves lower values first.
		request["priority"] = json!(-i64::from(admitted.priority_weight));
	}
	// Wait for a place with the upstream, in priority order.
	let waited = Instant::now();
	let permit = match app.scheduler.acquire(admitted.priority_weight).await {
		Ok(permit) => permit,
		Err(overloaded) => {
			admitted.reservation.release().await;
			app.give_back(&admitted.payment.voucher.voucher.user);
			app.metrics.queue_timeouts.inc();
			let mut response = error(
				StatusCode::SERVICE_UNAVAILABLE,
				"service_unavailable",
				"overloaded",
				"the model server is busy; try again shortly (higher tiers are served first)",
			);
			response
				.headers_mut()
				.insert(header::RETRY_AFTER, HeaderValue::from(overloaded.retry_after.as_secs()));
			return response;
		}
	};
	app.metrics.queue_seconds.observe(waited.elapsed().as_secs_f64());
	let stream = request.get("stream").and_then(Value::as_bool).unwrap_or(false);
	let client_wants_usage =
		request.pointer("/stream_options/include_usage").and_then(Value::as_bool).unwrap_or(false);
	if stream && !client_wants_usage {
		request["stream_options"] = json!({ "include_usage": true });
	}
	let started = Instant::now();
	// The upstream's URLs are parsed once, at start.
	let url = match path {
		"/chat/completions" => app.upstream_chat.clone(),
		_ => app.upstream_completions.clone(),
	};
	let upstream = app
		.http
		.post(url)
		.header(header::CONTENT_TYPE, "application/json")
		.body(request.to_string())
		.send()
		.await;
	let upstream = match upstream {
		Ok(upstream) => upstream,
		Err(e) => {
			admitted.reservation.release().await;
			return error(
				StatusCode::BAD_GATEWAY,
				"server_error",
				"upstream_unreachable",
				format!("the model server did not answer: {e}"),
			);
		}
	};
	let status =
		StatusCode::from_u16(upstream.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
	if !status.is_success() {
		admitted.reservation.release().await;
		let text = upstream.text().await.unwrap_or_default();
		return (status, [(header::CONTENT_TYPE, "application/json")], text).into_response();
	}
	let quota = admitted.quota;
	if stream {
		let mut response =
			stream_answer(app.clone(), admitted, upstream, client_wants_usage, started, permit);
		rate_limit_headers(&mut response, &quota);
		return response;
	}
	let bytes = match upstream.bytes().await {
		Ok(bytes) => bytes,
		Err(e) => {
			admitted.reservation.release().await;
			return error(
				StatusCode::BAD_GATEWAY,
				"server_error",
				"upstream_failed",
				format!("the model server's answer broke off: {e}"),
			);
		}
	};
	// The upstream is done with this request: the next one may go.
	drop(permit);
	app.metrics.upstream_seconds.observe(started.elapsed().as_secs_f64());
	let usage = usage_in(&bytes);
	let payment = admitted.payment.clone();
	match charge(app, admitted, usage).await {
		Ok((charged, cumulative, headroom)) => {
			let receipt = payment::payment_response(
				&app.network,
				&payment.payer_ss58,
				Some(charged),
				cumulative,
				headroom,
			);
			let mut response = (
				StatusCode::OK,
				[
					(header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
					(PAYMENT_RESPONSE, header_value(&receipt)),
				],
				bytes,
			)
				.into_response();
			rate_limit_headers(&mut response, &quota);
			response
		}
		Err(e) => storage_error(e),
	}
}

/// Splits complete server-sent events off the front of `buffer`.
fn next_event(buffer: &mut Vec<u8>) -> Option<Vec<u8>> {
	let end = buffer
		.windows(2)
		.position(|w| w == b"\n\n")
		.map(|p| p + 2)
		.or_else(|| buffer.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4))?;
	Some(buffer.drain(..end).collect())
}

/// The JSON of an event's `data:` lines, or `[DONE]`.
fn event_data(event: &[u8]) -> Option<String> {
	let text = std::str::from_utf8(event).ok()?;
	let data: Vec<&str> = text
		.lines()
		.filter_map(|l| l.strip_prefix("data:"))
		.map(|d| d.strip_prefix(' ').unwrap_or(d))
		.collect();
	(!data.is_empty()).then(|| data.join("\n"))
}

/// Streams the upstream's events to the client as they come, taking the usage from the chunk
/// that carries it (dropped when the client did not ask for it), and holds back the final
/// `[DONE]` until the charge is recorded.
fn stream_answer(
	app: Arc<App>,
	admitted: Admitted,
	upstream: reqwest::Response,
	client_wants_usage: bool,
	started: Instant,
	permit: crate::schedule::Permit,
) -> Response {
	let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
	let receipt = payment::payment_response(&app.network, &admitted.payment.payer_ss58, None, 0, 0);
	tokio::spawn(async move {
		let mut body = upstream.bytes_stream();
		let mut buffer = Vec::new();
		let mut usage = None;
		let mut done = None;
		let mut client_gone = false;
		let forward =
			|event: Vec<u8>, usage: &mut Option<(u32, u32)>, done: &mut Option<Vec<u8>>| {
				let data = event_data(&event);
				if data.as_deref() == Some("[DONE]") {
					*done = Some(event);
					return None;
				}
				if let Some(value) = data.and_then(|d| serde_json::from_str::<Value>(&d).ok()) {
					if let Some(found) = usage_of(&value) {
						*usage = Some(found);
						let only_usage = value
							.get("choices")
							.and_then(Value::as_array)
							.is_some_and(|c| c.is_empty());
						if only_usage && !client_wants_usage {
							return None;
						}
					}
				}
				Some(event)
			};
		while let Some(chunk) = body.next().await {
			let Ok(chunk) = chunk else { break };
			buffer.extend_from_slice(&chunk);
			while let Some(event) = next_event(&mut buffer) {
				if let Some(event) = forward(event, &mut usage, &mut done) {
					if !client_gone && tx.send(Ok(Bytes::from(event))).await.is_err() {
						// The client left; keep reading so that the usage is still charged.
						client_gone = true;
					}
				}
			}
		}
		if !buffer.is_empty() {
			if let Some(event) = forward(std::mem::take(&mut buffer), &mut usage, &mut done) {
				let _ = tx.send(Ok(Bytes::from(event))).await;
			}
		}
		// The upstream is done with this request: the next one may go.
		drop(permit);
		app.metrics.upstream_seconds.observe(started.elapsed().as_secs_f64());
		match charge(&app, admitted, usage).await {
			Ok(_) => {
				let done = done.unwrap_or_else(|| b"data: [DONE]\n\n".to_vec());
				let _ = tx.send(Ok(Bytes::from(done))).await;
			}
			Err(e) => {
				tracing::error!(error = %e, "a streamed answer could not be recorded");
				let _ = tx.send(Err(std::io::Error::other(e))).await;
			}
		}
	});
	Response::builder()
		.status(StatusCode::OK)
		.header(header::CONTENT_TYPE, "text/event-stream")
		.header(header::CACHE_CONTROL, "no-cache")
		.header(PAYMENT_RESPONSE, header_value(&receipt))
		.body(Body::from_stream(ReceiverStream::new(rx)))
		.unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn models(State(app): State<Arc<App>>) -> Response {
	let view = match app.fresh_view() {
		Ok(view) => view,
		Err(response) => return response,
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
					"access": m.access.to_json(),
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

/// `GET /usage` parameters.
#[derive(Debug, Deserialize)]
pub struct UsageQuery {
	after: Option<u64>,
	limit: Option<u32>,
}

/// A `500` for a database failure.
fn storage_error(e: impl std::fmt::Display) -> Response {
	error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "storage", e.to_string())
}

async fn usage(State(app): State<Arc<App>>, Query(query): Query<UsageQuery>) -> Response {
	if let Err(e) = app.store.seal().await {
		return storage_error(e);
	}
	let limit = query.limit.unwrap_or(256).clamp(1, 10_000);
	match app.store.feed_after(query.after.unwrap_or(0), limit).await {
		Ok(records) => {
			Json(Value::Array(records.iter().map(|r| r.to_json()).collect())).into_response()
		}
		Err(e) => storage_error(e),
	}
}

async fn admin_user(State(app): State<Arc<App>>, Path(user): Path<String>) -> Response {
	let Ok(account) = AccountId32::from_ss58check(&user) else {
		return error(
			StatusCode::BAD_REQUEST,
			"invalid_request_error",
			"bad_account",
			"not an SS58 address",
		);
	};
	let last_seq = app.cache.view().map(|v| v.finalized_last_seq).unwrap_or(0);
	let totals = match app.store.user_totals(&account, last_seq).await {
		Ok(totals) => totals,
		Err(e) => return storage_error(e),
	};
	let on_chain = match app.cache.view() {
		Some(view) => app.node.ledger(&account, &app.provider, view.hash).await.ok(),
		None => None,
	};
	let chain = match app.store.chain_totals(&account).await {
		Ok(chain) => chain,
		Err(e) => return storage_error(e),
	};
	let book = match app.store.book(&account).await {
		Ok(book) => book,
		Err(e) => return storage_error(e),
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

async fn metrics(State(app): State<Arc<App>>) -> Response {
	app.update_gauges().await;
	([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render()).into_response()
}

async fn health(State(app): State<Arc<App>>) -> Response {
	match app.fresh_view() {
		Ok(view) => Json(json!({ "status": "ok", "block": view.number })).into_response(),
		Err(response) => response,
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn events_split_on_blank_lines_and_usage_is_read() {
		let mut buffer = b"data: {\"a\":1}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\ndata: [DO".to_vec();
		let first = next_event(&mut buffer).unwrap();
		assert_eq!(event_data(&first).as_deref(), Some("{\"a\":1}"));
		let second = next_event(&mut buffer).unwrap();
		let value: Value = serde_json::from_str(&event_data(&second).unwrap()).unwrap();
		assert_eq!(usage_of(&value), Some((3, 4)));
		assert_eq!(next_event(&mut buffer), None);
		buffer.extend(b"NE]\r\n\r\n");
		assert_eq!(event_data(&next_event(&mut buffer).unwrap()).as_deref(), Some("[DONE]"));
	}

	#[test]
	fn the_usage_of_a_whole_answer_is_read_as_from_its_value() {
		for answer in [
			r#"{"id":"x","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#,
			r#"{"usage":{"prompt_tokens":3}}"#,
			r#"{"usage":{"prompt_tokens":99999999999,"completion_tokens":1}}"#,
			r#"{"usage":{"prompt_tokens":-1,"completion_tokens":1}}"#,
			r#"{"usage":{"prompt_tokens":1.5,"completion_tokens":1}}"#,
			r#"{"usage":{"completion_tokens":1}}"#,
			r#"{"usage":null}"#,
			r#"{"choices":[]}"#,
			r#"[1,2]"#,
			r#"not json"#,
		] {
			let by_value = serde_json::from_str::<Value>(answer).ok().and_then(|v| usage_of(&v));
			assert_eq!(usage_in(answer.as_bytes()), by_value, "{answer}");
		}
		assert_eq!(
			usage_in(br#"{"usage":{"prompt_tokens":3,"completion_tokens":4}}"#),
			Some((3, 4))
		);
		assert_eq!(usage_in(br#"{"usage":{"prompt_tokens":99999999999}}"#), Some((u32::MAX, 0)));
	}

	#[test]
	fn the_worst_case_bounds_prompt_and_answer() {
		let request = json!({ "model": "m", "max_tokens": 50 });
		assert_eq!(worst_case_tokens(&request, 300, 1024), (300, 50));
		assert_eq!(worst_case_tokens(&json!({}), 10, 1024), (10, 1024));
		assert_eq!(worst_case_tokens(&json!({ "max_completion_tokens": 7 }), 1, 9), (1, 7));
	}

	#[test]
	fn tokens_come_from_bearer_or_payment_signature() {
		let mut headers = HeaderMap::new();
		assert_eq!(payment_token(&headers), None);
		headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
		assert_eq!(payment_token(&headers).as_deref(), Some("abc"));
		headers.insert(PAYMENT_SIGNATURE, HeaderValue::from_static("xyz"));
		assert_eq!(payment_token(&headers).as_deref(), Some("xyz"));
	}
}
