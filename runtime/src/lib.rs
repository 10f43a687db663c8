//! # Tokenmeter runtime
//!
//! The FRAME runtime of Tokenmeter, a standalone chain for the AI token economy. This crate
//! composes the pallets (see [`Runtime`]), declares the chain's types and constants, exposes
//! the runtime APIs (`apis.rs`) and the genesis presets (`genesis_config_presets.rs`).
//!
//! Block production is Aura with 6 s slots, finality is GRANDPA. The native token is TMT
//! with 12 decimals ([`UNIT`]).

#![cfg_attr(not(feature = "std"), no_std)]
// Runtime code never panics and never overflows silently (tests and mocks are exempt):
// checked or saturating arithmetic, `get` instead of indexing, errors instead of unwraps.
#![cfg_attr(
	not(test),
	deny(
		clippy::arithmetic_side_effects,
		clippy::unwrap_used,
		clippy::expect_used,
		clippy::indexing_slicing
	)
)]
// `construct_runtime`-style macros expand to large items.
#![recursion_limit = "256"]

#[cfg(feature = "std")]
include!(concat!(env!("OUT_DIR"), "/wasm_binary.rs"));

extern crate alloc;

pub mod apis;
#[cfg(feature = "runtime-benchmarks")]
mod benchmarks;
pub mod configs;
pub mod gateway;
pub mod genesis_config_presets;
pub mod invariants;
pub mod weights;

use alloc::vec::Vec;
use sp_runtime::{
	generic, impl_opaque_keys,
	traits::{BlakeTwo256, IdentifyAccount, Verify},
	MultiAddress, MultiSignature,
};
use sp_version::{runtime_version, RuntimeVersion};

pub use frame_system::Call as SystemCall;
pub use pallet_balances::Call as BalancesCall;
pub use pallet_timestamp::Call as TimestampCall;
#[cfg(any(feature = "std", test))]
pub use sp_runtime::BuildStorage;

/// Opaque types: what the node needs to know of blocks without knowing the runtime's types.
pub mod opaque {
	use super::*;
	use sp_runtime::generic;

	pub use sp_runtime::OpaqueExtrinsic as UncheckedExtrinsic;

	/// Opaque block header type.
	pub type Header = generic::Header<BlockNumber, BlakeTwo256>;
	/// Opaque block type.
	pub type Block = generic::Block<Header, UncheckedExtrinsic>;
	/// Opaque block identifier type.
	pub type BlockId = generic::BlockId<Block>;

	impl_opaque_keys! {
		/// The session keys of a validator: Aura for authoring, GRANDPA for finality.
		pub struct SessionKeys {
			/// Block authoring key.
			pub aura: Aura,
			/// Finality voting key.
			pub grandpa: Grandpa,
		}
	}
}

/// The runtime's version. `spec_version` must be bumped on every runtime change that is
/// deployed to a live network.
#[runtime_version]
pub const VERSION: RuntimeVersion = RuntimeVersion {
	spec_name: alloc::borrow::Cow::Borrowed("tokenmeter"),
	impl_name: alloc::borrow::Cow::Borrowed("tokenmeter-node"),
	authoring_version: 1,
	spec_version: 114,
	impl_version: 1,
	apis: apis::RUNTIME_API_VERSIONS,
	transaction_version: 1,
	system_version: 1,
};

/// Target block time. Blocks are produced at most this often; Aura slots have this length.
pub const MILLISECS_PER_BLOCK: u64 = 6000;
/// Aura slot duration. It cannot be changed once the chain has started.
pub const SLOT_DURATION: u64 = MILLISECS_PER_BLOCK;

/// Blocks per minute.
pub const MINUTES: BlockNumber = 60_000 / (MILLISECS_PER_BLOCK as BlockNumber);
/// Blocks per hour.
pub const HOURS: BlockNumber = MINUTES * 60;
/// Blocks per day.
pub const DAYS: BlockNumber = HOURS * 24;

