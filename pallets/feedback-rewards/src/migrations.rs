//! Storage migrations of the feedback rewards pallet: versioned migrations the runtime lists
//! in its `Migrations`, each run only from the on-chain storage version it migrates from.
//!
//! - `V1ToV2`: scoring by stake with commit–reveal. Validators keep their bond and count from
//!   epoch 0; feedback still open keeps its place with no scores (the old scores were public
//!   and counted by head, so they are dropped; validators commit again); feedback of closed
//!   epochs (which could only be reaped) is removed, its bond comes back with the claim as
//!   before; epochs count as finalised what is no longer stored.

use crate::{
	pallet::{Epochs, Feedbacks, Validators},
	Config, EpochIndex, EpochInfo, Feedback, FeedbackKind, ModelId, Pallet, Score, ValidatorInfo,
};
use alloc::collections::BTreeMap;
use codec::{Decode, Encode};
use frame_support::{
	pallet_prelude::BoundedVec,
	traits::{Get, UncheckedOnRuntimeUpgrade},
	weights::Weight,
};
use sp_runtime::Saturating;

/// From storage version 1 to 2; see the module's documentation.
pub type V1ToV2<T> = frame_support::migrations::VersionedMigration<
	1,
	2,
	CommitReveal<T>,
	Pallet<T>,
	<T as frame_system::Config>::DbWeight,
>;

/// A feedback as version 1 stored it.
#[derive(Encode, Decode)]
pub struct FeedbackV1<AccountId, Balance, Hash> {
	/// Who submitted it.
	pub annotator: AccountId,
	/// Its epoch.
	pub epoch: EpochIndex,
	/// The model.
	pub model: ModelId,
	/// The output's hash.
	pub output_hash: Hash,
	/// What kind.
	pub kind: FeedbackKind,
	/// The content's hash.
	pub payload_hash: Hash,
	/// The bond.
	pub bond: Balance,
	/// Scores so far (at most the old quorum).
	pub scores: alloc::vec::Vec<(AccountId, Score)>,
}

/// An epoch as version 1 stored it.
#[derive(Encode, Decode)]
pub struct EpochInfoV1<Balance> {
	/// Feedback submitted.
	pub feedback: u32,
	/// Annotators' points.
	pub points: u64,
	/// Validators' points.
	pub validator_points: u64,
	/// Accounts not claimed.
	pub unclaimed_accounts: u32,
	/// Closed.
	pub closed: bool,
	/// Annotators' budget.
	pub annotator_budget: Balance,
	/// Validators' budget.
	pub validator_budget: Balance,
	/// Claimed.
	pub claimed: Balance,
}

/// A validator as version 1 stored it.
#[derive(Encode, Decode)]
pub struct ValidatorInfoV1<Balance, BlockNumber> {
	/// The bond.
	pub bond: Balance,
	/// Its last score.
	pub last_active: BlockNumber,
}

/// The inner step of [`V1ToV2`].
pub struct CommitReveal<T>(core::marker::PhantomData<T>);

