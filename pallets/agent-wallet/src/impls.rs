//! The pallet's logic: each call's `do_*`, the spending checks, the read API and `try_state`.
//!
//! Every function checks everything first and writes storage last; `act` and the approval
//! that pays run inside the extrinsic's storage layer, so their errors roll back whatever
//! the dispatched call or transfer did.

use crate::{pallet::*, types::*, AgentCalls, WeightInfo};
use alloc::vec::Vec;
use codec::{Decode, Encode, MaxEncodedLen};
use frame_support::traits::Defensive as _;
use frame_support::{
	dispatch::{
		extract_actual_weight, DispatchErrorWithPostInfo, GetDispatchInfo, PostDispatchInfo,
	},
	ensure,
	pallet_prelude::*,
	traits::{
		fungible::{Inspect, Mutate},
		tokens::{Fortitude, Preservation},
		Consideration, Contains, Footprint, IsSubType, IsType, OriginTrait, UnfilteredDispatchable,
	},
};
use frame_system::pallet_prelude::BlockNumberFor;
use sp_io::hashing::blake2_256;
use sp_runtime::{
	traits::{Dispatchable, Saturating, TrailingZeroInput, Zero},
	DispatchError,
};

/// Domain separator of agent addresses.
const AGENT_ADDRESS_DOMAIN: &[u8] = b"tokenmeter/agent-wallet";

impl<T: Config> Pallet<T> {
	/// The keyless address of the agent `owner` creates with `config_hash` and `index`:
	/// `blake2_256("tokenmeter/agent-wallet", owner, config_hash, index)` read as an account
	/// id. Nobody knows a private key for it.
	pub fn agent_address(owner: &T::AccountId, config_hash: &T::Hash, index: u32) -> T::AccountId {
		let entropy = (AGENT_ADDRESS_DOMAIN, owner, config_hash, index).using_encoded(blake2_256);
		#[allow(clippy::expect_used)]
		Decode::decode(&mut TrailingZeroInput::new(entropy.as_ref()))
			.expect("infinite length input; no invalid inputs for type; qed")
	}

	pub(crate) fn now() -> BlockNumberFor<T> {
		frame_system::Pallet::<T>::block_number()
	}

	/// A policy is valid if its period is at least one block, the approvals needed are
	/// between 1 and the number of cosigners (1 when the owner alone cosigns), payees and
	/// cosigners are unique and the expiry (if any) is not in the past.
	pub(crate) fn check_policy(policy: &PolicyOf<T>) -> DispatchResult {
		let cosigners = (policy.cosigners.len() as u32).max(1);
		ensure!(
			!policy.period_length.is_zero()
				&& policy.approvals_needed >= 1
				&& policy.approvals_needed <= cosigners
				&& !policy.expired_at(&Self::now())
				&& unique(&policy.cosigners)
				&& policy.payees.as_ref().is_none_or(|payees| unique(payees)),
			Error::<T>::InvalidPolicy
		);
		Ok(())
	}

	pub(crate) fn agent_of(agent: &T::AccountId) -> Result<AgentOf<T>, DispatchError> {
		Agents::<T>::get(agent).ok_or_else(|| Error::<T>::NotAgent.into())
	}

	fn owned(who: &T::AccountId, agent: &T::AccountId) -> Result<AgentOf<T>, DispatchError> {
		let info = Self::agent_of(agent)?;
		ensure!(&info.owner == who, Error::<T>::NotOwner);
		Ok(info)
	}

	/// The agent, if `who` controls it and it may spend now.
	fn controlled(who: &T::AccountId, agent: &T::AccountId) -> Result<AgentOf<T>, DispatchError> {
		let info = Self::agent_of(agent)?;
		ensure!(&info.controller == who, Error::<T>::NotController);
		Self::ensure_may_spend(&info)?;
		Ok(info)
	}

	pub(crate) fn ensure_may_spend(info: &AgentOf<T>) -> DispatchResult {
		ensure!(!info.frozen, Error::<T>::AgentFrozen);
		ensure!(!info.policy.expired_at(&Self::now()), Error::<T>::AgentExpired);
		Ok(())
	}

