// Stake turned into service at the gateway, through the official `openai` client: Bob stakes
// for the top tier (priority weight 20, 1,200 requests a minute), Charlie for the first
// (weight 1, 60 a minute), Dave not at all (the chain's default of 10 a minute). The gateway
// lets one request at a time through to the upstream; with it saturated, Bob's requests are
// served before Charlie's that queued earlier, and Charlie's still are. Over his tier's rate
// Dave gets 429 with `Retry-After` and `RateLimit-*` headers, nothing forwarded and nothing
// charged; once his own stake has warmed up, his higher limit applies at once.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import OpenAI from 'openai';
import { paymentToken, signVoucher } from '@tokenmeter/client';

import { startGateway, startUpstream } from '../lib/gateway.js';
import { devAccounts, freePort, sendAndWaitInBlock, startDevNode, waitForHead } from '../lib/node.js';

const UNIT = 10n ** 12n;

describe('the gateway: priority by stake and rate limits by tier', () => {
  let node;
  let api;
  let upstream;
  let gateway;
  let gatewayUrl;
  let operatorUrl;
  let upstreamUrl;
  let dataDir;
  let accounts;
  let genesisHash;

  const rpc = (method, params) => api._rpcCore.provider.send(method, params);
  const upstreamRequests = async () => (await fetch(`${upstreamUrl}/_requests`)).json();
  const admin = async (who) => (await fetch(`${operatorUrl}/admin/users/${who.address}`)).json();
  const clientOf = (who) => new OpenAI({
    baseURL: `${gatewayUrl}/v1`,
    maxRetries: 0,
    apiKey: paymentToken(signVoucher(who, {
      genesisHash, provider: accounts.alice.address, cap: 50n * UNIT, expiry: 1_000_000,
    })),
  });
  const ask = (content, metadata = {}) => ({
    model: 'open-llm', messages: [{ role: 'user', content }], max_tokens: 8, metadata,
  });
  const header = (headers, name) => (typeof headers?.get === 'function' ? headers.get(name) : headers?.[name]);

  /** Waits until `who` has `tier` at the best block. */
  const waitForTier = async (who, tier) => {
    await waitForHead(api, 'subscribeNewHeads', () => true, 10_000);
    let reached = false;
    for (let i = 0; i < 40 && !reached; i += 1) {
      reached = (await rpc('priority_of', [who.address])).tier === tier;
      if (!reached) await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    if (!reached) throw new Error(`${who.address} never reached tier ${tier}`);
    // And the gateway follows a block in which it has (once it runs).
    if (!gateway) return;
    const best = (await api.rpc.chain.getHeader()).number.toNumber();
    for (let i = 0; i < 100; i += 1) {
      const health = await (await fetch(`${gatewayUrl}/health`)).json();
      if (health.block >= best) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`the gateway never followed block ${best}`);
  };

  before(async () => {
    accounts = await devAccounts('Alice', 'Bob', 'Charlie', 'Dave');
    const { alice, bob, charlie, dave } = accounts;
    const gatewayPort = await freePort();
    gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    const upstreamPort = await freePort();
    upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
    upstream = await startUpstream(upstreamPort);
    node = await startDevNode();
    api = node.api;
    genesisHash = (await api.rpc.chain.getBlockHash(0)).toHex();

    const model = (await api.query.inferenceCredits.nextModelId()).toNumber();
    const results = await Promise.all([
      sendAndWaitInBlock(api.tx.utility.batchAll([
        api.tx.inferenceCredits.registerProvider('Alice AI', gatewayUrl),
        api.tx.inferenceCredits.registerModel('open-llm', UNIT, UNIT, 'Open'),
      ]), alice),
      sendAndWaitInBlock(api.tx.utility.batchAll([
        api.tx.inferenceCredits.depositCredits(100n * UNIT),
        api.tx.priorityStaking.stake(10_000n * UNIT),
      ]), bob),
      sendAndWaitInBlock(api.tx.utility.batchAll([
        api.tx.inferenceCredits.depositCredits(100n * UNIT),
        api.tx.priorityStaking.stake(100n * UNIT),
      ]), charlie),
      sendAndWaitInBlock(api.tx.inferenceCredits.depositCredits(100n * UNIT), dave),
    ]);
    for (const { dispatchError } of results) assert.equal(dispatchError, undefined, `${dispatchError}`);

    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tokenmeter-gateway-priority-'));
    const operatorPort = await freePort();
    operatorUrl = `http://127.0.0.1:${operatorPort}`;
    gateway = await startGateway(gatewayPort, operatorPort, [
      '--upstream', `${upstreamUrl}/v1`, '--node', `http://127.0.0.1:${node.rpcPort}`,
      '--provider', alice.address, '--model', `${model}=fake-llama`, '--data-dir', dataDir,
      '--poll-ms', '300', '--min-voucher-blocks', '10',
      '--max-in-flight', '1', '--queue-timeout-secs', '60',
    ]);
    // The dev chain's warm-up is 5 blocks.
    await waitForTier(bob, 3);
    await waitForTier(charlie, 1);
  });

  after(async () => {
    if (gateway) await gateway.stop();
    if (upstream) await upstream.stop();
    if (node) await node.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('serves the higher tier first when the upstream is saturated, and the lower one still', async () => {
    const { bob, charlie } = accounts;
    const [bobClient, charlieClient] = [clientOf(bob), clientOf(charlie)];
    const before = (await upstreamRequests()).length;
    // Charlie's long request holds the one place with the upstream...
    const blocker = charlieClient.chat.completions.create(ask('charlie blocker', { delay_ms: 2500 }));
    await new Promise((resolve) => setTimeout(resolve, 500));
    // ...then Charlie queues five requests, and after them Bob five.
    const charlies = [1, 2, 3, 4, 5].map((i) => charlieClient.chat.completions.create(ask(`charlie ${i}`, { delay_ms: 50 })));
    await new Promise((resolve) => setTimeout(resolve, 500));
    const bobs = [1, 2, 3, 4, 5].map((i) => bobClient.chat.completions.create(ask(`bob ${i}`, { delay_ms: 50 })));
    const answers = await Promise.all([blocker, ...charlies, ...bobs]);
    assert.equal(answers.length, 11);
    for (const answer of answers) assert.equal(answer.choices[0].message.content, 'Hello from the fake model');

    const order = (await upstreamRequests()).slice(before).map((r) => r.body.messages[0].content);
    assert.equal(order[0], 'charlie blocker');
    // Bob's five went first, though Charlie's five queued before them; then Charlie's.
    assert.deepEqual(order.slice(1, 6).sort(), ['bob 1', 'bob 2', 'bob 3', 'bob 4', 'bob 5']);
    assert.deepEqual(order.slice(6).sort(), ['charlie 1', 'charlie 2', 'charlie 3', 'charlie 4', 'charlie 5']);
    // The metrics saw requests wait.
    const metrics = await (await fetch(`${operatorUrl}/metrics`)).text();
    assert.match(metrics, /tokenmeter_gateway_queue_seconds_count \d+/);
  });

  it('limits each user to its tier\'s requests per minute: 429 with Retry-After, nothing forwarded or charged', async () => {
    const { bob, charlie, dave } = accounts;
    const dave0 = clientOf(dave);
    // The chain's default for a user without a tier: 10 a minute.
    for (let i = 1; i <= 10; i += 1) {
      const { response } = await dave0.chat.completions.create(ask(`dave ${i}`)).withResponse();
      assert.equal(response.headers.get('ratelimit-limit'), '10');
      assert.equal(response.headers.get('ratelimit-remaining'), String(10 - i));
    }
    const forwarded = (await upstreamRequests()).length;
    const { charged, served } = await admin(dave);
    assert.equal(served.requests, 10);
    await assert.rejects(dave0.chat.completions.create(ask('dave 11')), (e) => {
      assert.equal(e.status, 429);
      assert.equal(e.error?.code ?? e.code, 'rate_limit_exceeded');
      assert.equal(header(e.headers, 'ratelimit-limit'), '10');
      assert.equal(header(e.headers, 'ratelimit-remaining'), '0');
      const retryAfter = Number(header(e.headers, 'retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `retry-after ${retryAfter}`);
      return true;
    });
    assert.equal((await upstreamRequests()).length, forwarded, 'nothing forwarded');
    const after11 = await admin(dave);
    assert.equal(after11.charged, charged, 'nothing charged');
    assert.equal(after11.served.requests, 10);
    assert.equal(after11.reserved, '0');

    // Tiers have their own limits: Charlie (60 a minute) and Bob (1,200) go on.
    const { response: c } = await clientOf(charlie).chat.completions.create(ask('charlie more')).withResponse();
    assert.equal(c.headers.get('ratelimit-limit'), '60');
    const { response: b } = await clientOf(bob).chat.completions.create(ask('bob more')).withResponse();
    assert.equal(b.headers.get('ratelimit-limit'), '1200');
  });

  it('applies a user\'s new tier from the block its stake counts in', async () => {
    const { dave } = accounts;
    const staked = await sendAndWaitInBlock(api.tx.priorityStaking.stake(100n * UNIT), dave);
    assert.equal(staked.dispatchError, undefined, `${staked.dispatchError}`);
    await waitForTier(dave, 1);
    // His window still counts the requests above; the limit is now his tier's.
    const { response } = await clientOf(dave).chat.completions.create(ask('dave staked')).withResponse();
    assert.equal(response.headers.get('ratelimit-limit'), '60');
  });

  // Issue 28 §4: an agent's controller signs vouchers for it; once the owner freezes the
  // agent, the gateway refuses the next request at once (it reads the freeze every block),
  // while the chain still settles what was served before (a grace; runtime tests).
  it('serves an agent whose controller signs, and refuses it as soon as the owner freezes it', async () => {
    const { alice, eve } = await devAccounts('Alice', 'Eve');
    const hash = `0x${'cd'.repeat(32)}`;
    const agent = await rpc('agentWallet_address', [alice.address, hash]);
    const policy = {
      perPaymentCap: 100n * UNIT, periodCap: 1_000n * UNIT, periodLength: 10_000, payees: null,
      cosignThreshold: 1_000n * UNIT, cosigners: [], approvalsNeeded: 1, expiry: null, paysFees: false,
    };
    const created = await sendAndWaitInBlock(api.tx.utility.batchAll([
      api.tx.agentWallet.createAgent(hash, policy, eve.address),
      api.tx.balances.transferKeepAlive(agent, 200n * UNIT),
    ]), alice);
    assert.equal(created.dispatchError, undefined, `${created.dispatchError}`);
    const funded = await sendAndWaitInBlock(api.tx.agentWallet.act(agent, api.tx.inferenceCredits.depositCredits(50n * UNIT)), eve);
    assert.equal(funded.dispatchError, undefined, `${funded.dispatchError}`);
    // Eve (the controller) signs for the agent; the token names her as its signer.
    const token = paymentToken(signVoucher(eve, {
      genesisHash, provider: alice.address, user: agent, cap: 10n * UNIT, expiry: 1_000_000,
    }));
    const agentClient = new OpenAI({ baseURL: `${gatewayUrl}/v1`, maxRetries: 0, apiKey: token });
    // Served once the gateway follows the block with the agent's credits.
    let served;
    for (let i = 0; i < 30 && !served; i += 1) {
      served = await agentClient.chat.completions.create(ask('agent at work')).catch((e) => {
        if (e.code !== 'insufficient_credits') throw e;
        return new Promise((resolve) => setTimeout(() => resolve(undefined), 500));
      });
    }
    assert.ok(served, 'the agent was never served');
    const frozen = await sendAndWaitInBlock(api.tx.agentWallet.freeze(agent), alice);
    assert.equal(frozen.dispatchError, undefined, `${frozen.dispatchError}`);
    // Refused from the block the freeze is in (the gateway follows the best block).
    let refused;
    for (let i = 0; i < 30 && !refused; i += 1) {
      try {
        await agentClient.chat.completions.create(ask('agent after the freeze'));
        await new Promise((resolve) => setTimeout(resolve, 500));
      } catch (e) {
        refused = e;
      }
    }
    assert.equal(refused?.status, 402);
    assert.equal(refused.code, 'signer_not_allowed');
  });
});
