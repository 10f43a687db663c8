//! The owner's powers: policy, freeze, controller rotation, withdrawal, closing — and that
//! the controller has none of them. Vouchers for the credits pallet.

use super::*;
use frame_support::{assert_noop, assert_ok};

fn remark() -> Box<RuntimeCall> {
	Box::new(RuntimeCall::System(frame_system::Call::remark { remark: vec![] }))
}

#[test]
fn the_controller_cannot_change_its_policy_unfreeze_rotate_withdraw_or_close() {
	run_test(|| {
		let agent = create();
		let looser = Policy { period_cap: 1_000_000, ..test_policy() };
		let by = RuntimeOrigin::signed;
		assert_noop!(
			AgentWallet::set_policy(by(CONTROLLER), agent, looser.clone()),
			Error::<Test>::NotOwner
		);
		assert_noop!(AgentWallet::freeze(by(CONTROLLER), agent), Error::<Test>::NotOwner);
		assert_ok!(AgentWallet::freeze(by(OWNER), agent));
		assert_noop!(AgentWallet::unfreeze(by(CONTROLLER), agent), Error::<Test>::NotOwner);
		assert_noop!(
			AgentWallet::rotate_controller(by(CONTROLLER), agent, ATTACKER),
			Error::<Test>::NotOwner
		);
		assert_noop!(AgentWallet::withdraw(by(CONTROLLER), agent, 10), Error::<Test>::NotOwner);
		assert_noop!(AgentWallet::close_agent(by(CONTROLLER), agent), Error::<Test>::NotOwner);
		// Nor through `act`: agent-wallet calls are not on the allowlist.
		assert_ok!(AgentWallet::unfreeze(by(OWNER), agent));
		assert_noop!(
			AgentWallet::act(
				by(CONTROLLER),
				agent,
				Box::new(RuntimeCall::AgentWallet(crate::Call::set_policy {
					agent,
					policy: looser
				}))
			),
			Error::<Test>::CallNotAllowed
		);
	});
}

#[test]
fn nothing_can_be_spent_after_a_freeze_until_the_owner_unfreezes() {
	run_test(|| {
		let agent = create();
		assert_ok!(AgentWallet::freeze(RuntimeOrigin::signed(OWNER), agent));
		assert_eq!(last_event(), Event::AgentFrozen { agent });
		assert_eq!(super::agent(agent).policy_version, 1);
		assert_noop!(
			AgentWallet::pay(RuntimeOrigin::signed(CONTROLLER), agent, SHOP, 10),
			Error::<Test>::AgentFrozen
		);
		assert_noop!(
			AgentWallet::pay(RuntimeOrigin::signed(CONTROLLER), agent, SHOP, 80),
			Error::<Test>::AgentFrozen
		);
		assert_noop!(
			AgentWallet::act(RuntimeOrigin::signed(CONTROLLER), agent, remark()),
			Error::<Test>::AgentFrozen
		);
		assert_noop!(
			AgentWallet::freeze(RuntimeOrigin::signed(OWNER), agent),
			Error::<Test>::AgentFrozen
		);
		// Vouchers stop settling.
		assert_eq!(AgentWallet::do_voucher_signer(&agent, &SHOP), None);
		// The owner may still take the funds out.
		assert_ok!(AgentWallet::withdraw(RuntimeOrigin::signed(OWNER), agent, 1_000));
		assert_ok!(AgentWallet::unfreeze(RuntimeOrigin::signed(OWNER), agent));
		assert_eq!(last_event(), Event::AgentUnfrozen { agent });
		assert_noop!(
			AgentWallet::unfreeze(RuntimeOrigin::signed(OWNER), agent),
			Error::<Test>::NotFrozen
		);
		pay(agent, SHOP, 10);
	});
}

