import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { paymentToken, signVoucher } from '@tokenmeter/client';
import { startGateway, startProcess } from '../lib/gateway.js';
import { devAccounts, freePort, sendAndWaitInBlock, startDevNode } from '../lib/node.js';
const UNIT = 10n ** 12n;
const examples = process.env.TOKENMETER_EXAMPLES;
const body = JSON.stringify({ model: 'bench-llm', messages: [{ role: 'user', content: 'Say hello to the benchmark' }], max_tokens: 16 });
const dir = await mkdtemp(path.join(os.tmpdir(), 'tm-hold-'));
const upstreamPort = await freePort();
const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
const up = await startProcess(path.join(examples, 'fake_upstream'), [`127.0.0.1:${upstreamPort}`],
    async () => (await fetch(`${upstreamUrl}/v1/chat/completions`, { method: 'POST', body })).ok);
const node = await startDevNode();
const { api } = node;
const { alice, bob } = await devAccounts('Alice', 'Bob');
const gatewayPort = await freePort();
const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
const model = (await api.query.inferenceCredits.nextModelId()).toNumber();
for (const { dispatchError } of await Promise.all([
    sendAndWaitInBlock(api.tx.utility.batchAll([
      api.tx.inferenceCredits.registerProvider('Bench AI', gatewayUrl),
      api.tx.inferenceCredits.registerModel('bench-llm', 1000n, 1000n, 'Open'),
    ]), alice),
    sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(1000n * UNIT), bob),
])) if (dispatchError) throw new Error(`${dispatchError}`);
const genesisHash = (await api.rpc.chain.getBlockHash(0)).toHex();
const token = paymentToken(signVoucher(bob, { genesisHash, provider: alice.address, cap: 10n ** 30n, expiry: 1_000_000 }));
console.log(JSON.stringify({ upstreamUrl, gatewayUrl, token, rpc: `http://127.0.0.1:${node.rpcPort}`, provider: alice.address, model, dir }));
const args = process.argv.slice(2);
if (!args.includes('--no-gateway')) {
  const gw = await startGateway(gatewayPort, [
    '--upstream', `${upstreamUrl}/v1`, '--node', `http://127.0.0.1:${node.rpcPort}`,
    '--provider', alice.address, '--model', `${model}=fake`, '--data-dir', path.join(dir, 'gateway'),
    '--no-rate-limits', '--min-voucher-blocks', '10',
  ]);
  console.log(JSON.stringify({ gatewayPid: gw.process.pid }));
}
console.log('READY');
await new Promise((r) => process.on('SIGTERM', r));
await node.stop(); await up.stop(); process.exit(0);
