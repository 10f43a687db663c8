//! Unit tests against the mock runtime, split by topic. Every error path asserts that
//! nothing changed (`assert_noop!`), and every test ends with the pallet's `try_state`.

mod epochs;
mod scoring;
mod submit;

use crate::{mock::*, *};
use frame_support::{
	assert_ok,
	traits::fungible::{Inspect, InspectHold},
};

pub(crate) fn free(who: AccountId) -> Balance {
	<Balances as Inspect<AccountId>>::balance(&who)
}

pub(crate) fn held(reason: HoldReason, who: AccountId) -> Balance {
	<Balances as InspectHold<AccountId>>::balance_on_hold(&reason.into(), &who)
}

pub(crate) fn hash(n: u8) -> sp_core::H256 {
	sp_core::H256::repeat_byte(n)
}

/// `who` submits a rating of model 1; returns its id.
pub(crate) fn submit(who: AccountId) -> FeedbackId {
	let id = NextFeedbackId::<Test>::get();
	assert_ok!(FeedbackRewards::submit_feedback(
		RuntimeOrigin::signed(who),
		1,
		hash(1),
		FeedbackKind::Rating,
		hash(2)
	));
	id
}

pub(crate) fn register(who: AccountId) {
	assert_ok!(FeedbackRewards::register_validator(RuntimeOrigin::signed(who)));
}

/// Validators A, B and C.
pub(crate) fn register_three() {
	for v in [VAL_A, VAL_B, VAL_C] {
		register(v);
	}
}

pub(crate) fn score(who: AccountId, id: FeedbackId, score: Score) {
	assert_ok!(FeedbackRewards::score(RuntimeOrigin::signed(who), id, score));
}

/// A, B and C score `id` with these scores.
pub(crate) fn score_three(id: FeedbackId, scores: [Score; 3]) {
	for (v, s) in [VAL_A, VAL_B, VAL_C].into_iter().zip(scores) {
		score(v, id, s);
	}
}

/// Moves past epoch `epoch`'s scoring window and closes it.
pub(crate) fn close(epoch: EpochIndex) {
	go_to((epoch + 1) * EPOCH + WINDOW);
	assert_ok!(FeedbackRewards::close_epoch(RuntimeOrigin::signed(ANNA), epoch));
}

pub(crate) fn claim(who: AccountId, epoch: EpochIndex) {
	assert_ok!(FeedbackRewards::claim(RuntimeOrigin::signed(who), epoch));
}

pub(crate) fn events() -> Vec<Event<Test>> {
	System::events()
		.into_iter()
		.filter_map(|r| if let RuntimeEvent::FeedbackRewards(e) = r.event { Some(e) } else { None })
		.collect()
}

pub(crate) fn last_event() -> Event<Test> {
	events().pop().expect("an event")
}
