//! Payment in the x402 v2 wire form, with Tokenmeter vouchers as the scheme.
//!
//! - `402 Payment Required` carries `PAYMENT-REQUIRED`: base64 JSON of a `PaymentRequired`
//!   whose `accepts` names the scheme `tokenmeter-voucher` on this chain, the provider to pay
//!   and the cumulative cap the next request needs.
//! - The client retries with `PAYMENT-SIGNATURE`: base64 JSON of a `PaymentPayload` whose
//!   `payload` is a signed voucher. Clients that cannot handle 402 (the unmodified `openai`
//!   SDK) pass the same base64 string as `Authorization: Bearer <token>`.
//! - Paid answers carry `PAYMENT-RESPONSE`: base64 JSON of a settlement response with what
//!   this request was charged, what was charged in all and the headroom left.
//!
//! The voucher and the bytes it signs are `tokenmeter_primitives::voucher`'s, the chain's own.
//!
//! A voucher and its signature are public (the usage feed and every `attest` extrinsic carry
//! them), so they alone never get a request served: the voucher must commit to a session
//! (`voucher.session`, a hash) and the payload must carry the secret behind it
//! (`payload.secret`, 32 bytes of hex). The gateway checks the secret before anything else
//! and never stores, logs or repeats it; the feed carries only the commitment.

use std::{
	collections::{HashMap, HashSet},
	sync::{Arc, Mutex},
};

use base64::{engine::general_purpose::STANDARD, Engine};
use codec::Encode;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sp_core::{crypto::Ss58Codec, H256};
use sp_runtime::{AccountId32, MultiSignature};
use tokenmeter_primitives::{session_commitment, SignedVoucher, Voucher};

/// The x402 scheme name of Tokenmeter vouchers.
pub const SCHEME: &str = "tokenmeter-voucher";
/// The x402 version spoken.
pub const X402_VERSION: u64 = 2;

/// A signed voucher as the chain checks it.
pub type ChainVoucher = SignedVoucher<H256, AccountId32, u128, u32, MultiSignature>;

/// The CAIP-2 id of a chain: `polkadot:` and the first 16 bytes of its genesis hash in hex,
/// as CAIP-2's `polkadot` namespace names every Polkadot-SDK chain (the namespace is 3–8
/// characters, the reference 32 hex digits).
pub fn network_id(genesis: &H256) -> String {
	let mut id = String::from("polkadot:");
	push_hex(&mut id, &genesis.as_bytes()[..16]);
	id
}

/// Appends `bytes` in lower-case hex.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
	const DIGITS: &[u8; 16] = b"0123456789abcdef";
	out.reserve(2 * bytes.len());
	for b in bytes {
		out.push(char::from(DIGITS[usize::from(b >> 4)]));
		out.push(char::from(DIGITS[usize::from(b & 0xf)]));
	}
}

/// Why a payment cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
	/// Not base64 JSON of a payment payload.
	#[error("the payment is not a base64 JSON x402 payment payload: {0}")]
	Malformed(String),
	/// Another scheme or x402 version.
	#[error("unsupported payment scheme or x402 version (expected {SCHEME}, version 2)")]
	UnsupportedScheme,
	/// A voucher for another chain.
	#[error("the voucher is for another chain")]
	WrongChain,
	/// A voucher for another provider.
	#[error("the voucher is for another provider")]
	WrongProvider,
	/// The voucher expires too soon.
	#[error("the voucher expires at block {expiry}; this gateway needs at least block {needed}")]
	Expired {
		/// The voucher's expiry.
		expiry: u32,
		/// The first expiry accepted.
		needed: u32,
	},
	/// The signature is not the user's (or its signer's).
	#[error("the voucher's signature is not valid for its user")]
	BadSignature,
	/// Nobody may sign for this user now (a frozen or expired agent).
	#[error("nobody may sign vouchers for this user now (a frozen or expired agent)")]
	SignerNotAllowed,
	/// The voucher names no session (a v1 voucher) or the payload's secret does not open it:
	/// a voucher rebuilt from a published record.
	#[error(
		"the payment does not prove possession of the voucher's session secret (a voucher \
		 alone is public: sign one with a session and send its secret)"
	)]
	NoSession,
}

