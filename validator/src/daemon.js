// The validator daemon: on every new block it
//  - reads the feedback not yet finalised;
//  - scores each one it may score and has not (src/judge.js: the provider's gateway gives the
//    content and the answer, a judge model grades it, paid with this validator's vouchers),
//    keeps the score and a fresh salt durably (state file, written before anything is sent),
//    and commits `blake2_256(SCALE(id, validator, score, salt))` while commitments are open;
//  - reveals its kept scores once reveals open;
//  - finalises feedback whose window is over, closes epochs whose feedback is all final, and
//    claims what it earned.
// The calls of one block go in one `utility.forceBatch` (one failure does not stop the rest).
// The chain is the record of what was done: after a restart the daemon commits what it has
// not committed (with the score and salt it kept, if any) and reveals what it committed.

import { mkdir, open, readFile, rename } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';

import { ApiPromise, WsProvider } from '@polkadot/api';
import { u8aConcat, u8aToHex } from '@polkadot/util';
import { blake2AsHex } from '@polkadot/util-crypto';
import { createPayer, decodeHeader, wrapFetch } from '@tokenmeter/client';

import { DEFAULT_PROMPT, failedCheck, judgeNumber, judgePrompt, scoreOf } from './judge.js';

/** The scores and salts of one validator, kept in a JSON file written atomically. */
class Secrets {
  constructor(file) { this.file = file; this.data = { version: 1, scores: {} }; }

  async load() {
    try {
      this.data = JSON.parse(await readFile(this.file, 'utf8'));
    } catch (e) {
      if (e.code !== 'ENOENT') throw new Error(`cannot read the state file ${this.file}: ${e.message}`);
    }
    return this;
  }

  get(id) { return this.data.scores[id] ?? null; }

  /** Keeps `entry` for feedback `id`, on disk (synced) before this returns. */
  async put(id, entry) {
    this.data.scores[id] = entry;
    await this.save();
  }

  async forget(ids) {
    if (ids.length === 0) return;
    for (const id of ids) delete this.data.scores[id];
    await this.save();
  }

  async save() {
    await mkdir(path.dirname(this.file), { recursive: true });
    const temporary = `${this.file}.tmp`;
    const handle = await open(temporary, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(this.data));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, this.file);
    const dir = await open(path.dirname(this.file), 'r');
    try { await dir.sync(); } finally { await dir.close(); }
  }
}

/** Counters, served in Prometheus' text format. */
class Metrics {
  constructor() { this.counters = new Map(); this.gauges = new Map(); }

  inc(name, labels = {}, by = 1) {
    const key = `${name}${labelText(labels)}`;
    this.counters.set(key, (this.counters.get(key) ?? 0) + by);
  }

  set(name, value) { this.gauges.set(name, value); }

  get(name, labels = {}) { return this.counters.get(`${name}${labelText(labels)}`) ?? 0; }

  text() {
    const lines = [];
    for (const [key, value] of this.counters) lines.push(`tokenmeter_validator_${key} ${value}`);
    for (const [key, value] of this.gauges) lines.push(`tokenmeter_validator_${key} ${value}`);
    return `${lines.sort().join('\n')}\n`;
  }
}

const labelText = (labels) => {
  const entries = Object.entries(labels);
  return entries.length === 0 ? '' : `{${entries.map(([k, v]) => `${k}="${v}"`).join(',')}}`;
};

/** The judge's answer: `{"score": 0..10}`. */
export const JUDGE_FORMAT = {
  type: 'json_object',
  schema: { type: 'object', properties: { score: { type: 'integer', minimum: 0, maximum: 10 } }, required: ['score'] },
};

const randomSalt = () => u8aToHex(globalThis.crypto.getRandomValues(new Uint8Array(32)));

/**
 * Starts a validator. Options:
 * - `node`: the node's WebSocket URL; `pair`: the validator's keyring pair (registered with
 *   `feedbackRewards.registerValidator`, with credits deposited for the judge);
 * - `stateDir`: where scores and salts are kept (`state-<address>.json`);
 * - `judgeModel`: the on-chain name (or id) of the model that judges; its provider's gateway
 *   (the endpoint registered on chain, or `judgeUrl`) is asked and paid;
 * - `maxCap`: the most a judge voucher may allow (smallest unit, bigint);
 * - `floor` (50), `prompt` (DEFAULT_PROMPT), `judgeMaxTokens` (8), `judgeFormat` (`json`: the
 *   answer constrained to `{"score": n}`; `text`: free text, its first number from 0 to 10);
 * - `metricsPort`: serve `/metrics` there (0: a free port; undefined: none);
 * - `log`: a function given one object per decision (default: a JSON line on stdout).
 * Returns `{ api, metrics, metricsUrl, stop() }`.
 */
