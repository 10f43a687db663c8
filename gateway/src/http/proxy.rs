//! Forwarding: a replica chosen per request (a failed connection tried on the next before
//! anything was answered), the answer relayed as it comes, and one finish for buffered and
//! streamed answers that charges exactly what was served — the upstream's usage, or, when it
//! reports none (a stream that broke off, a client that left, a server that never reports),
//! the prompt and the delivered text counted by the upstream's tokenizer. Never nothing.

use std::{sync::Arc, time::Instant};

use axum::{
	body::{Body, Bytes},
	http::{header, HeaderMap, HeaderValue, StatusCode},
	response::{IntoResponse, Response},
};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{
	admit::{admit, rate_limit_headers, Admitted},
	error::{header_value, ApiError},
	request::{prompt_text_of, Endpoint},
	sse, App, InFlight, PAYMENT_RESPONSE, RECEIPT, REQUEST_ID,
};
use crate::{
	feedback::{hex, Keeping, Text},
	payment,
	schedule::Permit,
	store::Charge,
	upstream::{causes, count_tokens, estimate_tokens, mark_down, Answer, Lease, Pool, SendError},
};

/// What a served request was charged.
#[derive(Debug, Clone, Copy)]
pub struct Receipt {
	/// Charged for it.
	pub charged: u128,
	/// Charged and not settled, this one included.
	pub cumulative: u128,
	/// What the voucher still allows.
	pub headroom: u128,
}

/// An answer to keep for feedback once it is served (crate::feedback): its texts are kept as
/// the bodies they are read from, read only if the answer is asked for.
struct Keep {
	receipt: [u8; 32],
	request_id: String,
	model: u32,
	user: sp_runtime::AccountId32,
	prompt: Text,
}

impl Keep {
	/// For an answer with text (not embeddings), when the gateway keeps answers.
	fn new(app: &App, admitted: &Admitted, headers: &HeaderMap) -> Option<Self> {
		if !app.served.enabled() || admitted.endpoint == Endpoint::Embeddings {
			return None;
		}
		let request_id =
			headers.get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
		Some(Keep {
			receipt: app.served.receipt(&request_id, admitted.model.id),
			request_id,
			model: admitted.model.id,
			user: admitted.payment.voucher.voucher.user.clone(),
			prompt: Text::Prompt(admitted.endpoint, admitted.body.clone()),
		})
	}

	/// Keeps the answer that delivered `output`.
	fn keep(self, app: &App, output: Text) {
		let served_at_ms = std::time::SystemTime::now()
			.duration_since(std::time::UNIX_EPOCH)
			.map(|d| d.as_millis() as i64)
			.unwrap_or(0);
		app.served.keep(Keeping {
			receipt: self.receipt,
			request_id: self.request_id,
			model: self.model,
			user: self.user,
			prompt: self.prompt,
			output,
			served_at_ms,
		});
	}
}

/// Serves a request to `endpoint`: admission, a place with the upstream, the answer.
pub async fn serve(
	app: &Arc<App>,
	endpoint: Endpoint,
	headers: &HeaderMap,
	body: Body,
) -> Response {
	// The larger steps' futures are boxed: this one's stays small (2.3 KiB, 15 KiB with them
	// inline), and is not copied whole each time it is moved.
	let mut admitted = match Box::pin(admit(app, endpoint, headers, body)).await {
		Ok(admitted) => admitted,
		Err(error) => return error.into_response(),
	};
	let in_flight = app.answers.start();
	let keep = Keep::new(app, &admitted, headers);
	let receipt = keep.as_ref().map(|k| header_value(&hex(&k.receipt)));
	let upstream_model = app
		.settings
		.models
		.get(&admitted.model.id)
		.cloned()
		.unwrap_or_else(|| admitted.model.name.clone());
	admitted.request.body.set("model", &upstream_model);
	if app.settings.upstream_priority {
		// vLLM serves lower values first.
		admitted.request.body.set("priority", &-i64::from(admitted.priority_weight));
	}
	// Wait for a place with the upstream, in priority order.
	let waited = Instant::now();
	let permit = match app.scheduler.acquire(admitted.priority_weight).await {
		Ok(permit) => permit,
		Err(overloaded) => {
			app.give_back(&admitted.payment.voucher.voucher.user);
			admitted.reservation.release().await;
			app.metrics.queue_timeouts.inc();
			return ApiError::unavailable(
				"overloaded",
				"the model server is busy; try again shortly (higher tiers are served first)",
			)
			.retry_after(overloaded.retry_after.as_secs())
			.into_response();
		}
	};
	app.metrics.queue_seconds.observe(waited.elapsed().as_secs_f64());
	let started = Instant::now();
	let pool = app.upstreams.pool(admitted.model.id).clone();
	let (upstream, lease) = match send(app, &pool, &admitted).await {
		Ok(sent) => sent,
		Err(error) => {
			admitted.reservation.release().await;
			return error.into_response();
		}
	};
	let status = StatusCode::from_u16(upstream.status()).unwrap_or(StatusCode::BAD_GATEWAY);
	if !status.is_success() {
		// What the upstream does not serve, it says: its own error, nothing charged.
		admitted.reservation.release().await;
		let text = upstream.text().await;
		return (status, [(header::CONTENT_TYPE, "application/json")], text).into_response();
	}
	let quota = admitted.quota;
	let mut response = if admitted.request.stream {
		let relay = Relay { app: app.clone(), admitted, lease, permit, started, in_flight, keep };
		relay.start(upstream)
	} else {
		Box::pin(buffered(app, admitted, upstream, lease, permit, started, keep)).await
	};
	rate_limit_headers(&mut response, &quota);
	if let (Some(receipt), true) = (receipt, response.status().is_success()) {
		response.headers_mut().insert(RECEIPT, receipt);
	}
	response
}

