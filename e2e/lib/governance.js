// Referenda as Polkadot.js Apps drives them, step by step in one batch: the call's preimage
// noted, the referendum submitted on the track of `origin`, its decision deposit placed, and an
// aye vote at 1× conviction (docs/governance.md).

import { sendAndWaitInBlock } from './node.js';

/** The vote `balance` aye at 1× conviction, as `convictionVoting.vote` takes it. */
export const aye = (balance) => ({ Standard: { vote: { aye: true, conviction: 'Locked1x' }, balance } });

/**
 * Submits `call` as a referendum with `origin` (`{ system: 'Root' }`, `{ Origins: 'ParameterSetter' }`, …)
 * signed by `proposer`, who places the decision deposit and votes aye with `balance`.
 * Returns `{ index, result }` (`result` as `sendAndWaitInBlock` gives it).
 */
export async function proposeAndVote(api, proposer, origin, call, balance) {
  const index = (await api.query.referenda.referendumCount()).toNumber();
  const result = await sendAndWaitInBlock(api.tx.utility.batchAll([
    api.tx.preimage.notePreimage(call.method.toHex()),
    api.tx.referenda.submit(
      origin,
      { Lookup: { hash: call.method.hash.toHex(), len: call.method.encodedLength } },
      { After: 1 },
    ),
    api.tx.referenda.placeDecisionDeposit(index),
    api.tx.convictionVoting.vote(index, aye(balance)),
  ]), proposer);
  return { index, result };
}

/** Whether referendum `index` has been approved. */
export async function approved(api, index) {
  const info = await api.query.referenda.referendumInfoFor(index);
  return info.isSome && info.unwrap().isApproved;
}
