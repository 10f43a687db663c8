//! Feedback about served answers (docs/gateway.md, "Feedback"; issue 32).
//!
//! Every paid answer gets a **receipt**: 32 bytes, sent back in `X-Tokenmeter-Receipt` (with
//! the headers, so a streamed answer has one too), unguessable (a keyed hash of a counter, the
//! request id and the model, with a key drawn from the OS at start). The gateway keeps the
//! latest answers — prompt and delivered text — in memory for a while ([`Served`]). A user who
//! wants to rate, label or report an answer posts the feedback's content with the receipt to
//! `POST /v1/feedback`: the answer and the content are stored durably (the provider's own
//! RLHF set), and the content's hash is what `submitFeedback(model, receipt, kind, hash)`
//! names on chain. Validators fetch `GET /feedback/<hash>`: the content and the answer it is
//! about, which they score. Only answers this gateway served can be given feedback, and only
//! by whoever holds the receipt (its requester) while the answer is kept.

use std::{
	collections::{HashMap, VecDeque},
	io::Read,
	sync::{
		atomic::{AtomicU64, Ordering},
		Arc, Mutex,
	},
	time::{Duration, Instant},
};

use axum::body::Bytes;
use serde_json::{json, Value};
use sp_core::crypto::Ss58Codec;
use sp_crypto_hashing::blake2_256;
use sp_runtime::AccountId32;

use crate::http::{
	request::{prompt_text, Endpoint},
	sse::delivered_text,
};

/// The most of a prompt or an answer kept (bytes; longer ones are cut at a character).
pub const MAX_KEPT_TEXT: usize = 16 * 1024;
/// The most a feedback's content may take (bytes of the request body).
pub const MAX_FEEDBACK_BYTES: usize = 8 * 1024;
/// The most feedback one answer may be given.
pub const MAX_FEEDBACK_PER_ANSWER: u32 = 4;

/// The kinds of feedback, as the chain's `FeedbackKind` (snake case in JSON).
pub const KINDS: &[&str] = &["rating", "preference", "label", "bug_report", "moderation"];

/// An answer as kept for feedback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
	/// The receipt (hex, `0x…`).
	pub receipt: String,
	/// The request's id (`X-Request-Id`).
	pub request_id: String,
	/// The on-chain model id.
	pub model: u32,
	/// The user (SS58).
	pub user: String,
	/// The prompt's text, as the tokenizer counted it.
	pub prompt: String,
	/// The text delivered.
	pub output: String,
	/// When it was served (ms since the epoch).
	pub served_at_ms: i64,
}

impl Answer {
	/// The answer as `GET /feedback/<hash>` shows it.
	pub fn to_json(&self) -> Value {
		json!({
			"receipt": self.receipt,
			"request_id": self.request_id,
			"model": self.model,
			"user": self.user,
			"prompt": self.prompt,
			"output": self.output,
			"output_hash": hex(&blake2_256(self.output.as_bytes())),
			"served_at_ms": self.served_at_ms,
		})
	}
}

/// A text of a kept answer: the text itself, or the JSON body it is read from when the answer
/// is asked for. Most answers never are, so an answer is not parsed on its way out only to be
/// kept; a body longer than [`MAX_KEPT_TEXT`] is read when kept, so that what is kept stays as
/// small as the text would be.
#[derive(Debug, Clone)]
pub enum Text {
	/// The text.
	Plain(String),
	/// A request's body: the text of its prompt's fields for the endpoint.
	Prompt(Endpoint, Bytes),
	/// An answer's body (not streamed): the text it delivered.
	Delivered(Bytes),
}

impl Text {
	/// The text, at most [`MAX_KEPT_TEXT`] bytes (cut at a character).
	pub fn read(&self) -> String {
		let body = |bytes: &Bytes| serde_json::from_slice::<Value>(bytes).ok();
		let text = match self {
			Text::Plain(text) => return cut(text, MAX_KEPT_TEXT),
			Text::Prompt(endpoint, bytes) => {
				body(bytes).map(|v| prompt_text(*endpoint, &v)).unwrap_or_default()
			}
			Text::Delivered(bytes) => {
				let mut text = String::new();
				if let Some(value) = body(bytes) {
					delivered_text(&value, &mut text);
				}
				text
			}
		};
		cut(&text, MAX_KEPT_TEXT)
	}

