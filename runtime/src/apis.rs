//! The runtime APIs: what the node and RPC clients can ask the runtime.

use alloc::vec::Vec;
use frame_support::{
	genesis_builder_helper::{build_state, get_preset},
	weights::Weight,
};
use pallet_grandpa::AuthorityId as GrandpaId;
use sp_api::impl_runtime_apis;
use sp_consensus_aura::sr25519::AuthorityId as AuraId;
use sp_core::{crypto::KeyTypeId, OpaqueMetadata};
use sp_runtime::{
	traits::{Block as BlockT, NumberFor},
	transaction_validity::{TransactionSource, TransactionValidity},
	ApplyExtrinsicResult, ExtrinsicInclusionMode,
};
use sp_version::RuntimeVersion;

use super::{
	AccountId, AgentWallet, Aura, Balance, Block, BlockNumber, Executive, FeedbackRewards, Grandpa,
	Hash, InferenceCredits, InherentDataExt, Nonce, PriorityStaking, Runtime, RuntimeCall,
	RuntimeGenesisConfig, System, TransactionPayment, VERSION,
};
use pallet_agent_wallet::AgentStatus;
use pallet_feedback_rewards::{EpochIndex, EpochStatus, PendingReward};
use pallet_inference_credits::{AccessReport, ModelId, Quote};
use pallet_priority_staking::{PriorityInfo, TierInfo};
use tokenmeter_primitives::gateway::{DelegationView, ModelView, UserView};