impl PaymentError {
	/// The machine-readable reason (an x402-style `errorReason`).
	pub fn code(&self) -> &'static str {
		match self {
			PaymentError::Malformed(_) => "invalid_payload",
			PaymentError::UnsupportedScheme => "unsupported_scheme",
			PaymentError::WrongChain => "invalid_network",
			PaymentError::WrongProvider => "invalid_pay_to",
			PaymentError::Expired { .. } => "voucher_expired",
			PaymentError::BadSignature => "invalid_signature",
			PaymentError::SignerNotAllowed => "signer_not_allowed",
			PaymentError::NoSession => "invalid_session",
		}
	}
}

/// The voucher fields as JSON carries them (accounts in SS58, the cap as a decimal string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoucherJson {
	/// `0x` and 64 hex digits.
	pub genesis_hash: String,
	/// SS58.
	pub provider: String,
	/// SS58.
	pub user: String,
	/// SS58; the user when absent.
	#[serde(default)]
	pub payer: Option<String>,
	/// Decimal string (a number is accepted too).
	pub cap: Value,
	/// Block number.
	pub expiry: u32,
	/// `0x` and 64 hex digits: the commitment to the client's session secret.
	#[serde(default)]
	pub session: Option<String>,
}

/// A payment payload's voucher, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
	/// The signed voucher, exactly as the chain will check it.
	pub voucher: ChainVoucher,
	/// The signature as the usage feed carries it: hex of the SCALE-encoded `MultiSignature`.
	pub signature_hex: String,
	/// The payer's address as receipts name it (SS58, generic prefix).
	pub payer_ss58: String,
	/// The session commitment as the usage feed carries it (hex).
	pub session_hex: String,
	/// Who signed, as the token says: `payload.signer` (an agent's controller), else the
	/// user. The gateway checks the signature against it before asking the chain anything,
	/// then that the chain names the same signer.
	pub signer: AccountId32,
	/// Set once the voucher's signature by `signer` was found good ([`Verified::check`]): a
	/// decoded payment is kept per token, so the next requests with the token skip the check.
	pub signed: Checked,
}

/// A verdict remembered on a decoded payment (equal whatever it holds: it is not part of what
/// the payment says).
#[derive(Debug, Clone, Default)]
pub struct Checked(std::sync::OnceLock<()>);

impl Checked {
	/// Whether it was found good.
	pub fn is_good(&self) -> bool {
		self.0.get().is_some()
	}
}

impl PartialEq for Checked {
	fn eq(&self, _: &Self) -> bool {
		true
	}
}

impl Eq for Checked {}

