// The chain side of `scripts/dev.sh`: on a fresh dev chain, the operator key into the node's
// keystore; Alice registered as a provider with the real model listed at a price, an operator
// registered and funded; Bob's credits deposited; then a voucher token for Bob (cap 50 TMT)
// printed as one JSON line: { model, token }.
//
//   node dev/setup.js <node ws url> <gateway url> <model name>

import { ApiPromise, WsProvider } from '@polkadot/api';
import { paymentToken, signVoucher } from '@tokenmeter/client';
import { u8aToHex } from '@polkadot/util';

import { devAccounts, sendAndWaitInBlock } from '../lib/node.js';

const UNIT = 10n ** 12n;
const [rpcUrl, gatewayUrl, modelName] = process.argv.slice(2);
const api = await ApiPromise.create({ provider: new WsProvider(rpcUrl), noInitWarn: true });
try {
  const { alice, bob, operator } = await devAccounts('Alice', 'Bob', 'Operator');
  await api.rpc.author.insertKey('tmat', '//Operator', u8aToHex(operator.publicKey));
  const model = (await api.query.inferenceCredits.nextModelId()).toNumber();
  // 0.1 TMT per 1,000 input tokens, 0.2 per 1,000 output tokens.
  const setUp = api.tx.utility.batchAll([
    api.tx.inferenceCredits.registerProvider('Alice AI', gatewayUrl),
    api.tx.inferenceCredits.registerModel(modelName, UNIT / 10n, UNIT / 5n, 'Open'),
    api.tx.usageAttestation.registerOperator(operator.address),
    api.tx.usageAttestation.setCapacity(1_000_000_000),
    api.tx.balances.transferKeepAlive(operator.address, 10n * UNIT),
  ]);
  const results = await Promise.all([
    sendAndWaitInBlock(setUp, alice),
    sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(100n * UNIT), bob),
  ]);
  for (const { dispatchError } of results) if (dispatchError) throw new Error(`${dispatchError}`);
  const genesisHash = (await api.rpc.chain.getBlockHash(0)).toHex();
  const token = paymentToken(signVoucher(bob, { genesisHash, provider: alice.address, cap: 50n * UNIT, expiry: 1_000_000 }));
  console.log(JSON.stringify({ model, provider: alice.address, user: bob.address, token }));
} finally {
  await api.disconnect();
}
