//! Settlement: a provider's usage entries grouped by (user, payer), each group's best voucher
//! checked once, what is owed capped by the voucher, the delegation and the credits, and the
//! provider, the reward pool and the treasury paid.
//!
//! Like the rest of the pallet's logic, it checks everything first and writes storage last.

use crate::{
	pallet::*, types::*, FreeAllowance, ModelId, SettleUsage, SettlementSummary, VoucherSigners,
	WeightInfo,
};
use alloc::{collections::BTreeMap, vec::Vec};
use frame_support::{
	ensure,
	pallet_prelude::*,
	traits::{
		fungible::{Inspect, InspectHold, MutateHold},
		tokens::{DepositConsequence, Fortitude, Precision, Provenance, Restriction},
	},
};
use frame_system::pallet_prelude::BlockNumberFor;
use sp_runtime::{
	traits::{SaturatedConversion, Saturating, Zero},
	DispatchError,
};

/// The usage of one (user, payer) pair in a settlement.
struct Group<T: Config> {
	/// The voucher settled against.
	voucher: SignedVoucherOf<T>,
	/// What the group's entries cost.
	cost: BalanceOf<T>,
	/// What the group's entries of models that honour free allowances cost.
	discountable: BalanceOf<T>,
	/// How many entries it has.
	entries: u32,
	/// Tokens of dynamically priced models in it, per model: counted toward the models'
	/// utilisation only as far as the group is paid.
	tokens: BTreeMap<ModelId, u64>,
}

/// (user, payer named in the voucher).
type GroupKey<T> = (AccountIdOf<T>, AccountIdOf<T>);
/// A settlement's groups.
type Groups<T> = BTreeMap<GroupKey<T>, Group<T>>;
/// Entries rejected before any voucher is checked, counted per (user, reason).
type Rejections<T> = BTreeMap<(AccountIdOf<T>, RejectReason), u32>;
/// Dynamically priced models met in a settlement, brought up to date (`None`: not dynamic).
type Dynamic<T> = BTreeMap<ModelId, Option<DynamicPriceOf<T>>>;

/// What paying a provider for one group took.
struct Payment<Balance> {
	/// From the payer's credits.
	charged: Balance,
	/// From the user's free allowance.
	from_allowance: Balance,
	/// The part of `charged` paid as the protocol fee (to the reward pool and the treasury).
	fee: Balance,
	/// The part of `fee` paid to the treasury.
	to_treasury: Balance,
	/// Whether the payer's withdrawal notice was written (cut to the credits left).
	notice_written: bool,
}

