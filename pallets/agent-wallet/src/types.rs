//! Records the pallet stores and exchanges, and their `*Of<T>` aliases.

use crate::Config;
use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use core::fmt::Debug;
use frame_support::{
	pallet_prelude::BoundedVec,
	traits::{fungible::Inspect, Get},
	CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound,
};
use frame_system::pallet_prelude::BlockNumberFor;
use scale_info::TypeInfo;
use sp_runtime::traits::{AtLeast32BitUnsigned, One, Zero};

/// The balance type of the currency agents hold.
pub type BalanceOf<T> =
	<<T as Config>::Currency as Inspect<<T as frame_system::Config>::AccountId>>::Balance;
/// An account id of the runtime.
pub type AccountIdOf<T> = <T as frame_system::Config>::AccountId;
/// A spending policy as the runtime stores it.
pub type PolicyOf<T> = Policy<
	AccountIdOf<T>,
	BalanceOf<T>,
	BlockNumberFor<T>,
	<T as Config>::MaxPayees,
	<T as Config>::MaxCosigners,
>;
/// An agent wallet as the runtime stores it.
pub type AgentOf<T> = Agent<
	AccountIdOf<T>,
	BalanceOf<T>,
	BlockNumberFor<T>,
	<T as frame_system::Config>::Hash,
	<T as Config>::AgentDeposit,
	<T as Config>::MaxPayees,
	<T as Config>::MaxCosigners,
>;
/// The signer an agent had before its owner's last change, as the runtime stores it.
pub type SettlementGraceOf<T> = SettlementGrace<
	AccountIdOf<T>,
	BalanceOf<T>,
	BlockNumberFor<T>,
	<T as Config>::MaxPayees,
	<T as Config>::MaxCosigners,
>;
/// A payment waiting for cosigners, as the runtime stores it.
pub type PendingPaymentOf<T> = PendingPayment<
	AccountIdOf<T>,
	BalanceOf<T>,
	BlockNumberFor<T>,
	<T as Config>::PendingDeposit,
	<T as Config>::MaxCosigners,
>;
/// What the runtime API reports about an agent.
pub type AgentStatusOf<T> =
	AgentStatus<AccountIdOf<T>, BalanceOf<T>, BlockNumberFor<T>, <T as frame_system::Config>::Hash>;

/// Identifies a pending payment of an agent. Ids are assigned in order per agent.
pub type PaymentId = u32;

/// A controller's signature of a payment (`pay_signed`), and the form of the message it
/// signed: one signature check either way.
#[derive(Encode, Decode, DecodeWithMemTracking, TypeInfo, Clone, PartialEq, Eq, Debug)]
pub enum PaymentSignature<Signature> {
	/// Of the message itself (a key held by a program).
	#[codec(index = 0)]
	Bare(Signature),
	/// Of `<Bytes>` ++ the message ++ `</Bytes>`, as browser wallets (the Polkadot.js
	/// extension's `signRaw`) sign bytes.
	#[codec(index = 1)]
	Wrapped(Signature),
}

/// A controller's signature of a payment of the runtime's signature type.
pub type PaymentSignatureOf<T> = PaymentSignature<<T as Config>::Signature>;

/// What an agent may spend, to whom, and who must cosign. Set by the owner only.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	CloneNoBound,
	PartialEqNoBound,
	EqNoBound,
	DebugNoBound,
)]
#[scale_info(skip_type_params(MaxPayees, MaxCosigners))]
#[codec(mel_bound(AccountId: MaxEncodedLen, Balance: MaxEncodedLen, BlockNumber: MaxEncodedLen))]
// The derives repeat the struct's bounds in their own where clauses.
#[allow(clippy::multiple_bound_locations)]
pub struct Policy<
	AccountId: Clone + Eq + Debug,
	Balance: Clone + Eq + Debug,
	BlockNumber: Clone + Eq + Debug,
	MaxPayees: Get<u32>,
	MaxCosigners: Get<u32>,
> {
	/// The most one payment (or one `act`) may move out of the agent.
	pub per_payment_cap: Balance,
	/// The most the agent may spend in one period.
	pub period_cap: Balance,
	/// The period's length in blocks (at least 1). Periods follow each other from the block
	/// the policy was set; what was spent resets at each period's start.
	pub period_length: BlockNumber,
	/// The only accounts the agent may pay; `None`: anyone.
	pub payees: Option<BoundedVec<AccountId, MaxPayees>>,
	/// Payments above this amount wait for cosigners.
	pub cosign_threshold: Balance,
	/// Who may approve a payment above the threshold; empty: the owner alone.
	pub cosigners: BoundedVec<AccountId, MaxCosigners>,
	/// How many cosigners must approve (1 to the number of cosigners; 1 when empty).
	pub approvals_needed: u32,
	/// The last block the agent may spend in; `None`: no expiry.
	pub expiry: Option<BlockNumber>,
	/// The agent pays the transaction fees of its controller's `pay` and `act`; they count
	/// against the period cap. Otherwise the controller pays them.
	pub pays_fees: bool,
}

