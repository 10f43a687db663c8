//! The HTTP service, on two listeners: the **public** one (the OpenAI-compatible API, paid
//! with vouchers; `/health` and `/ready`) and the **operator** one (the usage feed, the books
//! per user, metrics; loopback by default, optionally behind a token).
//!
//! - [`error`]: every error in the OpenAI shape;
//! - [`request`]: checking and normalising a request before it costs anything;
//! - [`admit`]: admission, step by step (payment, chain, gate, rate limit, reservation);
//! - [`proxy`]: forwarding to a replica and one finish for buffered and streamed answers;
//! - [`sse`]: server-sent events and usage;
//! - [`ops`]: the read endpoints;
//! - [`feedback`]: feedback about served answers, and its content for validators.

pub mod admit;
pub mod error;
pub mod feedback;
pub mod ops;
pub mod proxy;
pub mod request;
pub mod sse;

use std::{
	hash::BuildHasher,
	sync::{
		atomic::{AtomicU64, AtomicUsize, Ordering},
		Arc,
	},
	time::Instant,
};

use axum::{
	extract::{Request, State},
	http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode},
	middleware::{self, Next},
	response::{IntoResponse, Response},
	routing::{get, post},
	Router,
};
use sp_core::H256;
use sp_runtime::AccountId32;

use crate::{
	chain::{Cache, ChainView, Node},
	config::Settings,
	limits::Limiter,
	metrics::Metrics,
	payment,
	schedule::Scheduler,
	store::Store,
	upstream::Upstreams,
};
use error::ApiError;
use request::Endpoint;

/// `PAYMENT-REQUIRED`.
pub const PAYMENT_REQUIRED: HeaderName = HeaderName::from_static("payment-required");
/// `PAYMENT-SIGNATURE`.
pub const PAYMENT_SIGNATURE: HeaderName = HeaderName::from_static("payment-signature");
/// `PAYMENT-RESPONSE`.
pub const PAYMENT_RESPONSE: HeaderName = HeaderName::from_static("payment-response");
/// `X-Request-Id`: a request's id in the access log, sent back with its answer.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `X-Tokenmeter-Receipt`: an answer's receipt, which feedback on it names.
pub const RECEIPT: HeaderName = HeaderName::from_static("x-tokenmeter-receipt");

/// The running gateway.
pub struct App {
	/// Settings in effect.
	pub settings: Settings,
	/// The provider served.
	pub provider: AccountId32,
	/// The chain's genesis hash.
	pub genesis: H256,
	/// The chain's CAIP-2 network id ([`payment::network_id`]).
	pub network: String,
	/// The node.
	pub node: Node,
	/// Chain state per block.
	pub cache: Arc<Cache>,
	/// Durable records and the books (reservations, unsettled charges).
	pub store: Store,
	/// The upstreams' HTTP client (timeouts are per request).
	pub http: reqwest::Client,
	/// The model servers.
	pub upstreams: Upstreams,
	/// Metrics.
	pub metrics: Metrics,
	/// The queue in front of the upstreams, by priority weight.
	pub scheduler: Arc<Scheduler>,
	/// Requests and tokens per minute per user (shared by a fleet).
	pub limiter: Limiter,
	/// Vouchers whose signature was checked.
	pub verified: payment::Verified,
	/// Answers being served (a shutdown waits for them).
	pub answers: Arc<Tracker>,
	/// The access log.
	pub access: crate::access::AccessLog,
	/// Answers kept for feedback, by receipt.
	pub served: crate::feedback::Served,
}

impl App {
	/// The chain view, unless it is older than the settings allow.
	pub fn fresh_view(&self) -> Result<Arc<ChainView>, ApiError> {
		match self.cache.view() {
			Some(view) if view.fetched.elapsed() <= self.settings.stale_after => Ok(view),
			Some(_) => Err(ApiError::unavailable(
				"chain_unavailable",
				"the gateway has not heard from its node for too long; try again later",
			)),
			None => Err(ApiError::unavailable(
				"chain_unavailable",
				"the gateway has not read the chain yet; try again shortly",
			)),
		}
	}

	/// Counts a finished request by its status.
	fn count(&self, status: StatusCode) {
		if status == StatusCode::OK {
			self.metrics.served.inc();
			return;
		}
		let outcome = if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
			"5xx".to_string()
		} else {
			status.as_u16().to_string()
		};
		self.metrics.requests.with_label_values(&[outcome.as_str()]).inc();
	}

	/// Gives back a request counted against `user`'s rate limit that was not served.
	pub fn give_back(&self, user: &AccountId32) {
		self.limiter.give_back(user);
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

	/// The CORS origin to allow for a request from `origin`, if any.
	fn cors_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
		let origin_text = origin.to_str().ok()?;
		let origins = &self.settings.cors_origins;
		if origins.iter().any(|o| o == "*") {
			Some(HeaderValue::from_static("*"))
		} else if origins.iter().any(|o| o.trim_end_matches('/') == origin_text) {
			Some(origin.clone())
		} else {
			None
		}
	}
}

