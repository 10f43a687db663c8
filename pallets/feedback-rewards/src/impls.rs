//! The pallet's logic: each call's `do_*`, epochs, rewards per point, the read API and
//! `try_state`.
//!
//! Complexity: submitting, committing, revealing and closing an epoch touch a fixed number of
//! records (a feedback's commitments are at most `MaxScorers`); finalising a feedback touches
//! its `MaxScorers` validators at most; claiming one epoch is one division per role. Nothing
//! iterates over annotators.

use crate::{pallet::*, types::*};
use alloc::vec::Vec;
use frame_support::{
	ensure,
	pallet_prelude::*,
	traits::{
		fungible::{Inspect, InspectHold, Mutate, MutateHold},
		tokens::{Fortitude, Precision, Preservation, Restriction},
		Get,
	},
};
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::{
	helpers_128bit::multiply_by_rational_with_rounding,
	traits::{Saturating, UniqueSaturatedInto, Zero},
	ArithmeticError, DispatchError, Rounding, SaturatedConversion,
};

impl<T: Config> Pallet<T> {
	fn now() -> BlockNumberFor<T> {
		frame_system::Pallet::<T>::block_number()
	}

	fn epoch_length() -> BlockNumberFor<T> {
		Params::<T>::get().epoch_length.max(1u32.into())
	}

	/// The epoch block `n` is in.
	pub fn epoch_at(n: BlockNumberFor<T>) -> EpochIndex {
		// The epoch length is never zero (`integrity_test`, genesis); if it were, all is epoch 0.
		n.checked_div(&Self::epoch_length()).unwrap_or_else(Zero::zero).saturated_into()
	}

	/// The current epoch.
	pub fn current_epoch() -> EpochIndex {
		Self::epoch_at(Self::now())
	}

	/// The first block of `epoch`.
	pub fn epoch_start(epoch: EpochIndex) -> BlockNumberFor<T> {
		Self::epoch_length().saturating_mul(epoch.into())
	}

	/// The first block `epoch` may be closed in (its feedback may be scored until then).
	pub fn closable_at(epoch: EpochIndex) -> BlockNumberFor<T> {
		Self::epoch_start(epoch.saturating_add(1)).saturating_add(Params::<T>::get().scoring_window)
	}

	/// The first block scores of `epoch`'s feedback may be revealed in: commitments close
	/// then (the middle of the scoring window).
	pub fn reveal_from(epoch: EpochIndex) -> BlockNumberFor<T> {
		let window = Params::<T>::get().scoring_window;
		let half = window.checked_div(&2u32.into()).unwrap_or_else(Zero::zero);
		Self::epoch_start(epoch.saturating_add(1)).saturating_add(half)
	}

	/// The commitment of `who`'s `score` with `salt` on feedback `id`.
	pub fn commitment(
		id: FeedbackId,
		who: &T::AccountId,
		score: Score,
		salt: &[u8; 32],
	) -> T::Hash {
		use sp_runtime::traits::Hash;
		T::Hashing::hash_of(&(id, who, score, salt))
	}

	/// `budget × part / total`, rounded down.
	fn share(budget: BalanceOf<T>, part: u64, total: u64) -> BalanceOf<T> {
		if total == 0 {
			return Zero::zero();
		}
		let budget: u128 = budget.unique_saturated_into();
		multiply_by_rational_with_rounding(budget, part.into(), total.into(), Rounding::Down)
			.unwrap_or(0)
			.saturated_into()
	}

	/// Gets `who`'s contribution to `epoch`, registering the epoch among its unclaimed ones
	/// (and the account in the epoch) if it is new.
	fn contribution(
		who: &T::AccountId,
		epoch: EpochIndex,
		info: &mut EpochInfoOf<T>,
	) -> Result<ContributionOf<T>, DispatchError> {
		if let Some(existing) = Contributions::<T>::get(epoch, who) {
			return Ok(existing);
		}
		let mut epochs = AccountEpochs::<T>::get(who);
		let at = epochs.binary_search(&epoch).unwrap_or_else(|at| at);
		epochs.try_insert(at, epoch).map_err(|_| Error::<T>::TooManyUnclaimedEpochs)?;
		AccountEpochs::<T>::insert(who, epochs);
		info.unclaimed_accounts.saturating_inc();
		Ok(Default::default())
	}

