//! What the gateway shows and keeps apart: the operator listener, the feed, CORS, its
//! errors and its x402 requirements.

use crate::common::*;

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