impl<T: Config> Pallet<T> {
	/// Why `signed` may not be settled by `provider` for `user` now, if it may not: the chain,
	/// the provider, the user, the expiry, who may sign for the user and who may pay this
	/// provider, then the signature of the user's signer. Returns what the ledger is to
	/// remember of it.
	///
	/// The voucher `ledger` accepted last, carried again with the same signer, is not checked
	/// again. A new one is checked once in the form the last one was signed in (bare for a
	/// ledger's first), and only if that fails in the other form; each check is counted in
	/// `checks`.
	pub(crate) fn check_voucher(
		provider: &T::AccountId,
		user: &T::AccountId,
		signed: &SignedVoucherOf<T>,
		ledger: &VoucherLedgerOf<T>,
		checks: &mut u32,
	) -> Result<AcceptedVoucher, RejectReason> {
		let voucher = &signed.voucher;
		let genesis = frame_system::Pallet::<T>::block_hash(BlockNumberFor::<T>::zero());
		if voucher.genesis_hash != genesis {
			return Err(RejectReason::WrongChain);
		}
		if &voucher.provider != provider {
			return Err(RejectReason::WrongProvider);
		}
		if &voucher.user != user {
			return Err(RejectReason::VoucherForAnotherUser);
		}
		if voucher.expiry < frame_system::Pallet::<T>::block_number() {
			return Err(RejectReason::VoucherExpired);
		}
		// Who may sign now and, for a bounded notice after an agent owner's freeze, policy
		// change or controller rotation, who signed before it: usage served before the change
		// still settles (gateways admit with the current signer only).
		let allowed = |who: &T::AccountId| {
			let now = T::VoucherSigners::voucher_signer(who, provider);
			let before = T::VoucherSigners::previous_voucher_signer(who, provider)
				.filter(|before| now.as_ref() != Some(before));
			(now.is_some() || before.is_some()).then_some((now, before))
		};
		let (signer, previous) = allowed(user).ok_or(RejectReason::SignerNotAllowed)?;
		// A payer other than the user (an owner who delegated) must itself be allowed to pay
		// this provider: a frozen or expired agent, or one whose payee list leaves the
		// provider out, pays nobody through its delegates (past its notice).
		if &voucher.payer != user && allowed(&voucher.payer).is_none() {
			return Err(RejectReason::SignerNotAllowed);
		}
		let signers = [signer, previous];
		// The very voucher accepted last, found then to carry this signer's signature: the
		// signer is still allowed, so it needs no check again.
		if let Some(accepted) = ledger.accepted {
			let digests = signers.iter().flatten().map(|who| signed.accepted_digest(who));
			for digest in digests {
				if digest == accepted.digest {
					return Ok(accepted);
				}
			}
		}
		let first = ledger.accepted.is_some_and(|accepted| accepted.wrapped);
		for who in signers.iter().flatten() {
			for wrapped in [first, !first] {
				checks.saturating_inc();
				if signed.is_signed_in_form(who, wrapped) {
					return Ok(AcceptedVoucher { digest: signed.accepted_digest(who), wrapped });
				}
			}
		}
		Err(RejectReason::BadSignature)
	}

	/// Whether `candidate` is a better voucher to settle with than `current` at block `now`:
	/// one valid now beats an expired one, then the higher cap, then the later expiry. Only
	/// the chosen voucher's signature is checked.
	fn prefer_voucher(
		candidate: &SignedVoucherOf<T>,
		current: &SignedVoucherOf<T>,
		now: BlockNumberFor<T>,
	) -> bool {
		let rank =
			|v: &SignedVoucherOf<T>| (v.voucher.expiry >= now, v.voucher.cap, v.voucher.expiry);
		rank(candidate) > rank(current)
	}

	/// The prices of `model` for usage served at `served_at` and settled at `now`: those in
	/// force when it was served, never above those in force now (a decrease since applies).
	/// A provider that attests after its price rise took effect gains nothing by it.
	pub fn prices_for(
		model: &ModelOf<T>,
		served_at: BlockNumberFor<T>,
		now: BlockNumberFor<T>,
	) -> (BalanceOf<T>, BalanceOf<T>) {
		let (then_in, then_out) = model.prices_at(&served_at.min(now));
		let (now_in, now_out) = model.prices_at(&now);
		(then_in.min(now_in), then_out.min(now_out))
	}