	pub(crate) fn do_submit(
		who: T::AccountId,
		model: ModelId,
		output_hash: T::Hash,
		kind: FeedbackKind,
		payload_hash: T::Hash,
	) -> DispatchResult {
		let epoch = Self::current_epoch();
		let mut info = Epochs::<T>::get(epoch).unwrap_or_default();
		ensure!(info.feedback < T::MaxFeedbackPerEpoch::get(), Error::<T>::EpochFull);
		let known = Contributions::<T>::get(epoch, &who).unwrap_or_default();
		ensure!(
			known.feedback < T::MaxFeedbackPerAnnotator::get(),
			Error::<T>::AnnotatorCapReached
		);
		let id = NextFeedbackId::<T>::get();
		let next_id = id.checked_add(1).ok_or(ArithmeticError::Overflow)?;
		let bond = T::FeedbackBond::get();
		// The fee funds the pool and is not returned: a flood of feedback costs its sender.
		T::Currency::transfer(
			&who,
			&T::RewardPool::get(),
			T::FeedbackFee::get(),
			frame_support::traits::tokens::Preservation::Preserve,
		)?;
		T::Currency::hold(&HoldReason::FeedbackBond.into(), &who, bond)?;
		// A bond held out of frozen funds (stake) could never be slashed; the extrinsic's
		// storage layer undoes the hold.
		ensure!(
			tokenmeter_primitives::holds_are_movable::<_, T::Currency>(&who),
			Error::<T>::FundsFrozen
		);
		let mut contribution = Self::contribution(&who, epoch, &mut info)?;

		contribution.feedback.saturating_inc();
		contribution.bonds.saturating_accrue(bond);
		info.feedback.saturating_inc();
		Contributions::<T>::insert(epoch, &who, contribution);
		Epochs::<T>::insert(epoch, info);
		NextFeedbackId::<T>::put(next_id);
		Feedbacks::<T>::insert(
			id,
			Feedback {
				annotator: who.clone(),
				epoch,
				model,
				output_hash,
				kind,
				payload_hash,
				bond,
				scores: Default::default(),
			},
		);
		Self::deposit_event(Event::FeedbackSubmitted {
			id,
			annotator: who,
			epoch,
			model,
			kind,
			bond,
		});
		Ok(())
	}

	pub(crate) fn do_register(who: T::AccountId, bond: BalanceOf<T>) -> DispatchResult {
		ensure!(bond >= T::ValidatorBond::get(), Error::<T>::BondTooLow);
		ensure!(!Validators::<T>::contains_key(&who), Error::<T>::AlreadyValidator);
		ensure!(Validators::<T>::count() < T::MaxValidators::get(), Error::<T>::TooManyValidators);
		T::Currency::hold(&HoldReason::ValidatorBond.into(), &who, bond)?;
		ensure!(
			tokenmeter_primitives::holds_are_movable::<_, T::Currency>(&who),
			Error::<T>::FundsFrozen
		);
		let active_from = Self::current_epoch().saturating_add(1);
		Validators::<T>::insert(&who, ValidatorInfo { bond, active_from, pending: 0, misses: 0 });
		Self::deposit_event(Event::ValidatorRegistered { who, bond });
		Ok(())
	}

	pub(crate) fn do_deregister(who: T::AccountId) -> DispatchResult {
		let validator = Validators::<T>::get(&who).ok_or(Error::<T>::NotValidator)?;
		ensure!(validator.pending == 0, Error::<T>::CommitmentsPending);
		T::Currency::release(
			&HoldReason::ValidatorBond.into(),
			&who,
			validator.bond,
			Precision::BestEffort,
		)?;
		Validators::<T>::remove(&who);
		Self::deposit_event(Event::ValidatorDeregistered { who });
		Ok(())
	}