/// Decodes hex, with or without `0x`.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
	let s = s.strip_prefix("0x").unwrap_or(s);
	if !s.len().is_multiple_of(2) {
		return None;
	}
	(0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Hex with `0x`.
pub fn hex(bytes: &[u8]) -> String {
	let mut out = String::from("0x");
	push_hex(&mut out, bytes);
	out
}

/// A signature as the feed and the payload carry it (one definition with the chain).
pub use tokenmeter_primitives::decode_signature;

fn account(s: &str, what: &str) -> Result<AccountId32, PaymentError> {
	AccountId32::from_ss58check(s)
		.map_err(|_| PaymentError::Malformed(format!("{what} is not an SS58 address")))
}

fn cap_of(value: &Value) -> Option<u128> {
	match value {
		Value::String(s) => s.parse().ok(),
		Value::Number(n) => n.as_u64().map(u128::from),
		_ => None,
	}
}

/// Decodes a `PAYMENT-SIGNATURE` header or a Bearer token.
pub fn decode_payment(token: &str) -> Result<Payment, PaymentError> {
	let raw = STANDARD
		.decode(token.trim())
		.or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token.trim()))
		.map_err(|_| PaymentError::Malformed("not base64".into()))?;
	let payload: Value =
		serde_json::from_slice(&raw).map_err(|e| PaymentError::Malformed(e.to_string()))?;
	if payload.get("x402Version").and_then(Value::as_u64) != Some(X402_VERSION) {
		return Err(PaymentError::UnsupportedScheme);
	}
	let scheme = payload.pointer("/accepted/scheme").and_then(Value::as_str);
	if scheme.is_some_and(|s| s != SCHEME) {
		return Err(PaymentError::UnsupportedScheme);
	}
	let inner = payload.get("payload").ok_or(PaymentError::Malformed("no payload".into()))?;
	let voucher: VoucherJson = serde_json::from_value(
		inner.get("voucher").cloned().ok_or(PaymentError::Malformed("no voucher".into()))?,
	)
	.map_err(|e| PaymentError::Malformed(format!("voucher: {e}")))?;
	let signature_hex = inner
		.get("signature")
		.and_then(Value::as_str)
		.ok_or(PaymentError::Malformed("no signature".into()))?
		.to_string();
	let signature = hex_decode(&signature_hex)
		.and_then(|bytes| decode_signature(&bytes))
		.ok_or(PaymentError::Malformed("the signature is not a MultiSignature".into()))?;
	let genesis = hex_decode(&voucher.genesis_hash)
		.filter(|b| b.len() == 32)
		.map(|b| H256::from_slice(&b))
		.ok_or(PaymentError::Malformed("genesisHash is not 32 bytes of hex".into()))?;
	let user = account(&voucher.user, "user")?;
	let payer = match &voucher.payer {
		Some(payer) => account(payer, "payer")?,
		None => user.clone(),
	};
	let cap = cap_of(&voucher.cap).ok_or(PaymentError::Malformed("cap is not a decimal".into()))?;
	let session = voucher
		.session
		.as_deref()
		.and_then(hex_decode)
		.and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
		.ok_or(PaymentError::NoSession)?;
	let secret = inner
		.get("secret")
		.and_then(Value::as_str)
		.and_then(hex_decode)
		.and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
		.ok_or(PaymentError::NoSession)?;
	// The commitment is public; its preimage only the voucher's owner has. A hash comparison
	// that leaks timing leaks nothing about the preimage.
	if session_commitment(&secret) != session {
		return Err(PaymentError::NoSession);
	}
	let payer_ss58 = payer.to_ss58check();
	let signer = match inner.get("signer").and_then(Value::as_str) {
		Some(signer) => account(signer, "signer")?,
		None => user.clone(),
	};
	Ok(Payment {
		voucher: SignedVoucher {
			voucher: Voucher {
				genesis_hash: genesis,
				provider: account(&voucher.provider, "provider")?,
				user,
				payer,
				cap,
				expiry: voucher.expiry,
				session: Some(session),
			},
			signature: signature.clone(),
		},
		signature_hex: hex(&signature.encode()),
		payer_ss58,
		session_hex: hex(&session),
		signer,
		signed: Checked::default(),
	})
}

/// Encodes a signed voucher and the secret of its session as a `PAYMENT-SIGNATURE` header
/// value (also the Bearer token).
pub fn encode_payment(voucher: &ChainVoucher, secret: &[u8; 32]) -> String {
	let v = &voucher.voucher;
	let payload = json!({
		"x402Version": X402_VERSION,
		"accepted": {
			"scheme": SCHEME,
			"network": network_id(&v.genesis_hash),
			"amount": v.cap.to_string(),
			"asset": "TMT",
			"payTo": v.provider.to_ss58check(),
		},
		"payload": {
			"voucher": {
				"genesisHash": hex(v.genesis_hash.as_bytes()),
				"provider": v.provider.to_ss58check(),
				"user": v.user.to_ss58check(),
				"payer": v.payer.to_ss58check(),
				"cap": v.cap.to_string(),
				"expiry": v.expiry,
				"session": v.session.map(|s| hex(&s)),
			},
			"signature": hex(&voucher.signature.encode()),
			"secret": hex(secret),
		},
	});
	STANDARD.encode(payload.to_string())
}

