//! Vouchers: what a user signs off chain to let one provider charge one ledger, and the exact
//! bytes that are signed. The runtime, the usage feed's readers, the gateway and the fuzzer
//! all use this one definition.
//!
//! # The signed message
//!
//! ```text
//! b"tokenmeter/voucher/v2" ++ SCALE(genesis_hash, provider, user, payer, cap, expiry, session)
//! b"tokenmeter/voucher/v1" ++ SCALE(genesis_hash, provider, user, payer, cap, expiry)
//! ```
//!
//! A v2 voucher commits to a **session**: the hash of a secret the client never publishes
//! ([`session_commitment`]). The voucher and its signature are public — every usage feed
//! record and every `attest` extrinsic carries them — so they alone must never get a request
//! served: a gateway serves only a client that presents the secret behind `session`. The
//! chain settles both forms (it never sees secrets; settlement only moves what the owner
//! capped for that provider); gateways accept only v2.
//!
//! The domain tag keeps the signature from meaning anything else (a transaction, another
//! protocol's message). Every field that decides whose money moves to whom is signed:
//! the chain, the provider that may settle, the user whose cumulative ledger the cap bounds,
//! and the payer whose credits pay (the user, or an owner who delegated an allowance to the
//! user). Wallets that sign raw bytes the way the Polkadot.js extension does (`signRaw`)
//! sign `<Bytes>` ++ message ++ `</Bytes>`; that exact wrapping is accepted too, nothing
//! else.

use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::sp_runtime::traits::{Hash as _, IdentifyAccount, Verify};
use scale_info::TypeInfo;

/// Identifies a model. Ids are assigned in order and never reused.
pub type ModelId = u32;

/// The domain tag of a voucher without a session (settled on chain, never served by a gateway).
pub const VOUCHER_DOMAIN: &[u8] = b"tokenmeter/voucher/v1";
/// The domain tag of a voucher that commits to a session.
pub const VOUCHER_DOMAIN_V2: &[u8] = b"tokenmeter/voucher/v2";
/// The domain tag of a session commitment: `blake2_256(SESSION_DOMAIN ++ secret)`.
pub const SESSION_DOMAIN: &[u8] = b"tokenmeter/session/v1";

/// The session a secret opens: `blake2_256(b"tokenmeter/session/v1" ++ secret)`. A client
/// draws a fresh 32-byte secret per provider, signs vouchers naming its commitment and shows
/// the secret to that provider's gateway only.
pub fn session_commitment(secret: &[u8; 32]) -> [u8; 32] {
	let mut message = [0u8; 53];
	let (domain, rest) = message.split_at_mut(SESSION_DOMAIN.len());
	domain.copy_from_slice(SESSION_DOMAIN);
	rest.copy_from_slice(secret);
	frame_support::sp_runtime::traits::BlakeTwo256::hash(&message).0
}
/// What a wallet's `signRaw` puts before the message.
pub const WRAP_PREFIX: &[u8] = b"<Bytes>";
/// What a wallet's `signRaw` puts after the message.
pub const WRAP_SUFFIX: &[u8] = b"</Bytes>";

/// `message` as a browser wallet's `signRaw` signs it: `<Bytes>` ++ message ++ `</Bytes>`.
pub fn wrap_bytes(message: &[u8]) -> Vec<u8> {
	let mut wrapped = Vec::with_capacity(
		message.len().saturating_add(WRAP_PREFIX.len()).saturating_add(WRAP_SUFFIX.len()),
	);
	wrapped.extend_from_slice(WRAP_PREFIX);
	wrapped.extend_from_slice(message);
	wrapped.extend_from_slice(WRAP_SUFFIX);
	wrapped
}

