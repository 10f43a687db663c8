//! `POST /v1/feedback` and `GET /feedback/<hash>` (crate::feedback).

use std::sync::Arc;

use axum::{
	body::Body,
	extract::{Path, State},
	http::StatusCode,
	response::{IntoResponse, Response},
	Json,
};
use serde_json::json;

use super::{error::ApiError, App};
use crate::{
	feedback::{parse_hash, parse_posted, MAX_FEEDBACK_BYTES, MAX_FEEDBACK_PER_ANSWER},
	store::Added,
};

/// `POST /v1/feedback`: `{"receipt", "kind", "content"}` about an answer this gateway served
/// lately. Stored with the answer; answers `{"hash", "receipt", "kind"}` — `hash` is the
/// `payloadHash` to submit on chain with the receipt as the output.
pub async fn post(State(app): State<Arc<App>>, body: Body) -> Response {
	let bytes = match axum::body::to_bytes(body, MAX_FEEDBACK_BYTES + 1).await {
		Ok(bytes) => bytes,
		Err(_) => {
			return ApiError::field(
				"body",
				format!("a feedback takes at most {MAX_FEEDBACK_BYTES} bytes"),
			)
			.into_response()
		}
	};
	let posted = match parse_posted(&bytes) {
		Ok(posted) => posted,
		Err((param, message)) => return ApiError::field(param, message).into_response(),
	};
	let Some(answer) = app.served.get(&posted.receipt) else {
		return ApiError::not_found(
			"unknown_receipt",
			format!(
				"this gateway keeps no answer with receipt {}: feedback is taken for {} s after an answer",
				posted.receipt,
				app.settings.answers_kept_for.as_secs()
			),
		)
		.into_response();
	};
	let body = json!({ "hash": posted.hash, "receipt": posted.receipt, "kind": posted.kind });
	match app.store.add_feedback(&answer, &posted).await {
		Ok(Added::Stored) => {
			app.metrics.feedback.inc();
			(StatusCode::CREATED, Json(body)).into_response()
		}
		Ok(Added::Known) => (StatusCode::OK, Json(body)).into_response(),
		Ok(Added::TooMany) => ApiError::new(
			StatusCode::CONFLICT,
			"invalid_request_error",
			"too_much_feedback",
			format!("an answer takes at most {MAX_FEEDBACK_PER_ANSWER} feedback"),
		)
		.into_response(),
		Err(e) => ApiError::storage(e).into_response(),
	}
}

/// `GET /feedback/<hash>`: a feedback's exact text (`payload`, whose blake2_256 is `hash`), its
/// kind, and the answer it is about — what validators score.
pub async fn get(State(app): State<Arc<App>>, Path(hash): Path<String>) -> Response {
	let Some(parsed) = parse_hash(&hash) else {
		return ApiError::field("hash", "a feedback is named by 0x and 64 hex digits")
			.into_response();
	};
	let hash = crate::feedback::hex(&parsed);
	match app.store.feedback(&hash).await {
		Ok(Some(found)) => Json(json!({
			"hash": hash,
			"kind": found.kind,
			"payload": found.payload,
			"answer": found.answer.to_json(),
		}))
		.into_response(),
		Ok(None) => ApiError::not_found("unknown_feedback", format!("no feedback {hash} here"))
			.into_response(),
		Err(e) => ApiError::storage(e).into_response(),
	}
}