export async function startValidator(options) {
  const log = options.log ?? ((entry) => process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), ...entry })}\n`));
  const api = await ApiPromise.create({ provider: new WsProvider(options.node), noInitWarn: true });
  const me = options.pair.address;
  const secrets = await new Secrets(path.join(options.stateDir, `state-${me}.json`)).load();
  const metrics = new Metrics();
  const floor = options.floor ?? 50;
  const template = options.prompt ?? DEFAULT_PROMPT;
  const genesisHash = api.genesisHash.toHex();
  let head = (await api.rpc.chain.getHeader()).number.toNumber();

  // The judge: the model's provider and gateway, paid with vouchers this validator signs.
  const judge = await findModel(api, options.judgeModel);
  const judgeBase = gatewayBase(options.judgeUrl ?? judge.endpoint);
  const payer = createPayer({
    pair: options.pair, genesisHash, providers: { [judgeBase]: judge.provider },
    maxCap: BigInt(options.maxCap), budget: BigInt(options.maxCap) / 10n, blockNumber: () => head,
  });
  const payingFetch = wrapFetch(fetch, payer);
  const endpoints = new Map();
  const epochs = new Map();

  const endpointOf = async (model) => {
    if (!endpoints.has(model)) {
      const info = (await api.query.inferenceCredits.models(model)).unwrapOr(null);
      const provider = info && (await api.query.inferenceCredits.providers(info.provider)).unwrapOr(null);
      endpoints.set(model, provider ? gatewayBase(provider.endpoint.toUtf8()) : null);
    }
    return endpoints.get(model);
  };
  const epochOf = async (epoch) => {
    if (!epochs.has(epoch)) epochs.set(epoch, await api._rpcCore.provider.send('feedback_epochStatus', [epoch]));
    return epochs.get(epoch);
  };

  /** The score of feedback `id` (0 if a check fails, else the judge's); null to try later. */
  const score = async (id, feedback) => {
    const onChain = {
      model: feedback.model.toNumber(), outputHash: feedback.outputHash.toHex(),
      kind: feedback.kind.toString(), payloadHash: feedback.payloadHash.toHex(),
    };
    const base = await endpointOf(onChain.model);
    let found = null;
    if (base) {
      let response;
      try {
        response = await fetch(`${base}/feedback/${onChain.payloadHash}`, { signal: AbortSignal.timeout(10_000) });
      } catch (e) {
        // The provider's gateway is down: no score yet (committing nothing costs nothing).
        metrics.inc('fetch_errors_total');
        log({ event: 'unreachable', feedback: id, gateway: base, error: e.message });
        return null;
      }
      if (response.ok) found = await response.json().catch(() => null);
      else if (response.status !== 404) {
        metrics.inc('fetch_errors_total');
        log({ event: 'unreachable', feedback: id, gateway: base, status: response.status });
        return null;
      }
    }
    const failed = failedCheck(onChain, found);
    if (failed) {
      metrics.inc('scored_total', { by: 'checks' });
      return { score: 0, reason: failed };
    }
    const started = Date.now();
    let reply;
    try {
      const response = await payingFetch(`${judgeBase}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: judge.name,
          messages: [{ role: 'user', content: judgePrompt(template, found) }],
          max_tokens: options.judgeMaxTokens ?? 8, temperature: 0, seed: 1,
          // A JSON object with the number (llama-server constrains the answer to the schema;
          // `text` asks without constraint).
          ...(options.judgeFormat === 'text' ? {} : { response_format: JUDGE_FORMAT }),
        }),
        signal: AbortSignal.timeout(120_000),
      });
      const body = await response.json();
      if (!response.ok) throw new Error(body?.error?.message ?? `status ${response.status}`);
      reply = body.choices?.[0]?.message?.content ?? '';
      const paid = decodeHeader(response.headers.get('payment-response'));
      metrics.inc('judge_spent_units_total', {}, Number(paid?.amount ?? 0));
      metrics.inc('judge_requests_total');
    } catch (e) {
      metrics.inc('judge_errors_total');
      log({ event: 'judge_failed', feedback: id, error: e.message });
      return null;
    }
    const number = judgeNumber(reply);
    metrics.inc('scored_total', { by: 'judge' });
    return { score: scoreOf(number, floor), reason: `the judge said ${JSON.stringify(reply.trim())} (${number}/10) in ${Date.now() - started} ms` };
  };

  const commitment = (id, value, salt) => blake2AsHex(u8aConcat(
    api.createType('u32', id).toU8a(),
    api.createType('AccountId', me).toU8a(),
    api.createType('u8', value).toU8a(),
    api.createType('[u8; 32]', salt).toU8a(),
  ));

  /** One round: what this block calls for, sent in one batch. */
  const round = async () => {
    const validator = (await api.query.feedbackRewards.validators(me)).unwrapOr(null);
    metrics.set('registered', validator ? 1 : 0);
    const entries = await api.query.feedbackRewards.feedbacks.entries();
    const calls = [];
    const seenEpochs = new Set();
    const open = new Set();
    for (const [key, value] of entries) {
      const id = key.args[0].toNumber();
      const feedback = value.unwrap();
      open.add(String(id));
      const epoch = feedback.epoch.toNumber();
      seenEpochs.add(epoch);
      const status = await epochOf(epoch);
      const mine = feedback.scores.find((s) => s.validator.toString() === me);
      if (head >= status.closableAt) {
        calls.push({ call: api.tx.feedbackRewards.finalizeFeedback(id), what: { event: 'finalise', feedback: id } });
        continue;
      }
      if (!mine) {
        const may = validator && validator.activeFrom.toNumber() <= epoch && feedback.annotator.toString() !== me;
        // Committed in the next block at the latest, before reveals open.
        if (!may || head + 1 >= status.revealFrom) continue;
        let kept = secrets.get(id);
        if (kept?.refused) continue;
        if (!kept) {
          const scored = await score(id, feedback);
          if (!scored) continue;
          kept = { ...scored, salt: randomSalt(), epoch };
          await secrets.put(id, kept);
          log({ event: 'score', feedback: id, score: kept.score, reason: kept.reason });
        }
        calls.push({
          call: api.tx.feedbackRewards.commitScore(id, commitment(id, kept.score, kept.salt)),
          what: { event: 'commit', feedback: id, score: kept.score },
          failed: async (error) => { if (/TooManyScorers|ScoringClosed|OwnFeedback/.test(error)) await secrets.put(id, { ...kept, refused: error }); },
        });
      } else if (mine.score.isNone && head >= status.revealFrom) {
        const kept = secrets.get(id);
        if (!kept) {
          log({ event: 'cannot_reveal', feedback: id, reason: 'no score and salt kept for this commitment' });
          continue;
        }
        calls.push({
          call: api.tx.feedbackRewards.revealScore(id, kept.score, kept.salt),
          what: { event: 'reveal', feedback: id, score: kept.score },
        });
      }
    }
    // Epochs whose feedback is all final: closed by whoever comes first.
    for (const epoch of await closableEpochs(api, seenEpochs, epochs)) {
      calls.push({ call: api.tx.feedbackRewards.closeEpoch(epoch), what: { event: 'close', epoch } });
    }
    const pending = await api._rpcCore.provider.send('feedback_pendingRewards', [me]);
    const claimable = pending.filter((p) => p.closed);
    if (claimable.length > 0) {
      calls.push({
        call: api.tx.feedbackRewards.claimMany(claimable.length),
        what: { event: 'claim', epochs: claimable.map((p) => p.epoch), reward: claimable.map((p) => p.reward) },
      });
    }
    // Scores of feedback that is final (or gone) are not needed any more.
    await secrets.forget(Object.keys(secrets.data.scores).filter((id) => !open.has(id)));
    if (calls.length > 0) await send(api, options.pair, calls, metrics, log);
  };

  // Rounds one after another: a block that comes during a round is handled after it.
  let running = null;
  let again = false;
  let stopped = false;
  const kick = () => {
    if (stopped) return;
    if (running) { again = true; return; }
    running = round().catch((e) => {
      metrics.inc('round_errors_total');
      log({ event: 'round_failed', error: e.message });
    }).finally(() => {
      running = null;
      if (again) { again = false; kick(); }
    });
  };
  const unsubscribe = await api.rpc.chain.subscribeNewHeads((header) => {
    head = header.number.toNumber();
    metrics.set('head', head);
    kick();
  });

  let server = null;
  let metricsUrl = null;
  if (options.metricsPort !== undefined) {
    server = http.createServer((req, res) => {
      if (req.url === '/metrics') res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(metrics.text());
      else res.writeHead(404).end();
    });
    await new Promise((resolve) => server.listen(options.metricsPort, options.metricsHost ?? '127.0.0.1', resolve));
    metricsUrl = `http://${options.metricsHost ?? '127.0.0.1'}:${server.address().port}/metrics`;
  }
  log({ event: 'started', validator: me, judge: `${judge.name} (model ${judge.id}) at ${judgeBase}`, metrics: metricsUrl });

  return {
    api,
    metrics,
    metricsUrl,
    async stop() {
      stopped = true;
      unsubscribe();
      await running;
      server?.close();
      await api.disconnect();
    },
  };
}