	pub(crate) fn do_commit(
		who: T::AccountId,
		id: FeedbackId,
		commitment: T::Hash,
	) -> DispatchResult {
		let mut validator = Validators::<T>::get(&who).ok_or(Error::<T>::NotValidator)?;
		let mut feedback = Feedbacks::<T>::get(id).ok_or(Error::<T>::UnknownFeedback)?;
		let epoch = feedback.epoch;
		// Stake registered in an epoch counts from the next: a coalition cannot appear and
		// score within one window.
		ensure!(validator.active_from <= epoch, Error::<T>::NotYetActive);
		ensure!(feedback.annotator != who, Error::<T>::OwnFeedback);
		ensure!(!feedback.scores.iter().any(|c| c.validator == who), Error::<T>::AlreadyScored);
		ensure!(Self::now() < Self::reveal_from(epoch), Error::<T>::ScoringClosed);
		let mut info = Epochs::<T>::get(epoch).unwrap_or_default();
		let contribution = Self::contribution(&who, epoch, &mut info)?;
		if feedback.scores.is_full() {
			// The committee is the largest stakes, not the first to come: the smallest member
			// (the latest of equals) gives its seat to a larger stake.
			let (seat, smallest) = feedback
				.scores
				.iter()
				.enumerate()
				.min_by(|(i, a), (j, b)| a.stake.cmp(&b.stake).then(j.cmp(i)))
				.map(|(seat, c)| (seat, c.stake))
				.ok_or(Error::<T>::TooManyScorers)?;
			ensure!(validator.bond > smallest, Error::<T>::TooManyScorers);
			let out = feedback.scores.remove(seat);
			Validators::<T>::mutate(&out.validator, |v| {
				if let Some(v) = v {
					v.pending.saturating_dec();
				}
			});
			Self::deposit_event(Event::ScoreDisplaced {
				id,
				validator: out.validator,
				by: who.clone(),
			});
		}
		feedback
			.scores
			.try_push(Commitment {
				validator: who.clone(),
				hash: commitment,
				stake: validator.bond,
				score: None,
			})
			.map_err(|_| Error::<T>::TooManyScorers)?;

		validator.pending.saturating_inc();
		Validators::<T>::insert(&who, validator);
		Contributions::<T>::insert(epoch, &who, contribution);
		Epochs::<T>::insert(epoch, info);
		let commitments = feedback.scores.len() as u32;
		Feedbacks::<T>::insert(id, feedback);
		Self::deposit_event(Event::ScoreCommitted {
			id,
			validator: who,
			stake: validator.bond,
			commitments,
		});
		Ok(())
	}

	pub(crate) fn do_reveal(
		who: T::AccountId,
		id: FeedbackId,
		score: Score,
		salt: [u8; 32],
	) -> DispatchResult {
		ensure!(score <= MAX_SCORE, Error::<T>::InvalidScore);
		let mut feedback = Feedbacks::<T>::get(id).ok_or(Error::<T>::UnknownFeedback)?;
		let now = Self::now();
		ensure!(now >= Self::reveal_from(feedback.epoch), Error::<T>::RevealNotOpen);
		ensure!(now < Self::closable_at(feedback.epoch), Error::<T>::RevealClosed);
		let commitment = feedback
			.scores
			.iter_mut()
			.find(|c| c.validator == who)
			.ok_or(Error::<T>::NotCommitted)?;
		ensure!(commitment.score.is_none(), Error::<T>::AlreadyRevealed);
		ensure!(commitment.hash == Self::commitment(id, &who, score, &salt), Error::<T>::BadReveal);
		commitment.score = Some(score);
		Feedbacks::<T>::insert(id, feedback);
		Self::deposit_event(Event::ScoreRevealed { id, validator: who, score });
		Ok(())
	}

