//! Unit tests against the mock runtime, split by topic. Every error path asserts that
//! nothing changed (`assert_noop!`), and every test ends with the pallet's `try_state`.

mod allowance;
mod staking;
mod tiers;

use crate::{mock::*, *};
use frame_support::{
	assert_ok,
	traits::fungible::{Inspect, InspectFreeze},
};

pub(crate) fn stake(who: AccountId, amount: Balance) {
	assert_ok!(PriorityStaking::stake(RuntimeOrigin::signed(who), amount));
}

pub(crate) fn unstake(who: AccountId, amount: Balance) {
	assert_ok!(PriorityStaking::unstake(RuntimeOrigin::signed(who), amount));
}

pub(crate) fn frozen(who: AccountId) -> Balance {
	<Balances as InspectFreeze<AccountId>>::balance_frozen(
		&RuntimeFreezeReason::PriorityStaking(FreezeReason::PriorityStake),
		&who,
	)
}

pub(crate) fn free(who: AccountId) -> Balance {
	<Balances as Inspect<AccountId>>::balance(&who)
}

pub(crate) fn tier(who: AccountId) -> Tier {
	<PriorityStaking as TierInspect<AccountId>>::tier_of(&who)
}

pub(crate) fn allowance(who: AccountId) -> Balance {
	<PriorityStaking as FreeAllowance<AccountId, Balance>>::allowance_left(&who)
}

pub(crate) fn spend(who: AccountId, amount: Balance) -> Balance {
	<PriorityStaking as FreeAllowance<AccountId, Balance>>::spend_allowance(&who, &PROVIDER, amount)
}

/// Stakes `amount` for `who` and moves past the warm-up.
pub(crate) fn warm_stake(who: AccountId, amount: Balance) {
	stake(who, amount);
	go_to(System::block_number() + WARM_UP);
}
