//! What is forwarded and what is charged: the request's bounds, usage from the answer or
//! the upstream's tokenizer, broken and abandoned streams, the other OpenAI endpoints and
//! delegates.

use crate::common::*;

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
