//! The pallet's logic: each call's `do_*` and `try_state` (settlement is in
//! [`crate::settlement`], the read API in [`crate::views`]).
//!
//! Every function checks everything first and writes storage last, so an error leaves no
//! trace even outside a transactional layer.

use crate::{pallet::*, types::*, ModelId};
use alloc::vec::Vec;
use frame_support::{
	ensure,
	pallet_prelude::*,
	traits::{
		fungible::{InspectHold, MutateHold},
		tokens::{Fortitude, Precision},
		Consideration, Footprint,
	},
};
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::{
	traits::{Saturating, Zero},
	DispatchError, DispatchResult,
};

impl<T: Config> Pallet<T> {
	pub(crate) fn do_register_provider(
		who: T::AccountId,
		name: NameOf<T>,
		endpoint: EndpointOf<T>,
	) -> DispatchResult {
		ensure!(!Providers::<T>::contains_key(&who), Error::<T>::AlreadyProvider);
		ensure!(!name.is_empty(), Error::<T>::EmptyName);
		let bond = T::ProviderBond::get();
		T::Currency::hold(&HoldReason::ProviderBond.into(), &who, bond)
			.map_err(|_| Error::<T>::InsufficientBalance)?;
		Providers::<T>::insert(
			&who,
			Provider { name, endpoint, bond, models: BoundedVec::default() },
		);
		Self::deposit_event(Event::ProviderRegistered { provider: who, bond });
		Ok(())
	}

	pub(crate) fn do_update_provider(
		who: T::AccountId,
		name: NameOf<T>,
		endpoint: EndpointOf<T>,
	) -> DispatchResult {
		ensure!(!name.is_empty(), Error::<T>::EmptyName);
		Providers::<T>::try_mutate(&who, |provider| -> DispatchResult {
			let provider = provider.as_mut().ok_or(Error::<T>::NotProvider)?;
			provider.name = name;
			provider.endpoint = endpoint;
			Ok(())
		})?;
		Self::deposit_event(Event::ProviderUpdated { provider: who });
		Ok(())
	}

	/// Returns how many model records were removed.
	pub(crate) fn do_retire_provider(who: T::AccountId) -> Result<u32, DispatchError> {
		let provider = Providers::<T>::get(&who).ok_or(Error::<T>::NotProvider)?;
		let mut models = Vec::with_capacity(provider.models.len());
		for id in provider.models.iter() {
			// A model listed by its provider always exists; tolerate it missing rather than
			// lock the provider in.
			if let Some(model) = Models::<T>::get(id) {
				ensure!(model.retired, Error::<T>::ProviderHasActiveModels);
				models.push((*id, model));
			} else {
				frame_support::defensive!("a provider lists a model that does not exist");
			}
		}
		let removed = models.len() as u32;
		for (id, model) in models {
			model.deposit.drop(&who)?;
			Models::<T>::remove(id);
		}
		T::Currency::release(
			&HoldReason::ProviderBond.into(),
			&who,
			provider.bond,
			Precision::BestEffort,
		)?;
		Providers::<T>::remove(&who);
		Self::deposit_event(Event::ProviderRetired {
			provider: who,
			bond: provider.bond,
			models_removed: removed,
		});
		Ok(removed)
	}

	pub(crate) fn do_register_model(
		who: T::AccountId,
		name: NameOf<T>,
		price_per_1k_input: BalanceOf<T>,
		price_per_1k_output: BalanceOf<T>,
		access: AccessRule<BalanceOf<T>>,
	) -> DispatchResult {
		let mut provider = Providers::<T>::get(&who).ok_or(Error::<T>::NotProvider)?;
		ensure!(!name.is_empty(), Error::<T>::EmptyName);
		let id = NextModelId::<T>::get();
		let next_id = id.checked_add(1).ok_or(Error::<T>::ModelIdOverflow)?;
		provider.models.try_push(id).map_err(|_| Error::<T>::TooManyModels)?;
		let deposit = T::ModelConsideration::new(&who, Footprint::from_mel::<ModelOf<T>>())
			.map_err(|_| Error::<T>::InsufficientBalance)?;
		Models::<T>::insert(
			id,
			Model {
				provider: who.clone(),
				name,
				price_per_1k_input,
				price_per_1k_output,
				access,
				retired: false,
				deposit,
				pending_price: None,
			},
		);
		Providers::<T>::insert(&who, provider);
		NextModelId::<T>::put(next_id);
		Self::deposit_event(Event::ModelRegistered {
			model: id,
			provider: who,
			price_per_1k_input,
			price_per_1k_output,
			access,
		});
		Ok(())
	}

