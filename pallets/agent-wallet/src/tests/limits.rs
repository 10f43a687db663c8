//! Paying within the limits: per-payment and period caps, lazy period reset, the payee
//! allowlist and the attacks on them.

use super::*;
use frame_support::{assert_noop, assert_ok};

#[test]
fn the_controller_pays_within_the_limits_and_events_report_the_period() {
	run_test(|| {
		let agent = create();
		pay(agent, SHOP, 40);
		assert_eq!(free(SHOP), 40);
		assert_eq!(free(agent), FUNDING - 40);
		assert_eq!(
			last_event(),
			Event::Paid { agent, payee: SHOP, amount: 40, spent: 40, remaining: 260 }
		);
		pay(agent, SHOP, 50);
		assert_eq!(
			last_event(),
			Event::Paid { agent, payee: SHOP, amount: 50, spent: 90, remaining: 210 }
		);
		assert_eq!(remaining(agent), 210);
	});
}

#[test]
fn a_stolen_controller_key_draining_with_many_small_payments_stops_at_the_period_cap() {
	run_test(|| {
		let agent = create();
		// 300 per period: thirty payments of 10 go through, the thirty-first does not.
		for _ in 0..30 {
			assert_ok!(AgentWallet::pay(RuntimeOrigin::signed(CONTROLLER), agent, ATTACKER, 10));
		}
		let attacker = free(ATTACKER);
		assert_noop!(
			AgentWallet::pay(RuntimeOrigin::signed(CONTROLLER), agent, ATTACKER, 1),
			Error::<Test>::PeriodCapExceeded
		);
		assert_eq!(free(ATTACKER), attacker);
		assert_eq!(free(agent), FUNDING - 300);
		assert_eq!(remaining(agent), 0);
	});
}

#[test]
fn the_period_resets_lazily_and_spending_across_the_boundary_gets_one_cap_per_period() {
	run_test(|| {
		// Created at block 1: periods are 1..=10, 11..=20, ...; no cosigning.
		let agent = create_with(Policy { cosign_threshold: 1_000, ..test_policy() });
		go_to(10);
		for _ in 0..3 {
			pay(agent, SHOP, 100);
		}
		assert_noop!(
			AgentWallet::pay(RuntimeOrigin::signed(CONTROLLER), agent, SHOP, 1),
			Error::<Test>::PeriodCapExceeded
		);
		// The next period starts at block 11: the cap is available again, once.
		go_to(11);
		assert_eq!(remaining(agent), 300);
		for _ in 0..3 {
			pay(agent, SHOP, 100);
		}
		assert_eq!(agent_info_period(agent), (11, 300));
		assert_noop!(
			AgentWallet::pay(RuntimeOrigin::signed(CONTROLLER), agent, SHOP, 1),
			Error::<Test>::PeriodCapExceeded
		);
		// Skipping several periods: the period start stays aligned to the period length.
		go_to(47);
		pay(agent, SHOP, 10);
		assert_eq!(agent_info_period(agent), (41, 10));
		assert_eq!(free(SHOP), 610);
	});
}

fn agent_info_period(agent_id: AccountId) -> (u32, Balance) {
	let info = agent(agent_id);
	(info.period_start, info.spent)
}

#[test]
fn a_payment_above_the_per_payment_cap_is_refused() {
	run_test(|| {
		// No cosigning, so that only the per-payment cap applies.
		let agent = create_with(Policy { cosign_threshold: 1_000, ..test_policy() });
		assert_noop!(
			AgentWallet::pay(RuntimeOrigin::signed(CONTROLLER), agent, SHOP, 101),
			Error::<Test>::PaymentCapExceeded
		);
		pay(agent, SHOP, 100);
	});
}

#[test]
fn paying_a_payee_not_on_the_allowlist_is_refused() {
	run_test(|| {
		let agent = create_with(Policy { payees: payees(&[SHOP]), ..test_policy() });
		assert_noop!(
			AgentWallet::pay(RuntimeOrigin::signed(CONTROLLER), agent, ATTACKER, 10),
			Error::<Test>::PayeeNotAllowed
		);
		pay(agent, SHOP, 10);
		assert_eq!(free(SHOP), 10);
	});
}

#[test]
fn pay_errors_change_nothing() {
	run_test(|| {
		let agent = create();
		let pay = |who: AccountId, agent: AccountId, amount: Balance| {
			AgentWallet::pay(RuntimeOrigin::signed(who), agent, SHOP, amount)
		};
		assert_noop!(pay(CONTROLLER, STRANGER, 10), Error::<Test>::NotAgent);
		// Neither the owner nor anyone else is the controller.
		assert_noop!(pay(OWNER, agent, 10), Error::<Test>::NotController);
		assert_noop!(pay(ATTACKER, agent, 10), Error::<Test>::NotController);
		assert_noop!(pay(CONTROLLER, agent, 0), Error::<Test>::ZeroAmount);
		// The agent keeps its existential deposit.
		let small = create_with(Policy { cosign_threshold: 1_000_000, ..test_policy() });
		assert_ok!(AgentWallet::withdraw(RuntimeOrigin::signed(OWNER), small, FUNDING - 50));
		assert_noop!(pay(CONTROLLER, small, 41), sp_runtime::TokenError::NotExpendable);
		assert_ok!(pay(CONTROLLER, small, 40));
		assert_eq!(free(small), ED);
		assert_noop!(
			AgentWallet::pay(RuntimeOrigin::none(), agent, SHOP, 1),
			sp_runtime::DispatchError::BadOrigin
		);
	});
}

#[test]
fn an_expired_agent_cannot_spend() {
	run_test(|| {
		let agent = create_with(Policy { expiry: Some(5), ..test_policy() });
		go_to(5);
		pay(agent, SHOP, 10);
		go_to(6);
		assert_noop!(
			AgentWallet::pay(RuntimeOrigin::signed(CONTROLLER), agent, SHOP, 10),
			Error::<Test>::AgentExpired
		);
		assert_noop!(
			AgentWallet::act(
				RuntimeOrigin::signed(CONTROLLER),
				agent,
				Box::new(RuntimeCall::System(frame_system::Call::remark { remark: vec![] }))
			),
			Error::<Test>::AgentExpired
		);
		// The owner may renew it.
		assert_ok!(AgentWallet::set_policy(
			RuntimeOrigin::signed(OWNER),
			agent,
			Policy { expiry: Some(100), ..test_policy() }
		));
		pay(agent, SHOP, 10);
	});
}
