//! The request path in process: the public and operator routers driven with
//! `tower::ServiceExt::oneshot`, against a real HTTP model server (an axum app on a local
//! port that misbehaves on request), a real SQLite database, and a chain view set by the test
//! (no node).

use std::{
	net::SocketAddr,
	sync::{Arc, Mutex},
	time::{Duration, Instant},
};

use axum::{
	body::{Body, Bytes},
	extract::State,
	http::{header, Request, StatusCode},
	response::{IntoResponse, Response},
	routing::{get, post},
	Json, Router,
};
use base64::Engine;
use futures::StreamExt;
use serde_json::{json, Value};
use sp_core::{crypto::Ss58Codec, Pair, H256};
use sp_keyring::Sr25519Keyring;
use sp_runtime::{AccountId32, MultiSignature};
use tokenmeter_gateway::{
	chain::{AccessRule, Cache, ChainView, Delegation, ModelInfo, Node, UserState},
	config::ServeArgs,
	http::{operator_router, public_router, App},
	limits::Limiter,
	metrics::Metrics,
	payment,
	schedule::Scheduler,
	store::{Store, Sync},
	upstream::Upstreams,
};
use tokenmeter_primitives::{session_commitment, SignedVoucher, Voucher};
use tower::ServiceExt;

const GENESIS: H256 = H256::repeat_byte(7);
/// 1 TMT per 1,000 tokens in and out: a token costs 10⁹.
const PRICE: u128 = 1_000_000_000_000;
const PER_TOKEN: u128 = PRICE / 1000;

/// The model server: OpenAI-style answers with usage (prompt tokens: the prompt's words,
/// completion tokens: the delivered words), misbehaving as `metadata.mode` asks:
/// `no_usage` never reports usage, `break` breaks a stream after two chunks, `long` streams
/// 4,000 chunks; `/tokenize` counts words.
#[derive(Clone, Default)]
struct Upstream {
	requests: Arc<Mutex<Vec<Value>>>,
}

fn words(text: &str) -> u32 {
	text.split_whitespace().count() as u32
}

fn prompt_words(body: &Value) -> u32 {
	let mut text = String::new();
	tokenmeter_gateway::http::request::collect_text(
		body.get("messages").or(body.get("input")).unwrap_or(&Value::Null),
		&mut text,
	);
	words(&text)
}

const PIECES: [&str; 3] = ["Hello ", "from the ", "fake model"];

async fn chat(State(upstream): State<Upstream>, Json(body): Json<Value>) -> Response {
	upstream.requests.lock().unwrap().push(body.clone());
	let mode = body.pointer("/metadata/mode").and_then(Value::as_str).unwrap_or("ok").to_string();
	let usage = json!({ "prompt_tokens": prompt_words(&body), "completion_tokens": 5 });
	if body["stream"] != json!(true) {
		let mut answer = json!({ "id": "x", "object": "chat.completion", "choices": [
			{ "index": 0, "message": { "role": "assistant", "content": PIECES.concat() }, "finish_reason": "stop" }
		] });
		if mode != "no_usage" {
			answer["usage"] = usage;
		}
		return Json(answer).into_response();
	}
	let pieces: Vec<String> = if mode == "long" {
		(0..4000).map(|i| format!("word{i} ")).collect()
	} else {
		PIECES.iter().map(|p| p.to_string()).collect()
	};
	let mut events: Vec<Result<Bytes, std::io::Error>> = Vec::new();
	for (i, piece) in pieces.iter().enumerate() {
		if mode == "break" && i == 2 {
			events.push(Err(std::io::Error::other("the model server crashed")));
			break;
		}
		let chunk = json!({ "object": "chat.completion.chunk", "choices": [{ "index": 0, "delta": { "content": piece } }] });
		events.push(Ok(Bytes::from(format!("data: {chunk}\n\n"))));
	}
	if mode != "break" {
		if mode != "no_usage" && body.pointer("/stream_options/include_usage") == Some(&json!(true))
		{
			let chunk = json!({ "object": "chat.completion.chunk", "choices": [], "usage": usage });
			events.push(Ok(Bytes::from(format!("data: {chunk}\n\n"))));
		}
		events.push(Ok(Bytes::from("data: [DONE]\n\n")));
	}
	let stream = futures::stream::iter(events).then(|event| async move {
		tokio::time::sleep(Duration::from_millis(1)).await;
		event
	});
	Response::builder()
		.header(header::CONTENT_TYPE, "text/event-stream")
		.body(Body::from_stream(stream))
		.unwrap()
}