	/// The model `id`, if `who` provides it and it is not retired.
	pub(crate) fn active_model_of(
		who: &T::AccountId,
		id: ModelId,
	) -> Result<ModelOf<T>, DispatchError> {
		let model = Models::<T>::get(id).ok_or(Error::<T>::UnknownModel)?;
		ensure!(&model.provider == who, Error::<T>::NotModelProvider);
		ensure!(!model.retired, Error::<T>::ModelRetired);
		Ok(model)
	}

	pub(crate) fn do_update_model(
		who: T::AccountId,
		id: ModelId,
		price_per_1k_input: BalanceOf<T>,
		price_per_1k_output: BalanceOf<T>,
		access: AccessRule<BalanceOf<T>>,
	) -> DispatchResult {
		let mut model = Self::active_model_of(&who, id)?;
		let now = frame_system::Pallet::<T>::block_number();
		let (current_input, current_output) = model.prices_at(&now);
		// Usage served before an increase that took effect less than `MaxUsageLateness` ago
		// may still be attested at the price before it (`prices_for`), which this update would
		// otherwise forget: the new base price is also at most that one. A provider that
		// changes its prices again so soon loses the increase on usage not yet attested.
		let (floor_input, floor_output) = match &model.pending_price {
			Some(p)
				if p.effective_from <= now
					&& now < p.effective_from.saturating_add(T::MaxUsageLateness::get()) =>
			{
				(
					current_input.min(model.price_per_1k_input),
					current_output.min(model.price_per_1k_output),
				)
			}
			_ => (current_input, current_output),
		};
		// Decreases apply at once; an increase waits for the notice, and the lower of the old
		// and new price applies until then.
		model.price_per_1k_input = price_per_1k_input.min(floor_input);
		model.price_per_1k_output = price_per_1k_output.min(floor_output);
		let rises = price_per_1k_input > current_input || price_per_1k_output > current_output;
		let effective_from =
			if rises { now.saturating_add(T::PriceIncreaseNotice::get()) } else { now };
		model.pending_price = rises.then_some(PendingPrice {
			price_per_1k_input,
			price_per_1k_output,
			effective_from,
		});
		model.access = access;
		Models::<T>::insert(id, model);
		Self::deposit_event(Event::ModelUpdated {
			model: id,
			price_per_1k_input,
			price_per_1k_output,
			access,
			effective_from,
		});
		Ok(())
	}

	pub(crate) fn do_set_allowance_honoured(
		who: T::AccountId,
		id: ModelId,
		honoured: bool,
	) -> DispatchResult {
		Self::active_model_of(&who, id)?;
		let now = frame_system::Pallet::<T>::block_number();
		let effective_from = if honoured {
			AllowanceHonoured::<T>::insert(id, None::<BlockNumberFor<T>>);
			now
		} else {
			match AllowanceHonoured::<T>::get(id) {
				// Not honoured: nothing to withdraw.
				None => now,
				// Already leaving: the earlier notice stands.
				Some(Some(until)) => until,
				Some(None) => {
					let until = now.saturating_add(T::PriceIncreaseNotice::get());
					AllowanceHonoured::<T>::insert(id, Some(until));
					until
				}
			}
		};
		Self::deposit_event(Event::AllowanceHonouredSet { model: id, honoured, effective_from });
		Ok(())
	}

	/// Whether usage of `model` settled at `now` is discounted by the user's free allowance.
	pub fn honours_allowance(model: ModelId, now: BlockNumberFor<T>) -> bool {
		match AllowanceHonoured::<T>::get(model) {
			None => false,
			Some(None) => true,
			Some(Some(until)) => now < until,
		}
	}

	pub(crate) fn do_retire_model(who: T::AccountId, id: ModelId) -> DispatchResult {
		let mut model = Self::active_model_of(&who, id)?;
		model.retired = true;
		AllowanceHonoured::<T>::remove(id);
		Self::drop_dynamic_price(id, &who);
		Models::<T>::insert(id, model);
		Self::deposit_event(Event::ModelRetired { model: id });
		Ok(())
	}

