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
	hash::{BuildHasherDefault, Hasher},
	io::Read,
	sync::{
		atomic::{AtomicU64, Ordering},
		Mutex,
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
		match self {
			Text::Plain(text) => cut(text, MAX_KEPT_TEXT),
			Text::Prompt(endpoint, bytes) => read_body(Kind::Prompt(*endpoint), bytes),
			Text::Delivered(bytes) => read_body(Kind::Delivered, bytes),
		}
	}
}

/// The text of a body of `kind` (a request's or an answer's; none if it is not JSON), at most
/// [`MAX_KEPT_TEXT`] bytes (cut at a character). A plain text is returned as it is.
fn read_body(kind: Kind, bytes: &[u8]) -> String {
	let body = || serde_json::from_slice::<Value>(bytes).ok();
	let text = match kind {
		Kind::Plain => return String::from_utf8_lossy(bytes).into_owned(),
		Kind::Prompt(endpoint) => body().map(|v| prompt_text(endpoint, &v)).unwrap_or_default(),
		Kind::Delivered => {
			let mut text = String::new();
			if let Some(value) = body() {
				delivered_text(&value, &mut text);
			}
			text
		}
	};
	cut(&text, MAX_KEPT_TEXT)
}

/// An answer to keep; [`Served::get`] gives it as an [`Answer`] (its texts read then).
#[derive(Debug, Clone)]
pub struct Keeping {
	/// The receipt ([`Served::receipt`]).
	pub receipt: [u8; 32],
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

/// What a kept text is read from: the text itself, a request's body or an answer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
	Plain,
	Prompt(Endpoint),
	Delivered,
}

/// Bytes of a kept text's buffer that are never given back for being too large.
const MIN_HELD: usize = 512;

/// A kept text: its bytes, in a buffer of the slot's own that the next answer kept there
/// writes over.
#[derive(Debug)]
struct Held {
	kind: Kind,
	bytes: Vec<u8>,
}

impl Held {
	/// `text` written over what was held: a body as it is, unless it is longer than a kept text
	/// (read now then, as a text is, and cut to [`MAX_KEPT_TEXT`]).
	fn hold(&mut self, text: Text) {
		let (kind, read);
		let bytes: &[u8] = match &text {
			Text::Prompt(endpoint, bytes) if bytes.len() <= MAX_KEPT_TEXT => {
				kind = Kind::Prompt(*endpoint);
				bytes
			}
			Text::Delivered(bytes) if bytes.len() <= MAX_KEPT_TEXT => {
				kind = Kind::Delivered;
				bytes
			}
			Text::Plain(text) => {
				kind = Kind::Plain;
				prefix(text, MAX_KEPT_TEXT).as_bytes()
			}
			body => {
				kind = Kind::Plain;
				read = body.read();
				read.as_bytes()
			}
		};
		// A buffer far larger than the text (a long answer held here before) is given back, so
		// that the answers kept take about what their texts do, not the longest each slot saw.
		if self.bytes.capacity() > 4 * bytes.len().max(MIN_HELD) {
			self.bytes = Vec::new();
		}
		self.bytes.clear();
		self.bytes.extend_from_slice(bytes);
		self.kind = kind;
	}

	fn read(&self) -> String {
		read_body(self.kind, &self.bytes)
	}
}

/// An answer as kept, in its slot.
#[derive(Debug)]
struct Slot {
	kept_at: Instant,
	receipt: [u8; 32],
	request_id: String,
	model: u32,
	user: AccountId32,
	prompt: Held,
	output: Held,
	served_at_ms: i64,
}

impl Slot {
	fn new(answer: Keeping, kept_at: Instant) -> Self {
		// Empty, then written as a slot taken again is.
		let held = || Held { kind: Kind::Plain, bytes: Vec::new() };
		let mut slot = Slot {
			kept_at,
			receipt: [0; 32],
			request_id: String::new(),
			model: 0,
			user: answer.user.clone(),
			prompt: held(),
			output: held(),
			served_at_ms: 0,
		};
		slot.hold(answer, kept_at);
		slot
	}

