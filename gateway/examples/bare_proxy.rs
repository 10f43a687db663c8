//! The floor of any proxy on this machine, for `scripts/bench-gateway.sh`: forwards `POST
//! /v1/chat/completions` to an upstream with axum and reqwest and nothing else — no payment,
//! no chain, no records. With `--own-client`, it forwards with the gateway's own HTTP/1.1
//! client instead of reqwest (`tokenmeter_gateway::upstream::Conns`, which the gateway uses
//! for model servers at `http://` addresses): the floor of the gateway's own stack.
//!
//! ```sh
//! cargo run --release -p tokenmeter-gateway --example bare_proxy -- 127.0.0.1:8082 http://127.0.0.1:8081 [--own-client]
//! ```

use std::sync::Arc;

use axum::{
	body::{Body, Bytes},
	extract::State,
	http::{header, StatusCode},
	response::{IntoResponse, Response},
	routing::post,
	Router,
};
use tokenmeter_gateway::upstream::Conns;

/// The gateway's allocator, so that the floor differs from the gateway by its work only.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The answer to relay: its status and body.
fn relay(status: u16, bytes: Bytes) -> Response {
	let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
	(status, [(header::CONTENT_TYPE, "application/json")], Body::from(bytes)).into_response()
}

async fn forward_own(State(conns): State<Arc<Conns>>, body: Bytes) -> Response {
	let Ok(answer) = conns.post("/chat/completions", body).await else {
		return StatusCode::BAD_GATEWAY.into_response();
	};
	let status = answer.status();
	match answer.bytes().await {
		Ok(bytes) => relay(status, bytes),
		Err(_) => StatusCode::BAD_GATEWAY.into_response(),
	}
}

async fn forward(
	State((client, upstream)): State<(reqwest::Client, String)>,
	body: Bytes,
) -> Response {
	let answer = client
		.post(format!("{upstream}/v1/chat/completions"))
		.header(header::CONTENT_TYPE, "application/json")
		.body(body)
		.send()
		.await;
	match answer {
		Ok(answer) => {
			let status = answer.status().as_u16();
			match answer.bytes().await {
				Ok(bytes) => relay(status, bytes),
				Err(_) => StatusCode::BAD_GATEWAY.into_response(),
			}
		}
		Err(_) => StatusCode::BAD_GATEWAY.into_response(),
	}
}

#[tokio::main]
async fn main() {
	let mut args = std::env::args().skip(1);
	let listen = args.next().unwrap_or_else(|| "127.0.0.1:8082".into());
	let upstream = args.next().unwrap_or_else(|| "http://127.0.0.1:8081".into());
	let app = if args.next().as_deref() == Some("--own-client") {
		let Some(conns) = Conns::for_base(&format!("{upstream}/v1")) else {
			eprintln!("the gateway's own client serves http:// addresses only: {upstream}");
			std::process::exit(1);
		};
		Router::new().route("/v1/chat/completions", post(forward_own)).with_state(conns)
	} else {
		Router::new()
			.route("/v1/chat/completions", post(forward))
			.with_state((reqwest::Client::new(), upstream))
	};
	let listener = match tokio::net::TcpListener::bind(&listen).await {
		Ok(listener) => listener,
		Err(e) => {
			eprintln!("cannot listen on {listen}: {e}");
			std::process::exit(1);
		}
	};
	let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
		let _ = tcp.set_nodelay(true);
	});
	if let Err(e) = axum::serve(listener, app).await {
		eprintln!("{e}");
		std::process::exit(1);
	}
}
