// The web console (console/) in a real browser: Debian's chromium driven by puppeteer-core,
// a test wallet injected as `window.injectedWeb3` (the extension's interface, a keyring
// behind it), against the dev node, the real model (llama-server with SmolLM2) and the gateway.
// A person connects the wallet, deposits credits (seeing the fee first), chats with the model
// paying with a voucher the wallet signs, creates an agent, approves a payment above its
// cosign threshold and freezes it. Each step asserts what the page shows and the chain's state.
// Screenshots go to $TOKENMETER_SCREENSHOTS (docs/console.md shows them).

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import { Keyring } from '@polkadot/keyring';
import { hexToU8a, u8aToBn } from '@polkadot/util';
import { blake2AsHex } from '@polkadot/util-crypto';

import { pageWithWallet, startBrowser } from '../lib/browser.js';
import { waitFor } from '../lib/feed.js';
import { startGateway, startProcess } from '../lib/gateway.js';
import { startModelServer } from '../lib/model.js';
import { devAccounts, freePort, moduleError, sendAndWaitInBlock, startDevNode } from '../lib/node.js';
import { setUpProvider, UNIT } from '../lib/provider.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const PRICE_IN = UNIT;
const PRICE_OUT = 2n * UNIT;
const SHOTS = process.env.TOKENMETER_SCREENSHOTS ?? path.join(os.tmpdir(), 'tokenmeter-console-screenshots');