impl<T: Config> UncheckedOnRuntimeUpgrade for CommitReveal<T> {
	fn on_runtime_upgrade() -> Weight {
		let mut ops = 0u64;
		// Whether each stored epoch is closed, read in the old layout; an epoch without a
		// record was closed and fully claimed.
		let closed_epochs: BTreeMap<EpochIndex, bool> = Epochs::<T>::iter_keys()
			.map(|epoch| {
				let info = frame_support::storage::unhashed::get::<EpochInfoV1<crate::BalanceOf<T>>>(
					&Epochs::<T>::hashed_key_for(epoch),
				);
				(epoch, info.is_none_or(|info| info.closed))
			})
			.collect();
		let closed = |epoch: EpochIndex| closed_epochs.get(&epoch).copied().unwrap_or(true);
		// Feedback still stored, per epoch, after dropping that of closed epochs.
		let mut open: BTreeMap<EpochIndex, u32> = BTreeMap::new();
		Feedbacks::<T>::translate::<FeedbackV1<T::AccountId, crate::BalanceOf<T>, T::Hash>, _>(
			|_, old| {
				ops.saturating_inc();
				if closed(old.epoch) {
					return None;
				}
				open.entry(old.epoch).or_default().saturating_inc();
				Some(Feedback {
					annotator: old.annotator,
					epoch: old.epoch,
					model: old.model,
					output_hash: old.output_hash,
					kind: old.kind,
					payload_hash: old.payload_hash,
					bond: old.bond,
					scores: BoundedVec::new(),
				})
			},
		);
		Epochs::<T>::translate::<EpochInfoV1<crate::BalanceOf<T>>, _>(|epoch, old| {
			ops.saturating_inc();
			let stored = open.get(&epoch).copied().unwrap_or_default();
			Some(EpochInfo {
				feedback: old.feedback,
				finalised: old.feedback.saturating_sub(stored),
				points: old.points,
				validator_points: old.validator_points,
				unclaimed_accounts: old.unclaimed_accounts,
				closed: old.closed,
				annotator_budget: old.annotator_budget,
				validator_budget: old.validator_budget,
				claimed: old.claimed,
			})
		});
		Validators::<T>::translate::<
			ValidatorInfoV1<crate::BalanceOf<T>, frame_system::pallet_prelude::BlockNumberFor<T>>,
			_,
		>(|_, old| {
			ops.saturating_inc();
			Some(ValidatorInfo { bond: old.bond, active_from: 0, pending: 0, misses: 0 })
		});
		T::DbWeight::get().reads_writes(ops.saturating_mul(2), ops)
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::mock::{new_test_ext, Test};
	use frame_support::traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion};

	#[test]
	fn v1_to_v2_keeps_validators_and_open_feedback_and_drops_old_scores() {
		new_test_ext().execute_with(|| {
			assert_eq!(Pallet::<Test>::in_code_storage_version(), StorageVersion::new(2));
			StorageVersion::new(1).put::<Pallet<Test>>();
			let put = |key: alloc::vec::Vec<u8>, value: alloc::vec::Vec<u8>| {
				frame_support::storage::unhashed::put_raw(&key, &value)
			};
			let epoch = |feedback, closed| EpochInfoV1::<u128> {
				feedback,
				points: 0,
				validator_points: 0,
				unclaimed_accounts: 0,
				closed,
				annotator_budget: 0,
				validator_budget: 0,
				claimed: 0,
			};
			put(Epochs::<Test>::hashed_key_for(0), epoch(3, true).encode());
			put(Epochs::<Test>::hashed_key_for(1), epoch(2, false).encode());
			let feedback = |epoch| FeedbackV1::<u64, u128, sp_core::H256> {
				annotator: 1,
				epoch,
				model: 1,
				output_hash: Default::default(),
				kind: FeedbackKind::Rating,
				payload_hash: Default::default(),
				bond: 100,
				scores: alloc::vec![(11, 90)],
			};
			put(Feedbacks::<Test>::hashed_key_for(4), feedback(0).encode());
			put(Feedbacks::<Test>::hashed_key_for(5), feedback(1).encode());
			put(
				Validators::<Test>::hashed_key_for(11),
				ValidatorInfoV1::<u128, u32> { bond: 1_000, last_active: 3 }.encode(),
			);
			V1ToV2::<Test>::on_runtime_upgrade();
			assert_eq!(Pallet::<Test>::on_chain_storage_version(), StorageVersion::new(2));
			// Feedback of the closed epoch is gone; the open one's is kept without scores.
			assert!(Feedbacks::<Test>::get(4).is_none());
			let Some(kept) = Feedbacks::<Test>::get(5) else {
				panic!("open feedback was not kept")
			};
			assert!(kept.scores.is_empty());
			assert_eq!(Epochs::<Test>::get(0).map(|i| (i.feedback, i.finalised)), Some((3, 3)));
			assert_eq!(Epochs::<Test>::get(1).map(|i| (i.feedback, i.finalised)), Some((2, 1)));
			assert_eq!(
				Validators::<Test>::get(11),
				Some(ValidatorInfo { bond: 1_000, active_from: 0, pending: 0, misses: 0 })
			);
		});
	}
}