	/// Groups `entries` by (user, payer) with their total cost at the prices in force when
	/// each was served ([`Self::prices_for`]) and the best voucher of each group; entries of
	/// unknown, retired or foreign models, whose voucher names another user, or served longer
	/// ago than `MaxUsageLateness`, are counted per (user, reason). Returns the dynamically
	/// priced models met, brought up to date.
	fn group_entries(
		provider: &T::AccountId,
		entries: Vec<UsageEntryOf<T>>,
		now: BlockNumberFor<T>,
	) -> (Groups<T>, Rejections<T>, Dynamic<T>) {
		let mut groups: Groups<T> = BTreeMap::new();
		let mut rejections: Rejections<T> = BTreeMap::new();
		let mut dynamic: Dynamic<T> = BTreeMap::new();
		let oldest = now.saturating_sub(T::MaxUsageLateness::get());
		for entry in entries {
			let model = match Models::<T>::get(entry.model) {
				None => Err(RejectReason::UnknownModel),
				Some(model) if &model.provider != provider => {
					Err(RejectReason::ModelOfAnotherProvider)
				}
				Some(model) if model.retired => Err(RejectReason::ModelRetired),
				Some(_) if entry.voucher.voucher.user != entry.user => {
					Err(RejectReason::VoucherForAnotherUser)
				}
				Some(_) if entry.served_at < oldest => Err(RejectReason::ServedTooLongAgo),
				Some(model) => Ok(model),
			};
			let model = match model {
				Ok(model) => model,
				Err(reason) => {
					rejections.entry((entry.user, reason)).or_default().saturating_inc();
					continue;
				}
			};
			let mut prices = Self::prices_for(&model, entry.served_at, now);
			let price = dynamic.entry(entry.model).or_insert_with(|| {
				DynamicPrices::<T>::get(entry.model)
					.and_then(|price| Self::touch(entry.model, provider, price, now))
			});
			let dynamic_tokens = price.as_ref().map(|price| {
				prices = Self::multiplied(prices, price.multiplier);
				u64::from(entry.input_tokens).saturating_add(u64::from(entry.output_tokens))
			});
			let (price_in, price_out) = prices;
			let cost = Self::cost_of(price_in, price_out, entry.input_tokens, entry.output_tokens);
			let key = (entry.user.clone(), entry.voucher.voucher.payer.clone());
			let group = groups.entry(key).or_insert_with(|| Group {
				voucher: entry.voucher.clone(),
				cost: Zero::zero(),
				discountable: Zero::zero(),
				entries: 0,
				tokens: BTreeMap::new(),
			});
			if let Some(tokens) = dynamic_tokens {
				group.tokens.entry(entry.model).or_default().saturating_accrue(tokens);
			}
			if Self::honours_allowance(entry.model, now) {
				group.discountable = group.discountable.saturating_add(cost);
			}
			if Self::prefer_voucher(&entry.voucher, &group.voucher, now) {
				group.voucher = entry.voucher;
			}
			group.cost = group.cost.saturating_add(cost);
			group.entries.saturating_inc();
		}
		(groups, rejections, dynamic)
	}

	/// Counts `group`'s tokens toward its dynamically priced models' utilisation, as far as
	/// `paid` of its cost was settled: usage that is rejected or unpaid (a forged voucher, a
	/// cap or credits that run out) moves no price.
	fn count_settled_tokens(dynamic: &mut Dynamic<T>, group: &Group<T>, paid: BalanceOf<T>) {
		use sp_runtime::{helpers_128bit::multiply_by_rational_with_rounding, Rounding};
		let (paid, cost) = (paid.saturated_into::<u128>(), group.cost.saturated_into::<u128>());
		for (model, tokens) in group.tokens.iter() {
			let Some(Some(price)) = dynamic.get_mut(model) else { continue };
			let settled = if paid >= cost {
				*tokens
			} else {
				multiply_by_rational_with_rounding(u128::from(*tokens), paid, cost, Rounding::Down)
					.map(|t| t.saturated_into::<u64>())
					.unwrap_or_default()
			};
			price.tokens = price.tokens.saturating_add(settled);
		}
	}

	/// What may be charged for a group's `cost`: at most the voucher's headroom and, for a
	/// delegate, the owner's allowance (with the allowance, to be updated after charging).
	/// Reports each limit that bites.
	fn owed_within_limits(
		provider: &T::AccountId,
		user: &T::AccountId,
		payer: &T::AccountId,
		(cap, ledger): (BalanceOf<T>, &VoucherLedgerOf<T>),
		cost: BalanceOf<T>,
		now: BlockNumberFor<T>,
	) -> Result<(BalanceOf<T>, Option<DelegationOf<T>>), RejectReason> {
		let headroom = cap.saturating_sub(ledger.settled);
		let mut owed = cost.min(headroom);
		if cost > headroom {
			Self::deposit_event(Event::UsageAboveCap {
				provider: provider.clone(),
				user: user.clone(),
				cost,
				headroom,
			});
		}
		if payer == user {
			return Ok((owed, None));
		}
		let allowance = Delegations::<T>::get(payer, user).ok_or(RejectReason::NoDelegation)?;
		if allowance.expiry < now {
			return Err(RejectReason::DelegationExpired);
		}
		if owed > allowance.remaining {
			Self::deposit_event(Event::AllowanceExceeded {
				provider: provider.clone(),
				user: user.clone(),
				owner: payer.clone(),
				owed,
				allowed: allowance.remaining,
			});
			owed = allowance.remaining;
		}
		Ok((owed, Some(allowance)))
	}

