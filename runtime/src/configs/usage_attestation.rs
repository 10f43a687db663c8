//! Usage attestation: operator keys of providers attest served usage, settled by the
//! inference credits pallet.

use frame_support::{
	parameter_types,
	traits::{fungible::HoldConsideration, ConstU32, Contains},
};
use pallet_inference_credits::{SignedVoucher, UsageEntry, UsageEntryOf, Voucher};
use pallet_usage_attestation::{FeedEntry, FeedRecord};
use sp_core::crypto::Ss58Codec;

use super::StorageDeposit;
use crate::{
	AccountId, Balances, BlockNumber, InferenceCredits, Runtime, RuntimeHoldReason, System, DAYS,
};

parameter_types! {
	/// The hold reason of operator deposits.
	pub const OperatorDepositReason: RuntimeHoldReason =
		RuntimeHoldReason::UsageAttestation(pallet_usage_attestation::HoldReason::OperatorDeposit);
	/// Capacity is declared per day.
	pub const CapacityEpoch: BlockNumber = DAYS;
}

/// The inference credits pallet's registered providers.
pub struct RegisteredProviders;

impl Contains<AccountId> for RegisteredProviders {
	fn contains(who: &AccountId) -> bool {
		pallet_inference_credits::Providers::<Runtime>::contains_key(who)
	}
}

impl pallet_usage_attestation::Config for Runtime {
	type Settlement = InferenceCredits;
	type Providers = RegisteredProviders;
	type OperatorDeposit =
		HoldConsideration<AccountId, Balances, OperatorDepositReason, StorageDeposit>;
	type MaxOperators = ConstU32<8>;
	/// As many as one settlement takes.
	type MaxEntries = ConstU32<256>;
	type EpochLength = CapacityEpoch;
	type OperatorKey = pallet_usage_attestation::crypto::OperatorKey;
	type FeedEntries = FeedEntries;
	type WeightInfo = pallet_usage_attestation::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = RegisteredProviders;
}

/// Reads usage feed records into the credits pallet's entries: SS58 accounts, the voucher
/// for this chain (its genesis hash) and the attesting provider, and a signature given as a
/// SCALE-encoded `MultiSignature` (type byte, then the signature) or as 64 bare bytes, read
/// as sr25519.
pub struct FeedEntries;

impl FeedEntry<AccountId, UsageEntryOf<Runtime>> for FeedEntries {
	fn entry(
		provider: &AccountId,
		record: FeedRecord,
	) -> Result<UsageEntryOf<Runtime>, &'static str> {
		let user = AccountId::from_ss58check(&record.user).map_err(|_| "user is not SS58")?;
		// The payer named in the voucher: an owner who delegated to the user, or the user.
		let payer = match record.on_behalf_of {
			Some(owner) => {
				AccountId::from_ss58check(&owner).map_err(|_| "on_behalf_of is not SS58")?
			}
			None => user.clone(),
		};
		let signature = decode_signature(&record.signature).ok_or("voucher.signature")?;
		let expiry: BlockNumber = record.expiry.try_into().map_err(|_| "voucher.expiry")?;
		Ok(UsageEntry {
			user: user.clone(),
			model: record.model,
			input_tokens: record.input_tokens,
			output_tokens: record.output_tokens,
			// A block number the chain cannot hold is in the future: served now at the latest.
			served_at: record.served_at.try_into().unwrap_or(BlockNumber::MAX),
			voucher: SignedVoucher {
				voucher: Voucher {
					genesis_hash: System::block_hash(0),
					provider: provider.clone(),
					user,
					payer,
					cap: record.cap,
					expiry,
					session: record.session,
				},
				signature,
			},
		})
	}
}

/// A `MultiSignature` as the feed carries it (the worker declares the record void when it is
/// unreadable).
use tokenmeter_primitives::decode_signature;

/// The benchmarks' provider registers with the credits pallet; their records are as large as
/// records get (an ECDSA voucher signature).
#[cfg(feature = "runtime-benchmarks")]
impl
	pallet_usage_attestation::BenchmarkHelper<
		AccountId,
		pallet_inference_credits::UsageEntryOf<Runtime>,
	> for RegisteredProviders
{
	fn provider() -> AccountId {
		use frame_support::traits::fungible::Mutate;
		let provider: AccountId = frame_benchmarking::account("provider", 0, 0);
		let _ = Balances::set_balance(&provider, 1_000_000 * crate::UNIT);
		let _ = InferenceCredits::register_provider(
			crate::RuntimeOrigin::signed(provider.clone()),
			b"bench".to_vec().try_into().unwrap_or_default(),
			b"https://bench".to_vec().try_into().unwrap_or_default(),
		);
		provider
	}

	fn entry(i: u32) -> pallet_inference_credits::UsageEntryOf<Runtime> {
		let user: AccountId = frame_benchmarking::account("user", i, 0);
		pallet_inference_credits::UsageEntry {
			user: user.clone(),
			model: 0,
			input_tokens: 1_000,
			output_tokens: 1_000,
			served_at: 0,
			voucher: pallet_inference_credits::SignedVoucher {
				voucher: pallet_inference_credits::Voucher {
					genesis_hash: Default::default(),
					provider: user.clone(),
					user: user.clone(),
					payer: user,
					cap: crate::UNIT,
					expiry: 0,
					session: Some([0xff; 32]),
				},
				signature: sp_runtime::MultiSignature::Ecdsa(sp_core::ecdsa::Signature::from_raw(
					[0; 65],
				)),
			},
		}
	}
}
