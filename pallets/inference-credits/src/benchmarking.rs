//! Benchmarks of every call and of settlement as a function of its number of entries.

// Benchmarks build their worst cases with plain arithmetic and unwraps: they run only in the
// benchmarking build, never in the chain's runtime, and a failed set-up must stop them.
#![allow(
	clippy::arithmetic_side_effects,
	clippy::unwrap_used,
	clippy::expect_used,
	clippy::indexing_slicing
)]

use super::*;
use crate::Pallet as InferenceCredits;
use alloc::vec;
use frame_benchmarking::v2::*;
use frame_support::{
	traits::{
		fungible::{Inspect, Mutate},
		Get,
	},
	BoundedVec,
};
use frame_system::{pallet_prelude::BlockNumberFor, RawOrigin};
use sp_runtime::{
	traits::{Bounded, One, Saturating, Zero},
	FixedU128, Perbill,
};

/// A large balance: a million existential deposits.
fn plenty<T: Config>() -> BalanceOf<T> {
	T::Currency::minimum_balance().saturating_mul(1_000_000u32.into()).max(1_000_000u32.into())
}

/// Dynamic pricing whose multiplier keeps moving for a long catch-up: idle, it takes 52 steps
/// of 12.5% to reach its floor of 1/1,000 (the listed prices still charge something there).
fn pricing() -> PricingConfig {
	PricingConfig {
		capacity: 1_000,
		target: Perbill::from_percent(50),
		min_multiplier: FixedU128::from_rational(1, 1_000),
		max_multiplier: FixedU128::one(),
	}
}

fn funded<T: Config>(who: &T::AccountId) {
	T::Currency::set_balance(who, plenty::<T>());
}

fn name<T: Config>() -> NameOf<T> {
	BoundedVec::try_from(vec![b'n'; T::MaxNameLen::get() as usize]).unwrap_or_default()
}

fn endpoint<T: Config>() -> EndpointOf<T> {
	BoundedVec::try_from(vec![b'e'; T::MaxEndpointLen::get() as usize]).unwrap_or_default()
}

/// A registered provider with `models` models, the last one active.
fn provider_with_models<T: Config>(models: u32) -> (T::AccountId, ModelId) {
	let provider: T::AccountId = account("provider", 0, 0);
	funded::<T>(&provider);
	assert!(InferenceCredits::<T>::do_register_provider(
		provider.clone(),
		name::<T>(),
		endpoint::<T>()
	)
	.is_ok());
	let mut last = 0;
	for _ in 0..models {
		last = NextModelId::<T>::get();
		assert!(InferenceCredits::<T>::do_register_model(
			provider.clone(),
			name::<T>(),
			1_000u32.into(),
			1_000u32.into(),
			AccessRule::MinBalanceAndTier(Zero::zero(), 0),
		)
		.is_ok());
	}
	(provider, last)
}