	/// As kept: a text cut to [`MAX_KEPT_TEXT`], a body read now if it is longer, else copied
	/// out of the buffer it shares (a connection's read buffer, which it would keep whole).
	fn bounded(self) -> Text {
		match self {
			Text::Plain(text) if text.len() > MAX_KEPT_TEXT => {
				Text::Plain(cut(&text, MAX_KEPT_TEXT))
			}
			Text::Prompt(_, ref bytes) | Text::Delivered(ref bytes)
				if bytes.len() > MAX_KEPT_TEXT =>
			{
				Text::Plain(self.read())
			}
			Text::Prompt(endpoint, bytes) => Text::Prompt(endpoint, Bytes::copy_from_slice(&bytes)),
			Text::Delivered(bytes) => Text::Delivered(Bytes::copy_from_slice(&bytes)),
			text => text,
		}
	}
}

/// An answer as kept; [`Served::get`] gives it as an [`Answer`] (its texts read then).
#[derive(Debug, Clone)]
pub struct Keeping {
	/// The receipt (hex, `0x…`).
	pub receipt: String,
	/// The request's id (`X-Request-Id`).
	pub request_id: String,
	/// The on-chain model id.
	pub model: u32,
	/// The user.
	pub user: AccountId32,
	/// The prompt.
	pub prompt: Text,
	/// The text delivered.
	pub output: Text,
	/// When it was served (ms since the epoch).
	pub served_at_ms: i64,
}

impl Keeping {
	fn answer(&self) -> Answer {
		Answer {
			receipt: self.receipt.clone(),
			request_id: self.request_id.clone(),
			model: self.model,
			user: self.user.to_ss58check(),
			prompt: self.prompt.read(),
			output: self.output.read(),
			served_at_ms: self.served_at_ms,
		}
	}
}

/// `0x` and lower-case hex (the payment module's).
pub use crate::payment::hex;

/// 32 bytes from `0x…` hex.
pub fn parse_hash(text: &str) -> Option<[u8; 32]> {
	let digits = text.strip_prefix("0x").unwrap_or(text);
	if digits.len() != 64 {
		return None;
	}
	let mut out = [0u8; 32];
	for (i, byte) in out.iter_mut().enumerate() {
		*byte = u8::from_str_radix(digits.get(2 * i..2 * i + 2)?, 16).ok()?;
	}
	Some(out)
}

/// `text` cut to at most `max` bytes, at a character boundary.
pub fn cut(text: &str, max: usize) -> String {
	if text.len() <= max {
		return text.to_string();
	}
	let mut end = max;
	while !text.is_char_boundary(end) {
		end -= 1;
	}
	text[..end].to_string()
}

/// The answers served lately, by receipt: at most `capacity`, each for at most `keep`.
pub struct Served {
	key: [u8; 32],
	next: AtomicU64,
	capacity: usize,
	keep: Duration,
	inner: Mutex<Kept>,
}

/// The answers kept, by receipt, and their receipts in the order kept, with when.
#[derive(Default)]
struct Kept {
	by_receipt: HashMap<Arc<str>, Keeping>,
	order: VecDeque<(Instant, Arc<str>)>,
}

