// Agent wallets as a user sees them through Polkadot.js: Alice (the owner) creates a keyless
// agent at the address the RPC predicted and funds it; Bob (the agent's controller key) pays
// within the limits; a payment above the cosign threshold waits until Alice approves it; a
// payment over the period cap is refused with its module error and changes nothing; Alice
// freezes the agent and the next payment fails. Finally Alice hands the agent to a new key
// that holds nothing but the existential deposit, and the agent pays that key's fees. Last,
// that key signs a payment off chain and a third party with no account submits it as a
// general transaction (`paySigned`): the agent pays the payment and its fee, and the same
// transaction again, or a forged one, is refused by the pool.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { u8aToHex, u8aWrapBytes } from '@polkadot/util';
import { generalTransaction, signAgentPayment, signAgentPaymentWithWallet } from '@tokenmeter/client';

import {
  devAccounts, moduleError, sendAndWaitInBlock, startDevNode, statesAround, submitAndWaitInBlock,
} from '../lib/node.js';

const UNIT = 10n ** 12n;
const CONFIG_HASH = `0x${'ab'.repeat(32)}`;
const POLICY = {
  perPaymentCap: 100n * UNIT,
  periodCap: 150n * UNIT,
  periodLength: 10_000,
  payees: null,
  cosignThreshold: 60n * UNIT,
  cosigners: [],
  approvalsNeeded: 1,
  expiry: null,
  paysFees: false,
};

