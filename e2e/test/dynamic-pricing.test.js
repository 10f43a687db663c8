// Congestion pricing end to end (docs/pricing.md): root shortens the dev chain's pricing epoch
// to 8 blocks (the `Credits.PricingEpoch` runtime parameter, set through sudo); Alice opts her model in
// with a capacity of 30 tokens an epoch (target 50%, the listed price as its floor, at most
// 4×); Bob uses it through
// the gateway with the official `openai` client, and the node's off-chain worker attests the
// gateway's usage feed. An over-capacity epoch raises the price one step (×1.125) for the next
// one: `credits_quote`, the gateway's `/v1/models`, its charges and the amounts the chain
// settles all follow; a light epoch lowers it, an idle one down to its floor.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import OpenAI from 'openai';
import { decodeHeader, paymentToken, signVoucher } from '@tokenmeter/client';
import { u8aToHex } from '@polkadot/util';

import { waitFor } from '../lib/feed.js';
import { startGateway, startUpstream } from '../lib/gateway.js';
import { devAccounts, freePort, sendAndWaitInBlock, startDevNode, waitForHead } from '../lib/node.js';

const UNIT = 10n ** 12n;
const EPOCH = 8;
const FIXED = 10n ** 18n; // FixedU128's one

describe('congestion pricing: the price follows attested demand', () => {
  let node;
  let api;
  let upstream;
  let gateway;
  let gatewayUrl;
  let dataDir;
  let accounts;
  let model;
  let client;

  const rpc = (method, params) => api._rpcCore.provider.send(method, params);
  const quote = () => rpc('credits_quote', [model, 1000, 0]);
  const settled = async () => (await api.query.inferenceCredits.voucherLedgers(accounts.bob.address, accounts.alice.address)).settled.toBigInt();
  const listed = async () => (await (await fetch(`${gatewayUrl}/v1/models`)).json()).data.find((m) => m.id === 'busy-llm');
  const ask = (n) => ({ model: 'busy-llm', messages: [{ role: 'user', content: `request ${n} about the chain` }], max_tokens: 5 });

  /**
   * Waits for the first block of the next pricing epoch, and for the gateway to serve from it
   * (it charges the prices of the block it last read; a request served in an epoch's last
   * block before the gateway reads the next would be settled at the next epoch's price).
   */
  const nextEpoch = async () => {
    const now = (await api.rpc.chain.getHeader()).number.toNumber();
    const start = (Math.floor(now / EPOCH) + 1) * EPOCH;
    await waitForHead(api, 'subscribeNewHeads', (h) => h.number.toNumber() >= start, (EPOCH + 4) * 6_000 + 10_000);
    await waitFor(async () => (await (await fetch(`${gatewayUrl}/health`)).json()).block >= start, 10_000, 'the gateway reading the new epoch');
    return start;
  };

  /** Serves `count` requests; resolves with what the gateway charged in all. */
  const serve = async (count) => {
    let charged = 0n;
    for (let i = 0; i < count; i += 1) {
      const { response } = await client.chat.completions.create(ask(i)).withResponse();
      charged += BigInt(decodeHeader(response.headers.get('payment-response')).extra.charged);
    }
    return charged;
  };

  before(async () => {
    accounts = await devAccounts('Alice', 'Bob', 'Operator');
    const { alice, bob, operator } = accounts;
    const gatewayPort = await freePort();
    gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    const operatorPort = await freePort();
    const upstreamPort = await freePort();
    upstream = await startUpstream(upstreamPort);
    node = await startDevNode({ extraArgs: ['--usage-feed', `http://127.0.0.1:${operatorPort}`] });
    api = node.api;
    await api.rpc.author.insertKey('tmat', '//Operator', u8aToHex(operator.publicKey));
    model = (await api.query.inferenceCredits.nextModelId()).toNumber();
    const results = await Promise.all([
      sendAndWaitInBlock(api.tx.utility.batchAll([
        api.tx.sudo.sudo(api.tx.parameters.setParameter({ Credits: { PricingEpoch: [null, EPOCH] } })),
        api.tx.inferenceCredits.registerProvider('Alice AI', gatewayUrl),
        api.tx.inferenceCredits.registerModel('busy-llm', UNIT, UNIT, 'Open'),
        api.tx.inferenceCredits.setDynamicPricing(model, {
          capacity: 30, target: 500_000_000, minMultiplier: FIXED, maxMultiplier: 4n * FIXED,
        }),
        api.tx.usageAttestation.registerOperator(operator.address),
        api.tx.usageAttestation.setCapacity(1_000_000),
        api.tx.balances.transferKeepAlive(operator.address, 10n * UNIT),
      ]), alice),
      sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(100n * UNIT), bob),
    ]);
    for (const { dispatchError, events } of results) {
      assert.equal(dispatchError, undefined, `${dispatchError}`);
      const failed = events.find(({ event }) => api.events.utility.BatchInterrupted.is(event));
      assert.equal(failed, undefined, `${failed?.event.data}`);
    }
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tokenmeter-dynamic-pricing-'));
    gateway = await startGateway(gatewayPort, operatorPort, [
      '--upstream', `http://127.0.0.1:${upstreamPort}/v1`, '--node', `http://127.0.0.1:${node.rpcPort}`,
      '--provider', alice.address, '--model', `${model}=fake-llama`, '--data-dir', dataDir,
      '--poll-ms', '300', '--min-voucher-blocks', '10',
    ]);
    const genesisHash = (await api.rpc.chain.getBlockHash(0)).toHex();
    client = new OpenAI({
      baseURL: `${gatewayUrl}/v1`,
      maxRetries: 0,
      apiKey: paymentToken(signVoucher(bob, { genesisHash, provider: alice.address, cap: 50n * UNIT, expiry: 1_000_000 })),
    });
  });

  after(async () => {
    if (gateway) await gateway.stop();
    if (upstream) await upstream.stop();
    if (node) await node.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('quotes the listed price with its next-epoch bounds before any demand', async () => {
    const q = await quote();
    assert.equal(q.pricePer1kInput, String(UNIT));
    assert.equal(q.dynamic.multiplier, '1');
    // Next epoch: between the floor (the listed price) and one step up.
    assert.equal(q.dynamic.nextMinCost, String(UNIT));
    assert.equal(q.dynamic.nextMaxCost, String(UNIT * 1125n / 1000n));
    const shown = await listed();
    assert.equal(shown.tokenmeter.dynamic.multiplier, '1');
    assert.equal(shown.tokenmeter.pricePer1kInput, String(UNIT));
  });

  it('raises the price one step after an over-capacity epoch, and the gateway and the chain charge it', async () => {
    // An epoch served over its capacity of 30 tokens (each request is 10 tokens or more).
    await nextEpoch();
    const before = await settled();
    const charged = await serve(4);
    await waitFor(async () => (await settled()) - before === charged, 40_000, 'the chain settling the first epoch');

    // The next epoch: ×1.125.
    await nextEpoch();
    const q = await quote();
    assert.equal(q.dynamic.multiplier, '1.125');
    assert.equal(q.pricePer1kInput, String(UNIT * 1125n / 1000n));
    await waitFor(async () => (await listed()).tokenmeter.pricePer1kInput === String(UNIT * 1125n / 1000n), 10_000, 'the gateway showing the new price');
    const shown = (await listed()).tokenmeter;
    assert.equal(shown.dynamic.listedPricePer1kInput, String(UNIT));
    assert.equal(shown.dynamic.nextMaxPricePer1kInput, String(UNIT * 1265625n / 1000000n));
    // One request: its charge is its tokens at 1.125 TMT per 1,000, which the chain settles.
    const middle = await settled();
    const { response, data } = await client.chat.completions.create(ask(9)).withResponse();
    const tokens = BigInt(data.usage.prompt_tokens + data.usage.completion_tokens);
    const one = BigInt(decodeHeader(response.headers.get('payment-response')).extra.charged);
    assert.equal(one, (tokens * UNIT * 1125n / 1000n + 999n) / 1000n);
    await waitFor(async () => (await settled()) - middle === one, 40_000, 'the chain settling at the new price');
  });

  it('lowers it after a light epoch, and down to its floor after an idle one', async () => {
    // The epoch above served one request of 10 tokens (a third of capacity, under the 50%
    // target): 1.125 × (1 − 12.5% × (0.5 − 1/3) / 0.5) = 1.078125.
    const start = await nextEpoch();
    assert.equal((await quote()).dynamic.multiplier, '1.078125');
    // Idle: a full step down would be 0.943…, below the floor: the listed price.
    await waitForHead(api, 'subscribeNewHeads', (h) => h.number.toNumber() >= start + EPOCH, (EPOCH + 4) * 6_000);
    const q = await quote();
    assert.equal(q.dynamic.multiplier, '1');
    assert.equal(q.pricePer1kInput, String(UNIT));
  });
});