describe('the web console in a browser', () => {
  const stopping = [];
  let api;
  let page;
  let wallet;
  let user;
  let alice;
  let dave;
  let eve;
  let modelId;
  let dataDir;
  let allowed;
  let gatewayUrl;
  const requested = new Set();

  const text = (testid) => page.$eval(`[data-testid="${testid}"]`, (e) => e.textContent);
  const see = (testid, timeout = 30_000) => page.waitForSelector(`[data-testid="${testid}"]`, { timeout });
  /** Waits until the element's text satisfies `predicate`; returns the text. */
  const until = async (testid, predicate, what, timeoutMs = 30_000) => {
    let last = null;
    await waitFor(async () => {
      last = await text(testid).catch(() => null);
      return last !== null && predicate(last);
    }, timeoutMs, `${what} (the page shows ${JSON.stringify(last)})`);
    return last;
  };
  const type = async (testid, value) => {
    const field = await see(testid);
    await field.click();
    await page.keyboard.down('Control');
    await page.keyboard.press('KeyA');
    await page.keyboard.up('Control');
    await page.keyboard.press('Backspace');
    await field.type(value);
  };
  // The element's own click, not a mouse click at where it was a moment ago: the page
  // re-renders on every block and a success toast may lie over a button, so a click by
  // coordinates on a loaded machine can land beside it (seen: the wallet never asked, the
  // agent's editor never opened).
  const click = async (testid) => (await see(testid)).evaluate((element) => element.click());
  /** Clicks `testid`, checks the confirmation shows `call` and a fee, signs; the toast's text. */
  const signed = async (testid, call) => {
    const toastsBefore = await page.$('[data-testid="toast"]');
    if (toastsBefore) await toastsBefore.click();
    await click(testid);
    await see('confirm-call');
    assert.equal(await text('confirm-call'), call);
    await until('confirm-fee', (t) => / TMT$/.test(t), 'the fee is shown before signing');
    await click('confirm-sign');
    return until('toast', (t) => t.length > 0, `${call} has an outcome`, 60_000);
  };
  const shot = (name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  const credits = async (who) => (await api.query.inferenceCredits.credits(who)).toBigInt();

  before(async () => {
    await mkdir(SHOTS, { recursive: true });
    let operator;
    ({ alice, dave, eve, operator } = await devAccounts('Alice', 'Dave', 'Eve', 'Operator'));
    user = new Keyring({ type: 'sr25519', ss58Format: 42 }).addFromUri('//ConsoleUser', { name: 'My wallet' });
    const gatewayPort = await freePort();
    const operatorPort = await freePort();
    const consolePort = await freePort();
    gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    const consoleUrl = `http://127.0.0.1:${consolePort}`;
    const modelServer = await startModelServer(await freePort());
    stopping.push(modelServer);
    const node = await startDevNode({ extraArgs: ['--usage-feed', `http://127.0.0.1:${operatorPort}`] });
    stopping.push(node);
    api = node.api;
    modelId = await setUpProvider(api, alice, {
      endpoint: gatewayUrl, model: 'smollm2-135m', prices: [PRICE_IN, PRICE_OUT], operator,
    });
    const funded = await sendAndWaitInBlock(api.tx.balances.transferKeepAlive(user.address, 100n * UNIT), alice);
    assert.equal(funded.dispatchError, undefined);
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'tokenmeter-console-'));
    stopping.push(await startGateway(gatewayPort, operatorPort, [
      '--upstream', `${modelServer.url}/v1`, '--node', `http://127.0.0.1:${node.rpcPort}`,
      '--provider', alice.address, '--model', `${modelId}=SmolLM2-135M-Instruct`, '--data-dir', dataDir,
      '--poll-ms', '300', '--min-voucher-blocks', '10', '--cors-origin', consoleUrl,
    ]));
    stopping.push(await startProcess('node', [path.join(here, '..', '..', 'console', 'serve.js'), '--port', String(consolePort)],
      async () => (await fetch(consoleUrl)).ok));
    const browser = await startBrowser();
    stopping.push(browser);
    ({ page, wallet } = await pageWithWallet(browser.browser, api, [user]));
    allowed = [consoleUrl, gatewayUrl, `ws://127.0.0.1:${node.rpcPort}`];
    // Every origin the page reaches (requests, and web sockets through the DevTools protocol).
    page.on('request', (r) => { if (!r.url().startsWith('data:')) requested.add(new URL(r.url()).origin); });
    const cdp = await page.createCDPSession();
    await cdp.send('Network.enable');
    cdp.on('Network.webSocketCreated', ({ url }) => requested.add(new URL(url).origin));
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    // (402s are the payment flow: the first request of a voucher.)
    page.on('console', (m) => {
      if ((m.type() === 'error' && !/status of 402/.test(m.text())) || process.env.CONSOLE_DEBUG) console.error(`page console: ${m.text()}`);
    });
    await page.setViewport({ width: 1200, height: 900 });
    await page.goto(`${consoleUrl}/?node=ws://127.0.0.1:${node.rpcPort}`);
  });

  after(async () => {
    for (const s of stopping.reverse()) await (s.stop ?? s.close)?.call(s);
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('connects the browser wallet and shows its balance in TMT', async () => {
    await see('connect-wallet');
    await click('connect-wallet');
    try {
      await waitFor(async () => (await page.$eval('[data-testid="account"]', (s) => s.value)) === user.address, 20_000, 'the wallet account is chosen');
    } catch (e) {
      // What the page shows instead: the wallet's note, the accounts offered, the chain line.
      const seen = await page.evaluate(() => ({
        note: document.querySelector('[data-testid="wallet-note"]')?.textContent ?? null,
        chosen: document.querySelector('[data-testid="account"]')?.value ?? null,
        offered: [...document.querySelectorAll('[data-testid="account"] option')].map((o) => o.value),
        chain: document.querySelector('[data-testid="chain"]')?.textContent ?? null,
        injected: Object.keys(window.injectedWeb3 ?? {}),
        ready: document.readyState,
      }));
      await shot('failed-connect').catch(() => {});
      throw new Error(`${e.message}; the page: ${JSON.stringify(seen)}; the wallet signed ${wallet.signed.length}`);
    }
    assert.match(await until('free', (t) => t.startsWith('100')), /^100 TMT$/);
    assert.equal(await text('credits'), '0 TMT');
    await shot('1-connected');
  });

  it('deposits credits after showing the fee; an impossible deposit says why and changes nothing', async () => {
    await type('deposit-amount', '1000');
    const refused = await signed('deposit', 'inferenceCredits.depositCredits');
    assert.match(refused, /failed: inferenceCredits\.InsufficientBalance: The account's free balance cannot cover the deposit\. Nothing changed but the fee\./);
    assert.equal(await credits(user.address), 0n, 'no credits after the failed deposit');

    await type('deposit-amount', 'ten');
    await click('deposit');
    assert.match(await until('toast', (t) => t.includes('ten')), /“ten” is not an amount of TMT/);
    assert.equal(await page.$('[data-testid="confirm-call"]'), null, 'nothing to sign');

    await type('deposit-amount', '20');
    assert.match(await signed('deposit', 'inferenceCredits.depositCredits'), /done/);
    assert.equal(await credits(user.address), 20n * UNIT);
    await until('credits', (t) => t === '20 TMT', 'the credits are shown');
    await shot('2-credits');
  });

  it('declining to sign sends nothing', async () => {
    wallet.refuse = true;
    try {
      await type('deposit-amount', '1');
      assert.match(await signed('deposit', 'inferenceCredits.depositCredits'), /was not sent: you declined to sign/);
    } finally {
      wallet.refuse = false;
    }
    assert.equal(await credits(user.address), 20n * UNIT);
  });

  it('stakes: the stake warms up before it counts, and the page says when', async () => {
    await type('stake-amount', '2');
    assert.match(await signed('stake', 'priorityStaking.stake'), /done/);
    const ledger = (await api.query.priorityStaking.ledgers(user.address)).unwrap();
    const warming = ledger.warming.reduce((sum, c) => sum + c.amount.toBigInt(), 0n) + ledger.active.toBigInt();
    assert.equal(warming, 2n * UNIT);
    // The page shows the new stake: warming, or active once it warmed up. (Both read 0 TMT
    // before the page has read the new ledger, so 0 TMT alone is not the stake shown.)
    let shown = {};
    await waitFor(async () => {
      shown = { warming: await text('stake-warming').catch(() => null), active: await text('stake-active').catch(() => null) };
      return shown.warming === '2 TMT' || shown.active === '2 TMT';
    }, 30_000, 'the stake is shown');
    if (shown.warming === '2 TMT') assert.match(await text('warm-up-ends'), /counts in \d+ blocks/);
    assert.match(await text('allowance-left'), / TMT$/);
  });

  it('chats with the real model, streamed and paid with a voucher the wallet signs within the cap', async () => {
    await click('tab-models');
    await until(`access-${modelId}`, (t) => t.startsWith('you pass'), 'the access rule is checked');
    await type('chat-cap', '2');
    // Declined: the console shows the voucher first; nothing is signed, nothing answered.
    await type('chat-prompt', 'Say hello.');
    const signedBefore = wallet.signed.length;
    await click('chat-send');
    assert.equal(await until('confirm-call', (t) => t.length > 0, 'the voucher is shown'), 'Voucher for Alice AI');
    await click('confirm-cancel');
    assert.match(await until('answer-error', (t) => t.length > 0, 'the refusal'), /you declined to sign the voucher/);
    assert.equal(wallet.signed.length, signedBefore, 'nothing was signed');

    await type('chat-prompt', 'What is the capital of France? Answer in one word.');
    await click('chat-send');
    await until('confirm-call', (t) => t === 'Voucher for Alice AI', 'the voucher is shown');
    const terms = await page.$eval('[role="dialog"] ul', (e) => e.textContent);
    assert.match(terms, new RegExp(`provider: ${alice.address}`));
    assert.match(terms, /may charge you up to: 0\.\d+ TMT in all/);
    assert.match(terms, /valid until block \d+/);
    assert.equal(await text('confirm-fee'), 'none (a signature, not a transaction)');
    await click('confirm-sign');
    await page.waitForSelector('[data-testid="answer-cost"]', { timeout: 90_000 }).catch(async (e) => {
      const errors = await page.$$eval('[data-testid="answer-error"]', (all) => all.map((x) => x.textContent));
      throw new Error(`no answer: ${errors.join('; ') || e.message}`);
    });
    const shown = await text('answer-cost');
    const answer = await page.$$eval('[data-testid="message-assistant"]', (all) => all[all.length - 1].firstChild.textContent);
    assert.ok(answer.trim().length > 0, 'the model answered');
    const [, input, output] = shown.match(/(\d+) tokens in, (\d+) out/).map(Number);
    const cost = (BigInt(input) * PRICE_IN + BigInt(output) * PRICE_OUT) / 1000n;
    assert.ok(shown.includes(`cost ${(Number(cost) / 1e12).toFixed(8).replace(/0+$/, '')} TMT`), `${shown} shows the cost of ${cost}`);
    // The wallet signed one voucher, raw, for Alice's gateway, with a cap within the 2 TMT set.
    const vouchers = wallet.signed.slice(signedBefore).filter((s) => s.kind === 'raw');
    assert.equal(vouchers.length, 1);
    const payload = hexToU8a(vouchers[0].data);
    const cap = BigInt(u8aToBn(payload.slice(21 + 32 * 4, 21 + 32 * 4 + 16), { isLe: true }).toString());
    assert.ok(cap > 0n && cap <= 2n * UNIT, `the voucher's cap ${cap} is within the 2 TMT set`);
    // The operator node settles it: the chain's voucher ledger and the page show it.
    await waitFor(async () => (await api.query.inferenceCredits.voucherLedgers(user.address, alice.address)).settled.toBigInt() === cost,
      90_000, 'the answer is settled on chain');
    assert.equal(await credits(user.address), 20n * UNIT - cost);
    await until('voucher', (t) => t.includes(`settled on chain ${(Number(cost) / 1e12).toFixed(4).replace(/\.?0+$/, '')}`) || t.includes('settled on chain <0.0001'), 'the settled amount is shown', 60_000);
    await see('spend-plot');

    // Feedback on that answer: posted to the gateway with the answer's receipt, then on chain
    // (its bond held) naming the receipt and the hash of the posted text, which the gateway
    // serves to validators with the answer.
    const next = (await api.query.feedbackRewards.nextFeedbackId()).toNumber();
    await page.select('[data-testid="feedback-rating"]', '4');
    assert.match(await signed('feedback-rate', 'feedbackRewards.submitFeedback'), /done/);
    const feedback = (await api.query.feedbackRewards.feedbacks(next)).unwrap();
    assert.equal(feedback.annotator.toString(), user.address);
    assert.equal(feedback.model.toNumber(), modelId);
    assert.equal(feedback.kind.toString(), 'Rating');
    const stored = await (await fetch(`${gatewayUrl}/feedback/${feedback.payloadHash.toHex()}`)).json();
    assert.equal(blake2AsHex(stored.payload), feedback.payloadHash.toHex());
    assert.deepEqual(JSON.parse(stored.payload), { receipt: feedback.outputHash.toHex(), kind: 'rating', content: 4 });
    assert.equal(stored.answer.receipt, feedback.outputHash.toHex());
    assert.equal(stored.answer.output, answer);
    assert.match(await text('feedback-sent'), /rated 4\/5/);
    await shot('3-chat');
  });

  it('creates an agent, approves a payment above its cosign threshold, freezes it, changes its policy and controller', async () => {
    await click('tab-agents');
    await type('agent-controller', dave.address);
    const address = await until('agent-preview', (t) => t.length > 40, 'the address is shown before creation');
    assert.match(await signed('agent-create', 'agentWallet.createAgent'), /done/);
    const agent = await api.query.agentWallet.agents(address);
    assert.ok(agent.isSome, 'the agent exists at the address shown');
    assert.equal(agent.unwrap().owner.toString(), user.address);
    assert.equal(agent.unwrap().policy.cosignThreshold.toBigInt(), 2n * UNIT);

    // Funded, then its controller pays 3 TMT: above the threshold, it waits for the owner.
    await sendAndWaitInBlock(api.tx.balances.transferKeepAlive(address, 20n * UNIT), alice);
    const proposed = await sendAndWaitInBlock(api.tx.agentWallet.pay(address, eve.address, 3n * UNIT), dave);
    assert.equal(proposed.dispatchError, undefined);
    const eveBefore = (await api.query.system.account(eve.address)).data.free.toBigInt();
    await see('pending-0', 30_000);
    await shot('4-agent-pending');
    assert.match(await signed('approve-0', 'agentWallet.approve'), /done/);
    assert.equal((await api.query.system.account(eve.address)).data.free.toBigInt(), eveBefore + 3n * UNIT);
    assert.equal((await api.query.agentWallet.pendingPayments(address, 0)).isNone, true);
    await until('agent-spent', (t) => t === '3 TMT', 'the period spending is shown');

    // The kill switch: frozen, the controller can pay nothing.
    assert.match(await signed('agent-freeze', 'agentWallet.freeze'), /done/);
    assert.equal((await api.query.agentWallet.agents(address)).unwrap().frozen.isTrue, true);
    await see('agent-frozen');
    const refused = await sendAndWaitInBlock(api.tx.agentWallet.pay(address, eve.address, UNIT), dave);
    assert.equal(moduleError(api, refused.dispatchError), 'agentWallet.AgentFrozen');
    assert.equal((await api.query.system.account(eve.address)).data.free.toBigInt(), eveBefore + 3n * UNIT);
    await shot('5-agent-frozen');

    // Unfrozen; a new policy (cosign above 4 TMT, payees Eve only); a new controller.
    assert.match(await signed('agent-unfreeze', 'agentWallet.unfreeze'), /done/);
    assert.equal((await api.query.agentWallet.agents(address)).unwrap().frozen.isTrue, false);
    await click('agent-edit');
    await type('policy-cosignThreshold', '4');
    await type('policy-payees', eve.address);
    assert.match(await signed('agent-save-policy', 'agentWallet.setPolicy'), /done/);
    let policy = (await api.query.agentWallet.agents(address)).unwrap().policy;
    assert.equal(policy.cosignThreshold.toBigInt(), 4n * UNIT);
    assert.deepEqual(policy.payees.unwrap().map((p) => p.toString()), [eve.address]);
    assert.equal(policy.perPaymentCap.toBigInt(), 5n * UNIT, 'the rest of the policy kept');
    await type('agent-new-controller', eve.address);
    assert.match(await signed('agent-rotate', 'agentWallet.rotateController'), /done/);
    assert.equal((await api.query.agentWallet.agents(address)).unwrap().controller.toString(), eve.address);
    // A policy the chain refuses (more approvals than cosigners) says why and changes nothing.
    await click('agent-edit');
    await type('policy-approvalsNeeded', '3');
    assert.match(await signed('agent-save-policy', 'agentWallet.setPolicy'), /failed: agentWallet\.InvalidPolicy: .+ Nothing changed but the fee\./);
    policy = (await api.query.agentWallet.agents(address)).unwrap().policy;
    assert.equal(policy.approvalsNeeded.toNumber(), 1);
  });

  it('shows the feedback bond coming back with the epoch, and used no network beyond the node and the gateway', async () => {
    await click('tab-credits');
    assert.match(await until('rewards', (t) => t.includes('bonds'), 'the unclaimed epoch'), /Epoch \d+scoring under waybonds 1 TMT/);
    for (const origin of allowed) assert.ok(requested.has(origin), `the page's traffic to ${origin} was seen`);
    const others = [...requested].filter((o) => !allowed.includes(o));
    assert.deepEqual(others, [], `the page reached only ${allowed.join(', ')}`);
  });
});
