//! Records the pallet stores, and their `*Of<T>` aliases.

use crate::{Config, SettleUsage};
use codec::{Decode, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

/// Why a usage record was declared void: the field that could not be read, as text.
pub type VoidReason = frame_support::BoundedVec<u8, frame_support::traits::ConstU32<64>>;

/// One usage record, as the settlement takes it.
pub type EntryOf<T> =
	<<T as Config>::Settlement as SettleUsage<<T as frame_system::Config>::AccountId>>::Entry;
/// An operator record as the runtime stores it.
pub type OperatorOf<T> =
	Operator<<T as frame_system::Config>::AccountId, <T as Config>::OperatorDeposit>;

/// A registered operator key.
#[derive(Encode, Decode, MaxEncodedLen, TypeInfo, Clone, PartialEq, Eq, Debug)]
pub struct Operator<AccountId, Ticket> {
	/// The provider it attests for.
	pub provider: AccountId,
	/// The provider's deposit for the record.
	pub deposit: Ticket,
}

/// Tokens an operator attested in an epoch.
#[derive(Encode, Decode, MaxEncodedLen, TypeInfo, Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct EpochUsage {
	/// The epoch.
	pub epoch: u32,
	/// Tokens attested in it.
	pub tokens: u64,
}