impl_runtime_apis! {
	impl sp_api::Core<Block> for Runtime {
		fn version() -> RuntimeVersion {
			VERSION
		}

		fn execute_block(block: <Block as BlockT>::LazyBlock) {
			Executive::execute_block(block);
		}

		fn initialize_block(header: &<Block as BlockT>::Header) -> ExtrinsicInclusionMode {
			Executive::initialize_block(header)
		}
	}

	impl sp_api::Metadata<Block> for Runtime {
		fn metadata() -> OpaqueMetadata {
			OpaqueMetadata::new(Runtime::metadata().into())
		}

		fn metadata_at_version(version: u32) -> Option<OpaqueMetadata> {
			Runtime::metadata_at_version(version)
		}

		fn metadata_versions() -> Vec<u32> {
			Runtime::metadata_versions()
		}
	}

	impl frame_support::view_functions::runtime_api::RuntimeViewFunction<Block> for Runtime {
		fn execute_view_function(
			id: frame_support::view_functions::ViewFunctionId,
			input: Vec<u8>,
		) -> Result<Vec<u8>, frame_support::view_functions::ViewFunctionDispatchError> {
			Runtime::execute_view_function(id, input)
		}
	}

	impl sp_block_builder::BlockBuilder<Block> for Runtime {
		fn apply_extrinsic(extrinsic: <Block as BlockT>::Extrinsic) -> ApplyExtrinsicResult {
			Executive::apply_extrinsic(extrinsic)
		}

		fn finalize_block() -> <Block as BlockT>::Header {
			Executive::finalize_block()
		}

		fn inherent_extrinsics(data: sp_inherents::InherentData) -> Vec<<Block as BlockT>::Extrinsic> {
			data.create_extrinsics()
		}

		fn check_inherents(
			block: <Block as BlockT>::LazyBlock,
			data: sp_inherents::InherentData,
		) -> sp_inherents::CheckInherentsResult {
			data.check_extrinsics(&block)
		}
	}

	impl sp_transaction_pool::runtime_api::TaggedTransactionQueue<Block> for Runtime {
		fn validate_transaction(
			source: TransactionSource,
			tx: <Block as BlockT>::Extrinsic,
			block_hash: <Block as BlockT>::Hash,
		) -> TransactionValidity {
			Executive::validate_transaction(source, tx, block_hash)
		}
	}

	impl sp_offchain::OffchainWorkerApi<Block> for Runtime {
		fn offchain_worker(header: &<Block as BlockT>::Header) {
			Executive::offchain_worker(header)
		}
	}

	impl sp_consensus_aura::AuraApi<Block, AuraId> for Runtime {
		fn slot_duration() -> sp_consensus_aura::SlotDuration {
			sp_consensus_aura::SlotDuration::from_millis(Aura::slot_duration())
		}

		fn authorities() -> Vec<AuraId> {
			pallet_aura::Authorities::<Runtime>::get().into_inner()
		}
	}

	impl sp_session::SessionKeys<Block> for Runtime {
		fn generate_session_keys(
			owner: Vec<u8>,
			seed: Option<Vec<u8>>,
		) -> sp_session::OpaqueGeneratedSessionKeys {
			super::opaque::SessionKeys::generate(&owner, seed).into()
		}

		fn decode_session_keys(encoded: Vec<u8>) -> Option<Vec<(Vec<u8>, KeyTypeId)>> {
			super::opaque::SessionKeys::decode_into_raw_public_keys(&encoded)
		}
	}

	impl sp_consensus_grandpa::GrandpaApi<Block> for Runtime {
		fn grandpa_authorities() -> sp_consensus_grandpa::AuthorityList {
			Grandpa::grandpa_authorities()
		}

		fn current_set_id() -> sp_consensus_grandpa::SetId {
			Grandpa::current_set_id()
		}

		fn submit_report_equivocation_unsigned_extrinsic(
			_equivocation_proof: sp_consensus_grandpa::EquivocationProof<
				<Block as BlockT>::Hash,
				NumberFor<Block>,
			>,
			_key_owner_proof: sp_consensus_grandpa::OpaqueKeyOwnershipProof,
		) -> Option<()> {
			// Equivocation reports need key-ownership proofs from a session-historical pallet,
			// which this runtime does not have (yet).
			None
		}

		fn generate_key_ownership_proof(
			_set_id: sp_consensus_grandpa::SetId,
			_authority_id: GrandpaId,
		) -> Option<sp_consensus_grandpa::OpaqueKeyOwnershipProof> {
			// `KeyOwnerProof` is the empty type `Void`: no proof can be built.
			None
		}
	}

	impl frame_system_rpc_runtime_api::AccountNonceApi<Block, AccountId, Nonce> for Runtime {
		fn account_nonce(account: AccountId) -> Nonce {
			System::account_nonce(account)
		}
	}

	impl pallet_transaction_payment_rpc_runtime_api::TransactionPaymentApi<Block, Balance> for Runtime {
		fn query_info(
			uxt: <Block as BlockT>::Extrinsic,
			len: u32,
		) -> pallet_transaction_payment_rpc_runtime_api::RuntimeDispatchInfo<Balance> {
			TransactionPayment::query_info(uxt, len)
		}

		fn query_fee_details(
			uxt: <Block as BlockT>::Extrinsic,
			len: u32,
		) -> pallet_transaction_payment::FeeDetails<Balance> {
			TransactionPayment::query_fee_details(uxt, len)
		}

		fn query_weight_to_fee(weight: Weight) -> Balance {
			TransactionPayment::weight_to_fee(weight)
		}

		fn query_length_to_fee(length: u32) -> Balance {
			TransactionPayment::length_to_fee(length)
		}
	}

	impl pallet_transaction_payment_rpc_runtime_api::TransactionPaymentCallApi<Block, Balance, RuntimeCall>
		for Runtime
	{
		fn query_call_info(
			call: RuntimeCall,
			len: u32,
		) -> pallet_transaction_payment::RuntimeDispatchInfo<Balance> {
			TransactionPayment::query_call_info(call, len)
		}

		fn query_call_fee_details(
			call: RuntimeCall,
			len: u32,
		) -> pallet_transaction_payment::FeeDetails<Balance> {
			TransactionPayment::query_call_fee_details(call, len)
		}

		fn query_weight_to_fee(weight: Weight) -> Balance {
			TransactionPayment::weight_to_fee(weight)
		}

		fn query_length_to_fee(length: u32) -> Balance {
			TransactionPayment::length_to_fee(length)
		}
	}

	impl pallet_inference_credits::runtime_api::InferenceCreditsApi<Block, AccountId, Balance, BlockNumber> for Runtime {
		fn can_access(
			user: AccountId,
			model: ModelId,
			estimated_input: u32,
			estimated_output: u32,
		) -> AccessReport<Balance> {
			InferenceCredits::can_access(&user, model, estimated_input, estimated_output)
		}

		fn quote(model: ModelId, input: u32, output: u32) -> Option<Quote<Balance, BlockNumber>> {
			InferenceCredits::quote(model, input, output)
		}

		fn credit_balance(user: AccountId) -> Balance {
			InferenceCredits::credit_balance(&user)
		}
	}

	impl tokenmeter_primitives::gateway::GatewayApi<Block, AccountId, Balance, BlockNumber> for Runtime {
		fn provider_models(provider: AccountId) -> Vec<ModelView<Balance, BlockNumber>> {
			InferenceCredits::provider_models(&provider)
		}

		fn user_view(user: AccountId, provider: AccountId, model: ModelId) -> UserView<AccountId, Balance> {
			crate::gateway::user_view(&user, &provider, model)
		}

		fn delegation(owner: AccountId, delegate: AccountId) -> Option<DelegationView<Balance, BlockNumber>> {
			pallet_inference_credits::Delegations::<Runtime>::get(&owner, &delegate)
				.map(|d| DelegationView { remaining: d.remaining, expiry: d.expiry })
		}

		fn last_seq(provider: AccountId) -> u64 {
			pallet_usage_attestation::LastSeq::<Runtime>::get(&provider)
		}
	}

	impl pallet_priority_staking::runtime_api::PriorityStakingApi<Block, AccountId, Balance, BlockNumber> for Runtime {
		fn priority_of(who: AccountId) -> PriorityInfo<Balance, BlockNumber> {
			PriorityStaking::priority_of(&who)
		}

		fn tiers() -> Vec<TierInfo<Balance>> {
			pallet_priority_staking::Tiers::<Runtime>::get().into_inner()
		}
	}

	impl pallet_feedback_rewards::runtime_api::FeedbackRewardsApi<Block, AccountId, Balance, BlockNumber> for Runtime {
		fn pending_rewards(who: AccountId) -> Vec<PendingReward<Balance>> {
			FeedbackRewards::pending_rewards(&who)
		}

		fn epoch_status(epoch: Option<EpochIndex>) -> EpochStatus<Balance, BlockNumber> {
			FeedbackRewards::epoch_status(epoch.unwrap_or_else(FeedbackRewards::current_epoch))
		}
	}

	impl pallet_agent_wallet::runtime_api::AgentWalletApi<Block, AccountId, Balance, BlockNumber, Hash> for Runtime {
		fn address(owner: AccountId, config_hash: Hash, index: Option<u32>) -> AccountId {
			let index = index
				.unwrap_or_else(|| pallet_agent_wallet::NextAgentIndex::<Runtime>::get(&owner));
			AgentWallet::agent_address(&owner, &config_hash, index)
		}

		fn agent(agent: AccountId) -> Option<AgentStatus<AccountId, Balance, BlockNumber, Hash>> {
			AgentWallet::status(&agent)
		}
	}

	#[cfg(feature = "runtime-benchmarks")]
	impl frame_benchmarking::Benchmark<Block> for Runtime {
		fn benchmark_metadata(extra: bool) -> (
			Vec<frame_benchmarking::BenchmarkList>,
			Vec<frame_support::traits::StorageInfo>,
		) {
			use frame_benchmarking::{baseline::Pallet as BaselineBench, BenchmarkList};
			use frame_support::traits::StorageInfoTrait;
			use frame_system_benchmarking::{
				extensions::Pallet as SystemExtensionsBench, Pallet as SystemBench,
			};
			use super::*;

			let mut list = Vec::<BenchmarkList>::new();
			list_benchmarks!(list, extra);
			let storage_info = AllPalletsWithSystem::storage_info();
			(list, storage_info)
		}

		fn dispatch_benchmark(
			config: frame_benchmarking::BenchmarkConfig,
		) -> Result<Vec<frame_benchmarking::BenchmarkBatch>, alloc::string::String> {
			use frame_benchmarking::{baseline::Pallet as BaselineBench, BenchmarkBatch};
			use frame_support::traits::{TrackedStorageKey, WhitelistedStorageKeys};
			use frame_system_benchmarking::{
				extensions::Pallet as SystemExtensionsBench, Pallet as SystemBench,
			};
			use super::*;

			let whitelist: Vec<TrackedStorageKey> = AllPalletsWithSystem::whitelisted_storage_keys();
			let mut batches = Vec::<BenchmarkBatch>::new();
			let params = (&config, &whitelist);
			add_benchmarks!(params, batches);
			Ok(batches)
		}
	}

	/// `try-runtime` (built with `--features try-runtime`): runs the migrations and every
	/// pallet's `try_state` against a live chain's state, e.g. with the `try-runtime` CLI's
	/// `on-runtime-upgrade` and `execute-block` commands. A failed check panics, which is how
	/// this API reports failures to the CLI.
	#[cfg(feature = "try-runtime")]
	impl frame_try_runtime::TryRuntime<Block> for Runtime {
		fn on_runtime_upgrade(checks: frame_try_runtime::UpgradeCheckSelect) -> (Weight, Weight) {
			match Executive::try_runtime_upgrade(checks) {
				Ok(weight) => (weight, super::configs::RuntimeBlockWeights::get().max_block),
				Err(e) => panic!("try-runtime: the runtime upgrade failed its checks: {e:?}"),
			}
		}

		fn execute_block(
			block: <Block as BlockT>::LazyBlock,
			state_root_check: bool,
			signature_check: bool,
			select: frame_try_runtime::TryStateSelect,
		) -> Weight {
			match Executive::try_execute_block(block, state_root_check, signature_check, select) {
				Ok(weight) => weight,
				Err(e) => panic!("try-runtime: executing the block failed: {e:?}"),
			}
		}
	}

	impl sp_genesis_builder::GenesisBuilder<Block> for Runtime {
		fn build_state(config: Vec<u8>) -> sp_genesis_builder::Result {
			build_state::<RuntimeGenesisConfig>(config)
		}

		fn get_preset(id: &Option<sp_genesis_builder::PresetId>) -> Option<Vec<u8>> {
			get_preset::<RuntimeGenesisConfig>(id, crate::genesis_config_presets::get_preset)
		}

		fn preset_names() -> Vec<sp_genesis_builder::PresetId> {
			crate::genesis_config_presets::preset_names()
		}
	}
}
