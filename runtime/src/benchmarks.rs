//! The pallets whose benchmarks the runtime exposes (`--features runtime-benchmarks`).

frame_benchmarking::define_benchmarks!(
	[frame_benchmarking, BaselineBench::<Runtime>]
	[frame_system, SystemBench::<Runtime>]
	[frame_system_extensions, SystemExtensionsBench::<Runtime>]
	[pallet_balances, Balances]
	[pallet_timestamp, Timestamp]
	[pallet_sudo, Sudo]
	[pallet_utility, Utility]
	[pallet_transaction_payment, TransactionPayment]
	[pallet_agent_wallet, AgentWallet]
	[pallet_feedback_rewards, FeedbackRewards]
	[pallet_inference_credits, InferenceCredits]
	[pallet_priority_staking, PriorityStaking]
	[pallet_usage_attestation, UsageAttestation]
	[pallet_validator_set, ValidatorSet]
	[pallet_preimage, Preimage]
	[pallet_scheduler, Scheduler]
	[pallet_conviction_voting, ConvictionVoting]
	[pallet_referenda, Referenda]
	[pallet_treasury, Treasury]
	[pallet_bounties, Bounties]
	[pallet_parameters, Parameters]
);

impl frame_system_benchmarking::Config for crate::Runtime {}
impl frame_benchmarking::baseline::Config for crate::Runtime {}
impl pallet_transaction_payment::BenchmarkConfig for crate::Runtime {}