async fn embeddings(State(upstream): State<Upstream>, Json(body): Json<Value>) -> Response {
	upstream.requests.lock().unwrap().push(body.clone());
	let n = prompt_words(&body);
	Json(json!({ "object": "list", "data": [{ "embedding": [0.1, 0.2] }], "usage": { "prompt_tokens": n, "total_tokens": n } }))
		.into_response()
}

async fn responses(State(upstream): State<Upstream>, Json(body): Json<Value>) -> Response {
	upstream.requests.lock().unwrap().push(body.clone());
	Json(json!({ "object": "response", "output": [{ "type": "message", "content": [{ "type": "output_text", "text": "hi there" }] }],
		"usage": { "input_tokens": prompt_words(&body), "output_tokens": 2, "total_tokens": 0 } }))
	.into_response()
}

async fn tokenize(Json(body): Json<Value>) -> Json<Value> {
	let count = words(body["content"].as_str().unwrap_or_default());
	Json(json!({ "tokens": vec![0; count as usize] }))
}

async fn start_upstream() -> (String, Upstream) {
	let upstream = Upstream::default();
	let app = Router::new()
		.route("/v1/chat/completions", post(chat))
		.route("/v1/embeddings", post(embeddings))
		.route("/v1/responses", post(responses))
		.route("/v1/models", get(|| async { Json(json!({ "data": [] })) }))
		.route("/tokenize", post(tokenize))
		.with_state(upstream.clone());
	let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
	let addr = listener.local_addr().unwrap();
	tokio::spawn(async move { axum::serve(listener, app).await });
	(format!("http://{addr}/v1"), upstream)
}

/// A local address nothing listens on.
async fn dead_address() -> SocketAddr {
	let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
	listener.local_addr().unwrap()
}

struct Fixture {
	app: Arc<App>,
	upstream: Upstream,
	_dir: tempfile::TempDir,
}

fn alice() -> AccountId32 {
	Sr25519Keyring::Alice.to_account_id()
}
fn bob() -> AccountId32 {
	Sr25519Keyring::Bob.to_account_id()
}

async fn gateway(replicas: Option<Vec<String>>, tweak: impl FnOnce(&mut ServeArgs)) -> Fixture {
	let (url, upstream) = start_upstream().await;
	let mut args = ServeArgs {
		upstream: Some(replicas.map(|r| r.join(",")).unwrap_or(url)),
		provider: Some(alice().to_ss58check()),
		queue_timeout_secs: Some(10),
		..Default::default()
	};
	tweak(&mut args);
	let settings = args.settings().unwrap();
	let dir = tempfile::tempdir().unwrap();
	let store = Store::open(&dir.path().join("usage.db"), Sync::Normal).await.unwrap();
	let cache = Arc::new(Cache::default());
	let view = ChainView {
		number: 100,
		hash: H256::repeat_byte(1),
		models: vec![ModelInfo {
			id: 0,
			name: "m".into(),
			prices: (PRICE, PRICE),
			pending: None,
			access: AccessRule::Open,
			dynamic: None,
		}],
		finalized_last_seq: 0,
		fetched: Instant::now() + Duration::from_secs(3600),
	};
	let state = UserState {
		denied: None,
		available_credit: 1_000 * PRICE,
		free_allowance: 0,
		tier: 0,
		ledger: Default::default(),
		signer: Some(bob()),
		priority_weight: 1,
		rate_limit: 1000,
	};
	cache.prime(&view, &bob(), 0, state);
	cache.set_view(view);
	let served =
		tokenmeter_gateway::feedback::Served::new(settings.answers_kept, settings.answers_kept_for);
	let app = Arc::new(App {
		scheduler: Scheduler::new(
			settings.max_in_flight,
			settings.max_queue,
			settings.queue_timeout,
		),
		limiter: Limiter::for_store(&store),
		verified: Default::default(),
		upstreams: Upstreams::new(&settings.upstream, &settings.model_upstreams),
		settings,
		provider: alice(),
		genesis: GENESIS,
		network: payment::network_id(&GENESIS),
		node: Node::new("http://127.0.0.1:9"),
		cache,
		store,
		http: reqwest::Client::new(),
		metrics: Metrics::new().unwrap(),
		answers: Default::default(),
		served,
		access: tokenmeter_gateway::access::AccessLog::off(),
	});
	Fixture { app, upstream, _dir: dir }
}

/// Bob's token: a voucher of 1,000 TMT with a session, and its secret.
fn token() -> String {
	token_of(Sr25519Keyring::Bob, bob())
}

/// `signer`'s token for its own usage, paid by `payer`.
fn token_of(signer: Sr25519Keyring, payer: AccountId32) -> String {
	let secret = [9u8; 32];
	let voucher = Voucher {
		genesis_hash: GENESIS,
		provider: alice(),
		user: signer.to_account_id(),
		payer,
		cap: 1_000 * PRICE,
		expiry: 10_000,
		session: Some(session_commitment(&secret)),
	};
	let signature = MultiSignature::from(signer.pair().sign(&voucher.signing_payload()));
	payment::encode_payment(&SignedVoucher { voucher, signature }, &secret)
}

