//! Benchmarks of every call, each in its worst case; `close_epoch` over a growing number of
//! annotators, to show that its cost does not depend on them.

// Benchmarks build their worst cases with plain arithmetic and unwraps: they run only in the
// benchmarking build, never in the chain's runtime, and a failed set-up must stop them.
#![allow(
	clippy::arithmetic_side_effects,
	clippy::unwrap_used,
	clippy::expect_used,
	clippy::indexing_slicing
)]

use super::*;
use crate::Pallet as FeedbackRewards;
use alloc::vec::Vec;
use frame_benchmarking::v2::*;
use frame_support::traits::{
	fungible::{Inspect, Mutate},
	Get,
};
use frame_system::RawOrigin;
use sp_runtime::traits::Saturating;

fn funded<T: Config>(name: &'static str, index: u32) -> T::AccountId {
	let who: T::AccountId = account(name, index, 0);
	let plenty = T::FeedbackBond::get()
		.max(T::ValidatorBond::get())
		.max(T::Currency::minimum_balance())
		.saturating_mul(1_000_000u32.into());
	T::Currency::set_balance(&who, plenty);
	who
}

fn fill_pool<T: Config>() {
	let pool = T::RewardPool::get();
	let amount =
		T::Currency::minimum_balance().max(1u32.into()).saturating_mul(1_000_000_000u32.into());
	T::Currency::set_balance(&pool, amount);
}

fn at_block<T: Config>(n: u32) {
	frame_system::Pallet::<T>::set_block_number(n.into());
}

fn epoch_length<T: Config>() -> u32 {
	use sp_runtime::SaturatedConversion;
	Params::<T>::get().epoch_length.saturated_into()
}

fn submit<T: Config>(who: &T::AccountId) -> FeedbackId {
	let id = NextFeedbackId::<T>::get();
	let model = T::BenchmarkHelper::model();
	assert!(FeedbackRewards::<T>::do_submit(
		who.clone(),
		model,
		Default::default(),
		FeedbackKind::Rating,
		Default::default()
	)
	.is_ok());
	id
}

/// `n` registered validators whose stake counts from epoch 0.
fn validators<T: Config>(n: u32) -> Vec<T::AccountId> {
	(0..n)
		.map(|i| {
			let v = funded::<T>("validator", i);
			assert!(FeedbackRewards::<T>::do_register(v.clone(), T::ValidatorBond::get()).is_ok());
			Validators::<T>::mutate(&v, |info| {
				if let Some(info) = info {
					info.active_from = 0;
				}
			});
			v
		})
		.collect()
}

fn salt(i: usize) -> [u8; 32] {
	[i as u8; 32]
}

/// Each of `validators` commits `score` on feedback `id`.
fn commit_all<T: Config>(validators: &[T::AccountId], id: FeedbackId, score: Score) {
	for (i, v) in validators.iter().enumerate() {
		let hash = FeedbackRewards::<T>::commitment(id, v, score, &salt(i));
		assert!(FeedbackRewards::<T>::do_commit(v.clone(), id, hash).is_ok());
	}
}

/// Epochs `0 .. n` each with a feedback of `who` scored 80 by three validators, finalised,
/// and closed.
fn closed_epochs<T: Config>(who: &T::AccountId, n: u32) {
	let validators = validators::<T>(3.min(T::MaxScorers::get()));
	for epoch in 0..n {
		at_block::<T>(epoch.saturating_mul(epoch_length::<T>()).saturating_add(1));
		let id = submit::<T>(who);
		commit_all::<T>(&validators, id, 80);
		frame_system::Pallet::<T>::set_block_number(FeedbackRewards::<T>::reveal_from(epoch));
		for (i, v) in validators.iter().enumerate() {
			assert!(FeedbackRewards::<T>::do_reveal(v.clone(), id, 80, salt(i)).is_ok());
		}
		frame_system::Pallet::<T>::set_block_number(FeedbackRewards::<T>::closable_at(epoch));
		assert!(FeedbackRewards::<T>::do_finalize(id).is_ok());
	}
	let last = FeedbackRewards::<T>::closable_at(n);
	frame_system::Pallet::<T>::set_block_number(last);
	for epoch in 0..n {
		assert!(FeedbackRewards::<T>::do_close(epoch).is_ok());
	}
}

#[benchmarks]
mod benchmarks {
	use super::*;

	/// A new contribution, inserted into an all-but-full list of unclaimed epochs.
	#[benchmark]
	fn submit_feedback() {
		let who = funded::<T>("annotator", 0);
		let max = T::MaxUnclaimedEpochs::get();
		for epoch in 0..max.saturating_sub(1) {
			at_block::<T>(epoch.saturating_mul(epoch_length::<T>()).saturating_add(1));
			submit::<T>(&who);
		}
		at_block::<T>(max.saturating_sub(1).saturating_mul(epoch_length::<T>()).saturating_add(1));
		let model = T::BenchmarkHelper::model();

		#[extrinsic_call]
		_(
			RawOrigin::Signed(who.clone()),
			model,
			Default::default(),
			FeedbackKind::BugReport,
			Default::default(),
		);

		assert_eq!(AccountEpochs::<T>::get(&who).len() as u32, max);
	}