/// A settlement of `n` entries in its most expensive shape: each of a different user spending
/// a different owner's delegated credits (a delegation and two transfers per entry), of as many
/// dynamically priced models honouring free allowances as the provider may list, each brought
/// up to date over the longest catch-up; each owner has given notice to withdraw all its
/// credits, which the settlement cuts (written). Every ledger remembers a wallet-wrapped voucher: this
/// very one when `remembered` (no signature check), an older one otherwise (one check each).
fn settlement<T: Config>(
	n: u32,
	remembered: bool,
) -> (T::AccountId, alloc::vec::Vec<UsageEntryOf<T>>) {
	// As many models as entries (up to the provider's most), each honouring free
	// allowances (every entry reads whether it does) and dynamically priced, its
	// multiplier not brought up to date for longer than the longest catch-up: each model
	// is read, stepped through every idle epoch and written.
	let models = n.min(T::MaxModelsPerProvider::get()).max(1);
	let (provider, last) = provider_with_models::<T>(models);
	let first = last.saturating_add(1).saturating_sub(models);
	for model in first..=last {
		assert!(
			InferenceCredits::<T>::do_set_allowance_honoured(provider.clone(), model, true).is_ok()
		);
		assert!(InferenceCredits::<T>::do_set_dynamic_pricing(
			provider.clone(),
			model,
			Some(pricing())
		)
		.is_ok());
	}
	let epochs = crate::pricing::MAX_CATCH_UP.saturating_add(2);
	frame_system::Pallet::<T>::set_block_number(
		frame_system::Pallet::<T>::block_number()
			.saturating_add(T::PricingEpoch::get().saturating_mul(epochs.into())),
	);
	// Both fee accounts exist: the worst case pays the provider, the pool and the treasury.
	T::Currency::set_balance(&T::RewardPool::get(), T::Currency::minimum_balance());
	T::Currency::set_balance(&T::Treasury::get(), T::Currency::minimum_balance());
	let genesis_hash = frame_system::Pallet::<T>::block_hash(BlockNumberFor::<T>::zero());
	let cap = plenty::<T>();
	let mut entries = vec![];
	for i in 0..n {
		let user = T::BenchmarkHelper::signer(i);
		let owner: T::AccountId = account("owner", i, 0);
		funded::<T>(&owner);
		assert!(InferenceCredits::<T>::do_deposit_credits(owner.clone(), cap / 4u32.into()).is_ok());
		// A notice to withdraw every credit: the settlement cuts it to what is left (written).
		assert!(
			InferenceCredits::<T>::do_request_withdrawal(owner.clone(), cap / 4u32.into()).is_ok()
		);
		assert!(InferenceCredits::<T>::do_approve_delegate(
			owner.clone(),
			user.clone(),
			cap,
			BlockNumberFor::<T>::max_value(),
		)
		.is_ok());
		let voucher = Voucher {
			genesis_hash,
			provider: provider.clone(),
			user: user.clone(),
			payer: owner,
			cap,
			expiry: BlockNumberFor::<T>::max_value(),
			session: Some([0xff; 32]),
		};
		// Signed in the wallet-wrapped form, like the voucher the ledger accepted before
		// (the same one when `remembered`, one of a lower cap otherwise): a new voucher is
		// checked once, in that form.
		let signature = T::BenchmarkHelper::sign(i, &voucher.wrapped_signing_payload());
		let signed = SignedVoucher { voucher, signature };
		let before = if remembered {
			signed.clone()
		} else {
			let mut older = signed.voucher.clone();
			older.cap = cap / 2u32.into();
			let signature = T::BenchmarkHelper::sign(i, &older.wrapped_signing_payload());
			SignedVoucher { voucher: older, signature }
		};
		let accepted = AcceptedVoucher { digest: before.accepted_digest(&user), wrapped: true };
		VoucherLedgers::<T>::insert(
			&user,
			&provider,
			VoucherLedger {
				settled: Zero::zero(),
				cap: before.voucher.cap,
				accepted: Some(accepted),
			},
		);
		entries.push(UsageEntry {
			user,
			model: first.saturating_add(i % models),
			input_tokens: 1_000_000,
			output_tokens: 1_000_000,
			served_at: frame_system::Pallet::<T>::block_number(),
			voucher: signed,
		});
	}
	(provider, entries)
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn register_provider() {
		let caller: T::AccountId = whitelisted_caller();
		funded::<T>(&caller);

		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), name::<T>(), endpoint::<T>());

		assert!(Providers::<T>::contains_key(&caller));
	}

	#[benchmark]
	fn update_provider() {
		let (provider, _) = provider_with_models::<T>(0);

		#[extrinsic_call]
		_(RawOrigin::Signed(provider.clone()), name::<T>(), endpoint::<T>());

		assert!(Providers::<T>::contains_key(&provider));
	}

	#[benchmark]
	fn retire_provider(m: Linear<0, { T::MaxModelsPerProvider::get() }>) {
		let (provider, _) = provider_with_models::<T>(m);
		for id in Providers::<T>::get(&provider).map(|p| p.models.to_vec()).unwrap_or_default() {
			assert!(InferenceCredits::<T>::do_retire_model(provider.clone(), id).is_ok());
		}

		#[extrinsic_call]
		_(RawOrigin::Signed(provider.clone()));

		assert!(!Providers::<T>::contains_key(&provider));
	}

	#[benchmark]
	fn register_model() {
		// The worst case pushes into an almost full model list.
		let (provider, _) =
			provider_with_models::<T>(T::MaxModelsPerProvider::get().saturating_sub(1));
		let id = NextModelId::<T>::get();

		#[extrinsic_call]
		_(
			RawOrigin::Signed(provider),
			name::<T>(),
			1_000u32.into(),
			1_000u32.into(),
			AccessRule::MinBalanceAndTier(Zero::zero(), 0),
		);

		assert!(Models::<T>::contains_key(id));
	}

	#[benchmark]
	fn update_model() {
		let (provider, model) = provider_with_models::<T>(1);

		#[extrinsic_call]
		_(RawOrigin::Signed(provider), model, 2_000u32.into(), 2_000u32.into(), AccessRule::Open);

		assert_eq!(Models::<T>::get(model).map(|m| m.access), Some(AccessRule::Open));
	}

	#[benchmark]
	fn retire_model() {
		let (provider, model) = provider_with_models::<T>(1);
		assert!(
			InferenceCredits::<T>::do_set_allowance_honoured(provider.clone(), model, true).is_ok()
		);

		#[extrinsic_call]
		_(RawOrigin::Signed(provider), model);

		assert_eq!(Models::<T>::get(model).map(|m| m.retired), Some(true));
	}

	/// The worst case: a first opt-in, which holds a deposit.
	#[benchmark]
	fn set_dynamic_pricing() {
		let (provider, model) = provider_with_models::<T>(1);

		#[extrinsic_call]
		_(RawOrigin::Signed(provider), model, Some(pricing()));

		assert!(DynamicPrices::<T>::get(model).is_some());
	}

	/// The worst case: opting out of a model that honours allowances (a read, then a write).
	#[benchmark]
	fn set_allowance_honoured() {
		let (provider, model) = provider_with_models::<T>(1);
		assert!(
			InferenceCredits::<T>::do_set_allowance_honoured(provider.clone(), model, true).is_ok()
		);

		#[extrinsic_call]
		_(RawOrigin::Signed(provider), model, false);

		assert!(matches!(AllowanceHonoured::<T>::get(model), Some(Some(_))));
	}

	#[benchmark]
	fn deposit_credits() {
		let caller: T::AccountId = whitelisted_caller();
		funded::<T>(&caller);
		let amount = T::Currency::minimum_balance().max(1u32.into());
		// Not the first deposit: the ledger entry exists and is updated.
		assert!(InferenceCredits::<T>::do_deposit_credits(caller.clone(), amount).is_ok());

		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), amount);

		assert_eq!(Credits::<T>::get(&caller), amount.saturating_add(amount));
	}

	#[benchmark]
	fn withdraw_credits() {
		let caller: T::AccountId = whitelisted_caller();
		funded::<T>(&caller);
		let amount = T::Currency::minimum_balance().max(1u32.into());
		assert!(InferenceCredits::<T>::do_deposit_credits(caller.clone(), amount).is_ok());
		assert!(InferenceCredits::<T>::do_request_withdrawal(caller.clone(), amount).is_ok());
		frame_system::Pallet::<T>::set_block_number(
			frame_system::Pallet::<T>::block_number().saturating_add(T::WithdrawalNotice::get()),
		);

		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), amount);

		assert!(Credits::<T>::get(&caller).is_zero());
		assert!(!PendingWithdrawals::<T>::contains_key(&caller));
	}

	#[benchmark]
	fn request_withdrawal() {
		let caller: T::AccountId = whitelisted_caller();
		funded::<T>(&caller);
		let amount = T::Currency::minimum_balance().max(1u32.into());
		assert!(InferenceCredits::<T>::do_deposit_credits(caller.clone(), amount).is_ok());

		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), amount);

		assert!(PendingWithdrawals::<T>::contains_key(&caller));
	}

	#[benchmark]
	fn approve_delegate() {
		let caller: T::AccountId = whitelisted_caller();
		funded::<T>(&caller);
		let delegate: T::AccountId = account("delegate", 0, 0);

		#[extrinsic_call]
		_(
			RawOrigin::Signed(caller.clone()),
			delegate.clone(),
			1_000u32.into(),
			BlockNumberFor::<T>::max_value(),
		);

		assert!(Delegations::<T>::contains_key(&caller, &delegate));
	}

	#[benchmark]
	fn revoke_delegate() {
		let caller: T::AccountId = whitelisted_caller();
		funded::<T>(&caller);
		let delegate: T::AccountId = account("delegate", 0, 0);
		assert!(InferenceCredits::<T>::do_approve_delegate(
			caller.clone(),
			delegate.clone(),
			1_000u32.into(),
			BlockNumberFor::<T>::max_value(),
		)
		.is_ok());

		#[extrinsic_call]
		_(RawOrigin::Signed(caller.clone()), delegate.clone());

		assert!(!Delegations::<T>::contains_key(&caller, &delegate));
	}

	/// `n` entries whose vouchers the chain accepted before: no signature check
	/// ([`settlement`]). What settling costs apart from signatures.
	#[benchmark]
	fn settle(n: Linear<1, { T::MaxEntriesPerSettlement::get() }>) {
		let (provider, entries) = settlement::<T>(n, true);

		#[block]
		{
			let summary = InferenceCredits::<T>::do_settle(&provider, entries);
			let summary = summary.map(|s| {
				(s.rejected_entries, s.signature_checks, s.reads_avoided, s.writes_avoided)
			});
			assert_eq!(summary, Ok((0, 0, 0, 0)));
		}

		assert!(
			Credits::<T>::get(account::<T::AccountId>("owner", 0, 0)) < plenty::<T>() / 4u32.into()
		);
	}

	/// `n` entries with new vouchers, each checked once in the form its ledger remembers
	/// ([`settlement`]): the difference from `settle` is one signature check per entry.
	#[benchmark]
	fn settle_new(n: Linear<1, { T::MaxEntriesPerSettlement::get() }>) {
		let (provider, entries) = settlement::<T>(n, false);

		#[block]
		{
			let summary = InferenceCredits::<T>::do_settle(&provider, entries);
			let summary = summary.map(|s| {
				(s.rejected_entries, s.signature_checks, s.reads_avoided, s.writes_avoided)
			});
			assert_eq!(summary, Ok((0, n, 0, 0)));
		}

		assert!(
			Credits::<T>::get(account::<T::AccountId>("owner", 0, 0)) < plenty::<T>() / 4u32.into()
		);
	}

	impl_benchmark_test_suite!(InferenceCredits, crate::mock::new_test_ext(), crate::mock::Test);
}
