//! What a request asks for, checked and normalised before it is reserved for and forwarded:
//! the fields that decide its cost must have their documented types, and the answer's length
//! is always bounded by what the reservation assumed.

use std::borrow::Cow;

use serde::de::{Deserializer as _, MapAccess, Visitor};
use serde_json::{value::RawValue, Value};

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

/// A request body's top-level members, in order, each as the client wrote it: the members
/// that decide the cost are read, and the few the gateway sets are replaced, without building
/// (and writing again) the prompt, which is most of a body.
#[derive(Debug, Clone, Default)]
pub struct Fields(Vec<(String, Box<RawValue>)>);

impl Fields {
	/// The members of `bytes`, a JSON object (a member named twice keeps its first place and
	/// its last value, as a parsed object does).
	pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
		struct Members;
		impl<'de> Visitor<'de> for Members {
			type Value = Fields;
			fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
				f.write_str("a JSON object")
			}
			fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
				let mut fields = Fields(Vec::with_capacity(map.size_hint().unwrap_or(8)));
				while let Some((name, value)) = map.next_entry::<String, Box<RawValue>>()? {
					fields.set_raw(&name, value);
				}
				Ok(fields)
			}
		}
		let not_json = |e: serde_json::Error| {
			ApiError::invalid("invalid_json", format!("the body is not JSON: {e}"))
		};
		let mut de = serde_json::Deserializer::from_slice(bytes);
		match de.deserialize_map(Members).and_then(|fields| de.end().map(|()| fields)) {
			Ok(fields) => Ok(fields),
			// JSON of another type (an array, a string, …), or not JSON after all.
			Err(e) if e.is_data() => match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
				Ok(_) => Err(ApiError::invalid("invalid_json", "the body is not a JSON object")),
				Err(e) => Err(not_json(e)),
			},
			Err(e) => Err(not_json(e)),
		}
	}

	/// Member `name` as written, unless absent or `null` (the same for an optional field).
	pub fn raw(&self, name: &str) -> Option<&RawValue> {
		self.0
			.iter()
			.find(|(n, _)| n == name)
			.map(|(_, v)| &**v)
			.filter(|v| v.get().trim() != "null")
	}

	/// Member `name` read as a value, unless absent or `null`.
	pub fn value(&self, name: &str) -> Option<Value> {
		self.raw(name).and_then(|v| serde_json::from_str(v.get()).ok())
	}

	/// Sets member `name` to `value` (in its place if present, else last).
	pub fn set(&mut self, name: &str, value: &impl serde::Serialize) {
		if let Ok(raw) = serde_json::value::to_raw_value(value) {
			self.set_raw(name, raw);
		}
	}

	fn set_raw(&mut self, name: &str, value: Box<RawValue>) {
		match self.0.iter_mut().find(|(n, _)| n == name) {
			Some((_, slot)) => *slot = value,
			None => self.0.push((name.to_string(), value)),
		}
	}

	/// The body: the members as written, those set replaced.
	pub fn to_bytes(&self) -> Vec<u8> {
		let len = self.0.iter().map(|(n, v)| n.len() + v.get().len() + 4).sum::<usize>();
		let mut out = Vec::with_capacity(len + 2);
		out.push(b'{');
		for (i, (name, value)) in self.0.iter().enumerate() {
			if i > 0 {
				out.push(b',');
			}
			// A name written back is escaped as JSON (it was read unescaped).
			let _ = serde_json::to_writer(&mut out, name);
			out.push(b':');
			out.extend_from_slice(value.get().as_bytes());
		}
		out.push(b'}');
		out
	}
}