	/// The stake-weighted median of `scores` (score, stake): the lowest score such that the
	/// scores up to it carry at least half of the stake. `None` when there is no stake.
	pub(crate) fn weighted_median(scores: &[(Score, BalanceOf<T>)]) -> Option<Score> {
		let mut sorted: Vec<(Score, BalanceOf<T>)> = scores.to_vec();
		sorted.sort_unstable_by_key(|(score, _)| *score);
		let total = sorted
			.iter()
			.fold(BalanceOf::<T>::zero(), |sum, (_, stake)| sum.saturating_add(*stake));
		if total.is_zero() {
			return None;
		}
		let mut below = BalanceOf::<T>::zero();
		for (score, stake) in sorted {
			below.saturating_accrue(stake);
			// below ≥ total / 2, without dividing.
			if below.saturating_add(below) >= total {
				return Some(score);
			}
		}
		None
	}

	/// Takes `share` of `who`'s validator bond into the pool; returns what was taken.
	fn slash_validator(
		who: &T::AccountId,
		validator: &mut ValidatorInfoOf<T>,
		share: sp_runtime::Perbill,
	) -> Result<BalanceOf<T>, DispatchError> {
		// A fraction of a balance (rounded to the nearest) is never more than the balance.
		#[allow(clippy::arithmetic_side_effects)]
		let amount = share * validator.bond;
		if amount.is_zero() {
			return Ok(amount);
		}
		// By force: a freeze (stake) may have come to rest on the bond since it was held
		// (`pallet-balances` counts held funds toward a freeze). Best effort, and a slash that
		// cannot be taken takes nothing rather than failing: it never blocks finalising.
		let taken = T::Currency::transfer_on_hold(
			&HoldReason::ValidatorBond.into(),
			who,
			&T::RewardPool::get(),
			amount,
			Precision::BestEffort,
			Restriction::Free,
			Fortitude::Force,
		)
		.unwrap_or_default();
		validator.bond.saturating_reduce(taken);
		Ok(taken)
	}

	/// Finalises feedback `id` after its scoring window: see `finalize_feedback`. Returns
	/// how many validators had committed on it.
	pub(crate) fn do_finalize(id: FeedbackId) -> Result<u32, DispatchError> {
		let feedback = Feedbacks::<T>::get(id).ok_or(Error::<T>::UnknownFeedback)?;
		let epoch = feedback.epoch;
		ensure!(Self::now() >= Self::closable_at(epoch), Error::<T>::ScoringNotOver);
		let mut info = Epochs::<T>::get(epoch).unwrap_or_default();
		let revealed: Vec<(Score, BalanceOf<T>)> =
			feedback.scores.iter().filter_map(|c| c.score.map(|s| (s, c.stake))).collect();
		let final_score = Self::weighted_median(&revealed);
		for commitment in feedback.scores.iter() {
			let who = &commitment.validator;
			// A validator with pending commitments cannot leave, so its record is there.
			let Some(mut validator) = Validators::<T>::get(who) else { continue };
			validator.pending.saturating_dec();
			let (points, slash) = match (commitment.score, final_score) {
				(Some(score), Some(final_score)) => {
					validator.misses = 0;
					let deviation = score.abs_diff(final_score);
					if deviation <= T::ScoreTolerance::get() {
						(2u64, None)
					} else if deviation <= T::DeviationThreshold::get() {
						(1, None)
					} else {
						(0, Some((T::DeviationSlash::get(), false)))
					}
				}
				// Every miss costs `MissSlash` (no less than a bad score costs): a score kept
				// back is not a free option.
				_ => {
					validator.misses.saturating_inc();
					(0, Some((T::MissSlash::get(), true)))
				}
			};
			if let Some((share, missed)) = slash {
				let amount = Self::slash_validator(who, &mut validator, share)?;
				if !amount.is_zero() {
					Self::deposit_event(Event::ValidatorSlashed {
						who: who.clone(),
						id,
						amount,
						missed,
					});
				}
			}
			Validators::<T>::insert(who, validator);
			if points > 0 {
				Contributions::<T>::mutate(epoch, who, |c| {
					if let Some(c) = c {
						c.validator_points.saturating_accrue(points);
					}
				});
				info.validator_points.saturating_accrue(points);
			}
		}
		let mut bond_slashed = false;
		if let Some(score) = final_score {
			let mut annotator =
				Contributions::<T>::get(epoch, &feedback.annotator).unwrap_or_default();
			annotator.points.saturating_accrue(score.into());
			info.points.saturating_accrue(score.into());
			bond_slashed = score < T::SlashThreshold::get();
			if bond_slashed {
				// By force and best effort, as a validator's slash: what cannot be taken is
				// not, and finalising (and so closing the epoch) never fails on it.
				let taken = T::Currency::transfer_on_hold(
					&HoldReason::FeedbackBond.into(),
					&feedback.annotator,
					&T::RewardPool::get(),
					feedback.bond,
					Precision::BestEffort,
					Restriction::Free,
					Fortitude::Force,
				)
				.unwrap_or_default();
				annotator.bonds.saturating_reduce(taken);
			}
			Contributions::<T>::insert(epoch, &feedback.annotator, annotator);
		}
		info.finalised.saturating_inc();
		Epochs::<T>::insert(epoch, info);
		Feedbacks::<T>::remove(id);
		Self::deposit_event(Event::FeedbackFinalized {
			id,
			annotator: feedback.annotator,
			score: final_score,
			bond_slashed,
		});
		Ok(feedback.scores.len() as u32)
	}

