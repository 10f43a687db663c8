//! Creating agents: derived keyless addresses, deposits, policy validation.

use super::*;
use frame_support::{assert_noop, assert_ok, traits::tokens::Preservation};

#[test]
fn the_address_is_known_before_creation_and_each_agent_gets_a_new_index() {
	run_test(|| {
		let predicted = AgentWallet::agent_address(&OWNER, &config_hash(1), 0);
		// Anyone may fund the address before the agent exists.
		assert_ok!(<Balances as Mutate<AccountId>>::transfer(
			&STRANGER,
			&predicted,
			1_000,
			Preservation::Preserve
		));
		let first = create();
		assert_eq!(first, predicted);
		assert_eq!(free(first), 1_000 + FUNDING);
		assert_eq!(
			last_event(),
			Event::AgentCreated {
				agent: first,
				owner: OWNER,
				controller: CONTROLLER,
				config_hash: config_hash(1),
				index: 0
			}
		);
		// The same owner and configuration give a new address each time.
		let second = create();
		assert_ne!(second, first);
		assert_eq!(second, AgentWallet::agent_address(&OWNER, &config_hash(1), 1));
		assert_eq!(NextAgentIndex::<Test>::get(OWNER), 2);
		// Another owner, or another configuration, gives another address.
		assert_ne!(AgentWallet::agent_address(&STRANGER, &config_hash(1), 0), first);
		assert_ne!(AgentWallet::agent_address(&OWNER, &config_hash(2), 0), first);
		let info = agent(first);
		assert_eq!((info.owner, info.controller, info.index), (OWNER, CONTROLLER, 0));
		assert_eq!((info.policy_version, info.frozen, info.pending), (0, false, 0));
	});
}

#[test]
fn creation_holds_the_deposit_and_keeps_the_keyless_account_alive() {
	run_test(|| {
		let before = free(OWNER);
		let agent = AgentWallet::agent_address(&OWNER, &config_hash(1), 0);
		assert_ok!(AgentWallet::create_agent(
			RuntimeOrigin::signed(OWNER),
			config_hash(1),
			test_policy(),
			CONTROLLER
		));
		assert_eq!(held(HoldReason::AgentDeposit, OWNER), AGENT_DEPOSIT);
		assert_eq!(free(OWNER), before - AGENT_DEPOSIT);
		// The agent exists as an account with no balance at all.
		assert_eq!(free(agent), 0);
		assert!(System::account_exists(&agent));
		assert_eq!(System::providers(&agent), 1);
	});
}

#[test]
fn invalid_policies_are_refused_and_change_nothing() {
	run_test(|| {
		go_to(50);
		let create = |policy: PolicyOf<Test>| {
			AgentWallet::create_agent(
				RuntimeOrigin::signed(OWNER),
				config_hash(1),
				policy,
				CONTROLLER,
			)
		};
		let zero_period = Policy { period_length: 0, ..test_policy() };
		let no_approvals = Policy { approvals_needed: 0, ..test_policy() };
		// The owner alone cosigns: one approval at most.
		let too_many_approvals = Policy { approvals_needed: 2, ..test_policy() };
		let more_than_cosigners = Policy {
			cosigners: vec![COSIGNER_A, COSIGNER_B].try_into().unwrap(),
			approvals_needed: 3,
			..test_policy()
		};
		let duplicate_cosigners = Policy {
			cosigners: vec![COSIGNER_A, COSIGNER_A].try_into().unwrap(),
			approvals_needed: 2,
			..test_policy()
		};
		let duplicate_payees = Policy { payees: payees(&[SHOP, SHOP]), ..test_policy() };
		let expired = Policy { expiry: Some(49), ..test_policy() };
		for policy in [
			zero_period,
			no_approvals,
			too_many_approvals,
			more_than_cosigners,
			duplicate_cosigners,
			duplicate_payees,
			expired,
		] {
			assert_noop!(create(policy), Error::<Test>::InvalidPolicy);
		}
		assert_eq!(NextAgentIndex::<Test>::get(OWNER), 0);
		// An expiry at the current block is still valid.
		assert_ok!(create(Policy { expiry: Some(50), ..test_policy() }));
	});
}

#[test]
fn create_errors_change_nothing() {
	run_test(|| {
		// The controller may not be the agent itself.
		let agent = AgentWallet::agent_address(&OWNER, &config_hash(1), 0);
		assert_noop!(
			AgentWallet::create_agent(
				RuntimeOrigin::signed(OWNER),
				config_hash(1),
				test_policy(),
				agent
			),
			Error::<Test>::ControllerIsAgent
		);
		// An owner who cannot pay the deposit.
		const POOR: AccountId = 42;
		assert_noop!(
			AgentWallet::create_agent(
				RuntimeOrigin::signed(POOR),
				config_hash(1),
				test_policy(),
				CONTROLLER
			),
			sp_runtime::TokenError::FundsUnavailable
		);
		// The owner's counter is exhausted.
		NextAgentIndex::<Test>::insert(OWNER, u32::MAX);
		assert_noop!(
			AgentWallet::create_agent(
				RuntimeOrigin::signed(OWNER),
				config_hash(1),
				test_policy(),
				CONTROLLER
			),
			Error::<Test>::IndexOverflow
		);
		assert_noop!(
			AgentWallet::create_agent(
				RuntimeOrigin::none(),
				config_hash(1),
				test_policy(),
				CONTROLLER
			),
			sp_runtime::DispatchError::BadOrigin
		);
	});
}