	/// The id after `id`, which the agent's next payment will take. Ids never wrap: a signed
	/// payment (`pay_signed`) with a reused nonce would be paid again.
	pub(crate) fn payment_id_after(id: PaymentId) -> Result<PaymentId, Error<T>> {
		id.checked_add(1).ok_or(Error::<T>::PaymentIdsExhausted)
	}

	/// Counts `amount` against the caps, updating `info`'s period; returns what was spent in
	/// the period and what remains.
	pub(crate) fn charge(
		info: &mut AgentOf<T>,
		amount: BalanceOf<T>,
	) -> Result<(BalanceOf<T>, BalanceOf<T>), DispatchError> {
		ensure!(amount <= info.policy.per_payment_cap, Error::<T>::PaymentCapExceeded);
		let (start, spent) = info.period_at(Self::now());
		let spent = spent.saturating_add(amount);
		ensure!(spent <= info.policy.period_cap, Error::<T>::PeriodCapExceeded);
		info.period_start = start;
		info.spent = spent;
		Ok((spent, info.policy.period_cap.saturating_sub(spent)))
	}

	/// The agent's free balance and its balance on hold.
	fn holdings(agent: &T::AccountId) -> (BalanceOf<T>, BalanceOf<T>) {
		let free = T::Currency::balance(agent);
		(free, T::Currency::total_balance(agent).saturating_sub(free))
	}

	/// What left the agent between `before` and `after`: the fall of its free balance, where
	/// funds released from its own holds (deposited credits, bonds) count as leaving when
	/// they leave again. Zero if nothing left.
	pub(crate) fn outflow(
		(free_before, held_before): (BalanceOf<T>, BalanceOf<T>),
		(free_after, held_after): (BalanceOf<T>, BalanceOf<T>),
	) -> BalanceOf<T> {
		let released = held_before.saturating_sub(held_after);
		free_before.saturating_add(released).saturating_sub(free_after)
	}

	pub(crate) fn do_create_agent(
		owner: T::AccountId,
		config_hash: T::Hash,
		policy: PolicyOf<T>,
		controller: T::AccountId,
	) -> DispatchResult {
		Self::check_policy(&policy)?;
		let index = NextAgentIndex::<T>::get(&owner);
		let next_index = index.checked_add(1).ok_or(Error::<T>::IndexOverflow)?;
		let agent = Self::agent_address(&owner, &config_hash, index);
		ensure!(!Agents::<T>::contains_key(&agent), Error::<T>::AgentExists);
		ensure!(controller != agent, Error::<T>::ControllerIsAgent);
		let deposit = T::AgentDeposit::new(&owner, Self::footprint())?;

		// Keeps the keyless account alive while the agent exists, whatever its balance.
		frame_system::Pallet::<T>::inc_providers(&agent);
		NextAgentIndex::<T>::insert(&owner, next_index);
		Agents::<T>::insert(
			&agent,
			Agent {
				owner: owner.clone(),
				controller: controller.clone(),
				config_hash,
				index,
				policy,
				policy_version: 0,
				frozen: false,
				period_start: Self::now(),
				spent: Zero::zero(),
				next_payment_id: 0,
				pending: 0,
				deposit,
			},
		);
		Self::deposit_event(Event::AgentCreated { agent, owner, controller, config_hash, index });
		Ok(())
	}

	pub(crate) fn do_pay(
		who: T::AccountId,
		agent: T::AccountId,
		payee: T::AccountId,
		amount: BalanceOf<T>,
	) -> DispatchResultWithPostInfo {
		let mut info = Self::controlled(&who, &agent)?;
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		ensure!(info.policy.allows_payee(&payee), Error::<T>::PayeeNotAllowed);
		// The fee handler ran before this call: it withdrew the fee from the agent if the
		// policy says so (`charge_fee`), and otherwise only read the agent's record.
		let fee = if info.policy.pays_fees {
			T::WeightInfo::charge_fee()
		} else {
			T::DbWeight::get().reads(1)
		};
		if amount > info.policy.cosign_threshold {
			Self::propose(who, agent, info, payee, amount)?;
			return Ok(Some(T::WeightInfo::propose_payment().saturating_add(fee)).into());
		}
		let (spent, remaining) = Self::charge(&mut info, amount)?;
		T::Currency::transfer(&agent, &payee, amount, Preservation::Preserve)?;
		Agents::<T>::insert(&agent, info);
		Self::deposit_event(Event::Paid { agent, payee, amount, spent, remaining });
		Ok(Some(T::WeightInfo::pay().saturating_add(fee)).into())
	}