/// What a user signs off chain to let a provider charge credits. Vouchers are cumulative:
/// `cap` bounds everything ever settled for this (user, provider) pair, so a newer voucher
/// with a higher cap supersedes older ones and replaying an old one gains nothing.
#[derive(
	Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Clone, PartialEq, Eq, Debug,
)]
pub struct Voucher<Hash, AccountId, Balance, BlockNumber> {
	/// The genesis hash of the chain the voucher is valid on.
	pub genesis_hash: Hash,
	/// The only provider that may settle against it.
	pub provider: AccountId,
	/// The user whose usage it pays for and whose ledger (`settled` for this provider) the
	/// cap bounds. For a keyless agent wallet, the agent (its controller signs).
	pub user: AccountId,
	/// Whose credits pay: the user, or an owner who delegated an allowance to the user.
	pub payer: AccountId,
	/// The most that may ever be settled for this (user, provider) pair.
	pub cap: Balance,
	/// The last block at which it may be settled.
	pub expiry: BlockNumber,
	/// The commitment ([`session_commitment`]) to the secret a gateway asks the client to
	/// show; `None` for a v1 voucher, which the chain settles but no gateway serves.
	pub session: Option<[u8; 32]>,
}

impl<Hash: Encode, AccountId: Encode, Balance: Encode, BlockNumber: Encode>
	Voucher<Hash, AccountId, Balance, BlockNumber>
{
	/// The bytes a signer signs: the domain tag (v2 with a session, v1 without) followed by
	/// the SCALE encoding of the voucher's fields in order, the session (32 bytes) last.
	pub fn signing_payload(&self) -> Vec<u8> {
		let mut message =
			Vec::with_capacity(VOUCHER_DOMAIN_V2.len().saturating_add(self.size_hint()));
		message.extend_from_slice(match self.session {
			Some(_) => VOUCHER_DOMAIN_V2,
			None => VOUCHER_DOMAIN,
		});
		self.genesis_hash.encode_to(&mut message);
		self.provider.encode_to(&mut message);
		self.user.encode_to(&mut message);
		self.payer.encode_to(&mut message);
		self.cap.encode_to(&mut message);
		self.expiry.encode_to(&mut message);
		if let Some(session) = &self.session {
			message.extend_from_slice(session);
		}
		message
	}

	/// The payload as a browser wallet signs it: `<Bytes>` ++ payload ++ `</Bytes>`.
	pub fn wrapped_signing_payload(&self) -> Vec<u8> {
		wrap_bytes(&self.signing_payload())
	}
}

/// A voucher with the signature of the user (or of whoever signs for the user: an agent's
/// controller) over [`Voucher::signing_payload`] or its wallet-wrapped form.
#[derive(
	Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Clone, PartialEq, Eq, Debug,
)]
pub struct SignedVoucher<Hash, AccountId, Balance, BlockNumber, Signature> {
	/// What was signed.
	pub voucher: Voucher<Hash, AccountId, Balance, BlockNumber>,
	/// The signature (sr25519, ed25519 or ecdsa via `MultiSignature` in the runtime).
	pub signature: Signature,
}

impl<Hash, AccountId, Balance, BlockNumber, Signature>
	SignedVoucher<Hash, AccountId, Balance, BlockNumber, Signature>
where
	Hash: Encode,
	AccountId: Encode,
	Balance: Encode,
	BlockNumber: Encode,
	Signature: Verify,
	Signature::Signer: IdentifyAccount<AccountId = AccountId>,
{
	/// Whether `signer` signed the voucher, bare or in the exact `<Bytes>…</Bytes>` wrapping.
	/// At most two signature checks.
	pub fn is_signed_by(&self, signer: &AccountId) -> bool {
		self.is_signed_in_form(signer, false) || self.is_signed_in_form(signer, true)
	}

	/// Whether `signer` signed the voucher in one form: bare, or (`wrapped`) in the
	/// `<Bytes>…</Bytes>` wrapping of a browser wallet. One signature check.
	pub fn is_signed_in_form(&self, signer: &AccountId, wrapped: bool) -> bool {
		let payload = match wrapped {
			true => self.voucher.wrapped_signing_payload(),
			false => self.voucher.signing_payload(),
		};
		self.signature.verify(&payload[..], signer)
	}
}

impl<Hash, AccountId, Balance, BlockNumber, Signature>
	SignedVoucher<Hash, AccountId, Balance, BlockNumber, Signature>