	pub(crate) fn do_deposit_credits(who: T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		T::Currency::hold(&HoldReason::Credits.into(), &who, amount)
			.map_err(|_| Error::<T>::InsufficientBalance)?;
		// Credits held out of frozen funds could not be paid to a provider (settlement moves
		// them politely); the extrinsic's storage layer undoes the hold.
		ensure!(
			tokenmeter_primitives::holds_are_movable::<_, T::Currency>(&who),
			Error::<T>::FundsFrozen
		);
		let credits = Credits::<T>::mutate(&who, |credits| {
			*credits = credits.saturating_add(amount);
			*credits
		});
		Self::deposit_event(Event::CreditsDeposited { who, amount, credits });
		Ok(())
	}

	pub(crate) fn do_request_withdrawal(who: T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		ensure!(amount <= Credits::<T>::get(&who), Error::<T>::InsufficientCredits);
		let unlock_at =
			frame_system::Pallet::<T>::block_number().saturating_add(T::WithdrawalNotice::get());
		PendingWithdrawals::<T>::insert(&who, PendingWithdrawal { amount, unlock_at });
		Self::deposit_event(Event::WithdrawalRequested { who, amount, unlock_at });
		Ok(())
	}

	pub(crate) fn do_withdraw_credits(who: T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		let mut pending =
			PendingWithdrawals::<T>::get(&who).ok_or(Error::<T>::NoWithdrawalRequested)?;
		ensure!(
			pending.unlock_at <= frame_system::Pallet::<T>::block_number(),
			Error::<T>::WithdrawalNotDue
		);
		ensure!(amount <= pending.amount, Error::<T>::AboveRequestedWithdrawal);
		let credits = Credits::<T>::get(&who);
		ensure!(amount <= credits, Error::<T>::InsufficientCredits);
		T::Currency::release(&HoldReason::Credits.into(), &who, amount, Precision::Exact)?;
		let credits = credits.saturating_sub(amount);
		pending.amount = pending.amount.saturating_sub(amount).min(credits);
		Self::write_credits(&who, credits, Some(pending));
		Self::deposit_event(Event::CreditsWithdrawn { who, amount, credits });
		Ok(())
	}

	/// Stores `who`'s credits after a charge, and cuts its withdrawal request to them if it
	/// asked for more (dropping it when nothing is left); a request they still cover, or none,
	/// is not written. Returns whether the request was written.
	pub(crate) fn charge_credits(who: &T::AccountId, credits: BalanceOf<T>) -> bool {
		match PendingWithdrawals::<T>::get(who) {
			Some(pending) if pending.amount > credits => {
				Self::write_credits(who, credits, Some(pending));
				true
			}
			_ => {
				if credits.is_zero() {
					Credits::<T>::remove(who);
				} else {
					Credits::<T>::insert(who, credits);
				}
				false
			}
		}
	}

	/// Stores `who`'s credits and what is left of its withdrawal request (dropping the
	/// entries that became zero).
	pub(crate) fn write_credits(
		who: &T::AccountId,
		credits: BalanceOf<T>,
		pending: Option<PendingWithdrawalOf<T>>,
	) {
		if credits.is_zero() {
			Credits::<T>::remove(who);
		} else {
			Credits::<T>::insert(who, credits);
		}
		match pending.map(|p| PendingWithdrawal { amount: p.amount.min(credits), ..p }) {
			Some(pending) if !pending.amount.is_zero() => {
				PendingWithdrawals::<T>::insert(who, pending)
			}
			_ => PendingWithdrawals::<T>::remove(who),
		}
	}

	pub(crate) fn do_approve_delegate(
		owner: T::AccountId,
		delegate: T::AccountId,
		amount: BalanceOf<T>,
		expiry: BlockNumberFor<T>,
	) -> DispatchResult {
		ensure!(owner != delegate, Error::<T>::SelfDelegation);
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		ensure!(expiry >= frame_system::Pallet::<T>::block_number(), Error::<T>::ExpiryInPast);
		let deposit = match Delegations::<T>::get(&owner, &delegate) {
			Some(existing) => existing.deposit,
			None => {
				T::DelegationConsideration::new(&owner, Footprint::from_mel::<DelegationOf<T>>())
					.map_err(|_| Error::<T>::InsufficientBalance)?
			}
		};
		Delegations::<T>::insert(
			&owner,
			&delegate,
			Delegation { remaining: amount, expiry, deposit },
		);
		Self::deposit_event(Event::DelegateApproved { owner, delegate, amount, expiry });
		Ok(())
	}