	/// What the pool holds beyond its existential deposit and what it owes to closed epochs.
	pub fn pool_available() -> BalanceOf<T> {
		T::Currency::reducible_balance(
			&T::RewardPool::get(),
			Preservation::Preserve,
			Fortitude::Polite,
		)
		.saturating_sub(Unclaimed::<T>::get())
	}

	pub(crate) fn do_close(epoch: EpochIndex) -> DispatchResult {
		ensure!(Self::now() >= Self::closable_at(epoch), Error::<T>::EpochNotOver);
		let mut info = Epochs::<T>::get(epoch).ok_or(Error::<T>::NothingToClose)?;
		ensure!(!info.closed, Error::<T>::AlreadyClosed);
		ensure!(info.finalised >= info.feedback, Error::<T>::FeedbackNotFinal);
		// Fractions of a balance (rounded to the nearest) are never more than the balance.
		#[allow(clippy::arithmetic_side_effects)]
		let budget = T::EpochRewardShare::get() * Self::pool_available();
		let validator_budget = if info.validator_points > 0 {
			#[allow(clippy::arithmetic_side_effects)]
			let share = T::ValidatorShare::get() * budget;
			share
		} else {
			Zero::zero()
		};
		let annotator_budget =
			if info.points > 0 { budget.saturating_sub(validator_budget) } else { Zero::zero() };
		info.closed = true;
		info.annotator_budget = annotator_budget;
		info.validator_budget = validator_budget;
		Unclaimed::<T>::mutate(|u| {
			u.saturating_accrue(annotator_budget.saturating_add(validator_budget))
		});
		Epochs::<T>::insert(epoch, info);
		Self::deposit_event(Event::EpochClosed {
			epoch,
			annotator_budget,
			validator_budget,
			points: info.points,
			validator_points: info.validator_points,
		});
		Ok(())
	}

	/// The reward `contribution` earns in a closed epoch `info`.
	fn reward_of(info: &EpochInfoOf<T>, contribution: &ContributionOf<T>) -> BalanceOf<T> {
		Self::share(info.annotator_budget, contribution.points, info.points).saturating_add(
			Self::share(
				info.validator_budget,
				contribution.validator_points,
				info.validator_points,
			),
		)
	}

