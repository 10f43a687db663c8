// Providers and their models (prices in force, access rules and whether this account passes
// them), and a chat with a model through its provider's gateway, paid with vouchers the
// account's wallet signs within the cap the person sets.

import { useEffect, useRef, useState } from 'preact/hooks';
import { hexToU8a, u8aToBn, u8aToHex, u8aToString, u8aWrapBytes } from '@polkadot/util';
import { encodeAddress } from '@polkadot/util-crypto';
import { createPayer, wrapFetch } from '@tokenmeter/client';

import { parseTmt, tmt } from './chain.js';
import { inBlocks } from './credits.jsx';

const text = (bytes) => u8aToString(bytes.toU8a(true));

/** The gateway's OpenAI base URL from a provider's registered endpoint. */
export function apiBase(endpoint) {
  const trimmed = endpoint.replace(/\/+$/, '');
  return trimmed.endsWith('/v1') ? trimmed : `${trimmed}/v1`;
}

/** What a voucher's signed bytes say (`tokenmeter/voucher/v2` ++ genesis, provider, user,
 * payer, cap, expiry, session). */
export function readVoucher(hex) {
  const bytes = hexToU8a(hex);
  const domain = u8aToString(bytes.slice(0, 21));
  if (domain !== 'tokenmeter/voucher/v2') throw new Error(`not a voucher (${domain})`);
  let at = 21 + 32;
  const account = () => { const a = encodeAddress(bytes.slice(at, at + 32), 42); at += 32; return a; };
  const provider = account();
  const user = account();
  const payer = account();
  const cap = BigInt(u8aToBn(bytes.slice(at, at + 16), { isLe: true }).toString());
  const expiry = u8aToBn(bytes.slice(at + 16, at + 20), { isLe: true }).toNumber();
  return { provider, user, payer, cap, expiry };
}

/** An access rule in words. */
function ruleText(access) {
  if (access.isOpen) return 'open to anyone with credit';
  if (access.isMinBalance) return `holders of at least ${tmt(access.asMinBalance)}`;
  if (access.isMinTier) return `stakers of tier ${access.asMinTier.toString()} or above`;
  const [balance, tier] = access.asMinBalanceAndTier;
  return `holders of at least ${tmt(balance)} staked at tier ${tier.toString()} or above`;
}

/** Why the gate refuses, in words. */
function refusalText(refused) {
  if (refused.isUnknownModel) return 'the model does not exist';
  if (refused.isModelRetired) return 'the model is retired';
  if (refused.isBalanceBelowGate) {
    const { required, held } = refused.asBalanceBelowGate;
    return `you hold ${tmt(held)}, the model asks for ${tmt(required)}`;
  }
  const { required, tier } = refused.asTierBelowGate;
  return `your tier is ${tier.toString()}, the model asks for tier ${required.toString()}`;
}

/** Every provider's models, with this account's view of each. */
async function catalogue(api, address) {
  const providers = await api.query.inferenceCredits.providers.entries();
  const rows = [];
  for (const [key, provider] of providers) {
    const who = key.args[0].toString();
    const info = provider.unwrap();
    const models = await api.call.gatewayApi.providerModels(who);
    for (const model of models) {
      const view = await api.call.gatewayApi.userView(address, who, model.id);
      rows.push({
        provider: who,
        providerName: text(info.name),
        endpoint: text(info.endpoint),
        id: model.id.toNumber(),
        name: text(model.name),
        prices: [model.prices[0].toBigInt(), model.prices[1].toBigInt()],
        pending: model.pending.isSome ? model.pending.unwrap() : null,
        dynamic: model.dynamic.isSome ? model.dynamic.unwrap() : null,
        rule: ruleText(model.access),
        refused: view.refused.isSome ? refusalText(view.refused.unwrap()) : null,
        available: view.availableCredit.toBigInt(),
        settled: view.settled.toBigInt(),
        cap: view.cap.toBigInt(),
      });
    }
  }
  return rows;
}

/**
 * Feedback on an answer: a rating from 1 to 5 or a label, with the feedback bond held until
 * validators have scored it. The feedback goes to the provider's gateway first (`POST
 * /v1/feedback` with the answer's receipt), where validators read it; the chain keeps the
 * receipt and the hash of the feedback's exact text.
 */
