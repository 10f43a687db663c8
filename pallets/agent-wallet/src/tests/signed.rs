//! Payments the controller signed (`pay_signed`): submitted by anyone as general transactions,
//! authorized before they enter the pool or a block, paid with the fee from the agent.

use super::*;
use codec::Encode;
use frame_support::{
	assert_noop, assert_ok,
	dispatch::DispatchResultWithPostInfo,
	traits::{Authorize, UnfilteredDispatchable},
};
use sp_runtime::{
	transaction_validity::{
		InvalidTransaction, TransactionSource, TransactionValidityError, ValidTransaction,
	},
	DispatchError,
};

/// The `pay_signed` call with `signer`'s signature of the payment.
fn signed(
	agent: AccountId,
	payee: AccountId,
	amount: Balance,
	nonce: PaymentId,
	valid_until: u32,
	signer: AccountId,
) -> crate::Call<Test> {
	let message = AgentWallet::signed_payment_message(&agent, &payee, amount, nonce, valid_until);
	crate::Call::pay_signed {
		agent,
		payee,
		amount,
		nonce,
		valid_until,
		signature: PaymentSignature::Bare(sign(signer, &message)),
	}
}

/// The controller's signed payment, nonce `nonce`, valid for 100 blocks.
fn by_controller(agent: AccountId, amount: Balance, nonce: PaymentId) -> crate::Call<Test> {
	signed(agent, SHOP, amount, nonce, 100, CONTROLLER)
}

fn authorize(
	call: &crate::Call<Test>,
	source: TransactionSource,
) -> Result<ValidTransaction, TransactionValidityError> {
	call.authorize(source).expect("pay_signed has an authorization").map(|(valid, _)| valid)
}

fn dispatch(call: crate::Call<Test>) -> DispatchResultWithPostInfo {
	call.dispatch_bypass_filter(frame_system::RawOrigin::Authorized.into())
}

/// What the runtime does with a general transaction: authorize it in the block, dispatch it.
fn apply(call: crate::Call<Test>) {
	assert_ok!(authorize(&call, TransactionSource::InBlock));
	assert_ok!(dispatch(call));
}

fn refused(call: &crate::Call<Test>) -> InvalidTransaction {
	match authorize(call, TransactionSource::External) {
		Err(TransactionValidityError::Invalid(invalid)) => invalid,
		other => panic!("expected an invalid transaction, got {other:?}"),
	}
}

/// The `Custom` code of a pallet error: its index.
fn code(error: Error<Test>) -> InvalidTransaction {
	let DispatchError::Module(module) = DispatchError::from(error) else { unreachable!() };
	InvalidTransaction::Custom(module.error[0])
}

fn tag(agent: AccountId, nonce: PaymentId) -> Vec<u8> {
	(*b"tokenmeter/agent-pay", agent, nonce).encode()
}

#[test]
fn anyone_submits_what_the_controller_signed_and_the_agent_pays_the_fee() {
	run_test(|| {
		let agent = create();
		let (controller, issuance) = (free(CONTROLLER), Balances::total_issuance());
		let call = by_controller(agent, 40, 0);
		let valid = authorize(&call, TransactionSource::External).expect("valid");
		assert_eq!(valid.provides, vec![tag(agent, 0)]);
		assert!(valid.requires.is_empty());
		// Valid up to block 100, from block 1.
		assert_eq!(valid.longevity, 100);
		apply(call);

		assert_eq!(free(SHOP), 40);
		assert_eq!(free(agent), FUNDING - 40 - SIGNED_PAYMENT_FEE);
		// The controller paid nothing; the fee was burned, as transaction fees are.
		assert_eq!(free(CONTROLLER), controller);
		assert_eq!(Balances::total_issuance(), issuance - SIGNED_PAYMENT_FEE);
		// The amount and the fee count against the period cap.
		assert_eq!(remaining(agent), 300 - 40 - SIGNED_PAYMENT_FEE);
		assert_eq!(super::agent(agent).next_payment_id, 1);
		assert_eq!(
			last_event(),
			Event::PaidBySignature {
				agent,
				payee: SHOP,
				amount: 40,
				fee: SIGNED_PAYMENT_FEE,
				nonce: 0,
				spent: 45,
				remaining: 255,
			}
		);
	});
}