	pub(crate) fn do_claim(who: T::AccountId, epoch: EpochIndex) -> DispatchResult {
		let info = Epochs::<T>::get(epoch);
		ensure!(info.is_none_or(|i| i.closed), Error::<T>::EpochNotClosed);
		let mut info = info.ok_or(Error::<T>::NothingToClaim)?;
		let contribution =
			Contributions::<T>::get(epoch, &who).ok_or(Error::<T>::NothingToClaim)?;
		let reward = Self::reward_of(&info, &contribution);
		if !reward.is_zero() {
			T::Currency::transfer(&T::RewardPool::get(), &who, reward, Preservation::Preserve)?;
		}
		if !contribution.bonds.is_zero() {
			T::Currency::release(
				&HoldReason::FeedbackBond.into(),
				&who,
				contribution.bonds,
				Precision::Exact,
			)?;
		}

		Contributions::<T>::remove(epoch, &who);
		AccountEpochs::<T>::mutate(&who, |epochs| epochs.retain(|e| *e != epoch));
		info.claimed.saturating_accrue(reward);
		info.unclaimed_accounts.saturating_dec();
		let mut release = reward;
		if info.unclaimed_accounts == 0 {
			// Everyone claimed: what rounding left is no longer owed.
			release = info
				.annotator_budget
				.saturating_add(info.validator_budget)
				.saturating_sub(info.claimed.saturating_sub(reward));
			Epochs::<T>::remove(epoch);
		} else {
			Epochs::<T>::insert(epoch, info);
		}
		Unclaimed::<T>::mutate(|u| u.saturating_reduce(release));
		Self::deposit_event(Event::Claimed { who, epoch, reward, bonds: contribution.bonds });
		Ok(())
	}

	/// Claims up to `max_epochs` closed epochs of `who`, oldest first. Returns the number
	/// claimed and the number of epochs read and passed over (not closed yet).
	pub(crate) fn do_claim_many(
		who: T::AccountId,
		max_epochs: u32,
	) -> Result<(u32, u32), DispatchError> {
		let (mut claimed, mut passed) = (0u32, 0u32);
		for epoch in AccountEpochs::<T>::get(&who) {
			if claimed >= max_epochs.min(T::MaxUnclaimedEpochs::get()) {
				break;
			}
			if Epochs::<T>::get(epoch).is_some_and(|info| info.closed) {
				Self::do_claim(who.clone(), epoch)?;
				claimed.saturating_inc();
			} else {
				passed.saturating_inc();
			}
		}
		ensure!(claimed > 0, Error::<T>::NothingToClaim);
		Ok((claimed, passed))
	}

	pub(crate) fn do_fund_pool(who: T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		T::Currency::transfer(&who, &T::RewardPool::get(), amount, Preservation::Preserve)?;
		Self::deposit_event(Event::PoolFunded { who, amount });
		Ok(())
	}

	/// `epoch`'s state, blocks and record.
	pub fn epoch_status(epoch: EpochIndex) -> EpochStatus<BalanceOf<T>, BlockNumberFor<T>> {
		let now = Self::now();
		let record = Epochs::<T>::get(epoch);
		let closable_at = Self::closable_at(epoch);
		let end = Self::epoch_start(epoch.saturating_add(1));
		let state = if record.is_some_and(|i| i.closed) || (record.is_none() && now >= closable_at)
		{
			EpochState::Closed
		} else if now >= closable_at {
			EpochState::Closable
		} else if now >= end {
			EpochState::Scoring
		} else {
			EpochState::Open
		};
		EpochStatus {
			epoch,
			state,
			start: Self::epoch_start(epoch),
			end,
			reveal_from: Self::reveal_from(epoch),
			closable_at,
			info: record.unwrap_or_default(),
		}
	}

	/// `who`'s unclaimed contributions: the reward of each closed epoch and the bonds that come
	/// back with each claim.
	pub fn pending_rewards(who: &T::AccountId) -> Vec<PendingReward<BalanceOf<T>>> {
		AccountEpochs::<T>::get(who)
			.into_iter()
			.filter_map(|epoch| {
				let contribution = Contributions::<T>::get(epoch, who)?;
				let info = Epochs::<T>::get(epoch)?;
				Some(PendingReward {
					epoch,
					closed: info.closed,
					reward: if info.closed {
						Self::reward_of(&info, &contribution)
					} else {
						Zero::zero()
					},
					bonds: contribution.bonds,
				})
			})
			.collect()
	}