function Feedback({ api, model, answer, submit, notify }) {
  const [rating, setRating] = useState('5');
  const [label, setLabel] = useState('');
  const [sent, setSent] = useState(null);
  const bond = api.consts.feedbackRewards?.feedbackBond;
  const fee = api.consts.feedbackRewards?.feedbackFee;
  if (!answer.receipt) return <span class="meta muted" data-testid="feedback-unavailable">This gateway gave no receipt for this answer: feedback on it could not be checked by validators.</span>;
  const give = async (kind, value) => {
    const posted = await fetch(`${apiBase(model.endpoint)}/feedback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ receipt: answer.receipt, kind: kind === 'Rating' ? 'rating' : 'label', content: value }),
    }).then(async (r) => ({ ok: r.ok, body: await r.json().catch(() => null) }), (e) => ({ ok: false, body: { error: { message: e.message } } }));
    if (!posted.ok) {
      notify({ ok: false, text: `The gateway did not take the feedback: ${posted.body?.error?.message ?? 'no answer'}` });
      return;
    }
    const outcome = await submit(api.tx.feedbackRewards.submitFeedback(model.id, answer.receipt, kind, posted.body.hash));
    if (outcome?.ok) setSent(`${kind === 'Rating' ? `rated ${value}/5` : `labelled “${value}”`} — your bond of ${bond ? tmt(bond) : 'the feedback bond'} comes back with the epoch's reward`);
  };
  if (sent) return <span class="meta ok" data-testid="feedback-sent">Feedback sent: {sent}</span>;
  return (
    <span class="meta">
      Rate <select data-testid="feedback-rating" value={rating} onChange={(e) => setRating(e.currentTarget.value)}>{[1, 2, 3, 4, 5].map((n) => <option value={n}>{n}</option>)}</select>
      {' '}<button class="action" data-testid="feedback-rate" onClick={() => give('Rating', Number(rating))}>Send rating</button>
      {' '}or label <input data-testid="feedback-label" value={label} size="12" onInput={(e) => setLabel(e.currentTarget.value)} />
      {' '}<button class="action" data-testid="feedback-send-label" disabled={!label.trim()} onClick={() => give('Label', label.trim())}>Send label</button>
      {bond && <> · holds a bond of {tmt(bond)}{fee && <> and costs a fee of {tmt(fee)} to the reward pool</>}</>}
    </span>
  );
}

/** A spending plot: cumulative cost of this session's answers over time. */
function Plot({ points }) {
  if (points.length < 1) return <p class="muted">No spending yet this session.</p>;
  const all = [{ t: points[0].t - 1, total: 0n }, ...points];
  const max = all.reduce((m, p) => (p.total > m ? p.total : m), 1n);
  const t0 = all[0].t;
  const span = Math.max(1, all[all.length - 1].t - t0);
  const xy = all.map((p) => `${(100 * (p.t - t0)) / span},${100 - Number((100n * p.total) / max)}`).join(' ');
  return (
    <svg class="plot" viewBox="-2 -5 104 110" preserveAspectRatio="none" data-testid="spend-plot" aria-label={`spent ${tmt(max)} this session`}>
      <polyline points={xy} fill="none" stroke="#3b5bdb" stroke-width="1.5" vector-effect="non-scaling-stroke" />
    </svg>
  );
}

export function Models({ conn, api, account, head, submit, confirmSignature, notify }) {
  const [rows, setRows] = useState(null);
  const [chosen, setChosen] = useState('');
  const [capText, setCapText] = useState('1');
  const [prompt, setPrompt] = useState('');
  const [messages, setMessages] = useState([]);
  const [busy, setBusy] = useState(false);
  const [spent, setSpent] = useState([]);
  const [tick, setTick] = useState(0);
  const payers = useRef(new Map());
  // What was settled with each provider when this session's first answer was asked for.
  const settledAtStart = useRef(new Map());
  useEffect(() => {
    let live = true;
    catalogue(api, account.address).then((r) => {
      if (!live) return;
      setRows(r);
      if (!chosen && r.length) setChosen(`${r[0].provider}/${r[0].id}`);
    }, (e) => notify({ ok: false, text: `Cannot read the models: ${e.message}` }));
    return () => { live = false; };
  }, [account.address, tick, Math.floor(head / 5)]);
  useEffect(() => { payers.current = new Map(); setMessages([]); setSpent([]); }, [account.address]);
  if (!rows) return <section>Reading the providers…</section>;
  const model = rows.find((r) => `${r.provider}/${r.id}` === chosen);

  /** This provider's payer: signs vouchers up to the cap set here, for its gateway only. */
  const payerFor = (row, cap) => {
    const key = `${row.provider}|${cap}`;
    if (!payers.current.has(key)) {
      // Every voucher is shown to the person before the wallet (or the development key) signs.
      const signRaw = async (raw) => {
        const v = readVoucher(raw.data);
        const head = (await api.rpc.chain.getHeader()).number.toNumber();
        const yes = await confirmSignature({
          call: `Voucher for ${row.providerName}`,
          args: [`provider: ${v.provider}`, `may charge you up to: ${tmt(v.cap, 6)} in all (settled so far: ${tmt(row.settled, 6)})`, `valid until block ${v.expiry} (${inBlocks(v.expiry - head)})`],
          docs: `Lets ${row.providerName}'s gateway charge your credits for answers, up to the cap, on this chain only. Your cap for this provider is ${tmt(cap)}`,
        });
        if (!yes) throw new Error('you declined to sign the voucher');
        if (account.pair) return { id: 0, signature: u8aToHex(account.pair.sign(u8aWrapBytes(hexToU8a(raw.data)))) };
        return account.signer.signRaw(raw);
      };
      const wallet = { signer: { signRaw }, address: account.address, type: account.type };
      payers.current.set(key, createPayer({
        ...wallet,
        genesisHash: conn.genesisHash,
        providers: { [apiBase(row.endpoint)]: row.provider },
        maxCap: cap,
        // Each signature allows a tenth of the cap beyond what the gateway asks, so that not
        // every answer needs a new one.
        budget: cap / 10n,
        blockNumber: async () => (await api.rpc.chain.getHeader()).number.toNumber(),
      }));
    }
    return payers.current.get(key);
  };

  const ask = async () => {
    if (!model || !prompt.trim()) return;
    let cap;
    try {
      cap = parseTmt(capText);
      if (cap <= model.settled) throw new Error(`the cap must be above what is already settled with this provider (${tmt(model.settled)})`);
    } catch (e) {
      notify({ ok: false, text: `Voucher cap: ${e.message}` });
      return;
    }
    if (!settledAtStart.current.has(model.provider)) settledAtStart.current.set(model.provider, model.settled);
    const history = [...messages.filter((m) => !m.failed).map(({ role, content }) => ({ role, content })), { role: 'user', content: prompt }];
    setMessages((m) => [...m, { role: 'user', content: prompt }, { role: 'assistant', content: '', streaming: true }]);
    setPrompt('');
    setBusy(true);
    const update = (change) => setMessages((m) => [...m.slice(0, -1), { ...m[m.length - 1], ...change(m[m.length - 1]) }]);
    try {
      const payer = payerFor(model, cap);
      const pay = wrapFetch(fetch, payer);
      const answer = await pay(`${apiBase(model.endpoint)}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: model.name, messages: history, max_tokens: 128, stream: true, stream_options: { include_usage: true } }),
      });
      if (!answer.ok) {
        const body = await answer.json().catch(() => null);
        throw new Error(body?.error?.message ?? `the gateway answered ${answer.status}`);
      }
      const receipt = answer.headers.get('x-tokenmeter-receipt');
      update(() => ({ receipt }));
      const reader = answer.body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = event.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
          if (!data || data === '[DONE]') continue;
          const json = JSON.parse(data);
          if (json.error) throw new Error(json.error.message ?? 'the answer failed');
          const delta = json.choices?.[0]?.delta?.content;
          if (delta) update((last) => ({ content: last.content + delta }));
          if (json.usage) {
            const cost = BigInt(json.usage.cost_units ?? 0);
            update(() => ({ usage: json.usage, cost }));
            setSpent((points) => [...points, { t: Date.now() / 1000, total: (points[points.length - 1]?.total ?? 0n) + cost }]);
          }
        }
      }
      update(() => ({ streaming: false, cap: payer.capFor(apiBase(model.endpoint)), model }));
    } catch (e) {
      update(() => ({ streaming: false, failed: true, error: e.message }));
    } finally {
      setBusy(false);
      setTick((t) => t + 1);
    }
  };

  const sessionSpent = spent[spent.length - 1]?.total ?? 0n;
  const payer = model ? payers.current.get(`${model.provider}|${(() => { try { return parseTmt(capText); } catch { return 0n; } })()}`) : null;
  const voucherCap = payer?.capFor(apiBase(model.endpoint)) ?? 0n;
  // Committed with this provider: settled, or more if this session's answers are not all
  // settled yet.
  const committed = model ? (() => {
    const start = settledAtStart.current.get(model.provider) ?? model.settled;
    return start + sessionSpent > model.settled ? start + sessionSpent : model.settled;
  })() : 0n;
  return (
    <>
      <section>
        <h2>Models</h2>
        <table data-testid="models">
          <thead><tr><th>Model</th><th>Provider</th><th>Price per 1,000 tokens (in / out)</th><th>Who may use it</th><th>You</th></tr></thead>
          <tbody>{rows.map((r) => (
            <tr data-testid={`model-${r.id}`}>
              <td><b>{r.name}</b> <span class="muted">#{r.id}</span></td>
              <td>{r.providerName}<br /><span class="muted mono">{r.endpoint}</span></td>
              <td>{tmt(r.prices[0], 6)} / {tmt(r.prices[1], 6)}
                {r.dynamic && <div class="muted">×{(Number(r.dynamic.multiplier.toBigInt() / 10n ** 14n) / 1e4).toFixed(4)} with demand; next epoch {inBlocks(r.dynamic.nextEpochFrom.toNumber() - head)} between {tmt(r.dynamic.nextMin[0].toBigInt(), 6)} / {tmt(r.dynamic.nextMin[1].toBigInt(), 6)} and {tmt(r.dynamic.nextMax[0].toBigInt(), 6)} / {tmt(r.dynamic.nextMax[1].toBigInt(), 6)}</div>}
                {r.pending && <div class="muted">changing to {tmt(r.pending[0].toBigInt(), 6)} / {tmt(r.pending[1].toBigInt(), 6)} {inBlocks(r.pending[2].toNumber() - head)}</div>}
              </td>
              <td>{r.rule}</td>
              <td data-testid={`access-${r.id}`}>{r.refused ? <span class="no">you don't pass: {r.refused}</span> : <span class="yes">you pass</span>}
                <div class="muted">credit available {tmt(r.available)}</div></td>
            </tr>
          ))}</tbody>
        </table>
        {rows.length === 0 && <p class="muted">No provider lists a model yet.</p>}
      </section>
      <section>
        <h2>Chat</h2>
        <div class="row">
          <label>Model<select data-testid="chat-model" value={chosen} onChange={(e) => setChosen(e.currentTarget.value)}>
            {rows.map((r) => <option value={`${r.provider}/${r.id}`}>{r.name} — {r.providerName}</option>)}
          </select></label>
          <label>Voucher cap with this provider (TMT)<input data-testid="chat-cap" value={capText} onInput={(e) => setCapText(e.currentTarget.value)} /></label>
        </div>
        {model && <p class="muted" data-testid="voucher">
          With {model.providerName}: voucher cap signed {tmt(voucherCap)} · settled on chain {tmt(model.settled)} · headroom {tmt(voucherCap > committed ? voucherCap - committed : 0n)} (what was charged and is not settled yet counted) · your wallet signs a new voucher only up to the cap above, only for this provider's gateway and this chain.
        </p>}
        <div class="chat" data-testid="chat">{messages.map((m) => (
          <div class={`message ${m.role}`} data-testid={`message-${m.role}`}>{m.content || (m.streaming ? '…' : '')}
            {m.role === 'assistant' && m.usage && <span class="meta" data-testid="answer-cost">{m.usage.prompt_tokens} tokens in, {m.usage.completion_tokens} out · cost {tmt(m.cost, 8)}</span>}
            {m.error && <span class="meta error" data-testid="answer-error">Not answered: {m.error}</span>}
            {m.role === 'assistant' && m.usage && m.model && <Feedback api={api} model={m.model} answer={m} submit={submit} notify={notify} />}
          </div>
        ))}</div>
        <textarea data-testid="chat-prompt" placeholder="Ask the model…" value={prompt} onInput={(e) => setPrompt(e.currentTarget.value)} />
        <button class="primary" data-testid="chat-send" disabled={busy || !model} onClick={ask}>{busy ? 'Answering…' : 'Send'}</button>
        <h3>Spent this session: <span data-testid="session-spent">{tmt(sessionSpent, 8)}</span></h3>
        <Plot points={spent} />
      </section>
    </>
  );
}
