//! Records the pallet stores and reports, and their `*Of<T>` aliases.

use crate::Config;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use frame_support::{
	pallet_prelude::BoundedVec,
	traits::{fungible::Inspect, Get},
	Deserialize, Serialize,
};
use frame_system::pallet_prelude::BlockNumberFor;
use scale_info::TypeInfo;
use sp_runtime::traits::{Saturating, Zero};

pub use tokenmeter_primitives::Tier;

/// The balance type of the staked currency.
pub type BalanceOf<T> =
	<<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;
/// A tier's definition.
pub type TierInfoOf<T> = TierInfo<BalanceOf<T>>;
/// The tiers, lowest first.
pub type TiersOf<T> = BoundedVec<TierInfoOf<T>, <T as Config>::MaxTiers>;
/// The periods the pallet works with.
pub type StakingParamsOf<T> = StakingParams<BlockNumberFor<T>>;
/// A staker's ledger.
pub type StakeLedgerOf<T> = StakeLedger<BalanceOf<T>, BlockNumberFor<T>, <T as Config>::MaxChunks>;
/// An amount that becomes effective, or is released, at a block.
pub type ChunkOf<T> = Chunk<BalanceOf<T>, BlockNumberFor<T>>;
/// What the runtime API reports of an account.
pub type PriorityInfoOf<T> = PriorityInfo<BalanceOf<T>, BlockNumberFor<T>>;

/// Numbers epochs, the periods free allowances are granted for.
pub type EpochIndex = u32;

/// One tier: what it takes and what it gives.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Serialize,
	Deserialize,
)]
#[serde(crate = "frame_support::__private::serde", rename_all = "camelCase")]
pub struct TierInfo<Balance> {
	/// The least effective stake that reaches the tier.
	pub min_stake: Balance,
	/// How far ahead of lower tiers the gateway's queue serves the staker (higher first).
	pub priority_weight: u32,
	/// Requests per minute the gateway accepts from the staker.
	pub rate_limit: u32,
	/// Credits the tier pays for, per epoch, before the staker's own credits.
	pub free_allowance: Balance,
}

/// The periods, in blocks, set at genesis and by root.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Serialize,
	Deserialize,
)]
#[serde(crate = "frame_support::__private::serde", rename_all = "camelCase")]
pub struct StakingParams<BlockNumber> {
	/// How long new stake waits before it counts toward the tier.
	pub warm_up: BlockNumber,
	/// How long unstaked funds stay frozen before they can be withdrawn.
	pub unbonding_period: BlockNumber,
	/// How long an epoch lasts; free allowances renew every epoch. Never zero.
	pub epoch_length: BlockNumber,
}

/// An amount that becomes effective (warm-up) or is released (unbonding) at block `at`.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
)]
pub struct Chunk<Balance, BlockNumber> {
	/// The amount.
	pub amount: Balance,
	/// The block from which it counts, or can be withdrawn.
	pub at: BlockNumber,
}

/// A staker's stake. Everything in it stays frozen in the staker's account until withdrawn.
#[derive(Encode, Decode, MaxEncodedLen, TypeInfo, Clone, PartialEq, Eq, Debug)]
#[scale_info(skip_type_params(MaxChunks))]
#[codec(mel_bound(Balance: MaxEncodedLen, BlockNumber: MaxEncodedLen))]
pub struct StakeLedger<Balance, BlockNumber, MaxChunks: Get<u32>> {
	/// Stake that has finished warming up.
	pub active: Balance,
	/// New stake still warming up, oldest first; it counts from each chunk's block.
	pub warming: BoundedVec<Chunk<Balance, BlockNumber>, MaxChunks>,
	/// Unstaked amounts waiting out the unbonding period, oldest first.
	pub unbonding: BoundedVec<Chunk<Balance, BlockNumber>, MaxChunks>,
	/// The epoch `allowance_used` belongs to.
	pub allowance_epoch: EpochIndex,
	/// The free allowance spent in `allowance_epoch`.
	pub allowance_used: Balance,
}

