//! Closing epochs, claiming rewards per point, the pool.

use super::*;
use frame_support::{assert_noop, assert_ok, dispatch::GetDispatchInfo};

/// Anna's feedback scores 80, Ben's 40, by validators A, B and C in epoch 0.
fn two_annotators_scored() -> (FeedbackId, FeedbackId) {
	register_three();
	let anna = submit(ANNA);
	let ben = submit(BEN);
	score_three(anna, [80, 80, 80]);
	score_three(ben, [40, 40, 40]);
	(anna, ben)
}

#[test]
fn annotators_and_validators_are_paid_in_proportion_to_their_points() {
	run_test(|| {
		two_annotators_scored();
		close(0);
		// Half of what the pool has beyond its existential deposit: 49,995; a fifth of it to
		// validators.
		assert_eq!(
			last_event(),
			Event::EpochClosed {
				epoch: 0,
				annotator_budget: 39_996,
				validator_budget: 9_999,
				points: 120,
				validator_points: 12
			}
		);
		assert_eq!(Unclaimed::<Test>::get(), 49_995);
		let (anna, ben) = (free(ANNA), free(BEN));
		claim(ANNA, 0);
		claim(BEN, 0);
		// 80 : 40 points; each bond comes back.
		assert_eq!(free(ANNA) - anna, 26_664 + FEEDBACK_BOND);
		assert_eq!(free(BEN) - ben, 13_332 + FEEDBACK_BOND);
		assert_eq!(
			last_event(),
			Event::Claimed { who: BEN, epoch: 0, reward: 13_332, bonds: FEEDBACK_BOND }
		);
		for v in [VAL_A, VAL_B, VAL_C] {
			let before = free(v);
			claim(v, 0);
			assert_eq!(free(v) - before, 3_333);
		}
		// Everyone claimed: the epoch is gone, and what rounding left is no longer owed.
		assert!(Epochs::<Test>::get(0).is_none());
		assert_eq!(Unclaimed::<Test>::get(), 0);
		assert_eq!(free(POOL), POOL_FUNDS - 26_664 - 13_332 - 3 * 3_333);
	});
}

#[test]
fn claiming_twice_or_an_open_epoch_fails() {
	run_test(|| {
		two_annotators_scored();
		// Open, then in its scoring window, then closable but not closed.
		let not_closed = || {
			assert_noop!(
				FeedbackRewards::claim(RuntimeOrigin::signed(ANNA), 0),
				Error::<Test>::EpochNotClosed
			);
		};
		not_closed();
		go_to(EPOCH);
		not_closed();
		finalize_all(0);
		not_closed();
		close(0);
		claim(ANNA, 0);
		assert_noop!(
			FeedbackRewards::claim(RuntimeOrigin::signed(ANNA), 0),
			Error::<Test>::NothingToClaim
		);
		// Someone who took no part.
		assert_noop!(
			FeedbackRewards::claim(RuntimeOrigin::signed(9), 0),
			Error::<Test>::NothingToClaim
		);
	});
}

#[test]
fn rewards_never_sum_to_more_than_the_pool() {
	run_test(|| {
		register_three();
		// Every epoch allocates half of what is available; claims never exceed allocations.
		let mut paid = 0;
		for epoch in 0..3 {
			go_to(epoch * EPOCH + 1);
			let ids: Vec<_> = (1..=7).map(submit).collect();
			for (n, id) in ids.into_iter().enumerate() {
				score_three(id, [30 + n as u8 * 10, 35 + n as u8 * 10, 99]);
			}
			close(epoch);
			assert!(Unclaimed::<Test>::get() <= free(POOL) - ED);
			for who in (1..=7).chain([VAL_A, VAL_B, VAL_C]) {
				let before = free(who) + held(HoldReason::FeedbackBond, who);
				claim(who, epoch);
				paid += free(who) + held(HoldReason::FeedbackBond, who) - before;
			}
		}
		assert!(paid <= POOL_FUNDS - ED);
		assert!(free(POOL) >= ED);
		assert_eq!(Unclaimed::<Test>::get(), 0);
	});
}

#[test]
fn a_later_epoch_allocates_only_what_earlier_ones_do_not_owe() {
	run_test(|| {
		two_annotators_scored();
		close(0);
		go_to(2 * EPOCH + 1);
		let id = submit(ANNA);
		score_three(id, [60, 60, 60]);
		close(2);
		// Available: 99,990 − 49,995 owed to epoch 0 = 49,995; half of it.
		let info = Epochs::<Test>::get(2).unwrap();
		assert_eq!(info.annotator_budget + info.validator_budget, 24_997);
		assert_eq!(Unclaimed::<Test>::get(), 49_995 + 24_997);
	});
}