	/// Pays `provider` up to `owed` for `user`'s usage: the user's own free allowance first
	/// discounts up to `discountable` (usage of models that honour it; not for a delegate),
	/// and the provider is paid nothing for that part; then `payer`'s credits pay the rest
	/// (the protocol fee of the credits part to the reward pool and the treasury, split by
	/// [`Config::TreasuryShare`]).
	fn pay_provider(
		provider: &T::AccountId,
		user: &T::AccountId,
		payer: &T::AccountId,
		owed: BalanceOf<T>,
		discountable: BalanceOf<T>,
	) -> Result<Payment<BalanceOf<T>>, DispatchError> {
		// The user's own free allowance discounts first; it is theirs alone, so a delegate
		// spending an owner's credits does not use it. The discount moves no funds: the
		// provider granted it, so a staker who is (or colludes with) the provider gains
		// nothing by settling made-up usage under it.
		let discountable = owed.min(discountable);
		let from_allowance = if payer == user && !discountable.is_zero() {
			T::FreeAllowance::spend_allowance(user, provider, discountable).min(discountable)
		} else {
			Zero::zero()
		};
		// Credits are paid for service already given: they move even where a freeze (stake)
		// has come to cover them since they were deposited — `pallet-balances` counts held
		// funds toward a freeze, so a transfer of free funds can leave the freeze resting on the
		// credits. The freeze's owner loses its claim instead (priority staking counts only
		// stake that free funds back). Every credit shown can therefore be paid.
		let credits = Credits::<T>::get(payer);
		let spendable =
			credits.min(T::Currency::reducible_total_balance_on_hold(payer, Fortitude::Force));
		let charged = owed.saturating_sub(from_allowance).min(spendable);
		let paid = from_allowance.saturating_add(charged);
		if paid < owed {
			Self::deposit_event(Event::SettlementShortfall {
				provider: provider.clone(),
				user: user.clone(),
				payer: payer.clone(),
				owed,
				paid,
			});
		}
		if charged.is_zero() {
			return Ok(Payment {
				charged: Zero::zero(),
				from_allowance,
				fee: Zero::zero(),
				to_treasury: Zero::zero(),
				notice_written: false,
			});
		}
		// A fraction of a balance (rounded to the nearest) is never more than the balance.
		#[allow(clippy::arithmetic_side_effects)]
		let fee = T::ProtocolFee::get() * charged;
		let (pool, treasury) = (T::RewardPool::get(), T::Treasury::get());
		let can_take = |who: &T::AccountId, amount: BalanceOf<T>| {
			amount.is_zero()
				|| T::Currency::can_deposit(who, amount, Provenance::Extant)
					== DepositConsequence::Success
		};
		// The treasury's share of the fee; what it cannot take (it does not exist and the share
		// is below the existential deposit) goes to the pool, what the pool cannot take to the
		// provider.
		#[allow(clippy::arithmetic_side_effects)]
		let mut to_treasury = T::TreasuryShare::get() * fee;
		if !can_take(&treasury, to_treasury) {
			to_treasury = Zero::zero();
		}
		let mut to_pool = fee.saturating_sub(to_treasury);
		if !can_take(&pool, to_pool) {
			to_pool = Zero::zero();
		}
		let fee = to_pool.saturating_add(to_treasury);
		let reason = HoldReason::Credits.into();
		for (to, amount) in
			[(provider, charged.saturating_sub(fee)), (&pool, to_pool), (&treasury, to_treasury)]
		{
			if !amount.is_zero() {
				T::Currency::transfer_on_hold(
					&reason,
					payer,
					to,
					amount,
					Precision::Exact,
					Restriction::Free,
					Fortitude::Force,
				)?;
			}
		}
		let notice_written = Self::charge_credits(payer, credits.saturating_sub(charged));
		Ok(Payment { charged, from_allowance, fee, to_treasury, notice_written })
	}