#[test]
fn a_signed_payment_is_paid_once() {
	run_test(|| {
		let agent = create();
		apply(by_controller(agent, 40, 0));
		let replay = by_controller(agent, 40, 0);
		assert_eq!(refused(&replay), InvalidTransaction::Stale);
		assert_noop!(dispatch(replay), Error::<Test>::WrongNonce);
		assert_eq!(free(SHOP), 40);
	});
}

#[test]
fn only_the_controllers_signature_of_this_very_payment_on_this_chain_pays() {
	run_test(|| {
		let agent = create();
		// Signed by someone else: the attacker, the owner.
		assert_eq!(
			refused(&signed(agent, SHOP, 40, 0, 100, ATTACKER)),
			InvalidTransaction::BadProof
		);
		assert_eq!(refused(&signed(agent, SHOP, 40, 0, 100, OWNER)), InvalidTransaction::BadProof);
		// The controller's signature, with another payee, amount, nonce or last block.
		let crate::Call::pay_signed { signature, .. } = by_controller(agent, 40, 0) else {
			unreachable!()
		};
		for (payee, amount, nonce, valid_until) in
			[(ATTACKER, 40, 0, 100), (SHOP, 50, 0, 100), (SHOP, 40, 1, 100), (SHOP, 40, 0, 101)]
		{
			let call = crate::Call::pay_signed {
				agent,
				payee,
				amount,
				nonce,
				valid_until,
				signature: signature.clone(),
			};
			assert_eq!(refused(&call), InvalidTransaction::BadProof);
		}
		// Signed for another chain (another genesis hash).
		let message = AgentWallet::signed_payment_message(&agent, &SHOP, 40, 0, 100);
		frame_system::BlockHash::<Test>::insert(0, sp_core::H256::repeat_byte(9));
		let call = crate::Call::pay_signed {
			agent,
			payee: SHOP,
			amount: 40,
			nonce: 0,
			valid_until: 100,
			signature: PaymentSignature::Bare(sign(CONTROLLER, &message)),
		};
		assert_eq!(refused(&call), InvalidTransaction::BadProof);
		assert_eq!(free(SHOP), 0);
		assert_eq!(free(agent), FUNDING);
	});
}

#[test]
fn later_nonces_wait_in_the_pool_and_only_the_next_enters_a_block() {
	run_test(|| {
		let agent = create();
		let second = by_controller(agent, 10, 1);
		let valid = authorize(&second, TransactionSource::External).expect("valid in the pool");
		assert_eq!(valid.requires, vec![tag(agent, 0)]);
		assert_eq!(valid.provides, vec![tag(agent, 1)]);
		assert_eq!(
			authorize(&second, TransactionSource::InBlock),
			Err(InvalidTransaction::Future.into())
		);
		assert_noop!(dispatch(second.clone()), Error::<Test>::WrongNonce);
		apply(by_controller(agent, 10, 0));
		apply(second);
		assert_eq!(free(SHOP), 20);
	});
}

#[test]
fn proposals_and_signed_payments_take_ids_from_one_sequence() {
	run_test(|| {
		let agent = create();
		// Above the cosign threshold (50): a proposal, id 0.
		pay(agent, SHOP, 60);
		assert_eq!(refused(&by_controller(agent, 10, 0)), InvalidTransaction::Stale);
		apply(by_controller(agent, 10, 1));
		assert_eq!(super::agent(agent).next_payment_id, 2);
	});
}