	/// A payment above the cosign threshold: checked against the caps now (and again when it
	/// is paid), stored with the proposer's deposit.
	fn propose(
		proposer: T::AccountId,
		agent: T::AccountId,
		mut info: AgentOf<T>,
		payee: T::AccountId,
		amount: BalanceOf<T>,
	) -> DispatchResult {
		ensure!(info.pending < T::MaxPending::get(), Error::<T>::TooManyPending);
		Self::charge(&mut info.clone(), amount)?;
		let id = info.next_payment_id;
		let next_id = Self::payment_id_after(id)?;
		let deposit =
			T::PendingDeposit::new(&proposer, Footprint::from_mel::<PendingPaymentOf<T>>())?;
		let expires = Self::now().saturating_add(T::PendingLifetime::get());
		PendingPayments::<T>::insert(
			&agent,
			id,
			PendingPayment {
				payee: payee.clone(),
				amount,
				proposer,
				deposit,
				expires,
				approvals: Default::default(),
			},
		);
		info.next_payment_id = next_id;
		info.pending.saturating_inc();
		let approvals_needed = info.policy.approvals_needed;
		Agents::<T>::insert(&agent, info);
		Self::deposit_event(Event::PaymentProposed {
			agent,
			id,
			payee,
			amount,
			approvals_needed,
			expires,
		});
		Ok(())
	}

	pub(crate) fn do_act(
		who: T::AccountId,
		agent: T::AccountId,
		call: <T as Config>::RuntimeCall,
	) -> DispatchResultWithPostInfo {
		let mut info = Self::controlled(&who, &agent)?;
		let payees: Option<Vec<T::AccountId>> =
			info.policy.payees.as_ref().map(|payees| payees.to_vec());
		let alone = T::AgentCalls::allows_alone(&call);
		ensure!(
			alone || T::AgentCalls::allows(&call, payees.as_deref()),
			Error::<T>::CallNotAllowed
		);
		if alone {
			// Dispatched past the origin's filter (which refuses it when nested): the runtime's
			// base filter still applies.
			ensure!(
				<T as frame_system::Config>::BaseCallFilter::contains(call.into_ref()),
				frame_system::Error::<T>::CallFiltered
			);
		}

		let dispatch_info = call.get_dispatch_info();
		let before = Self::holdings(&agent);
		let mut origin: T::RuntimeOrigin = frame_system::RawOrigin::Signed(agent.clone()).into();
		// Every call dispatched with this origin, however deeply nested, must be allowed.
		origin.add_filter(move |c: &<T as frame_system::Config>::RuntimeCall| {
			T::AgentCalls::allows(<T as Config>::RuntimeCall::from_ref(c), payees.as_deref())
		});
		let result =
			if alone { call.dispatch_bypass_filter(origin) } else { call.dispatch(origin) };
		let weight = T::WeightInfo::act()
			.saturating_add(T::WeightInfo::charge_fee())
			.saturating_add(extract_actual_weight(&result, &dispatch_info));
		let with_weight = |error: DispatchError| DispatchErrorWithPostInfo {
			post_info: PostDispatchInfo { actual_weight: Some(weight), pays_fee: Pays::Yes },
			error,
		};
		result.map_err(|e| with_weight(e.error))?;

		let outflow = Self::outflow(before, Self::holdings(&agent));
		if outflow > info.policy.cosign_threshold {
			return Err(with_weight(Error::<T>::CosignRequired.into()));
		}
		let (spent, remaining) = Self::charge(&mut info, outflow).map_err(with_weight)?;
		Agents::<T>::insert(&agent, info);
		Self::deposit_event(Event::Acted { agent, outflow, spent, remaining });
		Ok(Some(weight).into())
	}

