use super::*;
use frame_support::traits::{fungible::Mutate, tokens::Preservation};

#[test]
fn the_tier_grants_an_allowance_that_moves_no_funds() {
	run_test(|| {
		stake(ALICE, 10_000);
		assert_eq!(allowance(ALICE), 0, "nothing during the warm-up");
		go_to(11);
		assert_eq!(allowance(ALICE), 500);
		let issuance = Balances::total_issuance();
		assert_eq!(spend(ALICE, 200), 200);
		System::assert_last_event(
			Event::AllowanceSpent {
				who: ALICE,
				provider: PROVIDER,
				amount: 200,
				left: 300,
				epoch: 0,
			}
			.into(),
		);
		// A discount the provider grants: nobody pays the provider for it.
		assert_eq!(free(PROVIDER), ED);
		// Asking for more than is left uses only what is left.
		assert_eq!(spend(ALICE, 1_000), 300);
		assert_eq!(allowance(ALICE), 0);
		assert_eq!(spend(ALICE, 1), 0);
		assert_eq!(free(PROVIDER), ED);
		assert_eq!(Balances::total_issuance(), issuance);
	});
}

#[test]
fn the_allowance_renews_each_epoch_and_does_not_accumulate() {
	run_test(|| {
		warm_stake(ALICE, 10_000);
		assert_eq!(spend(ALICE, 100), 100);
		assert_eq!(allowance(ALICE), 400);
		go_to(EPOCH - 1);
		assert_eq!(allowance(ALICE), 400);
		go_to(EPOCH);
		// A fresh allowance, not 400 + 500.
		assert_eq!(allowance(ALICE), 500);
		// Unused for a whole epoch: still only one epoch's worth.
		go_to(3 * EPOCH);
		assert_eq!(allowance(ALICE), 500);
		assert_eq!(spend(ALICE, 1_000), 500);
		System::assert_last_event(
			Event::AllowanceSpent {
				who: ALICE,
				provider: PROVIDER,
				amount: 500,
				left: 0,
				epoch: 3,
			}
			.into(),
		);
	});
}

#[test]
fn the_allowance_belongs_to_the_staker() {
	run_test(|| {
		warm_stake(ALICE, 10_000);
		assert_eq!(allowance(BOB), 0);
		assert_eq!(spend(BOB, 100), 0);
		assert_eq!(allowance(ALICE), 500);
		assert_eq!(free(PROVIDER), ED);
	});
}

#[test]
fn a_lower_tier_mid_epoch_counts_what_was_spent() {
	run_test(|| {
		warm_stake(ALICE, 10_000);
		assert_eq!(spend(ALICE, 480), 480);
		unstake(ALICE, 9_000);
		// Tier 1 grants 50, already exceeded this epoch.
		assert_eq!(tier(ALICE), 1);
		assert_eq!(allowance(ALICE), 0);
		assert_eq!(spend(ALICE, 10), 0);
	});
}

#[test]
fn moving_the_same_tokens_to_a_second_account_gives_no_second_allowance() {
	run_test(|| {
		const SECOND: AccountId = 5;
		warm_stake(ALICE, 10_000);
		assert_eq!(spend(ALICE, 500), 500);
		// Unstake and move the tokens once they are free.
		unstake(ALICE, 10_000);
		assert_eq!(allowance(ALICE), 0);
		go_to(System::block_number() + UNBONDING);
		assert_ok!(PriorityStaking::withdraw_unbonded(RuntimeOrigin::signed(ALICE)));
		assert_ok!(<Balances as Mutate<AccountId>>::transfer(
			&ALICE,
			&SECOND,
			10_000,
			Preservation::Preserve
		));
		stake(SECOND, 10_000);
		let staked_at = System::block_number();
		// All through the warm-up the second account has no tier and no allowance.
		for block in staked_at..staked_at + WARM_UP {
			go_to(block);
			assert_eq!(tier(SECOND), 0);
			assert_eq!(allowance(SECOND), 0);
			assert_eq!(spend(SECOND, 100), 0);
		}
		assert_eq!(Ledgers::<Test>::get(SECOND).map(|l| l.allowance_used), Some(0));
	});
}

#[test]
fn restaking_in_the_same_epoch_does_not_renew_the_allowance() {
	run_test(|| {
		warm_stake(ALICE, 10_000);
		assert_eq!(spend(ALICE, 500), 500);
		unstake(ALICE, 10_000);
		go_to(System::block_number() + UNBONDING);
		assert_ok!(PriorityStaking::withdraw_unbonded(RuntimeOrigin::signed(ALICE)));
		// The record of what was spent is kept while its epoch lasts.
		assert_eq!(Ledgers::<Test>::get(ALICE).map(|l| l.allowance_used), Some(500));
		warm_stake(ALICE, 10_000);
		assert!(System::block_number() < EPOCH);
		assert_eq!(tier(ALICE), 2);
		assert_eq!(allowance(ALICE), 0);
		go_to(EPOCH);
		assert_eq!(allowance(ALICE), 500);
	});
}

#[test]
fn a_spent_ledger_is_removed_in_a_later_epoch() {
	run_test(|| {
		warm_stake(ALICE, 10_000);
		assert_eq!(spend(ALICE, 10), 10);
		unstake(ALICE, 10_000);
		go_to(EPOCH);
		assert_ok!(PriorityStaking::withdraw_unbonded(RuntimeOrigin::signed(ALICE)));
		assert!(Ledgers::<Test>::get(ALICE).is_none());
	});
}
