//! Benchmarks: each call on a set one short of full (`add_validator`) or full
//! (`remove_validator`, removing the last), the worst cases of their scans.

// Benchmarks build their worst cases with plain arithmetic and unwraps: they run only in the
// benchmarking build, never in the chain's runtime, and a failed set-up must stop them.
#![allow(
	clippy::arithmetic_side_effects,
	clippy::unwrap_used,
	clippy::expect_used,
	clippy::indexing_slicing
)]

use super::*;
use crate::pallet::{Changed, Validators};
use frame_benchmarking::v2::*;
use frame_support::traits::Get;

/// `n` validators with session keys.
fn fill<T: Config>(n: u32) -> alloc::vec::Vec<T::AccountId> {
	let validators: alloc::vec::Vec<T::AccountId> =
		(0..n).map(|i| account("validator", i, 0)).collect();
	for v in &validators {
		T::BenchmarkHelper::register_keys(v);
	}
	Validators::<T>::put(
		frame_support::BoundedVec::try_from(validators.clone()).unwrap_or_default(),
	);
	validators
}

#[benchmarks(where T::AdminOrigin: EnsureOrigin<T::RuntimeOrigin, Success = ()>)]
mod benchmarks {
	use super::*;
	use frame_support::traits::EnsureOrigin;

	#[benchmark]
	fn add_validator() -> Result<(), BenchmarkError> {
		fill::<T>(T::MaxValidators::get() - 1);
		let who: T::AccountId = account("new", 0, 0);
		T::BenchmarkHelper::register_keys(&who);
		let origin =
			T::AdminOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;

		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, who.clone());

		assert!(Validators::<T>::get().contains(&who));
		assert!(Changed::<T>::get());
		Ok(())
	}

	#[benchmark]
	fn remove_validator() -> Result<(), BenchmarkError> {
		let validators = fill::<T>(T::MaxValidators::get());
		let who = validators.last().cloned().ok_or(BenchmarkError::Weightless)?;
		let origin =
			T::AdminOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;

		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, who.clone());

		assert!(!Validators::<T>::get().contains(&who));
		Ok(())
	}

	impl_benchmark_test_suite!(Pallet, crate::mock::new_test_ext(), crate::mock::Test);
}