/// One TMT: the token has 12 decimals.
pub const UNIT: Balance = 1_000_000_000_000;
/// 10⁻³ TMT.
pub const MILLI_UNIT: Balance = 1_000_000_000;
/// 10⁻⁶ TMT.
pub const MICRO_UNIT: Balance = 1_000_000;
/// The smallest balance an account may hold: 1 milli-TMT.
pub const EXISTENTIAL_DEPOSIT: Balance = MILLI_UNIT;
/// The token symbol wallets show.
pub const TOKEN_SYMBOL: &str = "TMT";
/// The token's decimals.
pub const TOKEN_DECIMALS: u8 = 12;
/// The SS58 address format (42: generic Substrate).
pub const SS58_FORMAT: u16 = 42;

/// A block number.
pub type BlockNumber = u32;
/// A transaction signature: sr25519, ed25519 or ecdsa.
pub type Signature = MultiSignature;
/// An account id: the public key of the signature scheme.
pub type AccountId = <<Signature as Verify>::Signer as IdentifyAccount>::AccountId;
/// A balance, in the smallest unit (10⁻¹² TMT).
pub type Balance = u128;
/// The number of transactions an account has sent.
pub type Nonce = u32;
/// A hash of some data used by the chain.
pub type Hash = sp_core::H256;

/// The address format for describing accounts.
pub type Address = MultiAddress<AccountId, ()>;
/// Block header type as expected by this runtime.
pub type Header = generic::Header<BlockNumber, BlakeTwo256>;
/// Block type as expected by this runtime.
pub type Block = generic::Block<Header, UncheckedExtrinsic>;
/// A block with its justifications.
pub type SignedBlock = generic::SignedBlock<Block>;
/// An identifier of a block.
pub type BlockId = generic::BlockId<Block>;

/// The transaction extensions, checked in this order for every signed transaction.
pub type TxExtension = (
	frame_system::AuthorizeCall<Runtime>,
	frame_system::CheckNonZeroSender<Runtime>,
	frame_system::CheckSpecVersion<Runtime>,
	frame_system::CheckTxVersion<Runtime>,
	frame_system::CheckGenesis<Runtime>,
	frame_system::CheckEra<Runtime>,
	frame_system::CheckNonce<Runtime>,
	frame_system::CheckWeight<Runtime>,
	pallet_transaction_payment::ChargeTransactionPayment<Runtime>,
	frame_system::WeightReclaim<Runtime>,
);

/// The extensions of a signed transaction from `nonce` with `era` and `tip` (for off-chain
/// workers and tools that sign transactions in Rust).
pub fn tx_extension(nonce: Nonce, era: sp_runtime::generic::Era, tip: Balance) -> TxExtension {
	(
		frame_system::AuthorizeCall::<Runtime>::new(),
		frame_system::CheckNonZeroSender::<Runtime>::new(),
		frame_system::CheckSpecVersion::<Runtime>::new(),
		frame_system::CheckTxVersion::<Runtime>::new(),
		frame_system::CheckGenesis::<Runtime>::new(),
		frame_system::CheckEra::<Runtime>::from(era),
		frame_system::CheckNonce::<Runtime>::from(nonce),
		frame_system::CheckWeight::<Runtime>::new(),
		pallet_transaction_payment::ChargeTransactionPayment::<Runtime>::from(tip),
		frame_system::WeightReclaim::<Runtime>::new(),
	)
}

/// Unchecked extrinsic type as expected by this runtime.
pub type UncheckedExtrinsic =
	generic::UncheckedExtrinsic<Address, RuntimeCall, Signature, TxExtension>;
/// The payload being signed in transactions.
pub type SignedPayload = generic::SignedPayload<RuntimeCall, TxExtension>;

/// The storage migrations run at a runtime upgrade, oldest first: layout changes, and state
/// that a change of rules left short (the agent wallet's deposits).
/// Each is a `VersionedMigration`: it runs only when its pallet's on-chain storage version is
/// the one it migrates from, so on a chain already at the in-code versions each costs one
/// read and changes nothing (see docs/security.md).
pub type Migrations = (
	pallet_inference_credits::migrations::V1ToV2<Runtime>,
	pallet_inference_credits::migrations::V2ToV3<Runtime>,
	pallet_feedback_rewards::migrations::V1ToV2<Runtime>,
	pallet_agent_wallet::migrations::V1ToV2<Runtime>,
);

/// Executive: dispatches to the pallets and runs their hooks.
pub type Executive = frame_executive::Executive<
	Runtime,
	Block,
	frame_system::ChainContext<Runtime>,
	Runtime,
	AllPalletsWithSystem,
	Migrations,
>;