#[test]
fn a_signed_payment_is_held_to_the_policy_before_it_takes_block_space() {
	run_test(|| {
		let agent = create_with(Policy { payees: payees(&[SHOP]), ..test_policy() });
		let before = free(agent);
		// Not an agent, zero, a payee not allowed, above the cosign threshold (50), past its
		// last block.
		assert_eq!(refused(&by_controller(STRANGER, 10, 0)), code(Error::NotAgent));
		assert_eq!(refused(&by_controller(agent, 0, 0)), code(Error::ZeroAmount));
		assert_eq!(
			refused(&signed(agent, ATTACKER, 10, 0, 100, CONTROLLER)),
			code(Error::PayeeNotAllowed)
		);
		assert_eq!(refused(&by_controller(agent, 51, 0)), code(Error::CosignRequired));
		go_to(101);
		assert_eq!(refused(&by_controller(agent, 10, 0)), code(Error::SignedPaymentExpired));
		// Each also fails when dispatched, changing nothing.
		assert_noop!(dispatch(by_controller(agent, 10, 0)), Error::<Test>::SignedPaymentExpired);
		go_to(1);
		assert_noop!(dispatch(by_controller(agent, 0, 0)), Error::<Test>::ZeroAmount);
		assert_eq!(free(agent), before);
	});
}

#[test]
fn the_fee_counts_against_the_period_cap() {
	run_test(|| {
		let agent = create_with(Policy { cosign_threshold: 100, ..test_policy() });
		apply(by_controller(agent, 100, 0));
		apply(by_controller(agent, 100, 1));
		// 210 spent of 300: 90 would fit, but not with the fee of 5.
		assert_eq!(remaining(agent), 90);
		assert_eq!(refused(&by_controller(agent, 90, 2)), code(Error::PeriodCapExceeded));
		assert_noop!(dispatch(by_controller(agent, 90, 2)), Error::<Test>::PeriodCapExceeded);
		apply(by_controller(agent, 85, 2));
		assert_eq!(remaining(agent), 0);
		// Above the per-payment cap.
		let agent = create_with(Policy { cosign_threshold: 200, ..test_policy() });
		assert_eq!(refused(&by_controller(agent, 101, 0)), code(Error::PaymentCapExceeded));
	});
}

#[test]
fn a_frozen_or_expired_agent_pays_nothing_by_signature() {
	run_test(|| {
		let agent = create_with(Policy { expiry: Some(20), ..test_policy() });
		let call = by_controller(agent, 10, 0);
		assert_ok!(authorize(&call, TransactionSource::External));
		// The owner freezes the agent after the payment entered the pool.
		assert_ok!(AgentWallet::freeze(RuntimeOrigin::signed(OWNER), agent));
		assert_eq!(refused(&call), code(Error::AgentFrozen));
		assert_noop!(dispatch(call.clone()), Error::<Test>::AgentFrozen);
		assert_ok!(AgentWallet::unfreeze(RuntimeOrigin::signed(OWNER), agent));
		go_to(21);
		assert_eq!(refused(&call), code(Error::AgentExpired));
		assert_eq!(free(SHOP), 0);
	});
}

#[test]
fn an_agent_that_cannot_pay_the_amount_and_the_fee_is_refused() {
	run_test(|| {
		let agent = create();
		// Leave the agent its existential deposit and 44: 40 and the fee of 5 do not fit.
		let keep = ED + 44;
		assert_ok!(AgentWallet::withdraw(RuntimeOrigin::signed(OWNER), agent, FUNDING - keep));
		assert_eq!(refused(&by_controller(agent, 40, 0)), InvalidTransaction::Payment);
		assert_noop!(dispatch(by_controller(agent, 40, 0)), Error::<Test>::InsufficientBalance);
		apply(by_controller(agent, 39, 0));
		assert_eq!(free(agent), ED);
	});
}

