//! Unit tests against the mock runtime, split by topic. Every error path asserts that
//! nothing changed (`assert_noop!`), and every test ends with the pallet's `try_state`.

mod committee;
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

/// `who` registers as a validator with `bond`; its stake counts from the next epoch.
pub(crate) fn register_with(who: AccountId, bond: Balance) {
	assert_ok!(FeedbackRewards::register_validator(RuntimeOrigin::signed(who), bond));
}

/// `who` registers with the minimum bond, as if in an earlier epoch: it may score now.
pub(crate) fn register(who: AccountId) {
	register_active(who, VALIDATOR_BOND);
}

/// `who` registers with `bond`, as if in an earlier epoch: it may score now.
pub(crate) fn register_active(who: AccountId, bond: Balance) {
	register_with(who, bond);
	Validators::<Test>::mutate(who, |v| {
		if let Some(v) = v {
			v.active_from = 0;
		}
	});
}

/// Validators A, B and C.
pub(crate) fn register_three() {
	for v in [VAL_A, VAL_B, VAL_C] {
		register(v);
	}
}

/// The salt `who` seals its scores with.
pub(crate) fn salt(who: AccountId) -> [u8; 32] {
	[who as u8; 32]
}

std::thread_local! {
	/// Commitments made by `score`, to reveal: (feedback, validator, score).
	static SEALED: core::cell::RefCell<Vec<(FeedbackId, AccountId, Score)>> = Default::default();
}

/// `who` commits `score` on `id` (revealed by `reveal_all` or `close`).
pub(crate) fn score(who: AccountId, id: FeedbackId, score: Score) {
	let commitment = FeedbackRewards::commitment(id, &who, score, &salt(who));
	assert_ok!(FeedbackRewards::commit_score(RuntimeOrigin::signed(who), id, commitment));
	SEALED.with(|s| s.borrow_mut().push((id, who, score)));
}

/// A, B and C commit these scores on `id`.
pub(crate) fn score_three(id: FeedbackId, scores: [Score; 3]) {
	for (v, s) in [VAL_A, VAL_B, VAL_C].into_iter().zip(scores) {
		score(v, id, s);
	}
}

/// Moves to the reveal phase of `epoch` and reveals every commitment made on its feedback.
pub(crate) fn reveal_all(epoch: EpochIndex) {
	go_to(System::block_number().max(FeedbackRewards::reveal_from(epoch)));
	let sealed = SEALED.with(|s| core::mem::take(&mut *s.borrow_mut()));
	for (id, who, score) in sealed {
		match Feedbacks::<Test>::get(id) {
			Some(f) if f.epoch == epoch => {
				assert_ok!(FeedbackRewards::reveal_score(
					RuntimeOrigin::signed(who),
					id,
					score,
					salt(who)
				));
			}
			_ => SEALED.with(|s| s.borrow_mut().push((id, who, score))),
		}
	}
}

/// Reveals `epoch`'s commitments, moves past its scoring window and finalises its feedback.
pub(crate) fn finalize_all(epoch: EpochIndex) {
	reveal_all(epoch);
	go_to(System::block_number().max(FeedbackRewards::closable_at(epoch)));
	let ids: Vec<FeedbackId> =
		Feedbacks::<Test>::iter().filter(|(_, f)| f.epoch == epoch).map(|(id, _)| id).collect();
	for id in ids {
		assert_ok!(FeedbackRewards::finalize_feedback(RuntimeOrigin::signed(ANNA), id));
	}
}

/// Reveals and finalises epoch `epoch`'s feedback after its scoring window, and closes it.
pub(crate) fn close(epoch: EpochIndex) {
	finalize_all(epoch);
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
