//! What a gateway reads of the chain ([`tokenmeter_primitives::gateway::GatewayApi`]): the
//! answers composed from the pallets' own reads — the credits pallet's access report and
//! voucher ledger, the agent wallet's signer rule and the staking tier's priority.

use pallet_inference_credits::{AccessDenied, ModelId};
use tokenmeter_primitives::{
	gateway::{GateRefusal, UserView},
	VoucherSigners,
};

use super::{AccountId, AgentWallet, Balance, InferenceCredits, PriorityStaking, Runtime};

/// Everything a gateway needs to admit `user`'s requests for `model` of `provider` now. Only
/// the model's gate refuses here: credit is the gateway's to check against its own
/// reservations.
pub fn user_view(
	user: &AccountId,
	provider: &AccountId,
	model: ModelId,
) -> UserView<AccountId, Balance> {
	let access = InferenceCredits::can_access(user, model, 0, 0);
	let refused = access.denied.and_then(|denied| match denied {
		AccessDenied::UnknownModel => Some(GateRefusal::UnknownModel),
		AccessDenied::ModelRetired => Some(GateRefusal::ModelRetired),
		AccessDenied::BalanceBelowGate { required, held } => {
			Some(GateRefusal::BalanceBelowGate { required, held })
		}
		AccessDenied::TierBelowGate { required, tier } => {
			Some(GateRefusal::TierBelowGate { required, tier })
		}
		AccessDenied::NotEnoughCredit { .. } => None,
	});
	let ledger = pallet_inference_credits::VoucherLedgers::<Runtime>::get(user, provider);
	let priority = PriorityStaking::priority_of(user);
	UserView {
		refused,
		available_credit: access.available_credit,
		free_allowance: access.free_allowance,
		tier: access.tier,
		settled: ledger.settled,
		cap: ledger.cap,
		signer: <AgentWallet as VoucherSigners<AccountId>>::voucher_signer(user, provider),
		priority_weight: priority.priority_weight,
		rate_limit: priority.rate_limit,
	}
}
