//! Reading answers: server-sent events, the `usage` an answer reports (chat and completions:
//! `prompt_tokens`/`completion_tokens`; the Responses API: `input_tokens`/`output_tokens`,
//! streamed in `response.completed`; embeddings: `prompt_tokens`), and the text an answer
//! delivered, for counting when it reports no usage.

use serde_json::Value;

/// The largest event the gateway holds while it waits for its end; an upstream that sends a
/// longer one is treated as failed.
pub const MAX_EVENT_BYTES: usize = 4 << 20;

/// Splits complete server-sent events off the front of `buffer`.
pub fn next_event(buffer: &mut Vec<u8>) -> Option<Vec<u8>> {
	let lf = buffer.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
	let crlf = buffer.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
	let end = match (lf, crlf) {
		(Some(a), Some(b)) => a.min(b),
		(a, b) => a.or(b)?,
	};
	Some(buffer.drain(..end).collect())
}

/// The data of an event's `data:` lines, joined, or `None` without any.
pub fn event_data(event: &[u8]) -> Option<String> {
	let text = std::str::from_utf8(event).ok()?;
	let data: Vec<&str> = text
		.lines()
		.filter_map(|l| l.strip_prefix("data:"))
		.map(|d| d.strip_prefix(' ').unwrap_or(d))
		.collect();
	(!data.is_empty()).then(|| data.join("\n"))
}

fn count(v: Option<&Value>) -> Option<u32> {
	v?.as_u64().map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// The (input, output) tokens of a `usage` object's counts: chat's and completions' names
/// first, the Responses API's after.
fn tokens(
	prompt: Option<&Value>,
	input: Option<&Value>,
	completion: Option<&Value>,
	output: Option<&Value>,
) -> Option<(u32, u32)> {
	let input = count(prompt).or_else(|| count(input))?;
	Some((input, count(completion).or_else(|| count(output)).unwrap_or(0)))
}

/// The (input, output) tokens of a `usage` object of any of the endpoints.
pub fn tokens_of(usage: &Value) -> Option<(u32, u32)> {
	let field = |name| usage.get(name);
	tokens(
		field("prompt_tokens"),
		field("input_tokens"),
		field("completion_tokens"),
		field("output_tokens"),
	)
}

/// The usage an answer (or a streamed event) reports: its `usage`, or its `response.usage`
/// (the Responses API's events).
pub fn usage_of(value: &Value) -> Option<(u32, u32)> {
	let usage = value
		.get("usage")
		.filter(|u| !u.is_null())
		.or_else(|| value.pointer("/response/usage").filter(|u| !u.is_null()))?;
	tokens_of(usage)
}

/// [`usage_of`] a whole answer's JSON, reading only the token counts of its `usage` (the rest
/// is skipped, not built; the counts are borrowed as written, not built as values).
pub fn usage_in(answer: &[u8]) -> Option<(u32, u32)> {
	use serde_json::value::RawValue;
	#[derive(serde::Deserialize)]
	struct Usage<'a> {
		#[serde(borrow)]
		prompt_tokens: Option<&'a RawValue>,
		#[serde(borrow)]
		input_tokens: Option<&'a RawValue>,
		#[serde(borrow)]
		completion_tokens: Option<&'a RawValue>,
		#[serde(borrow)]
		output_tokens: Option<&'a RawValue>,
	}
	#[derive(serde::Deserialize)]
	struct Answer<'a> {
		#[serde(default, borrow)]
		usage: Option<Usage<'a>>,
	}
	// What `Value::as_u64` reads: an integer from 0 to u64::MAX written as one (not `12.0`,
	// `1e3`, `"12"` or `-1`); `null` is no count.
	let count = |v: Option<&RawValue>| {
		v?.get().parse::<u64>().ok().map(|n| u32::try_from(n).unwrap_or(u32::MAX))
	};
	let usage = serde_json::from_slice::<Answer<'_>>(answer).ok()?.usage?;
	let input = count(usage.prompt_tokens).or_else(|| count(usage.input_tokens))?;
	Some((
		input,
		count(usage.completion_tokens).or_else(|| count(usage.output_tokens)).unwrap_or(0),
	))
}

/// Appends the text an answer or a streamed event delivers to `out`: choices' messages,
/// deltas and texts (with reasoning and tool-call arguments), and the Responses API's output
/// text.
pub fn delivered_text(value: &Value, out: &mut String) {
	let mut push = |v: Option<&Value>| {
		if let Some(s) = v.and_then(Value::as_str) {
			out.push_str(s);
		}
	};
	if let Some(choices) = value.get("choices").and_then(Value::as_array) {
		for choice in choices {
			push(choice.get("text"));
			for part in ["message", "delta"] {
				let Some(message) = choice.get(part) else { continue };
				push(message.get("content"));
				push(message.get("reasoning_content"));
				for call in
					message.get("tool_calls").and_then(Value::as_array).into_iter().flatten()
				{
					push(call.pointer("/function/arguments"));
				}
			}
		}
	}
	// Responses API: streamed deltas, and the whole output of an answer.
	if value.get("type").and_then(Value::as_str) == Some("response.output_text.delta") {
		push(value.get("delta"));
	}
	for item in value.get("output").and_then(Value::as_array).into_iter().flatten() {
		for content in item.get("content").and_then(Value::as_array).into_iter().flatten() {
			push(content.get("text"));
		}
	}
}

