//! Benchmarks of every call and of spending a free allowance, each in its worst case.

// Benchmarks build their worst cases with plain arithmetic and unwraps: they run only in the
// benchmarking build, never in the chain's runtime, and a failed set-up must stop them.
#![allow(
	clippy::arithmetic_side_effects,
	clippy::unwrap_used,
	clippy::expect_used,
	clippy::indexing_slicing
)]

use super::*;
use crate::Pallet as PriorityStaking;
use alloc::vec::Vec;
use frame_benchmarking::v2::*;
use frame_support::traits::{
	fungible::{Inspect, Mutate},
	EnsureOrigin, Get,
};
use frame_system::RawOrigin;
use sp_runtime::traits::Saturating;

fn min_stake<T: Config>() -> BalanceOf<T> {
	T::MinStake::get()
}

/// A large balance: a million minimum stakes (and existential deposits).
fn plenty<T: Config>() -> BalanceOf<T> {
	min_stake::<T>().max(T::Currency::minimum_balance()).saturating_mul(1_000_000u32.into())
}

fn funded_staker<T: Config>() -> T::AccountId {
	let who: T::AccountId = account("staker", 0, 0);
	T::Currency::set_balance(&who, plenty::<T>());
	who
}

fn at_block<T: Config>(n: u32) {
	frame_system::Pallet::<T>::set_block_number(n.into());
}

fn set_periods<T: Config>(warm_up: u32, unbonding: u32) {
	Params::<T>::put(StakingParams {
		warm_up: warm_up.into(),
		unbonding_period: unbonding.into(),
		epoch_length: 100_000u32.into(),
	});
}

/// `n` tiers with minimum stakes 1, 2, … × `MinStake`, each granting a free allowance of ten
/// minimum stakes.
fn tiers<T: Config>(n: u32) -> TiersOf<T> {
	let tiers: Vec<_> = (1..=n)
		.map(|i| TierInfo {
			min_stake: min_stake::<T>().saturating_mul(i.into()),
			priority_weight: i,
			rate_limit: i.saturating_mul(60),
			free_allowance: min_stake::<T>().saturating_mul(10u32.into()),
		})
		.collect();
	TiersOf::<T>::try_from(tiers).unwrap_or_default()
}

#[benchmarks]
mod benchmarks {
	use super::*;

	/// Worst case: the staker already has all but one warming chunk, none matured.
	#[benchmark]
	fn stake() {
		let who = funded_staker::<T>();
		let chunks = T::MaxChunks::get();
		set_periods::<T>(1_000, 1_000);
		for i in 1..chunks {
			at_block::<T>(i);
			assert!(PriorityStaking::<T>::do_stake(who.clone(), min_stake::<T>()).is_ok());
		}
		at_block::<T>(chunks);

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), min_stake::<T>());

		let ledger = Ledgers::<T>::get(&who).unwrap_or_default();
		assert_eq!(ledger.warming.len() as u32, chunks);
	}

	/// Worst case: every warming chunk is consumed and the unbonding chunks are all but full.
	#[benchmark]
	fn unstake() {
		let who = funded_staker::<T>();
		let chunks = T::MaxChunks::get();
		let unit = min_stake::<T>();
		set_periods::<T>(0, 1_000);
		at_block::<T>(1);
		let active = unit.saturating_mul(1_000u32.into());
		assert!(PriorityStaking::<T>::do_stake(who.clone(), active).is_ok());
		for i in 1..chunks {
			at_block::<T>(i);
			assert!(PriorityStaking::<T>::do_unstake(who.clone(), unit).is_ok());
		}
		set_periods::<T>(1_000, 1_000);
		for i in 0..chunks {
			at_block::<T>(chunks + i);
			assert!(PriorityStaking::<T>::do_stake(who.clone(), unit).is_ok());
		}
		at_block::<T>(2 * chunks);
		let amount = unit.saturating_mul((chunks + 1).into());

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), amount);

		let ledger = Ledgers::<T>::get(&who).unwrap_or_default();
		assert!(ledger.warming.is_empty());
		assert_eq!(ledger.unbonding.len() as u32, chunks);
	}

	/// Worst case: every unbonding chunk has matured and the last stake is unfrozen, so the
	/// freeze is removed with the ledger.
	#[benchmark]
	fn withdraw_unbonded() {
		let who = funded_staker::<T>();
		let chunks = T::MaxChunks::get();
		let unit = min_stake::<T>();
		set_periods::<T>(0, 10);
		at_block::<T>(1);
		assert!(
			PriorityStaking::<T>::do_stake(who.clone(), unit.saturating_mul(chunks.into())).is_ok()
		);
		for i in 1..=chunks {
			at_block::<T>(i);
			assert!(PriorityStaking::<T>::do_unstake(who.clone(), unit).is_ok());
		}
		at_block::<T>(chunks + 10);

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));

		assert!(Ledgers::<T>::get(&who).is_none());
	}

	#[benchmark]
	fn set_tiers(n: Linear<1, { T::MaxTiers::get() }>) -> Result<(), BenchmarkError> {
		let new = tiers::<T>(n);
		let origin =
			T::AdminOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, new.clone());

		assert_eq!(Tiers::<T>::get(), new);
		Ok(())
	}

	#[benchmark]
	fn set_params() -> Result<(), BenchmarkError> {
		at_block::<T>(1_000);
		let params = StakingParams {
			warm_up: 5u32.into(),
			unbonding_period: 7u32.into(),
			epoch_length: 11u32.into(),
		};

		let origin =
			T::AdminOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, params);

		assert_eq!(Params::<T>::get(), params);
		Ok(())
	}

	/// A staker whose tier grants an allowance, spent in a new epoch (the record is reset)
	/// with every tier defined, so finding the tier reads the most.
	#[benchmark]
	fn spend_allowance() {
		let who = funded_staker::<T>();
		let provider: T::AccountId = account("provider", 0, 0);
		Tiers::<T>::put(tiers::<T>(T::MaxTiers::get()));
		set_periods::<T>(0, 10);
		at_block::<T>(1);
		let staked = min_stake::<T>().saturating_mul(T::MaxTiers::get().into());
		assert!(PriorityStaking::<T>::do_stake(who.clone(), staked).is_ok());
		let amount = min_stake::<T>();
		let spent: BalanceOf<T>;

		#[block]
		{
			spent = <PriorityStaking<T> as FreeAllowance<_, _>>::spend_allowance(
				&who, &provider, amount,
			);
		}

		assert_eq!(spent, amount);
	}

	impl_benchmark_test_suite!(PriorityStaking, crate::mock::new_test_ext(), crate::mock::Test);
}