	fn pending_of(
		agent: &T::AccountId,
		id: PaymentId,
	) -> Result<PendingPaymentOf<T>, DispatchError> {
		PendingPayments::<T>::get(agent, id).ok_or_else(|| Error::<T>::PaymentNotFound.into())
	}

	/// Removes a pending payment and returns its deposit to the proposer.
	fn remove_pending(agent: &T::AccountId, info: &mut AgentOf<T>, id: PaymentId) {
		if let Some(payment) = PendingPayments::<T>::take(agent, id) {
			let _ = payment.deposit.drop(&payment.proposer).defensive();
			info.pending.saturating_dec();
		}
	}

	pub(crate) fn do_approve(
		who: T::AccountId,
		agent: T::AccountId,
		id: PaymentId,
	) -> DispatchResult {
		let mut info = Self::agent_of(&agent)?;
		let mut payment = Self::pending_of(&agent, id)?;
		ensure!(info.policy.is_cosigner(&who, &info.owner), Error::<T>::NotCosigner);
		ensure!(!payment.approvals.contains(&who), Error::<T>::AlreadyApproved);
		ensure!(Self::now() <= payment.expires, Error::<T>::PaymentExpired);
		Self::ensure_may_spend(&info)?;
		payment.approvals.try_push(who.clone()).map_err(|_| Error::<T>::AlreadyApproved)?;
		let approvals = payment.approvals.len() as u32;

		if approvals < info.policy.approvals_needed {
			PendingPayments::<T>::insert(&agent, id, payment);
			Self::deposit_event(Event::PaymentApproved { agent, id, by: who, approvals });
			return Ok(());
		}
		let (spent, remaining) = Self::charge(&mut info, payment.amount)?;
		T::Currency::transfer(&agent, &payment.payee, payment.amount, Preservation::Preserve)?;
		Self::remove_pending(&agent, &mut info, id);
		Agents::<T>::insert(&agent, info);
		Self::deposit_event(Event::PaymentApproved {
			agent: agent.clone(),
			id,
			by: who,
			approvals,
		});
		Self::deposit_event(Event::Paid {
			agent,
			payee: payment.payee,
			amount: payment.amount,
			spent,
			remaining,
		});
		Ok(())
	}

	pub(crate) fn do_reject(
		who: T::AccountId,
		agent: T::AccountId,
		id: PaymentId,
	) -> DispatchResult {
		let mut info = Self::agent_of(&agent)?;
		Self::pending_of(&agent, id)?;
		ensure!(
			who == info.owner || info.policy.is_cosigner(&who, &info.owner),
			Error::<T>::NotCosigner
		);
		Self::remove_pending(&agent, &mut info, id);
		Agents::<T>::insert(&agent, info);
		Self::deposit_event(Event::PaymentRejected { agent, id, by: who });
		Ok(())
	}

	pub(crate) fn do_reap(who: T::AccountId, agent: T::AccountId, id: PaymentId) -> DispatchResult {
		let payment = Self::pending_of(&agent, id)?;
		ensure!(Self::now() > payment.expires, Error::<T>::NotExpired);
		// A pending payment exists only for an existing agent.
		let mut info = Self::agent_of(&agent)?;
		Self::remove_pending(&agent, &mut info, id);
		Agents::<T>::insert(&agent, info);
		Self::deposit_event(Event::PaymentReaped { agent, id, by: who });
		Ok(())
	}

	/// Cancels every pending payment of `agent` (at most `MaxPending`), returning the
	/// deposits; returns how many there were.
	fn cancel_pending(agent: &T::AccountId, info: &mut AgentOf<T>, reason: CancelReason) -> u32 {
		let mut cancelled = 0u32;
		for (id, payment) in PendingPayments::<T>::drain_prefix(agent) {
			let _ = payment.deposit.drop(&payment.proposer).defensive();
			cancelled.saturating_inc();
			Self::deposit_event(Event::PaymentCancelled { agent: agent.clone(), id, reason });
		}
		info.pending = 0;
		cancelled
	}