where
	Self: Encode,
	AccountId: Encode,
{
	/// What the chain remembers of a voucher it accepted: `blake2_256(SCALE((signed voucher,
	/// signer)))`, the voucher with its signature and the account whose signature it was found
	/// to be. The same bytes with the same signer were verified before; anything else (another
	/// cap, signature or signer) has another digest.
	pub fn accepted_digest(&self, signer: &AccountId) -> [u8; 32] {
		(self, signer)
			.using_encoded(|bytes| frame_support::sp_runtime::traits::BlakeTwo256::hash(bytes).0)
	}
}

/// One record of served usage, as the provider's operator reports it.
#[derive(
	Encode, Decode, DecodeWithMemTracking, MaxEncodedLen, TypeInfo, Clone, PartialEq, Eq, Debug,
)]
pub struct UsageEntry<Hash, AccountId, Balance, BlockNumber, Signature> {
	/// Who made the request; must be the voucher's `user`.
	pub user: AccountId,
	/// The model used.
	pub model: ModelId,
	/// Input tokens served.
	pub input_tokens: u32,
	/// Output tokens served.
	pub output_tokens: u32,
	/// The block at which the usage was served (the gateway's best block; the earliest of the
	/// record's requests). Settlement prices it at what was in force then, and refuses it
	/// once it is older than the chain's bound on lateness.
	pub served_at: BlockNumber,
	/// The user's latest voucher for this provider; its `payer` decides whose credits pay.
	pub voucher: SignedVoucher<Hash, AccountId, Balance, BlockNumber, Signature>,
}

