//! Usage attestation: operator keys of providers attest served usage, settled by the
//! inference credits pallet.

use frame_support::{
	parameter_types,
	traits::{fungible::HoldConsideration, ConstU32, Contains},
};

use super::inference_credits::StorageDeposit;
use crate::{AccountId, Balances, BlockNumber, InferenceCredits, Runtime, RuntimeHoldReason, DAYS};

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
	type WeightInfo = pallet_usage_attestation::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = RegisteredProviders;
}

/// The benchmarks' provider registers with the credits pallet; their records are as large as
/// records get (an ECDSA voucher signature and a delegation owner).
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
			on_behalf_of: Some(user.clone()),
			model: 0,
			input_tokens: 1_000,
			output_tokens: 1_000,
			voucher: pallet_inference_credits::SignedVoucher {
				voucher: pallet_inference_credits::Voucher {
					genesis_hash: Default::default(),
					provider: user,
					cap: crate::UNIT,
					expiry: 0,
				},
				signature: sp_runtime::MultiSignature::Ecdsa(sp_core::ecdsa::Signature::from_raw(
					[0; 65],
				)),
			},
		}
	}
}