fn post_json(path: &str, body: Value) -> Request<Body> {
	post_as(path, body, &token())
}

fn post_as(path: &str, body: Value, token: &str) -> Request<Body> {
	Request::post(path)
		.header(header::CONTENT_TYPE, "application/json")
		.header(header::AUTHORIZATION, format!("Bearer {token}"))
		.header(header::HOST, "gateway.test")
		.body(Body::from(body.to_string()))
		.unwrap()
}

async fn call(
	app: &Arc<App>,
	request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
	let response = public_router(app.clone()).oneshot(request).await.unwrap();
	let (parts, body) = response.into_parts();
	let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
	(parts.status, parts.headers, String::from_utf8_lossy(&bytes).into_owned())
}

async fn charged(app: &App) -> u128 {
	app.store.book(&bob()).await.unwrap().unsettled
}

async fn reserved(app: &App) -> u128 {
	app.store.book(&bob()).await.unwrap().reserved
}

fn ask(extra: Value) -> Value {
	let mut body = json!({ "model": "m", "messages": [{ "role": "user", "content": "say hello to the chain" }] });
	body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
	body
}

/// The `data:` payloads of a stream.
fn data_of(stream: &str) -> Vec<String> {
	stream.split("\n\n").filter_map(|e| e.strip_prefix("data: ")).map(str::to_string).collect()
}

#[tokio::test]
async fn wrongly_typed_fields_are_refused_with_400_and_nothing_forwarded_or_charged() {
	let f = gateway(None, |_| {}).await;
	for (extra, param) in [
		(json!({ "stream": "true" }), "stream"),
		(json!({ "max_tokens": "100" }), "max_tokens"),
		(json!({ "max_completion_tokens": 0 }), "max_completion_tokens"),
		(json!({ "n": 9 }), "n"),
	] {
		let (status, _, body) =
			call(&f.app, post_json("/v1/chat/completions", ask(extra.clone()))).await;
		assert_eq!(status, StatusCode::BAD_REQUEST, "{extra}: {body}");
		let body: Value = serde_json::from_str(&body).unwrap();
		assert_eq!(body["error"]["param"], param);
	}
	assert!(f.upstream.requests.lock().unwrap().is_empty());
	assert_eq!((charged(&f.app).await, reserved(&f.app).await), (0, 0));
}

#[tokio::test]
async fn the_output_is_bounded_and_every_choice_reserved() {
	let f = gateway(None, |a| a.default_max_tokens = Some(64)).await;
	let (status, headers, _) =
		call(&f.app, post_json("/v1/chat/completions", ask(json!({})))).await;
	assert_eq!(status, StatusCode::OK);
	let (status, _, _) =
		call(&f.app, post_json("/v1/chat/completions", ask(json!({ "n": 3, "max_tokens": 10 }))))
			.await;
	assert_eq!(status, StatusCode::OK);
	let sent = f.upstream.requests.lock().unwrap().clone();
	assert_eq!(sent[0]["max_tokens"], 64, "the default bound is forwarded, never none");
	assert_eq!(sent[1]["max_tokens"], 10);
	assert_eq!(sent[1]["n"], 3);
	// Receipt: charged 5 prompt words + 5 completion tokens.
	let receipt = headers["payment-response"].to_str().unwrap();
	let receipt: Value =
		serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(receipt).unwrap())
			.unwrap();
	assert_eq!(receipt["amount"], (10 * PER_TOKEN).to_string());
	assert_eq!(receipt["network"], format!("polkadot:{}", "07".repeat(16)));
}

#[tokio::test]
async fn an_answer_without_usage_is_charged_by_the_upstreams_tokenizer() {
	let f = gateway(None, |_| {}).await;
	let (status, _, body) = call(
		&f.app,
		post_json(
			"/v1/chat/completions",
			ask(json!({ "stream": true, "metadata": { "mode": "no_usage" } })),
		),
	)
	.await;
	assert_eq!(status, StatusCode::OK);
	assert_eq!(data_of(&body).last().map(String::as_str), Some("[DONE]"));
	// 5 prompt words ("say hello to the chain") and 5 delivered ("Hello from the fake model").
	assert_eq!(charged(&f.app).await, 10 * PER_TOKEN);
	let (status, _, _) = call(
		&f.app,
		post_json("/v1/chat/completions", ask(json!({ "metadata": { "mode": "no_usage" } }))),
	)
	.await;
	assert_eq!(status, StatusCode::OK);
	assert_eq!(charged(&f.app).await, 20 * PER_TOKEN, "a buffered answer is counted the same way");
}

