//! What a request asks for, checked and normalised before it is reserved for and forwarded:
//! the fields that decide its cost must have their documented types, and the answer's length
//! is always bounded by what the reservation assumed.

use serde_json::{json, Value};

use super::error::ApiError;

/// The billed endpoints, forwarded to the same path on the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
	/// `POST /v1/chat/completions`.
	Chat,
	/// `POST /v1/completions`.
	Completions,
	/// `POST /v1/embeddings`.
	Embeddings,
	/// `POST /v1/responses` (the OpenAI Responses API).
	Responses,
}

impl Endpoint {
	/// The path under the upstream's `/v1`.
	pub fn path(self) -> &'static str {
		match self {
			Endpoint::Chat => "/chat/completions",
			Endpoint::Completions => "/completions",
			Endpoint::Embeddings => "/embeddings",
			Endpoint::Responses => "/responses",
		}
	}

	/// The fields that bound the answer's tokens (per choice). The first one is set when the
	/// request sets none.
	fn output_limits(self) -> &'static [&'static str] {
		match self {
			Endpoint::Chat => &["max_tokens", "max_completion_tokens"],
			Endpoint::Completions => &["max_tokens"],
			Endpoint::Responses => &["max_output_tokens"],
			Endpoint::Embeddings => &[],
		}
	}

	/// The fields that hold the prompt.
	pub fn prompt_fields(self) -> &'static [&'static str] {
		match self {
			Endpoint::Chat => &["messages"],
			Endpoint::Completions => &["prompt", "suffix"],
			Endpoint::Embeddings | Endpoint::Responses => &["input", "instructions"],
		}
	}
}

/// A checked request, ready to forward.
#[derive(Debug, Clone)]
pub struct Normalised {
	/// The body to forward (the model name is replaced later).
	pub body: Value,
	/// The model the request names.
	pub model: String,
	/// Whether the answer streams.
	pub stream: bool,
	/// Whether the client asked for the usage chunk of a stream.
	pub client_wants_usage: bool,
	/// The prompt's tokens at most: the body's bytes (a token is at least one byte).
	pub input_bound: u32,
	/// The answer's tokens at most, all choices together.
	pub output_bound: u32,
}

/// An optional field: absent and `null` are the same.
fn field<'a>(body: &'a Value, name: &str) -> Option<&'a Value> {
	body.get(name).filter(|v| !v.is_null())
}

/// A positive integer field, if present.
fn positive(body: &Value, name: &'static str) -> Result<Option<u64>, ApiError> {
	match field(body, name) {
		None => Ok(None),
		Some(value) => match value.as_u64() {
			Some(n) if n >= 1 => Ok(Some(n)),
			_ => Err(ApiError::field(name, format!("`{name}` must be an integer of at least 1"))),
		},
	}
}

/// Checks `bytes` as a request to `endpoint` and normalises it: `stream` a boolean, token
/// limits and `n`/`best_of` positive integers (`n` and `best_of` at most `max_choices`), an
/// output limit always set (`default_max_tokens` when the client set none), the streamed
/// usage always asked for.
pub fn normalise(
	endpoint: Endpoint,
	bytes: &[u8],
	default_max_tokens: u32,
	max_choices: u32,
) -> Result<Normalised, ApiError> {
	let mut body: Value = serde_json::from_slice(bytes)
		.map_err(|e| ApiError::invalid("invalid_json", format!("the body is not JSON: {e}")))?;
	if !body.is_object() {
		return Err(ApiError::invalid("invalid_json", "the body is not a JSON object"));
	}
	let model = match field(&body, "model") {
		Some(Value::String(name)) => name.clone(),
		Some(_) => return Err(ApiError::field("model", "`model` must be a string")),
		None => return Err(ApiError::invalid("missing_model", "the request names no model")),
	};
	let stream = match field(&body, "stream") {
		None => false,
		Some(Value::Bool(stream)) => *stream,
		Some(_) => return Err(ApiError::field("stream", "`stream` must be a boolean")),
	};
	if stream && endpoint == Endpoint::Embeddings {
		return Err(ApiError::field("stream", "embeddings do not stream"));
	}
	if field(&body, "stream_options").is_some_and(|o| !o.is_object()) {
		return Err(ApiError::field("stream_options", "`stream_options` must be an object"));
	}
	let client_wants_usage = body
		.pointer("/stream_options/include_usage")
		.map(|v| {
			v.as_bool()
				.ok_or(ApiError::field("stream_options", "`include_usage` must be a boolean"))
		})
		.transpose()?
		.unwrap_or(false);

	// The answer's bound per choice: the smallest limit the client set, else the default;
	// written into every limit field the client used (the first when none), so that the
	// upstream never generates more than was reserved.
	let limits = endpoint.output_limits();
	let mut per_choice: Option<u64> = None;
	for name in limits {
		if let Some(n) = positive(&body, name)? {
			per_choice = Some(per_choice.map_or(n, |p| p.min(n)));
		}
	}
	let per_choice = per_choice.unwrap_or(u64::from(default_max_tokens)).min(u64::from(u32::MAX));
	if let Some(first) = limits.first() {
		let object = body.as_object_mut().expect("checked to be an object above");
		let mut set_any = false;
		for name in limits {
			if object.get(*name).is_some_and(|v| !v.is_null()) {
				object.insert((*name).to_string(), json!(per_choice));
				set_any = true;
			}
		}
		if !set_any {
			object.insert((*first).to_string(), json!(per_choice));
		}
	}

	let n = positive(&body, "n")?.unwrap_or(1);
	let best_of = positive(&body, "best_of")?.unwrap_or(1);
	if best_of < n && field(&body, "best_of").is_some() {
		return Err(ApiError::field("best_of", "`best_of` must be at least `n`"));
	}
	let choices = n.max(best_of);
	if choices > u64::from(max_choices) {
		let param = if best_of > n { "best_of" } else { "n" };
		return Err(ApiError::field(
			param,
			format!("this gateway serves at most {max_choices} choices per request"),
		));
	}
	let output_bound = if limits.is_empty() { 0 } else { per_choice.saturating_mul(choices) };

	if stream && matches!(endpoint, Endpoint::Chat | Endpoint::Completions) {
		body["stream_options"]["include_usage"] = json!(true);
	}
	Ok(Normalised {
		body,
		model,
		stream,
		client_wants_usage,
		input_bound: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
		output_bound: u32::try_from(output_bound).unwrap_or(u32::MAX),
	})
}