#[test]
fn a_new_policy_applies_at_once_and_keeps_what_was_spent() {
	run_test(|| {
		let agent = create();
		pay(agent, SHOP, 50);
		let tighter = Policy { period_cap: 60, ..test_policy() };
		assert_ok!(AgentWallet::set_policy(RuntimeOrigin::signed(OWNER), agent, tighter));
		assert_eq!(super::agent(agent).policy_version, 1);
		assert_eq!(remaining(agent), 10);
		assert_noop!(
			AgentWallet::pay(RuntimeOrigin::signed(CONTROLLER), agent, SHOP, 11),
			Error::<Test>::PeriodCapExceeded
		);
		assert_noop!(
			AgentWallet::set_policy(
				RuntimeOrigin::signed(OWNER),
				agent,
				Policy { period_length: 0, ..test_policy() }
			),
			Error::<Test>::InvalidPolicy
		);
		assert_noop!(
			AgentWallet::set_policy(RuntimeOrigin::signed(OWNER), STRANGER, test_policy()),
			Error::<Test>::NotAgent
		);
	});
}

#[test]
fn a_cap_lowered_below_what_was_spent_stops_spending_until_the_next_period() {
	// Found by the runtime fuzzer: the owner may set a period cap below what the agent has
	// already spent in the period. The record keeps what was really spent.
	run_test(|| {
		let agent = create();
		pay(agent, SHOP, 50);
		let tighter = Policy { period_cap: 30, ..test_policy() };
		assert_ok!(AgentWallet::set_policy(RuntimeOrigin::signed(OWNER), agent, tighter));
		assert_eq!(super::agent(agent).spent, 50);
		assert_eq!(remaining(agent), 0);
		assert_noop!(
			AgentWallet::pay(RuntimeOrigin::signed(CONTROLLER), agent, SHOP, 1),
			Error::<Test>::PeriodCapExceeded
		);
		assert_ok!(AgentWallet::do_try_state());
		// The period started at block 1 and lasts 10 blocks.
		go_to(11);
		assert_eq!(remaining(agent), 30);
		pay(agent, SHOP, 30);
		assert_eq!(remaining(agent), 0);
	});
}

#[test]
fn rotating_the_controller_locks_out_the_old_key() {
	run_test(|| {
		let agent = create();
		const NEW: AccountId = 77;
		assert_ok!(AgentWallet::rotate_controller(RuntimeOrigin::signed(OWNER), agent, NEW));
		assert_eq!(last_event(), Event::ControllerRotated { agent, old: CONTROLLER, new: NEW });
		assert_noop!(
			AgentWallet::pay(RuntimeOrigin::signed(CONTROLLER), agent, SHOP, 10),
			Error::<Test>::NotController
		);
		assert_ok!(AgentWallet::pay(RuntimeOrigin::signed(NEW), agent, SHOP, 10));
		assert_eq!(AgentWallet::do_voucher_signer(&agent, &SHOP), Some(NEW));
		assert_noop!(
			AgentWallet::rotate_controller(RuntimeOrigin::signed(OWNER), agent, agent),
			Error::<Test>::ControllerIsAgent
		);
	});
}

#[test]
fn the_owner_withdraws_without_touching_the_limits() {
	run_test(|| {
		let agent = create();
		let owner = free(OWNER);
		assert_ok!(AgentWallet::withdraw(RuntimeOrigin::signed(OWNER), agent, 5_000));
		assert_eq!(last_event(), Event::Withdrawn { agent, amount: 5_000 });
		assert_eq!(free(OWNER), owner + 5_000);
		assert_eq!(remaining(agent), 300);
		assert_noop!(
			AgentWallet::withdraw(RuntimeOrigin::signed(OWNER), agent, 0),
			Error::<Test>::ZeroAmount
		);
		// The agent keeps its existential deposit; closing takes the rest.
		assert_noop!(
			AgentWallet::withdraw(RuntimeOrigin::signed(OWNER), agent, 5_000),
			sp_runtime::TokenError::NotExpendable
		);
	});
}

