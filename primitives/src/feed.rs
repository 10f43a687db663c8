//! The usage feed's record: what a gateway serves at `GET /usage` and what an operator node's
//! worker reads and attests — defined once, with its JSON and hex codecs, for both.
//!
//! JSON: `{ "seq", "user", "on_behalf_of", "model", "input_tokens", "output_tokens",
//! "served_at", "voucher": { "cap", "expiry", "signature", "session" } }`, accounts in SS58,
//! the cap a decimal string, the signature (a SCALE `MultiSignature`) and the session
//! commitment `0x` hex.

use alloc::{format, string::String, vec::Vec};
use serde_json::{json, Value};

/// One record of the usage feed, as read from its JSON.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct FeedRecord {
	/// Its sequence number.
	pub seq: u64,
	/// The user, SS58.
	pub user: String,
	/// When the user spent a delegated allowance: the owner, SS58.
	pub on_behalf_of: Option<String>,
	/// The model id.
	pub model: u32,
	/// Input tokens served.
	pub input_tokens: u32,
	/// Output tokens served.
	pub output_tokens: u32,
	/// The voucher's cap, in the smallest unit.
	pub cap: u128,
	/// The voucher's expiry block.
	pub expiry: u64,
	/// The voucher's signature.
	pub signature: Vec<u8>,
	/// The voucher's session commitment (32 bytes), if it names one (a v2 voucher).
	pub session: Option<[u8; 32]>,
	/// The block at which the usage was served (`served_at`; 0 when the feed does not say,
	/// which settlement refuses once it is older than the chain's bound on lateness).
	pub served_at: u64,
}

impl FeedRecord {
	/// The record's JSON, as the feed serves it.
	pub fn to_json(&self) -> Value {
		json!({
			"seq": self.seq,
			"user": self.user,
			"on_behalf_of": self.on_behalf_of,
			"model": self.model,
			"input_tokens": self.input_tokens,
			"output_tokens": self.output_tokens,
			"served_at": self.served_at,
			"voucher": {
				"cap": format!("{}", self.cap),
				"expiry": self.expiry,
				"signature": encode_hex(&self.signature),
				"session": self.session.as_ref().map(|s| encode_hex(s)),
			},
		})
	}

	/// Reads one record of the feed's JSON.
	pub fn from_json(value: &Value) -> Result<Self, &'static str> {
		let u64_field = |name: &'static str| value.get(name).and_then(Value::as_u64).ok_or(name);
		let u32_field = |name| u64_field(name)?.try_into().map_err(|_| name);
		let str_field = |name| value.get(name).and_then(Value::as_str).ok_or(name);
		let voucher = value.get("voucher").ok_or("voucher")?;
		let cap = match voucher.get("cap") {
			Some(Value::Number(n)) => n.as_u64().map(u128::from),
			Some(Value::String(s)) => s.parse().ok(),
			_ => None,
		}
		.ok_or("voucher.cap")?;
		let expiry = voucher.get("expiry").and_then(Value::as_u64).ok_or("voucher.expiry")?;
		let signature = voucher
			.get("signature")
			.and_then(Value::as_str)
			.and_then(decode_hex)
			.ok_or("voucher.signature")?;
		let session = match voucher.get("session") {
			None | Some(Value::Null) => None,
			Some(v) => Some(
				v.as_str()
					.and_then(decode_hex)
					.and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
					.ok_or("voucher.session")?,
			),
		};
		let on_behalf_of = match value.get("on_behalf_of") {
			None | Some(Value::Null) => None,
			Some(v) => Some(v.as_str().ok_or("on_behalf_of")?.into()),
		};
		Ok(FeedRecord {
			seq: u64_field("seq")?,
			user: str_field("user")?.into(),
			on_behalf_of,
			model: u32_field("model")?,
			input_tokens: u32_field("input_tokens")?,
			output_tokens: u32_field("output_tokens")?,
			cap,
			expiry,
			signature,
			session,
			served_at: match value.get("served_at") {
				None | Some(Value::Null) => 0,
				Some(v) => v.as_u64().ok_or("served_at")?,
			},
		})
	}
}

/// Decodes hex, with or without `0x`.
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
	let s = s.strip_prefix("0x").unwrap_or(s).as_bytes();
	if !s.len().is_multiple_of(2) {
		return None;
	}
	let digit = |c: u8| (c as char).to_digit(16);
	s.chunks(2)
		.map(|pair| match pair {
			// Two hex digits: at most 15 × 16 + 15 = 255.
			[high, low] => {
				u8::try_from(digit(*high)?.checked_mul(16)?.checked_add(digit(*low)?)?).ok()
			}
			_ => None,
		})
		.collect()
}

/// Encodes bytes as `0x` and lower-case hex.
pub fn encode_hex(bytes: &[u8]) -> String {
	const DIGITS: &[u8; 16] = b"0123456789abcdef";
	let mut out = String::with_capacity(2usize.saturating_add(bytes.len().saturating_mul(2)));
	out.push_str("0x");
	for b in bytes {
		for nibble in [b >> 4, b & 0xf] {
			out.push(char::from(DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0')));
		}
	}
	out
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn a_record_reads_back_what_it_writes() {
		let record = FeedRecord {
			seq: 7,
			user: "5Grw".into(),
			on_behalf_of: Some("5FHn".into()),
			model: 2,
			input_tokens: 10,
			output_tokens: 20,
			cap: u128::MAX,
			expiry: 99,
			signature: vec![1, 0xab, 0xff],
			session: Some([0x5a; 32]),
			served_at: 42,
		};
		let json = record.to_json();
		assert_eq!(json["voucher"]["signature"], "0x01abff");
		assert_eq!(json["voucher"]["cap"], u128::MAX.to_string());
		assert_eq!(FeedRecord::from_json(&json), Ok(record.clone()));
		let own = FeedRecord { on_behalf_of: None, session: None, ..record };
		assert_eq!(FeedRecord::from_json(&own.to_json()), Ok(own));
		assert_eq!(decode_hex(&encode_hex(&[0, 1, 254, 255])), Some(vec![0, 1, 254, 255]));
	}
}