/// Sends the request to a replica of `pool`; a replica that cannot be reached is marked down
/// and the next one tried (nothing was sent back yet, so nothing is lost or doubled).
async fn send(app: &App, pool: &Pool, admitted: &Admitted) -> Result<(Answer, Lease), ApiError> {
	// Serialised once; each try shares the bytes.
	let body = Bytes::from(admitted.request.body.to_bytes());
	let path = admitted.endpoint.path();
	let mut tried = Vec::new();
	let mut resent = 0;
	let mut last_error = String::from("no upstream is configured");
	let wait = if admitted.request.stream {
		// The first byte of a stream comes after the prompt is read: bounded by the idle
		// timeout; the stream as a whole by --stream-timeout-secs (see `Relay`).
		app.settings.upstream_idle_timeout
	} else {
		// The whole answer, read by `buffered`.
		app.settings.upstream_timeout
	};
	while let Some(lease) = pool.lease(&tried) {
		let deadline = tokio::time::Instant::now() + wait;
		let sent = match &lease.replica.conns {
			Some(conns) => tokio::time::timeout_at(deadline, conns.post(path, body.clone())).await,
			None => {
				let url = lease
					.replica
					.url(path)
					.map_err(|e| ApiError::bad_gateway("upstream_failed", e))?;
				let request = app
					.http
					.post(url)
					.header(header::CONTENT_TYPE, "application/json")
					.body(body.clone());
				tokio::time::timeout_at(deadline, request.send())
					.await
					.map(|sent| sent.map(Answer::from).map_err(send_error))
			}
		};
		match sent {
			Ok(Ok(answer)) => {
				let answer =
					if admitted.request.stream { answer } else { answer.read_by(deadline) };
				return Ok((answer, lease));
			}
			Ok(Err(SendError::Connect(e))) => {
				mark_down(&lease.replica);
				last_error = format!("{}: {e}", lease.replica.base);
				tried.push(lease.replica.clone());
			}
			// A kept-alive connection the model server closed as the request went out: nothing
			// was answered, so the request is sent again — up to `MAX_RESENDS` times, as several
			// pooled connections may have been closed together (llama-server closed two in a row
			// once in some 2,000 requests of the benchmark).
			Ok(Err(SendError::Closed(e))) if resent < MAX_RESENDS => {
				resent += 1;
				tracing::debug!(upstream = %lease.replica.base, "sent again: {e}");
			}
			Ok(Err(SendError::Closed(e) | SendError::Failed(e))) => {
				return Err(ApiError::bad_gateway(
					"upstream_unreachable",
					format!("the model server did not answer: {e}"),
				))
			}
			Err(_) => {
				return Err(ApiError::new(
					StatusCode::GATEWAY_TIMEOUT,
					"server_error",
					"upstream_timeout",
					format!("the model server did not answer within {} s", wait.as_secs()),
				))
			}
		}
	}
	Err(ApiError::bad_gateway(
		"upstream_unreachable",
		format!("no model server could be reached (last: {last_error})"),
	))
}

/// How many times a request is sent again after a pooled connection closed under it.
const MAX_RESENDS: u32 = 3;