#[test]
fn closing_returns_every_token_and_the_deposit_and_removes_the_account() {
	run_test(|| {
		let agent = create();
		pay(agent, SHOP, 80);
		let owner = free(OWNER);
		assert_ok!(AgentWallet::close_agent(RuntimeOrigin::signed(OWNER), agent));
		assert_eq!(last_event(), Event::AgentClosed { agent, owner: OWNER, returned: FUNDING });
		assert!(events().contains(&Event::PaymentCancelled {
			agent,
			id: 0,
			reason: CancelReason::Closed
		}));
		assert_eq!(free(OWNER), owner + FUNDING + AGENT_DEPOSIT);
		assert_eq!(held(HoldReason::AgentDeposit, OWNER), 0);
		assert_eq!(held(HoldReason::PendingDeposit, CONTROLLER), 0);
		assert!(!System::account_exists(&agent));
		assert!(Agents::<Test>::get(agent).is_none());
		assert_eq!(PendingPayments::<Test>::iter_prefix(agent).count(), 0);
		assert_noop!(
			AgentWallet::pay(RuntimeOrigin::signed(CONTROLLER), agent, SHOP, 10),
			Error::<Test>::NotAgent
		);
		// The index is not reused: the next agent gets a new address.
		assert_ne!(create(), agent);
	});
}

#[test]
fn an_agent_with_funds_on_hold_cannot_be_closed() {
	run_test(|| {
		let agent = create_with(Policy { cosign_threshold: 1_000, ..test_policy() });
		assert_ok!(AgentWallet::act(
			RuntimeOrigin::signed(CONTROLLER),
			agent,
			Box::new(RuntimeCall::Holds(holds::Call::lock { amount: 100 }))
		));
		assert_noop!(
			AgentWallet::close_agent(RuntimeOrigin::signed(OWNER), agent),
			Error::<Test>::AgentFundsLocked
		);
		assert_ok!(AgentWallet::act(
			RuntimeOrigin::signed(CONTROLLER),
			agent,
			Box::new(RuntimeCall::Holds(holds::Call::unlock { amount: 100 }))
		));
		assert_ok!(AgentWallet::close_agent(RuntimeOrigin::signed(OWNER), agent));
	});
}

#[test]
fn an_empty_agent_closes_too() {
	run_test(|| {
		let agent = AgentWallet::agent_address(&OWNER, &config_hash(1), 0);
		assert_ok!(AgentWallet::create_agent(
			RuntimeOrigin::signed(OWNER),
			config_hash(1),
			test_policy(),
			CONTROLLER
		));
		assert_ok!(AgentWallet::close_agent(RuntimeOrigin::signed(OWNER), agent));
		assert_eq!(last_event(), Event::AgentClosed { agent, owner: OWNER, returned: 0 });
		assert!(!System::account_exists(&agent));
	});
}

#[test]
fn vouchers_are_signed_by_the_controller_while_the_agent_may_pay_the_provider() {
	run_test(|| {
		let agent =
			create_with(Policy { payees: payees(&[SHOP]), expiry: Some(20), ..test_policy() });
		// An ordinary account signs for itself.
		assert_eq!(AgentWallet::do_voucher_signer(&STRANGER, &SHOP), Some(STRANGER));
		assert_eq!(AgentWallet::do_voucher_signer(&agent, &SHOP), Some(CONTROLLER));
		// Not for a provider off the allowlist.
		assert_eq!(AgentWallet::do_voucher_signer(&agent, &ATTACKER), None);
		// Not once expired.
		go_to(21);
		assert_eq!(AgentWallet::do_voucher_signer(&agent, &SHOP), None);
	});
}

