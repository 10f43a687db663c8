//! Benchmarks of every call and of the voucher-signer look-up, each in its worst case: the
//! longest payee and cosigner lists, the most pending payments, and the account or approval
//! looked for last in its list.

// Benchmarks build their worst cases with plain arithmetic and unwraps: they run only in the
// benchmarking build, never in the chain's runtime, and a failed set-up must stop them.
#![allow(
	clippy::arithmetic_side_effects,
	clippy::unwrap_used,
	clippy::expect_used,
	clippy::indexing_slicing
)]

use super::*;
use crate::Pallet as AgentWallet;
use alloc::{boxed::Box, vec::Vec};
use frame_benchmarking::v2::*;
use frame_support::traits::{
	fungible::{Inspect, Mutate},
	Authorize, Consideration, Footprint, Get, UnfilteredDispatchable,
};
use frame_system::{pallet_prelude::BlockNumberFor, RawOrigin};
use sp_runtime::traits::{Hash, Saturating, Zero};
use sp_runtime::transaction_validity::TransactionSource;

fn unit<T: Config>() -> BalanceOf<T> {
	T::Currency::minimum_balance().max(1u32.into())
}

fn funded<T: Config>(name: &'static str, index: u32) -> T::AccountId {
	let who: T::AccountId = account(name, index, 0);
	T::Currency::set_balance(&who, unit::<T>().saturating_mul(1_000_000_000u32.into()));
	T::AgentDeposit::ensure_successful(&who, Footprint::from_mel::<AgentOf<T>>());
	T::PendingDeposit::ensure_successful(&who, Footprint::from_mel::<PendingPaymentOf<T>>());
	who
}

fn accounts<T: Config>(name: &'static str, n: u32) -> Vec<T::AccountId> {
	(0..n).map(|i| account(name, i, 0)).collect()
}

/// The longest lists: `MaxPayees` payees, `MaxCosigners` cosigners who must all approve.
/// Payments up to 1,000 units, 1,000,000 per period, cosigning above 100 units.
fn policy<T: Config>() -> PolicyOf<T> {
	let cosigners = accounts::<T>("cosigner", T::MaxCosigners::get());
	Policy {
		per_payment_cap: unit::<T>().saturating_mul(1_000u32.into()),
		period_cap: unit::<T>().saturating_mul(1_000_000u32.into()),
		period_length: 100u32.into(),
		payees: Some(accounts::<T>("payee", T::MaxPayees::get()).try_into().unwrap_or_default()),
		cosign_threshold: unit::<T>().saturating_mul(100u32.into()),
		approvals_needed: cosigners.len() as u32,
		cosigners: cosigners.try_into().unwrap_or_default(),
		expiry: Some(1_000_000u32.into()),
		pays_fees: true,
	}
}

/// The payee the allowlist names last.
fn last_payee<T: Config>() -> T::AccountId {
	account("payee", T::MaxPayees::get().saturating_sub(1), 0)
}

fn last_cosigner<T: Config>() -> T::AccountId {
	account("cosigner", T::MaxCosigners::get().saturating_sub(1), 0)
}

/// An agent of `owner` with the worst-case policy, funded, controlled by `controller`.
fn agent<T: Config>(owner: &T::AccountId, controller: &T::AccountId) -> T::AccountId {
	let hash = T::Hashing::hash_of(&0u32);
	let index = NextAgentIndex::<T>::get(owner);
	assert!(AgentWallet::<T>::do_create_agent(
		owner.clone(),
		hash,
		policy::<T>(),
		controller.clone()
	)
	.is_ok());
	let agent = AgentWallet::<T>::agent_address(owner, &hash, index);
	T::Currency::set_balance(&agent, unit::<T>().saturating_mul(1_000_000u32.into()));
	agent
}

/// A funded owner and controller, and their funded agent with the worst-case policy.
fn funded_agent<T: Config>() -> (T::AccountId, T::AccountId, T::AccountId) {
	let owner = funded::<T>("owner", 0);
	let controller = funded::<T>("controller", 0);
	let agent = agent::<T>(&owner, &controller);
	(owner, controller, agent)
}