/// A checked request, ready to forward.
#[derive(Debug, Clone)]
pub struct Normalised {
	/// The body to forward (the model name is replaced later).
	pub body: Fields,
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

/// A positive integer field, if present.
fn positive(body: &Fields, name: &'static str) -> Result<Option<u64>, ApiError> {
	match body.raw(name) {
		None => Ok(None),
		Some(value) => match serde_json::from_str::<u64>(value.get()) {
			Ok(n) if n >= 1 => Ok(Some(n)),
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
	let mut body = Fields::parse(bytes)?;
	let model = match body.raw("model").map(|v| serde_json::from_str::<String>(v.get())) {
		Some(Ok(name)) => name,
		Some(Err(_)) => return Err(ApiError::field("model", "`model` must be a string")),
		None => return Err(ApiError::invalid("missing_model", "the request names no model")),
	};
	let stream = match body.raw("stream").map(|v| v.get().trim()) {
		None | Some("false") => false,
		Some("true") => true,
		Some(_) => return Err(ApiError::field("stream", "`stream` must be a boolean")),
	};
	if stream && endpoint == Endpoint::Embeddings {
		return Err(ApiError::field("stream", "embeddings do not stream"));
	}
	let stream_options = match body.value("stream_options") {
		None => None,
		Some(Value::Object(options)) => Some(options),
		Some(_) => {
			return Err(ApiError::field("stream_options", "`stream_options` must be an object"))
		}
	};
	let client_wants_usage = stream_options
		.as_ref()
		.and_then(|o| o.get("include_usage"))
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
		let mut set_any = false;
		for name in limits {
			if body.raw(name).is_some() {
				body.set(name, &per_choice);
				set_any = true;
			}
		}
		if !set_any {
			body.set(first, &per_choice);
		}
	}

	let n = positive(&body, "n")?.unwrap_or(1);
	let best_of = positive(&body, "best_of")?.unwrap_or(1);
	if best_of < n && body.raw("best_of").is_some() {
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
		let mut options = stream_options.unwrap_or_default();
		options.insert("include_usage".into(), Value::Bool(true));
		body.set("stream_options", &options);
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

/// The prompt text of a request to `endpoint`, its fields read by `field`.
fn prompt_by<'a>(
	endpoint: Endpoint,
	field: impl Fn(&'static str) -> Option<Cow<'a, Value>>,
) -> String {
	let mut text = String::new();
	for name in endpoint.prompt_fields() {
		if let Some(value) = field(name) {
			collect_text(&value, &mut text);
		}
	}
	text
}

/// The prompt text of a request to `endpoint`.
pub fn prompt_text(endpoint: Endpoint, body: &Value) -> String {
	prompt_by(endpoint, |name| body.get(name).map(Cow::Borrowed))
}

/// [`prompt_text`] of a request's members.
pub fn prompt_text_of(endpoint: Endpoint, body: &Fields) -> String {
	prompt_by(endpoint, |name| body.value(name).map(Cow::Owned))
}

#[cfg(test)]
mod tests {
	use super::*;

	use serde_json::json;

	fn check(endpoint: Endpoint, body: Value) -> Result<Normalised, ApiError> {
		normalise(endpoint, body.to_string().as_bytes(), 1024, 4)
	}

	/// The body forwarded, read back.
	fn sent(request: &Normalised) -> Value {
		serde_json::from_slice(&request.body.to_bytes()).expect("the body forwarded is JSON")
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
		assert_eq!(sent(&request)["max_tokens"], 1024);
		assert_eq!(request.output_bound, 1024);
		assert!(request.stream);
		assert_eq!(sent(&request)["stream_options"]["include_usage"], true);
		assert!(!request.client_wants_usage);

		let both = json!({ "model": "m", "max_tokens": 300, "max_completion_tokens": 50, "n": 3 });
		let request = check(Endpoint::Chat, both).unwrap();
		assert_eq!(sent(&request)["max_tokens"], 50);
		assert_eq!(sent(&request)["max_completion_tokens"], 50);
		assert_eq!(request.output_bound, 150, "every choice is reserved for");

		let request = check(
			Endpoint::Completions,
			json!({ "model": "m", "n": 1, "best_of": 4, "max_tokens": 10 }),
		)
		.unwrap();
		assert_eq!(request.output_bound, 40);
		let request = check(Endpoint::Responses, json!({ "model": "m", "input": "hi" })).unwrap();
		assert_eq!(sent(&request)["max_output_tokens"], 1024);
		assert!(sent(&request).get("stream_options").is_none());
		let request = check(Endpoint::Embeddings, json!({ "model": "m", "input": "hi" })).unwrap();
		assert_eq!(request.output_bound, 0);
		assert!(sent(&request).get("max_tokens").is_none());
		let request =
			check(Endpoint::Chat, json!({ "model": "m", "stream": null, "max_tokens": null }))
				.unwrap();
		assert!(!request.stream);
		assert_eq!(sent(&request)["max_tokens"], 1024);
	}

	#[test]
	fn the_body_forwarded_is_the_clients_with_only_the_limits_and_usage_set() {
		// Spacing, escapes, number forms and unknown members as the client wrote them.
		let body = br#"{ "model" : "m", "messages": [{"role": "user", "content": "h\u00e9 1.50"}],
			"temperature": 1.50, "x-extra": {"a": [1, 2]}, "max_tokens": 2000,
			"stream": true, "stream_options": {"include_usage": false, "other": 1}, "n": null }"#;
		let request = normalise(Endpoint::Chat, body, 1024, 4).unwrap();
		let forwarded = String::from_utf8(request.body.to_bytes()).unwrap();
		assert_eq!(
			forwarded,
			r#"{"model":"m","messages":[{"role": "user", "content": "h\u00e9 1.50"}],"temperature":1.50,"x-extra":{"a": [1, 2]},"max_tokens":2000,"stream":true,"stream_options":{"include_usage":true,"other":1},"n":null}"#
		);
		assert!(request.stream && !request.client_wants_usage);
		assert_eq!(request.output_bound, 2000);

		// A member named twice: its first place, its last value (as a parsed object has).
		let request =
			normalise(Endpoint::Chat, br#"{"max_tokens":5,"model":"m","max_tokens":7}"#, 1024, 4)
				.unwrap();
		assert_eq!(request.output_bound, 7);
		assert_eq!(request.body.to_bytes(), br#"{"max_tokens":7,"model":"m"}"#);
		// Set in its place; a member the gateway adds comes last.
		let mut fields = request.body.clone();
		fields.set("model", &"upstream-name");
		fields.set("priority", &-3);
		assert_eq!(fields.to_bytes(), br#"{"max_tokens":7,"model":"upstream-name","priority":-3}"#);
		// A name with characters JSON escapes is written back escaped.
		let fields = Fields::parse(br#"{"a\"b":1}"#).unwrap();
		assert_eq!(fields.to_bytes(), br#"{"a\"b":1}"#);
	}

	#[test]
	fn a_body_that_is_no_json_object_is_refused() {
		for (body, message) in [
			(&b"[1, 2]"[..], "the body is not a JSON object"),
			(b"\"text\"", "the body is not a JSON object"),
			(b"{\"model\": \"m\"", "the body is not JSON"),
			(b"{\"model\": \"m\"} trailing", "the body is not JSON"),
			(b"[1, tru]", "the body is not JSON"),
			(b"", "the body is not JSON"),
		] {
			let error = normalise(Endpoint::Chat, body, 1024, 4).unwrap_err();
			assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST);
			assert_eq!(error.code, "invalid_json");
			assert!(
				error.message.starts_with(message),
				"{}: {}",
				String::from_utf8_lossy(body),
				error.message
			);
		}
		let error = normalise(Endpoint::Chat, br#"{"messages": []}"#, 1024, 4).unwrap_err();
		assert_eq!(error.code, "missing_model");
	}

	#[test]
	fn prompt_text_is_every_string_of_the_prompt() {
		let body = json!({ "messages": [
			{ "role": "system", "content": "be brief" },
			{ "role": "user", "content": [{ "type": "text", "text": "say hi" }] },
		] });
		assert_eq!(prompt_text(Endpoint::Chat, &body), "be brief\nsay hi");
		assert_eq!(prompt_text(Endpoint::Embeddings, &json!({ "input": ["a", "b"] })), "a\nb");
		let fields = Fields::parse(body.to_string().as_bytes()).unwrap();
		assert_eq!(prompt_text_of(Endpoint::Chat, &fields), "be brief\nsay hi");
	}
}
