//! What the tests share: the model server, a gateway in process, requests and what they
//! were charged.

pub(crate) use std::{
	net::SocketAddr,
	sync::{Arc, Mutex},
	time::{Duration, Instant},
};

pub(crate) use axum::{
	body::{Body, Bytes},
	extract::State,
	http::{header, Request, StatusCode},
	response::{IntoResponse, Response},
	routing::{get, post},
	Json, Router,
};
pub(crate) use base64::Engine;
pub(crate) use futures::StreamExt;
pub(crate) use serde_json::{json, Value};
pub(crate) use sp_core::{crypto::Ss58Codec, Pair, H256};
pub(crate) use sp_keyring::Sr25519Keyring;
pub(crate) use sp_runtime::{AccountId32, MultiSignature};
pub(crate) use tokenmeter_gateway::{
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
pub(crate) use tokenmeter_primitives::{session_commitment, SignedVoucher, Voucher};
pub(crate) use tower::ServiceExt;

pub(crate) const GENESIS: H256 = H256::repeat_byte(7);
/// 1 TMT per 1,000 tokens in and out: a token costs 10⁹.
pub(crate) const PRICE: u128 = 1_000_000_000_000;
pub(crate) const PER_TOKEN: u128 = PRICE / 1000;

/// The model server: OpenAI-style answers with usage (prompt tokens: the prompt's words,
/// completion tokens: the delivered words), misbehaving as `metadata.mode` asks:
/// `no_usage` never reports usage, `break` breaks a stream after two chunks, `long` streams
/// 4,000 chunks; `/tokenize` counts words.
#[derive(Clone, Default)]
pub(crate) struct Upstream {
	pub(crate) requests: Arc<Mutex<Vec<Value>>>,
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

pub(crate) const PIECES: [&str; 3] = ["Hello ", "from the ", "fake model"];

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

pub(crate) async fn start_upstream() -> (String, Upstream) {
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
pub(crate) async fn dead_address() -> SocketAddr {
	let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
	listener.local_addr().unwrap()
}

pub(crate) struct Fixture {
	pub(crate) app: Arc<App>,
	pub(crate) upstream: Upstream,
	_dir: tempfile::TempDir,
}

pub(crate) fn alice() -> AccountId32 {
	Sr25519Keyring::Alice.to_account_id()
}
pub(crate) fn bob() -> AccountId32 {
	Sr25519Keyring::Bob.to_account_id()
}

pub(crate) async fn gateway(
	replicas: Option<Vec<String>>,
	tweak: impl FnOnce(&mut ServeArgs),
) -> Fixture {
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
pub(crate) fn token() -> String {
	token_of(Sr25519Keyring::Bob, bob())
}

/// `signer`'s token for its own usage, paid by `payer`.
pub(crate) fn token_of(signer: Sr25519Keyring, payer: AccountId32) -> String {
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

pub(crate) fn post_json(path: &str, body: Value) -> Request<Body> {
	post_as(path, body, &token())
}

pub(crate) fn post_as(path: &str, body: Value, token: &str) -> Request<Body> {
	Request::post(path)
		.header(header::CONTENT_TYPE, "application/json")
		.header(header::AUTHORIZATION, format!("Bearer {token}"))
		.header(header::HOST, "gateway.test")
		.body(Body::from(body.to_string()))
		.unwrap()
}

pub(crate) async fn call(
	app: &Arc<App>,
	request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
	let response = public_router(app.clone()).oneshot(request).await.unwrap();
	let (parts, body) = response.into_parts();
	let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
	(parts.status, parts.headers, String::from_utf8_lossy(&bytes).into_owned())
}

pub(crate) async fn charged(app: &App) -> u128 {
	app.store.book(&bob()).await.unwrap().unsettled
}

pub(crate) async fn reserved(app: &App) -> u128 {
	app.store.book(&bob()).await.unwrap().reserved
}

pub(crate) fn ask(extra: Value) -> Value {
	let mut body = json!({ "model": "m", "messages": [{ "role": "user", "content": "say hello to the chain" }] });
	body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
	body
}

/// The `data:` payloads of a stream.
pub(crate) fn data_of(stream: &str) -> Vec<String> {
	stream.split("\n\n").filter_map(|e| e.strip_prefix("data: ")).map(str::to_string).collect()
}