/// Answers in flight, counted, so that a shutdown can wait for them.
#[derive(Default)]
pub struct Tracker {
	count: AtomicUsize,
	idle: tokio::sync::Notify,
}

/// One answer in flight; done when dropped.
pub struct InFlight(Arc<Tracker>);

impl Drop for InFlight {
	fn drop(&mut self) {
		if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
			self.0.idle.notify_waiters();
		}
	}
}

impl Tracker {
	/// Counts an answer until the returned guard drops.
	pub fn start(self: &Arc<Self>) -> InFlight {
		self.count.fetch_add(1, Ordering::AcqRel);
		InFlight(self.clone())
	}

	/// Answers in flight.
	pub fn len(&self) -> usize {
		self.count.load(Ordering::Acquire)
	}

	/// Whether none is in flight.
	pub fn is_empty(&self) -> bool {
		self.len() == 0
	}

	/// Waits until no answer is in flight.
	pub async fn idle(&self) {
		loop {
			let notified = self.idle.notified();
			tokio::pin!(notified);
			notified.as_mut().enable();
			if self.is_empty() {
				return;
			}
			notified.await;
		}
	}
}

/// The public listener's routes.
pub fn public_router(app: Arc<App>) -> Router {
	Router::new()
		.route("/v1/chat/completions", post(chat_completions))
		.route("/v1/completions", post(completions))
		.route("/v1/embeddings", post(embeddings))
		.route("/v1/responses", post(responses))
		.route("/v1/models", get(ops::models))
		.route("/v1/feedback", post(feedback::post))
		.route("/feedback/{hash}", get(feedback::get))
		.route("/health", get(ops::health))
		.route("/ready", get(ops::ready))
		.fallback(unknown_path)
		.method_not_allowed_fallback(method_not_allowed)
		.layer(middleware::from_fn_with_state(app.clone(), edge))
		.with_state(app)
}

/// The operator listener's routes.
pub fn operator_router(app: Arc<App>) -> Router {
	Router::new()
		.route("/usage", get(ops::usage))
		.route("/admin/users/{user}", get(ops::admin_user))
		.route("/metrics", get(ops::metrics))
		.route("/health", get(ops::health))
		.route("/ready", get(ops::ready))
		.fallback(unknown_path)
		.method_not_allowed_fallback(method_not_allowed)
		.layer(middleware::from_fn_with_state(app.clone(), operator_only))
		.layer(middleware::from_fn_with_state(app.clone(), edge))
		.with_state(app)
}

/// The request taken whole (its headers are not copied, as the `HeaderMap` extractor does);
/// served by a boxed future, so that the handler's future, which the router and the
/// middleware move, is small.
async fn serve(app: Arc<App>, endpoint: Endpoint, request: Request) -> Response {
	let (parts, body) = request.into_parts();
	let response = Box::pin(proxy::serve(&app, endpoint, &parts.headers, body)).await;
	app.count(response.status());
	response
}

async fn chat_completions(State(app): State<Arc<App>>, request: Request) -> Response {
	serve(app, Endpoint::Chat, request).await
}

async fn completions(State(app): State<Arc<App>>, request: Request) -> Response {
	serve(app, Endpoint::Completions, request).await
}

async fn embeddings(State(app): State<Arc<App>>, request: Request) -> Response {
	serve(app, Endpoint::Embeddings, request).await
}

async fn responses(State(app): State<Arc<App>>, request: Request) -> Response {
	serve(app, Endpoint::Responses, request).await
}