/// What reqwest's `error` means for the request ([`SendError`]): a pooled connection the
/// model server closed before it answered (its keep-alive ended as the request was sent) is
/// hyper's incomplete message.
fn send_error(error: reqwest::Error) -> SendError {
	if error.is_connect() {
		return SendError::Connect(error.to_string());
	}
	let mut source = std::error::Error::source(&error);
	while let Some(cause) = source {
		if cause.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_incomplete_message) {
			return SendError::Closed(causes(&error));
		}
		source = cause.source();
	}
	SendError::Failed(causes(&error))
}

/// The tokens an answer without usage numbers served: the prompt and the delivered text,
/// counted by the upstream's tokenizer (estimated from their length when it has none).
async fn count(app: &App, lease: &Lease, admitted: &Admitted, delivered: &str) -> (u32, u32) {
	let model = admitted.request.body.value("model");
	let model = model.as_ref().and_then(Value::as_str).unwrap_or_default();
	let prompt = prompt_text_of(admitted.endpoint, &admitted.request.body);
	let timeout = app.settings.upstream_idle_timeout.min(std::time::Duration::from_secs(10));
	let (input, output) = futures::join!(
		count_tokens(&app.http, &lease.replica, model, &prompt, timeout),
		count_tokens(&app.http, &lease.replica, model, delivered, timeout),
	);
	let by = if input.is_some() && output.is_some() { "tokenizer" } else { "estimate" };
	app.metrics.usage_counted.with_label_values(&[by]).inc();
	(
		input.unwrap_or_else(|| estimate_tokens(&prompt)),
		output.unwrap_or_else(|| estimate_tokens(delivered)),
	)
}

/// The one finish of every served answer: the usage (reported, else counted), its cost at the
/// model's prices (at most what the voucher still allows), recorded durably in place of its
/// reservation.
async fn finish(
	app: &App,
	admitted: Admitted,
	lease: &Lease,
	usage: Option<(u32, u32)>,
	delivered: &str,
) -> Result<Receipt, String> {
	let (input, output) = match usage {
		Some(usage) => usage,
		None => {
			app.metrics.usage_missing.inc();
			// Boxed: counting by the tokenizer (two requests) is a large future, and rare.
			Box::pin(count(app, lease, &admitted, delivered)).await
		}
	};
	let Admitted { payment, model, settled, reservation, served_at, .. } = admitted;
	let voucher = &payment.voucher.voucher;
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
	reservation.charged();
	app.limiter.add_tokens(&voucher.user, u64::from(input).saturating_add(u64::from(output)));
	app.metrics.input_tokens.inc_by(u64::from(input));
	app.metrics.output_tokens.inc_by(u64::from(output));
	app.metrics.charged.add(charged as f64);
	Ok(Receipt {
		charged,
		cumulative: book.unsettled,
		headroom: book.headroom(voucher.cap, settled),
	})
}

/// An answer that is not streamed: read whole, charged, then sent with its receipt.
async fn buffered(
	app: &Arc<App>,
	admitted: Admitted,
	upstream: Answer,
	lease: Lease,
	permit: Permit,
	started: Instant,
	keep: Option<Keep>,
) -> Response {
	let bytes = match upstream.bytes().await {
		Ok(bytes) => bytes,
		Err(e) => {
			// Nothing reached the client: nothing is charged.
			admitted.reservation.release().await;
			return ApiError::bad_gateway(
				"upstream_failed",
				format!("the model server's answer broke off: {e}"),
			)
			.into_response();
		}
	};
	// The upstream is done with this request: the next one may go.
	drop(permit);
	let elapsed = started.elapsed().as_secs_f64();
	app.metrics.upstream_seconds.observe(elapsed);
	app.metrics.first_token_seconds.observe(elapsed);
	let usage = sse::usage_in(&bytes);
	// The delivered text is read now only to count it; kept, it is read if asked for.
	let mut delivered = String::new();
	if usage.is_none() {
		if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
			sse::delivered_text(&value, &mut delivered);
		}
	}
	let payer = admitted.payment.payer_ss58.clone();
	match finish(app, admitted, &lease, usage, &delivered).await {
		Ok(receipt) => {
			if let Some(keep) = keep {
				let output = match usage {
					Some(_) => Text::Delivered(bytes.clone()),
					None => Text::Plain(delivered),
				};
				keep.keep(app, output);
			}
			let header = payment::payment_response(
				&app.network,
				&payer,
				Some(receipt.charged),
				receipt.cumulative,
				receipt.headroom,
			);
			(
				StatusCode::OK,
				[
					(header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
					(PAYMENT_RESPONSE, header_value(&header)),
				],
				bytes,
			)
				.into_response()
		}
		Err(e) => ApiError::storage(e).into_response(),
	}
}