#[tokio::test]
async fn a_stream_that_breaks_ends_with_an_error_event_and_is_charged_what_was_delivered() {
	let f = gateway(None, |_| {}).await;
	let (status, _, body) = call(
		&f.app,
		post_json(
			"/v1/chat/completions",
			ask(json!({ "stream": true, "metadata": { "mode": "break" } })),
		),
	)
	.await;
	assert_eq!(status, StatusCode::OK);
	let events = data_of(&body);
	assert!(!events.iter().any(|e| e == "[DONE]"), "{body}");
	let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
	assert_eq!(last["error"]["code"], "upstream_failed", "{body}");
	// Delivered: "Hello from the " (3 words) and the 5-word prompt.
	assert_eq!(charged(&f.app).await, 8 * PER_TOKEN);
	assert_eq!(reserved(&f.app).await, 0);
}

#[tokio::test]
async fn the_last_chunk_carries_the_charge_when_the_client_asks_for_usage() {
	let f = gateway(None, |_| {}).await;
	let request = ask(json!({ "stream": true, "stream_options": { "include_usage": true } }));
	let (_, _, body) = call(&f.app, post_json("/v1/chat/completions", request)).await;
	let events = data_of(&body);
	assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
	let usage: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
	assert_eq!(usage["usage"]["cost_units"], (10 * PER_TOKEN).to_string());
	assert_eq!(usage["usage"]["cost"], json!(10.0 * PER_TOKEN as f64 / 1e12));
	// Not asked for: no usage chunk, still charged.
	let (_, _, body) =
		call(&f.app, post_json("/v1/chat/completions", ask(json!({ "stream": true })))).await;
	assert!(!body.contains("\"usage\""), "{body}");
	assert_eq!(charged(&f.app).await, 20 * PER_TOKEN);
}

#[tokio::test]
async fn a_client_that_stops_reading_lets_the_upstream_go() {
	let f = gateway(None, |a| {
		a.max_in_flight = Some(1);
		a.client_idle_timeout_secs = Some(1);
		a.queue_timeout_secs = Some(20);
	})
	.await;
	// Take the answer's head and never read its body.
	let slow = public_router(f.app.clone())
		.oneshot(post_json(
			"/v1/chat/completions",
			ask(json!({ "stream": true, "metadata": { "mode": "long" } })),
		))
		.await
		.unwrap();
	assert_eq!(slow.status(), StatusCode::OK);
	// The only place with the upstream is let go once the slow client counts as gone.
	let (status, _, _) = call(&f.app, post_json("/v1/chat/completions", ask(json!({})))).await;
	assert_eq!(status, StatusCode::OK);
	drop(slow);
	f.app.answers.idle().await;
	// The slow answer was charged what the upstream produced before it was let go.
	let charged = charged(&f.app).await;
	assert!(charged > 10 * PER_TOKEN + 5 * PER_TOKEN, "charged {charged}");
	assert_eq!(reserved(&f.app).await, 0);
}

#[tokio::test]
async fn operator_endpoints_are_not_on_the_public_listener_and_need_the_token() {
	let f = gateway(None, |a| a.operator_token = Some("s3cret".into())).await;
	for path in ["/usage", "/metrics", &format!("/admin/users/{}", bob().to_ss58check())] {
		let (status, _, body) = call(&f.app, Request::get(path).body(Body::empty()).unwrap()).await;
		assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
		assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"]["code"], "unknown_url");
		let operator = operator_router(f.app.clone());
		let refused = operator
			.clone()
			.oneshot(Request::get(path).body(Body::empty()).unwrap())
			.await
			.unwrap();
		assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{path}");
		let request = Request::get(path)
			.header(header::AUTHORIZATION, "Bearer s3cret")
			.body(Body::empty())
			.unwrap();
		assert_eq!(operator.oneshot(request).await.unwrap().status(), StatusCode::OK, "{path}");
	}
}