#[test]
fn a_payment_the_payee_cannot_receive_is_refused_before_it_takes_block_space() {
	run_test(|| {
		let agent = create();
		// A new account needs the existential deposit (10): 5 would fail in the transfer,
		// after the block had taken the transaction without its fee.
		let fresh = 99;
		let call = signed(agent, fresh, ED - 5, 0, 100, CONTROLLER);
		assert_eq!(refused(&call), code(Error::PayeeCannotReceive));
		assert_noop!(dispatch(call), Error::<Test>::PayeeCannotReceive);
		apply(signed(agent, fresh, ED, 0, 100, CONTROLLER));
		assert_eq!(free(fresh), ED);
	});
}

#[test]
fn a_wallet_signs_the_payment_wrapped_and_each_form_is_checked_as_it_says() {
	run_test(|| {
		let agent = create();
		let message = AgentWallet::signed_payment_message(&agent, &SHOP, 40, 0, 100);
		let wrapped = crate::wrap_bytes(&message);
		let call = |signature| crate::Call::pay_signed {
			agent,
			payee: SHOP,
			amount: 40,
			nonce: 0,
			valid_until: 100,
			signature,
		};
		// Each signature only in the form it names.
		assert_eq!(
			refused(&call(PaymentSignature::Bare(sign(CONTROLLER, &wrapped)))),
			InvalidTransaction::BadProof
		);
		assert_eq!(
			refused(&call(PaymentSignature::Wrapped(sign(CONTROLLER, &message)))),
			InvalidTransaction::BadProof
		);
		apply(call(PaymentSignature::Wrapped(sign(CONTROLLER, &wrapped))));
		assert_eq!(free(SHOP), 40);
	});
}

#[test]
fn pay_signed_is_only_for_its_own_authorization() {
	run_test(|| {
		let agent = create();
		let crate::Call::pay_signed { agent, payee, amount, nonce, valid_until, signature } =
			by_controller(agent, 10, 0)
		else {
			unreachable!()
		};
		for origin in
			[RuntimeOrigin::signed(CONTROLLER), RuntimeOrigin::none(), RuntimeOrigin::root()]
		{
			assert_noop!(
				AgentWallet::pay_signed(
					origin,
					agent,
					payee,
					amount,
					nonce,
					valid_until,
					signature.clone()
				),
				DispatchError::BadOrigin
			);
		}
	});
}

#[test]
fn the_custom_codes_are_the_documented_error_indexes() {
	for (error, index) in [
		(Error::<Test>::NotAgent, 0),
		(Error::AgentFrozen, 4),
		(Error::AgentExpired, 6),
		(Error::PayeeNotAllowed, 7),
		(Error::PaymentCapExceeded, 8),
		(Error::PeriodCapExceeded, 9),
		(Error::CosignRequired, 10),
		(Error::ZeroAmount, 18),
		(Error::SignedPaymentExpired, 25),
		(Error::PayeeCannotReceive, 27),
		(Error::PaymentIdsExhausted, 28),
	] {
		assert_eq!(code(error), InvalidTransaction::Custom(index));
	}
}

#[test]
fn a_nonce_is_never_reused_when_the_ids_run_out() {
	run_test(|| {
		let agent = create();
		let set_next = |id: PaymentId| {
			Agents::<Test>::mutate(agent, |info| {
				info.as_mut().expect("the agent exists").next_payment_id = id
			})
		};
		set_next(PaymentId::MAX - 1);
		apply(by_controller(agent, 40, PaymentId::MAX - 1));
		assert_eq!(super::agent(agent).next_payment_id, PaymentId::MAX);

		// The last id would wrap to 0 and make the first signed payment valid again.
		let last = by_controller(agent, 40, PaymentId::MAX);
		assert_eq!(refused(&last), code(Error::PaymentIdsExhausted));
		assert_noop!(dispatch(last), Error::<Test>::PaymentIdsExhausted);
		// Nor does it wait in the pool when the agent is not there yet.
		set_next(PaymentId::MAX - 1);
		assert_eq!(
			refused(&by_controller(agent, 40, PaymentId::MAX)),
			code(Error::PaymentIdsExhausted)
		);
	});
}
