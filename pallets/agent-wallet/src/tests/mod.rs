//! Unit tests against the mock runtime, split by topic. Every error path asserts that
//! nothing changed (`assert_noop!`), and every test ends with the pallet's `try_state`.

use crate::{mock::*, *};
use frame_support::{assert_ok, traits::fungible::Inspect};

pub(crate) fn free(who: AccountId) -> Balance {
	<Balances as Inspect<AccountId>>::balance(&who)
}
