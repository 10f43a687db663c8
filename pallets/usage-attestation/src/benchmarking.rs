//! Benchmarks of every call in its worst case. `attest(n)` measures the pallet's own work on
//! `n` records; the settlement's weight (the credits pallet's benchmark) is added to it.

// Benchmarks build their worst cases with plain arithmetic and unwraps: they run only in the
// benchmarking build, never in the chain's runtime, and a failed set-up must stop them.
#![allow(
	clippy::arithmetic_side_effects,
	clippy::unwrap_used,
	clippy::expect_used,
	clippy::indexing_slicing
)]

use super::*;
use crate::Pallet as UsageAttestation;
use frame_benchmarking::v2::*;
use frame_support::traits::Get;
use frame_system::RawOrigin;

/// The provider with all but one of its operators registered.
fn provider_with_operators<T: Config>(n: u32) -> T::AccountId {
	let provider = T::BenchmarkHelper::provider();
	for i in 0..n {
		let operator: T::AccountId = account("operator", i, 0);
		assert!(UsageAttestation::<T>::do_register_operator(provider.clone(), operator).is_ok());
	}
	provider
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn register_operator() {
		let max = T::MaxOperators::get();
		let provider = provider_with_operators::<T>(max.saturating_sub(1));
		let operator: T::AccountId = account("operator", max, 0);

		#[extrinsic_call]
		_(RawOrigin::Signed(provider.clone()), operator.clone());

		assert!(Operators::<T>::contains_key(&operator));
	}

	/// The last operator of a full list.
	#[benchmark]
	fn remove_operator() {
		let max = T::MaxOperators::get();
		let provider = provider_with_operators::<T>(max);
		let operator: T::AccountId = account("operator", max.saturating_sub(1), 0);

		#[extrinsic_call]
		_(RawOrigin::Signed(provider.clone()), operator.clone());

		assert!(!Operators::<T>::contains_key(&operator));
	}

	#[benchmark]
	fn set_capacity() {
		let provider = T::BenchmarkHelper::provider();

		#[extrinsic_call]
		_(RawOrigin::Signed(provider.clone()), 1_000_000);

		assert_eq!(Capacities::<T>::get(&provider), 1_000_000);
	}

	/// `n` records within the operator's capacity: the pallet's checks, sequence, capacity
	/// accounting and events, and the settlement of the benchmark's records (whose full
	/// weight is added separately).
	#[benchmark]
	fn attest(n: Linear<1, { T::MaxEntries::get() }>) {
		let provider = provider_with_operators::<T>(1);
		let operator: T::AccountId = account("operator", 0, 0);
		LastSeq::<T>::insert(&provider, 40);
		Capacities::<T>::insert(&provider, u64::MAX);
		let entries: BoundedVec<_, _> = (0..n)
			.map(T::BenchmarkHelper::entry)
			.collect::<alloc::vec::Vec<_>>()
			.try_into()
			.unwrap_or_default();

		#[extrinsic_call]
		_(RawOrigin::Signed(operator.clone()), provider.clone(), 41, entries);

		assert_eq!(LastSeq::<T>::get(&provider), 40 + u64::from(n));
	}

	#[benchmark]
	fn void_record() {
		let provider = provider_with_operators::<T>(1);
		let operator: T::AccountId = account("operator", 0, 0);
		LastSeq::<T>::insert(&provider, 40);
		let reason: VoidReason = alloc::vec![b'x'; 64].try_into().unwrap_or_default();

		#[extrinsic_call]
		_(RawOrigin::Signed(operator.clone()), provider.clone(), 41, reason);

		assert_eq!(LastSeq::<T>::get(&provider), 41);
	}

	impl_benchmark_test_suite!(UsageAttestation, crate::mock::new_test_ext(), crate::mock::Test);
}

use frame_support::pallet_prelude::BoundedVec;