	/// Writes `answer` over the answer held.
	fn hold(&mut self, answer: Keeping, kept_at: Instant) {
		self.kept_at = kept_at;
		self.receipt = answer.receipt;
		self.request_id.clear();
		self.request_id.push_str(&answer.request_id);
		self.model = answer.model;
		self.user = answer.user;
		self.prompt.hold(answer.prompt);
		self.output.hold(answer.output);
		self.served_at_ms = answer.served_at_ms;
	}

	fn answer(&self) -> Answer {
		Answer {
			receipt: hex(&self.receipt),
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
	prefix(text, max).to_string()
}

/// The longest start of `text` of at most `max` bytes that ends at a character boundary.
fn prefix(text: &str, max: usize) -> &str {
	if text.len() <= max {
		return text;
	}
	let mut end = max;
	while !text.is_char_boundary(end) {
		end -= 1;
	}
	&text[..end]
}

/// The answers served lately, by receipt: at most `capacity`, each for at most `keep`.
pub struct Served {
	key: [u8; 32],
	next: AtomicU64,
	capacity: usize,
	keep: Duration,
	inner: Mutex<Kept>,
}

/// The answers kept, oldest first, numbered in the order kept; and the number of each by its
/// receipt's tag (its first 8 bytes). Full, the oldest answer's slot is taken for the newest,
/// its buffers written over: keeping an answer allocates nothing then.
#[derive(Default)]
struct Kept {
	slots: VecDeque<Slot>,
	/// The number of the oldest.
	first: u64,
	by_tag: HashMap<u64, u64, BuildHasherDefault<TagHasher>>,
}

/// The tag of a receipt: its first 8 bytes, which a keyed hash made unpredictable (so the map
/// needs no hash of its own).
fn tag(receipt: &[u8; 32]) -> u64 {
	let mut first = [0u8; 8];
	first.copy_from_slice(&receipt[..8]);
	u64::from_le_bytes(first)
}

/// Hashes a tag as itself.
#[derive(Default)]
struct TagHasher(u64);

impl Hasher for TagHasher {
	fn finish(&self) -> u64 {
		self.0
	}

	fn write(&mut self, bytes: &[u8]) {
		for byte in bytes {
			self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
		}
	}

	fn write_u64(&mut self, n: u64) {
		self.0 = n;
	}
}

impl Served {
	/// Keeps up to `capacity` answers (0: none, and no receipts are given) for `keep` each.
	pub fn new(capacity: usize, keep: Duration) -> Self {
		let mut key = [0u8; 32];
		let drawn = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut key));
		if drawn.is_err() {
			// No OS randomness file: std's hasher keys are drawn from the OS too.
			use std::hash::BuildHasher;
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

	/// A new receipt for a request: `blake2_256(key ++ n ++ request id ++ model)`.
	pub fn receipt(&self, request_id: &str, model: u32) -> [u8; 32] {
		let n = self.next.fetch_add(1, Ordering::Relaxed);
		let mut input = Vec::with_capacity(32 + 8 + request_id.len() + 4);
		input.extend_from_slice(&self.key);
		input.extend_from_slice(&n.to_le_bytes());
		input.extend_from_slice(request_id.as_bytes());
		input.extend_from_slice(&model.to_le_bytes());
		blake2_256(&input)
	}

	/// Keeps `answer` (the oldest goes when full).
	pub fn keep(&self, answer: Keeping) {
		if !self.enabled() {
			return;
		}
		let now = Instant::now();
		let Ok(mut kept) = self.inner.lock() else { return };
		kept.expire(now, self.keep);
		let receipt = answer.receipt;
		if kept.slots.len() >= self.capacity {
			// Full: the oldest's slot, written over.
			let Some(mut slot) = kept.pop_oldest() else { return };
			slot.hold(answer, now);
			kept.push(slot);
		} else {
			kept.push(Slot::new(answer, now));
		}
		debug_assert_eq!(kept.slots.back().map(|s| s.receipt), Some(receipt));
	}

	/// The answer of `receipt` (`0x…`), if it is still kept.
	pub fn get(&self, receipt: &str) -> Option<Answer> {
		let receipt = parse_hash(receipt)?;
		let now = Instant::now();
		let mut kept = self.inner.lock().ok()?;
		kept.expire(now, self.keep);
		let number = *kept.by_tag.get(&tag(&receipt))?;
		let slot = kept.slots.get(usize::try_from(number.checked_sub(kept.first)?).ok()?)?;
		(slot.receipt == receipt).then(|| slot.answer())
	}

	/// Answers kept now.
	pub fn len(&self) -> usize {
		self.inner.lock().map(|k| k.slots.len()).unwrap_or(0)
	}

	/// Whether none is kept.
	pub fn is_empty(&self) -> bool {
		self.len() == 0
	}
}

impl Kept {
	/// Drops the answers kept for `keep` or longer.
	fn expire(&mut self, now: Instant, keep: Duration) {
		while self.slots.front().is_some_and(|s| now.duration_since(s.kept_at) >= keep) {
			self.pop_oldest();
		}
	}

	/// Takes the oldest answer out.
	fn pop_oldest(&mut self) -> Option<Slot> {
		let slot = self.slots.pop_front()?;
		let tag = tag(&slot.receipt);
		// Another answer's receipt with the same tag (one in 2^64) took its place in the map.
		if self.by_tag.get(&tag) == Some(&self.first) {
			self.by_tag.remove(&tag);
		}
		self.first += 1;
		Some(slot)
	}

	/// Adds the newest answer.
	fn push(&mut self, slot: Slot) {
		let number = self.first + self.slots.len() as u64;
		self.by_tag.insert(tag(&slot.receipt), number);
		self.slots.push_back(slot);
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

	fn answer(receipt: [u8; 32]) -> Keeping {
		Keeping {
			receipt,
			request_id: "req".into(),
			model: 0,
			user: AccountId32::new([1; 32]),
			prompt: Text::Plain("p".into()),
			output: Text::Plain("o".into()),
			served_at_ms: 1,
		}
	}

	/// A receipt of `n`s, and as posted.
	fn r(n: u8) -> [u8; 32] {
		[n; 32]
	}

	fn posted(receipt: [u8; 32]) -> String {
		hex(&receipt)
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
		assert_ne!(tag(&a), tag(&b));
		// Another gateway (another key) gives other receipts for the same requests.
		assert_ne!(Served::new(2, Duration::from_secs(60)).receipt("req", 0), a);
	}

	#[test]
	fn keeps_the_latest_answers_for_a_while() {
		let served = Served::new(2, Duration::from_secs(60));
		for n in 1..=3 {
			served.keep(answer(r(n)));
		}
		assert_eq!(served.len(), 2);
		assert!(served.get(&posted(r(1))).is_none(), "the oldest went when full");
		assert_eq!(served.get(&posted(r(3))).map(|a| a.output), Some("o".into()));
		assert_eq!(served.get(&posted(r(2))).map(|a| a.receipt), Some(posted(r(2))));
		assert!(served.get("not a receipt").is_none());
		let brief = Served::new(8, Duration::ZERO);
		brief.keep(answer(r(1)));
		assert!(brief.get(&posted(r(1))).is_none(), "kept no longer than `keep`");
		brief.keep(answer(r(2)));
		assert!(brief.len() <= 1, "an expired answer goes when the next is kept");
		let none = Served::new(0, Duration::from_secs(60));
		none.keep(answer(r(1)));
		assert!(!none.enabled() && none.is_empty());
	}

	#[test]
	fn a_receipt_is_found_by_all_its_bytes_not_its_tag_alone() {
		let served = Served::new(2, Duration::from_secs(60));
		let first = r(1);
		// Another receipt with the same first 8 bytes (the tag).
		let mut second = first;
		second[31] = 2;
		served.keep(answer(first));
		let mut guessed = first;
		guessed[20] ^= 1;
		assert!(served.get(&posted(guessed)).is_none(), "same tag, other receipt");
		served.keep(answer(second));
		assert!(served.get(&posted(second)).is_some());
		// The first goes when full; the second, which took its tag, stays found.
		served.keep(answer(r(3)));
		assert!(served.get(&posted(first)).is_none());
		assert_eq!(served.get(&posted(second)).map(|a| a.receipt), Some(posted(second)));
		assert!(served.get(&posted(r(3))).is_some());
	}

	#[test]
	fn a_full_store_writes_the_newest_answer_over_the_oldest() {
		let served = Served::new(2, Duration::from_secs(60));
		let mut long = answer(r(1));
		long.prompt = Text::Plain("x".repeat(100));
		served.keep(long);
		served.keep(answer(r(2)));
		let buffer = served.inner.lock().unwrap().slots[0].prompt.bytes.as_ptr();
		let mut third = answer(r(3));
		third.prompt = Text::Plain("y".repeat(60));
		third.request_id = "third".into();
		served.keep(third);
		let inner = served.inner.lock().unwrap();
		let newest = inner.slots.back().unwrap();
		assert_eq!(newest.prompt.bytes.as_ptr(), buffer, "the oldest's buffer, written over");
		assert_eq!((inner.slots.len(), inner.first, inner.by_tag.len()), (2, 1, 2));
		drop(inner);
		let kept = served.get(&posted(r(3))).unwrap();
		assert_eq!((kept.prompt, kept.request_id), ("y".repeat(60), "third".to_string()));
		// A long text's buffer is not kept for a short one: the slot takes about what its text
		// does.
		let mut long = answer(r(4));
		long.output = Text::Plain("z".repeat(MAX_KEPT_TEXT));
		served.keep(long);
		served.keep(answer(r(5)));
		let mut short = answer(r(6));
		short.output = Text::Plain("short".into());
		served.keep(short);
		let inner = served.inner.lock().unwrap();
		let newest = &inner.slots.back().unwrap().output.bytes;
		assert_eq!(newest.as_slice(), b"short");
		assert!(newest.capacity() <= 4 * MIN_HELD, "{}", newest.capacity());
	}

	#[test]
	fn long_texts_are_cut_at_a_character() {
		let served = Served::new(1, Duration::from_secs(60));
		let mut long = answer(r(1));
		long.output = Text::Plain("é".repeat(MAX_KEPT_TEXT));
		served.keep(long);
		let kept = served.get(&posted(r(1))).unwrap().output;
		assert!(kept.len() <= MAX_KEPT_TEXT && kept.len() > MAX_KEPT_TEXT - 2);
		assert!(kept.chars().all(|c| c == 'é'));
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
		let mut raw = answer(r(1));
		raw.prompt = Text::Prompt(Endpoint::Chat, buffer.slice(..request_len));
		raw.output = Text::Delivered(buffer.slice(request_len..request_len + answer_len));
		served.keep(raw);
		{
			// Kept as copies of their own size, not as views that would keep the buffer.
			let inner = served.inner.lock().unwrap();
			let kept = &inner.slots[0].prompt;
			assert_eq!(kept.kind, Kind::Prompt(Endpoint::Chat));
			assert_eq!(kept.bytes.len(), request_len);
			assert!(kept.bytes.capacity() < buffer.len());
			assert_eq!(inner.slots[0].output.kind, Kind::Delivered);
		}
		let kept = served.get(&posted(r(1))).unwrap();
		// As the texts read when served.
		let mut delivered = String::new();
		delivered_text(&answer_body, &mut delivered);
		assert_eq!(kept.prompt, prompt_text(Endpoint::Chat, &request));
		assert_eq!(kept.output, delivered);
		assert_eq!((kept.prompt.as_str(), kept.output.as_str()), ("Hi there", "Hello!"));
		assert_eq!(kept.user, AccountId32::new([1; 32]).to_ss58check());
		// A body longer than a kept text is read when kept, and its text cut.
		let long = "é".repeat(MAX_KEPT_TEXT);
		let mut big = answer(r(2));
		big.output = Text::Delivered(Bytes::from(
			json!({ "choices": [{ "message": { "content": long } }] }).to_string(),
		));
		served.keep(big);
		let inner = served.inner.lock().unwrap();
		assert_eq!(inner.slots[1].output.kind, Kind::Plain);
		assert!(inner.slots[1].output.bytes.len() <= MAX_KEPT_TEXT);
		drop(inner);
		let kept = served.get(&posted(r(2))).unwrap().output;
		assert!(kept.len() <= MAX_KEPT_TEXT && kept.len() > MAX_KEPT_TEXT - 2);
		assert!(kept.chars().all(|c| c == 'é'));
		// A body that is not JSON reads as no text.
		let mut broken = answer(r(3));
		broken.output = Text::Delivered(Bytes::from_static(b"{not json"));
		served.keep(broken);
		assert_eq!(served.get(&posted(r(3))).unwrap().output, "");
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