/// A signature as vouchers travel off chain (the usage feed, the gateway's payment tokens):
/// the SCALE encoding of a `MultiSignature` (type byte, then the signature), or 64 bare bytes
/// read as sr25519. 65 bare bytes are not read as ECDSA: they are also the encoding of an
/// sr25519 or ed25519 `MultiSignature`. Anything else is unreadable.
pub fn decode_signature(bytes: &[u8]) -> Option<frame_support::sp_runtime::MultiSignature> {
	use frame_support::sp_runtime::MultiSignature;
	if let Ok(raw) = <[u8; 64]>::try_from(bytes) {
		return Some(MultiSignature::Sr25519(raw.into()));
	}
	MultiSignature::decode(&mut &bytes[..]).ok().filter(|s| s.encoded_size() == bytes.len())
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn signatures_decode_from_scale_or_bare_sr25519_bytes() {
		use frame_support::sp_runtime::MultiSignature;
		let raw = [7u8; 64];
		assert_eq!(decode_signature(&raw), Some(MultiSignature::Sr25519(raw.into())));
		let ed = MultiSignature::Ed25519(raw.into());
		assert_eq!(decode_signature(&ed.encode()), Some(ed.clone()));
		// Trailing bytes, a short signature or an unknown type byte are unreadable.
		let mut long = ed.encode();
		long.push(0);
		assert_eq!(decode_signature(&long), None);
		assert_eq!(decode_signature(&[1u8; 10]), None);
		assert_eq!(decode_signature(&[9u8; 65]), None);
	}
	use frame_support::sp_runtime::{AccountId32, MultiSignature};
	use sp_core::{Pair, H256};
	use sp_keyring::Sr25519Keyring;

	type TestVoucher = Voucher<H256, AccountId32, u128, u32>;

	fn voucher() -> TestVoucher {
		Voucher {
			genesis_hash: H256::repeat_byte(1),
			provider: Sr25519Keyring::Alice.to_account_id(),
			user: Sr25519Keyring::Bob.to_account_id(),
			payer: Sr25519Keyring::Bob.to_account_id(),
			cap: 1_000,
			expiry: 100,
			session: None,
		}
	}

	#[test]
	fn payload_is_domain_then_fields_in_order() {
		let v = voucher();
		let payload = v.signing_payload();
		assert!(payload.starts_with(b"tokenmeter/voucher/v1"));
		let mut expected = b"tokenmeter/voucher/v1".to_vec();
		expected.extend((v.genesis_hash, &v.provider, &v.user, &v.payer, v.cap, v.expiry).encode());
		assert_eq!(payload, expected);
		// 21 + 32 + 3 × 32 + 16 + 4 bytes.
		assert_eq!(payload.len(), 169);
		let wrapped = v.wrapped_signing_payload();
		assert_eq!(&wrapped[..7], b"<Bytes>");
		assert_eq!(&wrapped[7..176], &payload[..]);
		assert_eq!(&wrapped[176..], b"</Bytes>");
	}

	#[test]
	fn a_session_is_signed_under_the_v2_domain() {
		let secret = [7u8; 32];
		let v = TestVoucher { session: Some(session_commitment(&secret)), ..voucher() };
		let payload = v.signing_payload();
		let mut expected = b"tokenmeter/voucher/v2".to_vec();
		expected.extend((v.genesis_hash, &v.provider, &v.user, &v.payer, v.cap, v.expiry).encode());
		expected.extend(session_commitment(&secret));
		assert_eq!(payload, expected);
		assert_eq!(payload.len(), 201);
		// The commitment is BLAKE2-256 of the domain and the secret; another secret differs.
		let mut message = SESSION_DOMAIN.to_vec();
		message.extend(secret);
		assert_eq!(session_commitment(&secret), sp_crypto_hashing::blake2_256(&message));
		assert_ne!(session_commitment(&secret), session_commitment(&[8u8; 32]));
		// A signature over the v1 payload does not verify for the v2 voucher, nor the reverse.
		let bob = Sr25519Keyring::Bob;
		let v1: MultiSignature = bob.pair().sign(&voucher().signing_payload()).into();
		assert!(
			!SignedVoucher { voucher: v.clone(), signature: v1 }.is_signed_by(&bob.to_account_id())
		);
		let v2: MultiSignature = bob.pair().sign(&payload).into();
		assert!(SignedVoucher { voucher: v.clone(), signature: v2.clone() }
			.is_signed_by(&bob.to_account_id()));
		assert!(!SignedVoucher { voucher: voucher(), signature: v2.clone() }
			.is_signed_by(&bob.to_account_id()));
		let other = TestVoucher { session: Some(session_commitment(&[8u8; 32])), ..v };
		assert!(!SignedVoucher { voucher: other, signature: v2 }.is_signed_by(&bob.to_account_id()));
	}

	#[test]
	fn bare_and_exactly_wrapped_signatures_verify() {
		let v = voucher();
		let bob = Sr25519Keyring::Bob;
		let bare: MultiSignature = bob.pair().sign(&v.signing_payload()).into();
		let wrapped: MultiSignature = bob.pair().sign(&v.wrapped_signing_payload()).into();
		for signature in [bare, wrapped] {
			let signed = SignedVoucher { voucher: v.clone(), signature };
			assert!(signed.is_signed_by(&bob.to_account_id()));
			assert!(!signed.is_signed_by(&Sr25519Keyring::Charlie.to_account_id()));
		}
	}

	#[test]
	fn other_wrappings_and_changed_fields_do_not_verify() {
		let v = voucher();
		let bob = Sr25519Keyring::Bob;
		let mut loose = b"<Bytes> ".to_vec();
		loose.extend(v.signing_payload());
		loose.extend(b"</Bytes>");
		let old_format = (v.genesis_hash, &v.provider, v.cap, v.expiry).encode();
		for message in [loose, old_format, v.encode()] {
			let signature: MultiSignature = bob.pair().sign(&message).into();
			let signed = SignedVoucher { voucher: v.clone(), signature };
			assert!(!signed.is_signed_by(&bob.to_account_id()));
		}
		let signature: MultiSignature = bob.pair().sign(&v.signing_payload()).into();
		let charlie = Sr25519Keyring::Charlie.to_account_id();
		for changed in [
			TestVoucher { user: charlie.clone(), ..v.clone() },
			TestVoucher { payer: charlie.clone(), ..v.clone() },
			TestVoucher { provider: charlie, ..v.clone() },
			TestVoucher { cap: 1_001, ..v.clone() },
			TestVoucher { expiry: 101, ..v.clone() },
			TestVoucher { genesis_hash: H256::repeat_byte(2), ..v.clone() },
		] {
			let signed = SignedVoucher { voucher: changed, signature: signature.clone() };
			assert!(!signed.is_signed_by(&bob.to_account_id()));
		}
	}
}