	/// The storage an agent may take: its record and one settlement grace.
	pub(crate) fn footprint() -> Footprint {
		Footprint::from_parts(
			2,
			AgentOf::<T>::max_encoded_len()
				.saturating_add(SettlementGraceOf::<T>::max_encoded_len()),
		)
	}

	/// Before the owner changes who may sign for `agent` or for which payees (`info` as it is
	/// now): lets settlement accept the current signer's vouchers for the current payees for
	/// `SettlementGrace` more blocks. Nothing to keep if the agent may not spend now (frozen,
	/// expired): then the grace in force, if any, stays.
	fn start_grace(agent: &T::AccountId, info: &AgentOf<T>) {
		if Self::ensure_may_spend(info).is_err() {
			return;
		}
		let until = Self::now().saturating_add(T::SettlementGrace::get());
		let grace =
			SettlementGrace { signer: info.controller.clone(), policy: info.policy.clone(), until };
		SettlementGraces::<T>::insert(agent, grace);
		Self::deposit_event(Event::SettlementGraceStarted {
			agent: agent.clone(),
			signer: info.controller.clone(),
			until,
		});
	}

	pub(crate) fn do_set_policy(
		who: T::AccountId,
		agent: T::AccountId,
		policy: PolicyOf<T>,
	) -> Result<u32, DispatchError> {
		let mut info = Self::owned(&who, &agent)?;
		Self::check_policy(&policy)?;
		// The current period keeps its start unless the new length ends it.
		let (start, spent) = info.period_at(Self::now());
		Self::start_grace(&agent, &info);
		info.period_start = start;
		info.spent = spent;
		info.policy = policy;
		info.policy_version = info.policy_version.wrapping_add(1);
		let cancelled = Self::cancel_pending(&agent, &mut info, CancelReason::PolicyChanged);
		let version = info.policy_version;
		Agents::<T>::insert(&agent, info);
		Self::deposit_event(Event::PolicyChanged { agent, version });
		Ok(cancelled)
	}

	pub(crate) fn do_freeze(who: T::AccountId, agent: T::AccountId) -> Result<u32, DispatchError> {
		let mut info = Self::owned(&who, &agent)?;
		ensure!(!info.frozen, Error::<T>::AgentFrozen);
		Self::start_grace(&agent, &info);
		info.frozen = true;
		info.policy_version = info.policy_version.wrapping_add(1);
		let cancelled = Self::cancel_pending(&agent, &mut info, CancelReason::Frozen);
		Agents::<T>::insert(&agent, info);
		Self::deposit_event(Event::AgentFrozen { agent });
		Ok(cancelled)
	}

	pub(crate) fn do_unfreeze(who: T::AccountId, agent: T::AccountId) -> DispatchResult {
		let mut info = Self::owned(&who, &agent)?;
		ensure!(info.frozen, Error::<T>::NotFrozen);
		info.frozen = false;
		info.policy_version = info.policy_version.wrapping_add(1);
		Agents::<T>::insert(&agent, info);
		Self::deposit_event(Event::AgentUnfrozen { agent });
		Ok(())
	}

	pub(crate) fn do_rotate_controller(
		who: T::AccountId,
		agent: T::AccountId,
		new: T::AccountId,
	) -> DispatchResult {
		let mut info = Self::owned(&who, &agent)?;
		ensure!(new != agent, Error::<T>::ControllerIsAgent);
		Self::start_grace(&agent, &info);
		let old = core::mem::replace(&mut info.controller, new.clone());
		Agents::<T>::insert(&agent, info);
		Self::deposit_event(Event::ControllerRotated { agent, old, new });
		Ok(())
	}

	pub(crate) fn do_withdraw(
		who: T::AccountId,
		agent: T::AccountId,
		amount: BalanceOf<T>,
	) -> DispatchResult {
		Self::owned(&who, &agent)?;
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		T::Currency::transfer(&agent, &who, amount, Preservation::Preserve)?;
		Self::deposit_event(Event::Withdrawn { agent, amount });
		Ok(())
	}

