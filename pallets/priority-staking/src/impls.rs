//! The pallet's logic: each call's `do_*`, tiers and epochs, the free allowance, the read
//! API and `try_state`.
//!
//! Every function checks everything first and writes storage last, so an error leaves no
//! trace even outside a transactional layer.

use crate::{pallet::*, types::*, FreeAllowance, TierInspect, WeightInfo};
use alloc::vec::Vec;
use frame_support::{
	ensure,
	pallet_prelude::*,
	traits::fungible::{Inspect, InspectFreeze, MutateFreeze},
};
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::{
	traits::{Saturating, Zero},
	DispatchResult, SaturatedConversion,
};

impl<T: Config> Pallet<T> {
	fn now() -> BlockNumberFor<T> {
		frame_system::Pallet::<T>::block_number()
	}

	fn freeze_id() -> T::RuntimeFreezeReason {
		FreezeReason::PriorityStake.into()
	}

	/// Freezes exactly what `ledger` keeps staked, warming up or unbonding.
	fn apply_freeze(who: &T::AccountId, ledger: &StakeLedgerOf<T>) -> DispatchResult {
		T::Currency::set_freeze(&Self::freeze_id(), who, ledger.total())
	}

	pub(crate) fn do_stake(who: T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		let now = Self::now();
		let mut ledger = Ledgers::<T>::get(&who).unwrap_or_default();
		ledger.settle_warm_up(now);
		let bonded = ledger.bonded().saturating_add(amount);
		ensure!(bonded >= T::MinStake::get(), Error::<T>::BelowMinStake);
		// Only the free balance can be staked: funds on hold (credits, deposits) cannot.
		ensure!(
			ledger.total().saturating_add(amount) <= T::Currency::balance(&who),
			Error::<T>::InsufficientBalance
		);
		let warm_up = Params::<T>::get().warm_up;
		let effective_at = now.saturating_add(warm_up);
		if warm_up.is_zero() {
			ledger.active = ledger.active.saturating_add(amount);
		} else {
			ledger.add_warming(amount, effective_at).map_err(|_| Error::<T>::TooManyChunks)?;
		}
		Self::apply_freeze(&who, &ledger)?;
		Ledgers::<T>::insert(&who, ledger);
		Self::deposit_event(Event::Staked { who, amount, effective_at, bonded });
		Ok(())
	}

	pub(crate) fn do_unstake(who: T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		let now = Self::now();
		let mut ledger = Ledgers::<T>::get(&who).ok_or(Error::<T>::NotStaker)?;
		ledger.settle_warm_up(now);
		let bonded = ledger.bonded();
		ensure!(amount <= bonded, Error::<T>::InsufficientStake);
		let remaining = bonded.saturating_sub(amount);
		ensure!(remaining.is_zero() || remaining >= T::MinStake::get(), Error::<T>::BelowMinStake);
		// Stake still warming up goes first, the last to count first: it buys nothing yet.
		let mut left = amount;
		while !left.is_zero() {
			let Some(last) = ledger.warming.last_mut() else { break };
			let take = left.min(last.amount);
			last.amount = last.amount.saturating_sub(take);
			left = left.saturating_sub(take);
			if last.amount.is_zero() {
				ledger.warming.pop();
			}
		}
		ledger.active = ledger.active.saturating_sub(left);
		let unlocks_at = now.saturating_add(Params::<T>::get().unbonding_period);
		ledger.add_unbonding(amount, unlocks_at).map_err(|_| Error::<T>::TooManyChunks)?;
		// The frozen total is unchanged: unbonding funds stay frozen.
		Ledgers::<T>::insert(&who, ledger);
		Self::deposit_event(Event::Unstaked { who, amount, unlocks_at, bonded: remaining });
		Ok(())
	}

	pub(crate) fn do_withdraw_unbonded(who: T::AccountId) -> DispatchResult {
		let now = Self::now();
		let mut ledger = Ledgers::<T>::get(&who).ok_or(Error::<T>::NotStaker)?;
		let released = ledger.take_unbonded(now);
		ensure!(!released.is_zero(), Error::<T>::NothingToWithdraw);
		ledger.settle_warm_up(now);
		Self::apply_freeze(&who, &ledger)?;
		let unbonding = ledger.unbonding_total();
		if Self::ledger_is_spent(&ledger) {
			Ledgers::<T>::remove(&who);
		} else {
			Ledgers::<T>::insert(&who, ledger);
		}
		Self::deposit_event(Event::Withdrawn { who, amount: released, unbonding });
		Ok(())
	}

