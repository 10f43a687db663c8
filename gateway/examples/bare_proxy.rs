//! The floor of any proxy on this machine, for `scripts/bench-gateway.sh`: forwards `POST
//! /v1/chat/completions` to an upstream with the gateway's own HTTP stack (axum, reqwest) and
//! nothing else — no payment, no chain, no records.
//!
//! ```sh
//! cargo run --release -p tokenmeter-gateway --example bare_proxy -- 127.0.0.1:8082 http://127.0.0.1:8081
//! ```

use axum::{
	body::{Body, Bytes},
	extract::State,
	http::{header, StatusCode},
	response::{IntoResponse, Response},
	routing::post,
	Router,
};

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
			let status =
				StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
			match answer.bytes().await {
				Ok(bytes) => {
					(status, [(header::CONTENT_TYPE, "application/json")], Body::from(bytes))
						.into_response()
				}
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
	let app = Router::new()
		.route("/v1/chat/completions", post(forward))
		.with_state((reqwest::Client::new(), upstream));
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
