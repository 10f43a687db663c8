//! Every error the gateway answers, in the OpenAI API's shape:
//! `{"error": {"message", "type", "param", "code"}}`.

use axum::{
	http::{header, HeaderName, HeaderValue, StatusCode},
	response::{IntoResponse, Response},
	Json,
};
use serde_json::{json, Value};

/// An error answer: a status, the OpenAI `type` and `code`, a message for people, the field
/// at fault (`param`) and extra headers (`PAYMENT-REQUIRED`, `Retry-After`, ...).
#[derive(Debug, Clone)]
pub struct ApiError {
	/// The HTTP status.
	pub status: StatusCode,
	/// The OpenAI error `type` (`invalid_request_error`, `payment_required`, ...).
	pub kind: &'static str,
	/// The machine-readable `code`.
	pub code: String,
	/// What went wrong, for people.
	pub message: String,
	/// The request field at fault.
	pub param: Option<&'static str>,
	/// Headers to send with it.
	pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
	/// An error of `status`, `kind` and `code`.
	pub fn new(
		status: StatusCode,
		kind: &'static str,
		code: impl Into<String>,
		message: impl Into<String>,
	) -> Self {
		ApiError {
			status,
			kind,
			code: code.into(),
			message: message.into(),
			param: None,
			headers: Vec::new(),
		}
	}

	/// `400`: the request is wrong.
	pub fn invalid(code: &str, message: impl Into<String>) -> Self {
		Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", code, message)
	}

	/// `400` for a field of the wrong type or value.
	pub fn field(param: &'static str, message: impl Into<String>) -> Self {
		let mut error = Self::invalid("invalid_type", message);
		error.param = Some(param);
		error
	}

	/// `403`.
	pub fn forbidden(code: &str, message: impl Into<String>) -> Self {
		Self::new(StatusCode::FORBIDDEN, "permission_error", code, message)
	}

	/// `404`.
	pub fn not_found(code: &str, message: impl Into<String>) -> Self {
		Self::new(StatusCode::NOT_FOUND, "invalid_request_error", code, message)
	}

	/// `503`: try again later.
	pub fn unavailable(code: &str, message: impl Into<String>) -> Self {
		Self::new(StatusCode::SERVICE_UNAVAILABLE, "service_unavailable", code, message)
	}

	/// `502`: the model server failed.
	pub fn bad_gateway(code: &str, message: impl Into<String>) -> Self {
		Self::new(StatusCode::BAD_GATEWAY, "server_error", code, message)
	}

	/// `500`: the gateway failed (its database, ...).
	pub fn internal(code: &str, message: impl Into<String>) -> Self {
		Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", code, message)
	}

	/// `500` for a database failure.
	pub fn storage(e: impl std::fmt::Display) -> Self {
		Self::internal("storage", e.to_string())
	}

	/// With `name: value` among its headers.
	pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
		self.headers.push((name, value));
		self
	}

	/// With `Retry-After: secs`.
	pub fn retry_after(self, secs: u64) -> Self {
		self.with_header(header::RETRY_AFTER, HeaderValue::from(secs))
	}

	/// The JSON body.
	pub fn body(&self) -> Value {
		json!({ "error": {
			"message": self.message, "type": self.kind, "param": self.param, "code": self.code,
		} })
	}

	/// The error as one server-sent event, for a stream that fails after its first byte.
	pub fn event(&self) -> String {
		format!("data: {}\n\n", self.body())
	}
}

impl IntoResponse for ApiError {
	fn into_response(self) -> Response {
		let mut response = (self.status, Json(self.body())).into_response();
		for (name, value) in self.headers {
			response.headers_mut().insert(name, value);
		}
		response
	}
}

/// A header value from text the gateway wrote (never fails: invalid text becomes empty).
pub fn header_value(s: &str) -> HeaderValue {
	HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn errors_have_the_openai_shape() {
		let error = ApiError::field("stream", "`stream` must be a boolean").retry_after(3);
		let body = error.body();
		assert_eq!(body["error"]["type"], "invalid_request_error");
		assert_eq!(body["error"]["code"], "invalid_type");
		assert_eq!(body["error"]["param"], "stream");
		assert!(error.event().starts_with("data: {\"error\":"));
		let response = error.into_response();
		assert_eq!(response.status(), StatusCode::BAD_REQUEST);
		assert_eq!(response.headers()[header::RETRY_AFTER], "3");
	}
}
