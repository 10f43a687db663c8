//! The pallet's logic: each call's `do_*` and `try_state`.

use crate::{pallet::*, types::*, SettleUsage, UsageTokens, WeightInfo as _};
use alloc::vec::Vec;
use frame_support::traits::Defensive as _;
use frame_support::{
	ensure,
	pallet_prelude::*,
	traits::{Consideration, Contains, Footprint},
};
use sp_runtime::{
	traits::{Saturating, Zero},
	SaturatedConversion,
};

impl<T: Config> Pallet<T> {
	/// The capacity epoch of the current block.
	pub fn current_epoch() -> u32 {
		let length = T::EpochLength::get().max(1u32.into());
		let now = frame_system::Pallet::<T>::block_number();
		now.checked_div(&length).unwrap_or_else(Zero::zero).saturated_into()
	}

	pub(crate) fn do_register_operator(
		provider: T::AccountId,
		operator: T::AccountId,
	) -> DispatchResult {
		ensure!(T::Providers::contains(&provider), Error::<T>::NotProvider);
		ensure!(!Operators::<T>::contains_key(&operator), Error::<T>::AlreadyOperator);
		let mut operators = ProviderOperators::<T>::get(&provider);
		operators.try_push(operator.clone()).map_err(|_| Error::<T>::TooManyOperators)?;
		let deposit = T::OperatorDeposit::new(&provider, Footprint::from_mel::<OperatorOf<T>>())?;
		ProviderOperators::<T>::insert(&provider, operators);
		Operators::<T>::insert(&operator, Operator { provider: provider.clone(), deposit });
		Self::deposit_event(Event::OperatorRegistered { provider, operator });
		Ok(())
	}

	pub(crate) fn do_remove_operator(
		provider: T::AccountId,
		operator: T::AccountId,
	) -> DispatchResult {
		let record = Operators::<T>::get(&operator).ok_or(Error::<T>::NotOperator)?;
		ensure!(record.provider == provider, Error::<T>::NotOperator);
		let _ = record.deposit.drop(&provider).defensive();
		ProviderOperators::<T>::mutate(&provider, |operators| operators.retain(|o| o != &operator));
		Operators::<T>::remove(&operator);
		OperatorUsage::<T>::remove(&operator);
		Self::deposit_event(Event::OperatorRemoved { provider, operator });
		Ok(())
	}

	pub(crate) fn do_attest(
		operator: T::AccountId,
		provider: T::AccountId,
		first_seq: u64,
		entries: BoundedVec<EntryOf<T>, T::MaxEntries>,
	) -> Result<Weight, DispatchError> {
		let record = Operators::<T>::get(&operator).ok_or(Error::<T>::NotOperator)?;
		ensure!(record.provider == provider, Error::<T>::NotOperator);
		ensure!(!entries.is_empty(), Error::<T>::Empty);
		let received = entries.len() as u32;
		let next = LastSeq::<T>::get(&provider).saturating_add(1);
		ensure!(first_seq >= next, Error::<T>::Replay);
		ensure!(first_seq == next, Error::<T>::Gap);
		// Records within the operator's capacity this epoch settle, in order; the rest are not
		// consumed: the sequence moves past the accepted ones only, so they can be attested
		// again in a later epoch.
		let mut usage = Self::epoch_usage(&operator);
		let capacity = Capacities::<T>::get(&provider);
		let mut accepted = Vec::with_capacity(entries.len());
		let (mut over_entries, mut over_tokens) = (0u32, 0u64);
		for entry in entries {
			let tokens = entry.tokens();
			let after = usage.tokens.saturating_add(tokens);
			if over_entries == 0 && after <= capacity {
				usage.tokens = after;
				accepted.push(entry);
			} else {
				over_entries.saturating_inc();
				over_tokens.saturating_accrue(tokens);
			}
		}
		ensure!(!accepted.is_empty(), Error::<T>::NoCapacity);
		let count = accepted.len() as u32;
		let last = first_seq.saturating_add(u64::from(count)).saturating_sub(1);
		let summary = T::Settlement::settle(&provider, accepted)?;

		LastSeq::<T>::insert(&provider, last);
		OperatorUsage::<T>::insert(&operator, usage);
		if !over_entries.is_zero() {
			Self::deposit_event(Event::OverCapacity {
				operator: operator.clone(),
				entries: over_entries,
				tokens: over_tokens,
			});
		}
		Self::deposit_event(Event::Attested {
			provider,
			operator,
			first_seq,
			entries: count,
			charged: summary.charged,
			rejected: summary.rejected_entries,
		});
		// The settlement's weight is what it did: vouchers accepted before were not checked.
		Ok(T::WeightInfo::attest(received)
			.saturating_add(T::Settlement::settled_weight(count, &summary))
			.min(Self::attest_weight(received)))
	}

	/// What `attest` with `entries` records is charged before it runs: its own work and the
	/// most settling them can weigh.
	pub fn attest_weight(entries: u32) -> Weight {
		T::WeightInfo::attest(entries).saturating_add(T::Settlement::settle_weight(entries))
	}

	pub(crate) fn do_void_record(
		operator: T::AccountId,
		provider: T::AccountId,
		seq: u64,
		reason: VoidReason,
	) -> DispatchResult {
		let record = Operators::<T>::get(&operator).ok_or(Error::<T>::NotOperator)?;
		ensure!(record.provider == provider, Error::<T>::NotOperator);
		let next = LastSeq::<T>::get(&provider).saturating_add(1);
		ensure!(seq >= next, Error::<T>::Replay);
		ensure!(seq == next, Error::<T>::Gap);
		LastSeq::<T>::insert(&provider, seq);
		Self::deposit_event(Event::RecordVoided { provider, operator, seq, reason });
		Ok(())
	}

	/// What `operator` attested in the current capacity epoch.
	pub(crate) fn epoch_usage(operator: &T::AccountId) -> EpochUsage {
		let epoch = Self::current_epoch();
		let usage = OperatorUsage::<T>::get(operator);
		if usage.epoch == epoch {
			usage
		} else {
			EpochUsage { epoch, tokens: 0 }
		}
	}

	/// The tokens `operator` may still attest for `provider` in the current epoch.
	pub fn remaining_capacity(operator: &T::AccountId, provider: &T::AccountId) -> u64 {
		Capacities::<T>::get(provider).saturating_sub(Self::epoch_usage(operator).tokens)
	}

	/// The invariants: every operator is listed by its provider and every listed operator
	/// points back to it; usage is only recorded for registered operators.
	pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
		for (operator, record) in Operators::<T>::iter() {
			ensure!(
				ProviderOperators::<T>::get(&record.provider).contains(&operator),
				"operator missing from its provider's list"
			);
		}
		for (provider, operators) in ProviderOperators::<T>::iter() {
			for operator in operators.iter() {
				ensure!(
					Operators::<T>::get(operator).is_some_and(|r| r.provider == provider),
					"listed operator not registered for the provider"
				);
			}
		}
		for (operator, _) in OperatorUsage::<T>::iter() {
			ensure!(Operators::<T>::contains_key(&operator), "usage of an unregistered operator");
		}
		Ok(())
	}
}