	pub(crate) fn do_close_agent(
		who: T::AccountId,
		agent: T::AccountId,
	) -> Result<u32, DispatchError> {
		let mut info = Self::owned(&who, &agent)?;
		let all =
			T::Currency::reducible_balance(&agent, Preservation::Expendable, Fortitude::Polite);
		ensure!(all == T::Currency::total_balance(&agent), Error::<T>::AgentFundsLocked);
		ensure!(frame_system::Pallet::<T>::consumers(&agent) == 0, Error::<T>::AgentInUse);

		let cancelled = Self::cancel_pending(&agent, &mut info, CancelReason::Closed);
		if !all.is_zero() {
			T::Currency::transfer(&agent, &who, all, Preservation::Expendable)?;
		}
		frame_system::Pallet::<T>::dec_providers(&agent)?;
		let _ = info.deposit.drop(&who).defensive();
		Agents::<T>::remove(&agent);
		SettlementGraces::<T>::remove(&agent);
		Self::deposit_event(Event::AgentClosed { agent, owner: who, returned: all });
		Ok(cancelled)
	}

	/// See [`crate::VoucherSigners`]: an agent's controller signs for it while it may spend
	/// with `provider`; any other account signs for itself.
	pub(crate) fn do_voucher_signer(
		account: &T::AccountId,
		provider: &T::AccountId,
	) -> Option<T::AccountId> {
		match Agents::<T>::get(account) {
			None => Some(account.clone()),
			Some(info) => (Self::ensure_may_spend(&info).is_ok()
				&& info.policy.allows_payee(provider))
			.then_some(info.controller),
		}
	}

	/// See [`crate::VoucherSigners::previous_voucher_signer`]: the controller `account` had
	/// before its owner's last change, while the grace lasts and if the policy of then allowed
	/// `provider`.
	pub(crate) fn do_previous_voucher_signer(
		account: &T::AccountId,
		provider: &T::AccountId,
	) -> Option<T::AccountId> {
		let grace = SettlementGraces::<T>::get(account)?;
		(Self::now() <= grace.until && grace.policy.allows_payee(provider)).then_some(grace.signer)
	}

	/// The agent that pays the fee of `call` signed by `who`: for the controller's `pay` and
	/// `act`, when the agent's policy says so and it may spend now.
	pub fn fee_payer(
		who: &T::AccountId,
		call: &<T as frame_system::Config>::RuntimeCall,
	) -> Option<T::AccountId> {
		let agent = match <T as Config>::RuntimeCall::from_ref(call).is_sub_type()? {
			Call::pay { agent, .. } | Call::act { agent, .. } => agent,
			_ => return None,
		};
		let info = Agents::<T>::get(agent)?;
		(&info.controller == who && info.policy.pays_fees && Self::ensure_may_spend(&info).is_ok())
			.then(|| agent.clone())
	}

	/// Whether `agent` may pay a fee of `fee` within what remains of its period cap.
	pub fn may_pay_fee(agent: &T::AccountId, fee: BalanceOf<T>) -> bool {
		Agents::<T>::get(agent).is_some_and(|info| fee <= info.remaining_at(Self::now()))
	}

	/// Counts a fee of `fee` the agent paid against its period cap.
	pub fn record_fee(agent: &T::AccountId, fee: BalanceOf<T>) {
		Agents::<T>::mutate_exists(agent, |maybe| {
			if let Some(info) = maybe {
				let (start, spent) = info.period_at(Self::now());
				info.period_start = start;
				info.spent = spent.saturating_add(fee).min(info.policy.period_cap);
			}
		});
	}

	/// Gives back `refund` of a fee counted by [`Self::record_fee`] in this block.
	pub fn refund_fee(agent: &T::AccountId, refund: BalanceOf<T>) {
		if refund.is_zero() {
			return;
		}
		Agents::<T>::mutate_exists(agent, |maybe| {
			if let Some(info) = maybe {
				info.spent = info.spent.saturating_sub(refund);
			}
		});
	}

