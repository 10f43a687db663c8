// The chain side of a provider in front of a real model, as scripts/dev.sh, the tests and the
// benchmarks set it up: Alice registered as a provider (her gateway's URL as the endpoint)
// with one model listed; optionally an operator key in the node's keystore, registered and
// funded, so that the node's worker attests the gateway's feed; optionally users' credits.

import { u8aToHex } from '@polkadot/util';

import { sendAndWaitInBlock } from './node.js';

export const UNIT = 10n ** 12n;

/**
 * Sets up `provider` (a keyring pair) on the chain of `api`; returns the model's id. Options:
 * `name` (the provider's), `endpoint` (its gateway's URL), `model` (the model's name),
 * `prices` ([input, output] per 1,000 tokens), `access` (default `'Open'`), `operator` (a pair
 * of `operatorSuri`, default `//Operator`, whose key goes into the node's keystore), `credits` ([[pair, amount]]).
 */
export async function setUpProvider(api, provider, { name = 'Alice AI', endpoint, model, prices, access = 'Open', operator, operatorSuri = '//Operator', credits = [] }) {
  if (operator) await api.rpc.author.insertKey('tmat', operatorSuri, u8aToHex(operator.publicKey));
  const id = (await api.query.inferenceCredits.nextModelId()).toNumber();
  const calls = [
    api.tx.inferenceCredits.registerProvider(name, endpoint),
    api.tx.inferenceCredits.registerModel(model, prices[0], prices[1], access),
  ];
  if (operator) {
    calls.push(
      api.tx.usageAttestation.registerOperator(operator.address),
      api.tx.usageAttestation.setCapacity(1_000_000_000),
      api.tx.balances.transferKeepAlive(operator.address, 10n * UNIT),
    );
  }
  const results = await Promise.all([
    sendAndWaitInBlock(api.tx.utility.batchAll(calls), provider),
    ...credits.map(([user, amount]) => sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(amount), user)),
  ]);
  for (const { dispatchError } of results) {
    if (dispatchError) throw new Error(`setting up the provider failed: ${dispatchError}`);
  }
  return id;
}
