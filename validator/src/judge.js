// How a validator scores a feedback (docs/validators.md, "The scoring rule"):
//
// 1. **Checks** — the score is 0 unless all hold: the provider's gateway has the feedback's
//    content under the hash the chain names (`GET /feedback/<payloadHash>`), the content
//    hashes to it, it names the receipt the chain names as the output, its kind is the chain's
//    kind, the answer it is about was served by that gateway for the same model, and the
//    content suits its kind (a rating from 1 to 5, a preference `a` or `b`, a label or report
//    with text). Feedback that fails is not about a served answer, or says nothing checkable:
//    0 puts it below the slash threshold (20), and its bond goes to the reward pool.
// 2. **The judge** — otherwise a model reads the prompt, the answer and the feedback and
//    answers with a number from 0 to 10 for how accurate and useful the feedback is (asked for
//    as `{"score": n}` under a JSON schema, which llama-server enforces). The score
//    is `floor + (100 − floor) × judge / 10` (the floor, 50 by default, keeps any feedback
//    that passed the checks above the slash threshold: a small judge model is asked to rank,
//    not to punish). A reply without a number counts as 5.

import { blake2AsHex } from '@polkadot/util-crypto';

export const KINDS = { Rating: 'rating', Preference: 'preference', Label: 'label', BugReport: 'bug_report', Moderation: 'moderation' };

export const DEFAULT_PROMPT = [
  'You check feedback that a user gave on an AI assistant\'s answer.',
  'The user asked:\n<<PROMPT>>',
  'The assistant answered:\n<<OUTPUT>>',
  'The user\'s feedback (<<KIND>>):\n<<FEEDBACK>>',
  'How accurate and useful is this feedback about that answer? Reply with one number from 0 (useless or wrong) to 10 (accurate and useful).',
].join('\n\n');

/** Whether `content` is what a feedback of `kind` (snake case) holds — as the gateway checks. */
export function contentFits(kind, content) {
  const textOf = (v) => (typeof v === 'string' ? v
    : v && typeof v === 'object' ? ['text', 'label', 'comment', 'reason'].map((f) => v[f]).find((t) => typeof t === 'string') : undefined);
  if (kind === 'rating') {
    const score = typeof content === 'number' ? content : content?.score;
    return Number.isInteger(score) && score >= 1 && score <= 5;
  }
  if (kind === 'preference') {
    const choice = typeof content === 'string' ? content : content?.preferred;
    return choice === 'a' || choice === 'b';
  }
  const text = textOf(content);
  return typeof text === 'string' && text.trim().length > 0;
}

/**
 * Checks what the gateway gave for a feedback against what the chain says. `onChain`:
 * `{ model, outputHash, kind, payloadHash }` (kind as the chain's enum name); `found`: the
 * `GET /feedback/<hash>` body, or null for a 404. Returns null when all hold, else why not.
 */
export function failedCheck(onChain, found) {
  if (!found) return 'the gateway has no content under the payload hash';
  if (typeof found.payload !== 'string') return 'the gateway gave no payload text';
  if (blake2AsHex(new TextEncoder().encode(found.payload), 256) !== onChain.payloadHash.toLowerCase()) {
    return 'the content does not hash to the payload hash';
  }
  let posted;
  try { posted = JSON.parse(found.payload); } catch { return 'the content is not JSON'; }
  if (String(posted.receipt).toLowerCase() !== onChain.outputHash.toLowerCase()) return 'the content names another answer';
  if (posted.kind !== KINDS[onChain.kind]) return `the content is a ${posted.kind}, the chain says ${onChain.kind}`;
  const answer = found.answer;
  if (!answer || String(answer.receipt).toLowerCase() !== onChain.outputHash.toLowerCase()) return 'the answer is not the one the chain names';
  if (Number(answer.model) !== Number(onChain.model)) return 'the answer is of another model';
  if (!contentFits(posted.kind, posted.content)) return `the content does not suit a ${posted.kind}`;
  return null;
}

/** The judge's prompt for a checked feedback. */
export function judgePrompt(template, found) {
  const posted = JSON.parse(found.payload);
  const feedback = typeof posted.content === 'string' ? posted.content : JSON.stringify(posted.content);
  return template
    .replace('<<PROMPT>>', found.answer.prompt ?? '')
    .replace('<<OUTPUT>>', found.answer.output ?? '')
    .replace('<<KIND>>', posted.kind)
    .replace('<<FEEDBACK>>', feedback);
}

/** The judge's number (0–10) in its reply: the first whole number from 0 to 10; else 5. */
export function judgeNumber(reply) {
  for (const match of String(reply ?? '').matchAll(/\d+/g)) {
    const n = Number(match[0]);
    if (n >= 0 && n <= 10) return n;
  }
  return 5;
}

/** The score (0–100) of a judged feedback: `floor + (100 − floor) × judge / 10`, rounded. */
export function scoreOf(judge, floor = 50) {
  const f = Math.min(100, Math.max(0, floor));
  return Math.round(f + ((100 - f) * Math.min(10, Math.max(0, judge))) / 10);
}