/// What the next request needs, for `PAYMENT-REQUIRED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
	/// The chain's genesis hash.
	pub genesis: H256,
	/// The provider to pay.
	pub provider: AccountId32,
	/// The cumulative cap the next request needs.
	pub cap_needed: u128,
	/// Settled on chain so far for this user (0 when the user is unknown).
	pub settled: u128,
	/// Charged by this gateway and not yet settled.
	pub unsettled: u128,
	/// Reserved for requests in flight.
	pub reserved: u128,
	/// The model's prices per 1,000 input and output tokens.
	pub prices: (u128, u128),
	/// The first voucher expiry the gateway accepts.
	pub min_expiry: u32,
	/// The resource asked for.
	pub resource: String,
	/// Why payment is required.
	pub error: String,
}

/// The base64 `PAYMENT-REQUIRED` header value of `r`.
pub fn payment_required(r: &Requirement) -> String {
	let body = json!({
		"x402Version": X402_VERSION,
		"error": r.error,
		"resource": { "url": r.resource, "description": "LLM inference", "mimeType": "application/json" },
		"accepts": [{
			"scheme": SCHEME,
			"network": network_id(&r.genesis),
			"amount": r.cap_needed.to_string(),
			"asset": "TMT",
			"payTo": r.provider.to_ss58check(),
			"maxTimeoutSeconds": 600,
			"extra": {
				"genesisHash": hex(r.genesis.as_bytes()),
				"settled": r.settled.to_string(),
				"charged": r.unsettled.to_string(),
				"reserved": r.reserved.to_string(),
				"pricePer1kInput": r.prices.0.to_string(),
				"pricePer1kOutput": r.prices.1.to_string(),
				"minExpiry": r.min_expiry,
			},
		}],
	});
	STANDARD.encode(body.to_string())
}

/// The base64 `PAYMENT-RESPONSE` header value for a served request.
pub fn payment_response(
	network: &str,
	payer: &str,
	charged: Option<u128>,
	cumulative: u128,
	headroom: u128,
) -> String {
	/// The header's JSON, written straight from this (one header per answer: no
	/// intermediate `Value`).
	#[derive(Serialize)]
	struct Settled<'a> {
		success: bool,
		/// Vouchers are settled later, in batches, by the provider's operator node.
		transaction: &'a str,
		network: &'a str,
		payer: &'a str,
		/// What this request was charged (an `upto` settlement's amount); unknown when the
		/// header goes out before a streamed answer (its last event carries it).
		amount: Option<String>,
		extra: Extra,
	}
	#[derive(Serialize)]
	#[serde(rename_all = "camelCase")]
	struct Extra {
		charged: Option<String>,
		cumulative_charged: String,
		headroom: String,
	}
	let charged = charged.map(|c| c.to_string());
	let body = Settled {
		success: true,
		transaction: "",
		network,
		payer,
		amount: charged.clone(),
		extra: Extra {
			charged,
			cumulative_charged: cumulative.to_string(),
			headroom: headroom.to_string(),
		},
	};
	// Written into a buffer of about its size (growing one from the default cost a copy).
	let mut json = Vec::with_capacity(320 + network.len() + payer.len());
	if serde_json::to_writer(&mut json, &body).is_err() {
		json.clear();
	}
	STANDARD.encode(json)
}

/// Payments seen recently. A client sends the same token with every request until it needs a
/// higher cap, so each token is decoded once (base64, JSON and three SS58 addresses cost more
/// than the rest of admission) and each voucher's signature is checked once per signer (an
/// sr25519 check costs more still). Only good signatures and well-formed tokens are kept, at
/// most [`Verified::CAPACITY`] of each (then all are forgotten and worked out again).
#[derive(Default)]
pub struct Verified {
	/// Decoded payments by their token (the map's keyed hash: a client cannot choose tokens
	/// that collide, and a token is compared whole).
	decoded: Mutex<HashMap<Box<str>, Arc<Payment>>>,
	/// (voucher, signer) pairs whose signature is good, by the hash of their encoding.
	good: Mutex<HashSet<[u8; 32]>>,
}

impl Verified {
	/// Tokens and signatures remembered at most.
	pub const CAPACITY: usize = 1 << 14;