/// `n` pending payments of the agent, each with all approvals but the last.
fn pending<T: Config>(controller: &T::AccountId, agent: &T::AccountId, n: u32) {
	let big = unit::<T>().saturating_mul(500u32.into());
	for _ in 0..n {
		assert!(AgentWallet::<T>::do_pay(
			controller.clone(),
			agent.clone(),
			last_payee::<T>(),
			big
		)
		.is_ok());
	}
	let approvers = accounts::<T>("cosigner", T::MaxCosigners::get().saturating_sub(1));
	for id in 0..n {
		for who in &approvers {
			assert!(AgentWallet::<T>::do_approve(who.clone(), agent.clone(), id).is_ok());
		}
	}
}

fn at_block<T: Config>(n: u32) {
	frame_system::Pallet::<T>::set_block_number(n.into());
}

/// A payment the benchmark's signer (an agent's controller) signed, to the payee the allowlist
/// names last, in a new period: the agent, the payee's balance after it, and the call.
fn signed_payment<T: Config>() -> (T::AccountId, BalanceOf<T>, Call<T>) {
	let owner = funded::<T>("owner", 0);
	let controller = T::BenchmarkHelper::signer();
	let agent = agent::<T>(&owner, &controller);
	let payee = last_payee::<T>();
	at_block::<T>(1);
	assert!(AgentWallet::<T>::do_pay(controller, agent.clone(), payee.clone(), unit::<T>()).is_ok());
	at_block::<T>(150);
	let amount = unit::<T>().saturating_mul(100u32.into());
	let nonce = Agents::<T>::get(&agent).map(|info| info.next_payment_id).unwrap_or_default();
	let valid_until: BlockNumberFor<T> = 1_000u32.into();
	// The genesis hash the signature binds to is read by every signed transaction's
	// `CheckGenesis` and stays in the block's cache: the SDK's own benchmark of that
	// extension whitelists it, and so does this one rather than charge each payment a read.
	frame_benchmarking::benchmarking::add_to_whitelist(
		frame_system::BlockHash::<T>::hashed_key_for(BlockNumberFor::<T>::zero()).into(),
	);
	let message =
		AgentWallet::<T>::signed_payment_message(&agent, &payee, amount, nonce, valid_until);
	// Wrapped, as a browser wallet signs: the longer message of the two forms.
	let wrapped = crate::wrap_bytes(&message);
	let signature = PaymentSignature::Wrapped(T::BenchmarkHelper::sign(&wrapped));
	let call = Call::<T>::pay_signed {
		agent: agent.clone(),
		payee,
		amount,
		nonce,
		valid_until,
		signature,
	};
	(agent, unit::<T>().saturating_add(amount), call)
}

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn create_agent() {
		let owner = funded::<T>("owner", 0);
		let controller: T::AccountId = account("controller", 0, 0);
		let hash = T::Hashing::hash_of(&1u32);

		#[extrinsic_call]
		_(RawOrigin::Signed(owner.clone()), hash, policy::<T>(), controller);

		assert!(Agents::<T>::contains_key(AgentWallet::<T>::agent_address(&owner, &hash, 0)));
	}

	/// Paid at once, to the payee the allowlist names last, in a new period.
	#[benchmark]
	fn pay() {
		let (_owner, controller, agent) = funded_agent::<T>();
		at_block::<T>(1);
		assert!(AgentWallet::<T>::do_pay(
			controller.clone(),
			agent.clone(),
			last_payee::<T>(),
			unit::<T>()
		)
		.is_ok());
		at_block::<T>(150);
		let amount = unit::<T>().saturating_mul(100u32.into());

		#[extrinsic_call]
		_(RawOrigin::Signed(controller), agent.clone(), last_payee::<T>(), amount);

		assert_eq!(T::Currency::balance(&last_payee::<T>()), unit::<T>().saturating_add(amount));
	}

	/// A payment the controller signed: its authorization in the block (the signature, in
	/// the runtime's most expensive scheme, and every check) and the payment, together.
	#[benchmark]
	fn pay_signed() {
		let (agent, paid, call) = signed_payment::<T>();

		#[block]
		{
			assert!(call.authorize(TransactionSource::InBlock).is_some_and(|valid| valid.is_ok()));
			assert!(call.dispatch_bypass_filter(RawOrigin::Authorized.into()).is_ok());
		}

		assert_eq!(T::Currency::balance(&last_payee::<T>()), paid);
		assert_eq!(Agents::<T>::get(&agent).map(|info| info.next_payment_id), Some(1));
	}

	/// The authorization of a signed payment alone, as the pool runs it.
	#[benchmark]
	fn authorize_pay_signed() {
		let (_agent, _paid, call) = signed_payment::<T>();

		#[block]
		{
			assert!(call.authorize(TransactionSource::InBlock).is_some_and(|valid| valid.is_ok()));
		}
	}

	/// Above the threshold: becomes the last pending payment the agent may have.
	#[benchmark]
	fn propose_payment() {
		let (_owner, controller, agent) = funded_agent::<T>();
		let max = T::MaxPending::get();
		pending::<T>(&controller, &agent, max.saturating_sub(1));
		let amount = unit::<T>().saturating_mul(500u32.into());

		#[extrinsic_call]
		pay(RawOrigin::Signed(controller), agent.clone(), last_payee::<T>(), amount);

		assert_eq!(Agents::<T>::get(&agent).map(|a| a.pending), Some(max));
	}

	/// The overhead of `act` around a call that moves nothing (its own weight is added).
	#[benchmark]
	fn act() {
		let (_owner, controller, agent) = funded_agent::<T>();
		let call = T::BenchmarkHelper::harmless_call();

		#[extrinsic_call]
		_(RawOrigin::Signed(controller), agent.clone(), Box::new(call));

		assert!(Agents::<T>::contains_key(&agent));
	}

	/// The last approval, which pays; the approver is the last cosigner.
	#[benchmark]
	fn approve() {
		let (_owner, controller, agent) = funded_agent::<T>();
		pending::<T>(&controller, &agent, T::MaxPending::get());

		#[extrinsic_call]
		_(RawOrigin::Signed(last_cosigner::<T>()), agent.clone(), 0);

		assert!(PendingPayments::<T>::get(&agent, 0).is_none());
	}

	#[benchmark]
	fn reject() {
		let (_owner, controller, agent) = funded_agent::<T>();
		pending::<T>(&controller, &agent, T::MaxPending::get());

		#[extrinsic_call]
		_(RawOrigin::Signed(last_cosigner::<T>()), agent.clone(), 0);

		assert!(PendingPayments::<T>::get(&agent, 0).is_none());
	}

	#[benchmark]
	fn reap() {
		let (_owner, controller, agent) = funded_agent::<T>();
		at_block::<T>(1);
		pending::<T>(&controller, &agent, T::MaxPending::get());
		let after: BlockNumberFor<T> = T::PendingLifetime::get().saturating_add(2u32.into());
		frame_system::Pallet::<T>::set_block_number(after);
		let reaper = funded::<T>("reaper", 0);

		#[extrinsic_call]
		_(RawOrigin::Signed(reaper), agent.clone(), 0);

		assert!(PendingPayments::<T>::get(&agent, 0).is_none());
	}

	/// Cancels `p` pending payments.
	#[benchmark]
	fn set_policy(p: Linear<0, { T::MaxPending::get() }>) {
		let (owner, controller, agent) = funded_agent::<T>();
		pending::<T>(&controller, &agent, p);

		#[extrinsic_call]
		_(RawOrigin::Signed(owner), agent.clone(), policy::<T>());

		assert_eq!(Agents::<T>::get(&agent).map(|a| (a.policy_version, a.pending)), Some((1, 0)));
	}

	/// Cancels `p` pending payments.
	#[benchmark]
	fn freeze(p: Linear<0, { T::MaxPending::get() }>) {
		let (owner, controller, agent) = funded_agent::<T>();
		pending::<T>(&controller, &agent, p);

		#[extrinsic_call]
		_(RawOrigin::Signed(owner), agent.clone());

		assert_eq!(Agents::<T>::get(&agent).map(|a| (a.frozen, a.pending)), Some((true, 0)));
	}

	#[benchmark]
	fn unfreeze() {
		let (owner, _controller, agent) = funded_agent::<T>();
		assert!(AgentWallet::<T>::do_freeze(owner.clone(), agent.clone()).is_ok());

		#[extrinsic_call]
		_(RawOrigin::Signed(owner), agent.clone());

		assert_eq!(Agents::<T>::get(&agent).map(|a| a.frozen), Some(false));
	}

	#[benchmark]
	fn rotate_controller() {
		let (owner, _controller, agent) = funded_agent::<T>();
		let new: T::AccountId = account("controller", 1, 0);

		#[extrinsic_call]
		_(RawOrigin::Signed(owner), agent.clone(), new.clone());

		assert_eq!(Agents::<T>::get(&agent).map(|a| a.controller), Some(new));
	}

	#[benchmark]
	fn withdraw() {
		let (owner, _controller, agent) = funded_agent::<T>();
		let before = T::Currency::balance(&owner);

		#[extrinsic_call]
		_(RawOrigin::Signed(owner.clone()), agent, unit::<T>());

		assert_eq!(T::Currency::balance(&owner), before.saturating_add(unit::<T>()));
	}

	/// Cancels `p` pending payments and removes the funded account.
	#[benchmark]
	fn close_agent(p: Linear<0, { T::MaxPending::get() }>) {
		let (owner, controller, agent) = funded_agent::<T>();
		pending::<T>(&controller, &agent, p);

		#[extrinsic_call]
		_(RawOrigin::Signed(owner), agent.clone());

		assert!(!Agents::<T>::contains_key(&agent));
	}

	/// An agent's signer and its previous signer (a grace after the owner's change, with the
	/// same full payee list), for the provider the allowlist names last.
	#[benchmark]
	fn voucher_signer() {
		let (_owner, controller, agent) = funded_agent::<T>();
		let policy = Agents::<T>::get(&agent).map(|info| info.policy).expect("created above; qed");
		let until = frame_system::Pallet::<T>::block_number().saturating_add(1u32.into());
		SettlementGraces::<T>::insert(
			&agent,
			SettlementGrace { signer: controller.clone(), policy, until },
		);
		let (signer, previous);

		#[block]
		{
			let payee = last_payee::<T>();
			signer = <AgentWallet<T> as VoucherSigners<_>>::voucher_signer(&agent, &payee);
			previous =
				<AgentWallet<T> as VoucherSigners<_>>::previous_voucher_signer(&agent, &payee);
		}

		assert_eq!(signer, Some(controller.clone()));
		assert_eq!(previous, Some(controller));
	}

	/// Finding the agent that pays the fee of its controller's `pay`, checking and counting
	/// the fee (the fee handler's own withdrawal is part of every transaction's base cost).
	#[benchmark]
	fn charge_fee() {
		let (_owner, controller, agent) = funded_agent::<T>();
		let call: <T as Config>::RuntimeCall =
			Call::<T>::pay { agent: agent.clone(), payee: last_payee::<T>(), amount: unit::<T>() }
				.into();
		let call: <T as frame_system::Config>::RuntimeCall = call.into();
		let fee = unit::<T>();

		#[block]
		{
			let payer = AgentWallet::<T>::fee_payer(&controller, &call);
			assert!(payer.as_ref().is_some_and(|payer| AgentWallet::<T>::may_pay_fee(payer, fee)));
			AgentWallet::<T>::record_fee(&agent, fee);
		}

		assert_eq!(Agents::<T>::get(&agent).map(|a| a.spent), Some(fee));
	}

	impl_benchmark_test_suite!(AgentWallet, crate::mock::new_test_ext(), crate::mock::Test);
}