	pub(crate) fn do_revoke_delegate(
		owner: T::AccountId,
		delegate: T::AccountId,
	) -> DispatchResult {
		let delegation =
			Delegations::<T>::get(&owner, &delegate).ok_or(Error::<T>::UnknownDelegation)?;
		delegation.deposit.drop(&owner)?;
		Delegations::<T>::remove(&owner, &delegate);
		Self::deposit_event(Event::DelegateRevoked { owner, delegate });
		Ok(())
	}

	/// The pallet's invariants:
	/// - every account's credits ledger equals what it holds under the credits reason, and no
	///   account holds credits without a ledger entry; settlement can move all of them;
	/// - nothing was settled beyond the highest voucher cap of a (user, provider) pair;
	/// - a withdrawal request is of more than zero and at most the account's credits;
	/// - every provider holds its bond, and its models exist and name it; a pending price
	///   raises at least one of the model's prices;
	/// - model ids are below the next id;
	/// - every dynamic price is of an active model, valid, and its multiplier within its
	///   maximum (see `pricing.rs`).
	///
	/// Always compiled, so that runtime tests can check it after every block.
	pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
		use sp_runtime::TryRuntimeError;
		let credits_reason = HoldReason::Credits.into();
		for (who, credits) in Credits::<T>::iter() {
			ensure!(!credits.is_zero(), TryRuntimeError::Other("zero credits entry kept"));
			ensure!(
				T::Currency::balance_on_hold(&credits_reason, &who) == credits,
				TryRuntimeError::Other("credits ledger differs from the credits hold")
			);
			// What settlement can move (it moves credits by force: no freeze holds them back).
			ensure!(
				T::Currency::reducible_total_balance_on_hold(&who, Fortitude::Force) >= credits,
				TryRuntimeError::Other("credits shown that settlement cannot move")
			);
		}
		for who in frame_system::Account::<T>::iter_keys() {
			let held = T::Currency::balance_on_hold(&credits_reason, &who);
			ensure!(
				held == Credits::<T>::get(&who),
				TryRuntimeError::Other("credits held without a ledger entry")
			);
		}
		for (who, pending) in PendingWithdrawals::<T>::iter() {
			ensure!(
				!pending.amount.is_zero() && pending.amount <= Credits::<T>::get(&who),
				TryRuntimeError::Other("withdrawal request of zero or above the credits")
			);
		}
		for (_, _, ledger) in VoucherLedgers::<T>::iter() {
			ensure!(ledger.settled <= ledger.cap, TryRuntimeError::Other("settled above cap"));
		}
		let bond_reason = HoldReason::ProviderBond.into();
		for (who, provider) in Providers::<T>::iter() {
			ensure!(
				T::Currency::balance_on_hold(&bond_reason, &who) >= provider.bond,
				TryRuntimeError::Other("provider bond not held")
			);
			for id in provider.models.iter() {
				let model = Models::<T>::get(id)
					.ok_or(TryRuntimeError::Other("provider lists a missing model"))?;
				ensure!(model.provider == who, TryRuntimeError::Other("model of another provider"));
			}
		}
		for id in AllowanceHonoured::<T>::iter_keys() {
			let model = Models::<T>::get(id)
				.ok_or(TryRuntimeError::Other("allowance honoured by a missing model"))?;
			ensure!(
				!model.retired,
				TryRuntimeError::Other("allowance honoured by a retired model")
			);
		}
		let next = NextModelId::<T>::get();
		for (id, model) in Models::<T>::iter() {
			ensure!(id < next, TryRuntimeError::Other("model id not below the next id"));
			let provider = Providers::<T>::get(&model.provider)
				.ok_or(TryRuntimeError::Other("model of an unregistered provider"))?;
			ensure!(provider.models.contains(&id), TryRuntimeError::Other("model not listed"));
			if let Some(pending) = model.pending_price {
				ensure!(
					pending.price_per_1k_input > model.price_per_1k_input
						|| pending.price_per_1k_output > model.price_per_1k_output,
					TryRuntimeError::Other("a pending price that raises nothing")
				);
			}
		}
		Self::try_state_pricing()
	}
}