	/// [`decode_payment`], once per token.
	pub fn decode(&self, token: &str) -> Result<Arc<Payment>, PaymentError> {
		let key = token.trim();
		if let Some(payment) = self.decoded.lock().ok().and_then(|known| known.get(key).cloned()) {
			return Ok(payment);
		}
		let payment = Arc::new(decode_payment(token)?);
		if let Ok(mut known) = self.decoded.lock() {
			if known.len() >= Self::CAPACITY {
				known.clear();
			}
			known.insert(key.into(), payment.clone());
		}
		Ok(payment)
	}

	/// Whether `payment`'s voucher is signed by `signer` (remembered once found good: on the
	/// payment itself when `signer` is its own, and by the voucher's and the signer's hash).
	pub fn check(&self, payment: &Payment, signer: &sp_runtime::AccountId32) -> bool {
		let own = *signer == payment.signer;
		if own && payment.signed.is_good() {
			return true;
		}
		let key = sp_crypto_hashing::blake2_256(&(&payment.voucher, signer).encode());
		let known = self.good.lock().is_ok_and(|known| known.contains(&key));
		let good = known || payment.voucher.is_signed_by(signer);
		if good && !known {
			if let Ok(mut known) = self.good.lock() {
				if known.len() >= Self::CAPACITY {
					known.clear();
				}
				known.insert(key);
			}
		}
		if good && own {
			let _ = payment.signed.0.set(());
		}
		good
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn a_payment_response_says_what_was_charged() {
		let decode = |header: String| -> Value {
			serde_json::from_slice(&STANDARD.decode(header).unwrap()).unwrap()
		};
		let served = decode(payment_response("polkadot:ab", "5Grw", Some(7), 12, u128::MAX));
		assert_eq!(
			served,
			json!({
				"success": true, "transaction": "", "network": "polkadot:ab", "payer": "5Grw",
				"amount": "7",
				"extra": {
					"charged": "7", "cumulativeCharged": "12",
					"headroom": u128::MAX.to_string(),
				},
			})
		);
		let streamed = decode(payment_response("polkadot:ab", "5Grw", None, 5, 1));
		assert_eq!(streamed["amount"], Value::Null);
		assert_eq!(streamed["extra"]["charged"], Value::Null);
		assert_eq!(streamed["extra"]["cumulativeCharged"], "5");
	}
	use sp_core::Pair;
	use sp_keyring::Sr25519Keyring::{Alice, Bob, Charlie};

	const SECRET: [u8; 32] = [0x5e; 32];

	fn signed(cap: u128) -> ChainVoucher {
		let voucher = Voucher {
			genesis_hash: H256::repeat_byte(0x45),
			provider: Alice.to_account_id(),
			user: Bob.to_account_id(),
			payer: Bob.to_account_id(),
			cap,
			expiry: 100,
			session: Some(session_commitment(&SECRET)),
		};
		let signature = MultiSignature::from(Bob.pair().sign(&voucher.signing_payload()));
		SignedVoucher { voucher, signature }
	}

	#[test]
	fn a_payment_round_trips_and_verifies() {
		let voucher = signed(1_000_000_000_000_000_000_000);
		let token = encode_payment(&voucher, &SECRET);
		let decoded = decode_payment(&token).unwrap();
		assert_eq!(decoded.voucher, voucher);
		assert!(decoded.voucher.is_signed_by(&Bob.to_account_id()));
		assert!(!decoded.voucher.is_signed_by(&Charlie.to_account_id()));
	}

	#[test]
	fn a_good_signature_is_remembered_on_the_decoded_payment_and_a_bad_one_never() {
		let verified = Verified::default();
		let token = encode_payment(&signed(5), &SECRET);
		let payment = verified.decode(&token).unwrap();
		assert!(!payment.signed.is_good());
		// Another signer than the payment's own: checked, and not remembered on it.
		assert!(!verified.check(&payment, &Charlie.to_account_id()));
		assert!(!payment.signed.is_good());
		assert!(verified.check(&payment, &Bob.to_account_id()));
		assert!(payment.signed.is_good(), "remembered on the payment");
		// The next request with the token gets the same payment, checked already.
		let again = verified.decode(&token).unwrap();
		assert!(Arc::ptr_eq(&payment, &again) && again.signed.is_good());
		assert!(!verified.check(&again, &Charlie.to_account_id()), "not for another signer");
		// A voucher for Bob signed by Charlie: refused, each time, and never remembered.
		let mut forged = signed(5);
		forged.signature =
			MultiSignature::from(Charlie.pair().sign(&forged.voucher.signing_payload()));
		let forged = verified.decode(&encode_payment(&forged, &SECRET)).unwrap();
		assert_eq!(forged.signer, Bob.to_account_id());
		for _ in 0..2 {
			assert!(!verified.check(&forged, &forged.signer));
			assert!(!forged.signed.is_good());
		}
	}

	#[test]
	fn malformed_payments_are_refused_with_a_reason() {
		assert!(matches!(decode_payment("not base64!"), Err(PaymentError::Malformed(_))));
		let v1 = STANDARD.encode(r#"{"x402Version":1,"payload":{}}"#);
		assert_eq!(decode_payment(&v1), Err(PaymentError::UnsupportedScheme));
		let other =
			STANDARD.encode(r#"{"x402Version":2,"accepted":{"scheme":"exact"},"payload":{}}"#);
		assert_eq!(decode_payment(&other), Err(PaymentError::UnsupportedScheme));
		let token = encode_payment(&signed(5), &SECRET);
		let mut json: Value = serde_json::from_slice(&STANDARD.decode(token).unwrap()).unwrap();
		json["payload"]["voucher"]["user"] = json!("5Grwva");
		let bad = STANDARD.encode(json.to_string());
		assert_eq!(
			decode_payment(&bad),
			Err(PaymentError::Malformed("user is not an SS58 address".into()))
		);
	}

	/// A token rebuilt from what is published (the voucher, its signature and the session
	/// commitment: a feed record, an `attest` extrinsic) is refused, whatever secret it guesses;
	/// so is a v1 voucher without a session, correctly signed.
	#[test]
	fn a_voucher_without_its_secret_is_refused() {
		let voucher = signed(1_000);
		let token = encode_payment(&voucher, &SECRET);
		let json: Value = serde_json::from_slice(&STANDARD.decode(&token).unwrap()).unwrap();
		let mut rebuilt = json.clone();
		rebuilt["payload"].as_object_mut().unwrap().remove("secret");
		assert_eq!(
			decode_payment(&STANDARD.encode(rebuilt.to_string())),
			Err(PaymentError::NoSession)
		);
		for guess in
			[hex(&[0u8; 32]), json["payload"]["voucher"]["session"].as_str().unwrap().into()]
		{
			let mut guessed = json.clone();
			guessed["payload"]["secret"] = json!(guess);
			assert_eq!(
				decode_payment(&STANDARD.encode(guessed.to_string())),
				Err(PaymentError::NoSession)
			);
		}
		let mut v1 = voucher.voucher.clone();
		v1.session = None;
		let signature = MultiSignature::from(Bob.pair().sign(&v1.signing_payload()));
		let v1 = SignedVoucher { voucher: v1, signature };
		assert!(v1.is_signed_by(&Bob.to_account_id()));
		assert_eq!(decode_payment(&encode_payment(&v1, &SECRET)), Err(PaymentError::NoSession));
		assert_eq!(PaymentError::NoSession.code(), "invalid_session");
	}

	#[test]
	fn the_network_id_is_caip2_style() {
		assert_eq!(
			network_id(&H256::repeat_byte(0xab)),
			"polkadot:abababababababababababababababab"
		);
		// CAIP-2: `[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}`.
		let id = network_id(&H256::random());
		let (namespace, reference) = id.split_once(':').unwrap();
		assert!((3..=8).contains(&namespace.len()), "{id}");
		assert!(namespace
			.bytes()
			.all(|b| b == b'-' || b.is_ascii_lowercase() || b.is_ascii_digit()));
		assert!((1..=32).contains(&reference.len()), "{id}");
		assert!(reference.bytes().all(|b| b == b'-' || b == b'_' || b.is_ascii_alphanumeric()));
	}
}
