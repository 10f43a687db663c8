use super::*;
use frame_support::{
	assert_noop,
	traits::{fungible::Mutate, tokens::Preservation},
};
use sp_runtime::{DispatchError, TokenError};

#[test]
fn stake_freezes_in_place_and_warms_up() {
	run_test(|| {
		stake(ALICE, 10_000);
		System::assert_last_event(
			Event::Staked { who: ALICE, amount: 10_000, effective_at: 11, bonded: 10_000 }.into(),
		);
		// The funds stay in the account, frozen.
		assert_eq!(free(ALICE), INITIAL_BALANCE);
		assert_eq!(frozen(ALICE), 10_000);
		// Warm-up: right after staking the tier is still the old one.
		assert_eq!(tier(ALICE), 0);
		let info = PriorityStaking::priority_of(&ALICE);
		assert_eq!(info.effective_stake, 0);
		assert_eq!(info.warming_up, 10_000);
		assert_eq!(info.warming_chunks, vec![Chunk { amount: 10_000, at: 11 }]);
		go_to(10);
		assert_eq!(tier(ALICE), 0);
		go_to(11);
		assert_eq!(tier(ALICE), 2);
		assert_eq!(PriorityStaking::effective_stake(&ALICE), 10_000);
	});
}

#[test]
fn more_stake_warms_up_on_its_own() {
	run_test(|| {
		warm_stake(ALICE, 1_000);
		assert_eq!(tier(ALICE), 1);
		// Below the minimum on its own, but the bonded total is above it.
		stake(ALICE, 9_000);
		assert_eq!(tier(ALICE), 1, "the new stake is still warming up");
		go_to(System::block_number() + WARM_UP);
		assert_eq!(tier(ALICE), 2);
		let ledger = Ledgers::<Test>::get(ALICE).unwrap();
		assert_eq!(ledger.bonded(), 10_000);
		assert_eq!(frozen(ALICE), 10_000);
	});
}

#[test]
fn stakes_in_one_block_share_a_chunk() {
	run_test(|| {
		stake(ALICE, 1_000);
		stake(ALICE, 2_000);
		let ledger = Ledgers::<Test>::get(ALICE).unwrap();
		assert_eq!(ledger.warming.to_vec(), vec![Chunk { amount: 3_000, at: 11 }]);
	});
}

#[test]
fn stake_errors_change_nothing() {
	run_test(|| {
		let origin = || RuntimeOrigin::signed(ALICE);
		assert_noop!(PriorityStaking::stake(origin(), 0), Error::<Test>::ZeroAmount);
		assert_noop!(PriorityStaking::stake(origin(), MIN_STAKE - 1), Error::<Test>::BelowMinStake);
		assert_noop!(
			PriorityStaking::stake(origin(), INITIAL_BALANCE + 1),
			Error::<Test>::InsufficientBalance
		);
		assert_noop!(
			PriorityStaking::stake(RuntimeOrigin::signed(PAUPER), MIN_STAKE),
			Error::<Test>::InsufficientBalance
		);
		// Already frozen funds cannot be staked twice.
		stake(ALICE, INITIAL_BALANCE - 100);
		assert_noop!(PriorityStaking::stake(origin(), 101), Error::<Test>::InsufficientBalance);
		// Four warming chunks at four blocks fill the ledger.
		for block in 2..=4 {
			go_to(block);
			stake(ALICE, 10);
		}
		go_to(5);
		assert_noop!(PriorityStaking::stake(origin(), 10), Error::<Test>::TooManyChunks);
		// Once the first chunk has warmed up, its slot is free again.
		go_to(11);
		stake(ALICE, 10);
		assert_noop!(
			PriorityStaking::stake(RuntimeOrigin::none(), MIN_STAKE),
			DispatchError::BadOrigin
		);
	});
}

#[test]
fn frozen_stake_cannot_be_transferred() {
	run_test(|| {
		stake(ALICE, INITIAL_BALANCE - 1_000);
		assert_noop!(
			<Balances as Mutate<AccountId>>::transfer(
				&ALICE,
				&BOB,
				1_001,
				Preservation::Expendable
			),
			TokenError::Frozen
		);
		assert_ok!(<Balances as Mutate<AccountId>>::transfer(
			&ALICE,
			&BOB,
			1_000,
			Preservation::Expendable
		));
		assert_eq!(free(ALICE), INITIAL_BALANCE - 1_000);
		assert_eq!(frozen(ALICE), INITIAL_BALANCE - 1_000);
	});
}

#[test]
fn unstake_stops_counting_at_once_and_unbonds() {
	run_test(|| {
		warm_stake(ALICE, 10_000);
		assert_eq!(tier(ALICE), 2);
		unstake(ALICE, 9_000);
		System::assert_last_event(
			Event::Unstaked { who: ALICE, amount: 9_000, unlocks_at: 31, bonded: 1_000 }.into(),
		);
		assert_eq!(tier(ALICE), 1);
		// Still frozen while unbonding.
		assert_eq!(frozen(ALICE), 10_000);
		let info = PriorityStaking::priority_of(&ALICE);
		assert_eq!(info.effective_stake, 1_000);
		assert_eq!(info.unbonding, vec![Chunk { amount: 9_000, at: 31 }]);
		go_to(30);
		assert_noop!(
			PriorityStaking::withdraw_unbonded(RuntimeOrigin::signed(ALICE)),
			Error::<Test>::NothingToWithdraw
		);
		go_to(31);
		assert_ok!(PriorityStaking::withdraw_unbonded(RuntimeOrigin::signed(ALICE)));
		System::assert_last_event(
			Event::Withdrawn { who: ALICE, amount: 9_000, unbonding: 0 }.into(),
		);
		assert_eq!(frozen(ALICE), 1_000);
		assert_eq!(tier(ALICE), 1);
	});
}