/// Appends every string inside `value` (a prompt: messages, their content parts, input
/// items) to `out`, separated by newlines.
pub fn collect_text(value: &Value, out: &mut String) {
	match value {
		Value::String(s) => {
			if !out.is_empty() {
				out.push('\n');
			}
			out.push_str(s);
		}
		Value::Array(items) => items.iter().for_each(|v| collect_text(v, out)),
		Value::Object(fields) => {
			for (key, v) in fields {
				// Names, roles and ids are not prompt text worth counting.
				if !matches!(key.as_str(), "role" | "type" | "name" | "id" | "tool_call_id") {
					collect_text(v, out);
				}
			}
		}
		_ => {}
	}
}

/// The prompt text of a request to `endpoint`.
pub fn prompt_text(endpoint: Endpoint, body: &Value) -> String {
	let mut text = String::new();
	for name in endpoint.prompt_fields() {
		if let Some(value) = body.get(*name) {
			collect_text(value, &mut text);
		}
	}
	text
}

#[cfg(test)]
mod tests {
	use super::*;

	fn check(endpoint: Endpoint, body: Value) -> Result<Normalised, ApiError> {
		normalise(endpoint, body.to_string().as_bytes(), 1024, 4)
	}

	#[test]
	fn a_string_stream_and_bad_limits_are_refused() {
		for (body, param) in [
			(json!({ "model": "m", "stream": "true" }), "stream"),
			(json!({ "model": "m", "max_tokens": "50" }), "max_tokens"),
			(json!({ "model": "m", "max_tokens": 0 }), "max_tokens"),
			(json!({ "model": "m", "max_completion_tokens": -5 }), "max_completion_tokens"),
			(json!({ "model": "m", "n": 2.5 }), "n"),
			(json!({ "model": "m", "n": 9 }), "n"),
			(json!({ "model": 7 }), "model"),
			(json!({ "model": "m", "stream_options": true }), "stream_options"),
		] {
			let error = check(Endpoint::Chat, body.clone()).unwrap_err();
			assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST, "{body}");
			assert_eq!(error.param, Some(param), "{body}");
		}
		let error = check(Endpoint::Completions, json!({ "model": "m", "n": 2, "best_of": 1 }));
		assert_eq!(error.unwrap_err().param, Some("best_of"));
		let error = check(Endpoint::Embeddings, json!({ "model": "m", "stream": true }));
		assert_eq!(error.unwrap_err().param, Some("stream"));
	}

	#[test]
	fn the_output_is_always_bounded_by_what_is_reserved() {
		let request = check(Endpoint::Chat, json!({ "model": "m", "stream": true })).unwrap();
		assert_eq!(request.body["max_tokens"], 1024);
		assert_eq!(request.output_bound, 1024);
		assert!(request.stream);
		assert_eq!(request.body["stream_options"]["include_usage"], true);
		assert!(!request.client_wants_usage);

		let both = json!({ "model": "m", "max_tokens": 300, "max_completion_tokens": 50, "n": 3 });
		let request = check(Endpoint::Chat, both).unwrap();
		assert_eq!(request.body["max_tokens"], 50);
		assert_eq!(request.body["max_completion_tokens"], 50);
		assert_eq!(request.output_bound, 150, "every choice is reserved for");

		let request = check(
			Endpoint::Completions,
			json!({ "model": "m", "n": 1, "best_of": 4, "max_tokens": 10 }),
		)
		.unwrap();
		assert_eq!(request.output_bound, 40);
		let request = check(Endpoint::Responses, json!({ "model": "m", "input": "hi" })).unwrap();
		assert_eq!(request.body["max_output_tokens"], 1024);
		assert!(request.body.get("stream_options").is_none());
		let request = check(Endpoint::Embeddings, json!({ "model": "m", "input": "hi" })).unwrap();
		assert_eq!(request.output_bound, 0);
		assert!(request.body.get("max_tokens").is_none());
		let request =
			check(Endpoint::Chat, json!({ "model": "m", "stream": null, "max_tokens": null }))
				.unwrap();
		assert!(!request.stream);
		assert_eq!(request.body["max_tokens"], 1024);
	}

	#[test]
	fn prompt_text_is_every_string_of_the_prompt() {
		let body = json!({ "messages": [
			{ "role": "system", "content": "be brief" },
			{ "role": "user", "content": [{ "type": "text", "text": "say hi" }] },
		] });
		assert_eq!(prompt_text(Endpoint::Chat, &body), "be brief\nsay hi");
		assert_eq!(prompt_text(Endpoint::Embeddings, &json!({ "input": ["a", "b"] })), "a\nb");
	}
}
