// Feedback scored with no human action: two `tokenmeter-validator` daemons (Eve and Ferdie)
// next to a dev node, with the real model (llama-server and SmolLM2) behind Alice's gateway
// as the judge. Charlie gets an answer through the unmodified `openai` client, gives it a
// rating through the gateway (POST /v1/feedback) and submits it on chain with the answer's
// receipt; Dave submits feedback about an answer that was never served. The daemons fetch
// each feedback's content, judge it (paying the gateway with their own vouchers), commit,
// reveal, finalise and close the epoch; Charlie is paid, Dave's bond is slashed, and the
// judges' inference is settled on chain. One daemon is killed after committing and started
// again: it reveals from its state file.

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import OpenAI from 'openai';
import { paymentToken, signVoucher } from '@tokenmeter/client';

import { waitFor } from '../lib/feed.js';
import { startGateway, startProcess } from '../lib/gateway.js';
import { startModelServer } from '../lib/model.js';
import { devAccounts, freePort, sendAndWaitInBlock, startDevNode, waitForHead } from '../lib/node.js';
import { setUpProvider, UNIT } from '../lib/provider.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const DAEMON = path.join(here, '..', '..', 'validator', 'bin', 'tokenmeter-validator.js');

describe('validator daemons score feedback on served answers by themselves', () => {
  const stopping = [];
  let api;
  let who;
  let model;
  let gatewayUrl;
  let dir;
  let rpcPort;
  const daemons = {};
  const finalised = new Map();
  const ok = ({ dispatchError }) => assert.equal(dispatchError, undefined, `${dispatchError}`);

  /** Starts `name`'s daemon; resolves once its metrics answer. */
  const startDaemon = async (name) => {
    const port = await freePort();
    const suri = path.join(dir, `${name}.suri`);
    await writeFile(suri, `//${name[0].toUpperCase()}${name.slice(1)}`);
    const daemon = await startProcess(process.execPath, [
      DAEMON, '--node', `ws://127.0.0.1:${rpcPort}`, '--suri-file', suri, '--state-dir', path.join(dir, name),
      '--judge-model', 'smollm2-135m', '--max-spend', '5', '--metrics-port', String(port),
    ], async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).ok, { timeoutMs: 60_000 });
    daemon.metrics = async () => (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    daemon.lines = () => daemon.logs.join('').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    daemons[name] = daemon;
    return daemon;
  };
  const counter = (text, name) => Number(text.match(new RegExp(`^tokenmeter_validator_${name.replace(/[{}]/g, '\\$&')} (\\d+)`, 'm'))?.[1] ?? 0);

  before(async () => {
    who = await devAccounts('Alice', 'Charlie', 'Dave', 'Eve', 'Ferdie', 'Operator');
    dir = await mkdtemp(path.join(os.tmpdir(), 'tokenmeter-validators-'));
    const gatewayPort = await freePort();
    const operatorPort = await freePort();
    gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    const modelServer = await startModelServer(await freePort());
    stopping.push(modelServer);
    const node = await startDevNode({ extraArgs: ['--usage-feed', `http://127.0.0.1:${operatorPort}`] });
    stopping.push(node);
    api = node.api;
    rpcPort = node.rpcPort;
    model = await setUpProvider(api, who.alice, {
      endpoint: gatewayUrl, model: 'smollm2-135m', prices: [UNIT, 2n * UNIT], operator: who.operator,
      credits: [[who.charlie, 20n * UNIT], [who.eve, 20n * UNIT], [who.ferdie, 20n * UNIT]],
    });
    stopping.push(await startGateway(gatewayPort, operatorPort, [
      '--upstream', `${modelServer.url}/v1`, '--node', `http://127.0.0.1:${node.rpcPort}`,
      '--provider', who.alice.address, '--model', `${model}=SmolLM2-135M-Instruct`, '--data-dir', path.join(dir, 'gateway'),
      '--poll-ms', '300', '--min-voucher-blocks', '10',
    ]));
    const bond = api.consts.feedbackRewards.validatorBond.toBigInt();
    const registered = await Promise.all([
      sendAndWaitInBlock(api.tx.feedbackRewards.fundPool(1_000n * UNIT), who.alice),
      sendAndWaitInBlock(api.tx.feedbackRewards.registerValidator(bond), who.eve),
      sendAndWaitInBlock(api.tx.feedbackRewards.registerValidator(bond), who.ferdie),
    ]);
    registered.forEach(ok);
    api.query.system.events((events) => {
      for (const { event } of events) {
        if (api.events.feedbackRewards.FeedbackFinalized.is(event)) {
          finalised.set(event.data.id.toNumber(), { score: event.data.score.unwrapOr(null)?.toNumber() ?? null, slashed: event.data.bondSlashed.isTrue });
        }
      }
    });
    await startDaemon('eve');
    await startDaemon('ferdie');
    // Their stake counts from the next epoch.
    const activeFrom = (await api.query.feedbackRewards.validators(who.eve.address)).unwrap().activeFrom.toNumber();
    const next = await api._rpcCore.provider.send('feedback_epochStatus', [activeFrom]);
    await waitForHead(api, 'subscribeNewHeads', (h) => h.number.toNumber() >= next.start, 120_000);
  });

  after(async () => {
    if (process.env.VALIDATOR_DEBUG) for (const [name, d] of Object.entries(daemons)) console.error(name, d.logs.join(''));
    for (const daemon of Object.values(daemons)) await daemon.stop();
    for (const s of stopping.reverse()) await s.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  let charlieId;
  let daveId;

  it('takes feedback about a served answer (its receipt) and about an answer never served', async () => {
    const genesisHash = (await api.rpc.chain.getBlockHash(0)).toHex();
    const token = paymentToken(signVoucher(who.charlie, { genesisHash, provider: who.alice.address, cap: 5n * UNIT, expiry: 1_000_000 }));
    const client = new OpenAI({ baseURL: `${gatewayUrl}/v1`, apiKey: token, maxRetries: 0 });
    const { data, response } = await client.chat.completions
      .create({ model: 'smollm2-135m', messages: [{ role: 'user', content: 'What is 2+2? Answer with a number only.' }], max_tokens: 16, temperature: 0 })
      .withResponse();
    assert.match(data.choices[0].message.content, /4/);
    const receipt = response.headers.get('x-tokenmeter-receipt');
    assert.match(receipt, /^0x[0-9a-f]{64}$/);
    const posted = await fetch(`${gatewayUrl}/v1/feedback`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ receipt, kind: 'rating', content: { score: 5, comment: 'correct: 2 + 2 is 4' } }),
    });
    assert.equal(posted.status, 201);
    const { hash } = await posted.json();
    const never = `0x${'42'.repeat(32)}`;
    const [charlie, dave] = await Promise.all([
      sendAndWaitInBlock(api.tx.feedbackRewards.submitFeedback(model, receipt, 'Rating', hash), who.charlie),
      sendAndWaitInBlock(api.tx.feedbackRewards.submitFeedback(model, never, 'Label', never), who.dave),
    ]);
    ok(charlie);
    ok(dave);
    const idOf = ({ events }) => events.find(({ event }) => api.events.feedbackRewards.FeedbackSubmitted.is(event)).event.data.id.toNumber();
    charlieId = idOf(charlie);
    daveId = idOf(dave);
  });

  it('commits both daemons\' scores; one killed after committing reveals from its state file when started again', async () => {
    await waitFor(async () => {
      const scores = (await api.query.feedbackRewards.feedbacks(charlieId)).unwrap().scores;
      const daves = (await api.query.feedbackRewards.feedbacks(daveId)).unwrap().scores;
      return scores.length === 2 && daves.length === 2;
    }, 120_000, 'both validators committing on both feedback');
    const eveLines = daemons.eve.lines();
    const scored = eveLines.filter((l) => l.event === 'score');
    assert.deepEqual(scored.map((l) => l.feedback).sort(), [charlieId, daveId].sort());
    const daves = scored.find((l) => l.feedback === daveId);
    assert.equal(daves.score, 0);
    assert.match(daves.reason, /no content under the payload hash/);
    const charlies = scored.find((l) => l.feedback === charlieId);
    assert.ok(charlies.score >= 50, `Charlie's feedback passed the checks: ${JSON.stringify(charlies)}`);
    assert.match(charlies.reason, /the judge said/);
    await daemons.eve.kill();
    await startDaemon('eve');
  });

  it('reveals, finalises at the judged score, slashes the unserved feedback and closes the epoch', async () => {
    await waitFor(() => finalised.has(charlieId) && finalised.has(daveId), 180_000, 'both feedback finalised');
    assert.ok(finalised.get(charlieId).score >= 50, JSON.stringify(finalised.get(charlieId)));
    assert.equal(finalised.get(charlieId).slashed, false);
    assert.deepEqual(finalised.get(daveId), { score: 0, slashed: true });
    // Both validators revealed (Eve after her restart), so nobody was slashed for a miss.
    for (const name of ['eve', 'ferdie']) {
      const reveals = daemons[name].lines().filter((l) => l.event === 'reveal' && l.ok);
      assert.equal(reveals.length, 2, `${name} revealed both: ${JSON.stringify(daemons[name].lines().slice(-6))}`);
    }
    const validator = (await api.query.feedbackRewards.validators(who.eve.address)).unwrap();
    assert.equal(validator.misses.toNumber(), 0);
  });

  it('pays Charlie with his bond back; the daemons claim their own rewards', async () => {
    const rpc = (method, params) => api._rpcCore.provider.send(method, params);
    await waitFor(async () => (await rpc('feedback_pendingRewards', [who.charlie.address])).some((p) => p.closed),
      120_000, 'the epoch closed by a daemon');
    const [pending] = (await rpc('feedback_pendingRewards', [who.charlie.address])).filter((p) => p.closed);
    assert.ok(BigInt(pending.reward) > 0n && BigInt(pending.bonds) === api.consts.feedbackRewards.feedbackBond.toBigInt());
    const before = (await api.query.system.account(who.charlie.address)).data.free.toBigInt();
    const claimed = await sendAndWaitInBlock(api.tx.feedbackRewards.claim(pending.epoch), who.charlie);
    ok(claimed);
    const afterClaim = (await api.query.system.account(who.charlie.address)).data.free.toBigInt();
    assert.ok(afterClaim > before + BigInt(pending.bonds) - UNIT / 10n, 'reward and bond paid, less the fee');
    await waitFor(async () => (await rpc('feedback_pendingRewards', [who.ferdie.address])).length === 0
      && (await rpc('feedback_pendingRewards', [who.eve.address])).length === 0, 60_000, 'the daemons claiming');
    // The daemon counts its claim when it hears of the block, which may be a moment after this test does.
    await waitFor(async () => counter(await daemons.ferdie.metrics(), 'calls_total{call="claim"}') >= 1,
      30_000, 'Ferdie\'s daemon counting its claim');
  });

  it('paid the judge through the gateway, and the chain settled it', async () => {
    const metrics = await daemons.ferdie.metrics();
    assert.ok(counter(metrics, 'judge_requests_total') >= 1, metrics);
    const spent = BigInt(counter(metrics, 'judge_spent_units_total'));
    assert.ok(spent > 0n, metrics);
    await waitFor(async () => (await api.query.inferenceCredits.voucherLedgers(who.ferdie.address, who.alice.address)).settled.toBigInt() === spent,
      60_000, `the chain settling Ferdie's ${spent}`);
    assert.equal((await api.query.inferenceCredits.credits(who.ferdie.address)).toBigInt(), 20n * UNIT - spent);
  });
});