impl<AccountId, Balance, BlockNumber, MaxPayees, MaxCosigners>
	Policy<AccountId, Balance, BlockNumber, MaxPayees, MaxCosigners>
where
	AccountId: Clone + Eq + Debug,
	Balance: Clone + Eq + Debug,
	BlockNumber: Clone + Eq + Debug + PartialOrd,
	MaxPayees: Get<u32>,
	MaxCosigners: Get<u32>,
{
	/// Whether the agent may pay `who`.
	pub fn allows_payee(&self, who: &AccountId) -> bool {
		self.payees.as_ref().is_none_or(|payees| payees.contains(who))
	}

	/// Whether `who` may approve or reject pending payments of an agent owned by `owner`.
	pub fn is_cosigner(&self, who: &AccountId, owner: &AccountId) -> bool {
		if self.cosigners.is_empty() {
			who == owner
		} else {
			self.cosigners.contains(who)
		}
	}

	/// Whether the policy has expired at block `now`.
	pub fn expired_at(&self, now: &BlockNumber) -> bool {
		self.expiry.as_ref().is_some_and(|expiry| now > expiry)
	}
}

/// A keyless agent account.
#[derive(
	Encode, Decode, MaxEncodedLen, TypeInfo, CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound,
)]
#[scale_info(skip_type_params(MaxPayees, MaxCosigners))]
#[codec(mel_bound(
	AccountId: MaxEncodedLen,
	Balance: MaxEncodedLen,
	BlockNumber: MaxEncodedLen,
	Hash: MaxEncodedLen,
	Ticket: MaxEncodedLen
))]
pub struct Agent<
	AccountId: Clone + Eq + Debug,
	Balance: Clone + Eq + Debug,
	BlockNumber: Clone + Eq + Debug,
	Hash: Clone + Eq + Debug,
	Ticket: Clone + Eq + Debug,
	MaxPayees: Get<u32>,
	MaxCosigners: Get<u32>,
> {
	/// Who created it: sets the policy, freezes, withdraws and closes.
	pub owner: AccountId,
	/// The key the running agent holds; pays and acts for the agent, nothing else.
	pub controller: AccountId,
	/// The hash of the agent's configuration the address was derived from.
	pub config_hash: Hash,
	/// The owner's agent counter the address was derived from.
	pub index: u32,
	/// The spending policy.
	pub policy: Policy<AccountId, Balance, BlockNumber, MaxPayees, MaxCosigners>,
	/// Bumped on every change of policy, freeze or unfreeze.
	pub policy_version: u32,
	/// Frozen by the owner: nothing may be spent until unfrozen.
	pub frozen: bool,
	/// The first block of the period `spent` belongs to.
	pub period_start: BlockNumber,
	/// Spent in the period that started at `period_start`.
	pub spent: Balance,
	/// The id the next pending payment gets.
	pub next_payment_id: PaymentId,
	/// How many payments are pending.
	pub pending: u32,
	/// The owner's deposit for the record.
	pub deposit: Ticket,
}

impl<AccountId, Balance, BlockNumber, Hash, Ticket, MaxPayees, MaxCosigners>
	Agent<AccountId, Balance, BlockNumber, Hash, Ticket, MaxPayees, MaxCosigners>
where
	AccountId: Clone + Eq + Debug,
	Balance: AtLeast32BitUnsigned + Copy + Debug,
	BlockNumber: AtLeast32BitUnsigned + Copy + Debug,
	Hash: Clone + Eq + Debug,
	Ticket: Clone + Eq + Debug,
	MaxPayees: Get<u32>,
	MaxCosigners: Get<u32>,
{
	/// The start of the period block `now` falls in, and what was spent in it. Periods are
	/// reset lazily: nothing is written when one ends.
	pub fn period_at(&self, now: BlockNumber) -> (BlockNumber, Balance) {
		let length = self.policy.period_length.max(One::one());
		let elapsed = now.saturating_sub(self.period_start);
		if elapsed < length {
			(self.period_start, self.spent)
		} else {
			// `length` is not zero here (`elapsed` ≥ it): the division succeeds.
			let periods = elapsed.checked_div(&length).unwrap_or_else(Zero::zero);
			let into_period = elapsed.saturating_sub(periods.saturating_mul(length));
			(now.saturating_sub(into_period), Zero::zero())
		}
	}

	/// What may still be spent in the period block `now` falls in.
	pub fn remaining_at(&self, now: BlockNumber) -> Balance {
		self.policy.period_cap.saturating_sub(self.period_at(now).1)
	}
}

