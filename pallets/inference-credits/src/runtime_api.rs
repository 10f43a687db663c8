//! The runtime API a gateway or wallet uses to read access, prices and credits cheaply.

use crate::{AccessReport, ModelId, Quote};
use codec::Codec;

sp_api::decl_runtime_apis! {
	/// Read-only queries of the inference credits pallet.
	pub trait InferenceCreditsApi<AccountId, Balance, BlockNumber>
	where
		AccountId: Codec,
		Balance: Codec,
		BlockNumber: Codec,
	{
		/// Whether `user` may call `model` with about this many tokens, or why not; the
		/// user's available credit, voucher headroom with the model's provider and tier.
		fn can_access(
			user: AccountId,
			model: ModelId,
			estimated_input: u32,
			estimated_output: u32,
		) -> AccessReport<Balance>;

		/// The cost of `input` and `output` tokens of `model` now, and after an announced
		/// price increase (with the block it applies from); `None` if the model does not
		/// exist or is retired.
		fn quote(model: ModelId, input: u32, output: u32) -> Option<Quote<Balance, BlockNumber>>;

		/// The credits of `user` that may pay for new usage: unspent and not under a
		/// withdrawal notice.
		fn credit_balance(user: AccountId) -> Balance;
	}
}
