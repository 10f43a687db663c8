//! Unit tests against the mock runtime, split by topic. Every error path asserts that
//! nothing changed (`assert_noop!`), and every test ends with the pallet's `try_state`.

mod act;
mod cosign;
mod create;
mod fees;
mod limits;
mod owner;
mod signed;

use crate::{mock::*, *};
use frame_support::{
	assert_ok,
	traits::fungible::{Inspect, InspectHold, Mutate},
};

/// What an agent starts with in most tests.
pub(crate) const FUNDING: Balance = 10_000;

pub(crate) fn free(who: AccountId) -> Balance {
	<Balances as Inspect<AccountId>>::balance(&who)
}

pub(crate) fn held(reason: HoldReason, who: AccountId) -> Balance {
	<Balances as InspectHold<AccountId>>::balance_on_hold(&reason.into(), &who)
}

pub(crate) fn config_hash(n: u8) -> sp_core::H256 {
	sp_core::H256::repeat_byte(n)
}

/// The owner creates an agent with `policy` and the test controller and funds it.
pub(crate) fn create_with(policy: PolicyOf<Test>) -> AccountId {
	let index = NextAgentIndex::<Test>::get(OWNER);
	let agent = AgentWallet::agent_address(&OWNER, &config_hash(1), index);
	assert_ok!(AgentWallet::create_agent(
		RuntimeOrigin::signed(OWNER),
		config_hash(1),
		policy,
		CONTROLLER
	));
	assert_ok!(<Balances as Mutate<AccountId>>::transfer(
		&OWNER,
		&agent,
		FUNDING,
		frame_support::traits::tokens::Preservation::Preserve
	));
	agent
}

/// An agent with the test policy, funded.
pub(crate) fn create() -> AccountId {
	create_with(test_policy())
}

pub(crate) fn pay(agent: AccountId, payee: AccountId, amount: Balance) {
	assert_ok!(AgentWallet::pay(RuntimeOrigin::signed(CONTROLLER), agent, payee, amount));
}

pub(crate) fn agent(agent: AccountId) -> AgentOf<Test> {
	Agents::<Test>::get(agent).expect("the agent exists")
}

/// What the agent may still spend in the current period.
pub(crate) fn remaining(agent_id: AccountId) -> Balance {
	agent(agent_id).remaining_at(System::block_number())
}

pub(crate) fn events() -> Vec<Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(|r| if let RuntimeEvent::AgentWallet(e) = r.event { Some(e) } else { None })
		.collect()
}

pub(crate) fn last_event() -> Event<Test> {
	events().pop().expect("an event")
}

/// A policy's payees.
pub(crate) fn payees(list: &[AccountId]) -> Option<BoundedVec<AccountId, ConstU32<4>>> {
	Some(list.to_vec().try_into().expect("at most 4 payees"))
}

use frame_support::{pallet_prelude::BoundedVec, traits::ConstU32};
