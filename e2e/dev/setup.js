// The chain side of `scripts/dev.sh`: on a fresh dev chain, the operator key into the node's
// keystore; Alice registered as a provider with the real model listed at a price, an operator
// registered and funded; Bob's credits deposited; then a voucher token for Bob (cap 50 TMT)
// printed as one JSON line: { model, token }.
//
//   node dev/setup.js <node ws url> <gateway url> <model name>

import { ApiPromise, WsProvider } from '@polkadot/api';
import { paymentToken, signVoucher } from '@tokenmeter/client';

import { devAccounts } from '../lib/node.js';
import { setUpProvider, UNIT } from '../lib/provider.js';
const [rpcUrl, gatewayUrl, modelName] = process.argv.slice(2);
const api = await ApiPromise.create({ provider: new WsProvider(rpcUrl), noInitWarn: true });
try {
  const { alice, bob, operator } = await devAccounts('Alice', 'Bob', 'Operator');
  // 0.1 TMT per 1,000 input tokens, 0.2 per 1,000 output tokens.
  const model = await setUpProvider(api, alice, {
    endpoint: gatewayUrl, model: modelName, prices: [UNIT / 10n, UNIT / 5n], operator, credits: [[bob, 100n * UNIT]],
  });
  const genesisHash = (await api.rpc.chain.getBlockHash(0)).toHex();
  const token = paymentToken(signVoucher(bob, { genesisHash, provider: alice.address, cap: 50n * UNIT, expiry: 1_000_000 }));
  console.log(JSON.stringify({ model, provider: alice.address, user: bob.address, token }));
} finally {
  await api.disconnect();
}
