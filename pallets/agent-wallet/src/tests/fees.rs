//! Agents paying their controller's transaction fees, through the runtime's fee handler.

use super::*;
use frame_support::dispatch::{GetDispatchInfo, PostDispatchInfo};
use pallet_transaction_payment::{FungibleAdapter, OnChargeTransaction};
use sp_runtime::transaction_validity::{InvalidTransaction, TransactionValidityError};

type Fees = AgentPaysFees<Test, FungibleAdapter<Balances, ()>>;

fn pay_call(agent: AccountId) -> RuntimeCall {
	RuntimeCall::AgentWallet(crate::Call::pay { agent, payee: SHOP, amount: 10 })
}

/// Charges `fee` for `call` signed by `who`, then settles it at `actual`.
fn charge(
	who: AccountId,
	call: &RuntimeCall,
	fee: Balance,
	actual: Balance,
) -> Result<(), TransactionValidityError> {
	let info = call.get_dispatch_info();
	<Fees as OnChargeTransaction<Test>>::can_withdraw_fee(&who, call, &info, fee, 0)?;
	let liquidity = <Fees as OnChargeTransaction<Test>>::withdraw_fee(&who, call, &info, fee, 0)?;
	<Fees as OnChargeTransaction<Test>>::correct_and_deposit_fee(
		&who,
		&info,
		&PostDispatchInfo::default(),
		actual,
		0,
		liquidity,
	)
}

fn paying_fees() -> PolicyOf<Test> {
	Policy { pays_fees: true, ..test_policy() }
}

#[test]
fn an_agent_pays_its_controllers_fees_and_they_count_against_the_period_cap() {
	run_test(|| {
		let agent = create_with(paying_fees());
		let controller = free(CONTROLLER);
		let call = pay_call(agent);
		let info = call.get_dispatch_info();
		let liquidity =
			<Fees as OnChargeTransaction<Test>>::withdraw_fee(&CONTROLLER, &call, &info, 30, 0)
				.unwrap();
		assert_eq!(free(agent), FUNDING - 30);
		assert_eq!(super::agent(agent).spent, 30);
		// The estimate was 10 too high: the agent gets 10 back, and its spending with it.
		<Fees as OnChargeTransaction<Test>>::correct_and_deposit_fee(
			&CONTROLLER,
			&info,
			&PostDispatchInfo::default(),
			20,
			0,
			liquidity,
		)
		.unwrap();
		assert_eq!(free(agent), FUNDING - 20);
		assert_eq!(super::agent(agent).spent, 20);
		assert_eq!(free(CONTROLLER), controller);
		// `act` too.
		let act = RuntimeCall::AgentWallet(crate::Call::act {
			agent,
			call: Box::new(RuntimeCall::System(frame_system::Call::remark { remark: vec![] })),
		});
		assert!(charge(CONTROLLER, &act, 15, 15).is_ok());
		assert_eq!(super::agent(agent).spent, 35);
		assert_eq!(free(CONTROLLER), controller);
	});
}

#[test]
fn a_fee_beyond_the_period_cap_makes_the_transaction_invalid_and_changes_nothing() {
	run_test(|| {
		let agent = create_with(paying_fees());
		for _ in 0..5 {
			pay(agent, SHOP, 50);
		}
		// 250 of 300 spent: a fee of 51 is refused, by validation and by the charge itself.
		let call = pay_call(agent);
		let info = call.get_dispatch_info();
		let refused = Err(TransactionValidityError::Invalid(InvalidTransaction::Payment));
		let (agent_free, controller_free) = (free(agent), free(CONTROLLER));
		assert_eq!(
			<Fees as OnChargeTransaction<Test>>::can_withdraw_fee(&CONTROLLER, &call, &info, 51, 0),
			refused
		);
		assert_eq!(
			<Fees as OnChargeTransaction<Test>>::withdraw_fee(&CONTROLLER, &call, &info, 51, 0)
				.map(|_| ()),
			refused
		);
		assert_eq!((free(agent), free(CONTROLLER)), (agent_free, controller_free));
		assert_eq!(super::agent(agent).spent, 250);
		// A fee of 50 still fits.
		assert!(charge(CONTROLLER, &call, 50, 50).is_ok());
		assert_eq!(remaining(agent), 0);
	});
}

#[test]
fn the_signer_pays_everything_else() {
	run_test(|| {
		let agent = create_with(paying_fees());
		let unpaid = create();
		let (owner, controller, attacker) = (free(OWNER), free(CONTROLLER), free(ATTACKER));
		// The agent's policy does not pay fees.
		assert!(charge(CONTROLLER, &pay_call(unpaid), 7, 7).is_ok());
		assert_eq!(free(CONTROLLER), controller - 7);
		// Not the controller: whoever signs pays.
		assert!(charge(ATTACKER, &pay_call(agent), 7, 7).is_ok());
		assert_eq!(free(ATTACKER), attacker - 7);
		// Owner calls are the owner's.
		let freeze = RuntimeCall::AgentWallet(crate::Call::freeze { agent });
		assert!(charge(OWNER, &freeze, 7, 7).is_ok());
		assert_eq!(free(OWNER), owner - 7);
		// A frozen agent pays nothing, not even its controller's fees.
		assert_ok!(AgentWallet::freeze(RuntimeOrigin::signed(OWNER), agent));
		assert!(charge(CONTROLLER, &pay_call(agent), 7, 7).is_ok());
		assert_eq!(free(CONTROLLER), controller - 14);
		assert_eq!(free(agent), FUNDING);
		assert_eq!(super::agent(agent).spent, 0);
	});
}

/// `pay` is charged for the worst case (a proposal by an agent that pays its fees) and reports
/// what it used, so a block holds as many plain agent payments as their work allows.
#[test]
fn pay_refunds_the_weight_it_did_not_use() {
	run_test(|| {
		type W = <Test as crate::Config>::WeightInfo;
		let db: frame_support::weights::RuntimeDbWeight =
			<<Test as frame_system::Config>::DbWeight as frame_support::traits::Get<_>>::get();
		let declared = pay_call(0).get_dispatch_info().call_weight;
		assert_eq!(declared, W::pay().max(W::propose_payment()) + W::charge_fee());

		let plain = create_with(test_policy());
		let post = AgentWallet::pay(RuntimeOrigin::signed(CONTROLLER), plain, SHOP, 10).unwrap();
		assert_eq!(post.actual_weight, Some(W::pay() + db.reads(1)));
		// Above the cosign threshold (50) it is a proposal.
		let post = AgentWallet::pay(RuntimeOrigin::signed(CONTROLLER), plain, SHOP, 60).unwrap();
		assert_eq!(post.actual_weight, Some(W::propose_payment() + db.reads(1)));

		let paying = create_with(paying_fees());
		let post = AgentWallet::pay(RuntimeOrigin::signed(CONTROLLER), paying, SHOP, 10).unwrap();
		assert_eq!(post.actual_weight, Some(W::pay() + W::charge_fee()));
		let post = AgentWallet::pay(RuntimeOrigin::signed(CONTROLLER), paying, SHOP, 60).unwrap();
		assert_eq!(post.actual_weight, Some(W::propose_payment() + W::charge_fee()));
	});
}