/// The usage event held back until the charge is known: it goes out with the charge in it.
struct Held {
	/// The event's `event:` name, if it had one (the Responses API's).
	name: Option<String>,
	value: Value,
	/// Whether the client gets it (a usage chunk the client did not ask for is dropped).
	forward: bool,
}

impl Held {
	/// The event, with `usage.cost` (in TMT, as OpenRouter reports the charge) and
	/// `usage.cost_units` (the smallest unit, exact).
	fn event(mut self, receipt: &Receipt) -> String {
		let usage = if self.value.get("usage").is_some_and(Value::is_object) {
			self.value.get_mut("usage")
		} else {
			self.value.pointer_mut("/response/usage")
		};
		if let Some(Value::Object(usage)) = usage {
			usage.insert("cost".into(), json!(receipt.charged as f64 / 1e12));
			usage.insert("cost_units".into(), json!(receipt.charged.to_string()));
		}
		match self.name {
			Some(name) => format!("event: {name}\ndata: {}\n\n", self.value),
			None => format!("data: {}\n\n", self.value),
		}
	}
}

/// A streamed answer on its way.
struct Relay {
	app: Arc<App>,
	admitted: Admitted,
	lease: Lease,
	permit: Permit,
	started: Instant,
	in_flight: InFlight,
	keep: Option<Keep>,
}

/// What the relay saw of a stream.
#[derive(Default)]
struct Seen {
	usage: Option<(u32, u32)>,
	delivered: String,
	held: Option<Held>,
	/// The `[DONE]` event.
	done: Option<Vec<u8>>,
	/// The stream ended as it should (`[DONE]`, or `response.completed`).
	ended: bool,
	failure: Option<String>,
	client_gone: bool,
	first_event: bool,
}

impl Seen {
	/// Sends `bytes` to the client, unless it left or has not read for `idle` (then it is
	/// treated as gone).
	async fn send(
		&mut self,
		tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
		idle: std::time::Duration,
		bytes: Bytes,
	) {
		if self.client_gone {
			return;
		}
		if !matches!(tokio::time::timeout(idle, tx.send(Ok(bytes))).await, Ok(Ok(()))) {
			self.client_gone = true;
		}
	}
}

impl Relay {
	/// Starts relaying; the answer's headers go out now, its events as they come.
	fn start(self, upstream: Answer) -> Response {
		let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
		let receipt = payment::payment_response(
			&self.app.network,
			&self.admitted.payment.payer_ss58,
			None,
			0,
			0,
		);
		tokio::spawn(self.run(upstream, tx));
		Response::builder()
			.status(StatusCode::OK)
			.header(header::CONTENT_TYPE, "text/event-stream")
			.header(header::CACHE_CONTROL, "no-cache")
			.header(PAYMENT_RESPONSE, header_value(&receipt))
			.body(Body::from_stream(ReceiverStream::new(rx)))
			.unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
	}

	/// Sends `bytes` to the client (see [`Seen::send`]).
	async fn send(
		&self,
		tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
		seen: &mut Seen,
		bytes: Bytes,
	) {
		seen.send(tx, self.app.settings.client_idle_timeout, bytes).await;
	}

	/// Takes one event of the upstream: forwards it, or holds it (the usage), or notes the
	/// end or a failure.
	async fn take(
		&self,
		tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
		seen: &mut Seen,
		event: Vec<u8>,
	) {
		let Some(data) = sse::event_data(&event) else {
			// A comment or keep-alive.
			return self.send(tx, seen, Bytes::from(event)).await;
		};
		if data == "[DONE]" {
			seen.ended = true;
			seen.done = Some(event);
			return;
		}
		let value = serde_json::from_str::<Value>(&data).ok();
		if let Some(value) = &value {
			if sse::is_error(value) {
				let message =
					value.pointer("/error/message").and_then(Value::as_str).unwrap_or(&data);
				seen.failure = Some(format!("the model server reported an error: {message}"));
				return;
			}
			if let Some(usage) = sse::usage_of(value) {
				seen.usage = Some(usage);
			}
			sse::delivered_text(value, &mut seen.delivered);
			let end = sse::is_end(&data, Some(value));
			let only_usage = sse::usage_of(value).is_some()
				&& value.get("choices").and_then(Value::as_array).is_some_and(|c| c.is_empty());
			if end || only_usage {
				let name = std::str::from_utf8(&event)
					.ok()
					.and_then(|t| t.lines().find_map(|l| l.strip_prefix("event:")))
					.map(|n| n.trim().to_string());
				let forward = end || self.admitted.request.client_wants_usage;
				seen.held = Some(Held { name, value: value.clone(), forward });
				seen.ended |= end;
				return;
			}
		}
		if !seen.first_event {
			seen.first_event = true;
			self.app.metrics.first_token_seconds.observe(self.started.elapsed().as_secs_f64());
		}
		self.send(tx, seen, Bytes::from(event)).await;
	}