/// Whether an event ends a stream: `[DONE]`, or the Responses API's `response.completed`.
pub fn is_end(data: &str, value: Option<&Value>) -> bool {
	data == "[DONE]"
		|| value.and_then(|v| v.get("type")).and_then(Value::as_str) == Some("response.completed")
}

/// Whether an event is an error the upstream reports mid-stream (`{"error": ...}`, or the
/// Responses API's `error` / `response.failed`).
pub fn is_error(value: &Value) -> bool {
	value.get("error").is_some_and(|e| !e.is_null())
		|| matches!(value.get("type").and_then(Value::as_str), Some("error" | "response.failed"))
}

#[cfg(test)]
mod tests {
	use super::*;
	use serde_json::json;

	#[test]
	fn events_split_on_blank_lines_and_usage_is_read() {
		let mut buffer = b"data: {\"a\":1}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}\n\ndata: [DO".to_vec();
		let first = next_event(&mut buffer).unwrap();
		assert_eq!(event_data(&first).as_deref(), Some("{\"a\":1}"));
		let second = next_event(&mut buffer).unwrap();
		let value: Value = serde_json::from_str(&event_data(&second).unwrap()).unwrap();
		assert_eq!(usage_of(&value), Some((3, 4)));
		assert_eq!(next_event(&mut buffer), None);
		buffer.extend(b"NE]\r\n\r\n");
		assert_eq!(event_data(&next_event(&mut buffer).unwrap()).as_deref(), Some("[DONE]"));
	}

	#[test]
	fn the_usage_of_a_whole_answer_is_read_as_from_its_value() {
		for answer in [
			r#"{"id":"x","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#,
			r#"{"usage":{"prompt_tokens":3}}"#,
			r#"{"usage":{"prompt_tokens":99999999999,"completion_tokens":1}}"#,
			r#"{"usage":{"prompt_tokens":-1,"completion_tokens":1}}"#,
			r#"{"usage":{"prompt_tokens":1.5,"completion_tokens":1}}"#,
			r#"{"usage":{"prompt_tokens":12.0,"completion_tokens":1e3}}"#,
			r#"{"usage":{"prompt_tokens":18446744073709551615,"completion_tokens":18446744073709551616}}"#,
			r#"{"usage":{ "prompt_tokens" : 7 , "completion_tokens" : 0 }}"#,
			r#"{"usage":{"prompt_tokens":{"n":1},"completion_tokens":[2]}}"#,
			r#"{"usage":{"completion_tokens":1}}"#,
			r#"{"usage":{"input_tokens":5,"output_tokens":6}}"#,
			r#"{"usage":null}"#,
			r#"{"usage":"12"}"#,
			r#"{"usage":12}"#,
			r#"{"usage":{"prompt_tokens":"12","completion_tokens":4}}"#,
			r#"{"usage":{"prompt_tokens":null,"input_tokens":8,"output_tokens":null}}"#,
			r#"{"usage":{"prompt_tokens":3,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":1},"completion_tokens_details":{"reasoning_tokens":2}}}"#,
			r#"{"choices":[]}"#,
			r#"[1,2]"#,
			r#"not json"#,
		] {
			let by_value = serde_json::from_str::<Value>(answer).ok().and_then(|v| usage_of(&v));
			assert_eq!(usage_in(answer.as_bytes()), by_value, "{answer}");
		}
		assert_eq!(usage_in(br#"{"usage":{"input_tokens":5,"output_tokens":6}}"#), Some((5, 6)));
		assert_eq!(usage_in(br#"{"usage":{"prompt_tokens":99999999999}}"#), Some((u32::MAX, 0)));
		let completed = json!({ "type": "response.completed", "response": { "usage": { "input_tokens": 2, "output_tokens": 9 } } });
		assert_eq!(usage_of(&completed), Some((2, 9)));
		assert!(is_end("", Some(&completed)));
	}

	#[test]
	fn delivered_text_is_read_from_every_shape() {
		let mut text = String::new();
		delivered_text(&json!({ "choices": [{ "delta": { "content": "Hel" } }] }), &mut text);
		delivered_text(&json!({ "choices": [{ "text": "lo" }] }), &mut text);
		delivered_text(
			&json!({ "choices": [{ "message": { "content": " you", "tool_calls": [{ "function": { "arguments": "{}" } }] } }] }),
			&mut text,
		);
		delivered_text(&json!({ "type": "response.output_text.delta", "delta": "!" }), &mut text);
		assert_eq!(text, "Hello you{}!");
		assert!(is_error(&json!({ "error": { "message": "boom" } })));
		assert!(!is_error(&json!({ "error": null, "choices": [] })));
	}
}
