//! Several upstreams: a replica that is down, a connection the upstream closed.

use crate::common::*;

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