#[tokio::test]
async fn reading_the_feed_writes_nothing() {
	let f = gateway(None, |_| {}).await;
	call(&f.app, post_json("/v1/chat/completions", ask(json!({})))).await;
	let feed = operator_router(f.app.clone())
		.oneshot(Request::get("/usage?after=0").body(Body::empty()).unwrap())
		.await
		.unwrap();
	let feed = axum::body::to_bytes(feed.into_body(), usize::MAX).await.unwrap();
	assert_eq!(&feed[..], b"[]", "the charge is not a record until the next seal");
	f.app.store.seal().await.unwrap();
	assert_eq!(f.app.store.feed_after(0, 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_second_replica_takes_over_from_one_that_is_down() {
	let (live, upstream) = start_upstream().await;
	let dead = format!("http://{}/v1", dead_address().await);
	let f = gateway(Some(vec![dead.clone(), live.clone()]), |_| {}).await;
	for _ in 0..3 {
		let (status, _, body) =
			call(&f.app, post_json("/v1/chat/completions", ask(json!({})))).await;
		assert_eq!(status, StatusCode::OK, "{body}");
	}
	assert_eq!(upstream.requests.lock().unwrap().len(), 3);
	let (status, _, body) = call(&f.app, Request::get("/ready").body(Body::empty()).unwrap()).await;
	assert_eq!(status, StatusCode::OK, "one healthy replica is enough: {body}");
	let ready: Value = serde_json::from_str(&body).unwrap();
	let down =
		ready["upstreams"].as_array().unwrap().iter().find(|u| u["url"] == dead.as_str()).unwrap();
	assert_eq!(down["healthy"], false);

	// With none reachable: 502, nothing charged, and not ready.
	let f = gateway(Some(vec![dead]), |_| {}).await;
	let (status, _, _) = call(&f.app, post_json("/v1/chat/completions", ask(json!({})))).await;
	assert_eq!(status, StatusCode::BAD_GATEWAY);
	assert_eq!((charged(&f.app).await, reserved(&f.app).await), (0, 0));
	let (status, _, _) = call(&f.app, Request::get("/ready").body(Body::empty()).unwrap()).await;
	assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn cors_preflight_and_exposed_payment_headers_for_configured_origins() {
	let f = gateway(None, |a| a.cors_origins = vec!["https://app.example".into()]).await;
	let preflight = Request::options("/v1/chat/completions")
		.header(header::ORIGIN, "https://app.example")
		.header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
		.header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization, content-type")
		.body(Body::empty())
		.unwrap();
	let (status, headers, _) = call(&f.app, preflight).await;
	assert_eq!(status, StatusCode::NO_CONTENT);
	assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example");
	assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_HEADERS], "authorization, content-type");
	let unpaid = Request::post("/v1/chat/completions")
		.header(header::ORIGIN, "https://app.example")
		.header(header::CONTENT_TYPE, "application/json")
		.body(Body::from(ask(json!({})).to_string()))
		.unwrap();
	let (status, headers, _) = call(&f.app, unpaid).await;
	assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
	let exposed = headers[header::ACCESS_CONTROL_EXPOSE_HEADERS].to_str().unwrap();
	assert!(exposed.contains("payment-required") && exposed.contains("payment-response"));
	// Another origin gets no CORS headers (the browser then refuses to read the answer).
	let other = Request::options("/v1/chat/completions")
		.header(header::ORIGIN, "https://evil.example")
		.header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
		.body(Body::empty())
		.unwrap();
	let (status, headers, _) = call(&f.app, other).await;
	assert_ne!(status, StatusCode::NO_CONTENT);
	assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
}

#[tokio::test]
async fn every_error_is_openai_shaped_with_a_request_id() {
	let f = gateway(None, |_| {}).await;
	let (status, headers, body) =
		call(&f.app, Request::get("/v2/nothing").body(Body::empty()).unwrap()).await;
	assert_eq!(status, StatusCode::NOT_FOUND);
	assert_eq!(
		serde_json::from_str::<Value>(&body).unwrap()["error"]["type"],
		"invalid_request_error"
	);
	assert!(headers["x-request-id"].to_str().unwrap().starts_with("req_"));
	let (status, _, body) =
		call(&f.app, Request::get("/v1/chat/completions").body(Body::empty()).unwrap()).await;
	assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
	assert_eq!(
		serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
		"method_not_allowed"
	);
	let mine =
		Request::get("/health").header("x-request-id", "abc-123").body(Body::empty()).unwrap();
	let (_, headers, _) = call(&f.app, mine).await;
	assert_eq!(headers["x-request-id"], "abc-123");
}

#[tokio::test]
async fn x402_requirements_name_a_caip2_network_and_an_absolute_resource() {
	let f = gateway(None, |_| {}).await;
	let unpaid = Request::post("/v1/chat/completions")
		.header(header::HOST, "gateway.test:8787")
		.body(Body::from(ask(json!({})).to_string()))
		.unwrap();
	let (status, headers, _) = call(&f.app, unpaid).await;
	assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
	let required = base64::engine::general_purpose::STANDARD
		.decode(headers["payment-required"].to_str().unwrap())
		.unwrap();
	let required: Value = serde_json::from_slice(&required).unwrap();
	assert_eq!(required["accepts"][0]["network"], format!("polkadot:{}", "07".repeat(16)));
	assert_eq!(required["resource"]["url"], "http://gateway.test:8787/v1/chat/completions");
	let malformed = Request::post("/v1/chat/completions")
		.header("payment-signature", "not base64 at all!")
		.body(Body::from(ask(json!({})).to_string()))
		.unwrap();
	let (status, headers, body) = call(&f.app, malformed).await;
	assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
	assert!(headers.contains_key("payment-required"));
	// An API key that is no voucher token (a client that pays on 402 has to give the SDK
	// one) is a request without payment: 402 with what to pay.
	let placeholder = Request::post("/v1/chat/completions")
		.header(header::AUTHORIZATION, "Bearer sk-placeholder")
		.body(Body::from(ask(json!({})).to_string()))
		.unwrap();
	let (status, headers, body) = call(&f.app, placeholder).await;
	assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
	assert!(headers.contains_key("payment-required"));
	assert!(f.upstream.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn embeddings_and_responses_are_forwarded_and_billed_from_their_usage() {
	let f = gateway(None, |_| {}).await;
	let (status, _, body) = call(
		&f.app,
		post_json("/v1/embeddings", json!({ "model": "m", "input": "one two three" })),
	)
	.await;
	assert_eq!(status, StatusCode::OK, "{body}");
	assert_eq!(charged(&f.app).await, 3 * PER_TOKEN);
	let (status, _, body) = call(
		&f.app,
		post_json("/v1/responses", json!({ "model": "m", "input": "four words in here" })),
	)
	.await;
	assert_eq!(status, StatusCode::OK, "{body}");
	assert_eq!(charged(&f.app).await, (3 + 4 + 2) * PER_TOKEN);
	let sent = f.upstream.requests.lock().unwrap().clone();
	assert_eq!(sent[1]["max_output_tokens"], 1024, "the Responses API's bound is set too");
	// What the upstream does not serve, it says.
	let (status, _, _) =
		call(&f.app, post_json("/v1/completions", json!({ "model": "m", "prompt": "x" }))).await;
	assert_eq!(status, StatusCode::NOT_FOUND);
	assert_eq!(reserved(&f.app).await, 0);
}

#[tokio::test]
async fn a_delegate_is_served_from_the_owners_credits_within_the_allowance() {
	let f = gateway(None, |_| {}).await;
	let (owner, renter) = (Sr25519Keyring::Charlie.to_account_id(), Sr25519Keyring::Dave);
	let view = f.app.cache.view().unwrap();
	let state = |who: &AccountId32, credit: u128| UserState {
		denied: None,
		available_credit: credit,
		free_allowance: 0,
		tier: 0,
		ledger: Default::default(),
		signer: Some(who.clone()),
		priority_weight: 1,
		rate_limit: 1000,
	};
	f.app.cache.prime(&view, &renter.to_account_id(), 0, state(&renter.to_account_id(), 0));
	f.app.cache.prime(&view, &owner, 0, state(&owner, 500 * PRICE));
	let token = token_of(renter, owner.clone());
	let ask_small = ask(json!({ "max_tokens": 5 }));
	let refused = |code: &'static str| {
		move |(status, _, body): (StatusCode, axum::http::HeaderMap, String)| {
			assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
			assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"]["code"], code);
		}
	};
	// No allowance: refused, nothing forwarded.
	f.app.cache.prime_delegation(&view, &owner, &renter.to_account_id(), None);
	refused("no_delegation")(
		call(&f.app, post_as("/v1/chat/completions", ask_small.clone(), &token)).await,
	);
	// One that ends before the voucher could be settled.
	let ending = Delegation { remaining: 100 * PRICE, expiry: 101 };
	f.app.cache.prime_delegation(&view, &owner, &renter.to_account_id(), Some(ending));
	refused("delegation_expired")(
		call(&f.app, post_as("/v1/chat/completions", ask_small.clone(), &token)).await,
	);
	assert!(f.upstream.requests.lock().unwrap().is_empty());

	// An allowance of 100 tokens' worth: the worst case of a request bound to 5 output tokens
	// (its body's bytes and 5) fits, one bound to 1,024 does not.
	let allowance = Delegation { remaining: 200 * PER_TOKEN, expiry: 10_000 };
	f.app.cache.prime_delegation(&view, &owner, &renter.to_account_id(), Some(allowance));
	let (status, _, body) =
		call(&f.app, post_as("/v1/chat/completions", ask(json!({})), &token)).await;
	assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{body}");
	assert_eq!(
		serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
		"insufficient_credits"
	);
	let (status, _, body) = call(&f.app, post_as("/v1/chat/completions", ask_small, &token)).await;
	assert_eq!(status, StatusCode::OK, "{body}");
	let book = f.app.store.book(&renter.to_account_id()).await.unwrap();
	assert_eq!((book.unsettled, book.reserved), (10 * PER_TOKEN, 0));
	f.app.store.seal().await.unwrap();
	let feed = f.app.store.feed_after(0, 10).await.unwrap();
	assert_eq!(feed.len(), 1);
	assert_eq!(feed[0].to_json()["on_behalf_of"], owner.to_ss58check(), "{:?}", feed[0].to_json());
}

/// A model server that answers the first request of each connection and keeps it alive, then
/// closes it when a second request comes on it, unanswered (a keep-alive that ended as the
/// request went out). Returns its `/v1` URL and how many requests it read.
async fn closing_upstream() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
	use tokio::io::{AsyncReadExt, AsyncWriteExt};
	let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
	let addr = listener.local_addr().unwrap();
	let read = Arc::new(std::sync::atomic::AtomicUsize::new(0));
	let counter = read.clone();
	tokio::spawn(async move {
		loop {
			let Ok((mut socket, _)) = listener.accept().await else { return };
			let counter = counter.clone();
			tokio::spawn(async move {
				let mut buffer = vec![0u8; 64 << 10];
				for answered in [true, false] {
					// One whole request: headers, then as many body bytes as they announce.
					let mut got = Vec::new();
					let length = loop {
						let Ok(n) = socket.read(&mut buffer).await else { return };
						if n == 0 {
							return;
						}
						got.extend_from_slice(&buffer[..n]);
						let text = String::from_utf8_lossy(&got).to_string();
						if let Some(end) = text.find("\r\n\r\n") {
							let length = text[..end]
								.lines()
								.find_map(|l| {
									l.to_ascii_lowercase()
										.strip_prefix("content-length: ")
										.map(|v| v.trim().parse::<usize>().unwrap())
								})
								.unwrap_or(0);
							break end + 4 + length;
						}
					};
					while got.len() < length {
						let Ok(n) = socket.read(&mut buffer).await else { return };
						if n == 0 {
							return;
						}
						got.extend_from_slice(&buffer[..n]);
					}
					counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
					if !answered {
						return; // closed, unanswered
					}
					let body = json!({ "id": "x", "object": "chat.completion", "choices": [
						{ "index": 0, "message": { "role": "assistant", "content": "hi" }, "finish_reason": "stop" }
					], "usage": { "prompt_tokens": 3, "completion_tokens": 1 } })
					.to_string();
					let head = format!(
						"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
						body.len()
					);
					if socket.write_all(format!("{head}{body}").as_bytes()).await.is_err() {
						return;
					}
				}
			});
		}
	});
	(format!("http://{addr}/v1"), read)
}

#[tokio::test]
async fn a_request_on_a_connection_the_upstream_closed_is_sent_again() {
	let (url, read) = closing_upstream().await;
	let f = gateway(Some(vec![url]), |_| {}).await;
	for attempt in 0..3 {
		let (status, _, body) =
			call(&f.app, post_json("/v1/chat/completions", ask(json!({})))).await;
		assert_eq!(status, StatusCode::OK, "request {attempt}: {body}");
	}
	// Requests 2 and 3 each went out on the kept-alive connection first, then on a new one.
	assert_eq!(read.load(std::sync::atomic::Ordering::SeqCst), 5);
	assert_eq!(charged(&f.app).await, 3 * 4 * PRICE / 1000, "three answers of 3 + 1 tokens");
}

fn get_path(path: &str) -> Request<Body> {
	Request::get(path).header(header::HOST, "gateway.test").body(Body::empty()).unwrap()
}

fn feedback(receipt: &str, kind: &str, content: Value) -> Request<Body> {
	let body = json!({ "receipt": receipt, "kind": kind, "content": content });
	Request::post("/v1/feedback")
		.header(header::CONTENT_TYPE, "application/json")
		.header(header::HOST, "gateway.test")
		.body(Body::from(body.to_string()))
		.unwrap()
}

fn stored_feedback(app: &App) -> u64 {
	app.metrics.feedback.get()
}

#[tokio::test]
async fn an_answer_has_a_receipt_that_feedback_names_and_validators_read_back() {
	let f = gateway(None, |_| {}).await;
	// Buffered and streamed answers both carry a receipt, each its own.
	let (status, headers, _) =
		call(&f.app, post_json("/v1/chat/completions", ask(json!({})))).await;
	assert_eq!(status, StatusCode::OK);
	let receipt = headers["x-tokenmeter-receipt"].to_str().unwrap().to_string();
	let request_id = headers["x-request-id"].to_str().unwrap().to_string();
	let (_, streamed, _) =
		call(&f.app, post_json("/v1/chat/completions", ask(json!({ "stream": true })))).await;
	let streamed = streamed["x-tokenmeter-receipt"].to_str().unwrap().to_string();
	assert_ne!(receipt, streamed);
	assert_eq!(receipt.len(), 66);

	let (status, _, body) = call(&f.app, feedback(&receipt, "rating", json!(4))).await;
	assert_eq!(status, StatusCode::CREATED, "{body}");
	let posted: Value = serde_json::from_str(&body).unwrap();
	let hash = posted["hash"].as_str().unwrap().to_string();
	// The same content again changes nothing.
	let (status, _, _) = call(&f.app, feedback(&receipt, "rating", json!(4))).await;
	assert_eq!(status, StatusCode::OK);

	let (status, _, body) = call(&f.app, get_path(&format!("/feedback/{hash}"))).await;
	assert_eq!(status, StatusCode::OK, "{body}");
	let found: Value = serde_json::from_str(&body).unwrap();
	let payload = found["payload"].as_str().unwrap();
	// What the hash is of: the exact text posted.
	let rehashed = sp_crypto_hashing::blake2_256(payload.as_bytes());
	assert_eq!(tokenmeter_gateway::feedback::hex(&rehashed), hash);
	assert_eq!(found["kind"], "rating");
	assert_eq!(found["answer"]["receipt"], receipt);
	assert_eq!(found["answer"]["request_id"], request_id);
	assert_eq!(found["answer"]["output"], PIECES.concat());
	assert_eq!(found["answer"]["prompt"], "say hello to the chain");
	assert_eq!(found["answer"]["user"], bob().to_ss58check());
	// The streamed answer's text, delta by delta.
	let (status, _, body) = call(&f.app, feedback(&streamed, "label", json!("friendly"))).await;
	assert_eq!(status, StatusCode::CREATED, "{body}");
	let hash2 = serde_json::from_str::<Value>(&body).unwrap()["hash"].as_str().unwrap().to_string();
	let (_, _, body) = call(&f.app, get_path(&format!("/feedback/{hash2}"))).await;
	assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["answer"]["output"], PIECES.concat());
	assert_eq!(stored_feedback(&f.app), 2);
}

#[tokio::test]
async fn feedback_that_names_no_served_answer_or_does_not_fit_its_kind_is_refused_and_nothing_stored(
) {
	let f = gateway(None, |_| {}).await;
	let (_, headers, _) = call(&f.app, post_json("/v1/chat/completions", ask(json!({})))).await;
	let receipt = headers["x-tokenmeter-receipt"].to_str().unwrap().to_string();
	let unknown = format!("0x{}", "ab".repeat(32));
	for (request, status, code, param) in [
		(feedback(&unknown, "rating", json!(4)), StatusCode::NOT_FOUND, "unknown_receipt", None),
		(
			feedback(&receipt, "rating", json!(7)),
			StatusCode::BAD_REQUEST,
			"invalid_type",
			Some("content"),
		),
		(
			feedback(&receipt, "praise", json!("good")),
			StatusCode::BAD_REQUEST,
			"invalid_type",
			Some("kind"),
		),
		(
			feedback("0x12", "rating", json!(4)),
			StatusCode::BAD_REQUEST,
			"invalid_type",
			Some("receipt"),
		),
	] {
		let (got, _, body) = call(&f.app, request).await;
		assert_eq!(got, status, "{body}");
		let error: Value = serde_json::from_str(&body).unwrap();
		assert_eq!(error["error"]["code"], code, "{body}");
		if let Some(param) = param {
			assert_eq!(error["error"]["param"], param);
		}
	}
	assert_eq!(stored_feedback(&f.app), 0);
	// At most four per answer.
	for i in 1..=4 {
		let (status, _, _) = call(&f.app, feedback(&receipt, "rating", json!(i))).await;
		assert_eq!(status, StatusCode::CREATED);
	}
	let (status, _, body) = call(&f.app, feedback(&receipt, "rating", json!(5))).await;
	assert_eq!(status, StatusCode::CONFLICT, "{body}");
	assert_eq!(stored_feedback(&f.app), 4);
	let (status, _, body) = call(&f.app, get_path(&format!("/feedback/{unknown}"))).await;
	assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
	let (status, _, _) = call(&f.app, get_path("/feedback/nothex")).await;
	assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn no_receipts_when_answers_are_not_kept() {
	let f = gateway(None, |a| a.answers_kept = Some(0)).await;
	let (status, headers, _) =
		call(&f.app, post_json("/v1/chat/completions", ask(json!({})))).await;
	assert_eq!(status, StatusCode::OK);
	assert!(!headers.contains_key("x-tokenmeter-receipt"));
}