	/// An agent's policy, spending in the current period and pending payments.
	pub fn status(agent: &T::AccountId) -> Option<AgentStatusOf<T>> {
		let info = Agents::<T>::get(agent)?;
		let now = Self::now();
		let (period_start, spent) = info.period_at(now);
		let policy = &info.policy;
		let pending = PendingPayments::<T>::iter_prefix(agent)
			.map(|(id, p)| PendingStatus {
				id,
				payee: p.payee,
				amount: p.amount,
				proposer: p.proposer,
				expires: p.expires,
				approvals: p.approvals.into_inner(),
			})
			.collect();
		Some(AgentStatus {
			owner: info.owner.clone(),
			controller: info.controller.clone(),
			config_hash: info.config_hash,
			index: info.index,
			per_payment_cap: policy.per_payment_cap,
			period_cap: policy.period_cap,
			period_length: policy.period_length,
			payees: policy.payees.as_ref().map(|p| p.to_vec()),
			cosign_threshold: policy.cosign_threshold,
			cosigners: policy.cosigners.to_vec(),
			approvals_needed: policy.approvals_needed,
			expiry: policy.expiry,
			pays_fees: policy.pays_fees,
			policy_version: info.policy_version,
			frozen: info.frozen,
			expired: policy.expired_at(&now),
			period_start,
			next_period_start: period_start.saturating_add(policy.period_length),
			spent,
			remaining: policy.period_cap.saturating_sub(spent),
			balance: T::Currency::balance(agent),
			pending,
			next_payment_id: info.next_payment_id,
		})
	}

	/// The invariants:
	/// - every agent has a valid-shaped policy (period ≥ 1, 1 ≤ approvals ≤ cosigners). (What
	///   it spent in the period may exceed its period cap: the owner may lower the cap below
	///   it, and the agent then spends nothing more until the next period.)
	/// - every agent account is kept alive by this pallet (a provider reference);
	/// - an agent's `pending` count equals its stored pending payments, which are at most
	///   `MaxPending`, have ids below `next_payment_id` and approvals from cosigners only,
	///   fewer than needed;
	/// - no pending payment belongs to an agent that does not exist, or is frozen;
	/// - every settlement grace is of an existing agent and ends within `SettlementGrace`.
	///
	/// Always compiled, so that runtime tests can check it after every block.
	pub fn do_try_state() -> Result<(), sp_runtime::TryRuntimeError> {
		for (agent, info) in Agents::<T>::iter() {
			let policy = &info.policy;
			ensure!(!policy.period_length.is_zero(), "agent with a zero period length");
			ensure!(
				policy.approvals_needed >= 1
					&& policy.approvals_needed <= (policy.cosigners.len() as u32).max(1),
				"agent needs an impossible number of approvals"
			);
			ensure!(
				frame_system::Pallet::<T>::providers(&agent) >= 1,
				"agent account not kept alive"
			);
			let mut count = 0u32;
			for (id, payment) in PendingPayments::<T>::iter_prefix(&agent) {
				count.saturating_inc();
				ensure!(id < info.next_payment_id, "pending payment id not yet assigned");
				ensure!(
					payment.approvals.iter().all(|a| policy.is_cosigner(a, &info.owner)),
					"pending payment approved by a non-cosigner"
				);
				ensure!(
					(payment.approvals.len() as u32) < policy.approvals_needed,
					"pending payment has enough approvals but was not paid"
				);
			}
			ensure!(count == info.pending, "pending count differs from pending payments");
			ensure!(count <= T::MaxPending::get(), "more pending payments than MaxPending");
			ensure!(count == 0 || !info.frozen, "frozen agent with pending payments");
		}
		for (agent, _, _) in PendingPayments::<T>::iter() {
			ensure!(Agents::<T>::contains_key(&agent), "pending payment of no agent");
		}
		let longest = Self::now().saturating_add(T::SettlementGrace::get());
		for (agent, grace) in SettlementGraces::<T>::iter() {
			ensure!(Agents::<T>::contains_key(&agent), "settlement grace of no agent");
			ensure!(grace.until <= longest, "settlement grace beyond its bound");
		}
		Ok(())
	}
}

/// Whether every element of `items` occurs once.
fn unique<A: PartialEq>(items: &[A]) -> bool {
	items.iter().enumerate().all(|(i, a)| !items.iter().skip(i.saturating_add(1)).any(|b| a == b))
}