	#[benchmark]
	fn register_validator() {
		let who = funded::<T>("validator", 0);

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), T::ValidatorBond::get());

		assert!(Validators::<T>::contains_key(&who));
	}

	#[benchmark]
	fn deregister_validator() {
		let who = validators::<T>(1).remove(0);

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));

		assert!(!Validators::<T>::contains_key(&who));
	}

	/// A commitment on a full committee with a larger stake, which displaces the smallest
	/// member (the most work a commitment does), with a new contribution for the validator.
	#[benchmark]
	fn commit_score() {
		at_block::<T>(1);
		let annotator = funded::<T>("annotator", 0);
		let id = submit::<T>(&annotator);
		let validators = validators::<T>(T::MaxScorers::get());
		commit_all::<T>(&validators, id, 50);
		let larger = funded::<T>("larger", 0);
		let bond = T::ValidatorBond::get().saturating_mul(2u32.into());
		assert!(FeedbackRewards::<T>::do_register(larger.clone(), bond).is_ok());
		Validators::<T>::mutate(&larger, |info| {
			if let Some(info) = info {
				info.active_from = 0;
			}
		});
		let hash = FeedbackRewards::<T>::commitment(id, &larger, 50, &salt(99));

		#[extrinsic_call]
		_(RawOrigin::Signed(larger.clone()), id, hash);

		let scores = Feedbacks::<T>::get(id).map(|f| f.scores).unwrap_or_default();
		assert_eq!(scores.len() as u32, T::MaxScorers::get());
		assert!(scores.iter().any(|c| c.validator == larger));
	}

	/// The reveal of the last of `MaxScorers` commitments.
	#[benchmark]
	fn reveal_score() {
		at_block::<T>(1);
		let annotator = funded::<T>("annotator", 0);
		let id = submit::<T>(&annotator);
		let validators = validators::<T>(T::MaxScorers::get());
		commit_all::<T>(&validators, id, 50);
		frame_system::Pallet::<T>::set_block_number(FeedbackRewards::<T>::reveal_from(0));
		let last = validators.len() - 1;

		#[extrinsic_call]
		_(RawOrigin::Signed(validators[last].clone()), id, 50, salt(last));

		assert!(Feedbacks::<T>::get(id).is_some_and(|f| f.scores[last].score == Some(50)));
	}

	/// Finalising a feedback with `n` commitments, none revealed by validators that missed
	/// before: every one of them is slashed.
	#[benchmark]
	fn finalize_feedback(n: Linear<1, { T::MaxScorers::get() }>) {
		fill_pool::<T>();
		at_block::<T>(1);
		let annotator = funded::<T>("annotator", 0);
		let id = submit::<T>(&annotator);
		let validators = validators::<T>(n);
		commit_all::<T>(&validators, id, 50);
		for v in &validators {
			Validators::<T>::mutate(v, |info| {
				if let Some(info) = info {
					info.misses = 1;
				}
			});
		}
		frame_system::Pallet::<T>::set_block_number(FeedbackRewards::<T>::closable_at(0));
		let caller = funded::<T>("caller", 0);

		#[extrinsic_call]
		_(RawOrigin::Signed(caller), id);

		assert!(Feedbacks::<T>::get(id).is_none());
		assert!(validators
			.iter()
			.all(|v| Validators::<T>::get(v).is_some_and(|i| i.bond < T::ValidatorBond::get())));
	}

	/// Closing an epoch with `a` annotators' contributions: the cost must not grow with `a`.
	#[benchmark]
	fn close_epoch(a: Linear<1, 1_000>) {
		fill_pool::<T>();
		for i in 0..a {
			let who: T::AccountId = account("annotator", i, 0);
			Contributions::<T>::insert(
				0,
				&who,
				Contribution {
					feedback: 1,
					points: 50,
					bonds: Default::default(),
					validator_points: 2,
				},
			);
		}
		Epochs::<T>::insert(
			0,
			EpochInfo {
				feedback: a,
				finalised: a,
				points: 50u64.saturating_mul(a.into()),
				validator_points: 2u64.saturating_mul(a.into()),
				unclaimed_accounts: a,
				..Default::default()
			},
		);
		frame_system::Pallet::<T>::set_block_number(FeedbackRewards::<T>::closable_at(0));
		let caller = funded::<T>("caller", 0);

		#[extrinsic_call]
		_(RawOrigin::Signed(caller), 0);

		assert!(Epochs::<T>::get(0).is_some_and(|info| info.closed));
	}

	/// An annotator who is also a validator of the epoch claims reward and bonds.
	#[benchmark]
	fn claim() {
		fill_pool::<T>();
		let who = funded::<T>("annotator", 0);
		closed_epochs::<T>(&who, 1);

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), 0);

		assert!(AccountEpochs::<T>::get(&who).is_empty());
	}

	#[benchmark]
	fn claim_many(e: Linear<1, { T::MaxUnclaimedEpochs::get() }>) {
		fill_pool::<T>();
		let who = funded::<T>("annotator", 0);
		closed_epochs::<T>(&who, e);

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), e);

		assert!(AccountEpochs::<T>::get(&who).is_empty());
	}

	#[benchmark]
	fn fund_pool() {
		let who = funded::<T>("funder", 0);
		let amount = T::Currency::minimum_balance().max(1u32.into()).saturating_mul(10u32.into());

		#[extrinsic_call]
		_(RawOrigin::Signed(who), amount);

		assert!(T::Currency::balance(&T::RewardPool::get()) >= amount);
	}

	impl_benchmark_test_suite!(FeedbackRewards, crate::mock::new_test_ext(), crate::mock::Test);
}
