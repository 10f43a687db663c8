//! Payments above the cosign threshold: proposals, approvals, rejection, expiry, reaping and
//! cancellation.

use super::*;
use frame_support::{assert_noop, assert_ok};

fn approve(
	who: AccountId,
	agent: AccountId,
	id: PaymentId,
) -> frame_support::dispatch::DispatchResult {
	AgentWallet::approve(RuntimeOrigin::signed(who), agent, id)
}

/// Two of cosigners A and B must approve payments above 50.
fn two_of_two() -> PolicyOf<Test> {
	Policy {
		cosigners: vec![COSIGNER_A, COSIGNER_B].try_into().unwrap(),
		approvals_needed: 2,
		..test_policy()
	}
}

#[test]
fn a_payment_above_the_threshold_waits_and_the_owner_approves_it() {
	run_test(|| {
		let agent = create();
		let controller = free(CONTROLLER);
		pay(agent, SHOP, 80);
		// Nothing paid yet; the controller paid the deposit.
		assert_eq!(free(SHOP), 0);
		assert_eq!(held(HoldReason::PendingDeposit, CONTROLLER), PENDING_DEPOSIT);
		assert_eq!(free(CONTROLLER), controller - PENDING_DEPOSIT);
		assert_eq!(
			last_event(),
			Event::PaymentProposed {
				agent,
				id: 0,
				payee: SHOP,
				amount: 80,
				approvals_needed: 1,
				expires: 1 + PENDING_LIFETIME as u32
			}
		);
		assert_eq!(agent_pending(agent), 1);
		assert_ok!(approve(OWNER, agent, 0));
		assert_eq!(free(SHOP), 80);
		assert_eq!(free(CONTROLLER), controller);
		assert_eq!(held(HoldReason::PendingDeposit, CONTROLLER), 0);
		assert!(PendingPayments::<Test>::get(agent, 0).is_none());
		assert_eq!(agent_pending(agent), 0);
		assert_eq!(
			events()[events().len() - 2..],
			[
				Event::PaymentApproved { agent, id: 0, by: OWNER, approvals: 1 },
				Event::Paid { agent, payee: SHOP, amount: 80, spent: 80, remaining: 220 },
			]
		);
	});
}

fn agent_pending(agent_id: AccountId) -> u32 {
	agent(agent_id).pending
}

#[test]
fn m_of_n_cosigners_pay_at_the_threshold() {
	run_test(|| {
		let agent = create_with(two_of_two());
		pay(agent, SHOP, 80);
		// The owner is not a cosigner once cosigners are named.
		assert_noop!(approve(OWNER, agent, 0), Error::<Test>::NotCosigner);
		assert_noop!(approve(CONTROLLER, agent, 0), Error::<Test>::NotCosigner);
		assert_ok!(approve(COSIGNER_A, agent, 0));
		assert_eq!(free(SHOP), 0);
		assert_eq!(
			last_event(),
			Event::PaymentApproved { agent, id: 0, by: COSIGNER_A, approvals: 1 }
		);
		assert_noop!(approve(COSIGNER_A, agent, 0), Error::<Test>::AlreadyApproved);
		assert_ok!(approve(COSIGNER_B, agent, 0));
		assert_eq!(free(SHOP), 80);
	});
}

#[test]
fn a_cosigner_or_the_owner_rejects_and_the_deposit_goes_back() {
	run_test(|| {
		let agent = create_with(two_of_two());
		let controller = free(CONTROLLER);
		pay(agent, SHOP, 80);
		pay(agent, SHOP, 90);
		assert_noop!(
			AgentWallet::reject(RuntimeOrigin::signed(CONTROLLER), agent, 0),
			Error::<Test>::NotCosigner
		);
		assert_ok!(AgentWallet::reject(RuntimeOrigin::signed(COSIGNER_B), agent, 0));
		assert_eq!(last_event(), Event::PaymentRejected { agent, id: 0, by: COSIGNER_B });
		assert_ok!(AgentWallet::reject(RuntimeOrigin::signed(OWNER), agent, 1));
		assert_eq!(free(CONTROLLER), controller);
		assert_eq!(free(SHOP), 0);
		assert_eq!(agent_pending(agent), 0);
		assert_noop!(approve(COSIGNER_A, agent, 0), Error::<Test>::PaymentNotFound);
		assert_noop!(
			AgentWallet::reject(RuntimeOrigin::signed(OWNER), agent, 0),
			Error::<Test>::PaymentNotFound
		);
		assert_noop!(
			AgentWallet::reject(RuntimeOrigin::signed(OWNER), STRANGER, 0),
			Error::<Test>::NotAgent
		);
	});
}

#[test]
fn an_expired_payment_cannot_be_approved_and_anyone_reaps_it() {
	run_test(|| {
		let agent = create();
		let controller = free(CONTROLLER);
		pay(agent, SHOP, 80);
		let expires = 1 + PENDING_LIFETIME as u32;
		go_to(expires);
		assert_noop!(
			AgentWallet::reap(RuntimeOrigin::signed(STRANGER), agent, 0),
			Error::<Test>::NotExpired
		);
		go_to(expires + 1);
		assert_noop!(approve(OWNER, agent, 0), Error::<Test>::PaymentExpired);
		assert_ok!(AgentWallet::reap(RuntimeOrigin::signed(STRANGER), agent, 0));
		assert_eq!(last_event(), Event::PaymentReaped { agent, id: 0, by: STRANGER });
		// The deposit went back to who paid it, not to the reaper.
		assert_eq!(free(CONTROLLER), controller);
		assert_eq!(free(STRANGER), INITIAL_BALANCE);
		assert_noop!(
			AgentWallet::reap(RuntimeOrigin::signed(STRANGER), agent, 0),
			Error::<Test>::PaymentNotFound
		);
	});
}