	/// Whether a ledger can be removed: nothing is frozen by it and it records no allowance
	/// spent in the current epoch (removing that record would renew the allowance early).
	fn ledger_is_spent(ledger: &StakeLedgerOf<T>) -> bool {
		ledger.total().is_zero()
			&& (ledger.allowance_used.is_zero()
				|| ledger.allowance_epoch != Self::current_epoch().0)
	}

	/// Checks tiers: at most `MaxTiers`, minimum stakes strictly increasing from above zero.
	pub(crate) fn check_tiers(tiers: Vec<TierInfoOf<T>>) -> Result<TiersOf<T>, Error<T>> {
		let mut previous: BalanceOf<T> = Zero::zero();
		for tier in tiers.iter() {
			ensure!(tier.min_stake > previous, Error::<T>::InvalidTiers);
			previous = tier.min_stake;
		}
		TiersOf::<T>::try_from(tiers).map_err(|_| Error::<T>::InvalidTiers)
	}

	pub(crate) fn do_set_tiers(tiers: TiersOf<T>) -> DispatchResult {
		let tiers = Self::check_tiers(tiers.into_inner())?;
		Tiers::<T>::put(&tiers);
		Self::deposit_event(Event::TiersSet { tiers });
		Ok(())
	}

	pub(crate) fn do_set_params(params: StakingParamsOf<T>) -> DispatchResult {
		ensure!(!params.epoch_length.is_zero(), Error::<T>::ZeroEpochLength);
		// The current epoch keeps its number and start; the new length counts from there.
		let (epoch, start) = Self::current_epoch();
		EpochAnchor::<T>::put((epoch, start));
		Params::<T>::put(params);
		Self::deposit_event(Event::ParamsSet { params });
		Ok(())
	}

	/// The current epoch and the block it started at.
	pub fn current_epoch() -> (EpochIndex, BlockNumberFor<T>) {
		let (anchor, anchor_start) = EpochAnchor::<T>::get();
		let length = Params::<T>::get().epoch_length.max(1u32.into());
		let elapsed = Self::now()
			.saturating_sub(anchor_start)
			.checked_div(&length)
			.unwrap_or_else(Zero::zero);
		let epoch = anchor.saturating_add(elapsed.saturated_into::<EpochIndex>());
		(epoch, anchor_start.saturating_add(elapsed.saturating_mul(length)))
	}

	/// The tier `stake` reaches, with its definition (`None` for tier 0).
	pub fn tier_for(stake: BalanceOf<T>) -> (Tier, Option<TierInfoOf<T>>) {
		let tiers = Tiers::<T>::get();
		let reached = tiers.iter().take_while(|t| t.min_stake <= stake).count();
		match reached.checked_sub(1).and_then(|i| tiers.get(i)) {
			// At most `MaxTiers` ≤ 255 tiers (checked in `integrity_test`).
			Some(info) => (reached.saturated_into::<Tier>(), Some(*info)),
			None => (0, None),
		}
	}

	/// What `who`'s stake counts for now.
	pub fn effective_stake(who: &T::AccountId) -> BalanceOf<T> {
		Ledgers::<T>::get(who).map(|l| Self::counted(who, &l)).unwrap_or_default()
	}

	/// What `ledger`'s stake counts for now: its effective stake, but no more than the free
	/// balance backs once warming and unbonding funds are set aside. `pallet-balances` counts
	/// held funds (credits, bonds) toward a freeze, so free funds can leave until the freeze
	/// rests on held ones — which settlement and slashing move regardless. Stake that only
	/// held funds back is claimed by someone else and buys no tier. In every other case the
	/// free balance covers the whole freeze and this is the effective stake.
	fn counted(who: &T::AccountId, ledger: &StakeLedgerOf<T>) -> BalanceOf<T> {
		let now = Self::now();
		let backing = T::Currency::balance(who)
			.saturating_sub(ledger.warming_at(now))
			.saturating_sub(ledger.unbonding_total());
		ledger.effective_at(now).min(backing)
	}

	/// The free allowance the tier of `who`'s stake (`ledger`) still grants this epoch.
	fn tier_allowance_left(
		who: &T::AccountId,
		ledger: &StakeLedgerOf<T>,
		epoch: EpochIndex,
	) -> BalanceOf<T> {
		let (_, info) = Self::tier_for(Self::counted(who, ledger));
		let granted = info.map(|i| i.free_allowance).unwrap_or_default();
		let used =
			if ledger.allowance_epoch == epoch { ledger.allowance_used } else { Zero::zero() };
		granted.saturating_sub(used)
	}