/// The runtime: the pallets with explicit, stable indices. Never renumber a pallet on a
/// live network; add new ones with new indices.
#[frame_support::runtime]
mod runtime {
	/// The Tokenmeter runtime.
	#[runtime::runtime]
	#[runtime::derive(
		RuntimeCall,
		RuntimeEvent,
		RuntimeError,
		RuntimeOrigin,
		RuntimeFreezeReason,
		RuntimeHoldReason,
		RuntimeSlashReason,
		RuntimeLockId,
		RuntimeTask,
		RuntimeViewFunction
	)]
	pub struct Runtime;

	/// Accounts, blocks, events.
	#[runtime::pallet_index(0)]
	pub type System = frame_system;

	/// Block timestamps.
	#[runtime::pallet_index(1)]
	pub type Timestamp = pallet_timestamp;

	/// Aura block production.
	#[runtime::pallet_index(2)]
	pub type Aura = pallet_aura;

	/// GRANDPA finality.
	#[runtime::pallet_index(3)]
	pub type Grandpa = pallet_grandpa;

	/// TMT balances, with holds and freezes.
	#[runtime::pallet_index(4)]
	pub type Balances = pallet_balances;

	/// Transaction fees.
	#[runtime::pallet_index(5)]
	pub type TransactionPayment = pallet_transaction_payment;

	/// Root access on development and local chains; the `testnet` preset has no sudo key.
	#[runtime::pallet_index(6)]
	pub type Sudo = pallet_sudo;

	/// Batches of calls (for agents too, whose batches are measured as one payment).
	#[runtime::pallet_index(7)]
	pub type Utility = pallet_utility;

	/// The validator set, changed by Root (sudo, or a `root` referendum on the testnet); handed
	/// to the session pallet. Declared before
	/// `Session`, whose genesis reads it.
	#[runtime::pallet_index(8)]
	pub type ValidatorSet = pallet_validator_set;

	/// Sessions: validators' session keys (Aura, GRANDPA) and set changes every 10 blocks.
	#[runtime::pallet_index(9)]
	pub type Session = pallet_session;

	/// Token-gated inference: providers, models, credits, vouchers, settlement.
	#[runtime::pallet_index(10)]
	pub type InferenceCredits = pallet_inference_credits;

	/// Priority staking: stake for a tier with priority, rate limits and a free allowance.
	#[runtime::pallet_index(11)]
	pub type PriorityStaking = pallet_priority_staking;

	/// Agent wallets: keyless accounts with spending limits, cosigning and a kill switch.
	#[runtime::pallet_index(12)]
	pub type AgentWallet = pallet_agent_wallet;

	/// Feedback rewards: bonded feedback, validators' median scores, rewards per point.
	#[runtime::pallet_index(13)]
	pub type FeedbackRewards = pallet_feedback_rewards;

	/// Usage attestation: providers' operator keys attest served usage, settled from credits.
	#[runtime::pallet_index(14)]
	pub type UsageAttestation = pallet_usage_attestation;

	/// Preimages of the calls referenda propose (docs/governance.md).
	#[runtime::pallet_index(15)]
	pub type Preimage = pallet_preimage;

	/// The scheduler that enacts referenda.
	#[runtime::pallet_index(16)]
	pub type Scheduler = pallet_scheduler;

	/// Conviction voting: TMT holders vote on referenda, staked TMT too.
	#[runtime::pallet_index(17)]
	pub type ConvictionVoting = pallet_conviction_voting;

	/// Referenda on tracks: root, parameters, treasurer.
	#[runtime::pallet_index(18)]
	pub type Referenda = pallet_referenda;

	/// The origins of the parameters and treasurer tracks.
	#[runtime::pallet_index(19)]
	pub type Origins = crate::configs::governance::pallet_custom_origins;

	/// The treasury: funded by a share of the protocol fee, spent by referenda.
	#[runtime::pallet_index(20)]
	pub type Treasury = pallet_treasury;

	/// Bounties from the treasury, paid out by curators (bug reports, moderation).
	#[runtime::pallet_index(21)]
	pub type Bounties = pallet_bounties;

	/// Runtime parameters set by referenda on the parameters track: the protocol fee and the
	/// treasury's share of it.
	#[runtime::pallet_index(22)]
	pub type Parameters = pallet_parameters;
}