async fn unknown_path(method: Method, uri: axum::http::Uri) -> ApiError {
	ApiError::not_found("unknown_url", format!("no endpoint {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
	ApiError::new(
		StatusCode::METHOD_NOT_ALLOWED,
		"invalid_request_error",
		"method_not_allowed",
		format!("{} does not take {method}", uri.path()),
	)
}

/// The headers a browser page may read (CORS): the payment headers, the rate limit, the id.
const EXPOSED: &str = "payment-required, payment-response, x-request-id, retry-after, \
	ratelimit-limit, ratelimit-remaining, ratelimit-reset, x-tokenmeter-receipt";

/// The id of a request: the client's `X-Request-Id` if it is a short token, else a new one.
fn request_id(headers: &HeaderMap) -> HeaderValue {
	static NEXT: AtomicU64 = AtomicU64::new(0);
	let theirs = headers.get(&REQUEST_ID).filter(|v| {
		let bytes = v.as_bytes();
		!bytes.is_empty()
			&& bytes.len() <= 128
			&& bytes.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
	});
	theirs.cloned().unwrap_or_else(|| {
		let n = NEXT.fetch_add(1, Ordering::Relaxed);
		let random = std::collections::hash_map::RandomState::new().hash_one(n);
		// `req_` and the 16 hex digits of `random`, written without `fmt`.
		let mut id = String::with_capacity(20);
		id.push_str("req_");
		crate::payment::push_hex(&mut id, &random.to_be_bytes());
		error::header_value(&id)
	})
}

/// Every request: its id (kept or made, sent back), CORS for the configured origins (the
/// preflight answered here), and one access log line.
async fn edge(State(app): State<Arc<App>>, mut request: Request, next: Next) -> Response {
	let started = Instant::now();
	let id = request_id(request.headers());
	// The handlers see the id the answer goes out with.
	request.headers_mut().insert(REQUEST_ID, id.clone());
	let method = request.method().clone();
	let path = request.uri().path().to_string();
	let allowed = request.headers().get(header::ORIGIN).and_then(|o| app.cors_origin(o));
	let preflight = method == Method::OPTIONS
		&& request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
	let mut response = match (&allowed, preflight) {
		(Some(_), true) => {
			let asked = request.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS).cloned();
			let mut response = StatusCode::NO_CONTENT.into_response();
			let headers = response.headers_mut();
			headers.insert(
				header::ACCESS_CONTROL_ALLOW_METHODS,
				HeaderValue::from_static("GET, POST, OPTIONS"),
			);
			headers.insert(
				header::ACCESS_CONTROL_ALLOW_HEADERS,
				asked.unwrap_or(HeaderValue::from_static(
					"authorization, content-type, payment-signature, x-request-id",
				)),
			);
			headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(600));
			response
		}
		_ => next.run(request).await,
	};
	let headers = response.headers_mut();
	if let Some(origin) = allowed {
		headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
		headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED));
		headers.append(header::VARY, HeaderValue::from_static("origin"));
	}
	headers.insert(REQUEST_ID, id.clone());
	app.access.log(&crate::access::Entry {
		request_id: id.to_str().unwrap_or(""),
		method: method.as_str(),
		path: &path,
		status: response.status().as_u16(),
		elapsed: started.elapsed(),
	});
	response
}

/// The operator endpoints: with `--operator-token`, only for `Authorization: Bearer <token>`.
async fn operator_only(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
	if let Some(token) = &app.settings.operator_token {
		let given = request
			.headers()
			.get(header::AUTHORIZATION)
			.and_then(|v| v.to_str().ok())
			.and_then(|v| v.strip_prefix("Bearer "))
			.unwrap_or("");
		// Compared as hashes: the time taken says nothing about the token.
		let hash = |s: &str| sp_crypto_hashing::blake2_256(s.as_bytes());
		if hash(given) != hash(token) {
			return ApiError::new(
				StatusCode::UNAUTHORIZED,
				"authentication_error",
				"operator_token_required",
				"the operator endpoints need `Authorization: Bearer <operator token>`",
			)
			.into_response();
		}
	}
	next.run(request).await
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn a_request_id_is_the_clients_short_token_or_a_new_one() {
		let made = |headers: &HeaderMap| request_id(headers).to_str().unwrap().to_string();
		let mut seen = std::collections::HashSet::new();
		for _ in 0..1000 {
			let id = made(&HeaderMap::new());
			let digits = id.strip_prefix("req_").unwrap();
			assert_eq!(digits.len(), 16, "{id}");
			assert!(digits.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
			assert!(seen.insert(id), "each new");
		}
		let mut headers = HeaderMap::new();
		headers.insert(REQUEST_ID, HeaderValue::from_static("trace-42.a_b:c"));
		assert_eq!(made(&headers), "trace-42.a_b:c");
		for theirs in ["", "has space", "semi;colon"] {
			headers.insert(REQUEST_ID, HeaderValue::from_str(theirs).unwrap());
			assert!(made(&headers).starts_with("req_"), "{theirs:?} replaced");
		}
		headers.insert(REQUEST_ID, HeaderValue::from_str(&"a".repeat(129)).unwrap());
		assert!(made(&headers).starts_with("req_"), "too long: replaced");
	}
}