#[test]
fn flooding_pending_payments_stops_at_the_bound() {
	run_test(|| {
		let agent = create();
		for _ in 0..MAX_PENDING {
			pay(agent, SHOP, 60);
		}
		assert_noop!(
			AgentWallet::pay(RuntimeOrigin::signed(CONTROLLER), agent, SHOP, 60),
			Error::<Test>::TooManyPending
		);
		assert_eq!(
			held(HoldReason::PendingDeposit, CONTROLLER),
			PENDING_DEPOSIT * MAX_PENDING as u128
		);
		// Payments within the threshold still go through.
		pay(agent, SHOP, 50);
		// Reaping or approving one frees a slot.
		assert_ok!(approve(OWNER, agent, 0));
		pay(agent, SHOP, 60);
		assert_eq!(super::agent(agent).next_payment_id, MAX_PENDING + 1);
	});
}

#[test]
fn a_proposal_is_checked_against_the_caps_and_again_when_paid() {
	run_test(|| {
		let agent = create();
		// Over the per-payment cap: refused at once.
		assert_noop!(
			AgentWallet::pay(RuntimeOrigin::signed(CONTROLLER), agent, SHOP, 101),
			Error::<Test>::PaymentCapExceeded
		);
		pay(agent, SHOP, 90);
		// Meanwhile the agent spends most of its period cap.
		for _ in 0..5 {
			pay(agent, SHOP, 50);
		}
		// The approval that would pay over the cap fails and changes nothing…
		assert_noop!(approve(OWNER, agent, 0), Error::<Test>::PeriodCapExceeded);
		// …and succeeds in the next period.
		go_to(11);
		assert_ok!(approve(OWNER, agent, 0));
		assert_eq!(free(SHOP), 340);
	});
}

#[test]
fn approving_a_payment_made_stale_by_a_policy_change_fails() {
	run_test(|| {
		let agent = create();
		let controller = free(CONTROLLER);
		pay(agent, SHOP, 80);
		pay(agent, SHOP, 70);
		assert_ok!(AgentWallet::set_policy(
			RuntimeOrigin::signed(OWNER),
			agent,
			Policy { payees: payees(&[COSIGNER_A]), ..test_policy() }
		));
		let events = events();
		for id in [0, 1] {
			assert!(events.contains(&Event::PaymentCancelled {
				agent,
				id,
				reason: CancelReason::PolicyChanged
			}));
		}
		assert_eq!(last_event(), Event::PolicyChanged { agent, version: 1 });
		assert_noop!(approve(OWNER, agent, 0), Error::<Test>::PaymentNotFound);
		assert_eq!(free(SHOP), 0);
		assert_eq!(free(CONTROLLER), controller);
		assert_eq!(agent_pending(agent), 0);
	});
}

#[test]
fn freezing_cancels_pending_payments() {
	run_test(|| {
		let agent = create();
		pay(agent, SHOP, 80);
		assert_ok!(AgentWallet::freeze(RuntimeOrigin::signed(OWNER), agent));
		assert!(events().contains(&Event::PaymentCancelled {
			agent,
			id: 0,
			reason: CancelReason::Frozen
		}));
		assert_noop!(approve(OWNER, agent, 0), Error::<Test>::PaymentNotFound);
		assert_eq!(held(HoldReason::PendingDeposit, CONTROLLER), 0);
	});
}

#[test]
fn approve_errors_change_nothing() {
	run_test(|| {
		let agent = create();
		pay(agent, SHOP, 80);
		assert_noop!(approve(OWNER, STRANGER, 0), Error::<Test>::NotAgent);
		assert_noop!(approve(OWNER, agent, 7), Error::<Test>::PaymentNotFound);
		assert_noop!(approve(STRANGER, agent, 0), Error::<Test>::NotCosigner);
		// The agent's funds fell short of the payment meanwhile (the owner withdrew).
		assert_ok!(AgentWallet::withdraw(RuntimeOrigin::signed(OWNER), agent, FUNDING - 50));
		assert_noop!(approve(OWNER, agent, 0), sp_runtime::TokenError::FundsUnavailable);
		assert_noop!(
			AgentWallet::approve(RuntimeOrigin::none(), agent, 0),
			sp_runtime::DispatchError::BadOrigin
		);
	});
}

#[test]
fn a_proposal_never_reuses_an_id_when_the_ids_run_out() {
	run_test(|| {
		let agent = create();
		Agents::<Test>::mutate(agent, |info| {
			info.as_mut().expect("the agent exists").next_payment_id = PaymentId::MAX - 1
		});
		pay(agent, SHOP, 80);
		assert!(PendingPayments::<Test>::get(agent, PaymentId::MAX - 1).is_some());
		assert_eq!(super::agent(agent).next_payment_id, PaymentId::MAX);

		assert_noop!(
			AgentWallet::pay(RuntimeOrigin::signed(CONTROLLER), agent, SHOP, 80),
			Error::<Test>::PaymentIdsExhausted
		);
		// Payments below the threshold take no id and go on.
		pay(agent, SHOP, 10);
		assert_eq!(free(SHOP), 10);
		assert_ok!(approve(OWNER, agent, PaymentId::MAX - 1));
		assert_eq!(free(SHOP), 90);
	});
}
