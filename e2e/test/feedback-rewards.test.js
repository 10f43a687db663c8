// Feedback rewards as users see them through Polkadot.js: Alice lists a model, funds the
// reward pool and validates with Eve and Ferdie; Charlie and Dave give feedback on the model;
// the validators score it (80 and 40); once the epoch's scoring window is over anyone closes
// it, and Charlie and Dave claim rewards in proportion to their scores, with their bonds.
// Claiming twice fails with its module error and changes nothing.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { devAccounts, moduleError, sendAndWaitInBlock, startDevNode, waitForHead } from '../lib/node.js';

const UNIT = 10n ** 12n;
const OUTPUT = `0x${'11'.repeat(32)}`;
const PAYLOAD = `0x${'22'.repeat(32)}`;

describe('feedback rewards', () => {
  let node;
  let api;
  let who;
  let model;
  let epoch;
  const ids = {};
  const rpc = (method, params) => api._rpcCore.provider.send(method, params);
  const ok = ({ dispatchError }) => assert.equal(dispatchError, undefined, `${dispatchError}`);
  const eventsOf = (events, name) =>
    events.filter(({ event }) => api.events.feedbackRewards[name].is(event)).map(({ event }) => event.data);

  before(async () => {
    who = await devAccounts('Alice', 'Bob', 'Charlie', 'Dave', 'Eve', 'Ferdie');
    node = await startDevNode();
    api = node.api;
  });

  after(async () => {
    if (node) await node.stop();
  });

  it('takes bonded feedback on a listed model from annotators, with three validators', async () => {
    model = (await api.query.inferenceCredits.nextModelId()).toNumber();
    const setUp = api.tx.utility.batchAll([
      api.tx.inferenceCredits.registerProvider('Alice AI', 'https://alice.example/v1'),
      api.tx.inferenceCredits.registerModel('llama', UNIT / 1000n, UNIT / 1000n, 'Open'),
      api.tx.feedbackRewards.fundPool(1_000n * UNIT),
      api.tx.feedbackRewards.registerValidator(),
    ]);
    ok(await sendAndWaitInBlock(setUp, who.alice));

    const results = await Promise.all([
      sendAndWaitInBlock(api.tx.feedbackRewards.registerValidator(), who.eve),
      sendAndWaitInBlock(api.tx.feedbackRewards.registerValidator(), who.ferdie),
      sendAndWaitInBlock(api.tx.feedbackRewards.submitFeedback(model, OUTPUT, 'Rating', PAYLOAD), who.charlie),
      sendAndWaitInBlock(api.tx.feedbackRewards.submitFeedback(model, OUTPUT, 'BugReport', PAYLOAD), who.dave),
    ]);
    results.forEach(ok);
    for (const [name, result] of [['charlie', results[2]], ['dave', results[3]]]) {
      const [submitted] = eventsOf(result.events, 'FeedbackSubmitted');
      assert.equal(submitted.annotator.toString(), who[name].address);
      assert.equal(submitted.bond.toBigInt(), api.consts.feedbackRewards.feedbackBond.toBigInt());
      ids[name] = submitted.id.toNumber();
      epoch = submitted.epoch.toNumber();
    }
    assert.equal((await api.query.feedbackRewards.validators.entries()).length, 3);
  });

  it('finalises each feedback at the median of a quorum of scores', async () => {
    const scoring = ['alice', 'eve', 'ferdie'].map((name) =>
      sendAndWaitInBlock(api.tx.utility.batchAll([
        api.tx.feedbackRewards.score(ids.charlie, 80),
        api.tx.feedbackRewards.score(ids.dave, 40),
      ]), who[name]));
    const results = await Promise.all(scoring);
    results.forEach(ok);
    const finalised = results.flatMap(({ events }) => eventsOf(events, 'FeedbackFinalized'));
    assert.deepEqual(
      finalised.map((f) => [f.id.toNumber(), f.score.toNumber(), f.bondSlashed.isTrue]).sort(),
      [[ids.charlie, 80, false], [ids.dave, 40, false]].sort(),
    );
  });

  it('closes the epoch after its scoring window and pays rewards proportional to the scores', async () => {
    const status = await rpc('feedback_epochStatus', [epoch]);
    assert.equal(status.points, 120);
    // The close must land in block `closableAt` or later.
    await waitForHead(api, 'subscribeNewHeads', (h) => h.number.toNumber() >= status.closableAt - 1, 120_000);
    const closed = await sendAndWaitInBlock(api.tx.feedbackRewards.closeEpoch(epoch), who.bob);
    ok(closed);
    const [info] = eventsOf(closed.events, 'EpochClosed');
    assert.ok(info.annotatorBudget.toBigInt() > 0n);
    assert.equal((await rpc('feedback_epochStatus', [epoch])).state, 'closed');

    const pending = {};
    for (const name of ['charlie', 'dave']) {
      const [entry] = await rpc('feedback_pendingRewards', [who[name].address]);
      assert.equal(entry.closed, true);
      pending[name] = BigInt(entry.reward);
    }
    // 80 : 40 points, up to rounding.
    assert.ok(pending.dave > 0n);
    assert.ok(pending.charlie - 2n * pending.dave <= 1n && 2n * pending.dave - pending.charlie <= 1n, `${pending.charlie} vs ${pending.dave}`);

    const claims = await Promise.all(['charlie', 'dave'].map((name) =>
      sendAndWaitInBlock(api.tx.feedbackRewards.claim(epoch), who[name])));
    claims.forEach(ok);
    for (const [name, result] of [['charlie', claims[0]], ['dave', claims[1]]]) {
      const [claimed] = eventsOf(result.events, 'Claimed');
      assert.equal(claimed.reward.toBigInt(), pending[name]);
      assert.equal(claimed.bonds.toBigInt(), api.consts.feedbackRewards.feedbackBond.toBigInt());
    }
    assert.deepEqual(await rpc('feedback_pendingRewards', [who.charlie.address]), []);
  });

  it('refuses a second claim and changes nothing', async () => {
    const again = await sendAndWaitInBlock(api.tx.feedbackRewards.claim(epoch), who.charlie);
    assert.equal(moduleError(api, again.dispatchError), 'feedbackRewards.NothingToClaim');
    assert.equal(eventsOf(again.events, 'Claimed').length, 0);
  });
});
