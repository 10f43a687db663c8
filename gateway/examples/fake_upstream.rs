//! A model server that answers at once, for benchmarks: `POST /v1/chat/completions` and
//! `POST /v1/completions` answer a fixed completion with fixed `usage` (12 prompt tokens, 5
//! completion tokens), streamed as server-sent events when the request sets `stream` (the
//! usage chunk before `[DONE]` when it sets `stream_options.include_usage`).
//!
//! ```sh
//! cargo run --release -p tokenmeter-gateway --example fake_upstream -- 127.0.0.1:8081
//! ```

use axum::{
	body::{Body, Bytes},
	http::header,
	response::{IntoResponse, Response},
	routing::post,
	Router,
};
use serde_json::{json, Value};

const USAGE: (u32, u32) = (12, 5);

async fn answer(body: Bytes) -> Response {
	let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
	let model = request.get("model").and_then(Value::as_str).unwrap_or("fake").to_string();
	let usage = json!({ "prompt_tokens": USAGE.0, "completion_tokens": USAGE.1, "total_tokens": USAGE.0 + USAGE.1 });
	if request.get("stream").and_then(Value::as_bool).unwrap_or(false) {
		let with_usage = request
			.pointer("/stream_options/include_usage")
			.and_then(Value::as_bool)
			.unwrap_or(false);
		let mut events = String::new();
		for word in ["Hello", " from", " the", " fake", " model"] {
			let chunk = json!({ "id": "bench", "object": "chat.completion.chunk", "created": 0, "model": model,
				"choices": [{ "index": 0, "delta": { "content": word }, "finish_reason": null }] });
			events.push_str(&format!("data: {chunk}\n\n"));
		}
		if with_usage {
			let chunk = json!({ "id": "bench", "object": "chat.completion.chunk", "created": 0, "model": model,
				"choices": [], "usage": usage });
			events.push_str(&format!("data: {chunk}\n\n"));
		}
		events.push_str("data: [DONE]\n\n");
		return ([(header::CONTENT_TYPE, "text/event-stream")], Body::from(events)).into_response();
	}
	let answer = json!({
		"id": "bench", "object": "chat.completion", "created": 0, "model": model,
		"choices": [{ "index": 0, "message": { "role": "assistant", "content": "Hello from the fake model" }, "finish_reason": "stop" }],
		"usage": usage,
	});
	([(header::CONTENT_TYPE, "application/json")], answer.to_string()).into_response()
}

#[tokio::main]
async fn main() {
	let listen = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8081".into());
	let app = Router::new()
		.route("/v1/chat/completions", post(answer))
		.route("/v1/completions", post(answer))
		// The gateway's health check.
		.route(
			"/v1/models",
			axum::routing::get(|| async { axum::Json(json!({ "object": "list", "data": [] })) }),
		);
	let listener = match tokio::net::TcpListener::bind(&listen).await {
		Ok(listener) => listener,
		Err(e) => {
			eprintln!("cannot listen on {listen}: {e}");
			std::process::exit(1);
		}
	};
	if let Err(e) = axum::serve(listener, app).await {
		eprintln!("{e}");
		std::process::exit(1);
	}
}