#[test]
fn claim_many_pages_through_closed_epochs_oldest_first() {
	run_test(|| {
		register_three();
		for epoch in 0..3 {
			go_to(epoch * EPOCH + 3);
			let id = submit(ANNA);
			score_three(id, [50, 50, 50]);
			reveal_all(epoch);
		}
		close(0);
		close(1);
		// Epoch 2 is in its scoring window... then closable but not closed.
		assert_ok!(FeedbackRewards::claim_many(RuntimeOrigin::signed(ANNA), 1));
		assert_eq!(AccountEpochs::<Test>::get(ANNA).into_inner(), vec![1, 2]);
		// Claims epoch 1 and reads epoch 2, which is not closed: charged for both, for the
		// worst case beforehand.
		let post = FeedbackRewards::claim_many(RuntimeOrigin::signed(ANNA), 10).unwrap();
		type W = <Test as crate::Config>::WeightInfo;
		let db = <Test as frame_system::Config>::DbWeight::get();
		assert_eq!(post.actual_weight, Some(W::claim_many(1) + db.reads(1)));
		let declared = crate::Call::<Test>::claim_many { max_epochs: 10 }.get_dispatch_info();
		assert_eq!(
			declared.call_weight,
			W::claim_many(10.min(MAX_UNCLAIMED)) + db.reads(MAX_UNCLAIMED.into())
		);
		assert_eq!(AccountEpochs::<Test>::get(ANNA).into_inner(), vec![2]);
		assert_noop!(
			FeedbackRewards::claim_many(RuntimeOrigin::signed(ANNA), 10),
			Error::<Test>::NothingToClaim
		);
		assert_noop!(
			FeedbackRewards::claim_many(RuntimeOrigin::signed(ANNA), 0),
			Error::<Test>::NothingToClaim
		);
	});
}

#[test]
fn feedback_nobody_revealed_earns_nothing_and_its_bond_comes_back() {
	run_test(|| {
		register_three();
		let id = submit(ANNA);
		// A commits and never reveals.
		score(VAL_A, id, 90);
		go_to(FeedbackRewards::closable_at(0));
		// The epoch waits for its feedback to be final.
		assert_noop!(
			FeedbackRewards::close_epoch(RuntimeOrigin::signed(BEN), 0),
			Error::<Test>::FeedbackNotFinal
		);
		assert_ok!(FeedbackRewards::finalize_feedback(RuntimeOrigin::signed(BEN), id));
		assert_eq!(
			last_event(),
			Event::FeedbackFinalized { id, annotator: ANNA, score: None, bond_slashed: false }
		);
		assert!(Feedbacks::<Test>::get(id).is_none());
		assert_noop!(
			FeedbackRewards::finalize_feedback(RuntimeOrigin::signed(BEN), id),
			Error::<Test>::UnknownFeedback
		);
		assert_ok!(FeedbackRewards::close_epoch(RuntimeOrigin::signed(BEN), 0));
		// No points at all: nothing is allocated, but the bond comes back.
		assert_eq!(Unclaimed::<Test>::get(), 0);
		let anna = free(ANNA);
		claim(ANNA, 0);
		assert_eq!(free(ANNA), anna + FEEDBACK_BOND);
	});
}

#[test]
fn anyone_funds_the_pool() {
	run_test(|| {
		assert_ok!(FeedbackRewards::fund_pool(RuntimeOrigin::signed(BEN), 5_000));
		assert_eq!(free(POOL), POOL_FUNDS + 5_000);
		assert_eq!(last_event(), Event::PoolFunded { who: BEN, amount: 5_000 });
		assert_noop!(
			FeedbackRewards::fund_pool(RuntimeOrigin::signed(BEN), 0),
			Error::<Test>::ZeroAmount
		);
		assert_noop!(
			FeedbackRewards::fund_pool(RuntimeOrigin::signed(42), 5),
			sp_runtime::TokenError::FundsUnavailable
		);
	});
}

#[test]
fn close_errors_change_nothing() {
	run_test(|| {
		two_annotators_scored();
		reveal_all(0);
		let close_as = |epoch| FeedbackRewards::close_epoch(RuntimeOrigin::signed(BEN), epoch);
		go_to(EPOCH + WINDOW - 1);
		assert_noop!(close_as(0), Error::<Test>::EpochNotOver);
		// Over, but its feedback is not finalised yet.
		go_to(EPOCH + WINDOW);
		assert_noop!(close_as(0), Error::<Test>::FeedbackNotFinal);
		finalize_all(0);
		// Epoch 1 had no feedback: nothing to close, and nothing stored for it.
		go_to(2 * EPOCH + WINDOW);
		assert_noop!(close_as(1), Error::<Test>::NothingToClose);
		assert_ok!(close_as(0));
		assert_noop!(close_as(0), Error::<Test>::AlreadyClosed);
		assert_noop!(
			FeedbackRewards::close_epoch(RuntimeOrigin::none(), 0),
			sp_runtime::DispatchError::BadOrigin
		);
	});
}

#[test]
fn the_runtime_api_reports_epochs_and_pending_rewards() {
	run_test(|| {
		two_annotators_scored();
		assert_eq!(FeedbackRewards::epoch_status(0).state, EpochState::Open);
		assert_eq!(
			FeedbackRewards::pending_rewards(&ANNA),
			vec![PendingReward { epoch: 0, closed: false, reward: 0, bonds: FEEDBACK_BOND }]
		);
		go_to(EPOCH);
		assert_eq!(FeedbackRewards::epoch_status(0).state, EpochState::Scoring);
		reveal_all(0);
		go_to(EPOCH + WINDOW);
		assert_eq!(FeedbackRewards::epoch_status(0).state, EpochState::Closable);
		close(0);
		let status = FeedbackRewards::epoch_status(0);
		assert_eq!(
			(status.state, status.start, status.end, status.closable_at),
			(EpochState::Closed, 0, EPOCH, EPOCH + WINDOW)
		);
		assert_eq!(
			FeedbackRewards::pending_rewards(&ANNA),
			vec![PendingReward { epoch: 0, closed: true, reward: 26_664, bonds: FEEDBACK_BOND }]
		);
	});
}