describe('agent wallet', () => {
  let node;
  let api;
  let alice;
  let bob;
  let charlie;
  let agentKey;
  let agent;
  const rpc = (method, params) => api._rpcCore.provider.send(method, params);
  const ok = ({ dispatchError }) => assert.equal(dispatchError, undefined, `${dispatchError}`);
  const eventOf = (events, name) => {
    const found = events.find(({ event }) => api.events.agentWallet[name].is(event));
    assert.ok(found, `no agentWallet.${name} event`);
    return found.event.data;
  };
  const free = async (at, who) => (await at.query.system.account(who)).data.free.toBigInt();

  before(async () => {
    ({ alice, bob, charlie, agentkey: agentKey } = await devAccounts('Alice', 'Bob', 'Charlie', 'AgentKey'));
    node = await startDevNode();
    api = node.api;
  });

  after(async () => {
    if (node) await node.stop();
  });

  it('creates a keyless agent at the predicted address and funds it', async () => {
    agent = await rpc('agentWallet_address', [alice.address, CONFIG_HASH]);
    assert.equal(await rpc('agentWallet_address', [alice.address, CONFIG_HASH, 0]), agent);

    const created = await sendAndWaitInBlock(api.tx.agentWallet.createAgent(CONFIG_HASH, POLICY, bob.address), alice);
    ok(created);
    const data = eventOf(created.events, 'AgentCreated');
    assert.equal(data.agent.toString(), agent);
    assert.equal(data.controller.toString(), bob.address);
    // The next agent of the same owner and configuration gets another address.
    assert.notEqual(await rpc('agentWallet_address', [alice.address, CONFIG_HASH]), agent);

    ok(await sendAndWaitInBlock(api.tx.balances.transferKeepAlive(agent, 1_000n * UNIT), alice));
    const status = await rpc('agentWallet_agent', [agent]);
    assert.equal(status.owner, alice.address);
    assert.equal(status.controller, bob.address);
    assert.equal(BigInt(status.balance), 1_000n * UNIT);
    assert.equal(BigInt(status.remaining), 150n * UNIT);
    assert.equal(await rpc('agentWallet_agent', [charlie.address]), null);
  });

  it('lets the controller pay within the limits', async () => {
    const paid = await sendAndWaitInBlock(api.tx.agentWallet.pay(agent, charlie.address, 50n * UNIT), bob);
    ok(paid);
    const data = eventOf(paid.events, 'Paid');
    assert.equal(data.amount.toBigInt(), 50n * UNIT);
    assert.equal(data.spent.toBigInt(), 50n * UNIT);
    assert.equal(data.remaining.toBigInt(), 100n * UNIT);
    const { before: pre, after: post } = await statesAround(api, paid.blockHash);
    assert.equal(await free(post, charlie.address) - await free(pre, charlie.address), 50n * UNIT);
    assert.equal(await free(pre, agent) - await free(post, agent), 50n * UNIT);
  });

  it('holds a payment above the cosign threshold until the owner approves it', async () => {
    const proposed = await sendAndWaitInBlock(api.tx.agentWallet.pay(agent, charlie.address, 80n * UNIT), bob);
    ok(proposed);
    const { id } = eventOf(proposed.events, 'PaymentProposed');
    const { before: pre, after: post } = await statesAround(api, proposed.blockHash);
    assert.equal(await free(post, charlie.address), await free(pre, charlie.address), 'paid before approval');
    const waiting = await rpc('agentWallet_agent', [agent]);
    assert.deepEqual(waiting.pending.map((p) => [p.id, BigInt(p.amount), p.payee]), [[id.toNumber(), 80n * UNIT, charlie.address]]);

    const approved = await sendAndWaitInBlock(api.tx.agentWallet.approve(agent, id), alice);
    ok(approved);
    const data = eventOf(approved.events, 'Paid');
    assert.equal(data.amount.toBigInt(), 80n * UNIT);
    assert.equal(data.spent.toBigInt(), 130n * UNIT);
    assert.equal(data.remaining.toBigInt(), 20n * UNIT);
    const around = await statesAround(api, approved.blockHash);
    assert.equal(await free(around.after, charlie.address) - await free(around.before, charlie.address), 80n * UNIT);
    assert.deepEqual((await rpc('agentWallet_agent', [agent])).pending, []);
  });

  it('refuses a payment over the period cap and changes nothing', async () => {
    const refused = await sendAndWaitInBlock(api.tx.agentWallet.pay(agent, charlie.address, 30n * UNIT), bob);
    assert.equal(moduleError(api, refused.dispatchError), 'agentWallet.PeriodCapExceeded');
    const { before: pre, after: post } = await statesAround(api, refused.blockHash);
    assert.equal(await free(post, agent), await free(pre, agent));
    assert.equal(await free(post, charlie.address), await free(pre, charlie.address));
    assert.equal(BigInt((await rpc('agentWallet_agent', [agent])).spent), 130n * UNIT);
  });

  it('stops every payment once the owner freezes the agent', async () => {
    const frozen = await sendAndWaitInBlock(api.tx.agentWallet.freeze(agent), alice);
    ok(frozen);
    eventOf(frozen.events, 'AgentFrozen');
    assert.equal((await rpc('agentWallet_agent', [agent])).frozen, true);

    const refused = await sendAndWaitInBlock(api.tx.agentWallet.pay(agent, charlie.address, UNIT), bob);
    assert.equal(moduleError(api, refused.dispatchError), 'agentWallet.AgentFrozen');
    const { before: pre, after: post } = await statesAround(api, refused.blockHash);
    assert.equal(await free(post, agent), await free(pre, agent));
  });

  it('lets the agent pay the fees of a new controller key that holds nothing', async () => {
    const existentialDeposit = api.consts.balances.existentialDeposit.toBigInt();
    const handOver = api.tx.utility.batchAll([
      api.tx.agentWallet.setPolicy(agent, { ...POLICY, paysFees: true }),
      api.tx.agentWallet.rotateController(agent, agentKey.address),
      api.tx.agentWallet.unfreeze(agent),
      // The key's account must exist to sign; it gets the existential deposit only.
      api.tx.balances.transferKeepAlive(agentKey.address, existentialDeposit),
    ]);
    ok(await sendAndWaitInBlock(handOver, alice));

    const paid = await sendAndWaitInBlock(api.tx.agentWallet.pay(agent, charlie.address, 5n * UNIT), agentKey);
    ok(paid);
    const fee = paid.events.find(({ event }) => api.events.transactionPayment.TransactionFeePaid.is(event)).event.data.actualFee.toBigInt();
    assert.ok(fee > 0n);
    const { before: pre, after: post } = await statesAround(api, paid.blockHash);
    assert.equal(await free(post, agentKey.address), existentialDeposit, 'the key paid its own fee');
    assert.equal(await free(pre, agent) - await free(post, agent), 5n * UNIT + fee);
    // The fee counts against the period cap like the payment.
    assert.equal(BigInt((await rpc('agentWallet_agent', [agent])).spent), 135n * UNIT + fee);
  });

  it('lets anyone submit a payment the controller signed, the agent paying its fee', async () => {
    const genesisHash = api.genesisHash.toHex();
    const { nextPaymentId: nonce } = await rpc('agentWallet_agent', [agent]);
    const validUntil = (await api.rpc.chain.getHeader()).number.toNumber() + 100;
    const payment = { genesisHash, agent, payee: charlie.address, amount: 2n * UNIT, nonce, validUntil };
    const transaction = (signer, what = payment) => generalTransaction(api.tx.agentWallet.paySigned(
      agent, what.payee, what.amount, what.nonce, what.validUntil, signAgentPayment(signer, what),
    ).method.toU8a());

    // Signed by Bob, who is no longer the controller; or by the controller for another amount.
    await assert.rejects(submitAndWaitInBlock(api, transaction(bob)), /bad signature/i);
    const tampered = transaction(agentKey).replace(
      api.createType('u128', 2n * UNIT).toHex(true).slice(2),
      api.createType('u128', 9n * UNIT).toHex(true).slice(2),
    );
    await assert.rejects(submitAndWaitInBlock(api, tampered), /bad signature/i);

    const spent = BigInt((await rpc('agentWallet_agent', [agent])).spent);
    const signed = transaction(agentKey);
    const paid = await submitAndWaitInBlock(api, signed);
    const data = eventOf(paid.events, 'PaidBySignature');
    assert.equal(data.amount.toBigInt(), 2n * UNIT);
    assert.equal(data.nonce.toNumber(), nonce);
    const fee = data.fee.toBigInt();
    assert.ok(fee > 0n);
    // Nobody paid a transaction fee: the agent paid the one of the payment.
    assert.equal(paid.events.some(({ event }) => api.events.transactionPayment.TransactionFeePaid.is(event)), false);
    const { before: pre, after: post } = await statesAround(api, paid.blockHash);
    assert.equal(await free(pre, agent) - await free(post, agent), 2n * UNIT + fee);
    assert.equal(await free(post, charlie.address) - await free(pre, charlie.address), 2n * UNIT);
    assert.equal(await free(post, agentKey.address), await free(pre, agentKey.address));
    const status = await rpc('agentWallet_agent', [agent]);
    assert.equal(BigInt(status.spent), spent + 2n * UNIT + fee);
    assert.equal(status.nextPaymentId, nonce + 1);

    // The next payment signed through a browser wallet's signRaw (which wraps the bytes it
    // signs in <Bytes>…</Bytes>), here one backed by the controller's key.
    const wallet = { signRaw: async ({ data }) => ({ signature: u8aToHex(agentKey.sign(u8aWrapBytes(data))) }) };
    const next = { ...payment, amount: UNIT, nonce: nonce + 1 };
    const byWallet = await signAgentPaymentWithWallet(wallet, agentKey.address, next);
    assert.ok(byWallet.Wrapped);
    const walletPaid = await submitAndWaitInBlock(api, generalTransaction(api.tx.agentWallet.paySigned(
      agent, next.payee, next.amount, next.nonce, next.validUntil, byWallet,
    ).method.toU8a()));
    assert.equal(eventOf(walletPaid.events, 'PaidBySignature').nonce.toNumber(), nonce + 1);

    // The same transaction again is one the pool already imported; the same signed payment
    // in other bytes (a tip of 1, which a transaction without a signer does not pay) reaches
    // the runtime, which finds its nonce used.
    await assert.rejects(submitAndWaitInBlock(api, signed), /already imported/i);
    assert.equal(signed.slice(6, 16), '4500000000');
    const again = `${signed.slice(0, 6)}4500000004${signed.slice(16)}`;
    await assert.rejects(submitAndWaitInBlock(api, again), /outdated/i);
  });
});