	/// The invariants:
	/// - the pool holds at least what closed epochs owe (`Unclaimed`), and `Unclaimed` is the
	///   sum over closed epochs of their budgets less what was claimed;
	/// - every epoch's unclaimed-account count is its number of contributions;
	/// - each account's feedback bonds on hold equal the bonds its contributions record, and
	///   its epochs list names exactly its contributions, oldest first;
	/// - each validator's bond is on hold, where slashing can move it; at most
	///   `MaxValidators` validators;
	/// - each validator's pending count is the number of stored commitments it has, and only
	///   validators have commitments; no epoch has more feedback finalised than submitted, and
	///   a closed epoch has all of it finalised.
	///
	/// Always compiled, so that runtime tests can check it after every block.
	pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
		let mut owed = BalanceOf::<T>::zero();
		for (epoch, info) in Epochs::<T>::iter() {
			if info.closed {
				let budget = info.annotator_budget.saturating_add(info.validator_budget);
				ensure!(info.claimed <= budget, "epoch paid more than it allocated");
				owed.saturating_accrue(budget.saturating_sub(info.claimed));
			}
			let accounts = Contributions::<T>::iter_prefix(epoch).count() as u32;
			ensure!(accounts == info.unclaimed_accounts, "epoch account count differs");
		}
		ensure!(owed == Unclaimed::<T>::get(), "Unclaimed differs from closed epochs' budgets");
		ensure!(
			T::Currency::balance(&T::RewardPool::get()) >= owed,
			"the pool does not cover the unclaimed rewards"
		);
		let mut bonds: alloc::collections::BTreeMap<T::AccountId, BalanceOf<T>> =
			Default::default();
		for (epoch, who, contribution) in Contributions::<T>::iter() {
			ensure!(
				AccountEpochs::<T>::get(&who).contains(&epoch),
				"contribution missing from the account's epochs"
			);
			bonds.entry(who).or_default().saturating_accrue(contribution.bonds);
		}
		for (who, epochs) in AccountEpochs::<T>::iter() {
			ensure!(
				epochs.windows(2).all(|w| matches!(w, [a, b] if a < b)),
				"account epochs not in order"
			);
			for epoch in epochs.iter() {
				ensure!(
					Contributions::<T>::contains_key(epoch, &who),
					"account epoch without a contribution"
				);
			}
			let held = T::Currency::balance_on_hold(&HoldReason::FeedbackBond.into(), &who);
			ensure!(
				held == bonds.get(&who).copied().unwrap_or_default(),
				"feedback bonds on hold differ from the contributions"
			);
		}
		for (who, validator) in Validators::<T>::iter() {
			let held = T::Currency::balance_on_hold(&HoldReason::ValidatorBond.into(), &who);
			ensure!(held == validator.bond, "validator bond not on hold");
			// Slashes move bonds by force: whatever freeze covers them, all can be taken.
			ensure!(
				T::Currency::reducible_total_balance_on_hold(&who, Fortitude::Force) >= held,
				"validator bond that slashing cannot move"
			);
		}
		ensure!(
			Validators::<T>::count() <= T::MaxValidators::get(),
			"more validators than MaxValidators"
		);
		let mut pending: alloc::collections::BTreeMap<T::AccountId, u32> = Default::default();
		for (_, feedback) in Feedbacks::<T>::iter() {
			for commitment in feedback.scores.iter() {
				pending.entry(commitment.validator.clone()).or_default().saturating_inc();
			}
		}
		for (who, validator) in Validators::<T>::iter() {
			ensure!(
				pending.remove(&who).unwrap_or_default() == validator.pending,
				"validator pending count differs from its commitments"
			);
		}
		ensure!(pending.is_empty(), "commitments of an account that is not a validator");
		for (_, info) in Epochs::<T>::iter() {
			ensure!(info.finalised <= info.feedback, "more feedback finalised than submitted");
			ensure!(
				!info.closed || info.finalised == info.feedback,
				"a closed epoch with feedback not finalised"
			);
		}
		Ok(())
	}
}