	/// Settles `entries` served by `provider`; see [`crate::SettleUsage`].
	///
	/// Entries are grouped by (user, payer named in the voucher). Per group, only the best
	/// voucher (valid now, highest cap) is used and only its signature is checked: at most one
	/// signature check per user per settlement when the user signs each voucher the same way,
	/// none when it is the voucher the ledger accepted last ([`Self::check_voucher`]). The group's cost is charged up to the
	/// voucher's headroom (`cap − settled`), the delegate's allowance, and the payer's
	/// spendable credits, in that order; each limit that bites is reported in an event. A
	/// user's own usage is paid out of their free staking allowance first
	/// ([`crate::FreeAllowance`]), without a protocol fee; usage spent under a delegation never
	/// touches anyone's allowance. Credits under a withdrawal notice are still charged.
	pub(crate) fn do_settle(
		provider: &T::AccountId,
		entries: Vec<UsageEntryOf<T>>,
	) -> Result<SettlementSummary<BalanceOf<T>>, DispatchError> {
		ensure!(Providers::<T>::contains_key(provider), Error::<T>::NotProvider);
		let now = frame_system::Pallet::<T>::block_number();
		let mut summary = SettlementSummary::<BalanceOf<T>>::default();
		let (groups, rejections, mut dynamic) = Self::group_entries(provider, entries, now);
		let reject = |user: T::AccountId, entries: u32, reason: RejectReason| {
			Self::deposit_event(Event::UsageRejected {
				provider: provider.clone(),
				user,
				entries,
				reason,
			});
			entries
		};
		for ((user, reason), count) in rejections {
			summary.rejected_entries.saturating_accrue(reject(user, count, reason));
		}

		// Group by group, in order: two groups of one user (different payers) share the
		// user's ledger, so each sees what the one before it settled.
		for ((user, payer), group) in groups {
			// What of the worst case the group will not touch (refunded): a user paying with
			// its own credits has no delegation; the payer's withdrawal notice is written only
			// when it is cut (below).
			summary.writes_avoided.saturating_inc();
			if user == payer {
				summary.reads_avoided.saturating_inc();
				summary.writes_avoided.saturating_inc();
			}
			let cap = group.voucher.voucher.cap;
			let mut ledger = VoucherLedgers::<T>::get(&user, provider);
			let checks = &mut summary.signature_checks;
			let owed = Self::check_voucher(provider, &user, &group.voucher, &ledger, checks)
				.and_then(|accepted| {
					let limits = (cap, &ledger);
					Self::owed_within_limits(provider, &user, &payer, limits, group.cost, now)
						.map(|owed| (owed, accepted))
				});
			let ((owed, delegation), accepted) = match owed {
				Ok(owed) => owed,
				Err(reason) => {
					summary.rejected_entries.saturating_accrue(reject(user, group.entries, reason));
					continue;
				}
			};
			let Payment { charged, from_allowance, fee, to_treasury, notice_written } =
				Self::pay_provider(provider, &user, &payer, owed, group.discountable)?;
			let paid = charged.saturating_add(from_allowance);
			if paid.is_zero() {
				continue;
			}
			if notice_written {
				summary.writes_avoided.saturating_dec();
			}
			Self::count_settled_tokens(&mut dynamic, &group, paid);
			if let Some(mut allowance) = delegation {
				allowance.remaining = allowance.remaining.saturating_sub(charged);
				Delegations::<T>::insert(&payer, &user, allowance);
			}
			ledger.settled = ledger.settled.saturating_add(paid);
			ledger.cap = ledger.cap.max(cap);
			ledger.accepted = Some(accepted);
			VoucherLedgers::<T>::insert(&user, provider, ledger);

			summary.charged = summary.charged.saturating_add(charged);
			summary.from_allowance = summary.from_allowance.saturating_add(from_allowance);
			summary.fees = summary.fees.saturating_add(fee);
			Self::deposit_event(Event::UsageSettled {
				provider: provider.clone(),
				user,
				payer,
				charged,
				from_allowance,
				fee,
				to_treasury,
				settled_total: ledger.settled,
				cap: ledger.cap,
			});
		}
		for (model, price) in dynamic {
			if let Some(price) = price {
				DynamicPrices::<T>::insert(model, price);
			}
		}
		Ok(summary)
	}
}

