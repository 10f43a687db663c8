//! Agent wallets, and the one place that declares which calls an agent may make.

use frame_support::{parameter_types, traits::fungible::HoldConsideration};
use pallet_agent_wallet::AgentCalls;
use sp_runtime::traits::StaticLookup;

use super::StorageDeposit;
use crate::{
	AccountId, Balance, Balances, BlockNumber, Runtime, RuntimeCall, RuntimeHoldReason, DAYS,
};
use frame_support::weights::Weight;

parameter_types! {
	/// The hold reason of agent deposits.
	pub const AgentDepositReason: RuntimeHoldReason =
		RuntimeHoldReason::AgentWallet(pallet_agent_wallet::HoldReason::AgentDeposit);
	/// The hold reason of pending-payment deposits.
	pub const PendingDepositReason: RuntimeHoldReason =
		RuntimeHoldReason::AgentWallet(pallet_agent_wallet::HoldReason::PendingDeposit);
	/// A pending payment waits a day for its approvals.
	pub const PendingLifetime: BlockNumber = DAYS;
}

/// The calls an agent may make through `act` (also nested in a batch): buy and withdraw
/// credits, delegate them to an allowed payee, stake for priority, give feedback, validate
/// and fund the reward pool, transfer to an allowed payee, batch, and remark. Reward claims
/// bring funds in from the pool, which would offset a transfer in the same call (`act`
/// measures net outflow), so they may only be the whole of an `act`, never nested. Anything
/// else — registering as a provider, sudo, agent-wallet calls themselves — is refused.
pub struct AgentCallFilter;

impl AgentCalls<RuntimeCall, AccountId> for AgentCallFilter {
	fn allows(call: &RuntimeCall, payees: Option<&[AccountId]>) -> bool {
		use pallet_balances::Call as BalancesCall;
		use pallet_feedback_rewards::Call as FeedbackCall;
		use pallet_inference_credits::Call as CreditsCall;
		use pallet_priority_staking::Call as StakingCall;
		use pallet_utility::Call as UtilityCall;

		let may_pay = |who: &AccountId| payees.is_none_or(|allowed| allowed.contains(who));
		let may_pay_address =
			|dest: &<<Runtime as frame_system::Config>::Lookup as StaticLookup>::Source| {
				<Runtime as frame_system::Config>::Lookup::lookup(dest.clone())
					.is_ok_and(|who| may_pay(&who))
			};
		match call {
			RuntimeCall::Balances(
				BalancesCall::transfer_keep_alive { dest, .. }
				| BalancesCall::transfer_allow_death { dest, .. },
			) => may_pay_address(dest),
			RuntimeCall::InferenceCredits(
				CreditsCall::deposit_credits { .. }
				| CreditsCall::withdraw_credits { .. }
				| CreditsCall::request_withdrawal { .. }
				| CreditsCall::revoke_delegate { .. },
			) => true,
			RuntimeCall::InferenceCredits(CreditsCall::approve_delegate { delegate, .. }) => {
				may_pay(delegate)
			}
			RuntimeCall::PriorityStaking(
				StakingCall::stake { .. }
				| StakingCall::unstake { .. }
				| StakingCall::withdraw_unbonded { .. },
			) => true,
			RuntimeCall::FeedbackRewards(
				FeedbackCall::submit_feedback { .. }
				| FeedbackCall::register_validator { .. }
				| FeedbackCall::deregister_validator { .. }
				| FeedbackCall::commit_score { .. }
				| FeedbackCall::reveal_score { .. }
				| FeedbackCall::close_epoch { .. }
				| FeedbackCall::fund_pool { .. }
				| FeedbackCall::finalize_feedback { .. },
			) => true,
			RuntimeCall::Utility(
				UtilityCall::batch { .. }
				| UtilityCall::batch_all { .. }
				| UtilityCall::force_batch { .. },
			) => true,
			RuntimeCall::System(frame_system::Call::remark { .. }) => true,
			_ => false,
		}
	}

	fn allows_alone(call: &RuntimeCall) -> bool {
		use pallet_feedback_rewards::Call as FeedbackCall;
		matches!(
			call,
			RuntimeCall::FeedbackRewards(
				FeedbackCall::claim { .. } | FeedbackCall::claim_many { .. }
			)
		)
	}
}

impl pallet_agent_wallet::Config for Runtime {
	type Currency = Balances;
	type RuntimeCall = RuntimeCall;
	type AgentCalls = AgentCallFilter;
	type AgentDeposit = HoldConsideration<AccountId, Balances, AgentDepositReason, StorageDeposit>;
	type PendingDeposit =
		HoldConsideration<AccountId, Balances, PendingDepositReason, StorageDeposit>;
	type MaxPayees = frame_support::traits::ConstU32<16>;
	type MaxCosigners = frame_support::traits::ConstU32<8>;
	type MaxPending = frame_support::traits::ConstU32<16>;
	type PendingLifetime = PendingLifetime;
	/// As long as the credits pallet's withdrawal notice: usage served before an owner's
	/// freeze, policy change or controller rotation still settles for an hour.
	type SettlementGrace = super::parameters::dynamic_params::credits::WithdrawalNotice;
	type Signature = sp_runtime::MultiSignature;
	type SignedPaymentFee = TransactionFee;
	type WeightInfo = pallet_agent_wallet::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = AgentBenchmarkHelper;
}

/// A signed payment's fee: what `pallet_transaction_payment` charges a transaction of that
/// weight and length (the base fee included, no tip), burned like every fee here.
pub struct TransactionFee;

impl pallet_agent_wallet::SignedPaymentFee<Balance> for TransactionFee {
	fn fee(weight: Weight, length: u32) -> Balance {
		let info = frame_support::dispatch::DispatchInfo {
			call_weight: weight,
			extension_weight: Weight::zero(),
			class: frame_support::dispatch::DispatchClass::Normal,
			pays_fee: frame_support::dispatch::Pays::Yes,
		};
		pallet_transaction_payment::Pallet::<Runtime>::compute_fee(length, &info, 0)
	}
}

/// Gives the benchmarks a call every agent may make, and a controller key (ECDSA, the most
/// expensive signature to check).
#[cfg(feature = "runtime-benchmarks")]
pub struct AgentBenchmarkHelper;

#[cfg(feature = "runtime-benchmarks")]
impl pallet_agent_wallet::BenchmarkHelper<RuntimeCall, AccountId, sp_runtime::MultiSignature>
	for AgentBenchmarkHelper
{
	fn harmless_call() -> RuntimeCall {
		RuntimeCall::System(frame_system::Call::remark { remark: alloc::vec::Vec::new() })
	}

	fn signer() -> AccountId {
		use pallet_inference_credits::BenchmarkHelper as _;
		super::inference_credits::BenchmarkSigners::signer(0)
	}

	fn sign(message: &[u8]) -> sp_runtime::MultiSignature {
		use pallet_inference_credits::BenchmarkHelper as _;
		super::inference_credits::BenchmarkSigners::sign(0, message)
	}
}