#[test]
fn unstaking_everything_and_withdrawing_removes_the_ledger() {
	run_test(|| {
		warm_stake(ALICE, 10_000);
		unstake(ALICE, 10_000);
		assert_eq!(tier(ALICE), 0);
		go_to(System::block_number() + UNBONDING);
		assert_ok!(PriorityStaking::withdraw_unbonded(RuntimeOrigin::signed(ALICE)));
		assert_eq!(frozen(ALICE), 0);
		assert!(Ledgers::<Test>::get(ALICE).is_none());
		// Everything is transferable again.
		assert_ok!(<Balances as Mutate<AccountId>>::transfer(
			&ALICE,
			&BOB,
			INITIAL_BALANCE,
			Preservation::Expendable
		));
	});
}

#[test]
fn unstake_takes_warming_stake_first() {
	run_test(|| {
		warm_stake(ALICE, 10_000);
		stake(ALICE, 5_000);
		unstake(ALICE, 6_000);
		let ledger = Ledgers::<Test>::get(ALICE).unwrap();
		assert!(ledger.warming.is_empty());
		assert_eq!(ledger.active, 9_000);
		assert_eq!(tier(ALICE), 1);
	});
}

#[test]
fn staking_right_before_use_and_unstaking_right_after_buys_nothing() {
	run_test(|| {
		stake(ALICE, 100_000);
		// Used at once: no tier, no allowance.
		assert_eq!(tier(ALICE), 0);
		assert_eq!(spend(ALICE, 1_000), 0);
		assert_eq!(free(PROVIDER), ED);
		// Unstaked right after: the stake never counted, and the funds stay frozen for the
		// whole unbonding period.
		unstake(ALICE, 100_000);
		for block in 2..(1 + UNBONDING) {
			go_to(block);
			assert_eq!(tier(ALICE), 0);
			assert_eq!(allowance(ALICE), 0);
			assert_eq!(frozen(ALICE), 100_000);
		}
	});
}

#[test]
fn unstake_errors_change_nothing() {
	run_test(|| {
		let origin = || RuntimeOrigin::signed(ALICE);
		assert_noop!(PriorityStaking::unstake(origin(), 100), Error::<Test>::NotStaker);
		warm_stake(ALICE, 1_000);
		assert_noop!(PriorityStaking::unstake(origin(), 0), Error::<Test>::ZeroAmount);
		assert_noop!(PriorityStaking::unstake(origin(), 1_001), Error::<Test>::InsufficientStake);
		// Leaving 50 staked would be dust.
		assert_noop!(PriorityStaking::unstake(origin(), 950), Error::<Test>::BelowMinStake);
		stake(ALICE, 10_000);
		// Four unbonding chunks at four blocks fill the ledger.
		for block in 12..=15 {
			go_to(block);
			unstake(ALICE, 100);
		}
		go_to(16);
		assert_noop!(PriorityStaking::unstake(origin(), 100), Error::<Test>::TooManyChunks);
		assert_noop!(
			PriorityStaking::unstake(RuntimeOrigin::root(), 100),
			DispatchError::BadOrigin
		);
	});
}

#[test]
fn withdraw_errors_change_nothing() {
	run_test(|| {
		assert_noop!(
			PriorityStaking::withdraw_unbonded(RuntimeOrigin::signed(ALICE)),
			Error::<Test>::NotStaker
		);
		warm_stake(ALICE, 1_000);
		assert_noop!(
			PriorityStaking::withdraw_unbonded(RuntimeOrigin::signed(ALICE)),
			Error::<Test>::NothingToWithdraw
		);
	});
}

/// Issue 28 §2: `pallet-balances` counts held funds toward a freeze, so after staking, holding
/// (credits) and transferring free funds away, the stake's freeze rests on held funds that
/// settlement moves regardless. Such stake buys no tier: only what the free balance backs
/// counts — and nothing changes while the free balance covers the stake.
#[test]
fn stake_resting_on_held_funds_counts_for_nothing() {
	use frame_support::traits::ReservableCurrency;
	run_test(|| {
		warm_stake(ALICE, 500_000);
		assert_eq!(tier(ALICE), 3);
		// Credits (a hold) out of the staked funds: the free balance still covers the stake.
		assert_ok!(<Balances as ReservableCurrency<_>>::reserve(&ALICE, 450_000));
		assert_eq!(PriorityStaking::effective_stake(&ALICE), 500_000);
		// The rest of the free balance away: `pallet-balances` lets all but 50,000 go.
		assert_ok!(<Balances as Mutate<_>>::transfer(
			&ALICE,
			&BOB,
			500_000,
			Preservation::Preserve
		));
		assert_eq!((free(ALICE), frozen(ALICE)), (50_000, 500_000));
		// Only the 50,000 left free back the stake: tier 2, with tier 2's allowance.
		assert_eq!(PriorityStaking::effective_stake(&ALICE), 50_000);
		assert_eq!(tier(ALICE), 2);
		let info = PriorityStaking::priority_of(&ALICE);
		assert_eq!((info.tier, info.effective_stake, info.allowance_left), (2, 50_000, 500));
		assert_eq!(allowance(ALICE), 500);
	});
}
