// Feedback rewards as users see them through Polkadot.js: Alice lists a model, funds the
// reward pool and validates with Eve and Ferdie (their stake counts from the next epoch);
// Charlie and Dave give feedback on the model; the validators commit sealed scores (80 and
// 40), reveal them once commitments close, and after the scoring window anyone finalises the
// feedback at the stake-weighted median and closes the epoch; Charlie and Dave claim rewards
// in proportion to their scores, with their bonds. Claiming twice fails with its module error
// and changes nothing.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { blake2AsHex } from '@polkadot/util-crypto';
import { u8aConcat } from '@polkadot/util';

import { devAccounts, moduleError, sendAndWaitInBlock, startDevNode, waitForHead } from '../lib/node.js';

const UNIT = 10n ** 12n;
const OUTPUT = `0x${'11'.repeat(32)}`;
const PAYLOAD = `0x${'22'.repeat(32)}`;
const SALT = `0x${'5a'.repeat(32)}`;

describe('feedback rewards', () => {
  let node;
  let api;
  let who;
  let model;
  let epoch;
  const ids = {};
  const rpc = (method, params) => api._rpcCore.provider.send(method, params);
  const ok = ({ dispatchError }) => assert.equal(dispatchError, undefined, `${dispatchError}`);
  const waitForBlock = (n) => waitForHead(api, 'subscribeNewHeads', (h) => h.number.toNumber() >= n, 120_000);
  // The commitment the chain checks: blake2_256(SCALE(feedback id, validator, score, salt)).
  const commitment = (id, validator, score) => blake2AsHex(u8aConcat(
    api.createType('u32', id).toU8a(),
    api.createType('AccountId', validator).toU8a(),
    api.createType('u8', score).toU8a(),
    api.createType('[u8; 32]', SALT).toU8a(),
  ));
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
    const bond = api.consts.feedbackRewards.validatorBond.toBigInt();
    const setUp = api.tx.utility.batchAll([
      api.tx.inferenceCredits.registerProvider('Alice AI', 'https://alice.example/v1'),
      api.tx.inferenceCredits.registerModel('llama', UNIT / 1000n, UNIT / 1000n, 'Open'),
      api.tx.feedbackRewards.fundPool(1_000n * UNIT),
      // More than the minimum bond: Alice's scores weigh twice Eve's or Ferdie's.
      api.tx.feedbackRewards.registerValidator(2n * bond),
    ]);
    ok(await sendAndWaitInBlock(setUp, who.alice));
    const registered = await Promise.all([
      sendAndWaitInBlock(api.tx.feedbackRewards.registerValidator(bond), who.eve),
      sendAndWaitInBlock(api.tx.feedbackRewards.registerValidator(bond), who.ferdie),
    ]);
    registered.forEach(ok);
    // New stake counts from the next epoch.
    const activeFrom = (await api.query.feedbackRewards.validators(who.eve.address)).unwrap().activeFrom.toNumber();
    const next = await rpc('feedback_epochStatus', [activeFrom]);
    await waitForBlock(next.start - 1);

    const results = await Promise.all([
      sendAndWaitInBlock(api.tx.feedbackRewards.submitFeedback(model, OUTPUT, 'Rating', PAYLOAD), who.charlie),
      sendAndWaitInBlock(api.tx.feedbackRewards.submitFeedback(model, OUTPUT, 'BugReport', PAYLOAD), who.dave),
    ]);
    results.forEach(ok);
    for (const [name, result] of [['charlie', results[0]], ['dave', results[1]]]) {
      const [submitted] = eventsOf(result.events, 'FeedbackSubmitted');
      assert.equal(submitted.annotator.toString(), who[name].address);
      assert.equal(submitted.bond.toBigInt(), api.consts.feedbackRewards.feedbackBond.toBigInt());
      ids[name] = submitted.id.toNumber();
      epoch = submitted.epoch.toNumber();
      assert.ok(epoch >= activeFrom);
    }
    assert.equal((await api.query.feedbackRewards.validators.entries()).length, 3);
  });

  it('takes sealed scores, reveals them once commitments close, and finalises at the stake-weighted median', async () => {
    const validators = ['alice', 'eve', 'ferdie'];
    const committed = await Promise.all(validators.map((name) =>
      sendAndWaitInBlock(api.tx.utility.batchAll([
        api.tx.feedbackRewards.commitScore(ids.charlie, commitment(ids.charlie, who[name].address, 80)),
        api.tx.feedbackRewards.commitScore(ids.dave, commitment(ids.dave, who[name].address, 40)),
      ]), who[name])));
    committed.forEach(ok);
    // Only hashes are on chain; revealing before commitments close is refused.
    const early = await sendAndWaitInBlock(api.tx.feedbackRewards.revealScore(ids.charlie, 80, SALT), who.eve);
    assert.equal(moduleError(api, early.dispatchError), 'feedbackRewards.RevealNotOpen');

    const status = await rpc('feedback_epochStatus', [epoch]);
    await waitForBlock(status.revealFrom - 1);
    const revealed = await Promise.all(validators.map((name) =>
      sendAndWaitInBlock(api.tx.utility.batchAll([
        api.tx.feedbackRewards.revealScore(ids.charlie, 80, SALT),
        api.tx.feedbackRewards.revealScore(ids.dave, 40, SALT),
      ]), who[name])));
    revealed.forEach(ok);
    assert.equal(revealed.flatMap(({ events }) => eventsOf(events, 'ScoreRevealed')).length, 6);

    // Final only after the window: anyone finalises, then closes.
    await waitForBlock(status.closableAt - 1);
    const finalised = await sendAndWaitInBlock(api.tx.utility.batchAll([
      api.tx.feedbackRewards.finalizeFeedback(ids.charlie),
      api.tx.feedbackRewards.finalizeFeedback(ids.dave),
    ]), who.bob);
    ok(finalised);
    assert.deepEqual(
      eventsOf(finalised.events, 'FeedbackFinalized')
        .map((f) => [f.id.toNumber(), f.score.unwrap().toNumber(), f.bondSlashed.isTrue]).sort(),
      [[ids.charlie, 80, false], [ids.dave, 40, false]].sort(),
    );
  });

  it('closes the epoch after its scoring window and pays rewards proportional to the scores', async () => {
    const status = await rpc('feedback_epochStatus', [epoch]);
    assert.equal(status.points, 120);
    assert.equal(status.finalised, 2);
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
    const pool = api.consts.feedbackRewards.rewardPool.toString();
    const snapshot = async () => ({
      charlie: (await api.query.system.account(who.charlie.address)).data.free.toBigInt(),
      pool: (await api.query.system.account(pool)).data.free.toBigInt(),
      epochs: (await api.query.feedbackRewards.accountEpochs(who.charlie.address)).toJSON(),
      contribution: (await api.query.feedbackRewards.contributions(epoch, who.charlie.address)).toJSON(),
      epoch: (await api.query.feedbackRewards.epochs(epoch)).toJSON(),
      unclaimed: (await api.query.feedbackRewards.unclaimed()).toBigInt(),
    });
    const before = await snapshot();
    const again = await sendAndWaitInBlock(api.tx.feedbackRewards.claim(epoch), who.charlie);
    assert.equal(moduleError(api, again.dispatchError), 'feedbackRewards.NothingToClaim');
    assert.equal(eventsOf(again.events, 'Claimed').length, 0);
    // Only the transaction fee left Charlie's account; the pool and every record are as before.
    const fee = again.events.map(({ event }) => event)
      .find((e) => api.events.transactionPayment.TransactionFeePaid.is(e)).data.actualFee.toBigInt();
    const after = await snapshot();
    assert.deepEqual({ ...after, charlie: after.charlie + fee }, before);
  });
});