impl<T: Config> Pallet<T> {
	/// What one voucher signature check adds to a settlement: the difference per entry between
	/// settling new vouchers (each checked once) and vouchers accepted before (none checked),
	/// at the largest batch the benchmarks measure.
	pub fn signature_check_weight() -> Weight {
		let n = T::MaxEntriesPerSettlement::get().max(1);
		T::WeightInfo::settle_new(n)
			.saturating_sub(T::WeightInfo::settle(n))
			.checked_div(n.into())
			.unwrap_or_default()
	}
}

impl<T: Config> SettleUsage<T::AccountId> for Pallet<T> {
	type Entry = UsageEntryOf<T>;
	type Balance = BalanceOf<T>;

	fn settle(
		provider: &T::AccountId,
		entries: alloc::vec::Vec<Self::Entry>,
	) -> Result<SettlementSummary<Self::Balance>, DispatchError> {
		Self::do_settle(provider, entries)
	}

	fn settle_weight(entries: u32) -> Weight {
		// Every voucher new and checked in both forms against both signers an agent may have
		// (its controller, and the one before it during its notice).
		Self::settled_weight(
			entries,
			&SettlementSummary {
				signature_checks: entries.saturating_mul(4),
				..Default::default()
			},
		)
	}

	fn settled_weight(entries: u32, summary: &SettlementSummary<Self::Balance>) -> Weight {
		// At most one allowance spend and two signer look-ups (the user's signers, and whether
		// the payer may pay) per entry (per group, in fact), and the signature checks made.
		T::WeightInfo::settle(entries)
			.saturating_add(
				T::FreeAllowance::spend_allowance_weight()
					.saturating_add(T::VoucherSigners::voucher_signer_weight().saturating_mul(2))
					.saturating_mul(entries.into()),
			)
			.saturating_add(
				Self::signature_check_weight().saturating_mul(summary.signature_checks.into()),
			)
			.saturating_sub(
				T::DbWeight::get()
					.reads_writes(summary.reads_avoided.into(), summary.writes_avoided.into()),
			)
	}

	fn expected_weight(provider: &T::AccountId, entries: &[Self::Entry]) -> Weight {
		// Per (user, payer) group, the checks its voucher of the highest cap would take now
		// (the settlement checks the group's best voucher, valid and of the highest cap).
		let mut groups = alloc::collections::BTreeMap::<_, &SignedVoucherOf<T>>::new();
		for entry in entries {
			let best =
				groups.entry((&entry.user, &entry.voucher.voucher.payer)).or_insert(&entry.voucher);
			if entry.voucher.voucher.cap > best.voucher.cap {
				*best = &entry.voucher;
			}
		}
		// And the storage it will not touch: a user paying with its own credits has no
		// delegation, and a payer without a withdrawal notice gets none (one with a notice
		// is counted as written).
		let mut summary = SettlementSummary::default();
		for ((user, payer), signed) in groups {
			let ledger = VoucherLedgers::<T>::get(user, provider);
			let checks = &mut summary.signature_checks;
			let _ = Self::check_voucher(provider, user, signed, &ledger, checks);
			if user == payer {
				summary.reads_avoided.saturating_inc();
				summary.writes_avoided.saturating_inc();
			}
			if !PendingWithdrawals::<T>::contains_key(payer) {
				summary.writes_avoided.saturating_inc();
			}
		}
		let entries = u32::try_from(entries.len()).unwrap_or(u32::MAX);
		Self::settled_weight(entries, &summary).min(Self::settle_weight(entries))
	}
}