	/// Everything a gateway needs to order and limit `who`'s requests.
	pub fn priority_of(who: &T::AccountId) -> PriorityInfoOf<T> {
		let now = Self::now();
		let (epoch, start) = Self::current_epoch();
		let next_epoch_at = start.saturating_add(Params::<T>::get().epoch_length);
		let ledger = Ledgers::<T>::get(who).unwrap_or_default();
		let effective_stake = Self::counted(who, &ledger);
		let (tier, info) = Self::tier_for(effective_stake);
		PriorityInfo {
			tier,
			priority_weight: info.map(|i| i.priority_weight).unwrap_or(0),
			rate_limit: info.map(|i| i.rate_limit).unwrap_or_else(T::DefaultRateLimit::get),
			effective_stake,
			warming_up: ledger.warming_at(now),
			warming_chunks: ledger.warming.iter().filter(|c| c.at > now).copied().collect(),
			unbonding: ledger.unbonding.to_vec(),
			allowance_left: Self::tier_allowance_left(who, &ledger, epoch),
			epoch,
			next_epoch_at,
		}
	}

	/// The pallet's invariants:
	/// - every ledger freezes exactly its staked, warming and unbonding funds, and no account
	///   has funds frozen by this pallet without a ledger;
	/// - a ledger that freezes nothing is kept only for allowance spent this epoch;
	/// - chunks are ordered by block; warming chunks are not empty;
	/// - tiers strictly increase; epochs last at least a block and the anchor is not in the
	///   future.
	///
	/// Always compiled, so that runtime tests can check it after every block.
	pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
		use sp_runtime::TryRuntimeError;
		let id = Self::freeze_id();
		for (who, ledger) in Ledgers::<T>::iter() {
			ensure!(
				T::Currency::balance_frozen(&id, &who) == ledger.total(),
				TryRuntimeError::Other("frozen stake differs from the ledger")
			);
			ensure!(
				!ledger.total().is_zero() || !ledger.allowance_used.is_zero(),
				TryRuntimeError::Other("empty ledger kept")
			);
			ensure!(
				ledger.warming.windows(2).all(|w| matches!(w, [a, b] if a.at < b.at))
					&& ledger.unbonding.windows(2).all(|w| matches!(w, [a, b] if a.at < b.at)),
				TryRuntimeError::Other("chunks out of order")
			);
			ensure!(
				ledger.warming.iter().all(|c| !c.amount.is_zero()),
				TryRuntimeError::Other("empty warming chunk")
			);
		}
		for who in frame_system::Account::<T>::iter_keys() {
			ensure!(
				T::Currency::balance_frozen(&id, &who).is_zero()
					|| Ledgers::<T>::contains_key(&who),
				TryRuntimeError::Other("stake frozen without a ledger")
			);
		}
		ensure!(
			Self::check_tiers(Tiers::<T>::get().into_inner()).is_ok(),
			TryRuntimeError::Other("tiers not strictly increasing")
		);
		ensure!(
			!Params::<T>::get().epoch_length.is_zero(),
			TryRuntimeError::Other("zero epoch length")
		);
		ensure!(
			EpochAnchor::<T>::get().1 <= Self::now(),
			TryRuntimeError::Other("epoch anchor in the future")
		);
		Ok(())
	}
}

impl<T: Config> TierInspect<T::AccountId> for Pallet<T> {
	fn tier_of(who: &T::AccountId) -> Tier {
		Self::tier_for(Self::effective_stake(who)).0
	}
}

impl<T: Config> FreeAllowance<T::AccountId, BalanceOf<T>> for Pallet<T> {
	fn allowance_left(who: &T::AccountId) -> BalanceOf<T> {
		let Some(ledger) = Ledgers::<T>::get(who) else { return Zero::zero() };
		Self::tier_allowance_left(who, &ledger, Self::current_epoch().0)
	}

	fn spend_allowance(
		who: &T::AccountId,
		provider: &T::AccountId,
		amount: BalanceOf<T>,
	) -> BalanceOf<T> {
		let Some(mut ledger) = Ledgers::<T>::get(who) else { return Zero::zero() };
		let (epoch, _) = Self::current_epoch();
		let left = Self::tier_allowance_left(who, &ledger, epoch);
		// A discount the provider grants: recorded, nothing is paid to anyone.
		let spend = amount.min(left);
		if spend.is_zero() {
			return Zero::zero();
		}
		if ledger.allowance_epoch != epoch {
			ledger.allowance_epoch = epoch;
			ledger.allowance_used = Zero::zero();
		}
		ledger.allowance_used = ledger.allowance_used.saturating_add(spend);
		Ledgers::<T>::insert(who, ledger);
		let left = left.saturating_sub(spend);
		Self::deposit_event(Event::AllowanceSpent {
			who: who.clone(),
			provider: provider.clone(),
			amount: spend,
			left,
			epoch,
		});
		spend
	}

	fn spend_allowance_weight() -> Weight {
		// Measured with the free balance read (the tier counts only stake it backs).
		T::WeightInfo::spend_allowance()
	}
}