impl Served {
	/// Keeps up to `capacity` answers (0: none, and no receipts are given) for `keep` each.
	pub fn new(capacity: usize, keep: Duration) -> Self {
		let mut key = [0u8; 32];
		let drawn = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut key));
		if drawn.is_err() {
			// No OS randomness file: std's hasher keys are drawn from the OS too.
			use std::hash::{BuildHasher, Hasher};
			for chunk in key.chunks_mut(8) {
				let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
				hasher.write_u128(
					std::time::SystemTime::now()
						.duration_since(std::time::UNIX_EPOCH)
						.map(|d| d.as_nanos())
						.unwrap_or(0),
				);
				chunk.copy_from_slice(&hasher.finish().to_le_bytes());
			}
		}
		Served { key, next: AtomicU64::new(0), capacity, keep, inner: Default::default() }
	}

	/// Whether answers are kept (and receipts given).
	pub fn enabled(&self) -> bool {
		self.capacity > 0
	}

	/// A new receipt for a request (`0x…`): `blake2_256(key ++ n ++ request id ++ model)`.
	pub fn receipt(&self, request_id: &str, model: u32) -> String {
		let n = self.next.fetch_add(1, Ordering::Relaxed);
		let mut input = Vec::with_capacity(32 + 8 + request_id.len() + 4);
		input.extend_from_slice(&self.key);
		input.extend_from_slice(&n.to_le_bytes());
		input.extend_from_slice(request_id.as_bytes());
		input.extend_from_slice(&model.to_le_bytes());
		hex(&blake2_256(&input))
	}

	/// Keeps `answer` (the oldest goes when full).
	pub fn keep(&self, mut answer: Keeping) {
		if !self.enabled() {
			return;
		}
		answer.prompt = answer.prompt.bounded();
		answer.output = answer.output.bounded();
		let now = Instant::now();
		let receipt: Arc<str> = answer.receipt.as_str().into();
		let Ok(mut kept) = self.inner.lock() else { return };
		kept.expire(now, self.keep);
		while kept.order.len() >= self.capacity {
			let Some((_, oldest)) = kept.order.pop_front() else { break };
			kept.by_receipt.remove(&oldest);
		}
		kept.order.push_back((now, receipt.clone()));
		kept.by_receipt.insert(receipt, answer);
	}

	/// The answer of `receipt`, if it is still kept.
	pub fn get(&self, receipt: &str) -> Option<Answer> {
		let now = Instant::now();
		let mut kept = self.inner.lock().ok()?;
		kept.expire(now, self.keep);
		kept.by_receipt.get(receipt).map(Keeping::answer)
	}

	/// Answers kept now.
	pub fn len(&self) -> usize {
		self.inner.lock().map(|k| k.order.len()).unwrap_or(0)
	}

	/// Whether none is kept.
	pub fn is_empty(&self) -> bool {
		self.len() == 0
	}
}

impl Kept {
	fn expire(&mut self, now: Instant, keep: Duration) {
		while self.order.front().is_some_and(|(at, _)| now.duration_since(*at) >= keep) {
			if let Some((_, gone)) = self.order.pop_front() {
				self.by_receipt.remove(&gone);
			}
		}
	}
}

/// A feedback's content as posted: `{"receipt": "0x…", "kind": "rating", "content": …}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Posted {
	/// The answer's receipt.
	pub receipt: String,
	/// One of [`KINDS`].
	pub kind: String,
	/// The exact bytes posted: what the hash is of, and what validators get back.
	pub text: String,
	/// `blake2_256(text)`, `0x…`: the `payloadHash` of `submitFeedback`.
	pub hash: String,
}