	/// Reads the upstream's events until the end, a failure, or the client leaving.
	async fn read(
		&self,
		upstream: Answer,
		tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
	) -> Seen {
		let settings = &self.app.settings;
		let deadline = tokio::time::Instant::now() + settings.stream_timeout;
		let mut body = upstream.into_stream();
		let mut buffer = Vec::new();
		let mut seen = Seen::default();
		while seen.failure.is_none() && !seen.client_gone {
			let wait = settings.upstream_idle_timeout.min(deadline - tokio::time::Instant::now());
			let chunk = match tokio::time::timeout(wait, body.next()).await {
				Ok(Some(Ok(chunk))) => chunk,
				Ok(None) => break,
				Ok(Some(Err(e))) => {
					seen.failure = Some(format!("the model server's answer broke off: {e}"));
					break;
				}
				Err(_) if tokio::time::Instant::now() >= deadline => {
					seen.failure = Some(format!(
						"the answer took longer than {} s",
						settings.stream_timeout.as_secs()
					));
					break;
				}
				Err(_) => {
					seen.failure = Some(format!(
						"the model server sent nothing for {} s",
						settings.upstream_idle_timeout.as_secs()
					));
					break;
				}
			};
			buffer.extend_from_slice(&chunk);
			while let Some(event) = sse::next_event(&mut buffer) {
				self.take(tx, &mut seen, event).await;
				if seen.failure.is_some() || seen.client_gone {
					break;
				}
			}
			if buffer.len() > sse::MAX_EVENT_BYTES {
				seen.failure = Some("the model server sent an event too large to relay".into());
			}
		}
		if seen.failure.is_none() && !seen.client_gone && !seen.ended {
			let rest = std::mem::take(&mut buffer);
			if !rest.iter().all(u8::is_ascii_whitespace) {
				self.take(tx, &mut seen, rest).await;
			}
			if !seen.ended && seen.failure.is_none() {
				seen.failure = Some("the model server's stream ended before it finished".into());
			}
		}
		seen
	}

	/// Relays the stream, then charges it and ends it: with the usage (and its cost) and
	/// `[DONE]` when it finished, with an error event (never `[DONE]`) when it did not.
	async fn run(self, upstream: Answer, tx: mpsc::Sender<Result<Bytes, std::io::Error>>) {
		let mut seen = self.read(upstream, &tx).await;
		// The upstream is done with this request (or let go): the next one may go.
		let Relay { app, admitted, lease, permit, started, in_flight, keep } = self;
		drop(permit);
		app.metrics.upstream_seconds.observe(started.elapsed().as_secs_f64());
		if let Some(failure) = &seen.failure {
			tracing::warn!(%failure, "a streamed answer failed part-way; charging what was delivered");
			app.metrics.upstream_failures.inc();
		}
		// A stream that did not finish is charged from what was delivered, counted: its
		// usage, if any came, may be partial or missing.
		let usage = if seen.ended { seen.usage } else { None };
		let result = finish(&app, admitted, &lease, usage, &seen.delivered).await;
		drop(lease);
		if let (Ok(_), Some(keep)) = (&result, keep) {
			keep.keep(&app, Text::Plain(std::mem::take(&mut seen.delivered)));
		}
		let idle = app.settings.client_idle_timeout;
		match result {
			Ok(receipt) if seen.failure.is_none() && seen.ended => {
				if let Some(held) = seen.held.take().filter(|h| h.forward) {
					seen.send(&tx, idle, Bytes::from(held.event(&receipt))).await;
				}
				if let Some(done) = seen.done.take() {
					seen.send(&tx, idle, Bytes::from(done)).await;
				}
			}
			Ok(_) => {
				let failure = seen.failure.clone().unwrap_or_default();
				let error = ApiError::bad_gateway("upstream_failed", failure);
				seen.send(&tx, idle, Bytes::from(error.event())).await;
			}
			Err(e) => {
				tracing::error!(error = %e, "a streamed answer could not be recorded");
				let error = ApiError::storage(e);
				seen.send(&tx, idle, Bytes::from(error.event())).await;
			}
		}
		drop(in_flight);
	}
}