#[test]
fn owner_errors_change_nothing() {
	run_test(|| {
		let agent = create();
		let by = RuntimeOrigin::signed;
		// A stranger's account is no agent.
		assert_noop!(AgentWallet::freeze(by(OWNER), STRANGER), Error::<Test>::NotAgent);
		assert_noop!(AgentWallet::unfreeze(by(OWNER), STRANGER), Error::<Test>::NotAgent);
		assert_noop!(
			AgentWallet::rotate_controller(by(OWNER), STRANGER, ATTACKER),
			Error::<Test>::NotAgent
		);
		assert_noop!(AgentWallet::withdraw(by(OWNER), STRANGER, 1), Error::<Test>::NotAgent);
		assert_noop!(AgentWallet::close_agent(by(OWNER), STRANGER), Error::<Test>::NotAgent);
		assert_noop!(AgentWallet::unfreeze(by(OWNER), agent), Error::<Test>::NotFrozen);
		assert_noop!(
			AgentWallet::freeze(RuntimeOrigin::none(), agent),
			sp_runtime::DispatchError::BadOrigin
		);
	});
}

/// Issue 28 §4: the signer was checked only at settlement, so freeze → attest → unfreeze made
/// usage already served unpayable. Now the signer and payee rule from before an owner's
/// freeze, policy change or controller rotation stay acceptable to settlement for
/// `SettlementGrace` blocks, while the current signer — what gateways admit with — changes at
/// once.
#[test]
fn the_previous_signer_settles_for_a_bounded_grace_after_an_owners_change() {
	run_test(|| {
		let agent = create_with(Policy { payees: payees(&[SHOP]), ..test_policy() });
		assert_eq!(AgentWallet::do_previous_voucher_signer(&agent, &SHOP), None);
		// Freeze: gateways stop at once, settlement accepts the controller until the grace ends.
		go_to(5);
		assert_ok!(AgentWallet::freeze(RuntimeOrigin::signed(OWNER), agent));
		let until = 5 + SETTLEMENT_GRACE as u32;
		assert!(events().contains(&Event::SettlementGraceStarted {
			agent,
			signer: CONTROLLER,
			until
		}));
		assert_eq!(AgentWallet::do_voucher_signer(&agent, &SHOP), None);
		assert_eq!(AgentWallet::do_previous_voucher_signer(&agent, &SHOP), Some(CONTROLLER));
		// Only for the payees the policy allowed.
		assert_eq!(AgentWallet::do_previous_voucher_signer(&agent, &ATTACKER), None);
		// Changes while frozen keep the grace of the freeze (the frozen agent authorised nothing).
		const NEW: AccountId = 77;
		assert_ok!(AgentWallet::rotate_controller(RuntimeOrigin::signed(OWNER), agent, NEW));
		assert_eq!(
			SettlementGraces::<Test>::get(agent).map(|g| (g.signer, g.until)),
			Some((CONTROLLER, until))
		);
		go_to(until);
		assert_eq!(AgentWallet::do_previous_voucher_signer(&agent, &SHOP), Some(CONTROLLER));
		go_to(until + 1);
		assert_eq!(AgentWallet::do_previous_voucher_signer(&agent, &SHOP), None);
		// Unfrozen, then the policy drops the shop: the shop still settles the new controller's
		// vouchers for the grace, with no gateway admitting.
		assert_ok!(AgentWallet::unfreeze(RuntimeOrigin::signed(OWNER), agent));
		assert_ok!(AgentWallet::set_policy(
			RuntimeOrigin::signed(OWNER),
			agent,
			Policy { payees: payees(&[STRANGER]), ..test_policy() }
		));
		assert_eq!(AgentWallet::do_voucher_signer(&agent, &SHOP), None);
		assert_eq!(AgentWallet::do_previous_voucher_signer(&agent, &SHOP), Some(NEW));
		// Closing the agent removes its grace.
		assert_ok!(AgentWallet::close_agent(RuntimeOrigin::signed(OWNER), agent));
		assert!(!SettlementGraces::<Test>::contains_key(agent));
	});
}