/// Why a posted feedback is refused: (the request field at fault, the message).
pub type Refused = (&'static str, String);

/// Checks a posted feedback (the body's bytes): a JSON object with a receipt, a known kind and
/// a content that suits the kind (a rating is a number from 1 to 5, a preference names `a` or
/// `b`, a label or a report is non-empty text, or an object with it).
pub fn parse_posted(body: &[u8]) -> Result<Posted, Refused> {
	if body.len() > MAX_FEEDBACK_BYTES {
		return Err(("body", format!("a feedback takes at most {MAX_FEEDBACK_BYTES} bytes")));
	}
	let text = std::str::from_utf8(body).map_err(|_| ("body", "the body is not UTF-8".into()))?;
	let value: Value =
		serde_json::from_str(text).map_err(|e| ("body", format!("the body is not JSON: {e}")))?;
	let receipt =
		value.get("receipt").and_then(Value::as_str).filter(|r| parse_hash(r).is_some()).ok_or(
			(
				"receipt",
				"`receipt` must be the answer's X-Tokenmeter-Receipt (0x and 64 hex digits)"
					.to_string(),
			),
		)?;
	let kind = value
		.get("kind")
		.and_then(Value::as_str)
		.filter(|k| KINDS.contains(k))
		.ok_or(("kind", format!("`kind` must be one of {}", KINDS.join(", "))))?;
	let content = value.get("content").ok_or(("content", "`content` is missing".to_string()))?;
	content_fits(kind, content).map_err(|why| ("content", why))?;
	Ok(Posted {
		receipt: receipt.to_ascii_lowercase(),
		kind: kind.to_string(),
		text: text.to_string(),
		hash: hex(&blake2_256(body)),
	})
}

/// Whether `content` is what a feedback of `kind` holds.
pub fn content_fits(kind: &str, content: &Value) -> Result<(), String> {
	let text_of = |v: &Value| -> Option<String> {
		match v {
			Value::String(s) => Some(s.clone()),
			Value::Object(o) => ["text", "label", "comment", "reason"]
				.iter()
				.find_map(|f| o.get(*f).and_then(Value::as_str).map(str::to_string)),
			_ => None,
		}
	};
	match kind {
		"rating" => {
			let score = content.as_u64().or_else(|| content.get("score").and_then(Value::as_u64));
			match score {
				Some(1..=5) => Ok(()),
				_ => Err("a rating's `content` is a score from 1 to 5 (or `{\"score\": n, \"comment\": …}`)".into()),
			}
		}
		"preference" => {
			let choice = content
				.as_str()
				.map(str::to_string)
				.or_else(|| content.get("preferred").and_then(Value::as_str).map(str::to_string));
			match choice.as_deref() {
				Some("a" | "b") => Ok(()),
				_ => Err("a preference's `content` is `a` or `b` (or `{\"preferred\": …, \"other\": …}`)".into()),
			}
		}
		_ => match text_of(content) {
			Some(text) if !text.trim().is_empty() => Ok(()),
			_ => Err(format!("a {kind}'s `content` is text (or `{{\"text\": …}}`)")),
		},
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	fn answer(receipt: &str) -> Keeping {
		Keeping {
			receipt: receipt.into(),
			request_id: "req".into(),
			model: 0,
			user: AccountId32::new([1; 32]),
			prompt: Text::Plain("p".into()),
			output: Text::Plain("o".into()),
			served_at_ms: 1,
		}
	}

	#[test]
	fn hex_is_lower_case_and_parses_back() {
		assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "0x000fa5ff");
		assert_eq!(hex(&[]), "0x");
		let bytes: [u8; 32] = core::array::from_fn(|i| (i * 37) as u8);
		assert_eq!(parse_hash(&hex(&bytes)), Some(bytes));
	}

	#[test]
	fn receipts_differ_and_are_hashes() {
		let served = Served::new(2, Duration::from_secs(60));
		let a = served.receipt("req", 0);
		let b = served.receipt("req", 0);
		assert_ne!(a, b);
		assert!(parse_hash(&a).is_some());
		// Another gateway (another key) gives other receipts for the same requests.
		assert_ne!(Served::new(2, Duration::from_secs(60)).receipt("req", 0), a);
	}

	#[test]
	fn keeps_the_latest_answers_for_a_while() {
		let served = Served::new(2, Duration::from_secs(60));
		for r in ["a", "b", "c"] {
			served.keep(answer(r));
		}
		assert_eq!(served.len(), 2);
		assert!(served.get("a").is_none(), "the oldest went when full");
		assert_eq!(served.get("c").map(|a| a.output), Some("o".into()));
		let brief = Served::new(8, Duration::ZERO);
		brief.keep(answer("a"));
		assert!(brief.get("a").is_none(), "kept no longer than `keep`");
		let none = Served::new(0, Duration::from_secs(60));
		none.keep(answer("a"));
		assert!(!none.enabled() && none.is_empty());
	}

	#[test]
	fn long_texts_are_cut_at_a_character() {
		let served = Served::new(1, Duration::from_secs(60));
		let mut long = answer("a");
		long.output = Text::Plain("é".repeat(MAX_KEPT_TEXT));
		served.keep(long);
		let kept = served.get("a").unwrap().output;
		assert!(kept.len() <= MAX_KEPT_TEXT && kept.chars().all(|c| c == 'é'));
	}

	#[test]
	fn bodies_are_read_when_the_answer_is_asked_for() {
		let served = Served::new(4, Duration::from_secs(60));
		let request =
			json!({ "model": "m", "messages": [{ "role": "user", "content": "Hi there" }] });
		let answer_body = json!({ "choices": [{ "message": { "content": "Hello!" } }] });
		// The bodies as slices of larger buffers (as a connection's read buffer hands them).
		let buffer = Bytes::from(format!("{request}{answer_body}{}", " ".repeat(8192)));
		let (request_len, answer_len) = (request.to_string().len(), answer_body.to_string().len());
		let mut raw = answer("a");
		raw.prompt = Text::Prompt(Endpoint::Chat, buffer.slice(..request_len));
		raw.output = Text::Delivered(buffer.slice(request_len..request_len + answer_len));
		served.keep(raw);
		{
			// Kept as copies of their own size, not as views that would keep the buffer.
			let inner = served.inner.lock().unwrap();
			let Text::Prompt(_, kept) = &inner.by_receipt["a"].prompt else { panic!("a body") };
			assert_eq!(kept.len(), request_len);
			assert!(!std::ptr::eq(kept.as_ptr(), buffer.as_ptr()));
		}
		let kept = served.get("a").unwrap();
		// As the texts read when served.
		let mut delivered = String::new();
		delivered_text(&answer_body, &mut delivered);
		assert_eq!(kept.prompt, prompt_text(Endpoint::Chat, &request));
		assert_eq!(kept.output, delivered);
		assert_eq!((kept.prompt.as_str(), kept.output.as_str()), ("Hi there", "Hello!"));
		assert_eq!(kept.user, AccountId32::new([1; 32]).to_ss58check());
		// A body longer than a kept text is read when kept, and its text cut.
		let long = "é".repeat(MAX_KEPT_TEXT);
		let mut big = answer("b");
		big.output = Text::Delivered(Bytes::from(
			json!({ "choices": [{ "message": { "content": long } }] }).to_string(),
		));
		served.keep(big);
		let inner = served.inner.lock().unwrap();
		assert!(
			matches!(&inner.by_receipt["b"].output, Text::Plain(t) if t.len() <= MAX_KEPT_TEXT)
		);
		assert!(matches!(&inner.by_receipt["a"].output, Text::Delivered(_)));
		drop(inner);
		let kept = served.get("b").unwrap().output;
		assert!(kept.len() <= MAX_KEPT_TEXT && kept.len() > MAX_KEPT_TEXT - 2);
		assert!(kept.chars().all(|c| c == 'é'));
		// A body that is not JSON reads as no text.
		let mut broken = answer("c");
		broken.output = Text::Delivered(Bytes::from_static(b"{not json"));
		served.keep(broken);
		assert_eq!(served.get("c").unwrap().output, "");
	}

	#[test]
	fn posted_feedback_is_checked_by_kind() {
		let receipt = hex(&[7u8; 32]);
		let ok = |kind: &str, content: &str| {
			parse_posted(
				format!(r#"{{"receipt":"{receipt}","kind":"{kind}","content":{content}}}"#)
					.as_bytes(),
			)
		};
		let posted = ok("rating", "4").unwrap();
		assert_eq!(posted.hash, hex(&blake2_256(posted.text.as_bytes())));
		assert!(ok("rating", r#"{"score":5,"comment":"clear"}"#).is_ok());
		assert!(ok("preference", r#""b""#).is_ok());
		assert!(ok("label", r#""toxic""#).is_ok());
		assert!(ok("bug_report", r#"{"text":"wrong date"}"#).is_ok());
		assert_eq!(ok("rating", "9").unwrap_err().0, "content");
		assert_eq!(ok("rating", r#""great""#).unwrap_err().0, "content");
		assert_eq!(ok("preference", r#""c""#).unwrap_err().0, "content");
		assert_eq!(ok("label", r#""  ""#).unwrap_err().0, "content");
		assert_eq!(ok("praise", "1").unwrap_err().0, "kind");
		assert_eq!(parse_posted(br#"{"kind":"rating","content":1}"#).unwrap_err().0, "receipt");
		assert_eq!(parse_posted(b"not json").unwrap_err().0, "body");
		let big = format!(
			r#"{{"receipt":"{receipt}","kind":"label","content":"{}"}}"#,
			"x".repeat(MAX_FEEDBACK_BYTES)
		);
		assert_eq!(parse_posted(big.as_bytes()).unwrap_err().0, "body");
	}
}