/** The epochs among `epochs` that are closable with all their feedback final. */
async function closableEpochs(api, seen, cache) {
  const out = [];
  // Epochs of feedback finalised since: look at the ones before the oldest still open too.
  const candidates = new Set(seen);
  for (const epoch of cache.keys()) candidates.add(epoch);
  for (const epoch of candidates) {
    const status = await api._rpcCore.provider.send('feedback_epochStatus', [epoch]);
    if (status.state === 'closable' && status.feedback > 0 && status.finalised === status.feedback) out.push(epoch);
    if (status.state === 'closed') cache.delete(epoch);
  }
  return out;
}

/** Sends `calls` (one, or a `forceBatch`), waits for the block, logs what became of each. */
async function send(api, pair, calls, metrics, log) {
  const tx = calls.length === 1 ? calls[0].call : api.tx.utility.forceBatch(calls.map((c) => c.call));
  const result = await new Promise((resolve, reject) => {
    tx.signAndSend(pair, { nonce: -1 }, (r) => {
      if (r.status.isInBlock || r.status.isFinalized) resolve(r);
      else if (r.isError) reject(new Error(`the transaction was dropped (${r.status.type})`));
    }).catch(reject);
  });
  const describe = (error) => {
    if (error?.isModule) {
      const { section, name } = api.registry.findMetaError(error.asModule);
      return `${section}.${name}`;
    }
    return error ? error.toString() : null;
  };
  let outcomes;
  if (calls.length === 1) {
    outcomes = [describe(result.dispatchError)];
  } else {
    const { utility } = api.events;
    outcomes = result.events
      .filter(({ event }) => utility.ItemCompleted.is(event) || utility.ItemFailed.is(event))
      .map(({ event }) => (utility.ItemFailed.is(event) ? describe(event.data.error) : null));
    if (result.dispatchError) outcomes = calls.map(() => describe(result.dispatchError));
  }
  for (const [i, entry] of calls.entries()) {
    const error = outcomes[i] ?? null;
    metrics.inc(error ? 'calls_failed_total' : 'calls_total', { call: entry.what.event });
    log({ ...entry.what, ok: !error, ...(error ? { error } : {}), block: result.status.isInBlock ? result.status.asInBlock.toHex() : undefined });
    if (error && entry.failed) await entry.failed(error);
  }
}

/** The model named `nameOrId` (its on-chain name or id): `{ id, name, provider, endpoint }`. */
async function findModel(api, nameOrId) {
  for (const [key, value] of await api.query.inferenceCredits.models.entries()) {
    const model = value.unwrap();
    const id = key.args[0].toNumber();
    if (String(id) === String(nameOrId) || model.name.toUtf8() === nameOrId) {
      const provider = (await api.query.inferenceCredits.providers(model.provider)).unwrap();
      return { id, name: model.name.toUtf8(), provider: model.provider.toString(), endpoint: provider.endpoint.toUtf8() };
    }
  }
  throw new Error(`no model named ${nameOrId} is listed on chain: set --judge-model to a listed model's name or id`);
}

/** A gateway's base URL from a registered endpoint (`…/v1` or not). */
function gatewayBase(endpoint) {
  return String(endpoint).replace(/\/+$/, '').replace(/\/v1$/, '');
}
