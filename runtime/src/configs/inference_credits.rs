//! Inference credits: providers, models, credits, vouchers and settlement.

use frame_support::{
	parameter_types,
	traits::{fungible::HoldConsideration, ConstU32},
	PalletId,
};
use sp_runtime::{traits::AccountIdConversion, MultiSignature};

use super::{parameters::dynamic_params::credits, StorageDeposit};
use crate::{AccountId, AgentWallet, Balances, PriorityStaking, Runtime, RuntimeHoldReason, DAYS};

parameter_types! {
	/// The reward pool's id; its account receives the protocol fee.
	pub const RewardPoolPalletId: PalletId = PalletId(*b"tmt/pool");
	/// The reward pool account.
	pub RewardPoolAccount: AccountId = RewardPoolPalletId::get().into_account_truncating();
	/// The hold reason of model deposits.
	pub const ModelDepositReason: RuntimeHoldReason =
		RuntimeHoldReason::InferenceCredits(pallet_inference_credits::HoldReason::ModelDeposit);
	/// The hold reason of delegation deposits.
	pub const DelegationDepositReason: RuntimeHoldReason =
		RuntimeHoldReason::InferenceCredits(pallet_inference_credits::HoldReason::DelegationDeposit);
}

impl pallet_inference_credits::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type ModelConsideration =
		HoldConsideration<AccountId, Balances, ModelDepositReason, StorageDeposit>;
	type DelegationConsideration =
		HoldConsideration<AccountId, Balances, DelegationDepositReason, StorageDeposit>;
	type ProviderBond = credits::ProviderBond;
	/// A runtime parameter (set by a referendum on the parameters track).
	type ProtocolFee = super::parameters::dynamic_params::protocol::ProtocolFee;
	/// A runtime parameter too: the treasury's share of the fee, the rest to the pool.
	type TreasuryShare = super::parameters::dynamic_params::protocol::TreasuryShare;
	type Treasury = super::governance::TreasuryAccount;
	type RewardPool = RewardPoolAccount;
	type Tiers = PriorityStaking;
	type FreeAllowance = PriorityStaking;
	type VoucherSigners = AgentWallet;
	type OffchainSignature = MultiSignature;
	type SigningPublicKey = <MultiSignature as sp_runtime::traits::Verify>::Signer;
	type MaxNameLen = ConstU32<64>;
	type MaxEndpointLen = ConstU32<256>;
	type MaxModelsPerProvider = ConstU32<32>;
	type MaxEntriesPerSettlement = ConstU32<256>;
	// Runtime parameters (`Credits.*`, set by the parameters track).
	type WithdrawalNotice = credits::WithdrawalNotice;
	type PriceIncreaseNotice = credits::PriceIncreaseNotice;
	/// A day: an operator node that was down for hours still gets its usage settled.
	type MaxUsageLateness = ConstU32<DAYS>;
	type PricingEpoch = credits::PricingEpoch;
	type MaxPriceStep = credits::MaxPriceStep;
	type MaxMultiplier = ConstU32<10>;
	type WeightInfo = pallet_inference_credits::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = BenchmarkSigners;
}

/// Benchmark signers: ECDSA keys the benchmark's keystore derives from the signer's index.
/// ECDSA is the most expensive scheme a voucher may use (a `MultiSignature` check, measured
/// natively here: ed25519 40 µs, sr25519 43 µs, ECDSA 46 µs), so settlement is charged for it.
#[cfg(feature = "runtime-benchmarks")]
pub struct BenchmarkSigners;

#[cfg(feature = "runtime-benchmarks")]
impl BenchmarkSigners {
	const KEY_TYPE: sp_core::crypto::KeyTypeId = sp_core::crypto::KeyTypeId(*b"tmbn");

	fn public(index: u32) -> sp_core::ecdsa::Public {
		let seed = alloc::format!("//tokenmeter-benchmark-{index}");
		sp_io::crypto::ecdsa_generate(Self::KEY_TYPE, Some(seed.into_bytes()))
	}
}

#[cfg(feature = "runtime-benchmarks")]
impl pallet_inference_credits::BenchmarkHelper<AccountId, MultiSignature> for BenchmarkSigners {
	fn signer(index: u32) -> AccountId {
		use sp_runtime::traits::IdentifyAccount;
		sp_runtime::MultiSigner::from(Self::public(index)).into_account()
	}

	fn sign(index: u32, message: &[u8]) -> MultiSignature {
		sp_io::crypto::ecdsa_sign(Self::KEY_TYPE, &Self::public(index), message)
			.map(MultiSignature::from)
			// The key was generated in the benchmark's keystore just above.
			.unwrap_or_else(|| MultiSignature::Ecdsa(sp_core::ecdsa::Signature::from_raw([0; 65])))
	}
}
