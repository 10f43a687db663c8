//! Receipts and the feedback that names them.

use crate::common::*;

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