/// A payment above the cosign threshold, waiting for approvals.
#[derive(
	Encode, Decode, MaxEncodedLen, TypeInfo, CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound,
)]
#[scale_info(skip_type_params(MaxCosigners))]
#[codec(mel_bound(
	AccountId: MaxEncodedLen,
	Balance: MaxEncodedLen,
	BlockNumber: MaxEncodedLen,
	Ticket: MaxEncodedLen
))]
pub struct PendingPayment<
	AccountId: Clone + Eq + Debug,
	Balance: Clone + Eq + Debug,
	BlockNumber: Clone + Eq + Debug,
	Ticket: Clone + Eq + Debug,
	MaxCosigners: Get<u32>,
> {
	/// Who is to be paid.
	pub payee: AccountId,
	/// How much.
	pub amount: Balance,
	/// Who proposed it (the controller then) and paid the deposit.
	pub proposer: AccountId,
	/// The proposer's deposit, returned when the payment is paid, rejected, cancelled or
	/// reaped.
	pub deposit: Ticket,
	/// The last block it may be approved in; anyone may reap it after.
	pub expires: BlockNumber,
	/// The cosigners who approved so far.
	pub approvals: BoundedVec<AccountId, MaxCosigners>,
}

/// Why pending payments were cancelled.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
)]
pub enum CancelReason {
	/// The owner changed the policy.
	PolicyChanged,
	/// The owner froze the agent.
	Frozen,
	/// The owner closed the agent.
	Closed,
}

/// A pending payment, as the runtime API reports it.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug)]
pub struct PendingStatus<AccountId, Balance, BlockNumber> {
	/// The payment's id.
	pub id: PaymentId,
	/// Who is to be paid.
	pub payee: AccountId,
	/// How much.
	pub amount: Balance,
	/// Who proposed it.
	pub proposer: AccountId,
	/// The last block it may be approved in.
	pub expires: BlockNumber,
	/// Who approved so far.
	pub approvals: Vec<AccountId>,
}

/// An agent's policy, what it spent and may still spend, as the runtime API reports it.
#[derive(Encode, Decode, TypeInfo, Clone, PartialEq, Eq, Debug)]
pub struct AgentStatus<AccountId, Balance, BlockNumber, Hash> {
	/// The owner.
	pub owner: AccountId,
	/// The controller.
	pub controller: AccountId,
	/// The configuration hash the address was derived from.
	pub config_hash: Hash,
	/// The owner's agent counter the address was derived from.
	pub index: u32,
	/// The most one payment may move.
	pub per_payment_cap: Balance,
	/// The most one period may move.
	pub period_cap: Balance,
	/// The period length in blocks.
	pub period_length: BlockNumber,
	/// Who the agent may pay; `None`: anyone.
	pub payees: Option<Vec<AccountId>>,
	/// Payments above this wait for cosigners.
	pub cosign_threshold: Balance,
	/// Who approves (empty: the owner).
	pub cosigners: Vec<AccountId>,
	/// Approvals needed.
	pub approvals_needed: u32,
	/// The last block the agent may spend in.
	pub expiry: Option<BlockNumber>,
	/// The agent pays its controller's transaction fees.
	pub pays_fees: bool,
	/// The policy version.
	pub policy_version: u32,
	/// Frozen by the owner.
	pub frozen: bool,
	/// Past its expiry block.
	pub expired: bool,
	/// The first block of the current period.
	pub period_start: BlockNumber,
	/// The first block of the next period.
	pub next_period_start: BlockNumber,
	/// Spent in the current period.
	pub spent: Balance,
	/// What may still be spent in the current period.
	pub remaining: Balance,
	/// The agent's free balance.
	pub balance: Balance,
	/// Payments waiting for cosigners.
	pub pending: Vec<PendingStatus<AccountId, Balance, BlockNumber>>,
	/// The id the next proposal takes, and the nonce of the next payment the controller
	/// signs (`pay_signed`).
	pub next_payment_id: PaymentId,
}

/// Who signed an agent's vouchers, and for which payees, before its owner froze it, changed its
/// policy or rotated its controller; settlement accepts that signer's vouchers with those payees
/// until `until`, so that usage already served still gets paid. Gateways never admit with it.
#[derive(
	Encode, Decode, MaxEncodedLen, TypeInfo, CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound,
)]
#[scale_info(skip_type_params(MaxPayees, MaxCosigners))]
#[codec(mel_bound(AccountId: MaxEncodedLen, Balance: MaxEncodedLen, BlockNumber: MaxEncodedLen))]
pub struct SettlementGrace<
	AccountId: Clone + Eq + Debug,
	Balance: Clone + Eq + Debug,
	BlockNumber: Clone + Eq + Debug,
	MaxPayees: Get<u32>,
	MaxCosigners: Get<u32>,
> {
	/// The controller before the change.
	pub signer: AccountId,
	/// The policy before the change (its payee list decides which providers may settle).
	pub policy: Policy<AccountId, Balance, BlockNumber, MaxPayees, MaxCosigners>,
	/// The last block at which settlement accepts the signer's vouchers.
	pub until: BlockNumber,
}
