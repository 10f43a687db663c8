//! Invariants of the whole runtime, checked after every block by the runtime integration
//! tests and by the fuzzer (`fuzz/`).
//!
//! - [`check_state`]: every custom pallet's `try_state` (always compiled, so tests need no
//!   feature), with the `try-runtime` feature also every pallet's `TryState` hook (system,
//!   balances, session, ...), and the balances ledger: the total issuance equals the sum of
//!   every account's free and reserved (held) balance.
//! - [`issuance_change_in_block`]: what the events of the current block say entered and left
//!   the supply. Tokenmeter mints nothing after genesis: the supply falls only by transaction
//!   fees (which are burned, with refunds that can no longer be paid back), dust removed from
//!   reaped accounts and explicit burns, so a block must mint nothing and its change of the
//!   total issuance must equal minus what it burned.

use crate::{
	AgentWallet, Balance, Balances, BlockNumber, FeedbackRewards, InferenceCredits,
	PriorityStaking, Runtime, RuntimeEvent, System, UsageAttestation, ValidatorSet,
};
use alloc::{format, string::String};

/// Checks every invariant of the runtime's state at block `n`; the first that fails is named
/// in the error.
pub fn check_state(n: BlockNumber) -> Result<(), String> {
	type Check = fn() -> Result<(), sp_runtime::TryRuntimeError>;
	let pallets: [(&str, Check); 6] = [
		("inference credits", InferenceCredits::do_try_state),
		("priority staking", PriorityStaking::do_try_state),
		("agent wallet", AgentWallet::do_try_state),
		("feedback rewards", FeedbackRewards::do_try_state),
		("usage attestation", UsageAttestation::do_try_state),
		("validator set", ValidatorSet::do_try_state),
	];
	for (name, check) in pallets {
		check().map_err(|e| format!("{name} try_state at block {n}: {e:?}"))?;
	}
	#[cfg(feature = "try-runtime")]
	{
		use frame_support::traits::{TryState, TryStateSelect};
		<crate::AllPalletsWithSystem as TryState<BlockNumber>>::try_state(n, TryStateSelect::All)
			.map_err(|e| format!("try_state of the runtime's pallets at block {n}: {e:?}"))?;
	}
	balances_ledger()
}

/// The total issuance equals the sum of all accounts' free and reserved balances.
pub fn balances_ledger() -> Result<(), String> {
	let mut sum: Balance = 0;
	for (who, account) in frame_system::Account::<Runtime>::iter() {
		sum = sum
			.checked_add(account.data.free)
			.and_then(|s| s.checked_add(account.data.reserved))
			.ok_or_else(|| format!("the balances of all accounts overflow at {who:?}"))?;
	}
	let issuance = Balances::total_issuance();
	if sum == issuance {
		Ok(())
	} else {
		Err(format!("total issuance {issuance} but the accounts hold {sum}"))
	}
}

/// What the current block's events say entered and left the supply, as `(minted, burned)`.
/// Burned: imbalances dropped (`BurnedDebt`: fees, refunds that could not be paid back to a
/// reaped account, dust), balances burned by their owners (`Burned`), held funds burned
/// (`BurnedHeld`) and `Rescinded`. Minted: `Minted`, `MintedCredit`, `Issued` — none of which
/// Tokenmeter defines after genesis.
pub fn issuance_change_in_block() -> (Balance, Balance) {
	use pallet_balances::Event as B;
	System::read_events_no_consensus().fold(
		(0, 0),
		|(minted, burned): (Balance, Balance), record| match record.event {
			RuntimeEvent::Balances(
				B::Minted { amount, .. } | B::MintedCredit { amount } | B::Issued { amount },
			) => (minted.saturating_add(amount), burned),
			RuntimeEvent::Balances(
				B::Burned { amount, .. }
				| B::BurnedDebt { amount }
				| B::BurnedHeld { amount, .. }
				| B::Rescinded { amount },
			) => (minted, burned.saturating_add(amount)),
			_ => (minted, burned),
		},
	)
}
