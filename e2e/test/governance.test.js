// Governance through Polkadot.js as Apps drives it: Alice stakes most of her TMT for a tier,
// then puts a referendum on the `parameters` track to change the tiers (the call's preimage
// noted, the referendum submitted with the `ParameterSetter` origin, its decision deposit
// placed) and votes aye with her staked TMT at 1× conviction. It passes and is enacted within
// minutes; Bob, who stakes 100 TMT, was in tier 1 with 60 requests a minute at the gateway,
// and from the enacting block the new tier's 77 applies — no sudo involved. A signed account
// cannot set the tiers itself (BadOrigin, nothing changed).

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import OpenAI from 'openai';
import { paymentToken, signVoucher } from '@tokenmeter/client';

import { waitFor } from '../lib/feed.js';
import { startGateway, startUpstream } from '../lib/gateway.js';
import { approved, proposeAndVote } from '../lib/governance.js';
import { devAccounts, freePort, sendAndWaitInBlock, startDevNode } from '../lib/node.js';

const UNIT = 10n ** 12n;
const NEW_TIERS = [{ minStake: 50n * UNIT, priorityWeight: 3, rateLimit: 77, freeAllowance: 0 }];

describe('governance: a referendum voted with staked TMT sets the tiers the gateway applies', () => {
  const stopping = [];
  let api;
  let who;
  let gatewayUrl;
  let client;
  let dataDir;
  const ok = ({ dispatchError }) => assert.equal(dispatchError, undefined, `${dispatchError}`);
  /** Waits until the chain gives Bob `rate` requests a minute and the gateway has followed. */
  const chainGives = async (rate, timeoutMs) => {
    await waitFor(async () => (await api._rpcCore.provider.send('priority_of', [who.bob.address])).rateLimit === rate,
      timeoutMs, `the chain giving Bob ${rate} requests a minute`);
    const best = (await api.rpc.chain.getHeader()).number.toNumber();
    await waitFor(async () => (await (await fetch(`${gatewayUrl}/health`)).json()).block >= best, 30_000, 'the gateway following');
  };
  const rateLimit = async () => {
    const { response } = await client.chat.completions
      .create({ model: 'open-llm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 })
      .withResponse();
    return response.headers.get('ratelimit-limit');
  };

  before(async () => {
    who = await devAccounts('Alice', 'Bob');
    const upstreamPort = await freePort();
    stopping.push(await startUpstream(upstreamPort));
    const node = await startDevNode();
    stopping.push(node);
    api = node.api;
    const gatewayPort = await freePort();
    gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    const model = (await api.query.inferenceCredits.nextModelId()).toNumber();
    const results = await Promise.all([
      sendAndWaitInBlock(api.tx.utility.batchAll([
        api.tx.inferenceCredits.registerProvider('Alice AI', gatewayUrl),
        api.tx.inferenceCredits.registerModel('open-llm', UNIT, UNIT, 'Open'),
        api.tx.priorityStaking.stake(900_000n * UNIT),
      ]), who.alice),
      sendAndWaitInBlock(api.tx.utility.batchAll([
        api.tx.inferenceCredits.depositCredits(100n * UNIT),
        api.tx.priorityStaking.stake(100n * UNIT),
      ]), who.bob),
    ]);
    results.forEach(ok);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tokenmeter-governance-'));
    stopping.push(await startGateway(gatewayPort, await freePort(), [
      '--upstream', `http://127.0.0.1:${upstreamPort}/v1`, '--node', `http://127.0.0.1:${node.rpcPort}`,
      '--provider', who.alice.address, '--model', `${model}=fake-llama`, '--data-dir', dataDir,
      '--poll-ms', '300', '--min-voucher-blocks', '10',
    ]));
    const genesisHash = (await api.rpc.chain.getBlockHash(0)).toHex();
    client = new OpenAI({
      baseURL: `${gatewayUrl}/v1`, maxRetries: 0,
      apiKey: paymentToken(signVoucher(who.bob, { genesisHash, provider: who.alice.address, cap: 50n * UNIT, expiry: 1_000_000 })),
    });
    // Bob's 100 TMT reach the first tier (60 requests a minute) after the dev warm-up.
    await chainGives(60, 60_000);
    assert.equal(await rateLimit(), '60');
  });

  after(async () => {
    for (const s of stopping.reverse()) await s.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses the tiers from a signed account and changes nothing', async () => {
    const before = (await api.query.priorityStaking.tiers()).toJSON();
    const result = await sendAndWaitInBlock(api.tx.priorityStaking.setTiers(NEW_TIERS), who.alice);
    assert.ok(result.dispatchError?.isBadOrigin, `${result.dispatchError}`);
    assert.deepEqual((await api.query.priorityStaking.tiers()).toJSON(), before);
  });

  it('passes a parameters referendum voted with staked TMT, and the gateway applies the new rate limit', async () => {
    // 900,000 TMT, all of it staked: the vote's lock and the stake's freeze overlap.
    const { index, result: submitted } = await proposeAndVote(api, who.alice, { Origins: 'ParameterSetter' },
      api.tx.priorityStaking.setTiers(NEW_TIERS), 900_000n * UNIT);
    ok(submitted);
    const account = await api.query.system.account(who.alice.address);
    assert.ok(account.data.frozen.toBigInt() >= 900_000n * UNIT);
    const locks = (await api.query.balances.locks(who.alice.address)).map((l) => l.amount.toBigInt());
    assert.deepEqual(locks, [900_000n * UNIT]);
    const freezes = (await api.query.balances.freezes(who.alice.address)).map((f) => f.amount.toBigInt());
    assert.deepEqual(freezes, [900_000n * UNIT]);

    await waitFor(() => approved(api, index), 240_000, 'the referendum approved');
    await waitFor(async () => (await api.query.priorityStaking.tiers()).length === 1, 60_000, 'the new tiers enacted');
    const tiers = (await api.query.priorityStaking.tiers()).toJSON();
    assert.equal(tiers[0].rateLimit, 77);
    await chainGives(77, 30_000);
    assert.equal(await rateLimit(), '77');
  });
});