impl<Balance, BlockNumber, MaxChunks> StakeLedger<Balance, BlockNumber, MaxChunks>
where
	Balance: Saturating + Zero + Copy,
	BlockNumber: PartialOrd + Copy,
	MaxChunks: Get<u32>,
{
	/// An empty ledger.
	pub fn new() -> Self {
		Self {
			active: Zero::zero(),
			warming: BoundedVec::new(),
			unbonding: BoundedVec::new(),
			allowance_epoch: 0,
			allowance_used: Zero::zero(),
		}
	}

	/// Stake still warming up at `now`.
	pub fn warming_at(&self, now: BlockNumber) -> Balance {
		self.warming
			.iter()
			.filter(|c| c.at > now)
			.fold(Zero::zero(), |sum: Balance, c| sum.saturating_add(c.amount))
	}

	/// Stake that counts toward the tier at `now`: active stake and chunks that finished
	/// warming up. Unbonding stake never counts.
	pub fn effective_at(&self, now: BlockNumber) -> Balance {
		self.warming
			.iter()
			.filter(|c| c.at <= now)
			.fold(self.active, |sum, c| sum.saturating_add(c.amount))
	}

	/// Staked and not unstaked: active plus warming.
	pub fn bonded(&self) -> Balance {
		self.warming.iter().fold(self.active, |sum, c| sum.saturating_add(c.amount))
	}

	/// Waiting out the unbonding period (released or not).
	pub fn unbonding_total(&self) -> Balance {
		self.unbonding.iter().fold(Zero::zero(), |sum: Balance, c| sum.saturating_add(c.amount))
	}

	/// Everything the ledger keeps frozen.
	pub fn total(&self) -> Balance {
		self.bonded().saturating_add(self.unbonding_total())
	}

	/// Moves chunks that finished warming up into `active`, freeing their slots.
	pub fn settle_warm_up(&mut self, now: BlockNumber) {
		let matured = take_matured(&mut self.warming, now);
		self.active = self.active.saturating_add(matured);
	}

	/// Removes the unbonding chunks whose period has passed and returns their sum.
	pub fn take_unbonded(&mut self, now: BlockNumber) -> Balance {
		take_matured(&mut self.unbonding, now)
	}

	/// Adds `amount` warming up until `at`.
	pub fn add_warming(&mut self, amount: Balance, at: BlockNumber) -> Result<(), ChunksFull> {
		add_chunk(&mut self.warming, amount, at)
	}

	/// Adds `amount` unbonding until `at`.
	pub fn add_unbonding(&mut self, amount: Balance, at: BlockNumber) -> Result<(), ChunksFull> {
		add_chunk(&mut self.unbonding, amount, at)
	}
}

/// Every chunk of the kind is taken (`MaxChunks`); the call fails with `TooManyChunks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunksFull;

/// Adds `amount` due at `at` to `chunks`, which stay ordered by block: a chunk due at the same
/// block grows, otherwise a new chunk goes in its place. Root may shorten the warm-up or the
/// unbonding period, so a new chunk can be due before older ones.
fn add_chunk<Balance, BlockNumber, S>(
	chunks: &mut BoundedVec<Chunk<Balance, BlockNumber>, S>,
	amount: Balance,
	at: BlockNumber,
) -> Result<(), ChunksFull>
where
	Balance: Saturating + Copy,
	BlockNumber: PartialOrd + Copy,
	S: Get<u32>,
{
	let Some(index) = chunks.iter().position(|c| c.at >= at) else {
		return chunks.try_push(Chunk { amount, at }).map_err(|_| ChunksFull);
	};
	match chunks.get_mut(index) {
		Some(chunk) if chunk.at == at => {
			chunk.amount = chunk.amount.saturating_add(amount);
			Ok(())
		}
		_ => chunks.try_insert(index, Chunk { amount, at }).map_err(|_| ChunksFull),
	}
}

/// Removes the chunks due at or before `now` and returns their sum.
fn take_matured<Balance, BlockNumber, S>(
	chunks: &mut BoundedVec<Chunk<Balance, BlockNumber>, S>,
	now: BlockNumber,
) -> Balance
where
	Balance: Saturating + Zero + Copy,
	BlockNumber: PartialOrd + Copy,
{
	let mut matured: Balance = Zero::zero();
	chunks.retain(|c| {
		let due = c.at <= now;
		if due {
			matured = matured.saturating_add(c.amount);
		}
		!due
	});
	matured
}

impl<Balance, BlockNumber, MaxChunks> Default for StakeLedger<Balance, BlockNumber, MaxChunks>
where
	Balance: Saturating + Zero + Copy,
	BlockNumber: PartialOrd + Copy,
	MaxChunks: Get<u32>,
{
	fn default() -> Self {
		Self::new()
	}
}

/// Everything a gateway or wallet needs to know about an account's priority.
#[derive(Encode, Decode, DecodeWithMemTracking, TypeInfo, Clone, PartialEq, Eq, Debug)]
pub struct PriorityInfo<Balance, BlockNumber> {
	/// The tier (0: none).
	pub tier: Tier,
	/// Its priority weight (0 without a tier).
	pub priority_weight: u32,
	/// Requests per minute the gateway accepts.
	pub rate_limit: u32,
	/// Stake that counts toward the tier now.
	pub effective_stake: Balance,
	/// Stake still warming up.
	pub warming_up: Balance,
	/// When each warming chunk starts to count.
	pub warming_chunks: alloc::vec::Vec<Chunk<Balance, BlockNumber>>,
	/// Unstaked amounts and when each can be withdrawn.
	pub unbonding: alloc::vec::Vec<Chunk<Balance, BlockNumber>>,
	/// Free allowance left in the current epoch.
	pub allowance_left: Balance,
	/// The current epoch.
	pub epoch: EpochIndex,
	/// The first block of the next epoch, when the allowance renews.
	pub next_epoch_at: BlockNumber,
}
